//! The training loop: staged or joint hierarchical training, view dropout, augmentation,
//! validation AUCs each epoch, checkpoints, early stopping and threshold choice.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::data::{Dataset, Sample, augment, presence, reads};
use super::device::TrainDevice;
use super::loss::{Stage, masked_bce, targets_and_mask};
use super::model::{CaeDecoder, ModelConfig, MultiView};
use super::onnx_import::{ParentModel, read_parent};
use super::pairs::{BatchPair, PairBatch, epoch_batches, pair_loss, posture_pair_outputs, ranked_pairs};
use crate::imaging::PreprocessSpec;
use crate::metrics::{self, EpochRecord, LevelAucs, level_aucs};
use crate::specimen::View;
use crate::synth::Rng;
use crate::taxonomy::{NodeLabels, Taxonomy};

/// How the hierarchy is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// L1 first, then L1+L2, then all levels (a third of the epochs each), as in the paper.
    Staged,
    /// All levels from the start.
    Joint,
}

/// Everything that determines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Architecture.
    pub model: ModelConfig,
    /// Input preprocessing (travels inside the exported model).
    pub preprocess: PreprocessSpec,
    /// Views the model uses (`[Dv, Lv]` for multiview, one for a single-view baseline).
    pub views: Vec<View>,
    /// Maximum epochs.
    pub epochs: usize,
    /// Batch size (specimens).
    pub batch: usize,
    /// Peak learning rate (AdamW, cosine decay).
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Fraction of specimens held out for validation.
    pub val_split: f64,
    /// Seed for the split, initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Staged or joint.
    pub schedule: Schedule,
    /// Probability of hiding one of two present views during training (multiview only).
    pub view_dropout: f64,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// Reconstruction pretraining epochs of the backbone before the heads are trained.
    pub pretrain_epochs: usize,
    /// Keep the pretrained backbone frozen.
    pub freeze_encoder: bool,
    /// Apply augmentation.
    pub augment: bool,
    /// Steps of linear learning-rate warm-up at the start (LayerNorm networks trained from
    /// scratch with Adam can stall in their first steps at the full rate).
    #[serde(default)]
    pub warmup_steps: usize,
    /// The model whose weights the run starts from (`train --init`), else fresh weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<ParentModel>,
    /// Where it trains.
    #[serde(default)]
    pub device: TrainDevice,
    /// Weight of the counterfactual pairs' ranking loss ([`super::pairs`]) beside the
    /// classification loss, for folders with a `pairs.csv` (0: the pairs train as ordinary
    /// specimens, still kept together in the split).
    #[serde(default = "default_pair_weight")]
    pub pair_weight: f32,
    /// Weight of the auxiliary loss on the column's midline ([`super::model::MultiView::spine`])
    /// for specimens whose folder's `truth.json` gives it (phantoms); 0: no spine head.
    #[serde(default)]
    pub spine_weight: f32,
    /// Weight of stability training ([`stability_loss`]): each training input is also fed
    /// nudged ([`super::data::Augmentation::nudged`]) and the squared difference of the two
    /// outputs' probabilities is penalised, so that a film moved by a pixel moves the outputs
    /// less. 0: off (and half the cost).
    #[serde(default)]
    pub stability_weight: f32,
    /// Weight of the posture pairs' term (`synth --posture-pairs`): the mean squared difference
    /// between the logits of each posture pair's two members in a batch, since the same animal
    /// in two lateral postures should be read alike. In logits, not probabilities: the bundled
    /// models' outputs sit near 0, where a probability difference vanishes however far the calls
    /// move (a probability term at weight 2,000 left the posture's false alarms where they
    /// were). 0: such pairs train as ordinary specimens.
    #[serde(default)]
    pub posture_weight: f32,
    /// Standard deviation of the augmentation's rotation (degrees, clipped at 2.5 SD): how far
    /// a training input turns from the orientation preprocessing gave it.
    #[serde(default = "default_rotation_sd")]
    pub rotation_sd_deg: f64,
    /// With stability training: the nudged copy is also turned by up to this many degrees
    /// either way ([`super::data::Augmentation::nudged`]), so that a misjudged body axis moves
    /// the outputs less. 0: nudged as a moved film only.
    #[serde(default)]
    pub stability_turn_deg: f64,
}

fn default_rotation_sd() -> f64 {
    super::data::DEFAULT_ROTATION_SD_DEG
}

fn default_pair_weight() -> f32 {
    1.0
}

impl TrainOptions {
    /// The training recipe for `model` on `views`: AdamW at the backbone's rate with 300 warm-up
    /// steps and weight decay 0.05, batches of 16, 30 epochs staged L1 -> L1+L2 -> all with
    /// patience 5, a fifth held out for validation, view dropout 0.3 when there are two views,
    /// augmentation on, the backbone's reconstruction pretraining, seed 1, on the CPU. One
    /// place for the defaults `train` and `improve` share.
    pub fn recipe(model: ModelConfig, preprocess: PreprocessSpec, views: Vec<View>) -> TrainOptions {
        TrainOptions {
            lr: model.backbone.default_lr(),
            pretrain_epochs: model.backbone.default_pretrain_epochs(),
            model,
            preprocess,
            view_dropout: if views.len() == 2 { 0.3 } else { 0.0 },
            views,
            epochs: 30,
            batch: 16,
            weight_decay: 0.05,
            val_split: 0.2,
            seed: 1,
            schedule: Schedule::Staged,
            patience: 5,
            warmup_steps: 300,
            freeze_encoder: false,
            augment: true,
            init: None,
            device: TrainDevice::default(),
            pair_weight: default_pair_weight(),
            spine_weight: 0.0,
            stability_weight: 0.0,
            posture_weight: 0.0,
            rotation_sd_deg: default_rotation_sd(),
            stability_turn_deg: 0.0,
        }
    }

