//! Fine-tuning the current model on a folder's reviewed specimens (the window's Model >
//! "Improve with my reviews...", and `mousexray improve`): the reviewer's decisions become
//! labels ([`crate::review::review_labels`]), a fifth of the reviewed specimens is held out by
//! a hash of their ids, the model is fine-tuned on the rest ([`super::train::train`] from the
//! parent's weights), and old and new models are compared on the held-out part. The anchor is
//! MONAI Label's active-learning loop, where the annotator's labels retrain the model in place.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::Device;

use super::data::{Dataset, Sample, fingerprint, load_labelled, split};
use super::loss::{Stage, targets_and_mask};
use super::onnx_import::read_parent;
use super::package::write_trained;
use super::train::{Checkpoint, Progress, Schedule, TrainOptions, predict, train};
use crate::metrics::{LevelAucs, level_aucs};
use crate::taxonomy::Taxonomy;

/// Fewest reviewed specimens the loop starts with: a fifth of fewer is too few to compare on.
pub const MIN_REVIEWED: usize = 20;

/// Fewest held-out specimens the comparison is made on.
pub const MIN_HELD_OUT: usize = 4;

/// Salt of the hold-out's split.
const HOLD_OUT_STREAM: u64 = 0x4f1d_u64;

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct ImproveOptions {
    /// Fine-tuning epochs (early stopping may end sooner).
    pub epochs: usize,
    /// Share of the reviewed specimens held out for the comparison.
    pub hold_out: f64,
    /// Seed of the hold-out and of training.
    pub seed: u64,
    /// Train the head alone.
    pub freeze_encoder: bool,
    /// Peak learning rate (default: the backbone's from-scratch rate, see [`default_lr`]).
    pub lr: Option<f64>,
}

impl Default for ImproveOptions {
    fn default() -> Self {
        ImproveOptions { epochs: 8, hold_out: 0.2, seed: 1, freeze_encoder: false, lr: None }
    }
}

/// One model on the held-out specimens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeldOutScore {
    /// AUC per level (conditional, as `eval` reports them).
    pub aucs: LevelAucs,
    /// The reviewer's node decisions the model's thresholded output agrees with.
    pub calls_right: usize,
    /// The reviewer's node decisions compared: each node whose label the review fixes, under a
    /// parent called abnormal (L1 always).
    pub calls: usize,
}

/// What the loop did.
#[derive(Debug, Clone)]
pub struct Improved {
    /// The new model's file (beside the parent, or in the user data folder's `models/`).
    pub model: PathBuf,
    /// The model it started from.
    pub parent: PathBuf,
    /// The reviewed folder.
    pub folder: PathBuf,
    /// Epochs trained (early stopping may end the run before the epochs asked for).
    pub epochs_run: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Of [`Improved::trained`], the specimens that chose the epoch and thresholds.
    pub validation: usize,
    /// The parent on the held-out specimens.
    pub before: HeldOutScore,
    /// The new model on them.
    pub after: HeldOutScore,
    /// Reviewed specimens fine-tuned on (including the run's own validation split).
    pub trained: usize,
    /// Reviewed specimens held out.
    pub held_out: usize,
    /// Wall-clock seconds, reading to writing.
    pub seconds: f64,
    /// Why the new model has no domain description, if it has none.
    pub undescribed: Option<String>,
}

/// The loop's default peak learning rate: the backbone's from-scratch rate. Fine-tuning the
/// bundled CAE on 200 reviewed style-b phantoms and testing on 500 others (BENCHMARKS.md,
/// 2026-11-30), a tenth of it (`train --init`'s default) changed nothing (DV+LV L2 AUC 0.532 ->
/// 0.552), 1e-3 reached 0.595 and 2e-3 0.612: a few hundred specimens of a new distribution
/// need the full rate, a large archive the gentler one.
pub fn default_lr(backbone: super::model::BackboneKind) -> f64 {
    backbone.default_lr()
}

/// Scores a model's probabilities against the reviewer's labels.
pub fn held_out_score(
    taxonomy: &Taxonomy,
    probs: &[Vec<f32>],
    samples: &[&Sample],
    thresholds: &[f32],
) -> HeldOutScore {
    let labels: Vec<_> = samples.iter().map(|s| s.labels.clone()).collect();
    let (mut right, mut calls) = (0, 0);
    for (p, s) in probs.iter().zip(samples) {
        let (target, mask) = targets_and_mask(taxonomy, &s.labels, Stage::All);
        for k in 0..taxonomy.nodes.len() {
            if mask[k] > 0.0 {
                calls += 1;
                let called = p.get(k).copied().unwrap_or(0.0) >= thresholds.get(k).copied().unwrap_or(0.5);
                right += usize::from(called == (target[k] > 0.5));
            }
        }
    }
    HeldOutScore { aucs: level_aucs(taxonomy, probs, &labels), calls_right: right, calls }
}

