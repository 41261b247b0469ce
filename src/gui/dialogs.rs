//! Dialogs: the system file dialog (rfd, xdg-portal) with a typed-path fallback when none can
//! be shown, the help window with every shortcut, and the settings window.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Id, Modal, RichText, Ui};

use super::app::{ReviewApp, default_export_name};
use super::command::UICommand;
use super::command_handling::AppCommand;
use super::jobs::Job;
use crate::inference::Device;
use crate::inference::saliency::Colormap;

/// A dialog answer faster than this with no path means no dialog could be shown (rfd returns
/// at once when neither a portal nor zenity exists).
const NO_DIALOG: Duration = Duration::from_millis(250);

/// What a path is being chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A folder of specimens.
    OpenFolder,
    /// An ONNX model.
    OpenModel,
    /// Where to write the CSV; `long`: IMPC's long form.
    Export {
        /// A row per specimen, node and IMPC parameter (else a row per specimen).
        long: bool,
    },
}

impl Purpose {
    fn title(self) -> &'static str {
        match self {
            Purpose::OpenFolder => "Open folder",
            Purpose::OpenModel => "Open model",
            Purpose::Export { long: false } => "Export CSV",
            Purpose::Export { long: true } => "Export IMPC long CSV",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Purpose::OpenFolder => "Folder path",
            Purpose::OpenModel => "Model path (.onnx)",
            Purpose::Export { .. } => "CSV path",
        }
    }
}

/// The open dialog.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Dialog {
    /// None.
    #[default]
    None,
    /// Type a path (no system dialog available).
    TypedPath {
        /// For what.
        purpose: Purpose,
        /// The text so far.
        text: String,
    },
    /// Every shortcut.
    Help,
    /// Preferences.
    Settings,
    /// Who is reviewing: asked at the first launch, and when a blind second reading starts.
    Reviewer {
        /// The name typed so far.
        name: String,
        /// For a second reading: the first readers' names, to read the second beside (Esc
        /// then keeps the name in the settings).
        second_reading: Option<Vec<String>>,
    },
    /// Fine-tune the model on the folder's reviews, and compare.
    Improve,
    /// The length of a ruler calibration just drawn, in millimetres.
    Calibrate {
        /// The specimen it was drawn on.
        specimen: String,
        /// The calibration, without its length yet.
        measurement: crate::review::Measurement,
        /// The length typed so far.
        text: String,
        /// How the ruler finder read the ruler, when it proposed the line.
        found: Option<String>,
    },
    /// Which finding a mark just drawn shows.
    MarkFinding {
        /// The specimen it was drawn on.
        specimen: String,
        /// The mark, without its finding yet.
        measurement: crate::review::Measurement,
    },
    /// Confirm calling these specimens (workspace indices) normal.
    ConfirmNormal {
        /// The specimens.
        indices: Vec<usize>,
    },
}

impl ReviewApp {
    /// Asks for a path: the system dialog when allowed, else the typed-path dialog.
    pub fn pick(&mut self, ctx: &egui::Context, purpose: Purpose) {
        if self.tasks.picker.is_some() {
            return;
        }
        let start = self.suggested_path(purpose);
        if !self.options.native_dialogs {
            self.dialog = Dialog::TypedPath { purpose, text: start.display().to_string() };
            return;
        }
        // The dialog is built on the UI thread (macOS requires it) and awaited on a worker.
        let dialog = rfd::AsyncFileDialog::new().set_title(purpose.title());
        type Pick = std::pin::Pin<Box<dyn std::future::Future<Output = Option<rfd::FileHandle>> + Send>>;
        let future: Pick = match purpose {
            Purpose::OpenFolder => Box::pin(dialog.set_directory(&start).pick_folder()),
            Purpose::OpenModel => {
                Box::pin(dialog.add_filter("ONNX model", &["onnx"]).set_directory(&start).pick_file())
            }
            Purpose::Export { .. } => {
                let dir = start.parent().map(PathBuf::from).unwrap_or_default();
                let name = start.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                Box::pin(dialog.add_filter("CSV", &["csv"]).set_directory(dir).set_file_name(name).save_file())
            }
        };
        self.tasks.picker = Some(Job::spawn(ctx, move |send| {
            let t = Instant::now();
            let picked = pollster::block_on(future).map(|h| h.path().to_path_buf());
            send((purpose, picked, t.elapsed()));
        }));
    }

