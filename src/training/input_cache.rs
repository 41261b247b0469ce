//! Preprocessed model inputs kept on disk between runs: each image is decoded and preprocessed
//! once per preprocessing spec, and every later run with the same spec (`train`, `eval`,
//! `domain`, `improve`) reads the standardised array back instead.
//!
//! It lives beside the review, in the data folder's `.mousexray/inputs/<key>/`, so it goes
//! with the folder and never mixes datasets; a read-only folder runs without it.
//! `inputs.f32` holds the arrays, one slot of `size * size` little-endian
//! f32 each, appended; `index.json` maps each image's canonical path to its slot and to the
//! length and modification time the file had when it was preprocessed. An image whose length or
//! time changed is preprocessed again. The key hashes the whole [`PreprocessSpec`], this
//! release's version and [`PREPROCESS_REVISION`], so another spec or other preprocessing code
//! starts a fresh cache.
//!
//! A run holds the cache's lock exclusively while it preprocesses and stores, then shares it
//! once the index is saved ([`InputCache::save`]): a second run started meanwhile reads every
//! image stored by then and keeps the rest in memory (it cannot store), while one started
//! during the first run's preprocessing runs without the cache. Nothing writes while anyone
//! reads, so a slot never changes under a reader.
//!
//! A dataset loaded through the cache holds slot numbers, not arrays
//! ([`super::data::Input`]): each batch reads its slots back, so a dataset larger than memory
//! trains, and the cache stays locked (shared) while the dataset lives. Slots are read by seeking rather
//! than memory-mapped: the page cache keeps them as well (an epoch took as long as with the
//! arrays in memory; BENCHMARKS.md), without `unsafe` code over a file another process could
//! truncate.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fnv;
use crate::fsx::{FolderLock, LockError};
use crate::imaging::PreprocessSpec;

/// Raised whenever `imaging::preprocess` changes what it outputs for the same spec, so caches
/// made by older code are not read.
pub const PREPROCESS_REVISION: u32 = 3;

/// One cached image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Entry {
    /// File length in bytes when preprocessed.
    len: u64,
    /// Modification time then, in nanoseconds since the Unix epoch.
    modified_ns: u128,
    /// Slot in `inputs.f32`.
    slot: u64,
    /// The preprocessing transform's affine part ([`crate::imaging::Transform::affine`]):
    /// where the film's points land in the input. Absent in entries written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    affine: Option<[f64; 6]>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    /// Values per slot (`size * size`).
    values: usize,
    /// Slots written.
    slots: u64,
    /// By canonical path.
    entries: BTreeMap<PathBuf, Entry>,
}

/// An open cache for one preprocessing spec.
pub struct InputCache {
    dir: PathBuf,
    /// `inputs.f32`; reads and appends take turns (each is one slot, tens of kilobytes).
    data: Mutex<File>,
    index: Mutex<Index>,
    hits: AtomicUsize,
    misses: AtomicUsize,
    /// Exclusive until [`InputCache::save`]; shared from then on, or from the start when another
    /// run already held it shared.
    lock: FolderLock,
}

