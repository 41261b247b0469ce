//! DICOM decoding through dicom-rs.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PhotometricInterpretation, PixelDecoder, VoiLutOption};

use super::decode::{DecodeError, DecodeOptions};
use super::{FileFormat, GrayImage16};

/// JPEG transfer syntaxes (baseline, extended, lossless, lossless first-order).
const JPEG_SYNTAXES: [&str; 4] =
    ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"];

/// An error with its sources, which in dicom-rs carry the actual reason.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Decodes the first frame of a DICOM file: modality rescale applied, MONOCHROME1 inverted so
/// that bone is bright, original bit depth kept where the values allow.
pub(crate) fn decode_dicom(path: &Path, options: &DecodeOptions) -> Result<GrayImage16, DecodeError> {
    let fail = |reason: String| DecodeError::Decode { path: path.to_owned(), format: FileFormat::Dicom, reason };
    let truncated =
        |detail: String| DecodeError::Truncated { path: path.to_owned(), format: FileFormat::Dicom, detail };
    // Before dicom-rs allocates what a header declares.
    super::dicom_lengths::check(path).map_err(|r| match r {
        super::dicom_lengths::Refusal::Truncated(d) => truncated(d),
        super::dicom_lengths::Refusal::Malformed(d) => fail(d),
    })?;
    // With or without the 128-byte preamble (ReadPreamble::Auto).
    let obj = dicom_object::OpenFileOptions::new().open_file(path).map_err(|e| {
        let text = error_chain(&e);
        let lower = text.to_ascii_lowercase();
        if ["end of file", "eof", "fill whole buffer", "unexpected end", "incomplete"].iter().any(|k| lower.contains(k))
        {
            truncated(text)
        } else {
            fail(text)
        }
    })?;
    let dim = |tag, name: &str| -> Result<u64, DecodeError> {
        obj.element(tag)
            .map_err(|_| fail(format!("no {name} attribute")))?
            .to_int::<u64>()
            .map_err(|e| fail(format!("bad {name}: {e}")))
    };
    let (rows, cols) = (dim(tags::ROWS, "Rows")?, dim(tags::COLUMNS, "Columns")?);
    DecodeError::check_size(path, FileFormat::Dicom, cols, rows, options)?;
    // dicom-pixeldata builds a lookup table of 2^(Bits Stored) entries for the modality rescale
    // (gigabytes for a header that says 28) and asserts 1..=32: check before it does.
    let (allocated, stored) = (dim(tags::BITS_ALLOCATED, "Bits Allocated")?, dim(tags::BITS_STORED, "Bits Stored")?);
    if ![8, 16, 32].contains(&allocated) {
        return Err(fail(format!(
            "Bits Allocated {allocated} is not supported (8, 16 or 32 are; 1-bit and packed 12-bit data are not radiographs this tool reads)"
        )));
    }
    if !(1..=16).contains(&stored) || stored > allocated {
        return Err(fail(format!(
            "Bits Stored {stored} with Bits Allocated {allocated}: 1 to 16 stored bits, within the allocated ones, are supported"
        )));
    }

    // Compressed frames: a JPEG stream cut short would be decoded with grey filling.
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0');
    let fragments = obj.element(tags::PIXEL_DATA).ok().and_then(|e| e.value().fragments());
    if JPEG_SYNTAXES.contains(&ts)
        && let Some(fragments) = fragments
    {
        let stream: Vec<u8> = fragments.iter().flatten().copied().collect();
        super::jpeg_structure::check_complete(&stream).map_err(|d| truncated(format!("JPEG frame: {d}")))?;
        // A frame smaller than Rows x Columns would leave the rest of the image black. (A larger
        // one makes dicom-rs's JPEG adapter panic, which is contained and reported.)
        if let Some((w, h)) = super::jpeg_structure::frame_size(&stream)
            && (u64::from(w) < cols || u64::from(h) < rows)
        {
            return Err(truncated(format!(
                "the JPEG frame is {w} x {h} but Columns x Rows say {cols} x {rows}: it cannot fill the image"
            )));
        }
    }
    // Native (uncompressed) data shorter than one frame of Rows x Columns x samples x Bits
    // Allocated: dicom-rs would only say "frame out of range".
    if fragments.is_none()
        && let Ok(element) = obj.element(tags::PIXEL_DATA)
        && let Some(len) = element.header().len.get()
    {
        let int = |tag| obj.element(tag).ok().and_then(|e| e.to_int::<u64>().ok());
        let samples = int(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        // Bits Allocated 1 and 12 pack their samples: count bits, not bytes per sample.
        let needed = (rows * cols * samples * allocated).div_ceil(8);
        if u64::from(len) < needed {
            return Err(truncated(format!(
                "Pixel Data has {len} bytes, one frame of Rows x Columns ({rows} x {cols}) needs {needed}"
            )));
        }
    }
    let decoded = obj.decode_pixel_data_frame(0).map_err(|e| fail(error_chain(&e)))?;
    let samples = usize::from(decoded.samples_per_pixel());
    if samples == 3 {
        // Colour DICOM (rare for radiographs): interleaved RGB to Rec. 709 luminance.
        let rgb: Vec<u16> = decoded.to_vec_frame(0).map_err(|e| fail(e.to_string()))?;
        let bits = if decoded.bits_allocated() > 8 { 16 } else { 8 };
        let pixels = rgb
            .chunks_exact(3)
            .map(|c| (0.2126 * f64::from(c[0]) + 0.7152 * f64::from(c[1]) + 0.0722 * f64::from(c[2])).round() as u16)
            .collect();
        return GrayImage16::new(cols as u32, rows as u32, bits, pixels, FileFormat::Dicom)
            .ok_or_else(|| fail("pixel buffer does not match Rows x Columns".into()));
    }
    if samples != 1 {
        return Err(fail(format!("{samples} samples per pixel is not supported (expected 1 or 3)")));
    }
    let convert =
        ConvertOptions::new().with_modality_lut(ModalityLutOption::Default).with_voi_lut(VoiLutOption::Identity);
    let values: Vec<f64> = decoded.to_vec_frame_with_options(0, &convert).map_err(|e| fail(e.to_string()))?;
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() || !hi.is_finite() {
        return Err(fail("no pixel values".into()));
    }
    let stored = decoded.bits_stored().clamp(1, 16) as u8;
    // Keep the stored scale when the rescaled values fit it; otherwise shift (and if needed
    // compress) into 16 bits.
    let stored_max = f64::from(((1u32 << stored) - 1) as u16);
    let (offset, scale, bits) = if lo >= 0.0 && hi <= stored_max {
        (0.0, 1.0, stored)
    } else if hi - lo <= 65535.0 {
        (-lo, 1.0, 16)
    } else {
        (-lo, 65535.0 / (hi - lo), 16)
    };
    let max = if bits >= 16 { 65535.0 } else { stored_max };
    let invert = *decoded.photometric_interpretation() == PhotometricInterpretation::Monochrome1;
    let pixels: Vec<u16> = values
        .iter()
        .map(|&v| {
            let x = ((v + offset) * scale).round().clamp(0.0, max);
            (if invert { max - x } else { x }) as u16
        })
        .collect();
    GrayImage16::new(cols as u32, rows as u32, bits, pixels, FileFormat::Dicom)
        .ok_or_else(|| fail(format!("{} pixel values for {cols} x {rows}", values.len())))
}

/// The size of a DICOM file's pixels, in millimetres, and which attribute said so: Pixel
/// Spacing (0028,0030, calibrated to the animal) when present, else Imager Pixel Spacing
/// (0018,1164, at the detector, so slightly larger than the animal's by the geometric
/// magnification). Only the header is read. `None` for a file without either, one that cannot be
/// read, or spacings that are not positive numbers. Pixels need not be square: the row and
/// column spacings are kept apart, and measurements scale each direction by its own.
pub fn pixel_spacing_mm(path: &Path) -> Option<PixelSpacing> {
    let obj = dicom_object::OpenFileOptions::new().read_until(tags::PIXEL_DATA).open_file(path).ok()?;
    [(tags::PIXEL_SPACING, "DICOM Pixel Spacing"), (tags::IMAGER_PIXEL_SPACING, "DICOM Imager Pixel Spacing")]
        .into_iter()
        .find_map(|(tag, name)| {
            let v = obj.element(tag).ok()?.to_multi_float64().ok()?;
            let (row, col) = match v.as_slice() {
                [row, col, ..] => (*row, *col),
                [one] => (*one, *one),
                [] => return None,
            };
            let valid = [row, col].iter().all(|v| v.is_finite() && *v > 0.0);
            valid.then_some(PixelSpacing { row_mm: row, col_mm: col, source: name })
        })
}

/// A film's pixel spacing from its DICOM header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelSpacing {
    /// Millimetres between the centres of adjacent rows (down the image, y).
    pub row_mm: f64,
    /// Millimetres between the centres of adjacent columns (across the image, x).
    pub col_mm: f64,
    /// The attribute it came from: "DICOM Pixel Spacing" or "DICOM Imager Pixel Spacing".
    pub source: &'static str,
}

