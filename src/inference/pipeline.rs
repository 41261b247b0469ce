//! The batch pipeline behind `predict`, `bench` and the GUI's "classify all".
//!
//! Worker threads decode and preprocess specimens; a bounded channel carries them to the one
//! thread that owns the ONNX session (`run` takes `&mut self`), which groups them into batches.
//! Results come out in input order. Workers never run more than `window` specimens ahead of
//! the last result, so memory stays flat whatever the folder size. A shared flag cancels.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Condvar, Mutex};

use super::hierarchy::Scores;
use super::{CamMaps, Classifier, ModelError};
use crate::domain::DomainScore;
use crate::imaging::{
    DecodeOptions, FilmMeasures, ModelInput, PreprocessSpec, QcCode, Transform, decode, preprocess_film, specimen_qc,
};
use crate::specimen::{ByView, Specimen, View};

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Specimens per model run.
    pub batch: usize,
    /// Decode and preprocess threads.
    pub workers: usize,
    /// Return class activation maps too.
    pub cam: bool,
    /// How many specimens may be prepared ahead of the last result.
    pub window: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        PipelineOptions { batch: 16, workers: cores, cam: false, window: 64 }
    }
}

/// One view, ready for the model.
#[derive(Debug, Clone)]
pub struct PreparedView {
    /// The model input.
    pub input: ModelInput,
    /// Model to original coordinates.
    pub transform: Transform,
    /// Original size (width, height).
    pub original: (u32, u32),
    /// What film QC measured.
    pub film: FilmMeasures,
}

/// A file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewProblem {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// A specimen's views, ready for the model, with what film QC found.
#[derive(Debug, Clone)]
pub struct PreparedSpecimen {
    /// DV and LV, each absent when missing, unreadable or left out by film QC.
    pub views: ByView<Option<PreparedView>>,
    /// Film QC codes of DV and LV (see [`crate::imaging::film_qc`]).
    pub qc: ByView<Vec<QcCode>>,
    /// Files that could not be used.
    pub problems: Vec<ViewProblem>,
}

/// Decodes and preprocesses a specimen's DV and LV images (those the model uses), runs film QC
/// on the pair, and leaves out each view whose QC finding means the model would score something
/// it was not trained on (a close-up, an empty film, the other view).
pub fn prepare(specimen: &Specimen, spec: &PreprocessSpec, model_views: ByView<bool>) -> PreparedSpecimen {
    let (mut views, problems) = prepare_views(specimen, spec, model_views);
    // Film QC tells a swapped pair by which film is the more DV-like, so a single-view model's
    // specimen has its other film read too, for QC alone (its own problems are not the model's).
    let others = model_views.map(|used| !used);
    let (extra, _) = if others.any() { prepare_views(specimen, spec, others) } else { Default::default() };
    let film = |view: View| views[view].as_ref().or(extra[view].as_ref()).map(|v| &v.film);
    let qc = specimen_qc(film(View::Dv), film(View::Lv))
        .map_view(|view, codes| if model_views[view] { codes } else { Vec::new() });
    for (view, codes) in qc.iter() {
        if codes.iter().any(|c| c.excludes_view()) {
            views[view] = None;
        }
    }
    PreparedSpecimen { views, qc, problems }
}

/// Decodes and preprocesses a specimen's DV and LV images (those the model uses).
fn prepare_views(
    specimen: &Specimen,
    spec: &PreprocessSpec,
    model_views: ByView<bool>,
) -> (ByView<Option<PreparedView>>, Vec<ViewProblem>) {
    let mut problems = Vec::new();
    let mut one = |view: View, wanted: bool| {
        let path = specimen.images.get(&view).filter(|_| wanted)?;
        let img = match decode(path, &DecodeOptions::default()) {
            Ok(img) => img,
            Err(e) => {
                problems.push(ViewProblem { path: path.clone(), reason: e.reason() });
                return None;
            }
        };
        match preprocess_film(&img, spec) {
            Ok(p) => Some(PreparedView {
                input: p.input,
                transform: p.transform,
                original: (img.width, img.height),
                film: p.film,
            }),
            Err(reason) => {
                problems.push(ViewProblem { path: path.clone(), reason: format!("cannot preprocess: {reason}") });
                None
            }
        }
    };
    let views = ByView::from_fn(|view| one(view, model_views[view]));
    (views, problems)
}

