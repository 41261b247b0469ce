//! `mousexray doctor`: what runs the models here, and why.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ort::session::Session;

use crate::inference::device::{plan, preload_cuda_from_env, register_one, short_reason, tensorrt_cache_dir};
use crate::inference::{Classifier, Device, EpStatus, Provider, SessionOptions, init_runtime, locate_model};

/// Arguments of `mousexray doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Model to check (default: the app's default model, if found).
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// Execution provider to check the model on.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    pub device: Device,
    /// ONNX Runtime intra-op threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Runs the command: prints the report, fails only when ONNX Runtime cannot be loaded.
pub fn run(args: &DoctorArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    let mut out = String::new();
    let _ = writeln!(out, "mousexray {}", env!("CARGO_PKG_VERSION"));
    let lib = match init_runtime(ort_lib) {
        Ok(lib) => lib,
        Err(e) => {
            print!("{out}");
            return Err(e.into());
        }
    };
    let _ = writeln!(out, "\nONNX Runtime\n  library   {} (found via {})", lib.path.display(), lib.source);
    let _ = writeln!(out, "  build     {}", lib.build_info);

    let _ = writeln!(out, "\nExecution providers (registered one by one on a test session)");
    for p in Provider::ALL {
        let line = if p == Provider::Cpu {
            "always available".to_owned()
        } else if !p.compiled() {
            "not compiled into this build (platform-specific)".to_owned()
        } else if !p.in_library() {
            "not in this ONNX Runtime library (the GPU build comes from `make setup-gpu`)".to_owned()
        } else {
            match try_register(lib, p) {
                Ok(()) => "registers".to_owned(),
                Err(why) => format!("in the library, but does not register: {}", short_reason(&why)),
            }
        };
        let _ = writeln!(out, "  {:<9} {line}", p.label());
    }
    if let Some(dir) = tensorrt_cache_dir() {
        let _ = writeln!(out, "  TensorRT engine cache: {}", dir.display());
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let _ = writeln!(
        out,
        "\nThreads\n  cores {cores}; intra-op threads {} (0 = one per physical core); spinning on for batch \
         commands, off in the GUI",
        args.threads
    );
    let _ = writeln!(out, "  --device {} tries: {}", args.device, tried(args.device));

    match locate_model(args.model.as_deref()) {
        Err(why) => {
            let _ = writeln!(out, "\nModel\n  {}", why.replace('\n', "\n  "));
            if args.model.is_some() {
                print!("{out}");
                anyhow::bail!("{why}");
            }
        }
        Ok(path) => model_section(&mut out, lib, &path, args)?,
    }
    print!("{out}");
    Ok(())
}

fn tried(device: Device) -> String {
    let mut names: Vec<&str> = plan(device).iter().map(|p| p.label()).collect();
    names.push("CPU");
    names.join(", then ")
}

/// Registers one provider on a fresh builder.
fn try_register(lib: &crate::inference::OrtLibrary, p: Provider) -> Result<(), String> {
    let mut builder = Session::builder(&lib.environment).map_err(|e| e.to_string())?;
    let wants_cuda = matches!(p, Provider::Cuda | Provider::TensorRt);
    let preload = if wants_cuda { preload_cuda_from_env() } else { None };
    match register_one(&mut builder, p, preload.as_deref()) {
        EpStatus::Failed(why) => Err(why),
        EpStatus::Registered | EpStatus::NotNeeded => Ok(()),
    }
}

fn model_section(
    out: &mut String,
    lib: &crate::inference::OrtLibrary,
    path: &Path,
    args: &DoctorArgs,
) -> anyhow::Result<()> {
    let prefix = std::env::temp_dir().join(format!("mousexray-doctor-{}", std::process::id()));
    let options = SessionOptions { threads: args.threads, spinning: false, device: args.device, profile: Some(prefix) };
    let mut model = match Classifier::load(path, lib, options) {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(out, "\nModel\n  {e}");
            print!("{out}");
            return Err(e.into());
        }
    };
    let info = &model.info;
    let p = &info.metadata.provenance;
    let _ = writeln!(out, "\nModel\n  file      {}\n  sha256    {}", path.display(), info.sha256);
    let _ = writeln!(
        out,
        "  contract  schema {} (this build reads {} to {}), taxonomy `{}` ({} nodes), input {} px, views {}, saliency {}, weights {}",
        info.metadata.schema,
        crate::contract::OLDEST_SCHEMA,
        crate::contract::SCHEMA,
        info.metadata.taxonomy.name,
        info.metadata.taxonomy.nodes.len(),
        info.metadata.preprocess.size,
        p.views_label(),
        if info.has_cam { "CAM outputs" } else { "occlusion fallback (no CAM outputs)" },
        info.precision()
    );
    let history = p.training.as_ref().map_or(0, |t| t.history.len());
    let best = p.training.as_ref().and_then(|t| t.best());
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.3}"));
    let _ = writeln!(
        out,
        "  trained   backbone {}, {history} epochs (best {}), validation AUC L1 {} L2 {} L3 {}, {}",
        if p.backbone.is_empty() { "?" } else { &p.backbone },
        best.map_or(0, |b| b.epoch),
        fmt(best.and_then(|b| b.val.l1)),
        fmt(best.and_then(|b| b.val.l2)),
        fmt(best.and_then(|b| b.val.l3)),
        if p.date.is_empty() { "date unknown" } else { &p.date }
    );
    match &info.metadata.domain {
        Some(d) => {
            let mut lines = crate::domain::summary_lines(d).into_iter();
            let _ = writeln!(out, "  domain    {}", lines.next().unwrap_or_default());
            for line in lines {
                let _ = writeln!(out, "            {line}");
            }
        }
        None => {
            let _ = writeln!(
                out,
                "  domain    unknown: the model carries no domain description (add one with `mousexray domain`)"
            );
        }
    }
    let _ = writeln!(out, "  device    {}", model.ep.summary());

    // One profiled run shows where ONNX Runtime actually placed the nodes.
    let s = model.info.metadata.preprocess.size as usize;
    let bg = model.info.metadata.preprocess.background();
    let t = std::time::Instant::now();
    model.predict(&vec![bg; s * s], &vec![bg; s * s], &[crate::specimen::ByView::new(true, true)])?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let profile = model.end_profiling()?;
    let placement = node_placement(&profile);
    let _ = std::fs::remove_file(&profile);
    match placement {
        Ok(counts) if !counts.is_empty() => {
            let list: Vec<String> = counts.iter().map(|(k, v)| format!("{v} on {k}")).collect();
            let _ = writeln!(out, "  nodes     {} (one profiled run, {ms:.1} ms)", list.join(", "));
        }
        Ok(_) => {
            let _ = writeln!(out, "  nodes     the profile listed no node runs");
        }
        Err(e) => {
            let _ = writeln!(out, "  nodes     profile unreadable: {e}");
        }
    }
    Ok(())
}

/// Node runs per execution provider in an ONNX Runtime profile.
pub fn node_placement(profile: &Path) -> anyhow::Result<BTreeMap<String, usize>> {
    let text = std::fs::read_to_string(profile)?;
    let events: Vec<serde_json::Value> = serde_json::from_str(&text)?;
    let mut counts = BTreeMap::new();
    for e in &events {
        let is_node =
            e["cat"].as_str() == Some("Node") && e["name"].as_str().is_some_and(|n| n.ends_with("_kernel_time"));
        if let (true, Some(provider)) = (is_node, e["args"]["provider"].as_str()) {
            *counts.entry(provider.to_owned()).or_insert(0) += 1;
        }
    }
    Ok(counts)
}
