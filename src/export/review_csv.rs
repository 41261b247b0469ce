//! The reviewed results as CSV, wide (a row per specimen) or long (a row per specimen and node,
//! IMPC-style, with `impc_call`: the value each IMPC parameter takes from the reviewer's calls,
//! see [`crate::review::implied_call`]). The GUI's export calls the same code.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

pub use super::neutralise;
use crate::inference::stored::{StoredPrediction, StoredResults};
use crate::review::{ReviewState, Shown, SpecimenReview, Status};
use crate::specimen::{Metadata, Specimen, display_path};
use crate::taxonomy::Taxonomy;

/// Which specimens are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Only {
    /// Every specimen of the folder.
    #[default]
    All,
    /// Specimens the model flagged abnormal (in the output the reviewer was shown).
    Flagged,
    /// Specimens with a status, a call or a measurement.
    Reviewed,
}

/// How the file is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportOptions {
    /// Which specimens.
    pub only: Only,
    /// One row per specimen and node instead of one per specimen.
    pub long: bool,
    /// Start with a UTF-8 byte-order mark, so Excel reads the file as UTF-8.
    pub excel: bool,
}

/// A stored result in the shape of a decision record.
fn as_shown(p: &StoredPrediction) -> Shown {
    Shown {
        model_sha256: p.model_sha256.clone(),
        probabilities: p.probabilities.clone(),
        thresholds: p.thresholds.clone(),
    }
}

/// Whether the shown scores flag the specimen abnormal (its root node).
fn flagged(shown: Option<&Shown>, taxonomy: &Taxonomy) -> bool {
    shown.is_some_and(|x| shown_flags(x, taxonomy).first() == Some(&Some(true)))
}

/// Each node's flag under the shown scores, in taxonomy order: its conditional probability
/// reaches its threshold and its parent is flagged; `None` where the node, or a group above it,
/// has no score.
fn shown_flags(shown: &Shown, taxonomy: &Taxonomy) -> Vec<Option<bool>> {
    let mut flags: Vec<Option<bool>> = Vec::with_capacity(taxonomy.nodes.len());
    // Nodes are stored parents first.
    for n in &taxonomy.nodes {
        let parent = match n.parent.as_deref().and_then(|p| taxonomy.index_of(p)) {
            Some(i) => flags.get(i).copied().flatten(),
            None => Some(true),
        };
        let own = shown.probabilities.get(&n.id).map(|p| *p >= shown.thresholds.get(&n.id).copied().unwrap_or(0.5));
        flags.push(parent.zip(own).map(|(a, b)| a && b));
    }
    flags
}

fn reviewed(r: Option<&SpecimenReview>) -> bool {
    r.is_some_and(|r| r.status != Status::Unreviewed || !r.calls.is_empty() || !r.measurements.is_empty())
}

