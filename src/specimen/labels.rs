//! Training labels: `labels.csv` with `specimen_id` and one column per taxonomy node.

use std::collections::BTreeMap;
use std::path::Path;

use crate::taxonomy::{Level, NodeLabels, Taxonomy};

use super::{Problem, ProblemKind};

/// Labels by specimen id, each completed by the taxonomy's rule.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelTable {
    /// Per specimen, one entry per taxonomy node (in taxonomy order).
    pub rows: BTreeMap<String, NodeLabels>,
}

impl LabelTable {
    /// Labels of one specimen.
    pub fn get(&self, specimen_id: &str) -> Option<&NodeLabels> {
        self.rows.get(specimen_id)
    }
}

/// The file name a folder's training labels go by.
pub const LABELS_FILE: &str = "labels.csv";

/// Reads `labels.csv`: `specimen_id` plus one column per L3 id holding `1`, `0` or empty
/// (unknown). L2 and L1 follow by the taxonomy rule; explicit L1/L2 columns are checked against
/// it and conflicts reported (the derived value wins).
///
/// A file that cannot be used at all is an `Err`; bad cells, rows and columns are problems.
pub fn read_labels(path: &Path, taxonomy: &Taxonomy) -> Result<(LabelTable, Vec<Problem>), Problem> {
    let invalid = |reason: String| Problem::new(path, ProblemKind::LabelsInvalid, reason);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Problem::new(path, ProblemKind::Unreadable, format!("cannot open labels: {e}")))?;
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| invalid(format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let Some(id_col) = headers.iter().position(|h| h == "specimen_id") else {
        return Err(invalid(format!("no `specimen_id` column (header: {})", headers.join(","))));
    };
    let mut problems = Vec::new();
    // Column index -> node index.
    let mut columns: Vec<(usize, usize)> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if i == id_col {
            continue;
        }
        match taxonomy.index_of(h) {
            Some(n) => columns.push((i, n)),
            None => problems.push(invalid(format!("column `{h}` is not a taxonomy node; ignored"))),
        }
    }
    for n in taxonomy.level(Level::L3) {
        if !columns.iter().any(|&(_, node)| taxonomy.nodes[node].id == n.id) {
            problems.push(invalid(format!("no column `{}`: every specimen's `{}` is unknown", n.id, n.id)));
        }
    }

    let mut table = LabelTable::default();
    for record in reader.byte_records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(invalid(format!("{e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            problems.push(invalid(format!("line {line}: {} fields, the header has {}", record.len(), headers.len())));
            continue;
        }
        let cell = |i: usize| record.get(i).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        let id = cell(id_col);
        if id.is_empty() {
            problems.push(invalid(format!("line {line}: empty specimen_id")));
            continue;
        }
        if table.rows.contains_key(&id) {
            problems.push(invalid(format!("line {line}: specimen `{id}` listed again; the first row is kept")));
            continue;
        }
        let mut labels: NodeLabels = vec![None; taxonomy.nodes.len()];
        for &(col, node) in &columns {
            let text = cell(col);
            labels[node] = match text.as_str() {
                "1" => Some(true),
                "0" => Some(false),
                "" => None,
                other => {
                    problems.push(invalid(format!(
                        "line {line}: `{}` = `{other}` for `{id}`; expected 1, 0 or empty (treated as unknown)",
                        headers[col]
                    )));
                    None
                }
            };
        }
        for (node, explicit, derived) in taxonomy.complete(&mut labels) {
            let derived = match derived {
                Some(true) => "1",
                Some(false) => "0",
                None => "unknown",
            };
            problems.push(invalid(format!(
                "line {line}: `{node}` = {} for `{id}` contradicts its children (derived {derived}); using {derived}",
                u8::from(explicit)
            )));
        }
        table.rows.insert(id, labels);
    }
    Ok((table, problems))
}

/// Writes `labels.csv` (atomically): see [`write_labels_to`].
///
/// # Errors
/// The file cannot be created or written.
pub fn write_labels<'a>(
    path: &Path,
    taxonomy: &Taxonomy,
    rows: impl IntoIterator<Item = (&'a str, &'a NodeLabels)>,
) -> std::io::Result<()> {
    crate::fsx::write_atomic(path, |out| write_labels_to(out, taxonomy, rows))
}

/// Writes labels as `labels.csv` holds them: `specimen_id` and every taxonomy node, `1`, `0` or
/// empty (unknown), one row per specimen in the order given.
///
/// # Errors
/// Writing fails.
pub fn write_labels_to<'a>(
    out: impl std::io::Write,
    taxonomy: &Taxonomy,
    rows: impl IntoIterator<Item = (&'a str, &'a NodeLabels)>,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["specimen_id"];
    header.extend(taxonomy.nodes.iter().map(|n| n.id.as_str()));
    w.write_record(&header)?;
    for (id, labels) in rows {
        let mut rec = vec![id];
        rec.extend(labels.iter().map(|l| match l {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        }));
        w.write_record(&rec)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_completes_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv");
        let t = Taxonomy::impc_skeletal();
        let l3: Vec<&str> = t.level(Level::L3).map(|n| n.id.as_str()).collect();
        let mut csv = format!("specimen_id,abnormal,{},colour\n", l3.join(","));
        csv += &format!("A,,1{},x\n", ",0".repeat(9));
        csv += &format!("B,0{},y\n", ",".repeat(10));
        csv += &format!("C,0,1{},z\n", ",".repeat(9));
        csv += &format!("D,,yes{},z\n", ",".repeat(9));
        csv += &format!("A,,{},z\n", ",".repeat(9));
        std::fs::write(&p, csv).unwrap();
        let (table, problems) = read_labels(&p, &t).unwrap();
        let a = table.get("A").unwrap();
        assert_eq!(a[t.index_of("abnormal").unwrap()], Some(true));
        assert_eq!(a[t.index_of("craniofacial").unwrap()], Some(true));
        assert_eq!(a[t.index_of("axial").unwrap()], Some(false));
        assert!(table.get("B").unwrap().iter().all(|v| *v == Some(false)));
        assert_eq!(table.get("C").unwrap()[0], Some(true));
        assert_eq!(table.get("D").unwrap()[t.index_of("skull_shape").unwrap()], None);
        let text: Vec<String> = problems.iter().map(|p| p.reason.clone()).collect();
        assert!(text.iter().any(|r| r.contains("`colour`")), "{text:?}");
        assert!(text.iter().any(|r| r.contains("`abnormal` = 0 for `C`")), "{text:?}");
        assert!(text.iter().any(|r| r.contains("`yes`")), "{text:?}");
        assert!(text.iter().any(|r| r.contains("listed again")), "{text:?}");
        assert_eq!(problems.len(), 4, "{text:?}");
    }
}
