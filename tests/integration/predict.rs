//! The inference engine end to end: `predict` (CSV, problems, overlays, masked views),
//! shards and `merge`, the CPU fallback and `doctor`, and overlays mapped back through the real
//! preprocess onto the original image.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mousexray::imaging::{FileFormat, GrayImage16, PreprocessSpec, preprocess};
use mousexray::inference::saliency::{EvidenceGrid, to_original};
use mousexray::specimen::{ByView, View};
use mousexray::synth::{SynthConfig, generate};
use mousexray::training::model::{BackboneKind, ModelConfig};
use mousexray::training::package::synthetic_model;

fn mousexray(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mousexray")).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A tiny contract model with random weights; threshold 0 flags every node.
fn tiny_model(dir: &Path, threshold: f32) -> PathBuf {
    let config = ModelConfig {
        backbone: BackboneKind::Convnext,
        dims: vec![8, 16],
        depths: vec![1, 1],
        layer_scale: 0.1,
        classes: 14,
        antialias: false,
    };
    let path = dir.join("tiny.onnx");
    std::fs::write(&path, synthetic_model(&config, 64, threshold).unwrap()).unwrap();
    path
}

/// Ten phantoms, some missing a view, plus a specimen whose DV file is corrupt.
fn folder(dir: &Path) -> PathBuf {
    let root = dir.join("xrays");
    let config = SynthConfig { count: 10, seed: 3, size: 128, missing_view_rate: 0.3, ..SynthConfig::default() };
    generate(&root, &config, &|| {}).unwrap();
    std::fs::create_dir_all(root.join("BAD01")).unwrap();
    std::fs::write(root.join("BAD01/dv.png"), b"\x89PNG\r\n\x1a\n truncated").unwrap();
    // A whole phantom LV (film QC would rightly leave out a view that is not an animal).
    let lv = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).into_iter().flatten())
        .map(|f| f.unwrap().path())
        .find(|p| {
            p.file_stem().is_some_and(|s| s.eq_ignore_ascii_case("lv")) && p.extension().is_some_and(|e| e == "png")
        })
        .unwrap();
    std::fs::copy(lv, root.join("BAD01/lv.png")).unwrap();
    root
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rd = csv::Reader::from_path(path).unwrap();
    let header = rd.headers().unwrap().iter().map(String::from).collect();
    let rows = rd.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    (header, rows)
}

