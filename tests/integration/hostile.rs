//! Hostile input end to end: a generated corpus of broken, misleading and odd files goes through
//! `scan`, `predict`, `export` and the model loader. Nothing panics, every bad file is reported
//! with its name and a reason, and every good specimen is still processed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;

use common::{mousexray, tiny_model as model};
use mousexray::specimen::View;

/// The shared mixed folder plus the worst cases the decoders and the scanner meet.
fn corpus(root: &Path) {
    common::mixed_folder(root);
    common::write_png_header_only(&root.join("bomb_dv.png"), 100_000, 100_000);
    // The partners of refused files are whole phantoms, which pass film QC.
    common::write_phantom_png(&root.join("bomb_lv.png"), View::Lv);
    let good = root.join("TRUNC_lv.png");
    common::write_phantom_png(&good, View::Lv);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(root.join("TRUNC_dv.png"), &bytes[..bytes.len() / 2]).unwrap();
    common::write_rgba_png(&root.join("RGBA_dv.png"), 20, 30, [200, 100, 50, 128]);
    // A third DV for M2 (the mixed folder has two).
    common::write_png16(&root.join("M2_dorsoventral.png"), 16, 24);
    // A DICOM whose transfer syntax no decoder here knows (the UID patched in the file meta,
    // same length): its LV partner must still run.
    let tsx = root.join("TSX_dv.dcm");
    common::write_dcm(&tsx, 16, 24, 12, &Default::default());
    let mut bytes = std::fs::read(&tsx).unwrap();
    let (from, to) = (b"1.2.840.10008.1.2.1\0", b"1.2.840.10008.1.2.99");
    let at = bytes.windows(from.len()).position(|w| w == from).expect("transfer syntax UID in the meta");
    bytes[at..at + to.len()].copy_from_slice(to);
    std::fs::write(&tsx, bytes).unwrap();
    common::write_phantom_png(&root.join("TSX_lv.png"), View::Lv);
    // A file that cannot be read even by root (the tests run as root, so permissions cannot
    // make one): /proc/self/mem fails every read at offset 0 with EIO.
    #[cfg(target_os = "linux")]
    {
        std::os::unix::fs::symlink("/proc/self/mem", root.join("UNREAD_dv.png")).unwrap();
        common::write_phantom_png(&root.join("UNREAD_lv.png"), View::Lv);
    }
    let long = format!("{}_dv.png", "L".repeat(240));
    common::write_png16(&root.join(long), 16, 24);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"bad\xff\xfename_dv.png");
        common::write_png16(&root.join(name), 16, 24);
    }
    std::fs::write(root.join("labels.csv"), "specimen_id,abnormal,kyphosis\nM1,maybe,1\nM3,0,1\n,1,\n").unwrap();
    std::fs::write(root.join(".mousexray/review.json"), b"\x00\x01 not a review").unwrap();
}

