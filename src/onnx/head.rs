//! Rewriting a model's classification head without retraining it: folding a per-class affine
//! map of the logits (`logit' = a * logit + b`, [`crate::training::calibration`]) into the
//! head's weights and bias and into the two views' class activation map kernels, so that
//! `logit' = bias' + mean(cam_dv') + mean(cam_lv')` stays exact.

use anyhow::{Context, bail};

use super::proto::{GraphProto, ModelProto, TensorProto, data_type};
use crate::contract::io;

/// The head's initializers as our exporter names them (`training::onnx_export`).
const HEAD_WEIGHT: &str = "head.weight";
const HEAD_BIAS: &str = "head.bias";

/// Scales class `k`'s logit by `scale[k]` and adds `shift[k]`: the head's weight `[2C, K]`
/// columns and both CAM kernels' `[K, C, 1, 1]` rows are multiplied, the bias becomes
/// `scale * bias + shift`.
///
/// # Errors
/// The model is not float32 (calibrate the float32 file, then make its fp16 copy), or its
/// graph lacks the head or a CAM kernel, or their shapes disagree with `scale`.
pub fn fold_affine(model: &mut ModelProto, scale: &[f32], shift: &[f32]) -> anyhow::Result<()> {
    anyhow::ensure!(scale.len() == shift.len(), "{} scales for {} shifts", scale.len(), shift.len());
    let k = scale.len();
    let graph = model.graph.as_mut().context("the model has no graph")?;
    let kernels = cam_kernels(graph)?;
    let find = |graph: &mut GraphProto, name: &str| -> anyhow::Result<usize> {
        graph.initializer.iter().position(|t| t.name == name).with_context(|| format!("the model has no `{name}`"))
    };
    let w = find(graph, HEAD_WEIGHT)?;
    let weight = &mut graph.initializer[w];
    let rows = match weight.dims[..] {
        [r, c] if c as usize == k => r as usize,
        _ => bail!("`{HEAD_WEIGHT}` has shape {:?}, expected [2C, {k}]", weight.dims),
    };
    map_floats(weight, rows * k, |i, v| v * scale[i % k])?;
    let b = find(graph, HEAD_BIAS)?;
    let bias = &mut graph.initializer[b];
    anyhow::ensure!(bias.dims == [k as i64], "`{HEAD_BIAS}` has shape {:?}, expected [{k}]", bias.dims);
    map_floats(bias, k, |i, v| v * scale[i] + shift[i])?;
    for name in kernels {
        let i = find(graph, &name)?;
        let kernel = &mut graph.initializer[i];
        let per = match kernel.dims[..] {
            [kk, c, 1, 1] if kk as usize == k => c as usize,
            _ => bail!("CAM kernel `{name}` has shape {:?}, expected [{k}, C, 1, 1]", kernel.dims),
        };
        map_floats(kernel, k * per, |i, v| v * scale[i / per])?;
    }
    Ok(())
}

/// The kernels of the 1x1 convolutions whose maps become `cam_dv` and `cam_lv` (each output is
/// the product of such a map and the view's presence).
fn cam_kernels(graph: &GraphProto) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for cam in [io::CAM_DV, io::CAM_LV] {
        let mul = graph
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| o == cam))
            .with_context(|| format!("the model has no `{cam}` output"))?;
        let conv = graph
            .node
            .iter()
            .find(|n| n.op_type == "Conv" && mul.input.iter().any(|i| n.output.contains(i)))
            .with_context(|| format!("`{cam}` is not made by a convolution"))?;
        let kernel = conv.input.get(1).with_context(|| format!("`{cam}`'s convolution has no kernel"))?;
        out.push(kernel.clone());
    }
    Ok(out)
}

/// Replaces each of a float32 initializer's `n` values by `f(index, value)`.
fn map_floats(t: &mut TensorProto, n: usize, f: impl Fn(usize, f32) -> f32) -> anyhow::Result<()> {
    if t.data_type != data_type::FLOAT {
        bail!("`{}` is not float32 (calibrate the float32 model, then make its fp16 copy)", t.name);
    }
    if t.raw_data.len() == 4 * n {
        let values: Vec<f32> = t
            .raw_data
            .chunks_exact(4)
            .enumerate()
            .map(|(i, c)| f(i, f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    } else if t.float_data.len() == n {
        for (i, v) in t.float_data.iter_mut().enumerate() {
            *v = f(i, *v);
        }
    } else {
        bail!("`{}` holds {} bytes and {} floats, expected {n} values", t.name, t.raw_data.len(), t.float_data.len());
    }
    Ok(())
}