#[test]
fn predict_writes_rows_problems_and_overlays() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), 0.0);
    let root = folder(dir.path());
    let out = dir.path().join("out/r.csv");
    let sal = dir.path().join("sal");
    let o = mousexray(&[
        "predict",
        root.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--saliency",
        sal.to_str().unwrap(),
        "--batch",
        "4",
        "--device",
        "cpu",
    ]);
    ok(&o);
    // A user threshold overrides the model's: nothing reaches 1.01, so nothing is flagged.
    let none = dir.path().join("none.csv");
    let (m, r) = (model.to_str().unwrap(), root.to_str().unwrap());
    ok(&mousexray(&["predict", r, "--model", m, "--out", none.to_str().unwrap(), "--threshold", "abnormal=1"]));
    let (h2, rows2) = read_csv(&none);
    let fa = h2.iter().position(|h| h == "flag_abnormal").unwrap();
    assert!(rows2.iter().all(|r| r[fa] != "1"));
    let unknown = mousexray(&["predict", r, "--model", m, "--threshold", "tail=0.5"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no node `tail`"));
    let (header, rows) = read_csv(&out);
    assert_eq!(rows.len(), 11, "one row per specimen");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} missing"));
    for name in ["p_abnormal", "joint_scoliosis", "flag_polysyndactyly", "model_sha256", "device", "timestamp"] {
        col(name);
    }
    let bad = rows.iter().find(|r| r[col("specimen_id")] == "BAD01").unwrap();
    assert_eq!(bad[col("views_used")], "LV", "the corrupt DV is masked");
    let sha = &rows[0][col("model_sha256")];
    assert_eq!(sha.len(), 64);
    assert!(rows.iter().all(|r| &r[col("model_sha256")] == sha && r[col("device")] == "CPU"));
    // Joint = product along the path.
    for r in &rows {
        let f = |c: &str| r[col(c)].parse::<f64>().unwrap();
        let expect = f("p_abnormal") * f("p_axial") * f("p_kyphosis");
        assert!((f("joint_kyphosis") - expect).abs() < 2e-4, "{} vs {expect}", f("joint_kyphosis"));
    }
    // Missing views are masked, and the CSV says which were used.
    let singles = rows.iter().filter(|r| r[col("views_used")] != "DV+LV").count();
    assert!(singles >= 2, "{singles} single-view rows");

    let problems = std::fs::read_to_string(dir.path().join("out/r.problems.csv")).unwrap();
    assert!(problems.contains("BAD01") && problems.contains("dv.png"), "{problems}");

    // Threshold 0 flags everything: one overlay per node and view used, on the film's geometry.
    let pngs: Vec<_> = std::fs::read_dir(&sal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    assert!(sal.join(mousexray::specimen::OUTPUT_MARKER).is_file(), "the folder is marked as output");
    let used: usize = rows
        .iter()
        .map(|r| match r[col("views_used")].as_str() {
            "DV+LV" => 2,
            "none" => 0,
            _ => 1,
        })
        .sum();
    assert_eq!(pngs.len(), used * 14, "{} overlays", pngs.len());
    let img = image::open(sal.join("BAD01_lv_abnormal.png")).unwrap();
    assert_eq!((img.width(), img.height()), (128, 128), "overlays keep the original's size");
}

#[test]
fn overlays_written_inside_the_folder_never_come_back_as_specimens() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), 0.0);
    let root = folder(dir.path());
    let sal = root.join("overlays");
    let (m, r) = (model.to_str().unwrap(), root.to_str().unwrap());
    let first = dir.path().join("first.csv");
    ok(&mousexray(&[
        "predict",
        r,
        "--model",
        m,
        "--out",
        first.to_str().unwrap(),
        "--saliency",
        sal.to_str().unwrap(),
    ]));
    let pngs =
        std::fs::read_dir(&sal).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png"));
    assert!(pngs.count() > 0, "overlays were written");
    let again = dir.path().join("again.csv");
    ok(&mousexray(&["predict", r, "--model", m, "--out", again.to_str().unwrap()]));
    assert_eq!(read_csv(&again).1.len(), 11, "the same specimens, no overlay among them");
    assert_eq!(
        read_csv(&again.with_extension("problems.csv")).1.len(),
        read_csv(&first.with_extension("problems.csv")).1.len()
    );
    // Overlays never go where films are: the scanned folder, one above it, a specimen's folder.
    let specimen = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "overlays"))
        .unwrap();
    let third = dir.path().join("third.csv");
    for (sal, said) in [
        (root.clone(), "the scanned folder or one above it"),
        (dir.path().to_path_buf(), "the scanned folder or one above it"),
        (specimen, "holds images mousexray did not write"),
        (first.clone(), "a file, not a folder"),
    ] {
        let o = mousexray(&[
            "predict",
            r,
            "--model",
            m,
            "--out",
            third.to_str().unwrap(),
            "--saliency",
            sal.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains(said), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(!third.exists());
}

#[test]
fn shards_cover_the_folder_once_and_merge_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), 0.5);
    let root = folder(dir.path());
    // A file the scan cannot place: every shard's problems file reports it.
    std::fs::write(root.join("stray.png"), b"not an image").unwrap();
    let (m, r) = (model.to_str().unwrap(), root.to_str().unwrap());
    let shard = |k: &str| {
        let out = dir.path().join(format!("s{}.csv", &k[..1]));
        ok(&mousexray(&["predict", r, "--model", m, "--out", out.to_str().unwrap(), "--shard", k]));
        out
    };
    let (a, b) = (shard("1/2"), shard("2/2"));
    let (na, nb) = (read_csv(&a).1.len(), read_csv(&b).1.len());
    assert_eq!(na + nb, 11);
    assert!(na > 0 && nb > 0);
    let merged = dir.path().join("merged").join("all.csv");
    let (sa, sb, so) = (a.to_str().unwrap(), b.to_str().unwrap(), merged.to_str().unwrap());
    ok(&mousexray(&["merge", sa, sb, "--out", so, "--folder", r]));
    let (_, rows) = read_csv(&merged);
    assert_eq!(rows.len(), 11);

    // A glob over the shards' folder takes in their problems files too: merged, not refused,
    // the scan's problems (which every shard reports) once.
    let problems = |f: &std::path::Path| f.with_extension("problems.csv");
    let (pa, pb) = (problems(&a), problems(&b));
    ok(&mousexray(&["merge", sa, pa.to_str().unwrap(), sb, pb.to_str().unwrap(), "--out", so]));
    assert_eq!(read_csv(&merged).1.len(), 11);
    let (_, merged_problems) = read_csv(&merged.with_extension("problems.csv"));
    let (_, shard_problems) = read_csv(&pa);
    assert!(!shard_problems.is_empty(), "the fixture has problems to merge");
    let scan_problem = &shard_problems[0];
    assert!(read_csv(&pb).1.contains(scan_problem), "every shard reports the scan's problems");
    assert_eq!(merged_problems.iter().filter(|r| *r == scan_problem).count(), 1, "{merged_problems:?}");
    assert!(read_csv(&pb).1.iter().all(|r| merged_problems.contains(r)));

    let twice = mousexray(&["merge", sa, sa, "--out", so]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("given twice"));
    // A shard with no specimens writes its header alone, which names no shard: it cannot stand
    // for a missing one, and --folder settles whether every specimen is there.
    let empty = dir.path().join("empty.csv");
    let header = std::fs::read_to_string(&b).unwrap().lines().next().unwrap().to_owned();
    std::fs::write(&empty, format!("{header}\n")).unwrap();
    let with_empty = mousexray(&["merge", sa, empty.to_str().unwrap(), "--out", so]);
    assert_eq!(with_empty.status.code(), Some(1));
    let said = String::from_utf8_lossy(&with_empty.stderr).into_owned();
    assert!(said.contains("no rows from shard(s) 2/2") && said.contains("empty.csv"), "{said}");
    ok(&mousexray(&["merge", sa, sb, empty.to_str().unwrap(), "--out", so, "--folder", r]));
    // An output that is also an input (a glob's own file) is refused before anything is written.
    let before = std::fs::read(&a).unwrap();
    for out in [sa, pa.to_str().unwrap()] {
        let o = mousexray(&["merge", sa, sb, "--out", out]);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("also an input"), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(std::fs::read(&a).unwrap(), before);
    // A file from a run without --shard is named as such.
    let whole = dir.path().join("whole.csv");
    ok(&mousexray(&["predict", r, "--model", m, "--out", whole.to_str().unwrap()]));
    let o = mousexray(&["merge", whole.to_str().unwrap(), "--out", so]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("a run without --shard"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let missing = mousexray(&["merge", sa, "--out", so, "--folder", r]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("in no shard"));
    let incomplete = mousexray(&["merge", sa, "--out", so]);
    assert!(String::from_utf8_lossy(&incomplete.stderr).contains("no rows from shard(s) 2/2"));
    let bad = mousexray(&["predict", r, "--model", m, "--shard", "3/2"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn cuda_falls_back_to_cpu_with_the_reason_and_doctor_explains() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), 0.5);
    let root = folder(dir.path());
    let out = dir.path().join("r.csv");
    let o = mousexray(&[
        "predict",
        root.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cuda",
    ]);
    ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("running on CPU (CUDA unavailable: "), "{stderr}");
    let (header, rows) = read_csv(&out);
    let dev = header.iter().position(|h| h == "device").unwrap();
    assert!(rows.iter().all(|r| r[dev] == "CPU"));

    let doctor = ok(&mousexray(&["doctor", "--model", model.to_str().unwrap(), "--device", "cuda"]));
    for needle in ["ONNX Runtime", "library", "CUDA ", "TensorRT ", "CPU       always available", "sha256", "nodes"] {
        assert!(doctor.contains(needle), "doctor lacks `{needle}`:\n{doctor}");
    }
    assert!(doctor.contains("on CPUExecutionProvider (one profiled run"), "{doctor}");
    assert!(doctor.contains("device    CPU (CUDA unavailable: "), "{doctor}");
    let missing = mousexray(&["doctor", "--model", dir.path().join("nope.onnx").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.onnx"));
}

#[test]
fn occlusion_sensitivity_covers_the_grid_and_ignores_an_absent_view() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), 0.5);
    let lib = mousexray::inference::init_runtime(None).unwrap();
    let mut c = mousexray::inference::Classifier::load(&model, lib, Default::default()).unwrap();
    let s = c.info.metadata.preprocess.size as usize;
    let dv: Vec<f32> = (0..s * s).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
    let lv = vec![c.info.metadata.preprocess.background(); s * s];
    let g =
        mousexray::inference::saliency::occlusion(&mut c, &dv, &lv, ByView::new(true, false), View::Dv, 0, 4).unwrap();
    assert_eq!((g.side, g.values.len()), (4, 16));
    assert!(g.values.iter().any(|v| v.abs() > 1e-6), "occluding DV changes the logit");
    let absent =
        mousexray::inference::saliency::occlusion(&mut c, &dv, &lv, ByView::new(true, false), View::Lv, 0, 4).unwrap();
    assert!(absent.values.iter().all(|v| v.abs() < 1e-5), "an absent view has no evidence: {:?}", absent.values);
}

