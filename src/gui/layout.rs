//! One frame of the window: the panels in place (menu and status bars, worklist, findings, the
//! films or the contact sheet, banners, dialogs), each drawn by its own module over what it
//! shows; their commands are queued and run after drawing. Nothing here decodes or infers.

use egui::{Id, Rangef, RichText, Ui, panel::PanelState};

use super::app::ReviewApp;
use super::command::UICommand;
use super::command_handling::AppCommand;
use super::findings;
use super::menus;
use super::viewer::ViewerInput;
use super::viewer_toolbar;
use crate::inference::saliency::OverlayStyle;

impl ReviewApp {
    /// Draws one frame into `ui` (the whole window) and runs what the user asked for.
    pub fn ui(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        // Before anything is drawn: the click that closes a menu must not also land on a film.
        self.viewer.popup_was_open = egui::Popup::is_any_open(&ctx);
        self.poll(&ctx);
        self.before_frame();
        for command in UICommand::from_input(&ctx) {
            self.send(AppCommand::Ui(command));
        }
        if let Some(folder) = ctx.input(|i| {
            i.raw.dropped_files.iter().find_map(|f| Some(f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()))
        }) {
            let folder = if folder.is_dir() { folder } else { folder.parent().map(Into::into).unwrap_or(folder) };
            self.send(AppCommand::OpenFolder(folder));
        }

        egui::Panel::top("menu").show(ui, |ui| menus::menu_bar(ui, &self.settings, &mut self.queue));
        egui::Panel::bottom("status").show(ui, |ui| {
            let input = menus::StatusInput {
                model: &self.model,
                tasks: &self.tasks,
                settings: &self.settings,
                workspace: self.workspace.as_ref(),
                readout: self.viewer.readout,
            };
            menus::status_bar(ui, &input, &mut self.queue);
        });
        if self.workspace.is_some() {
            // The films come first: either side panel folds away ([ and ], or M for both), and each
            // takes about a quarter of the window, shrinking with it, so the films keep half.
            let width = ui.available_width();
            let resized = window_resized(ui, width);
            if self.settings.view.worklist_panel {
                let range = Rangef::new(230.0, (width * 0.3).max(230.0));
                let default = (width * 0.27).clamp(250.0, 440.0);
                let size = panel_size(ui, "worklist", self.settings.view.worklist_width, default, range, resized);
                egui::Panel::left("worklist").default_size(size).size_range(range).show(ui, |ui| {
                    if let Some(ws) = self.workspace.as_ref() {
                        super::worklist::panel(
                            ui,
                            ws,
                            &mut self.worklist,
                            &self.taxonomy,
                            &self.model.thresholds,
                            &mut self.queue,
                        );
                    }
                });
                remember_drag(ui, "worklist", &mut self.settings.view.worklist_width);
            }
            if self.settings.view.findings_panel {
                let range = Rangef::new(210.0, (width * 0.3).max(210.0));
                let default = (width * 0.24).clamp(230.0, 340.0);
                let size = panel_size(ui, "findings", self.settings.view.findings_width, default, range, resized);
                egui::Panel::right("findings").default_size(size).size_range(range).show(ui, |ui| {
                    // A solid scroll bar, not egui's floating one that shows only on hover: the
                    // panel runs past a small window and the reviewer must see there is more.
                    ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        let Some(ws) = self.workspace.as_ref() else { return };
                        let saliency_class = self
                            .viewer
                            .overlay
                            .then(|| {
                                viewer_toolbar::saliency_class(self.workspace.as_ref(), &self.viewer, &self.taxonomy)
                            })
                            .flatten();
                        let input = findings::PanelInput {
                            ws,
                            taxonomy: &self.taxonomy,
                            loaded_model: self.model.info.as_ref().map(|m| m.sha256.as_str()),
                            saliency_class,
                        };
                        findings::panel(ui, &input, &mut self.comment.1, &mut self.images, &mut self.queue);
                    })
                });
                remember_drag(ui, "findings", &mut self.settings.view.findings_width);
            }
        }
        egui::CentralPanel::default().show(ui, |ui| self.centre(ui));
        self.banners.retain(|b| b.error || b.since.elapsed().as_secs() < super::app::NOTICE_SECONDS);
        if !self.banners.is_empty() {
            // Over the foot of the films, not a panel: a message never moves the layout.
            let rect = ctx.content_rect();
            egui::Area::new(egui::Id::unique("banners"))
                .order(egui::Order::Foreground)
                .anchor(egui::Align2::CENTER_BOTTOM, egui::vec2(0.0, -34.0))
                .show(&ctx, |ui| {
                    ui.set_max_width((rect.width() * 0.7).max(300.0));
                    egui::Frame::popup(ui.style()).show(ui, |ui| menus::banners(ui, &self.banners, &mut self.queue));
                });
            // Notices fade on their own: wake up to remove them.
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
        }
        self.dialogs(ui);
        self.run_queued(&ctx);
    }

    fn centre(&mut self, ui: &mut Ui) {
        if self.workspace.is_none() {
            ui.vertical_centered(|ui| {
                ui.add_space(ui.available_height() / 3.0);
                if self.tasks.scan.is_some() {
                    ui.spinner();
                    ui.label("scanning…");
                    return;
                }
                ui.heading("mousexray");
                ui.label("Open a folder of DV and LV radiographs, or drop one on the window.");
                menus::command_button(ui, &mut self.queue, UICommand::OpenFolder);
            });
            return;
        }
        // Toolbars wrap at the visible width, not at the widest content seen.
        ui.set_max_width(ui.clip_rect().width());
        if self.settings.view.contact_sheet {
            self.sheet_ui(ui);
            return;
        }
        let tools = viewer_toolbar::ToolbarInput { workspace: self.workspace.as_ref(), taxonomy: &self.taxonomy };
        viewer_toolbar::show(ui, &tools, &mut self.viewer, &mut self.settings, &mut self.queue);
        let Some(ws) = self.workspace.as_ref() else { return };
        let Some(specimen) = ws.selected_specimen() else {
            ui.label("No specimen selected.");
            return;
        };
        let scored = ws.selected.and_then(|i| ws.results.get(i)).and_then(Option::as_ref);
        let class = viewer_toolbar::saliency_class(self.workspace.as_ref(), &self.viewer, &self.taxonomy);
        let mut measurements =
            ws.selected.and_then(|i| ws.review_of(i)).map(|r| r.measurements.clone()).unwrap_or_default();
        // A calibration waiting for its length (drawn, or proposed by the ruler finder) shows.
        if let super::Dialog::Calibrate { specimen: id, measurement, .. } = &self.dialog
            && *id == specimen.id
        {
            measurements.push(measurement.clone());
        }
        let ruler = ws.review.as_ref().and_then(|r| crate::review::measurement::ruler_scale(&r.state));
        let input = ViewerInput {
            specimen,
            scored,
            class,
            style: OverlayStyle {
                colormap: self.settings.colormap,
                max_alpha: 1.0,
                floor: self.settings.overlay_threshold,
                contour: self.settings.overlay_contour,
            },
            opacity: self.settings.overlay_opacity,
            reference: self.viewer.reference.and_then(|_| ws.reference_specimen()),
            report: &ws.report,
            measurements: &measurements,
            ruler: ruler.as_ref(),
            taxonomy: &self.taxonomy,
        };
        let extras: Vec<_> = specimen.extra_views().map(|(v, p)| (v, p.display().to_string())).collect();
        if !extras.is_empty() {
            // The strip of extra views: one shows in the right panel instead of LV.
            ui.horizontal_wrapped(|ui| {
                ui.label("Right panel:");
                ui.selectable_value(&mut self.viewer.extra, None, "LV");
                for (v, path) in extras {
                    ui.selectable_value(&mut self.viewer.extra, Some(v), v.as_str().replace('_', " "))
                        .on_hover_text(path);
                }
            });
        }
        self.viewer.show(ui, &mut self.images, &input);
        if let Some((specimen, m)) = self.viewer.measured.take() {
            self.send(AppCommand::Measured(specimen, m));
        }
    }

    /// The contact sheet (or the colony view) in place of the films.
    fn sheet_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            let ctx = ui.ctx().clone();
            let back = format!("Back to the films ({})", UICommand::ContactSheet.shortcut_text(&ctx));
            if ui.button(back).clicked() {
                self.send(AppCommand::Ui(UICommand::ContactSheet));
            }
            let mut colony = self.settings.view.colony;
            let c = UICommand::ColonyView;
            let tip = format!("{} ({})", c.tooltip(), c.shortcut_text(&ctx));
            if ui.toggle_value(&mut colony, c.label()).on_hover_text(tip).clicked() {
                self.send(AppCommand::Ui(c));
            }
            let label = ui.label("Thumbnails");
            ui.add(egui::Slider::new(&mut self.settings.view.thumbnail_size, 64.0..=256.0).suffix(" pt"))
                .labelled_by(label.id);
            if !self.settings.view.colony {
                let n = self.worklist.order.len();
                ui.label(RichText::new(format!("{n} listed, in the worklist's order and filter")).small());
            }
        });
        let Some(ws) = self.workspace.as_ref() else { return };
        // The sheet lists the worklist's rows even while the worklist panel is folded away.
        self.worklist.refresh(ws, &self.taxonomy);
        let input = super::contact_sheet::SheetInput {
            workspace: ws,
            worklist: &self.worklist,
            taxonomy: &self.taxonomy,
            cell: self.settings.view.thumbnail_size,
            orientation: self.viewer.orientation,
            head_up: self.viewer.head_up,
            invert: self.viewer.invert,
            colony: self.settings.view.colony,
        };
        let actions = self.sheet.show(ui, &input);
        let selected = ws.selected;
        for action in actions {
            match action {
                super::contact_sheet::SheetAction::Click { index, ctrl, shift } => {
                    self.worklist.click(selected, index, ctrl, shift);
                    self.send(AppCommand::Select(index));
                }
                super::contact_sheet::SheetAction::Open(index) => {
                    self.send(AppCommand::Select(index));
                    self.send(AppCommand::Ui(UICommand::ContactSheet));
                }
            }
        }
    }
}

