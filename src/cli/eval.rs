//! `mousexray eval`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use crate::inference::{Classifier, SessionOptions, init_runtime};
use crate::synth::Prevalence;
use crate::taxonomy::Taxonomy;
use crate::training::data::{Dataset, load_dataset};
use crate::training::evaluate::{
    ModeResult, MultiviewGain, ViewMode, class_roc_panels, evaluate, level_roc_panels, multiview_gains,
};
use crate::training::invariance::InvarianceOptions;
use crate::training::roc_plot::write_roc_png;

/// Arguments of `mousexray eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Labelled folder (any layout `scan` reads); never one the models were trained on.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["invariance", "film_qc", "domain", "pairs", "posture"])]
    pub data: Option<PathBuf>,
    /// Also measure how far each model's outputs move when a film mark (ruler, text, bright
    /// frame, lead marker, cassette edge) is added: N held-out phantoms (seed 2000, 384 px,
    /// prevalence 0.6, severity from 0.3, as the held-out set), clean, marked, and moved by one
    /// and by two pixels with no mark (the controls), and with both model inputs turned by 10°
    /// either way (a misjudged body axis).
    #[arg(long, value_name = "N", value_parser = super::parse_positive)]
    pub invariance: Option<u32>,
    /// Bare film added on every edge of each clean phantom before `--invariance` marks it
    /// (pixels; 58, 15 % of the side, gives every mark room beside the animal; 0 marks the film
    /// as rendered, extending it where a mark has no room, which moves the animal on the film).
    #[arg(long, value_name = "PX", default_value_t = 58)]
    pub invariance_margin: usize,
    /// Measure how each model reads N held-out normal animals (seed 2000, 384 px) whose LV
    /// posture changes: straight or hunched back, head flexed or extended, tail curled up or
    /// down, and all at once as real lateral films show a mouse on its side. Every kyphosis,
    /// lordosis or abnormal call is a false alarm.
    #[arg(long, value_name = "N", value_parser = super::parse_positive)]
    pub posture: Option<u32>,
    /// Measure film QC on N held-out phantoms (seed 2000, 384 px) made into close-ups, films with
    /// two animals, empty films and swapped views, and as they are (false alarms).
    #[arg(long, value_name = "N", value_parser = super::parse_positive)]
    pub film_qc: Option<u32>,
    /// Measure each model's domain description on N held-out phantoms (seed 2000, 384 px, every
    /// flag a false alarm) and N films of each kind it has never seen the like of: noise,
    /// close-ups, heavy blur, drawings that are not radiographs, other proportions.
    #[arg(long, value_name = "N", value_parser = super::parse_positive)]
    pub domain: Option<u32>,
    /// Counterfactual pairs from `synth --pairs` (a folder with pairs.csv): per finding, the share
    /// of pairs in which adding it raises the model's probability for it, and the mean rise.
    #[arg(long, value_name = "DIR")]
    pub pairs: Option<PathBuf>,
    /// With --pairs: also measure, without a model, how many pixels each finding changes when the
    /// whole film is resampled to these sizes (comma-separated, e.g. 128,256,384): whether the
    /// evidence survives that resolution at all. No crop or rotation, so that only the finding
    /// differs between the members; intensities normalised as the first model's are.
    #[arg(long, value_name = "PX,...", value_delimiter = ',', requires = "pairs",
          value_parser = clap::value_parser!(u32).range(8..=4096))]
    pub pair_signal: Vec<u32>,
    /// Seed of the phantoms for --film-qc (default: the held-out set's, 2000).
    #[arg(long, default_value_t = 2000, requires = "film_qc")]
    pub film_qc_seed: u64,
    /// Feed the models body-only input (film borders, rulers, text and markers blanked) even if
    /// they were written without it: to measure what that preprocessing does to a model.
    #[arg(long)]
    pub body_only: bool,
    /// Feed the models with their intensity window set over this region (film or crop) instead
    /// of the one they were written with: to measure what that preprocessing does to a model.
    #[arg(long, value_name = "film|crop")]
    pub clip_region: Option<crate::imaging::ClipRegion>,
    /// Feed the models with their crop placed this way (thick_centroid, thick_extent or
    /// core_extent) instead of the one they were written with: to measure what that
    /// preprocessing does to a model.
    #[arg(long, value_name = "thick_centroid|thick_extent|core_extent")]
    pub crop_frame: Option<crate::imaging::CropFrame>,
    /// With --data (phantoms whose truth.json gives the column's midline): where each model's
    /// evidence for scoliosis, kyphosis, lordosis and vertebral fusion lies: the mean distance
    /// from the midline of the finding's class activation map (cells above the map's median)
    /// against the animal's cells' mean distance, in cells of the map; a ratio under 1 is nearer
    /// the spine.
    #[arg(long, requires = "data")]
    pub spine_evidence: bool,
    /// Model file; repeat to compare (a multiview model and single-view baselines).
    #[arg(long, value_name = "ONNX", required = true)]
    pub model: Vec<PathBuf>,
    /// Labels CSV (default DIR/labels.csv).
    #[arg(long, value_name = "CSV")]
    pub labels: Option<PathBuf>,
    /// Write eval.md, eval.csv and ROC curves (NAME_roc.png by level, NAME_classes_roc.png per class) here,
    /// and with --posture its table as posture.csv and the sheet of the postures measured
    /// (posture_lv.png).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Specimens per inference batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// ONNX Runtime intra-op threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Execution provider.
    #[arg(long, value_enum, default_value_t = crate::inference::Device::Auto)]
    pub device: crate::inference::Device,
}

