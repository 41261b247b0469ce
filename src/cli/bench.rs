//! `mousexray bench`: inference throughput of our engine, session-only and end to end, against
//! Python's onnxruntime on the same file, in one table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;

use crate::inference::pipeline::{PipelineOptions, model_views, prepare, run};
use crate::inference::{Classifier, Device, SessionOptions, init_runtime, locate_model};
use crate::specimen::scan;
use crate::training::model::ModelConfig;
use crate::training::package::synthetic_model;

/// Architectures `--synthetic` builds with random weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyntheticArch {
    /// ConvNeXt-T (96/192/384/768, depths 3/3/9/3): the paper's backbone, for GPU figures.
    ConvnextT,
    /// The small ConvNeXt the app ships.
    ConvnextSmall,
    /// The CAE encoder.
    Cae,
}

/// Arguments of `mousexray bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Model to measure (default: the app's default model).
    #[arg(long, value_name = "ONNX", conflicts_with = "synthetic")]
    pub model: Option<PathBuf>,
    /// Measure a random-weight model of this architecture instead (built with our ONNX writer).
    #[arg(long, value_enum)]
    pub synthetic: Option<SyntheticArch>,
    /// Input side for --synthetic.
    #[arg(long, default_value_t = 224)]
    pub size: u32,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub batch: Vec<usize>,
    /// Execution provider.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    pub device: Device,
    /// ONNX Runtime intra-op threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Seconds to measure each configuration (after one warm-up run).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Folder for the end-to-end measurement (default: 64 phantoms generated in a temporary folder).
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<PathBuf>,
    /// Skip the end-to-end measurement.
    #[arg(long)]
    pub session_only: bool,
    /// Python interpreter for the onnxruntime reference (scripts/bench_reference.py).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Skip the Python reference.
    #[arg(long)]
    pub no_python: bool,
    /// Instead of inference: the review window's responsiveness (headless: layout and
    /// tessellation, real decoding threads) on a folder of N specimens built from one specimen's
    /// images (the sample's first, or --folder's first), against 100 specimens in the same run;
    /// --model (default lookup) runs the inference phase.
    #[arg(long, value_name = "N", conflicts_with = "synthetic")]
    pub gui: Option<usize>,
    /// Measure the model's float16 copy (see `mousexray fp16`), converted in memory.
    #[arg(long, conflicts_with = "gui")]
    pub fp16: bool,
}

/// One measured configuration.
struct Row {
    what: String,
    batch: usize,
    per_s: Option<f64>,
    note: String,
}

