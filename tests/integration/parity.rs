//! Our ONNX export against burn: train a few steps, then run burn's forward and the exported
//! file through ONNX Runtime on the same inputs. Every output agrees to 1e-4 and each logit is
//! `bias + mean(cam_dv) + mean(cam_lv)`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use mousexray::inference::init_runtime;
use mousexray::training::loss::masked_bce;
use mousexray::training::model::{BOTH_VIEWS, BackboneKind, ModelConfig};
use mousexray::training::onnx_export::export_model;

const K: usize = 14;

fn inputs(n: usize, s: usize, seed: u32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let img = |k: u32| -> Vec<f32> {
        (0..n * s * s)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(k * 97) >> 16) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    };
    // Presence: both, DV only, LV only, both...
    let views: Vec<f32> = (0..n)
        .flat_map(|i| match i % 3 {
            0 => [1.0, 1.0],
            1 => [1.0, 0.0],
            _ => [0.0, 1.0],
        })
        .collect();
    (img(seed), img(seed + 1), views)
}

fn check(config: ModelConfig, size: usize) {
    let device = Device::flex().autodiff();
    device.seed(7);
    let mut model = config.init(&device);
    let mut optim = AdamWConfig::new().init();
    let n = 4;
    let t4 = |v: &Vec<f32>, d: &Device| Tensor::<4>::from_data(TensorData::new(v.clone(), [n, 1, size, size]), d);
    let t2 = |v: &Vec<f32>, d: &Device, w: usize| Tensor::<2>::from_data(TensorData::new(v.clone(), [n, w]), d);
    for step in 0..3 {
        let (dv, lv, views) = inputs(n, size, step);
        let targets: Vec<f32> =
            (0..n * K).map(|i| f32::from(u8::from((i * 7 + step as usize).is_multiple_of(3)))).collect();
        let logits = model.forward(t4(&dv, &device), t4(&lv, &device), t2(&views, &device, 2));
        let loss = masked_bce(
            logits,
            t2(&targets, &device, K),
            t2(&vec![1.0; n * K], &device, K),
            Tensor::<2>::ones([1, K], &device),
        );
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let model = model.valid();
    let plain = Device::flex();
    let (dv, lv, views) = inputs(n, size, 42);
    let out = model.forward_full(t4(&dv, &plain), t4(&lv, &plain), t2(&views, &plain, 2), BOTH_VIEWS);
    let logits: Vec<f32> = out.logits.clone().into_data().try_to_vec().unwrap();

    let bytes = export_model(&model, &config, size as u32, &[("mousexray.schema".into(), "1".into())]).unwrap();
    let lib = init_runtime(None).unwrap();
    let mut session = ort::session::Session::builder(&lib.environment).unwrap().commit_from_memory(&bytes).unwrap();
    let a = |v: Vec<f32>| ndarray::Array4::from_shape_vec((n, 1, size, size), v).unwrap();
    let (adv, alv) = (a(dv), a(lv));
    let aviews = ndarray::Array2::from_shape_vec((n, 2), views.clone()).unwrap();
    let outputs = session
        .run(ort::inputs![
            "dv" => ort::value::TensorRef::from_array_view(&adv).unwrap(),
            "lv" => ort::value::TensorRef::from_array_view(&alv).unwrap(),
            "views" => ort::value::TensorRef::from_array_view(&aviews).unwrap(),
        ])
        .unwrap();
    let get = |name: &str| -> (Vec<usize>, Vec<f32>) {
        let v = outputs[name].try_extract_array::<f32>().unwrap();
        (v.shape().to_vec(), v.iter().copied().collect())
    };
    let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
    let mut worst = 0.0f32;
    for (name, lo, hi) in [("l1", 0, 1), ("l2", 1, 4), ("l3", 4, K)] {
        let (shape, v) = get(name);
        assert_eq!(shape, vec![n, hi - lo], "{name}");
        for i in 0..n {
            for j in lo..hi {
                let d = (v[i * (hi - lo) + j - lo] - sigmoid(logits[i * K + j])).abs();
                worst = worst.max(d);
            }
        }
    }
    // CAM: burn's features times the head, against ORT's maps; and the logit identity.
    let w: Vec<f32> = model.head.weight.val().into_data().try_to_vec().unwrap();
    let b: Vec<f32> = model.head.bias.as_ref().unwrap().val().into_data().try_to_vec().unwrap();
    let c = config.feature_channels();
    let (shape, cam_dv) = get("cam_dv");
    let (_, cam_lv) = get("cam_lv");
    let hw = shape[2] * shape[3];
    assert_eq!(shape, vec![n, K, size / config.stride(), size / config.stride()]);
    for (v, (feat, cam)) in
        [(out.features_dv.clone(), &cam_dv), (out.features_lv.clone(), &cam_lv)].into_iter().enumerate()
    {
        let f: Vec<f32> = feat.into_data().try_to_vec().unwrap();
        for i in 0..n {
            let present = views[i * 2 + v];
            for k in 0..K {
                for p in 0..hw {
                    let mut acc = 0.0;
                    for ci in 0..c {
                        acc += w[(v * c + ci) * K + k] * f[(i * c + ci) * hw + p];
                    }
                    worst = worst.max((acc * present - cam[(i * K + k) * hw + p]).abs());
                }
            }
        }
    }
    for i in 0..n {
        for k in 0..K {
            let mean = |cam: &[f32]| cam[(i * K + k) * hw..(i * K + k + 1) * hw].iter().sum::<f32>() / hw as f32;
            let identity = b[k] + mean(&cam_dv) + mean(&cam_lv);
            worst = worst.max((identity - logits[i * K + k]).abs());
        }
    }
    eprintln!("{:?}: max abs difference {worst:e}", config.backbone);
    assert!(worst <= 1e-4, "{:?}: max abs difference {worst}", config.backbone);
    assert!(worst > 0.0, "suspiciously exact: compare different computations");
}

#[test]
fn convnext_export_matches_burn() {
    let config = ModelConfig { dims: vec![8, 16], depths: vec![1, 2], ..ModelConfig::convnext_small(K) };
    assert_eq!(config.backbone, BackboneKind::Convnext);
    check(config, 32);
}

#[test]
fn cae_export_matches_burn() {
    check(ModelConfig { dims: vec![4, 8, 8], ..ModelConfig::cae(K) }, 32);
}

#[test]
fn antialiased_exports_match_burn() {
    check(ModelConfig { dims: vec![4, 8, 8], antialias: true, ..ModelConfig::cae(K) }, 32);
    check(ModelConfig { dims: vec![8, 16], depths: vec![1, 2], antialias: true, ..ModelConfig::convnext_small(K) }, 32);
}

#[test]
fn the_classifier_can_overfit_a_small_batch() {
    // A learning sanity check: gradients reach every layer and the optimiser updates them.
    let device = Device::flex().autodiff();
    device.seed(3);
    let config = ModelConfig { dims: vec![8, 16], depths: vec![1, 1], ..ModelConfig::convnext_small(K) };
    let mut model = config.init(&device);
    let mut optim = AdamWConfig::new().init();
    let (n, size) = (8, 32);
    let (dv, lv, _) = inputs(n, size, 5);
    let views = vec![1.0; n * 2];
    let targets: Vec<f32> = (0..n * K).map(|i| f32::from(u8::from((i * 5 + i / K).is_multiple_of(3)))).collect();
    let t4 = |v: &Vec<f32>| Tensor::<4>::from_data(TensorData::new(v.clone(), [n, 1, size, size]), &device);
    let t2 = |v: &Vec<f32>, w: usize| Tensor::<2>::from_data(TensorData::new(v.clone(), [n, w]), &device);
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..120 {
        let logits = model.forward(t4(&dv), t4(&lv), t2(&views, 2));
        let loss = masked_bce(logits, t2(&targets, K), t2(&vec![1.0; n * K], K), Tensor::<2>::ones([1, K], &device));
        last = loss.clone().into_scalar::<f32>();
        first.get_or_insert(last);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    let first = first.unwrap_or(0.0);
    eprintln!("overfit: loss {first:.4} -> {last:.4}");
    assert!(last < 0.2 * first, "loss {first} -> {last}");
}

#[test]
fn a_single_view_model_skips_its_other_view_with_the_same_logits() {
    // Single-view baselines train through `forward_full` reading one view, which runs the
    // backbone on that view only; the other view's presence is always 0 for them, so the full
    // two-view pass must give the same logits, and the unread view's pixels must not matter.
    let device = Device::flex();
    device.seed(11);
    let config = ModelConfig { dims: vec![8, 16], depths: vec![1, 1], ..ModelConfig::convnext_small(K) };
    let model = config.init(&device);
    let (n, size) = (4, 32);
    let (dv, lv, _) = inputs(n, size, 9);
    let t4 = |v: &Vec<f32>| Tensor::<4>::from_data(TensorData::new(v.clone(), [n, 1, size, size]), &device);
    let t2 = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [n, 2]), &device);
    let vec = |t: Tensor<2>| -> Vec<f32> { t.into_data().try_to_vec().unwrap() };
    for (v, reads) in [(0, [true, false]), (1, [false, true])] {
        // The read view present for three specimens, absent for one; the other view never.
        let mut views = vec![0.0; n * 2];
        for i in [0, 1, 3] {
            views[i * 2 + v] = 1.0;
        }
        let full = vec(model.forward(t4(&dv), t4(&lv), t2(views.clone())));
        let garbage = vec![f32::NAN; n * size * size];
        let (dv_in, lv_in) = if v == 0 { (&dv, &garbage) } else { (&garbage, &lv) };
        let one = vec(model.forward_full(t4(dv_in), t4(lv_in), t2(views), reads).logits);
        assert_eq!(full.len(), one.len());
        for (a, b) in full.iter().zip(&one) {
            assert!((a - b).abs() <= 1e-6, "view {v}: {a} vs {b}");
        }
    }
}

