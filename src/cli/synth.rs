//! `mousexray synth`.

use std::path::PathBuf;
use std::time::Instant;

use crate::specimen::View;
use crate::synth::{OutFormat, OutLayout, Prevalence, Style, SynthConfig, generate};

/// Arguments of `mousexray synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output folder (created; must be empty or absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Number of specimens (pairs with --pairs or --posture-pairs), at least 1.
    #[arg(long, default_value_t = 24, value_parser = super::parse_positive)]
    pub count: u32,

    /// Run seed: the same arguments give byte-identical output on any machine and thread count.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Image side in pixels (64 to 4096).
    #[arg(long, default_value_t = 512, value_name = "PX", value_parser = clap::value_parser!(u32).range(64..=4096))]
    pub size: u32,

    /// Image file format.
    #[arg(long, value_enum, default_value_t = OutFormat::Png16)]
    pub format: OutFormat,

    /// Folder layout (all are read back by `mousexray scan`).
    #[arg(long, value_enum, default_value_t = OutLayout::Subfolders)]
    pub layout: OutLayout,

    /// Views to write, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "dv,lv", value_parser = super::parse_model_view)]
    pub views: Vec<View>,

    /// Fraction of specimens (0..1) missing one of the two views.
    #[arg(long, default_value_t = 0.0, value_name = "R", value_parser = parse_fraction)]
    pub missing_view_rate: f64,

    /// Fraction of abnormal specimens (0..1).
    #[arg(long, default_value_t = 0.5, value_name = "P", value_parser = parse_fraction)]
    pub prevalence: f64,

    /// Most findings per abnormal specimen (at least 1).
    #[arg(long, default_value_t = 3, value_parser = super::parse_positive)]
    pub max_findings: u32,

    /// Lowest severity (0..1); severities are drawn uniformly from here to 1.
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
    pub min_severity: f64,

    /// Draw findings only from these L3 classes (comma-separated; default all ten).
    #[arg(long, value_delimiter = ',', value_parser = parse_class)]
    pub classes: Vec<String>,

    /// Fraction of images with a radiopaque ruler.
    #[arg(long, default_value_t = 0.15, value_parser = parse_fraction)]
    pub ruler_rate: f64,

    /// Counterfactual pairs: write each of the COUNT animals twice, PRnnnnnA without and
    /// PRnnnnnB with one added finding (the classes in turn, severity from --min-severity to
    /// 1), everything else identical; pairs.csv lists them. `eval --pairs` reads them.
    #[arg(long)]
    pub pairs: bool,

    /// Posture pairs (style a, with --vary-animal): write each of the COUNT animals twice, PRnnnnnA as drawn and
    /// PRnnnnnB with its lateral posture drawn again (hunch, head, tail curled up to 180°), the
    /// same findings and everything else identical; pairs.csv lists them with finding
    /// `posture`. `train --posture-weight` asks a model to read both alike.
    #[arg(long, conflicts_with = "pairs", requires = "vary_animal")]
    pub posture_pairs: bool,

    /// Vary each film as real films vary: quantum noise from 0.7 to 2 times and detector blur
    /// from half to twice the default, exposure curves that brighten soft tissue, the animal
    /// smaller in the film, grey or inverted backgrounds, saturated highlights, and
    /// text, lead letters, unexposed borders and cassette edges beside the animal (recorded per
    /// view in truth.json).
    #[arg(long)]
    pub vary_film: bool,

    /// Vary the animal as real films show it: in LV a normal hunched back, the head flexed or
    /// extended and the limbs forward or hanging; in DV a curved placement and limbs tucked in
    /// or splayed; plumper bodies and wider sizes; the trunk following every curve of the
    /// column (kyphosis stays an angular hump beyond the normal arc).
    #[arg(long)]
    pub vary_animal: bool,

    /// With --vary-animal: the lateral posture over the whole range real laterals show, the
    /// tail curled up to 180° over the back or 60° down and the head flexed or extended up to
    /// 35° (as `--posture-pairs` redraws it), all normal.
    #[arg(long, requires = "vary_animal")]
    pub vary_posture: bool,

    /// Generator: a (analytic path lengths; what models train on) or b (a voxel volume
    /// projected, anatomy written apart from style a's; for testing only: `train` refuses it).
    #[arg(long, value_enum, default_value_t = Style::A)]
    pub style: Style,

    /// Also write the truth as IMPC observations (observations.csv: one row per specimen and
    /// X-ray parameter, as IMPC experiment data comes), which `mousexray labels --from-impc`
    /// reads.
    #[arg(long)]
    pub impc_observations: bool,

    /// Also record the truth of the first N specimens (by id) as a reviewer's decisions in the
    /// folder's review, as a thorough phenotyper would make them (for `improve` and the
    /// window's "Improve with my reviews...").
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reviewed: usize,

    /// Specimen ids start with PREFIX instead of MX (pairs: PR): 1-8 ASCII letters and digits,
    /// so that folders generated apart can be trained on as one (`train --data A --data B`
    /// refuses two animals with one id).
    #[arg(long, value_name = "PREFIX", value_parser = parse_id_prefix)]
    pub id_prefix: Option<String>,
}

/// A fraction in 0..=1 (a usage error otherwise).
fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number from 0 to 1")),
    }
}

fn parse_id_prefix(s: &str) -> Result<String, String> {
    if (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not 1-8 ASCII letters and digits"))
    }
}

fn parse_class(s: &str) -> Result<String, String> {
    if crate::synth::CLASSES.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not one of {}", crate::synth::CLASSES.join(", ")))
    }
}

/// Runs the generator with a progress bar and reports throughput.
pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    let count = args.count as usize;
    let specimens = if args.pairs || args.posture_pairs { 2 * count } else { count };
    if args.reviewed > specimens {
        return Err(super::UsageError(format!(
            "--reviewed {} is more than the {specimens} specimens this run writes",
            args.reviewed
        ))
        .into());
    }
    let config = SynthConfig {
        count,
        seed: args.seed,
        size: args.size,
        format: args.format,
        layout: args.layout,
        views: args.views.clone(),
        missing_view_rate: args.missing_view_rate,
        prevalence: Prevalence {
            abnormal: args.prevalence,
            max_findings: args.max_findings as usize,
            min_severity: args.min_severity,
            classes: args.classes.clone(),
        },
        ruler_rate: args.ruler_rate,
        pairs: args.pairs,
        posture_pairs: args.posture_pairs,
        vary_film: args.vary_film,
        vary_animal: args.vary_animal,
        vary_posture: args.vary_posture,
        style: args.style,
        impc_observations: args.impc_observations,
        reviewed: args.reviewed,
        id_prefix: args.id_prefix.clone(),
    };
    let bar = indicatif::ProgressBar::new(u64::from(args.count));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} specimens {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let summary = generate(&args.out, &config, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}: {} specimens ({} abnormal), {} images at {} px in {:.2} s: {:.1} specimens/s on {} thread{}",
        args.out.display(),
        summary.specimens,
        summary.abnormal,
        summary.images,
        args.size,
        secs,
        summary.specimens as f64 / secs.max(1e-9),
        rayon::current_num_threads(),
        if rayon::current_num_threads() == 1 { "" } else { "s" }
    );
    Ok(())
}
