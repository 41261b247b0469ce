//! The review window for a day of triage, headless: rows select on their text, ids show whole
//! and sort naturally, calls stay consistent and show on their rows, the findings sit under
//! their own groups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use egui::Key;
use egui_kittest::kittest::Queryable;
use mousexray::review::{Call, Status};

use crate::gui_support;

use gui_support::*;

fn x_range(h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>, label: &str) -> (f32, f32) {
    // The leftmost (the worklist's; the findings panel's heading repeats the selected id).
    let r = h.query_all_by_label(label).map(|n| n.rect()).min_by(|a, b| a.min.x.total_cmp(&b.min.x)).unwrap();
    (r.min.x, r.max.x)
}

#[test]
fn clicking_a_row_on_its_text_selects_it() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    let before = h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().id.clone();
    let target = if before == "MX00005" { "MX00006" } else { "MX00005" };
    h.get_by_label(target).click();
    h.run_steps(2);
    assert_eq!(h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().id, target);
}

#[test]
fn long_ids_show_whole_and_ids_sort_naturally() {
    let long = "JR8765_Lrp5_M_000123";
    let (_dir, folder) = folder_with_ids(&["r1", "r10", "r2", long]);
    let mut h = harness_sized(settings(), 1024.0, 768.0);
    open_typed(&mut h, &folder);
    h.get_by_label("Specimen").click();
    h.run_steps(3);
    let ws = h.state().workspace.as_ref().unwrap();
    let order: Vec<&str> = h.state().worklist.order.iter().map(|&i| ws.specimens()[i].id.as_str()).collect();
    assert_eq!(order, [long, "r1", "r2", "r10"]);
    // The whole id fits its column: the label ends before the next column begins.
    let (id_left, id_right) = x_range(&h, long);
    // (At 1024 the list is compact: P(abn) follows the id.)
    let (next_left, _) = x_range(&h, "P(abn)");
    assert!(id_right - id_left > 120.0, "the label is the whole id ({id_left}..{id_right})");
    assert!(id_right <= next_left, "the id ({id_left}..{id_right}) runs into P(abn) at {next_left}");
}

#[test]
fn a_row_shows_its_calls_and_a_finding_sets_its_ancestors() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    h.state_mut().settings.auto_advance = false;
    open_typed(&mut h, &folder);
    // 2 is the second L3 finding (teeth, under craniofacial).
    h.key_press(Key::Num2);
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    let i = ws.selected.unwrap();
    assert_eq!(ws.call(i, "teeth"), Some(Call::Abnormal));
    assert_eq!(ws.call(i, "craniofacial"), Some(Call::Abnormal));
    assert_eq!(ws.call(i, "abnormal"), Some(Call::Abnormal));
    assert_eq!(ws.status(i), Status::ConfirmedAbnormal);
    assert!(h.query_by_label("abnormal: Mandibles and teeth").is_some(), "the row names its call");
    // Hovering it names every call, who made the last change, and when.
    h.get_by_label("abnormal: Mandibles and teeth").hover();
    h.run_steps(6);
    assert!(h.query_by_label_contains("Mandibles and teeth: abnormal").is_some(), "every call");
    assert!(h.query_all_by_label_contains("by tester").count() >= 2, "who called it, in the row too");
}

#[test]
fn the_findings_panel_puts_each_finding_under_its_own_group() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    let y = |label: &str| h.get_by_label_contains(label).rect().min.y;
    // Skull shape and teeth under Craniofacial, before Axial; digits under Appendicular last.
    assert!(y("Craniofacial") < y("Skull shape") && y("Mandibles and teeth") < y("Axial skeleton"));
    assert!(y("Axial skeleton") < y("Scoliosis") && y("Pelvis") < y("Appendicular skeleton"));
    assert!(y("Appendicular skeleton") < y("Polysyndactyly"));
}

#[test]
fn enter_submits_the_typed_path_and_help_closes_with_esc_or_question_mark() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::O);
    h.run_steps(2);
    h.get_by_label("Folder path").focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    h.get_by_label("Folder path").type_text(folder.to_str().unwrap());
    h.run_steps(1);
    h.key_press(Key::Enter);
    h.run_steps(2);
    step_until(&mut h, "the scan", |a| a.workspace.is_some());

    for close in [Key::Escape, Key::Questionmark] {
        h.key_press(Key::Questionmark);
        h.run_steps(2);
        assert_eq!(h.state().dialog, mousexray::gui::Dialog::Help);
        // Keys by their symbols, every shortcut of a command, and the pointer's gestures.
        assert!(h.query_by_label("? or F1").is_some(), "help names the key ?");
        assert!(h.query_by_label("Ctrl+Q").is_some(), "help lists Ctrl+Q");
        assert!(h.query_by_label_contains("Questionmark").is_none());
        assert!(h.query_by_label("Double-click a film").is_some());
        // A finding's key names the finding it toggles.
        assert!(h.query_by_label("Toggle finding 4: Kyphosis").is_some(), "the 4 key names kyphosis");
        h.key_press(close);
        h.run_steps(2);
        assert_eq!(h.state().dialog, mousexray::gui::Dialog::None, "{close:?} closes the help");
    }
}

#[test]
fn key_presses_between_frames_are_all_counted() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    let order = h.state().worklist.order.clone();
    let ws = h.state().workspace.as_ref().unwrap();
    let start = order.iter().position(|&i| Some(i) == ws.selected).unwrap();
    // Three presses of J within one frame (a held key, a fast hand): three specimens on.
    for _ in 0..3 {
        h.key_press(Key::J);
    }
    h.run_steps(1);
    assert_eq!(h.state().workspace.as_ref().unwrap().selected, order.get(start + 3).copied());
}

