//! `mousexray labels`: training labels from a centre's IMPC observations.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::specimen::{NormalCounts, line_list, read_observations, scan, write_labels};
use crate::taxonomy::Taxonomy;

/// Arguments of `mousexray labels`.
#[derive(Debug, clap::Args)]
pub struct LabelsArgs {
    /// IMPC observations, CSV in the long form of IMPC experiment data: one row per specimen
    /// and parameter, with `specimen_id` (or `external_sample_id`), `parameter_stable_id`,
    /// `category` and, for counts, `data_point`; other columns are ignored.
    #[arg(long, value_name = "CSV")]
    pub from_impc: PathBuf,

    /// The labels file to write (labels.csv for `train --labels`).
    #[arg(long, value_name = "CSV")]
    pub out: PathBuf,

    /// The folder of images the labels are for: report specimens with observations but no
    /// images there, and images without observations.
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<PathBuf>,

    /// Normal count of a count parameter for the strain, as STEM=N or STEM=MIN-MAX (the
    /// parameter's `_XRY_0NN_` stem); a count outside it is abnormal. Default 028=20 (digits:
    /// five on each paw).
    #[arg(long = "normal-count", value_name = "STEM=RANGE", value_parser = parse_count)]
    pub normal_counts: Vec<(String, (f64, f64))>,
}

fn parse_count(s: &str) -> Result<(String, (f64, f64)), String> {
    let bad = || format!("`{s}` is not STEM=N or STEM=MIN-MAX (for example 028=20)");
    let (stem, range) = s.split_once('=').ok_or_else(bad)?;
    if stem.len() != 3 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
    let (lo, hi): (f64, f64) = (lo.trim().parse().map_err(|_| bad())?, hi.trim().parse().map_err(|_| bad())?);
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return Err(bad());
    }
    Ok((stem.to_owned(), (lo, hi)))
}

/// Reads the observations, writes the labels and reports what did not map.
pub fn run(args: &LabelsArgs) -> anyhow::Result<()> {
    if args.out == args.from_impc {
        bail!("{}: --out would overwrite the observations", args.out.display());
    }
    let taxonomy = Taxonomy::default();
    let mut counts = NormalCounts::default();
    counts.0.extend(args.normal_counts.iter().cloned());
    let (labels, report) =
        read_observations(&args.from_impc, &taxonomy, &counts).map_err(|p| anyhow::anyhow!("{p}"))?;
    let source = args.from_impc.display();
    let abnormal = labels.values().filter(|l| l[0] == Some(true)).count();
    let normal = labels.values().filter(|l| l[0] == Some(false)).count();
    eprintln!(
        "{source}: {} rows, {} of X-ray parameters the taxonomy maps; {} specimens labelled ({abnormal} abnormal, {normal} normal, {} unknown)",
        report.rows,
        report.mapped,
        labels.len(),
        labels.len() - abnormal - normal
    );
    for (parameter, lines) in &report.unmapped {
        eprintln!("  unmapped parameter {parameter}: {} rows (lines {})", lines.len(), line_list(lines));
    }
    for ((parameter, answer), lines) in &report.unknown_answers {
        eprintln!(
            "  unknown answer `{answer}` for {parameter}: {} rows, read as unknown (lines {})",
            lines.len(),
            line_list(lines)
        );
    }
    for ((specimen, parameter), lines) in &report.conflicts {
        eprintln!(
            "  conflict: {specimen} {parameter} answered differently, read as unknown (lines {})",
            line_list(lines)
        );
    }
    if !report.no_specimen.is_empty() {
        eprintln!(
            "  rows without a specimen id: {} (lines {})",
            report.no_specimen.len(),
            line_list(&report.no_specimen)
        );
    }
    if let Some(folder) = &args.folder {
        let found = scan(folder).with_context(|| format!("scanning {}", folder.display()))?;
        let with_images: BTreeSet<&str> = found.specimens.iter().map(|s| s.id.as_str()).collect();
        let missing: Vec<&str> = labels.keys().map(String::as_str).filter(|id| !with_images.contains(id)).collect();
        let unlabelled = with_images.iter().filter(|id| !labels.contains_key(**id)).count();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(5).copied().collect();
            eprintln!(
                "  {} specimens have observations but no images in {}: {}{}",
                missing.len(),
                folder.display(),
                shown.join(", "),
                if missing.len() > 5 { format!(" and {} more", missing.len() - 5) } else { String::new() }
            );
        }
        if unlabelled > 0 {
            eprintln!("  {unlabelled} specimens in {} have images but no observations", folder.display());
        }
    }
    write_labels(&args.out, &taxonomy, labels.iter().map(|(id, l)| (id.as_str(), l)))
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("{}: labels of {} specimens", args.out.display(), labels.len());
    Ok(())
}
