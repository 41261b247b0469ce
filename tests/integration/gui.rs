//! The review window, headless (egui_kittest, AccessKit queries; no display, no GPU).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use mousexray::imaging::QcCode;
use mousexray::review::{Call, QcReason, Status, read_review};
use mousexray::specimen::View;

use crate::common;
use crate::gui_support;

use gui_support::*;

#[test]
fn open_a_folder_with_the_typed_path_and_see_its_rows() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    h.run_steps(2);
    assert!(h.query_by_label_contains("Open folder").is_some(), "the empty window offers to open a folder");
    open_typed(&mut h, &folder);
    let ws = h.state().workspace.as_ref().expect("workspace");
    assert_eq!(ws.specimens().len(), 24);
    assert!(h.query_all_by_label("MX00000").count() >= 1, "the first row is listed");
    assert!(h.query_by_label("0 of 24 reviewed").is_some());
    assert_eq!(h.state().settings.recent_folders.first(), Some(&folder));
    // The search box filters the list.
    h.get_by_label("Search").focus();
    h.get_by_label("Search").type_text("MX00013");
    h.run_steps(3);
    assert!(h.query_by_label("1 shown").is_some());
}

#[test]
fn keyboard_triage_records_decisions_and_advances() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    let first = h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().id.clone();
    h.key_press(Key::A);
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    let second = ws.selected_specimen().unwrap().id.clone();
    assert_ne!(first, second, "auto-advance moved on");
    let r = ws.review.as_ref().unwrap().state.get(&first).unwrap();
    assert_eq!(r.status, Status::ConfirmedAbnormal);
    assert_eq!(r.calls.get("abnormal"), Some(&Call::Abnormal));
    assert_eq!(r.reviewer, "tester");

    // 3 toggles the third L3 finding on the second specimen; N then calls it normal.
    h.key_press(Key::Num3);
    h.run_steps(1);
    let third = h
        .state()
        .taxonomy
        .nodes
        .iter()
        .filter(|n| n.level == mousexray::taxonomy::Level::L3)
        .nth(2)
        .unwrap()
        .id
        .clone();
    assert_eq!(
        h.state().workspace.as_ref().unwrap().call(h.state().workspace.as_ref().unwrap().selected.unwrap(), &third),
        Some(Call::Abnormal)
    );
    // N calls it normal, and so clears the abnormal finding: no contradictory record.
    h.key_press(Key::N);
    h.run_steps(1);
    h.key_press(Key::K);
    h.run_steps(1);
    assert_eq!(h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().id, second, "K goes back");
    let ws = h.state().workspace.as_ref().unwrap();
    let i = ws.selected.unwrap();
    assert_eq!(ws.status(i), Status::Normal);
    assert_eq!(ws.call(i, &third), None, "N cleared the abnormal finding");
    assert!(h.state().banners.iter().any(|b| b.text.contains("cleared the abnormal call")), "and said so");

    // Z undoes the whole of N (status, L1 call, the finding), Shift+Z redoes it.
    h.key_press(Key::Z);
    h.run_steps(1);
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!(ws.call(ws.selected.unwrap(), "abnormal"), Some(Call::Abnormal));
    assert_eq!(ws.call(ws.selected.unwrap(), &third), Some(Call::Abnormal));
    assert_eq!(ws.status(ws.selected.unwrap()), Status::ConfirmedAbnormal, "a finding sets the status");
    h.key_press_modifiers(Modifiers::SHIFT, Key::Z);
    h.run_steps(1);
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!(ws.call(ws.selected.unwrap(), "abnormal"), Some(Call::Normal));

    // U: unobservable, with a QC status (not "unreviewed" beside a reviewed count).
    h.key_press(Key::U);
    h.run_steps(1);
    let r = h.state().workspace.as_ref().unwrap().review.as_ref().unwrap().state.get(&second).cloned().unwrap();
    assert_eq!(r.status, Status::QcProblem(QcReason::Unreadable));
    assert_eq!(r.calls.get("abnormal"), Some(&Call::Unobservable));
    h.key_press(Key::Z);
    h.run_steps(1);

    // Every decision is on disk (the journal), whatever happens to the window.
    drop(h);
    let (state, notes) = read_review(&folder);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(state.get(&first).unwrap().status, Status::ConfirmedAbnormal);
    assert_eq!(state.get(&second).unwrap().status, Status::Normal);
    assert_eq!(state.get(&second).unwrap().calls.get(third.as_str()), None);
}

