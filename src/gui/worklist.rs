//! The worklist: which specimens are listed, in what order, and the virtualised table.

use egui::{Align, RichText, Sense, Ui};
use egui_extras::{Column, TableBuilder};

use super::command_handling::AppCommand;
use super::workspace::{Scored, Workspace};
use crate::review::Status;
use crate::taxonomy::Taxonomy;

/// The least width, in points, the Status and Top finding columns each get before the table
/// turns compact (about "unreviewed" at the default font).
const COMPACT_TEXT_WIDTH: f32 = 85.0;

/// A sortable column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SortColumn {
    /// Specimen id.
    Id,
    /// Views present.
    Views,
    /// P(abnormal).
    Abnormal,
    /// Top L3 finding.
    Finding,
    /// Flagged or not.
    Flag,
    /// Review status.
    Status,
}

/// What the list shows.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Filter {
    /// Only flagged specimens.
    pub flagged: bool,
    /// Only unreviewed specimens.
    pub unreviewed: bool,
    /// Only QC problems: film QC findings, or a reviewer's QC status.
    pub qc: bool,
    /// Only specimens the model finds unlike its training data.
    pub unlike_training: bool,
    /// Only specimens whose flagged findings include this node id.
    pub finding: Option<String>,
    /// Case-insensitive text in the id or metadata.
    pub text: String,
}

/// The list's order and filter; `order` is rebuilt when something changes.
#[derive(Debug, Clone)]
pub struct Worklist {
    /// The filter.
    pub filter: Filter,
    /// Sort column.
    pub sort: SortColumn,
    /// Descending.
    pub descending: bool,
    /// Specimen indices in display order.
    pub order: Vec<usize>,
    /// Scroll the table to the selection on the next frame.
    pub scroll_to_selection: bool,
    /// Rows picked with Ctrl- or Shift-click for a batch call (workspace indices).
    pub marked: std::collections::BTreeSet<usize>,
    dirty: bool,
    /// Width of the Specimen column: the widest id, measured when the order is rebuilt.
    id_width: Option<f32>,
    /// How many times `order` changed (views of the list notice a new order by it).
    generation: u64,
    /// Results that arrived since the last sort. While inference streams, rows show their new
    /// scores in place but do not move under the reviewer's pointer; the list re-sorts when the
    /// run ends or on request.
    pub unsorted_results: usize,
}

impl Default for Worklist {
    fn default() -> Self {
        // Most abnormal first: the specimens that need a phenotyper's eye lead.
        Worklist {
            filter: Filter::default(),
            sort: SortColumn::Abnormal,
            descending: true,
            order: Vec::new(),
            scroll_to_selection: false,
            marked: Default::default(),
            dirty: true,
            id_width: None,
            generation: 0,
            unsorted_results: 0,
        }
    }
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Unreviewed => 0,
        Status::SecondLook => 1,
        Status::ConfirmedAbnormal => 2,
        Status::Normal => 3,
        Status::QcProblem(_) => 4,
    }
}

impl Worklist {
    /// The same filter and sort for a new folder; the search text, which names the last
    /// folder's specimens, is cleared.
    pub fn fresh(&self) -> Worklist {
        let filter = Filter { text: String::new(), ..self.filter.clone() };
        Worklist { filter, sort: self.sort, descending: self.descending, ..Worklist::default() }
    }

    /// Counts the changes of `order`: a rebuild that gives the same order keeps it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Marks the order stale (new results, edits, filter changes).
    pub fn invalidate(&mut self) {
        self.dirty = true;
    }

    /// Counts a streamed result without re-sorting.
    pub fn result_arrived(&mut self) {
        self.unsorted_results += 1;
    }

