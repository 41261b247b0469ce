//! The contact sheet: every listed specimen's DV and LV as thumbnails in a grid, in the
//! worklist's order and filter, to clear normals fast; and the colony view, the selected
//! specimen's colony beside its matched wild-type controls
//! ([`crate::specimen::colony::colony_groups`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::{Color32, Rect, RichText, Sense, TextureHandle, TextureOptions, Ui, Vec2, pos2, vec2};

use super::images::{DecodeCache, Decoded, Slot};
use super::view_math::{Orientation, fit_scale};
use super::worklist::Worklist;
use super::workspace::Workspace;
use crate::imaging::{DecodeOptions, Window, decode, shrink16};
use crate::specimen::View;
use crate::taxonomy::Taxonomy;

/// Longest side of a thumbnail, in pixels (the largest cell size shows it 1:1); the head end is
/// found on it as on the viewer's copy of [`super::images::AXIS_SIDE`] pixels.
pub const THUMBNAIL_SIDE: u32 = super::images::AXIS_SIDE;

/// A film shrunk for the contact sheet, windowed with its own percentiles.
pub struct Thumbnail {
    /// The pixels.
    pub image: Arc<egui::ColorImage>,
    /// The animal's long axis and head end, for the head-up hanging protocol.
    pub axis: Option<crate::imaging::BodyAxis>,
}

impl Decoded for Thumbnail {
    fn load(path: &Path) -> Result<Thumbnail, String> {
        let original = decode(path, &DecodeOptions::default()).map_err(|e| e.to_string())?;
        let (small, _) = shrink16(&original, THUMBNAIL_SIDE);
        // Found on the thumbnail itself, shrunk once: it is no larger than the axis needs.
        let axis = super::images::axis_of(&small);
        let window = Window::from_percentiles(&small, 0.005, 0.995);
        Ok(Thumbnail { image: Arc::new(super::images::render(&small, &window, false)), axis })
    }

    fn bytes(&self) -> usize {
        self.image.pixels.len() * 4
    }
}

/// What a click on the sheet asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetAction {
    /// Select this specimen (a workspace index); Ctrl and Shift as in the worklist.
    Click { index: usize, ctrl: bool, shift: bool },
    /// Open this specimen in the viewer (a double click).
    Open(usize),
}

/// The sheet's state: thumbnails and their textures (not persisted; the cell size and the
/// colony view are in [`super::settings::ViewPrefs`]).
#[derive(Default)]
pub struct ContactSheet {
    thumbnails: Option<DecodeCache<Thumbnail>>,
    /// By path and inversion, with the frame last drawn and the film's head-up turns.
    textures: HashMap<(PathBuf, bool), Shown>,
    frame: u64,
    /// The selection the sheet last scrolled to.
    shown_selection: Option<usize>,
    /// Rows drawn last frame, the first and last maybe in part.
    visible_rows: std::ops::Range<usize>,
    /// Cells per row and the worklist's order generation, last frame: a new sort, filter or
    /// cell size moves the selection, which is then brought back into view.
    layout: (usize, u64),
}

/// A thumbnail's texture, the frame it was last drawn in, and its animal's axis.
struct Shown {
    texture: TextureHandle,
    frame: u64,
    axis: Option<crate::imaging::BodyAxis>,
}

/// Textures kept for cells scrolled out of view (about 60 MB of 256 px thumbnails).
const KEPT_TEXTURES: usize = 240;

/// How the sheet draws this frame.
pub struct SheetInput<'a> {
    /// The open folder.
    pub workspace: &'a Workspace,
    /// The worklist's order, filter and marks.
    pub worklist: &'a Worklist,
    /// Names of the findings.
    pub taxonomy: &'a Taxonomy,
    /// Side of one thumbnail, in points.
    pub cell: f32,
    /// The viewer's rotation and mirror, so the sheet shows the films as the viewer does.
    pub orientation: Orientation,
    /// The head-up hanging protocol is on.
    pub head_up: bool,
    /// Grey levels inverted.
    pub invert: bool,
    /// Show the selected specimen's colony beside its controls instead of the list.
    pub colony: bool,
}

impl ContactSheet {
    /// Thumbnails drawn in the last frame (their textures are up to date).
    pub fn shown(&self) -> usize {
        self.textures.values().filter(|t| t.frame == self.frame).count()
    }

