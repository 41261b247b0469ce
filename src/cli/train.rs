//! `mousexray train`.

use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::imaging::PreprocessSpec;
use crate::specimen::View;
use crate::taxonomy::Taxonomy;
use crate::training::data::{LabelSource, Loaded, load_folders};
use crate::training::device::TrainDevice;
use crate::training::model::{BackboneKind, ModelConfig};
use crate::training::onnx_import::read_parent;
use crate::training::package;
use crate::training::train::{Checkpoint, Progress, Schedule, TrainOptions, train};

/// Arguments of `mousexray train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Folder of specimens (any layout `scan` reads); repeat to train on several as one
    /// (specimen ids unique across them, each folder with its own labels.csv).
    #[arg(long, value_name = "DIR", required = true)]
    pub data: Vec<PathBuf>,
    /// Labels CSV (default DIR/labels.csv; only with one --data).
    #[arg(long, value_name = "CSV", conflicts_with = "labels_from_review")]
    pub labels: Option<PathBuf>,
    /// Take the labels from the reviewers' decisions in these reviewed folders instead (as
    /// `labels --from-review`); the images come from DIR.
    #[arg(long, value_name = "FOLDER", num_args = 1..)]
    pub labels_from_review: Vec<PathBuf>,
    /// Start from this model's weights (an ONNX file written by mousexray) and fine-tune it: its
    /// architecture and preprocessing are kept (the input size too, unless --size sets another),
    /// the learning rate defaults to a tenth of training from scratch, and the new model's
    /// provenance names it by SHA-256.
    #[arg(long, value_name = "MODEL")]
    pub init: Option<PathBuf>,
    /// Backbone [default: convnext; with --init, the parent's].
    #[arg(long, value_enum)]
    pub backbone: Option<BackboneKind>,
    /// Use the ConvNeXt-T widths and depths (96/192/384/768, 3/3/9/3) instead of the small default.
    #[arg(long)]
    pub convnext_t: bool,
    /// Low-pass each strided convolution's input (anti-aliased downsampling, Zhang 2019), so a
    /// film moved by a pixel moves the outputs less [default: off; with --init, the parent's].
    #[arg(long)]
    pub antialias: bool,
    /// Views the model uses: dv,lv for multiview; dv or lv for a single-view baseline
    /// [default: dv,lv; with --init, the parent's].
    #[arg(long, value_delimiter = ',', value_parser = super::parse_model_view)]
    pub views: Option<Vec<View>>,
    /// Input side in pixels [default: 128; with --init, the parent's].
    #[arg(long)]
    pub size: Option<u32>,
    /// Which pixels set the intensity window: the whole film, or the crop the model sees
    /// [default: crop; with --init, the parent's].
    #[arg(long, value_name = "film|crop")]
    pub clip_region: Option<crate::imaging::ClipRegion>,
    /// Where the crop sits on the animal: centred on its thick parts' centroid, between their
    /// outermost cells, or between its core's outermost cells [default: core_extent; with
    /// --init, the parent's].
    #[arg(long, value_name = "thick_centroid|thick_extent|core_extent")]
    pub crop_frame: Option<crate::imaging::CropFrame>,
    /// Maximum epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Peak learning rate [default: 2e-3 for the CAE, 2e-4 for the ConvNeXt; a tenth of that
    /// with --init].
    #[arg(long, value_parser = super::parse_lr)]
    pub lr: Option<f64>,
    /// Fraction of specimens held out for validation (split by specimen, deterministic).
    #[arg(long, default_value_t = 0.2)]
    pub val_split: f64,
    /// Seed for split, initialisation, order and augmentation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to train: cpu (burn's CPU backend) or gpu (burn's wgpu backend: Vulkan, Metal or
    /// DX12; an error names why when there is none).
    #[arg(long, value_enum, default_value_t = TrainDevice::Cpu)]
    pub device: TrainDevice,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Staged (L1, L1+L2, all) or joint training.
    #[arg(long, value_enum, default_value_t = Schedule::Staged)]
    pub schedule: Schedule,
    /// Linear learning-rate warm-up over this many steps [default: 300; 0 with --init].
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    /// Early stopping patience (epochs without a better validation L3 AUC).
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Reconstruction pretraining epochs of the backbone on every image, before the labels are
    /// used [default: 5 for the CAE, 0 for the ConvNeXt and with --init].
    #[arg(long)]
    pub pretrain_epochs: Option<usize>,
    /// Keep the backbone frozen (pretrained, or from --init) while the heads train.
    #[arg(long)]
    pub freeze_encoder: bool,
    /// Decode and preprocess every image again instead of reading back the arrays stored in
    /// DIR/.mousexray/inputs/ by earlier runs with the same preprocessing (and store none).
    #[arg(long)]
    pub no_cache: bool,
    /// Switch augmentation off.
    #[arg(long)]
    pub no_augment: bool,
    /// Weight of the ranking loss on counterfactual pairs (a --data folder from `synth --pairs`,
    /// with its pairs.csv): adding the finding must raise its logit. 0 trains the pairs as
    /// ordinary specimens.
    #[arg(long, default_value_t = 1.0, value_name = "W", value_parser = super::parse_weight)]
    pub pair_weight: f32,
    /// Weight of an auxiliary loss that teaches the backbone where the spine runs: from each
    /// view's pooled features, a training-only head regresses the column's midline (30
    /// vertebral centres, from the truth.json of phantom folders; other folders train without
    /// it). 0: off. The exported model is unchanged
    #[arg(long, default_value_t = 0.0, value_name = "W", value_parser = super::parse_weight)]
    pub spine_weight: f32,
    /// Weight of stability training (Zheng et al. 2016): every training input is also fed
    /// nudged as a film moved by a pixel moves its crop, and the squared difference of the two
    /// outputs is penalised, so the model's outputs hold still. 0: off (each step then costs
    /// half as much)
    #[arg(long, default_value_t = 0.0, value_name = "W", value_parser = super::parse_weight)]
    pub stability_weight: f32,
    /// Weight of the posture pairs' term (folders from `synth --posture-pairs`): the squared
    /// difference of the logits for one animal in two lateral postures is penalised, so that
    /// posture is not read as a finding. 0: those pairs train as ordinary specimens
    #[arg(long, default_value_t = 0.0, value_name = "W", value_parser = super::parse_weight)]
    pub posture_weight: f32,
    /// Standard deviation of the augmentation's rotation, degrees (0 to 30; clipped at 2.5
    /// SD): how far a training input turns from the orientation preprocessing gave it. Wider,
    /// a model has less to gain from reading a finding off the body's tilt in its input
    #[arg(long, default_value_t = crate::training::data::DEFAULT_ROTATION_SD_DEG, value_name = "DEG",
          value_parser = parse_rotation_sd, allow_negative_numbers = true)]
    pub rotation_sd: f64,
    /// With --stability-weight: also turn the nudged copy by up to DEG degrees either way (0 to
    /// 30), so that the outputs hold still when the body axis is misjudged (`eval --invariance`
    /// measures turned inputs). 0: nudged as a moved film only
    #[arg(long, default_value_t = 0.0, value_name = "DEG", value_parser = parse_turn, allow_negative_numbers = true)]
    pub stability_turn: f64,
    /// Resume from the checkpoint folder (default OUT with .ckpt).
    #[arg(long, value_name = "CKPT", num_args = 0..=1)]
    pub resume: Option<Option<PathBuf>>,
    /// Output model (ONNX); a NAME.json report is written beside it.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs training, then writes the model and its report.