#[test]
fn overlay_and_link_zoom_toggle_from_keys_and_buttons() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    assert!(!h.state().viewer.overlay && h.state().viewer.linked);
    h.key_press(Key::O);
    h.run_steps(1);
    assert!(h.state().viewer.overlay);
    assert!(h.query_by_label("Saliency for").is_some(), "the overlay names its class");
    h.key_press(Key::L);
    h.run_steps(1);
    assert!(!h.state().viewer.linked);
    h.get_by_label("Link").click();
    h.run_steps(1);
    assert!(h.state().viewer.linked);
    h.key_press(Key::I);
    h.key_press(Key::R);
    h.run_steps(1);
    assert!(h.state().viewer.invert);
    assert_eq!(h.state().viewer.orientation.quarter_turns, 1);
    // Both views are decoded in the background and drawn.
    step_until(&mut h, "the images", |a| !a.busy());
}

#[test]
fn export_writes_the_csv() {
    let (dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    h.key_press(Key::S);
    h.run_steps(1);
    let out = dir.path().join("out.csv");
    export_via_dialog(&mut h, &out);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 25, "header and 24 specimens");
    assert!(text.contains("second_look"), "{text}");
    // Typing a path that exists, or one in a missing folder, says so before OK.
    h.key_press_modifiers(Modifiers::COMMAND, Key::E);
    h.run_steps(2);
    h.get_by_label("CSV path").focus();
    // Replaces the field's text with `path` and lets the dialog react.
    let retype = |h: &mut egui_kittest::Harness<'_, mousexray::gui::ReviewApp>, path: &std::path::Path| {
        h.key_press_modifiers(Modifiers::COMMAND, Key::A);
        h.get_by_label("CSV path").type_text(path.to_str().unwrap());
        h.run_steps(2);
    };
    retype(&mut h, &out);
    assert!(h.query_by_label_contains("out.csv exists: OK replaces it.").is_some());
    // A bare name is written with `.csv`: the warning is about that file.
    retype(&mut h, &dir.path().join("out"));
    assert!(h.query_by_label_contains("out.csv exists: OK replaces it.").is_some());
    // A film is never replaced.
    retype(&mut h, &folder.join("MX00002/DV.png"));
    assert!(h.query_by_label_contains("is an image: an export never replaces one").is_some());
    retype(&mut h, &dir.path().join("nowhere/out.csv"));
    assert!(h.query_by_label_contains("does not exist").is_some());
}

#[test]
fn the_window_exports_impc_long_form_too() {
    let (dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    // N: the whole skeleton normal, so every IMPC parameter of the first specimen is implied.
    h.key_press(Key::N);
    h.run_steps(1);
    let id = h.state().workspace.as_ref().unwrap().specimens()[0].id.clone();
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::E);
    h.run_steps(2);
    assert!(h.query_by_label("Export IMPC long CSV").is_some(), "the dialog says which form");
    let out = dir.path().join("long.csv");
    h.get_by_label("CSV path").focus();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_label("CSV path").type_text(out.to_str().unwrap());
    h.get_by_label("OK").click();
    step_until(&mut h, "the export", |a| a.banners.iter().any(|b| b.text.contains("exported")));
    let mut rd = csv::Reader::from_path(&out).unwrap();
    let header = rd.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|c| c == n).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let mine: Vec<&csv::StringRecord> = rows.iter().filter(|r| r[0] == *id).collect();
    assert!(mine.len() > 14, "a row per node and IMPC parameter");
    assert!(
        mine.iter().any(|r| r[col("parameter_stable_id")].starts_with("IMPC_XRY_") && &r[col("impc_call")] == "normal")
    );
}

