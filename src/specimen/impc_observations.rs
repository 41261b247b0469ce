//! Training labels from IMPC observations: the long form in which IMPC experiment data comes
//! (one row per specimen and parameter), turned into our `labels.csv` (`mousexray labels
//! --from-impc`).
//!
//! Each IMPC_XRY parameter is matched on its `_XRY_0NN_` stem, so every procedure version and
//! centre prefix works (`IMPC_XRY_056_001`, `MGP_XRY_056_001`, `IMPC_XRY_056_002`), and mapped
//! to the taxonomy node that lists it ([`crate::taxonomy::Node::impc_parameters`]). Answers:
//! `abnormal` and `fused` are positive; `normal` and `not fused` negative; `imageOnly`,
//! `unobservable` and an empty answer unknown; a count parameter (digits) is positive outside
//! its normal count ([`NormalCounts`]). A node is positive if any of its parameters is, negative
//! only if every one known is negative, unknown otherwise.

use std::collections::BTreeMap;
use std::path::Path;

use crate::taxonomy::{Level, NodeLabels, Taxonomy};

use super::{Problem, ProblemKind};

/// What one observation says of its parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Positive,
    Negative,
    Unknown,
}

/// Normal counts of the count parameters, by `_XRY_0NN_` stem: the range a wild-type animal of
/// the strain shows. Default: digits (028) 20, five on each of four paws, for C57BL/6N and the
/// other standard IMPC strains.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalCounts(pub BTreeMap<String, (f64, f64)>);

impl Default for NormalCounts {
    fn default() -> Self {
        NormalCounts(BTreeMap::from([("028".to_owned(), (20.0, 20.0))]))
    }
}

/// Whether an IMPC parameter is a count (its answer a `data_point`, not a category): the
/// parameters [`NormalCounts`] knows.
pub fn is_count_parameter(parameter: &str) -> bool {
    xry_stem(parameter).is_some_and(|stem| NormalCounts::default().0.contains_key(stem))
}

/// What reading the observations found besides the labels, with the file lines (1-based,
/// counting the header) of each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservationReport {
    /// Data rows read.
    pub rows: usize,
    /// Rows whose parameter maps to a taxonomy node.
    pub mapped: usize,
    /// Parameters no node lists, by parameter id.
    pub unmapped: BTreeMap<String, Vec<usize>>,
    /// Answers that are none of the known words, by (parameter, answer).
    pub unknown_answers: BTreeMap<(String, String), Vec<usize>>,
    /// A specimen's parameter answered twice, differently: (specimen, parameter) -> lines. The
    /// parameter is then unknown.
    pub conflicts: BTreeMap<(String, String), Vec<usize>>,
    /// Rows without a specimen id.
    pub no_specimen: Vec<usize>,
}

/// The `_XRY_0NN_` stem (`"056"`) of an IMPC X-ray parameter id, whatever its prefix and version.
pub fn xry_stem(parameter: &str) -> Option<&str> {
    let at = parameter.to_ascii_uppercase().find("_XRY_")? + 5;
    let stem = parameter.get(at..at + 3)?;
    let ends = matches!(parameter.as_bytes().get(at + 3), None | Some(b'_'));
    (ends && stem.bytes().all(|b| b.is_ascii_digit())).then_some(stem)
}

fn answer(stem: &str, category: &str, data_point: &str, counts: &NormalCounts) -> Option<Answer> {
    let said = match category.trim().to_ascii_lowercase().as_str() {
        "abnormal" | "fused" => Some(Answer::Positive),
        "normal" | "not fused" => Some(Answer::Negative),
        "" | "imageonly" | "image only" | "image_only" | "unobservable" => Some(Answer::Unknown),
        _ => None,
    };
    let Some(&(lo, hi)) = counts.0.get(stem) else { return said };
    // A count: abnormal said in words stands; otherwise the number decides, and a number that
    // is not one (NaN, text) is not guessed.
    let d = data_point.trim();
    match (said, d.is_empty()) {
        (Some(Answer::Positive), _) => Some(Answer::Positive),
        (said, true) => said,
        (_, false) => d
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|n| if n < lo || n > hi { Answer::Positive } else { Answer::Negative }),
    }
}

