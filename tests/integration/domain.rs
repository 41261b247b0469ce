//! The domain description end to end: a film unlike anything the bundled model was trained on
//! is flagged and a held-out phantom is not, in `predict`'s CSV and summary; a model written
//! before descriptions existed still loads and says "domain unknown"; `mousexray domain`
//! describes such a model without retraining it, refusing data it was not trained on unless told.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use mousexray::contract::{SCHEMA, io};
use mousexray::inference::{Classifier, init_runtime};
use mousexray::synth::{OutFormat, OutLayout, SynthConfig, generate};

const BUNDLED: &str = "models/cae_mv.onnx";

fn run(args: &[&OsStr]) -> (String, String) {
    let o = common::mousexray(args);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "{args:?}\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Rows of a predictions CSV by specimen id: (domain_score, in_domain, domain_dv, domain_lv).
fn domain_cells(csv_path: &Path) -> Vec<(String, [String; 4])> {
    let mut r = csv::Reader::from_path(csv_path).unwrap();
    let header = r.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let cols = ["domain_score", "in_domain", "domain_dv", "domain_lv"].map(col);
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[col("specimen_id")].to_owned(), cols.map(|c| rec[c].to_owned()))
        })
        .collect()
}

/// Three held-out phantoms (seed 2000, the evaluation seed) and a fourth specimen whose films
/// are one of them blurred far beyond any detector's resolution.
fn folder(dir: &Path) -> PathBuf {
    let data = dir.join("films");
    let cfg = SynthConfig { count: 3, seed: 2000, size: 384, format: OutFormat::Png16, ..Default::default() };
    generate(&data, &cfg, &|| {}).unwrap();
    let blurred = data.join("BLUR01");
    std::fs::create_dir_all(&blurred).unwrap();
    for view in ["DV", "LV"] {
        let src = image::open(data.join(format!("MX00000/{view}.png"))).unwrap().into_luma16();
        image::imageops::blur(&src, 14.0).save(blurred.join(format!("{view}.png"))).unwrap();
    }
    data
}

#[test]
fn a_far_out_film_is_flagged_and_held_out_phantoms_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = folder(dir.path());
    let out = dir.path().join("p.csv");
    let (_, stderr) = run(&[os("predict"), data.as_os_str(), os("--model"), os(BUNDLED), os("--out"), out.as_os_str()]);
    let rows = domain_cells(&out);
    assert_eq!(rows.len(), 4);
    for (id, [score, inside, dv, lv]) in &rows {
        let score: f32 = score.parse().unwrap();
        let per_view: Vec<f32> = [dv, lv].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(score, per_view.iter().copied().fold(0.0, f32::max), "{id}: the worse view's score");
        if id == "BLUR01" {
            assert_eq!(inside, "false", "{id}: {score}");
            assert!(score > 1.0);
        } else {
            assert_eq!(inside, "true", "{id}: {score}");
            assert!(score <= 1.0);
        }
    }
    assert!(stderr.contains("domain: 1 of 4 scored specimen(s) unlike the model's training data"), "{stderr}");
}

/// The bundled model as a schema 1 file: no feature outputs, no description.
fn schema_one(dir: &Path) -> PathBuf {
    use mousexray::onnx::features::{decode, encode, metadata, set_metadata};
    let mut proto = decode(&std::fs::read(BUNDLED).unwrap()).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let features = [io::FEATURES_DV, io::FEATURES_LV];
    graph.output.retain(|o| !features.contains(&o.name.as_str()));
    // Files described by `mousexray domain` expose the features through nodes of their own;
    // files from `train` name the values themselves: drop the one, rename the other.
    graph.node.retain(|n| !n.name.starts_with("expose_"));
    for node in &mut graph.node {
        for name in node.output.iter_mut().chain(node.input.iter_mut()) {
            if features.contains(&name.as_str()) {
                *name = format!("{name}_internal");
            }
        }
    }
    let mut m = metadata(&proto).unwrap();
    m.schema = 1;
    m.features = Vec::new();
    m.domain = None;
    set_metadata(&mut proto, &m).unwrap();
    let path = dir.join("old.onnx");
    std::fs::write(&path, encode(&proto)).unwrap();
    path
}