#[test]
fn a_bad_folder_and_a_bad_model_show_banners_not_crashes() {
    let (dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &dir.path().join("no-such-folder"));
    let banner = h.state().banners.iter().find(|b| b.error).expect("an error banner").text.clone();
    assert!(banner.contains("no-such-folder"), "{banner}");
    assert!(h.query_by_label_contains("no-such-folder").is_some(), "the banner is on screen");
    // A folder that opens next clears it: it was about the one that did not.
    open_typed(&mut h, &folder);
    step_until(&mut h, "the folder", |a| a.workspace.is_some());
    assert!(h.state().banners.iter().all(|b| !b.text.contains("no-such-folder")), "{:?}", h.state().banners);
    drop(h);

    let bad = dir.path().join("garbage.onnx");
    std::fs::write(&bad, b"this is not a model").unwrap();
    let mut s = settings();
    s.model = Some(bad.clone());
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    h.get_by_label("Model").click();
    h.run_steps(3);
    h.get_by_label("Classify all").click();
    step_until(&mut h, "the model error", |a| a.banners.iter().any(|b| b.error));
    let banner = h.state().banners.iter().find(|b| b.error).unwrap().text.clone();
    assert!(banner.contains("garbage.onnx"), "{banner}");
    assert!(h.state().tasks.classify.is_none() && h.state().model.info.is_none());
}

#[test]
fn classify_streams_scores_into_the_worklist() {
    let (_dir, folder) = sample();
    let s = settings_with_model();
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    let app = h.state();
    assert!(app.banners.iter().all(|b| !b.error), "{:?}", app.banners);
    let ws = app.workspace.as_ref().unwrap();
    assert!(ws.results.iter().all(Option::is_some), "every specimen has scores");
    assert!(ws.results.iter().flatten().all(|r| r.cams.is_some()), "with saliency maps");
    assert!(h.query_by_label_contains("cae_mv.onnx").is_some(), "the status bar names the model");
    assert!(h.query_by_label_contains(", fp32").is_some(), "and its weights' precision");
    // The P(abn) header names the threshold the flags follow, as the model file gives it.
    let t = app.model.info.as_ref().unwrap().metadata.thresholds[0];
    h.get_by_label_contains("P(abn)").hover();
    h.run_steps(10);
    let said = format!("flagged at or above {t:.3}, the threshold in use");
    assert!(h.query_by_label_contains(&said).is_some(), "the header's tooltip says: {said}");
    // A reviewer's call records what the model showed.
    h.key_press(Key::A);
    h.run_steps(1);
    let ws = h.state().workspace.as_ref().unwrap();
    let first = ws.review.as_ref().unwrap().state.specimens.values().next().unwrap();
    assert!(first.shown.as_ref().is_some_and(|s| s.probabilities.contains_key("abnormal")));
    // The overlay draws for the selected specimen without errors.
    h.key_press(Key::O);
    step_until(&mut h, "the images", |a| !a.busy());
}

#[test]
fn close_and_reopen_keeps_calls_comments_and_shown_scores() {
    let (_dir, folder) = sample();
    let s = settings_with_model();
    let mut h = harness(s.clone());
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    // Sort by abnormality is the default: rows run from most to least abnormal.
    let app = h.state();
    let ws = app.workspace.as_ref().unwrap();
    let p_of = |i: usize| ws.results[i].as_ref().unwrap().scores.joint[0];
    assert!(app.worklist.order.windows(2).all(|w| p_of(w[0]) >= p_of(w[1])), "most abnormal first");
    h.key_press(Key::J);
    h.run_steps(1);
    let ws = h.state().workspace.as_ref().unwrap();
    let id = ws.selected_specimen().unwrap().id.clone();
    let p = ws.results[ws.selected.unwrap()].as_ref().unwrap().scores.joint[0];
    h.get_by_label("Comment").focus();
    h.get_by_label("Comment").type_text("tail kinked near the base");
    h.run_steps(1);
    // Clicking elsewhere ends the edit, which records the comment.
    h.get_by_label("Comment").click();
    h.key_press(Key::Escape);
    h.run_steps(2);
    h.state_mut().workspace.as_mut().unwrap().review.as_mut().unwrap().save().unwrap();
    h.key_press(Key::S);
    h.run_steps(2);
    drop(h);

    let mut h = harness(s);
    open_typed(&mut h, &folder);
    let ws = h.state().workspace.as_ref().unwrap();
    let i = ws.specimens().iter().position(|x| x.id == id).unwrap();
    let r = ws.review_of(i).unwrap();
    assert_eq!(r.status, Status::SecondLook);
    assert_eq!(r.comment, "tail kinked near the base");
    let restored = ws.results[i].as_ref().expect("the scores the reviewer saw come back without rerunning the model");
    assert!((restored.scores.joint[0] - p).abs() < 1e-6);
}

