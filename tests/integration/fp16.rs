//! The float16 conversion: same contract, float16 weights, and the same predictions as the
//! float32 model within half precision, run through ONNX Runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mousexray::inference::{Classifier, init_runtime};
use mousexray::onnx::fp16::to_fp16;
use mousexray::specimen::ByView;
use mousexray::training::model::ModelConfig;
use mousexray::training::package::synthetic_model;

fn inputs(n: usize, s: usize) -> (Vec<f32>, Vec<f32>) {
    let wave = |i: usize, k: f32| ((i as f32 * k).sin() * 0.9).clamp(-1.0, 1.0);
    ((0..n * s * s).map(|i| wave(i, 0.013)).collect(), (0..n * s * s).map(|i| wave(i, 0.021)).collect())
}

#[test]
fn half_precision_models_keep_the_contract_and_the_predictions() {
    let lib = init_runtime(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let committed = std::fs::read("models/cae_mv.onnx").unwrap();
    let synthetic = synthetic_model(&ModelConfig::convnext_small(14), 64, 0.5).unwrap();
    for (name, full) in [("cae_mv", committed), ("convnext_small", synthetic)] {
        let half = to_fp16(&full).unwrap();
        assert!(half.len() < full.len() * 6 / 10, "{name}: {} -> {} bytes", full.len(), half.len());
        let (a, b) = (dir.path().join(format!("{name}.onnx")), dir.path().join(format!("{name}.fp16.onnx")));
        std::fs::write(&a, &full).unwrap();
        std::fs::write(&b, &half).unwrap();
        let mut m32 = Classifier::load(&a, lib, Default::default()).unwrap();
        let mut m16 = Classifier::load(&b, lib, Default::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m16.info.metadata.taxonomy, m32.info.metadata.taxonomy);
        assert_eq!(m16.info.metadata.preprocess, m32.info.metadata.preprocess);
        assert!(m16.info.has_cam);
        assert_eq!(m16.info.precision(), "fp16");
        assert_eq!(m32.info.precision(), "fp32");
        let s = m32.info.metadata.preprocess.size as usize;
        let (dv, lv) = inputs(3, s);
        let views = [ByView::new(true, true), ByView::new(true, false), ByView::new(false, true)];
        let p32 = m32.run(&dv, &lv, &views, true).unwrap();
        let p16 = m16.run(&dv, &lv, &views, true).unwrap();
        let worst =
            p32.probs.iter().flatten().zip(p16.probs.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        println!("{name}: worst probability difference {worst:.5}");
        assert!(worst < 0.01, "{name}: {worst}");
        let cams = |o: &mousexray::inference::BatchOutput| -> Vec<f32> {
            o.cams.iter().flat_map(|c| c.values().flat_map(|m| m.data.clone())).collect()
        };
        let (c32, c16) = (cams(&p32), cams(&p16));
        assert_eq!(c32.len(), c16.len());
        let scale = c32.iter().map(|v| v.abs()).fold(0.0, f32::max);
        let cam_worst = c32.iter().zip(&c16).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(cam_worst <= 0.02 * scale, "{name}: CAM difference {cam_worst} against scale {scale}");
    }
    // Converting twice, or someone else's file, is refused with the reason.
    let once = to_fp16(&synthetic_model(&ModelConfig::cae(14), 32, 0.5).unwrap()).unwrap();
    assert!(to_fp16(&once).unwrap_err().to_string().contains("already float16"));
    assert!(to_fp16(b"not a model at all").is_err());
}

#[test]
fn the_fp16_command_writes_the_copy_and_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cae_mv.fp16.onnx");
    let run = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_mousexray")).args(args).output().unwrap();
    let o = run(&["fp16", "models/cae_mv.onnx", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap()).unwrap();
    assert_eq!(report["provenance"]["precision"], "fp16");
    assert_eq!(report["thresholds"].as_object().unwrap().len(), 14);
    let doctor = run(&["doctor", "--model", out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success() && text.contains("weights fp16"), "{text}");
    let again = run(&["fp16", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr.contains("cae_mv.fp16.onnx") && stderr.contains("already float16"), "{stderr}");
}
