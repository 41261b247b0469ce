//! `mousexray calibrate`: fit each node's Platt map on the validation split a model was trained
//! with and fold it into the model's head, so that its probabilities read as frequencies. Every
//! ranking, call and class activation map's place is kept; the thresholds move with the map.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::contract::{CalibrationRecord, Precision};
use crate::inference::{Classifier, SessionOptions, init_runtime};
use crate::taxonomy::{NodeLabels, Taxonomy};
use crate::training::calibration::{
    Kept, Platt, expected_calibration_error, fit_nodes, half_of, node_pairs, probabilities,
};
use crate::training::data::{Dataset, LabelSource, Loaded, load_folders};
use crate::training::package::write_report;
use crate::training::train::MIN_THRESHOLD_SIDE;

use super::trained_on::{TrainedOn, check_labels};

/// Arguments of `mousexray calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// A float32 model written by mousexray, not yet calibrated.
    #[arg(long, value_name = "ONNX")]
    pub model: PathBuf,
    /// The folder the model was trained on (with labels.csv); repeat for a model trained on
    /// several. The maps are fitted on the validation split training used.
    #[arg(long, value_name = "DIR", required = true)]
    pub data: Vec<PathBuf>,
    /// Labels CSV (default DIR/labels.csv; only with one --data).
    #[arg(long, value_name = "CSV")]
    pub labels: Option<PathBuf>,
    /// Where to write the calibrated model (default: replace the model and its report).
    #[arg(long, value_name = "ONNX")]
    pub out: Option<PathBuf>,
    /// Fit even when the folder is not the one the model was trained on.
    #[arg(long)]
    pub other_data: bool,
    /// Also report the calibration error before and after on this labelled folder (held out:
    /// never trained on), per node.
    #[arg(long, value_name = "DIR")]
    pub held_out: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: &CalibrateArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| args.model.clone());
    if out.extension().is_none_or(|e| !e.eq_ignore_ascii_case("onnx")) {
        anyhow::bail!("{}: the calibrated model must be written to a .onnx file", out.display());
    }
    check_labels(args.labels.as_deref(), &args.data)?;
    let lib = init_runtime(ort_lib)?;
    let path = &args.model;
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut proto = crate::onnx::features::decode(&bytes).with_context(|| path.display().to_string())?;
    let mut before = Classifier::load_bytes(path, &bytes, lib, SessionOptions::default())?;
    let info = before.info.clone();
    if let Some(c) = &info.metadata.provenance.calibration {
        anyhow::bail!("{}: already calibrated ({}, on {})", path.display(), c.date, c.data);
    }
    if info.metadata.provenance.precision != Precision::Fp32 {
        anyhow::bail!(
            "{}: a {} copy; calibrate the float32 model, then make its fp16 copy",
            path.display(),
            info.metadata.provenance.precision.as_str()
        );
    }
    let TrainedOn { dataset, label: data, val_split, seed } =
        TrainedOn::load(path, &info.metadata, &args.data, args.labels.as_deref(), args.other_data, "calibrate on it")?;
    let (_, val_idx) = dataset.split(val_split, seed);
    let taxonomy = info.metadata.taxonomy.clone();
    let val_probs = probabilities(&mut before, &dataset, &val_idx, 32)?;
    let val_labels: Vec<NodeLabels> =
        val_idx.iter().filter_map(|&i| dataset.samples.get(i)).map(|s| s.labels.clone()).collect();
    let keys = crate::training::pairs::split_keys(&dataset);
    let half: Vec<bool> = val_idx.iter().map(|&i| keys.get(i).is_some_and(|k| half_of(k))).collect();
    let fits = fit_nodes(&taxonomy, &val_probs, &val_labels, &half, MIN_THRESHOLD_SIDE);
    if fits.iter().all(Result::is_err) {
        let why: Vec<String> = taxonomy
            .nodes
            .iter()
            .zip(&fits)
            .filter_map(|(n, f)| f.err().map(|k| format!("{} {}", n.id, k.label())))
            .collect();
        anyhow::bail!(
            "{data}: no node could be calibrated on {} validation specimens ({}); nothing written",
            val_idx.len(),
            why.join(", ")
        );
    }
    let maps: Vec<Platt> = fits.iter().map(|f| f.unwrap_or(Platt::IDENTITY)).collect();

    let scale: Vec<f32> = maps.iter().map(|m| m.a as f32).collect();
    let shift: Vec<f32> = maps.iter().map(|m| m.b as f32).collect();
    crate::onnx::head::fold_affine(&mut proto, &scale, &shift).with_context(|| path.display().to_string())?;
    let mut metadata = info.metadata.clone();
    metadata.thresholds = metadata.thresholds.iter().zip(&maps).map(|(t, m)| m.apply(*t)).collect();
    metadata.provenance.calibration = Some(CalibrationRecord {
        method: "platt".into(),
        date: crate::timestamp::utc_date(),
        data: data.clone(),
        specimens: val_idx.len(),
        maps: taxonomy
            .nodes
            .iter()
            .zip(&fits)
            .filter_map(|(n, f)| f.ok().map(|m| (n.id.clone(), [m.a, m.b])))
            .collect(),
    });
    crate::onnx::features::set_metadata(&mut proto, &metadata)?;
    let written = crate::onnx::features::encode(&proto);

    // Everything that can fail is done before the model is written: a wrong --held-out must
    // not leave a calibrated file behind that refuses to be calibrated again.
    let mut table = vec![Column::fitted(&taxonomy, &val_probs, &val_labels, &maps, "validation")];
    if let Some(dir) = &args.held_out {
        let mut after = Classifier::load_bytes(&out, &written, lib, SessionOptions::default())?;
        let Loaded { dataset: held, problems, .. } = load_folders(
            std::slice::from_ref(dir),
            LabelSource::Files(None),
            &info.metadata.preprocess,
            &taxonomy,
            true,
            false,
        )
        .with_context(|| format!("--held-out {}", dir.display()))?;
        for p in &problems {
            tracing::warn!("{p}");
        }
        table.push(Column::measured(&taxonomy, &mut before, &mut after, &held, "held out")?);
    }
    crate::fsx::write_bytes_atomic(&out, &written).with_context(|| format!("{}: cannot write", out.display()))?;
    write_report(&metadata, &out)?;
    println!("{}", markdown(&taxonomy, &fits, &table));
    eprintln!(
        "{} -> {} (Platt maps fitted on {} validation specimens of {data}; calls and rankings unchanged)",
        path.display(),
        out.display(),
        val_idx.len()
    );
    Ok(())
}