pub fn run(args: &TrainArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().ok();
    }
    let taxonomy = Taxonomy::default();
    // A missing GPU is said before any work, and which GPUs there are.
    args.device.device()?;
    if args.device == TrainDevice::Gpu {
        let (adapters, software) = crate::training::device::gpu_adapters();
        eprintln!("training through wgpu; GPUs found: {}", adapters.join("; "));
        if software {
            eprintln!(
                "warning: every GPU found is a software rasteriser running on the CPU; --device cpu trains faster. \
                 Install the GPU's Vulkan driver (NVIDIA's comes with its driver) to use the GPU"
            );
        }
    }
    let recipe = recipe_of(args)?;
    if let (Some(p), Some(path)) = (&recipe.init, &args.init) {
        eprintln!(
            "fine-tuning {} (SHA-256 {}), learning rate {:.0e}",
            path.display(),
            p.sha256.get(..12).unwrap_or(&p.sha256),
            args.lr.unwrap_or(recipe.lr)
        );
    }
    let preprocess = recipe.preprocess.clone();
    let options = TrainOptions {
        epochs: args.epochs,
        batch: args.batch.max(1),
        lr: args.lr.unwrap_or(recipe.lr),
        val_split: args.val_split,
        seed: args.seed,
        schedule: args.schedule,
        patience: args.patience,
        warmup_steps: args.warmup_steps.unwrap_or(recipe.warmup_steps),
        pretrain_epochs: args.pretrain_epochs.unwrap_or(recipe.pretrain_epochs),
        freeze_encoder: args.freeze_encoder,
        augment: !args.no_augment,
        device: args.device,
        pair_weight: args.pair_weight,
        spine_weight: args.spine_weight,
        stability_weight: args.stability_weight,
        posture_weight: args.posture_weight,
        rotation_sd_deg: args.rotation_sd,
        stability_turn_deg: args.stability_turn,
        ..recipe
    };
    if args.stability_turn > 0.0 && args.stability_weight == 0.0 {
        return Err(super::UsageError(
            "--stability-turn turns stability training's second copy: it needs --stability-weight above 0".into(),
        )
        .into());
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = args.data.iter().find(|d| !seen.insert(d.canonicalize().unwrap_or_else(|_| d.to_path_buf()))) {
        return Err(super::UsageError(format!("--data {} is given twice", twice.display())).into());
    }
    if args.labels.is_some() && args.data.len() > 1 {
        return Err(super::UsageError(
            "--labels names one file for one --data folder; with several, each folder needs its own labels.csv".into(),
        )
        .into());
    }
    if let Some(b) = args.data.iter().flat_map(|d| crate::synth::style_b_folders(d)).next() {
        anyhow::bail!(
            "{}: style-b phantoms (truth.json) are for testing a model trained on style a; training never sees them",
            b.display()
        );
    }
    let started = std::time::Instant::now();
    let table;
    let source;
    let labels = if args.labels_from_review.is_empty() {
        LabelSource::Files(args.labels.as_deref())
    } else {
        table = super::labels::labels_from_reviews(&args.labels_from_review, &taxonomy)?;
        source = format!("the reviews of {}", line_of(&args.labels_from_review));
        LabelSource::Table(&table, &source)
    };
    let Loaded { dataset, problems, cached } =
        load_folders(&args.data, labels, &preprocess, &taxonomy, !args.no_cache, options.spine_weight > 0.0)?;
    for p in &problems {
        tracing::warn!("{p}");
    }
    let cached = match cached {
        Some((hits, misses)) => format!("; input cache: {hits} images read back, {misses} preprocessed"),
        None => String::new(),
    };
    eprintln!(
        "{}: {} labelled specimens at {} px in {:.1} s ({} problems{cached})",
        line_of(&args.data),
        dataset.samples.len(),
        preprocess.size,
        started.elapsed().as_secs_f64(),
        problems.len()
    );
    let checkpoint = match &args.resume {
        Some(Some(p)) => Checkpoint::at(p),
        _ => Checkpoint::for_output(&args.out),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // Ctrl-C finishes the current batch, checkpoints the last epoch and exits.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} batches, loss {msg} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut on_progress = |p: Progress| match p {
        Progress::Batch(epoch, b, n, loss) => {
            bar.set_length(n as u64);
            bar.set_position(b as u64);
            bar.set_prefix(epoch.to_string());
            bar.set_message(format!("{loss:.4}"));
        }
        Progress::Epoch(r) => bar.suspend(|| eprintln!("{}", epoch_line(&r))),
        Progress::Note(n) => bar.suspend(|| eprintln!("{n}")),
    };
    let trained =
        train(&dataset, &options, &checkpoint, args.resume.is_some(), args.init.as_deref(), &stop, &mut on_progress)?;
    bar.finish_and_clear();
    let interrupted = stop.load(Ordering::Relaxed) && trained.state.history.len() < options.epochs;
    if interrupted && trained.state.history.is_empty() {
        // Nothing but (some) pretraining: a model with an untrained head is not written.
        return Err(super::Interrupted(format!(
            "interrupted before the first epoch finished: nothing written ({} pretraining epochs are checkpointed in {}); continue with --resume",
            trained.state.pretrain_done,
            checkpoint.dir().display()
        ))
        .into());
    }
    let (metadata, undescribed) = package::write_trained(&trained, &dataset, &line_of(&args.data), &args.out, ort_lib)?;
    if let Some(e) = undescribed {
        eprintln!(
            "{}: written without a domain description: {e:#}\nAdd it later with `mousexray domain --model {} --data {}`.",
            args.out.display(),
            args.out.display(),
            args.data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" --data ")
        );
    }
    let summary = metadata.provenance.training.as_ref();
    // Only an epoch that trained every level can be chosen; a staged run too short to reach
    // them writes its last epoch's weights.
    let (which, record) = match summary.and_then(|t| t.best()) {
        Some(r) => (format!("best epoch {}", r.epoch), Some(r)),
        None => (
            format!(
                "no epoch trained every level ({}), so the last epoch's weights",
                if stop.load(Ordering::Relaxed) { "interrupted before one did" } else { "staged schedule too short" }
            ),
            summary.and_then(|t| t.history.last()),
        ),
    };
    eprintln!(
        "{}: {which} (val AUC L1 {} L2 {} L3 {}), {:.0} s in all",
        args.out.display(),
        three_decimals(record.and_then(|r| r.val.l1)),
        three_decimals(record.and_then(|r| r.val.l2)),
        three_decimals(record.and_then(|r| r.val.l3)),
        started.elapsed().as_secs_f64()
    );
    if interrupted {
        return Err(super::Interrupted(format!(
            "interrupted: {} holds what was trained so far (as above); continue with --resume",
            args.out.display()
        ))
        .into());
    }
    Ok(())
}