    /// The same recipe continued from `parent`'s weights: a tenth of the learning rate, no
    /// warm-up and no pretraining (the weights are already trained).
    pub fn fine_tuning(self, parent: ParentModel) -> TrainOptions {
        TrainOptions { lr: self.lr / 10.0, warmup_steps: 0, pretrain_epochs: 0, init: Some(parent), ..self }
    }
}

/// The run's state, saved with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Options of the run.
    pub options: TrainOptions,
    /// Dataset fingerprint: a resume on other data is refused.
    pub fingerprint: String,
    /// Completed epochs.
    pub history: Vec<EpochRecord>,
    /// Epoch of the best validation score (0 = none yet).
    pub best_epoch: usize,
    /// The best score.
    pub best_score: f64,
    /// Specimens in the training and validation sets.
    pub counts: (usize, usize),
    /// Whether CAE pretraining is done.
    pub pretrained: bool,
    /// Reconstruction pretraining epochs finished (each is checkpointed, with its decoder in
    /// `decoder.bpk`, so a run stopped during a long pretraining resumes within it).
    #[serde(default)]
    pub pretrain_done: usize,
}

/// A finished run.
pub struct Trained {
    /// Best weights (no autodiff).
    pub model: MultiView,
    /// Final state.
    pub state: TrainState,
    /// Per-class thresholds chosen on validation (taxonomy order).
    pub thresholds: Vec<f32>,
}

/// What the loop reports as it goes.
pub enum Progress {
    /// A batch finished: (epoch, batch, batches, loss).
    Batch(usize, usize, usize, f64),
    /// An epoch finished.
    Epoch(Box<EpochRecord>),
    /// A message.
    Note(String),
}

fn stage_of(options: &TrainOptions, epoch: usize) -> Stage {
    match options.schedule {
        Schedule::Joint => Stage::All,
        Schedule::Staged => {
            let third = options.epochs.div_ceil(3).max(1);
            match epoch / third {
                0 => Stage::L1,
                1 => Stage::L2,
                _ => Stage::All,
            }
        }
    }
}

/// A batch as tensors.
struct Batch {
    dv: Tensor<4>,
    lv: Tensor<4>,
    views: Tensor<2>,
    targets: Tensor<2>,
    mask: Tensor<2>,
    /// With a spine head: per view, the midline targets `[N, 60]` (units of the input's half
    /// side from its centre) and which rows have one `[N, 1]`.
    spine: [Option<(Tensor<2>, Tensor<2>)>; 2],
    /// With stability training: the DV and LV inputs again, each nudged from its own warp.
    nudged: Option<(Tensor<4>, Tensor<4>)>,
}

/// How one training sample is drawn: the seed of its view dropout and augmentation, and
/// whether a view may be dropped.
#[derive(Debug, Clone, Copy)]
struct Draw {
    seed: u64,
    view_dropout: bool,
}

/// `training`: one [`Draw`] per sample; `None` for evaluation. The members of a
/// counterfactual pair get the same seed, so only the finding differs between them, and keep
/// both views, so the view that shows the finding is there to rank.
fn make_batch(
    samples: &[&Sample],
    options: &TrainOptions,
    taxonomy: &Taxonomy,
    stage: Stage,
    training: Option<&[Draw]>,
    device: &Device,
) -> anyhow::Result<Batch> {
    let s = options.preprocess.size as usize;
    let n = samples.len();
    let k = taxonomy.nodes.len();
    let bg = options.preprocess.background();
    let (mut dv, mut lv) = (vec![bg; n * s * s], vec![bg; n * s * s]);
    let stable = training.is_some() && options.augment && options.stability_weight > 0.0;
    let (mut dv2, mut lv2) = if stable { (dv.clone(), lv.clone()) } else { (Vec::new(), Vec::new()) };
    let (mut views, mut targets, mut mask) = (vec![0.0f32; n * 2], vec![0.0f32; n * k], vec![0.0f32; n * k]);
    let points = 2 * crate::synth::SPINE_LANDMARKS;
    let mut spine = [(); 2].map(|_| (vec![0.0f32; n * points], vec![0.0f32; n]));
    for (i, sample) in samples.iter().enumerate() {
        let draw = training.and_then(|draws| draws.get(i));
        let mut rng = draw.map(|d| Rng::new(d.seed, 0));
        let mut present = presence(sample, &options.views);
        if let (Some(rng), Some(true)) = (rng.as_mut(), draw.map(|d| d.view_dropout))
            && present.both()
            && rng.chance(options.view_dropout)
        {
            present[View::MODEL[rng.below(2)]] = false;
        }
        let views_of = [(&sample.dv, &mut dv, &mut dv2), (&sample.lv, &mut lv, &mut lv2)];
        for (v, (src, dst, nudged)) in views_of.into_iter().enumerate() {
            if let (true, Some(x)) = (present[View::MODEL[v]], src) {
                let values = x.values()?;
                let slot = &mut dst[i * s * s..(i + 1) * s * s];
                slot.copy_from_slice(&values);
                let moved = match (rng.as_mut(), options.augment) {
                    (Some(rng), true) => Some(augment(slot, s, bg, options.rotation_sd_deg, rng)),
                    _ => None,
                };
                if let (Some(a), Some(rng), true) = (moved, rng.as_mut(), stable) {
                    let slot = &mut nudged[i * s * s..(i + 1) * s * s];
                    slot.copy_from_slice(&values);
                    a.nudged(rng, options.stability_turn_deg).apply(slot, s, bg, rng);
                }
                views[i * 2 + v] = 1.0;
                if let Some(line) = sample.spine[View::MODEL[v]].as_ref().filter(|l| l.len() * 2 == points) {
                    let (t, m) = &mut spine[v];
                    let half = s as f32 / 2.0;
                    for (j, &p) in line.iter().enumerate() {
                        let [x, y] = moved.map_or(p, |a| a.map_point(p, s));
                        t[i * points + 2 * j] = (x - half) / half;
                        t[i * points + 2 * j + 1] = (y - half) / half;
                    }
                    m[i] = 1.0;
                }
            }
        }
        let (t, m) = targets_and_mask(taxonomy, &sample.labels, stage);
        targets[i * k..(i + 1) * k].copy_from_slice(&t);
        mask[i * k..(i + 1) * k].copy_from_slice(&m);
    }
    let image = |x: Vec<f32>| Tensor::from_data(TensorData::new(x, [n, 1, s, s]), device);
    Ok(Batch {
        nudged: stable.then(|| (image(dv2), image(lv2))),
        dv: image(dv),
        lv: image(lv),
        views: Tensor::from_data(TensorData::new(views, [n, 2]), device),
        targets: Tensor::from_data(TensorData::new(targets, [n, k]), device),
        mask: Tensor::from_data(TensorData::new(mask, [n, k]), device),
        spine: spine.map(|(t, m)| {
            (options.spine_weight > 0.0 && m.iter().any(|&x| x > 0.0)).then(|| {
                (
                    Tensor::from_data(TensorData::new(t, [n, points]), device),
                    Tensor::from_data(TensorData::new(m, [n, 1]), device),
                )
            })
        }),
    })
}

