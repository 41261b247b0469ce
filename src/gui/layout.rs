//! The window's layout: menus, banners, the worklist, the viewer, the findings panel and the
//! status bar. Everything here sends commands or edits; nothing decodes or infers.

use egui::{Color32, RichText, Ui};

use super::app::ReviewApp;
use super::command::UICommand;
use super::command_handling::AppCommand;
use super::findings::{self, FindingsAction};
use super::viewer::Preset;
use super::viewer::ViewerInput;
use crate::inference::saliency::{Colormap, OverlayStyle};

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

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        if self.workspace.is_some() {
            // The films come first: either side panel folds away ([ and ], or M for both), and each
            // takes about a quarter of the window, shrinking with it, so the films keep half.
            let width = ui.available_width();
            if self.settings.view.worklist_panel {
                let size = (width * 0.27).clamp(250.0, 380.0);
                egui::Panel::left("worklist")
                    .default_size(size)
                    .size_range(230.0..=(width * 0.3).max(230.0))
                    .show(ui, |ui| self.worklist_ui(ui));
            }
            if self.settings.view.findings_panel {
                let size = (width * 0.24).clamp(230.0, 320.0);
                egui::Panel::right("findings")
                    .default_size(size)
                    .size_range(210.0..=(width * 0.3).max(210.0))
                    .show(ui, |ui| egui::ScrollArea::vertical().show(ui, |ui| self.findings_ui(ui)));
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
                    egui::Frame::popup(ui.style()).show(ui, |ui| self.banner_ui(ui));
                });
            // Notices fade on their own: wake up to remove them.
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
        }
        self.dialogs(ui);
        self.run_queued(&ctx);
    }

    fn command_button(&mut self, ui: &mut Ui, command: UICommand) {
        let ctx = ui.ctx().clone();
        let shortcut = command.shortcut_text(&ctx);
        let mut button = egui::Button::new(command.label());
        if !shortcut.is_empty() {
            button = button.shortcut_text(shortcut);
        }
        if ui.add(button).on_hover_text(command.tooltip()).clicked() {
            self.send(AppCommand::Ui(command));
            ui.close();
        }
    }

    /// A compact button (toolbars): the shortcut goes in the tooltip.
    fn tool_button(&mut self, ui: &mut Ui, command: UICommand) {
        let ctx = ui.ctx().clone();
        let shortcut = command.shortcut_text(&ctx);
        let tip = if shortcut.is_empty() {
            command.tooltip().to_owned()
        } else {
            format!("{} ({shortcut})", command.tooltip())
        };
        if ui.button(command.short_label()).on_hover_text(tip).clicked() {
            self.send(AppCommand::Ui(command));
        }
    }

    fn menu_bar(&mut self, ui: &mut Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                self.command_button(ui, UICommand::OpenFolder);
                let recent = self.settings.recent_folders.clone();
                ui.menu_button("Recent folders", |ui| {
                    if recent.is_empty() {
                        ui.label("none yet");
                    }
                    for f in recent {
                        if ui.button(f.display().to_string()).clicked() {
                            self.send(AppCommand::OpenFolder(f));
                            ui.close();
                        }
                    }
                });
                self.command_button(ui, UICommand::Export);
                ui.separator();
                self.command_button(ui, UICommand::Settings);
                self.command_button(ui, UICommand::Quit);
            });
            ui.menu_button("Model", |ui| {
                self.command_button(ui, UICommand::OpenModel);
                self.command_button(ui, UICommand::ClassifyAll);
                self.command_button(ui, UICommand::ClassifyUnscored);
                self.command_button(ui, UICommand::CancelClassify);
                ui.separator();
                self.command_button(ui, UICommand::ImproveModel);
            });
            ui.menu_button("Review", |ui| {
                for c in [
                    UICommand::MarkAbnormal,
                    UICommand::MarkNormal,
                    UICommand::MarkUnobservable,
                    UICommand::SecondLook,
                    UICommand::Next,
                    UICommand::Previous,
                    UICommand::First,
                    UICommand::Undo,
                    UICommand::Redo,
                    UICommand::AllUnflaggedNormal,
                ] {
                    self.command_button(ui, c);
                }
                ui.separator();
                let mut second = self.settings.second_reading;
                let c = UICommand::SecondReading;
                if ui.checkbox(&mut second, c.label()).on_hover_text(c.tooltip()).clicked() {
                    self.send(AppCommand::Ui(c));
                    ui.close();
                }
            });
            ui.menu_button("View", |ui| {
                for c in [
                    UICommand::ToggleOverlay,
                    UICommand::LinkZoom,
                    UICommand::Fit,
                    UICommand::OneToOne,
                    UICommand::ZoomIn,
                    UICommand::ZoomOut,
                    UICommand::Invert,
                    UICommand::RotateClockwise,
                    UICommand::FlipHorizontal,
                    UICommand::AutoWindow,
                    UICommand::WindowPreset(Preset::Bone),
                    UICommand::WindowPreset(Preset::SoftTissue),
                    UICommand::WindowPreset(Preset::Full),
                    UICommand::ResetOrientation,
                    UICommand::HeadUp,
                    UICommand::ToggleReference,
                    UICommand::PinReference,
                ] {
                    self.command_button(ui, c);
                }
                ui.separator();
                for c in [
                    UICommand::ToggleWorklist,
                    UICommand::ToggleFindings,
                    UICommand::FilmsOnly,
                    UICommand::ContactSheet,
                    UICommand::ColonyView,
                ] {
                    self.command_button(ui, c);
                }
            });
            ui.menu_button("Help", |ui| self.command_button(ui, UICommand::Help));
        });
    }

    fn banner_ui(&mut self, ui: &mut Ui) {
        // The newest three; the rest are counted, and go with one click.
        let n = self.banners.len();
        let mut dismiss = Vec::new();
        for (i, b) in self.banners.iter().enumerate().rev().take(3) {
            ui.horizontal(|ui| {
                let color = if b.error { Color32::from_rgb(220, 80, 70) } else { ui.visuals().text_color() };
                if ui.small_button("x").on_hover_text("dismiss").clicked() {
                    dismiss.push(i);
                }
                // Wrapped: a long path in an error must stay readable, not clipped.
                ui.add(egui::Label::new(RichText::new(&b.text).color(color)).wrap());
            });
        }
        if n > 3 && ui.small_button(format!("dismiss all {n} messages")).clicked() {
            dismiss = (0..n).rev().collect();
        }
        // Highest index first, so each removal leaves the others' indices valid.
        dismiss.sort_unstable_by(|a, b| b.cmp(a));
        for i in dismiss {
            self.send(AppCommand::DismissBanner(i));
        }
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            match &self.model.info {
                Some(m) => {
                    let name = m.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                    ui.label(format!("model {name} {}, {}", m.sha256.get(..8).unwrap_or_default(), m.precision()))
                        .on_hover_text(format!("sha256 {}\nweights {}", m.sha256, m.precision()));
                    // The provider that runs; why no GPU only on hover (a CPU build is not an error).
                    if let Some(ep) = &self.model.ep {
                        ui.label(format!("on {}", ep.active())).on_hover_text(ep.summary());
                    }
                    if m.metadata.domain.is_none() {
                        ui.label(RichText::new("domain unknown").color(ui.visuals().warn_fg_color)).on_hover_text(
                            "This model carries no domain description: the window cannot tell films unlike its \
                             training data from the rest (`mousexray domain` adds one)",
                        );
                    }
                }
                None if self.model.loading => {
                    ui.spinner();
                    ui.label("loading the model…");
                }
                None => {
                    ui.label("no model loaded (Model > Classify all loads it)");
                }
            }
            ui.separator();
            let run = self
                .tasks
                .classify
                .as_ref()
                .map(|r| (r.done, r.indices.len(), r.started.elapsed().as_secs_f64(), r.cancelling));
            if let Some((done, total, secs, cancelling)) = run {
                let f = done as f32 / total.max(1) as f32;
                let rate = done as f64 / secs.max(1e-3);
                let eta = if rate > 0.0 { (total - done) as f64 / rate } else { 0.0 };
                ui.add(egui::ProgressBar::new(f).desired_width(160.0).text(format!("{done}/{total}")));
                ui.label(format!("{rate:.1} specimens/s, {eta:.0} s left"));
                if cancelling {
                    ui.label("stopping…");
                } else {
                    self.command_button(ui, UICommand::CancelClassify);
                }
                ui.separator();
            }
            if let Some(status) = self.tasks.improve.status() {
                if self.tasks.improve.running() {
                    ui.spinner();
                }
                if ui.link(status).on_hover_text("Show its progress").clicked() {
                    self.send(AppCommand::Ui(UICommand::ImproveModel));
                }
                ui.separator();
            }
            ui.label(format!("reviewer {}", self.settings.reviewer)).on_hover_text("Settings changes the name");
            if self.settings.second_reading {
                ui.label(RichText::new("second reading (blind)").color(ui.visuals().warn_fg_color))
                    .on_hover_text(UICommand::SecondReading.tooltip());
            }
            if let Some(ws) = &self.workspace {
                let note = match &ws.review {
                    Some(r) if r.snapshot_pending() => format!("saving the review to {}", r.dir().display()),
                    Some(r) => format!("review saved to {}", r.dir().display()),
                    None => "review not open: decisions are not recorded".into(),
                };
                ui.label(RichText::new(note).small());
            }
            if let Some((view, x, y, v)) = self.viewer.readout {
                ui.separator();
                ui.label(RichText::new(format!("{} x {x} y {y} value {v}", view.as_str().to_uppercase())).monospace());
            }
        });
    }

    fn worklist_ui(&mut self, ui: &mut Ui) {
        let Some(ws) = self.workspace.as_ref() else { return };
        let total = ws.specimens().len();
        let reviewed = ws.reviewed_count();
        ui.horizontal(|ui| {
            ui.strong(
                ws.folder
                    .file_name()
                    .map_or_else(|| ws.folder.display().to_string(), |n| n.to_string_lossy().into_owned()),
            );
            ui.label(format!("{reviewed} of {total} reviewed"));
        });
        let f = &mut self.worklist.filter;
        let before = f.clone();
        ui.horizontal_wrapped(|ui| {
            ui.toggle_value(&mut f.flagged, "flagged");
            ui.toggle_value(&mut f.unreviewed, "unreviewed");
            ui.toggle_value(&mut f.qc, "QC");
            ui.toggle_value(&mut f.unlike_training, "unlike training")
                .on_hover_text("Only specimens the model finds unlike its training data: their scores are unreliable");
            let current = f
                .finding
                .as_deref()
                .and_then(|id| self.taxonomy.get(id))
                .map_or("any finding".to_owned(), |n| n.label.clone());
            egui::ComboBox::from_id_salt("finding_filter").selected_text(current).show_ui(ui, |ui| {
                ui.selectable_value(&mut f.finding, None, "any finding");
                for n in self.taxonomy.nodes.iter().skip(1) {
                    ui.selectable_value(&mut f.finding, Some(n.id.clone()), &n.label);
                }
            });
        });
        let label = ui.label("Search");
        ui.add(egui::TextEdit::singleline(&mut f.text).hint_text("id, colony, gene…")).labelled_by(label.id);
        if *f != before {
            self.worklist.invalidate();
        }
        self.worklist.refresh(ws, &self.taxonomy);
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{} shown", self.worklist.order.len())).small());
            let n = self.worklist.unsorted_results;
            if n > 0
                && ui
                    .small_button(format!("sort {n} new scores"))
                    .on_hover_text("Rows keep their place while the classifier runs; sort now")
                    .clicked()
            {
                self.worklist.invalidate();
            }
        });
        if ws.selected.is_some_and(|s| !self.worklist.order.contains(&s)) {
            ui.label(RichText::new("The specimen shown is hidden by the filter").color(ui.visuals().warn_fg_color));
        }
        let marked = self.worklist.marked.len();
        if marked > 0 {
            ui.label(RichText::new(format!("{marked} marked: N calls them normal (one undo)")).strong());
        }
        ui.separator();
        if let Some(i) = self.worklist.table(ui, ws, &self.taxonomy) {
            self.send(AppCommand::Select(i));
        }
    }

    fn findings_ui(&mut self, ui: &mut Ui) {
        let Some(ws) = self.workspace.as_ref() else { return };
        let saliency = self.viewer.overlay.then(|| self.saliency_class()).flatten();
        let actions = findings::show(ui, ws, &self.taxonomy, &self.model.thresholds, &mut self.comment.1, saliency);
        for a in actions {
            self.send(match a {
                FindingsAction::Decide(d) => AppCommand::Decide(d),
                FindingsAction::ShowClass(c) => AppCommand::ShowClass(Some(c)),
            });
        }
        // A second reading: the first reader's calls, only once this reader has decided.
        let Some(ws) = self.workspace.as_ref() else { return };
        if let (Some(first), Some(i), Some(s)) = (ws.first_reading.as_ref(), ws.selected, ws.selected_specimen()) {
            ui.separator();
            second_reading_ui(ui, first.get(&s.id), ws.review_of(i), &self.taxonomy);
        }
        // Measurements, each with the scale of the film it was drawn on.
        let (Some(i), Some(specimen)) = (ws.selected, ws.selected_specimen()) else { return };
        let measurements = ws.review_of(i).map(|r| r.measurements.clone()).unwrap_or_default();
        let ruler = ws.review.as_ref().and_then(|r| crate::review::measurement::ruler_scale(&r.state));
        let spacing: Vec<_> = specimen
            .images
            .iter()
            .map(|(v, p)| {
                let s = match self.images.get(p, false) {
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
        let taxonomy = &self.taxonomy;
        let label_of = |id: &str| taxonomy.get(id).map_or_else(|| id.to_owned(), |n| n.label.clone());
        for a in super::measure::list(ui, &measurements, &scale_of, &label_of) {
            self.send(AppCommand::Measure(a));
        }
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
                self.command_button(ui, UICommand::OpenFolder);
            });
            return;
        }
        // Toolbars wrap at the visible width, not at the widest content seen.
        ui.set_max_width(ui.clip_rect().width());
        if self.settings.view.contact_sheet {
            self.sheet_ui(ui);
            return;
        }
        self.viewer_toolbar(ui);
        let Some(ws) = self.workspace.as_ref() else { return };
        let Some(specimen) = ws.selected_specimen() else {
            ui.label("No specimen selected.");
            return;
        };
        let scored = ws.selected.and_then(|i| ws.results.get(i)).and_then(Option::as_ref);
        let class = self.saliency_class();
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

    fn viewer_toolbar(&mut self, ui: &mut Ui) {
        // One row of tools, the window and saliency settings in menus, then one row naming what
        // the overlay shows: a short toolbar leaves the height to the films.
        ui.horizontal_wrapped(|ui| {
            for c in [UICommand::Fit, UICommand::OneToOne, UICommand::RotateClockwise, UICommand::FlipHorizontal] {
                self.tool_button(ui, c);
            }
            let ctx = ui.ctx().clone();
            let mut toggles = [
                (UICommand::HeadUp, self.viewer.head_up),
                (UICommand::LinkZoom, self.viewer.linked),
                (UICommand::Invert, self.viewer.invert),
                (UICommand::ToggleReference, self.viewer.reference.is_some()),
                (UICommand::ToggleOverlay, self.viewer.overlay),
            ];
            for (c, on) in &mut toggles {
                let shortcut = c.shortcut_text(&ctx);
                if ui.toggle_value(on, c.short_label()).on_hover_text(format!("{} ({shortcut})", c.tooltip())).clicked()
                {
                    self.send(AppCommand::Ui(*c));
                }
            }
            ui.menu_button("Window", |ui| self.window_menu(ui));
            ui.menu_button("Measure", |ui| {
                for kind in crate::review::MeasureKind::ALL {
                    let on = self.viewer.measure.as_ref().is_some_and(|t| t.kind == kind);
                    let c = UICommand::Measure(kind);
                    let button = egui::Button::selectable(on, c.label()).shortcut_text(c.shortcut_text(ui.ctx()));
                    if ui.add(button).on_hover_text(c.tooltip()).clicked() {
                        self.send(AppCommand::Ui(c));
                        ui.close();
                    }
                }
                self.command_button(ui, UICommand::FindRuler);
            });
            ui.menu_button("Saliency…", |ui| self.saliency_menu(ui)).response.on_hover_text("Saliency options");
            // Rotation and mirror stay from specimen to specimen: say so while they are on.
            let o = self.viewer.orientation;
            if o != Default::default() {
                let mut text = Vec::new();
                if !o.quarter_turns.is_multiple_of(4) {
                    text.push(format!("rotated {}°", 90 * u32::from(o.quarter_turns % 4)));
                }
                if o.flip {
                    text.push("mirrored".to_owned());
                }
                ui.label(RichText::new(text.join(", ")).color(ui.visuals().warn_fg_color));
                self.tool_button(ui, UICommand::ResetOrientation);
            }
        });
        // Always drawn, greyed out while the overlay is off, so the films do not jump.
        ui.add_enabled_ui(self.viewer.overlay, |ui| self.overlay_toolbar(ui));
    }

    /// Window/level: presets and each view's numbers.
    fn window_menu(&mut self, ui: &mut Ui) {
        for preset in Preset::ALL {
            let c = if preset == Preset::Auto { UICommand::AutoWindow } else { UICommand::WindowPreset(preset) };
            let button = egui::Button::new(preset.label()).shortcut_text(c.shortcut_text(ui.ctx()));
            if ui.add(button).on_hover_text(preset.tooltip()).clicked() {
                self.send(AppCommand::Ui(c));
                ui.close();
            }
        }
        ui.separator();
        egui::Grid::new("window_numbers").show(ui, |ui| {
            for (k, name) in ["DV", "LV"].into_iter().enumerate() {
                let Some(mut w) = self.viewer.panels.get(k).and_then(|p| p.shown_window) else { continue };
                let before = w;
                let l = ui.label(format!("{name} width"));
                ui.add(egui::DragValue::new(&mut w.width).range(1.0..=65535.0).speed(10.0)).labelled_by(l.id);
                let l = ui.label("level");
                ui.add(egui::DragValue::new(&mut w.center).range(0.0..=65535.0).speed(10.0)).labelled_by(l.id);
                ui.end_row();
                if w != before
                    && let Some(p) = self.viewer.panels.get_mut(k)
                {
                    p.window = Some(w);
                }
            }
        });
        ui.label(RichText::new("Right-drag on a film: sideways the width, up and down the level").small());
    }

    /// How the saliency is drawn.
    fn saliency_menu(&mut self, ui: &mut Ui) {
        ui.spacing_mut().slider_width = 100.0;
        ui.horizontal(|ui| {
            ui.label("Colormap");
            for c in Colormap::ALL {
                ui.selectable_value(&mut self.settings.colormap, c, c.as_str());
            }
        });
        ui.checkbox(&mut self.settings.overlay_contour, "contour lines instead of a filled map");
        ui.add(egui::Slider::new(&mut self.settings.overlay_opacity, 0.0..=1.0).text("opacity"));
        ui.add(egui::Slider::new(&mut self.settings.overlay_threshold, 0.0..=0.9).text("threshold"))
            .on_hover_text("Evidence weaker than this fraction of the specimen's strongest is not drawn");
    }

    /// The class whose saliency is drawn: the chosen one, else the selected specimen's top
    /// finding, else the abnormal node itself.
    fn saliency_class(&self) -> Option<usize> {
        let ws = self.workspace.as_ref()?;
        let scored = ws.selected.and_then(|i| ws.results.get(i)).and_then(Option::as_ref);
        self.viewer.overlay_class.or_else(|| {
            scored.map(|r| {
                r.scores.top_finding(&self.taxonomy).and_then(|(id, _)| self.taxonomy.index_of(id)).unwrap_or(0)
            })
        })
    }

    /// The saliency row: which class, a legend, and how it is drawn.
    fn overlay_toolbar(&mut self, ui: &mut Ui) {
        let ws = self.workspace.as_ref();
        let scored = ws.and_then(|ws| ws.selected.and_then(|i| ws.results.get(i))).and_then(Option::as_ref);
        let top = scored.and_then(|r| r.scores.top_finding(&self.taxonomy)).and_then(|(id, _)| self.taxonomy.get(id));
        let shown = self.viewer.overlay_class.and_then(|c| self.taxonomy.nodes.get(c)).or(top);
        // Why nothing is drawn.
        let missing = match scored {
            _ if !self.viewer.overlay => None,
            None if ws.is_some_and(|w| w.selected.is_some()) => Some("this specimen is not classified yet"),
            Some(r) if r.cams.is_none() => {
                Some("these scores come from a decision record; Classify unscored redraws the map")
            }
            _ if shown.is_none() => Some("the model flags no finding here; choose a class"),
            _ => None,
        };
        // Fixed content (a message is short), so showing the overlay never moves the films;
        // wrapped, so a narrow window is not pushed wider than it is.
        ui.horizontal_wrapped(|ui| {
            let current = match self.viewer.overlay_class.and_then(|c| self.taxonomy.nodes.get(c)) {
                Some(n) => n.label.clone(),
                None => format!("top finding ({})", top.map_or("none", |n| n.label.as_str())),
            };
            let label = ui.label("Saliency for");
            egui::ComboBox::from_id_salt("overlay_class")
                .selected_text(current)
                .width(150.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.viewer.overlay_class, None, "top finding");
                    for (i, n) in self.taxonomy.nodes.iter().enumerate() {
                        ui.selectable_value(&mut self.viewer.overlay_class, Some(i), &n.label);
                    }
                })
                .response
                .labelled_by(label.id);
            legend(ui, self.settings.colormap);
            if let Some(why) = missing {
                ui.label(RichText::new("no map").color(ui.visuals().warn_fg_color)).on_hover_text(why);
            }
        });
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

/// The colormap from weak to strong evidence (relative to the specimen's strongest, shared by DV
/// and LV).
fn legend(ui: &mut Ui, colormap: Colormap) {
    ui.label(RichText::new("weak").small());
    let (rect, response) = ui.allocate_exact_size(egui::vec2(80.0, 10.0), egui::Sense::hover());
    let steps = 32;
    for k in 0..steps {
        let t = k as f32 / (steps - 1) as f32;
        let [r, g, b] = colormap.rgb(t).map(|c| (c * 255.0) as u8);
        let x0 = rect.min.x + rect.width() * k as f32 / steps as f32;
        let x1 = rect.min.x + rect.width() * (k + 1) as f32 / steps as f32;
        let cell = egui::Rect::from_min_max(egui::pos2(x0, rect.min.y), egui::pos2(x1, rect.max.y));
        ui.painter().rect_filled(cell, 0.0, Color32::from_rgb(r, g, b));
    }
    response.on_hover_text("Evidence for the class, from weak to the strongest in this specimen's DV and LV");
    ui.label(RichText::new("strong").small());
}
