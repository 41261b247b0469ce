//! Text for names and paths that may not be UTF-8 (file systems allow any bytes) or may hold
//! control characters (which would drive a terminal). The escape is injective, so two different
//! names never print, or become specimen ids, the same: bytes that are not UTF-8 and control
//! characters become `\xNN` (`\u{NNNN}` beyond ASCII), and `\` becomes `\\`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::Serializer;
use serde::ser::SerializeMap;

use super::View;

/// A path or name component as an id: valid UTF-8 is kept, except that `\` becomes `\\` and a
/// control character `\xNN`; every byte that is not UTF-8 becomes `\xNN`. Different names always
/// give different ids.
pub fn escape_name(name: &OsStr) -> String {
    escape(name)
}

/// A path as printed in CSVs, JSON and messages: verbatim when it is UTF-8 without control
/// characters; otherwise escaped as [`escape_name`] does, so two different paths never print
/// alike and none can drive a terminal.
pub fn display_path(path: &Path) -> Cow<'_, str> {
    match path.to_str() {
        Some(s) if !s.chars().any(char::is_control) => Cow::Borrowed(s),
        _ => Cow::Owned(escape(path.as_os_str())),
    }
}

/// Writes one character of a valid name, escaped where it must be.
fn push_char(out: &mut String, c: char) {
    use std::fmt::Write;
    match c {
        '\\' => out.push_str("\\\\"),
        c if c.is_ascii_control() => {
            let _ = write!(out, "\\x{:02X}", u32::from(c));
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{{{:04X}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

#[cfg(unix)]
fn escape(name: &OsStr) -> String {
    use std::fmt::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

#[cfg(not(unix))]
fn escape(name: &OsStr) -> String {
    // Windows names are UTF-16; only an unpaired surrogate fails, and is written as U+FFFD.
    let mut out = String::new();
    for c in name.to_string_lossy().chars() {
        push_char(&mut out, c);
    }
    out
}

/// Serialises one path with [`display_path`].
pub fn path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&display_path(p))
}

/// Serialises a map of paths by view with [`display_path`].
pub fn path_map<S: Serializer>(m: &BTreeMap<View, PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        map.serialize_entry(k, &display_path(v))?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn names_that_differ_in_one_latin1_byte_stay_apart() {
        use std::os::unix::ffi::OsStrExt;
        let a = escape_name(OsStr::from_bytes(b"M\xe4use_1"));
        let b = escape_name(OsStr::from_bytes(b"M\xf6use_1"));
        assert_eq!(a, "M\\xE4use_1");
        assert_ne!(a, b);
        // A literal backslash cannot forge an escape.
        assert_ne!(escape_name(OsStr::new("M\\xE4use_1")), a);
        assert_eq!(escape_name(OsStr::new("Mäuse_1")), "Mäuse_1");
        assert_eq!(display_path(Path::new("/data/Mäuse/dv.png")), "/data/Mäuse/dv.png");
        assert_eq!(display_path(Path::new(OsStr::from_bytes(b"/d/\xe4/dv.png"))), "/d/\\xE4/dv.png");
        // Control characters never reach a terminal raw.
        assert_eq!(display_path(Path::new("/d/\x1b[2JEVIL/dv.png")), "/d/\\x1B[2JEVIL/dv.png");
        assert_eq!(escape_name(OsStr::new("a\nb")), "a\\x0Ab");
    }
}