/// Loaded folders, by folder and preprocessing (JSON): each is decoded once however many
/// models read it.
type DatasetCache = HashMap<(std::path::PathBuf, String), Dataset>;

/// `folder` as `model` preprocesses it, from the cache or loaded (problems logged); `true` when
/// it was loaded now.
fn load_once<'a>(
    cache: &'a mut DatasetCache,
    folder: &std::path::Path,
    labels: Option<&std::path::Path>,
    model: &Classifier,
    spine: bool,
) -> anyhow::Result<(&'a Dataset, bool)> {
    let meta = &model.info.metadata;
    let key = (
        folder.to_path_buf(),
        format!("{}{}", serde_json::to_string(&meta.preprocess)?, if spine { "+spine" } else { "" }),
    );
    let fresh = !cache.contains_key(&key);
    if fresh {
        let inputs = crate::training::input_cache::open_for(folder, &meta.preprocess);
        let (d, problems) = load_dataset(folder, labels, &meta.preprocess, &meta.taxonomy, inputs.as_ref(), spine)?;
        for p in &problems {
            tracing::warn!("{p}");
        }
        cache.insert(key.clone(), d);
    }
    Ok((cache.get(&key).context("dataset cache")?, fresh))
}

fn cell(v: Option<f64>) -> String {
    v.map_or("-".into(), |a| format!("{a:.3}"))
}

/// The input-signal table of `--pair-signal`: the pairs folder's whole films, normalised as
/// `model` normalises but neither cropped nor rotated (a crop follows the body, so a finding
/// that moves the body's outline would shift every pixel), resampled to each size asked for.
fn pair_signal(
    folder: &std::path::Path,
    args: &EvalArgs,
    pairs: &[crate::training::pairs::PairRow],
    model: &Classifier,
) -> anyhow::Result<String> {
    let meta = &model.info.metadata;
    let mut rows = Vec::new();
    for &size in &args.pair_signal {
        let spec = crate::imaging::PreprocessSpec {
            size,
            orient: false,
            crop_to_body: false,
            body_only: false,
            clip_region: crate::imaging::ClipRegion::Film,
            ..meta.preprocess.clone()
        };
        let inputs = crate::training::input_cache::open_for(folder, &spec);
        let (dataset, _) = load_dataset(folder, args.labels.as_deref(), &spec, &meta.taxonomy, inputs.as_ref(), false)?;
        rows.push(crate::training::paired_eval::input_signal(&dataset, pairs, &meta.taxonomy, spec.std)?);
    }
    Ok(crate::training::paired_eval::signal_markdown(&rows))
}

