//! `mousexray domain`: describe an existing model's domain from its training data, without
//! retraining it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::inference::{Classifier, OrtLibrary, SessionOptions, init_runtime};
use crate::training::domain_fit::{Described, describe};
use crate::training::package::write_report;

use super::trained_on::{TrainedOn, check_labels};

/// Arguments of `mousexray domain`.
#[derive(Debug, clap::Args)]
pub struct DomainArgs {
    /// A model written by mousexray.
    #[arg(long, value_name = "ONNX")]
    pub model: PathBuf,
    /// The folder the model was trained on (with labels.csv); repeat for a model trained on
    /// several.
    #[arg(long, value_name = "DIR", required = true)]
    pub data: Vec<PathBuf>,
    /// Labels CSV (default DIR/labels.csv; only with one --data).
    #[arg(long, value_name = "CSV")]
    pub labels: Option<PathBuf>,
    /// Where to write the described model (default: replace the model and its report).
    #[arg(long, value_name = "ONNX")]
    pub out: Option<PathBuf>,
    /// Describe even when the folder is not the one the model was trained on.
    #[arg(long)]
    pub other_data: bool,
}

/// Runs the command.
pub fn run(args: &DomainArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| args.model.clone());
    // The report goes beside the model as NAME.json: an --out of another kind would be
    // overwritten by its own report, or overwrite another model's.
    if out.extension().is_none_or(|e| !e.eq_ignore_ascii_case("onnx")) {
        anyhow::bail!("{}: the described model must be written to a .onnx file", out.display());
    }
    check_labels(args.labels.as_deref(), &args.data)?;
    let lib = init_runtime(ort_lib)?;
    let bytes = std::fs::read(&args.model).with_context(|| format!("{}: cannot read", args.model.display()))?;
    let described = describe_bytes(&args.model, &bytes, &args.data, args.labels.as_deref(), args.other_data, lib)?;
    crate::fsx::write_bytes_atomic(&out, &described.bytes)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    write_report(&described.metadata, &out)?;
    for line in crate::domain::summary_lines(&described.domain) {
        eprintln!("  {line}");
    }
    eprintln!(
        "{} -> {} (schema {}, with its domain description)",
        args.model.display(),
        out.display(),
        described.metadata.schema
    );
    Ok(())
}

/// Adds feature outputs if missing, fits the description on the `data` folders (as one, the
/// way `train` merges them) with the model's own split, and returns the rewritten model.
pub fn describe_bytes(
    path: &Path,
    bytes: &[u8],
    data: &[PathBuf],
    labels: Option<&Path>,
    other_data: bool,
    lib: &OrtLibrary,
) -> anyhow::Result<Described> {
    let mut proto = crate::onnx::features::decode(bytes).with_context(|| path.display().to_string())?;
    if let Some(blocks) =
        crate::onnx::features::expose_features(&mut proto).with_context(|| path.display().to_string())?
    {
        // The file's metadata must say how its new outputs are made before it is loaded.
        let mut metadata = crate::onnx::features::metadata(&proto).with_context(|| path.display().to_string())?;
        metadata.schema = crate::contract::SCHEMA;
        metadata.features = blocks;
        metadata.domain = None;
        crate::onnx::features::set_metadata(&mut proto, &metadata)?;
    }
    let exposed = crate::onnx::features::encode(&proto);
    let mut model = Classifier::load_bytes(path, &exposed, lib, SessionOptions::default())?;
    let info = model.info.clone();
    let TrainedOn { dataset, label: data, val_split, seed } =
        TrainedOn::load(path, &info.metadata, data, labels, other_data, "describe it")?;
    let domain = describe(&mut model, &dataset, &data, val_split, seed)?;
    let mut metadata = info.metadata.clone();
    metadata.schema = crate::contract::SCHEMA;
    metadata.domain = Some(domain.clone());
    crate::onnx::features::set_metadata(&mut proto, &metadata)?;
    Ok(Described { bytes: crate::onnx::features::encode(&proto), metadata, domain })
}
