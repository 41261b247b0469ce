//! An open review: the state, its store, undo and redo, and the snapshot schedule.

use std::path::Path;
use std::time::{Duration, Instant};

use super::model::{Edit, ReviewState};
use super::store::{ReviewError, ReviewStore};

/// Longest time an edit waits for the next snapshot (it is in the journal at once).
pub const SNAPSHOT_DELAY: Duration = Duration::from_secs(1);

/// An open review of one folder.
#[derive(Debug)]
pub struct ReviewSession {
    /// The current state.
    pub state: ReviewState,
    /// Who is reviewing (recorded with each edit).
    pub reviewer: String,
    /// What opening found (damaged files set aside, a relocation).
    pub notes: Vec<String>,
    store: ReviewStore,
    undo: Vec<Edit>,
    redo: Vec<Edit>,
    dirty_since: Option<Instant>,
}

impl ReviewSession {
    /// Opens the review of `folder` (see [`ReviewStore::open`]).
    pub fn open(folder: &Path, reviewer: &str) -> Result<ReviewSession, ReviewError> {
        let opened = ReviewStore::open(folder)?;
        Ok(ReviewSession {
            state: opened.state,
            reviewer: reviewer.to_owned(),
            notes: opened.notes,
            store: opened.store,
            undo: Vec::new(),
            redo: Vec::new(),
            dirty_since: None,
        })
    }

    /// Where the review files are.
    pub fn dir(&self) -> &Path {
        &self.store.dir
    }

    fn record(&mut self, edit: &Edit) -> Result<Edit, ReviewError> {
        let time = crate::timestamp::timestamp_now();
        let inverse = self.state.apply(edit, &self.reviewer, &time);
        self.store.append(self.state.revision, edit, &self.reviewer, &time)?;
        self.dirty_since.get_or_insert_with(Instant::now);
        Ok(inverse)
    }

    /// Applies an edit; it is durable when this returns.
    pub fn edit(&mut self, edit: Edit) -> Result<(), ReviewError> {
        let inverse = self.record(&edit)?;
        self.undo.push(inverse);
        self.redo.clear();
        Ok(())
    }

    /// Applies an edit that undo does not step through: bookkeeping such as the model output the
    /// reviewer was shown, recorded before their call. Durable when this returns.
    pub fn note(&mut self, edit: Edit) -> Result<(), ReviewError> {
        self.record(&edit).map(|_| ())
    }

    /// Undoes the last edit; false when there is none.
    pub fn undo(&mut self) -> Result<bool, ReviewError> {
        let Some(e) = self.undo.pop() else { return Ok(false) };
        let inverse = self.record(&e)?;
        self.redo.push(inverse);
        Ok(true)
    }

    /// Redoes the last undone edit; false when there is none.
    pub fn redo(&mut self) -> Result<bool, ReviewError> {
        let Some(e) = self.redo.pop() else { return Ok(false) };
        let inverse = self.record(&e)?;
        self.undo.push(inverse);
        Ok(true)
    }

    /// Whether edits wait for the next snapshot (they are in the journal already).
    pub fn snapshot_pending(&self) -> bool {
        self.dirty_since.is_some()
    }

    /// Whether there is something to undo / redo.
    pub fn can_undo_redo(&self) -> (bool, bool) {
        (!self.undo.is_empty(), !self.redo.is_empty())
    }

    /// Writes a snapshot when an edit has waited [`SNAPSHOT_DELAY`]; call it from the event loop.
    pub fn tick(&mut self) -> Result<(), ReviewError> {
        match self.dirty_since {
            Some(t) if t.elapsed() >= SNAPSHOT_DELAY => self.save(),
            _ => Ok(()),
        }
    }

    /// Writes a snapshot now.
    pub fn save(&mut self) -> Result<(), ReviewError> {
        self.store.snapshot(&self.state)?;
        self.dirty_since = None;
        Ok(())
    }
}

impl Drop for ReviewSession {
    fn drop(&mut self) {
        if self.dirty_since.is_some()
            && let Err(e) = self.save()
        {
            tracing::error!("saving the review on exit: {e} (the journal still holds every edit)");
        }
    }
}