#[test]
fn the_side_panels_fold_away_and_the_films_get_the_room() {
    let (_dir, folder) = sample();
    let mut h = harness_sized(settings(), 1024.0, 768.0);
    open_typed(&mut h, &folder);
    let dv_area = |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| {
        h.state().viewer.panels[0].shown_rect.map_or(0.0, |r| r.area())
    };
    assert!(h.query_by_label("Search").is_some());
    let with_panels = dv_area(&h);
    assert!(with_panels > 250.0 * 250.0, "at 1024x768 each film still gets {with_panels} square points");
    h.key_press(Key::M);
    h.run_steps(3);
    assert!(h.query_by_label("Search").is_none(), "films only hides the worklist");
    assert!(h.query_by_label("Comment").is_none(), "and the findings");
    assert!(dv_area(&h) > 1.5 * with_panels, "{} vs {with_panels}", dv_area(&h));
    h.key_press(Key::M);
    h.run_steps(3);
    assert!(h.query_by_label("Search").is_some() && h.query_by_label("Comment").is_some());
    h.key_press(Key::OpenBracket);
    h.run_steps(3);
    assert!(h.query_by_label("Search").is_none() && h.query_by_label("Comment").is_some());
}

#[test]
fn right_drag_moves_window_level_by_the_films_own_range() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    step_until(&mut h, "the DV film", |a| a.viewer.panels[0].shown_window.is_some());
    let before = h.state().viewer.panels[0].shown_window.unwrap();
    let r = h.state().viewer.panels[0].shown_rect.unwrap();
    let start = r.center();
    let button = egui::PointerButton::Secondary;
    h.event(egui::Event::PointerMoved(start));
    h.event(egui::Event::PointerButton { pos: start, button, pressed: true, modifiers: Default::default() });
    h.run_steps(1);
    // A 120-point drag to the right, in small steps as a hand makes it.
    for k in 1..=12 {
        h.event(egui::Event::PointerMoved(start + egui::vec2(10.0 * k as f32, 0.0)));
        h.run_steps(1);
    }
    let end = start + egui::vec2(120.0, 0.0);
    h.event(egui::Event::PointerButton { pos: end, button, pressed: false, modifiers: Default::default() });
    h.run_steps(2);
    let after = h.state().viewer.panels[0].shown_window.unwrap();
    let grown = (after.width - before.width) / before.width;
    // Wider, but by a fraction of the film's range, not to white.
    assert!(grown > 0.1 && grown < 0.6, "width {} -> {} ({grown:.2})", before.width, after.width);
    assert!((after.center - before.center).abs() < 1e-6);
    // F6 (bone) and F5 (auto) from the keyboard.
    h.key_press(Key::F6);
    h.run_steps(2);
    assert_ne!(h.state().viewer.panels[0].shown_window.unwrap(), after);
    h.key_press(Key::F5);
    h.run_steps(2);
    assert_eq!(h.state().viewer.panels[0].shown_window.unwrap(), before);
}

#[test]
fn a_restart_comes_back_to_the_last_specimen_and_the_models_thresholds() {
    let (_dir, folder) = sample();
    let s = settings_with_model();
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    let thresholds = h.state().model.thresholds.clone();
    assert!(thresholds.iter().any(|t| (t - 0.5).abs() > 1e-3), "the model's own thresholds: {thresholds:?}");
    h.get_by_label("Specimen").click();
    h.run_steps(2);
    h.get_by_label("MX00017").click();
    h.run_steps(2);
    h.state_mut().on_exit();
    // What the shell persists on closing.
    let saved = h.state().persisted_settings();
    drop(h);

    let mut h = harness(saved);
    open_typed(&mut h, &folder);
    let app = h.state();
    assert_eq!(app.workspace.as_ref().unwrap().selected_specimen().unwrap().id, "MX00017");
    assert_eq!(app.worklist.sort, mousexray::gui::SortColumn::Id, "the sort persists");
    assert!(app.model.info.is_none(), "no model loaded yet");
    assert_eq!(app.model.thresholds, thresholds, "ticks at the thresholds the scores were flagged with");
}

#[test]
fn opening_an_empty_folder_writes_nothing_and_is_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "not a film").unwrap();
    let mut h = harness(settings());
    open_typed(&mut h, &empty);
    assert!(h.state().workspace.is_none());
    assert!(h.state().banners.iter().any(|b| b.error && b.text.contains("no specimens")));
    assert!(!empty.join(".mousexray").exists(), "no sidecar or lock in a folder with nothing to review");
    assert!(h.state().settings.recent_folders.is_empty(), "not among the recent folders");
}

#[test]
fn rotation_and_mirror_say_so_and_reset() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    assert!(h.query_by_label("Reset orientation").is_none());
    h.key_press(Key::R);
    h.key_press(Key::H);
    h.run_steps(2);
    assert!(h.query_by_label("rotated 90°, mirrored").is_some());
    h.key_press(Key::J);
    h.run_steps(2);
    assert!(h.query_by_label("rotated 90°, mirrored").is_some(), "still said on the next specimen");
    h.get_by_label("Reset orientation").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("rotated").is_none());
    assert_eq!(h.state().viewer.orientation, Default::default());
}

