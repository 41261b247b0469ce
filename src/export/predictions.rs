//! The predictions CSV written by `mousexray predict` and joined by `mousexray merge`: one row
//! per specimen, every taxonomy node's conditional and joint probability and flag, and enough
//! provenance (model SHA-256, device, time, shard) to know where each number came from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::neutralise;
use crate::domain::DomainScore;
use crate::fsx::AtomicFile;
use crate::imaging::QcCode;
use crate::imaging::film_qc::findings;
use crate::inference::pipeline::SpecimenResult;
use crate::specimen::{ByView, Metadata, Problem, display_path};
use crate::taxonomy::Taxonomy;

/// What every row of one run shares.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Model file name.
    pub model_name: String,
    /// Model SHA-256.
    pub model_sha256: String,
    /// Execution provider summary ("CPU", "CUDA", ...).
    pub device: String,
    /// "K/N" when this run is a shard, else empty.
    pub shard: String,
    /// Which of DV and LV the model reads (a single-view model cannot score the other view).
    pub reads: ByView<bool>,
}

/// The header: fixed columns, metadata, then per node `p_`, `joint_` and `flag_` columns, then
/// the provenance columns.
pub fn header(taxonomy: &Taxonomy) -> Vec<String> {
    let mut h: Vec<String> = [
        "specimen_id",
        "dv_path",
        "lv_path",
        "views_used",
        "qc",
        "domain_score",
        "in_domain",
        "domain_dv",
        "domain_lv",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    h.extend(Metadata::COLUMNS.iter().map(|c| (*c).to_owned()));
    h.extend(["flagged", "top_finding", "top_probability"].into_iter().map(String::from));
    for prefix in ["p_", "joint_", "flag_"] {
        h.extend(taxonomy.nodes.iter().map(|n| format!("{prefix}{}", n.id)));
    }
    h.extend(["model", "model_sha256", "device", "shard", "timestamp"].into_iter().map(String::from));
    h
}

/// One result as a row matching [`header`].
pub fn row(taxonomy: &Taxonomy, r: &SpecimenResult, run: &RunInfo, timestamp: &str) -> Vec<String> {
    let path = |v: Option<&Path>| v.map(|p| neutralise(&display_path(p))).unwrap_or_default();
    let views = r.views_used.label();
    let mut out = vec![
        neutralise(&r.specimen.id),
        path(r.specimen.dv()),
        path(r.specimen.lv()),
        views.to_owned(),
        qc_cell(&r.qc),
    ];
    out.extend(domain_cells(r.domain.as_ref()));
    out.extend(Metadata::COLUMNS.iter().map(|c| neutralise(r.specimen.metadata.get(c).unwrap_or(""))));
    let n = taxonomy.nodes.len();
    match &r.scores {
        Some(s) => {
            // The deepest flagged nodes, in taxonomy order: a specimen flagged abnormal with no
            // finding below the flag still has a non-empty cell (`abnormal`, or its group).
            let mut leaves = s.flagged_leaves(taxonomy);
            leaves.sort_unstable();
            let flagged: Vec<&str> =
                leaves.iter().filter_map(|&i| taxonomy.nodes.get(i)).map(|node| node.id.as_str()).collect();
            out.push(flagged.join(";"));
            let top = s.top_finding(taxonomy);
            out.push(top.map(|t| t.0.to_owned()).unwrap_or_default());
            out.push(top.map(|t| format!("{:.4}", t.1)).unwrap_or_default());
            out.extend(s.conditional.iter().map(|p| format!("{p:.4}")));
            out.extend(s.joint.iter().map(|p| format!("{p:.4}")));
            out.extend(s.flags.iter().map(|f| if *f { "1" } else { "0" }.to_owned()));
        }
        None => {
            out.extend(std::iter::repeat_n(String::new(), 3 + 3 * n));
        }
    }
    out.extend([run.model_name.clone(), run.model_sha256.clone(), run.device.clone(), run.shard.clone()]);
    out.push(timestamp.to_owned());
    out
}

/// The `domain_score`, `in_domain`, `domain_dv` and `domain_lv` cells: the worse view's score
/// (a Mahalanobis distance in units of the model's threshold: above 1 is unlike the training
/// data), `true`/`false`, and each view's score; all empty when the domain is unknown.
pub fn domain_cells(domain: Option<&DomainScore>) -> [String; 4] {
    let num = |v: Option<f32>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
    match domain {
        None => Default::default(),
        Some(d) => {
            [num(d.score()), d.in_domain().map(|b| b.to_string()).unwrap_or_default(), num(d.views.dv), num(d.views.lv)]
        }
    }
}

/// The `qc` cell: each film QC code with its view (`dv:not_whole_body;lv:view_swapped`),
/// empty when both films passed.
pub fn qc_cell(qc: &ByView<Vec<QcCode>>) -> String {
    let cells: Vec<String> = findings(qc).map(|(v, c)| format!("{}:{}", v.as_str(), c.as_str())).collect();
    cells.join(";")
}

/// What a [`PredictionsWriter`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Rows in the predictions CSV (one per specimen).
    pub rows: usize,
    /// Specimens with scores.
    pub scored: usize,
    /// Specimens flagged abnormal.
    pub flagged: usize,
    /// Specimens with no view the model could use (no row of scores).
    pub unscored: usize,
    /// Views refused only when decoded or preprocessed (truncated, undecodable, a decoder
    /// failure); their specimens ran on the other view when there was one.
    pub refused_views: usize,
    /// Rows in the problems CSV (scan problems included).
    pub problems: usize,
    /// Views with each film QC code, in [`QcCode::ALL`] order.
    pub qc_views: [usize; 4],
    /// Scored specimens unlike the model's training data (domain score above 1).
    pub out_of_domain: usize,
    /// Scored specimens whose domain is unknown (the model has no description).
    pub domain_unknown: usize,
}

