//! The manifest CSV (`specimens.csv`): which file is which specimen and view, plus metadata.

use std::path::{Path, PathBuf};

use super::naming::{NameParse, parse_file_name};
use super::{Metadata, Problem, ProblemKind, View};

/// The manifest's file name in a scanned folder's root.
pub const MANIFEST_FILE: &str = "specimens.csv";

/// One usable manifest row.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRow {
    /// 1-based line number in the CSV, for messages.
    pub line: u64,
    /// Specimen id.
    pub specimen_id: String,
    /// The image and its view; `None` for a metadata-only row.
    pub image: Option<(View, PathBuf)>,
    /// Metadata columns of this row.
    pub metadata: Metadata,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manifest {
    /// The CSV file.
    pub path: PathBuf,
    /// Usable rows, in file order.
    pub rows: Vec<ManifestRow>,
}

const ID_COLUMNS: [&str; 2] = ["specimen_id", "external_sample_id"];
const VIEW_COLUMNS: [&str; 2] = ["view", "parameter_stable_id"];
const PATH_COLUMNS: [&str; 4] = ["path", "file", "file_name", "filename"];

impl Manifest {
    /// Reads a manifest. Columns: `specimen_id` (or `external_sample_id`), `view` (or
    /// `parameter_stable_id`; may be left empty when the path names the view), `path` (relative
    /// to the manifest's folder; empty for a metadata-only row), and any IMPC metadata columns.
    ///
    /// A file that cannot be used at all is an `Err`; bad rows are skipped and returned as
    /// problems.
    pub fn read(path: &Path) -> Result<(Manifest, Vec<Problem>), Problem> {
        let invalid = |reason: String| Problem::new(path, ProblemKind::ManifestInvalid, reason);
        let mut reader =
            csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_path(path).map_err(|e| {
                let kind = io_kind(&e);
                Problem::new(path, kind, format!("cannot open the manifest: {e}"))
            })?;
        let headers: Vec<String> = reader
            .byte_headers()
            .map_err(|e| invalid(format!("cannot read the header row: {e}")))?
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let find = |names: &[&str]| names.iter().find_map(|n| headers.iter().position(|h| h == n));
        let Some(id_col) = find(&ID_COLUMNS) else {
            return Err(invalid(format!("no `specimen_id` column (header: {})", headers.join(","))));
        };
        let view_col = find(&VIEW_COLUMNS);
        let path_col = find(&PATH_COLUMNS);

        let mut manifest = Manifest { path: path.to_owned(), rows: Vec::new() };
        let mut problems = Vec::new();
        for record in reader.byte_records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    problems.push(invalid(format!("line {line}: {e}")));
                    continue;
                }
            };
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != headers.len() {
                problems.push(invalid(format!(
                    "line {line}: {} fields, the header has {}",
                    record.len(),
                    headers.len()
                )));
                continue;
            }
            let field = |i: usize| record.get(i).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            let specimen_id = field(id_col);
            if specimen_id.is_empty() {
                problems.push(invalid(format!("line {line}: empty specimen_id")));
                continue;
            }
            let mut metadata = Metadata::default();
            for (i, h) in headers.iter().enumerate() {
                let structural = Some(i) == view_col || Some(i) == path_col || (i == id_col && h == "specimen_id");
                if !structural && !h.is_empty() {
                    metadata.set(h, &field(i));
                }
            }
            let file = path_col.map(field).unwrap_or_default();
            let image = if file.is_empty() {
                None
            } else {
                let view_text = view_col.map(field).unwrap_or_default();
                let view = if view_text.is_empty() {
                    match parse_file_name(Path::new(&file)) {
                        NameParse::Known { view, .. } | NameParse::ImpcMedia { view, .. } => Some(view),
                        NameParse::UnknownView { .. } => None,
                    }
                } else {
                    View::parse(&view_text)
                };
                let Some(view) = view else {
                    problems.push(Problem::new(
                        path,
                        ProblemKind::UnknownView,
                        format!("line {line}: unknown view `{view_text}` for `{file}`"),
                    ));
                    continue;
                };
                Some((view, PathBuf::from(file)))
            };
            manifest.rows.push(ManifestRow { line, specimen_id, image, metadata });
        }
        Ok((manifest, problems))
    }
}

/// Maps an I/O-backed CSV error to a problem kind.
fn io_kind(e: &csv::Error) -> ProblemKind {
    match e.kind() {
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => ProblemKind::PermissionDenied,
        _ => ProblemKind::Unreadable,
    }
}
