//! Scanning a folder for specimens.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::manifest::{MANIFEST_FILE, Manifest, ManifestRow};
use super::naming::{NameParse, parse_file_name};
use super::{Layout, Metadata, Problem, ProblemKind, Specimen, View};
use crate::imaging::FileFormat;

/// The app's own folder inside a scanned folder (review state); never scanned.
pub const APP_DIR: &str = ".mousexray";

/// A file mousexray writes into each folder of pictures it makes (saliency overlays): a scan
/// skips a folder holding it, so overlays written inside the folder they came from never come
/// back as specimens.
pub const OUTPUT_MARKER: &str = ".mousexray-output";

/// Options for [`scan_with`].
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// A manifest to use instead of `<root>/specimens.csv`.
    pub manifest: Option<PathBuf>,
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The scanned folder.
    #[serde(serialize_with = "super::escape::path")]
    pub root: PathBuf,
    /// Specimens with at least a DV or an LV image, sorted by id.
    pub specimens: Vec<Specimen>,
    /// Every problem met, sorted by path.
    pub problems: Vec<Problem>,
    /// Number of files looked at.
    pub files_seen: usize,
}

impl ScanReport {
    /// What to say when the folder holds no specimen: the folder, how many problems the scan
    /// found and where they are listed.
    pub fn nothing_found(&self) -> String {
        let n = self.problems.len();
        let problems = if n == 1 { "1 problem".to_owned() } else { format!("{n} problems") };
        format!(
            "{}: no specimens found ({problems}; `mousexray scan` lists them); nothing written",
            self.root.display()
        )
    }

    /// The problem that kept `view` of specimen `id` out: a file named for that specimen and
    /// view that could not be used (not an image, unreadable, a second copy), so a viewer can say
    /// why instead of "no image".
    pub fn refused(&self, id: &str, view: View) -> Option<&Problem> {
        self.problems.iter().find(|p| {
            let rel = p.path.strip_prefix(&self.root).unwrap_or(&p.path);
            matches!(parse_file_name(rel), NameParse::Known { id: pid, view: v, .. } if pid == id && v == view)
        })
    }
}