/// Runs the command.
pub fn run_bench(args: &BenchArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    if let Some(n) = args.gui {
        return gui_bench(n, args.model.as_deref(), ort_lib, args.folder.as_deref());
    }
    let lib = init_runtime(ort_lib)?;
    let tmp = tempdir()?;
    let model_path = match args.synthetic {
        Some(arch) => {
            let config = match arch {
                SyntheticArch::ConvnextT => ModelConfig::convnext_t(14),
                SyntheticArch::ConvnextSmall => ModelConfig::convnext_small(14),
                SyntheticArch::Cae => ModelConfig::cae(14),
            };
            let path = tmp.join(format!("synthetic_{arch:?}_{}.onnx", args.size).to_lowercase());
            let t = Instant::now();
            std::fs::write(&path, synthetic_model(&config, args.size, 0.5)?)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            eprintln!("built {} in {:.1} s", path.display(), t.elapsed().as_secs_f64());
            path
        }
        None => locate_model(args.model.as_deref()).map_err(anyhow::Error::msg)?,
    };
    let model_path = if args.fp16 {
        let path = tmp.join("model.fp16.onnx");
        crate::onnx::fp16::convert_file(&model_path, &path)?;
        eprintln!("measuring the float16 copy of {}", model_path.display());
        path
    } else {
        model_path
    };
    let options = SessionOptions { threads: args.threads, spinning: true, device: args.device, profile: None };
    let t = Instant::now();
    let mut model = Classifier::load(&model_path, lib, options.clone())?;
    let load_s = t.elapsed().as_secs_f64();
    let device = model.ep.summary();
    let size = model.info.metadata.preprocess.size as usize;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    let mut rows = Vec::new();
    for &b in &args.batch {
        let b = b.max(1);
        let per_s = session_throughput(&mut model, b, args.seconds)?;
        rows.push(Row { what: "session (ours)".into(), batch: b, per_s: Some(per_s), note: String::new() });
        if !args.no_python {
            let (py, note) = python_reference(args, &model_path, b);
            rows.push(Row { what: "session (Python onnxruntime)".into(), batch: b, per_s: py, note });
        }
    }
    let mut rss_note = String::new();
    if !args.session_only {
        let folder = match &args.folder {
            Some(f) => f.clone(),
            None => {
                let dir = tmp.join("phantoms");
                let config =
                    crate::synth::SynthConfig { count: 64, seed: 7, size: 512, ..crate::synth::SynthConfig::default() };
                crate::synth::generate(&dir, &config, &|| {})?;
                dir
            }
        };
        let specimens = scan(&folder)?.specimens;
        // Decode and preprocess alone, on one thread: the CPU the pipeline adds per specimen.
        let (spec, wanted) = (model.info.metadata.preprocess.clone(), model_views(&model));
        let (t, mut prepared) = (Instant::now(), 0usize);
        while prepared == 0 || (t.elapsed().as_secs_f64() < args.seconds && !specimens.is_empty()) {
            for s in &specimens {
                let _ = prepare(s, &spec, wanted);
            }
            prepared += specimens.len().max(1);
        }
        rows.push(Row {
            what: format!("decode + preprocess only, 1 thread ({} specimens)", specimens.len()),
            batch: 0,
            per_s: Some(prepared as f64 / t.elapsed().as_secs_f64()),
            note: "no model".into(),
        });
        // ONNX Runtime's idle threads spin for a while after each run: good for the session
        // alone, but on a small machine they take cores from decoding. Measure both.
        let mut quiet = Classifier::load(&model_path, lib, SessionOptions { spinning: false, ..options.clone() })?;
        for &b in &args.batch {
            let b = b.max(1);
            for (spinning, m) in [(true, &mut model), (false, &mut quiet)] {
                let (per_s, rss) = end_to_end(m, &specimens, b, args.seconds)?;
                rss_note = rss;
                rows.push(Row {
                    what: format!("end to end ({} specimens)", specimens.len()),
                    batch: b,
                    per_s: Some(per_s),
                    note: format!("ORT threads spinning {}", if spinning { "on" } else { "off" }),
                });
            }
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "model {} ({} px), device {device}, {cores} cores, ORT threads {}, load {load_s:.2} s",
        model_path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        size,
        args.threads
    );
    let _ =
        writeln!(out, "\n| measurement | batch | specimens/s | vs ours, session | note |\n|---|---:|---:|---:|---|");
    for r in &rows {
        let ours = rows.iter().find(|x| x.batch == r.batch && x.what == "session (ours)").and_then(|x| x.per_s);
        let ratio = match (r.per_s, ours) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {ratio} | {} |",
            r.what,
            if r.batch == 0 { "-".to_owned() } else { r.batch.to_string() },
            r.per_s.map_or("-".into(), |v| format!("{v:.1}")),
            r.note
        );
    }
    if !rss_note.is_empty() {
        let _ = writeln!(out, "\nresident memory during the last end-to-end run: {rss_note}");
    }
    print!("{out}");
    Ok(())
}

/// A scratch folder removed when dropped (a benchmark folder can hold 100,000 files).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> anyhow::Result<Scratch> {
    let dir = std::env::temp_dir().join(format!("mousexray-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    Ok(Scratch(dir))
}

/// Specimens per second of `model.run` alone on a fixed batch of background-and-noise inputs.
fn session_throughput(model: &mut Classifier, batch: usize, seconds: f64) -> anyhow::Result<f64> {
    let s = model.info.metadata.preprocess.size as usize;
    let mut rng = crate::synth::Rng::new(1, batch as u64);
    let input: Vec<f32> = (0..batch * s * s).map(|_| rng.gaussian_f32()).collect();
    let views = vec![crate::specimen::ByView::new(true, true); batch];
    model.predict(&input, &input, &views)?;
    let (mut runs, t) = (0usize, Instant::now());
    while runs < 3 || t.elapsed().as_secs_f64() < seconds {
        model.predict(&input, &input, &views)?;
        runs += 1;
    }
    Ok((runs * batch) as f64 / t.elapsed().as_secs_f64())
}

/// Specimens per second through the whole pipeline (decode, preprocess, infer, ordered results)
/// and resident memory at the quarters of the first pass. Whole passes over the folder repeat
/// until `seconds` have gone by (at least one), so a small folder still gives a steady figure.
fn end_to_end(
    model: &mut Classifier,
    specimens: &[crate::specimen::Specimen],
    batch: usize,
    seconds: f64,
) -> anyhow::Result<(f64, String)> {
    let options = PipelineOptions { batch, ..Default::default() };
    let cancel = AtomicBool::new(false);
    let n = specimens.len().max(1);
    let mut marks: Vec<String> = Vec::new();
    let mut total = 0usize;
    let t = Instant::now();
    loop {
        let mut done = 0usize;
        let first = total == 0;
        run(model, specimens, &options, &cancel, &mut |_| {
            done += 1;
            if first && done * 4 / n != (done - 1) * 4 / n {
                marks.push(format!("{}% {}", done * 100 / n, rss_mb().map_or("?".into(), |m| format!("{m:.0} MB"))));
            }
            Ok(())
        })?;
        total += specimens.len();
        if specimens.is_empty() || t.elapsed().as_secs_f64() >= seconds {
            break;
        }
    }
    let per_s = total as f64 / t.elapsed().as_secs_f64();
    let peak = peak_rss_mb().map_or(String::new(), |m| format!("; peak {m:.0} MB"));
    Ok((per_s, format!("{}{peak}", marks.join(", "))))
}

fn proc_status_mb(key: &str) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Current resident memory in MB (Linux).
pub fn rss_mb() -> Option<f64> {
    proc_status_mb("VmRSS:")
}

/// Peak resident memory in MB (Linux).
pub fn peak_rss_mb() -> Option<f64> {
    proc_status_mb("VmHWM:")
}

/// Runs `scripts/bench_reference.py` on the same file and batch; `None` with the reason when
/// Python or its onnxruntime is missing.
fn python_reference(args: &BenchArgs, model: &Path, batch: usize) -> (Option<f64>, String) {
    let script = ["scripts/bench_reference.py", "../scripts/bench_reference.py"]
        .into_iter()
        .map(PathBuf::from)
        .chain(std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("bench_reference.py"))))
        .find(|p| p.is_file());
    let Some(script) = script else { return (None, "scripts/bench_reference.py not found".into()) };
    let output = std::process::Command::new(&args.python)
        .arg(&script)
        .arg(model)
        .args(["--batch", &batch.to_string(), "--threads", &args.threads.to_string()])
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--device", args.device.as_str()])
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => return (None, format!("{} not runnable: {e}", args.python)),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed = stdout.lines().rev().find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    match parsed {
        Some(v) if v["specimens_per_s"].is_number() => (
            v["specimens_per_s"].as_f64(),
            format!(
                "onnxruntime {} on {}",
                v["version"].as_str().unwrap_or("?"),
                v["provider"].as_str().unwrap_or("?")
            ),
        ),
        _ => {
            let err = String::from_utf8_lossy(&output.stderr);
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
            (None, format!("not measured: {last}"))
        }
    }
}