/// How long a run waits for another that is storing in the same cache (two trainings started
/// together): that run preprocesses what this one would, so waiting for its save is rarely
/// slower than preprocessing alongside it, and the bound keeps a stopped run from hanging this one.
pub const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Opens the cache of `folder` for `spec`, or says why it runs without one (read-only folder,
/// another run is storing in it) and returns none: a cache only saves time. A folder that does not
/// exist gets none, silently, and is not created: loading it then says what is wrong.
pub fn open_for(folder: &Path, spec: &PreprocessSpec) -> Option<std::sync::Arc<InputCache>> {
    if !folder.is_dir() {
        return None;
    }
    match InputCache::open_waiting(&folder.join(crate::specimen::APP_DIR).join("inputs"), spec, WRITER_WAIT) {
        Ok(c) => Some(std::sync::Arc::new(c)),
        Err(e) => {
            tracing::warn!("preprocessing without the input cache: {e:#}");
            None
        }
    }
}

/// A file's length and modification time, or none when it cannot be read.
fn stamp(path: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some((meta.len(), modified.as_nanos()))
}

impl InputCache {
    /// Opens (or creates) the cache for `spec` under `root`: for storing when no other run holds
    /// it, else for reading only when the others have shared it ([`InputCache::writable`]).
    ///
    /// # Errors
    /// The folder cannot be created or locked (another run is storing in it), or its files
    /// opened; shared with another run, an index that does not match its arrays.
    pub fn open(root: &Path, spec: &PreprocessSpec) -> anyhow::Result<InputCache> {
        InputCache::open_waiting(root, spec, std::time::Duration::ZERO)
    }

    /// [`InputCache::open`], waiting up to `wait` for a run that is storing in the cache to save
    /// and share it, then reading what it stored.
    ///
    /// # Errors
    /// As [`InputCache::open`]; "in use" once `wait` has passed.
    pub fn open_waiting(root: &Path, spec: &PreprocessSpec, wait: std::time::Duration) -> anyhow::Result<InputCache> {
        let mut h = Fnv::default();
        h.write(serde_json::to_string(spec)?.as_bytes());
        h.write(env!("CARGO_PKG_VERSION").as_bytes());
        h.write(&PREPROCESS_REVISION.to_le_bytes());
        let dir = root.join(format!("{}px-{:016x}", spec.size, h.0));
        std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let lock_path = dir.join("cache.lock");
        let in_use = |e: LockError| anyhow::anyhow!("{}: the input cache is in use ({e})", dir.display());
        let deadline = std::time::Instant::now() + wait;
        let mut told = false;
        let lock = loop {
            let taken = match FolderLock::try_acquire(&lock_path) {
                Err(LockError::Held { .. }) => FolderLock::try_acquire_shared(&lock_path),
                other => other,
            };
            match taken {
                Err(LockError::Held { by }) if std::time::Instant::now() < deadline => {
                    if !std::mem::replace(&mut told, true) {
                        tracing::warn!(
                            "{}: another run is storing in the input cache ({by}); waiting up to {} s for it to save",
                            dir.display(),
                            wait.as_secs()
                        );
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                other => break other.map_err(in_use)?,
            }
        };
        let writable = !lock.is_shared();
        let values = spec.size as usize * spec.size as usize;
        let index_path = dir.join("index.json");
        // An unreadable or foreign index starts the cache afresh: it holds nothing that cannot
        // be made again.
        let index = std::fs::read(&index_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Index>(&b).ok())
            .filter(|i| i.values == values)
            .unwrap_or(Index { values, ..Index::default() });
        let path = dir.join("inputs.f32");
        // The arrays must hold every slot the index names (a deleted or truncated file would
        // otherwise read back as zeros), and stale slots (files changed or gone) may take at most
        // half the file: either way the cache starts afresh.
        let expected = index.slots * values as u64 * 4;
        let on_disk = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let live = index.entries.keys().filter(|p| p.exists()).count() as u64;
        let stale = on_disk != expected || index.slots > 2 * live.max(16);
        // A reader may not start the cache afresh under the run that shares it.
        anyhow::ensure!(
            writable || !stale,
            "{}: the input cache is shared with another run and does not match its arrays",
            dir.display()
        );
        let index = if stale { Index { values, ..Index::default() } } else { index };
        let fresh = index.slots == 0;
        let data = OpenOptions::new()
            .create(writable)
            .read(true)
            .write(writable)
            .truncate(writable && fresh)
            .open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        Ok(InputCache {
            dir,
            data: Mutex::new(data),
            index: Mutex::new(index),
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
            lock,
        })
    }

    /// Whether this run may still store inputs: it holds the cache alone and has not saved yet.
    pub fn writable(&self) -> bool {
        !self.lock.is_shared()
    }

    /// Where this spec's cache lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The image's preprocessed input, when cached for the file as it is now.
    pub fn get(&self, path: &Path) -> Option<Vec<f32>> {
        self.slot_of(path).and_then(|slot| self.read(slot).ok())
    }

    /// The slot holding the image's preprocessed input, when cached for the file as it is now
    /// (counted as a hit, or else a miss).
    pub fn slot_of(&self, path: &Path) -> Option<u64> {
        self.entry(path, false).map(|(slot, _)| slot)
    }

    /// [`InputCache::slot_of`] with the preprocessing transform's affine part; with
    /// `need_affine`, an entry stored without one counts as a miss (it is preprocessed again).
    pub fn entry(&self, path: &Path, need_affine: bool) -> Option<(u64, Option<[f64; 6]>)> {
        let found = self.lookup(path).filter(|(_, affine)| !need_affine || affine.is_some());
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn lookup(&self, path: &Path) -> Option<(u64, Option<[f64; 6]>)> {
        let canonical = path.canonicalize().ok()?;
        let (len, modified_ns) = stamp(&canonical)?;
        let entry = *self.index.lock().ok()?.entries.get(&canonical)?;
        (entry.len == len && entry.modified_ns == modified_ns).then_some((entry.slot, entry.affine))
    }

    /// Values per slot (`size * size`).
    pub fn values(&self) -> usize {
        self.index.lock().map_or(0, |i| i.values)
    }

    /// Reads one slot back.
    ///
    /// # Errors
    /// The arrays file cannot be read there (truncated by something else since), naming it.
    pub fn read(&self, slot: u64) -> anyhow::Result<Vec<f32>> {
        let values = self.values();
        let mut bytes = vec![0u8; values * 4];
        let mut data = self.data.lock().map_err(|_| anyhow::anyhow!("the input cache's file is poisoned"))?;
        data.seek(SeekFrom::Start(slot * (values as u64) * 4))
            .and_then(|_| data.read_exact(&mut bytes))
            .with_context(|| format!("{}: cannot read slot {slot} of inputs.f32", self.dir.display()))?;
        drop(data);
        let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        // Preprocessing never writes a NaN or an infinity: one means the file was changed
        // outside mousexray, and training on it would only end in a NaN loss.
        anyhow::ensure!(
            values.iter().all(|v| v.is_finite()),
            "{}: slot {slot} of inputs.f32 holds values that are not numbers (the file was changed outside mousexray); delete this folder to rebuild the cache",
            self.dir.display()
        );
        Ok(values)
    }

    /// Stores an image's preprocessed input (`size * size` values) and its transform's affine
    /// part, and returns its slot.
    ///
    /// # Errors
    /// The cache is not [`InputCache::writable`], the wrong number of values, or a failed write.
    pub fn put(&self, path: &Path, input: &[f32], affine: Option<[f64; 6]>) -> anyhow::Result<u64> {
        anyhow::ensure!(self.writable(), "{}: the input cache is shared, read only", self.dir.display());
        let canonical = path.canonicalize().with_context(|| format!("{}: cannot resolve", path.display()))?;
        let Some((len, modified_ns)) = stamp(&canonical) else {
            anyhow::bail!("{}: cannot read its length and time", path.display());
        };
        let mut index = self.index.lock().map_err(|_| anyhow::anyhow!("the input cache's index is poisoned"))?;
        anyhow::ensure!(input.len() == index.values, "{} values where {} were expected", input.len(), index.values);
        let slot = index.slots;
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut data = self.data.lock().map_err(|_| anyhow::anyhow!("the input cache's file is poisoned"))?;
        data.seek(SeekFrom::Start(slot * (index.values as u64) * 4))
            .and_then(|_| data.write_all(&bytes))
            .with_context(|| format!("{}: cannot write", self.dir.display()))?;
        index.slots += 1;
        index.entries.insert(canonical, Entry { len, modified_ns, slot, affine });
        Ok(slot)
    }

    /// Writes the index, so the next run finds what this one stored, and then shares the lock so
    /// that other runs can read beside this one (nothing more can be stored). The arrays are
    /// flushed first: an index never names a slot that is not on disk. A no-op once shared.
    ///
    /// # Errors
    /// A failed write, or the lock could not be shared.
    pub fn save(&self) -> anyhow::Result<()> {
        if !self.writable() {
            return Ok(());
        }
        let data = self.data.lock().map_err(|_| anyhow::anyhow!("the input cache's file is poisoned"))?;
        data.sync_data().with_context(|| format!("{}: cannot write", self.dir.display()))?;
        drop(data);
        let index = self.index.lock().map_err(|_| anyhow::anyhow!("the input cache's index is poisoned"))?;
        let json = serde_json::to_vec(&*index)?;
        crate::fsx::write_bytes_atomic(&self.dir.join("index.json"), &json)
            .with_context(|| format!("{}: cannot write its index", self.dir.display()))?;
        drop(index);
        self.lock.share().with_context(|| format!("{}: cannot share its lock", self.lock.path().display()))
    }

    /// Images read back and images preprocessed since opening.
    pub fn counts(&self) -> (usize, usize) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(size: u32) -> PreprocessSpec {
        PreprocessSpec { size, ..Default::default() }
    }

    #[test]
    fn inputs_come_back_until_the_file_or_the_spec_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        std::fs::write(&a, b"first").unwrap();
        std::fs::write(&b, b"second").unwrap();
        let x: Vec<f32> = (0..16).map(|i| i as f32 / 3.0).collect();
        {
            let cache = InputCache::open(&root, &spec(4)).unwrap();
            assert!(cache.get(&a).is_none());
            cache.put(&a, &x, None).unwrap();
            cache.put(&b, &[1.5; 16], None).unwrap();
            assert!(cache.put(&a, &[0.0; 9], None).is_err(), "a slot holds size * size values");
            // A second run is kept out while this one holds the cache.
            assert!(InputCache::open(&root, &spec(4)).is_err());
            cache.save().unwrap();
        }
        let cache = InputCache::open(&root, &spec(4)).unwrap();
        assert_eq!(cache.get(&a).unwrap(), x, "bit for bit");
        assert_eq!(cache.get(&b).unwrap(), vec![1.5; 16]);
        assert_eq!(cache.counts(), (2, 0));
        // Another spec is another cache.
        drop(cache);
        let other = InputCache::open(&root, &PreprocessSpec { margin: 0.1, ..spec(4) }).unwrap();
        assert!(other.get(&a).is_none());
        drop(other);
        // A file rewritten since is preprocessed again.
        std::fs::write(&a, b"first, edited").unwrap();
        let cache = InputCache::open(&root, &spec(4)).unwrap();
        assert!(cache.get(&a).is_none());
        assert!(cache.get(&b).is_some());
    }

    #[test]
    fn the_transform_comes_back_and_an_entry_without_one_is_a_miss_when_one_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        std::fs::write(&a, b"first").unwrap();
        std::fs::write(&b, b"second").unwrap();
        let affine = [2.0, 0.5, -0.5, 2.0, 10.0, 20.0];
        {
            let cache = InputCache::open(&root, &spec(2)).unwrap();
            cache.put(&a, &[1.0; 4], Some(affine)).unwrap();
            cache.put(&b, &[2.0; 4], None).unwrap();
            cache.save().unwrap();
        }
        let cache = InputCache::open(&root, &spec(2)).unwrap();
        assert_eq!(cache.entry(&a, true).map(|(_, t)| t), Some(Some(affine)));
        assert_eq!(cache.entry(&b, false).map(|(_, t)| t), Some(None));
        assert!(cache.entry(&b, true).is_none(), "no transform kept: preprocess again");
        assert_eq!(cache.counts(), (2, 1));
    }

    #[test]
    fn a_slot_overwritten_with_garbage_is_an_error_naming_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        std::fs::write(&a, b"x").unwrap();
        let cache = InputCache::open(&dir.path().join("cache"), &spec(2)).unwrap();
        let slot = cache.put(&a, &[1.0; 4], None).unwrap();
        cache.save().unwrap();
        std::fs::write(cache.dir().join("inputs.f32"), [0xFF_u8; 16]).unwrap();
        let err = cache.read(slot).unwrap_err().to_string();
        assert!(err.contains("inputs.f32 holds values that are not numbers") && err.contains("cache"), "{err}");
    }

    #[test]
    fn a_saved_cache_is_shared_with_later_runs_which_only_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        std::fs::write(&a, b"first").unwrap();
        std::fs::write(&b, b"second").unwrap();
        let first = InputCache::open(&root, &spec(2)).unwrap();
        let slot = first.put(&a, &[1.0; 4], None).unwrap();
        let err = InputCache::open(&root, &spec(2)).err().unwrap().to_string();
        assert!(err.contains("in use"), "kept out while the first stores: {err}");
        first.save().unwrap();
        assert!(!first.writable(), "saving shares the lock: nothing more is stored");
        assert!(first.put(&b, &[2.0; 4], None).is_err());
        let second = InputCache::open(&root, &spec(2)).unwrap();
        assert!(!second.writable());
        assert_eq!(second.get(&a).unwrap(), vec![1.0; 4], "what the first stored is read back");
        assert!(second.get(&b).is_none());
        assert!(second.put(&b, &[2.0; 4], None).unwrap_err().to_string().contains("read only"));
        second.save().unwrap();
        assert_eq!(first.read(slot).unwrap(), vec![1.0; 4], "the first still reads its own");
        // The readers outlive the first run; once all have gone, a run stores again.
        drop(first);
        let third = InputCache::open(&root, &spec(2)).unwrap();
        assert!(!third.writable());
        drop((second, third));
        let fourth = InputCache::open(&root, &spec(2)).unwrap();
        assert!(fourth.writable());
        fourth.put(&b, &[2.0; 4], None).unwrap();
    }

    #[test]
    fn a_run_started_beside_one_that_stores_waits_and_reads_what_it_stored() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let a = dir.path().join("a.png");
        std::fs::write(&a, b"first").unwrap();
        let first = InputCache::open(&root, &spec(2)).unwrap();
        first.put(&a, &[3.0; 4], None).unwrap();
        let waiting = {
            let root = root.clone();
            std::thread::spawn(move || InputCache::open_waiting(&root, &spec(2), std::time::Duration::from_secs(60)))
        };
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!waiting.is_finished(), "the second run waits while the first stores");
        first.save().unwrap();
        let second = waiting.join().unwrap().unwrap();
        assert!(!second.writable());
        assert_eq!(second.get(&a).unwrap(), vec![3.0; 4]);
        // A bounded wait gives up on a run that never saves.
        drop((first, second));
        let third = InputCache::open(&root, &spec(2)).unwrap();
        assert!(third.writable());
        let err = InputCache::open_waiting(&root, &spec(2), std::time::Duration::from_millis(400)).err().unwrap();
        assert!(err.to_string().contains("in use"), "{err}");
    }

    #[test]
    fn a_damaged_index_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let a = dir.path().join("a.png");
        std::fs::write(&a, b"x").unwrap();
        let cache = InputCache::open(&root, &spec(2)).unwrap();
        cache.put(&a, &[1.0; 4], None).unwrap();
        cache.save().unwrap();
        let index = cache.dir().join("index.json");
        drop(cache);
        std::fs::write(&index, b"{ not json").unwrap();
        let cache = InputCache::open(&root, &spec(2)).unwrap();
        assert!(cache.get(&a).is_none());
        cache.put(&a, &[2.0; 4], None).unwrap();
        assert_eq!(cache.get(&a).unwrap(), vec![2.0; 4]);
    }
}