/// Why a folder could not be scanned at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Nothing exists at that path.
    #[error("{}: no such folder", .0.display())]
    Missing(PathBuf),
    /// The path is a file, not a folder.
    #[error("{}: not a folder", .0.display())]
    NotAFolder(PathBuf),
    /// The folder cannot be listed.
    #[error("{}: cannot read the folder: {source}", path.display())]
    Unreadable {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Scans `root` with default options (manifest `<root>/specimens.csv` when present).
pub fn scan(root: &Path) -> Result<ScanReport, ScanError> {
    scan_with(root, &ScanOptions::default())
}

/// One image and who it belongs to.
struct Claim {
    id: String,
    view: View,
    path: PathBuf,
    layout: Layout,
    /// For folder-named specimens, the folder: one id must not come from two folders.
    folder: Option<PathBuf>,
}

/// Whether `root` is a folder to read: [`ScanError::Missing`] when nothing is there,
/// [`ScanError::NotAFolder`] when a file is (every command taking a folder says it alike).
///
/// # Errors
/// As named above, or the path cannot be read.
pub fn require_folder(root: &Path) -> Result<(), ScanError> {
    let meta = std::fs::metadata(root).map_err(|e| match e.kind() {
        ErrorKind::NotFound => ScanError::Missing(root.to_owned()),
        _ => ScanError::Unreadable { path: root.to_owned(), source: e },
    })?;
    if meta.is_dir() { Ok(()) } else { Err(ScanError::NotAFolder(root.to_owned())) }
}

/// Scans `root` for specimens in any mix of the four layouts (see the README).
///
/// Never panics on bad input: every unreadable, unrecognised or conflicting file becomes a
/// [`Problem`] and every good specimen is still returned.
pub fn scan_with(root: &Path, options: &ScanOptions) -> Result<ScanReport, ScanError> {
    require_folder(root)?;
    std::fs::read_dir(root).map_err(|e| ScanError::Unreadable { path: root.to_owned(), source: e })?;

    let mut problems = Vec::new();
    let files = walk(root, &mut problems);
    let files_seen = files.len();

    // Sniff contents in parallel: an extension proves nothing.
    let sniffed: Vec<(PathBuf, Result<FileFormat, Problem>)> =
        files.into_par_iter().filter_map(|path| sniff_candidate(&path).map(|r| (path, r))).collect();
    let mut images: Vec<PathBuf> = Vec::new();
    for (path, result) in sniffed {
        match result {
            Ok(_) => images.push(path),
            Err(mut p) => {
                if let NameParse::Known { id, .. } = parse_file_name(path.strip_prefix(root).unwrap_or(&path)) {
                    p.specimen = Some(id);
                }
                problems.push(p);
            }
        }
    }
    images.sort();

    let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let mut found = Assignments::default();

    let manifest_path = options.manifest.clone().unwrap_or_else(|| root.join(MANIFEST_FILE));
    if options.manifest.is_some() || manifest_path.is_file() {
        match Manifest::read(&manifest_path) {
            Err(p) => problems.push(p),
            Ok((manifest, row_problems)) => {
                problems.extend(row_problems);
                for row in &manifest.rows {
                    let usable = row.image.is_none()
                        || found.claim_row(row, &manifest.path, root, &canonical_root, &mut problems);
                    if usable {
                        found.merge_metadata(row, &manifest.path, &mut problems);
                    }
                }
            }
        }
    }

    for path in images {
        // Only a manifest claims files; without one, skip a syscall per image.
        if !found.claimed.is_empty()
            && found.claimed.contains(&std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()))
        {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path);
        match parse_file_name(rel) {
            NameParse::Known { id, view, layout } => {
                let folder = (layout == Layout::Subfolders).then(|| path.parent().map(Path::to_owned)).flatten();
                found.claims.push(Claim { id, view, path, layout, folder });
            }
            NameParse::ImpcMedia { view, media_id } => match found.media.get(&(view, media_id.clone())) {
                Some(id) => found.claims.push(Claim { id: id.clone(), view, path, layout: Layout::Impc, folder: None }),
                None => problems.push(Problem::new(
                    &path,
                    ProblemKind::NotInManifest,
                    format!(
                        "IMPC media file `{media_id}` ({view}) is not assigned to a specimen; add a row to {MANIFEST_FILE}"
                    ),
                )),
            },
            NameParse::UnknownView { reason } => problems.push(Problem::new(&path, ProblemKind::UnknownView, reason)),
        }
    }

    let mut specimens = group(found.claims, &mut problems);
    for s in &mut specimens {
        if let Some((m, _)) = found.metadata.remove(&s.id) {
            s.metadata = m;
        }
    }
    for (id, (_, line)) in found.metadata {
        problems.push(Problem::new(
            &manifest_path,
            ProblemKind::ManifestInvalid,
            format!("line {line}: specimen `{id}` has metadata but no usable image"),
        ));
    }
    specimens.retain(|s| {
        if s.dv().is_some() || s.lv().is_some() {
            return true;
        }
        let path = s.images.values().next().cloned().unwrap_or_default();
        let views: Vec<String> = s.images.keys().map(ToString::to_string).collect();
        problems.push(Problem {
            specimen: Some(s.id.clone()),
            ..Problem::new(
                path,
                ProblemKind::NoModelView,
                format!("specimen `{}` has only {}; the classifier needs DV or LV", s.id, views.join(", ")),
            )
        });
        false
    });
    problems.sort_by(|a, b| (&a.path, a.kind, &a.reason).cmp(&(&b.path, b.kind, &b.reason)));
    Ok(ScanReport { root: root.to_owned(), specimens, problems, files_seen })
}

