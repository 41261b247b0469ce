//! `mousexray predict`: classify a folder into a CSV, with optional saliency overlays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;

use crate::export::predictions::{PredictionsWriter, RunInfo, in_shard, parse_shard};
use crate::imaging::{DecodeOptions, decode, display_gray};
use crate::inference::pipeline::{PipelineOptions, SpecimenResult, model_views, prepare, run};
use crate::inference::saliency::{
    Colormap, EvidenceGrid, OverlayStyle, class_grids, colorize, composite, occlusion, shared_scale, to_original,
};
use crate::inference::{Classifier, Device, SessionOptions, init_runtime, locate_model};
use crate::specimen::{ByView, Specimen, scan};
use crate::taxonomy::Taxonomy;
use crate::timestamp::timestamp_now;

/// Arguments of `mousexray predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Folder of specimens (any layout `scan` reads).
    #[arg(value_name = "FOLDER")]
    pub folder: PathBuf,
    /// Model file (default: models/cae_mv.onnx, else models/convnext_mv.onnx; looked for beside
    /// the executable too).
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// Predictions CSV to write; problems go to the same name with .problems.csv.
    #[arg(long, value_name = "CSV", default_value = "predictions.csv")]
    pub out: PathBuf,
    /// Execution provider.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    pub device: Device,
    /// Specimens per model run.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// ONNX Runtime intra-op threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Decode and preprocess threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Write saliency overlays (PNG) for each flagged class, per specimen and view, here.
    #[arg(long, value_name = "DIR")]
    pub saliency: Option<PathBuf>,
    /// Colormap of the overlays.
    #[arg(long, value_enum, default_value_t = Colormap::Viridis)]
    pub colormap: Colormap,
    /// Override a node's flag threshold (repeatable), for example --threshold abnormal=0.3.
    #[arg(long, value_name = "NODE=P", value_parser = parse_threshold)]
    pub threshold: Vec<(String, f32)>,
    /// Take only shard K of N (1-based; by a hash of the specimen id, so shards never overlap).
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
}

/// Parses `NODE=P` with P in 0..=1.
fn parse_threshold(s: &str) -> Result<(String, f32), String> {
    let (node, p) = s.split_once('=').ok_or_else(|| format!("`{s}` is not NODE=P"))?;
    let p: f32 = p.trim().parse().map_err(|_| format!("`{p}` is not a number"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("threshold {p} is outside 0..=1"));
    }
    Ok((node.trim().to_owned(), p))
}