#[test]
fn the_saliency_says_what_it_shows_and_the_films_do_not_jump() {
    let (_dir, folder) = sample();
    let s = settings_with_model();
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    step_until(&mut h, "the DV film", |a| a.viewer.panels[0].shown_rect.is_some());
    let before = h.state().viewer.panels[0].shown_rect;
    h.key_press(Key::O);
    h.run_steps(2);
    assert_eq!(h.state().viewer.panels[0].shown_rect, before, "the overlay's controls do not move the films");
    assert!(h.query_by_label("no map").is_some(), "no map is said, not left blank");
    classify_all(&mut h);
    // The top finding's map, or, where the model flags no finding on this specimen, the map of
    // the class the reviewer chooses.
    if h.query_by_label("no map").is_some() {
        let ws = h.state().workspace.as_ref().unwrap();
        let scored = ws.results[ws.selected.unwrap()].as_ref().unwrap();
        assert!(scored.scores.top_finding(&mousexray::taxonomy::Taxonomy::default()).is_none());
        h.state_mut().viewer.overlay_class = Some(0);
        h.run_steps(2);
    }
    assert!(h.query_by_label("no map").is_none());
    assert!(h.query_by_label("weak").is_some() && h.query_by_label("strong").is_some(), "a legend");
    assert!(h.query_by_label("Saliency for").is_some(), "names the class it shows");
    assert_eq!(h.state().settings.colormap, mousexray::inference::saliency::Colormap::Viridis);
}

#[test]
fn messages_do_not_pile_up_or_move_the_films_and_a_cpu_build_does_not_complain() {
    let (_dir, folder) = sample();
    let s = settings_with_model();
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    step_until(&mut h, "the DV film", |a| a.viewer.panels[0].shown_rect.is_some());
    h.state_mut().banners.clear();
    h.run_steps(2);
    let before = h.state().viewer.panels[0].shown_rect;
    for k in 0..7 {
        let b = mousexray::gui::Banner::error(format!("problem {k}"));
        h.state_mut().banners.push(b);
    }
    h.run_steps(3);
    assert_eq!(h.state().viewer.panels[0].shown_rect, before, "messages float over the films");
    assert!(h.query_by_label("problem 6").is_some() && h.query_by_label("problem 3").is_none(), "the newest three");
    h.get_by_label("dismiss all 7 messages").click();
    h.run_steps(2);
    assert!(h.state().banners.is_empty());
    // The provider is named; a build without CUDA is not an error to show.
    assert!(h.query_by_label_contains("not enabled in this build").is_none());
    assert!(h.query_by_label("on CPU").is_some());
}

#[test]
fn batch_calls_why_flagged_and_shift_digit_for_a_normal_finding() {
    let (_dir, folder) = sample();
    let mut s = settings_with_model();
    s.auto_advance = false;
    let mut h = harness(s);
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    // The first row is the most abnormal: it says why, finding by finding.
    h.key_press(Key::Home);
    h.run_steps(2);
    assert!(h.query_all_by_label_contains("flagged: ").count() >= 1, "why flagged");
    // Shift+3: the third finding called normal (and again: cleared).
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::Num3);
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!(ws.call(ws.selected.unwrap(), "scoliosis"), Some(Call::Normal));
    assert_eq!(ws.call(ws.selected.unwrap(), "kyphosis"), None, "not the plain digit's toggle too");
    h.key_press(Key::Z);
    h.run_steps(1);

    let ws = h.state().workspace.as_ref().unwrap();
    let expected = ws.unflagged_unreviewed(&h.state().worklist.order);
    assert!(!expected.is_empty(), "the sample has unflagged specimens");
    h.get_by_label("Review").click();
    h.run_steps(2);
    h.get_by_label("Call all unflagged normal…").click();
    // The click queues the command; the dialog opens after it, and shows the frame after.
    h.run_steps(4);
    assert!(h.query_by_label_contains("an unflagged specimen can be abnormal").is_some(), "the dialog warns");
    h.get_by_label(&format!("Call {} normal", expected.len())).click();
    h.run_steps(3);
    let ws = h.state().workspace.as_ref().unwrap();
    assert!(expected.iter().all(|&i| ws.status(i) == Status::Normal));
    assert!(
        ws.results.iter().enumerate().all(|(i, r)| {
            let flagged = r.as_ref().is_some_and(|r| r.scores.abnormal());
            !flagged || ws.status(i) == Status::Unreviewed
        }),
        "no flagged specimen is touched"
    );
    // One undo takes the whole batch back.
    h.key_press(Key::Z);
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    assert!(expected.iter().all(|&i| ws.status(i) == Status::Unreviewed));
}

#[test]
fn the_first_launch_asks_who_is_reviewing_and_records_it() {
    let (_dir, folder) = sample();
    let s = mousexray::gui::Settings { reviewer_confirmed: false, reviewer: String::new(), ..settings() };
    let mut h = harness(s);
    h.run_steps(3);
    assert!(h.query_by_label("Who is reviewing?").is_some());
    h.get_by_label("Reviewer name").focus();
    h.get_by_label("Reviewer name").type_text("Ana Ruiz");
    h.run_steps(1);
    h.get_by_label("Start reviewing").click();
    h.run_steps(2);
    assert!(h.state().settings.reviewer_confirmed && h.state().settings.reviewer == "Ana Ruiz");
    assert!(h.query_by_label("reviewer Ana Ruiz").is_some(), "shown in the status bar");
    open_typed(&mut h, &folder);
    h.key_press(Key::A);
    h.run_steps(2);
    let review = h.state().workspace.as_ref().unwrap().review.as_ref().unwrap();
    assert!(review.state.specimens.values().any(|r| r.reviewer == "Ana Ruiz"));
}