/// Lists every regular file under `root`, skipping hidden entries, the app folder and folders
/// mousexray wrote pictures into ([`OUTPUT_MARKER`]), following
/// symbolic links, and reporting loops, unreadable entries and entries that are not regular
/// files.
fn walk(root: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name().into_iter().filter_entry(|e| {
        e.depth() == 0
            || !(e.file_name().to_string_lossy().starts_with('.')
                || e.file_type().is_dir() && e.path().join(OUTPUT_MARKER).is_file())
    });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
            Ok(e) if e.file_type().is_dir() => {}
            // Never opened: reading a FIFO would wait for a writer forever, a device never ends.
            Ok(e) => problems.push(Problem::new(
                e.into_path(),
                ProblemKind::NotAnImage,
                "not a regular file (a FIFO, socket or device); not read",
            )),
            Err(err) => {
                let path = err.path().map(Path::to_owned).unwrap_or_else(|| root.to_owned());
                let problem = if let Some(ancestor) = err.loop_ancestor() {
                    Problem::new(
                        path,
                        ProblemKind::SymlinkLoop,
                        format!("links back to {}; not followed", ancestor.display()),
                    )
                } else {
                    match err.io_error() {
                        Some(io) if io.kind() == ErrorKind::PermissionDenied => {
                            Problem::new(path, ProblemKind::PermissionDenied, "cannot be read: permission denied")
                        }
                        Some(io) if io.kind() == ErrorKind::NotFound => {
                            Problem::new(path, ProblemKind::Unreadable, "broken symbolic link")
                        }
                        _ => Problem::new(path, ProblemKind::Unreadable, err.to_string()),
                    }
                };
                problems.push(problem);
            }
        }
    }
    files
}

/// Sniffs a file by its content, whatever its name (a DICOM file named by its SOP Instance UID
/// has a number for an "extension"). `None`: readable but not an image, and nothing promised
/// one (a CSV, a text file), silently ignored; a file whose extension promises an image but
/// whose content is none is a problem.
fn sniff_candidate(path: &Path) -> Option<Result<FileFormat, Problem>> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    let promised = ext.as_deref().and_then(FileFormat::from_extension);
    Some(match FileFormat::sniff_file(path) {
        Ok(Some(format)) => Ok(format),
        Ok(None) if promised.is_none() => return None,
        Ok(None) => {
            let empty = std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(false);
            let reason = if empty {
                "empty file (0 bytes)".to_owned()
            } else {
                format!(
                    "content is not PNG, JPEG, BMP, TIFF or DICOM despite the .{} extension",
                    ext.unwrap_or_default()
                )
            };
            Err(Problem::new(path, ProblemKind::NotAnImage, reason))
        }
        // A file nobody would take for an image is not worth a problem when unreadable.
        Err(_) if promised.is_none() && ext.is_some() => return None,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            Err(Problem::new(path, ProblemKind::PermissionDenied, "cannot be read: permission denied"))
        }
        Err(e) => Err(Problem::new(path, ProblemKind::Unreadable, format!("cannot be read: {e}"))),
    })
}

/// What the manifest and the file names have assigned so far.
#[derive(Default)]
struct Assignments {
    /// Images claimed for specimens, manifest rows first.
    claims: Vec<Claim>,
    /// Canonical paths the manifest has dealt with: names no longer decide them.
    claimed: HashSet<PathBuf>,
    /// IMPC media files (view, media id) to specimen ids, from the manifest.
    media: HashMap<(View, String), String>,
    /// Metadata per specimen, with the first manifest line that gave it.
    metadata: BTreeMap<String, (Metadata, u64)>,
}

