//! Decoding image files to [`GrayImage16`].

use std::io::BufReader;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder};

use super::{FileFormat, GrayImage16, dicom};

/// Options for [`decode`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeOptions {
    /// Largest accepted width x height; bigger images are refused before their pixels are
    /// decoded (a guard against decompression bombs).
    pub max_pixels: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        // 64 Mpx: eight times a 2,800 x 2,800 detector, far below what exhausts memory.
        DecodeOptions { max_pixels: 64_000_000 }
    }
}

/// Why a file could not be decoded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content is not a supported format.
    #[error("{}: not a PNG, JPEG, BMP, TIFF or DICOM image", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The image is larger than [`DecodeOptions::max_pixels`].
    #[error(
        "{}: {width} x {height} pixels exceeds the limit of {limit} pixels (refused as a possible decompression bomb)",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Declared width.
        width: u64,
        /// Declared height.
        height: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The decoder failed.
    #[error("{}: cannot decode {format}: {reason}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The detected format.
        format: FileFormat,
        /// What the decoder said.
        reason: String,
    },
}

impl DecodeError {
    /// Refuses `width x height` if it exceeds the limit.
    pub(crate) fn check_size(
        path: &Path,
        format: FileFormat,
        width: u64,
        height: u64,
        options: &DecodeOptions,
    ) -> Result<(), DecodeError> {
        if width == 0 || height == 0 {
            let reason = format!("empty image ({width} x {height})");
            return Err(DecodeError::Decode { path: path.to_owned(), format, reason });
        }
        if width.saturating_mul(height) > options.max_pixels {
            return Err(DecodeError::TooLarge { path: path.to_owned(), width, height, limit: options.max_pixels });
        }
        Ok(())
    }
}

/// Decodes any supported file to grayscale at its original bit depth.
///
/// Colour images become luminance (Rec. 709 weights), alpha is dropped, DICOM gets its modality
/// rescale and MONOCHROME1 inversion. The format is told from the content, not the extension.
pub fn decode(path: &Path, options: &DecodeOptions) -> Result<GrayImage16, DecodeError> {
    let io = |source| DecodeError::Io { path: path.to_owned(), source };
    // Some DICOM files lack the 128-byte preamble; let the extension vouch for them.
    let by_extension = path.extension().and_then(|e| FileFormat::from_extension(&e.to_string_lossy()));
    let format = match FileFormat::sniff_file(path).map_err(io)? {
        Some(f) => f,
        None if by_extension == Some(FileFormat::Dicom) => FileFormat::Dicom,
        None => return Err(DecodeError::UnknownFormat { path: path.to_owned() }),
    };
    if format == FileFormat::Dicom {
        return dicom::decode_dicom(path, options);
    }
    let fail = |reason: String| DecodeError::Decode { path: path.to_owned(), format, reason };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = image::ImageReader::new(BufReader::new(file));
    reader.set_format(match format {
        FileFormat::Png => image::ImageFormat::Png,
        FileFormat::Jpeg => image::ImageFormat::Jpeg,
        FileFormat::Bmp => image::ImageFormat::Bmp,
        FileFormat::Tiff => image::ImageFormat::Tiff,
        FileFormat::Dicom => return Err(fail("internal: DICOM routed to the raster decoder".into())),
    });
    let mut limits = image::Limits::default();
    // 8 bytes per pixel covers RGBA16; the decoders' own allocations count against it too.
    limits.max_alloc = Some(options.max_pixels.saturating_mul(8).saturating_add(1 << 20));
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|e| fail(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    DecodeError::check_size(path, format, u64::from(w), u64::from(h), options)?;
    let img = DynamicImage::from_decoder(decoder).map_err(|e| fail(e.to_string()))?;
    from_dynamic(img, format).ok_or_else(|| fail("pixel buffer does not match the image size".into()))
}

/// Converts a decoded raster to gray, keeping 8-bit sources at 8 bits.
pub(crate) fn from_dynamic(img: DynamicImage, format: FileFormat) -> Option<GrayImage16> {
    let (w, h) = (img.width(), img.height());
    match img {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => {
            let g = img.into_luma8();
            GrayImage16::new(w, h, 8, g.into_raw().into_iter().map(u16::from).collect(), format)
        }
        other => GrayImage16::new(w, h, 16, other.into_luma16().into_raw(), format),
    }
}
