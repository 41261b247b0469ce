//! Helpers shared by the integration tests: files written on the fly, never committed blobs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use image::{ImageBuffer, Luma, Rgb, Rgba};
use mousexray::imaging::{DicomWriteOptions, FileFormat, GrayImage16, write_dicom};

/// A deterministic test pattern: a bright elongated blob on a dark ramp, values within `max`.
pub fn pattern(w: u32, h: u32, max: u16) -> Vec<u16> {
    let mut v = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 - w as f64 / 2.0, y as f64 - h as f64 / 2.0);
            let inside = (dx / (w as f64 * 0.15)).powi(2) + (dy / (h as f64 * 0.4)).powi(2) <= 1.0;
            let base = (x * 7 + y * 3) % 97;
            let val = if inside { max as u32 * 3 / 4 + base } else { base * 2 };
            v.push(val.min(max as u32) as u16);
        }
    }
    v
}

pub fn write_png16(path: &Path, w: u32, h: u32) -> Vec<u16> {
    let px = pattern(w, h, 16383);
    ImageBuffer::<Luma<u16>, _>::from_raw(w, h, px.clone()).unwrap().save(path).unwrap();
    px
}

/// A whole normal phantom's `view` at 128 px as a 16-bit PNG: a film that passes film QC (the
/// patterns of [`write_png16`] show no animal, and QC rightly leaves them out of scoring).
pub fn write_phantom_png(path: &Path, view: mousexray::specimen::View) {
    let prevalence =
        mousexray::synth::Prevalence { abnormal: 0.0, max_findings: 0, min_severity: 0.3, classes: Vec::new() };
    let phantom = mousexray::synth::Phantom::sample(2000, 3, &prevalence, 0.0);
    let px: Vec<u16> = phantom.render(view, 128, true).into_iter().map(|v| v.saturating_mul(4)).collect();
    ImageBuffer::<Luma<u16>, _>::from_raw(128, 128, px).unwrap().save(path).unwrap();
}

pub fn write_png8(path: &Path, w: u32, h: u32) {
    let px: Vec<u8> = pattern(w, h, 255).into_iter().map(|v| v as u8).collect();
    ImageBuffer::<Luma<u8>, _>::from_raw(w, h, px).unwrap().save(path).unwrap();
}

pub fn write_tiff16(path: &Path, w: u32, h: u32) -> Vec<u16> {
    let px = pattern(w, h, 65535);
    ImageBuffer::<Luma<u16>, _>::from_raw(w, h, px.clone()).unwrap().save(path).unwrap();
    px
}

pub fn write_rgb_jpeg(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    ImageBuffer::<Rgb<u8>, _>::from_pixel(w, h, Rgb(rgb)).save(path).unwrap();
}

pub fn write_rgba_png(path: &Path, w: u32, h: u32, rgba: [u8; 4]) {
    ImageBuffer::<Rgba<u8>, _>::from_pixel(w, h, Rgba(rgba)).save(path).unwrap();
}

pub fn write_bmp(path: &Path, w: u32, h: u32) {
    let px: Vec<u8> = pattern(w, h, 255).into_iter().flat_map(|v| [v as u8; 3]).collect();
    ImageBuffer::<Rgb<u8>, _>::from_raw(w, h, px).unwrap().save(path).unwrap();
}

pub fn write_dcm(path: &Path, w: u32, h: u32, bits: u8, options: &DicomWriteOptions) -> Vec<u16> {
    let max = ((1u32 << bits) - 1) as u16;
    let px = pattern(w, h, max);
    let img = GrayImage16::new(w, h, bits, px.clone(), FileFormat::Dicom).unwrap();
    write_dicom(path, &img, options).unwrap();
    px
}