/// Op types of the graph ONNX Runtime runs after its extended (level 2) optimisations, which
/// it applies on the CPU and CUDA providers alike.
fn optimised_ops(bytes: &[u8]) -> Vec<String> {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("optimised.onnx");
    let lib = init_runtime(None).unwrap();
    ort::session::Session::builder(&lib.environment)
        .unwrap()
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level2)
        .unwrap()
        .with_optimized_model_path(&out)
        .unwrap()
        .commit_from_memory(bytes)
        .unwrap();
    let model = mousexray::onnx::proto::ModelProto::decode(std::fs::read(&out).unwrap().as_slice()).unwrap();
    model.graph.unwrap().node.into_iter().map(|n| n.op_type).collect()
}

/// Our GELU must match ORT's GeluFusion pattern: unfused it was five elementwise kernels on the
/// widest tensor of every block, and fusing it made the two-view ConvNeXt-T 1.6x faster on a
/// GPU and the CAE 1.2x faster on this CPU (BENCHMARKS.md).
#[test]
fn onnx_runtime_fuses_our_gelu() {
    let count = |ops: &[String], op: &str| ops.iter().filter(|o| *o == op).count();
    let config = ModelConfig { dims: vec![8, 16], depths: vec![1, 2], ..ModelConfig::convnext_small(K) };
    let bytes = mousexray::training::package::synthetic_model(&config, 32, 0.5).unwrap();
    let ops = optimised_ops(&bytes);
    assert_eq!(count(&ops, "Erf"), 0, "an Erf survived: {ops:?}");
    assert_eq!(count(&ops, "BiasGelu") + count(&ops, "Gelu"), 3, "one fused GELU per block: {ops:?}");
    // The layer scale is folded into the second pointwise layer: no Mul is left in the blocks
    // (the four that remain mask each view's pooled vector and CAM with `views`).
    assert_eq!(count(&ops, "Mul"), 4, "{ops:?}");

    let bytes = mousexray::training::package::synthetic_model(&ModelConfig::cae(K), 32, 0.5).unwrap();
    let ops = optimised_ops(&bytes);
    assert_eq!(count(&ops, "Erf"), 0, "an Erf survived: {ops:?}");
}