/// One run's predictions CSV and its problems CSV (`OUT.problems.csv`), both written under
/// temporary names ([`AtomicFile`]) so that neither is ever seen half-written; an interrupted
/// run's rows go to `OUT.csv.partial`, which cannot be mistaken for a finished file. Every cell
/// that comes from the user's files is neutralised against spreadsheet formulas.
pub struct PredictionsWriter {
    out: PathBuf,
    problems_path: PathBuf,
    rows: csv::Writer<AtomicFile>,
    problems: csv::Writer<AtomicFile>,
    taxonomy: Taxonomy,
    info: RunInfo,
    summary: WriteSummary,
}

impl PredictionsWriter {
    /// Starts `out` and its problems file, writing the scan's problems first.
    ///
    /// # Errors
    /// A file cannot be created in `out`'s folder.
    pub fn create(out: &Path, taxonomy: &Taxonomy, info: RunInfo, scan_problems: &[Problem]) -> anyhow::Result<Self> {
        let problems_path = out.with_extension("problems.csv");
        super::check_target(out)?;
        super::check_target(&problems_path)?;
        let open = |p: &Path| AtomicFile::create(p).with_context(|| format!("{}: cannot write", p.display()));
        let mut rows = csv::Writer::from_writer(open(out)?);
        rows.write_record(header(taxonomy))?;
        let mut problems = csv::Writer::from_writer(open(&problems_path)?);
        problems.write_record(["specimen_id", "path", "reason"])?;
        let mut writer = PredictionsWriter {
            out: out.to_owned(),
            problems_path,
            rows,
            problems,
            taxonomy: taxonomy.clone(),
            info,
            summary: WriteSummary::default(),
        };
        for p in scan_problems {
            writer.problem(
                p.specimen.as_deref().unwrap_or(""),
                &p.path,
                &format!("{}: {}", p.kind.as_str(), p.reason),
            )?;
        }
        Ok(writer)
    }

