//! The command-line interface: argument definitions and dispatch.

mod bench;
mod calibrate;
mod doctor;
mod domain;
mod eval;
mod export;
mod fp16;
mod improve;
mod labels;
mod merge;
mod predict;
mod scan;
mod synth;
mod train;
mod trained_on;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Review mouse skeletal X-rays (IMPC dorsoventral and lateral views) with a hierarchical
/// multiview classifier.
///
/// Without a subcommand, `mousexray [FOLDER]` opens the review window on FOLDER, the last folder
/// or the bundled sample. The subcommands work headless.
#[derive(Debug, Parser)]
#[command(
    name = "mousexray",
    version,
    max_term_width = 100,
    after_long_help = AFTER_HELP
)]
pub struct Cli {
    /// Folder of specimens to open in the review window.
    #[arg(value_name = "FOLDER")]
    pub folder: Option<PathBuf>,

    /// Review window: run the classifier on the folder as soon as it is open.
    #[arg(long)]
    pub classify: bool,

    /// Review window: record decisions under this name (instead of asking at the first launch).
    #[arg(long, value_name = "NAME")]
    pub reviewer: Option<String>,

    /// Renderer of the review window: glow (OpenGL, works on software GL) or wgpu.
    #[arg(long, value_enum, default_value_t = crate::gui::Renderer::Glow)]
    pub renderer: crate::gui::Renderer,

    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// ONNX Runtime shared library to load, instead of searching ORT_DYLIB_PATH, the executable's
    /// folder, <exe>/../lib, ./.ort/gpu/lib, ./.ort/lib and the user data folder.
    #[arg(long, value_name = "FILE", global = true)]
    pub ort_lib: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

const AFTER_HELP: &str = "\
EXAMPLES:
    mousexray scan ~/xrays              list specimens and problems
    mousexray scan ~/xrays --json       the same, machine-readable
    mousexray synth --out train --count 3000 --seed 1
                                        phantoms with labels.csv and truth.json
    mousexray train --data train --out models/convnext_mv.onnx
                                        train and export a DV+LV classifier
    mousexray eval --data test --model models/cae_mv.onnx
                                        AUC by level and view mode

ENVIRONMENT:
    RUST_LOG        log filter (overrides -v), e.g. RUST_LOG=mousexray=debug,ort=info
    ORT_DYLIB_PATH  ONNX Runtime library to load (after --ort-lib)

FILES:
    FOLDER/specimens.csv    manifest: specimen_id, view, path and IMPC metadata columns
    FOLDER/labels.csv       training labels: specimen_id and one 1/0/empty column per finding
    .ort/lib/               ONNX Runtime installed by `make setup`

EXIT STATUS:
    0 success, 1 failure, 2 usage error, 130 interrupted (Ctrl-C; what could be saved was)";

/// Headless subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the specimens in a folder, their views and metadata, and every problem found.
    ///
    /// Reads any mix of the four layouts: one subfolder per specimen (<id>/dv.png), view tokens in
    /// flat file names (<id>_lateral.tif), IMPC parameter folders (IMPC_XRY_034_001/<media>.dcm)
    /// with a manifest, and the manifest CSV itself (specimens.csv). A labels.csv in the folder is
    /// checked too. Problems are reported with the file and the reason; the exit status is 0 when
    /// the folder could be scanned, whatever problems it holds.
    Scan(scan::ScanArgs),

    /// Generate phantom DV and LV mouse radiographs with ground truth.
    ///
    /// Builds each animal from a 3D anatomy in millimetres (skull, 58 vertebrae, 13 rib pairs,
    /// girdles, limbs, paws, soft tissue), applies 0 to 3 of the ten abnormalities with a
    /// severity, poses it for each view, and projects it (Beer-Lambert path lengths, detector
    /// blur, quantum noise, vignetting, 14-bit range). Writes the images in the chosen layout and
    /// format, specimens.csv (IMPC-like metadata), labels.csv and truth.json (findings,
    /// severities, anatomy, poses, placements). The same arguments give byte-identical output.
    Synth(synth::SynthArgs),

    /// Make training labels (labels.csv) from a centre's IMPC observations or from reviews.
    ///
    /// Reads the long form IMPC experiment data comes in (one row per specimen and parameter),
    /// maps each X-ray parameter to its taxonomy node by its `_XRY_0NN_` stem (any centre prefix
    /// and procedure version): abnormal and fused are positive, normal and not fused negative,
    /// imageOnly, unobservable and missing unknown, a count outside the strain's normal count
    /// positive. A node is positive if any of its parameters is, negative only if every known
    /// one is. Reports unmapped parameters, unknown answers, conflicts and (with --folder)
    /// specimens with observations but no images, with their file lines. --from-review takes
    /// the reviewers' decisions in reviewed folders instead.
    Labels(labels::LabelsArgs),

