//! `mousexray labels`: training labels from a centre's IMPC observations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::specimen::{NormalCounts, line_list, read_observations, scan, write_labels, write_labels_to};
use crate::taxonomy::{NodeLabels, Taxonomy};

/// Arguments of `mousexray labels`.
#[derive(Debug, clap::Args)]
pub struct LabelsArgs {
    /// IMPC observations, CSV in the long form of IMPC experiment data: one row per specimen
    /// and parameter, with `specimen_id` (or `external_sample_id`), `parameter_stable_id`,
    /// `category` and, for counts, `data_point`; other columns are ignored.
    #[arg(long, value_name = "CSV", required_unless_present = "from_review", conflicts_with = "from_review")]
    pub from_impc: Option<PathBuf>,

    /// Reviewed folders: the reviewer's decisions become labels (a status of normal or
    /// confirmed abnormal, or normal and abnormal calls; QC and second-look specimens left out).
    #[arg(long, value_name = "FOLDER", num_args = 1..)]
    pub from_review: Vec<PathBuf>,

    /// The labels file to write (labels.csv for `train --labels`); `-` writes to standard
    /// output. Nothing is written when no specimen could be labelled.
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

/// Reads the observations or reviews, writes the labels and reports what did not map.
pub fn run(args: &LabelsArgs) -> anyhow::Result<()> {
    let taxonomy = Taxonomy::default();
    let Some(from_impc) = &args.from_impc else {
        return from_reviews(args, &taxonomy);
    };
    if crate::fsx::same_file(&args.out, from_impc) {
        bail!("{}: --out would overwrite the observations", args.out.display());
    }
    let mut counts = NormalCounts::default();
    for (stem, range) in &args.normal_counts {
        if !NormalCounts::default().0.contains_key(stem) {
            bail!("--normal-count {stem}: not a count parameter the taxonomy maps (028, the number of digits)");
        }
        counts.0.insert(stem.clone(), *range);
    }
    let (labels, report) = read_observations(from_impc, &taxonomy, &counts).map_err(|p| anyhow::anyhow!("{p}"))?;
    let source = from_impc.display();
    let abnormal = labels.values().filter(|l| l[0] == Some(true)).count();
    let normal = labels.values().filter(|l| l[0] == Some(false)).count();
    eprintln!(
        "{source}: {} rows, {} of them for X-ray parameters the taxonomy maps; {} specimens labelled ({abnormal} abnormal, {normal} normal, {} unknown)",
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
            let shown: Vec<&str> =
                with_images.iter().filter(|id| !labels.contains_key(**id)).take(5).copied().collect();
            eprintln!(
                "  {unlabelled} specimens in {} have images but no observations: {}{}",
                folder.display(),
                shown.join(", "),
                if unlabelled > 5 { format!(" and {} more", unlabelled - 5) } else { String::new() }
            );
        }
    }
    output(&args.out, &taxonomy, &labels)
}

/// Writes the labels to `out` (or standard output for `-`), refusing to write none (an empty
/// file would replace a useful one) and anything but a plain file.
fn output(out: &Path, taxonomy: &Taxonomy, labels: &BTreeMap<String, NodeLabels>) -> anyhow::Result<()> {
    if labels.is_empty() {
        bail!("{}: no specimen could be labelled; nothing written", out.display());
    }
    let rows = labels.iter().map(|(id, l)| (id.as_str(), l));
    if out == Path::new("-") {
        return write_labels_to(std::io::stdout().lock(), taxonomy, rows).context("writing to standard output");
    }
    if let Ok(meta) = std::fs::symlink_metadata(out)
        && !meta.file_type().is_file()
    {
        bail!("{}: not a plain file; choose a file to write the labels to", out.display());
    }
    write_labels(out, taxonomy, rows).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("{}: labels of {} specimens", out.display(), labels.len());
    Ok(())
}

/// `--from-review`: the reviewers' decisions of one or more folders as labels.
fn from_reviews(args: &LabelsArgs, taxonomy: &Taxonomy) -> anyhow::Result<()> {
    let labels = labels_from_reviews(&args.from_review, taxonomy)?;
    output(&args.out, taxonomy, &labels)
}

/// The decisions of the reviews of `folders` as labels by specimen id (the first folder's where
/// two decided one id), saying on standard error what each folder gave and left out.
pub(super) fn labels_from_reviews(
    folders: &[PathBuf],
    taxonomy: &Taxonomy,
) -> anyhow::Result<BTreeMap<String, NodeLabels>> {
    let mut labels = std::collections::BTreeMap::new();
    for folder in folders {
        crate::specimen::require_folder(folder)?;
        let (review, notes) = crate::review::read_review(folder);
        for n in &notes {
            eprintln!("warning: {n}");
        }
        let (found, report) = crate::review::review_labels(&review, taxonomy);
        eprintln!(
            "{}: {} specimens with a decision; left out {} with a QC status, {} for a second look, {} undecided",
            folder.display(),
            found.len(),
            report.qc.len(),
            report.second_look.len(),
            report.undecided
        );
        for (id, node, kept) in &report.conflicts {
            eprintln!("  {id} {node}: {kept}");
        }
        for (id, node) in &report.unknown_nodes {
            eprintln!("  {id}: call on `{node}`, which the taxonomy does not have; ignored");
        }
        for (id, row) in found {
            match labels.entry(id) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    eprintln!("  {}: also decided in an earlier folder; the first is kept", e.key());
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(row);
                }
            }
        }
    }
    Ok(labels)
}