/// Reads IMPC observations (CSV with a header) into labels by specimen id: every taxonomy node,
/// completed by the taxonomy's rule (unknown where nothing is known).
///
/// Columns, by header name: `specimen_id` or else `external_sample_id`, `parameter_stable_id`,
/// `category` and, for count parameters, `data_point`; any others are ignored here.
///
/// # Errors
/// The file cannot be opened, or lacks the id or parameter column; each as a [`Problem`] naming
/// the file.
pub fn read_observations(
    path: &Path,
    taxonomy: &Taxonomy,
    counts: &NormalCounts,
) -> Result<(BTreeMap<String, NodeLabels>, ObservationReport), Problem> {
    let invalid = |reason: String| Problem::new(path, ProblemKind::LabelsInvalid, reason);
    let mut head = [0u8; 2];
    if let Ok(mut f) = std::fs::File::open(path)
        && std::io::Read::read(&mut f, &mut head).is_ok_and(|n| n == 2)
        && (head == [0xFF, 0xFE] || head == [0xFE, 0xFF])
    {
        return Err(invalid("UTF-16 text; save the observations as a UTF-8 CSV".to_owned()));
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Problem::new(path, ProblemKind::Unreadable, format!("cannot open observations: {e}")))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let id_col = col("specimen_id").or_else(|| col("external_sample_id")).ok_or_else(|| {
        invalid(format!("no `specimen_id` or `external_sample_id` column (header: {})", headers.join(",")))
    })?;
    let param_col = col("parameter_stable_id")
        .ok_or_else(|| invalid(format!("no `parameter_stable_id` column (header: {})", headers.join(","))))?;
    let (category_col, data_col) = (col("category"), col("data_point"));
    if category_col.is_none() {
        return Err(invalid(format!("no `category` column (header: {})", headers.join(","))));
    }
    // A row whose `specimen_id` is empty falls back to its `external_sample_id`.
    let fallback_col = col("external_sample_id").filter(|&c| c != id_col);
    // Parameter stem -> node index.
    let mut node_of: BTreeMap<String, usize> = BTreeMap::new();
    for (k, n) in taxonomy.nodes.iter().enumerate() {
        for p in &n.impc_parameters {
            if let Some(stem) = xry_stem(p) {
                node_of.insert(stem.to_owned(), k);
            }
        }
    }
    let mut report = ObservationReport::default();
    // (specimen, parameter stem) -> (answer, first line); conflicting answers become unknown.
    let mut answers: BTreeMap<(String, String), (Answer, String, Vec<usize>)> = BTreeMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(invalid(format!("{e}"))),
        }
        let line = record.position().map_or(0, |p| p.line() as usize);
        report.rows += 1;
        // Text outside UTF-8 (a Latin-1 comment) is read lossily rather than stopping the run.
        let cells: Vec<String> = record.iter().map(|c| String::from_utf8_lossy(c).trim().to_owned()).collect();
        let cell = |c: Option<usize>| c.and_then(|c| cells.get(c)).map_or("", String::as_str);
        let id = match cell(Some(id_col)) {
            "" => cell(fallback_col),
            id => id,
        };
        let parameter = cell(Some(param_col));
        if id.is_empty() {
            report.no_specimen.push(line);
            continue;
        }
        let Some(stem) = xry_stem(parameter).filter(|s| node_of.contains_key(*s)) else {
            report.unmapped.entry(parameter.to_owned()).or_default().push(line);
            continue;
        };
        report.mapped += 1;
        let Some(a) = answer(stem, cell(category_col), cell(data_col), counts) else {
            let said = if cell(category_col).is_empty() { cell(data_col) } else { cell(category_col) };
            let said: String = said.chars().take(40).collect();
            report.unknown_answers.entry((parameter.to_owned(), said)).or_default().push(line);
            continue;
        };
        let key = (id.to_owned(), stem.to_owned());
        match answers.get_mut(&key) {
            None => {
                answers.insert(key, (a, parameter.to_owned(), vec![line]));
            }
            Some((seen, first, lines)) => {
                lines.push(line);
                match (*seen, a) {
                    (_, Answer::Unknown) => {}
                    (Answer::Unknown, known) if !report.conflicts.contains_key(&(id.to_owned(), first.clone())) => {
                        *seen = known;
                    }
                    (s, known) if s != known => {
                        *seen = Answer::Unknown;
                        report.conflicts.insert((id.to_owned(), first.clone()), lines.clone());
                    }
                    _ => {}
                }
            }
        }
    }
    let mut labels: BTreeMap<String, NodeLabels> = BTreeMap::new();
    for ((id, stem), (a, _, _)) in &answers {
        let row = labels.entry(id.clone()).or_insert_with(|| vec![None; taxonomy.nodes.len()]);
        let node = node_of[stem];
        row[node] = match (row[node], a) {
            (_, Answer::Positive) | (Some(true), _) => Some(true),
            (_, Answer::Negative) => Some(false),
            (known, Answer::Unknown) => known,
        };
    }
    for row in labels.values_mut() {
        // Only L3 answers are read; the rest follow by the rule.
        for (k, n) in taxonomy.nodes.iter().enumerate() {
            if n.level != Level::L3 {
                row[k] = None;
            }
        }
        taxonomy.complete(row);
    }
    Ok((labels, report))
}