/// A file name for the improved model that names its parent and when: `cae_mv-improved-
/// 20261130T201500Z.onnx`. It goes beside a parent the user chose (`chosen`) when that folder
/// is writable; a bundled model found by the default lookup, or an unwritable folder, sends it
/// to the user data folder's `models/` (where the window and `--model`'s default also look), so
/// an installation's own files are never added to.
pub fn improved_path(parent: &Path, chosen: bool) -> PathBuf {
    let stem = parent.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    // An improved model improved again keeps one suffix.
    let stem = stem.split("-improved-").next().unwrap_or(&stem).to_owned();
    let name = format!("{stem}-improved-{}.onnx", crate::timestamp::file_stamp_now());
    let beside = parent.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let beside = beside.canonicalize().unwrap_or_else(|_| beside.to_owned());
    let writable = chosen && tempfile::tempfile_in(&beside).is_ok();
    match directories::ProjectDirs::from("org", "mousexray", "mousexray") {
        Some(d) if !writable => d.data_dir().join("models").join(name),
        _ => beside.join(name),
    }
}

/// Runs the loop on `folder`'s review (its state, as the window holds it or
/// [`crate::review::read_review`] reads it) with the model at `model`, writing the new model to
/// `out`. `stop` cancels (nothing is written then); `progress` reports as training does.
///
/// # Errors
/// Naming the folder or model: no review, fewer than [`MIN_REVIEWED`] reviewed specimens with
/// images, a model that cannot be fine-tuned (see [`read_parent`]), or a failed write.
#[allow(clippy::too_many_arguments)]
pub fn improve(
    folder: &Path,
    review: &crate::review::ReviewState,
    model: &Path,
    out: &Path,
    options: &ImproveOptions,
    ort_lib: Option<&Path>,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Improved> {
    let started = Instant::now();
    let taxonomy = Taxonomy::default();
    let (labels, _) = crate::review::review_labels(review, &taxonomy);
    if labels.len() < MIN_REVIEWED {
        bail!(
            "{}: {} reviewed specimens; at least {MIN_REVIEWED} are needed to fine-tune and hold some out",
            folder.display(),
            labels.len()
        );
    }
    let parent = read_parent(model, &Device::flex())?;
    let report = crate::specimen::scan(folder)?;
    let source = format!("the review of {}", folder.display());
    let (all, _problems) = load_labelled(
        folder,
        report,
        &labels,
        Vec::new(),
        &parent.metadata.preprocess,
        &source,
        super::input_cache::open_for(folder, &parent.metadata.preprocess).as_ref(),
        false,
    )?;
    // Another stream than training's own validation split, which would otherwise find none of
    // its fifth among the specimens left after this one.
    let (train_idx, held_idx) = split(&all.samples, options.hold_out, options.seed ^ HOLD_OUT_STREAM);
    if held_idx.len() < MIN_HELD_OUT || train_idx.len() < MIN_REVIEWED - MIN_HELD_OUT {
        bail!(
            "{}: {} reviewed specimens with images leave {} to hold out: too few to compare on (review more)",
            folder.display(),
            all.samples.len(),
            held_idx.len()
        );
    }
    let pick = |idx: &[usize]| -> Vec<Sample> { idx.iter().map(|&i| all.samples[i].clone()).collect() };
    let samples = pick(&train_idx);
    let dataset = Dataset { size: all.size, fingerprint: fingerprint(&samples), samples, pairs: Vec::new() };
    let held: Vec<Sample> = pick(&held_idx);
    let held: Vec<&Sample> = held.iter().collect();

    let config = parent.config.clone();
    let views = parent.metadata.provenance.views.clone();
    // Improve's own choices on top of the recipe: the from-scratch rate (see `default_lr`), all
    // levels at once, and a short patience.
    let train_options = TrainOptions {
        lr: options.lr.unwrap_or(default_lr(config.backbone)),
        epochs: options.epochs.max(1),
        seed: options.seed,
        schedule: Schedule::Joint,
        patience: 3,
        freeze_encoder: options.freeze_encoder,
        ..TrainOptions::recipe(config, parent.metadata.preprocess.clone(), views).fine_tuning(parent.record.clone())
    };

    // The checkpoint is scratch: the loop is short, and a cancelled one leaves nothing behind.
    let scratch = tempfile::tempdir().context("creating a scratch folder for the checkpoint")?;
    let checkpoint = Checkpoint::at(&scratch.path().join("improve.ckpt"));
    let trained = train(&dataset, &train_options, &checkpoint, false, Some(model), stop, progress)?;
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        bail!("cancelled; nothing was written");
    }
    let before = predict(&parent.model, &held, &train_options, &taxonomy)?;
    let after = predict(&trained.model, &held, &train_options, &taxonomy)?;
    let before = held_out_score(&taxonomy, &before, &held, &parent.metadata.thresholds);
    let after = held_out_score(&taxonomy, &after, &held, &trained.thresholds);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let (_, undescribed) = write_trained(&trained, &dataset, &folder.display().to_string(), out, ort_lib)?;
    Ok(Improved {
        model: out.to_owned(),
        parent: model.to_owned(),
        folder: folder.to_owned(),
        epochs_run: trained.state.history.len(),
        best_epoch: trained.state.best_epoch,
        validation: trained.state.counts.1,
        before,
        after,
        trained: dataset.samples.len(),
        held_out: held.len(),
        seconds: started.elapsed().as_secs_f64(),
        undescribed: undescribed.map(|e| format!("{e:#}")),
    })
}