/// The midline loss of a batch: the mean absolute error over the coordinates of every view
/// with a target (units of the input's half side), and how many views had one. `None` without
/// a spine head or targets.
fn spine_loss(predicted: &[Option<Tensor<2>>; 2], targets: &[Option<(Tensor<2>, Tensor<2>)>; 2]) -> Option<Tensor<1>> {
    let mut terms = Vec::new();
    for (p, t) in predicted.iter().zip(targets) {
        if let (Some(p), Some((t, m))) = (p, t) {
            let [_, points] = t.dims();
            let count = m.clone().sum() * points as f32;
            terms.push(((p.clone() - t.clone()).abs() * m.clone()).sum() / count);
        }
    }
    let n = terms.len();
    terms.into_iter().reduce(|a, b| a + b).map(|sum| sum / n as f32)
}

/// Stability training's term: the mean squared difference between the probabilities of the
/// inputs (`logits`, `[N, K]`) and of their nudged copies (`nudged`, `[N, K]`), over every node
/// (the outputs are what a moved film must not move).
fn stability_loss(logits: Tensor<2>, nudged: Tensor<2>) -> Tensor<1> {
    mean_squared_difference(burn::tensor::activation::sigmoid(logits), burn::tensor::activation::sigmoid(nudged))
}

/// The mean over every element of `(a - b)^2`, for two tensors of one shape: on probabilities
/// the stability term, on the logits (`[P, K]`) of the posture pairs' two members their term.
fn mean_squared_difference(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let difference = a - b;
    (difference.clone() * difference).mean()
}

/// The share of `pairs` (all in validation) in which the probability of the pair's finding
/// rose from the member without it to the member with it;
/// `probs` are the validation samples' in `val` order. `None` without pairs.
fn pairs_raised(pairs: &[&super::pairs::RankedPair], val: &[usize], probs: &[Vec<f32>]) -> Option<f64> {
    let at = |i: usize| val.iter().position(|&v| v == i);
    let mut rose = 0usize;
    let mut counted = 0usize;
    for p in pairs {
        let Some(leaf) = p.finding else { continue };
        let (Some(a), Some(b)) = (at(p.members[0]), at(p.members[1])) else { continue };
        let (Some(pa), Some(pb)) = (probs.get(a).and_then(|x| x.get(leaf)), probs.get(b).and_then(|x| x.get(leaf)))
        else {
            continue;
        };
        counted += 1;
        rose += usize::from(pb > pa);
    }
    (counted > 0).then(|| rose as f64 / counted as f64)
}

/// The mean over `pairs` (posture pairs, all in validation) of each pair's largest difference
/// between its members' probabilities, over every node; `probs` in `val` order. `None` without
/// posture pairs.
fn posture_pairs_gap(pairs: &[&super::pairs::RankedPair], val: &[usize], probs: &[Vec<f32>]) -> Option<f64> {
    let at = |i: usize| val.iter().position(|&v| v == i);
    let gaps: Vec<f64> = pairs
        .iter()
        .filter(|p| p.finding.is_none())
        .filter_map(|p| Some((probs.get(at(p.members[0])?)?, probs.get(at(p.members[1])?)?)))
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())).fold(0.0, f64::max))
        .collect();
    (!gaps.is_empty()).then(|| gaps.iter().sum::<f64>() / gaps.len() as f64)
}

/// Positive weights per class: negatives over positives among the specimens each node is
/// trained on, clamped to 1..=8.
fn pos_weights(dataset: &Dataset, train: &[usize], taxonomy: &Taxonomy) -> Vec<f32> {
    let k = taxonomy.nodes.len();
    let (mut pos, mut neg) = (vec![0.0f32; k], vec![0.0f32; k]);
    for &i in train {
        let (t, m) = targets_and_mask(taxonomy, &dataset.samples[i].labels, Stage::All);
        for c in 0..k {
            pos[c] += t[c] * m[c];
            neg[c] += (1.0 - t[c]) * m[c];
        }
    }
    (0..k).map(|c| if pos[c] > 0.0 { (neg[c] / pos[c]).clamp(1.0, 8.0) } else { 1.0 }).collect()
}

