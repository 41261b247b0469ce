//! What mousexray writes for other tools: the predictions CSV and the reviewed results.

pub mod predictions;
pub mod review_csv;

/// A cell made safe for spreadsheets: text starting with `=`, `+`, `-`, `@`, tab or CR would be
/// run as a formula by Excel, LibreOffice or Sheets, so it gets a leading apostrophe. Applied
/// to every cell that comes from the user's files (ids, metadata, paths, reasons). A cell that
/// already starts with an apostrophe gets one more, so two different values (`=X`, `'=X`) never
/// become one cell.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) { format!("'{cell}") } else { cell.to_owned() }
}

/// [`neutralise`] for cells that may already have been neutralised (a CSV this tool wrote, read
/// back by `merge`): only a cell that would run as a formula gets the apostrophe, so a second
/// pass changes nothing.
pub fn neutralise_formula(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralising_keeps_different_cells_different_and_merge_idempotent() {
        let cells = ["=EVIL", "'=EVIL", "''=EVIL", "-1", "plain", "@x", "'"];
        let out: Vec<String> = cells.iter().map(|c| neutralise(c)).collect();
        let distinct: std::collections::HashSet<&String> = out.iter().collect();
        assert_eq!(distinct.len(), cells.len(), "{out:?}");
        assert!(out.iter().all(|c| !c.starts_with(['=', '+', '-', '@'])));
        for c in &out {
            assert_eq!(&neutralise_formula(c), c, "a second pass changes nothing");
        }
    }
}