/// How [`write_dicom`] encodes an image.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomWriteOptions {
    /// Store as MONOCHROME1 (low values white): pixel values are inverted on disk so that a
    /// reader that honours the photometric interpretation sees the original image.
    pub monochrome1: bool,
    /// Rescale Slope written to the file; stored values are `(v - intercept) / slope`.
    pub rescale_slope: f64,
    /// Rescale Intercept written to the file.
    pub rescale_intercept: f64,
    /// Patient ID (the specimen id).
    pub patient_id: String,
    /// SOP Instance UID; callers that need byte-identical output pass a deterministic one.
    pub instance_uid: String,
    /// Pixel Spacing (0028,0030) in millimetres: between rows, then between columns.
    pub pixel_spacing_mm: Option<[f64; 2]>,
}

impl Default for DicomWriteOptions {
    fn default() -> Self {
        DicomWriteOptions {
            monochrome1: false,
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            patient_id: String::new(),
            instance_uid: "2.25.1".into(),
            pixel_spacing_mm: None,
        }
    }
}

/// Writes a gray image as an uncompressed (explicit VR little endian) Digital X-Ray DICOM file.
pub fn write_dicom(path: &Path, image: &GrayImage16, options: &DicomWriteOptions) -> Result<(), String> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::uids;

    const DX_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.1.1";
    let bits = image.bits.clamp(8, 16);
    let max = f64::from(image.max_value());
    let slope = if options.rescale_slope == 0.0 { 1.0 } else { options.rescale_slope };
    let stored: Vec<u16> = image
        .pixels
        .iter()
        .map(|&v| {
            let s = ((f64::from(v) - options.rescale_intercept) / slope).round().clamp(0.0, max);
            (if options.monochrome1 { max - s } else { s }) as u16
        })
        .collect();
    let (rows, cols) = (u16::try_from(image.height), u16::try_from(image.width));
    let (Ok(rows), Ok(cols)) = (rows, cols) else {
        return Err(format!("{} x {} is too large for DICOM", image.width, image.height));
    };
    let photometric = if options.monochrome1 { "MONOCHROME1" } else { "MONOCHROME2" };
    let mut obj = dicom_object::InMemDicomObject::new_empty();
    let text = |tag, vr, s: &str| DataElement::new(tag, vr, PrimitiveValue::from(s));
    obj.put(text(tags::SOP_CLASS_UID, VR::UI, DX_STORAGE));
    obj.put(text(tags::SOP_INSTANCE_UID, VR::UI, &options.instance_uid));
    obj.put(text(tags::MODALITY, VR::CS, "DX"));
    obj.put(text(tags::PATIENT_ID, VR::LO, &options.patient_id));
    obj.put(DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)));
    obj.put(text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric));
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)));
    obj.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)));
    obj.put(DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(u16::from(bits))));
    obj.put(DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(u16::from(bits) - 1)));
    obj.put(DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16)));
    obj.put(text(tags::RESCALE_INTERCEPT, VR::DS, &format!("{}", options.rescale_intercept)));
    obj.put(text(tags::RESCALE_SLOPE, VR::DS, &format!("{slope}")));
    if let Some([row, col]) = options.pixel_spacing_mm {
        let v = vec![format!("{row}"), format!("{col}")];
        obj.put(DataElement::new(tags::PIXEL_SPACING, VR::DS, PrimitiveValue::Strs(v.into())));
    }
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(stored.into())));
    let file = obj
        .with_meta(
            dicom_object::FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(DX_STORAGE),
        )
        .map_err(|e| e.to_string())?;
    file.write_to_file(path).map_err(|e| format!("{}: {e}", path.display()))
}