    fn suggested_path(&self, purpose: Purpose) -> PathBuf {
        let folder = self.workspace.as_ref().map(|w| w.folder.clone());
        match purpose {
            Purpose::OpenFolder => folder.or_else(|| self.settings.recent_folders.first().cloned()).unwrap_or_default(),
            Purpose::OpenModel => self.settings.model.clone().unwrap_or_else(|| PathBuf::from("models")),
            Purpose::Export { long } => {
                folder.map(|f| f.join(default_export_name(&f, long))).unwrap_or_else(|| "review.csv".into())
            }
        }
    }

    pub(super) fn poll_picker(&mut self, ctx: &egui::Context) {
        let Some(job) = &self.tasks.picker else { return };
        let (msgs, finished) = job.drain();
        if finished {
            self.tasks.picker = None;
        }
        for (purpose, picked, elapsed) in msgs {
            match picked {
                Some(path) => self.chosen(ctx, purpose, path),
                None if elapsed < NO_DIALOG => {
                    let text = self.suggested_path(purpose).display().to_string();
                    self.dialog = Dialog::TypedPath { purpose, text };
                }
                None => {}
            }
        }
    }

    /// Draws the open dialog, if any.
    pub(super) fn dialogs(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        match std::mem::take(&mut self.dialog) {
            Dialog::None => {}
            Dialog::Improve => self.improve_window(&ctx),
            Dialog::TypedPath { purpose, mut text } => {
                let mut outcome = None;
                Modal::new(Id::unique("typed_path")).show(&ctx, |ui| {
                    ui.heading(purpose.title());
                    ui.label("No system file dialog is available; type the path.");
                    let label = ui.label(purpose.field());
                    let edit = ui.add(egui::TextEdit::singleline(&mut text).desired_width(420.0)).labelled_by(label.id);
                    if !edit.has_focus() && !ui.memory(|m| m.has_focus(edit.id)) && outcome.is_none() {
                        edit.request_focus();
                    }
                    // Enter in the field takes its focus away before this line sees it: ask
                    // the input too, while the field had focus.
                    let enter =
                        (edit.has_focus() || edit.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    // A system save dialog asks before replacing a file; this one says so as the
                    // path is typed.
                    if matches!(purpose, Purpose::Export { .. }) {
                        // The file OK writes (`.csv` added to a bare name), not the text as typed.
                        let path = crate::export::csv_target(Path::new(text.trim()));
                        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                        let warn = ui.visuals().warn_fg_color;
                        let say = |ui: &mut Ui, text: String| ui.label(RichText::new(text).color(warn));
                        if !dir.is_dir() {
                            say(ui, format!("The folder {} does not exist.", dir.display()));
                        } else if crate::export::holds_image(&path).is_some() {
                            say(ui, format!("{} is an image: an export never replaces one.", path.display()));
                        } else if let Err(e) = crate::export::check_target(&path) {
                            // A model, the review, a manifest: what OK would refuse, said first.
                            say(ui, e.to_string());
                        } else if path.is_file() {
                            say(ui, format!("{} exists: OK replaces it.", path.display()));
                        }
                    }
                    ui.horizontal(|ui| {
                        if ui.button("OK").clicked() || enter {
                            outcome = Some(true);
                        }
                        if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                            outcome = Some(false);
                        }
                    });
                });
                match outcome {
                    Some(true) if !text.trim().is_empty() => {
                        self.send(AppCommand::Chosen(purpose, PathBuf::from(text.trim())));
                    }
                    Some(_) => {}
                    None => self.dialog = Dialog::TypedPath { purpose, text },
                }
            }
            Dialog::Reviewer { mut name, second_reading } => {
                let (mut done, mut keep) = (false, false);
                Modal::new(Id::unique("reviewer")).show(&ctx, |ui| {
                    match &second_reading {
                        None => {
                            ui.heading("Who is reviewing?");
                            ui.label("Your name is recorded with every call, and shown to the next reader.");
                        }
                        Some(first) => {
                            ui.heading("Who is the second reader?");
                            ui.label(
                                "The second reading is blind: the first reader's calls on a specimen stay hidden \
                                 until you decide it. Your name is recorded with each call of this reading.",
                            );
                            if !first.is_empty() {
                                ui.label(format!("First reading by {}.", first.join(", ")));
                            }
                            keep = ui.input(|i| i.key_pressed(egui::Key::Escape));
                        }
                    }
                    let label = ui.label("Reviewer name");
                    let edit = ui.add(egui::TextEdit::singleline(&mut name).desired_width(300.0)).labelled_by(label.id);
                    // Focus once, when the dialog opens: asked every frame, it fought every other
                    // click (the button among them) and kept the window redrawing.
                    let asked = edit.id.with("focus asked");
                    if !ui.data(|d| d.get_temp::<bool>(asked).unwrap_or(false)) {
                        edit.request_focus();
                        ui.data_mut(|d| d.insert_temp(asked, true));
                    }
                    let enter =
                        (edit.has_focus() || edit.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let ok = ui.add_enabled(!name.trim().is_empty(), egui::Button::new("Start reviewing"));
                    done = !name.trim().is_empty() && (ok.clicked() || enter);
                });
                if keep {
                    self.notice(format!("the second reading goes on under the name {}", self.settings.reviewer));
                } else if done {
                    self.settings.reviewer = name.trim().to_owned();
                    self.settings.reviewer_confirmed = true;
                    self.send(AppCommand::SetReviewer(self.settings.reviewer.clone()));
                } else {
                    self.dialog = Dialog::Reviewer { name, second_reading };
                }
            }
            Dialog::Calibrate { specimen, mut measurement, mut text, found } => {
                let mut outcome = None;
                let px = measurement.length_px().unwrap_or(0.0);
                let max = crate::review::measurement::MAX_RULER_MM;
                let mm = text
                    .trim()
                    .replace(',', ".")
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0 && *v <= max);
                // A window, not a modal: the reviewer zooms and pans the film to check the line
                // against the ruler's marks while it is open.
                egui::Window::new("Calibrate on the ruler")
                    .collapsible(false)
                    .resizable(false)
                    .anchor(egui::Align2::RIGHT_TOP, egui::vec2(-12.0, 60.0))
                    .default_width(360.0)
                    .show(&ctx, |ui| {
                        if let Some(found) = &found {
                            ui.label(RichText::new(found).strong());
                        }
                        ui.label(format!(
                            "The line is {px:.0} pixels long. How many millimetres of the ruler does it span? It \
                         sets this film's scale, and the folder's for films without a calibration or DICOM \
                         pixel spacing of their own."
                        ));
                        let label = ui.label("Length (mm)");
                        let field =
                            ui.add(egui::TextEdit::singleline(&mut text).desired_width(120.0)).labelled_by(label.id);
                        // Focus when nothing else has it: the films still take the wheel and drags.
                        if !field.has_focus()
                            && !field.lost_focus()
                            && outcome.is_none()
                            && ctx.memory(|m| m.focused().is_none())
                        {
                            field.request_focus();
                        }
                        let enter =
                            (field.has_focus() || field.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter));
                        if let Some(mm) = mm.filter(|_| px > 0.0) {
                            ui.label(format!("{:.4} mm per pixel", mm / px));
                        } else if !text.trim().is_empty() {
                            let why = format!("a length in millimetres, above 0 and at most {max:.0}");
                            ui.label(RichText::new(why).color(ui.visuals().warn_fg_color));
                        }
                        ui.horizontal(|ui| {
                            let ok = ui.add_enabled(mm.is_some() && px > 0.0, egui::Button::new("Set the scale"));
                            if ok.clicked() || (enter && mm.is_some() && px > 0.0) {
                                outcome = Some(true);
                            }
                            if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                                outcome = Some(false);
                            }
                        });
                    });
                match outcome {
                    Some(true) => {
                        measurement.known_mm = mm;
                        self.send(AppCommand::AddMeasurement(specimen, measurement));
                    }
                    Some(false) => {}
                    None => self.dialog = Dialog::Calibrate { specimen, measurement, text, found },
                }
            }
            Dialog::MarkFinding { specimen, mut measurement } => {
                let mut outcome = None;
                Modal::new(Id::unique("mark_finding")).show(&ctx, |ui| {
                    let what = if measurement.kind == crate::review::MeasureKind::Region { "region" } else { "arrow" };
                    ui.heading(format!("Which finding does the {what} show?"));
                    for k in crate::review::tree_order(&self.taxonomy) {
                        let Some(node) = self.taxonomy.nodes.get(k) else { continue };
                        let indent = match node.level {
                            crate::taxonomy::Level::L1 => 0.0,
                            crate::taxonomy::Level::L2 => 12.0,
                            crate::taxonomy::Level::L3 => 24.0,
                        };
                        ui.horizontal(|ui| {
                            ui.add_space(indent);
                            if ui.button(&node.label).clicked() {
                                outcome = Some(Some(node.id.clone()));
                            }
                        });
                    }
                    if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                        outcome = Some(None);
                    }
                });
                match outcome {
                    Some(Some(finding)) => {
                        measurement.finding = Some(finding);
                        self.send(AppCommand::AddMeasurement(specimen, measurement));
                    }
                    Some(None) => {}
                    None => self.dialog = Dialog::MarkFinding { specimen, measurement },
                }
            }
            Dialog::ConfirmNormal { indices } => {
                let mut answer = None;
                Modal::new(Id::unique("confirm_normal")).show(&ctx, |ui| {
                    ui.heading("Call unflagged specimens normal");
                    ui.label(format!(
                        "Call {} specimens normal: classified, not flagged by the model, like its training \
                         data, without film QC problems, and not reviewed yet. One Z undoes all of them.",
                        indices.len()
                    ));
                    // The model misses abnormal animals: a bulk call is the reviewer's word on
                    // films nobody looked at, and the record will say so only by its reviewer.
                    ui.label(
                        RichText::new(
                            "Each is recorded as your call without your having seen its films, and \
                             an unflagged specimen can be abnormal: the model misses some.",
                        )
                        .color(ui.visuals().warn_fg_color),
                    );
                    ui.horizontal(|ui| {
                        if ui.button(format!("Call {} normal", indices.len())).clicked() {
                            answer = Some(true);
                        }
                        if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                            answer = Some(false);
                        }
                    });
                });
                match answer {
                    Some(true) => self.send(AppCommand::NormalAll(indices)),
                    Some(false) => {}
                    None => self.dialog = Dialog::ConfirmNormal { indices },
                }
            }
            Dialog::Help => {
                let mut open = !ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape));
                // Tall enough to read most shortcuts without scrolling (a resizable window
                // otherwise starts small and keeps its scroll area to that).
                let tall = ctx.content_rect().height() * 0.75;
                egui::Window::new("Keyboard shortcuts")
                    .open(&mut open)
                    .collapsible(false)
                    .default_height(tall)
                    .show(&ctx, |ui| {
                    ui.label("? or Esc closes this window. After A, N, U or S the next specimen is shown (Settings: \"go to the next specimen\").");
                    egui::ScrollArea::vertical().max_height(ctx.content_rect().height() * 0.7).show(ui, |ui| {
                        egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                            for c in UICommand::all() {
                                let key = c.shortcuts_text(&ctx);
                                if key.is_empty() {
                                    continue;
                                }
                                // A finding key names its finding (the L3 findings in order).
                                let what = match c {
                                    UICommand::ToggleFinding(k) => {
                                        let l3 = self.taxonomy.level(crate::taxonomy::Level::L3).nth(usize::from(k));
                                        let Some(node) = l3 else { continue };
                                        format!("{}: {}", c.label(), node.label)
                                    }
                                    _ => c.label(),
                                };
                                ui.label(key);
                                ui.label(what);
                                ui.end_row();
                            }
                            for (key, what) in [
                                ("Ctrl++ / Ctrl+- / Ctrl+0", "Larger / smaller / normal text and controls"),
                                ("Drag", "Pan"),
                                ("Right-drag", "Window/level: sideways the width, up and down the level"),
                                ("Esc", "Stop measuring (drop the points clicked so far)"),
                                ("Wheel or pinch", "Zoom about the pointer"),
                                ("Double-click a film", "Fit"),
                                ("Click a thumbnail", "Select (Ctrl or Shift: mark, as in the worklist)"),
                                ("Double-click a thumbnail", "Open the specimen's films"),
                            ] {
                                ui.label(key);
                                ui.label(what);
                                ui.end_row();
                            }
                        });
                    });
                });
                if open && self.dialog == Dialog::None {
                    self.dialog = Dialog::Help;
                }
            }
            Dialog::Settings => {
                let mut open = true;
                let before = self.settings.clone();
                egui::Window::new("Settings").open(&mut open).collapsible(false).show(&ctx, |ui| self.settings_ui(ui));
                if before.reviewer != self.settings.reviewer {
                    self.send(AppCommand::SetReviewer(self.settings.reviewer.clone()));
                }
                if before.thresholds != self.settings.thresholds
                    || before.device != self.settings.device
                    || before.threads != self.settings.threads
                {
                    self.send(AppCommand::SettingsChanged(Box::new(before)));
                }
                if open {
                    self.dialog = Dialog::Settings;
                }
            }
        }
    }

    fn settings_ui(&mut self, ui: &mut Ui) {
        egui::Grid::new("settings").num_columns(2).show(ui, |ui| {
            let label = ui.label("Reviewer");
            ui.text_edit_singleline(&mut self.settings.reviewer).labelled_by(label.id);
            ui.end_row();
            ui.label("Device");
            egui::ComboBox::from_id_salt("device").selected_text(self.settings.device.clone()).show_ui(ui, |ui| {
                for d in [Device::Auto, Device::Cpu, Device::Cuda, Device::Tensorrt] {
                    ui.selectable_value(&mut self.settings.device, d.as_str().to_owned(), d.as_str());
                }
            });
            ui.end_row();
            ui.label("Threads");
            ui.add(egui::DragValue::new(&mut self.settings.threads).range(0..=64))
                .on_hover_text("0: ONNX Runtime decides");
            ui.end_row();
            ui.label("Colormap");
            ui.horizontal(|ui| {
                for c in Colormap::ALL {
                    ui.selectable_value(&mut self.settings.colormap, c, c.as_str());
                }
            });
            ui.end_row();
            ui.label("After a call");
            ui.checkbox(&mut self.settings.auto_advance, "go to the next specimen");
            ui.end_row();
        });
        ui.separator();
        ui.label("Thresholds (flag when P(node | parent) reaches them)");
        egui::ScrollArea::vertical().max_height(260.0).show(ui, |ui| {
            egui::Grid::new("thresholds").num_columns(3).show(ui, |ui| {
                for (i, node) in self.taxonomy.nodes.iter().enumerate() {
                    // Before the model loads, the thresholds the stored scores were flagged with.
                    let model = self.model.info.as_ref().and_then(|m| m.metadata.thresholds.get(i).copied());
                    let model = model.or_else(|| self.model.thresholds.get(i).copied()).unwrap_or(0.5);
                    let mut v = self.settings.thresholds.get(&node.id).copied().unwrap_or(model);
                    ui.label(&node.label);
                    if ui.add(egui::Slider::new(&mut v, 0.0..=1.0).text(node.id.as_str())).changed() {
                        self.settings.thresholds.insert(node.id.clone(), v);
                    }
                    if self.settings.thresholds.contains_key(&node.id) && ui.small_button("model default").clicked() {
                        self.settings.thresholds.remove(&node.id);
                    }
                    ui.end_row();
                }
            });
        });
        if self.settings.reviewer.trim().is_empty() {
            ui.colored_label(ui.visuals().warn_fg_color, "Set a reviewer name: it is recorded with every decision.");
        }
    }
}
