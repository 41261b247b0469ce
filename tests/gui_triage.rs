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