#[test]
fn extra_views_show_in_the_right_panel() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("extras");
    common::mkdirs(&folder.join("M1"));
    common::write_png16(&folder.join("M1/DV.png"), 64, 96);
    common::write_png16(&folder.join("M1/lateral.png"), 64, 96);
    common::write_png16(&folder.join("M1/skull_dv.png"), 32, 32);
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    h.get_by_label("skull dv").click();
    h.run_steps(2);
    assert_eq!(h.state().viewer.extra, Some(View::SkullDv));
    step_until(&mut h, "the images", |a| !a.busy());
    assert!(h.state().banners.iter().all(|b| !b.error), "{:?}", h.state().banners);
    h.get_by_label("LV").click();
    h.run_steps(1);
    assert_eq!(h.state().viewer.extra, None);
}

#[test]
fn a_folder_open_in_another_window_is_viewable_but_says_why_decisions_are_not_recorded() {
    let (_dir, folder) = sample();
    let mut first = harness(settings());
    open_typed(&mut first, &folder);
    // The first window decides a specimen before the second opens the folder.
    first.key_press(Key::A);
    first.run_steps(1);
    let decided = first.state().workspace.as_ref().unwrap().review_of(0).unwrap().status;
    assert_ne!(decided, Status::Unreviewed);
    let mut second = harness(settings());
    open_typed(&mut second, &folder);
    let app = second.state();
    assert!(app.workspace.as_ref().is_some_and(|w| w.review.is_none() && w.specimens().len() == 24));
    let banner = app.banners.iter().find(|b| b.error).expect("a banner").text.clone();
    assert!(banner.contains("already open") && banner.contains("read-only"), "{banner}");
    assert!(!banner.contains("delete"), "a lock held by a live window is not to be deleted: {banner}");
    // The second window shows the first's calls, not every row unreviewed.
    let ws = app.workspace.as_ref().unwrap();
    assert!(ws.review_read_only());
    assert_eq!(ws.status(0), decided);
    assert_eq!(ws.reviewed_count(), 1);
    // A call is refused with a banner, not lost silently and not a crash, and the window stays
    // on the specimen (moving on would look like progress).
    let on = second.state().workspace.as_ref().unwrap().selected;
    second.key_press(Key::A);
    second.run_steps(1);
    assert!(second.state().banners.iter().any(|b| b.text.contains("not open")), "{:?}", second.state().banners);
    assert_eq!(second.state().workspace.as_ref().unwrap().selected, on);
    drop(second);
    // The first window still records.
    first.key_press(Key::J);
    first.run_steps(1);
    first.key_press(Key::A);
    first.run_steps(1);
    assert_eq!(first.state().workspace.as_ref().unwrap().reviewed_count(), 2);
}

#[test]
fn a_wild_type_reference_panel_shows_a_control_or_a_pinned_specimen() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    h.key_press(Key::W);
    h.run_steps(2);
    assert_eq!(h.state().viewer.reference, Some(View::Dv));
    let ws = h.state().workspace.as_ref().unwrap();
    let reference = ws.reference_specimen().expect("the sample has controls");
    assert_eq!(reference.metadata.get("biological_sample_group"), Some("control"));
    step_until(&mut h, "the images", |a| !a.busy());
    // Pin the selected specimen instead; W cycles DV, LV, off.
    h.key_press(Key::J);
    h.key_press(Key::P);
    h.run_steps(1);
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!(ws.reference_specimen().map(|s| &s.id), ws.selected_specimen().map(|s| &s.id));
    h.key_press(Key::W);
    h.run_steps(1);
    assert_eq!(h.state().viewer.reference, Some(View::Lv));
    h.key_press(Key::W);
    h.run_steps(1);
    assert_eq!(h.state().viewer.reference, None);
}