#[test]
fn ctrl_and_shift_click_mark_rows_and_n_calls_them_all_normal() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    h.get_by_label("Specimen").click();
    h.run_steps(2);
    h.get_by_label("MX00002").click();
    h.run_steps(2);
    h.get_by_label("MX00005").click_modifiers(egui::Modifiers::SHIFT);
    h.run_steps(2);
    h.get_by_label("MX00009").click_modifiers(egui::Modifiers::COMMAND);
    h.run_steps(2);
    assert!(h.query_by_label("5 marked: N calls them normal (one undo)").is_some());
    h.key_press(Key::N);
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    let status = |id: &str| ws.status(ws.specimens().iter().position(|s| s.id == id).unwrap());
    for id in ["MX00002", "MX00003", "MX00004", "MX00005", "MX00009"] {
        assert_eq!(status(id), Status::Normal, "{id}");
    }
    assert_eq!(status("MX00006"), Status::Unreviewed);
    assert!(h.state().worklist.marked.is_empty());
    h.key_press(Key::Z);
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    assert!(ws.specimens().iter().enumerate().all(|(i, _)| ws.status(i) == Status::Unreviewed), "one undo");
}

#[test]
fn at_1024_the_worklist_keeps_the_reviewers_status_in_view() {
    let (_dir, folder) = sample();
    let mut h = harness_sized(settings(), 1024.0, 768.0);
    open_typed(&mut h, &folder);
    let search = h.get_by_label("Search").rect();
    let status = h.get_by_label("Status").rect();
    // The list's panel ends about where its search field does.
    assert!(status.max.x <= search.max.x + 16.0, "Status header at {:?}, list ends near {}", status, search.max.x);
    // Narrow, the list turns compact: Views, Flag and Top finding go (the QC badge sits by the
    // id, the flag colours P(abn), the top finding is in its tooltip), so Status reads whole.
    for gone in ["Views", "Flag", "Top finding"] {
        assert!(h.query_by_label(gone).is_none(), "{gone} in a compact list");
    }
    assert!(search.max.x + 16.0 - status.min.x >= 80.0, "Status column from {} to {}", status.min.x, search.max.x);
    // At the window's first size the compact list keeps the top finding.
    let mut h = harness_sized(settings(), 1400.0, 860.0);
    open_typed(&mut h, &folder);
    assert!(h.query_by_label("Top finding").is_some(), "the top finding at 1400");
    for gone in ["Views", "Flag"] {
        assert!(h.query_by_label(gone).is_none(), "{gone} at 1400");
    }
    // With room, every column is there.
    let mut h = harness_sized(settings(), 1920.0, 1080.0);
    open_typed(&mut h, &folder);
    for header in ["Views", "Flag", "Top finding"] {
        assert!(h.query_by_label(header).is_some(), "{header} with room");
    }
}

/// Model > Improve with my reviews: fine-tunes the model on the folder's decisions on a thread
/// while the window stays live, can be cancelled without writing anything, shows old against
/// new on the held-out fifth, and switches to the new model only when asked.
#[test]
fn improve_with_my_reviews_fine_tunes_compares_and_switches_when_asked() {
    let (dir, folder) = sample();
    mousexray::synth::write_review(&folder, 24).unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let parent = models.join("cae_mv.onnx");
    std::fs::copy("models/cae_mv.onnx", &parent).unwrap();
    let mut h = harness(mousexray::gui::Settings { model: Some(parent.clone()), ..settings() });
    open_typed(&mut h, &folder);
    let open_improve = |h: &mut egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| {
        h.get_by_label("Model").click();
        h.run_steps(3);
        h.get_by_label("Improve with my reviews…").click();
        h.run_steps(4);
    };
    open_improve(&mut h);
    assert!(h.query_by_label_contains("on the 24 specimens of this folder you have decided").is_some());

    // Cancelled: a notice says so and nothing is written.
    h.get_by_label("Start fine-tuning").click();
    h.run_steps(2);
    assert!(h.state().tasks.improve.running());
    h.get_by_label("Cancel").click();
    step_until(&mut h, "the cancel", |a| !a.tasks.improve.running());
    assert!(h.state().tasks.improve.outcome.is_none());
    assert!(h.state().banners.iter().any(|b| b.text.contains("cancelled; nothing was written")));
    assert_eq!(std::fs::read_dir(&models).unwrap().count(), 1, "a cancelled run writes nothing");

    // Run to the end; the window answers keys meanwhile.
    h.get_by_label("Start fine-tuning").click();
    h.run_steps(2);
    let first = h.state().workspace.as_ref().unwrap().selected;
    h.key_press(Key::J);
    h.run_steps(2);
    assert_ne!(h.state().workspace.as_ref().unwrap().selected, first, "the worklist moves while the model trains");
    step_until(&mut h, "fine-tuning", |a| !a.tasks.improve.running());
    let improved = match &h.state().tasks.improve.outcome {
        Some(Ok(r)) => r.clone(),
        other => panic!("{:?}", other.as_ref().map(|r| r.as_ref().map(|r| r.model.clone()))),
    };
    assert!(improved.held_out > 0 && improved.trained + improved.held_out == 24);
    assert!(improved.before.calls > 0 && improved.before.calls == improved.after.calls);
    // The window stayed open through the run, and now compares.
    assert!(h.query_by_label_contains("cae_mv.onnx (current)").is_some());
    assert!(h.query_by_label_contains("(new)").is_some());
    assert_eq!(h.state().settings.model.as_deref(), Some(parent.as_path()), "the current model stays until chosen");

    h.get_by_label("Use the new model").click();
    step_until(&mut h, "the new model", |a| a.model.info.as_ref().is_some_and(|i| i.path != parent));
    assert_eq!(h.state().settings.model.as_deref(), Some(improved.model.as_path()));
    assert_eq!(improved.model.parent(), Some(models.as_path()), "written beside the old model");
    assert!(improved.model.file_name().unwrap().to_string_lossy().starts_with("cae_mv-improved-"));
}

/// A left click (press and release without moving) at `pos`.
fn click_at(h: &mut egui_kittest::Harness<'_, mousexray::gui::ReviewApp>, pos: egui::Pos2) {
    let button = egui::PointerButton::Primary;
    h.event(egui::Event::PointerMoved(pos));
    h.event(egui::Event::PointerButton { pos, button, pressed: true, modifiers: Default::default() });
    h.run_steps(1);
    h.event(egui::Event::PointerButton { pos, button, pressed: false, modifiers: Default::default() });
    h.run_steps(2);
}

