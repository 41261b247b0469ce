//! `mousexray improve`: the window's "Improve with my reviews..." without a window.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::training::improve::{ImproveOptions, improve, improved_path, summary_lines};
use crate::training::train::Progress;

/// Arguments of `mousexray improve`.
#[derive(Debug, clap::Args)]
pub struct ImproveArgs {
    /// A reviewed folder.
    pub folder: PathBuf,
    /// The model to improve (default: the bundled model, as the window chooses it).
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// The new model (default: beside the old one, named after it and the time).
    #[arg(long, value_name = "ONNX")]
    pub out: Option<PathBuf>,
    /// Fine-tuning epochs.
    #[arg(long, default_value_t = 8, value_parser = super::parse_epochs)]
    pub epochs: usize,
    /// Share of the reviewed specimens held out for the comparison.
    #[arg(long, default_value_t = 0.2)]
    pub hold_out: f64,
    /// Peak learning rate [default: the backbone's from-scratch rate, 2e-3 for the CAE and 2e-4
    /// for the ConvNeXt; `train --init` defaults to a tenth of it].
    #[arg(long, value_parser = super::parse_lr)]
    pub lr: Option<f64>,
    /// Train the head alone.
    #[arg(long)]
    pub freeze_encoder: bool,
    /// Seed of the hold-out and of training.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs the loop and prints the comparison.
pub fn run(args: &ImproveArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().ok();
    }
    if !(0.05..=0.5).contains(&args.hold_out) {
        return Err(super::UsageError(format!("--hold-out {} must lie between 0.05 and 0.5", args.hold_out)).into());
    }
    let model = crate::inference::locate_model(args.model.as_deref()).map_err(|e| anyhow::anyhow!(e))?;
    let out = args.out.clone().unwrap_or_else(|| improved_path(&model, args.model.is_some()));
    if crate::fsx::same_file(&model, &out) {
        anyhow::bail!("{}: --out would overwrite the model being improved; choose another file", out.display());
    }
    // Where the new model goes is checked before any work.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir).and_then(|_| tempfile::tempfile_in(dir).map(drop))
    {
        anyhow::bail!("{}: cannot write the new model there: {e}", dir.display());
    }
    let options = ImproveOptions {
        epochs: args.epochs,
        hold_out: args.hold_out,
        seed: args.seed,
        freeze_encoder: args.freeze_encoder,
        lr: args.lr,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let mut on_progress = |p: Progress| match p {
        Progress::Epoch(r) => eprintln!(
            "epoch {:>3} loss {:.4}  val AUC L1 {}  ({:.1} s)",
            r.epoch,
            r.train_loss,
            r.val.l1.map_or("-".into(), |a| format!("{a:.3}")),
            r.seconds
        ),
        Progress::Note(n) => eprintln!("{n}"),
        Progress::Batch(..) => {}
    };
    crate::specimen::require_folder(&args.folder)?;
    let (review, notes) = crate::review::read_review(&args.folder);
    for n in notes {
        eprintln!("warning: {n}");
    }
    let improved = improve(&args.folder, &review, &model, &out, &options, ort_lib, &stop, &mut on_progress)?;
    for line in summary_lines(&improved) {
        println!("{line}");
    }
    if let Some(why) = &improved.undescribed {
        eprintln!("{}: written without a domain description: {why}", improved.model.display());
    }
    eprintln!("{} -> {}", improved.parent.display(), improved.model.display());
    Ok(())
}