impl Assignments {
    /// Checks the file a manifest row names and claims it. `false` when the row is unusable.
    fn claim_row(
        &mut self,
        row: &ManifestRow,
        manifest: &Path,
        root: &Path,
        canonical_root: &Path,
        problems: &mut Vec<Problem>,
    ) -> bool {
        let Some((view, file)) = &row.image else { return false };
        let path = if file.is_absolute() { file.clone() } else { root.join(file) };
        let here = |kind, reason: String| Problem::new(manifest, kind, format!("line {}: {reason}", row.line));
        let canonical = match std::fs::canonicalize(&path) {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                problems.push(here(ProblemKind::ManifestMissingFile, format!("`{}` does not exist", file.display())));
                return false;
            }
            Err(e) => {
                problems.push(here(ProblemKind::Unreadable, format!("`{}`: {e}", file.display())));
                return false;
            }
        };
        if !canonical.starts_with(canonical_root) {
            problems.push(here(
                ProblemKind::ManifestOutsideRoot,
                format!("`{}` is outside the scanned folder; ignored", file.display()),
            ));
            return false;
        }
        // Never opened, as the walk never opens one: reading a FIFO waits for a writer forever.
        if !canonical.is_file() {
            problems.push(here(
                ProblemKind::NotAnImage,
                format!("`{}` is not a regular file (a folder, FIFO, socket or device); not read", file.display()),
            ));
            self.claimed.insert(canonical);
            return false;
        }
        match sniff_candidate(&path) {
            Some(Ok(_)) => {}
            Some(Err(p)) => {
                problems.push(p);
                self.claimed.insert(canonical);
                return false;
            }
            None => {
                problems.push(Problem::new(
                    &path,
                    ProblemKind::NotAnImage,
                    "listed in the manifest, but its content is not PNG, JPEG, BMP, TIFF or DICOM",
                ));
                return false;
            }
        }
        if let NameParse::ImpcMedia { view: folder_view, media_id } = parse_file_name(file) {
            self.media.insert((folder_view, media_id), row.specimen_id.clone());
        }
        self.claimed.insert(canonical);
        self.claims.push(Claim {
            id: row.specimen_id.clone(),
            view: *view,
            path,
            layout: Layout::Manifest,
            folder: None,
        });
        true
    }

    /// Merges a row's metadata into its specimen's, reporting values that differ between rows.
    fn merge_metadata(&mut self, row: &ManifestRow, manifest: &Path, problems: &mut Vec<Problem>) {
        let entry = self.metadata.entry(row.specimen_id.clone()).or_insert_with(|| (Metadata::default(), row.line));
        for (key, value) in row.metadata.fields() {
            match entry.0.fields().into_iter().find(|(k, _)| *k == key) {
                Some((_, old)) if old != value => problems.push(Problem::new(
                    manifest,
                    ProblemKind::ManifestInvalid,
                    format!(
                        "line {}: `{key}` = `{value}` for `{}` differs from `{old}` on an earlier row; `{old}` is kept",
                        row.line, row.specimen_id
                    ),
                )),
                Some(_) => {}
                None => entry.0.set(key, value),
            }
        }
    }
}

/// Groups claims into specimens: one image per view, one source per id.
fn group(claims: Vec<Claim>, problems: &mut Vec<Problem>) -> Vec<Specimen> {
    let mut specimens: BTreeMap<String, (Specimen, Option<PathBuf>)> = BTreeMap::new();
    let mut by_folded: HashMap<String, String> = HashMap::new();
    for c in claims {
        let folded = c.id.to_lowercase();
        match by_folded.get(&folded) {
            Some(existing) if *existing != c.id => {
                problems.push(Problem::new(
                    &c.path,
                    ProblemKind::DuplicateId,
                    format!("specimen id `{}` differs only in case from `{existing}`; ignored", c.id),
                ));
                continue;
            }
            Some(_) => {}
            None => {
                by_folded.insert(folded, c.id.clone());
            }
        }
        let (specimen, folder) = specimens.entry(c.id.clone()).or_insert_with(|| {
            let s =
                Specimen { id: c.id.clone(), images: BTreeMap::new(), metadata: Metadata::default(), layout: c.layout };
            (s, c.folder.clone())
        });
        if let (Some(mine), Some(theirs)) = (folder.as_ref(), c.folder.as_ref())
            && mine != theirs
        {
            problems.push(Problem::new(
                &c.path,
                ProblemKind::DuplicateId,
                format!("specimen `{}` is also the folder {}; ignored", c.id, super::display_path(mine)),
            ));
            continue;
        }
        if folder.is_none() {
            *folder = c.folder.clone();
        }
        match specimen.images.get(&c.view) {
            Some(kept) => problems.push(Problem::new(
                &c.path,
                ProblemKind::DuplicateView,
                format!("second {} image for `{}`; keeping {}", c.view, c.id, super::display_path(kept)),
            )),
            None => {
                specimen.images.insert(c.view, c.path);
            }
        }
    }
    specimens.into_values().map(|(s, _)| s).collect()
}