    /// Rebuilds the order if stale.
    pub fn refresh(&mut self, ws: &Workspace, taxonomy: &Taxonomy) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.id_width = None;
        self.unsorted_results = 0;
        let text = self.filter.text.to_lowercase();
        let finding = self.filter.finding.as_deref().and_then(|id| taxonomy.index_of(id));
        let mut order: Vec<usize> = (0..ws.specimens().len())
            .filter(|&i| {
                let Some(s) = ws.specimens().get(i) else { return false };
                let scored = ws.results.get(i).and_then(Option::as_ref);
                // The review lookup costs a map search: only when a filter needs it.
                let status = || ws.status(i);
                (!self.filter.flagged || scored.is_some_and(|r| r.scores.abnormal()))
                    && (!self.filter.unreviewed || status() == Status::Unreviewed)
                    && (!self.filter.unlike_training || scored.is_some_and(Scored::out_of_domain))
                    && (!self.filter.qc
                        || ws.film_qc.get(i).is_some_and(|q| q.values().any(|c| !c.is_empty()))
                        || matches!(status(), Status::QcProblem(_)))
                    && finding.is_none_or(|k| scored.is_some_and(|r| r.scores.flags.get(k) == Some(&true)))
                    && (text.is_empty()
                        || s.id.to_lowercase().contains(&text)
                        || s.metadata.fields().iter().any(|(_, v)| v.to_lowercase().contains(&text)))
            })
            .collect();
        let p = |i: usize| ws.results.get(i).and_then(Option::as_ref).and_then(|r| r.scores.joint.first().copied());
        let top = |i: usize| {
            ws.results
                .get(i)
                .and_then(Option::as_ref)
                .and_then(|r| r.scores.top_finding(taxonomy))
                .map(|(id, _)| id.to_owned())
        };
        let specimens = ws.specimens();
        let id = |i: usize| specimens.get(i).map(|s| s.id.as_str()).unwrap_or_default();
        match self.sort {
            SortColumn::Id => order.sort_by(|&a, &b| natural(id(a), id(b))),
            SortColumn::Views => order.sort_by_key(|&i| specimens.get(i).map(|s| s.model_views())),
            // Unscored specimens sort below every score (ascending: first), and specimens unlike
            // the training data apart from the rest: their scores are not flags to act on.
            SortColumn::Abnormal => {
                let tier = |i: usize| match ws.results.get(i).and_then(Option::as_ref) {
                    None => 0u8,
                    Some(r) if r.out_of_domain() => 1,
                    Some(_) => 2,
                };
                // Keys computed once; ties broken by id (descending here, ascending once reversed).
                let mut keyed: Vec<(u8, f32, usize)> =
                    order.iter().map(|&i| (tier(i), p(i).unwrap_or(-1.0), i)).collect();
                keyed.sort_unstable_by(|a, b| {
                    a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then_with(|| natural(id(b.2), id(a.2)))
                });
                order = keyed.into_iter().map(|(_, _, i)| i).collect();
            }
            SortColumn::Finding => order.sort_by_key(|&i| top(i)),
            SortColumn::Flag => {
                order.sort_by_key(|&i| ws.results.get(i).and_then(Option::as_ref).map(|r| r.scores.abnormal()))
            }
            SortColumn::Status => order.sort_by_key(|&i| status_rank(ws.status(i))),
        }
        if self.descending {
            order.reverse();
        }
        // Only listed rows stay marked: a batch call never reaches a row the filter hides.
        self.marked.retain(|i| order.contains(i));
        if order != self.order {
            self.generation += 1;
        }
        self.order = order;
    }

    /// The index `step` rows away from `current` in display order (clamped); the first row when
    /// `current` is not listed.
    pub fn step(&self, current: Option<usize>, step: isize) -> Option<usize> {
        let pos = current.and_then(|c| self.order.iter().position(|&i| i == c));
        let Some(pos) = pos else { return self.order.first().copied() };
        let next = pos.saturating_add_signed(step).min(self.order.len().saturating_sub(1));
        self.order.get(next).copied()
    }

    /// Draws the table; returns the specimen to select. A plain click selects one row; Ctrl-click
    /// adds or removes a row from the marked rows, Shift-click marks the run from the selection.
    /// `abnormal_threshold` (the L1 threshold in use) is shown beside P(abnormal) on hover.
    pub fn table(
        &mut self,
        ui: &mut Ui,
        ws: &Workspace,
        taxonomy: &Taxonomy,
        abnormal_threshold: Option<f32>,
    ) -> Option<usize> {
        let mut clicked: Option<(usize, bool, bool)> = None;
        let mut sort_by = None;
        let row_h = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        // Labels that select text would take the click from the row: a row is clicked anywhere.
        ui.style_mut().interaction.selectable_labels = false;
        let id_width = self.id_width(ui, ws).min(ui.available_width() * 0.6).max(70.0);
        // A narrow list (a small screen) keeps the id, P(abn) and the reviewer's Status, whole:
        // the QC badge goes beside the id, the flag colours P(abn), and the top finding moves
        // into P(abn)'s tooltip (and the findings panel), rather than every column being cut.
        let compact = ui.available_width() < id_width + 54.0 + 54.0 + 34.0 + 2.0 * COMPACT_TEXT_WIDTH;
        // Between the two (the window's first size, 1400 points), the compact list still has
        // room for the top finding, which a reviewer scans the list by.
        let finding_column = !compact || ui.available_width() >= id_width + 28.0 + 64.0 + 2.0 * COMPACT_TEXT_WIDTH;
        let mut table = TableBuilder::new(ui)
            .id_salt("worklist")
            .striped(true)
            .sense(Sense::click())
            .cell_layout(egui::Layout::left_to_right(Align::Center))
            .column(Column::exact(id_width + if compact { 28.0 } else { 0.0 }).clip(true));
        if !compact {
            table = table.column(Column::exact(if compact { 64.0 } else { 54.0 }).clip(true));
        }
        // The id whole, the rest fixed or sharing what is left (the reviewer's calls before the
        // model's top finding, which a narrow list cuts first): the films must not be crowded out.
        table = table.column(Column::exact(if compact { 64.0 } else { 54.0 }).clip(true));
        if !compact {
            table = table.column(Column::exact(34.0));
        }
        table = table.column(Column::remainder().at_least(40.0).clip(true));
        if finding_column {
            table = table.column(Column::remainder().at_least(40.0).clip(true));
        }
        if std::mem::take(&mut self.scroll_to_selection)
            && let Some(pos) = ws.selected.and_then(|s| self.order.iter().position(|&i| i == s))
        {
            table = table.scroll_to_row(pos, Some(Align::Center));
        }
        let headers: Vec<(SortColumn, &str)> = [
            (SortColumn::Id, "Specimen"),
            (SortColumn::Views, "Views"),
            (SortColumn::Abnormal, "P(abn)"),
            (SortColumn::Flag, "Flag"),
            (SortColumn::Status, "Status"),
            (SortColumn::Finding, "Top finding"),
        ]
        .into_iter()
        .filter(|(c, _)| match c {
            SortColumn::Views | SortColumn::Flag => !compact,
            SortColumn::Finding => finding_column,
            _ => true,
        })
        .collect();
        table
            .header(row_h + 2.0, |mut header| {
                for (col, name) in headers {
                    header.col(|ui| {
                        let arrow = match (self.sort == col, self.descending) {
                            (true, true) => " v",
                            (true, false) => " ^",
                            _ => "",
                        };
                        let hover = match (col, abnormal_threshold) {
                            (SortColumn::Abnormal, Some(t)) => format!("Sort by this column\n{}", p_abnormal_text(t)),
                            _ => "Sort by this column".to_owned(),
                        };
                        if ui.button(format!("{name}{arrow}")).on_hover_text(hover).clicked() {
                            sort_by = Some(col);
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(row_h, self.order.len(), |mut row| {
                    let Some(&i) = self.order.get(row.index()) else { return };
                    let Some(s) = ws.specimens().get(i) else { return };
                    let scored = ws.results.get(i).and_then(Option::as_ref);
                    row.set_selected(ws.selected == Some(i) || self.marked.contains(&i));
                    let qc = ws.film_qc_of(i);
                    // A film QC badge: the views are there, but not all were scored.
                    let qc_badge = |ui: &mut Ui, text: String| {
                        let why: Vec<String> =
                            qc.iter().map(|(v, c)| format!("{}: {}", v.as_str().to_uppercase(), c.explain())).collect();
                        ui.label(RichText::new(text).color(ui.visuals().warn_fg_color))
                            .on_hover_text(format!("Film QC\n{}", why.join("\n")));
                    };
                    row.col(|ui| {
                        ui.label(&s.id);
                        if compact && !qc.is_empty() {
                            // The views with a finding: "DV QC".
                            let mut views: Vec<&str> = qc.iter().map(|(v, _)| v.as_str()).collect();
                            views.dedup();
                            qc_badge(ui, format!("{} QC", views.join("+").to_uppercase()));
                        }
                    });
                    if !compact {
                        row.col(|ui| {
                            if qc.is_empty() {
                                ui.label(s.model_views());
                            } else {
                                qc_badge(ui, format!("{} QC", s.model_views()));
                            }
                        });
                    }
                    row.col(|ui| {
                        let value = scored.and_then(|r| r.scores.joint.first().copied());
                        let p = value.map_or("–".into(), |p| format!("{p:.2}"));
                        let flagged = scored.is_some_and(|r| r.scores.abnormal());
                        let top = scored
                            .and_then(|r| r.scores.top_finding(taxonomy))
                            .and_then(|(id, _)| taxonomy.get(id))
                            .map_or("none", |n| n.label.as_str());
                        // A raw P near the threshold reads alike flagged or not: the hover says which
                        // side of the threshold it falls (uncalibrated models park normals high).
                        let against = match (value, abnormal_threshold) {
                            (Some(p), Some(t)) => {
                                format!(
                                    "P(abnormal) {p:.3}, {} the threshold {t:.3}",
                                    if p >= t { "at or above" } else { "below" }
                                )
                            }
                            _ => String::new(),
                        };
                        // An "unlike" badge says these scores are not the model's judgement of a
                        // mouse; the flag still shows (a bullet in the compact list, the Flag
                        // column's hollow dot otherwise), and the hover says both.
                        let unlike = scored.filter(|r| r.out_of_domain());
                        let mut text = p.clone();
                        if compact && flagged {
                            text.push_str(" •");
                        }
                        if unlike.is_some() {
                            text.push_str(" unlike");
                        }
                        let mut hover = vec![against];
                        if scored.is_none() {
                            hover.push(
                                ws.not_scored_reason(i).map_or_else(
                                    || "not classified yet".to_owned(),
                                    |why| format!("not scored: {why}"),
                                ),
                            );
                        }
                        if flagged {
                            hover.push(format!("flagged abnormal; top finding: {top}"));
                        } else if !finding_column && scored.is_some() {
                            hover.push(format!("top finding: {top}"));
                        }
                        hover.extend(unlike.map(unlike_training_text));
                        let hover = hover.into_iter().filter(|h| !h.is_empty()).collect::<Vec<_>>().join("\n");
                        let warn = unlike.is_some() || (compact && flagged);
                        let label = if warn {
                            ui.label(RichText::new(text).color(ui.visuals().warn_fg_color))
                        } else {
                            ui.label(text)
                        };
                        if !hover.is_empty() {
                            label.on_hover_text(hover);
                        }
                    });
                    if !compact {
                        row.col(|ui| {
                            if let Some(r) = scored.filter(|r| r.scores.abnormal()) {
                                let (rect, resp) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), Sense::hover());
                                let color = ui.visuals().warn_fg_color;
                                // A hollow dot: the model flags it, but on a film unlike its training.
                                if r.out_of_domain() {
                                    ui.painter().circle_stroke(rect.center(), 4.0, egui::Stroke::new(1.5, color));
                                    resp.on_hover_text(
                                        "flagged abnormal on a film unlike the training data: unreliable",
                                    );
                                } else {
                                    ui.painter().circle_filled(rect.center(), 4.5, color);
                                    resp.on_hover_text("flagged abnormal");
                                }
                            }
                        });
                    }
                    row.col(|ui| {
                        let (text, hover) = decision_text(ws, i, taxonomy);
                        let r = ui.label(text);
                        if let Some(hover) = hover {
                            r.on_hover_text(hover);
                        }
                    });
                    if finding_column {
                        row.col(|ui| {
                            let top = scored
                                .and_then(|r| r.scores.top_finding(taxonomy))
                                .and_then(|(id, _)| taxonomy.get(id));
                            if let Some(node) = top {
                                ui.label(node.short_label()).on_hover_text(&node.label);
                            }
                        });
                    }
                    let response = row.response();
                    if response.clicked() {
                        let m = response.ctx.input(|i| i.modifiers);
                        clicked = Some((i, m.command || m.ctrl, m.shift));
                    }
                });
            });
        if let Some(col) = sort_by {
            if self.sort == col {
                self.descending = !self.descending;
            } else {
                self.sort = col;
                self.descending = matches!(col, SortColumn::Abnormal | SortColumn::Flag);
            }
            self.invalidate();
            // The selection stays in view wherever the new order puts it.
            self.scroll_to_selection = true;
        }
        let (i, ctrl, shift) = clicked?;
        self.click(ws.selected, i, ctrl, shift);
        Some(i)
    }

    /// A click on row `i` (the worklist's or the contact sheet's): Ctrl adds or removes it from
    /// the marked rows, Shift marks the run from `selected` to it, a plain click clears the marks.
    pub fn click(&mut self, selected: Option<usize>, i: usize, ctrl: bool, shift: bool) {
        if ctrl {
            if self.marked.is_empty()
                && let Some(s) = selected
            {
                self.marked.insert(s);
            }
            if !self.marked.remove(&i) {
                self.marked.insert(i);
            }
        } else if shift {
            let pos = |k: usize| self.order.iter().position(|&o| o == k);
            if let (Some(a), Some(b)) = (selected.and_then(pos), pos(i)) {
                let run: Vec<usize> = self.order.get(a.min(b)..=a.max(b)).unwrap_or_default().to_vec();
                self.marked.extend(run);
            }
        } else {
            self.marked.clear();
        }
    }
}

impl Worklist {
    /// The widest specimen id in points (measured once per rebuilt order).
    fn id_width(&mut self, ui: &Ui, ws: &Workspace) -> f32 {
        *self.id_width.get_or_insert_with(|| {
            let font = egui::TextStyle::Body.resolve(ui.style());
            let widest = ws.specimens().iter().map(|s| s.id.as_str()).max_by_key(|id| id.chars().count());
            let measure =
                |t: &str| ui.painter().layout_no_wrap(t.to_owned(), font.clone(), egui::Color32::WHITE).size().x;
            // The longest id by characters, and a margin for wider glyphs in shorter ones.
            widest.map_or(0.0, |id| measure(id) * 1.1) + 2.0 * ui.spacing().item_spacing.x
        })
    }
}

/// The worklist panel: the folder's progress, the filters and search, and the table; a click
/// queues the selection.
/// `thresholds` are the ones in use, one per taxonomy node (the P(abn) column names the first).
pub fn panel(
    ui: &mut Ui,
    ws: &Workspace,
    worklist: &mut Worklist,
    taxonomy: &Taxonomy,
    thresholds: &[f32],
    queue: &mut Vec<AppCommand>,
) {
    let total = ws.specimens().len();
    let reviewed = ws.reviewed_count();
    ui.horizontal(|ui| {
        ui.strong(
            ws.folder.file_name().map_or_else(|| ws.folder.display().to_string(), |n| n.to_string_lossy().into_owned()),
        );
        ui.label(format!("{reviewed} of {total} reviewed"));
    });
    let f = &mut worklist.filter;
    let before = f.clone();
    ui.horizontal_wrapped(|ui| {
        ui.toggle_value(&mut f.flagged, "flagged");
        ui.toggle_value(&mut f.unreviewed, "unreviewed");
        ui.toggle_value(&mut f.qc, "QC");
        ui.toggle_value(&mut f.unlike_training, "unlike training")
            .on_hover_text("Only specimens the model finds unlike its training data: their scores are unreliable");
        let current =
            f.finding.as_deref().and_then(|id| taxonomy.get(id)).map_or("any finding".to_owned(), |n| n.label.clone());
        egui::ComboBox::from_id_salt("finding_filter").selected_text(current).show_ui(ui, |ui| {
            ui.selectable_value(&mut f.finding, None, "any finding");
            for n in taxonomy.nodes.iter().skip(1) {
                ui.selectable_value(&mut f.finding, Some(n.id.clone()), &n.label);
            }
        });
    });
    let label = ui.label("Search");
    ui.add(egui::TextEdit::singleline(&mut f.text).hint_text("id, colony, gene…")).labelled_by(label.id);
    if *f != before {
        worklist.invalidate();
    }
    worklist.refresh(ws, taxonomy);
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("{} shown", worklist.order.len())).small());
        let n = worklist.unsorted_results;
        if n > 0
            && ui
                .small_button(format!("sort {n} new scores"))
                .on_hover_text("Rows keep their place while the classifier runs; sort now")
                .clicked()
        {
            worklist.invalidate();
        }
    });
    if ws.selected.is_some_and(|s| !worklist.order.contains(&s)) {
        ui.label(RichText::new("The specimen shown is hidden by the filter").color(ui.visuals().warn_fg_color));
    }
    let marked = worklist.marked.len();
    if marked > 0 {
        ui.label(RichText::new(format!("{marked} marked: N calls them normal (one undo)")).strong());
    }
    ui.separator();
    if let Some(i) = worklist.table(ui, ws, taxonomy, thresholds.first().copied()) {
        queue.push(AppCommand::Select(i));
    }
}

