//! Whether a JPEG stream is whole. The decoders run lenient (as browsers do, so real-world
//! quirks still open) and fill missing scan data with grey; only a walk of the marker segments
//! tells that the data stopped before its end-of-image marker. Written by hand because no
//! decoder crate exposes it.

/// Walks `bytes` from SOI through every marker segment and entropy-coded scan to EOI.
///
/// # Errors
/// A sentence saying where the stream ends early or what is malformed.
pub(crate) fn check_complete(bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err("no start-of-image marker".into());
    }
    let mut i = 2;
    let mut scans = 0usize;
    loop {
        // Fill bytes (0xFF runs) may precede a marker.
        while bytes.get(i) == Some(&0xFF) && bytes.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(i), bytes.get(i + 1)) else {
            return Err(ended(i, scans));
        };
        i += 2;
        match marker {
            0xD9 => return if scans > 0 { Ok(()) } else { Err("end-of-image marker before any scan".into()) },
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (bytes.get(i), bytes.get(i + 1)) else {
            return Err(ended(i, scans));
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 2 {
            return Err(format!("segment length {len} at byte {i} is invalid"));
        }
        i += len;
        if i > bytes.len() {
            return Err(ended(bytes.len(), scans));
        }
        if marker == 0xDA {
            scans += 1;
            // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a
            // restart marker.
            loop {
                let Some(at) = bytes.get(i..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) else {
                    return Err(ended(bytes.len(), scans));
                };
                i += at;
                match bytes.get(i + 1) {
                    None => return Err(ended(bytes.len(), scans)),
                    Some(0x00 | 0xD0..=0xD7 | 0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// The frame's width and height from its start-of-frame marker (any SOFn), if it has one before
/// its first scan.
pub(crate) fn frame_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    while let (Some(&0xFF), Some(&marker)) = (bytes.get(i), bytes.get(i + 1)) {
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]));
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let s = bytes.get(i + 5..i + 9)?;
            return Some((u32::from(u16::from_be_bytes([s[2], s[3]])), u32::from(u16::from_be_bytes([s[0], s[1]]))));
        }
        if marker == 0xDA {
            return None;
        }
        i += 2 + len;
    }
    None
}

fn ended(at: usize, scans: usize) -> String {
    let place = if scans == 0 { "before the first scan".to_owned() } else { format!("inside scan {scans}") };
    format!("the data ends at byte {at}, {place}, without an end-of-image marker")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn jpeg(progressive: bool) -> Vec<u8> {
        let img = image::GrayImage::from_fn(64, 48, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]));
        let mut out = Vec::new();
        if progressive {
            // The image crate writes baseline only; jpeg-encoder writes progressive.
            let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
            enc.set_progressive(true);
            enc.encode(img.as_raw(), 64, 48, jpeg_encoder::ColorType::Luma).unwrap();
        } else {
            image::codecs::jpeg::JpegEncoder::new(&mut out).encode_image(&img).unwrap();
        }
        out
    }

    #[test]
    fn whole_streams_pass_and_every_cut_fails() {
        for progressive in [false, true] {
            let bytes = jpeg(progressive);
            check_complete(&bytes).unwrap();
            assert_eq!(frame_size(&bytes), Some((64, 48)));
            for cut in [bytes.len() * 55 / 100, bytes.len() - 2, bytes.len() / 10, 3] {
                let e = check_complete(&bytes[..cut]).unwrap_err();
                assert!(e.contains("ends at byte") || e.contains("invalid"), "{progressive} {cut}: {e}");
            }
            // Trailing bytes after the end-of-image marker are harmless.
            let mut padded = bytes.clone();
            padded.extend_from_slice(&[0, 0, 0x0A]);
            check_complete(&padded).unwrap();
        }
    }
}