/// The review window's responsiveness with `n` specimens against 100, in one run.
fn gui_bench(n: usize, model: Option<&Path>, ort_lib: Option<&Path>, source: Option<&Path>) -> anyhow::Result<()> {
    let source = source.unwrap_or(Path::new("assets/sample"));
    let report =
        scan(source).with_context(|| format!("{}: cannot scan (run from the project root)", source.display()))?;
    let first = report.specimens.iter().find(|s| s.dv().is_some() && s.lv().is_some());
    let Some((dv, lv)) = first.and_then(|s| Some((s.dv()?.to_path_buf(), s.lv()?.to_path_buf()))) else {
        anyhow::bail!("{}: no specimen with both DV and LV images", source.display());
    };
    let img = crate::imaging::decode(&dv, &crate::imaging::DecodeOptions::default())?;
    eprintln!("images: {} and {} ({}x{} px)", dv.display(), lv.display(), img.width, img.height);
    let model = locate_model(model).ok();
    let tmp = tempdir()?;
    let mut rows = Vec::new();
    for count in [100, n.max(1)] {
        let folder = tmp.join(format!("gui{count}"));
        let t = Instant::now();
        crate::gui::make_folder(&folder, count, &dv, &lv)
            .with_context(|| format!("{}: cannot build", folder.display()))?;
        eprintln!("built {count} specimens in {:.1} s", t.elapsed().as_secs_f64());
        rows.push(crate::gui::run_gui_bench(&folder, count, model.clone(), ort_lib.map(Path::to_path_buf)));
    }
    println!(
        "Review window, headless (egui layout + tessellation; pixels not rasterised), 1400x860, images {}x{} px:\n",
        img.width, img.height
    );
    println!(
        "| specimens | first frame (ms) | worklist filled (ms) | scroll frame p50 / p99 (ms) | next specimen, prefetched p50 / p99 (ms) | next specimen, cold p50 / p99 (ms) | frame during inference p50 / p99 (ms) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let inf = r.inference.map_or("-".into(), |q| format!("{:.2} / {:.2}", q[0], q[1]));
        println!(
            "| {} | {:.1} | {:.0} | {:.2} / {:.2} | {:.1} / {:.1} | {:.1} / {:.1} | {inf} |",
            r.specimens,
            r.first_frame_ms,
            r.worklist_ms,
            r.scroll[0],
            r.scroll[1],
            r.next_prefetched[0],
            r.next_prefetched[1],
            r.next_cold[0],
            r.next_cold[1]
        );
    }
    if let [small, large] = rows.as_slice() {
        println!(
            "\nratios {} / {} specimens: scroll p99 {:.2}x, first frame {:.2}x; prefetched / cold next specimen p50 {:.2}x",
            large.specimens,
            small.specimens,
            large.scroll[1] / small.scroll[1].max(1e-9),
            large.first_frame_ms / small.first_frame_ms.max(1e-9),
            large.next_prefetched[0] / large.next_cold[0].max(1e-9),
        );
        if let (Some(_), (k, s)) = (large.inference, large.classified) {
            println!("inference phase: {k} specimens classified in {s:.1} s while frames ran");
        }
    }
    Ok(())
}