#[test]
fn classify_close_and_reopen_keeps_every_score_flag_and_overlay_and_export_has_them() {
    let (dir, folder) = sample();
    let s = settings_with_model();
    let mut h = harness(s.clone());
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    let ws = h.state().workspace.as_ref().unwrap();
    let before: Vec<(String, Vec<f32>, Vec<bool>, bool)> = ws
        .specimens()
        .iter()
        .zip(&ws.results)
        .map(|(sp, r)| {
            let r = r.as_ref().expect("every sample specimen is scored");
            (sp.id.clone(), r.scores.joint.clone(), r.scores.flags.clone(), r.cams.is_some())
        })
        .collect();
    assert!(before.iter().all(|b| b.3), "the sample's model draws overlays (CAMs)");
    // Close the window the way eframe does, with no decision recorded anywhere.
    h.state_mut().on_exit();
    drop(h);

    let mut h = harness(s);
    open_typed(&mut h, &folder);
    let ws = h.state().workspace.as_ref().unwrap();
    for (id, joint, flags, cams) in &before {
        let i = ws.specimens().iter().position(|x| &x.id == id).unwrap();
        let r = ws.results[i].as_ref().unwrap_or_else(|| panic!("{id}: scores lost on reopen"));
        assert!(r.scores.joint.iter().zip(joint).all(|(a, b)| (a - b).abs() < 1e-6), "{id}");
        assert_eq!(&r.scores.flags, flags, "{id}");
        assert_eq!(r.cams.is_some(), *cams, "{id}: overlays come back");
        assert!(r.transforms.values().any(Option::is_some), "{id}: overlays can be placed");
    }

    // Export from the window and from the command line: p_ for every scored specimen.
    let out = dir.path().join("window.csv");
    export_via_dialog(&mut h, &out);
    drop(h);
    let cli_out = dir.path().join("cli.csv");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mousexray"))
        .args(["export".as_ref(), folder.as_os_str(), "--out".as_ref(), cli_out.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    for csv_path in [&out, &cli_out] {
        let mut rd = csv::Reader::from_path(csv_path).unwrap();
        let head = rd.headers().unwrap().clone();
        let p_cols: Vec<usize> = (0..head.len()).filter(|&c| head[c].starts_with("p_")).collect();
        assert_eq!(p_cols.len(), 14);
        let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), before.len());
        for row in &rows {
            assert!(p_cols.iter().all(|&c| !row[c].is_empty()), "{}: {} has an empty p_", csv_path.display(), &row[0]);
            assert!(!row[head.iter().position(|c| c == "model_sha256").unwrap()].is_empty());
        }
    }
}

#[test]
fn a_broken_view_says_why_and_the_banner_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("films");
    std::fs::create_dir_all(folder.join("G1")).unwrap();
    std::fs::create_dir_all(folder.join("G2")).unwrap();
    std::fs::write(folder.join("G1/DV.png"), b"not a PNG at all, just text").unwrap();
    for f in ["G1/LV.png", "G2/DV.png", "G2/LV.png"] {
        image::GrayImage::from_pixel(40, 60, image::Luma([90])).save(folder.join(f)).unwrap();
    }
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    let banner = h.state().banners.iter().map(|b| b.text.clone()).find(|t| t.contains("could not be used")).unwrap();
    assert!(banner.contains("1 file could not be used") && banner.contains("G1/DV.png"), "{banner}");
    let ws = h.state().workspace.as_ref().unwrap();
    let g1 = ws.specimens().iter().position(|s| s.id == "G1").unwrap();
    h.state_mut().workspace.as_mut().unwrap().selected = Some(g1);
    h.run_steps(3);
    assert!(h.query_by_label_contains("cannot use DV.png").is_some(), "the DV pane says why, not \"no DV image\"");
    assert!(h.query_by_label_contains("no DV image").is_none());
}