/// A PNG whose header claims `w x h` (valid CRCs) followed by a few bytes of image data: what a
/// decompression bomb looks like before its data is inflated.
pub fn write_png_header_only(path: &Path, w: u32, h: u32) {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&13u32.to_be_bytes());
    bytes.extend_from_slice(&ihdr);
    bytes.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    let idat = b"IDAT\x78\x9c\xed\xc1\x01\x0d\x00\x00\x00".to_vec();
    bytes.extend_from_slice(&(idat.len() as u32 - 4).to_be_bytes());
    bytes.extend_from_slice(&idat);
    bytes.extend_from_slice(&crc32(&idat).to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

pub fn touch(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

pub fn mkdirs(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
}

/// Builds a folder holding all four layouts plus one instance of each problem.
pub fn mixed_folder(root: &Path) {
    // 1. One subfolder per specimen, with an extra view.
    mkdirs(&root.join("M1"));
    write_png16(&root.join("M1/DV.png"), 16, 24);
    write_png16(&root.join("M1/lateral.png"), 16, 24);
    write_png16(&root.join("M1/skull_dv.png"), 8, 8);
    // 2. Flat names with view tokens; M2 in two formats.
    write_png16(&root.join("M2_DV.png"), 16, 24);
    write_tiff16(&root.join("M2-lat.tif"), 16, 24);
    write_rgb_jpeg(&root.join("M2 034.jpg"), 8, 8, [1, 2, 3]); // second DV for M2
    write_bmp(&root.join("M4_lv.bmp"), 16, 24); // LV only
    // 3. View folders.
    mkdirs(&root.join("DV"));
    mkdirs(&root.join("LV"));
    write_png8(&root.join("DV/M3.png"), 16, 24);
    write_png8(&root.join("LV/M3.png"), 16, 24);
    // 4. IMPC tree with a manifest, plus an explicit manifest row with an arbitrary name.
    let impc = root.join("HRWL_001/IMPC_XRY_001");
    mkdirs(&impc.join("IMPC_XRY_034_001"));
    mkdirs(&impc.join("IMPC_XRY_048_001"));
    write_dcm(&impc.join("IMPC_XRY_034_001/114182.dcm"), 16, 24, 12, &DicomWriteOptions::default());
    write_dcm(&impc.join("IMPC_XRY_048_001/114190.dcm"), 16, 24, 12, &DicomWriteOptions::default());
    write_dcm(&impc.join("IMPC_XRY_048_001/999999.dcm"), 16, 24, 12, &DicomWriteOptions::default());
    write_png16(&root.join("scan_a.png"), 16, 24);
    std::fs::write(
        root.join("specimens.csv"),
        "specimen_id,view,path,colony_id,gene_symbol,zygosity,sex\n\
         CIB2_5078006,IMPC_XRY_034_001,HRWL_001/IMPC_XRY_001/IMPC_XRY_034_001/114182.dcm,CIB2-TM1B,Cib2,homozygote,female\n\
         CIB2_5078006,,HRWL_001/IMPC_XRY_001/IMPC_XRY_048_001/114190.dcm,CIB2-TM1B,,,\n\
         M5,dv,scan_a.png,,,,male\n\
         M1,,,COL1,Abc1,heterozygote,\n\
         M8,,,COL8,,,\n\
         M9,lv,missing.png,,,,\n\
         M10,lv,../escape.png,,,,\n\
         ,lv,scan_a.png,,,,\n",
    )
    .unwrap();
    // Problems.
    touch(&root.join("garbage_dv.png"), b"GIF89a not really");
    touch(&root.join("zero_lv.png"), b"");
    write_png16(&root.join("nothing.png"), 8, 8); // no view
    mkdirs(&root.join("M6"));
    write_png16(&root.join("M6/forepaw.png"), 8, 8); // neither DV nor LV
    mkdirs(&root.join("batch2/M1"));
    write_png16(&root.join("batch2/M1/dv.png"), 8, 8); // duplicate id (second folder M1)
    write_png16(&root.join("m3_lv.png"), 8, 8); // differs only in case from M3
    touch(&root.join("notes.txt"), b"ignored");
    touch(&root.join(".hidden_dv.png"), b"ignored");
    touch(&root.join(".mousexray/review_dv.png"), b"ignored");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("..", root.join("M1/loop")).unwrap();
        std::os::unix::fs::symlink("does-not-exist.png", root.join("dangling_dv.png")).unwrap();
    }
}

pub fn baseline_jpeg(img: &image::GrayImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 100).encode_image(img).unwrap();
    out
}

