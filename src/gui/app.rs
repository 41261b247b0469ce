//! The review window's state: the open folder, the model, background work and what persists.

use std::path::{Path, PathBuf};

use super::background::{BackgroundTasks, ClassifyRun};
use super::command_handling::AppCommand;
use super::dialogs::{Dialog, Purpose};
use super::images::ImageCache;
use super::jobs::{Engine, EngineEvent, EngineRequest, Job};
use super::settings::Settings;
use super::viewer::ViewerState;
use super::worklist::Worklist;
use super::workspace::{Producer, Workspace};
use crate::export::review_csv::{ExportOptions, export};
use crate::inference::{Device, ModelInfo};
use crate::review::ReviewSession;
use crate::specimen::ScanReport;
use crate::taxonomy::Taxonomy;

/// How the app was started (not persisted).
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// ONNX Runtime library (the command line's --ort-lib).
    pub ort_lib: Option<PathBuf>,
    /// Use the system's file dialogs (off in tests: the typed-path dialog is used).
    pub native_dialogs: bool,
    /// Classify the first folder as soon as it is open.
    pub classify_on_open: bool,
    /// The reviewer's name from the command line (recorded, and not asked for).
    pub reviewer: Option<String>,
}

/// A message over the foot of the films.
#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    /// The text.
    pub text: String,
    /// An error (red, stays until dismissed) or a notice (fades after [`NOTICE_SECONDS`]).
    pub error: bool,
    /// When it was raised.
    pub since: std::time::Instant,
    /// What an error is about: the next success of the same kind clears it.
    pub about: Option<Topic>,
}

/// What an error banner is about, so that the next success of its kind takes it down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// A folder could not be opened (the next folder that opens clears it).
    Opening,
    /// A model could not be found or loaded (the next model that loads clears it).
    Model,
}

/// How long a notice stays (errors stay until dismissed).
pub const NOTICE_SECONDS: u64 = 12;

impl Banner {
    /// An error.
    pub fn error(text: impl Into<String>) -> Banner {
        Banner { text: text.into(), error: true, since: std::time::Instant::now(), about: None }
    }

    /// An error about a folder that could not be opened.
    pub fn open_error(text: impl Into<String>) -> Banner {
        Banner { about: Some(Topic::Opening), ..Banner::error(text) }
    }

    /// An error about a model that could not be found or loaded.
    pub fn model_error(text: impl Into<String>) -> Banner {
        Banner { about: Some(Topic::Model), ..Banner::error(text) }
    }

    /// A notice.
    pub fn notice(text: impl Into<String>) -> Banner {
        Banner { text: text.into(), error: false, since: std::time::Instant::now(), about: None }
    }
}

/// The loaded model as the UI knows it.
#[derive(Default)]
pub struct ModelState {
    /// Metadata once loaded.
    pub info: Option<ModelInfo>,
    /// Which execution provider runs, and why others do not.
    pub ep: Option<crate::inference::EpReport>,
    /// Loading now.
    pub loading: bool,
    /// The file a load under way was asked for by name: it becomes the settings' model only
    /// once it has loaded, so a file that fails leaves the working model in use.
    pub requested: Option<PathBuf>,
    /// Thresholds in force (model defaults with the user's overrides).
    pub thresholds: Vec<f32>,
}

/// The review window.
pub struct ReviewApp {
    /// Persisted preferences.
    pub settings: Settings,
    /// Start-up options.
    pub options: AppOptions,
    /// The taxonomy in use (the model's once loaded).
    pub taxonomy: Taxonomy,
    /// The model.
    pub model: ModelState,
    /// The open folder.
    pub workspace: Option<Workspace>,
    /// Worklist order and filter.
    pub worklist: Worklist,
    /// Viewer state.
    pub viewer: ViewerState,
    /// Messages across the top.
    pub banners: Vec<Banner>,
    /// The open dialog.
    pub dialog: Dialog,
    /// The comment being edited (specimen id, text).
    pub comment: (String, String),
    /// Background work: scan, picker, export, engine, classification, ruler, fine-tuning.
    pub tasks: BackgroundTasks,
    pub(super) images: ImageCache,
    /// The contact sheet's thumbnails.
    pub sheet: super::contact_sheet::ContactSheet,
    /// Commands queued while drawing, run after the frame.
    pub(super) queue: Vec<AppCommand>,
}

