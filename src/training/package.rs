//! Packaging a trained classifier: the ONNX file with its metadata and the readable report.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::train::Trained;
use crate::onnx::export::export_model;
use crate::taxonomy::Taxonomy;
use crate::timestamp::utc_date;

/// Version of the model contract written into `mousexray.schema`.
pub const SCHEMA_VERSION: &str = "1";

/// `mousexray.provenance` and the `NAME.json` report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    /// mousexray version that trained it.
    pub mousexray: String,
    /// Backbone kind.
    pub backbone: String,
    /// Views the model uses.
    pub views: Vec<String>,
    /// The full training state: options, per-epoch history, best epoch.
    pub training: super::train::TrainState,
    /// Dataset fingerprint.
    pub dataset: String,
    /// Git commit of the source, when known.
    pub git_commit: String,
    /// UTC date of export (YYYY-MM-DD).
    pub date: String,
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Writes `out` (ONNX, under the model contract) and `out` with `.json` (the report).
pub fn write_model(trained: &Trained, out: &Path) -> anyhow::Result<Provenance> {
    let taxonomy = Taxonomy::default();
    let options = &trained.state.options;
    let provenance = Provenance {
        mousexray: env!("CARGO_PKG_VERSION").into(),
        backbone: format!("{:?}", options.model.backbone).to_lowercase(),
        views: options.views.iter().map(|v| v.as_str().to_owned()).collect(),
        training: trained.state.clone(),
        dataset: trained.state.fingerprint.clone(),
        git_commit: git_commit(),
        date: utc_date(),
    };
    let thresholds: serde_json::Map<String, serde_json::Value> =
        taxonomy.nodes.iter().zip(&trained.thresholds).map(|(n, t)| (n.id.clone(), serde_json::json!(t))).collect();
    let metadata = vec![
        ("mousexray.schema".to_owned(), SCHEMA_VERSION.to_owned()),
        ("mousexray.taxonomy".to_owned(), taxonomy.to_json()),
        ("mousexray.preprocess".to_owned(), serde_json::to_string(&options.preprocess)?),
        ("mousexray.thresholds".to_owned(), serde_json::to_string(&thresholds)?),
        ("mousexray.provenance".to_owned(), serde_json::to_string(&provenance)?),
    ];
    let bytes = export_model(&trained.model, &options.model, options.preprocess.size, &metadata)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // A crash never leaves a half-written model under the real name.
    crate::fsx::write_bytes_atomic(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let report = serde_json::json!({ "provenance": provenance, "thresholds": thresholds });
    let report_path = out.with_extension("json");
    crate::fsx::write_bytes_atomic(&report_path, serde_json::to_string_pretty(&report)?.as_bytes())
        .with_context(|| format!("writing {}", report_path.display()))?;
    Ok(provenance)
}

/// A contract model with seeded random weights and one threshold for every node, for
/// benchmarks and tests: the architecture's cost without a training run, and nothing to carry to
/// a GPU machine but the binary.
pub fn synthetic_model(config: &super::model::ModelConfig, size: u32, threshold: f32) -> anyhow::Result<Vec<u8>> {
    let device = burn::tensor::Device::flex();
    device.seed(1);
    let model = config.init(&device);
    let taxonomy = Taxonomy::default();
    let preprocess = crate::imaging::PreprocessSpec { size, ..Default::default() };
    let thresholds: serde_json::Map<String, serde_json::Value> =
        taxonomy.nodes.iter().map(|n| (n.id.clone(), serde_json::json!(threshold))).collect();
    let provenance = serde_json::json!({
        "mousexray": env!("CARGO_PKG_VERSION"),
        "backbone": format!("{:?}", config.backbone).to_lowercase(),
        "views": ["dv", "lv"],
        "synthetic": "random weights, for benchmarks only",
        "config": config,
        "date": utc_date(),
    });
    let metadata = vec![
        ("mousexray.schema".to_owned(), SCHEMA_VERSION.to_owned()),
        ("mousexray.taxonomy".to_owned(), taxonomy.to_json()),
        ("mousexray.preprocess".to_owned(), serde_json::to_string(&preprocess)?),
        ("mousexray.thresholds".to_owned(), serde_json::to_string(&thresholds)?),
        ("mousexray.provenance".to_owned(), provenance.to_string()),
    ];
    export_model(&model, config, size, &metadata)
}