/// Refuses a `--saliency` folder whose overlays would mix with films: `-`, a file, the scanned
/// folder or one above it, or a folder holding images mousexray did not write (a specimen's).
fn check_saliency_folder(dir: &Path, scanned: &Path) -> anyhow::Result<()> {
    let shown = dir.display();
    anyhow::ensure!(dir.as_os_str() != "-", "--saliency -: give a folder for the overlays, such as saliency");
    anyhow::ensure!(!dir.exists() || dir.is_dir(), "--saliency {shown}: a file, not a folder");
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    if let (Some(d), Some(root)) = (canonical(dir), canonical(scanned))
        && root.starts_with(&d)
    {
        anyhow::bail!(
            "--saliency {shown}: the scanned folder or one above it; the overlays would mix with the films \
             (give a folder of their own, such as {})",
            dir.join("saliency").display()
        );
    }
    if dir.is_dir() && !dir.join(crate::specimen::OUTPUT_MARKER).is_file() {
        let films = std::fs::read_dir(dir)
            .with_context(|| format!("{shown}: cannot be read"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.is_file() && crate::export::holds_image(p).is_some());
        if let Some(film) = films {
            anyhow::bail!(
                "--saliency {shown}: holds images mousexray did not write ({}); give an empty folder or one \
                 predict wrote overlays into",
                film.display()
            );
        }
    }
    Ok(())
}

/// Longest side of a saliency picture.
const OVERLAY_SIDE: u32 = 1024;

/// Runs the command.
pub fn run_predict(args: &PredictArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    // The folder first: a missing or empty one is said before the model takes seconds to load.
    let report = scan(&args.folder)?;
    if report.specimens.is_empty() {
        anyhow::bail!(report.nothing_found());
    }
    crate::export::prepare_out(&args.out, "predictions.csv")?;
    crate::export::check_target(&args.out.with_extension("problems.csv"))?;
    if let Some(dir) = &args.saliency {
        check_saliency_folder(dir, &args.folder)?;
    }
    let model_path = locate_model(args.model.as_deref()).map_err(anyhow::Error::msg)?;
    let lib = init_runtime(ort_lib)?;
    // Spinning off: idle ONNX Runtime threads would otherwise take cores from the decoders
    // (`bench` measures both; BENCHMARKS.md).
    let options = SessionOptions { threads: args.threads, spinning: false, device: args.device, profile: None };
    let mut model = Classifier::load(&model_path, lib, options)?;
    for (node, t) in &args.threshold {
        let Some(i) = model.info.metadata.taxonomy.index_of(node) else {
            let ids: Vec<&str> = model.info.metadata.taxonomy.nodes.iter().map(|n| n.id.as_str()).collect();
            anyhow::bail!("--threshold {node}: the model has no node `{node}` (nodes: {})", ids.join(", "));
        };
        model.info.metadata.thresholds[i] = *t;
    }
    eprintln!(
        "model {} ({}), running on {}",
        model_path.display(),
        &model.info.sha256[..12.min(model.info.sha256.len())],
        model.ep.summary()
    );

    let mut specimens: Vec<Specimen> = report.specimens;
    if let Some((k, n)) = args.shard {
        specimens.retain(|s| in_shard(&s.id, k, n));
    }
    let info = RunInfo {
        model_name: model_path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        model_sha256: model.info.sha256.clone(),
        device: model.ep.active().label().to_owned(),
        shard: args.shard.map_or_else(String::new, |(k, n)| format!("{k}/{n}")),
        reads: model.info.uses(),
    };
    let taxonomy = model.info.metadata.taxonomy.clone();
    let mut out = PredictionsWriter::create(&args.out, &taxonomy, info, &report.problems)?;

    if let Some(dir) = &args.saliency {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        // Overlays are images: marked, so a scan of a folder holding them skips them.
        let marker = dir.join(crate::specimen::OUTPUT_MARKER);
        std::fs::write(&marker, "saliency overlays written by mousexray predict; a scan skips this folder\n")
            .with_context(|| format!("{}: cannot write", marker.display()))?;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || c.store(true, Ordering::Relaxed));
    }
    let bar = indicatif::ProgressBar::new(specimens.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} specimens  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let pipeline = PipelineOptions {
        batch: args.batch.max(1),
        workers: args.workers.unwrap_or(PipelineOptions::default().workers),
        cam: args.saliency.is_some() && model.info.has_cam,
        ..Default::default()
    };
    let style = OverlayStyle { colormap: args.colormap, ..Default::default() };
    let mut overlays = 0usize;
    let mut occlusion_todo: Vec<(Specimen, Vec<usize>)> = Vec::new();
    let started = Instant::now();
    let run_summary = {
        let mut sink = |r: SpecimenResult| -> anyhow::Result<()> {
            out.write(&r, &timestamp_now())?;
            if let Some(s) = &r.scores
                && s.abnormal()
                && let Some(dir) = &args.saliency
            {
                let classes: Vec<usize> = (0..s.flags.len()).filter(|&i| s.flags[i]).collect();
                if r.cams.is_some() {
                    // A picture that cannot be written is that specimen's problem, not the run's.
                    let drawn = write_overlays(dir, &r, &taxonomy, &classes, &style);
                    overlays += drawn.written;
                    for (path, why) in &drawn.failed {
                        out.problem(&r.specimen.id, path, why)?;
                    }
                } else {
                    occlusion_todo.push((r.specimen.clone(), classes));
                }
            }
            bar.inc(1);
            Ok(())
        };
        run(&mut model, &specimens, &pipeline, &cancel, &mut sink)?
    };
    bar.finish_and_clear();
    let problems_path = out.problems_path().to_owned();
    if run_summary.cancelled {
        let (rows, problems) = out.abandon()?;
        // Exit 130, as Ctrl-C does in the shell: a script must not take it for a finished run.
        return Err(super::Interrupted(format!(
            "cancelled after {} of {} specimens; the rows so far are in {}, their problems in {}",
            run_summary.emitted,
            specimens.len(),
            rows.display(),
            problems.display()
        ))
        .into());
    }
    let written = out.finish()?;

    if let Some(dir) = &args.saliency {
        for (specimen, classes) in &occlusion_todo {
            let drawn = occlusion_overlays(&mut model, dir, specimen, &taxonomy, classes, &style)?;
            overlays += drawn.written;
            for (path, why) in &drawn.failed {
                eprintln!("warning: {}: {why}", crate::specimen::display_path(path));
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} specimens in {secs:.1} s ({:.1}/s): {} flagged abnormal, {} without a usable view; wrote {}{}",
        written.rows,
        written.rows as f64 / secs.max(1e-9),
        written.flagged,
        written.unscored,
        args.out.display(),
        args.saliency.as_ref().map_or_else(String::new, |d| format!(" and {overlays} overlays in {}", d.display()))
    );
    if written.refused_views > 0 {
        eprintln!(
            "{} view(s) refused when decoded (truncated, undecodable or a decoder failure); their specimens ran on the other view where there was one",
            written.refused_views
        );
    }
    if let Some(found) = crate::imaging::film_qc::summary(&written.qc_views) {
        eprintln!(
            "film QC: {found} view(s); close-ups, empty films and swapped views were left out of scoring (column qc)"
        );
    }
    if written.out_of_domain > 0 {
        eprintln!(
            "domain: {} of {} scored specimen(s) unlike the model's training data; their scores are unreliable (columns domain_score, in_domain)",
            written.out_of_domain, written.scored
        );
    } else if written.scored > written.domain_unknown {
        eprintln!(
            "domain: every scored specimen ({}) like the model's training data",
            written.scored - written.domain_unknown
        );
    }
    if written.domain_unknown > 0 {
        eprintln!(
            "domain: unknown for {} specimen(s): the model carries no domain description (`mousexray domain` adds one)",
            written.domain_unknown
        );
    }
    if written.problems > 0 {
        eprintln!("problems ({}): {}", written.problems, problems_path.display());
    }
    Ok(())
}

/// File-name-safe form of a specimen id, different for different ids: ASCII letters, digits, `-`
/// and `.` are kept, every other byte becomes `_XX` (hex); an id whose form would be long keeps
/// its first 80 characters and a hash of the whole.
fn safe(id: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "_{b:02X}");
        }
    }
    if s.len() <= 100 {
        return s;
    }
    let mut h = crate::fingerprint::Fnv::default();
    h.write(id.as_bytes());
    format!("{}-{:016x}", s.get(..80).unwrap_or_default(), h.0)
}

