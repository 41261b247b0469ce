//! The column's midline as an auxiliary training target: `synth` writes it, loading maps it
//! through each view's preprocessing into the model input (where it lies on the spine), and
//! `train --spine-weight` learns it beside the labels without changing the exported contract;
//! `eval --spine-evidence` says how near the spine a model's evidence lies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use mousexray::imaging::PreprocessSpec;
use mousexray::specimen::View;
use mousexray::synth::{OutFormat, OutLayout, SPINE_LANDMARKS, SynthConfig, generate};
use mousexray::taxonomy::Taxonomy;
use mousexray::training::data::load_dataset;

fn phantoms(dir: &std::path::Path, count: usize) -> std::path::PathBuf {
    let data = dir.join("data");
    let cfg = SynthConfig {
        count,
        seed: 11,
        size: 256,
        format: OutFormat::Png16,
        layout: OutLayout::Subfolders,
        vary_film: true,
        vary_animal: true,
        ..Default::default()
    };
    generate(&data, &cfg, &|| {}).unwrap();
    data
}

/// Mapped into the 128 px input (rotated, cropped, resized, flipped, inverted films
/// included), the midline lies on bone: brighter than nearly all of the animal around it. A
/// transform applied the wrong way round, or not at all, puts it on soft tissue or beside
/// the animal.
#[test]
fn the_midline_lands_on_the_spine_in_the_model_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = phantoms(dir.path(), 12);
    let spec = PreprocessSpec { size: 128, ..Default::default() };
    let taxonomy = Taxonomy::default();
    for cache in [false, true] {
        let inputs = cache.then(|| mousexray::training::input_cache::open_for(&data, &spec)).flatten();
        let (dataset, _) = load_dataset(&data, None, &spec, &taxonomy, inputs.as_ref(), true).unwrap();
        drop(inputs);
        assert_eq!(dataset.samples.len(), 12);
        for sample in &dataset.samples {
            for (view, input) in [(View::Dv, &sample.dv), (View::Lv, &sample.lv)] {
                let x = input.as_ref().unwrap().values().unwrap();
                let line = sample.spine[view].as_ref().unwrap_or_else(|| panic!("{} {view:?}: no midline", sample.id));
                assert_eq!(line.len(), SPINE_LANDMARKS);
                let at = |[u, v]: [f32; 2]| x[(v as usize).min(127) * 128 + (u as usize).min(127)];
                // The animal's pixels: above the background the film fades to.
                let bg = spec.background();
                let mut animal: Vec<f32> = x.iter().copied().filter(|&v| v > bg + 0.05).collect();
                animal.sort_by(f32::total_cmp);
                let p60 = animal[animal.len() * 6 / 10];
                let on_line: Vec<f32> = line.iter().map(|&p| at(p)).collect();
                let share = on_line.iter().filter(|&&v| v > p60).count() as f64 / on_line.len() as f64;
                assert!(share > 0.8, "{} {view:?} (cache {cache}): {share} of the midline on bright bone", sample.id);
            }
        }
    }
    // Without asking for it, nothing is read.
    let (dataset, _) = load_dataset(&data, None, &spec, &taxonomy, None, false).unwrap();
    assert!(dataset.samples.iter().all(|s| s.spine.dv.is_none() && s.spine.lv.is_none()));
}

/// With `--spine-weight`, each epoch reports the midline's loss and its validation error, the
/// error falls, and the exported model has the same outputs as one trained without it.
#[test]
fn training_learns_the_midline_and_exports_the_same_contract() {
    let dir = tempfile::tempdir().unwrap();
    let data = phantoms(dir.path(), 80);
    let train = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let mut args = vec![
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backbone",
            "cae",
            "--size",
            "48",
            "--epochs",
            "6",
            "--pretrain-epochs",
            "0",
            "--schedule",
            "joint",
            "--threads",
            "1",
        ];
        args.extend_from_slice(extra);
        let o = Command::new(env!("CARGO_BIN_EXE_mousexray")).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{stderr}");
        (out, stderr)
    };
    let (with, stderr) = train("with.onnx", &["--spine-weight", "1"]);
    let px: Vec<f64> = stderr
        .lines()
        .filter_map(|l| l.split("spine: loss ").nth(1))
        .map(|rest| {
            rest.split(", val ")
                .nth(1)
                .unwrap()
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(px.len(), 6, "{stderr}");
    assert!(px[5] < px[0] * 0.8, "the validation midline error falls: {px:?}");
    let (without, stderr) = train("without.onnx", &[]);
    assert!(!stderr.contains("spine:"), "{stderr}");
    let outputs = |path: &std::path::Path| {
        let model = mousexray::onnx::features::decode(&std::fs::read(path).unwrap()).unwrap();
        let graph = model.graph.unwrap();
        (graph.output.iter().map(|o| o.name.clone()).collect::<Vec<_>>(), graph.initializer.len())
    };
    assert_eq!(outputs(&with), outputs(&without), "the spine head is not exported");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(with.with_extension("json")).unwrap()).unwrap();
    assert_eq!(report["provenance"]["training"]["options"]["spine_weight"], 1.0);
    assert!(report["provenance"]["training"]["history"][0]["val_spine_px"].as_f64().is_some());
    // Where its evidence lies, per finding of the column and view; a lateral baseline's only
    // in the view it reads.
    let (lateral, _) = train("lateral.onnx", &["--views", "lv"]);
    let o = Command::new(env!("CARGO_BIN_EXE_mousexray"))
        .args(["eval", "--data", data.to_str().unwrap(), "--model", with.to_str().unwrap(), "--spine-evidence"])
        .args(["--model", lateral.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| with |") && l.contains("| dv |")).collect();
    assert!(!rows.is_empty(), "{stdout}");
    for row in rows {
        let ratio: f64 = row.trim_end_matches(" |").rsplit("| ").next().unwrap().parse().unwrap();
        assert!(ratio.is_finite() && ratio > 0.0, "{row}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("| lateral |") && l.contains("| lv |")), "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("| lateral |") && l.contains("| dv |")), "{stdout}");
}
