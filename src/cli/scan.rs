//! `mousexray scan`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::specimen::{Problem, ScanOptions, ScanReport, read_labels, scan_with};
use crate::taxonomy::Taxonomy;

/// Arguments of `mousexray scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// The folder to scan.
    #[arg(value_name = "FOLDER")]
    pub folder: PathBuf,

    /// Manifest CSV to use instead of FOLDER/specimens.csv. Paths in it are relative to FOLDER.
    #[arg(long, value_name = "CSV")]
    pub manifest: Option<PathBuf>,

    /// Print the full report as JSON (specimens, images, metadata, problems) instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also decode every DV and LV and run film QC on it (close-ups, empty films, more than
    /// one animal, swapped views); findings are listed as problems and counted.
    #[arg(long)]
    pub qc: bool,
}

/// Runs the scan and prints the report.
pub fn run(args: &ScanArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut report = scan_with(&args.folder, &ScanOptions { manifest: args.manifest.clone() })?;
    let labels_path = args.folder.join(crate::specimen::LABELS_FILE);
    let mut labelled = None;
    if labels_path.is_file() {
        match read_labels(&labels_path, &Taxonomy::default()) {
            Ok((table, problems)) => {
                labelled = Some(report.specimens.iter().filter(|s| table.get(&s.id).is_some()).count());
                report.problems.extend(problems);
            }
            Err(p) => report.problems.push(p),
        }
    }
    let qc = if args.qc { Some(film_qc(&mut report)) } else { None };
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, files = report.files_seen, "scan finished");
    if args.json {
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        println!("{json}");
    } else {
        print!("{}", render(&report, labelled));
        if let Some((counts, unread)) = qc {
            let found = crate::imaging::film_qc::summary(&counts);
            let unread = match unread {
                0 => String::new(),
                n => format!("; {n} view(s) could not be read, so were not checked (listed above)"),
            };
            let verdict = match (found, unread.is_empty()) {
                (Some(found), _) => found,
                (None, true) => "every DV and LV passed".to_owned(),
                (None, false) => "every DV and LV read passed".to_owned(),
            };
            println!("film QC: {verdict}{unread}");
        }
    }
    Ok(())
}

/// Decodes every specimen's DV and LV on all cores and runs film QC on them (as a model with
/// the default body-only spec at 128 px would see them); each finding, and each file that
/// cannot be decoded, becomes a problem.
/// Returns the number of views with each code, in [`crate::imaging::QcCode::ALL`] order, and
/// the number of views that could not be read (so were not checked).
fn film_qc(report: &mut ScanReport) -> ([usize; 4], usize) {
    use rayon::prelude::*;

    use crate::imaging::PreprocessSpec;
    use crate::inference::pipeline::prepare;
    use crate::specimen::ProblemKind;
    let spec = PreprocessSpec { size: 128, ..PreprocessSpec::default() };
    let prepared: Vec<_> =
        report.specimens.par_iter().map(|s| prepare(s, &spec, crate::specimen::ByView::new(true, true))).collect();
    let (mut counts, mut unread) = ([0usize; 4], 0);
    for (s, prepared) in report.specimens.iter().zip(prepared) {
        // What cannot be decoded, as predict would report it.
        unread += prepared.problems.len();
        for p in prepared.problems {
            report.problems.push(Problem::new(&p.path, ProblemKind::NotAnImage, p.reason));
        }
        for (view, code) in crate::imaging::film_qc::findings(&prepared.qc) {
            counts[code.index()] += 1;
            let path = s.images.get(&view).cloned().unwrap_or_default();
            report.problems.push(Problem::new(&path, ProblemKind::FilmQc, code.finding(view)));
        }
    }
    (counts, unread)
}

/// The human-readable report.
fn render(report: &ScanReport, labelled: Option<usize>) -> String {
    let mut out = String::new();
    let id_width = report.specimens.iter().map(|s| s.id.chars().count()).max().unwrap_or(2).clamp(2, 40);
    if !report.specimens.is_empty() {
        let _ = writeln!(out, "{:<id_width$}  {:<5}  {:<12}  {:<20}  metadata", "id", "views", "layout", "extra views");
    }
    for s in &report.specimens {
        let extra: Vec<String> = s.extra_views().map(|(v, _)| v.to_string()).collect();
        let meta: Vec<String> = s.metadata.fields().iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "{:<id_width$}  {:<5}  {:<12}  {:<20}  {}",
            s.id,
            s.model_views(),
            s.layout.as_str(),
            if extra.is_empty() { "-".to_owned() } else { extra.join(", ") },
            if meta.is_empty() { "-".to_owned() } else { meta.join(" ") }
        );
    }
    let both = report.specimens.iter().filter(|s| s.dv().is_some() && s.lv().is_some()).count();
    let dv_only = report.specimens.iter().filter(|s| s.dv().is_some() && s.lv().is_none()).count();
    let lv_only = report.specimens.len() - both - dv_only;
    if !report.problems.is_empty() {
        let _ = writeln!(out, "\nproblems:");
        for p in &report.problems {
            // Paths inside the folder are shown relative to it: shorter, and what the user typed.
            let shown = Problem { path: p.path.strip_prefix(&report.root).unwrap_or(&p.path).to_owned(), ..p.clone() };
            let _ = writeln!(out, "  {shown}");
        }
    }
    let _ = write!(
        out,
        "\n{}: {} specimens ({both} DV+LV, {dv_only} DV only, {lv_only} LV only), {} files seen, {} problems",
        crate::specimen::display_path(&report.root),
        report.specimens.len(),
        report.files_seen,
        report.problems.len()
    );
    if let Some(n) = labelled {
        let _ = write!(out, ", {n} labelled in labels.csv");
    }
    out.push('\n');
    out
}
