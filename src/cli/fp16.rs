//! `mousexray fp16`: a float16 copy of a model, for GPUs.

use std::path::PathBuf;

use anyhow::Context;

use crate::onnx::fp16::convert_file;

/// Arguments of `mousexray fp16`.
#[derive(Debug, clap::Args)]
pub struct Fp16Args {
    /// A model written by mousexray (`train` or the bundled ones).
    #[arg(value_name = "ONNX")]
    pub model: PathBuf,
    /// Where to write the copy (default: beside the model, NAME.fp16.onnx).
    #[arg(long, value_name = "ONNX")]
    pub out: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: &Fp16Args) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| args.model.with_extension("fp16.onnx"));
    let (full, half) = convert_file(&args.model, &out)?;
    // The report travels with the model; the copy gets one that says what it is, made from
    // the copy's own metadata.
    let bytes = std::fs::read(&out).with_context(|| format!("{}: cannot read", out.display()))?;
    let metadata = crate::onnx::features::metadata(&crate::onnx::features::decode(&bytes)?)?;
    let target = out.with_extension("json");
    crate::fsx::write_bytes_atomic(&target, serde_json::to_string_pretty(&metadata.report())?.as_bytes())
        .with_context(|| format!("{}: cannot write", target.display()))?;
    eprintln!("{} ({full} bytes) -> {} ({half} bytes, float16)", args.model.display(), out.display());
    Ok(())
}
