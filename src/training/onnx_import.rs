//! Reading a classifier's weights back from one of our ONNX files, to fine-tune it
//! (`train --init`).
//!
//! The exporter ([`super::onnx_export`]) names each trained parameter's initializer by its
//! module path; files written before that carry counter names (`conv_w_3`). Both are matched
//! to a fresh export of the architecture the file's provenance names, initializer by
//! initializer in the exporter's fixed order, and a file is refused where a count, type or shape
//! differs. A ConvNeXt block's layer scale is folded into its `pw2` when exported, so it comes
//! back as 1 with the product in `pw2`: the same function.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::store::{ModuleSnapshot, bridge};
use burn::tensor::{Device, TensorData};
use serde::{Deserialize, Serialize};

use super::model::{ModelConfig, MultiView};
use super::onnx_export::export_model;
use crate::contract::ModelMetadata;
use crate::onnx::features::{decode, metadata};
use crate::onnx::proto::{TensorProto, data_type};
use crate::taxonomy::Taxonomy;

/// The model a fine-tuned one started from, as its provenance records it
/// (`training.options.init`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentModel {
    /// The parent's file name, as given.
    pub file: String,
    /// SHA-256 of the parent's bytes (64 hex digits): names it exactly.
    pub sha256: String,
}

/// A model read back for fine-tuning.
pub struct Parent {
    /// Its weights, on the device asked for.
    pub model: MultiView,
    /// Its architecture.
    pub config: ModelConfig,
    /// Its contract metadata (preprocessing, views, thresholds, provenance).
    pub metadata: ModelMetadata,
    /// How the child names it.
    pub record: ParentModel,
    /// Where it was read from.
    pub path: PathBuf,
}

/// The architecture a model's provenance records: a trained model's `training.options.model`,
/// or a synthetic one's `config`.
pub fn architecture(metadata: &ModelMetadata) -> Option<ModelConfig> {
    let p = &metadata.provenance;
    let trained = p.training.as_ref().and_then(|t| t.extra.get("options")).and_then(|o| o.get("model"));
    trained.or_else(|| p.extra.get("config")).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// A float initializer's values (float32 or float16, raw or typed storage).
fn float_values(t: &TensorProto) -> anyhow::Result<Vec<f32>> {
    let count: i64 = t.dims.iter().product();
    let values: Vec<f32> = match t.data_type {
        data_type::FLOAT if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
        data_type::FLOAT => t.float_data.clone(),
        data_type::FLOAT16 => {
            t.raw_data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        }
        other => bail!("initializer `{}` has element type {other}, not float", t.name),
    };
    if values.len() as i64 != count || values.iter().any(|v| !v.is_finite()) {
        bail!(
            "initializer `{}` holds {} values for shape {:?}, or values that are not finite",
            t.name,
            values.len(),
            t.dims
        );
    }
    Ok(values)
}

fn is_float(t: &TensorProto) -> bool {
    t.data_type == data_type::FLOAT || t.data_type == data_type::FLOAT16
}

/// Reads the model at `path` for fine-tuning.
///
/// # Errors
/// Naming the file: unreadable, not an ONNX model written by mousexray, no recorded
/// architecture, another taxonomy, or weights that do not fit the architecture it names (which
/// initializer, and its shape against the one expected).
pub fn read_parent(path: &Path, device: &Device) -> anyhow::Result<Parent> {
    let name = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    let proto = decode(&bytes).with_context(|| format!("{name}: cannot fine-tune from it"))?;
    let metadata = metadata(&proto).with_context(|| format!("{name}: cannot fine-tune from it"))?;
    let Some(config) = architecture(&metadata) else {
        bail!("{name}: its provenance does not record the architecture, so its weights cannot be read back");
    };
    if metadata.taxonomy != Taxonomy::default() || config.classes != metadata.taxonomy.nodes.len() {
        bail!("{name}: it was trained on another taxonomy than this mousexray's; fine-tune only within one taxonomy");
    }
    let size = metadata.preprocess.size;
    if size == 0 || !(size as usize).is_multiple_of(config.stride()) {
        bail!("{name}: its input side {size} does not fit its architecture (a multiple of {})", config.stride());
    }
    let mut model = config.init(device);
    let template = decode(&export_model(&model, &config, size, &[])?).context("decoding the reference export")?;
    let expected: Vec<&TensorProto> =
        template.graph.iter().flat_map(|g| &g.initializer).filter(|t| is_float(t)).collect();
    let found: Vec<&TensorProto> = proto.graph.iter().flat_map(|g| &g.initializer).filter(|t| is_float(t)).collect();
    let described = format!("{:?} {:?}/{:?}", config.backbone, config.dims, config.depths).to_lowercase();
    if expected.len() != found.len() {
        bail!(
            "{name}: not the architecture its provenance names ({described}): {} weight tensors where {} were expected",
            found.len(),
            expected.len()
        );
    }
    let mut tensors = Vec::new();
    for (i, (want, got)) in expected.iter().zip(&found).enumerate() {
        if want.dims != got.dims {
            bail!(
                "{name}: not the architecture its provenance names ({described}): weight tensor {} (`{}`) has shape {:?} where {:?} was expected",
                i + 1,
                got.name,
                got.dims,
                want.dims
            );
        }
        // Only parameters are named by a module path; derived tensors (the CAM kernels,
        // constants) are not read back.
        if !want.name.contains('.') {
            continue;
        }
        let values = float_values(got).with_context(|| format!("{name}: cannot read its weights"))?;
        let shape: Vec<usize> = got.dims.iter().map(|&d| d as usize).collect();
        tensors.push(bridge::from_data(TensorData::new(values, shape), want.name.clone(), None));
    }
    // Layer scales come back as 1: the exported pw2 already holds the product.
    for (i, stage) in config.depths.iter().enumerate() {
        for j in 0..*stage {
            let c = config.dims.get(i).copied().unwrap_or(0);
            let path = format!("convnext.stages.{i}.blocks.{j}.gamma");
            tensors.push(bridge::from_data(TensorData::new(vec![1.0f32; c], [c]), path, None));
        }
    }
    let result = model.apply(tensors, None, None, false);
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        bail!(
            "{name}: its weights do not map onto the architecture: {} errors ({}), missing {:?}, unused {:?}",
            result.errors.len(),
            result.errors.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join("; "),
            result.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
            result.unused
        );
    }
    let record = ParentModel {
        file: path.file_name().map_or_else(|| name.to_string(), |f| f.to_string_lossy().into_owned()),
        sha256: crate::fingerprint::sha256_hex(&bytes),
    };
    Ok(Parent { model, config, metadata, record, path: path.to_owned() })
}