#[test]
fn distances_calibrate_on_the_ruler_mark_the_tibia_and_a_finding_undo_and_export() {
    use mousexray::review::{
        MeasureKind,
        measurement::{TIBIA_LENGTH, ruler_scale},
    };
    let (dir, folder) = sample();
    // Tall enough for the findings panel to show its measurement list without scrolling.
    let mut h = harness_sized(settings(), 1400.0, 1200.0);
    open_typed(&mut h, &folder);
    step_until(&mut h, "the DV film", |a| a.viewer.panels[0].shown_window.is_some());
    let measurements = |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| {
        let ws = h.state().workspace.as_ref().unwrap();
        ws.selected.and_then(|i| ws.review_of(i)).map(|r| r.measurements.clone()).unwrap_or_default()
    };
    let centre = h.state().viewer.panels[0].shown_rect.unwrap().center();
    let (a, b) = (centre - egui::vec2(60.0, 40.0), centre + egui::vec2(60.0, 40.0));

    // D, then both ends: a distance, in pixels while the folder has no scale.
    h.key_press(Key::D);
    h.run_steps(2);
    assert!(h.state().viewer.measure.is_some(), "D starts the distance tool");
    click_at(&mut h, a);
    assert!(measurements(&h).is_empty(), "one end is not a distance yet");
    click_at(&mut h, b);
    let list = measurements(&h);
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].kind, list[0].view), (MeasureKind::Distance, mousexray::specimen::View::Dv));
    let px = list[0].length_px().unwrap();
    assert!(px > 50.0, "{px} px");
    assert!(h.query_by_label(&format!("1 DV Distance: {px:.0} px (no scale)")).is_some());

    // Calibrate along the same line as if it spanned 10 mm of the ruler: the distance is then 10 mm.
    h.get_by_label("Calibrate on ruler").click();
    h.run_steps(2);
    click_at(&mut h, a);
    click_at(&mut h, b);
    h.run_steps(2);
    assert!(h.query_by_label("Calibrate on the ruler").is_some(), "the length is asked");
    h.get_by_label("Length (mm)").type_text("10");
    h.run_steps(2);
    h.get_by_label("Set the scale").click();
    h.run_steps(4);
    let list = measurements(&h);
    assert_eq!(list.len(), 2);
    assert_eq!((list[1].kind, list[1].known_mm), (MeasureKind::Calibration, Some(10.0)));
    let scale = ruler_scale(&h.state().workspace.as_ref().unwrap().review.as_ref().unwrap().state).unwrap();
    assert!((scale.mm_per_px - 10.0 / px).abs() < 1e-9 && scale.source.ends_with("DV"), "{scale:?}");
    assert!(h.query_by_label("1 DV Distance: 10.00 mm").is_some());

    // Marked as the tibia, one undo step each way.
    h.get_by_label("tibia").click();
    h.run_steps(3);
    assert_eq!(measurements(&h)[0].parameter.as_deref(), Some(TIBIA_LENGTH));
    h.key_press(Key::Escape);
    h.key_press(Key::Z);
    h.run_steps(3);
    assert_eq!(measurements(&h)[0].parameter, None, "Z undoes the tibia mark");
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::Z);
    h.run_steps(3);
    assert_eq!(measurements(&h)[0].parameter.as_deref(), Some(TIBIA_LENGTH));

    // T, an arrow on the LV, and the finding it shows: drawn for the next reader, exported.
    h.key_press(Key::Escape);
    h.key_press(Key::T);
    h.run_steps(2);
    let lv = h.state().viewer.panels[1].shown_rect.unwrap().center();
    click_at(&mut h, lv - egui::vec2(50.0, 50.0));
    click_at(&mut h, lv);
    h.run_steps(2);
    h.get_by_label("Kyphosis").click();
    h.run_steps(4);
    let list = measurements(&h);
    assert_eq!((list[2].kind, list[2].finding.as_deref()), (MeasureKind::Mark, Some("kyphosis")));
    assert!(h.query_by_label("3 LV Mark: Kyphosis").is_some());

    // Shift+T, a region on the DV, and its finding.
    h.key_press(Key::Escape);
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::T);
    h.run_steps(2);
    click_at(&mut h, a);
    click_at(&mut h, b);
    h.run_steps(2);
    assert!(h.query_by_label("Which finding does the region show?").is_some());
    h.get_by_label("Pelvis").click();
    h.run_steps(4);
    let list = measurements(&h);
    assert_eq!((list[3].kind, list[3].finding.as_deref()), (MeasureKind::Region, Some("pelvis")));
    assert!(h.query_by_label("4 DV Region: Pelvis").is_some());

    // The same point twice measures nothing: refused, with a notice.
    h.key_press(Key::Escape);
    h.key_press(Key::D);
    h.run_steps(2);
    click_at(&mut h, a);
    click_at(&mut h, a);
    h.run_steps(2);
    assert_eq!(measurements(&h).len(), 4);
    assert!(h.state().banners.iter().any(|b| b.text.contains("points coincide")));
    // A distance begun on one specimen and ended on the next is neither's.
    let first = h.state().workspace.as_ref().unwrap().selected;
    click_at(&mut h, a);
    h.key_press(Key::J);
    h.run_steps(3);
    assert_ne!(h.state().workspace.as_ref().unwrap().selected, first);
    click_at(&mut h, b);
    h.run_steps(2);
    assert!(measurements(&h).is_empty(), "one click on this specimen is not a distance");
    h.key_press(Key::Escape);
    h.key_press(Key::K);
    h.run_steps(3);
    assert_eq!(h.state().workspace.as_ref().unwrap().selected, first);
    assert_eq!(measurements(&h).len(), 4);

    // The export carries the measurements and the tibia length in millimetres.
    let out = dir.path().join("review.csv");
    export_via_dialog(&mut h, &out);
    let csv = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let id = &h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().id;
    let row: Vec<&str> = csv.lines().find(|l| l.starts_with(id.as_str())).unwrap().split(',').collect();
    assert_eq!(row[col("tibia_length_mm")], "10.000", "{csv}");
    assert_eq!(
        row[col("measurements")],
        "DV tibia 10.00 mm; DV calibration 10.00 mm; LV mark kyphosis; DV region pelvis"
    );
}