fn num(v: Option<&f32>) -> String {
    v.map_or_else(String::new, |p| format!("{p:.4}"))
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportSummary {
    /// Specimens written.
    pub written: usize,
    /// Reviewed specimens the folder no longer has films for, written after the others with
    /// empty paths (a review is never dropped from an export because its films moved).
    pub without_films: Vec<String>,
}

/// Writes the export of `specimens` with their review to `out` (atomically), then the reviewed
/// specimens the folder no longer has.
///
/// Probabilities and thresholds: those the reviewer was shown when deciding (the audit record),
/// else the folder's stored classification results, so every scored specimen carries its scores.
pub fn export(
    out: &Path,
    specimens: &[Specimen],
    review: &ReviewState,
    results: &StoredResults,
    taxonomy: &Taxonomy,
    options: ExportOptions,
) -> anyhow::Result<ExportSummary> {
    super::check_target(out)?;
    let mut file = crate::fsx::AtomicFile::create(out).with_context(|| format!("{}: cannot write", out.display()))?;
    if options.excel {
        file.write_all(b"\xEF\xBB\xBF").with_context(|| format!("{}: cannot write", out.display()))?;
    }
    let mut w = csv::Writer::from_writer(file);
    let mut head: Vec<String> = ["specimen_id", "dv_path", "lv_path"].into_iter().map(String::from).collect();
    head.extend(Metadata::COLUMNS.iter().map(|c| (*c).to_owned()));
    head.extend(["status", "comment", "reviewer", "created", "updated", "model_sha256"].map(String::from));
    head.extend(["film_qc", "in_domain"].map(String::from));
    head.extend(["measurements", "tibia_length_mm"].map(String::from));
    if options.long {
        head.extend(
            [
                "node",
                "level",
                "parameter_stable_id",
                "call",
                "impc_call",
                "probability",
                "threshold",
                "flagged",
                "data_point",
            ]
            .map(String::from),
        );
    } else {
        for prefix in ["call_", "p_", "threshold_"] {
            head.extend(taxonomy.nodes.iter().map(|n| format!("{prefix}{}", n.id)));
        }
    }
    w.write_record(&head)?;
    let ruler = crate::review::measurement::ruler_scale(review);
    let mut summary = ExportSummary::default();
    let listed: std::collections::HashSet<&str> = specimens.iter().map(|s| s.id.as_str()).collect();
    let gone: Vec<&str> = review.specimens.keys().map(String::as_str).filter(|id| !listed.contains(id)).collect();
    let rows = specimens.iter().map(|s| (s.id.as_str(), Some(s))).chain(gone.into_iter().map(|id| (id, None)));
    for (id, s) in rows {
        let r = review.get(id);
        let d = SpecimenReview::default();
        let rv = r.unwrap_or(&d);
        let shown = rv.shown.clone().or_else(|| results.specimens.get(id).map(as_shown));
        let keep = match options.only {
            Only::All => true,
            Only::Flagged => flagged(shown.as_ref(), taxonomy),
            Only::Reviewed => reviewed(r),
        };
        if !keep {
            continue;
        }
        summary.written += 1;
        if s.is_none() {
            summary.without_films.push(id.to_owned());
        }
        let path = |p: Option<&Path>| p.map(|p| display_path(p).into_owned()).unwrap_or_default();
        let mut base = vec![id.to_owned(), path(s.and_then(Specimen::dv)), path(s.and_then(Specimen::lv))];
        base.extend(Metadata::COLUMNS.iter().map(|c| s.and_then(|s| s.metadata.get(c)).unwrap_or("").to_owned()));
        let shown = shown.as_ref();
        base.extend([
            rv.status.as_str().to_owned(),
            rv.comment.clone(),
            rv.reviewer.clone(),
            rv.created.clone(),
            rv.updated.clone(),
            shown.map(|x| x.model_sha256.clone()).unwrap_or_default(),
        ]);
        // What the window warned the reviewer of, from the folder's last classification: film
        // QC codes, and whether the films were like the model's training data.
        let stored = results.specimens.get(id);
        base.extend([
            results.film_qc.get(id).map(super::predictions::qc_cell).unwrap_or_default(),
            stored.and_then(|p| p.domain.as_ref()?.in_domain()).map(|b| b.to_string()).unwrap_or_default(),
        ]);
        // Each film's scale: its own DICOM pixel spacing (read from the header only when a
        // measurement needs it), else the folder's ruler calibration.
        let scale_of = |view: crate::specimen::View| {
            let dicom = s.and_then(|s| s.images.get(&view)).and_then(|p| crate::imaging::pixel_spacing_mm(p));
            crate::review::measurement::scale_for(id, view, &rv.measurements, dicom, ruler.as_ref())
        };
        let (measured, tibia) = crate::review::measurement::export_summary(&rv.measurements, &scale_of);
        let tibia = tibia.map(|mm| format!("{mm:.3}"));
        base.extend([measured, tibia.clone().unwrap_or_default()]);
        let call = |id: &str| rv.calls.get(id).map_or("", |c| c.as_str()).to_owned();
        // A view film QC left out (a close-up, an empty film, the other view) shows no whole
        // animal in that view: a call on the animal implies nothing for findings read on it.
        let qc = results.film_qc.get(id);
        let left_out = |v| qc.and_then(|q| q.get(v)).is_some_and(|codes| codes.iter().any(|c| c.excludes_view()));
        let present = s.map_or(crate::specimen::ByView::new(false, false), Specimen::present);
        let observed = present.map_view(|v, present| present && !left_out(v));
        let implied =
            |id: &str| crate::review::implied_call(rv, id, taxonomy, observed).map_or("", |c| c.as_str()).to_owned();
        let prob = |id: &str| num(shown.and_then(|x| x.probabilities.get(id)));
        let thr = |id: &str| num(shown.and_then(|x| x.thresholds.get(id)));
        if options.long {
            // Flags as the window showed them: a node reaches its threshold and so does every
            // group above it (the probability column is conditional on the parent).
            let flags = shown.map(|x| shown_flags(x, taxonomy)).unwrap_or_default();
            for (k, n) in taxonomy.nodes.iter().enumerate() {
                let flag = flags.get(k).copied().flatten().map_or("", |f| if f { "1" } else { "0" });
                let params: Vec<&str> = if n.impc_parameters.is_empty() {
                    vec![""]
                } else {
                    n.impc_parameters.iter().map(String::as_str).collect()
                };
                for p in params {
                    let mut row = base.clone();
                    // A count (the number of digits) is answered by a number nobody recorded
                    // here, never by a category.
                    let impc = if crate::specimen::is_count_parameter(p) { String::new() } else { implied(&n.id) };
                    row.extend([
                        n.id.clone(),
                        format!("{:?}", n.level),
                        p.to_owned(),
                        call(&n.id),
                        impc,
                        prob(&n.id),
                        thr(&n.id),
                        flag.to_owned(),
                        String::new(),
                    ]);
                    w.write_record(row.iter().map(|c| neutralise(c)))?;
                }
            }
            // IMPC's one numeric X-ray parameter, as its long form carries numbers.
            if let Some(mm) = &tibia {
                let mut row = base.clone();
                let parameter = crate::review::measurement::TIBIA_LENGTH.to_owned();
                row.extend(["", "", &parameter, "", "", "", "", "", mm].map(String::from));
                w.write_record(row.iter().map(|c| neutralise(c)))?;
            }
        } else {
            let mut row = base;
            row.extend(taxonomy.nodes.iter().map(|n| call(&n.id)));
            row.extend(taxonomy.nodes.iter().map(|n| prob(&n.id)));
            row.extend(taxonomy.nodes.iter().map(|n| thr(&n.id)));
            w.write_record(row.iter().map(|c| neutralise(c)))?;
        }
    }
    let file = w.into_inner().map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", out.display()))?;
    file.commit().with_context(|| format!("{}: cannot write", out.display()))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for bad in ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        for fine in ["MX00001", "0.5000", "", "a=b", "normal"] {
            assert_eq!(neutralise(fine), fine);
        }
    }
}