/// Runs every model in every view mode it supports and prints the tables.
pub fn run(args: &EvalArgs, ort_lib: Option<&std::path::Path>) -> anyhow::Result<()> {
    let lib = init_runtime(ort_lib)?;
    let mut datasets = DatasetCache::new();
    let mut results: Vec<(String, String, Vec<ModeResult>)> = Vec::new();
    let mut taxonomies: Vec<Taxonomy> = Vec::new();
    let mut invariance_md = String::new();
    let mut domain_md = String::new();
    let mut signal_done = false;
    let mut posture_csv: Vec<[String; crate::training::posture_eval::CSV_COLUMNS]> = Vec::new();
    let mut evidence = Vec::new();
    for path in &args.model {
        let mut model = Classifier::load(
            path,
            lib,
            SessionOptions { threads: args.threads, spinning: true, device: args.device, profile: None },
        )?;
        let name = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
        if args.body_only {
            model.info.metadata.preprocess.body_only = true;
        }
        if let Some(region) = args.clip_region {
            model.info.metadata.preprocess.clip_region = region;
        }
        if let Some(frame) = args.crop_frame {
            model.info.metadata.preprocess.crop_frame = frame;
        }
        if let Some(count) = args.film_qc {
            let options = crate::training::film_qc_eval::QcEvalOptions {
                seed: args.film_qc_seed,
                count: count as usize,
                size: 384,
            };
            let rows = crate::training::film_qc_eval::measure(&model.info.metadata.preprocess, &options)?;
            invariance_md.push_str(&format!("{name}: {}", crate::training::film_qc_eval::to_markdown(&rows)));
            invariance_md.push('\n');
        }
        if let Some(count) = args.domain {
            if model.info.metadata.domain.is_some() {
                let options =
                    crate::training::domain_eval::DomainEvalOptions { seed: 2000, count: count as usize, size: 384 };
                let rows = crate::training::domain_eval::measure(&mut model, &options)?;
                invariance_md.push_str(&crate::training::domain_eval::to_markdown(&name, &rows));
            } else {
                invariance_md.push_str(&format!(
                    "## Domain description: {name}\n\nDomain unknown: the model carries no domain description (`mousexray domain` adds one).\n"
                ));
            }
            invariance_md.push('\n');
        }
        if let Some(folder) = &args.pairs {
            let pairs_file = folder.join(crate::synth::PAIRS_FILE);
            // Posture pairs add no finding: there is nothing for this table to rank.
            let (posture, pairs): (Vec<_>, Vec<_>) = crate::training::pairs::read_pairs(folder)?
                .into_iter()
                .partition(|p| p.finding == crate::synth::POSTURE_PAIR);
            anyhow::ensure!(
                !pairs.is_empty() || posture.is_empty(),
                "{}: holds posture pairs (`synth --posture-pairs`), which add no finding; `eval --pairs` scores pairs that add one (`synth --pairs`), and `eval --posture N` measures posture",
                pairs_file.display()
            );
            if !posture.is_empty() {
                eprintln!(
                    "warning: {}: {} posture pairs left out (they add no finding)",
                    pairs_file.display(),
                    posture.len()
                );
            }
            let (dataset, _) = load_once(&mut datasets, folder, args.labels.as_deref(), &model, false)?;
            let (rows, notes) = crate::training::paired_eval::measure(&mut model, dataset, &pairs, args.batch)?;
            for note in &notes {
                eprintln!("warning: {note}");
            }
            anyhow::ensure!(!rows.is_empty(), "{}: no pair could be scored", pairs_file.display());
            invariance_md.push_str(&crate::training::paired_eval::to_markdown(&name, &rows));
            invariance_md.push('\n');
            if !args.pair_signal.is_empty() && !signal_done {
                invariance_md.push_str(&pair_signal(folder, args, &pairs, &model)?);
                invariance_md.push('\n');
                signal_done = true;
            }
        }
        if let Some(count) = args.invariance {
            let options = InvarianceOptions {
                seed: 2000,
                count: count as usize,
                size: 384,
                margin: args.invariance_margin,
                prevalence: Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() },
                batch: args.batch,
            };
            let rows = crate::training::invariance::measure(&mut model, &options)?;
            invariance_md.push_str(&crate::training::invariance::to_markdown(&name, &rows, options.margin));
            invariance_md.push('\n');
        }
        if let Some(count) = args.posture {
            if model.info.uses().lv {
                let options = crate::training::posture_eval::PostureOptions {
                    seed: 2000,
                    count: count as usize,
                    size: 384,
                    batch: args.batch,
                };
                let rows = crate::training::posture_eval::measure(&mut model, &options)?;
                invariance_md.push_str(&crate::training::posture_eval::to_markdown(&name, &rows));
                posture_csv.extend(crate::training::posture_eval::csv_records(&name, &rows));
            } else {
                invariance_md.push_str(&format!(
                    "## Normal animals in other lateral postures ({name})\n\nNot measured: the model does not read LV.\n"
                ));
            }
            invariance_md.push('\n');
        }
        let Some(data) = &args.data else { continue };
        let (dataset, fresh) = load_once(&mut datasets, data, args.labels.as_deref(), &model, args.spine_evidence)?;
        // Every mode is scored on the same animals: those with both views.
        let both = dataset.samples.iter().filter(|x| x.dv.is_some() && x.lv.is_some()).count();
        if fresh && both < dataset.samples.len() {
            eprintln!(
                "warning: {}: {} of {} labelled specimens lack DV or LV and are left out (every view mode is scored on the specimens with both)",
                data.display(),
                dataset.samples.len() - both,
                dataset.samples.len()
            );
        }
        let views = model.info.metadata.provenance.views_label();
        let uses = model.info.uses();
        let modes: Vec<ViewMode> = match (uses.dv, uses.lv) {
            (true, true) => vec![ViewMode::Dv, ViewMode::Lv, ViewMode::Both],
            (true, false) => vec![ViewMode::Dv],
            _ => vec![ViewMode::Lv],
        };
        let r = evaluate(&mut model, dataset, &modes, args.batch)?;
        domain_md.push_str(&match crate::training::domain_fit::share_out_of_domain(&mut model, dataset, args.batch)? {
            Some((out, n)) => format!("| {name} | {n} | {out} | {:.1} % |\n", 100.0 * out as f64 / n.max(1) as f64),
            None => format!("| {name} | {} | domain unknown (no description) | - |\n", dataset.samples.len()),
        });
        if args.spine_evidence {
            evidence.push((name.clone(), crate::training::spine_evidence::measure(&mut model, dataset, args.batch)?));
        }
        results.push((name, views, r));
        taxonomies.push(model.info.metadata.taxonomy.clone());
    }

    let mut md = String::from(
        "## Mean AUC by level and view mode\n\n| model | trained on | shown | specimens | L1 | L2 | L3 |\n|---|---|---|---:|---:|---:|---:|\n",
    );
    let mut csv_rows: Vec<[String; 4]> = Vec::new();
    for (name, views, modes) in &results {
        for m in modes {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} |",
                views.clone(),
                m.mode.label(),
                m.specimens,
                cell(m.aucs.l1),
                cell(m.aucs.l2),
                cell(m.aucs.l3)
            );
            for (node, auc) in &m.aucs.per_class {
                csv_rows.push([
                    name.clone(),
                    m.mode.label().to_owned(),
                    node.clone(),
                    auc.map_or(String::new(), |a| format!("{a:.4}")),
                ]);
            }
        }
    }
    md.push_str(
        "\n## Per-class AUC (each model in its widest mode; L2 and L3 among parent-positive specimens)\n\n| node |",
    );
    for (name, _, _) in &results {
        let _ = write!(md, " {name} |");
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(results.len()));
    md.push('\n');
    if let Some((_, _, first)) = results.first()
        && let Some(m) = first.last()
    {
        for (i, (node, _)) in m.aucs.per_class.iter().enumerate() {
            let _ = write!(md, "| {node} |");
            for (_, _, modes) in &results {
                let v = modes.last().and_then(|m| m.aucs.per_class.get(i)).and_then(|x| x.1);
                let _ = write!(md, " {} |", cell(v));
            }
            md.push('\n');
        }
    }
    let named: Vec<(&str, &[ModeResult])> = results.iter().map(|(n, _, r)| (n.as_str(), r.as_slice())).collect();
    md.push_str(&gains_markdown(&multiview_gains(&named)));
    if !domain_md.is_empty() {
        md.push_str(&format!(
            "\n## Out of domain (domain score above 1, every view the model uses)\n\n| model | specimens | out of domain | share |\n|---|---:|---:|---:|\n{domain_md}"
        ));
    }
    if !evidence.is_empty() {
        md.push('\n');
        md.push_str(&crate::training::spine_evidence::to_markdown(&evidence));
    }
    // Without --data there are no AUC tables, only the invariance measurement.
    let md = if results.is_empty() { invariance_md } else { format!("{md}\n{invariance_md}") };
    print!("{md}");
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let md_path = dir.join("eval.md");
        crate::fsx::write_bytes_atomic(&md_path, md.as_bytes())
            .with_context(|| format!("writing {}", md_path.display()))?;
        write_csv(&dir.join("eval.csv"), &["model", "mode", "node", "auc"], &csv_rows)?;
        if !posture_csv.is_empty() {
            write_csv(&dir.join("posture.csv"), &crate::training::posture_eval::CSV_HEADER, &posture_csv)?;
        }
        for ((name, views, modes), taxonomy) in results.iter().zip(&taxonomies) {
            let trained = views.clone();
            let title = format!("{name} (trained on {trained}): ROC by level and view mode");
            write_roc_png(&dir.join(format!("{name}_roc.png")), &title, &level_roc_panels(taxonomy, modes))?;
            if let Some(widest) = modes.last() {
                let title = format!("{name} (trained on {trained}): ROC per class");
                write_roc_png(
                    &dir.join(format!("{name}_classes_roc.png")),
                    &title,
                    &class_roc_panels(taxonomy, widest),
                )?;
            }
        }
        if let Some(count) = args.posture.filter(|_| !posture_csv.is_empty()) {
            // Three animals are enough to see what each posture is; the table counts them all.
            let path = dir.join("posture_lv.png");
            let mut png = std::io::Cursor::new(Vec::new());
            crate::training::posture_eval::sheet(2000, u64::from(count.min(3)), 192)?
                .write_to(&mut png, image::ImageFormat::Png)?;
            crate::fsx::write_bytes_atomic(&path, png.get_ref())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if results.is_empty() {
            let posture = if posture_csv.is_empty() { "" } else { ", posture.csv and posture_lv.png" };
            eprintln!("wrote eval.md{posture} to {}", dir.display());
        } else {
            eprintln!("wrote tables and ROC curves to {}", dir.display());
        }
    }
    Ok(())
}