    /// Whether thumbnails are still being decoded.
    pub fn busy(&self) -> bool {
        self.thumbnails.as_ref().is_some_and(DecodeCache::busy)
    }

    /// Draws the sheet; returns what was clicked.
    pub fn show(&mut self, ui: &mut Ui, input: &SheetInput<'_>) -> Vec<SheetAction> {
        self.frame += 1;
        let thumbnails = self.thumbnails.get_or_insert_with(|| DecodeCache::new(256 << 20, 2));
        thumbnails.set_context(ui.ctx());
        thumbnails.poll();
        let mut actions = Vec::new();
        let ws = input.workspace;
        let colony = input
            .colony
            .then(|| ws.selected_specimen())
            .flatten()
            .filter(|s| !crate::specimen::colony::is_control(s))
            .and_then(|s| s.metadata.get("colony_id").map(str::to_owned));
        match colony {
            Some(colony) => self.colony_ui(ui, input, &colony, &mut actions),
            None => {
                if input.colony {
                    ui.label(
                        RichText::new(
                            "Colony view: select a mutant (a specimen with a colony_id that is not a control)",
                        )
                        .color(ui.visuals().warn_fg_color),
                    );
                }
                self.grid_ui(ui, input, &mut actions);
            }
        }
        // Textures of cells long out of view go; their thumbnails stay in the cache.
        if self.textures.len() > KEPT_TEXTURES {
            let mut ages: Vec<u64> = self.textures.values().map(|t| t.frame).collect();
            ages.sort_unstable();
            let cut = ages.get(self.textures.len() - KEPT_TEXTURES).copied().unwrap_or(0);
            self.textures.retain(|_, t| t.frame >= cut);
        }
        actions
    }

    /// Every listed specimen, in the worklist's order, a row of cells at a time.
    fn grid_ui(&mut self, ui: &mut Ui, input: &SheetInput<'_>, actions: &mut Vec<SheetAction>) {
        let order = &input.worklist.order;
        let (cell, per_row) = cell_size(ui.available_width(), input.cell, ui.spacing().item_spacing.x);
        let rows = order.len().div_ceil(per_row);
        let row_h = cell.y + ui.spacing().item_spacing.y;
        let mut area = egui::ScrollArea::vertical().id_salt("contact_sheet").auto_shrink([false, false]);
        // A new selection (J, K, the worklist) out of view scrolls into the middle, and so does
        // the selection after a new sort, filter or cell size.
        let selected = input.workspace.selected;
        let layout = (per_row, input.worklist.generation());
        let relaid = layout != self.layout;
        self.layout = layout;
        if selected != self.shown_selection || relaid {
            self.shown_selection = selected;
            if let Some(pos) = selected.and_then(|s| order.iter().position(|&i| i == s)) {
                let row = pos / per_row;
                let (first, last) = (self.visible_rows.start, self.visible_rows.end);
                // Wholly in view: before the last row drawn, and after the first unless that is the top.
                let in_view = !relaid && row + 1 < last && (row > first || first == 0);
                if !in_view {
                    let visible = ui.available_height();
                    area = area.vertical_scroll_offset((row as f32 * row_h - (visible - row_h) / 2.0).max(0.0));
                }
            }
        }
        area.show_rows(ui, row_h, rows, |ui, range| {
            self.visible_rows = range.clone();
            for r in range {
                ui.horizontal(|ui| {
                    for &i in order.iter().skip(r * per_row).take(per_row) {
                        self.cell_ui(ui, input, i, cell, actions);
                    }
                });
            }
        });
    }

