//! What mousexray writes for other tools: the predictions CSV and the reviewed results.

pub mod predictions;
pub mod review_csv;

use std::path::{Path, PathBuf};

/// The file a CSV export chosen in the window writes: the path given, with `.csv` added when it
/// has no extension.
pub fn csv_target(path: &Path) -> PathBuf {
    if path.extension().is_none() { path.with_extension("csv") } else { path.to_owned() }
}

/// Whether `path` holds an image (told by its content, as the scan tells films): what a CSV
/// must never be written over.
pub fn holds_image(path: &Path) -> Option<crate::imaging::FileFormat> {
    crate::imaging::FileFormat::sniff_file(path).ok().flatten()
}

/// Refuses to write a CSV over an image: a mistyped `--out` must not replace a film.
///
/// # Errors
/// `path` holds an image, naming it and its format.
pub fn refuse_image(path: &Path) -> anyhow::Result<()> {
    match holds_image(path) {
        Some(format) => anyhow::bail!("{}: holds a {format} image; a CSV is never written over a film", path.display()),
        None => Ok(()),
    }
}

/// Checks a command-line output file and creates its folder, as `predict --out runs/0412/p.csv`
/// expects (the window instead warns of a missing folder before its export). Commands call it
/// before any slow work, so a mistyped path fails at once; `example` is a file name to suggest.
///
/// # Errors
/// `-` (nothing is written to standard output), a folder or a path ending in a separator, a
/// path through a file, an existing path that is not a regular file (a device, a FIFO: never
/// opened, as the scan never opens one), an image, or a folder that cannot be created; each
/// naming the path.
pub fn prepare_out(path: &Path, example: &str) -> anyhow::Result<()> {
    let shown = path.display();
    anyhow::ensure!(
        path.as_os_str() != "-",
        "--out -: nothing is written to standard output; give a file name such as {example}"
    );
    let text = path.as_os_str().to_string_lossy();
    if path.is_dir() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        anyhow::bail!("{shown}: a folder; give a file name in it, such as {}", path.join(example).display());
    }
    check_target(path)?;
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot create the folder: {e}", dir.display())),
        None => Ok(()),
    }
}

/// Checks a file a command will write (an output or its companion, such as `OUT.problems.csv`)
/// without opening it.
///
/// # Errors
/// A path through a file, a folder, an existing path that is not a regular file, or an image.
pub fn check_target(path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    // A path through a file (`film.png/x.csv`): the OS would only say "File exists".
    if let Some(file) = path.ancestors().skip(1).find(|a| a.is_file()) {
        anyhow::bail!("{shown}: {} is a file, not a folder", file.display());
    }
    // The review sidecar holds the reviewer's work: nothing else is written into it.
    if path.components().any(|c| c.as_os_str() == crate::specimen::APP_DIR) {
        anyhow::bail!(
            "{shown}: inside a review folder ({}), which holds the reviewer's work",
            crate::specimen::APP_DIR
        );
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if path.is_file() && [crate::specimen::MANIFEST_FILE, crate::specimen::LABELS_FILE].contains(&name.as_str()) {
        anyhow::bail!("{shown}: a folder's {name}, which the scan reads; choose another name");
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => anyhow::bail!("{shown}: a folder, where a file is to be written"),
        // Opening a FIFO waits for a writer forever; a device would be written into or replaced.
        Ok(m) if !m.is_file() => {
            anyhow::bail!("{shown}: not a regular file (a device, FIFO or socket); give a file name")
        }
        Ok(m) if m.len() > 0 => {
            refuse_image(path)?;
            // Every CSV mousexray writes begins with its specimen_id column: anything else (a
            // model, a review, a program) is not ours to replace.
            let mut head = [0u8; 15];
            let n = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
            let head = head.get(..n).unwrap_or_default();
            let head = head.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(head);
            if !head.starts_with(b"specimen_id") {
                anyhow::bail!(
                    "{shown}: exists and is not a CSV mousexray wrote (it does not begin with specimen_id); \
                     remove it or choose another name"
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

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