/// One epoch's line: the classification loss, validation AUCs, the auxiliary terms trained,
/// and the epoch's time and throughput.
fn epoch_line(r: &crate::metrics::EpochRecord) -> String {
    let pairs = match (r.pair_loss, r.val_pairs_raised) {
        (None, None) => String::new(),
        (l, v) => format!(
            "  pairs: loss {}, val raised {}",
            three_decimals(l),
            v.map_or("-".to_owned(), |v| format!("{:.0} %", 100.0 * v))
        ),
    };
    let spine = match (r.spine_loss, r.val_spine_px) {
        (None, None) => String::new(),
        (l, v) => {
            format!("  spine: loss {}, val {} px", three_decimals(l), v.map_or("-".to_owned(), |v| format!("{v:.1}")))
        }
    };
    let stability = r.stability_loss.map_or(String::new(), |l| format!("  stability: {l:.4}"));
    let posture = match (r.posture_loss, r.val_posture_gap) {
        (None, None) => String::new(),
        (l, v) => format!(
            "  posture: loss {}, val gap {}",
            l.map_or("-".to_owned(), |l| format!("{l:.1e}")),
            three_decimals(v)
        ),
    };
    format!(
        "epoch {:>3} [{}] loss {:.4}  val AUC L1 {} L2 {} L3 {}{pairs}{spine}{stability}{posture}  ({:.1} s, {:.1} specimens/s)",
        r.epoch,
        r.stage,
        r.train_loss,
        three_decimals(r.val.l1),
        three_decimals(r.val.l2),
        three_decimals(r.val.l3),
        r.seconds,
        r.specimens_per_s
    )
}