#[test]
fn film_qc_shows_on_the_row_filters_and_offers_its_status() {
    let (_dir, folder) = sample();
    // MX00002's DV becomes an empty exposure: noise at a background level, no animal.
    let dv = folder.join("MX00002/DV.png");
    let (w, h) = image::image_dimensions(&dv).unwrap();
    let mut state = 11u32;
    let px: Vec<u16> = (0..w * h)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            3000 + (state >> 22) as u16
        })
        .collect();
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w, h, px).unwrap().save(&dv).unwrap();
    let s = settings_with_model();
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    let ws = h.state().workspace.as_ref().unwrap();
    let i = ws.specimens().iter().position(|s| s.id == "MX00002").unwrap();
    assert_eq!(ws.film_qc_of(i), vec![(View::Dv, QcCode::NoAnimal)]);
    assert_eq!(
        ws.results[i].as_ref().unwrap().views_used,
        mousexray::specimen::ByView::new(false, true),
        "scored on LV alone"
    );
    // The QC filter lists it (and nothing the films passed).
    h.get_by_label("QC").click();
    h.run_steps(3);
    assert!(h.query_by_label("1 shown").is_some(), "one film QC finding in the sample");
    // The row's QC badge: beside the views, or (a compact list) the id.
    assert!(h.query_by_label_contains("DV+LV QC").or_else(|| h.query_by_label("DV QC")).is_some(), "QC badge");
    // The selection is filtered out: the next specimen is the first listed.
    h.key_press(Key::J);
    h.run_steps(3);
    assert_eq!(h.state().workspace.as_ref().unwrap().selected, Some(i));
    assert!(h.query_by_label_contains("Film QC DV: no animal found").is_some());
    h.get_by_label("Set QC: no mouse").click();
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!(ws.status(i), Status::QcProblem(mousexray::review::QcReason::NoMouse));
}

#[test]
fn film_qc_outlives_the_window_and_a_specimen_it_left_unscored_says_why() {
    let (dir, folder) = sample();
    // MX00002's two films become empty exposures: film QC leaves both out, nothing is scored.
    for view in ["DV", "LV"] {
        let path = folder.join(format!("MX00002/{view}.png"));
        let (w, h) = image::image_dimensions(&path).unwrap();
        let px: Vec<u16> = (0..w * h).map(|k| 3000 + (k.wrapping_mul(2_654_435_761) >> 22) as u16).collect();
        image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w, h, px).unwrap().save(&path).unwrap();
    }
    // MX00012's two films are cut in half (a broken copy): nothing can be read.
    for view in ["DV", "LV"] {
        let path = folder.join(format!("MX00012/{view}.png"));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    }
    let s = settings_with_model();
    let mut h = harness(s.clone());
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    let ws = h.state().workspace.as_ref().unwrap();
    let broken = ws.specimens().iter().position(|s| s.id == "MX00012").unwrap();
    let unreadable = ws.not_scored_reason(broken).unwrap_or_default();
    assert!(
        unreadable.starts_with("its films could not be read (") && unreadable.contains("truncated PNG"),
        "{unreadable}"
    );
    let i = ws.specimens().iter().position(|s| s.id == "MX00002").unwrap();
    assert!(ws.results[i].is_none(), "nothing to score");
    let qc = ws.film_qc_of(i);
    assert_eq!(qc, vec![(View::Dv, QcCode::NoAnimal), (View::Lv, QcCode::NoAnimal)]);
    h.state_mut().workspace.as_mut().unwrap().selected = Some(i);
    h.run_steps(3);
    let why = "Not scored: film QC left out every DV and LV film it has";
    assert!(h.query_by_label_contains(why).is_some(), "not \"run the classifier\"");
    assert!(h.query_by_label_contains("Not classified yet").is_none());
    h.state_mut().on_exit();
    drop(h);

    // Reopened: the QC findings come back with the scores, and the export carries them.
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!(ws.film_qc_of(i), qc, "film QC kept beside the scores");
    assert_eq!(ws.not_scored_reason(i).as_deref(), Some("film QC left out every DV and LV film it has"));
    assert_eq!(ws.not_scored_reason(broken), Some(unreadable), "kept with the results too");
    let out = dir.path().join("window.csv");
    export_via_dialog(&mut h, &out);
    let mut rd = csv::Reader::from_path(&out).unwrap();
    let head = rd.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|c| c == name).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let row = rows.iter().find(|r| &r[0] == "MX00002").unwrap();
    assert_eq!(&row[col("film_qc")], "dv:no_animal;lv:no_animal");
    assert_eq!(&row[col("in_domain")], "", "not scored: no domain score");
    let scored = rows.iter().find(|r| &r[0] == "MX00001").unwrap();
    assert_eq!(&scored[col("film_qc")], "");
    assert!(["true", "false"].contains(&&scored[col("in_domain")]), "the bundled model is described");
}