    /// The colony's mutants by sex and zygosity, each group beside its matched controls.
    fn colony_ui(&mut self, ui: &mut Ui, input: &SheetInput<'_>, colony: &str, actions: &mut Vec<SheetAction>) {
        let ws = input.workspace;
        let groups = crate::specimen::colony::colony_groups(ws.specimens(), colony);
        let (cell, per_row) = cell_size(ui.available_width(), input.cell, ui.spacing().item_spacing.x);
        egui::ScrollArea::vertical().id_salt("colony_sheet").auto_shrink([false, false]).show(ui, |ui| {
            ui.heading(format!("Colony {colony}"));
            for g in &groups {
                ui.separator();
                let n = g.mutants.len();
                let mutants = if n == 1 { "mutant" } else { "mutants" };
                ui.strong(format!("{} {}, {}: {n} {mutants}", g.sex, g.zygosity, g.centre));
                self.rows_ui(ui, input, &g.mutants, cell, per_row, actions);
                if g.controls.is_empty() {
                    ui.label(
                        RichText::new(format!(
                            "no matched control (biological_sample_group control, {}, {}, same strain)",
                            g.sex, g.centre
                        ))
                        .color(ui.visuals().warn_fg_color),
                    );
                } else {
                    let n = g.controls.len();
                    let controls = if n == 1 { "control" } else { "controls" };
                    ui.label(format!("{n} matched {controls} ({}, {}, same strain)", g.sex, g.centre));
                    self.rows_ui(ui, input, &g.controls, cell, per_row, actions);
                }
            }
        });
    }

    fn rows_ui(
        &mut self,
        ui: &mut Ui,
        input: &SheetInput<'_>,
        indices: &[usize],
        cell: Vec2,
        per_row: usize,
        actions: &mut Vec<SheetAction>,
    ) {
        for row in indices.chunks(per_row) {
            ui.horizontal(|ui| {
                for &i in row {
                    self.cell_ui(ui, input, i, cell, actions);
                }
            });
        }
    }

    /// One specimen: DV and LV side by side, its id, the model's flag and the reviewer's call.
    fn cell_ui(&mut self, ui: &mut Ui, input: &SheetInput<'_>, i: usize, cell: Vec2, actions: &mut Vec<SheetAction>) {
        let ws = input.workspace;
        let Some(s) = ws.specimens().get(i) else { return };
        let (rect, response) = ui.allocate_exact_size(cell, Sense::click());
        let label = format!("{} thumbnails", s.id);
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
        // Cells out of view only take their space: a colony's thousands of controls cost a
        // rectangle each, not a caption, a texture or a decode.
        if !ui.is_rect_visible(rect) {
            return;
        }
        let (call, _) = super::worklist::decision_text(ws, i, input.taxonomy);
        let scored = ws.results.get(i).and_then(Option::as_ref);
        let flagged = scored.is_some_and(|r| r.scores.abnormal());
        let p = scored.and_then(|r| r.scores.joint.first().copied());
        let visuals = ui.visuals().clone();
        let painter = ui.painter_at(rect);
        let selected = ws.selected == Some(i);
        let marked = input.worklist.marked.contains(&i);
        let fill = if selected || marked { visuals.selection.bg_fill } else { visuals.extreme_bg_color };
        painter.rect_filled(rect, 3.0, fill);
        let side = input.cell;
        let mut failures = Vec::new();
        for (k, view) in [View::Dv, View::Lv].into_iter().enumerate() {
            let square = Rect::from_min_size(rect.min + vec2(2.0 + k as f32 * (side + 2.0), 2.0), Vec2::splat(side));
            painter.rect_filled(square, 0.0, Color32::from_gray(12));
            let Some(path) = s.images.get(&view) else {
                painter.text(
                    square.center(),
                    egui::Align2::CENTER_CENTER,
                    "–",
                    egui::FontId::proportional(14.0),
                    Color32::GRAY,
                );
                continue;
            };
            match self.texture(ui.ctx(), path, input.invert) {
                Ok(Some((texture, axis))) => {
                    let orientation =
                        super::viewer::head_up_orientation(input.orientation, input.head_up, axis.as_ref());
                    let oriented = orientation.oriented_size(texture.size_vec2());
                    let scale = fit_scale(square.size(), oriented);
                    let shown = Rect::from_center_size(square.center(), oriented * scale);
                    painter.add(super::viewer::oriented_mesh(texture.id(), shown, orientation, Color32::WHITE));
                }
                Ok(None) => {
                    painter.text(
                        square.center(),
                        egui::Align2::CENTER_CENTER,
                        "…",
                        egui::FontId::proportional(14.0),
                        Color32::GRAY,
                    );
                }
                Err(why) => {
                    let font = egui::FontId::proportional(11.0);
                    painter.text(square.center(), egui::Align2::CENTER_CENTER, "cannot show", font, Color32::LIGHT_RED);
                    failures.push(format!("{}: {why}", view.as_str().to_uppercase()));
                }
            }
        }
        // The caption: id, P(abnormal) with the flag, and the reviewer's call.
        let text_y = rect.min.y + side + 4.0;
        let font = egui::FontId::proportional(12.0);
        let id_color = if selected { visuals.selection.stroke.color } else { visuals.text_color() };
        painter.text(pos2(rect.min.x + 4.0, text_y), egui::Align2::LEFT_TOP, &s.id, font.clone(), id_color);
        // Scores on a film unlike the training data say so, as in the worklist.
        let unlike = scored.is_some_and(super::workspace::Scored::out_of_domain);
        let p_text = match p {
            None => "–".to_owned(),
            Some(p) if unlike => format!("P {p:.2} unlike"),
            Some(p) => format!("P {p:.2}"),
        };
        let p_color = if flagged || unlike { visuals.warn_fg_color } else { visuals.weak_text_color() };
        painter.text(pos2(rect.max.x - 4.0, text_y), egui::Align2::RIGHT_TOP, p_text, font.clone(), p_color);
        painter.text(
            pos2(rect.min.x + 4.0, text_y + 15.0),
            egui::Align2::LEFT_TOP,
            call,
            font,
            visuals.weak_text_color(),
        );
        if flagged {
            // A thin frame where the flag comes from a film unlike the training data.
            let width = if unlike { 1.0 } else { 2.0 };
            painter.rect_stroke(rect, 3.0, egui::Stroke::new(width, visuals.warn_fg_color), egui::StrokeKind::Inside);
        }
        if selected {
            painter.rect_stroke(
                rect,
                3.0,
                egui::Stroke::new(2.0, visuals.selection.stroke.color),
                egui::StrokeKind::Inside,
            );
        }
        let mut hover = format!("{}\nClick selects (Ctrl or Shift marks), double-click opens it in the viewer", s.id);
        for f in failures {
            hover.push_str(&format!("\ncannot show {f}"));
        }
        let response = response.on_hover_text(hover);
        if response.double_clicked() {
            actions.push(SheetAction::Open(i));
        } else if response.clicked() {
            // Selected where the reviewer clicked: the sheet does not scroll under the pointer.
            self.shown_selection = Some(i);
            let m = ui.input(|i| i.modifiers);
            actions.push(SheetAction::Click { index: i, ctrl: m.command || m.ctrl, shift: m.shift });
        }
    }