#[test]
fn evidence_maps_back_onto_the_spot_it_came_from() {
    // A tilted bright body with a brighter marker near one end, on a dark film.
    let (w, h) = (420u32, 300u32);
    let (cx, cy, angle) = (200.0f64, 160.0f64, 0.5f64);
    let marker = (cx + 90.0 * angle.cos(), cy + 90.0 * angle.sin());
    let mut px = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (f64::from(x) - cx, f64::from(y) - cy);
            let (u, v) = (dx * angle.cos() + dy * angle.sin(), -dx * angle.sin() + dy * angle.cos());
            let body = (u / 120.0).powi(2) + (v / 35.0).powi(2) <= 1.0;
            let spot = (f64::from(x) - marker.0).powi(2) + (f64::from(y) - marker.1).powi(2) <= 400.0;
            px.push(if spot {
                60000
            } else if body {
                30000
            } else {
                2000 + ((x * 7 + y * 13) % 50) as u16
            });
        }
    }
    let img = GrayImage16::new(w, h, 16, px, FileFormat::Png).unwrap();
    let spec = PreprocessSpec { size: 64, ..Default::default() };
    let (input, t) = preprocess(&img, &spec).unwrap();
    // Where the marker is in the model input: the centroid of its brightest pixels (clipping
    // may flatten the top).
    let top = input.data.iter().copied().fold(f32::MIN, f32::max);
    let hot: Vec<usize> = (0..input.data.len()).filter(|&i| input.data[i] >= top - 1e-3).collect();
    let mu = hot.iter().map(|i| (i % 64) as f64 + 0.5).sum::<f64>() / hot.len() as f64;
    let mv = hot.iter().map(|i| (i / 64) as f64 + 0.5).sum::<f64>() / hot.len() as f64;
    let (ox, oy) = t.to_original(mu, mv);
    assert!((ox - marker.0).hypot(oy - marker.1) < 2.0 * t.scale() + 1.0, "preprocess maps the marker");
    // Evidence in the 16x16 grid cell holding it lands on the marker in the original.
    let mut values = vec![0.0; 256];
    values[(mv / 4.0) as usize * 16 + (mu / 4.0) as usize] = 1.0;
    let map = to_original(&EvidenceGrid { side: 16, values }, &t, 1.0);
    let best = map.values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let (bx, by) = ((best % w as usize) as f64, (best / w as usize) as f64);
    let cell = 4.0 * t.scale();
    assert!((bx - marker.0).hypot(by - marker.1) <= cell, "peak at ({bx}, {by}), marker at {marker:?}, cell {cell}");
}

#[test]
fn a_single_view_model_says_which_view_it_reads_when_a_specimen_lacks_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = folder(dir.path());
    let out = dir.path().join("dv.csv");
    ok(&mousexray(&[
        "predict",
        root.to_str().unwrap(),
        "--model",
        "models/cae_dv.onnx",
        "--out",
        out.to_str().unwrap(),
    ]));
    let (header, rows) = read_csv(&out);
    let used = header.iter().position(|h| h == "views_used").unwrap();
    let lv_only: Vec<&String> = rows.iter().filter(|r| r[used] == "none" && r[0] != "BAD01").map(|r| &r[0]).collect();
    assert!(!lv_only.is_empty(), "the fixture has LV-only specimens");
    let (_, problems) = read_csv(&out.with_extension("problems.csv"));
    for id in lv_only {
        let why = problems.iter().find(|p| &p[0] == id && p[1].is_empty()).map(|p| p[2].clone());
        assert_eq!(
            why.as_deref(),
            Some("not scored: the model reads DV only, and this specimen has no DV film"),
            "{id}: {problems:?}"
        );
    }
}