/// Conditional probabilities of the model for some samples, in batches, on the model's device.
pub fn predict(
    model: &MultiView,
    samples: &[&Sample],
    options: &TrainOptions,
    taxonomy: &Taxonomy,
) -> anyhow::Result<Vec<Vec<f32>>> {
    predict_with_spine(model, samples, options, taxonomy).map(|(p, _)| p)
}

/// [`predict`], and with a spine head the mean distance (input pixels) between each predicted
/// vertebral centre and its target, over the views that have one.
fn predict_with_spine(
    model: &MultiView,
    samples: &[&Sample],
    options: &TrainOptions,
    taxonomy: &Taxonomy,
) -> anyhow::Result<(Vec<Vec<f32>>, Option<f64>)> {
    let device = model.head.weight.val().device();
    let mut out = Vec::with_capacity(samples.len());
    let (mut distance, mut points) = (0.0f64, 0usize);
    let half = f64::from(options.preprocess.size) / 2.0;
    let values =
        |t: Tensor<2>| -> anyhow::Result<Vec<f32>> { t.into_data().try_to_vec().map_err(|e| anyhow::anyhow!("{e:?}")) };
    for chunk in samples.chunks(options.batch.max(1)) {
        let b = make_batch(chunk, options, taxonomy, Stage::All, None, &device)?;
        let f = model.forward_full(b.dv, b.lv, b.views, reads(&options.views).into_array());
        let probs = burn::tensor::activation::sigmoid(f.logits);
        let k = taxonomy.nodes.len();
        out.extend(values(probs)?.chunks(k).map(<[f32]>::to_vec));
        for (p, t) in f.spine.into_iter().zip(b.spine) {
            let (Some(p), Some((t, m))) = (p, t) else { continue };
            let [_, width] = t.dims();
            let (p, t, m) = (values(p)?, values(t)?, values(m)?);
            for (row, &present) in m.iter().enumerate() {
                if present > 0.0 {
                    for j in (0..width).step_by(2) {
                        let at = row * width + j;
                        let (dx, dy) = (f64::from(p[at] - t[at]), f64::from(p[at + 1] - t[at + 1]));
                        distance += half * (dx * dx + dy * dy).sqrt();
                        points += 1;
                    }
                }
            }
        }
    }
    Ok((out, (points > 0).then(|| distance / points as f64)))
}

/// The validation score early stopping follows: mean L3 AUC, else L2, else L1.
fn score(a: &LevelAucs) -> f64 {
    a.l3.or(a.l2).or(a.l1).unwrap_or(0.0)
}

/// Fewer validation positives or negatives than this for a class, and its threshold is not
/// chosen from them: with a handful of either, Youden's J jumps to whichever specimen happens
/// to sit at the edge. Measured with `improve` at a learning rate of 1e-9 (weights unchanged) on
/// 150 reviewed phantoms: the parent's calls right were 132 of 168, the copy's 108 with
/// thresholds from every class, 125 from classes with 5 a side, 132 with 10.
pub const MIN_THRESHOLD_SIDE: usize = 10;

/// Per-class thresholds maximising Youden's J on validation; a class with fewer than
/// [`MIN_THRESHOLD_SIDE`] validation positives or negatives (L2 and L3 among parent-positive
/// specimens) takes its `fallback` (0.5 for a fresh model, the parent's for a fine-tuned one).
pub fn choose_thresholds(taxonomy: &Taxonomy, probs: &[Vec<f32>], samples: &[&Sample], fallback: &[f32]) -> Vec<f32> {
    let labels: Vec<NodeLabels> = samples.iter().map(|s| s.labels.clone()).collect();
    (0..taxonomy.nodes.len())
        .map(|i| {
            let (scores, truth) = metrics::node_scores(taxonomy, i, probs, &labels);
            let pos = truth.iter().filter(|y| **y).count();
            let enough = pos >= MIN_THRESHOLD_SIDE && truth.len() - pos >= MIN_THRESHOLD_SIDE;
            let fitted = if enough { metrics::youden_threshold(&scores, &truth) } else { None };
            fitted.unwrap_or_else(|| fallback.get(i).copied().unwrap_or(0.5))
        })
        .collect()
}