/// What the P(abn) header says about the numbers under it.
fn p_abnormal_text(threshold: f32) -> String {
    format!(
        "P(abnormal) as the model outputs it; flagged at or above {threshold:.3}, the threshold in use (Settings). \
         Unless the model was calibrated, P ranks specimens but is not a frequency: read the flag."
    )
}

/// Specimen ids in natural order: digits compare as numbers (`r2` before `r10`).
pub fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    alphanumeric_sort::compare_str(a, b)
}

/// The Status cell: the status with the reviewer's abnormal findings; on hover every call, who
/// made the last change and when.
pub(super) fn decision_text(ws: &Workspace, i: usize, taxonomy: &Taxonomy) -> (String, Option<String>) {
    let status = status_text(ws.status(i));
    let Some(r) = ws.review_of(i).filter(|r| !r.calls.is_empty() || r.status != crate::review::Status::Unreviewed)
    else {
        return (status.to_owned(), None);
    };
    let abnormal: Vec<&str> = taxonomy
        .level(crate::taxonomy::Level::L3)
        .filter(|n| r.calls.get(&n.id) == Some(&crate::review::Call::Abnormal))
        .map(|n| n.short_label())
        .collect();
    let text = if abnormal.is_empty() { status.to_owned() } else { format!("{status}: {}", abnormal.join(", ")) };
    let every: Vec<String> = crate::review::tree_order(taxonomy)
        .into_iter()
        .filter_map(|k| taxonomy.nodes.get(k))
        .filter_map(|n| r.calls.get(&n.id).map(|c| format!("{}: {}", n.label, c.as_str())))
        .collect();
    let who = if r.reviewer.is_empty() { "?" } else { r.reviewer.as_str() };
    (text, Some(format!("Calls\n{}\n\nlast change {} by {who}", every.join("\n"), r.updated)))
}

/// What the window says of a specimen unlike the model's training data.
pub fn unlike_training_text(r: &Scored) -> String {
    let views: Vec<String> = r
        .domain
        .iter()
        .flat_map(|d| d.views)
        .filter_map(|(v, s)| s.map(|s| format!("{} {s:.2}", v.as_str().to_uppercase())))
        .collect();
    format!(
        "Unlike the training data: scores unreliable.\nDistance from the training films (domain score) {}: above 1 is further than 99 in 100 films held out from training.",
        views.join(", ")
    )
}

/// The status as the GUI words it.
pub fn status_text(s: Status) -> &'static str {
    match s {
        Status::Unreviewed => "unreviewed",
        Status::ConfirmedAbnormal => "abnormal",
        Status::Normal => "normal",
        Status::SecondLook => "second look",
        Status::QcProblem(crate::review::QcReason::WrongView) => "QC: wrong view",
        Status::QcProblem(crate::review::QcReason::Unreadable) => "QC: unreadable",
        Status::QcProblem(crate::review::QcReason::NoMouse) => "QC: no mouse",
        Status::QcProblem(crate::review::QcReason::BadPositioning) => "QC: positioning",
    }
}
