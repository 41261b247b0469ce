//! The review window for a day of triage, headless: rows select on their text, ids show whole
//! and sort naturally, calls stay consistent and show on their rows, the findings sit under
//! their own groups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use egui::Key;
use egui_kittest::kittest::Queryable;
use mousexray::review::{Call, Status};

mod gui_support;

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
    let long = "CENTRE_B6N_2026_MUTANT_000123";
    let (_dir, folder) = folder_with_ids(&["r1", "r10", "r2", long]);
    let mut h = harness_sized(settings(), 1024.0, 768.0);
    open_typed(&mut h, &folder);
    h.get_by_label("Specimen").click();
    h.run_steps(3);
    let ws = h.state().workspace.as_ref().unwrap();
    let order: Vec<&str> = h.state().worklist.order.iter().map(|&i| ws.specimens()[i].id.as_str()).collect();
    assert_eq!(order, ["CENTRE_B6N_2026_MUTANT_000123", "r1", "r2", "r10"]);
    // The whole id fits its column: the label ends before the next column begins.
    let (id_left, id_right) = x_range(&h, long);
    let (views_left, _) = x_range(&h, "Views");
    assert!(id_right - id_left > 150.0, "the label is the whole id");
    assert!(id_right <= views_left, "the id ({id_left}..{id_right}) runs into Views at {views_left}");
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
    let dv_width = |h: &egui_kittest::Harness<'_, mousexray::gui::ReviewApp>| {
        h.state().viewer.shown_rects[0].map_or(0.0, |r| r.width())
    };
    assert!(h.query_by_label("Search").is_some());
    let with_panels = dv_width(&h);
    assert!(with_panels > 150.0, "at 1024x768 each film still gets {with_panels} points");
    h.key_press(Key::M);
    h.run_steps(3);
    assert!(h.query_by_label("Search").is_none(), "films only hides the worklist");
    assert!(h.query_by_label("Comment").is_none(), "and the findings");
    assert!(dv_width(&h) > 2.0 * with_panels - 20.0, "{} vs {with_panels}", dv_width(&h));
    h.key_press(Key::M);
    h.run_steps(3);
    assert!(h.query_by_label("Search").is_some() && h.query_by_label("Comment").is_some());
    h.key_press(Key::OpenBracket);
    h.run_steps(3);
    assert!(h.query_by_label("Search").is_none() && h.query_by_label("Comment").is_some());
}
