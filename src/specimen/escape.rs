//! Serialising paths that may not be UTF-8 (file systems allow any bytes): the JSON shows them
//! with U+FFFD in place of the bad bytes instead of failing the whole report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serializer;
use serde::ser::SerializeMap;

use super::View;

/// One path, lossily.
pub fn path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// A map of paths by view, lossily.
pub fn path_map<S: Serializer>(m: &BTreeMap<View, PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        map.serialize_entry(k, &v.to_string_lossy())?;
    }
    map.end()
}
