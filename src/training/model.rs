//! The hierarchical multiview classifier: a ConvNeXt-style or convolutional-autoencoder
//! backbone shared by the DV and LV views, a final channel LayerNorm, global average pooling per
//! view, presence masking, and one linear layer for all 14 taxonomy logits.
//!
//! The heads stay linear after pooling, so each class's logit is exactly
//! `bias + mean(cam_dv) + mean(cam_lv)` (see the ONNX export): saliency without gradients.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::gelu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// LayerNorm epsilon everywhere (the exporter writes the same value).
pub const LN_EPS: f64 = 1e-6;

/// The 3 x 3 binomial low-pass filter, `[1, 2, 1]^T [1, 2, 1] / 16` (row-major), that
/// [`ModelConfig::antialias`] applies to each channel before a strided convolution. Blurring
/// before a strided convolution is the same as blurring its output before subsampling (both
/// are linear), which is Zhang's anti-aliased downsampling ("Making Convolutional Networks
/// Shift-Invariant Again", ICML 2019) at the cost of one depthwise 3 x 3 pass.
pub const BLUR_KERNEL: [f32; 9] =
    [1.0 / 16.0, 2.0 / 16.0, 1.0 / 16.0, 2.0 / 16.0, 4.0 / 16.0, 2.0 / 16.0, 1.0 / 16.0, 2.0 / 16.0, 1.0 / 16.0];

/// [`BLUR_KERNEL`] on each channel of `x` `[N, C, H, W]`, zero-padded by one pixel: same shape.
pub fn blur(x: Tensor<4>) -> Tensor<4> {
    let c = x.dims()[1];
    let kernel: Vec<f32> = (0..c).flat_map(|_| BLUR_KERNEL).collect();
    let weight = Tensor::from_data(TensorData::new(kernel, [c, 1, 3, 3]), &x.device());
    conv2d(x, weight, None, ConvOptions::new([1, 1], [1, 1], [1, 1], c))
}

/// Which backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackboneKind {
    /// ConvNeXt-style.
    Convnext,
    /// Convolutional autoencoder's encoder.
    Cae,
}

impl BackboneKind {
    /// The training recipe's default peak learning rate. The ConvNeXt's LayerNorm blocks stayed
    /// at chance for 5 to 8 epochs at the CAE's 2e-3 (and at 1e-3) on 3,200 phantoms, and learn
    /// at the CAE's pace at 2e-4 (EVALUATION.md, "The six models on the held-out phantoms").
    pub fn default_lr(self) -> f64 {
        match self {
            BackboneKind::Cae => 2e-3,
            BackboneKind::Convnext => 2e-4,
        }
    }

    /// Default reconstruction-pretraining epochs: the CAE learns through them; the ConvNeXt
    /// did not need them at its own rate.
    pub fn default_pretrain_epochs(self) -> usize {
        match self {
            BackboneKind::Cae => 5,
            BackboneKind::Convnext => 0,
        }
    }
}

/// Architecture of a classifier; stored in the model's provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Backbone kind.
    pub backbone: BackboneKind,
    /// ConvNeXt stage widths (or CAE encoder widths).
    pub dims: Vec<usize>,
    /// ConvNeXt blocks per stage (unused for CAE).
    pub depths: Vec<usize>,
    /// Initial layer-scale value of ConvNeXt blocks.
    pub layer_scale: f64,
    /// Number of output logits (taxonomy nodes).
    pub classes: usize,
    /// Low-pass every strided convolution's input with [`BLUR_KERNEL`] (anti-aliased
    /// downsampling), so that moving the film by a pixel moves the features less. Models written
    /// before it read as `false`.
    #[serde(default)]
    pub antialias: bool,
}

impl ModelConfig {
    /// The default small ConvNeXt (32/64/128/256, depths 1/1/3/1): trains on two CPU cores.
    pub fn convnext_small(classes: usize) -> Self {
        ModelConfig {
            backbone: BackboneKind::Convnext,
            dims: vec![32, 64, 128, 256],
            depths: vec![1, 1, 3, 1],
            layer_scale: 0.1,
            classes,
            antialias: false,
        }
    }

    /// ConvNeXt-T (96/192/384/768, depths 3/3/9/3), for GPU benchmarks.
    pub fn convnext_t(classes: usize) -> Self {
        ModelConfig {
            backbone: BackboneKind::Convnext,
            dims: vec![96, 192, 384, 768],
            depths: vec![3, 3, 9, 3],
            layer_scale: 1e-6,
            classes,
            antialias: false,
        }
    }

    /// The default CAE: four stride-2 encoder stages 16/32/64/128.
    pub fn cae(classes: usize) -> Self {
        ModelConfig {
            backbone: BackboneKind::Cae,
            dims: vec![16, 32, 64, 128],
            depths: Vec::new(),
            layer_scale: 0.0,
            classes,
            antialias: false,
        }
    }

