//! Packaging a trained classifier: the ONNX file with its metadata and the readable report.

use std::path::Path;

use anyhow::Context;

use super::onnx_export::export_model;
use super::train::Trained;
use crate::contract::{ModelMetadata, Precision, Provenance, SCHEMA, TrainingSummary};
use crate::taxonomy::Taxonomy;
use crate::timestamp::utc_date;

/// The commit this binary was built from (set by `build.rs`; "unknown" outside a git checkout).
fn git_commit() -> String {
    option_env!("MOUSEXRAY_GIT_COMMIT").unwrap_or("unknown").to_owned()
}

/// The contract metadata of a finished run (no domain description yet: that needs the model's
/// own features, see [`super::domain_fit`]).
pub fn metadata(trained: &Trained) -> anyhow::Result<ModelMetadata> {
    let options = &trained.state.options;
    let training: TrainingSummary =
        serde_json::from_value(serde_json::to_value(&trained.state)?).context("recording the training state")?;
    Ok(ModelMetadata {
        schema: SCHEMA,
        taxonomy: Taxonomy::default(),
        preprocess: options.preprocess.clone(),
        thresholds: trained.thresholds.clone(),
        provenance: Provenance {
            mousexray: env!("CARGO_PKG_VERSION").into(),
            backbone: format!("{:?}", options.model.backbone).to_lowercase(),
            views: options.views.clone(),
            precision: Precision::Fp32,
            training: Some(training),
            dataset: trained.state.fingerprint.clone(),
            git_commit: git_commit(),
            date: utc_date(),
            calibration: None,
            extra: Default::default(),
        },
        features: options.model.feature_blocks(),
        domain: None,
    })
}

/// Writes `out` (ONNX, under the model contract, with `metadata`) and `out` with `.json` (the
/// readable report: provenance, thresholds and domain summary).
pub fn write_model(trained: &Trained, metadata: &ModelMetadata, out: &Path) -> anyhow::Result<()> {
    let props = metadata.to_props().map_err(|e| anyhow::anyhow!(e))?;
    let bytes = export_model(&trained.model, &trained.state.options.model, metadata.preprocess.size, &props)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // A crash never leaves a half-written model under the real name.
    crate::fsx::write_bytes_atomic(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    write_report(metadata, out)
}

/// Writes a finished run's model to `out` (see [`write_model`]), then describes its domain from
/// `dataset` (already in memory; `data` names its folders) and rewrites it with the description.
/// Returns the final metadata, and why the model stayed undescribed if it did (no ONNX Runtime,
/// too few specimens): the model is written either way.
pub fn write_trained(
    trained: &Trained,
    dataset: &super::data::Dataset,
    data: &str,
    out: &Path,
    ort_lib: Option<&Path>,
) -> anyhow::Result<(ModelMetadata, Option<anyhow::Error>)> {
    let metadata = metadata(trained)?;
    write_model(trained, &metadata, out)?;
    let options = &trained.state.options;
    match super::domain_fit::describe_written(out, dataset, data, options.val_split, options.seed, ort_lib) {
        Ok(described) => {
            crate::fsx::write_bytes_atomic(out, &described.bytes)
                .with_context(|| format!("writing {}", out.display()))?;
            write_report(&described.metadata, out)?;
            Ok((described.metadata, None))
        }
        Err(e) => Ok((metadata, Some(e))),
    }
}

/// Writes the readable report beside a model (`NAME.json`).
pub fn write_report(metadata: &ModelMetadata, model: &Path) -> anyhow::Result<()> {
    let report = metadata.report();
    let report_path = model.with_extension("json");
    crate::fsx::write_bytes_atomic(&report_path, serde_json::to_string_pretty(&report)?.as_bytes())
        .with_context(|| format!("writing {}", report_path.display()))
}

/// A contract model with seeded random weights and one threshold for every node, for
/// benchmarks and tests: the architecture's cost without a training run, and nothing to carry to
/// a GPU machine but the binary.
pub fn synthetic_model(config: &super::model::ModelConfig, size: u32, threshold: f32) -> anyhow::Result<Vec<u8>> {
    let device = burn::tensor::Device::flex();
    device.seed(1);
    let model = config.init(&device);
    let taxonomy = Taxonomy::default();
    let mut extra = serde_json::Map::new();
    extra.insert("synthetic".into(), "random weights, for benchmarks only".into());
    extra.insert("config".into(), serde_json::to_value(config)?);
    let metadata = ModelMetadata {
        schema: SCHEMA,
        thresholds: vec![threshold; taxonomy.nodes.len()],
        taxonomy,
        preprocess: crate::imaging::PreprocessSpec { size, ..Default::default() },
        provenance: Provenance {
            mousexray: env!("CARGO_PKG_VERSION").into(),
            backbone: format!("{:?}", config.backbone).to_lowercase(),
            views: crate::specimen::View::MODEL.to_vec(),
            precision: Precision::Fp32,
            training: None,
            dataset: String::new(),
            git_commit: String::new(),
            date: utc_date(),
            calibration: None,
            extra,
        },
        features: config.feature_blocks(),
        domain: None,
    };
    export_model(&model, config, size, &metadata.to_props().map_err(|e| anyhow::anyhow!(e))?)
}
