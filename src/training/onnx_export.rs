//! Exporting a trained [`MultiView`] classifier to an ONNX file that follows the model contract
//! ([`crate::contract`]): inputs `dv`, `lv`, `views`; outputs `l1`, `l2`, `l3` (sigmoid,
//! conditional), `cam_dv`, `cam_lv` (per-class logit contribution maps) and `features_dv`,
//! `features_lv` (the pooled features the head reads); metadata properties. Each trained
//! parameter's initializer is named by its module path (`convnext.stages.2.blocks.0.pw1.weight`),
//! which is how [`super::onnx_import`] reads the weights back to fine-tune them.

use burn::tensor::Tensor;

use super::model::{BLUR_KERNEL, ChannelNorm, LN_EPS, ModelConfig, MultiView};
use crate::contract::io;
use crate::onnx::{Attr, Dim, Graph};

/// Flattens a tensor's values (f32, row-major).
fn values<const D: usize>(t: Tensor<D>) -> anyhow::Result<Vec<f32>> {
    t.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("reading weights: {e:?}"))
}

fn layer_norm_params(norm: &burn::nn::LayerNorm) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let gamma = values(norm.gamma.val())?;
    let beta = match &norm.beta {
        Some(b) => values(b.val())?,
        None => vec![0.0; gamma.len()],
    };
    Ok((gamma, beta))
}

/// `path` names the module as burn does (`convnext.stem_norm`), and so its initializers.
fn channel_norm(g: &mut Graph, x: &str, path: &str, n: &ChannelNorm) -> anyhow::Result<String> {
    let (gamma, beta) = layer_norm_params(&n.norm)?;
    Ok(g.layer_norm_channels(x, &format!("{path}.norm"), &gamma, &beta, LN_EPS as f32))
}

fn conv(
    g: &mut Graph,
    x: &str,
    path: &str,
    c: &burn::nn::conv::Conv2d,
    stride: i64,
    pad: i64,
    groups: i64,
) -> anyhow::Result<String> {
    let w = c.weight.val();
    let dims = w.dims();
    let shape = [dims[0] as i64, dims[1] as i64, dims[2] as i64, dims[3] as i64];
    let bias = match &c.bias {
        Some(b) => values(b.val())?,
        None => vec![0.0; dims[0]],
    };
    Ok(g.conv(x, path, &values(w)?, &bias, shape, stride, pad, groups))
}

fn linear(g: &mut Graph, x: &str, path: &str, l: &burn::nn::Linear) -> anyhow::Result<String> {
    linear_scaled(g, x, path, l, None)
}

/// `linear` with each output column multiplied by `scale`, folded into the weights so the graph
/// has no separate `Mul`.
fn linear_scaled(
    g: &mut Graph,
    x: &str,
    path: &str,
    l: &burn::nn::Linear,
    scale: Option<&[f32]>,
) -> anyhow::Result<String> {
    let w = l.weight.val();
    let [d_in, d_out] = w.dims();
    let mut weight = values(w)?; // [in, out], row-major
    let mut bias = match &l.bias {
        Some(b) => values(b.val())?,
        None => vec![0.0; d_out],
    };
    if let Some(scale) = scale {
        anyhow::ensure!(scale.len() == d_out, "layer scale has {} values for {d_out} outputs", scale.len());
        for row in weight.chunks_mut(d_out) {
            row.iter_mut().zip(scale).for_each(|(v, s)| *v *= s);
        }
        bias.iter_mut().zip(scale).for_each(|(v, s)| *v *= s);
    }
    Ok(g.linear(x, path, &weight, &bias, d_in as i64, d_out as i64))
}

/// [`super::model::blur`]: a depthwise 3 x 3 convolution with a constant kernel (not a parameter,
/// so its initializer's name has no module path), or `x` itself when `on` is false.
fn blur(g: &mut Graph, x: &str, channels: usize, on: bool) -> String {
    if !on {
        return x.to_owned();
    }
    let kernel: Vec<f32> = (0..channels).flat_map(|_| BLUR_KERNEL).collect();
    let w = g.weight("blur", &[channels as i64, 1, 3, 3], &kernel);
    g.node(
        "Conv",
        &[x, &w],
        &[
            ("kernel_shape", Attr::Ints(vec![3, 3])),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ("group", Attr::Int(channels as i64)),
        ],
        None,
    )
}