    /// Channels of the last feature map.
    pub fn feature_channels(&self) -> usize {
        self.dims.last().copied().unwrap_or(0)
    }

    /// Widths of the blocks of the exported `features_dv` / `features_lv` outputs (the domain
    /// description's input): for a ConvNeXt with more than one stage, the first stage's
    /// normalised output, then the final features (the first stage tells films apart that the
    /// last one, closer to the labels, does not); for a CAE the final features alone.
    pub fn feature_blocks(&self) -> Vec<usize> {
        match (self.backbone, self.dims.as_slice()) {
            (BackboneKind::Convnext, [first, .., last]) => vec![*first, *last],
            _ => vec![self.feature_channels()],
        }
    }

    /// Input side divided by the feature map's side.
    pub fn stride(&self) -> usize {
        match self.backbone {
            BackboneKind::Convnext => 4 << self.dims.len().saturating_sub(1),
            BackboneKind::Cae => 1 << self.dims.len(),
        }
    }

    /// Builds the classifier with fresh weights.
    pub fn init(&self, device: &Device) -> MultiView {
        let c = self.feature_channels();
        let (convnext, cae) = match self.backbone {
            BackboneKind::Convnext => (Some(ConvNext::new(self, device)), None),
            BackboneKind::Cae => (None, Some(CaeEncoder::new(&self.dims, self.antialias, device))),
        };
        MultiView {
            convnext,
            cae,
            final_norm: ChannelNorm::new(c, device),
            head: LinearConfig::new(2 * c, self.classes).init(device),
            spine: None,
        }
    }

    /// The training-only head that regresses the column's midline ([`MultiView::spine`]).
    pub fn spine_head(&self, device: &Device) -> Linear {
        LinearConfig::new(self.feature_channels(), 2 * crate::synth::SPINE_LANDMARKS).init(device)
    }
}

/// LayerNorm over the channels of an NCHW tensor.
#[derive(Module, Debug)]
pub struct ChannelNorm {
    /// The norm over the last axis, applied in NHWC.
    pub norm: LayerNorm,
}

impl ChannelNorm {
    fn new(channels: usize, device: &Device) -> Self {
        ChannelNorm { norm: LayerNormConfig::new(channels).with_epsilon(LN_EPS).init(device) }
    }

    /// Normalises each pixel's channel vector.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
    }
}

/// One ConvNeXt block: depthwise 7x7, LayerNorm, Linear 4C, GELU, Linear C, layer scale, residual.
#[derive(Module, Debug)]
pub struct Block {
    /// Depthwise 7x7 convolution.
    pub dwconv: Conv2d,
    /// LayerNorm (NHWC).
    pub norm: LayerNorm,
    /// Expansion.
    pub pw1: Linear,
    /// Projection.
    pub pw2: Linear,
    /// Per-channel layer scale.
    pub gamma: Param<Tensor<1>>,
}

impl Block {
    fn new(c: usize, layer_scale: f64, device: &Device) -> Self {
        Block {
            dwconv: Conv2dConfig::new([c, c], [7, 7])
                .with_groups(c)
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .init(device),
            norm: LayerNormConfig::new(c).with_epsilon(LN_EPS).init(device),
            pw1: LinearConfig::new(c, 4 * c).init(device),
            pw2: LinearConfig::new(4 * c, c).init(device),
            gamma: Param::from_tensor(Tensor::full([c], layer_scale, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let c = x.dims()[1];
        let y = self.dwconv.forward(x.clone()).permute([0, 2, 3, 1]);
        let y = self.pw2.forward(gelu(self.pw1.forward(self.norm.forward(y))));
        let y = y * self.gamma.val().reshape([1, 1, 1, c]);
        x + y.permute([0, 3, 1, 2])
    }
}

/// A stage of blocks at one resolution.
#[derive(Module, Debug)]
pub struct Stage {
    /// Blocks in order.
    pub blocks: Vec<Block>,
}

/// LayerNorm then a 2x2 stride-2 convolution between stages.
#[derive(Module, Debug)]
pub struct Downsample {
    /// Channel norm.
    pub norm: ChannelNorm,
    /// Strided convolution.
    pub conv: Conv2d,
}

/// The ConvNeXt-style backbone.
#[derive(Module, Debug)]
pub struct ConvNext {
    /// 4x4 stride-4 stem.
    pub stem: Conv2d,
    /// Stem norm.
    pub stem_norm: ChannelNorm,
    /// One per stage after the first.
    pub downsamples: Vec<Downsample>,
    /// The stages.
    pub stages: Vec<Stage>,
    /// [`ModelConfig::antialias`].
    pub antialias: bool,
}

impl ConvNext {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let dims = &config.dims;
        let first = dims.first().copied().unwrap_or(32);
        let stages = dims
            .iter()
            .enumerate()
            .map(|(i, &c)| Stage {
                blocks: (0..config.depths.get(i).copied().unwrap_or(1))
                    .map(|_| Block::new(c, config.layer_scale, device))
                    .collect(),
            })
            .collect();
        let downsamples = dims
            .windows(2)
            .map(|w| Downsample {
                norm: ChannelNorm::new(w[0], device),
                conv: Conv2dConfig::new([w[0], w[1]], [2, 2]).with_stride([2, 2]).init(device),
            })
            .collect();
        ConvNext {
            stem: Conv2dConfig::new([1, first], [4, 4]).with_stride([4, 4]).init(device),
            stem_norm: ChannelNorm::new(first, device),
            downsamples,
            stages,
            antialias: config.antialias,
        }
    }

    /// Feature map `[N, C_last, S/stride, S/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let low_pass = |x: Tensor<4>| if self.antialias { blur(x) } else { x };
        let mut x = self.stem_norm.forward(self.stem.forward(low_pass(x)));
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0
                && let Some(d) = self.downsamples.get(i - 1)
            {
                x = d.conv.forward(low_pass(d.norm.forward(x)));
            }
            for b in &stage.blocks {
                x = b.forward(x);
            }
        }
        x
    }
}