    /// Adds a row to the problems file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn problem(&mut self, specimen_id: &str, path: &Path, reason: &str) -> anyhow::Result<()> {
        let path = if path.as_os_str().is_empty() { String::new() } else { neutralise(&display_path(path)) };
        self.problems.write_record([neutralise(specimen_id), path, neutralise(reason)])?;
        self.summary.problems += 1;
        Ok(())
    }

    /// Writes one specimen's row, and its refused views to the problems file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(&mut self, r: &SpecimenResult, timestamp: &str) -> anyhow::Result<()> {
        for p in &r.problems {
            self.problem(&r.specimen.id, &p.path, &p.reason)?;
            self.summary.refused_views += 1;
        }
        for (view, code) in findings(&r.qc) {
            self.summary.qc_views[code.index()] += 1;
            let what = match (code.excludes_view(), r.scores.is_some()) {
                (true, true) => "; scored without this view",
                (true, false) => "; left out",
                (false, _) => "",
            };
            let path = r.specimen.images.get(&view).cloned().unwrap_or_default();
            self.problem(&r.specimen.id, &path, &format!("film QC {}{what}", code.finding(view)))?;
        }
        match &r.scores {
            Some(s) => {
                self.summary.scored += 1;
                self.summary.flagged += usize::from(s.abnormal());
                match r.domain.as_ref().and_then(DomainScore::in_domain) {
                    Some(inside) => self.summary.out_of_domain += usize::from(!inside),
                    None => self.summary.domain_unknown += 1,
                }
            }
            None => {
                self.summary.unscored += 1;
                let left_out = findings(&r.qc).any(|(_, c)| c.excludes_view());
                // A single-view model given the other view only: say which it reads.
                let unread = r.specimen.present().zip(self.info.reads).iter().any(|(_, (has, reads))| *has && !reads);
                let why = match (r.problems.is_empty(), left_out, self.info.reads.label()) {
                    (false, _, _) => "not scored: no view could be read".to_owned(),
                    (true, true, _) => "not scored: film QC left out every DV and LV film".to_owned(),
                    (true, false, reads @ ("DV" | "LV")) if unread => {
                        format!("not scored: the model reads {reads} only, and this specimen has no {reads} film")
                    }
                    (true, false, _) => "not scored: no DV or LV image the model can use".to_owned(),
                };
                self.problem(&r.specimen.id, Path::new(""), &why)?;
            }
        }
        self.rows.write_record(row(&self.taxonomy, r, &self.info, timestamp))?;
        self.summary.rows += 1;
        Ok(())
    }

    /// What has been written so far.
    pub fn summary(&self) -> WriteSummary {
        self.summary
    }

    /// The problems file.
    pub fn problems_path(&self) -> &Path {
        &self.problems_path
    }

    /// Completes the run: both files appear under their names.
    ///
    /// # Errors
    /// Flushing, syncing or renaming failed; the previous files (if any) are then unchanged.
    pub fn finish(self) -> anyhow::Result<WriteSummary> {
        let summary = self.summary;
        let rows = self.rows.into_inner().map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", self.out.display()))?;
        rows.commit().with_context(|| format!("{}: cannot write", self.out.display()))?;
        commit_problems(self.problems, &self.problems_path)?;
        Ok(summary)
    }

    /// Ends an interrupted run: the rows so far go to `OUT.csv.partial` and its problems to
    /// `OUT.problems.csv.partial` (both returned), so a finished run's files are left whole.
    ///
    /// # Errors
    /// As [`PredictionsWriter::finish`].
    pub fn abandon(self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let persist = |w: csv::Writer<AtomicFile>, partial: PathBuf| -> anyhow::Result<PathBuf> {
            let file = w.into_inner().map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", partial.display()))?;
            file.persist_as(&partial).with_context(|| format!("{}: cannot write", partial.display()))?;
            Ok(partial)
        };
        let rows = persist(self.rows, self.out.with_extension("csv.partial"))?;
        let problems = persist(self.problems, self.problems_path.with_extension("csv.partial"))?;
        Ok((rows, problems))
    }
}

fn commit_problems(w: csv::Writer<AtomicFile>, path: &Path) -> anyhow::Result<()> {
    let file = w.into_inner().map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
    file.commit().with_context(|| format!("{}: cannot write", path.display()))
}

/// Parses `--shard K/N` (1-based K).
pub fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not K/N with 1 <= K <= N (for example 3/10)");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Whether specimen `id` belongs to shard `k` of `n`: a hash of the id, so the split does not
/// depend on listing order or on which other specimens exist.
pub fn in_shard(id: &str, k: u32, n: u32) -> bool {
    let mut h = crate::fingerprint::Fnv::default();
    h.write(id.as_bytes());
    // FNV's low bits mix poorly for similar ids; fold the high half in.
    let x = h.0 ^ (h.0 >> 29) ^ (h.0 >> 47);
    (x % u64::from(n)) as u32 == k - 1
}

