//! `mousexray train` end to end on a generated mini-dataset: it trains, checkpoints, resumes,
//! and writes an ONNX file under the model contract that ONNX Runtime loads with its metadata.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use mousexray::inference::init_runtime;
use mousexray::specimen::ByView;
use mousexray::synth::{OutFormat, OutLayout, SynthConfig, generate};

fn mousexray(args: &[&str]) -> (i32, String) {
    mousexray_in(Path::new("."), args)
}

/// Runs `mousexray args` with `cwd` as its working directory, given the ONNX Runtime library
/// this process finds (from the checkout's `.ort/lib` unless ORT_DYLIB_PATH names one).
fn mousexray_in(cwd: &Path, args: &[&str]) -> (i32, String) {
    let (library, _) = mousexray::inference::locate_library(None).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mousexray"))
        .current_dir(cwd)
        .env("ORT_DYLIB_PATH", std::fs::canonicalize(library).unwrap())
        .args(args)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Runs `mousexray args`, sends Ctrl-C (SIGINT) once a stderr line satisfies `at`, and returns
/// the exit code and everything it wrote to stderr.
fn interrupt_when(args: &[&str], at: impl Fn(&str) -> bool) -> (Option<i32>, String) {
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_mousexray")).args(args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if at(&line) {
            break;
        }
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    (child.wait().unwrap().code(), seen)
}

/// The phantoms these tests train on: `count` specimens of run `seed`, 96 px, flat layout,
/// 16-bit PNG.
fn small_phantoms(count: usize, seed: u64) -> SynthConfig {
    SynthConfig { count, seed, size: 96, format: OutFormat::Png16, layout: OutLayout::Flat, ..Default::default() }
}

/// `train` options for one quick epoch of a small CAE on phantom folders.
const ONE_TINY_EPOCH: [&str; 12] =
    ["--size", "32", "--epochs", "1", "--batch", "8", "--backbone", "cae", "--schedule", "joint", "--val-split", "0.4"];

/// An ONNX file's float initializers, in file order: dimensions and raw little-endian bytes.
fn float_initializers(bytes: &[u8]) -> Vec<(Vec<i64>, Vec<u8>)> {
    let model = mousexray::onnx::features::decode(bytes).unwrap();
    model.graph.unwrap().initializer.into_iter().filter(|t| t.data_type == 1).map(|t| (t.dims, t.raw_data)).collect()
}

