//! The menu bar, the status bar and the message banners: free functions over what they show,
//! which queue commands for [`super::app::ReviewApp`] to run after the frame.

use egui::{Color32, RichText, Ui};

use super::app::{Banner, ModelState};
use super::background::BackgroundTasks;
use super::command::UICommand;
use super::command_handling::AppCommand;
use super::settings::Settings;
use super::viewer::Preset;
use super::workspace::Workspace;
use crate::specimen::View;

/// What the status bar shows.
pub struct StatusInput<'a> {
    /// The model.
    pub model: &'a ModelState,
    /// Background work (classification and fine-tuning progress).
    pub tasks: &'a BackgroundTasks,
    /// The reviewer's name and the reading.
    pub settings: &'a Settings,
    /// The open folder.
    pub workspace: Option<&'a Workspace>,
    /// The pixel under the pointer: view, x, y, stored value.
    pub readout: Option<(View, u32, u32, u16)>,
}

/// A menu entry: the command's label, its shortcut, and its tooltip; a click queues it.
pub fn command_button(ui: &mut Ui, queue: &mut Vec<AppCommand>, command: UICommand) {
    let ctx = ui.ctx().clone();
    let shortcut = command.shortcut_text(&ctx);
    let mut button = egui::Button::new(command.label());
    if !shortcut.is_empty() {
        button = button.shortcut_text(shortcut);
    }
    if ui.add(button).on_hover_text(command.tooltip()).clicked() {
        queue.push(AppCommand::Ui(command));
        ui.close();
    }
}

/// A compact button (toolbars): the shortcut goes in the tooltip.
pub fn tool_button(ui: &mut Ui, queue: &mut Vec<AppCommand>, command: UICommand) {
    let ctx = ui.ctx().clone();
    let shortcut = command.shortcut_text(&ctx);
    let tip =
        if shortcut.is_empty() { command.tooltip().to_owned() } else { format!("{} ({shortcut})", command.tooltip()) };
    if ui.button(command.short_label()).on_hover_text(tip).clicked() {
        queue.push(AppCommand::Ui(command));
    }
}

/// The menu bar: File, Model, Review, View, Help.
pub fn menu_bar(ui: &mut Ui, settings: &Settings, queue: &mut Vec<AppCommand>) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            command_button(ui, queue, UICommand::OpenFolder);
            let recent = settings.recent_folders.clone();
            ui.menu_button("Recent folders", |ui| {
                if recent.is_empty() {
                    ui.label("none yet");
                }
                for f in recent {
                    if ui.button(f.display().to_string()).clicked() {
                        queue.push(AppCommand::OpenFolder(f));
                        ui.close();
                    }
                }
            });
            command_button(ui, queue, UICommand::Export);
            command_button(ui, queue, UICommand::ExportLong);
            ui.separator();
            command_button(ui, queue, UICommand::Settings);
            command_button(ui, queue, UICommand::Quit);
        });
        ui.menu_button("Model", |ui| {
            command_button(ui, queue, UICommand::OpenModel);
            command_button(ui, queue, UICommand::ClassifyAll);
            command_button(ui, queue, UICommand::ClassifyUnscored);
            command_button(ui, queue, UICommand::CancelClassify);
            ui.separator();
            command_button(ui, queue, UICommand::ImproveModel);
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
                command_button(ui, queue, c);
            }
            ui.separator();
            let mut second = settings.second_reading;
            let c = UICommand::SecondReading;
            if ui.checkbox(&mut second, c.label()).on_hover_text(c.tooltip()).clicked() {
                queue.push(AppCommand::Ui(c));
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
                command_button(ui, queue, c);
            }
            ui.separator();
            for c in [
                UICommand::ToggleWorklist,
                UICommand::ToggleFindings,
                UICommand::FilmsOnly,
                UICommand::ContactSheet,
                UICommand::ColonyView,
            ] {
                command_button(ui, queue, c);
            }
        });
        ui.menu_button("Help", |ui| command_button(ui, queue, UICommand::Help));
    });
}

/// The newest messages, each dismissable.
pub fn banners(ui: &mut Ui, banners: &[Banner], queue: &mut Vec<AppCommand>) {
    // The newest three; the rest are counted, and go with one click.
    let n = banners.len();
    let mut dismiss = Vec::new();
    for (i, b) in banners.iter().enumerate().rev().take(3) {
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
        queue.push(AppCommand::DismissBanner(i));
    }
}

/// The status bar: model and provider, classification progress, fine-tuning, reviewer, where
/// the review is saved, and the pixel under the pointer.
pub fn status_bar(ui: &mut Ui, input: &StatusInput<'_>, queue: &mut Vec<AppCommand>) {
    ui.horizontal(|ui| {
        match &input.model.info {
            Some(m) => {
                let name = m.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                ui.label(format!("model {name} {}, {}", m.sha256.get(..8).unwrap_or_default(), m.precision()))
                    .on_hover_text(format!("sha256 {}\nweights {}", m.sha256, m.precision()));
                // The provider that runs; why no GPU only on hover (a CPU build is not an error).
                if let Some(ep) = &input.model.ep {
                    ui.label(format!("on {}", ep.active())).on_hover_text(ep.summary());
                }
                if m.metadata.domain.is_none() {
                    ui.label(RichText::new("domain unknown").color(ui.visuals().warn_fg_color)).on_hover_text(
                        "This model carries no domain description: the window cannot tell films unlike its \
                         training data from the rest (`mousexray domain` adds one)",
                    );
                }
            }
            None if input.model.loading => {
                ui.spinner();
                ui.label("loading the model…");
            }
            None => {
                ui.label("no model loaded (Model > Classify all loads it)");
            }
        }
        ui.separator();
        let run = input
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
                command_button(ui, queue, UICommand::CancelClassify);
            }
            ui.separator();
        }
        if let Some(status) = input.tasks.improve.status() {
            if input.tasks.improve.running() {
                ui.spinner();
            }
            if ui.link(status).on_hover_text("Show its progress").clicked() {
                queue.push(AppCommand::Ui(UICommand::ImproveModel));
            }
            ui.separator();
        }
        ui.label(format!("reviewer {}", input.settings.reviewer)).on_hover_text("Settings changes the name");
        if input.settings.second_reading {
            ui.label(RichText::new("second reading (blind)").color(ui.visuals().warn_fg_color))
                .on_hover_text(UICommand::SecondReading.tooltip());
        }
        if let Some(ws) = input.workspace {
            let note = match &ws.review {
                Some(r) if r.snapshot_pending() => format!("saving the review to {}", r.dir().display()),
                Some(r) => format!("review saved to {}", r.dir().display()),
                None => "review not open: decisions are not recorded".into(),
            };
            ui.label(RichText::new(note).small());
        }
        if let Some((view, x, y, v)) = input.readout {
            ui.separator();
            ui.label(RichText::new(format!("{} x {x} y {y} value {v}", view.as_str().to_uppercase())).monospace());
        }
    });
}