/// A value to three decimals, or `-`.
fn three_decimals(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |a| format!("{a:.3}"))
}

/// Folders as one line of text.
fn line_of(folders: &[PathBuf]) -> String {
    folders.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The recipe a run starts from: fresh weights of the architecture the options name, or a
/// parent model's (`--init`), whose architecture, input and views it keeps.
fn recipe_of(args: &TrainArgs) -> anyhow::Result<TrainOptions> {
    let classes = Taxonomy::default().nodes.len();
    let Some(init) = &args.init else {
        let backbone = args.backbone.unwrap_or(BackboneKind::Convnext);
        let mut model = match (backbone, args.convnext_t) {
            (BackboneKind::Convnext, false) => ModelConfig::convnext_small(classes),
            (BackboneKind::Convnext, true) => ModelConfig::convnext_t(classes),
            (BackboneKind::Cae, _) => ModelConfig::cae(classes),
        };
        model.antialias = args.antialias;
        let size = args.size.unwrap_or(128);
        if !(size as usize).is_multiple_of(model.stride()) {
            anyhow::bail!("--size {size} must be a multiple of {}", model.stride());
        }
        let views = args.views.clone().unwrap_or_else(|| View::MODEL.to_vec());
        let mut preprocess = PreprocessSpec { size, ..Default::default() };
        if let Some(region) = args.clip_region {
            preprocess.clip_region = region;
        }
        if let Some(frame) = args.crop_frame {
            preprocess.crop_frame = frame;
        }
        return Ok(TrainOptions::recipe(model, preprocess, views));
    };
    let parent = read_parent(init, &burn::tensor::Device::flex())?;
    let name = init.display();
    let config = parent.config;
    // The architecture and the input it was trained on are the parent's.
    if let Some(b) = args.backbone.filter(|b| *b != config.backbone) {
        anyhow::bail!("--backbone {b:?} differs from {name}'s {:?}; leave it out with --init", config.backbone);
    }
    if args.convnext_t && config != ModelConfig::convnext_t(classes) {
        anyhow::bail!("--convnext-t differs from {name}'s architecture; leave it out with --init");
    }
    if args.antialias && !config.antialias {
        anyhow::bail!("--antialias differs from {name}'s architecture (no low-pass filter); leave it out with --init");
    }
    let mut preprocess = parent.metadata.preprocess;
    if crate::fsx::same_file(init, &args.out) {
        anyhow::bail!("{name}: --out would overwrite the model being fine-tuned; choose another file");
    }
    // Both backbones are convolutions, channel norms and global pooling, so their weights
    // apply at any input size: a model trained small continues at a larger size (progressive
    // resizing), which skips the epochs a fresh network spends at chance.
    if let Some(s) = args.size.filter(|s| *s != preprocess.size) {
        if !(s as usize).is_multiple_of(config.stride()) {
            anyhow::bail!("--size {s} must be a multiple of {}", config.stride());
        }
        eprintln!("{name} was trained at {} px; it continues at {s} px", preprocess.size);
        preprocess.size = s;
    }
    if let Some(region) = args.clip_region.filter(|r| *r != preprocess.clip_region) {
        let was = preprocess.clip_region.as_str();
        eprintln!("{name} was trained with the window over the {was}; it continues over the {}", region.as_str());
        preprocess.clip_region = region;
    }
    if let Some(frame) = args.crop_frame.filter(|f| *f != preprocess.crop_frame) {
        let was = preprocess.crop_frame.as_str();
        eprintln!("{name} was trained with the crop frame {was}; it continues with {}", frame.as_str());
        preprocess.crop_frame = frame;
    }
    let views = args.views.clone().unwrap_or(parent.metadata.provenance.views);
    Ok(TrainOptions::recipe(config, preprocess, views).fine_tuning(parent.record))
}

/// A rotation's standard deviation: finite, from 0 to 30 degrees (a usage error otherwise).
fn parse_rotation_sd(s: &str) -> Result<f64, String> {
    parse_degrees(s, "rotation SD")
}

/// The stability copy's largest turn: finite, from 0 to 30 degrees (a usage error otherwise).
fn parse_turn(s: &str) -> Result<f64, String> {
    parse_degrees(s, "turn")
}

fn parse_degrees(s: &str, what: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=30.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a {what} from 0 to 30 degrees")),
    }
}
