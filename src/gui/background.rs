//! Everything the window runs in the background, in one place (as rerun's viewer keeps its
//! `BackgroundTasks`): the folder scan, the file picker, the export, the inference engine and
//! its classification run, the ruler finder and fine-tuning. Each reports through a channel;
//! [`super::ReviewApp::poll`] drains them once a frame, so the UI never waits.

use std::path::PathBuf;
use std::time::Duration;

use super::dialogs::Purpose;
use super::improve::ImproveRun;
use super::jobs::{Engine, Job};
use crate::specimen::ScanReport;

/// A classification in progress.
pub struct ClassifyRun {
    /// This run's id (events of earlier, cancelled runs are ignored).
    pub id: u64,
    /// Workspace indices of the request's specimens, in request order.
    pub indices: Vec<usize>,
    /// Results received.
    pub done: usize,
    /// When it started.
    pub started: std::time::Instant,
    /// Whether the user asked to stop.
    pub cancelling: bool,
}

/// What the ruler finder read: on which film, and the reading (none: no ruler found).
pub type RulerFound = Option<(crate::specimen::View, crate::imaging::RulerReading)>;

/// The window's background work.
#[derive(Default)]
pub struct BackgroundTasks {
    /// The thread that owns the ONNX session (started on first use).
    pub engine: Option<Engine>,
    /// A folder being scanned.
    pub scan: Option<Job<Result<ScanReport, String>>>,
    /// A system file dialog, open on its own thread: what it was for, the path chosen, and how
    /// long it was open.
    pub picker: Option<Job<(Purpose, Option<PathBuf>, Duration)>>,
    /// An export being written: the file and the specimens written, or why not.
    pub export: Option<Job<Result<(PathBuf, crate::export::review_csv::ExportSummary), String>>>,
    /// A classification in progress.
    pub classify: Option<ClassifyRun>,
    /// A classification asked for before the model had loaded (only the unscored?).
    pub pending_classify: Option<bool>,
    /// The ruler finder at work on a specimen's films (its id).
    pub ruler: Option<(String, Job<RulerFound>)>,
    /// Fine-tuning on the folder's reviews (Model > Improve with my reviews).
    pub improve: ImproveRun,
    /// Classification runs started (each run's id).
    pub runs: u64,
}

impl BackgroundTasks {
    /// Whether any of them is at work (the model's load and the image decoders aside).
    pub fn busy(&self) -> bool {
        self.scan.is_some()
            || self.classify.is_some()
            || self.export.is_some()
            || self.ruler.is_some()
            || self.improve.running()
    }
}