    /// Train the hierarchical multiview classifier and export it to ONNX.
    ///
    /// Reads a folder with labels.csv, preprocesses every view once with the same function
    /// inference uses, splits by specimen (deterministic), and trains a ConvNeXt-style or CAE
    /// backbone shared by DV and LV with hierarchy-masked binary cross-entropy (staged L1, L2,
    /// L3 or joint), view dropout and augmentation. Checkpoints every epoch in OUT.ckpt/ (Ctrl-C
    /// leaves a resumable one; --resume continues), stops early on validation L3 AUC, picks
    /// per-class thresholds on validation, and writes OUT (ONNX, model contract) and OUT.json.
    Train(train::TrainArgs),

    /// Fine-tune a model on a reviewed folder's decisions, and compare old and new.
    ///
    /// The reviewers' decisions become labels (as `labels --from-review`); a fifth of the
    /// reviewed specimens is held out by a hash of their ids, the model is fine-tuned on the
    /// rest (`train --init`), and both models are scored on the held-out part: AUC per level and
    /// how many of the reviewer's calls each gets right. The window's Model > "Improve with my
    /// reviews..." runs the same.
    Improve(improve::ImproveArgs),

    /// Evaluate models on a held-out labelled folder: mean AUC per level by view mode.
    ///
    /// Runs each model through ONNX Runtime with the same code the app uses, on the specimens
    /// that have both views, showing it DV only, LV only and DV+LV (by masking `views`; a
    /// single-view model only in its own mode). Prints the paper's table (mean AUC for L1, L2,
    /// L3 by view mode) and per-class AUCs as Markdown; --out also writes eval.md and eval.csv.
    Eval(eval::EvalArgs),

    /// Describe a model's domain from its training data, without retraining it.
    ///
    /// Adds the `features_dv` / `features_lv` outputs if the model lacks them, runs it over the
    /// folder it was trained on, and stores in its metadata the mean and Ledoit-Wolf shrunk
    /// covariance of each view's features (training split) and the distance at which 1 % of
    /// validation specimens lie further (validation split, as training split it). `train` does
    /// this itself; this command is for models trained before it did.
    Domain(domain::DomainArgs),

    /// Calibrate a model's probabilities on its validation split, without retraining it.
    ///
    /// Runs the model over the validation split of the folder it was trained on, fits each
    /// node's Platt map (logit' = a * logit + b, a > 0) and folds it into the head's weights
    /// and the CAM kernels, so that a probability of 0.7 means about seven in ten. Rankings
    /// (AUC), calls (the thresholds move with the map) and where the CAMs lie are unchanged.
    /// Prints the maps and the expected calibration error before and after (validation, and
    /// --held-out DIR). Float32 models written by mousexray only; make an fp16 copy afterwards.
    Calibrate(calibrate::CalibrateArgs),

    /// Write a float16 copy of a model, for GPUs.
    ///
    /// Weights and intermediates become float16; inputs and outputs stay float32 behind Cast
    /// nodes, so the copy keeps the model contract and works wherever the original does (on a
    /// CPU without float16 kernels, ONNX Runtime casts around them: correct, but slower than the
    /// original). Writes NAME.fp16.onnx (or --out) and its report. Only models written by
    /// mousexray are converted.
    Fp16(fp16::Fp16Args),

    /// Classify every specimen of a folder into a CSV, with optional saliency overlays.
    ///
    /// Scans the folder, decodes and preprocesses on worker threads, runs the model in batches
    /// (DV+LV together; a specimen with one view runs with the other masked, and the CSV says
    /// so) and writes one row per specimen: paths, views used, metadata, every node's conditional
    /// and joint probability and flag, the top finding, the model's SHA-256, the device and the
    /// time. Files that cannot be used go to OUT.problems.csv with the reason. --saliency writes
    /// an overlay per flagged class and view. --shard K/N takes a deterministic slice for
    /// cluster arrays; `merge` joins the slices.
    Predict(predict::PredictArgs),

    /// Join the CSVs of a sharded predict, checking that no specimen is missing or doubled.
    Merge(merge::MergeArgs),