/// Paths of a run's checkpoint folder.
pub struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    /// The checkpoint folder for an output model path (`models/x.onnx` -> `models/x.ckpt/`).
    pub fn for_output(out: &Path) -> Checkpoint {
        Checkpoint { dir: out.with_extension("ckpt") }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A given folder.
    pub fn at(dir: &Path) -> Checkpoint {
        Checkpoint { dir: dir.to_owned() }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether a resumable state exists.
    pub fn exists(&self) -> bool {
        self.file("state.json").is_file()
    }
}

/// Reconstruction pretraining of the backbone on every image (no labels needed): a decoder of
/// stride-2 transposed convolutions ([`CaeDecoder`]) maps the last feature map back to the
/// input, and the backbone learns what the images hold before any label is seen. The CAE is
/// defined by it; for the ConvNeXt it stands in for the ImageNet weights the paper started from,
/// which are not reachable here.
fn pretrain_backbone(
    model: MultiView,
    dataset: &Dataset,
    options: &TrainOptions,
    device: &Device,
    progress: &mut dyn FnMut(Progress),
    stop: &AtomicBool,
    at: Pretraining<'_>,
) -> anyhow::Result<MultiView> {
    #[derive(Module, Debug)]
    struct Autoencoder {
        /// The classifier; only its backbone gets gradients here.
        model: MultiView,
        decoder: CaeDecoder,
    }
    let config = &options.model;
    // The decoder doubles the side once per width: as many widths as the backbone halves it
    // (the ConvNeXt's stride-4 stem needs one more than it has stages).
    let mut widths = config.dims.clone();
    while (1usize << widths.len()) < config.stride() {
        widths.insert(0, (widths.first().copied().unwrap_or(16) / 2).max(8));
    }
    let mut ae = Autoencoder { model, decoder: CaeDecoder::new(&widths, device) };
    let mut optim = AdamWConfig::new().with_weight_decay(options.weight_decay).init();
    let (decoder_file, optim_file) = (at.checkpoint.file("decoder.bpk"), at.checkpoint.file("pretrain_optim.bpk"));
    if at.done > 0 {
        // The encoder came back with the checkpoint's weights; the decoder and the optimizer
        // state of pretraining come back from their own files.
        ae.decoder
            .load_from(&mut BurnpackStore::from_file(&decoder_file))
            .map_err(|e| anyhow::anyhow!("loading {}: {e:?}", decoder_file.display()))?;
        optim = optim.load(&optim_file).map_err(|e| anyhow::anyhow!("loading {}: {e:?}", optim_file.display()))?;
    }
    let s = options.preprocess.size as usize;
    let images: Vec<&super::data::Input> =
        dataset.samples.iter().flat_map(|x| [x.dv.as_ref(), x.lv.as_ref()]).flatten().collect();
    let mut rng = Rng::new(options.seed ^ 0xcae, at.done as u64);
    let bg = options.preprocess.background();
    for epoch in at.done..options.pretrain_epochs {
        let mut order: Vec<usize> = (0..images.len()).collect();
        shuffle(&mut order, &mut rng);
        let (mut total, mut count) = (0.0, 0);
        for chunk in order.chunks(options.batch.max(1) * 2) {
            if stop.load(Ordering::Relaxed) {
                return Ok(ae.model);
            }
            let mut data = Vec::with_capacity(chunk.len() * s * s);
            for &i in chunk {
                let mut x = images[i].values()?.into_owned();
                if options.augment {
                    augment(&mut x, s, bg, options.rotation_sd_deg, &mut rng);
                }
                data.extend(x);
            }
            let x = Tensor::<4>::from_data(TensorData::new(data, [chunk.len(), 1, s, s]), device);
            let recon = ae.decoder.forward(ae.model.backbone(x.clone()));
            let loss = (recon - x).powi_scalar(2).mean();
            total += f64::from(loss.clone().into_scalar::<f32>());
            count += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &ae);
            ae = optim.step(options.lr, ae, grads);
        }
        progress(Progress::Note(format!(
            "reconstruction pretraining epoch {}: MSE {:.4}",
            epoch + 1,
            total / count.max(1) as f64
        )));
        crate::fsx::write_via_path(&decoder_file, |tmp| {
            ae.decoder
                .save_into(&mut BurnpackStore::from_file(tmp).overwrite(true))
                .map_err(|e| anyhow::anyhow!("saving the decoder: {e:?}"))
        })?;
        crate::fsx::write_via_path(&optim_file, |tmp| {
            optim.save(tmp).map_err(|e| anyhow::anyhow!("saving the pretraining optimizer state: {e:?}"))
        })?;
        (at.on_epoch)(&ae.model, epoch + 1)?;
    }
    Ok(ae.model)
}

/// Where reconstruction pretraining starts, and how it checkpoints.
struct Pretraining<'a> {
    /// The run's checkpoint folder (the decoder and its optimizer state go there).
    checkpoint: &'a Checkpoint,
    /// Pretraining epochs already done (the encoder holds them).
    done: usize,
    /// Called after each epoch with the model and the epochs done: saves the run's checkpoint.
    on_epoch: &'a mut dyn FnMut(&MultiView, usize) -> anyhow::Result<()>,
}

/// Writes the weights, the optimizer state and the run state, so `--resume` continues here.
fn save_checkpoint(
    model: MultiView,
    optim: &ModuleOptimizer,
    state: &TrainState,
    checkpoint: &Checkpoint,
) -> anyhow::Result<MultiView> {
    // Each file is replaced whole: a crash mid-save leaves the previous checkpoint readable.
    crate::fsx::write_via_path(&checkpoint.file("model.bpk"), |tmp| {
        model
            .save_into(&mut BurnpackStore::from_file(tmp).overwrite(true))
            .map_err(|e| anyhow::anyhow!("saving the checkpoint: {e:?}"))
    })?;
    crate::fsx::write_via_path(&checkpoint.file("optim.bpk"), |tmp| {
        optim.save(tmp).map_err(|e| anyhow::anyhow!("saving the optimizer state: {e:?}"))
    })?;

    let text = serde_json::to_string_pretty(state).context("serialising the state")?;
    crate::fsx::write_bytes_atomic(&checkpoint.file("state.json"), text.as_bytes())
        .context("writing the checkpoint state")?;
    Ok(model)
}

