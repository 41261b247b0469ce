//! Problems found while reading a folder: each names the file and the reason.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What kind of problem a file or row has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The file or folder exists but cannot be read.
    Unreadable,
    /// Reading was refused by the operating system.
    PermissionDenied,
    /// A file with an image extension whose content is not a supported image.
    NotAnImage,
    /// No view could be told from the name, folder or manifest.
    UnknownView,
    /// Two images claim the same specimen and view; the first (by path) is kept.
    DuplicateView,
    /// A specimen has neither a DV nor an LV image, so the classifier cannot score it.
    NoModelView,
    /// Two different sources claim the same specimen id.
    DuplicateId,
    /// An image in an IMPC parameter folder that no manifest row assigns to a specimen.
    NotInManifest,
    /// A manifest row names a file that does not exist.
    ManifestMissingFile,
    /// A manifest row names a file outside the scanned folder.
    ManifestOutsideRoot,
    /// A manifest row or header is malformed.
    ManifestInvalid,
    /// A labels.csv row or header is malformed or inconsistent.
    LabelsInvalid,
    /// A symbolic link points back into its own ancestry.
    SymlinkLoop,
    /// Film QC found the image is not one whole animal in its view (see
    /// [`crate::imaging::QcCode`]).
    FilmQc,
}

impl ProblemKind {
    /// Short human-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::PermissionDenied => "permission denied",
            ProblemKind::NotAnImage => "not an image",
            ProblemKind::UnknownView => "unknown view",
            ProblemKind::DuplicateView => "duplicate view",
            ProblemKind::NoModelView => "neither DV nor LV",
            ProblemKind::DuplicateId => "duplicate specimen id",
            ProblemKind::NotInManifest => "not in manifest",
            ProblemKind::ManifestMissingFile => "manifest: missing file",
            ProblemKind::ManifestOutsideRoot => "manifest: outside folder",
            ProblemKind::ManifestInvalid => "manifest: invalid row",
            ProblemKind::LabelsInvalid => "labels: invalid",
            ProblemKind::SymlinkLoop => "symlink loop",
            ProblemKind::FilmQc => "film QC",
        }
    }
}

/// One problem: the file (or folder, or CSV) it concerns, its kind and a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The file, folder or CSV the problem is about.
    #[serde(serialize_with = "super::escape::path")]
    pub path: PathBuf,
    /// Category.
    pub kind: ProblemKind,
    /// What is wrong, in words.
    pub reason: String,
    /// The specimen the file's name gives, where it gives one (a specimen none of whose files
    /// is an image is not listed, so its problems name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specimen: Option<String>,
}

impl Problem {
    /// Creates a problem.
    pub fn new(path: impl Into<PathBuf>, kind: ProblemKind, reason: impl Into<String>) -> Self {
        Problem { path: path.into(), kind, reason: reason.into(), specimen: None }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", super::display_path(&self.path), self.kind.as_str(), self.reason)
    }
}