/// One specimen's outcome.
#[derive(Debug, Clone)]
pub struct SpecimenResult {
    /// Position in the input list.
    pub index: usize,
    /// The specimen.
    pub specimen: Specimen,
    /// Which views the model saw (DV, LV); a missing or unreadable view, or one that film QC
    /// left out, is masked.
    pub views_used: ByView<bool>,
    /// Film QC codes of DV and LV.
    pub qc: ByView<Vec<QcCode>>,
    /// Scores, when at least one view could be used.
    pub scores: Option<Scores>,
    /// Model-to-original transforms of the views used.
    pub transforms: ByView<Option<Transform>>,
    /// DV and LV activation maps, when asked for and the model has them.
    pub cams: Option<ByView<CamMaps>>,
    /// How far the views used are from the model's training data; `None` when the model has
    /// no domain description (domain unknown) or no view was scored.
    pub domain: Option<DomainScore>,
    /// Files that could not be used.
    pub problems: Vec<ViewProblem>,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Specimens handed to the sink.
    pub emitted: usize,
    /// Specimens that got scores.
    pub scored: usize,
    /// Model runs.
    pub batches: usize,
    /// Whether the run was cancelled before the end.
    pub cancelled: bool,
}

/// Which of DV and LV a model uses (a single-view baseline ignores the other).
pub fn model_views(model: &Classifier) -> ByView<bool> {
    model.info.uses()
}

/// A prepared specimen on its way to the model thread, with its place in the input.
struct Prepared {
    index: usize,
    specimen: PreparedSpecimen,
}

/// Runs `model` over `specimens`, calling `sink` with each result in input order. Stops early
/// (and says so) when `cancel` is set or the sink fails.
pub fn run(
    model: &mut Classifier,
    specimens: &[Specimen],
    options: &PipelineOptions,
    cancel: &AtomicBool,
    sink: &mut dyn FnMut(SpecimenResult) -> anyhow::Result<()>,
) -> anyhow::Result<RunSummary> {
    let spec = model.info.metadata.preprocess.clone();
    let wanted = model_views(model);
    let batch = options.batch.max(1);
    let window = options.window.max(batch);
    let next_task = AtomicUsize::new(0);
    // The lowest index not yet emitted: workers wait until their task is within the window.
    let gate = (Mutex::new(0usize), Condvar::new());
    let (tx, rx) = sync_channel::<Prepared>(window);
    let mut summary = RunSummary::default();

    std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..options.workers.max(1) {
            let tx = tx.clone();
            let (next_task, gate, spec) = (&next_task, &gate, &spec);
            scope.spawn(move || {
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        return;
                    }
                    let index = next_task.fetch_add(1, Ordering::Relaxed);
                    let Some(specimen) = specimens.get(index) else { return };
                    {
                        let (lock, cv) = gate;
                        let Ok(mut emitted) = lock.lock() else { return };
                        while index >= *emitted + window {
                            if cancel.load(Ordering::Relaxed) {
                                return;
                            }
                            let Ok(g) = cv.wait_timeout(emitted, std::time::Duration::from_millis(50)) else { return };
                            emitted = g.0;
                        }
                    }
                    if tx.send(Prepared { index, specimen: prepare(specimen, spec, wanted) }).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);

        let mut pending: BTreeMap<usize, Prepared> = BTreeMap::new();
        let mut ready: Vec<Prepared> = Vec::with_capacity(batch);
        let mut next = 0usize;
        let mut flush = |ready: &mut Vec<Prepared>, summary: &mut RunSummary| -> anyhow::Result<()> {
            let items = std::mem::take(ready);
            let out = run_batch(model, &items, options.cam)?;
            summary.batches += usize::from(items.iter().any(|p| p.specimen.views.iter().any(|(_, v)| v.is_some())));
            for (p, Scored { scores, cams, domain }) in items.into_iter().zip(out) {
                let Some(specimen) = specimens.get(p.index) else { continue };
                summary.scored += usize::from(scores.is_some());
                let result = SpecimenResult {
                    index: p.index,
                    specimen: specimen.clone(),
                    views_used: p.specimen.views.as_ref().map(Option::is_some),
                    scores,
                    transforms: p.specimen.views.as_ref().map(|v| v.as_ref().map(|v| v.transform.clone())),
                    cams,
                    domain,
                    qc: p.specimen.qc,
                    problems: p.specimen.problems,
                };
                sink(result)?;
                summary.emitted += 1;
                let (lock, cv) = &gate;
                if let Ok(mut emitted) = lock.lock() {
                    *emitted = summary.emitted;
                }
                cv.notify_all();
            }
            Ok(())
        };
        let outcome = (|| -> anyhow::Result<()> {
            for item in rx.iter() {
                pending.insert(item.index, item);
                while let Some(p) = pending.remove(&next) {
                    ready.push(p);
                    next += 1;
                    if ready.len() == batch {
                        flush(&mut ready, &mut summary)?;
                    }
                }
                if cancel.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
            if !ready.is_empty() {
                flush(&mut ready, &mut summary)?;
            }
            Ok(())
        })();
        if outcome.is_err() {
            // Stop the workers before the scope joins them.
            cancel.store(true, Ordering::Relaxed);
        }
        drop(rx);
        outcome
    })?;
    summary.cancelled = summary.emitted < specimens.len();
    Ok(summary)
}