#[test]
fn hostile_corpus_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("corpus");
    corpus(&root);
    let m = model(dir.path());

    let scan = mousexray(&["scan".as_ref(), root.as_os_str(), "--json".as_ref()]);
    assert_eq!(scan.status.code(), Some(0), "{}", String::from_utf8_lossy(&scan.stderr));
    let report: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert!(problems.len() >= 10, "{} problems", problems.len());
    assert!(problems.iter().all(|p| !p["path"].as_str().unwrap_or("").is_empty() && p["reason"].is_string()));
    let extra_dvs = problems
        .iter()
        .filter(|p| p["reason"].as_str().is_some_and(|r| r.contains("second DV image for `M2`")))
        .count();
    assert_eq!(extra_dvs, 2, "three DVs for M2: one kept, two reported");

    let out = dir.path().join("p.csv");
    let o = mousexray(&[
        "predict".as_ref(),
        root.as_os_str(),
        "--model".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--device".as_ref(),
        "cpu".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let problems_csv = std::fs::read_to_string(dir.path().join("p.problems.csv")).unwrap();
    for bad in ["bomb_dv.png", "TRUNC_dv.png", "garbage_dv.png", "zero_lv.png", "TSX_dv.dcm"] {
        assert!(problems_csv.contains(bad), "{bad} not reported:\n{problems_csv}");
    }
    #[cfg(target_os = "linux")]
    {
        let unread = problems_csv.lines().find(|l| l.contains("UNREAD_dv.png")).unwrap_or_default();
        assert!(!unread.is_empty(), "the unreadable file is reported:\n{problems_csv}");
        let r = text.lines().find(|l| l.starts_with("UNREAD,")).unwrap_or_else(|| panic!("UNREAD has no row"));
        assert!(r.contains(",LV,"), "UNREAD: {r}");
    }
    // A file the scan refused still names its specimen (which has no other file, so no row).
    let garbage = problems_csv.lines().find(|l| l.contains("garbage_dv.png")).unwrap_or_default();
    assert!(garbage.starts_with("garbage,"), "{garbage}");
    // A file refused when decoded is named once, in the path column, not again in the reason.
    let trunc = problems_csv.lines().find(|l| l.contains("TRUNC_dv.png")).unwrap_or_default();
    assert_eq!(trunc.matches("TRUNC_dv.png").count(), 1, "{trunc}");
    let tsx = problems_csv.lines().find(|l| l.contains("TSX_dv.dcm")).unwrap_or_default();
    assert!(tsx.to_lowercase().contains("transfer syntax"), "{tsx}");
    // The bomb's and the truncated file's partners still run, alone.
    let row = |id: &str| text.lines().find(|l| l.starts_with(&format!("{id},"))).map(str::to_owned);
    for (id, used) in [("bomb", ",LV,"), ("TRUNC", ",LV,"), ("TSX", ",LV,")] {
        let r = row(id).unwrap_or_else(|| panic!("{id} has no row"));
        assert!(r.contains(used), "{id}: {r}");
    }
    // Flat test patterns decode, and film QC then finds no animal on them.
    for (id, qc) in [("RGBA", ",none,dv:no_animal,"), ("M3", ",none,dv:no_animal;lv:no_animal,")] {
        let r = row(id).unwrap_or_else(|| panic!("{id} has no row"));
        assert!(r.contains(qc), "{id}: {r}");
    }
    assert!(row(&"L".repeat(240)).is_some(), "the very long name is processed");

    let exp = dir.path().join("e.csv");
    let o = mousexray(&["export".as_ref(), root.as_os_str(), "--out".as_ref(), exp.as_os_str()]);
    // A review it cannot read in full is reported, and no export passes for a whole one.
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged"), "the broken review file is reported");
    assert!(!exp.exists(), "nothing written");
    assert_eq!(
        std::fs::read(root.join(".mousexray/review.json")).unwrap(),
        b"\x00\x01 not a review",
        "export never rewrites"
    );
}

#[test]
fn models_that_break_the_contract_are_refused_with_the_reason() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let lib = mousexray::inference::init_runtime(None).unwrap();
    let good = std::fs::read(model(dir.path())).unwrap();
    let mut proto = mousexray::onnx::proto::ModelProto::decode(good.as_slice()).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let old = graph.input[0].name.clone();
    graph.input[0].name = "image".into();
    for n in &mut graph.node {
        for i in &mut n.input {
            if *i == old {
                *i = "image".into();
            }
        }
    }
    let renamed = dir.path().join("renamed.onnx");
    std::fs::write(&renamed, proto.encode_to_vec()).unwrap();
    let err = mousexray::inference::Classifier::load(&renamed, lib, Default::default()).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("renamed.onnx") && msg.contains("no input `dv`"), "{msg}");

    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &good[..good.len() / 3]).unwrap();
    let err = mousexray::inference::Classifier::load(&truncated, lib, Default::default()).err().unwrap();
    assert!(err.to_string().contains("truncated.onnx"), "{err}");
}
