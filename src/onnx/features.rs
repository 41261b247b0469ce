//! Rewriting a model written by mousexray without retraining it: exposing the pooled features
//! its head already reads as the contract's `features_dv` / `features_lv` outputs (for models
//! written before those outputs existed), and replacing its metadata.
//!
//! Like [`super::fp16`], it refuses files from other producers: our proto declares only the
//! fields we write, so re-encoding a foreign file could drop what it does not know.

use anyhow::{Context, bail};
use prost::Message;

use super::proto::{
    Dimension, ModelProto, NodeProto, StringStringEntryProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    ValueInfoProto, data_type, dimension,
};
use crate::contract::{ModelMetadata, io};

/// Decodes a model written by mousexray.
pub fn decode(bytes: &[u8]) -> anyhow::Result<ModelProto> {
    if bytes.is_empty() {
        bail!("an empty file, not an ONNX model");
    }
    let model = ModelProto::decode(bytes).context("not an ONNX model")?;
    if model.graph.is_none() && model.producer_name.is_empty() {
        bail!("not an ONNX model (no graph, no producer)");
    }
    if model.producer_name != "mousexray" {
        bail!("only models written by mousexray can be rewritten (this one was written by `{}`)", model.producer_name);
    }
    Ok(model)
}

/// Reads a model's contract metadata.
pub fn metadata(model: &ModelProto) -> anyhow::Result<ModelMetadata> {
    ModelMetadata::from_props(|k| model.metadata_props.iter().find(|e| e.key == k).map(|e| e.value.clone()))
        .map_err(|e| anyhow::anyhow!("does not follow the mousexray model contract: {e}"))
}

/// Replaces a model's metadata with `metadata`.
pub fn set_metadata(model: &mut ModelProto, metadata: &ModelMetadata) -> anyhow::Result<()> {
    let props = metadata.to_props().map_err(|e| anyhow::anyhow!(e))?;
    model.metadata_props = props.into_iter().map(|(key, value)| StringStringEntryProto { key, value }).collect();
    Ok(())
}

/// Adds the `features_dv` and `features_lv` outputs to a model that lacks them: each view's
/// pooled feature vector (the `Flatten` of a `GlobalAveragePool`, DV's first, as our exporter
/// writes them). Returns whether anything changed.
pub fn expose_features(model: &mut ModelProto) -> anyhow::Result<bool> {
    let Some(graph) = model.graph.as_mut() else { bail!("the model has no graph") };
    if graph.output.iter().any(|o| o.name == io::FEATURES_DV || o.name == io::FEATURES_LV) {
        return Ok(false);
    }
    let pooled: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "GlobalAveragePool")
        .filter_map(|gap| {
            let out = gap.output.first()?;
            let flat = graph.node.iter().find(|n| n.op_type == "Flatten" && n.input.first() == Some(out))?;
            flat.output.first().cloned()
        })
        .collect();
    let [dv, lv] = &pooled[..] else {
        bail!("expected one pooled feature vector per view, found {}", pooled.len());
    };
    for (from, to) in [(dv, io::FEATURES_DV), (lv, io::FEATURES_LV)] {
        let mut name = format!("expose_{to}");
        while graph.node.iter().any(|n| n.name == name) {
            name.push('_');
        }
        graph.node.push(NodeProto {
            input: vec![from.clone()],
            output: vec![to.to_owned()],
            name,
            op_type: "Identity".into(),
            ..Default::default()
        });
        let dim =
            ["N", "C"].iter().map(|d| Dimension { value: Some(dimension::Value::DimParam((*d).to_owned())) }).collect();
        graph.output.push(ValueInfoProto {
            name: to.to_owned(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: data_type::FLOAT,
                    shape: Some(TensorShapeProto { dim }),
                }),
            }),
            doc_string: String::new(),
        });
    }
    Ok(true)
}

/// Serialises a model.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
