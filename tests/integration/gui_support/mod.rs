//! The review window's test helpers: a copy of the bundled sample, a headless harness, and the
//! user's ways of opening, classifying and exporting.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Key, Modifiers, vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mousexray::gui::{AppOptions, Dialog, ReviewApp, Settings};

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The bundled sample, copied so the review sidecar is written into a temporary folder.
pub fn sample() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("sample");
    copy_dir(Path::new("assets/sample"), &folder);
    (dir, folder)
}

pub fn settings() -> Settings {
    Settings { reviewer: "tester".into(), reviewer_confirmed: true, recent_folders: Vec::new(), ..Settings::default() }
}

/// [`settings`] with the bundled CAE model.
pub fn settings_with_model() -> Settings {
    Settings { model: Some(PathBuf::from("models/cae_mv.onnx")), ..settings() }
}

pub fn harness(settings: Settings) -> Harness<'static, ReviewApp> {
    harness_sized(settings, 1400.0, 860.0)
}

/// A window of `w` x `h` points.
pub fn harness_sized(settings: Settings, w: f32, h: f32) -> Harness<'static, ReviewApp> {
    let app = ReviewApp::new(settings, AppOptions::default());
    Harness::builder().with_size(vec2(w, h)).build_ui_state(|ui, app: &mut ReviewApp| app.ui(ui), app)
}

/// A folder of specimens named `ids`, each a copy of a sample specimen's DV and LV.
pub fn folder_with_ids(ids: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("ids");
    for (k, id) in ids.iter().enumerate() {
        copy_dir(&Path::new("assets/sample").join(format!("MX{:05}", k % 24)), &folder.join(id));
    }
    (dir, folder)
}

/// Steps until `done` holds (background threads report through channels).
pub fn step_until(h: &mut Harness<'_, ReviewApp>, what: &str, done: impl Fn(&ReviewApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(3);
}

/// Opens `folder` the way a user without a system file dialog does: Ctrl+O, type, OK.
pub fn open_typed(h: &mut Harness<'_, ReviewApp>, folder: &Path) {
    h.key_press_modifiers(Modifiers::COMMAND, Key::O);
    h.run_steps(2);
    assert!(matches!(h.state().dialog, Dialog::TypedPath { .. }), "Ctrl+O shows the typed-path dialog");
    let field = h.get_by_label("Folder path");
    field.focus();
    h.run_steps(1);
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_label("Folder path").type_text(folder.to_str().unwrap());
    h.run_steps(1);
    h.get_by_label("OK").click();
    h.run_steps(2);
    step_until(h, "the scan", |a| a.workspace.is_some() || a.banners.iter().any(|b| b.error));
}

/// Model > Open model…, type `path`, OK (the typed-path dialog a user without a system dialog gets).
pub fn open_model_typed(h: &mut Harness<'_, ReviewApp>, path: &Path) {
    h.get_by_label("Model").click();
    h.run_steps(3);
    h.get_by_label("Open model…").click();
    h.run_steps(2);
    h.get_by_label("Model path (.onnx)").focus();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_label("Model path (.onnx)").type_text(path.to_str().unwrap());
    h.run_steps(1);
    h.get_by_label("OK").click();
    h.run_steps(2);
}

/// Model > Classify all, then waits for the run to end.
pub fn classify_all(h: &mut Harness<'_, ReviewApp>) {
    h.get_by_label("Model").click();
    h.run_steps(3);
    h.get_by_label("Classify all").click();
    // The click is read in the next frame: with a model loaded, the wait would otherwise end
    // before the run started.
    h.run_steps(2);
    step_until(h, "classification", |a| a.tasks.classify.is_none() && a.model.info.is_some() && !a.model.loading);
}

/// Ctrl+E, type the path, OK, then waits for the export to end.
pub fn export_via_dialog(h: &mut Harness<'_, ReviewApp>, out: &Path) {
    h.key_press_modifiers(Modifiers::COMMAND, Key::E);
    h.run_steps(2);
    h.get_by_label("CSV path").focus();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_label("CSV path").type_text(out.to_str().unwrap());
    h.get_by_label("OK").click();
    step_until(h, "the export", |a| a.banners.iter().any(|b| b.text.contains("exported")));
}