#[test]
fn the_contact_sheet_selects_marks_opens_and_shows_a_colony_beside_its_controls() {
    let (_dir, folder) = sample();
    // Short steps: kittest runs a frame per pointer event, and two clicks make a double click
    // only within 0.3 s.
    let app = mousexray::gui::ReviewApp::new(settings(), Default::default());
    let mut h = egui_kittest::Harness::builder()
        .with_size(egui::vec2(1400.0, 860.0))
        .with_step_dt(0.05)
        .build_ui_state(|ui, app: &mut mousexray::gui::ReviewApp| app.ui(ui), app);
    open_typed(&mut h, &folder);
    h.get_by_label("Specimen").click();
    h.run_steps(2);
    h.key_press(Key::V);
    h.run_steps(2);
    assert!(h.state().settings.view.contact_sheet);
    assert!(h.query_by_label("Back to the films (V)").is_some());
    // The listed specimens have cells in the worklist's order (rows out of view are not drawn);
    // their thumbnails arrive.
    assert!(h.query_by_label("MX00000 thumbnails").is_some());
    assert!(h.query_by_label("MX00023 thumbnails").is_none(), "the last row is out of view");
    step_until(&mut h, "thumbnails", |app| app.sheet.shown() >= 8 && !app.sheet.busy());
    let ws = h.state().workspace.as_ref().unwrap();
    let index = |id: &str| ws.specimens().iter().position(|s| s.id == id).unwrap();
    let (i5, i9) = (index("MX00005"), index("MX00009"));
    h.get_by_label("MX00005 thumbnails").click();
    h.run_steps(2);
    assert_eq!(h.state().workspace.as_ref().unwrap().selected, Some(i5));
    h.get_by_label("MX00009 thumbnails").click_modifiers(egui::Modifiers::COMMAND);
    h.run_steps(2);
    assert_eq!(h.state().worklist.marked.iter().copied().collect::<Vec<_>>(), {
        let mut v = vec![i5, i9];
        v.sort_unstable();
        v
    });
    h.key_press(Key::N);
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!((ws.status(i5), ws.status(i9)), (Status::Normal, Status::Normal));
    // A double click opens the specimen's films.
    h.run_steps(10);
    h.get_by_label("MX00002 thumbnails").click();
    h.get_by_label("MX00002 thumbnails").click();
    h.run_steps(2);
    assert!(!h.state().settings.view.contact_sheet, "a double click goes back to the films");
    assert_eq!(h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().id, "MX00002");
    // The colony view: MX00006 (SKL4-TM1B, male heterozygote) beside the male controls of its centre.
    h.get_by_label("MX00006").click();
    h.run_steps(2);
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::V);
    h.run_steps(3);
    assert!(h.state().settings.view.contact_sheet && h.state().settings.view.colony);
    assert!(h.query_by_label("Colony SKL4-TM1B").is_some());
    assert!(h.query_by_label("male heterozygote, Phantom Centre South: 1 mutant").is_some());
    assert!(h.query_by_label("female homozygote, Phantom Centre North: 1 mutant").is_some());
    assert!(h.query_by_label("3 matched controls (male, Phantom Centre South, same strain)").is_some());
    for id in ["MX00003", "MX00015", "MX00023"] {
        assert!(h.query_by_label(&format!("{id} thumbnails")).is_some(), "{id} is a matched control");
    }
    assert!(h.query_by_label("MX00005 thumbnails").is_none(), "another colony is not shown");
    // Back to the list: after a new sort the selection is brought back into view.
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::V);
    h.run_steps(2);
    let last = *h.state().worklist.order.last().unwrap();
    h.state_mut().select(last);
    h.run_steps(3);
    let id = h.state().workspace.as_ref().unwrap().specimens()[last].id.clone();
    assert!(h.query_by_label(&format!("{id} thumbnails")).is_some(), "J, K or a click elsewhere scrolls to it");
    h.get_by_label("Specimen ^").click();
    h.run_steps(4);
    assert!(h.query_by_label(&format!("{id} thumbnails")).is_some(), "re-sorted, it is still in view");
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::V);
    h.run_steps(2);
    // Both are remembered.
    let saved = h.state().persisted_settings();
    assert!(saved.view.contact_sheet && saved.view.colony);
    h.key_press(Key::V);
    h.run_steps(2);
    assert!(!h.state().settings.view.contact_sheet);
}