/// How the fine-tuning went, in a sentence.
pub fn run_line(r: &Improved) -> String {
    let took = if r.seconds < 90.0 { format!("{:.0} s", r.seconds) } else { format!("{:.1} min", r.seconds / 60.0) };
    let stopped = if r.best_epoch > 0 && r.best_epoch < r.epochs_run {
        format!("; kept epoch {} of {} (no better validation score after it)", r.best_epoch, r.epochs_run)
    } else {
        format!("; {} epochs", r.epochs_run)
    };
    format!(
        "Fine-tuned on {} ({} to learn from, {} to choose the epoch and thresholds) in {took}{stopped}.",
        r.trained,
        r.trained - r.validation.min(r.trained),
        r.validation
    )
}

/// The comparison as Markdown lines: AUC per level and decisions right, old against new.
pub fn summary_lines(r: &Improved) -> Vec<String> {
    let f = |v: Option<f64>| v.map_or("–".to_owned(), |a| format!("{a:.3}"));
    let pct = |s: &HeldOutScore| {
        if s.calls == 0 {
            "–".to_owned()
        } else {
            format!("{}/{} ({:.0} %)", s.calls_right, s.calls, 100.0 * s.calls_right as f64 / s.calls as f64)
        }
    };
    let name = |p: &Path| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
    vec![
        format!("Held out: {} reviewed specimens. {}", r.held_out, run_line(r)),
        "| model | L1 AUC | L2 AUC | L3 AUC | reviewer's calls right |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
        format!(
            "| {} | {} | {} | {} | {} |",
            name(&r.parent),
            f(r.before.aucs.l1),
            f(r.before.aucs.l2),
            f(r.before.aucs.l3),
            pct(&r.before)
        ),
        format!(
            "| {} | {} | {} | {} | {} |",
            name(&r.model),
            f(r.after.aucs.l1),
            f(r.after.aucs.l2),
            f(r.after.aucs.l3),
            pct(&r.after)
        ),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_improved_model_goes_beside_a_chosen_parent_and_never_into_the_installation() {
        let dir = tempfile::tempdir().unwrap();
        let chosen = dir.path().join("mine.onnx");
        let beside = improved_path(&chosen, true);
        assert_eq!(beside.parent().unwrap(), dir.path().canonicalize().unwrap());
        let name = beside.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("mine-improved-") && name.ends_with(".onnx"), "{name}");
        // Improving an improved model keeps one suffix.
        let again = improved_path(&beside, true);
        assert!(again.file_name().unwrap().to_string_lossy().matches("-improved-").count() == 1);
        // The bundled model the default lookup found: the user data folder.
        let bundled = improved_path(&dir.path().join("cae_mv.onnx"), false);
        assert_ne!(bundled.parent().unwrap(), dir.path().canonicalize().unwrap());
        assert!(bundled.ends_with(bundled.file_name().unwrap()) && bundled.parent().unwrap().ends_with("models"));
    }
}