/// Writes `rows` under `header` to `path` atomically, each cell neutralised for spreadsheets
/// (the csv crate quotes a model name with a comma or a quote in it).
fn write_csv<const N: usize>(path: &std::path::Path, header: &[&str], rows: &[[String; N]]) -> anyhow::Result<()> {
    let file = crate::fsx::AtomicFile::create(path).with_context(|| format!("writing {}", path.display()))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(header).with_context(|| format!("writing {}", path.display()))?;
    for r in rows {
        w.write_record(r.iter().map(|c| crate::export::neutralise(c)))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let file = w.into_inner().map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    file.commit().with_context(|| format!("writing {}", path.display()))
}

/// The multiview table: each two-view model's DV+LV gain over the best single-view model per
/// level; empty without both kinds of model.
fn gains_markdown(gains: &[MultiviewGain]) -> String {
    if gains.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## DV+LV against the best single-view model (mean AUC difference; the target is +0.03 at L2 and L3)\n\n| model | L1 | L2 | L3 | best single view (L1 / L2 / L3) |\n|---|---:|---:|---:|---|\n",
    );
    for g in gains {
        let gain = |k: usize| g.levels[k].as_ref().map_or_else(|| "-".to_owned(), |(d, _)| format!("{d:+.3}"));
        let who = |k: usize| g.levels[k].as_ref().map_or("-", |(_, n)| n.as_str());
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} / {} / {} |",
            g.model,
            gain(0),
            gain(1),
            gain(2),
            who(0),
            who(1),
            who(2)
        );
    }
    md
}