#[test]
fn head_up_turns_each_film_so_the_head_is_up_and_the_reviewers_turns_come_on_top() {
    let (_dir, folder) = sample();
    // A specimen whose DV lies head right or head down, by the same finder the window uses.
    let turns_of = |path: &std::path::Path| {
        let image = mousexray::imaging::decode(path, &Default::default()).unwrap();
        let (small, _) = mousexray::imaging::shrink16(&image, mousexray::gui::AXIS_SIDE);
        mousexray::imaging::body_axis(&small).map(|a| a.head_up_turns())
    };
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    let ws = h.state().workspace.as_ref().unwrap();
    let (index, turns) = ws
        .specimens()
        .iter()
        .enumerate()
        .find_map(|(i, s)| turns_of(s.dv().unwrap()).filter(|&t| t != 0).map(|t| (i, t)))
        .expect("the sample has a film that is not head up");
    h.state_mut().select(index);
    h.run_steps(2);
    let shown = |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| h.state().viewer.panels[0].shown_orientation;
    step_until(&mut h, "the DV film", |app| app.viewer.panels[0].shown_orientation.is_some());
    assert_eq!(shown(&h).unwrap().quarter_turns, 0, "as stored until asked");
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::H);
    h.run_steps(2);
    assert_eq!(shown(&h).unwrap().quarter_turns, turns, "head up");
    h.key_press(Key::R);
    h.run_steps(2);
    assert_eq!(shown(&h).unwrap().quarter_turns, (turns + 1) % 4, "the reviewer's turn on top");
    assert!(h.state().persisted_settings().view.head_up, "remembered");
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::H);
    h.run_steps(2);
    assert_eq!(shown(&h).unwrap().quarter_turns, 1, "off: the reviewer's turn alone");
}

#[test]
fn a_blinded_second_reading_is_kept_apart_and_compared_once_decided() {
    let (_dir, folder) = sample();
    let mut h = harness(settings_with_model());
    open_typed(&mut h, &folder);
    classify_all(&mut h);
    let scored = |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| {
        h.state().workspace.as_ref().unwrap().results.iter().filter(|r| r.is_some()).count()
    };
    assert_eq!(scored(&h), 24);
    let index = |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>, id: &str| {
        h.state().workspace.as_ref().unwrap().specimens().iter().position(|s| s.id == id).unwrap()
    };
    let i5 = index(&h, "MX00005");
    h.state_mut().settings.auto_advance = false;
    h.state_mut().select(i5);
    h.run_steps(2);
    h.key_press(Key::A);
    h.run_steps(2);
    assert_eq!(h.state().workspace.as_ref().unwrap().status(i5), Status::ConfirmedAbnormal);
    h.state_mut().decide(&mousexray::review::Decision::Comment("first reader's note".into()));
    // Away and back: the comment box shows the recorded comment.
    h.state_mut().select(0);
    h.run_steps(2);
    h.state_mut().select(i5);
    h.run_steps(2);
    assert_eq!(h.state().comment.1, "first reader's note");
    // Review > Second reading (blind).
    h.get_by_label("Review").click();
    h.run_steps(3);
    h.get_by_label("Second reading (blind)").click();
    h.run_steps(3);
    assert!(h.state().settings.second_reading);
    // The second reader is asked their name, beside the first reader's; Esc keeps the one set.
    assert!(h.query_by_label("Who is the second reader?").is_some());
    assert!(h.query_by_label("First reading by tester.").is_some());
    h.key_press(Key::Escape);
    h.run_steps(3);
    assert!(h.query_by_label("Who is the second reader?").is_none());
    assert_eq!(h.state().settings.reviewer, "tester");
    assert!(h.query_by_label("second reading (blind)").is_some(), "the status bar says so");
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!(ws.status(i5), Status::Unreviewed, "the first reader's call is hidden");
    assert_eq!(h.state().comment.1, "", "and so is the first reader's comment");
    assert!(h.query_by_label("The first reading stays hidden until you decide this specimen.").is_some());
    h.key_press(Key::N);
    h.run_steps(3);
    assert_eq!(h.state().workspace.as_ref().unwrap().status(i5), Status::Normal);
    assert!(h.query_by_label("First reading by tester: abnormal. You differ:").is_some());
    assert!(h.query_by_label("The same reviewer made both readings (Settings changes the name).").is_some());
    assert!(h.query_by_label("status: abnormal (first) / normal (you)").is_some());
    assert!(h.query_by_label("Abnormal skeleton: abnormal (first) / normal (you)").is_some());
    // Stored apart, each reading intact.
    let second = mousexray::review::read_reading(&folder, mousexray::review::Reading::Second).0;
    assert_eq!(second.get("MX00005").unwrap().status, Status::Normal);
    assert!(folder.join(".mousexray/second-reading").is_dir());
    h.get_by_label("Review").click();
    h.run_steps(3);
    h.get_by_label("Second reading (blind)").click();
    h.run_steps(3);
    assert!(!h.state().settings.second_reading);
    assert_eq!(
        h.state().workspace.as_ref().unwrap().status(i5),
        Status::ConfirmedAbnormal,
        "the first reading is untouched"
    );
    let first = mousexray::review::read_review(&folder).0;
    assert_eq!(first.get("MX00005").unwrap().status, Status::ConfirmedAbnormal);
    assert_eq!(h.state().comment.1, "first reader's note");
    // A second reading started again: another reader gives their name, and their calls carry it.
    h.get_by_label("Review").click();
    h.run_steps(3);
    h.get_by_label("Second reading (blind)").click();
    h.run_steps(3);
    h.get_by_label("Reviewer name").focus();
    h.get_by_label("Reviewer name").type_text("Second Reader");
    h.run_steps(2);
    h.key_press(Key::Enter);
    h.run_steps(3);
    assert!(h.query_by_label("Who is the second reader?").is_none());
    assert_eq!(h.state().settings.reviewer, "Second Reader");
    h.state_mut().select(0);
    h.run_steps(2);
    h.key_press(Key::N);
    h.run_steps(3);
    let second = mousexray::review::read_reading(&folder, mousexray::review::Reading::Second).0;
    let first_id = h.state().workspace.as_ref().unwrap().specimens()[0].id.clone();
    assert_eq!(second.get(&first_id).unwrap().reviewer, "Second Reader");
    assert!(h.query_by_label("The same reviewer made both readings (Settings changes the name).").is_none());
    // A window started as the second reader still has the folder's classification results.
    drop(h);
    let mut h = harness(mousexray::gui::Settings { second_reading: true, ..settings_with_model() });
    open_typed(&mut h, &folder);
    assert_eq!(h.state().workspace.as_ref().unwrap().reading, mousexray::review::Reading::Second);
    assert_eq!(scored(&h), 24, "the results are the folder's, whatever the reading");
}