#[test]
fn a_finding_read_on_a_view_that_was_not_scored_says_so() {
    let (_dir, folder) = sample();
    let mut h = harness(settings_with_model());
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    // As if MX00005 had only its LV and the model flagged scoliosis, a DV finding, from it.
    let app = h.state_mut();
    let taxonomy = app.taxonomy.clone();
    let ws = app.workspace.as_mut().unwrap();
    let i = ws.specimens().iter().position(|s| s.id == "MX00005").unwrap();
    let r = ws.results[i].as_mut().unwrap();
    let mut p = vec![0.01; taxonomy.nodes.len()];
    for id in ["abnormal", "axial", "scoliosis"] {
        p[taxonomy.index_of(id).unwrap()] = 0.99;
    }
    r.scores = mousexray::inference::hierarchy::Scores::new(&taxonomy, p, &vec![0.5; taxonomy.nodes.len()]);
    r.views_used = mousexray::specimen::ByView::new(false, true);
    ws.selected = Some(i);
    h.run_steps(3);
    assert!(h.query_by_label_contains("flagged: Scoliosis P 0.990").is_some());
    assert!(h.query_by_label_contains("(read on DV, which was not scored)").is_some());
    // Read on the view the model saw: nothing added.
    h.state_mut().workspace.as_mut().unwrap().results[i].as_mut().unwrap().views_used =
        mousexray::specimen::ByView::new(true, true);
    h.run_steps(3);
    assert!(h.query_by_label_contains("flagged: Scoliosis P 0.990").is_some());
    assert!(h.query_by_label_contains("which was not scored").is_none());
}

