//! Folder scanning: every layout, mixed in one folder, and every problem kind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use mousexray::specimen::{Layout, ProblemKind, ScanOptions, ScanReport, View, scan, scan_with};

fn kinds(r: &ScanReport) -> Vec<ProblemKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn mixed_layouts_and_every_problem() {
    let parent = tempfile::tempdir().unwrap();
    std::fs::write(parent.path().join("escape.png"), b"x").unwrap();
    let root = parent.path().join("xrays");
    mkdirs(&root);
    mixed_folder(&root);
    let r = scan(&root).unwrap();
    let ids: Vec<&str> = r.specimens.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["CIB2_5078006", "M1", "M2", "M3", "M4", "M5"], "{:#?}", r.problems);

    let get = |id: &str| r.specimens.iter().find(|s| s.id == id).unwrap();
    let m1 = get("M1");
    assert_eq!((m1.layout, m1.model_views()), (Layout::Subfolders, "DV+LV"));
    assert_eq!(m1.extra_views().map(|(v, _)| v).collect::<Vec<_>>(), [View::SkullDv]);
    assert_eq!(m1.metadata.colony_id.as_deref(), Some("COL1"), "metadata-only manifest row");
    let m2 = get("M2");
    assert_eq!((m2.layout, m2.model_views()), (Layout::Flat, "DV+LV"));
    assert!(m2.dv().unwrap().ends_with("M2 034.jpg"), "first by path is kept");
    assert_eq!((get("M3").layout, get("M3").model_views()), (Layout::ViewFolders, "DV+LV"));
    assert_eq!(get("M4").model_views(), "LV");
    let impc = get("CIB2_5078006");
    assert_eq!((impc.layout, impc.model_views()), (Layout::Manifest, "DV+LV"));
    assert_eq!(impc.metadata.gene_symbol.as_deref(), Some("Cib2"));
    assert_eq!(impc.metadata.zygosity.as_deref(), Some("homozygote"));
    assert_eq!(get("M5").metadata.sex.as_deref(), Some("male"));
    assert_eq!(get("M5").layout, Layout::Manifest, "a manifest wins over names");

    let k = kinds(&r);
    let has = |kind: ProblemKind, needle: &str| {
        r.problems
            .iter()
            .any(|p| p.kind == kind && (p.path.to_string_lossy().contains(needle) || p.reason.contains(needle)))
    };
    assert!(has(ProblemKind::NotAnImage, "garbage_dv.png"), "{:#?}", r.problems);
    assert!(has(ProblemKind::NotAnImage, "zero_lv.png"));
    assert!(has(ProblemKind::UnknownView, "nothing.png"));
    assert!(has(ProblemKind::DuplicateView, "M2_DV.png"));
    assert!(has(ProblemKind::NoModelView, "forepaw.png"));
    assert!(has(ProblemKind::DuplicateId, "batch2"));
    assert!(has(ProblemKind::DuplicateId, "m3_lv.png"));
    assert!(has(ProblemKind::NotInManifest, "999999"));
    assert!(has(ProblemKind::ManifestMissingFile, "missing.png"));
    assert!(has(ProblemKind::ManifestOutsideRoot, "escape.png"));
    assert!(has(ProblemKind::ManifestInvalid, "empty specimen_id"));
    assert!(!has(ProblemKind::ManifestInvalid, "M9"), "a missing file is reported once");
    assert!(has(ProblemKind::ManifestInvalid, "`M8` has metadata but no usable image"));
    #[cfg(unix)]
    {
        assert!(has(ProblemKind::SymlinkLoop, "loop"));
        assert!(has(ProblemKind::Unreadable, "dangling_dv.png"));
    }
    for p in &r.problems {
        let s = p.path.to_string_lossy();
        assert!(!s.contains(".hidden") && !s.contains(".mousexray") && !s.contains("notes.txt"), "{p}");
    }
    assert!(k.len() >= 14, "{:#?}", r.problems);
}

#[test]
fn explicit_manifest_option_and_bad_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_png16(&root.join("a.png"), 8, 8);
    write_png16(&root.join("b.png"), 8, 8);
    let m = dir.path().join("elsewhere.csv");
    std::fs::write(&m, "specimen_id,view,path\nX,DV,a.png\nX,lateral,b.png\nY,sideways,a.png\nZ,dv\n").unwrap();
    let r = scan_with(root, &ScanOptions { manifest: Some(m.clone()) }).unwrap();
    assert_eq!(r.specimens.len(), 1);
    assert_eq!(r.specimens[0].model_views(), "DV+LV");
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::UnknownView && p.reason.contains("sideways")));
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::ManifestInvalid && p.reason.contains("fields")));

    std::fs::write(&m, "id,where\n1,2\n").unwrap();
    let r = scan_with(root, &ScanOptions { manifest: Some(m) }).unwrap();
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::ManifestInvalid && p.reason.contains("specimen_id")));
    // Without the manifest, a.png and b.png name no view.
    assert_eq!(r.specimens.len(), 0);
    assert_eq!(r.problems.iter().filter(|p| p.kind == ProblemKind::UnknownView).count(), 2);
}

#[test]
fn a_missing_folder_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let err = scan(&dir.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    let file = dir.path().join("f.png");
    write_png8(&file, 4, 4);
    assert!(scan(&file).is_err());
}

#[test]
fn non_utf8_and_long_names_do_not_break_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let long_id = "x".repeat(200);
    write_png16(&dir.path().join(format!("{long_id}_dv.png")), 8, 8);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"M\xff\xfe_lv.png");
        write_png16(&dir.path().join(name), 8, 8);
    }
    let r = scan(dir.path()).unwrap();
    assert!(r.specimens.iter().any(|s| s.id == long_id));
    #[cfg(unix)]
    assert_eq!(r.specimens.len(), 2, "{:#?}", r.problems);
}