#[test]
fn find_the_ruler_proposes_a_ten_millimetre_line_that_sets_the_scale_once_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("ruled");
    let config =
        mousexray::synth::SynthConfig { count: 2, size: 1024, ruler_rate: 1.0, seed: 6160, ..Default::default() };
    mousexray::synth::generate(&folder, &config, &|| {}).unwrap();
    let mut h = harness_sized(settings(), 1400.0, 1200.0);
    open_typed(&mut h, &folder);
    step_until(&mut h, "the films", |app| app.viewer.panels[0].shown_orientation.is_some() && !app.busy());
    let specimen = h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().clone();
    h.get_by_label("Find the ruler").click();
    h.run_steps(2);
    step_until(&mut h, "the ruler finder", |app| matches!(app.dialog, mousexray::gui::Dialog::Calibrate { .. }));
    let mousexray::gui::Dialog::Calibrate { measurement, text, found, .. } = h.state().dialog.clone() else {
        unreachable!()
    };
    assert_eq!(text, "10");
    assert!(found.unwrap().starts_with("Found a ruler on the"));
    // The same reading as the finder gives on the film itself.
    let film = mousexray::imaging::decode(&specimen.images[&measurement.view], &Default::default()).unwrap();
    let reading = mousexray::imaging::find_ruler(&film).unwrap();
    assert!((measurement.length_px().unwrap() / 10.0 - reading.px_per_mm).abs() < 1e-6);
    h.run_steps(3);
    h.key_press(Key::Enter);
    h.run_steps(3);
    let ws = h.state().workspace.as_ref().unwrap();
    let scale = mousexray::review::measurement::ruler_scale(&ws.review.as_ref().unwrap().state).unwrap();
    assert!((scale.mm_per_px - 1.0 / reading.px_per_mm).abs() < 1e-9, "{scale:?}");
}

#[test]
fn the_click_that_closes_a_menu_places_no_point() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    step_until(&mut h, "the DV film", |a| a.viewer.panels[0].shown_window.is_some());
    let centre = h.state().viewer.panels[0].shown_rect.unwrap().center();
    let points = |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| {
        h.state().viewer.measure.as_ref().map_or(usize::MAX, |t| t.points.len())
    };
    h.key_press(Key::D);
    h.run_steps(2);
    h.get_by_label("Measure").click();
    h.run_steps(2);
    assert!(egui::Popup::is_any_open(&h.ctx), "the Measure menu is open");
    click_at(&mut h, centre);
    assert!(!egui::Popup::is_any_open(&h.ctx), "the click closed the menu");
    assert_eq!(points(&h), 0, "and placed no point");
    click_at(&mut h, centre);
    assert_eq!(points(&h), 1, "the next click does");
}

#[test]
fn undo_on_another_specimen_selects_it_and_says_so() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    let first = h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().id.clone();
    // A with auto-advance: the call is on the first specimen, the next one is shown.
    h.key_press(Key::A);
    h.run_steps(2);
    assert_ne!(h.state().workspace.as_ref().unwrap().selected_specimen().unwrap().id, first);
    h.key_press(Key::Z);
    h.run_steps(2);
    let ws = h.state().workspace.as_ref().unwrap();
    assert_eq!(ws.selected_specimen().unwrap().id, first, "the undone specimen is shown");
    assert_eq!(ws.status(ws.selected.unwrap()), Status::Unreviewed);
    assert!(h.query_by_label(&format!("undid the last change, on {first} (now selected)")).is_some());
    h.key_press(Key::Z);
    h.run_steps(2);
    assert!(h.query_by_label("nothing to undo").is_some());
}

#[test]
fn a_batch_normal_names_the_calls_it_overrules_and_a_new_folder_starts_without_the_old_search() {
    let (_dir, folder) = sample();
    let mut h = harness(settings());
    open_typed(&mut h, &folder);
    h.get_by_label("Specimen").click();
    h.run_steps(2);
    h.state_mut().settings.auto_advance = false;
    h.get_by_label("MX00002").click();
    h.run_steps(2);
    h.key_press(Key::A);
    h.run_steps(2);
    h.get_by_label("MX00003").click_modifiers(egui::Modifiers::COMMAND);
    h.run_steps(2);
    h.key_press(Key::N);
    h.run_steps(2);
    assert!(
        h.query_by_label("called 2 specimens normal, clearing the abnormal calls on MX00002 (Z undoes all of them)")
            .is_some()
    );
    h.key_press(Key::Z);
    h.run_steps(2);
    assert!(!h.state().banners.iter().any(|b| b.text.contains("called 2 specimens")), "undone: the notice goes");
    // A search hides the specimen shown, and says so; another folder starts without it.
    h.state_mut().worklist.filter.text = "MX00011".into();
    h.state_mut().worklist.invalidate();
    h.run_steps(2);
    assert!(h.query_by_label("The specimen shown is hidden by the filter").is_some());
    let (_other_dir, other) = folder_with_ids(&["a1", "a2"]);
    open_typed(&mut h, &other);
    step_until(&mut h, "the other folder", |a| a.workspace.as_ref().is_some_and(|w| w.folder == other));
    h.run_steps(2);
    assert_eq!(h.state().worklist.filter.text, "");
    assert_eq!(h.state().worklist.order.len(), 2);
}
