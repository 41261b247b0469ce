//! Half-precision copies of our models, for GPUs: every float weight and intermediate becomes
//! float16, while the graph's inputs and outputs stay float32 behind Cast nodes, so the model
//! contract (and every caller) is unchanged.
//!
//! LayerNormalization keeps its statistics in float32 (`stash_type` defaults to 1). Execution
//! providers without float16 kernels (ONNX Runtime's CPU provider for Conv, on x86) still run the
//! file: ONNX Runtime inserts casts around such nodes, slower but correct.

use std::path::Path;

use anyhow::{Context, bail};
use prost::Message;

use super::proto::{AttributeProto, NodeProto, TensorProto, attribute_type, data_type};

/// Converts a float32 model written by mousexray into its float16 form.
///
/// Refuses files from other producers: our proto declares only the fields we write, so
/// re-encoding a foreign file could drop what it does not know.
pub fn to_fp16(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut model = super::features::decode(bytes)?;
    let mut metadata = super::features::metadata(&model)?;
    let Some(graph) = model.graph.as_mut() else { bail!("the model has no graph") };
    if graph.initializer.iter().any(|t| t.data_type == data_type::FLOAT16)
        || graph.node.iter().any(|n| n.op_type == "Cast")
    {
        bail!("the model is already float16");
    }
    for t in &mut graph.initializer {
        if t.data_type == data_type::FLOAT {
            halve(t)?;
        }
    }
    let float_io = |v: &super::proto::ValueInfoProto| {
        v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).is_some_and(|t| t.elem_type == data_type::FLOAT)
    };
    let inputs: Vec<String> = graph.input.iter().filter(|v| float_io(v)).map(|v| v.name.clone()).collect();
    let outputs: Vec<String> = graph.output.iter().filter(|v| float_io(v)).map(|v| v.name.clone()).collect();
    let mut front = Vec::new();
    for name in &inputs {
        let half = format!("{name}_fp16");
        rename_uses(&mut graph.node, name, &half);
        front.push(cast(name, &half, data_type::FLOAT16));
    }
    let mut back = Vec::new();
    for name in &outputs {
        let half = format!("{name}_fp16");
        rename_uses(&mut graph.node, name, &half);
        for node in &mut graph.node {
            node.output.iter_mut().filter(|o| *o == name).for_each(|o| o.clone_from(&half));
        }
        back.push(cast(&half, name, data_type::FLOAT));
    }
    let middle = std::mem::take(&mut graph.node);
    graph.node = front.into_iter().chain(middle).chain(back).collect();
    metadata.provenance.precision = crate::contract::Precision::Fp16;
    super::features::set_metadata(&mut model, &metadata)?;
    Ok(model.encode_to_vec())
}

/// Reads `model`, writes its float16 copy to `out`; returns both sizes in bytes. Errors name the
/// file.
pub fn convert_file(model: &Path, out: &Path) -> anyhow::Result<(usize, usize)> {
    if out == model {
        bail!("{}: the copy must go to another file", out.display());
    }
    let bytes = std::fs::read(model).with_context(|| format!("{}: cannot read", model.display()))?;
    let half = to_fp16(&bytes).with_context(|| format!("{}", model.display()))?;
    std::fs::write(out, &half).with_context(|| format!("{}: cannot write", out.display()))?;
    Ok((bytes.len(), half.len()))
}

/// Rewrites a float32 initializer as float16 (raw little-endian bits).
fn halve(t: &mut TensorProto) -> anyhow::Result<()> {
    let values: Vec<f32> = if t.raw_data.is_empty() {
        std::mem::take(&mut t.float_data)
    } else {
        if !t.raw_data.len().is_multiple_of(4) {
            bail!("initializer `{}` holds {} bytes, not whole floats", t.name, t.raw_data.len());
        }
        t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    t.raw_data = values.iter().flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes()).collect();
    t.data_type = data_type::FLOAT16;
    Ok(())
}

/// Points every node input named `from` at `to`.
fn rename_uses(nodes: &mut [NodeProto], from: &str, to: &str) {
    for node in nodes {
        node.input.iter_mut().filter(|i| *i == from).for_each(|i| *i = to.to_owned());
    }
}

/// A Cast node.
fn cast(input: &str, output: &str, to: i32) -> NodeProto {
    NodeProto {
        input: vec![input.to_owned()],
        output: vec![output.to_owned()],
        name: format!("cast_{output}"),
        op_type: "Cast".into(),
        attribute: vec![AttributeProto {
            name: "to".into(),
            i: i64::from(to),
            r#type: attribute_type::INT,
            ..Default::default()
        }],
        ..Default::default()
    }
}