/// Writes the backbone's graph from `x` to its last feature map; also returns the first
/// stage's normalised output of a ConvNeXt with more than one stage (see
/// [`ModelConfig::feature_blocks`]).
fn backbone(g: &mut Graph, model: &MultiView, x: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut x = x.to_owned();
    let mut early = None;
    if let Some(net) = &model.convnext {
        x = blur(g, &x, 1, net.antialias);
        x = conv(g, &x, "convnext.stem", &net.stem, 4, 0, 1)?;
        x = channel_norm(g, &x, "convnext.stem_norm", &net.stem_norm)?;
        for (i, stage) in net.stages.iter().enumerate() {
            if i > 0
                && let Some(d) = net.downsamples.get(i - 1)
            {
                let path = format!("convnext.downsamples.{}", i - 1);
                x = channel_norm(g, &x, &format!("{path}.norm"), &d.norm)?;
                if i == 1 {
                    early = Some(x.clone());
                }
                x = blur(g, &x, d.conv.weight.val().dims()[1], net.antialias);
                x = conv(g, &x, &format!("{path}.conv"), &d.conv, 2, 0, 1)?;
            }
            for (j, b) in stage.blocks.iter().enumerate() {
                let path = format!("convnext.stages.{i}.blocks.{j}");
                let c = b.dwconv.weight.val().dims()[0] as i64;
                let y = conv(g, &x, &format!("{path}.dwconv"), &b.dwconv, 1, 3, c)?;
                let y = g.node("Transpose", &[&y], &[("perm", Attr::Ints(vec![0, 2, 3, 1]))], None);
                let (gamma, beta) = layer_norm_params(&b.norm)?;
                let y = g.layer_norm_last(&y, &format!("{path}.norm"), &gamma, &beta, LN_EPS as f32);
                let y = linear(g, &y, &format!("{path}.pw1"), &b.pw1)?;
                let y = g.gelu(&y);
                // The layer scale folds into pw2: gamma * (yW + b) = y (W gamma) + b gamma.
                // The reader sets the layer scale to 1 and keeps the product in pw2.
                let y = linear_scaled(g, &y, &format!("{path}.pw2"), &b.pw2, Some(&values(b.gamma.val())?))?;
                let y = g.node("Transpose", &[&y], &[("perm", Attr::Ints(vec![0, 3, 1, 2]))], None);
                x = g.node("Add", &[&x, &y], &[], None);
            }
        }
    } else if let Some(enc) = &model.cae {
        for (i, c) in enc.convs.iter().enumerate() {
            x = blur(g, &x, c.weight.val().dims()[1], enc.antialias);
            x = conv(g, &x, &format!("cae.convs.{i}"), c, 2, 1, 1)?;
            x = g.gelu(&x);
        }
    }
    Ok((x, early))
}

