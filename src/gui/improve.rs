//! Model > "Improve with my reviews...": fine-tunes the current model on the open folder's
//! reviewed specimens on a thread ([`crate::training::improve`]), with progress and a cancel
//! while the reviewer keeps working, then shows old against new on the held-out fifth and
//! switches to the new model only when the reviewer chooses it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use egui::{Id, Ui};

use super::app::ReviewApp;
use super::dialogs::Dialog;
use super::jobs::Job;
use crate::training::improve::{
    HeldOutScore, ImproveOptions, Improved, MIN_REVIEWED, improve, improved_path, run_line,
};
use crate::training::train::Progress;

/// What the fine-tuning thread reports.
pub enum ImproveEvent {
    /// A batch finished: (epoch, batch, batches), 1-based.
    Batch(usize, usize, usize),
    /// The loop ended.
    Done(Result<Box<Improved>, String>),
}

/// The loop's state in the window.
pub struct ImproveRun {
    /// Epochs the next run trains for.
    pub epochs: usize,
    /// The last (epoch, batch, batches) reported while running.
    pub progress: Option<(usize, usize, usize)>,
    /// The last run's outcome, until the reviewer acts on it.
    pub outcome: Option<Result<Box<Improved>, String>>,
    /// Reviewed specimens (with a decision) at a review revision, counted once per change.
    reviewed: Option<(u64, usize)>,
    job: Option<Job<ImproveEvent>>,
    stop: Arc<AtomicBool>,
}

