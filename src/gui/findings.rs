//! The right panel: the taxonomy as a tree with probability bars, thresholds and flags; the
//! reviewer's calls, status, QC reason and comment; the specimen's metadata; the first reading
//! beside a second; measurements.

use egui::{Color32, RichText, Sense, Ui, vec2};

use super::command_handling::AppCommand;
use super::images::ImageCache;
use super::workspace::Workspace;
use crate::imaging::QcCode;
use crate::review::{Call, Decision, QcReason, Status};
use crate::taxonomy::{Level, Taxonomy};

/// What the panel asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum FindingsAction {
    /// Apply a decision to the selected specimen.
    Decide(Decision),
    /// Show this class's saliency.
    ShowClass(usize),
}

/// The review QC status that matches a film QC finding.
pub fn qc_reason(code: QcCode) -> QcReason {
    match code {
        QcCode::NoAnimal => QcReason::NoMouse,
        QcCode::ViewSwapped => QcReason::WrongView,
        QcCode::NotWholeBody | QcCode::MultipleAnimals => QcReason::BadPositioning,
    }
}

/// What film QC found on the selected specimen, and the matching QC status to accept.
fn film_qc(ui: &mut Ui, ws: &Workspace, i: usize, status: Status, actions: &mut Vec<FindingsAction>) {
    let found = ws.film_qc_of(i);
    if found.is_empty() {
        return;
    }
    for (view, code) in &found {
        let left_out = if code.excludes_view() { " (not scored)" } else { "" };
        let text = format!("Film QC {}: {}{left_out}", view.as_str().to_uppercase(), code.explain());
        ui.label(RichText::new(text).color(ui.visuals().warn_fg_color));
    }
    let mut reasons: Vec<QcReason> = found.iter().map(|(_, c)| qc_reason(*c)).collect();
    reasons.dedup();
    ui.horizontal_wrapped(|ui| {
        for q in reasons {
            if status != Status::QcProblem(q)
                && ui.button(format!("Set {}", super::worklist::status_text(Status::QcProblem(q)))).clicked()
            {
                actions.push(FindingsAction::Decide(Decision::Qc(q)));
            }
        }
    });
}

/// What the findings panel shows.
pub struct PanelInput<'a> {
    /// The open folder, its selection and review.
    pub ws: &'a Workspace,
    /// The taxonomy in use.
    pub taxonomy: &'a Taxonomy,
    /// SHA-256 of the loaded model, if any: a result of another model says so.
    pub loaded_model: Option<&'a str>,
    /// The class whose saliency is shown, if any.
    pub saliency_class: Option<usize>,
}

/// The findings panel: the selected specimen's findings and calls ([`show`]), the first reading
/// beside a second one, and the measurements with their scales; what the reviewer does is
/// queued.
pub fn panel(
    ui: &mut Ui,
    input: &PanelInput<'_>,
    comment: &mut String,
    images: &mut ImageCache,
    queue: &mut Vec<AppCommand>,
) {
    let (ws, taxonomy) = (input.ws, input.taxonomy);
    let actions = show(ui, ws, taxonomy, input.loaded_model, comment, input.saliency_class);
    for a in actions {
        queue.push(match a {
            FindingsAction::Decide(d) => AppCommand::Decide(d),
            FindingsAction::ShowClass(c) => AppCommand::ShowClass(Some(c)),
        });
    }
    // A second reading: the first reader's calls, only once this reader has decided.
    if let (Some(first), Some(i), Some(s)) = (ws.first_reading.as_ref(), ws.selected, ws.selected_specimen()) {
        ui.separator();
        second_reading_ui(ui, first.get(&s.id), ws.review_of(i), taxonomy);
    }
    // Measurements, each with the scale of the film it was drawn on.
    let (Some(i), Some(specimen)) = (ws.selected, ws.selected_specimen()) else { return };
    let measurements = ws.review_of(i).map(|r| r.measurements.clone()).unwrap_or_default();
    let ruler = ws.review.as_ref().and_then(|r| crate::review::measurement::ruler_scale(&r.state));
    let spacing: Vec<_> = specimen
        .images
        .iter()
        .map(|(v, p)| {
            let s = match images.get(p, false) {
                super::images::Slot::Ready(img) => img.spacing,
                _ => None,
            };
            (*v, s)
        })
        .collect();
    let id = specimen.id.clone();
    let scale_of = |view| {
        let dicom = spacing.iter().find(|(v, _)| *v == view).and_then(|(_, s)| *s);
        crate::review::measurement::scale_for(&id, view, &measurements, dicom, ruler.as_ref())
    };
    ui.separator();
    let label_of = |id: &str| taxonomy.get(id).map_or_else(|| id.to_owned(), |n| n.label.clone());
    for a in super::measure::list(ui, &measurements, &scale_of, &label_of) {
        queue.push(AppCommand::Measure(a));
    }
}