/// Builds the contract graph for a model with input side `size` and the given metadata.
pub fn export_model(
    model: &MultiView,
    config: &ModelConfig,
    size: u32,
    metadata: &[(String, String)],
) -> anyhow::Result<Vec<u8>> {
    let mut g = Graph::new("mousexray_multiview");
    let batch = Dim::Named("N".into());
    let s = i64::from(size);
    let image = [batch.clone(), Dim::Fixed(1), Dim::Fixed(s), Dim::Fixed(s)];
    let dv = g.input(io::DV, &image);
    let lv = g.input(io::LV, &image);
    let views = g.input(io::VIEWS, &[batch.clone(), Dim::Fixed(2)]);

    let both = g.node("Concat", &[&dv, &lv], &[("axis", Attr::Int(0))], None);
    let (f, early) = backbone(&mut g, model, &both)?;
    let blocks = config.feature_blocks();
    anyhow::ensure!(
        early.is_some() == (blocks.len() == 2),
        "the backbone's early features do not match the feature blocks {blocks:?}"
    );
    // The first stage's pooled features per view (the batch holds DV then LV).
    let early_pooled: Option<Vec<String>> = early.map(|e| {
        g.node_multi("Split", &[&e], &[("axis", Attr::Int(0))], 2)
            .iter()
            .map(|half| {
                let gap = g.node("GlobalAveragePool", &[half], &[], None);
                g.node("Flatten", &[&gap], &[("axis", Attr::Int(1))], None)
            })
            .collect()
    });
    let f = channel_norm(&mut g, &f, "final_norm", &model.final_norm)?;
    let halves = g.node_multi("Split", &[&f], &[("axis", Attr::Int(0))], 2);
    let (f_dv, f_lv) = (halves[0].clone(), halves[1].clone());

    let c = config.feature_channels();
    let k = config.classes;
    let w = values(model.head.weight.val())?; // [2C, K], DV rows first
    let bias = match &model.head.bias {
        Some(b) => values(b.val())?,
        None => vec![0.0; k],
    };
    let mut pooled = Vec::new();
    let mut cams = Vec::new();
    for (v, feat) in [(0i64, &f_dv), (1i64, &f_lv)] {
        let starts = g.ints("start", &[v]);
        let ends = g.ints("end", &[v + 1]);
        let axes = g.ints("axis", &[1]);
        let presence = g.node("Slice", &[&views, &starts, &ends, &axes], &[], None); // [N, 1]
        let gap = g.node("GlobalAveragePool", &[feat], &[], None);
        let name = if v == 0 { io::FEATURES_DV } else { io::FEATURES_LV };
        let flat = match &early_pooled {
            None => g.node("Flatten", &[&gap], &[("axis", Attr::Int(1))], Some(name)),
            Some(first) => {
                let flat = g.node("Flatten", &[&gap], &[("axis", Attr::Int(1))], None);
                g.node("Concat", &[&first[v as usize], &flat], &[("axis", Attr::Int(1))], Some(name));
                flat
            }
        };
        pooled.push(g.node("Mul", &[&flat, &presence], &[], None));
        // CAM: 1x1 convolution with this view's slice of the head, transposed to [K, C, 1, 1].
        let rows = &w[v as usize * c * k..(v as usize + 1) * c * k];
        let mut kernel = vec![0.0f32; k * c];
        for ci in 0..c {
            for ki in 0..k {
                kernel[ki * c + ci] = rows[ci * k + ki];
            }
        }
        let wk = g.weight("cam_w", &[k as i64, c as i64, 1, 1], &kernel);
        let map = g.node("Conv", &[feat, &wk], &[("kernel_shape", Attr::Ints(vec![1, 1]))], None);
        let unsq_axes = g.ints("unsq", &[2, 3]);
        let p4 = g.node("Unsqueeze", &[&presence, &unsq_axes], &[], None); // [N, 1, 1, 1]
        let name = if v == 0 { io::CAM_DV } else { io::CAM_LV };
        cams.push(g.node("Mul", &[&map, &p4], &[], Some(name)));
    }
    let fused = g.node("Concat", &[&pooled[0], &pooled[1]], &[("axis", Attr::Int(1))], None);
    let wh = g.param("head.weight", &[2 * c as i64, k as i64], &w);
    let bh = g.param("head.bias", &[k as i64], &bias);
    let m = g.node("MatMul", &[&fused, &wh], &[], None);
    let logits = g.node("Add", &[&m, &bh], &[], None);
    let probs = g.node("Sigmoid", &[&logits], &[], None);
    // Taxonomy order: 1 L1 node, 3 L2, then L3.
    let ranges = [(io::L1, 0i64, 1i64), (io::L2, 1, 4), (io::L3, 4, k as i64)];
    for (name, a, b) in ranges {
        let starts = g.ints("start", &[a]);
        let ends = g.ints("end", &[b]);
        let axes = g.ints("axis", &[1]);
        g.node("Slice", &[&probs, &starts, &ends, &axes], &[], Some(name));
        g.output(name, &[batch.clone(), Dim::Fixed(b - a)]);
    }
    let (h, w_) = ((s as usize / config.stride()) as i64, (s as usize / config.stride()) as i64);
    for name in [io::CAM_DV, io::CAM_LV] {
        g.output(name, &[batch.clone(), Dim::Fixed(k as i64), Dim::Fixed(h), Dim::Fixed(w_)]);
    }
    let width: usize = blocks.iter().sum();
    for name in [io::FEATURES_DV, io::FEATURES_LV] {
        g.output(name, &[batch.clone(), Dim::Fixed(width as i64)]);
    }
    Ok(crate::onnx::encode(&g.into_model(metadata)))
}