impl Default for ImproveRun {
    fn default() -> Self {
        ImproveRun {
            epochs: ImproveOptions::default().epochs,
            progress: None,
            outcome: None,
            reviewed: None,
            job: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl ImproveRun {
    /// Whether a run is under way.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }

    /// Status-bar text while running ("improving the model: epoch 2 of at most 8"), or while a
    /// comparison waits to be read.
    pub fn status(&self) -> Option<String> {
        if !self.running() {
            return matches!(self.outcome, Some(Ok(_))).then(|| "improved model ready: compare".to_owned());
        }
        Some(match self.progress {
            Some((e, _, _)) => format!("improving the model: epoch {e} of at most {}", self.epochs),
            None => "improving the model: reading the reviewed films…".to_owned(),
        })
    }
}

impl ReviewApp {
    /// The model the loop starts from (the loaded one, else the one the settings name or the
    /// default lookup finds), and whether the user chose it (else it is a bundled model, and the
    /// new one goes to the user data folder, not into the installation).
    fn improve_parent(&self) -> Option<(PathBuf, bool)> {
        let chosen = self.settings.model.is_some();
        let path = match &self.model.info {
            Some(info) => Some(info.path.clone()),
            None => crate::inference::locate_model(self.settings.model.as_deref()).ok(),
        }?;
        Some((path.canonicalize().unwrap_or(path), chosen))
    }

    /// Reviewed specimens of the open folder, recounted only when the review changed.
    fn reviewed_count(&mut self) -> usize {
        let Some(state) = self.workspace.as_ref().and_then(|ws| ws.review.as_ref()).map(|r| &r.state) else {
            return 0;
        };
        match self.tasks.improve.reviewed {
            Some((rev, n)) if rev == state.revision => n,
            _ => {
                let n = crate::review::review_labels(state, &self.taxonomy).0.len();
                self.tasks.improve.reviewed = Some((state.revision, n));
                n
            }
        }
    }

    /// Starts fine-tuning on a thread.
    pub fn start_improve(&mut self, ctx: &egui::Context) {
        if self.tasks.improve.running() {
            return;
        }
        let Some(ws) = self.workspace.as_ref() else {
            self.error("open a reviewed folder first");
            return;
        };
        let Some(review) = ws.review.as_ref() else {
            self.error("this folder's review could not be opened, so there are no decisions to learn from");
            return;
        };
        let Some((parent, chosen)) = self.improve_parent() else {
            self.error("no model to improve: open one with Model > Open model…");
            return;
        };
        let (folder, state) = (ws.folder.clone(), review.state.clone());
        let out = improved_path(&parent, chosen);
        let options = ImproveOptions { epochs: self.tasks.improve.epochs.max(1), ..ImproveOptions::default() };
        let ort_lib = self.options.ort_lib.clone();
        self.tasks.improve.stop = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&self.tasks.improve.stop);
        self.tasks.improve.outcome = None;
        self.tasks.improve.progress = None;
        self.tasks.improve.job = Some(Job::spawn(ctx, move |send| {
            let mut on_progress = |p: Progress| {
                if let Progress::Batch(e, b, n, _) = p {
                    send(ImproveEvent::Batch(e, b, n));
                }
            };
            let result = improve(&folder, &state, &parent, &out, &options, ort_lib.as_deref(), &stop, &mut on_progress)
                .map(Box::new)
                .map_err(|e| format!("{e:#}"));
            send(ImproveEvent::Done(result));
        }));
    }

    /// Drains the fine-tuning thread; call once per frame.
    pub(super) fn poll_improve(&mut self) {
        let Some(job) = &self.tasks.improve.job else { return };
        let (events, finished) = job.drain();
        let cancelled = self.tasks.improve.stop.load(Ordering::Relaxed);
        let shown = self.dialog == Dialog::Improve;
        for event in events {
            match event {
                ImproveEvent::Batch(e, b, n) => self.tasks.improve.progress = Some((e, b, n)),
                ImproveEvent::Done(result) => {
                    match &result {
                        Ok(_) if !shown => {
                            self.notice("the improved model is ready: Model > Improve with my reviews… compares it")
                        }
                        Ok(_) => {}
                        Err(_) if cancelled => self.notice("fine-tuning cancelled; nothing was written"),
                        Err(e) => self.error(format!("improving the model: {e}")),
                    }
                    self.tasks.improve.outcome = if cancelled { None } else { Some(result) };
                }
            }
        }
        if finished {
            self.tasks.improve.job = None;
        }
    }

    /// Switches to the improved model.
    fn use_improved(&mut self, ctx: &egui::Context, path: PathBuf) {
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        self.switch_model(ctx, path);
        self.notice(format!("now using {name}; Classify all shows its scores (Model > Open model… goes back)"));
    }

    /// The "Improve with my reviews" window.
    pub(super) fn improve_window(&mut self, ctx: &egui::Context) {
        let mut open = true;
        let reviewed = self.reviewed_count();
        // Named without touching the disk (this runs every frame); the lookup runs at Start.
        let parent = self.model.info.as_ref().map(|i| i.path.clone()).or_else(|| self.settings.model.clone());
        let mut action = None;
        let folder = self.workspace.as_ref().map(|ws| ws.folder.clone());
        egui::Window::new("Improve with my reviews")
            .id(Id::unique("improve"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .default_pos(egui::pos2(220.0, 80.0))
            .min_width(560.0)
            .show(ctx, |ui| action = self.improve_ui(ui, reviewed, parent.as_ref(), folder.as_ref()));
        match action {
            Some(ImproveAction::Start) => self.start_improve(ctx),
            Some(ImproveAction::Cancel) => self.tasks.improve.stop.store(true, Ordering::Relaxed),
            Some(ImproveAction::Use(path)) => {
                self.tasks.improve.outcome = None;
                self.use_improved(ctx, path);
                open = false;
            }
            Some(ImproveAction::Keep) => {
                if let Some(Ok(r)) = self.tasks.improve.outcome.take() {
                    self.notice(format!("kept the current model; the new one stays at {}", r.model.display()));
                }
                open = false;
            }
            None => {}
        }
        if open && self.dialog == Dialog::None {
            self.dialog = Dialog::Improve;
        }
    }

    fn improve_ui(
        &mut self,
        ui: &mut Ui,
        reviewed: usize,
        parent: Option<&PathBuf>,
        folder: Option<&PathBuf>,
    ) -> Option<ImproveAction> {
        ui.label(format!(
            "Fine-tune {} on the {reviewed} specimens of this folder you have decided (a status of normal or \
             confirmed abnormal, or calls on findings), holding a fifth of them out to compare old and new. \
             Specimens with a QC status or marked for a second look are left out. You can keep reviewing \
             meanwhile; the current model stays in use until you choose the new one.",
            parent.map_or_else(|| "the bundled model".to_owned(), |p| p.display().to_string())
        ));
        if self.tasks.improve.running() {
            let (e, b, n) = self.tasks.improve.progress.unwrap_or((1, 0, 1));
            let done =
                (e.saturating_sub(1) as f32 + b as f32 / n.max(1) as f32) / self.tasks.improve.epochs.max(1) as f32;
            let text = self.tasks.improve.status().unwrap_or_default();
            ui.add(egui::ProgressBar::new(done).text(text));
            if self.tasks.improve.stop.load(Ordering::Relaxed) {
                ui.label("stopping…");
            } else if ui.button("Cancel").on_hover_text("Stop; nothing is written").clicked() {
                return Some(ImproveAction::Cancel);
            }
            return None;
        }
        match &self.tasks.improve.outcome {
            Some(Ok(r)) => return comparison_ui(ui, r, folder),
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        }
        ui.horizontal(|ui| {
            ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut self.tasks.improve.epochs).range(1..=50));
        });
        let ready = reviewed >= MIN_REVIEWED;
        if reviewed < MIN_REVIEWED {
            ui.label(format!(
                "At least {MIN_REVIEWED} decided specimens are needed: a fifth of them is held out to compare on."
            ));
        }
        let start = ui.add_enabled(ready, egui::Button::new("Start fine-tuning"));
        start.clicked().then_some(ImproveAction::Start)
    }
}

/// What the reviewer asked of the window.
enum ImproveAction {
    Start,
    Cancel,
    Use(PathBuf),
    Keep,
}

/// Old against new on the held-out specimens, and the choice.
fn comparison_ui(ui: &mut Ui, r: &Improved, open: Option<&PathBuf>) -> Option<ImproveAction> {
    let name = |p: &PathBuf| p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    if open != Some(&r.folder) {
        ui.colored_label(ui.visuals().warn_fg_color, format!("Made on the reviews of {}.", r.folder.display()));
    }
    ui.label(run_line(r));
    ui.label(format!(
        "Compared on the {} held-out specimens (AUC: 0.5 is chance, 1 perfect; \"your calls\" counts each \
         normal or abnormal call you made on a finding, a group or the specimen). With few specimens these \
         figures are rough.",
        r.held_out
    ));
    let f = |v: Option<f64>| v.map_or("–".to_owned(), |a| format!("{a:.3}"));
    let right = |s: &HeldOutScore| format!("{} of {}", s.calls_right, s.calls);
    egui::Grid::new("improve_comparison").striped(true).show(ui, |ui| {
        for h in ["model", "L1 AUC", "L2 AUC", "L3 AUC", "your calls it gets right"] {
            ui.strong(h);
        }
        ui.end_row();
        for (label, s) in
            [(format!("{} (current)", name(&r.parent)), &r.before), (format!("{} (new)", name(&r.model)), &r.after)]
        {
            ui.label(label);
            ui.label(f(s.aucs.l1));
            ui.label(f(s.aucs.l2));
            ui.label(f(s.aucs.l3));
            ui.label(right(s));
            ui.end_row();
        }
    });
    ui.label(format!("New model: {}", r.model.display()));
    if r.undescribed.is_some() {
        let why = r.undescribed.clone().unwrap_or_default();
        ui.label("The new model cannot tell films unlike its training data from the rest (no domain description).")
            .on_hover_text(why);
    }
    let mut action = None;
    ui.horizontal(|ui| {
        if ui.button("Use the new model").clicked() {
            action = Some(ImproveAction::Use(r.model.clone()));
        }
        if ui.button("Keep the current model").on_hover_text("The new file stays on disk").clicked() {
            action = Some(ImproveAction::Keep);
        }
    });
    action
}