fn shuffle(v: &mut [usize], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

/// Trains (or resumes) a classifier. Saves a checkpoint after every epoch and when `stop` is
/// set, so an interrupted run resumes where it was. With `options.init`, `init` is the parent
/// model's file; its weights are the start, and a file that changed since the options named it
/// is refused.
pub fn train(
    dataset: &Dataset,
    options: &TrainOptions,
    checkpoint: &Checkpoint,
    resume: bool,
    init: Option<&Path>,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Trained> {
    let taxonomy = Taxonomy::default();
    let device = options.device.device()?.autodiff();
    device.seed(options.seed);
    let (train_idx, val_idx) = dataset.split(options.val_split, options.seed);
    if train_idx.is_empty() {
        anyhow::bail!("no training specimens after the validation split");
    }
    // Where validation cannot choose a class's threshold, a fine-tuned model keeps its
    // parent's (chosen on the parent's larger validation set).
    let mut fallback = vec![0.5_f32; taxonomy.nodes.len()];
    let mut model = match (&options.init, init) {
        (None, _) => options.model.init(&device),
        (Some(named), Some(path)) => {
            let parent = read_parent(path, &device)?;
            if parent.record.sha256 != named.sha256 || parent.config != options.model {
                anyhow::bail!("{}: the file changed since the run was set up from it", path.display());
            }
            if parent.metadata.thresholds.len() == fallback.len() {
                fallback.clone_from(&parent.metadata.thresholds);
            }
            parent.model
        }
        (Some(named), None) => anyhow::bail!("the run starts from {}, but no file was given for it", named.file),
    };
    if options.spine_weight > 0.0 {
        model.spine = Some(options.model.spine_head(&device));
    }
    let mut optim = AdamWConfig::new().with_weight_decay(options.weight_decay).init();
    let mut state = TrainState {
        options: options.clone(),
        fingerprint: dataset.fingerprint.clone(),
        history: Vec::new(),
        best_epoch: 0,
        best_score: f64::MIN,
        counts: (train_idx.len(), val_idx.len()),
        pretrained: false,
        pretrain_done: 0,
    };
    std::fs::create_dir_all(&checkpoint.dir).with_context(|| format!("creating {}", checkpoint.dir.display()))?;
    if resume && checkpoint.exists() {
        let text = std::fs::read_to_string(checkpoint.file("state.json")).context("reading the checkpoint state")?;
        let saved: TrainState = serde_json::from_str(&text).context("parsing the checkpoint state")?;
        if saved.fingerprint != dataset.fingerprint || saved.options.model != options.model {
            anyhow::bail!(
                "{}: the checkpoint was made on other data or another architecture",
                checkpoint.dir.display()
            );
        }
        if (saved.options.spine_weight > 0.0) != (options.spine_weight > 0.0) {
            anyhow::bail!(
                "{}: the checkpoint was trained {} a spine head; resume it with the same --spine-weight setting",
                checkpoint.dir.display(),
                if saved.options.spine_weight > 0.0 { "with" } else { "without" }
            );
        }
        if saved.options.init != options.init || saved.options.views != options.views {
            let parent = |p: &Option<ParentModel>| p.as_ref().map_or("fresh weights".to_owned(), |p| p.file.clone());
            anyhow::bail!(
                "{}: the checkpoint started from {} with views {:?}; resume it with the same --init and --views",
                checkpoint.dir.display(),
                parent(&saved.options.init),
                saved.options.views
            );
        }
        model
            .load_from(&mut BurnpackStore::from_file(checkpoint.file("model.bpk")))
            .map_err(|e| anyhow::anyhow!("loading {}: {e:?}", checkpoint.file("model.bpk").display()))?;
        optim = optim
            .load(checkpoint.file("optim.bpk"))
            .map_err(|e| anyhow::anyhow!("loading the optimizer state: {e:?}"))?;
        // Within pretraining, its own line says where it resumes.
        if saved.pretrained || saved.pretrain_done == 0 || !saved.history.is_empty() {
            progress(Progress::Note(format!("resuming after epoch {}", saved.history.len())));
        }
        state = TrainState { options: options.clone(), ..saved };
    }
    if !state.pretrained && options.pretrain_epochs > 0 {
        let done = state.pretrain_done;
        if done > 0 {
            progress(Progress::Note(format!("resuming reconstruction pretraining after epoch {done}")));
        }
        let mut on_epoch = |m: &MultiView, done: usize| -> anyhow::Result<()> {
            state.pretrain_done = done;
            save_checkpoint(m.clone(), &optim, &state, checkpoint).map(|_| ())
        };
        let resume_at = Pretraining { checkpoint, done, on_epoch: &mut on_epoch };
        model = pretrain_backbone(model, dataset, options, &device, progress, stop, resume_at)?;
        state.pretrained = !stop.load(Ordering::Relaxed);
        // Pretraining can take as long as several epochs: a run stopped after it keeps it.
        if state.pretrained {
            model = save_checkpoint(model, &optim, &state, checkpoint)?;
        }
    }
    if options.freeze_encoder {
        model.convnext = model.convnext.map(|e| e.no_grad());
        model.cae = model.cae.map(|e| e.no_grad());
    }
    let weights = pos_weights(dataset, &train_idx, &taxonomy);
    let k = taxonomy.nodes.len();
    let weights_t = Tensor::<2>::from_data(TensorData::new(weights, [1, k]), &device);
    let val_samples: Vec<&Sample> = val_idx.iter().map(|&i| &dataset.samples[i]).collect();
    let mut rng = Rng::new(options.seed, state.history.len() as u64 + 1);
    let mut since_best = state.history.len().saturating_sub(state.best_epoch);
    let (ranked, notes) = ranked_pairs(&taxonomy, dataset);
    for note in notes {
        progress(Progress::Note(note));
    }
    let val_pairs: Vec<_> = ranked.iter().filter(|p| val_idx.contains(&p.members[0])).collect();

    for epoch in state.history.len()..options.epochs {
        if since_best >= options.patience.max(1) && stage_of(options, epoch) == Stage::All {
            progress(Progress::Note(format!("early stop: no better validation score for {since_best} epochs")));
            break;
        }
        let stage = stage_of(options, epoch);
        let started = Instant::now();
        let order = epoch_batches(&train_idx, &ranked, options.batch.max(1), &mut rng);
        let batches = order.len();
        let (mut total, mut seen) = (0.0f64, 0usize);
        let (mut pair_total, mut pair_batches) = (0.0f64, 0usize);
        let (mut spine_total, mut spine_batches) = (0.0f64, 0usize);
        let (mut stability_total, mut stability_batches) = (0.0f64, 0usize);
        let (mut posture_total, mut posture_batches) = (0.0f64, 0usize);
        // Cosine decay over the planned epochs.
        let lr = options.lr * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / options.epochs.max(1) as f64).cos());
        for (b, PairBatch { samples: chunk, pairs: in_batch }) in order.iter().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let samples: Vec<&Sample> = chunk.iter().map(|&i| &dataset.samples[i]).collect();
            let mut draws: Vec<Draw> =
                chunk.iter().map(|_| Draw { seed: rng.next_u64(), view_dropout: true }).collect();
            for BatchPair { at, .. } in in_batch {
                draws[at[1]] = Draw { seed: draws[at[0]].seed, view_dropout: false };
                draws[at[0]].view_dropout = false;
            }
            let batch = make_batch(&samples, options, &taxonomy, stage, Some(&draws), &device)?;
            let n = samples.len();
            let stable = batch.nudged.is_some();
            // With stability training the nudged copies run in the same pass, after the batch.
            let (dv, lv, views) = match batch.nudged {
                Some((dv2, lv2)) => (
                    Tensor::cat(vec![batch.dv, dv2], 0),
                    Tensor::cat(vec![batch.lv, lv2], 0),
                    Tensor::cat(vec![batch.views.clone(), batch.views], 0),
                ),
                None => (batch.dv, batch.lv, batch.views),
            };
            let forward = model.forward_full(dv, lv, views, reads(&options.views).into_array());
            let both = forward.logits;
            let logits = both.clone().narrow(0, 0, n);
            let stability_term = stable.then(|| stability_loss(logits.clone(), both.narrow(0, n, n)));
            let spine = forward.spine.map(|p| p.map(|p| p.narrow(0, 0, n)));
            let spine_term = spine_loss(&spine, &batch.spine);
            // The ranking follows the stage: a node not trained yet is not ranked.
            let ranked_now: Vec<_> = in_batch
                .iter()
                .filter(|p| !p.posture)
                .map(|p| BatchPair {
                    at: p.at,
                    nodes: p.nodes.iter().copied().filter(|&c| stage.trains(taxonomy.nodes[c].level)).collect(),
                    posture: false,
                })
                .collect();
            let posture_term = (options.posture_weight > 0.0)
                .then(|| posture_pair_outputs(&logits, in_batch, &device))
                .flatten()
                .map(|[a, b]| mean_squared_difference(a, b));
            let pairs_term =
                (options.pair_weight > 0.0).then(|| pair_loss(logits.clone(), &ranked_now, &device)).flatten();
            let mut loss = masked_bce(logits, batch.targets, batch.mask, weights_t.clone());
            // The classification loss alone, comparable with runs without pairs.
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if let Some(term) = pairs_term {
                pair_total += f64::from(term.clone().into_scalar::<f32>());
                pair_batches += 1;
                loss = loss + term * options.pair_weight;
            }
            if let Some(term) = spine_term {
                spine_total += f64::from(term.clone().into_scalar::<f32>());
                spine_batches += 1;
                loss = loss + term * options.spine_weight;
            }
            if let Some(term) = posture_term {
                posture_total += f64::from(term.clone().into_scalar::<f32>());
                posture_batches += 1;
                loss = loss + term * options.posture_weight;
            }
            if let Some(term) = stability_term {
                stability_total += f64::from(term.clone().into_scalar::<f32>());
                stability_batches += 1;
                loss = loss + term * options.stability_weight;
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let step = epoch * batches + b + 1;
            let warm =
                if options.warmup_steps > 0 { (step as f64 / options.warmup_steps as f64).min(1.0) } else { 1.0 };
            model = optim.step(lr * warm, model, grads);
            total += value * chunk.len() as f64;
            seen += chunk.len();
            progress(Progress::Batch(epoch + 1, b + 1, batches, value));
        }
        if stop.load(Ordering::Relaxed) {
            progress(Progress::Note("interrupted: the last completed epoch is checkpointed".into()));
            break;
        }
        let seconds = started.elapsed().as_secs_f64();
        let valid = model.valid();
        let (probs, val_spine_px) = predict_with_spine(&valid, &val_samples, options, &taxonomy)?;
        let labels: Vec<_> = val_samples.iter().map(|s| s.labels.clone()).collect();
        let val = level_aucs(&taxonomy, &probs, &labels);
        let record = EpochRecord {
            epoch: epoch + 1,
            stage: format!("{stage:?}"),
            train_loss: total / seen.max(1) as f64,
            val: val.clone(),
            seconds,
            specimens_per_s: seen as f64 / seconds.max(1e-9),
            pair_loss: (pair_batches > 0).then(|| pair_total / pair_batches as f64),
            spine_loss: (spine_batches > 0).then(|| spine_total / spine_batches as f64),
            val_spine_px,
            stability_loss: (stability_batches > 0).then(|| stability_total / stability_batches as f64),
            val_pairs_raised: pairs_raised(&val_pairs, &val_idx, &probs),
            posture_loss: (posture_batches > 0).then(|| posture_total / posture_batches as f64),
            val_posture_gap: posture_pairs_gap(&val_pairs, &val_idx, &probs),
        };
        state.history.push(record.clone());
        // Only a model trained on every level can be the best.
        if stage == Stage::All && score(&val) > state.best_score {
            state.best_score = score(&val);
            state.best_epoch = epoch + 1;
            since_best = 0;
            crate::fsx::write_via_path(&checkpoint.file("best.bpk"), |tmp| {
                valid
                    .save_into(&mut BurnpackStore::from_file(tmp).overwrite(true))
                    .map_err(|e| anyhow::anyhow!("saving the best weights: {e:?}"))
            })?;
        } else if stage == Stage::All {
            since_best += 1;
        }
        model = save_checkpoint(model, &optim, &state, checkpoint)?;
        progress(Progress::Epoch(Box::new(record)));
    }

    let plain = Device::flex();
    let mut best = options.model.init(&plain);
    if state.best_epoch > 0 {
        best.load_from(&mut BurnpackStore::from_file(checkpoint.file("best.bpk")))
            .map_err(|e| anyhow::anyhow!("loading the best weights: {e:?}"))?;
    } else if stop.load(Ordering::Relaxed) && checkpoint.exists() {
        // Stopped mid-epoch: the last finished epoch's weights, not a half-trained epoch's.
        best.load_from(&mut BurnpackStore::from_file(checkpoint.file("model.bpk")))
            .map_err(|e| anyhow::anyhow!("loading the last checkpoint: {e:?}"))?;
    } else {
        best = model.valid();
    }
    let probs = predict(&best, &val_samples, options, &taxonomy)?;
    let thresholds = choose_thresholds(&taxonomy, &probs, &val_samples, &fallback);
    Ok(Trained { model: best, state, thresholds })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stability term is 0 for equal outputs, and one gradient step on it brings two
    /// different outputs closer.
    #[test]
    fn the_stability_term_pulls_the_two_outputs_together() {
        let device = Device::flex().autodiff();
        let logits = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 3]), &device);
        let same =
            stability_loss(logits(vec![0.3, -1.0, 2.0, 0.0, 1.0, -2.0]), logits(vec![0.3, -1.0, 2.0, 0.0, 1.0, -2.0]));
        assert!(same.into_scalar::<f32>().abs() < 1e-12);
        let a = vec![0.3, -1.0, 2.0, 0.0, 1.0, -2.0];
        let b = vec![1.3, -0.2, 0.5, 0.0, 2.0, -4.0];
        let nudged = Tensor::<2>::from_data(TensorData::new(b.clone(), [2, 3]), &device).require_grad();
        let before = stability_loss(logits(a.clone()), nudged.clone());
        let value = before.clone().into_scalar::<f32>();
        assert!(value > 0.0);
        let grads = before.backward();
        let Some(g) = nudged.grad(&grads) else { panic!("no gradient reached the nudged outputs") };
        let g = g.to_data().try_to_vec::<f32>().unwrap_or_default();
        assert_eq!(g.len(), b.len());
        let stepped: Vec<f32> = b.iter().zip(&g).map(|(v, g)| v - 5.0 * g).collect();
        let after = stability_loss(logits(a), logits(stepped)).into_scalar::<f32>();
        assert!(after < value, "{after} after a step, {value} before");
    }

    /// Specimens labelled only at L1 (abnormal or not), with P(abnormal) as given.
    fn l1_only(taxonomy: &Taxonomy, scores: &[(f32, bool)]) -> (Vec<Vec<f32>>, Vec<Sample>) {
        let n = taxonomy.nodes.len();
        let probs = scores.iter().map(|&(p, _)| vec![p; n]).collect();
        let samples = scores
            .iter()
            .enumerate()
            .map(|(i, &(_, y))| {
                let mut labels = vec![None; n];
                labels[0] = Some(y);
                Sample { id: format!("S{i}"), dv: None, lv: None, labels, spine: Default::default() }
            })
            .collect();
        (probs, samples)
    }

    #[test]
    fn thresholds_come_from_validation_only_when_both_sides_have_enough_specimens() {
        let taxonomy = Taxonomy::default();
        let fallback: Vec<f32> = (0..taxonomy.nodes.len()).map(|k| 0.01 * k as f32 + 0.3).collect();
        // Ten negatives under 0.4 and ten positives over 0.6: J is best between them.
        let scores: Vec<(f32, bool)> = (0..10)
            .map(|k| (0.1 + 0.02 * k as f32, false))
            .chain((0..10).map(|k| (0.7 + 0.02 * k as f32, true)))
            .collect();
        let (probs, samples) = l1_only(&taxonomy, &scores);
        let refs: Vec<&Sample> = samples.iter().collect();
        let t = choose_thresholds(&taxonomy, &probs, &refs, &fallback);
        assert!(t[0] > 0.3 && t[0] < 0.7, "{}", t[0]);
        // Nodes without any label keep the fallback.
        assert_eq!(t[1..], fallback[1..]);
        // Nine positives are too few: the fallback, not a threshold fitted to nine specimens.
        let (probs, samples) = l1_only(&taxonomy, &scores[..19]);
        let refs: Vec<&Sample> = samples.iter().collect();
        assert_eq!(choose_thresholds(&taxonomy, &probs, &refs, &fallback)[0], fallback[0]);
    }
}