/// The CAE's encoder: 4x4 stride-2 convolutions with GELU.
#[derive(Module, Debug)]
pub struct CaeEncoder {
    /// One per stage.
    pub convs: Vec<Conv2d>,
    /// [`ModelConfig::antialias`].
    pub antialias: bool,
}

impl CaeEncoder {
    fn new(dims: &[usize], antialias: bool, device: &Device) -> Self {
        let mut c_in = 1;
        let convs = dims
            .iter()
            .map(|&c| {
                let conv = Conv2dConfig::new([c_in, c], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device);
                c_in = c;
                conv
            })
            .collect();
        CaeEncoder { convs, antialias }
    }

    /// Feature map `[N, C_last, S/2^k, S/2^k]`.
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for conv in &self.convs {
            if self.antialias {
                x = blur(x);
            }
            x = gelu(conv.forward(x));
        }
        x
    }
}

/// The CAE's decoder, used only for reconstruction pretraining.
#[derive(Module, Debug)]
pub struct CaeDecoder {
    /// Transposed convolutions, deepest first.
    pub deconvs: Vec<ConvTranspose2d>,
}

impl CaeDecoder {
    /// Mirrors an encoder with widths `dims`.
    pub fn new(dims: &[usize], device: &Device) -> Self {
        let mut outs: Vec<usize> = dims.iter().rev().skip(1).copied().collect();
        outs.push(1);
        let deconvs = dims
            .iter()
            .rev()
            .zip(outs)
            .map(|(&c_in, c_out)| {
                ConvTranspose2dConfig::new([c_in, c_out], [4, 4]).with_stride([2, 2]).with_padding([1, 1]).init(device)
            })
            .collect();
        CaeDecoder { deconvs }
    }

    /// Reconstruction from a feature map.
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        let last = self.deconvs.len().saturating_sub(1);
        for (i, d) in self.deconvs.iter().enumerate() {
            x = d.forward(x);
            if i < last {
                x = gelu(x);
            }
        }
        x
    }
}

/// `reads` of a model that uses both views (see [`MultiView::forward_full`]).
pub const BOTH_VIEWS: [bool; 2] = [true, true];

/// The classifier.
#[derive(Module, Debug)]
pub struct MultiView {
    /// ConvNeXt backbone, if that kind.
    pub convnext: Option<ConvNext>,
    /// CAE encoder backbone, if that kind.
    pub cae: Option<CaeEncoder>,
    /// Final channel norm on the last feature map.
    pub final_norm: ChannelNorm,
    /// All logits from the concatenated pooled views: weight `[2C, classes]`, DV rows first.
    pub head: Linear,
    /// Training only, never exported: from one view's pooled features `[N, C]`, the column's
    /// midline in that view's input, `[N, 2 * 30]` (x, y of each vertebral centre, C1 first, in
    /// units of the input's half side from its centre). An auxiliary target that asks the
    /// pooled features the head reads to know where the spine runs (`train --spine-weight`).
    pub spine: Option<Linear>,
}

/// Intermediate results of a forward pass (the exporter and tests compare them).
pub struct Forward {
    /// Logits `[N, classes]`.
    pub logits: Tensor<2>,
    /// Normalised DV feature map `[N, C, h, w]`, before presence masking (zeros if not read).
    pub features_dv: Tensor<4>,
    /// Normalised LV feature map.
    pub features_lv: Tensor<4>,
    /// With a spine head, each read view's midline regression `[N, 60]` (DV, LV; `None` for a
    /// view not read).
    pub spine: [Option<Tensor<2>>; 2],
}