/// Whether the window's width changed since the last frame (always on the first).
fn window_resized(ui: &Ui, width: f32) -> bool {
    let id = Id::unique("mousexray_window_width");
    ui.data_mut(|d| {
        let last: Option<f32> = d.get_temp(id);
        d.insert_temp(id, width);
        last.is_none_or(|w| (w - width).abs() > 0.5)
    })
}

/// A side panel's width this frame: the reviewer's choice (`chosen`), else `default`, as far as
/// `range` allows. egui keeps the size a shrinking window clamped a panel to, so it would never
/// grow back: when the window's width changes, the panel is set to this width again.
fn panel_size(ui: &Ui, salt: &str, chosen: Option<f32>, default: f32, range: Rangef, resized: bool) -> f32 {
    let size = chosen.unwrap_or(default).clamp(range.min, range.max);
    if resized {
        let outer_rect = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(size, 1.0));
        ui.data_mut(|d| d.insert_persisted(ui.scope_id().with(salt), PanelState { outer_rect }));
    }
    size
}

/// Keeps the width the reviewer dragged a side panel to: only a drag of its edge (egui's
/// resize handle, `PANEL.with("__resize")`) counts, never a width the panel's content or the
/// window forced on it.
fn remember_drag(ui: &Ui, salt: &str, chosen: &mut Option<f32>) {
    let panel = ui.scope_id().with(salt);
    let dragged = ui.ctx().read_response(panel.with("__resize")).is_some_and(|r| r.dragged() || r.drag_stopped());
    if let Some(w) = PanelState::load(ui.ctx(), panel).map(|s| s.size().x)
        && dragged
    {
        *chosen = Some(w);
    }
}
