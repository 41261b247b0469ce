//! A DICOM file's element headers, checked before dicom-rs reads it. dicom-rs allocates and
//! zero-fills an element's declared length before reading the value (one flipped length byte in
//! a 1 KB file cost 4 GB of memory) and parses nested sequences by recursion (5,000 levels in
//! 100 KB overflowed the stack and aborted the whole process); it has no option to limit either,
//! hence this walk of the headers, values skipped, never kept.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// VRs with a 2-byte length in explicit VR encodings (PS3.5 7.1.2); every other VR, unknown ones
/// included, has 2 reserved bytes and a 4-byte length, which is also how dicom-rs reads them.
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS",
    b"ST", b"TM", b"UI", b"UL", b"US",
];
const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Sequences open at once (each with its item). Real files nest a few levels (structured
/// reports a few dozen); dicom-rs's recursion is safe far beyond this.
const MAX_DEPTH: usize = 64;
/// Largest inflated data set of a deflated file that is walked (and decoded).
const MAX_INFLATED: u64 = 1 << 30;

/// Why a file is refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The data ends before what a header declares.
    Truncated(String),
    /// The structure is one the parser must not be handed (nesting, an inflation bomb).
    Malformed(String),
}

impl From<String> for Refusal {
    fn from(s: String) -> Refusal {
        Refusal::Truncated(s)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
}

/// Walks every element header of the file at `path` (a Part 10 file, with or without its
/// preamble; a deflated data set is inflated on the fly) and checks that no defined length runs
/// past the end of the data and that sequences nest at most [`MAX_DEPTH`] deep.
///
/// # Errors
/// A sentence naming the element, its declared length and the bytes left, where a header is
/// cut, or how deep the nesting goes. A file with a transfer syntax that is not DICOM's own, or
/// one that cannot be read, passes: dicom-rs then says what is wrong before reading the data.
pub(crate) fn check(path: &Path) -> Result<(), Refusal> {
    let Ok(file) = std::fs::File::open(path) else { return Ok(()) };
    let Ok(size) = file.metadata().map(|m| m.len()) else { return Ok(()) };
    let mut r = BufReader::new(file);
    let mut head = [0u8; 132];
    let Ok(n) = read_up_to(&mut r, &mut head) else { return Ok(()) };
    let start = if n >= 132 && &head[128..132] == b"DICM" {
        132
    } else if n >= 4 && &head[..4] == b"DICM" {
        4
    } else {
        return Ok(());
    };
    r.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
    let mut meta = Walker { src: r, size, pos: start };
    // The file meta group is always explicit VR little endian, and holds no sequences.
    let mut syntax = String::new();
    loop {
        let mut tag = [0u8; 4];
        if meta.pos + 4 > size || meta.src.read_exact(&mut tag).is_err() {
            return Ok(());
        }
        if u16::from_le_bytes([tag[0], tag[1]]) != 0x0002 {
            meta.src.seek_relative(-4).map_err(|e| Refusal::Truncated(e.to_string()))?;
            break;
        }
        meta.pos += 4;
        let element = u16::from_le_bytes([tag[2], tag[3]]);
        let (_, len) = meta.vr_and_length(Encoding::ExplicitLittle)?;
        meta.fits(0x0002, element, len)?;
        if element == 0x0010 && len <= 64 {
            let mut uid = vec![0u8; len as usize];
            meta.read(&mut uid)?;
            syntax = String::from_utf8_lossy(&uid).trim_end_matches(['\0', ' ']).to_owned();
        } else {
            meta.skip(len)?;
        }
    }
    let encoding = match syntax.as_str() {
        "1.2.840.10008.1.2" => Encoding::ImplicitLittle,
        "1.2.840.10008.1.2.2" => Encoding::ExplicitBig,
        "1.2.840.10008.1.2.1.99" => {
            let at = meta.pos;
            return walk_deflated(path, at);
        }
        s if s.starts_with("1.2.840.10008.1.2") => Encoding::ExplicitLittle,
        // Not a DICOM transfer syntax: dicom-rs refuses it before reading the data set.
        _ => return Ok(()),
    };
    meta.data_set(encoding)
}

/// The data set of a deflated file: one pass to learn its inflated size (streamed, bounded),
/// one to walk it.
fn walk_deflated(path: &Path, at: u64) -> Result<(), Refusal> {
    let open = || -> Result<flate2::read::DeflateDecoder<BufReader<std::fs::File>>, String> {
        let mut f = BufReader::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
        f.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        Ok(flate2::read::DeflateDecoder::new(f))
    };
    let inflated = std::io::copy(&mut open()?.take(MAX_INFLATED + 1), &mut std::io::sink())
        .map_err(|e| format!("the deflated data set is cut short ({e})"))?;
    if inflated > MAX_INFLATED {
        return Err(Refusal::Malformed(format!("the deflated data set inflates to more than {MAX_INFLATED} bytes")));
    }
    Walker { src: Forward(open()?), size: inflated, pos: 0 }.data_set(Encoding::ExplicitLittle)
}

/// Skipping forward by reading, for a stream that cannot seek.
struct Forward<R>(R);

impl<R: Read> Read for Forward<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

/// What a walker reads from: it must skip values without keeping them.
trait Source: Read {
    fn skip_bytes(&mut self, n: u32) -> std::io::Result<()>;
}

impl<R: Read + Seek> Source for BufReader<R> {
    fn skip_bytes(&mut self, n: u32) -> std::io::Result<()> {
        self.seek_relative(i64::from(n))
    }
}

impl<R: Read> Source for Forward<R> {
    fn skip_bytes(&mut self, n: u32) -> std::io::Result<()> {
        let copied = std::io::copy(&mut (&mut self.0).take(u64::from(n)), &mut std::io::sink())?;
        if copied < u64::from(n) {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

struct Walker<S> {
    src: S,
    size: u64,
    pos: u64,
}

impl<S: Source> Walker<S> {
    /// Walks the data set to its end.
    fn data_set(&mut self, enc: Encoding) -> Result<(), Refusal> {
        // Open sequences and items: where each ends (`None`: undefined length, ends at its
        // delimiter), and whether its items are encapsulated pixel data fragments.
        let mut open: Vec<(Option<u64>, bool)> = Vec::new();
        loop {
            while open.last().is_some_and(|(end, _)| end.is_some_and(|e| self.pos >= e)) {
                open.pop();
            }
            if self.pos + 4 > self.size {
                return Ok(());
            }
            let mut t = [0u8; 4];
            self.read(&mut t)?;
            let big = enc == Encoding::ExplicitBig;
            let word = |a: u8, b: u8| if big { u16::from_be_bytes([a, b]) } else { u16::from_le_bytes([a, b]) };
            let (group, element) = (word(t[0], t[1]), word(t[2], t[3]));
            if group == 0xFFFE {
                // Items and delimiters have no VR in any encoding.
                let mut l = [0u8; 4];
                self.read(&mut l)?;
                let len = if big { u32::from_be_bytes(l) } else { u32::from_le_bytes(l) };
                let fragments = open.last().is_some_and(|(_, f)| *f);
                match element {
                    0xE000 if fragments || len != UNDEFINED => {
                        self.fits(group, element, len)?;
                        if fragments {
                            self.skip(len)?;
                        } else {
                            open.push((Some(self.pos + u64::from(len)), false));
                        }
                    }
                    0xE000 => open.push((None, false)),
                    _ => {
                        open.pop();
                    }
                }
            } else {
                let (vr, len) = self.vr_and_length(enc)?;
                let sequence = vr == Some(VR::SQ) || (vr.is_none() && is_sequence(group, element));
                if len == UNDEFINED {
                    // A sequence, or encapsulated Pixel Data whose items are fragments.
                    open.push((None, (group, element) == (0x7FE0, 0x0010)));
                } else {
                    self.fits(group, element, len)?;
                    if sequence {
                        open.push((Some(self.pos + u64::from(len)), false));
                    } else {
                        self.skip(len)?;
                    }
                }
            }
            // Each level is a sequence and an item inside it.
            if open.len() > 2 * MAX_DEPTH + 1 {
                return Err(Refusal::Malformed(format!(
                    "sequences nested more than {MAX_DEPTH} deep at byte {}; refused before the parser recurses that far",
                    self.pos
                )));
            }
        }
    }

    /// Reads the VR (explicit encodings; `None` for implicit) and the value length.
    fn vr_and_length(&mut self, enc: Encoding) -> Result<(Option<VR>, u32), String> {
        let big = enc == Encoding::ExplicitBig;
        if enc == Encoding::ImplicitLittle {
            let mut l = [0u8; 4];
            self.read(&mut l)?;
            return Ok((None, u32::from_le_bytes(l)));
        }
        let mut vr = [0u8; 2];
        self.read(&mut vr)?;
        let known = VR::from_binary(vr);
        if SHORT_VRS.contains(&&vr) {
            let mut l = [0u8; 2];
            self.read(&mut l)?;
            Ok((known, u32::from(if big { u16::from_be_bytes(l) } else { u16::from_le_bytes(l) })))
        } else {
            let mut rest = [0u8; 6];
            self.read(&mut rest)?;
            let l = [rest[2], rest[3], rest[4], rest[5]];
            Ok((Some(known.unwrap_or(VR::UN)), if big { u32::from_be_bytes(l) } else { u32::from_le_bytes(l) }))
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.src.read_exact(buf).map_err(|_| format!("the data ends inside an element header at byte {}", self.pos))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn fits(&self, group: u16, element: u16, len: u32) -> Result<(), String> {
        let left = self.size.saturating_sub(self.pos);
        if u64::from(len) > left {
            return Err(format!("element ({group:04X},{element:04X}) declares {len} bytes, the data has {left} left"));
        }
        Ok(())
    }

    fn skip(&mut self, len: u32) -> Result<(), String> {
        self.src.skip_bytes(len).map_err(|_| format!("the data ends inside a value at byte {}", self.pos))?;
        self.pos += u64::from(len);
        Ok(())
    }
}

/// Whether the standard dictionary says a tag is a sequence (implicit VR files do not say).
fn is_sequence(group: u16, element: u16) -> bool {
    StandardDataDictionary.by_tag(Tag(group, element)).is_some_and(|e| matches!(e.vr(), VirtualVr::Exact(VR::SQ)))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, String> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(n)
}
