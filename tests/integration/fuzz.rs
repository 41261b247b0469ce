//! Mutation fuzzing of every parser that reads what users and other tools write: file names,
//! the manifest, labels.csv, the review state, and every image decoder. Seeds are valid inputs; each case flips,
//! inserts, deletes or duplicates random bytes (deterministic, seeded). The property: no panic,
//! and a result or a reported problem for every case. Counts are recorded in TESTING.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;

use mousexray::synth::Rng;

/// Cases per parser (kept small enough for CI; raise locally with MOUSEXRAY_FUZZ_CASES).
fn cases(default: usize) -> usize {
    std::env::var("MOUSEXRAY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const SPECIALS: &[&[u8]] =
    &[b",", b"\"", b"\n", b"\r\n", b"\xff", b"\x00", b"/", b"..", b"_", b"DV", b"lv", b"034", b"=", b"\xef\xbb\xbf"];

/// One random mutation of `seed`.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = if v.is_empty() { 0 } else { rng.below(v.len() + 1) };
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.below(256) as u8),
            2 if !v.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(v.len());
                v.drain(at.min(v.len() - 1)..end);
            }
            3 => {
                let s = SPECIALS[rng.below(SPECIALS.len())];
                v.splice(at..at, s.iter().copied());
            }
            _ if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(16)).min(v.len());
                let chunk = v[start..end].to_vec();
                v.splice(at..at, chunk);
            }
            _ => v.push(b'x'),
        }
    }
    v
}

#[test]
fn file_names() {
    let seeds: [&[u8]; 6] =
        [b"M1/DV.png", b"M2_lateral.tif", b"IMPC_XRY_034_001/114182.dcm", b"DV/M3.png", b"M2 034.jpg", b"a_b_c_lv.bmp"];
    let mut rng = Rng::new(11, 0);
    let n = cases(5000);
    for _ in 0..n {
        let bytes = mutate(seeds[rng.below(seeds.len())], &mut rng);
        #[cfg(unix)]
        let path = {
            use std::os::unix::ffi::OsStrExt;
            std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&bytes))
        };
        #[cfg(not(unix))]
        let path = std::path::PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
        let _ = mousexray::specimen::parse_file_name(&path);
    }
}

fn fuzz_file(name: &str, seed: &[u8], n: usize, seed_no: u64, check: &dyn Fn(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let mut rng = Rng::new(seed_no, 0);
    for _ in 0..n {
        std::fs::write(&path, mutate(seed, &mut rng)).unwrap();
        check(&path);
    }
}

#[test]
fn manifests() {
    let seed = b"specimen_id,view,path,colony_id,gene_symbol,zygosity,sex\n\
        CIB2_5078006,IMPC_XRY_034_001,HRWL/034/114182.dcm,CIB2-TM1B,Cib2,homozygote,female\n\
        CIB2_5078006,,HRWL/048/114190.dcm,,,,\nM5,dv,scan_a.png,,,,male\nM9,lv,../escape.png,,,,\n";
    fuzz_file("specimens.csv", seed, cases(1500), 12, &|p| {
        if let Err(problem) = mousexray::specimen::Manifest::read(p) {
            assert!(!problem.reason.is_empty());
        }
    });
}

#[test]
fn labels() {
    let t = mousexray::taxonomy::Taxonomy::default();
    let seed = b"specimen_id,abnormal,axial,kyphosis,scoliosis,teeth\nM1,1,1,1,0,\nM2,0,,,,\nM3,,1,0,1,0\n";
    fuzz_file("labels.csv", seed, cases(1500), 13, &|p| {
        if let Err(problem) = mousexray::specimen::read_labels(p, &t) {
            assert!(!problem.reason.is_empty());
        }
    });
}

#[test]
fn review_state() {
    use mousexray::review::{Call, Edit, ReviewSession, Status};
    // Seeds: a real snapshot and a real journal.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = ReviewSession::open(dir.path(), "ana").unwrap();
        s.edit(Edit::Call { specimen: "M1".into(), node: "kyphosis".into(), call: Some(Call::Abnormal) }).unwrap();
        s.edit(Edit::Status { specimen: "M1".into(), status: Status::SecondLook }).unwrap();
        s.save().unwrap();
        s.edit(Edit::Comment { specimen: "M2".into(), text: "x".into() }).unwrap();
        std::mem::forget(s);
    }
    let side = dir.path().join(".mousexray");
    let snapshot = std::fs::read(side.join("review.json")).unwrap();
    let journal = std::fs::read(side.join("journal.jsonl")).unwrap();
    assert!(!journal.is_empty());
    let mut rng = Rng::new(14, 0);
    for case in 0..cases(300) {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join(".mousexray");
        std::fs::create_dir_all(&s).unwrap();
        let (snap, jour) = match case % 3 {
            0 => (mutate(&snapshot, &mut rng), journal.clone()),
            1 => (snapshot.clone(), mutate(&journal, &mut rng)),
            _ => (mutate(&snapshot, &mut rng), mutate(&journal, &mut rng)),
        };
        std::fs::write(s.join("review.json"), &snap).unwrap();
        std::fs::write(s.join("journal.jsonl"), &jour).unwrap();
        let session = ReviewSession::open(d.path(), "fuzz").unwrap();
        // A snapshot that did not load is kept byte for byte beside the new one.
        if session.notes.iter().any(|n| n.contains("review.json is")) {
            let kept = std::fs::read_dir(&s).unwrap().filter_map(|e| e.ok()).any(|e| {
                e.file_name().to_string_lossy().contains("damaged") && std::fs::read(e.path()).unwrap() == snap
            });
            assert!(kept, "case {case}: the damaged snapshot was not kept");
        }
    }
}