impl ReviewApp {
    /// A window with `settings`; open a folder with [`ReviewApp::open_folder`].
    pub fn new(mut settings: Settings, options: AppOptions) -> ReviewApp {
        if let Some(name) = options.reviewer.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            settings.reviewer = name.to_owned();
            settings.reviewer_confirmed = true;
        }
        let taxonomy = Taxonomy::impc_skeletal();
        let thresholds = vec![0.5; taxonomy.nodes.len()];
        let view = settings.view.clone();
        let mut worklist = Worklist::default();
        (worklist.filter, worklist.sort, worklist.descending) = (view.filter, view.sort, view.descending);
        let dialog = if settings.reviewer_confirmed {
            Dialog::None
        } else {
            Dialog::Reviewer { name: settings.reviewer.clone(), second_reading: None }
        };
        let mut viewer = ViewerState::default();
        (viewer.linked, viewer.invert, viewer.orientation) = (view.linked, view.invert, view.orientation);
        viewer.head_up = view.head_up;
        ReviewApp {
            settings,
            options,
            taxonomy,
            model: ModelState { thresholds, ..ModelState::default() },
            workspace: None,
            worklist,
            viewer,
            banners: Vec::new(),
            dialog,
            comment: (String::new(), String::new()),
            images: ImageCache::new(1 << 30, 2),
            sheet: Default::default(),
            tasks: BackgroundTasks::default(),
            queue: Vec::new(),
        }
    }

    /// The settings to persist: the preferences with the window's current view.
    pub fn persisted_settings(&self) -> Settings {
        let mut s = self.settings.clone();
        s.view.sort = self.worklist.sort;
        s.view.descending = self.worklist.descending;
        s.view.filter = self.worklist.filter.clone();
        s.view.linked = self.viewer.linked;
        s.view.invert = self.viewer.invert;
        s.view.orientation = self.viewer.orientation;
        s.view.head_up = self.viewer.head_up;
        s
    }

    /// Shows an error across the top.
    pub fn error(&mut self, text: impl Into<String>) {
        self.raise(Banner::error(text));
    }

    /// Shows an error banner, once however often its message repeats.
    fn raise(&mut self, banner: Banner) {
        if !self.banners.iter().any(|b| b.text == banner.text) {
            tracing::warn!("{}", banner.text);
            self.banners.push(banner);
        }
    }

    /// Shows a notice across the top.
    pub fn notice(&mut self, text: impl Into<String>) {
        self.banners.push(Banner::notice(text));
    }

    /// Starts scanning `folder`; the worklist fills when the scan ends.
    pub fn open_folder(&mut self, ctx: &egui::Context, folder: PathBuf) {
        for e in self.save_all() {
            self.error(e);
        }
        // A comparison belongs to the folder it was made on.
        if !self.tasks.improve.running() {
            self.tasks.improve.outcome = None;
        }
        self.tasks.scan = Some(super::jobs::scan(ctx, folder));
    }

    /// Writes the open folder's review snapshot and stored results; returns what failed.
    fn save_all(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        let Some(ws) = self.workspace.as_mut() else { return failed };
        if let Some(r) = ws.review.as_mut()
            && let Err(e) = r.save()
        {
            failed.push(format!("saving the review: {e} (the journal still holds every edit)"));
        }
        if let Err(e) = ws.flush_results() {
            failed.push(format!("saving the classification results: {e}"));
        }
        failed
    }

    /// What closing the window does (eframe's `on_exit` calls it): the review and the results
    /// are written.
    pub fn on_exit(&mut self) {
        for e in self.save_all() {
            tracing::error!("{e}");
        }
    }

    fn engine(&mut self, ctx: &egui::Context) -> &Engine {
        let ort = self.options.ort_lib.clone();
        self.tasks.engine.get_or_insert_with(|| Engine::start(ctx, ort))
    }

    /// Loads the model from the settings (or the default lookup) on the engine thread.
    pub fn load_model(&mut self, ctx: &egui::Context) {
        self.request_model(ctx, self.settings.model.clone());
    }

    /// Loads `path` in place of the model in use, which stays in use until the new one has
    /// loaded, and stays if it cannot be found or loaded (the banner says which and why).
    pub fn switch_model(&mut self, ctx: &egui::Context, path: PathBuf) {
        self.request_model(ctx, Some(path));
    }

    fn request_model(&mut self, ctx: &egui::Context, wanted: Option<PathBuf>) {
        let path = match crate::inference::locate_model(wanted.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                let text = format!("no model: {e}{}", self.still_using());
                self.raise(Banner::model_error(text));
                return;
            }
        };
        let device = Device::parse(&self.settings.device).unwrap_or_default();
        let threads = self.settings.threads;
        self.model.loading = true;
        self.model.requested = wanted;
        self.engine(ctx).request(EngineRequest::Load { model: path, device, threads });
    }

    /// "; still using NAME" when a model is loaded: what a failed switch leaves in use.
    fn still_using(&self) -> String {
        self.model.info.as_ref().map_or_else(String::new, |m| {
            let name = m.path.file_name().map_or_else(|| m.path.display().to_string(), |n| n.to_string_lossy().into());
            format!("; still using {name}")
        })
    }

    /// Starts classifying all specimens, or only those without scores.
    pub fn start_classify(&mut self, ctx: &egui::Context, only_unscored: bool) {
        if self.tasks.classify.is_some() {
            return;
        }
        let Some(ws) = self.workspace.as_ref() else {
            self.error("open a folder first");
            return;
        };
        if self.model.info.is_none() {
            // Classify once the model has loaded.
            if !self.model.loading {
                self.load_model(ctx);
            }
            // Only wait when a load is actually under way (none found is already a banner).
            self.tasks.pending_classify = self.model.loading.then_some(only_unscored);
            return;
        }
        let loaded = self.model.info.as_ref().map_or("", |m| m.sha256.as_str());
        let indices: Vec<usize> = if only_unscored { ws.unscored(loaded) } else { (0..ws.specimens().len()).collect() };
        if indices.is_empty() {
            self.notice("every specimen already has scores");
            return;
        }
        let specimens = indices.iter().filter_map(|&i| ws.specimens().get(i).cloned()).collect();
        self.tasks.runs += 1;
        let id = self.tasks.runs;
        self.engine(ctx).request(EngineRequest::Classify { run: id, specimens });
        self.tasks.classify =
            Some(ClassifyRun { id, indices, done: 0, started: std::time::Instant::now(), cancelling: false });
    }

    /// Thresholds per node: the user's override, else the loaded model's threshold, else (no model loaded
    /// yet) the one the folder's stored results were flagged with, else 0.5.
    fn effective_thresholds(&self) -> Vec<f32> {
        let stored = self.workspace.as_ref().and_then(|ws| ws.stored_thresholds(&self.taxonomy));
        self.taxonomy
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                self.settings.thresholds.get(&n.id).copied().unwrap_or_else(|| {
                    let model = self.model.info.as_ref().and_then(|m| m.metadata.thresholds.get(i).copied());
                    model.or_else(|| stored.as_ref().and_then(|s| s.get(i).copied())).unwrap_or(0.5)
                })
            })
            .collect()
    }

    /// Re-applies thresholds after a change in the settings or the model.
    pub fn apply_thresholds(&mut self) {
        self.model.thresholds = self.effective_thresholds();
        let overrides: Vec<Option<f32>> =
            self.taxonomy.nodes.iter().map(|n| self.settings.thresholds.get(&n.id).copied()).collect();
        let loaded = self.model.info.as_ref().map(|m| m.sha256.as_str());
        if let Some(ws) = self.workspace.as_mut() {
            ws.rethreshold(&self.taxonomy, loaded, &self.model.thresholds, &overrides);
        }
        self.worklist.invalidate();
    }

    /// Drains background jobs; call once per frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        self.images.set_context(ctx);
        self.images.poll();
        self.poll_scan();
        self.poll_engine(ctx);
        self.poll_picker(ctx);
        self.poll_improve();
        self.poll_ruler();
        if let Some(job) = &self.tasks.export {
            let (msgs, _) = job.drain();
            for m in msgs {
                self.tasks.export = None;
                match m {
                    Ok((path, done)) => {
                        let gone = match done.without_films.len() {
                            0 => String::new(),
                            k => format!(" ({k} of them reviewed but without films in the folder now)"),
                        };
                        self.notice(format!("exported {} specimens to {}{gone}", done.written, path.display()));
                    }
                    Err(e) => self.error(e),
                }
            }
        }
        if let Some(ws) = self.workspace.as_mut()
            && let Some(r) = ws.review.as_mut()
            && let Err(e) = r.tick()
        {
            self.error(format!("autosave failed (every edit is still in the journal): {e}"));
        }
        // egui draws only on input: wake for the snapshot, so it does not wait for the next key.
        if let Some(due) = self.workspace.as_ref().and_then(|ws| ws.review.as_ref()).and_then(|r| r.snapshot_due_in()) {
            ctx.request_repaint_after(due);
        }
        if let Some(Err(e)) = self.workspace.as_mut().and_then(Workspace::poll_save) {
            self.error(format!("saving the classification results: {e}"));
        }
        self.prefetch();
    }

    fn poll_scan(&mut self) {
        let Some(job) = &self.tasks.scan else { return };
        let (msgs, finished) = job.drain();
        for m in msgs {
            match m {
                Ok(report) => {
                    self.install(report);
                    if std::mem::take(&mut self.options.classify_on_open) {
                        self.tasks.pending_classify = Some(false);
                    }
                }
                Err(e) => self.banners.push(Banner::open_error(format!("cannot open the folder: {e}"))),
            }
        }
        if finished {
            self.tasks.scan = None;
        }
    }

    /// Shows a scanned folder and opens its review.
    pub fn install(&mut self, report: ScanReport) {
        if report.specimens.is_empty() {
            // Nothing to review: no sidecar, no lock, no entry among the recent folders.
            self.banners.push(Banner::open_error(report.nothing_found()));
            return;
        }
        // What went wrong opening another folder is over now.
        self.banners.retain(|b| b.about != Some(Topic::Opening));
        let reading = self.reading();
        let review = self.open_review(&report.root, reading);
        self.show_folder(report, review);
    }

    /// The reading this window records: the second when the reviewer is the second reader.
    pub fn reading(&self) -> crate::review::Reading {
        if self.settings.second_reading { crate::review::Reading::Second } else { crate::review::Reading::First }
    }

    /// Opens `reading` of `folder`'s review, or says why it cannot be.
    fn open_review(&mut self, folder: &Path, reading: crate::review::Reading) -> Option<ReviewSession> {
        match ReviewSession::open_reading(folder, &self.settings.reviewer, reading) {
            Ok(r) => {
                for n in &r.notes {
                    self.banners.push(Banner::notice(n.clone()));
                }
                Some(r)
            }
            // Open in another window: its calls show here as that window last saved them.
            Err(e @ crate::review::ReviewError::Locked { .. }) => {
                self.error(format!("{e}; its calls show here as last saved, read-only"));
                None
            }
            Err(e) => {
                self.error(format!("{e}; decisions cannot be recorded"));
                None
            }
        }
    }

    /// Switches between recording the folder's review and a blinded second reading of it: the
    /// open reading is saved and closed, the other opened.
    pub fn switch_reading(&mut self) {
        for e in self.save_all() {
            self.error(e);
        }
        self.settings.second_reading = !self.settings.second_reading;
        let reading = self.reading();
        let Some(folder) = self.workspace.as_ref().map(|ws| ws.folder.clone()) else { return };
        // The lock of the open reading goes before the other is taken.
        if let Some(ws) = self.workspace.as_mut() {
            ws.review = None;
        }
        let review = self.open_review(&folder, reading);
        let Some(ws) = self.workspace.as_mut() else { return };
        ws.set_reading(reading, review);
        self.worklist.invalidate();
        // The comment box shows this reading's comment, never the other's.
        self.comment = (String::new(), String::new());
        self.notice(match reading {
            crate::review::Reading::Second => {
                "second reading: your calls are kept apart, and the first reader's stay hidden on each specimen until you decide it"
            }
            crate::review::Reading::First => "back to the folder's review (the first reading)",
        });
        // Each reading has its reader: ask who reads the second time.
        if reading == crate::review::Reading::Second {
            let first: std::collections::BTreeSet<String> = self
                .workspace
                .as_ref()
                .and_then(|ws| ws.first_reading.as_ref())
                .map(|r| r.specimens.values().map(|s| s.reviewer.clone()).filter(|n| !n.is_empty()).collect())
                .unwrap_or_default();
            self.dialog = Dialog::Reviewer { name: String::new(), second_reading: Some(first.into_iter().collect()) };
        }
    }

    fn show_folder(&mut self, report: ScanReport, review: Option<ReviewSession>) {
        let folder = report.root.clone();
        let problems = report.problems.len();
        // Name the files (the first three) and why, not just a count.
        let named: Vec<String> = report
            .problems
            .iter()
            .take(3)
            .map(|p| format!("{}: {}", crate::specimen::display_path(&p.path), p.reason))
            .collect();
        let (mut ws, notes) = Workspace::new(report, review, self.reading(), &self.taxonomy);
        for n in notes {
            self.notice(n);
        }
        // Back to the specimen last viewed here.
        if let Some(id) = self.settings.last_viewed_in(&folder) {
            ws.selected = ws.specimens().iter().position(|s| s.id == id).or(ws.selected);
        }
        if problems > 0 {
            let files = if problems == 1 { "1 file" } else { &format!("{problems} files") };
            let more = if problems > named.len() {
                format!("; `mousexray scan {}` lists all of them", folder.display())
            } else {
                String::new()
            };
            self.notice(format!("{files} could not be used: {}{more}", named.join("; ")));
        }
        self.settings.remember_folder(folder);
        self.workspace = Some(ws);
        self.worklist = self.worklist.fresh();
        self.worklist.scroll_to_selection = true;
        self.viewer.reset_view();
        self.tasks.classify = None;
        if let Some(e) = &self.tasks.engine {
            e.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.apply_thresholds();
    }

    fn poll_engine(&mut self, ctx: &egui::Context) {
        // A classification asked for before anything was loading (--classify on open).
        if self.tasks.classify.is_none()
            && !self.model.loading
            && self.workspace.is_some()
            && let Some(only) = self.tasks.pending_classify.take()
        {
            self.start_classify(ctx, only);
        }
        let Some(engine) = &self.tasks.engine else { return };
        for event in engine.events() {
            match event {
                EngineEvent::Loaded(info, ep) => {
                    self.model.loading = false;
                    if let Some(path) = self.model.requested.take() {
                        self.settings.model = Some(path);
                    }
                    // What went wrong finding or loading a model is over now.
                    self.banners.retain(|b| b.about != Some(Topic::Model));
                    self.taxonomy = info.metadata.taxonomy.clone();
                    self.model.info = Some(*info);
                    if !matches!(ep.requested, Device::Auto | Device::Cpu)
                        && ep.active() == crate::inference::device::Provider::Cpu
                    {
                        // Asked for by name and not running: say so once, where it helps.
                        self.notice(format!("running on the CPU: {}", ep.summary()));
                    }
                    self.model.ep = Some(ep);
                    self.apply_thresholds();
                    if let Some(only) = self.tasks.pending_classify.take() {
                        self.start_classify(ctx, only);
                    }
                }
                EngineEvent::LoadFailed(e) => {
                    self.model.loading = false;
                    self.model.requested = None;
                    self.tasks.pending_classify = None;
                    let text = format!("cannot load the model: {e}{}", self.still_using());
                    self.raise(Banner::model_error(text));
                }
                EngineEvent::Result(id, r) => {
                    let (Some(run), Some(ws)) = (self.tasks.classify.as_mut(), self.workspace.as_mut()) else {
                        continue;
                    };
                    if run.id != id {
                        continue;
                    }
                    let Some(&index) = run.indices.get(r.index) else { continue };
                    run.done += 1;
                    let (sha, name) = self.model.info.as_ref().map_or_else(Default::default, |m| {
                        let name = m.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                        (m.sha256.clone(), name)
                    });
                    let mut r = *r;
                    r.index = index;
                    if let Some(s) = r.scores.take() {
                        r.scores = Some(crate::inference::hierarchy::Scores::new(
                            &self.taxonomy,
                            s.conditional,
                            &self.model.thresholds,
                        ));
                    }
                    for p in &r.problems {
                        let text = format!("{}: {}", crate::specimen::display_path(&p.path), p.reason);
                        self.banners.push(Banner::error(text));
                    }
                    let producer = Producer { sha256: &sha, name: &name, thresholds: &self.model.thresholds };
                    ws.accept(r, producer, &self.taxonomy);
                    ws.save_results(false);
                    self.worklist.result_arrived();
                }
                EngineEvent::Finished { run, emitted, cancelled } => {
                    if self.tasks.classify.as_ref().is_none_or(|r| r.id != run) {
                        continue;
                    }
                    self.worklist.invalidate();
                    if let Some(ws) = self.workspace.as_mut() {
                        ws.save_results(true);
                    }
                    if let Some(run) = self.tasks.classify.take() {
                        let secs = run.started.elapsed().as_secs_f64();
                        let verb = if cancelled { "stopped after" } else { "classified" };
                        self.notice(format!("{verb} {emitted} specimens in {secs:.1} s"));
                    }
                }
                EngineEvent::Failed { run, error: e } => {
                    if self.tasks.classify.as_ref().is_none_or(|r| r.id != run) {
                        continue;
                    }
                    self.tasks.classify = None;
                    self.error(format!("classification failed: {e}"));
                }
            }
        }
    }

    /// Decodes the neighbours of the selection ahead of time.
    fn prefetch(&mut self) {
        let Some(ws) = self.workspace.as_ref() else { return };
        for step in [1isize, -1, 2] {
            let Some(i) = self.worklist.step(ws.selected, step) else { continue };
            let Some(s) = ws.specimens().get(i) else { continue };
            for p in s.images.values().take(2) {
                self.images.get(p, false);
            }
        }
    }

    /// Selects specimen `i` (a workspace index).
    pub fn select(&mut self, i: usize) {
        let Some(ws) = self.workspace.as_mut() else { return };
        if ws.selected == Some(i) {
            return;
        }
        ws.selected = Some(i);
        if let Some(s) = ws.specimens().get(i) {
            let folder = ws.folder.clone();
            let id = s.id.clone();
            self.settings.remember_viewed(&folder, &id);
        }
        self.viewer.reset_view();
        self.worklist.scroll_to_selection = true;
    }

    fn selected_comment_sync(&mut self) {
        let Some(ws) = self.workspace.as_ref() else { return };
        let Some(s) = ws.selected_specimen() else { return };
        if self.comment.0 != s.id {
            let saved = ws.selected.and_then(|i| ws.review_of(i)).map(|r| r.comment.clone()).unwrap_or_default();
            self.comment = (s.id.clone(), saved);
        }
    }

    /// Looks for the radiopaque ruler on the selected specimen's films (DV first) on a thread;
    /// [`ReviewApp::poll_ruler`] proposes what it reads.
    pub fn find_ruler(&mut self, ctx: &egui::Context) {
        let Some(s) = self.workspace.as_ref().and_then(Workspace::selected_specimen) else {
            self.notice("select a specimen whose films show the ruler");
            return;
        };
        let id = s.id.clone();
        let mut films = Vec::new();
        for view in [crate::specimen::View::Dv, crate::specimen::View::Lv] {
            let Some(path) = s.images.get(&view).cloned() else { continue };
            if let super::images::Slot::Ready(img) = self.images.get(&path, true) {
                films.push((view, img));
            }
        }
        if films.is_empty() {
            self.notice("the films are still loading: try again in a moment");
            return;
        }
        let job = Job::spawn(ctx, move |send| {
            let found =
                films.iter().find_map(|(view, img)| crate::imaging::find_ruler(&img.original).map(|r| (*view, r)));
            send(found);
        });
        self.tasks.ruler = Some((id, job));
    }

    /// Proposes the ruler the finder read, as a 10 mm calibration line for the reviewer to check.
    fn poll_ruler(&mut self) {
        let Some((id, job)) = &self.tasks.ruler else { return };
        let (found, finished) = job.drain();
        let id = id.clone();
        if let Some(found) = found.into_iter().next() {
            self.tasks.ruler = None;
            match found {
                Some((view, r)) => {
                    let measurement = crate::review::Measurement {
                        view,
                        kind: crate::review::MeasureKind::Calibration,
                        points: vec![[r.start.0, r.start.1], [r.end.0, r.end.1]],
                        parameter: None,
                        known_mm: None,
                        finding: None,
                        made: crate::timestamp::timestamp_now(),
                    };
                    let found = format!(
                        "Found a ruler on the {} film: by its ticks the line drawn on it spans 10 mm ({:.2} pixels \
                         per mm; a millimetre ruler's ticks fit it {:.2} of 1). Zoom in to check it against the \
                         ruler's marks; correct the length if it is wrong.",
                        view.as_str().to_uppercase(),
                        r.px_per_mm,
                        r.strength
                    );
                    self.dialog =
                        Dialog::Calibrate { specimen: id, measurement, text: "10".to_owned(), found: Some(found) };
                }
                None => self.notice(
                    "no ruler read on this specimen's films (a straight bar beside the animal whose millimetre, 5 mm \
                     and 10 mm ticks the film resolves); calibrate by hand: Measure > Calibrate on ruler, then click \
                     two of its marks",
                ),
            }
        } else if finished {
            self.tasks.ruler = None;
        }
    }

    /// Exports the open folder's review to `out` on a thread.
    pub fn export_to(&mut self, ctx: &egui::Context, out: PathBuf, long: bool) {
        let Some(ws) = self.workspace.as_ref() else { return };
        let specimens = ws.specimens().to_vec();
        // The review open elsewhere exports as it was last saved, not as every row unreviewed.
        let state = ws.review_state().cloned().unwrap_or_default();
        let stored = ws.stored().clone();
        let taxonomy = self.taxonomy.clone();
        let options = ExportOptions { long, ..ExportOptions::default() };
        self.tasks.export = Some(Job::spawn(ctx, move |send| {
            let result = export(&out, &specimens, &state, &stored, &taxonomy, options)
                .map(|done| (out.clone(), done))
                .map_err(|e| format!("export failed: {e:#}"));
            send(result);
        }));
    }

    /// Acts on a path chosen in a dialog.
    pub fn chosen(&mut self, ctx: &egui::Context, purpose: Purpose, path: PathBuf) {
        match purpose {
            Purpose::OpenFolder => self.open_folder(ctx, path),
            Purpose::OpenModel => self.switch_model(ctx, path),
            Purpose::Export { long } => self.export_to(ctx, crate::export::csv_target(&path), long),
        }
    }

    /// Whether work is running in the background.
    pub fn busy(&self) -> bool {
        self.tasks.busy()
            || self.model.loading
            || self.images.busy()
            || self.sheet.busy()
            || self.workspace.as_ref().is_some_and(Workspace::saving)
    }

    pub(super) fn before_frame(&mut self) {
        self.selected_comment_sync();
    }
}

/// The default export file name for a folder (`long`: IMPC's long form).
pub fn default_export_name(folder: &Path, long: bool) -> String {
    let name = folder.file_name().map_or_else(|| "review".into(), |n| n.to_string_lossy().into_owned());
    if long { format!("{name}_review_impc_long.csv") } else { format!("{name}_review.csv") }
}
