//! Telling image formats apart by content and by extension.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A supported image container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// PNG (8 or 16 bit).
    Png,
    /// JPEG (baseline or progressive, 8 bit).
    Jpeg,
    /// Windows bitmap.
    Bmp,
    /// TIFF (8 or 16 bit, uncompressed, LZW, Deflate or PackBits).
    Tiff,
    /// DICOM Part 10 file.
    Dicom,
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileFormat::Png => "PNG",
            FileFormat::Jpeg => "JPEG",
            FileFormat::Bmp => "BMP",
            FileFormat::Tiff => "TIFF",
            FileFormat::Dicom => "DICOM",
        })
    }
}

/// Bytes [`sniff`] needs to see to recognise every format (DICOM's magic sits at offset 128).
pub const SNIFF_LEN: usize = 132;

impl FileFormat {
    /// The format a file extension promises (case-insensitive), if it is an image extension.
    pub fn from_extension(ext: &str) -> Option<FileFormat> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "png" => FileFormat::Png,
            "jpg" | "jpeg" | "jpe" => FileFormat::Jpeg,
            "bmp" | "dib" => FileFormat::Bmp,
            "tif" | "tiff" => FileFormat::Tiff,
            "dcm" | "dicom" | "dic" => FileFormat::Dicom,
            _ => return None,
        })
    }

    /// Recognises a format from a file's first bytes (at least [`SNIFF_LEN`] for DICOM).
    pub fn sniff(head: &[u8]) -> Option<FileFormat> {
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(FileFormat::Png)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileFormat::Jpeg)
        } else if head.starts_with(b"BM") && head.len() >= 14 {
            Some(FileFormat::Bmp)
        } else if head.starts_with(b"II*\0")
            || head.starts_with(b"MM\0*")
            || head.starts_with(b"II+\0")
            || head.starts_with(b"MM\0+")
        {
            // Classic TIFF and BigTIFF.
            Some(FileFormat::Tiff)
        } else if head.get(128..132) == Some(b"DICM") || head.starts_with(b"DICM\x02\x00") {
            // Part 10 with its 128-byte preamble, or without it (the magic, then group 0002).
            Some(FileFormat::Dicom)
        } else {
            None
        }
    }

    /// Reads a file's first bytes and recognises its format. `Ok(None)`: readable, not an image.
    pub fn sniff_file(path: &Path) -> std::io::Result<Option<FileFormat>> {
        let mut head = Vec::with_capacity(SNIFF_LEN);
        std::fs::File::open(path)?.take(SNIFF_LEN as u64).read_to_end(&mut head)?;
        Ok(FileFormat::sniff(&head))
    }
}