/// One specimen's model outputs.
#[derive(Default)]
struct Scored {
    scores: Option<Scores>,
    cams: Option<ByView<CamMaps>>,
    domain: Option<DomainScore>,
}

/// Runs one batch; specimens with no usable view get no scores.
fn run_batch(model: &mut Classifier, items: &[Prepared], cam: bool) -> Result<Vec<Scored>, ModelError> {
    let s = model.info.metadata.preprocess.size as usize;
    let bg = model.info.metadata.preprocess.background();
    let usable: Vec<&Prepared> = items.iter().filter(|p| p.specimen.views.iter().any(|(_, v)| v.is_some())).collect();
    let mut outputs = Vec::new();
    if !usable.is_empty() {
        let (mut dv, mut lv) = (Vec::with_capacity(usable.len() * s * s), Vec::with_capacity(usable.len() * s * s));
        let mut presence = Vec::with_capacity(usable.len());
        for p in &usable {
            for (view, buf) in [(View::Dv, &mut dv), (View::Lv, &mut lv)] {
                match &p.specimen.views[view] {
                    Some(v) => buf.extend_from_slice(&v.input.data),
                    None => buf.extend(std::iter::repeat_n(bg, s * s)),
                }
            }
            presence.push(p.specimen.views.as_ref().map(Option::is_some));
        }
        let out = model.run(&dv, &lv, &presence, cam)?;
        let mut cams = out.cams.into_iter();
        let mut domain = out.domain.into_iter();
        outputs = out.probs.into_iter().map(|p| (p, cams.next(), domain.next())).collect();
    }
    let mut outputs = outputs.into_iter();
    let (taxonomy, thresholds) = (&model.info.metadata.taxonomy, &model.info.metadata.thresholds);
    Ok(items
        .iter()
        .map(|p| {
            if p.specimen.views.iter().all(|(_, v)| v.is_none()) {
                return Scored::default();
            }
            match outputs.next() {
                Some((probs, cams, domain)) => {
                    Scored { scores: Some(Scores::new(taxonomy, probs, thresholds)), cams, domain }
                }
                None => Scored::default(),
            }
        })
        .collect())
}