#[test]
fn an_old_model_loads_and_says_domain_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let old = schema_one(dir.path());
    let lib = init_runtime(None).unwrap();
    let mut model = Classifier::load(&old, lib, Default::default()).unwrap();
    assert_eq!(model.info.metadata.schema, 1);
    assert!(model.info.metadata.domain.is_none() && !model.info.has_features);
    let s = model.info.metadata.preprocess.size as usize;
    let out = model
        .run(&vec![0.0; s * s], &vec![0.0; s * s], &[mousexray::specimen::ByView::new(true, true)], false)
        .unwrap();
    assert!(out.domain.is_empty() && out.features.is_empty());

    let data = folder(dir.path());
    let csv_path = dir.path().join("old.csv");
    let (_, stderr) =
        run(&[os("predict"), data.as_os_str(), os("--model"), old.as_os_str(), os("--out"), csv_path.as_os_str()]);
    for (id, cells) in domain_cells(&csv_path) {
        assert_eq!(cells, [String::new(), String::new(), String::new(), String::new()], "{id}");
    }
    assert!(stderr.contains("domain: unknown for 4 specimen(s)"), "{stderr}");
    let (stdout, _) = run(&[os("doctor"), os("--model"), old.as_os_str()]);
    assert!(stdout.contains("domain    unknown"), "{stdout}");
    let (stdout, _) = run(&[os("doctor"), os("--model"), os(BUNDLED)]);
    assert!(stdout.contains("domain    mahalanobis-ledoit-wolf"), "{stdout}");
    assert!(stdout.contains("score 1 at distance"), "{stdout}");
}

#[test]
fn domain_describes_an_old_model_without_retraining_it() {
    let dir = tempfile::tempdir().unwrap();
    let old = schema_one(dir.path());
    let data = dir.path().join("train");
    // The old model's own split (a fifth for validation) must leave at least 50 of them.
    let cfg = SynthConfig {
        count: 300,
        seed: 5,
        size: 128,
        format: OutFormat::Png16,
        layout: OutLayout::Flat,
        ..Default::default()
    };
    generate(&data, &cfg, &|| {}).unwrap();
    let out = dir.path().join("described.onnx");
    let args =
        [os("domain"), os("--model"), old.as_os_str(), os("--data"), data.as_os_str(), os("--out"), out.as_os_str()];
    // Not the data the model was trained on: refused unless asked for.
    let refused = common::mousexray(&args);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is not the one") && stderr.contains("--other-data"), "{stderr}");
    let mut forced = args.to_vec();
    forced.push(os("--other-data"));
    // The report would overwrite the model: refused before anything is written.
    let json_out = dir.path().join("described.json");
    let mut to_json = forced.clone();
    to_json[6] = json_out.as_os_str();
    let refused = common::mousexray(&to_json);
    assert!(!refused.status.success() && !json_out.exists());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("must be written to a .onnx file"));
    // Too few specimens: the error names the data folder and the count.
    let few = dir.path().join("few");
    generate(&few, &SynthConfig { count: 20, ..cfg.clone() }, &|| {}).unwrap();
    let mut on_few = forced.clone();
    on_few[4] = few.as_os_str();
    let refused = common::mousexray(&on_few);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("few") && stderr.contains("at least 100"), "{stderr}");
    run(&forced);
    let lib = init_runtime(None).unwrap();
    let before = Classifier::load(&old, lib, Default::default()).unwrap();
    let mut after = Classifier::load(&out, lib, Default::default()).unwrap();
    assert_eq!(after.info.metadata.schema, SCHEMA);
    let domain = after.info.metadata.domain.clone().unwrap();
    assert_eq!(domain.train + domain.validation, 300);
    // The weights are untouched: the same scores for the same input.
    let mut before = before;
    let s = after.info.metadata.preprocess.size as usize;
    let x: Vec<f32> = (0..s * s).map(|i| (i % 7) as f32 / 7.0).collect();
    assert_eq!(
        before.predict(&x, &x, &[mousexray::specimen::ByView::new(true, true)]).unwrap(),
        after.predict(&x, &x, &[mousexray::specimen::ByView::new(true, true)]).unwrap()
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap()).unwrap();
    assert_eq!(report["domain"]["method"], "mahalanobis-ledoit-wolf");
}
