//! File safety, in one place: atomic replacement, the folder lock, and setting a damaged file
//! aside. Every output that must never be seen half-written (the review snapshot, both CSV
//! exports, `merge`, the model writer, training checkpoints, stored results) goes through
//! [`AtomicFile`] or [`write_atomic`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// A file being written under a unique temporary name in its destination's folder; it replaces
/// the destination only on [`AtomicFile::commit`] (fsync, rename, fsync of the folder). Dropped
/// without a commit, the temporary file is deleted and the destination is untouched.
///
/// Unique names mean two runs writing one output never share a temporary file: each commit
/// installs a complete file and the last one wins.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path` (its folder must exist).
    ///
    /// # Errors
    /// The temporary file cannot be created in the destination's folder.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let dir = parent(path);
        let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        // Hidden, named after the target: a leftover after a power cut is recognisable and never
        // scanned as a specimen.
        let prefix = format!(".{name}.");
        // Said plainly, rather than as the temporary file's "No such file" error.
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the folder {} does not exist", dir.display()),
            ));
        }
        let tmp = builder(&prefix).tempfile_in(dir)?;
        // A file being replaced keeps its permissions.
        if let Ok(meta) = std::fs::metadata(path) {
            let _ = tmp.as_file().set_permissions(meta.permissions());
        }
        Ok(AtomicFile { tmp, target: path.to_owned() })
    }

    /// The destination.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Makes the content durable and moves it over the destination.
    ///
    /// # Errors
    /// fsync or the rename failed; the destination is then unchanged.
    pub fn commit(self) -> io::Result<()> {
        let target = self.target.clone();
        self.persist_as(&target)
    }

    /// Like [`AtomicFile::commit`], but to another name (an interrupted run's rows go to a
    /// `.partial` file that cannot be mistaken for a complete one).
    ///
    /// # Errors
    /// As [`AtomicFile::commit`].
    pub fn persist_as(mut self, path: &Path) -> io::Result<()> {
        self.tmp.as_file_mut().flush()?;
        self.tmp.as_file().sync_all()?;
        self.tmp.persist(path).map_err(|e| e.error)?;
        sync_dir(parent(path));
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.as_file_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.as_file_mut().flush()
    }
}

/// Writes `path` atomically with `write` (see [`AtomicFile`]).
///
/// # Errors
/// Any error of `write`, or of creating, syncing or renaming the file.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<&mut AtomicFile>) -> io::Result<()>,
) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    {
        let mut w = io::BufWriter::new(&mut file);
        write(&mut w)?;
        w.flush()?;
    }
    file.commit()
}

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// As [`write_atomic`].
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Atomic replacement for writers that insist on a path of their own (burn's record stores):
/// `write` gets a unique temporary path in the destination's folder, which then replaces `path`
/// as in [`AtomicFile::commit`].
///
/// # Errors
/// Any error of `write`, or of syncing or renaming the file.
pub fn write_via_path<E: From<io::Error>>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let prefix = format!(".{name}.");
    let tmp = builder(&prefix).tempfile_in(parent(path))?.into_temp_path();
    write(&tmp)?;
    File::open(&tmp)?.sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(parent(path));
    Ok(())
}

/// Temporary files named after their target; created with the permissions an ordinary file
/// gets (0666 less the umask), not tempfile's private 0600, since they become the output.
fn builder(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b
}

