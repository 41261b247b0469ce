//! The `mousexray` executable end to end: exit codes, `scan` text and JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::{Command, Output};

fn mousexray(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mousexray")).args(args).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn scan_lists_specimens_and_problems() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("xrays");
    common::mkdirs(&root);
    common::mixed_folder(&root);
    let out = mousexray(&["scan", root.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for needle in
        ["CIB2_5078006", "DV+LV", "gene_symbol=Cib2", "skull DV", "problems:", "not an image", "garbage_dv.png"]
    {
        assert!(stdout.contains(needle), "missing `{needle}` in:\n{stdout}");
    }
    assert!(stdout.contains("6 specimens (4 DV+LV, 1 DV only, 1 LV only)"), "{stdout}");

    let out = mousexray(&["scan", "--json", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["specimens"].as_array().unwrap().len(), 6);
    assert_eq!(v["specimens"][0]["id"], "CIB2_5078006");
    assert!(v["specimens"][0]["images"]["dv"].as_str().unwrap().ends_with("114182.dcm"));
    assert!(v["problems"].as_array().unwrap().iter().any(|p| p["kind"] == "symlink_loop"));
}

#[test]
fn scan_reports_labels_problems() {
    let dir = tempfile::tempdir().unwrap();
    common::write_png16(&dir.path().join("A_dv.png"), 8, 8);
    std::fs::write(dir.path().join("labels.csv"), "specimen_id,scoliosis,kyphosis\nA,1,maybe\n").unwrap();
    let out = mousexray(&["scan", dir.path().to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("`maybe`"), "{stdout}");
    assert!(stdout.contains("1 labelled in labels.csv"), "{stdout}");
}

#[test]
fn exit_codes_follow_the_convention() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let out = mousexray(&["scan", missing.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("no-such-folder: no such folder"), "{stderr}");
    // A file where a folder was asked for is named as such.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (_, stderr) = text(&mousexray(&["scan", file.to_str().unwrap()]));
    assert!(stderr.contains("a-file: not a folder"), "{stderr}");

    // Training or evaluating on a folder that is not there says so and creates nothing.
    for command in [&["train", "--out", "never.onnx"][..], &["eval", "--model", "models/cae_mv.onnx"]] {
        let out = mousexray(&[command, &["--data", missing.to_str().unwrap()]].concat());
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(stderr.contains("no-such-folder: no such folder"), "{command:?}: {stderr}");
        assert!(!missing.exists(), "{command:?} created {}", missing.display());
    }
    // An empty folder is an error for predict and export, before any model loads; no CSV.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let csv = dir.path().join("e.csv");
    for command in [&["predict", "--model", "no-such-model.onnx"][..], &["export"]] {
        let out = mousexray(&[command, &[empty.to_str().unwrap(), "--out", csv.to_str().unwrap()]].concat());
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(stderr.contains("no specimens found"), "{command:?}: {stderr}");
        assert!(!csv.exists(), "{command:?}");
    }
    // A mistyped --out naming a film is refused, and the film is untouched.
    let folder = dir.path().join("films");
    std::fs::create_dir_all(folder.join("M1")).unwrap();
    let film = folder.join("M1/DV.png");
    common::write_phantom_png(&film, mousexray::specimen::View::Dv);
    let before = std::fs::read(&film).unwrap();
    for command in [&["predict", "--model", "models/cae_mv.onnx"][..], &["export"]] {
        let out = mousexray(&[command, &[folder.to_str().unwrap(), "--out", film.to_str().unwrap()]].concat());
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(stderr.contains("DV.png: holds a PNG image; a CSV is never written over a film"), "{stderr}");
        assert_eq!(std::fs::read(&film).unwrap(), before, "{command:?}");
    }
    assert_eq!(mousexray(&["scan", "--no-such-flag", "x"]).status.code(), Some(2));
    assert_eq!(mousexray(&["frobnicate", "x"]).status.code(), Some(2));
    assert_eq!(mousexray(&["--help"]).status.code(), Some(0));
    assert_eq!(mousexray(&["scan", "--help"]).status.code(), Some(0));
    // Out-of-range numbers are usage errors, named by the option.
    for bad in [["--size", "16"], ["--min-severity", "1.5"], ["--max-findings", "0"], ["--prevalence", "x"]] {
        let out = mousexray(&["synth", "--out", dir.path().join("never").to_str().unwrap(), bad[0], bad[1]]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(text(&out).1.contains(bad[0]), "{bad:?}: {}", text(&out).1);
    }
    // A zero count says what a count must be, not clap's raw range.
    for option in ["--posture", "--invariance", "--film-qc", "--domain"] {
        let out = mousexray(&["eval", option, "0", "--model", "models/cae_mv.onnx"]);
        assert_eq!(out.status.code(), Some(2), "{option}");
        let (_, stderr) = text(&out);
        assert!(stderr.contains(option) && stderr.contains("1 or more") && !stderr.contains("4294967295"), "{stderr}");
    }
    assert!(!dir.path().join("never").exists());
    let out = mousexray(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out).0.trim(), format!("mousexray {}", env!("CARGO_PKG_VERSION")));
    // Global options work before the command as well as after it.
    for args in [["-v", "scan", "assets/sample"], ["scan", "assets/sample", "-v"]] {
        let out = mousexray(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out).1);
    }

    // Without a display the window says so plainly and points to the headless commands.
    let out = Command::new(env!("CARGO_BIN_EXE_mousexray"))
        .arg(dir.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("no display") && stderr.contains("mousexray scan"), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn synth_writes_a_folder_that_scan_reads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("phantoms");
    let o = out.to_str().unwrap();
    let run =
        mousexray(&["synth", "--out", o, "--count", "3", "--size", "64", "--layout", "impc", "--format", "dicom"]);
    let (_, stderr) = text(&run);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("3 specimens") && stderr.contains("specimens/s"), "{stderr}");
    for f in ["labels.csv", "specimens.csv", "truth.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let scan = mousexray(&["scan", o]);
    let (stdout, _) = text(&scan);
    assert!(stdout.contains("3 specimens (3 DV+LV") && stdout.contains(", 0 problems"), "{stdout}");

    let again = mousexray(&["synth", "--out", o, "--count", "1"]);
    let (_, stderr) = text(&again);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(mousexray(&["synth", "--out", o, "--views", "skull"]).status.code(), Some(2));
    let bad = mousexray(&["synth", "--out", dir.path().join("x").to_str().unwrap(), "--prevalence", "1.5"]);
    assert_eq!(bad.status.code(), Some(2), "an out-of-range fraction is a usage error");
    // More reviewed specimens than the run writes is a usage error, and nothing is written.
    let x = dir.path().join("x");
    let bad = mousexray(&["synth", "--out", x.to_str().unwrap(), "--count", "3", "--reviewed", "4"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad).1);
    assert!(text(&bad).1.contains("--reviewed 4") && !x.exists(), "{}", text(&bad).1);
}

/// `eval --posture`: a table per model that reads LV, every posture measured on every animal,
/// the animal as drawn changing no call against itself, the LV changes reaching the model, and
/// the sheet of what was measured.
#[test]
fn eval_posture_measures_every_lateral_posture() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("eval");
    let out = mousexray(&[
        "eval",
        "--posture",
        "3",
        "--model",
        "models/cae_mv.onnx",
        "--model",
        "models/convnext_dv.onnx",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("## Normal animals in other lateral postures (cae_mv)"), "{stdout}");
    assert!(stdout.contains("(convnext_dv)\n\nNot measured: the model does not read LV."), "{stdout}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| LV posture")).collect();
    assert_eq!(rows.len(), mousexray::training::posture_eval::Posture::ALL.len(), "{stdout}");
    assert!(rows.iter().all(|r| r.split(" | ").nth(1) == Some("3")), "{stdout}");
    assert!(rows[0].starts_with("| as drawn | 3 |") && rows[0].split(" | ").nth(6) == Some("0.0 %"), "{}", rows[0]);
    // The last column names an L3 finding and its share, or none.
    for row in &rows {
        let top = row.trim_end_matches(" |").rsplit(" | ").next().unwrap_or_default();
        let named = mousexray::synth::CLASSES.iter().any(|c| top.starts_with(&format!("{c} ")) && top.ends_with(" %"));
        assert!(top == "none" || named, "{row}");
    }
    let p_kyphosis: std::collections::HashSet<&str> = rows.iter().filter_map(|r| r.split(" | ").nth(5)).collect();
    assert!(p_kyphosis.len() > 1, "every posture gave the same P(kyphosis): {stdout}");
    // The sheet: a band naming the postures over one row of films per animal.
    let sheet = image::open(out_dir.join("posture_lv.png")).unwrap().to_luma8();
    assert_eq!((sheet.width(), sheet.height()), (10 * 192, 44 + 3 * 192));
    let dark_in_band = |c: u32| {
        (c * 192..(c + 1) * 192)
            .flat_map(|x| (0..44).map(move |y| (x, y)))
            .filter(|&(x, y)| sheet.get_pixel(x, y)[0] < 128)
            .count()
    };
    assert!((0..10).all(|c| dark_in_band(c) > 20), "a posture's column has no label");
    // posture.csv holds the same table for the model that reads LV, and nothing for the other.
    let mut csv = csv::Reader::from_path(out_dir.join("posture.csv")).unwrap();
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, mousexray::training::posture_eval::CSV_HEADER);
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rows.len());
    for (record, row) in records.iter().zip(&rows) {
        assert_eq!(&record[0], "cae_mv");
        assert!(row.starts_with(&format!("| {} | {} |", &record[1], &record[2])), "{record:?} against {row}");
        let abnormal: f64 = record[3].parse().unwrap();
        assert_eq!(format!("{:.1} %", 100.0 * abnormal), row.split(" | ").nth(2).unwrap(), "{record:?}");
    }
}

/// A loss weight that is negative or not finite is a usage error naming the value, before any
/// data is read; `eval --pairs` on a folder of posture pairs says what they are for.
#[test]
fn weights_are_checked_and_posture_pairs_are_not_ranked() {
    for (option, value) in [("--posture-weight", "-1"), ("--stability-weight", "inf"), ("--pair-weight", "nan")] {
        let out = mousexray(&["train", "--data", "nowhere", "--out", "never.onnx", &format!("{option}={value}")]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("`{value}` is not a weight")), "{stderr}");
    }
    // Angles in degrees, from 0 to 30.
    for (option, value, what) in [("--rotation-sd", "45", "rotation SD"), ("--stability-turn", "-1", "turn")] {
        let out = mousexray(&["train", "--data", "nowhere", "--out", "never.onnx", option, value]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("`{value}` is not a {what} from 0 to 30 degrees")), "{stderr}");
    }
    // A turned stability copy without stability training would silently do nothing.
    let out = mousexray(&["train", "--data", "nowhere", "--out", "never.onnx", "--stability-turn", "10"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--stability-turn") && stderr.contains("--stability-weight"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("posture");
    let p = folder.to_str().unwrap();
    let none = mousexray(&["synth", "--out", p, "--count", "0"]);
    assert_eq!(none.status.code(), Some(2), "a run of no specimens is a usage error");
    assert!(!folder.exists());
    let bare = mousexray(&["synth", "--out", p, "--posture-pairs", "--count", "2", "--size", "96"]);
    assert_eq!(bare.status.code(), Some(2), "posture pairs redraw a varied animal: {}", text(&bare).1);
    let synth = mousexray(&["synth", "--out", p, "--posture-pairs", "--vary-animal", "--count", "2", "--size", "96"]);
    assert_eq!(synth.status.code(), Some(0), "{}", text(&synth).1);
    let out = mousexray(&["eval", "--pairs", p, "--model", "models/cae_mv.onnx"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("holds posture pairs") && stderr.contains("eval --posture"), "{stderr}");
}

#[test]
fn eval_pairs_tabulates_every_finding_of_a_pairs_folder() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs");
    let p = pairs.to_str().unwrap();
    let synth = mousexray(&[
        "synth",
        "--out",
        p,
        "--pairs",
        "--count",
        "20",
        "--seed",
        "4000",
        "--size",
        "256",
        "--prevalence",
        "0",
    ]);
    assert_eq!(synth.status.code(), Some(0), "{}", text(&synth).1);
    let out = mousexray(&["eval", "--pairs", p, "--model", "models/cae_mv.onnx"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("## Counterfactual pairs: cae_mv"), "{stdout}");
    for finding in mousexray::synth::CLASSES {
        let row =
            stdout.lines().find(|l| l.starts_with(&format!("| {finding} |"))).unwrap_or_else(|| panic!("{stdout}"));
        assert!(row.starts_with(&format!("| {finding} | 2 |")), "two pairs each: {row}");
    }
    // The model learned the curvatures of its own style: adding kyphosis raises its score.
    assert!(stdout.contains("| kyphosis | 2 | 100.0 % |"), "{stdout}");
    // Where each finding survives resampling: a curvature changes more pixels at a finer size,
    // and in the view whose plane it lies in.
    let out = mousexray(&["eval", "--pairs", p, "--model", "models/cae_mv.onnx", "--pair-signal", "64,256"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("| finding | 64 px | 256 px |"), "{stdout}");
    let pixels = |finding: &str| -> Vec<[f64; 2]> {
        let row = stdout.lines().rev().find(|l| l.starts_with(&format!("| {finding} |"))).unwrap();
        row.split('|')
            .skip(2)
            .filter(|c| c.contains('/'))
            .map(|c| {
                let v: Vec<f64> = c.split('/').map(|x| x.trim().parse().unwrap_or(f64::NAN)).collect();
                [v[0], v[1]]
            })
            .collect()
    };
    let scoliosis = pixels("scoliosis");
    assert!(scoliosis[1][0] > scoliosis[0][0] && scoliosis[1][0] > 10.0 * scoliosis[1][1].max(1.0), "{stdout}");
    let kyphosis = pixels("kyphosis");
    assert!(kyphosis[1][1] > kyphosis[0][1] && kyphosis[1][1] > 10.0 * kyphosis[1][0].max(1.0), "{stdout}");
    let out = mousexray(&["eval", "--data", p, "--model", "models/cae_mv.onnx", "--pair-signal", "64"]);
    assert_eq!(out.status.code(), Some(2), "--pair-signal needs --pairs");
    // Rows that cannot be scored are named, not dropped silently.
    let csv_path = pairs.join("pairs.csv");
    let mut rows = std::fs::read_to_string(&csv_path).unwrap();
    let first = rows.lines().nth(1).unwrap().to_owned();
    rows.push_str(&format!("{first}\nPR99999,banana,0.5,PR99999A,PR99999B\n"));
    std::fs::write(&csv_path, rows).unwrap();
    let out = mousexray(&["eval", "--pairs", p, "--model", "models/cae_mv.onnx"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let named = format!("{}: pair PR00000: skipped, its id appears twice", csv_path.display());
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains("pair PR99999: skipped, `banana` is not one of the ten findings"), "{stderr}");
    // A folder that is not a pairs folder says so.
    let plain = dir.path().join("plain");
    let synth = mousexray(&["synth", "--out", plain.to_str().unwrap(), "--count", "2", "--size", "96"]);
    assert_eq!(synth.status.code(), Some(0));
    let out = mousexray(&["eval", "--pairs", plain.to_str().unwrap(), "--model", "models/cae_mv.onnx"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("pairs.csv: cannot read"), "{}", text(&out).1);
}

#[test]
fn style_b_is_scored_and_paired_but_never_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("b");
    let p = pairs.to_str().unwrap();
    let synth = mousexray(&["synth", "--style", "b", "--out", p, "--pairs", "--count", "10", "--size", "128"]);
    assert_eq!(synth.status.code(), Some(0), "{}", text(&synth).1);
    // The paired table and the ordinary evaluation read a style-b folder like any other.
    let out = mousexray(&["eval", "--pairs", p, "--model", "models/cae_mv.onnx"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for finding in mousexray::synth::CLASSES {
        assert!(stdout.contains(&format!("| {finding} | 1 |")), "one pair each: {stdout}");
    }
    let models = ["--model", "models/cae_mv.onnx", "--model", "models/cae_dv.onnx", "--model", "models/cae_lv.onnx"];
    let out = mousexray(&[&["eval", "--data", p][..], &models].concat());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("| cae_mv | DV+LV | DV+LV | 20 |"), "{stdout}");
    // The multiview gain is DV+LV's mean AUC minus the better single-view model's, per level.
    let levels = |model: &str, shown: &str| -> Vec<f64> {
        let cells =
            |l: &str| -> Vec<String> { l.split('|').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect() };
        // model | trained on | shown | specimens | L1 | L2 | L3
        let row = stdout.lines().map(cells).find(|c| c.len() == 7 && c[0] == model && c[2] == shown);
        let row = row.unwrap_or_else(|| panic!("{model} {shown}: {stdout}"));
        row[4..].iter().map(|c| c.parse().unwrap_or(f64::NAN)).collect()
    };
    let (both, dv, lv) = (levels("cae_mv", "DV+LV"), levels("cae_dv", "DV"), levels("cae_lv", "LV"));
    let gains =
        stdout.split("## DV+LV against the best single-view model").nth(1).unwrap_or_else(|| panic!("{stdout}"));
    let row = gains.lines().find(|l| l.starts_with("| cae_mv |")).unwrap_or_else(|| panic!("{gains}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    for k in 0..3 {
        let want = both[k] - dv[k].max(lv[k]);
        let got: f64 = cells[1 + k].parse().unwrap_or(f64::NAN);
        // The tables round to 0.001 each; the gain is computed before rounding.
        assert!((got - want).abs() <= 0.0015, "level {k}: {got} against {want} in {row}");
        let best = if dv[k] >= lv[k] { "cae_dv" } else { "cae_lv" };
        if (dv[k] - lv[k]).abs() > 0.001 {
            assert!(cells[4].split(" / ").nth(k) == Some(best), "level {k}: {row}");
        }
    }
    // Training refuses it, naming the folder and why.
    let model = dir.path().join("m.onnx");
    let out = mousexray(&["train", "--data", p, "--out", model.to_str().unwrap(), "--epochs", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("style-b phantoms") && text(&out).1.contains(p), "{}", text(&out).1);
    assert!(!model.exists());
    // Also when the style-b folder sits inside the data folder.
    let labels = pairs.join("labels.csv");
    let out = mousexray(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("style-b phantoms"), "{}", text(&out).1);
    // Style a's variation options are style a's.
    let x = dir.path().join("x");
    let out = mousexray(&["synth", "--style", "b", "--vary-film", "--out", x.to_str().unwrap(), "--count", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("style b draws its own variation"), "{}", text(&out).1);
    assert!(!x.exists(), "a refused run leaves nothing behind");
}

#[test]
fn eval_says_when_specimens_lack_a_view() {
    let dir = tempfile::tempdir().unwrap();
    let dv = dir.path().join("dv");
    let synth = mousexray(&["synth", "--out", dv.to_str().unwrap(), "--views", "dv", "--count", "6", "--size", "96"]);
    assert_eq!(synth.status.code(), Some(0), "{}", text(&synth).1);
    let out = mousexray(&["eval", "--data", dv.to_str().unwrap(), "--model", "models/cae_dv.onnx"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).1.contains("6 of 6 labelled specimens lack DV or LV and are left out"), "{}", text(&out).1);
}

#[test]
fn a_mistyped_out_fails_at_once_naming_the_path_and_a_damaged_review_is_never_exported_as_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("xrays");
    let config = mousexray::synth::SynthConfig { count: 2, size: 96, ..Default::default() };
    mousexray::synth::generate(&root, &config, &|| {}).unwrap();
    let r = root.to_str().unwrap();
    let film = root.join("MX00000").join("DV.png");
    let folder = dir.path().join("out");
    std::fs::create_dir_all(&folder).unwrap();
    let through_film = film.join("x.csv");
    let cases: [(&str, &str); 4] = [
        ("-", "nothing is written to standard output"),
        (folder.to_str().unwrap(), "a folder; give a file name in it"),
        (through_film.to_str().unwrap(), "is a file, not a folder"),
        (film.to_str().unwrap(), "a CSV is never written over a film"),
    ];
    // The model is never loaded (none is given: it would fail later, for another reason).
    for (out, said) in cases {
        for args in [vec!["predict", r, "--model", "no-such.onnx", "--out", out], vec!["export", r, "--out", out]] {
            let o = mousexray(&args);
            let (_, stderr) = text(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(stderr.contains(said), "{args:?}: {stderr}");
        }
    }
    assert!(!std::path::Path::new("-").exists(), "no file named -");
    // A FIFO is never opened (it would wait for a writer forever), a device never replaced.
    let fifo = dir.path().join("fifo.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for special in [fifo.to_str().unwrap(), "/dev/null"] {
        let o = mousexray(&["export", r, "--out", special]);
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{special}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{special}: {stderr}");
    }
    // What is not a CSV mousexray wrote is never replaced: a model, the review, a manifest.
    let model = dir.path().join("model.onnx");
    std::fs::copy("models/cae_mv.onnx", &model).unwrap();
    std::fs::write(root.join("specimens.csv"), "specimen_id,view,path\n").unwrap();
    std::fs::create_dir_all(root.join(".mousexray")).unwrap();
    let review = root.join(".mousexray").join("review.csv");
    for (out, said) in [
        (model.clone(), "is not a CSV mousexray wrote"),
        (root.join("specimens.csv"), "which the scan reads"),
        (review, "inside a review folder"),
    ] {
        let o = mousexray(&["export", r, "--out", out.to_str().unwrap()]);
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
    }
    assert_eq!(std::fs::read(&model).unwrap(), std::fs::read("models/cae_mv.onnx").unwrap());
    std::fs::remove_file(root.join("specimens.csv")).unwrap();
    // Nor is predict's companion, the problems file.
    let taken = dir.path().join("taken.csv");
    std::fs::create_dir_all(dir.path().join("taken.problems.csv")).unwrap();
    let (_, stderr) = text(&mousexray(&["predict", r, "--model", "no-such.onnx", "--out", taken.to_str().unwrap()]));
    assert!(stderr.contains("taken.problems.csv: a folder"), "{stderr}");
    let slash = format!("{}/new/", dir.path().display());
    let (_, stderr) = text(&mousexray(&["export", r, "--out", &slash]));
    assert!(stderr.contains("a folder"), "{stderr}");
    assert!(!dir.path().join("new").exists(), "no empty folder left behind");

    // A damaged review: the export fails and writes nothing, rather than export every
    // specimen as unreviewed.
    {
        let mut s = mousexray::review::ReviewSession::open(&root, "ana").unwrap();
        let status = mousexray::review::Status::ConfirmedAbnormal;
        s.edit(mousexray::review::Edit::Status { specimen: "MX00000".into(), status }).unwrap();
        s.save().unwrap();
    }
    std::fs::write(root.join(".mousexray").join("review.json"), b"{ not json").unwrap();
    let csv = dir.path().join("review.csv");
    let o = mousexray(&["export", r, "--out", csv.to_str().unwrap()]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("damaged") && stderr.contains("nothing was written"), "{stderr}");
    assert!(!csv.exists());
}