#[test]
fn tiny_train_exports_a_contract_model_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Enough for a domain description on the split below (100 training, 50 validation per view).
    generate(&data, &small_phantoms(220, 3), &|| {}).unwrap();
    let out = dir.path().join("models/tiny.onnx");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    // Trained from outside the checkout: the commit comes from the build, not the working directory.
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            d,
            "--out",
            o,
            "--size",
            "32",
            "--epochs",
            "3",
            "--batch",
            "8",
            "--val-split",
            "0.4",
        ];
        args.extend_from_slice(extra);
        mousexray_in(dir.path(), &args)
    };
    let (code, stderr) = train(&["--schedule", "joint"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("epoch   3"), "{stderr}");
    assert!(out.is_file() && out.with_extension("json").is_file());
    assert!(out.with_extension("ckpt").join("state.json").is_file());

    // Resuming a finished run adds no epochs but still writes the model.
    let (code, stderr) = train(&["--schedule", "joint", "--resume"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming after epoch 3"), "{stderr}");
    // The second run read every image back from the first run's input cache.
    assert!(stderr.contains("input cache: 440 images read back, 0 preprocessed"), "{stderr}");

    let lib = init_runtime(None).unwrap();
    let model = mousexray::inference::Classifier::load(&out, lib, Default::default()).unwrap();
    assert_eq!(model.info.sha256.len(), 64);
    assert_eq!(model.info.metadata.thresholds.len(), 14);
    assert!(model.info.has_cam);
    // Training describes the model's domain from its own split.
    let domain = model.info.metadata.domain.as_ref().expect("trained models carry their domain description");
    assert_eq!(domain.views.len(), 2);
    // A ConvNeXt's features: its first stage's, then its last's (the domain description reads
    // both).
    assert_eq!(model.info.metadata.features, [32, 256]);
    assert!(domain.views.iter().all(|v| v.blocks.iter().map(|b| b.dim).eq([32, 256])));
    assert!(domain.train > domain.validation && domain.validation > 0, "{} / {}", domain.train, domain.validation);
    let session = ort::session::Session::builder(&lib.environment).unwrap().commit_from_file(&out).unwrap();
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    assert_eq!(inputs, ["dv", "lv", "views"]);
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    assert_eq!(outputs, ["l1", "l2", "l3", "cam_dv", "cam_lv", "features_dv", "features_lv"]);
    let meta = session.metadata().unwrap();
    for key in [
        "mousexray.schema",
        "mousexray.taxonomy",
        "mousexray.preprocess",
        "mousexray.thresholds",
        "mousexray.provenance",
        "mousexray.domain",
    ] {
        let v = meta.custom(key).unwrap_or_else(|| panic!("{key} missing"));
        if key != "mousexray.schema" {
            serde_json::from_str::<serde_json::Value>(&v).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }
    let spec: mousexray::imaging::PreprocessSpec =
        serde_json::from_str(&meta.custom("mousexray.preprocess").unwrap()).unwrap();
    assert_eq!(spec.size, 32);
    let provenance: serde_json::Value = serde_json::from_str(&meta.custom("mousexray.provenance").unwrap()).unwrap();
    assert_eq!(provenance["backbone"], "convnext");
    assert_eq!(provenance["training"]["options"]["lr"].as_f64(), Some(2e-4), "the ConvNeXt's default rate");
    assert_eq!(provenance["training"]["history"].as_array().unwrap().len(), 3);
    let head = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".to_owned(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    assert_eq!(provenance["git_commit"], head.as_str(), "the commit the binary was built from");

    // Evaluation through the app's inference code: every view mode, tables on disk.
    let report = dir.path().join("eval");
    let o2 = Command::new(env!("CARGO_BIN_EXE_mousexray"))
        .args(["eval", "--data", d, "--model", o, "--out", report.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o2.stdout);
    assert_eq!(o2.status.code(), Some(0), "{}", String::from_utf8_lossy(&o2.stderr));
    for mode in ["| DV |", "| LV |", "| DV+LV |"] {
        assert!(stdout.contains(mode), "{stdout}");
    }
    assert!(stdout.contains("## Out of domain"), "{stdout}");
    assert!(report.join("eval.md").is_file());
    let csv = std::fs::read_to_string(report.join("eval.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 14, "{csv}");
    let stem = std::path::Path::new(o).file_stem().unwrap().to_string_lossy().into_owned();
    for png in [format!("{stem}_roc.png"), format!("{stem}_classes_roc.png")] {
        let img = image::open(report.join(&png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        assert!(img.width() > img.height(), "{png} has its panels side by side");
    }

    // Files that break the contract are refused with the file named.
    let lib = init_runtime(None).unwrap();
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"not a model").unwrap();
    let err = mousexray::inference::Classifier::load(&junk, lib, Default::default()).err().unwrap();
    assert!(
        matches!(err, mousexray::inference::ModelError::NotOnnx { .. }) && err.to_string().contains("junk.onnx"),
        "{err}"
    );

    // Ctrl-C: the run stops after its batch, writes what it has, and exits 130 so that a script
    // does not take it for a finished run. Staged, it is stopped in the L1-only stage, so it says
    // no epoch trained every level yet.
    let stopped = dir.path().join("models/stopped.onnx");
    let args = ["train", "--data", d, "--out", stopped.to_str().unwrap(), "--size", "32", "--epochs", "500"];
    let args = [&args[..], &["--batch", "8", "--val-split", "0.4", "--schedule", "staged"]].concat();
    let (code, seen) = interrupt_when(&args, |l| l.contains("epoch   1 [L1]"));
    assert_eq!(code, Some(130), "{seen}");
    assert!(seen.contains("interrupted: ") && seen.contains("--resume"), "{seen}");
    assert!(seen.contains("(interrupted before one did)"), "{seen}");
    assert!(!seen.contains("epoch 500"), "{seen}");
    assert!(stopped.is_file(), "the last epoch's weights are written");

    // A different architecture may not resume this checkpoint.
    let (code, stderr) = train(&["--backbone", "cae", "--resume"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("another architecture"), "{stderr}");
}

#[test]
fn the_convnext_can_pretrain_by_reconstruction() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = small_phantoms(16, 5);
    generate(&data, &cfg, &|| {}).unwrap();
    let out = dir.path().join("pre.onnx");
    let train = |epochs: &str, extra: &[&str]| {
        let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
        // Six steps an epoch: the CAE's rate, so that three epochs show the error falling.
        let mut args =
            vec!["train", "--data", d, "--out", o, "--size", "32", "--batch", "8", "--epochs", epochs, "--lr", "2e-3"];
        args.extend_from_slice(extra);
        mousexray(&args)
    };
    // Pretraining alone (no epochs) still writes a checkpoint and a model.
    let (code, stderr) = train("0", &["--pretrain-epochs", "3"]);
    assert_eq!(code, 0, "{stderr}");
    let mse: Vec<f64> = stderr
        .lines()
        .filter_map(|l| l.split("reconstruction pretraining epoch").nth(1))
        .map(|rest| rest.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(mse.len(), 3, "{stderr}");
    assert!(mse[2] < mse[0], "the reconstruction error falls: {mse:?}");
    assert!(out.is_file());
    // Resuming keeps the pretrained backbone instead of pretraining again.
    let (code, stderr) = train("1", &["--pretrain-epochs", "3", "--resume"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming after epoch 0") && stderr.contains("epoch   1"), "{stderr}");
    assert!(!stderr.contains("reconstruction pretraining"), "{stderr}");
}

/// Unweighted hierarchy-masked cross-entropy of a model's probabilities on a dataset.
fn mean_bce(
    model: &std::path::Path,
    data: &std::path::Path,
    options: &mousexray::training::train::TrainOptions,
) -> f64 {
    use mousexray::training::loss::{Stage, targets_and_mask};
    let taxonomy = mousexray::taxonomy::Taxonomy::default();
    let parent = mousexray::training::onnx_import::read_parent(model, &burn::tensor::Device::flex()).unwrap();
    let (dataset, _) =
        mousexray::training::data::load_dataset(data, None, &options.preprocess, &taxonomy, None, false).unwrap();
    let samples: Vec<_> = dataset.samples.iter().collect();
    let probs = mousexray::training::train::predict(&parent.model, &samples, options, &taxonomy).unwrap();
    let (mut total, mut count) = (0.0f64, 0.0f64);
    for (p, s) in probs.iter().zip(&samples) {
        let (t, m) = targets_and_mask(&taxonomy, &s.labels, Stage::All);
        for ((p, t), m) in p.iter().zip(t).zip(m) {
            let p = f64::from(*p).clamp(1e-6, 1.0 - 1e-6);
            total -= f64::from(m) * (f64::from(t) * p.ln() + (1.0 - f64::from(t)) * (1.0 - p).ln());
            count += f64::from(m);
        }
    }
    total / count
}

/// `train --init` reads a model's weights back exactly (our current files and those written
/// before initializers were named by module path), refuses a file whose weights do not fit the
/// architecture it names, and fine-tuning lowers the loss on data the parent never saw.
#[test]
fn fine_tuning_starts_from_a_model_and_lowers_the_loss_on_new_data() {
    use mousexray::onnx::features::{decode, encode, metadata, set_metadata};
    use mousexray::training::onnx_export::export_model;
    use mousexray::training::onnx_import::read_parent;
    let device = burn::tensor::Device::flex();
    // Read back and written again, every weight is bit-identical: bundled files (a CAE, and a
    // ConvNeXt whose layer scales were folded into pw2), a fresh export (module-path names) and
    // the same export as files written before those names carry them (counter names).
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let synthetic = dir.path().join("synthetic.onnx");
    let config = mousexray::training::model::ModelConfig::convnext_small(14);
    std::fs::write(&synthetic, mousexray::training::package::synthetic_model(&config, 64, 0.5).unwrap()).unwrap();
    let counter = dir.path().join("counter.onnx");
    let mut proto = decode(&std::fs::read(&synthetic).unwrap()).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let mut renamed = std::collections::HashMap::new();
    for (k, t) in graph.initializer.iter_mut().enumerate().filter(|(_, t)| t.name.contains('.')) {
        let old = std::mem::replace(&mut t.name, format!("conv_w_{k}"));
        renamed.insert(old, t.name.clone());
    }
    for input in graph.node.iter_mut().flat_map(|n| n.input.iter_mut()) {
        if let Some(name) = renamed.get(input.as_str()) {
            input.clone_from(name);
        }
    }
    assert!(renamed.len() > 20, "only {} parameters renamed", renamed.len());
    std::fs::write(&counter, encode(&proto)).unwrap();
    let models =
        [manifest.join("models/cae_mv.onnx"), manifest.join("models/convnext_dv.onnx"), synthetic.clone(), counter];
    for path in models {
        let bytes = std::fs::read(&path).unwrap();
        let parent = read_parent(&path, &device).unwrap();
        let again = export_model(&parent.model, &parent.config, parent.metadata.preprocess.size, &[]).unwrap();
        assert!(
            float_initializers(&bytes) == float_initializers(&again),
            "{}: weights changed on the way back",
            path.display()
        );
        assert_eq!(parent.record.sha256, mousexray::fingerprint::sha256_hex(&bytes));
    }
    let named = decode(&std::fs::read(&synthetic).unwrap()).unwrap();
    assert!(named.graph.unwrap().initializer.iter().any(|t| t.name == "convnext.stages.2.blocks.1.pw1.weight"));

    // A file whose provenance names another architecture than its weights is refused, named.
    let mut proto = decode(&std::fs::read(&synthetic).unwrap()).unwrap();
    let mut meta = metadata(&proto).unwrap();
    meta.provenance
        .extra
        .insert("config".into(), serde_json::to_value(mousexray::training::model::ModelConfig::cae(14)).unwrap());
    set_metadata(&mut proto, &meta).unwrap();
    let liar = dir.path().join("liar.onnx");
    std::fs::write(&liar, encode(&proto)).unwrap();
    let err = read_parent(&liar, &device).err().unwrap().to_string();
    assert!(err.contains("liar.onnx") && err.contains("not the architecture"), "{err}");
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"not a model").unwrap();
    let err = format!("{:#}", read_parent(&junk, &device).err().unwrap());
    assert!(err.contains("junk.onnx") && err.contains("not an ONNX model"), "{err}");

    // A parent trained on one set, fine-tuned on another of different prevalence.
    let synth = |name: &str, seed: u64, prevalence: f64| {
        let path = dir.path().join(name);
        let cfg = SynthConfig {
            prevalence: mousexray::synth::Prevalence { abnormal: prevalence, ..Default::default() },
            ..small_phantoms(60, seed)
        };
        generate(&path, &cfg, &|| {}).unwrap();
        path
    };
    let (a, b) = (synth("a", 11, 0.2), synth("b", 12, 0.8));
    let parent = dir.path().join("parent.onnx");
    let child = dir.path().join("child.onnx");
    let common = ["--size", "32", "--batch", "8", "--val-split", "0.3", "--schedule", "joint", "--no-augment"];
    let run = |args: &[&str]| {
        let (code, stderr) = mousexray(&[args, &common[..]].concat());
        assert_eq!(code, 0, "{stderr}");
        stderr
    };
    run(&[
        "train",
        "--data",
        a.to_str().unwrap(),
        "--out",
        parent.to_str().unwrap(),
        "--backbone",
        "cae",
        "--epochs",
        "2",
    ]);
    let stderr = run(&[
        "train",
        "--data",
        b.to_str().unwrap(),
        "--out",
        child.to_str().unwrap(),
        "--init",
        parent.to_str().unwrap(),
        "--epochs",
        "4",
        "--lr",
        "1e-3",
    ]);
    assert!(stderr.contains("fine-tuning"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(child.with_extension("json")).unwrap()).unwrap();
    let options = &report["provenance"]["training"]["options"];
    let sha = mousexray::fingerprint::sha256_hex(&std::fs::read(&parent).unwrap());
    assert_eq!(options["init"]["sha256"].as_str(), Some(sha.as_str()), "the child names its parent");
    assert_eq!(options["pretrain_epochs"], 0, "a parent's backbone is not pretrained again");
    let options: mousexray::training::train::TrainOptions = serde_json::from_value(options.clone()).unwrap();
    let (before, after) = (mean_bce(&parent, &b, &options), mean_bce(&child, &b, &options));
    assert!(after < before, "loss on the new data: parent {before:.4}, fine-tuned {after:.4}");

    // The architecture is the parent's: a conflicting one is refused before any work.
    let (code, stderr) = mousexray(&[
        "train",
        "--data",
        b.to_str().unwrap(),
        "--out",
        child.to_str().unwrap(),
        "--init",
        parent.to_str().unwrap(),
        "--backbone",
        "convnext",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--backbone Convnext differs") && stderr.contains("parent.onnx"), "{stderr}");
    // The input size may grow (the weights are size-free), in whole strides of the backbone.
    let larger = dir.path().join("larger.onnx");
    let (b_, l_, p_) = (b.to_str().unwrap(), larger.to_str().unwrap(), parent.to_str().unwrap());
    let grow = |size: &str| {
        let args = ["train", "--data", b_, "--out", l_, "--init", p_, "--size", size, "--epochs", "1", "--batch", "8"];
        // The crop's frame may change too, and is recorded.
        let args = [&args[..], &["--crop-frame", "thick_extent"]].concat();
        mousexray(&[&args[..], &["--val-split", "0.3", "--schedule", "joint"]].concat())
    };
    let (code, stderr) = grow("60");
    assert_eq!(code, 1);
    assert!(stderr.contains("--size 60 must be a multiple of 16"), "{stderr}");
    let (code, stderr) = grow("64");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("trained at 32 px; it continues at 64 px"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(larger.with_extension("json")).unwrap()).unwrap();
    assert_eq!(report["provenance"]["training"]["options"]["preprocess"]["size"], 64);
    assert!(stderr.contains("crop frame core_extent; it continues with thick_extent"), "{stderr}");
    assert_eq!(report["provenance"]["training"]["options"]["preprocess"]["crop_frame"], "thick_extent");
    let parent_report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(parent.with_extension("json")).unwrap()).unwrap();
    assert_eq!(parent_report["provenance"]["training"]["options"]["preprocess"]["crop_frame"], "core_extent");
}

/// `mousexray improve`: a reviewed folder's decisions fine-tune a model; old and new are scored
/// on the held-out fifth; the new model is written beside the old, naming its parent.
#[test]
fn improve_fine_tunes_on_the_reviewers_decisions_and_compares_on_held_out_ones() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("reviewed");
    let cfg = SynthConfig {
        prevalence: mousexray::synth::Prevalence { abnormal: 0.5, ..Default::default() },
        ..small_phantoms(50, 21)
    };
    generate(&folder, &cfg, &|| {}).unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let parent = models.join("tiny.onnx");
    let config = mousexray::training::model::ModelConfig::cae(14);
    std::fs::write(&parent, mousexray::training::package::synthetic_model(&config, 32, 0.5).unwrap()).unwrap();
    let (f, p) = (folder.to_str().unwrap(), parent.to_str().unwrap());

    // Too few decisions: refused, naming the folder.
    mousexray::synth::write_review(&folder, 5).unwrap();
    let (code, stderr) = mousexray(&["improve", f, "--model", p, "--epochs", "1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("reviewed") && stderr.contains("5 reviewed specimens"), "{stderr}");

    mousexray::synth::write_review(&folder, 40).unwrap();
    let (code, stderr) = mousexray(&["improve", f, "--model", p, "--hold-out", "0.9"]);
    assert_eq!(code, 2, "a hold-out outside 0.05..=0.5 is a usage error: {stderr}");
    let o = Command::new(env!("CARGO_BIN_EXE_mousexray"))
        .args(["improve", f, "--model", p, "--epochs", "2"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("| tiny.onnx |") && stdout.contains("reviewer's calls right"), "{stdout}");
    let held: usize = stdout.split("Held out: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((4..=14).contains(&held), "about a fifth of 40 held out: {stdout}");
    let written: Vec<_> = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tiny-improved-") && n.ends_with(".onnx"))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let child = models.join(&written[0]);
    let lib = init_runtime(None).unwrap();
    let model = mousexray::inference::Classifier::load(&child, lib, Default::default()).unwrap();
    let training = model.info.metadata.provenance.training.as_ref().unwrap();
    let sha = mousexray::fingerprint::sha256_hex(&std::fs::read(&parent).unwrap());
    assert_eq!(training.extra["options"]["init"]["sha256"].as_str(), Some(sha.as_str()));
    assert!(training.extra["counts"][1].as_u64().unwrap() > 0, "the fine-tuning run keeps its own validation split");

    // `train --labels-from-review` learns from the same decisions: the 40 reviewed specimens.
    let out = dir.path().join("from_review.onnx");
    let (code, stderr) = mousexray(&[
        "train",
        "--data",
        f,
        "--labels-from-review",
        f,
        "--out",
        out.to_str().unwrap(),
        "--size",
        "32",
        "--epochs",
        "1",
        "--schedule",
        "joint",
        "--backbone",
        "cae",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("40 specimens with a decision") && stderr.contains(": 40 labelled specimens"), "{stderr}");
    assert_eq!(
        training.extra["counts"][0].as_u64().unwrap() + training.extra["counts"][1].as_u64().unwrap(),
        40 - held as u64
    );
}

/// `train --device gpu` (burn's wgpu backend; in CI Mesa's software Vulkan, lavapipe, which
/// .ci/run installs) follows the CPU's loss curve from the same start, ends on the same weights
/// within float tolerance, and writes a model ONNX Runtime runs.
#[test]
fn gpu_training_follows_the_cpu_loss_curve() {
    if let Err(e) = mousexray::training::device::TrainDevice::Gpu.device() {
        assert!(std::env::var_os("CI").is_none(), "CI must have a Vulkan adapter (lavapipe): {e}");
        eprintln!("skipped: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = small_phantoms(40, 31);
    generate(&data, &cfg, &|| {}).unwrap();
    // One start for both: fresh weights come from each backend's own random stream.
    let parent = dir.path().join("parent.onnx");
    std::fs::write(
        &parent,
        mousexray::training::package::synthetic_model(
            &mousexray::training::model::ModelConfig::convnext_small(14),
            32,
            0.5,
        )
        .unwrap(),
    )
    .unwrap();
    let run = |device: &str| {
        let out = dir.path().join(format!("{device}.onnx"));
        let (code, stderr) = mousexray(&[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--init",
            parent.to_str().unwrap(),
            "--epochs",
            "3",
            "--batch",
            "8",
            "--schedule",
            "joint",
            "--no-augment",
            "--lr",
            "1e-3",
            "--device",
            device,
        ]);
        assert_eq!(code, 0, "{stderr}");
        if device == "gpu" {
            // The run names the GPUs it could use, and warns when all of them are software.
            let (adapters, software) = mousexray::training::device::gpu_adapters();
            assert!(stderr.contains(&format!("GPUs found: {}", adapters[0])), "{stderr}");
            assert_eq!(stderr.contains("software rasteriser running on the CPU"), software, "{stderr}");
        }
        let losses: Vec<f64> = stderr
            .lines()
            .filter(|l| l.starts_with("epoch"))
            .map(|l| l.split("loss ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(losses.len(), 3, "{stderr}");
        (out, losses)
    };
    let ((cpu, cpu_losses), (gpu, gpu_losses)) = (run("cpu"), run("gpu"));
    for (c, g) in cpu_losses.iter().zip(&gpu_losses) {
        assert!((c - g).abs() < 2e-3, "loss curves: CPU {cpu_losses:?}, GPU {gpu_losses:?}");
    }
    let weights = |p: &std::path::Path| {
        float_initializers(&std::fs::read(p).unwrap())
            .into_iter()
            .flat_map(|(_, raw)| {
                raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect::<Vec<_>>()
            })
            .collect::<Vec<f32>>()
    };
    let (wc, wg) = (weights(&cpu), weights(&gpu));
    assert_eq!(wc.len(), wg.len());
    let worst = wc.iter().zip(&wg).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "largest weight difference after three epochs: {worst}");
    // Parity: the GPU-trained file, read back into burn on the CPU and run by ONNX Runtime,
    // gives the same probabilities.
    let lib = init_runtime(None).unwrap();
    let mut model = mousexray::inference::Classifier::load(&gpu, lib, Default::default()).unwrap();
    assert!(model.info.has_cam);
    let plain = burn::tensor::Device::flex();
    let parent = mousexray::training::onnx_import::read_parent(&gpu, &plain).unwrap();
    let (n, s) = (3, model.info.metadata.preprocess.size as usize);
    let img =
        |k: usize| -> Vec<f32> { (0..n * s * s).map(|i| ((i * 37 + k * 11) % 101) as f32 / 50.0 - 1.0).collect() };
    let (dv, lv) = (img(1), img(2));
    let presence = [ByView::new(true, true), ByView::new(true, false), ByView::new(false, true)];
    let views: Vec<f32> = presence.iter().flat_map(|p| p.into_array().map(|b| f32::from(u8::from(b)))).collect();
    let t4 = |v: &Vec<f32>| {
        burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(v.clone(), [n, 1, s, s]), &plain)
    };
    let tv = burn::tensor::Tensor::<2>::from_data(burn::tensor::TensorData::new(views, [n, 2]), &plain);
    let logits: Vec<f32> = parent
        .model
        .forward_full(t4(&dv), t4(&lv), tv, mousexray::training::model::BOTH_VIEWS)
        .logits
        .into_data()
        .try_to_vec()
        .unwrap();
    let probs = model.predict(&dv, &lv, &presence).unwrap();
    let k = probs[0].len();
    let worst =
        (0..n * k).map(|i| (probs[i / k][i % k] - 1.0 / (1.0 + (-logits[i]).exp())).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "ONNX Runtime and burn differ by {worst} on the GPU-trained model");
}

/// `train --posture-weight` on a folder from `synth --posture-pairs`: every pair is matched (none
/// skipped), the term is trained and reported with the validation pairs' gap, and the report
/// records the weight.
#[test]
fn posture_pairs_train_with_their_term() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    generate(&a, &small_phantoms(80, 51), &|| {}).unwrap();
    let posture = SynthConfig {
        count: 60,
        posture_pairs: true,
        vary_animal: true,
        id_prefix: Some("PS".into()),
        ..small_phantoms(0, 52)
    };
    generate(&b, &posture, &|| {}).unwrap();
    let out = dir.path().join("posture.onnx");
    let (a_, b_, o) = (a.to_str().unwrap(), b.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["train", "--out", o, "--data", a_, "--data", b_];
    args.extend(ONE_TINY_EPOCH);
    args.extend(["--pretrain-epochs", "0", "--posture-weight", "100"]);
    let (code, stderr) = mousexray(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("skipped"), "{stderr}");
    assert!(stderr.contains("posture: loss ") && stderr.contains("val gap "), "{stderr}");
    let report = std::fs::read_to_string(out.with_extension("json")).unwrap();
    assert!(report.contains("\"posture_loss\"") && report.contains("\"posture_weight\": 100.0"), "{report}");
}

/// `train --data A --data B`: several folders train as one (ids unique across them, each with
/// its own labels.csv), and `domain` describes the model from the same folders.
#[test]
fn several_folders_train_as_one_and_repeated_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    // Enough for a domain description: 100 training and 50 validation specimens per view.
    let base = small_phantoms(150, 41);
    generate(&a, &base, &|| {}).unwrap();
    // Pairs are named PR..., the ordinary phantoms MX...: two folders with distinct ids.
    generate(&b, &SynthConfig { count: 50, seed: 42, pairs: true, ..base.clone() }, &|| {}).unwrap();
    let out = dir.path().join("both.onnx");
    let (a_, b_, o) = (a.to_str().unwrap(), b.to_str().unwrap(), out.to_str().unwrap());
    let train = |data: &[&str], extra: &[&str]| {
        let mut args = vec!["train", "--out", o];
        for d in data {
            args.extend(["--data", d]);
        }
        args.extend(ONE_TINY_EPOCH);
        args.extend(extra);
        mousexray(&args)
    };
    let (code, stderr) = train(&[a_, b_], &["--pretrain-epochs", "0"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("{a_}, {b_}: 250 labelled specimens")), "{stderr}");
    // The second folder's pairs.csv is read: the pairs' ranking loss is trained and reported,
    // with the share of validation pairs in which the finding's probability rose.
    assert!(stderr.contains("pairs: loss ") && stderr.contains("val raised "), "{stderr}");
    let report = std::fs::read_to_string(out.with_extension("json")).unwrap();
    assert!(report.contains("\"pair_loss\"") && report.contains("\"pair_weight\": 1.0"), "{report}");

    // `domain` reads the same two folders as the same dataset, and one alone as another.
    let described = dir.path().join("described.onnx");
    let d = described.to_str().unwrap();
    let (code, stderr) = mousexray(&["domain", "--model", o, "--data", a_, "--data", b_, "--out", d]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr) = mousexray(&["domain", "--model", o, "--data", a_, "--out", d]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not the one") && stderr.contains("--other-data"), "{stderr}");

    // The same ids in two folders: refused, naming both.
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&a).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
    }
    let (code, stderr) = train(&[a_, copy.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("MX00000 is in both") && stderr.contains(a_) && stderr.contains("copy"), "{stderr}");
    assert!(stderr.contains("synth --id-prefix"), "{stderr}");
    // The same seed generated again under another prefix trains beside the first.
    let other = dir.path().join("other");
    generate(&other, &SynthConfig { count: 20, id_prefix: Some("PL".into()), ..base.clone() }, &|| {}).unwrap();
    let labels = std::fs::read_to_string(other.join("labels.csv")).unwrap();
    assert!(labels.lines().skip(1).all(|l| l.starts_with("PL000")), "{labels}");
    let (code, stderr) = train(&[a_, other.to_str().unwrap()], &["--pretrain-epochs", "0"]);
    assert_eq!(code, 0, "{stderr}");
    // The same folder twice is a usage error, and so each folder must bring its labels.
    let (code, stderr) = train(&[a_, a_], &[]);
    assert_eq!(code, 2, "{stderr}");
    let unlabelled = dir.path().join("unlabelled");
    std::fs::create_dir_all(&unlabelled).unwrap();
    let (code, stderr) = train(&[a_, unlabelled.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no labels.csv (with several --data folders, each needs its own)"), "{stderr}");
    // One labels file cannot serve several folders.
    let labels = a.join("labels.csv");
    let (code, stderr) = train(&[a_, b_], &["--labels", labels.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
}

/// A run stopped during reconstruction pretraining resumes within it: each pretraining epoch is
/// checkpointed (encoder, decoder and optimizer), so a long pretraining on a large archive is
/// not lost to a time limit.
#[test]
fn a_run_stopped_during_pretraining_resumes_after_its_last_pretraining_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&data, &small_phantoms(120, 51), &|| {}).unwrap();
    let out = dir.path().join("pre.onnx");
    let args = [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backbone",
        "cae",
        "--size",
        "32",
        "--pretrain-epochs",
        "60",
        "--epochs",
        "1",
        "--batch",
        "8",
        "--schedule",
        "joint",
    ];
    let (code, seen) = interrupt_when(&args, |l| l.starts_with("reconstruction pretraining epoch 1:"));
    assert_eq!(code, Some(130), "{seen}");
    // A head that never trained is not written as a model.
    assert!(seen.contains("nothing written") && !out.exists(), "{seen}");
    let epoch_of = |l: &str| -> Option<usize> {
        l.strip_prefix("reconstruction pretraining epoch ")?.split(':').next()?.parse().ok()
    };
    let last = seen.lines().filter_map(epoch_of).max().unwrap();
    assert!(last < 60, "stopped within pretraining: {seen}");

    let (code, stderr) = mousexray(&[&args[..], &["--resume"]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("resuming reconstruction pretraining after epoch {last}")), "{stderr}");
    assert!(!stderr.contains("resuming after epoch 0"), "{stderr}");
    let resumed: Vec<usize> = stderr.lines().filter_map(epoch_of).collect();
    assert_eq!(resumed, ((last + 1)..=60).collect::<Vec<_>>(), "{stderr}");
    assert!(stderr.contains("epoch   1 [All]"), "then the classifier trains: {stderr}");
}

/// Generates 16 phantoms of run `seed` into `data` and trains a CAE at 32 px on them for
/// `epochs` epochs (no pretraining) with `extra` options, writing `out`: the exit code and stderr.
fn train_tiny_cae(data: &Path, out: &Path, seed: u64, epochs: usize, extra: &[&str]) -> (i32, String) {
    generate(data, &small_phantoms(16, seed), &|| {}).unwrap();
    let epochs = epochs.to_string();
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let tiny = ["--size", "32", "--batch", "8", "--epochs", &epochs, "--pretrain-epochs", "0", "--backbone", "cae"];
    mousexray(&[&["train", "--data", d, "--out", o][..], &tiny[..], extra].concat())
}

#[test]
fn an_antialiased_model_trains_exports_and_fine_tunes_as_one() {
    use mousexray::training::onnx_import::read_parent;
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("aa.onnx"));
    let (code, stderr) = train_tiny_cae(&data, &out, 9, 1, &["--antialias"]);
    assert_eq!(code, 0, "{stderr}");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    // The architecture travels in the provenance, and the filter in the graph as a constant.
    let parent = read_parent(&out, &burn::tensor::Device::flex()).unwrap();
    assert!(parent.config.antialias);
    let graph = mousexray::onnx::features::decode(&std::fs::read(&out).unwrap()).unwrap().graph.unwrap();
    let blurs = graph.initializer.iter().filter(|t| t.name.starts_with("blur")).count();
    assert_eq!(blurs, 4, "one low-pass filter before each of the CAE's four strided convolutions");
    // A fine-tuning keeps the parent's filter without being asked again.
    let child = dir.path().join("child.onnx");
    let (code, stderr) =
        mousexray(&["train", "--data", d, "--out", child.to_str().unwrap(), "--init", o, "--epochs", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(read_parent(&child, &burn::tensor::Device::flex()).unwrap().config.antialias);
    // A parent without the filter cannot grow one: its weights were learned without it.
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/models/cae_mv.onnx");
    let (code, stderr) = mousexray(&["train", "--data", d, "--out", o, "--init", bundled, "--antialias"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--antialias") && stderr.contains("cae_mv.onnx"), "{stderr}");
}

#[test]
fn stability_training_reports_its_term_each_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("stable.onnx"));
    let (code, stderr) = train_tiny_cae(&data, &out, 10, 2, &["--stability-weight", "10"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("  stability: ")).count(), 2, "{stderr}");
    // The report keeps the term per epoch and the weight among the options.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stable.json")).unwrap()).unwrap();
    let training = &report["provenance"]["training"];
    assert_eq!(training["options"]["stability_weight"], 10.0);
    let terms: Vec<f64> =
        training["history"].as_array().unwrap().iter().map(|e| e["stability_loss"].as_f64().unwrap()).collect();
    assert!(terms.len() == 2 && terms.iter().all(|t| *t > 0.0), "a nudged input moves the outputs: {terms:?}");
}
