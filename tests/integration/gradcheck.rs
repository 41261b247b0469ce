//! The training backend's gradients match finite differences for every op the ConvNeXt and CAE
//! backbones use, alone and through the whole two-view model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::nn::{LayerNormConfig, PaddingConfig2d};
use burn::tensor::activation::gelu;
use burn::tensor::module::{conv2d, layer_norm};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use mousexray::training::model::{BackboneKind, ModelConfig};

fn pseudo(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// Compares d(sum(f(x) * w))/dx from autodiff with central differences at a spread of inputs.
fn check(name: &str, shape: [usize; 4], f: &dyn Fn(Tensor<4>) -> Tensor<4>, device: &Device) {
    let n: usize = shape.iter().product();
    let x0 = pseudo(n, 7);
    let out_dims = f(Tensor::from_data(TensorData::new(x0.clone(), shape), device)).dims();
    let w = Tensor::<4>::from_data(TensorData::new(pseudo(out_dims.iter().product(), 11), out_dims), device);
    let loss = |x: Vec<f32>| -> f64 {
        let y = f(Tensor::from_data(TensorData::new(x, shape), device));
        f64::from((y * w.clone()).sum().into_scalar::<f32>())
    };
    let x = Tensor::<4>::from_data(TensorData::new(x0.clone(), shape), device).require_grad();
    let grads = (f(x.clone()) * w.clone()).sum().backward();
    let g: Vec<f32> = x.grad(&grads).expect("input gradient").to_data().try_to_vec::<f32>().unwrap();
    let eps = 1e-2f32;
    let mut worst = 0.0f64;
    for i in (0..n).step_by((n / 24).max(1)) {
        let (mut up, mut down) = (x0.clone(), x0.clone());
        up[i] += eps;
        down[i] -= eps;
        let fd = (loss(up) - loss(down)) / (2.0 * f64::from(eps));
        let err = (fd - f64::from(g[i])).abs() / (fd.abs().max(f64::from(g[i]).abs()) + 1e-2);
        worst = worst.max(err);
    }
    println!("{name}: worst relative error {worst:.4}");
    assert!(worst < 0.05, "{name}: autodiff disagrees with finite differences (worst relative error {worst:.3})");
}

#[test]
fn gradients_match_finite_differences() {
    let device = Device::flex().autodiff();
    let c = 6;
    let norm = LayerNormConfig::new(c).with_epsilon(1e-6).init(&device);
    check("layer norm", [2, c, 5, 5], &|x| norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2]), &device);
    let dw = Conv2dConfig::new([c, c], [7, 7])
        .with_groups(c)
        .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
        .init(&device);
    check("depthwise conv", [2, c, 9, 9], &|x| dw.forward(x), &device);
    check("gelu", [2, c, 3, 3], &|x| gelu(x), &device);
    let stem = Conv2dConfig::new([1, c], [4, 4]).with_stride([4, 4]).init(&device);
    check("stride-4 stem", [2, 1, 16, 16], &|x| stem.forward(x), &device);
    let down = Conv2dConfig::new([c, 2 * c], [2, 2]).with_stride([2, 2]).init(&device);
    check("stride-2 downsample", [2, c, 8, 8], &|x| down.forward(x), &device);
    let up = ConvTranspose2dConfig::new([c, 2], [4, 4]).with_stride([2, 2]).with_padding([1, 1]).init(&device);
    check("transposed conv", [2, c, 4, 4], &|x| up.forward(x), &device);
    check("mean pooling", [2, c, 4, 4], &|x| x.mean_dim(3).mean_dim(2), &device);
    // Parameter gradients: the same check with the weight as the variable.
    let x = Tensor::<4>::from_data(TensorData::new(pseudo(2 * c * 9 * 9, 5), [2, c, 9, 9]), &device);
    let nhwc = x.clone().permute([0, 2, 3, 1]);
    let beta = Tensor::<1>::from_data(TensorData::new(pseudo(c, 9), [c]), &device);
    check(
        "layer norm gamma",
        [1, 1, 1, c],
        &|g| layer_norm(nhwc.clone(), g.reshape([c]), Some(beta.clone()), 1e-6),
        &device,
    );
    let gamma = Tensor::<1>::from_data(TensorData::new(pseudo(c, 8), [c]), &device);
    check(
        "layer norm beta",
        [1, 1, 1, c],
        &|b| layer_norm(nhwc.clone(), gamma.clone(), Some(b.reshape([c])), 1e-6),
        &device,
    );
    check(
        "depthwise weight",
        [c, 1, 7, 7],
        &|w| conv2d(x.clone(), w, None, ConvOptions::new([1, 1], [3, 3], [1, 1], c)),
        &device,
    );
    check(
        "strided weight",
        [2 * c, c, 2, 2],
        &|w| conv2d(x.clone().narrow(2, 0, 8).narrow(3, 0, 8), w, None, ConvOptions::new([2, 2], [0, 0], [1, 1], 1)),
        &device,
    );
    check(
        "matmul weight",
        [1, 1, c, 4 * c],
        &|w| nhwc.clone().matmul(w.reshape([1, 1, c, 4 * c]).repeat_dim(0, 2).repeat_dim(1, 9)),
        &device,
    );
    for backbone in [BackboneKind::Convnext, BackboneKind::Cae] {
        let config = ModelConfig {
            backbone,
            dims: vec![4, 8],
            depths: vec![1, 2],
            layer_scale: 1.0,
            classes: 3,
            antialias: false,
        };
        let model = config.init(&device);
        let views = Tensor::<2>::from_data(TensorData::new(vec![1.0f32; 4], [2, 2]), &device);
        let lv = Tensor::<4>::from_data(TensorData::new(pseudo(2 * 16 * 16, 3), [2, 1, 16, 16]), &device);
        check(
            &format!("{backbone:?} model"),
            [2, 1, 16, 16],
            &|x| model.forward(x, lv.clone(), views.clone()).reshape([2, 3, 1, 1]),
            &device,
        );
    }
}