/// A DICOM whose Pixel Data is an encapsulated JPEG frame (baseline, 8 bit) of `frame`, while
/// its Rows and Columns say `rows x cols`.
pub fn write_jpeg_dicom(path: &Path, frame: &image::GrayImage, rows: u16, cols: u16) {
    let jpeg = baseline_jpeg(frame);
    let mut obj = dicom_object::InMemDicomObject::new_empty();
    let text = |tag, vr, s: &str| dicom_core::DataElement::new(tag, vr, dicom_core::PrimitiveValue::from(s));
    let us = |tag, v: u16| dicom_core::DataElement::new(tag, dicom_core::VR::US, dicom_core::PrimitiveValue::from(v));
    obj.put(text(dicom_dictionary_std::tags::SOP_CLASS_UID, dicom_core::VR::UI, "1.2.840.10008.5.1.4.1.1.1.1"));
    obj.put(text(dicom_dictionary_std::tags::SOP_INSTANCE_UID, dicom_core::VR::UI, "2.25.7"));
    obj.put(text(dicom_dictionary_std::tags::MODALITY, dicom_core::VR::CS, "DX"));
    obj.put(us(dicom_dictionary_std::tags::SAMPLES_PER_PIXEL, 1));
    obj.put(text(dicom_dictionary_std::tags::PHOTOMETRIC_INTERPRETATION, dicom_core::VR::CS, "MONOCHROME2"));
    obj.put(us(dicom_dictionary_std::tags::ROWS, rows));
    obj.put(us(dicom_dictionary_std::tags::COLUMNS, cols));
    obj.put(us(dicom_dictionary_std::tags::BITS_ALLOCATED, 8));
    obj.put(us(dicom_dictionary_std::tags::BITS_STORED, 8));
    obj.put(us(dicom_dictionary_std::tags::HIGH_BIT, 7));
    obj.put(us(dicom_dictionary_std::tags::PIXEL_REPRESENTATION, 0));
    let fragments = dicom_core::value::PixelFragmentSequence::new_fragments(vec![jpeg]);
    obj.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::PIXEL_DATA,
        dicom_core::VR::OB,
        dicom_core::value::Value::PixelSequence(fragments),
    ));
    let file = obj
        .with_meta(
            dicom_object::FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.4.50")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.1.1"),
        )
        .unwrap();
    file.write_to_file(path).unwrap();
}

pub fn progressive_jpeg(img: &image::GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_progressive(true);
    enc.encode(img.as_raw(), img.width() as u16, img.height() as u16, jpeg_encoder::ColorType::Luma).unwrap();
    out
}

/// Runs the `mousexray` binary.
pub fn mousexray(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mousexray")).args(args).output().unwrap()
}

/// A tiny contract model (one ConvNeXt stage, 32 px) with random weights, threshold 0.5.
pub fn tiny_model(dir: &Path) -> std::path::PathBuf {
    tiny_model_flagging_at(dir, 0.5)
}

/// [`tiny_model`] with every node's threshold at `threshold` (0 flags everything).
pub fn tiny_model_flagging_at(dir: &Path, threshold: f32) -> std::path::PathBuf {
    let config = mousexray::training::model::ModelConfig {
        backbone: mousexray::training::model::BackboneKind::Convnext,
        dims: vec![8],
        depths: vec![1],
        layer_scale: 0.1,
        classes: 14,
        antialias: false,
    };
    let path = dir.join("tiny.onnx");
    std::fs::write(&path, mousexray::training::package::synthetic_model(&config, 32, threshold).unwrap()).unwrap();
    path
}