#[test]
fn image_decoders() {
    use mousexray::imaging::{DecodeError, DecodeOptions, DicomWriteOptions, decode};
    // Seeds: one small valid file per format and variant the decoders meet.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let img = image::GrayImage::from_fn(24, 20, |x, y| image::Luma([((x * 11 + y * 7) % 256) as u8]));
    std::fs::write(d.join("seed.jpg"), common::baseline_jpeg(&img)).unwrap();
    std::fs::write(d.join("seed_prog.jpg"), common::progressive_jpeg(&img, 80)).unwrap();
    common::write_png16(&d.join("seed.png"), 24, 20);
    common::write_png8(&d.join("seed8.png"), 24, 20);
    common::write_tiff16(&d.join("seed.tif"), 24, 20);
    common::write_bmp(&d.join("seed.bmp"), 24, 20);
    common::write_dcm(&d.join("seed.dcm"), 24, 20, 12, &DicomWriteOptions::default());
    common::write_dcm(
        &d.join("seed_m1.dcm"),
        24,
        20,
        16,
        &DicomWriteOptions { monochrome1: true, ..Default::default() },
    );
    common::write_jpeg_dicom(&d.join("seed_jpeg.dcm"), &img, 20, 24);
    let seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    // A mutated header can claim a huge image; the decompression-bomb limit is tested
    // elsewhere, so keep each case cheap.
    let options = DecodeOptions { max_pixels: 250_000 };
    let (mut decoded, mut refused, mut contained) = (0usize, 0usize, 0usize);
    let n = cases(5000);
    let mut rng = Rng::new(15, 0);
    let out = tempfile::tempdir().unwrap();
    for i in 0..n {
        let (name, seed) = &seeds[i % seeds.len()];
        let path = out.path().join(format!("case_{name}"));
        std::fs::write(&path, mutate(seed, &mut rng)).unwrap();
        // The property: decode returns (a decoder panic is contained inside it), and a refusal
        // names the file.
        match decode(&path, &options) {
            Ok(g) => {
                assert_eq!(g.pixels.len() as u64, u64::from(g.width) * u64::from(g.height));
                decoded += 1;
            }
            Err(e) => {
                assert!(e.to_string().contains(&format!("case_{name}")), "{e}");
                contained += usize::from(matches!(e, DecodeError::DecoderFailed { .. }));
                refused += 1;
            }
        }
    }
    eprintln!("image decoders: {n} cases, {decoded} decoded, {refused} refused ({contained} decoder panics contained)");
}
