//! Switching models in the review window: a file that cannot be used leaves the working model in
//! use, and scores keep the thresholds of the model that produced them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use egui_kittest::kittest::Queryable;
use mousexray::gui::{ReviewApp, Topic};

use crate::gui_support::*;

fn flags(app: &ReviewApp) -> Vec<Vec<bool>> {
    app.workspace.as_ref().unwrap().results.iter().map(|r| r.as_ref().unwrap().scores.flags.clone()).collect()
}

fn loaded_name(app: &ReviewApp) -> String {
    app.model.info.as_ref().unwrap().path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn a_model_that_cannot_be_used_keeps_the_working_one_and_old_scores_keep_their_thresholds() {
    let (dir, folder) = sample();
    let mut h = harness(settings_with_model());
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    let cae_sha = h.state().model.info.as_ref().unwrap().sha256.clone();
    let before = flags(h.state());

    // The models folder, not a file in it: said so, and the CAE stays loaded.
    open_model_typed(&mut h, Path::new("models"));
    let app = h.state();
    let banner = app.banners.iter().find(|b| b.error).expect("an error banner").text.clone();
    assert!(banner.contains("a folder, not a model file") && banner.contains("still using cae_mv.onnx"), "{banner}");
    assert_eq!(loaded_name(app), "cae_mv.onnx");
    assert_eq!(app.settings.model.as_deref(), Some(Path::new("models/cae_mv.onnx")), "the setting is unchanged");

    // A file that is not a model: the load fails on the engine thread, the CAE still classifies.
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a model").unwrap();
    open_model_typed(&mut h, &garbage);
    step_until(&mut h, "the failed load", |a| !a.model.loading);
    let app = h.state();
    let banner = app.banners.iter().rev().find(|b| b.error).unwrap().text.clone();
    assert!(banner.contains("garbage.onnx") && banner.contains("still using cae_mv.onnx"), "{banner}");
    assert_eq!(app.model.info.as_ref().unwrap().sha256, cae_sha);
    assert_eq!(app.settings.model.as_deref(), Some(Path::new("models/cae_mv.onnx")));

    // Another model loads: the banners about models go, and the CAE's scores keep the CAE's
    // thresholds (the ConvNeXt's would flag them differently).
    open_model_typed(&mut h, Path::new("models/convnext_mv.onnx"));
    step_until(&mut h, "the ConvNeXt", |a| !a.model.loading);
    let app = h.state();
    assert_eq!(loaded_name(app), "convnext_mv.onnx");
    assert_eq!(app.settings.model.as_deref(), Some(Path::new("models/convnext_mv.onnx")));
    assert!(app.banners.iter().all(|b| b.about != Some(Topic::Model)), "{:?}", app.banners);
    assert_eq!(flags(app), before, "old scores are flagged as their model flagged them");
    let convnext_thresholds = app.model.thresholds.clone();
    let ws = app.workspace.as_ref().unwrap();
    let first = ws.results[0].as_ref().unwrap();
    assert_ne!(first.scores.thresholds, convnext_thresholds, "the two models' thresholds differ");
    assert!(h.query_by_label_contains("Scored by another model").is_some(), "the findings panel says whose");

    // Classify unscored counts another model's scores as none: it rescores every specimen,
    // with the loaded model, under its thresholds.
    h.get_by_label("Model").click();
    h.run_steps(3);
    h.get_by_label("Classify unscored").click();
    h.run_steps(2);
    step_until(&mut h, "classification", |a| a.tasks.classify.is_none() && !a.model.loading);
    assert!(h.state().banners.iter().all(|b| !b.text.contains("already has scores")), "{:?}", h.state().banners);
    let app = h.state();
    let sha = app.model.info.as_ref().unwrap().sha256.clone();
    for r in app.workspace.as_ref().unwrap().results.iter().flatten() {
        assert_eq!(r.model_sha256, sha);
        assert_eq!(r.scores.thresholds, convnext_thresholds);
    }
    assert!(h.query_by_label_contains("Scored by another model").is_none());
}
