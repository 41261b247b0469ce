//! Long work off the UI thread: scanning a folder, classifying it, exporting. Each job is a
//! thread that reports through a channel and wakes the UI; the UI drains the channel each
//! frame and never waits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use crate::inference::pipeline::{self, PipelineOptions, SpecimenResult};
use crate::inference::{Classifier, Device, ModelInfo, SessionOptions};
use crate::specimen::{ScanReport, Specimen};

/// A background job's channel.
pub struct Job<T> {
    rx: Receiver<T>,
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a thread; it sends messages through the given closure, which also wakes
    /// the UI.
    pub fn spawn(ctx: &egui::Context, work: impl FnOnce(&dyn Fn(T) -> bool) + Send + 'static) -> Job<T> {
        let (tx, rx) = channel();
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let send = |m: T| {
                let ok = tx.send(m).is_ok();
                ctx.request_repaint();
                ok
            };
            work(&send);
            ctx.request_repaint();
        });
        Job { rx }
    }

    /// Messages so far, and whether the job has finished.
    pub fn drain(&self) -> (Vec<T>, bool) {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(m) => out.push(m),
                Err(TryRecvError::Empty) => return (out, false),
                Err(TryRecvError::Disconnected) => return (out, true),
            }
        }
    }
}

/// Scans `folder` on a thread.
pub fn scan(ctx: &egui::Context, folder: PathBuf) -> Job<Result<ScanReport, String>> {
    Job::spawn(ctx, move |send| {
        send(crate::specimen::scan(&folder).map_err(|e| e.to_string()));
    })
}

/// What the engine reports.
pub enum EngineEvent {
    /// A model is loaded: its metadata and the execution-provider summary.
    Loaded(Box<ModelInfo>, crate::inference::EpReport),
    /// The model could not be loaded.
    LoadFailed(String),
    /// One specimen's result of run `.0` (its `index` is into that request's list).
    Result(u64, Box<SpecimenResult>),
    /// A classification ended (cancelled or not).
    Finished {
        /// The run.
        run: u64,
        /// Specimens processed.
        emitted: usize,
        /// Whether it stopped early.
        cancelled: bool,
    },
    /// A classification failed.
    Failed {
        /// The run.
        run: u64,
        /// Why.
        error: String,
    },
}

/// What the engine is asked to do.
pub enum EngineRequest {
    /// Load a model (replacing the current one).
    Load {
        /// Model file.
        model: PathBuf,
        /// Execution device.
        device: Device,
        /// Intra-op threads.
        threads: usize,
    },
    /// Classify these specimens with the loaded model; events carry `run`, so the UI can tell
    /// a cancelled run's late results from the next run's.
    Classify {
        /// The caller's id of this run.
        run: u64,
        /// The specimens.
        specimens: Vec<Specimen>,
    },
}

/// The thread that owns the ONNX session (`run` takes `&mut self`): it loads models and
/// classifies on request, streaming events back.
pub struct Engine {
    tx: Sender<EngineRequest>,
    rx: Receiver<EngineEvent>,
    /// Set to cancel the running classification.
    pub cancel: Arc<AtomicBool>,
}

impl Engine {
    /// Starts the engine thread; `ort_lib` overrides the ONNX Runtime library search.
    pub fn start(ctx: &egui::Context, ort_lib: Option<PathBuf>) -> Engine {
        let (tx, requests) = channel::<EngineRequest>();
        let (events, rx) = channel::<EngineEvent>();
        let cancel = Arc::new(AtomicBool::new(false));
        let (flag, ctx) = (cancel.clone(), ctx.clone());
        std::thread::spawn(move || {
            let send = |e: EngineEvent| {
                let ok = events.send(e).is_ok();
                ctx.request_repaint();
                ok
            };
            let mut model: Option<Classifier> = None;
            for request in requests {
                match request {
                    EngineRequest::Load { model: path, device, threads } => {
                        // A model that fails to load leaves the one in use loaded.
                        match load(&path, ort_lib.as_deref(), device, threads) {
                            Ok(m) => {
                                send(EngineEvent::Loaded(Box::new(m.info.clone()), m.ep.clone()));
                                model = Some(m);
                            }
                            Err(e) => {
                                send(EngineEvent::LoadFailed(e));
                            }
                        }
                    }
                    EngineRequest::Classify { run, specimens } => {
                        flag.store(false, Ordering::Relaxed);
                        let Some(m) = model.as_mut() else {
                            send(EngineEvent::Failed { run, error: "no model is loaded".into() });
                            continue;
                        };
                        // Workers leave a core to the UI; small batches so results stream in.
                        let cores = std::thread::available_parallelism().map_or(2, usize::from);
                        let options = PipelineOptions {
                            batch: 4,
                            workers: cores.saturating_sub(1).max(1),
                            cam: true,
                            window: 16,
                        };
                        let mut sink = |r: SpecimenResult| -> anyhow::Result<()> {
                            if send(EngineEvent::Result(run, Box::new(r))) {
                                Ok(())
                            } else {
                                anyhow::bail!("the window closed")
                            }
                        };
                        let path = m.info.path.clone();
                        match pipeline::run(m, &specimens, &options, &flag, &mut sink) {
                            Ok(s) => send(EngineEvent::Finished { run, emitted: s.emitted, cancelled: s.cancelled }),
                            Err(e) => send(EngineEvent::Failed { run, error: format!("{}: {e:#}", path.display()) }),
                        };
                    }
                }
            }
        });
        Engine { tx, rx, cancel }
    }

    /// Sends a request; false if the engine thread is gone.
    pub fn request(&self, r: EngineRequest) -> bool {
        self.tx.send(r).is_ok()
    }

    /// Events so far.
    pub fn events(&self) -> Vec<EngineEvent> {
        self.rx.try_iter().collect()
    }
}

/// Loads a model for the GUI (spinning off: the app is interactive).
pub fn load(model: &Path, ort_lib: Option<&Path>, device: Device, threads: usize) -> Result<Classifier, String> {
    let lib = crate::inference::init_runtime(ort_lib).map_err(|e| e.to_string())?;
    let options = SessionOptions { threads, spinning: false, device, profile: None };
    Classifier::load(model, lib, options).map_err(|e| e.to_string())
}