/// A line list as a person reads it: `3, 7, 12` or `3, 7, 12 and 40 more`.
pub fn line_list(lines: &[usize]) -> String {
    let shown: Vec<String> = lines.iter().take(5).map(usize::to_string).collect();
    match lines.len().saturating_sub(5) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_match_every_prefix_and_version() {
        assert_eq!(xry_stem("IMPC_XRY_056_001"), Some("056"));
        assert_eq!(xry_stem("MGP_XRY_056_001"), Some("056"));
        assert_eq!(xry_stem("IMPC_XRY_056_002"), Some("056"));
        assert_eq!(xry_stem("IMPC_BWT_001_001"), None);
        assert_eq!(xry_stem("IMPC_XRY_"), None);
        assert_eq!(xry_stem("impc_xry_056_001"), Some("056"));
        assert_eq!(xry_stem("IMPC_XRY_0561_001"), None);
    }

    #[test]
    fn answers_follow_the_vocabulary_and_the_counts() {
        let c = NormalCounts::default();
        assert_eq!(answer("056", "abnormal", "", &c), Some(Answer::Positive));
        assert_eq!(answer("019", "fused", "", &c), Some(Answer::Positive));
        assert_eq!(answer("019", "not fused", "", &c), Some(Answer::Negative));
        assert_eq!(answer("056", "imageOnly", "", &c), Some(Answer::Unknown));
        assert_eq!(answer("056", "unobservable", "", &c), Some(Answer::Unknown));
        assert_eq!(answer("056", "banana", "", &c), None);
        assert_eq!(answer("028", "", "20", &c), Some(Answer::Negative));
        assert_eq!(answer("028", "", "21", &c), Some(Answer::Positive));
        assert_eq!(answer("028", "", "", &c), Some(Answer::Unknown));
        assert_eq!(answer("028", "", "many", &c), None);
        assert_eq!(answer("028", "", "NaN", &c), None);
        assert_eq!(answer("028", "Abnormal", "20", &c), Some(Answer::Positive));
        assert_eq!(answer("028", "ImageOnly", "", &c), Some(Answer::Unknown));
    }
}
