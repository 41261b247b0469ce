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
    // The report travels with the model; the copy gets one that says what it is.
    let report = args.model.with_extension("json");
    if let Ok(text) = std::fs::read_to_string(&report)
        && let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text)
    {
        if let Some(p) = value.get_mut("provenance").and_then(|p| p.as_object_mut()) {
            p.insert("precision".into(), "fp16".into());
        }
        let target = out.with_extension("json");
        crate::fsx::write_bytes_atomic(&target, serde_json::to_string_pretty(&value)?.as_bytes())
            .with_context(|| format!("{}: cannot write", target.display()))?;
    }
    eprintln!("{} ({full} bytes) -> {} ({half} bytes, float16)", args.model.display(), out.display());
    Ok(())
}