/// Per node, the expected calibration error before and after, on one set.
struct Column {
    name: &'static str,
    ece: Vec<(Option<f64>, Option<f64>)>,
}

impl Column {
    /// On the set the maps were fitted on (the maps applied to the probabilities).
    fn fitted(
        taxonomy: &Taxonomy,
        probs: &[Vec<f32>],
        labels: &[NodeLabels],
        maps: &[Platt],
        name: &'static str,
    ) -> Self {
        let ece = (0..taxonomy.nodes.len())
            .map(|i| {
                let pairs = node_pairs(taxonomy, probs, labels, i);
                let mapped: Vec<(f32, bool)> = pairs.iter().map(|&(p, y)| (maps[i].apply(p), y)).collect();
                (expected_calibration_error(&pairs), expected_calibration_error(&mapped))
            })
            .collect();
        Column { name, ece }
    }

    /// On another set, running the model before and the calibrated file after.
    fn measured(
        taxonomy: &Taxonomy,
        before: &mut Classifier,
        after: &mut Classifier,
        held: &Dataset,
        name: &'static str,
    ) -> anyhow::Result<Self> {
        let all: Vec<usize> = (0..held.samples.len()).collect();
        let labels: Vec<NodeLabels> = held.samples.iter().map(|s| s.labels.clone()).collect();
        let (pb, pa) = (probabilities(before, held, &all, 32)?, probabilities(after, held, &all, 32)?);
        let ece = (0..taxonomy.nodes.len())
            .map(|i| {
                (
                    expected_calibration_error(&node_pairs(taxonomy, &pb, &labels, i)),
                    expected_calibration_error(&node_pairs(taxonomy, &pa, &labels, i)),
                )
            })
            .collect();
        Ok(Column { name, ece })
    }
}

/// The maps and each set's calibration error as a Markdown table.
fn markdown(taxonomy: &Taxonomy, fits: &[Result<Platt, Kept>], columns: &[Column]) -> String {
    let f = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.3}"));
    let mut s = String::from("| node | a | b |");
    for c in columns {
        s.push_str(&format!(" ECE {} before | after |", c.name));
    }
    s.push_str("\n|---|---:|---:|");
    s.push_str(&"---:|---:|".repeat(columns.len()));
    for (i, (node, fitted)) in taxonomy.nodes.iter().zip(fits).enumerate() {
        match fitted {
            Ok(m) => s.push_str(&format!("\n| {} | {:.3} | {:.3} |", node.id, m.a, m.b)),
            Err(why) => s.push_str(&format!("\n| {} (kept: {}) | 1 | 0 |", node.id, why.label())),
        }
        for c in columns {
            let (b, a) = c.ece.get(i).copied().unwrap_or((None, None));
            s.push_str(&format!(" {} | {} |", f(b), f(a)));
        }
    }
    s
}
