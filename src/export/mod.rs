//! What mousexray writes for other tools: the predictions CSV and the reviewed results.

pub mod predictions;
pub mod review_csv;

/// A cell made safe for spreadsheets: text starting with `=`, `+`, `-`, `@`, tab or CR would be
/// run as a formula by Excel, LibreOffice or Sheets, so it gets a leading apostrophe. Applied
/// to every cell that comes from the user's files (ids, metadata, paths, reasons).
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_owned() }
}
