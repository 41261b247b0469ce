//! Every file is read right or refused with its reason: one test per kind of fault that real
//! readers (pydicom, dicom-rs, image-rs, ITK, dwv, fo-dicom) have had reported, each on small
//! inputs generated here. See TESTING.md for the list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use mousexray::specimen::View;

use std::path::{Path, PathBuf};
use std::process::Output;

use image::{GrayImage, Luma};
use mousexray::imaging::{DecodeError, DecodeOptions, DicomWriteOptions, decode};
use mousexray::specimen::scan;

/// `predict` on `root` with a tiny model; the CSV is `dir/p.csv`.
fn predict(root: &Path, dir: &Path) -> (Output, PathBuf) {
    predict_with(root, dir, &common::tiny_model(dir), &[])
}

/// `predict` on `root` with `model` and more arguments; the CSV is `dir/p.csv`.
fn predict_with(root: &Path, dir: &Path, model: &Path, more: &[&std::ffi::OsStr]) -> (Output, PathBuf) {
    let out = dir.join("p.csv");
    let mut args = vec![
        "predict".as_ref(),
        root.as_os_str(),
        "--model".as_ref(),
        model.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend_from_slice(more);
    (common::mousexray(&args), out)
}

fn ramp(w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| Luma([((x * 5 + y * 3) % 200 + 20) as u8]))
}

#[test]
fn a_decoder_panic_is_contained_and_named_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("films");
    std::fs::create_dir_all(root.join("BAD")).unwrap();
    // A 32 x 32 JPEG frame in a DICOM that says 8 x 8: dicom-rs copies the decoded frame into
    // an 8 x 8 buffer and panics (slice index out of range).
    let bad = root.join("BAD/DV.dcm");
    common::write_jpeg_dicom(&bad, &ramp(32, 32), 8, 8);
    common::write_phantom_png(&root.join("BAD/LV.png"), View::Lv);
    for id in ["G1", "G2"] {
        std::fs::create_dir_all(root.join(id)).unwrap();
        common::write_phantom_png(&root.join(id).join("DV.png"), View::Dv);
        common::write_phantom_png(&root.join(id).join("LV.png"), View::Lv);
    }
    // The same frame under a truthful header decodes: the crafted file is valid but for the lie.
    let fine = dir.path().join("fine.dcm");
    common::write_jpeg_dicom(&fine, &ramp(32, 32), 32, 32);
    let img = decode(&fine, &DecodeOptions::default()).unwrap();
    assert_eq!((img.width, img.height), (32, 32));

    match decode(&bad, &DecodeOptions::default()) {
        Err(e @ DecodeError::DecoderFailed { .. }) => {
            let text = e.to_string();
            assert!(text.contains("BAD/DV.dcm") && text.contains("decoder failed"), "{text}");
        }
        other => panic!("expected a contained decoder failure, got {other:?}"),
    }

    let (o, out) = predict(&root, dir.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "a contained panic prints nothing of its own: {stderr}");
    assert!(stderr.contains("1 view(s) refused when decoded"), "{stderr}");
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 4, "header and all three specimens: {csv}");
    let bad_row = csv.lines().find(|l| l.starts_with("BAD,")).unwrap();
    assert!(bad_row.contains(",LV,"), "BAD ran on its LV alone: {bad_row}");
    let problems = std::fs::read_to_string(dir.path().join("p.problems.csv")).unwrap();
    assert!(problems.lines().any(|l| l.contains("BAD/DV.dcm") && l.contains("decoder failed")), "{problems}");
}

/// A minimal EXIF block holding one Orientation tag.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&value.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff
}

fn jpeg_with_orientation(img: &GrayImage, orientation: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 100);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&exif_orientation(orientation));
    enc.add_app_segment(1, app1).unwrap();
    enc.encode(img.as_raw(), img.width() as u16, img.height() as u16, jpeg_encoder::ColorType::Luma).unwrap();
    out
}

