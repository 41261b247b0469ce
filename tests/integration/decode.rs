//! Decoders on files the tests write: every format, bit depth and DICOM photometry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use mousexray::imaging::{DecodeError, DecodeOptions, DicomWriteOptions, FileFormat, PixelSpacing, decode};

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

#[test]
fn png16_keeps_values_and_depth() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.png");
    let px = write_png16(&p, 61, 47);
    let img = decode(&p, &opts()).unwrap();
    assert_eq!((img.width, img.height, img.bits, img.format), (61, 47, 16, FileFormat::Png));
    assert_eq!(img.pixels, px);
}

#[test]
fn png8_and_bmp_stay_8_bit() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.png");
    write_png8(&p, 30, 20);
    let img = decode(&p, &opts()).unwrap();
    assert_eq!(img.bits, 8);
    assert!(img.pixels.iter().all(|&v| v <= 255));
    let b = dir.path().join("b.bmp");
    write_bmp(&b, 30, 20);
    let bmp = decode(&b, &opts()).unwrap();
    assert_eq!((bmp.format, bmp.bits), (FileFormat::Bmp, 8));
    assert_eq!(bmp.pixels, img.pixels, "gray BMP (RGB-encoded) decodes to the same luminance");
}

#[test]
fn tiff16_keeps_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.tif");
    let px = write_tiff16(&p, 40, 33);
    let img = decode(&p, &opts()).unwrap();
    assert_eq!((img.format, img.bits), (FileFormat::Tiff, 16));
    assert_eq!(img.pixels, px);
}

#[test]
fn rgb_jpeg_and_rgba_png_become_luminance() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("c.jpg");
    write_rgb_jpeg(&j, 32, 32, [200, 100, 50]);
    let img = decode(&j, &opts()).unwrap();
    assert_eq!((img.format, img.bits), (FileFormat::Jpeg, 8));
    // Rec. 709: 0.2126*200 + 0.7152*100 + 0.0722*50 = 117.6; JPEG loses a little.
    let mean = img.pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / img.pixels.len() as f64;
    assert!((mean - 117.6).abs() < 4.0, "mean {mean}");

    let p = dir.path().join("d.png");
    write_rgba_png(&p, 8, 8, [90, 90, 90, 0]);
    let img = decode(&p, &opts()).unwrap();
    assert!(img.pixels.iter().all(|&v| v == 90), "alpha is dropped, not blended");
}

#[test]
fn dicom_monochrome2_monochrome1_and_rescale() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m2.dcm");
    let px = write_dcm(&p, 50, 40, 12, &DicomWriteOptions::default());
    let img = decode(&p, &opts()).unwrap();
    assert_eq!((img.width, img.height, img.bits, img.format), (50, 40, 12, FileFormat::Dicom));
    assert_eq!(img.pixels, px);

    // MONOCHROME1 is stored inverted; decoding must invert it back.
    let p1 = dir.path().join("m1");
    let px1 = write_dcm(&p1, 50, 40, 14, &DicomWriteOptions { monochrome1: true, ..Default::default() });
    let raw = dicom_object::open_file(&p1).unwrap();
    let stored = raw.element(dicom_dictionary_std::tags::PIXEL_DATA).unwrap().to_multi_int::<u16>().unwrap();
    assert_eq!(stored[0], 16383 - px1[0], "the file really holds inverted values");
    let img1 = decode(&p1, &opts()).unwrap();
    assert_eq!(img1.pixels, px1);

    // Slope 2: stored values are halved, the modality rescale restores them (to within rounding).
    let p2 = dir.path().join("s2.dcm");
    let px2 = write_dcm(&p2, 20, 10, 16, &DicomWriteOptions { rescale_slope: 2.0, ..Default::default() });
    let img2 = decode(&p2, &opts()).unwrap();
    for (a, b) in img2.pixels.iter().zip(&px2) {
        assert!(a.abs_diff(*b) <= 1, "{a} vs {b}");
    }
}

#[test]
fn decompression_bombs_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb.png");
    write_png_header_only(&p, 100_000, 100_000);
    let err = decode(&p, &opts()).unwrap_err();
    assert!(matches!(err, DecodeError::TooLarge { width: 100_000, height: 100_000, .. }), "{err}");
    assert!(err.to_string().contains("bomb.png"), "{err}");

    let q = dir.path().join("ok.png");
    write_png16(&q, 100, 100);
    let err = decode(&q, &DecodeOptions { max_pixels: 5_000 }).unwrap_err();
    assert!(matches!(err, DecodeError::TooLarge { .. }));
    let d = dir.path().join("big.dcm");
    write_dcm(&d, 100, 100, 12, &DicomWriteOptions::default());
    assert!(matches!(decode(&d, &DecodeOptions { max_pixels: 5_000 }), Err(DecodeError::TooLarge { .. })));
}

#[test]
fn garbage_truncated_and_empty_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.png");
    touch(&garbage, b"this is not an image at all");
    let err = decode(&garbage, &opts()).unwrap_err();
    assert!(matches!(err, DecodeError::UnknownFormat { .. }));
    assert!(err.to_string().contains("garbage.png"));

    let good = dir.path().join("good.png");
    write_png16(&good, 64, 64);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.png");
    touch(&cut, &bytes[..bytes.len() / 2]);
    let err = decode(&cut, &opts()).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("cut.png"));

    let empty = dir.path().join("empty.dcm");
    touch(&empty, b"");
    let err = decode(&empty, &opts()).unwrap_err();
    assert!(err.to_string().contains("empty.dcm"), "{err}");

    let missing = dir.path().join("missing.png");
    assert!(matches!(decode(&missing, &opts()), Err(DecodeError::Io { .. })));
}

#[test]
fn dicom_pixel_spacing_is_read_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("with.dcm");
    write_dcm(&with, 50, 40, 12, &DicomWriteOptions { pixel_spacing_mm: Some([0.05, 0.05]), ..Default::default() });
    let spacing = |row_mm, col_mm| Some(PixelSpacing { row_mm, col_mm, source: "DICOM Pixel Spacing" });
    assert_eq!(mousexray::imaging::pixel_spacing_mm(&with), spacing(0.05, 0.05));
    // Oblong pixels keep both spacings (rows first, as DICOM lists them).
    let oblong = dir.path().join("oblong.dcm");
    write_dcm(&oblong, 50, 40, 12, &DicomWriteOptions { pixel_spacing_mm: Some([0.08, 0.05]), ..Default::default() });
    assert_eq!(mousexray::imaging::pixel_spacing_mm(&oblong), spacing(0.08, 0.05));
    // The pixels still decode as before.
    assert_eq!(decode(&with, &opts()).unwrap().width, 50);
    let without = dir.path().join("without.dcm");
    write_dcm(&without, 50, 40, 12, &DicomWriteOptions::default());
    assert_eq!(mousexray::imaging::pixel_spacing_mm(&without), None);
    let png = dir.path().join("film.png");
    std::fs::write(&png, b"not a dicom").unwrap();
    assert_eq!(mousexray::imaging::pixel_spacing_mm(&png), None);
}