    /// The thumbnail's texture, inverted or not, and its animal's axis: `Ok(None)` while it is
    /// decoded.
    #[allow(clippy::type_complexity)]
    fn texture(
        &mut self,
        ctx: &egui::Context,
        path: &Path,
        invert: bool,
    ) -> Result<Option<(TextureHandle, Option<crate::imaging::BodyAxis>)>, String> {
        let key = (path.to_owned(), invert);
        if let Some(t) = self.textures.get_mut(&key) {
            t.frame = self.frame;
            return Ok(Some((t.texture.clone(), t.axis)));
        }
        let Some(thumbnails) = self.thumbnails.as_mut() else { return Ok(None) };
        match thumbnails.get(path, false) {
            Slot::Ready(t) => {
                let mut image = (*t.image).clone();
                if invert {
                    for p in &mut image.pixels {
                        *p = Color32::from_gray(255 - p.r());
                    }
                }
                let name = format!("thumbnail {}", path.display());
                let texture = ctx.load_texture(name, image, TextureOptions::LINEAR);
                self.textures.insert(key, Shown { texture: texture.clone(), frame: self.frame, axis: t.axis });
                Ok(Some((texture, t.axis)))
            }
            Slot::Loading => Ok(None),
            Slot::Failed(why) => Err(why),
        }
    }
}

/// A cell's size for thumbnails of side `side`, and how many fit across `width` with `gap`
/// between cells.
fn cell_size(width: f32, side: f32, gap: f32) -> (Vec2, usize) {
    let cell = vec2(2.0 * side + 6.0, side + 38.0);
    let per_row = ((width + gap) / (cell.x + gap)).floor().max(1.0) as usize;
    (cell, per_row)
}
