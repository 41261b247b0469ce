//! `mousexray calibrate` end to end on the bundled model: data it was not trained on is refused
//! unless asked for; the calibrated file's probabilities are each node's Platt map of the old
//! ones, its class activation maps are the old maps times the slope (so the CAM identity still
//! holds), no call changes, and a calibrated model is not calibrated twice. A wrong held-out
//! folder or a float16 copy is refused before anything is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::ffi::OsStr;

use mousexray::inference::{Classifier, init_runtime};
use mousexray::specimen::ByView;
use mousexray::synth::{OutFormat, OutLayout, SynthConfig, generate};
use mousexray::training::calibration::Platt;

const BUNDLED: &str = "models/cae_mv.onnx";

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

#[test]
fn calibration_maps_each_probability_and_keeps_every_call_and_map() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("val");
    let cfg = SynthConfig {
        count: 400,
        seed: 9100,
        size: 192,
        format: OutFormat::Png16,
        layout: OutLayout::Flat,
        ..Default::default()
    };
    generate(&data, &cfg, &|| {}).unwrap();
    let held = dir.path().join("held");
    generate(&held, &SynthConfig { count: 60, seed: 9200, ..cfg.clone() }, &|| {}).unwrap();
    let out = dir.path().join("calibrated.onnx");
    let args = [
        os("calibrate"),
        os("--model"),
        os(BUNDLED),
        os("--data"),
        data.as_os_str(),
        os("--out"),
        out.as_os_str(),
        os("--held-out"),
        held.as_os_str(),
    ];
    let refused = common::mousexray(&args);
    assert!(!refused.status.success() && !out.exists());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is not the one") && stderr.contains("--other-data"), "{stderr}");

    let mut forced = args.to_vec();
    forced.push(os("--other-data"));
    // A wrong --held-out fails before anything is written.
    let missing = dir.path().join("no-such-folder");
    let mut wrong = forced.clone();
    wrong[8] = missing.as_os_str();
    let refused = common::mousexray(&wrong);
    assert!(!refused.status.success() && !out.exists() && !out.with_extension("json").exists());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--held-out"));
    // A float16 copy is refused with the reason.
    let half = dir.path().join("half.onnx");
    assert!(common::mousexray(&[os("fp16"), os(BUNDLED), os("--out"), half.as_os_str()]).status.success());
    let mut on_half = forced.clone();
    on_half[2] = half.as_os_str();
    let refused = common::mousexray(&on_half);
    assert!(!refused.status.success() && !out.exists());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("calibrate the float32 model"));

    let done = common::mousexray(&forced);
    let stdout = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(done.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&done.stderr));
    assert!(stdout.contains("ECE validation before") && stdout.contains("ECE held out before"), "{stdout}");

    let lib = init_runtime(None).unwrap();
    let mut before = Classifier::load(std::path::Path::new(BUNDLED), lib, Default::default()).unwrap();
    let mut after = Classifier::load(&out, lib, Default::default()).unwrap();
    let meta = after.info.metadata.clone();
    let record = meta.provenance.calibration.clone().expect("the provenance records the calibration");
    assert_eq!(record.method, "platt");
    assert!(record.maps.contains_key("abnormal"), "L1 has both sides on 80 validation specimens: {record:?}");
    let maps: Vec<Platt> = meta
        .taxonomy
        .nodes
        .iter()
        .map(|n| record.maps.get(&n.id).map_or(Platt::IDENTITY, |&[a, b]| Platt { a, b }))
        .collect();
    assert!(maps.iter().all(|m| m.a > 0.0));
    assert!(maps.iter().any(|m| *m != Platt::IDENTITY));
    for ((t0, t1), m) in before.info.metadata.thresholds.iter().zip(&meta.thresholds).zip(&maps) {
        assert!((m.apply(*t0) - t1).abs() < 1e-6, "{t0} -> {t1} under {m:?}");
    }

    // Varied inputs: every probability is its node's map of the old one, every CAM is the
    // old one times the slope, and every call is the same at the moved thresholds.
    let s = meta.preprocess.size as usize;
    let n = 6;
    let input = |shift: usize| -> Vec<f32> {
        (0..n * s * s).map(|i| (((i / (s * s) + 1) * (i % s + shift) * 7 + i / s) % 101) as f32 / 101.0).collect()
    };
    let (dv, lv) = (input(0), input(13));
    let views = vec![ByView::new(true, true); n];
    let old = before.run(&dv, &lv, &views, true).unwrap();
    let new = after.run(&dv, &lv, &views, true).unwrap();
    for i in 0..n {
        for (k, m) in maps.iter().enumerate() {
            let (p0, p1) = (old.probs[i][k], new.probs[i][k]);
            assert!((m.apply(p0) - p1).abs() < 1e-4, "specimen {i} node {k}: {p0} -> {p1} under {m:?}");
            let (t0, t1) = (before.info.metadata.thresholds[k], meta.thresholds[k]);
            assert_eq!(p0 >= t0, p1 >= t1, "specimen {i} node {k}: the call changed");
        }
        for view in [mousexray::specimen::View::Dv, mousexray::specimen::View::Lv] {
            let (c0, c1) = (&old.cams[i][view], &new.cams[i][view]);
            assert_eq!((c0.side, c0.classes), (c1.side, c1.classes));
            let per = c0.side * c0.side;
            for (j, (a, b)) in c0.data.iter().zip(&c1.data).enumerate() {
                let slope = maps[j / per].a as f32;
                assert!((a * slope - b).abs() < 1e-4 * (1.0 + a.abs() * slope), "CAM {j}: {a} x {slope} != {b}");
            }
        }
    }

    let again = [os("calibrate"), os("--model"), out.as_os_str(), os("--data"), data.as_os_str(), os("--other-data")];
    let refused = common::mousexray(&again);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already calibrated"));
}