/// The first reading beside the second, once the second reader has decided the specimen.
fn second_reading_ui(
    ui: &mut Ui,
    first: Option<&crate::review::SpecimenReview>,
    second: Option<&crate::review::SpecimenReview>,
    taxonomy: &crate::taxonomy::Taxonomy,
) {
    ui.strong("Second reading");
    let Some(second) = second.filter(|r| r.status != crate::review::Status::Unreviewed) else {
        ui.label("The first reading stays hidden until you decide this specimen.");
        return;
    };
    let by = first.map_or_else(String::new, |f| format!(" by {}", f.reviewer));
    // One person reading twice is no blind second reading: say so where it shows.
    if first.is_some_and(|f| !f.reviewer.is_empty() && f.reviewer == second.reviewer) {
        ui.label(
            RichText::new("The same reviewer made both readings (Settings changes the name).")
                .color(ui.visuals().warn_fg_color),
        );
    }
    let agreement = crate::review::compare(first, second);
    let status = |s: crate::review::Status| super::worklist::status_text(s);
    if agreement.agrees() {
        ui.label(format!("First reading{by}: {}. You agree.", status(agreement.status.0)));
        return;
    }
    let warn = ui.visuals().warn_fg_color;
    ui.label(RichText::new(format!("First reading{by}: {}. You differ:", status(agreement.status.0))).color(warn));
    if agreement.status.0 != agreement.status.1 {
        ui.label(format!("status: {} (first) / {} (you)", status(agreement.status.0), status(agreement.status.1)));
    }
    let call = |c: Option<crate::review::Call>| c.map_or("no call", crate::review::Call::as_str);
    for (node, a, b) in &agreement.calls {
        let name = taxonomy.get(node).map_or(node.as_str(), |n| n.label.as_str());
        ui.label(format!("{name}: {} (first) / {} (you)", call(*a), call(*b)));
    }
}