#[test]
fn a_specimen_unlike_the_training_data_is_badged_sorted_apart_and_filtered() {
    let (_dir, folder) = sample();
    // MX00004's films blurred far beyond any detector's resolution: the model still scores
    // them (film QC passes them), but they are unlike anything it was trained on.
    for view in ["DV", "LV"] {
        let path = std::fs::read_dir(folder.join("MX00004"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_stem().is_some_and(|s| s == view))
            .unwrap();
        let img = image::open(&path).unwrap().into_luma16();
        let blurred = image::imageops::blur(&img, 12.0);
        std::fs::remove_file(&path).unwrap();
        blurred.save(path.with_extension("png")).unwrap();
    }
    let s = settings_with_model();
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    let ws = h.state().workspace.as_ref().unwrap();
    let i = ws.specimens().iter().position(|s| s.id == "MX00004").unwrap();
    let unlike: Vec<usize> =
        (0..ws.specimens().len()).filter(|&k| ws.results[k].as_ref().is_some_and(|r| r.out_of_domain())).collect();
    assert_eq!(unlike, vec![i], "only the blurred specimen is unlike the training data");
    // Sorted by P(abnormal), most first: every other scored specimen leads, flagged or not.
    let order = h.state().worklist.order.clone();
    let scored = order.iter().filter(|&&k| ws.results[k].is_some()).count();
    assert_eq!(order.iter().position(|&k| k == i), Some(scored - 1), "sorted apart, after the in-domain scores");
    assert!(h.query_by_label_contains(" unlike").is_some(), "the row's badge");
    // Its hover says both: where P stands against the threshold, and why it is unreliable.
    h.get_by_label_contains(" unlike").hover();
    h.run_steps(10);
    assert!(
        h.query_by_label_contains("the threshold").is_some() && h.query_by_label_contains("(domain score)").is_some()
    );
    // The filter lists it alone; selecting it says so over its scores.
    h.get_by_label("unlike training").click();
    h.run_steps(3);
    assert!(h.query_by_label("1 shown").is_some());
    h.key_press(Key::J);
    h.run_steps(3);
    assert_eq!(h.state().workspace.as_ref().unwrap().selected, Some(i));
    assert!(h.query_by_label("Unlike the training data: scores unreliable").is_some());
    // An in-domain specimen shows no such warning.
    h.get_by_label("unlike training").click();
    h.run_steps(3);
    h.key_press(Key::K);
    h.run_steps(3);
    assert_ne!(h.state().workspace.as_ref().unwrap().selected, Some(i));
    assert!(h.query_by_label("Unlike the training data: scores unreliable").is_none());
    assert!(h.query_by_label("domain unknown").is_none(), "the bundled model is described");
}

#[test]
fn a_model_without_a_domain_description_says_domain_unknown() {
    let (dir, folder) = sample();
    // A contract model with random weights and no description.
    let config = mousexray::training::model::ModelConfig {
        backbone: mousexray::training::model::BackboneKind::Cae,
        dims: vec![8, 16],
        depths: vec![],
        layer_scale: 0.0,
        classes: 14,
        antialias: false,
    };
    let model = dir.path().join("undescribed.onnx");
    std::fs::write(&model, mousexray::training::package::synthetic_model(&config, 64, 0.5).unwrap()).unwrap();
    let mut s = settings();
    s.model = Some(model);
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    assert!(h.query_by_label("domain unknown").is_some(), "said in the status bar");
    let ws = h.state().workspace.as_ref().unwrap();
    assert!(ws.results.iter().flatten().all(|r| r.domain.is_none() && !r.out_of_domain()));
    assert!(h.query_by_label_contains(" unlike").is_none());
}

#[test]
fn side_panels_grow_back_with_the_window_and_keep_the_width_the_reviewer_drags() {
    use egui::vec2;
    let (_dir, folder) = sample();
    let mut h = harness_sized(settings(), 1600.0, 900.0);
    open_typed(&mut h, &folder);
    // The films' toolbar starts just right of the worklist.
    let list_edge = |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| h.get_by_label("Fit").rect().min.x;
    let wide = list_edge(&h);
    h.set_size(vec2(1024.0, 768.0));
    h.run_steps(4);
    let narrow = list_edge(&h);
    assert!(narrow < wide - 20.0, "a narrower window narrows the worklist: {wide} -> {narrow}");
    h.set_size(vec2(1600.0, 900.0));
    h.run_steps(4);
    assert!((list_edge(&h) - wide).abs() < 1.0, "and it grows back: {wide} -> {narrow} -> {}", list_edge(&h));
    // The findings panel too (its left edge, where its Status: label starts).
    let findings_edge =
        |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| h.get_by_label("Status:").rect().min.x;
    let (first, window) = (findings_edge(&h), 1600.0);
    h.set_size(vec2(1024.0, 768.0));
    h.run_steps(4);
    h.set_size(vec2(window, 900.0));
    h.run_steps(4);
    assert!((findings_edge(&h) - first).abs() < 1.0, "the findings panel grows back: {first} -> {}", findings_edge(&h));
    assert_eq!(h.state().settings.view.worklist_width, None, "a window's size is not the reviewer's choice");

    // The reviewer drags the worklist's edge 60 points narrower: kept, through a resize, and
    // written to the settings.
    let y = h.get_by_label("Search").rect().center().y + 200.0;
    // The edge is where the pointer turns into the resize cursor.
    let edge = (0..40)
        .map(|dx| wide - dx as f32)
        .find(|&x| {
            h.hover_at(egui::pos2(x, y));
            h.run_steps(1);
            h.output().platform_output.cursor_icon == egui::CursorIcon::ResizeHorizontal
        })
        .expect("the worklist's edge");
    h.drag_at(egui::pos2(edge, y));
    h.run_steps(2);
    h.hover_at(egui::pos2(edge - 60.0, y));
    h.run_steps(2);
    h.drop_at(egui::pos2(edge - 60.0, y));
    h.run_steps(3);
    let dragged = list_edge(&h);
    assert!(dragged < wide - 40.0, "dragged from {wide} to {dragged}");
    let chosen = h.state().settings.view.worklist_width.expect("the dragged width is kept");
    h.set_size(vec2(1024.0, 768.0));
    h.run_steps(4);
    h.set_size(vec2(1600.0, 900.0));
    h.run_steps(4);
    assert!((list_edge(&h) - dragged).abs() < 1.0, "the dragged width comes back after a resize");
    assert_eq!(h.state().settings.view.worklist_width, Some(chosen));
}
