//! Decoding image files to [`GrayImage16`].

use std::cell::Cell;
use std::io::Cursor;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Once;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder};

use super::{FileFormat, GrayImage16, dicom, jpeg_structure};

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
    /// The file holds less image data than its header promises (a cut download or copy).
    #[error("{}: truncated {format}: {detail}; refused rather than half an image", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The detected format.
        format: FileFormat,
        /// Where the data ends, or what the decoder said.
        detail: String,
    },
    /// A third-party decoder panicked on this file; the panic was contained.
    #[error("{}: decoder failed on this {format}: {message}", path.display())]
    DecoderFailed {
        /// The file.
        path: PathBuf,
        /// The detected format.
        format: FileFormat,
        /// The panic's message.
        message: String,
    },
}

impl DecodeError {
    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            DecodeError::Io { path, .. }
            | DecodeError::UnknownFormat { path }
            | DecodeError::TooLarge { path, .. }
            | DecodeError::Decode { path, .. }
            | DecodeError::Truncated { path, .. }
            | DecodeError::DecoderFailed { path, .. } => path,
        }
    }

    /// The message without the file's name, for a report that names the file beside it.
    pub fn reason(&self) -> String {
        let full = self.to_string();
        let named = format!("{}: ", self.path().display());
        full.strip_prefix(&named).map_or_else(|| full.clone(), str::to_owned)
    }

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
/// rescale and MONOCHROME1 inversion, and an orientation tag (EXIF in JPEG, PNG and TIFF) is
/// applied, so the pixels are the image as it is meant to be seen. The format is told from the
/// content, never the name.
///
/// # Errors
/// Every [`DecodeError`] names the file: unreadable, not an image, too large, truncated
/// (image data shorter than the header promises, in any format), refused by the decoder, or a
/// decoder panic, which is contained here so that one hostile file never ends a run.
pub fn decode(path: &Path, options: &DecodeOptions) -> Result<GrayImage16, DecodeError> {
    let io = |source| DecodeError::Io { path: path.to_owned(), source };
    let format = match FileFormat::sniff_file(path).map_err(io)? {
        Some(f) => f,
        None => return Err(DecodeError::UnknownFormat { path: path.to_owned() }),
    };
    contain_panics(path, format, || match format {
        FileFormat::Dicom => dicom::decode_dicom(path, options),
        _ => decode_raster(path, format, options),
    })
}

/// PNG, JPEG, BMP and TIFF through the image crate.
fn decode_raster(path: &Path, format: FileFormat, options: &DecodeOptions) -> Result<GrayImage16, DecodeError> {
    let fail = |reason: String| DecodeError::Decode { path: path.to_owned(), format, reason };
    let bytes = std::fs::read(path).map_err(|source| DecodeError::Io { path: path.to_owned(), source })?;
    if format == FileFormat::Jpeg {
        jpeg_structure::check_complete(&bytes).map_err(|detail| DecodeError::Truncated {
            path: path.to_owned(),
            format,
            detail,
        })?;
    }
    let mut reader = image::ImageReader::new(Cursor::new(&bytes));
    reader.set_format(match format {
        FileFormat::Png => image::ImageFormat::Png,
        FileFormat::Jpeg => image::ImageFormat::Jpeg,
        FileFormat::Bmp => image::ImageFormat::Bmp,
        FileFormat::Tiff => image::ImageFormat::Tiff,
        FileFormat::Dicom => return Err(fail("internal: DICOM routed to the raster decoder".into())),
    });
    let mut limits = image::Limits::default();
    // 8 bytes per pixel covers RGBA16; the decoders' own allocations count against it too. A
    // PNG's compressed metadata (an ICC profile, text) is inflated before its pixels, so its
    // budget comes from the size in its header: a 20 x 20 PNG cannot inflate 500 MB of profile.
    let pixels = match format {
        FileFormat::Png => png_pixels(&bytes).map_or(options.max_pixels, |p| p.min(options.max_pixels)),
        _ => options.max_pixels,
    };
    limits.max_alloc = Some(pixels.saturating_mul(8).saturating_add(16 << 20));
    reader.limits(limits);
    let classify = |e: image::ImageError| classify(path, format, e);
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (w, h) = decoder.dimensions();
    DecodeError::check_size(path, format, u64::from(w), u64::from(h), options)?;
    // A missing or unreadable tag means "as stored", which is what every viewer does too.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(classify)?;
    img.apply_orientation(orientation);
    from_dynamic(img, format).ok_or_else(|| fail("pixel buffer does not match the image size".into()))
}

/// Width x height from a PNG's IHDR chunk (always first, at a fixed offset).
fn png_pixels(bytes: &[u8]) -> Option<u64> {
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let word =
        |at: usize| -> Option<u64> { Some(u64::from(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))) };
    Some(word(16)?.saturating_mul(word(20)?))
}

/// Tells a truncated file from other decoder errors: the decoders say "end of file" in their
/// own words.
fn classify(path: &Path, format: FileFormat, e: image::ImageError) -> DecodeError {
    let text = e.to_string();
    let eof = matches!(&e, image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof);
    let lower = text.to_ascii_lowercase();
    if eof
        || ["end of file", "eof", "truncated", "unexpected end", "not enough data", "fill whole buffer"]
            .iter()
            .any(|k| lower.contains(k))
    {
        DecodeError::Truncated { path: path.to_owned(), format, detail: text }
    } else {
        DecodeError::Decode { path: path.to_owned(), format, reason: text }
    }
}

thread_local! {
    /// Set while this thread runs a decoder: its panics are reported as errors, not printed.
    static IN_DECODER: Cell<bool> = const { Cell::new(false) };
}

/// Runs a third-party decoder, turning a panic into [`DecodeError::DecoderFailed`]. The panic
/// hook stays silent for contained panics (the error names the file instead) and prints every
/// other panic as before.
fn contain_panics(
    path: &Path,
    format: FileFormat,
    decode: impl FnOnce() -> Result<GrayImage16, DecodeError>,
) -> Result<GrayImage16, DecodeError> {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_DECODER.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = IN_DECODER.with(|f| f.replace(true));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(decode));
    IN_DECODER.with(|f| f.set(was));
    outcome.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic without a message".to_owned());
        Err(DecodeError::DecoderFailed { path: path.to_owned(), format, message })
    })
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
