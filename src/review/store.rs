//! Where a review lives on disk, and how it survives crashes.
//!
//! `<folder>/.mousexray/review.json` is a snapshot, replaced atomically (temporary file, fsync,
//! rename, fsync of the directory). Every edit is first appended to `journal.jsonl` and fsynced,
//! so an edit is durable as soon as `append` returns; a snapshot then lets the journal be
//! truncated. On open, the snapshot is read and the journal's newer edits are replayed. A
//! snapshot that cannot be read is set aside (renamed, never overwritten) and reported. A lock
//! file keeps a second process out; a lock left by a dead process is taken over. When the folder
//! is read-only the review goes to the user data folder instead, and the caller is told.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{Edit, ReviewState, SCHEMA};

/// Folder inside the reviewed folder.
pub const SIDECAR: &str = ".mousexray";
const SNAPSHOT: &str = "review.json";
const JOURNAL: &str = "journal.jsonl";
const LOCK: &str = "review.lock";

/// Why a review cannot be opened or saved.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Another process holds the lock.
    #[error(
        "{folder} is already open in another mousexray ({holder}); close it there first, or delete {lock} if that process is gone"
    )]
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
    /// Set when the review is not beside the images, with the reason.
    pub relocated: Option<String>,
    journal: File,
    lock: PathBuf,
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
        let mut notes = Vec::new();
        let sidecar = folder.join(SIDECAR);
        let (dir, relocated) = if writable(&sidecar) {
            (sidecar, None)
        } else {
            let dir = fallback_dir(folder);
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let why =
                format!("{} cannot be written; the review is kept in {} instead", folder.display(), dir.display());
            notes.push(why.clone());
            (dir, Some(why))
        };
        let lock = take_lock(folder, &dir)?;
        let (mut state, mut more) = load(&dir);
        notes.append(&mut more);
        state.schema = SCHEMA;
        let path = dir.join(JOURNAL);
        let journal = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io(&path, e))?;
        let replay = journal.metadata().map(|m| m.len() > 0).unwrap_or(false);
        let mut store = ReviewStore { dir, relocated, journal, lock };
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
        let tmp = self.dir.join(format!("{SNAPSHOT}.tmp"));
        let json = serde_json::to_vec_pretty(state).map_err(|e| io(&path, e))?;
        {
            let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(&json).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        sync_dir(&self.dir);
        // Entries up to the snapshot's revision are now redundant; a crash before this point
        // only leaves entries that replay skips.
        let jpath = self.dir.join(JOURNAL);
        self.journal.set_len(0).map_err(|e| io(&jpath, e))?;
        self.journal.sync_all().map_err(|e| io(&jpath, e))
    }
}

impl Drop for ReviewStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "this machine".into())
}

/// Whether process `pid` on this machine is gone (only knowable where /proc exists).
fn dead(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

fn take_lock(folder: &Path, dir: &Path) -> Result<PathBuf, ReviewError> {
    let lock = dir.join(LOCK);
    let me = format!("{} {} {}", std::process::id(), host(), crate::timestamp::timestamp_now());
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(mut f) => {
                f.write_all(me.as_bytes()).map_err(|e| io(&lock, e))?;
                let _ = f.sync_all();
                return Ok(lock);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&lock).unwrap_or_default();
                let mut parts = text.split_whitespace();
                let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
                let their_host = parts.next().unwrap_or("").to_owned();
                let since = parts.next().unwrap_or("").to_owned();
                let stale = match pid {
                    None => true, // unreadable or half-written: its writer died mid-write
                    Some(p) => their_host == host() && dead(p),
                };
                if !stale {
                    let holder = format!("process {} on {their_host} since {since}", pid.unwrap_or(0));
                    return Err(ReviewError::Locked { folder: folder.to_owned(), holder, lock });
                }
                tracing::warn!("taking over the stale lock {} ({text})", lock.display());
                let _ = std::fs::remove_file(&lock);
            }
            Err(e) => return Err(io(&lock, e)),
        }
    }
    Err(io(&lock, "could not take the lock"))
}

/// Reads the review of `folder` without locking or writing anything (for export while the GUI
/// may have it open): the snapshot plus the journal's newer edits.
pub fn read_review(folder: &Path) -> (ReviewState, Vec<String>) {
    let sidecar = folder.join(SIDECAR);
    let dir = if sidecar.join(SNAPSHOT).is_file() || sidecar.join(JOURNAL).is_file() {
        sidecar
    } else {
        fallback_dir(folder)
    };
    load_with(&dir, false)
}

/// Reads the snapshot and replays the journal, setting aside what cannot be read.
fn load(dir: &Path) -> (ReviewState, Vec<String>) {
    load_with(dir, true)
}

/// [`load`]; `repair` allows moving a damaged snapshot aside.
fn load_with(dir: &Path, repair: bool) -> (ReviewState, Vec<String>) {
    let mut notes = Vec::new();
    let set_aside = |p: &Path| if repair { set_aside(p) } else { p.to_owned() };
    let path = dir.join(SNAPSHOT);
    let mut state = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ReviewState::new(),
        Err(e) => {
            notes.push(format!("{}: cannot be read ({e}); starting from the journal", path.display()));
            ReviewState::new()
        }
        Ok(bytes) => match serde_json::from_slice::<ReviewState>(&bytes) {
            Ok(s) if s.schema <= SCHEMA => s,
            Ok(s) => {
                let aside = set_aside(&path);
                notes.push(format!(
                    "{} is schema {} (this version reads up to {SCHEMA}); kept as {} untouched",
                    path.display(),
                    s.schema,
                    aside.display()
                ));
                ReviewState::new()
            }
            Err(e) => {
                let aside = set_aside(&path);
                notes.push(format!("{} is damaged ({e}); kept as {} untouched", path.display(), aside.display()));
                ReviewState::new()
            }
        },
    };
    let jpath = dir.join(JOURNAL);
    let Ok(f) = File::open(&jpath) else { return (state, notes) };
    let (mut replayed, lines): (usize, Vec<String>) = (0, BufReader::new(f).lines().map_while(Result::ok).collect());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(e) => {
                // A torn last line is what a crash mid-append leaves; anything else is damage.
                if i + 1 < lines.len() {
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
    (state, notes)
}

/// Renames a damaged file beside itself and returns the new name.
fn set_aside(path: &Path) -> PathBuf {
    let stamp = crate::timestamp::file_stamp_now();
    let aside = path.with_extension(format!("json.damaged-{stamp}"));
    let _ = std::fs::rename(path, &aside);
    aside
}
