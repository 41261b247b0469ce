//! An open review: the state, its store, undo and redo, and the snapshot schedule.

use std::path::Path;
use std::time::{Duration, Instant};

use super::decision::{Decided, Decision, decide};
use super::model::{Edit, ReviewState, Shown};
use super::store::{ReviewError, ReviewStore};
use crate::taxonomy::Taxonomy;

/// Longest time an edit waits for the next snapshot (it is in the journal at once).
pub const SNAPSHOT_DELAY: Duration = Duration::from_secs(1);

/// What one decision on many specimens did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchDecided {
    /// Specimens it changed.
    pub changed: usize,
    /// Specimens called abnormal before (status or a call) and not after: a normal call
    /// overruling an abnormal one.
    pub cleared: Vec<String>,
}

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
    /// Undo steps: each the inverses of one step's edits, in the order that undoes them.
    undo: Vec<Vec<Edit>>,
    redo: Vec<Vec<Edit>>,
    dirty_since: Option<Instant>,
}

impl ReviewSession {
    /// Opens the review of `folder` (see [`ReviewStore::open`]).
    pub fn open(folder: &Path, reviewer: &str) -> Result<ReviewSession, ReviewError> {
        ReviewSession::open_reading(folder, reviewer, super::Reading::First)
    }

    /// Opens one reading of `folder`'s review (see [`ReviewStore::open_reading`]).
    pub fn open_reading(folder: &Path, reviewer: &str, reading: super::Reading) -> Result<ReviewSession, ReviewError> {
        let opened = ReviewStore::open_reading(folder, reading)?;
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

    /// Where the folder's other files are kept (its classification results): the review
    /// folder of the first reading, whichever reading this is.
    pub fn folder_dir(&self) -> &Path {
        &self.store.base
    }

    fn record(&mut self, edit: &Edit) -> Result<Edit, ReviewError> {
        let time = crate::timestamp::timestamp_now();
        let inverse = self.state.apply(edit, &self.reviewer, &time);
        self.store.append(self.state.revision, edit, &self.reviewer, &time)?;
        self.dirty_since.get_or_insert_with(Instant::now);
        Ok(inverse)
    }

    /// Applies an edit as one undo step; it is durable when this returns.
    pub fn edit(&mut self, edit: Edit) -> Result<(), ReviewError> {
        self.edit_all(vec![edit])
    }

    /// Applies edits in order as one undo step (nothing when empty); each is durable (in the
    /// journal) when it is applied, so a crash keeps those before it.
    pub fn edit_all(&mut self, edits: Vec<Edit>) -> Result<(), ReviewError> {
        if edits.is_empty() {
            return Ok(());
        }
        let step = self.record_all(&edits)?;
        self.undo.push(step);
        self.redo.clear();
        Ok(())
    }

    /// Records `edits`; returns their inverses in undoing order. On a failure the edits already
    /// recorded are still one undo step.
    fn record_all(&mut self, edits: &[Edit]) -> Result<Vec<Edit>, ReviewError> {
        let mut inverses = Vec::with_capacity(edits.len());
        for e in edits {
            match self.record(e) {
                Ok(inverse) => inverses.push(inverse),
                Err(err) => {
                    if !inverses.is_empty() {
                        inverses.reverse();
                        self.undo.push(inverses);
                    }
                    return Err(err);
                }
            }
        }
        inverses.reverse();
        Ok(inverses)
    }

    /// Applies a reviewer's decision on `specimen` by the hierarchy's rules (see
    /// [`crate::review::decide`]) as one undo step, first recording `shown`, the model output the
    /// reviewer saw, when it differs from the one on record (so every decision can be traced to
    /// the scores behind it). Returns what was decided (the abnormal calls it cleared).
    ///
    /// # Errors
    /// An unknown node ([`ReviewError::Decision`]) or a journal that cannot be written.
    pub fn decide(
        &mut self,
        specimen: &str,
        decision: &Decision,
        shown: Option<Shown>,
        taxonomy: &Taxonomy,
    ) -> Result<Decided, ReviewError> {
        let decided = decide(specimen, self.state.get(specimen), decision, taxonomy)?;
        if decided.edits.is_empty() {
            return Ok(decided);
        }
        self.note_shown(specimen, shown.as_ref())?;
        self.edit_all(decided.edits.clone())?;
        Ok(decided)
    }

    /// Applies one decision to many specimens as a single undo step (a batch call), each with the
    /// scores its reviewer saw; returns how many records changed.
    ///
    /// # Errors
    /// As [`ReviewSession::decide`].
    pub fn decide_all(
        &mut self,
        specimens: &[(String, Option<Shown>)],
        decision: &Decision,
        taxonomy: &Taxonomy,
    ) -> Result<BatchDecided, ReviewError> {
        let mut edits = Vec::new();
        let mut out = BatchDecided::default();
        for (id, shown) in specimens {
            let decided = decide(id, self.state.get(id), decision, taxonomy)?;
            if decided.edits.is_empty() {
                continue;
            }
            out.changed += 1;
            let abnormal = |r: &super::SpecimenReview| {
                r.status == super::Status::ConfirmedAbnormal || r.calls.values().any(|c| *c == super::Call::Abnormal)
            };
            let still = |r: Option<&super::SpecimenReview>| r.is_some_and(abnormal);
            if still(self.state.get(id)) && !decided.edits.is_empty() {
                // Whether the decision leaves any of it shows once it is applied (to a copy of this
                // specimen's record alone).
                let mut after = super::ReviewState::new();
                if let Some(r) = self.state.get(id) {
                    after.specimens.insert(id.clone(), r.clone());
                }
                let time = String::new();
                for e in &decided.edits {
                    after.apply(e, &self.reviewer, &time);
                }
                if !still(after.get(id)) {
                    out.cleared.push(id.clone());
                }
            }
            self.note_shown(id, shown.as_ref())?;
            edits.extend(decided.edits);
        }
        self.edit_all(edits)?;
        Ok(out)
    }

    /// Records `shown`, the model output a reviewer saw, before their decision on `specimen`,
    /// unless it is the one on record already.
    fn note_shown(&mut self, specimen: &str, shown: Option<&Shown>) -> Result<(), ReviewError> {
        match shown {
            Some(shown) if self.state.get(specimen).and_then(|r| r.shown.as_ref()) != Some(shown) => {
                self.note(Edit::Shown { specimen: specimen.to_owned(), shown: Some(shown.clone()) })
            }
            _ => Ok(()),
        }
    }

    /// Applies an edit that undo does not step through: bookkeeping such as the model output the
    /// reviewer was shown, recorded before their call. Durable when this returns.
    pub fn note(&mut self, edit: Edit) -> Result<(), ReviewError> {
        self.record(&edit).map(|_| ())
    }

    /// Undoes the last step (one decision, with all its edits); false when there is none.
    pub fn undo(&mut self) -> Result<bool, ReviewError> {
        let Some(step) = self.undo.pop() else { return Ok(false) };
        let inverse = self.record_all(&step)?;
        self.redo.push(inverse);
        Ok(true)
    }

    /// Redoes the last undone step; false when there is none.
    pub fn redo(&mut self) -> Result<bool, ReviewError> {
        let Some(step) = self.redo.pop() else { return Ok(false) };
        let inverse = self.record_all(&step)?;
        self.undo.push(inverse);
        Ok(true)
    }

    /// Whether edits wait for the next snapshot (they are in the journal already).
    pub fn snapshot_pending(&self) -> bool {
        self.dirty_since.is_some()
    }

    /// The specimens the next undo (or, with `redo`, the next redo) changes, in the order of
    /// its edits, each once.
    pub fn next_step_specimens(&self, redo: bool) -> Vec<String> {
        let step = if redo { self.redo.last() } else { self.undo.last() };
        let mut ids: Vec<String> = Vec::new();
        for e in step.into_iter().flatten() {
            if !ids.iter().any(|id| id == e.specimen()) {
                ids.push(e.specimen().to_owned());
            }
        }
        ids
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

    /// How long until [`ReviewSession::tick`] writes the waiting snapshot (`None`: nothing
    /// waits), so an event loop that sleeps between inputs can wake for it.
    pub fn snapshot_due_in(&self) -> Option<std::time::Duration> {
        self.dirty_since.map(|t| SNAPSHOT_DELAY.saturating_sub(t.elapsed()))
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
