//! Where a review lives on disk, and how it survives crashes.
//!
//! `<folder>/.mousexray/review.json` is a snapshot, replaced atomically (temporary file, fsync,
//! rename, fsync of the directory). Every edit is first appended to `journal.jsonl` and fsynced,
//! so an edit is durable as soon as `append` returns; a snapshot then lets the journal be
//! truncated. On open, the snapshot is read and the journal's newer edits are replayed. A
//! snapshot that cannot be read is set aside (renamed, never overwritten) and reported; if it
//! cannot be set aside the review does not open, so nothing is ever written over it. An OS
//! advisory lock ([`crate::fsx::FolderLock`]) keeps a second process out and dies with its
//! holder. When the folder is read-only the review goes to the user data folder instead, and the
//! caller is told. A blinded second reading ([`Reading::Second`]) keeps the same files in a
//! folder of its own inside the review folder, with its own lock.

use std::fs::{File, OpenOptions};
use std::io::Write;

use crate::fsx::{FolderLock, LockError};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{Edit, ReviewState, SCHEMA};
use super::reading::Reading;

/// Folder inside the reviewed folder (the one `scan` skips).
const SIDECAR: &str = crate::specimen::APP_DIR;
const SNAPSHOT: &str = "review.json";
const JOURNAL: &str = "journal.jsonl";
const LOCK: &str = "review.lock";

