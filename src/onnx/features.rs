//! Rewriting a model written by mousexray without retraining it: exposing the pooled features
//! its head already reads as the contract's `features_dv` / `features_lv` outputs (for models
//! written before those outputs existed), and replacing its metadata.
//!
//! Like [`super::fp16`], it refuses files from other producers: our proto declares only the
//! fields we write, so re-encoding a foreign file could drop what it does not know.

use anyhow::{Context, bail};
use prost::Message;

use super::proto::{
    AttributeProto, Dimension, ModelProto, NodeProto, StringStringEntryProto, TensorShapeProto, TypeProto,
    TypeProtoTensor, ValueInfoProto, attribute_type, data_type, dimension,
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

/// Adds the `features_dv` and `features_lv` outputs to a model that lacks them, as our exporter
/// writes them today: for a ConvNeXt (a graph with 2x2, stride-2 downsampling convolutions) the
/// first stage's normalised output (the first downsampling's input, batch of DV then LV) averaged
/// per view, then each view's pooled final features (the `Flatten` of a `GlobalAveragePool`,
/// DV's first); for a CAE the pooled final features alone. Returns the blocks' widths, or `None`
/// when the outputs were there already.
pub fn expose_features(model: &mut ModelProto) -> anyhow::Result<Option<Vec<usize>>> {
    let Some(graph) = model.graph.as_mut() else { bail!("the model has no graph") };
    if graph.output.iter().any(|o| o.name == io::FEATURES_DV || o.name == io::FEATURES_LV) {
        return Ok(None);
    }
    let ints = |n: &NodeProto, name: &str| n.attribute.iter().find(|a| a.name == name).map(|a| a.ints.clone());
    let weight_dims = |name: &str| graph.initializer.iter().find(|t| t.name == name).map(|t| t.dims.clone());
    // (pooled vector, the map it pools) per view.
    let pooled: Vec<(String, String)> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "GlobalAveragePool")
        .filter_map(|gap| {
            let out = gap.output.first()?;
            let flat = graph.node.iter().find(|n| n.op_type == "Flatten" && n.input.first() == Some(out))?;
            Some((flat.output.first()?.clone(), gap.input.first()?.clone()))
        })
        .collect();
    let [(dv, dv_map), (lv, _)] = &pooled[..] else {
        bail!("expected one pooled feature vector per view, found {}", pooled.len());
    };
    // The final width: the CAM convolution over the DV map has weights [K, C, 1, 1].
    let final_width = graph
        .node
        .iter()
        .find(|n| n.op_type == "Conv" && n.input.first() == Some(dv_map))
        .and_then(|n| weight_dims(n.input.get(1)?))
        .and_then(|d| d.get(1).copied())
        .context("cannot find the width of the final features")?;
    let early = graph
        .node
        .iter()
        .find(|n| {
            n.op_type == "Conv" && ints(n, "kernel_shape") == Some(vec![2, 2]) && ints(n, "strides") == Some(vec![2, 2])
        })
        .and_then(|n| Some((n.input.first()?.clone(), weight_dims(n.input.get(1)?)?.get(1).copied()?)));
    let mut nodes = Vec::new();
    let mut node = |op: &str, inputs: Vec<String>, outputs: Vec<String>, attribute: Vec<AttributeProto>| {
        nodes.push(NodeProto {
            input: inputs,
            output: outputs,
            name: format!("expose_{}", nodes.len()),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
    };
    let int =
        |name: &str, i: i64| AttributeProto { name: name.into(), i, r#type: attribute_type::INT, ..Default::default() };
    let mut blocks = vec![final_width as usize];
    match &early {
        None => {
            for (from, to) in [(dv, io::FEATURES_DV), (lv, io::FEATURES_LV)] {
                node("Identity", vec![from.clone()], vec![to.to_owned()], Vec::new());
            }
        }
        Some((map, width)) => {
            blocks.insert(0, *width as usize);
            let halves = ["expose_early_dv".to_owned(), "expose_early_lv".to_owned()];
            node("Split", vec![map.clone()], halves.to_vec(), vec![int("axis", 0)]);
            for (half, (last, to)) in halves.iter().zip([(dv, io::FEATURES_DV), (lv, io::FEATURES_LV)]) {
                let gap = format!("{half}_pooled");
                let flat = format!("{half}_flat");
                node("GlobalAveragePool", vec![half.clone()], vec![gap.clone()], Vec::new());
                node("Flatten", vec![gap], vec![flat.clone()], vec![int("axis", 1)]);
                node("Concat", vec![flat, last.clone()], vec![to.to_owned()], vec![int("axis", 1)]);
            }
        }
    }
    if nodes
        .iter()
        .any(|n| graph.node.iter().any(|m| m.name == n.name || n.output.iter().any(|o| m.output.contains(o))))
    {
        bail!("the graph already has values named like the feature outputs");
    }
    graph.node.extend(nodes);
    let width: usize = blocks.iter().sum();
    for to in [io::FEATURES_DV, io::FEATURES_LV] {
        let dim = vec![
            Dimension { value: Some(dimension::Value::DimParam("N".to_owned())) },
            Dimension { value: Some(dimension::Value::DimValue(width as i64)) },
        ];
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
    Ok(Some(blocks))
}

/// Serialises a model.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