/// Mean of a rectangle of a decoded image.
fn mean(img: &mousexray::imaging::GrayImage16, x0: u32, y0: u32, w: u32, h: u32) -> f64 {
    let mut sum = 0.0;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            sum += f64::from(img.pixels[(y * img.width + x) as usize]);
        }
    }
    sum / f64::from(w * h)
}

#[test]
fn orientation_tags_are_honoured_in_jpeg_png_and_tiff() {
    let dir = tempfile::tempdir().unwrap();
    // 64 x 32, a bright 16 x 8 block at the top left: where it lands says what was applied.
    let img = GrayImage::from_fn(64, 32, |x, y| Luma([if x < 16 && y < 8 { 240 } else { 20 }]));
    // Orientation -> (width, height), and the block (x, y, w, h) as seen after the tag is applied.
    type Case = (u16, (u32, u32), (u32, u32, u32, u32));
    let cases: [Case; 4] = [
        (1, (64, 32), (0, 0, 16, 8)),
        (2, (64, 32), (48, 0, 16, 8)),  // mirrored: top right
        (3, (64, 32), (48, 24, 16, 8)), // upside down: bottom right
        (6, (32, 64), (24, 0, 8, 16)),  // rotated 90 degrees clockwise: top right
    ];
    for (tag, size, (bx, by, bw, bh)) in cases {
        let path = dir.path().join(format!("o{tag}.jpg"));
        std::fs::write(&path, jpeg_with_orientation(&img, tag)).unwrap();
        let d = decode(&path, &DecodeOptions::default()).unwrap();
        assert_eq!((d.width, d.height), size, "orientation {tag}");
        assert!(mean(&d, bx, by, bw, bh) > 200.0, "orientation {tag}: the block is at ({bx}, {by})");
        assert!(mean(&d, 0, d.height / 2, 8, 8).max(mean(&d, d.width / 2, d.height / 2, 8, 8)) < 60.0);
    }

    // PNG carries EXIF in an eXIf chunk.
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let exif = exif_orientation(6);
    let mut chunk = b"eXIf".to_vec();
    chunk.extend_from_slice(&exif);
    let at = png.windows(4).position(|w| w == b"IDAT").unwrap() - 4;
    let mut with = png[..at].to_vec();
    with.extend_from_slice(&(exif.len() as u32).to_be_bytes());
    with.extend_from_slice(&chunk);
    with.extend_from_slice(&common::crc32(&chunk).to_be_bytes());
    with.extend_from_slice(&png[at..]);
    let path = dir.path().join("o6.png");
    std::fs::write(&path, with).unwrap();
    let d = decode(&path, &DecodeOptions::default()).unwrap();
    assert_eq!((d.width, d.height), (32, 64));
    assert!(mean(&d, 24, 0, 8, 16) > 200.0);

    // TIFF (what Faxitron cabinets export) has its own Orientation tag (274).
    let mut tif = std::io::Cursor::new(Vec::new());
    {
        let mut enc = tiff::encoder::TiffEncoder::new(&mut tif).unwrap();
        let mut page = enc.new_image::<tiff::encoder::colortype::Gray8>(64, 32).unwrap();
        page.encoder().write_tag(tiff::tags::Tag::Orientation, 3u16).unwrap();
        page.write_data(img.as_raw()).unwrap();
    }
    let path = dir.path().join("o3.tif");
    std::fs::write(&path, tif.into_inner()).unwrap();
    let d = decode(&path, &DecodeOptions::default()).unwrap();
    assert_eq!((d.width, d.height), (64, 32));
    assert!(mean(&d, 48, 24, 16, 8) > 200.0, "upside down: the block is at the bottom right");
}

