//! A DICOM file's declared element lengths, checked against the bytes it holds before dicom-rs
//! reads it. dicom-rs allocates and zero-fills an element's declared length before reading the
//! value, so one flipped length byte in a 1 KB file costs up to 4 GB of memory; it has no limit
//! option, hence this walk of the element headers (values are skipped, never read).

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// VRs with a 2-byte length in explicit VR encodings (PS3.5 7.1.2); every other VR, unknown ones
/// included, has 2 reserved bytes and a 4-byte length, which is also how dicom-rs reads them.
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS",
    b"ST", b"TM", b"UI", b"UL", b"US",
];
const UNDEFINED: u32 = 0xFFFF_FFFF;

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
}

/// Walks every element header of the file at `path` (a Part 10 file, with or without its
/// preamble) and checks that no defined length runs past the end of the file.
///
/// # Errors
/// A sentence naming the element, its declared length and the bytes left (or where a header is
/// cut). A deflated data set passes, for dicom-rs to judge; so does a file that cannot be read,
/// which dicom-rs then reports.
pub(crate) fn check(path: &Path) -> Result<(), String> {
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
    let mut walker = Walker { r, size, pos: start };
    // The file meta group is always explicit VR little endian.
    let mut syntax = String::new();
    while let Some((group, element)) = walker.peek_tag(Encoding::ExplicitLittle)? {
        if group != 0x0002 {
            break;
        }
        let len = walker.header(Encoding::ExplicitLittle)?;
        walker.fits(group, element, len)?;
        if element == 0x0010 && len <= 64 {
            let mut uid = vec![0u8; len as usize];
            walker.r.read_exact(&mut uid).map_err(|e| e.to_string())?;
            walker.pos += u64::from(len);
            syntax = String::from_utf8_lossy(&uid).trim_end_matches(['\0', ' ']).to_owned();
        } else {
            walker.skip(len)?;
        }
    }
    let encoding = match syntax.as_str() {
        "1.2.840.10008.1.2" => Encoding::ImplicitLittle,
        "1.2.840.10008.1.2.2" => Encoding::ExplicitBig,
        // Deflated: the data set is compressed; dicom-rs inflates it itself.
        "1.2.840.10008.1.2.1.99" => return Ok(()),
        _ => Encoding::ExplicitLittle,
    };
    while let Some((group, element)) = walker.peek_tag(encoding)? {
        let len = walker.header(encoding)?;
        if len == UNDEFINED {
            // A sequence, an item or encapsulated Pixel Data of undefined length: its content
            // is more headers, walked in turn.
            continue;
        }
        walker.fits(group, element, len)?;
        walker.skip(len)?;
    }
    Ok(())
}

struct Walker<R> {
    r: R,
    size: u64,
    pos: u64,
}

impl<R: Read + Seek> Walker<R> {
    /// The next tag without consuming it; `None` at the end of the file.
    fn peek_tag(&mut self, enc: Encoding) -> Result<Option<(u16, u16)>, String> {
        if self.pos + 4 > self.size {
            return Ok(None);
        }
        let mut b = [0u8; 4];
        self.r.read_exact(&mut b).map_err(|e| e.to_string())?;
        self.r.seek_relative(-4).map_err(|e| e.to_string())?;
        Ok(Some(match enc {
            Encoding::ExplicitBig => (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])),
            _ => (u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]])),
        }))
    }

    /// Reads a header and returns its value length.
    fn header(&mut self, enc: Encoding) -> Result<u32, String> {
        let mut tag = [0u8; 4];
        self.read(&mut tag)?;
        let big = enc == Encoding::ExplicitBig;
        let group = if big { u16::from_be_bytes([tag[0], tag[1]]) } else { u16::from_le_bytes([tag[0], tag[1]]) };
        let u32_of = |b: [u8; 4]| if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) };
        // Items and delimiters have no VR in any encoding.
        if group == 0xFFFE || enc == Encoding::ImplicitLittle {
            let mut len = [0u8; 4];
            self.read(&mut len)?;
            return Ok(u32_of(len));
        }
        let mut vr = [0u8; 2];
        self.read(&mut vr)?;
        if SHORT_VRS.contains(&&vr) {
            let mut len = [0u8; 2];
            self.read(&mut len)?;
            Ok(u32::from(if big { u16::from_be_bytes(len) } else { u16::from_le_bytes(len) }))
        } else {
            let mut rest = [0u8; 6];
            self.read(&mut rest)?;
            Ok(u32_of([rest[2], rest[3], rest[4], rest[5]]))
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.r.read_exact(buf).map_err(|_| format!("the file ends inside an element header at byte {}", self.pos))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn fits(&self, group: u16, element: u16, len: u32) -> Result<(), String> {
        let left = self.size.saturating_sub(self.pos);
        if u64::from(len) > left {
            return Err(format!("element ({group:04X},{element:04X}) declares {len} bytes, the file has {left} left"));
        }
        Ok(())
    }

    fn skip(&mut self, len: u32) -> Result<(), String> {
        self.r.seek_relative(i64::from(len)).map_err(|e| e.to_string())?;
        self.pos += u64::from(len);
        Ok(())
    }
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