impl MultiView {
    /// Backbone features of a batch.
    pub fn backbone(&self, x: Tensor<4>) -> Tensor<4> {
        match (&self.convnext, &self.cae) {
            (Some(c), _) => c.forward(x),
            (None, Some(e)) => e.forward(x),
            (None, None) => x,
        }
    }

    /// Runs the views the model reads (`reads`, `[dv, lv]`) through the shared backbone in one
    /// batch, normalises, pools, masks absent views (`views` `[N, 2]`: 1 present, 0 absent) and
    /// applies the head. A single-view baseline reads one view: its other view's presence is
    /// always 0, so skipping that backbone pass (its features are zeros) gives the same logits
    /// and gradients at half the cost. Reading neither means both.
    pub fn forward_full(&self, dv: Tensor<4>, lv: Tensor<4>, views: Tensor<2>, reads: [bool; 2]) -> Forward {
        let reads = if reads.contains(&true) { reads } else { BOTH_VIEWS };
        let n = dv.dims()[0];
        let device = dv.device();
        let read: Vec<Tensor<4>> = [dv, lv].into_iter().zip(reads).filter_map(|(x, r)| r.then_some(x)).collect();
        let f = self.final_norm.forward(self.backbone(Tensor::cat(read, 0)));
        let [_, c, h, w] = f.dims();
        let mut next = 0;
        let [features_dv, features_lv] = reads.map(|r| {
            if r {
                next += 1;
                f.clone().narrow(0, (next - 1) * n, n)
            } else {
                Tensor::zeros([n, c, h, w], &device)
            }
        });
        let pooled = |x: &Tensor<4>| x.clone().mean_dim(3).mean_dim(2).reshape([n, c]);
        let pool = |x: &Tensor<4>, v: usize| pooled(x) * views.clone().narrow(1, v, 1);
        let logits = self.head.forward(Tensor::cat(vec![pool(&features_dv, 0), pool(&features_lv, 1)], 1));
        let spine = [(&features_dv, reads[0]), (&features_lv, reads[1])]
            .map(|(f, r)| self.spine.as_ref().filter(|_| r).map(|head| head.forward(pooled(f))));
        Forward { logits, features_dv, features_lv, spine }
    }

    /// Logits of a multiview model.
    pub fn forward(&self, dv: Tensor<4>, lv: Tensor<4>, views: Tensor<2>) -> Tensor<2> {
        self.forward_full(dv, lv, views, BOTH_VIEWS).logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How much the pooled features of one random CAE move when the image moves by one pixel,
    /// relative to their size (Zhang's consistency, measured on features rather than labels).
    fn shift_change(antialias: bool) -> f32 {
        let device = Device::flex();
        device.seed(5);
        let model = ModelConfig { antialias, ..ModelConfig::cae(3) }.init(&device);
        let s = 64;
        // A blob with fine stripes, both moving with the shift, well inside the image.
        let image = |dx: f32| -> Tensor<4> {
            let values: Vec<f32> = (0..s * s)
                .map(|i| {
                    let (x, y) = ((i % s) as f32 - 32.0 - dx, (i / s) as f32 - 32.0);
                    (-(x * x + y * y) / 200.0).exp() * (1.0 + 0.5 * (2.2 * x).sin())
                })
                .collect();
            Tensor::from_data(TensorData::new(values, [1, 1, s, s]), &device)
        };
        let pooled = |x: Tensor<4>| -> Vec<f32> {
            model.backbone(x).mean_dim(3).mean_dim(2).into_data().try_to_vec::<f32>().unwrap_or_default()
        };
        let (a, b) = (pooled(image(0.0)), pooled(image(1.0)));
        let change: f32 = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).sum();
        change / a.iter().map(|p| p.abs()).sum::<f32>().max(1e-12)
    }

    #[test]
    fn antialiasing_steadies_the_features_under_a_one_pixel_shift() {
        let (plain, antialiased) = (shift_change(false), shift_change(true));
        eprintln!("relative change of the pooled features: plain {plain:.4}, antialiased {antialiased:.4}");
        assert!(plain > 0.0 && antialiased < 0.5 * plain, "plain {plain}, antialiased {antialiased}");
    }

    #[test]
    fn the_blur_keeps_a_constant_inside_and_the_shape() {
        let device = Device::flex();
        let x = Tensor::<4>::ones([1, 2, 5, 5], &device);
        let y = blur(x);
        assert_eq!(y.dims(), [1, 2, 5, 5]);
        let v = y.into_data().try_to_vec::<f32>().unwrap_or_default();
        assert!((v[2 * 5 + 2] - 1.0).abs() < 1e-6, "the centre keeps its level");
        assert!((v[0] - 9.0 / 16.0).abs() < 1e-6, "a corner sees the zero padding");
    }
}