#[test]
fn truncated_files_of_every_format_are_refused_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = GrayImage::from_fn(96, 96, |x, y| Luma([((x * 7 + y * 13) % 251) as u8]));
    let mut files: Vec<PathBuf> = Vec::new();
    std::fs::write(d.join("base.jpg"), common::baseline_jpeg(&big)).unwrap();
    std::fs::write(d.join("prog.jpg"), common::progressive_jpeg(&big, 90)).unwrap();
    common::write_png16(&d.join("a.png"), 96, 96);
    common::write_tiff16(&d.join("a.tif"), 96, 96);
    common::write_bmp(&d.join("a.bmp"), 96, 96);
    common::write_dcm(&d.join("a.dcm"), 96, 96, 12, &DicomWriteOptions::default());
    common::write_jpeg_dicom(&d.join("j.dcm"), &big, 96, 96);
    for name in ["base.jpg", "prog.jpg", "a.png", "a.tif", "a.bmp", "a.dcm", "j.dcm"] {
        let whole = d.join(name);
        decode(&whole, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{name} whole: {e}"));
        let bytes = std::fs::read(&whole).unwrap();
        for percent in [55, 80, 97] {
            let cut = d.join(format!("cut{percent}_{name}"));
            std::fs::write(&cut, &bytes[..bytes.len() * percent / 100]).unwrap();
            files.push(cut);
        }
    }
    for f in &files {
        match decode(f, &DecodeOptions::default()) {
            Err(e @ DecodeError::Truncated { .. }) => {
                assert!(e.to_string().contains("truncated"), "{e}");
            }
            other => panic!("{}: expected Truncated, got {other:?}", f.display()),
        }
    }

    // A header that promises more than the file holds: Rows doubled in an uncompressed DICOM.
    let lie = d.join("rows_lie.dcm");
    let mut bytes = std::fs::read(d.join("a.dcm")).unwrap();
    let rows = [0x28, 0x00, 0x10, 0x00, b'U', b'S', 2, 0, 96, 0];
    let at = bytes.windows(rows.len()).position(|w| w == rows).expect("Rows element");
    bytes[at + 8] = 192;
    std::fs::write(&lie, bytes).unwrap();
    match decode(&lie, &DecodeOptions::default()) {
        Err(DecodeError::Truncated { detail, .. }) => assert!(detail.contains("Rows"), "{detail}"),
        other => panic!("expected Truncated, got {other:?}"),
    }

    // A length field that declares gigabytes in a small file: refused before dicom-rs would
    // allocate (and zero) what it declares.
    let huge = d.join("huge_length.dcm");
    let mut bytes = std::fs::read(d.join("a.dcm")).unwrap();
    let pixel = [0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
    let at = bytes.windows(pixel.len()).position(|w| w == pixel).expect("Pixel Data element");
    bytes[at + 8..at + 12].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    std::fs::write(&huge, bytes).unwrap();
    match decode(&huge, &DecodeOptions::default()) {
        Err(DecodeError::Truncated { detail, .. }) => assert!(detail.contains("(7FE0,0010) declares"), "{detail}"),
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_never_collide() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("films");
    let a = root.join(std::ffi::OsStr::from_bytes(b"M\xe4use_7"));
    let b = root.join(std::ffi::OsStr::from_bytes(b"M\xf6use_7"));
    for folder in [&a, &b] {
        std::fs::create_dir_all(folder).unwrap();
        common::write_png16(&folder.join("DV.png"), 40, 60);
        common::write_png16(&folder.join("LV.png"), 40, 60);
    }
    let report = scan(&root).unwrap();
    let ids: Vec<&str> = report.specimens.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["M\\xE4use_7", "M\\xF6use_7"], "{:?}", report.problems);
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    let (o, out) = predict(&root, dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let mut rd = csv::Reader::from_path(&out).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_ne!(&rows[0][1], &rows[1][1], "the CSV says which file");
    assert!(rows[0][1].contains("M\\xE4use_7/DV.png"), "{}", &rows[0][1]);
}

#[test]
fn files_are_judged_by_content_whatever_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("films");
    // DICOM files named by their SOP Instance UID: the "extension" is a number.
    let uid_dv = root.join("IMPC/1.2.826.0.1.3680043.2.1125.7.11");
    let uid_lv = root.join("IMPC/1.2.826.0.1.3680043.2.1125.7.12");
    std::fs::create_dir_all(root.join("IMPC")).unwrap();
    common::write_dcm(&uid_dv, 40, 60, 12, &DicomWriteOptions::default());
    common::write_dcm(&uid_lv, 40, 60, 12, &DicomWriteOptions::default());
    // A DICOM without its 128-byte preamble, named like a view folder's file.
    std::fs::create_dir_all(root.join("DV")).unwrap();
    std::fs::create_dir_all(root.join("LV")).unwrap();
    let full = dir.path().join("full.dcm");
    common::write_dcm(&full, 40, 60, 12, &DicomWriteOptions::default());
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(root.join("DV/M2.dcm"), &bytes[128..]).unwrap();
    std::fs::write(root.join("LV/M2"), &bytes).unwrap();
    std::fs::write(
        root.join("specimens.csv"),
        "specimen_id,view,path\nM1,dv,IMPC/1.2.826.0.1.3680043.2.1125.7.11\nM1,lv,IMPC/1.2.826.0.1.3680043.2.1125.7.12\n",
    )
    .unwrap();
    let report = scan(&root).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let ids: Vec<&str> = report.specimens.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["M1", "M2"]);
    for s in &report.specimens {
        for path in s.images.values() {
            decode(path, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    // UID names in a view folder: the last number belongs to the name, so two stay two.
    for uid in ["1.2.840.113619.2.55", "1.2.840.113619.2.56"] {
        common::write_dcm(&root.join("DV").join(uid), 40, 60, 12, &DicomWriteOptions::default());
    }
    let report = scan(&root).unwrap();
    assert!(report.specimens.iter().any(|s| s.id == "1.2.840.113619.2.55"), "{:?}", report.problems);
    assert!(report.specimens.iter().any(|s| s.id == "1.2.840.113619.2.56"), "{:?}", report.problems);
    for uid in ["1.2.840.113619.2.55", "1.2.840.113619.2.56"] {
        std::fs::remove_file(root.join("DV").join(uid)).unwrap();
    }
    // Without a manifest, the UID-named files are still seen: reported, not silently skipped.
    std::fs::remove_file(root.join("specimens.csv")).unwrap();
    let report = scan(&root).unwrap();
    let uid_problems = report.problems.iter().filter(|p| p.path.starts_with(root.join("IMPC"))).count();
    assert_eq!(uid_problems, 2, "{:?}", report.problems);
}

/// The bytes of a native DICOM, with the data set after the file meta group separated out.
fn split_meta(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    // (0002,0000) UL 4 <group length> starts right after "DICM".
    let group_len = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
    let end = 144 + group_len;
    (bytes[..end].to_vec(), bytes[end..].to_vec())
}

#[test]
fn hostile_dicom_structure_is_refused_before_the_parser_pays_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::write_dcm(&d.join("good.dcm"), 40, 60, 12, &DicomWriteOptions::default());
    let good = std::fs::read(d.join("good.dcm")).unwrap();
    let pixel = good.windows(4).position(|w| w == [0xE0, 0x7F, 0x10, 0x00]).unwrap();

    // 5,000 nested undefined-length sequences (100 KB): dicom-rs recurses once per level and
    // overflowed its thread's stack, aborting the whole process.
    let mut level = Vec::new();
    level.extend_from_slice(&[0x54, 0x00, 0x20, 0x02, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    level.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    let mut nested = good[..pixel].to_vec();
    for _ in 0..5000 {
        nested.extend_from_slice(&level);
    }
    std::fs::write(d.join("nested.dcm"), &nested).unwrap();
    let e = decode(&d.join("nested.dcm"), &DecodeOptions::default()).unwrap_err().to_string();
    assert!(e.contains("nested more than 64 deep"), "{e}");
    // 60 levels, well past what real files have, still decode.
    let mut shallow = good[..pixel].to_vec();
    for _ in 0..60 {
        shallow.extend_from_slice(&level);
    }
    for _ in 0..60 {
        shallow.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    }
    shallow.extend_from_slice(&good[pixel..]);
    std::fs::write(d.join("shallow.dcm"), &shallow).unwrap();
    decode(&d.join("shallow.dcm"), &DecodeOptions::default()).unwrap();

    // A deflated data set whose Pixel Data declares 4 GB: checked on the inflated stream.
    let (meta, data) = split_meta(&good);
    let (from, to) = (b"1.2.840.10008.1.2.1\0".as_slice(), b"1.2.840.10008.1.2.1.99".as_slice());
    let at = meta.windows(from.len()).position(|w| w == from).unwrap();
    let mut deflated_meta = meta[..at - 2].to_vec();
    deflated_meta.extend_from_slice(&(to.len() as u16).to_le_bytes());
    deflated_meta.extend_from_slice(to);
    deflated_meta.extend_from_slice(&meta[at + from.len()..]);
    let group_len = u32::from_le_bytes(meta[140..144].try_into().unwrap()) + 2;
    deflated_meta[140..144].copy_from_slice(&group_len.to_le_bytes());
    let deflate = |data: &[u8]| {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    };
    let mut whole = deflated_meta.clone();
    whole.extend_from_slice(&deflate(&data));
    std::fs::write(d.join("deflated.dcm"), &whole).unwrap();
    let img = decode(&d.join("deflated.dcm"), &DecodeOptions::default()).unwrap();
    assert_eq!((img.width, img.height), (40, 60), "a well-formed deflated file decodes");
    let mut lying = data.clone();
    let p = lying.windows(4).position(|w| w == [0xE0, 0x7F, 0x10, 0x00]).unwrap();
    lying[p + 8..p + 12].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    let mut hostile = deflated_meta;
    hostile.extend_from_slice(&deflate(&lying));
    std::fs::write(d.join("deflated_lie.dcm"), &hostile).unwrap();
    match decode(&d.join("deflated_lie.dcm"), &DecodeOptions::default()) {
        Err(DecodeError::Truncated { detail, .. }) => assert!(detail.contains("declares"), "{detail}"),
        other => panic!("expected Truncated, got {other:?}"),
    }

    // The run goes on past all of them.
    let root = d.join("films");
    for (id, file) in [("N", "nested.dcm"), ("L", "deflated_lie.dcm")] {
        std::fs::create_dir_all(root.join(id)).unwrap();
        std::fs::copy(d.join(file), root.join(id).join("DV.dcm")).unwrap();
        common::write_png16(&root.join(id).join("LV.png"), 40, 60);
    }
    let (o, out) = predict(&root, d);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(out).unwrap().lines().count(), 3);
}

#[test]
fn overlays_that_cannot_be_written_do_not_end_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("films");
    // A 250-character specimen id: its overlay name would pass the file system's 255-byte limit.
    let long = root.join("L".repeat(250));
    std::fs::create_dir_all(&long).unwrap();
    common::write_phantom_png(&long.join("DV.png"), View::Dv);
    common::write_phantom_png(&long.join("LV.png"), View::Lv);
    // Threshold 0 flags every node, so overlays are drawn.
    let model = common::tiny_model_flagging_at(dir.path(), 0.0);
    let saliency = dir.path().join("overlays");
    let (o, _) = predict_with(&root, dir.path(), &model, &["--saliency".as_ref(), saliency.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let names: Vec<String> =
        std::fs::read_dir(&saliency).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.len() < 150), "{names:?}");
}

#[cfg(unix)]
#[test]
fn entries_that_are_not_files_are_reported_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("films");
    std::fs::create_dir_all(root.join("M1")).unwrap();
    common::write_png16(&root.join("M1/LV.png"), 40, 60);
    // Opening a FIFO would wait for a writer forever.
    let ok = std::process::Command::new("mkfifo").arg(root.join("M1/DV.png")).status().unwrap();
    assert!(ok.success());
    std::os::unix::fs::symlink("/dev/zero", root.join("M2_dv.png")).unwrap();
    let report = scan(&root).unwrap();
    let reasons: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().all(|r| r.contains("not a regular file")), "{reasons:?}");
    assert_eq!(report.specimens.len(), 1);

    // Nor when a manifest names one.
    std::fs::write(root.join("specimens.csv"), "specimen_id,view,path\nM3,dv,M1/DV.png\nM1,lv,M1/LV.png\n").unwrap();
    let report = scan(&root).unwrap();
    let reasons: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert!(reasons.iter().any(|r| r.contains("line 2") && r.contains("not a regular file")), "{reasons:?}");
}