/// What a merge found.
#[derive(Debug, Clone, Default)]
pub struct MergeReport {
    /// Rows written.
    pub rows: usize,
    /// Shards seen ("K/N").
    pub shards: BTreeSet<String>,
    /// Ids in the folder that no shard has (only with a folder to check against).
    pub missing: Vec<String>,
    /// The merged problems file (`OUT.problems.csv`) and its rows.
    pub problems: (PathBuf, usize),
    /// Prediction files read (the problems files given are not counted).
    pub files: usize,
}

/// Whether `path` is a problems file (`OUT.problems.csv`), as a shell glob over the shards'
/// CSVs picks them up beside the predictions.
fn is_problems_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".problems.csv"))
}

/// Joins prediction CSVs into `out`, and their problems files (each shard's `.problems.csv`,
/// given or found beside it) into `OUT.problems.csv` with repeated rows (the scan's problems,
/// which every shard reports) written once. Refuses a file given twice, an output that is also
/// an input, different headers, different models, a specimen in two rows, rows from a run
/// without `--shard`, and a mix of shard counts; reports shards never seen (a shard without
/// specimens cannot be told from a missing one: `expected` settles it). With `expected` ids
/// (from scanning the folder), every one must be present.
pub fn merge(inputs: &[&Path], out: &Path, expected: Option<&[String]>) -> anyhow::Result<MergeReport> {
    // Each path resolved once (a cluster's merge may take thousands of shards): the files given
    // and the problems file beside each shard, by what they resolve to.
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut read: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for path in inputs {
        let earlier = read.insert(canonical(path), path.to_path_buf());
        anyhow::ensure!(earlier.is_none(), "{}: given twice; give each shard once", path.display());
    }
    let (problem_files, inputs): (Vec<&Path>, Vec<&Path>) = inputs.iter().copied().partition(|p| is_problems_file(p));
    let beside: Vec<PathBuf> =
        inputs.iter().map(|p| p.with_extension("problems.csv")).filter(|p| p.is_file()).collect();
    for p in &beside {
        read.entry(canonical(p)).or_insert_with(|| p.clone());
    }
    let problems_out = out.with_extension("problems.csv");
    for target in [out, problems_out.as_path()] {
        if let Some(input) = std::fs::canonicalize(target).ok().and_then(|t| read.get(&t)) {
            anyhow::bail!("{}: also an input ({}); write the merge to a new file", target.display(), input.display());
        }
    }
    anyhow::ensure!(!inputs.is_empty(), "nothing to merge: give the shard CSVs");
    let mut header: Option<csv::StringRecord> = None;
    let mut rows: BTreeMap<String, (csv::StringRecord, String)> = BTreeMap::new();
    let mut report = MergeReport { files: inputs.len(), ..MergeReport::default() };
    let mut model: Option<(String, String)> = None;
    let mut shard_count: Option<String> = None;
    let mut empty_files: Vec<String> = Vec::new();
    for path in &inputs {
        let mut rd = csv::Reader::from_path(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let h = rd.headers().with_context(|| format!("{}: no header", path.display()))?.clone();
        let col = |name: &str| h.iter().position(|c| c == name);
        let (Some(id_col), Some(sha_col), Some(shard_col)) = (col("specimen_id"), col("model_sha256"), col("shard"))
        else {
            anyhow::bail!(
                "{}: not a mousexray predictions file (specimen_id, model_sha256, shard columns)",
                path.display()
            );
        };
        match &header {
            None => header = Some(h.clone()),
            Some(first) if *first != h => {
                anyhow::bail!("{}: its columns differ from {}", path.display(), inputs[0].display())
            }
            Some(_) => {}
        }
        let before = rows.len();
        for (line, rec) in rd.records().enumerate() {
            let rec = rec.with_context(|| format!("{}: row {}", path.display(), line + 2))?;
            let id = rec.get(id_col).unwrap_or("").to_owned();
            let sha = rec.get(sha_col).unwrap_or("").to_owned();
            let shard = rec.get(shard_col).unwrap_or("").to_owned();
            match &model {
                None => model = Some((sha.clone(), path.display().to_string())),
                Some((m, from)) if *m != sha => anyhow::bail!(
                    "{}: specimen {id} was predicted by model {}, but {from} used {}; rerun with one model",
                    path.display(),
                    short(&sha),
                    short(m)
                ),
                Some(_) => {}
            }
            let n = shard.split_once('/').map(|x| x.1.to_owned()).unwrap_or_default();
            anyhow::ensure!(
                !n.is_empty() || expected.is_some(),
                "{}: specimen {id} is from a run without --shard; merge joins the files of predict --shard K/N \
                 (or give --folder to check them against the folder)",
                path.display()
            );
            match &shard_count {
                None => shard_count = Some(n),
                Some(c) if *c != n => anyhow::bail!("{}: shard {shard} mixes with shards of /{c}", path.display()),
                Some(_) => {}
            }
            if !shard.is_empty() {
                report.shards.insert(shard);
            }
            if let Some((_, other)) = rows.get(&id) {
                anyhow::bail!("specimen {id} appears in both {other} and {}", path.display());
            }
            rows.insert(id, (rec, path.display().to_string()));
        }
        if rows.len() == before {
            empty_files.push(path.display().to_string());
        }
    }
    if let Some(exp) = expected {
        // Ids are written neutralised; compare them as written.
        report.missing = exp.iter().filter(|id| !rows.contains_key(&neutralise(id))).cloned().collect();
        anyhow::ensure!(
            report.missing.is_empty(),
            "{} specimen(s) of the folder are in no shard, for example {}",
            report.missing.len(),
            report.missing.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    } else if let Some(n) = shard_count.as_deref().and_then(|n| n.parse::<u32>().ok()) {
        let absent: Vec<String> = (1..=n).map(|k| format!("{k}/{n}")).filter(|s| !report.shards.contains(s)).collect();
        // A shard without specimens writes its header alone, which cannot be told from a missing
        // shard: the folder itself must say whether every specimen is there.
        let empty = if empty_files.is_empty() {
            String::new()
        } else {
            format!(" ({} file(s) without rows, which name no shard: {})", empty_files.len(), empty_files.join(", "))
        };
        anyhow::ensure!(
            absent.is_empty(),
            "no rows from shard(s) {}{empty}; give their files, or --folder to check the specimens directly",
            absent.join(", ")
        );
    }
    let Some(header) = header else { anyhow::bail!("nothing to merge") };
    super::check_target(out)?;
    super::check_target(&problems_out)?;
    // Written even when no shard had a problems file, so none from an earlier merge is left.
    let problems = read_problems(&problem_files, &beside, &canonical)?;
    let file = crate::fsx::AtomicFile::create(out).with_context(|| format!("{}: cannot write", out.display()))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(&header)?;
    for (rec, _) in rows.values() {
        // Shards may have been edited by hand: every cell is made formula-safe again.
        w.write_record(rec.iter().map(super::neutralise_formula))?;
    }
    let file = w.into_inner().map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", out.display()))?;
    let problems_file = crate::fsx::AtomicFile::create(&problems_out)
        .with_context(|| format!("{}: cannot write", problems_out.display()))?;
    let mut pw = csv::Writer::from_writer(problems_file);
    pw.write_record(["specimen_id", "path", "reason"])?;
    for rec in &problems {
        pw.write_record(rec.iter().map(|c| super::neutralise_formula(c)))?;
    }
    commit_problems(pw, &problems_out)?;
    report.problems = (problems_out, problems.len());
    file.commit().with_context(|| format!("{}: cannot write", out.display()))?;
    report.rows = rows.len();
    Ok(report)
}

/// The rows of the problems files given and of those beside the shards, each file once (by
/// what `canonical` resolves it to) and each distinct row once, in the order first met.
fn read_problems(
    given: &[&Path],
    beside: &[PathBuf],
    canonical: &dyn Fn(&Path) -> PathBuf,
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut files_seen: BTreeSet<PathBuf> = BTreeSet::new();
    let files =
        given.iter().copied().chain(beside.iter().map(PathBuf::as_path)).filter(|f| files_seen.insert(canonical(f)));
    let mut seen: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut out = Vec::new();
    for f in files {
        let mut rd = csv::Reader::from_path(f).with_context(|| format!("{}: cannot read", f.display()))?;
        let h = rd.headers().with_context(|| format!("{}: no header", f.display()))?.clone();
        anyhow::ensure!(
            h.iter().eq(["specimen_id", "path", "reason"]),
            "{}: not a mousexray problems file (specimen_id, path, reason columns)",
            f.display()
        );
        for (line, rec) in rd.records().enumerate() {
            let rec = rec.with_context(|| format!("{}: row {}", f.display(), line + 2))?;
            let row: Vec<String> = rec.iter().map(str::to_owned).collect();
            if seen.insert(row.clone()) {
                out.push(row);
            }
        }
    }
    Ok(out)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inference::hierarchy::Scores;
    use crate::specimen::{Layout, Specimen, View};

    fn result(qc: ByView<Vec<QcCode>>, scores: Option<Scores>) -> SpecimenResult {
        let specimen = Specimen {
            id: "M1".into(),
            images: [(View::Dv, PathBuf::from("M1/DV.png")), (View::Lv, PathBuf::from("M1/LV.png"))].into(),
            metadata: Default::default(),
            layout: Layout::Subfolders,
        };
        SpecimenResult {
            index: 0,
            specimen,
            views_used: ByView::new(scores.is_some(), scores.is_some()),
            qc,
            scores,
            transforms: ByView::default(),
            cams: None,
            domain: None,
            problems: Vec::new(),
        }
    }

    #[test]
    fn the_flagged_cell_names_the_deepest_flag_and_an_unscored_row_says_why() {
        let taxonomy = Taxonomy::default();
        let info = RunInfo {
            model_name: "m".into(),
            model_sha256: "s".into(),
            device: "CPU".into(),
            shard: String::new(),
            reads: ByView::new(true, true),
        };
        let col = |name: &str| header(&taxonomy).iter().position(|c| c == name).unwrap();
        // Abnormal over its threshold, nothing below: the cell still says the specimen is flagged.
        let mut p = vec![0.0; taxonomy.nodes.len()];
        p[0] = 0.9;
        let mut t = vec![0.5; taxonomy.nodes.len()];
        t[0] = 0.8;
        let only_root = result(ByView::default(), Some(Scores::new(&taxonomy, p.clone(), &t)));
        assert_eq!(row(&taxonomy, &only_root, &info, "now")[col("flagged")], "abnormal");
        let not_flagged = result(ByView::default(), Some(Scores::new(&taxonomy, vec![0.1; p.len()], &t)));
        assert_eq!(row(&taxonomy, &not_flagged, &info, "now")[col("flagged")], "");

        // Film QC left out both films: the problems file says so, not "scored without".
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("p.csv");
        let mut w = PredictionsWriter::create(&out, &taxonomy, info, &[]).unwrap();
        w.write(&result(ByView::new(vec![QcCode::NoAnimal], vec![QcCode::NotWholeBody]), None), "now").unwrap();
        let problems = w.problems_path().to_owned();
        w.finish().unwrap();
        let text = std::fs::read_to_string(problems).unwrap();
        assert!(!text.contains("scored without"), "{text}");
        assert!(text.contains("; left out") && text.contains("film QC left out every DV and LV film"), "{text}");
    }

    #[test]
    fn shards_parse_and_partition_every_id_once() {
        assert_eq!(parse_shard("3/10"), Ok((3, 10)));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let ids: Vec<String> = (0..3000).map(|i| format!("MX{i:05}")).collect();
        let n = 7;
        let mut counts = vec![0usize; n as usize];
        for id in &ids {
            let owners: Vec<u32> = (1..=n).filter(|k| in_shard(id, *k, n)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            counts[owners[0] as usize - 1] += 1;
        }
        // Roughly even: every shard within 25% of 3000/7.
        assert!(counts.iter().all(|c| (321..=536).contains(c)), "{counts:?}");
    }
}