fn parent(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Makes a rename in `dir` durable (on Unix a folder's entries are synced through the folder).
#[cfg(unix)]
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Makes a rename in `dir` durable (nothing to do where folders cannot be opened).
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) {}

/// Why [`FolderLock::try_acquire`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A live process holds the lock.
    #[error("held by {by}")]
    Held {
        /// Who, as the holder wrote it (process, host, since when).
        by: String,
    },
    /// The lock file cannot be opened or locked.
    #[error("{}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// An OS advisory lock on a file (`File::try_lock`: `flock` on Unix, `LockFileEx` on
/// Windows), exclusive (one writer) or shared (any number of readers, no writer). The OS
/// releases it when its process dies, so a crashed holder never leaves a stale lock. An
/// exclusive holder also writes who it is (pid, host, time) in the file, for the "held by"
/// message.
///
/// The file is never deleted: deleting a lock file that another process has already opened
/// would let a third process lock a new file of the same name while the second locks the old.
#[derive(Debug)]
pub struct FolderLock {
    file: File,
    path: PathBuf,
    /// Held shared (taken so, or [`FolderLock::share`]d) rather than exclusive.
    shared: AtomicBool,
}

impl FolderLock {
    /// Takes the lock at `path` (created if absent) without waiting.
    ///
    /// # Errors
    /// [`LockError::Held`] when another process holds it; [`LockError::Io`] otherwise.
    pub fn try_acquire(path: &Path) -> Result<FolderLock, LockError> {
        let mut lock = FolderLock::try_take(path, false)?;
        let io = |source| LockError::Io { path: path.to_owned(), source };
        let me = format!("{} {} {}", std::process::id(), host(), crate::timestamp::timestamp_now());
        lock.file.set_len(0).map_err(io)?;
        lock.file.rewind().map_err(io)?;
        lock.file.write_all(me.as_bytes()).map_err(io)?;
        let _ = lock.file.sync_all();
        Ok(lock)
    }

    /// Takes a shared lock at `path` (created if absent) without waiting: other processes may
    /// hold shared locks beside it, none the exclusive one. It writes no holder.
    ///
    /// # Errors
    /// [`LockError::Held`] when another process holds the lock exclusively; [`LockError::Io`]
    /// otherwise.
    pub fn try_acquire_shared(path: &Path) -> Result<FolderLock, LockError> {
        FolderLock::try_take(path, true)
    }

    /// Opens the lock file and takes the lock, shared or exclusive, without waiting; a lock held
    /// by another process is [`LockError::Held`], named by what its exclusive holder wrote.
    fn try_take(path: &Path, shared: bool) -> Result<FolderLock, LockError> {
        let io = |source| LockError::Io { path: path.to_owned(), source };
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        let taken = if shared { file.try_lock_shared() } else { file.try_lock() };
        match taken {
            Ok(()) => Ok(FolderLock { file, path: path.to_owned(), shared: AtomicBool::new(shared) }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Err(LockError::Held { by: holder_text(&text) })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Turns an exclusive lock into a shared one (a no-op when already shared), so that other
    /// processes can take shared locks beside it; the holder text is cleared first. On Unix
    /// (`flock`) the change is not atomic: another process's exclusive try can win the instant
    /// between, and this then waits until that process shares or ends.
    ///
    /// # Errors
    /// The OS refused the lock (the file is then unlocked).
    pub fn share(&self) -> io::Result<()> {
        if self.shared.load(Ordering::Acquire) {
            return Ok(());
        }
        let _ = self.file.set_len(0);
        self.file.lock_shared()?;
        self.shared.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether the lock is shared (readers only) rather than exclusive.
    pub fn is_shared(&self) -> bool {
        self.shared.load(Ordering::Acquire)
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // An exclusive holder says nobody holds it (a shared one never wrote); closing the file
        // releases the OS lock.
        if !self.is_shared() {
            let _ = self.file.set_len(0);
        }
        let _ = self.file.unlock();
    }
}

/// "process P on HOST since TIME" from a lock file's "P HOST TIME".
fn holder_text(text: &str) -> String {
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(pid), Some(host), Some(since)) => format!("process {pid} on {host} since {since}"),
        _ => "another process".to_owned(),
    }
}

/// This machine's name, for the lock's "held by" message.
pub fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "this machine".into())
}

/// Renames a damaged file to `<name>.damaged-<UTC stamp>` beside itself (a numbered suffix if
/// that name is taken) and returns the new name. It never overwrites anything.
///
/// # Errors
/// The rename failed: the caller must then not write over `path` (it is still there, damaged).
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let stamp = crate::timestamp::file_stamp_now();
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    for k in 0..100u32 {
        let suffix = if k == 0 { String::new() } else { format!("-{k}") };
        let aside = path.with_file_name(format!("{name}.damaged-{stamp}{suffix}"));
        if aside.symlink_metadata().is_ok() {
            continue;
        }
        std::fs::rename(path, &aside)?;
        sync_dir(parent(path));
        return Ok(aside);
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "100 set-aside copies already exist"))
}

/// Whether two paths name one file (however spelled), or are equal when either is missing.
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_uncommitted_file_leaves_the_destination_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.csv");
        std::fs::write(&out, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&out).unwrap();
            f.write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is removed");
        write_bytes_atomic(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let plain = dir.path().join("plain");
            std::fs::write(&plain, b"").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&out), mode(&plain), "an output gets the permissions of any new file");
        }
    }

    #[test]
    fn a_missing_folder_is_named_not_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = AtomicFile::create(&dir.path().join("nowhere/out.csv")).err().unwrap().to_string();
        assert!(err.contains("nowhere") && err.contains("does not exist") && !err.contains(".out.csv."), "{err}");
    }

    #[test]
    fn two_writers_of_one_output_never_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model.onnx");
        let mut a = AtomicFile::create(&out).unwrap();
        let mut b = AtomicFile::create(&out).unwrap();
        a.write_all(b"first complete file").unwrap();
        b.write_all(b"second complete file").unwrap();
        a.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"first complete file");
        b.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"second complete file");
    }

    #[test]
    fn set_aside_never_overwrites_and_reports_failure() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("review.json");
        std::fs::write(&bad, b"junk 1").unwrap();
        let first = set_aside(&bad).unwrap();
        std::fs::write(&bad, b"junk 2").unwrap();
        let second = set_aside(&bad).unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"junk 1");
        assert_eq!(std::fs::read(&second).unwrap(), b"junk 2");
        assert!(set_aside(&dir.path().join("absent.json")).is_err());
    }

    #[test]
    fn a_held_lock_names_its_holder_and_is_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.lock");
        let held = FolderLock::try_acquire(&path).unwrap();
        // A second open file description conflicts with the first even in one process.
        match FolderLock::try_acquire(&path) {
            Err(LockError::Held { by }) => assert!(by.contains(&std::process::id().to_string()), "{by}"),
            other => panic!("{other:?}"),
        }
        drop(held);
        let again = FolderLock::try_acquire(&path).unwrap();
        assert!(again.path().is_file());
    }
}
