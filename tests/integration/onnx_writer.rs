//! Our ONNX writer: a graph with every operator the exporters use runs in ONNX Runtime and
//! matches a reference computed here by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mousexray::inference::init_runtime;
use mousexray::onnx::{Attr, Dim, Graph, encode};

fn erf(x: f32) -> f32 {
    libm::erff(x)
}

/// Conv 3x3 (1 -> 2 channels, pad 1) -> channel LayerNorm -> GELU -> global average pool ->
/// linear 2 -> 3 -> sigmoid, by hand.
#[allow(clippy::too_many_arguments)]
fn reference(x: &[f32], n: usize, w: &[f32], b: &[f32], g: &[f32], beta: &[f32], lw: &[f32], lb: &[f32]) -> Vec<f32> {
    let (h, wd) = (4usize, 4usize);
    let mut out = Vec::new();
    for s in 0..n {
        let img = &x[s * 16..(s + 1) * 16];
        let mut pooled = [0.0f32; 2];
        for y in 0..h {
            for xx in 0..wd {
                let mut c = [0.0f32; 2];
                for (o, co) in c.iter_mut().enumerate() {
                    let mut acc = b[o];
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) = (y as isize + ky as isize - 1, xx as isize + kx as isize - 1);
                            if iy >= 0 && ix >= 0 && iy < 4 && ix < 4 {
                                acc += w[o * 9 + ky * 3 + kx] * img[iy as usize * 4 + ix as usize];
                            }
                        }
                    }
                    *co = acc;
                }
                let mean = (c[0] + c[1]) / 2.0;
                let var = ((c[0] - mean).powi(2) + (c[1] - mean).powi(2)) / 2.0;
                for o in 0..2 {
                    let v = (c[o] - mean) / (var + 1e-6).sqrt() * g[o] + beta[o];
                    pooled[o] += v * 0.5 * (1.0 + erf(v / std::f32::consts::SQRT_2)) / 16.0;
                }
            }
        }
        for j in 0..3 {
            let z = pooled[0] * lw[j] + pooled[1] * lw[3 + j] + lb[j];
            out.push(1.0 / (1.0 + (-z).exp()));
        }
    }
    out
}

#[test]
fn small_graph_runs_in_ort_and_matches_the_reference() {
    let w: Vec<f32> = (0..18).map(|i| ((i * 7 % 11) as f32 - 5.0) / 7.0).collect();
    let b = [0.1, -0.2];
    let (g, beta) = ([1.2, 0.8], [0.05, -0.1]);
    let lw = [0.5, -1.0, 0.3, 0.9, 0.2, -0.4];
    let lb = [0.0, 0.1, -0.2];

    let mut graph = Graph::new("test");
    let batch = Dim::Named("N".into());
    let x = graph.input("x", &[batch.clone(), Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(4)]);
    let c = graph.conv(&x, "conv", &w, &b, [2, 1, 3, 3], 1, 1, 1);
    let ln = graph.layer_norm_channels(&c, "norm", &g, &beta, 1e-6);
    let act = graph.gelu(&ln);
    let pooled = graph.node("GlobalAveragePool", &[&act], &[], None);
    let flat = graph.node("Flatten", &[&pooled], &[("axis", Attr::Int(1))], None);
    let logits = graph.linear(&flat, "head", &lw, &lb, 2, 3);
    graph.node("Sigmoid", &[&logits], &[], Some("y"));
    graph.output("y", &[batch, Dim::Fixed(3)]);
    let model = graph.into_model(&[("mousexray.schema".into(), "test".into())]);
    let bytes = encode(&model);

    let lib = init_runtime(None).unwrap();
    let mut session = ort::session::Session::builder(&lib.environment).unwrap().commit_from_memory(&bytes).unwrap();
    assert_eq!(session.metadata().unwrap().custom("mousexray.schema").as_deref(), Some("test"));
    let n = 3;
    let input: Vec<f32> = (0..n * 16).map(|i| ((i * 13 % 17) as f32 - 8.0) / 5.0).collect();
    let arr = ndarray::Array4::from_shape_vec((n, 1, 4, 4), input.clone()).unwrap();
    let outputs = session.run(ort::inputs!["x" => ort::value::TensorRef::from_array_view(&arr).unwrap()]).unwrap();
    let y = outputs["y"].try_extract_array::<f32>().unwrap();
    assert_eq!(y.shape(), &[n, 3]);
    let expect = reference(&input, n, &w, &b, &g, &beta, &lw, &lb);
    // It runs, but it is no classifier: the contract check names what is missing.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.onnx");
    std::fs::write(&file, &bytes).unwrap();
    let err = mousexray::inference::Classifier::load(&file, lib, Default::default()).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("small.onnx") && msg.contains("no input `dv`"), "{msg}");
    for (a, e) in y.iter().zip(&expect) {
        assert!((a - e).abs() < 1e-5, "{a} vs {e}");
    }
}