/// Why a review cannot be opened or saved.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Another process holds the lock.
    #[error("{folder} is already open in another mousexray ({holder}); close it there to record decisions here")]
    Locked {
        /// The reviewed folder.
        folder: PathBuf,
        /// Who holds it.
        holder: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// Reading or writing failed.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A decision names something the taxonomy lacks.
    #[error(transparent)]
    Decision(#[from] super::decision::DecisionError),
}

fn io(path: &Path, e: impl std::fmt::Display) -> ReviewError {
    ReviewError::Io { path: path.to_owned(), reason: e.to_string() }
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    rev: u64,
    reviewer: String,
    time: String,
    edit: Edit,
}

/// An open review's files, holding the lock until dropped.
#[derive(Debug)]
pub struct ReviewStore {
    /// Folder holding the review files.
    pub dir: PathBuf,
    /// The folder's review folder (`dir`, or for a second reading the folder above it), where
    /// the folder's other files (classification results) are kept whatever the reading.
    pub base: PathBuf,
    /// Set when the review is not beside the images, with the reason.
    pub relocated: Option<String>,
    journal: File,
    /// Held for as long as the store lives.
    _lock: FolderLock,
}

/// What opening found.
#[derive(Debug)]
pub struct Opened {
    /// The store, locked.
    pub store: ReviewStore,
    /// The restored state.
    pub state: ReviewState,
    /// Things the user should know (a damaged file set aside, edits replayed, a relocation).
    pub notes: Vec<String>,
}

/// Where the review of `folder` goes when the folder cannot be written.
pub fn fallback_dir(folder: &Path) -> PathBuf {
    let canonical = folder.canonicalize().unwrap_or_else(|_| folder.to_owned());
    let mut h = crate::fingerprint::Fnv::default();
    h.write(canonical.to_string_lossy().as_bytes());
    let base = directories::ProjectDirs::from("org", "mousexray", "mousexray")
        .map_or_else(|| std::env::temp_dir().join("mousexray"), |d| d.data_dir().to_owned());
    base.join("reviews").join(format!("{:016x}", h.0))
}

fn writable(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(".write-probe");
    let ok = File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

impl ReviewStore {
    /// Opens (or starts) the review of `folder`.
    pub fn open(folder: &Path) -> Result<Opened, ReviewError> {
        ReviewStore::open_reading(folder, Reading::First)
    }

    /// Opens (or starts) one reading of `folder`'s review.
    pub fn open_reading(folder: &Path, reading: Reading) -> Result<Opened, ReviewError> {
        let mut notes = Vec::new();
        let within = |dir: PathBuf| match reading.subdir() {
            Some(sub) => dir.join(sub),
            None => dir,
        };
        let sidecar = within(folder.join(SIDECAR));
        let (dir, relocated) = if writable(&sidecar) {
            (sidecar, None)
        } else {
            let dir = within(fallback_dir(folder));
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let why =
                format!("{} cannot be written; the review is kept in {} instead", folder.display(), dir.display());
            notes.push(why.clone());
            (dir, Some(why))
        };
        let lock = take_lock(folder, &dir)?;
        let (mut state, mut more) = load_with(&dir, Some(&crate::fsx::set_aside))?;
        notes.append(&mut more);
        state.schema = SCHEMA;
        let path = dir.join(JOURNAL);
        let journal = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io(&path, e))?;
        let replay = journal.metadata().map(|m| m.len() > 0).unwrap_or(false);
        let base = match reading.subdir() {
            Some(_) => dir.parent().map_or_else(|| dir.clone(), Path::to_path_buf),
            None => dir.clone(),
        };
        let mut store = ReviewStore { dir, base, relocated, journal, _lock: lock };
        if replay {
            // Fold the replayed edits into a snapshot and start a clean journal: new lines
            // must never be appended after a torn one.
            store.snapshot(&state)?;
        }
        Ok(Opened { store, state, notes })
    }

    /// Appends an edit (already applied to `state`, which is now at `rev`) to the journal and
    /// makes it durable.
    pub fn append(&mut self, rev: u64, edit: &Edit, reviewer: &str, time: &str) -> Result<(), ReviewError> {
        let path = self.dir.join(JOURNAL);
        let entry = Entry { rev, reviewer: reviewer.to_owned(), time: time.to_owned(), edit: edit.clone() };
        let mut line = serde_json::to_string(&entry).map_err(|e| io(&path, e))?;
        line.push('\n');
        self.journal.write_all(line.as_bytes()).map_err(|e| io(&path, e))?;
        self.journal.sync_data().map_err(|e| io(&path, e))
    }

    /// Writes a snapshot atomically, then empties the journal it makes redundant.
    pub fn snapshot(&mut self, state: &ReviewState) -> Result<(), ReviewError> {
        let path = self.dir.join(SNAPSHOT);
        let json = serde_json::to_vec_pretty(state).map_err(|e| io(&path, e))?;
        crate::fsx::write_bytes_atomic(&path, &json).map_err(|e| io(&path, e))?;
        // Entries up to the snapshot's revision are now redundant; a crash before this point
        // only leaves entries that replay skips.
        let jpath = self.dir.join(JOURNAL);
        self.journal.set_len(0).map_err(|e| io(&jpath, e))?;
        self.journal.sync_all().map_err(|e| io(&jpath, e))
    }
}

fn take_lock(folder: &Path, dir: &Path) -> Result<FolderLock, ReviewError> {
    let lock = dir.join(LOCK);
    FolderLock::try_acquire(&lock).map_err(|e| match e {
        LockError::Held { by } => ReviewError::Locked { folder: folder.to_owned(), holder: by, lock },
        LockError::Io { path, source } => io(&path, source),
    })
}

/// The folder holding `folder`'s review files, for reading without opening the review: the
/// sidecar when it holds a review, else the user-data fallback used for read-only folders.
pub fn review_dir(folder: &Path) -> PathBuf {
    let sidecar = folder.join(SIDECAR);
    if sidecar.join(SNAPSHOT).is_file() || sidecar.join(JOURNAL).is_file() { sidecar } else { fallback_dir(folder) }
}

/// The folder holding one reading of `folder`'s review (see [`review_dir`]).
pub fn reading_dir(folder: &Path, reading: Reading) -> PathBuf {
    let first = review_dir(folder);
    match reading.subdir() {
        None => first,
        Some(sub) => {
            let sidecar = folder.join(SIDECAR).join(sub);
            if sidecar.join(SNAPSHOT).is_file() || sidecar.join(JOURNAL).is_file() {
                sidecar
            } else {
                fallback_dir(folder).join(sub)
            }
        }
    }
}

/// Whether `folder` has `reading` on disk (a snapshot or a journal).
pub fn has_reading(folder: &Path, reading: Reading) -> bool {
    let dir = reading_dir(folder, reading);
    dir.join(SNAPSHOT).is_file() || dir.join(JOURNAL).is_file()
}

/// Reads the review of `folder` without locking or writing anything (for export while the GUI
/// may have it open): the snapshot plus the journal's newer edits.
pub fn read_review(folder: &Path) -> (ReviewState, Vec<String>) {
    read_reading(folder, Reading::First)
}

/// [`read_review`] for one reading.
pub fn read_reading(folder: &Path, reading: Reading) -> (ReviewState, Vec<String>) {
    match load_with(&reading_dir(folder, reading), None) {
        Ok(loaded) => loaded,
        // Unreachable without a set-aside function; kept total rather than panicking.
        Err(e) => (ReviewState::new(), vec![e.to_string()]),
    }
}

/// Moves a damaged file aside and returns its new name.
type SetAside<'a> = &'a dyn Fn(&Path) -> std::io::Result<PathBuf>;

/// Reads the snapshot and replays the journal. With `set_aside`, a snapshot that cannot be read
/// is moved aside; without, it is left where it is (a read-only look).
///
/// # Errors
/// The damaged snapshot could not be set aside: opening must stop, or the next snapshot would
/// be written over it.
fn load_with(dir: &Path, set_aside: Option<SetAside>) -> Result<(ReviewState, Vec<String>), ReviewError> {
    let mut notes = Vec::new();
    let path = dir.join(SNAPSHOT);
    let aside = |why: &str| -> Result<PathBuf, ReviewError> {
        match set_aside {
            None => Ok(path.clone()),
            Some(f) => f(&path).map_err(|e| {
                io(&path, format!("{why}, and it cannot be set aside ({e}); move it away by hand, nothing was written"))
            }),
        }
    };
    let mut state = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ReviewState::new(),
        Err(e) => {
            notes.push(format!("{}: cannot be read ({e}); starting from the journal", path.display()));
            ReviewState::new()
        }
        Ok(bytes) => match serde_json::from_slice::<ReviewState>(&bytes) {
            Ok(s) if s.schema <= SCHEMA => s,
            Ok(s) => {
                let aside = aside(&format!("is schema {}", s.schema))?;
                let kept = match set_aside {
                    Some(_) => format!("; kept as {} untouched", aside.display()),
                    None => String::new(),
                };
                notes.push(format!(
                    "{} is schema {} (this version reads up to {SCHEMA}){kept}",
                    path.display(),
                    s.schema
                ));
                ReviewState::new()
            }
            Err(e) => {
                let aside = aside(&format!("is damaged ({e})"))?;
                notes.push(match set_aside {
                    Some(_) => format!("{} is damaged ({e}); kept as {} untouched", path.display(), aside.display()),
                    None => format!("{} is damaged ({e})", path.display()),
                });
                ReviewState::new()
            }
        },
    };
    let jpath = dir.join(JOURNAL);
    let Ok(bytes) = std::fs::read(&jpath) else { return Ok((state, notes)) };
    let text = String::from_utf8_lossy(&bytes);
    // Each edit is appended as one line with its newline: a crash mid-append leaves a last
    // line without one (torn, ignored quietly); a line that ends and does not parse is damage.
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let (mut replayed, lines): (usize, Vec<&str>) = (0, text.lines().collect());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(e) => {
                if i + 1 < lines.len() || !torn_tail {
                    notes.push(format!("{}: line {} is damaged ({e}); later edits ignored", jpath.display(), i + 1));
                }
                break;
            }
        };
        if entry.rev <= state.revision {
            continue;
        }
        if entry.rev != state.revision + 1 {
            notes.push(format!(
                "{}: edit {} follows revision {}; later edits ignored",
                jpath.display(),
                entry.rev,
                state.revision
            ));
            break;
        }
        state.apply(&entry.edit, &entry.reviewer, &entry.time);
        replayed += 1;
    }
    if replayed > 0 {
        tracing::info!("replayed {replayed} edit(s) from {}", jpath.display());
    }
    Ok((state, notes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_damaged_snapshot_that_cannot_be_set_aside_stops_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join(SNAPSHOT);
        std::fs::write(&snapshot, b"{ damaged").unwrap();
        let refuse: SetAside = &|_| Err(std::io::Error::other("read-only file system"));
        let err = load_with(dir.path(), Some(refuse)).unwrap_err().to_string();
        assert!(err.contains("cannot be set aside") && err.contains("read-only file system"), "{err}");
        assert_eq!(std::fs::read(&snapshot).unwrap(), b"{ damaged");
        // A look without repair reads past it and leaves it too.
        let (state, notes) = load_with(dir.path(), None).unwrap();
        assert_eq!(state.revision, 0);
        assert!(notes[0].contains("damaged"), "{notes:?}");
        assert_eq!(std::fs::read(&snapshot).unwrap(), b"{ damaged");
    }
}