    /// Write the folder's review as CSV (wide, or IMPC-style long).
    ///
    /// A row per specimen (or, with --long, per specimen and node, IMPC-style), with metadata,
    /// status, calls, comment, reviewer, times and the model output the reviewer saw. Cells that a spreadsheet would run as formulas are neutralised.
    Export(export::ExportArgs),

    /// Explain what runs the models here, and why.
    ///
    /// The ONNX Runtime library, each execution provider's registration result with the reason,
    /// threads, and the model's metadata and node placement.
    Doctor(doctor::DoctorArgs),

    /// Measure inference throughput, ours against Python's onnxruntime.
    ///
    /// The session alone and the whole pipeline (decode,
    /// preprocess, infer), per batch size, next to Python's onnxruntime on the same file
    /// (scripts/bench_reference.py, when installed), with resident memory. --synthetic builds a
    /// random-weight ConvNeXt-T (or another architecture) with our ONNX writer, for GPU figures.
    Bench(bench::BenchArgs),
}

/// Misuse found after parsing, when arguments contradict each other: exit 2, like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

/// A run the user interrupted (Ctrl-C) after saving what it could: exit 130, the shell's
/// convention, so a script does not take it for a finished run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Interrupted(pub String);

/// Parses the process arguments, runs the command and maps the outcome to an exit code:
/// 0 success, 1 failure, 2 usage error, 130 interrupted.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    let result = match &cli.command {
        Some(Command::Scan(args)) => scan::run(args),
        Some(Command::Synth(args)) => synth::run(args),
        Some(Command::Labels(args)) => labels::run(args),
        Some(Command::Train(args)) => train::run(args, cli.ort_lib.as_deref()),
        Some(Command::Improve(args)) => improve::run(args, cli.ort_lib.as_deref()),
        Some(Command::Domain(args)) => domain::run(args, cli.ort_lib.as_deref()),
        Some(Command::Calibrate(args)) => calibrate::run(args, cli.ort_lib.as_deref()),
        Some(Command::Eval(args)) => eval::run(args, cli.ort_lib.as_deref()),
        Some(Command::Fp16(args)) => fp16::run(args),
        Some(Command::Predict(args)) => predict::run_predict(args, cli.ort_lib.as_deref()),
        Some(Command::Merge(args)) => merge::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Doctor(args)) => doctor::run(args, cli.ort_lib.as_deref()),
        Some(Command::Bench(args)) => bench::run_bench(args, cli.ort_lib.as_deref()),
        None => {
            let options = crate::gui::AppOptions {
                ort_lib: cli.ort_lib.clone(),
                native_dialogs: true,
                classify_on_open: cli.classify,
                reviewer: cli.reviewer.clone(),
            };
            crate::gui::run(cli.folder.clone(), options, cli.renderer).map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Interrupted>() => {
            eprintln!("{e:#}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(if e.is::<UsageError>() { 2 } else { 1 })
        }
    }
}

/// A learning rate: finite, above 0 and at most 1 (a usage error otherwise: a negative or
/// huge rate trains nothing or diverges to NaN).
pub(crate) fn parse_lr(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!("`{s}` is not a learning rate above 0 and at most 1 (for example 2e-4)")),
    }
}

/// An epoch count of at least 1.
pub(crate) fn parse_epochs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("`{s}` is not a number of epochs (1 or more)")),
    }
}

/// A count of at least 1 (specimens, findings, animals); a usage error naming the value
/// otherwise, instead of clap's "0 is not in 1..=4294967295".
pub(crate) fn parse_positive(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(v) if v >= 1 => Ok(v),
        Ok(_) => Err(format!("`{s}` is not a count of 1 or more")),
        Err(_) => Err(format!("`{s}` is not a whole number from 1 to {}", u32::MAX)),
    }
}

/// A loss term's weight: finite, from 0 to 1,000,000 (a usage error otherwise: a negative
/// weight rewards the term, and an infinite one turns the loss into NaN).
pub(crate) fn parse_weight(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && (0.0..=1.0e6).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a weight from 0 to 1000000")),
    }
}

/// Parses a `--views` item: a model view (DV or LV) in any spelling `View::parse` accepts.
pub(crate) fn parse_model_view(s: &str) -> Result<crate::specimen::View, String> {
    match crate::specimen::View::parse(s) {
        Some(v) if v.is_model_view() => Ok(v),
        _ => Err(format!("`{s}` is not dv or lv")),
    }
}

/// Logs to stderr; `-v` raises the level, `RUST_LOG` overrides everything.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},ort=warn")));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