/// What drawing overlays did: pictures written, and files that failed with the reason.
#[derive(Debug, Default)]
struct Drawn {
    written: usize,
    failed: Vec<(PathBuf, String)>,
}

/// Writes `<id>_<view>_<class>.png` for each class and view, the overlay over the film. Both
/// views of a class share one scale, so their colours compare.
fn write_overlays(
    dir: &Path,
    r: &SpecimenResult,
    taxonomy: &Taxonomy,
    classes: &[usize],
    style: &OverlayStyle,
) -> Drawn {
    let Some(cams) = &r.cams else { return Drawn::default() };
    let grids: Vec<ByView<Option<EvidenceGrid>>> =
        classes.iter().map(|&c| class_grids(cams, r.views_used, c)).collect();
    draw(dir, &r.specimen, &r.transforms, taxonomy, classes, &grids, style)
}

fn draw(
    dir: &Path,
    specimen: &Specimen,
    transforms: &ByView<Option<crate::imaging::Transform>>,
    taxonomy: &Taxonomy,
    classes: &[usize],
    grids: &[ByView<Option<EvidenceGrid>>],
    style: &OverlayStyle,
) -> Drawn {
    let mut drawn = Drawn::default();
    for (view, transform) in transforms.iter() {
        let (Some(path), Some(t)) = (specimen.images.get(&view), transform) else { continue };
        let img = match decode(path, &DecodeOptions::default()) {
            Ok(img) => img,
            Err(e) => {
                drawn.failed.push((path.clone(), format!("no overlay: {e}")));
                continue;
            }
        };
        let (base, k) = display_gray(&img, OVERLAY_SIDE);
        for (ci, &class) in classes.iter().enumerate() {
            let Some(grid) = grids.get(ci).and_then(|g| g[view].as_ref()) else { continue };
            let scale = grids.get(ci).map_or(0.0, |g| shared_scale(g.values()));
            let map = to_original(grid, t, k);
            let overlay = colorize(&map, scale, style);
            let picture = composite(&base, &overlay);
            let id = taxonomy.nodes.get(class).map_or("class", |n| n.id.as_str());
            let name = dir.join(format!("{}_{}_{id}.png", safe(&specimen.id), view.as_str()));
            match picture.save(&name) {
                Ok(()) => drawn.written += 1,
                Err(e) => drawn.failed.push((name, format!("cannot write the overlay: {e}"))),
            }
        }
    }
    drawn
}

/// The occlusion fallback for models without CAM outputs.
fn occlusion_overlays(
    model: &mut Classifier,
    dir: &Path,
    specimen: &Specimen,
    taxonomy: &Taxonomy,
    classes: &[usize],
    style: &OverlayStyle,
) -> anyhow::Result<Drawn> {
    let views = prepare(specimen, &model.info.metadata.preprocess, model_views(model)).views;
    let s = model.info.metadata.preprocess.size as usize;
    let bg = model.info.metadata.preprocess.background();
    let blank = vec![bg; s * s];
    let dv = views.dv.as_ref().map_or(&blank, |v| &v.input.data).clone();
    let lv = views.lv.as_ref().map_or(&blank, |v| &v.input.data).clone();
    let present = views.as_ref().map(Option::is_some);
    let mut grids = Vec::new();
    for &c in classes {
        let mut pair = ByView::default();
        for (view, used) in present {
            if used {
                pair[view] = Some(occlusion(model, &dv, &lv, present, view, c, 8)?);
            }
        }
        grids.push(pair);
    }
    let transforms = views.as_ref().map(|v| v.as_ref().map(|v| v.transform.clone()));
    Ok(draw(dir, specimen, &transforms, taxonomy, classes, &grids, style))
}

#[cfg(test)]
mod tests {
    #[test]
    fn overlay_names_never_collide_and_stay_short() {
        let ids = ["a b", "a:b", "a_b", "a\u{2215}b", "大鼠", "小鼠", "MX00001"];
        let names: Vec<String> = ids.iter().map(|id| super::safe(id)).collect();
        let distinct: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{names:?}");
        assert_eq!(names[6], "MX00001");
        assert!(super::safe(&"L".repeat(250)).len() <= 100);
    }
}