/// Draws the findings of the selected specimen; returns what the user did.
pub fn show(
    ui: &mut Ui,
    ws: &Workspace,
    taxonomy: &Taxonomy,
    loaded_model: Option<&str>,
    comment: &mut String,
    saliency_class: Option<usize>,
) -> Vec<FindingsAction> {
    let mut actions = Vec::new();
    // The panel's width bounds every row: content must never push the panel over the films.
    let panel_width = ui.available_width();
    ui.set_max_width(panel_width);
    let Some(i) = ws.selected else {
        ui.label("No specimen selected.");
        return actions;
    };
    let Some(spec) = ws.specimens().get(i) else { return actions };
    let scored = ws.results.get(i).and_then(Option::as_ref);
    ui.heading(&spec.id);
    metadata(ui, spec);
    ui.separator();

    let status = ws.status(i);
    ui.horizontal_wrapped(|ui| {
        ui.label("Status:");
        for (s, text, decision) in [
            (Status::Unreviewed, "unreviewed", Decision::Unreviewed),
            (Status::ConfirmedAbnormal, "abnormal", Decision::Abnormal),
            (Status::Normal, "normal", Decision::Normal),
            (Status::SecondLook, "second look", Decision::SecondLook),
        ] {
            if ui.selectable_label(status == s, text).clicked() && status != s {
                actions.push(FindingsAction::Decide(decision));
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("QC:");
        for (q, text) in [
            (QcReason::WrongView, "wrong view"),
            (QcReason::Unreadable, "unreadable"),
            (QcReason::NoMouse, "no mouse"),
            (QcReason::BadPositioning, "positioning"),
        ] {
            let on = status == Status::QcProblem(q);
            if ui.selectable_label(on, text).clicked() {
                actions.push(FindingsAction::Decide(if on { Decision::Unreviewed } else { Decision::Qc(q) }));
            }
        }
    });
    film_qc(ui, ws, i, status, &mut actions);
    ui.separator();

    if scored.is_none() {
        match ws.not_scored_reason(i) {
            Some(why) => ui.label(RichText::new(format!("Not scored: {why}. Decide it by eye.")).italics()),
            None => ui.label(RichText::new("Not classified yet: run the classifier (menu Model).").italics()),
        };
    }
    if let Some(r) = scored.filter(|r| r.out_of_domain()) {
        ui.label(
            RichText::new("Unlike the training data: scores unreliable").strong().color(ui.visuals().warn_fg_color),
        )
        .on_hover_text(super::worklist::unlike_training_text(r));
    }
    // Scores of a model other than the loaded one keep that model's thresholds (a model's
    // thresholds mean nothing for another's probabilities); say whose they are.
    if let (Some(r), Some(sha)) = (scored, loaded_model)
        && r.model_sha256 != sha
    {
        ui.label(RichText::new("Scored by another model: Classify all rescores with the loaded one.").italics())
            .on_hover_text(format!(
                "these scores came from the model with SHA-256 {}… and are flagged with its thresholds",
                r.model_sha256.get(..12).unwrap_or(&r.model_sha256)
            ));
    }
    // Why the model flags it: each flagged finding with its probability against its threshold.
    if let Some(r) = scored.filter(|r| r.scores.abnormal()) {
        for k in r.scores.flagged_leaves(taxonomy) {
            let (Some(node), Some(p)) = (taxonomy.nodes.get(k), r.scores.conditional.get(k)) else { continue };
            // The result's own thresholds: those of the model that produced it.
            let t = r.scores.thresholds.get(k).copied().unwrap_or(0.5);
            // A finding read on one view, flagged without that view (an LV-only specimen
            // flagged for scoliosis): the model guessed it from the other.
            let unseen = node
                .visible_in
                .missing_from(r.views_used)
                .map(|v| format!(" (read on {v}, which was not scored)"))
                .unwrap_or_default();
            let text = format!("flagged: {} P {p:.3} ≥ {t:.3}{unseen}", node.short_label());
            ui.label(RichText::new(text).color(ui.visuals().warn_fg_color)).on_hover_text(format!(
                "P({} | its group) {p:.3} reaches the threshold {t:.3}, and every group above it is flagged too",
                node.label
            ));
        }
    }
    // The whole panel scrolls (layout.rs), not the tree alone: a tree squeezed to fit pushed
    // the comment and the measurement tools half out of a small window.
    ui.scope(|ui| {
        for n in crate::review::tree_order(taxonomy) {
            let Some(node) = taxonomy.nodes.get(n) else { continue };
            let indent = match node.level {
                Level::L1 => 0.0,
                Level::L2 => 12.0,
                Level::L3 => 24.0,
            };
            ui.horizontal(|ui| {
                ui.add_space(indent);
                let flagged = scored.is_some_and(|r| r.scores.flags.get(n) == Some(&true));
                let name = if node.level == Level::L3 {
                    let key = taxonomy.nodes.iter().filter(|m| m.level == Level::L3).position(|m| m.id == node.id);
                    // The short name: the full one is on hover, and the tree is narrow.
                    key.map_or(node.label.clone(), |k| format!("{} {}", (k + 1) % 10, node.short_label()))
                } else {
                    node.label.clone()
                };
                let text = if flagged {
                    RichText::new(name).strong().color(ui.visuals().warn_fg_color)
                } else {
                    RichText::new(name).color(ui.visuals().hyperlink_color)
                };
                // The class whose saliency is on the films.
                let text = if saliency_class == Some(n) {
                    text.background_color(ui.visuals().selection.bg_fill)
                } else {
                    text
                };
                // What the bar and the three call buttons leave, so a narrow panel still fits.
                let name_width = (panel_width - indent - BAR_WIDTH - 110.0).clamp(50.0, 220.0 - indent);
                ui.allocate_ui(vec2(name_width, 18.0), |ui| {
                    ui.set_min_width(name_width);
                    let name = ui.add(egui::Label::new(text).truncate().sense(Sense::click()));
                    if name.on_hover_text(format!("{}: click to show its saliency", node.label)).clicked() {
                        actions.push(FindingsAction::ShowClass(n));
                    }
                });
                if let Some(r) = scored {
                    let c = r.scores.conditional.get(n).copied().unwrap_or(0.0);
                    let j = r.scores.joint.get(n).copied().unwrap_or(0.0);
                    let t = r.scores.thresholds.get(n).copied();
                    bar(ui, c, j, t).on_hover_text(format!(
                        "P({} | parent) {c:.3}, joint {j:.3}, threshold {:.3}",
                        node.label,
                        t.unwrap_or(0.5)
                    ));
                }
                let call = ws.call(i, &node.id);
                for (value, text) in [(Call::Normal, "N"), (Call::Abnormal, "A"), (Call::Unobservable, "U")] {
                    let on = call == Some(value);
                    let resp =
                        ui.selectable_label(on, text).on_hover_text(format!("call {} {}", node.label, value.as_str()));
                    if resp.clicked() {
                        let call = if on { None } else { Some(value) };
                        actions.push(FindingsAction::Decide(Decision::Call { node: node.id.clone(), call }));
                    }
                }
            });
        }
    });
    ui.separator();
    let label = ui.label("Comment");
    let resp =
        ui.add(egui::TextEdit::multiline(comment).desired_rows(2).desired_width(f32::INFINITY)).labelled_by(label.id);
    let saved = ws.review_of(i).map(|r| r.comment.as_str()).unwrap_or_default();
    if resp.lost_focus() && comment.as_str() != saved {
        actions.push(FindingsAction::Decide(Decision::Comment(comment.clone())));
    }
    if let Some(r) = ws.review_of(i)
        && !r.updated.is_empty()
    {
        ui.label(
            RichText::new(format!(
                "last change {} by {}",
                r.updated,
                if r.reviewer.is_empty() { "?" } else { &r.reviewer }
            ))
            .small(),
        );
    }
    actions
}

/// The probability bar's width in points: narrow enough that a finding's name fits beside it.
const BAR_WIDTH: f32 = 56.0;

/// A bar: conditional probability (light), joint (solid), and the threshold as a tick.
fn bar(ui: &mut Ui, conditional: f32, joint: f32, threshold: Option<f32>) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(vec2(BAR_WIDTH, 10.0), Sense::hover());
    let p = ui.painter();
    p.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let w = |v: f32| rect.width() * v.clamp(0.0, 1.0);
    let accent = Color32::from_rgb(90, 150, 230);
    p.rect_filled(
        egui::Rect::from_min_size(rect.min, vec2(w(conditional), rect.height())),
        2.0,
        accent.gamma_multiply(0.4),
    );
    p.rect_filled(egui::Rect::from_min_size(rect.min, vec2(w(joint), rect.height())), 2.0, accent);
    if let Some(t) = threshold {
        let x = rect.min.x + w(t);
        p.line_segment(
            [egui::pos2(x, rect.min.y - 2.0), egui::pos2(x, rect.max.y + 2.0)],
            (1.5, ui.visuals().strong_text_color()),
        );
    }
    response
}

fn metadata(ui: &mut Ui, spec: &crate::specimen::Specimen) {
    let fields = spec.metadata.fields();
    if fields.is_empty() {
        ui.label(RichText::new("no metadata (no manifest)").small());
        return;
    }
    egui::Grid::new("metadata").num_columns(2).spacing(vec2(8.0, 1.0)).max_col_width(ui.available_width() * 0.48).show(
        ui,
        |ui| {
            for (k, v) in fields.iter().take(12) {
                ui.add(egui::Label::new(RichText::new(*k).weak()).truncate()).on_hover_text(*k);
                // Long values are cut, whole on hover: they must not widen the panel over the films.
                ui.add(egui::Label::new(*v).truncate()).on_hover_text(*v);
                ui.end_row();
            }
        },
    );
}
