//! An open folder: its specimens, the model's results for them, the review, and the selection.
//! No egui here beyond plain types, so the worklist logic is tested without a window.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::domain::DomainScore;
use crate::imaging::{QcCode, Transform};
use crate::inference::CamMaps;
use crate::inference::hierarchy::Scores;
use crate::inference::pipeline::SpecimenResult;
use crate::inference::stored::{StoredPrediction, StoredResults};
use crate::review::{Call, Decided, Decision, Reading, ReviewSession, ReviewState, Shown, SpecimenReview, Status};
use crate::specimen::{ByView, ScanReport, Specimen, View};
use crate::taxonomy::Taxonomy;

/// The model's output for one specimen.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Probabilities, joint probabilities and flags under the thresholds in force.
    pub scores: Scores,
    /// DV and LV class activation maps (absent for scores restored from a decision record alone).
    pub cams: Option<ByView<CamMaps>>,
    /// Model-to-original transforms of DV and LV.
    pub transforms: ByView<Option<Transform>>,
    /// Which views the model saw.
    pub views_used: ByView<bool>,
    /// SHA-256 of the model that produced it.
    pub model_sha256: String,
    /// The thresholds it was flagged with when it was produced (taxonomy order): those that
    /// still apply while another model is loaded, since one model's thresholds mean nothing
    /// for another's probabilities.
    pub thresholds: Vec<f32>,
    /// How far the views are from the model's training data (`None`: domain unknown).
    pub domain: Option<DomainScore>,
}

impl Scored {
    /// Whether the model found the specimen unlike its training data.
    pub fn out_of_domain(&self) -> bool {
        self.domain.as_ref().and_then(DomainScore::in_domain) == Some(false)
    }
}

/// An open folder.
pub struct Workspace {
    /// The folder.
    pub folder: PathBuf,
    /// What the scan found.
    pub report: ScanReport,
    /// The review, unless it could not be opened.
    pub review: Option<ReviewSession>,
    /// Results by specimen index.
    pub results: Vec<Option<Scored>>,
    /// Film QC codes of DV and LV by specimen index (empty until classified).
    pub film_qc: Vec<ByView<Vec<QcCode>>>,
    /// Selected specimen index.
    pub selected: Option<usize>,
    /// The specimen pinned as wild-type reference.
    pub reference: Option<usize>,
    /// Which reading `review` holds.
    pub reading: crate::review::Reading,
    /// In a second reading: the first reading, read-only, to compare with once the second
    /// reader has decided a specimen (never shown before).
    pub first_reading: Option<crate::review::ReviewState>,
    /// The review as last saved, read without its lock, when `review` could not be opened (the
    /// folder open in another window): shown, never written.
    read_only: Option<ReviewState>,
    /// Every result, as kept on disk beside the review.
    stored: StoredResults,
    /// A save in progress on its own thread (the file can be megabytes; the UI must not wait).
    saving: Option<JoinHandle<Result<PathBuf, String>>>,
    /// Results arrived since the last save.
    unsaved: usize,
    /// A save was asked for while one was running: start it when that one ends.
    save_again: bool,
    /// False when a damaged results file could not be set aside: it is never written over.
    results_writable: bool,
    last_save: Instant,
}

/// Who produced a result: the model file and the thresholds in force.
#[derive(Debug, Clone, Copy)]
pub struct Producer<'a> {
    /// Model SHA-256.
    pub sha256: &'a str,
    /// Model file name.
    pub name: &'a str,
    /// Thresholds in taxonomy order.
    pub thresholds: &'a [f32],
}

impl Workspace {
    /// A workspace over a scan; `review` as opened (or the reason it was not). Every stored
    /// result (`results.json` beside the review) is restored with its overlays; for a specimen
    /// without one, the scores its reviewer was shown. Returns notes for the user (a damaged
    /// results file set aside).
    pub fn new(
        report: ScanReport,
        review: Option<ReviewSession>,
        reading: crate::review::Reading,
        taxonomy: &Taxonomy,
    ) -> (Workspace, Vec<String>) {
        let folder = report.root.clone();
        let loaded = match &review {
            Some(session) => StoredResults::load(session.folder_dir(), true),
            None => StoredResults::load(&crate::review::review_dir(&folder), false),
        };
        let (stored, notes, results_writable) = (loaded.results, loaded.notes, loaded.writable);
        let mut results: Vec<Option<Scored>> = vec![None; report.specimens.len()];
        for (slot, s) in results.iter_mut().zip(&report.specimens) {
            *slot = match stored.specimens.get(&s.id) {
                Some(p) => from_stored(p, taxonomy),
                None => review
                    .as_ref()
                    .and_then(|session| session.state.get(&s.id))
                    .and_then(|r| r.shown.as_ref())
                    .and_then(|shown| restore(shown, s, taxonomy)),
            };
        }
        let film_qc = report.specimens.iter().map(|s| stored.film_qc.get(&s.id).cloned().unwrap_or_default()).collect();
        let selected = (!report.specimens.is_empty()).then_some(0);
        let first_reading = first_reading_for(&folder, reading);
        let read_only = read_only_for(&folder, reading, review.as_ref());
        let ws = Workspace {
            folder,
            report,
            review,
            results,
            film_qc,
            selected,
            reference: None,
            reading,
            first_reading,
            read_only,
            stored,
            saving: None,
            unsaved: 0,
            save_again: false,
            results_writable,
            last_save: Instant::now(),
        };
        (ws, notes)
    }

    /// The specimens.
    pub fn specimens(&self) -> &[Specimen] {
        &self.report.specimens
    }

    /// The selected specimen.
    pub fn selected_specimen(&self) -> Option<&Specimen> {
        self.selected.and_then(|i| self.report.specimens.get(i))
    }

    /// Records `reading` of this folder's review through `review` (the session opened for it, or
    /// none when it could not be); a second reading also gets the first, read-only, to compare.
    pub fn set_reading(&mut self, reading: crate::review::Reading, review: Option<ReviewSession>) {
        self.read_only = read_only_for(&self.folder, reading, review.as_ref());
        self.review = review;
        self.reading = reading;
        self.first_reading = first_reading_for(&self.folder, reading);
    }

    /// The wild-type reference: the pinned specimen, else a `control` matched to the selection
    /// ([`crate::specimen::colony::matches`]: sex, centre, strain), else any `control`.
    pub fn reference_specimen(&self) -> Option<&Specimen> {
        if let Some(s) = self.reference.and_then(|i| self.specimens().get(i)) {
            return Some(s);
        }
        // A control matched to the selection (sex, centre, strain), else any control.
        let controls = || self.specimens().iter().filter(|s| crate::specimen::colony::is_control(s));
        let selected = self.selected_specimen();
        controls()
            .find(|c| selected.is_some_and(|s| crate::specimen::colony::matches(s, c)))
            .or_else(|| controls().next())
    }

    /// Film QC codes of specimen `i`'s DV and LV, as `(view, code)` pairs.
    pub fn film_qc_of(&self, i: usize) -> Vec<(crate::specimen::View, QcCode)> {
        self.film_qc.get(i).map(|qc| crate::imaging::film_qc::findings(qc).collect()).unwrap_or_default()
    }

    /// Why specimen `i` has no scores although the classifier ran on it: its files could not be
    /// read, or film QC left out every DV and LV film it has. `None` when it has scores or was
    /// never classified.
    pub fn not_scored_reason(&self, i: usize) -> Option<String> {
        if self.results.get(i).is_some_and(Option::is_some) {
            return None;
        }
        let spec = self.report.specimens.get(i)?;
        // Kept by id beside the results (`StoredResults::unreadable`), so a reopened folder says it too.
        if let Some(why) = self.stored.unreadable.get(&spec.id) {
            return Some(format!("its films could not be read ({why})"));
        }
        let qc = self.film_qc.get(i)?;
        let views = [(View::Dv, spec.dv()), (View::Lv, spec.lv())];
        let mut present = views.iter().filter(|(_, path)| path.is_some()).peekable();
        let any = present.peek().is_some();
        (any && present.all(|(v, _)| qc[*v].iter().any(|c| c.excludes_view())))
            .then(|| "film QC left out every DV and LV film it has".to_owned())
    }

    /// The review record of specimen `i` (as last saved, when the review is open elsewhere).
    pub fn review_of(&self, i: usize) -> Option<&SpecimenReview> {
        let s = self.report.specimens.get(i)?;
        self.review_state()?.get(&s.id)
    }

    /// The review open here, else the one read without its lock.
    pub fn review_state(&self) -> Option<&ReviewState> {
        self.review.as_ref().map(|r| &r.state).or(self.read_only.as_ref())
    }

    /// Whether the review is shown read-only (open in another window).
    pub fn review_read_only(&self) -> bool {
        self.review.is_none() && self.read_only.is_some()
    }

    /// Stores a pipeline result, in memory and (at the next [`Workspace::save_results`]) on disk.
    pub fn accept(&mut self, r: SpecimenResult, producer: Producer<'_>, taxonomy: &Taxonomy) {
        let Some(slot) = self.results.get_mut(r.index) else { return };
        if self.report.specimens.get(r.index).map(|s| &s.id) != Some(&r.specimen.id) {
            return;
        }
        let id = r.specimen.id.clone();
        if let Some(qc) = self.film_qc.get_mut(r.index) {
            qc.clone_from(&r.qc);
        }
        if r.scores.is_none() && !r.problems.is_empty() {
            let files: Vec<String> = r
                .problems
                .iter()
                .map(|p| format!("{}: {}", crate::specimen::display_path(&p.path), p.reason))
                .collect();
            self.stored.unreadable.insert(id.clone(), files.join("; "));
        } else {
            self.stored.unreadable.remove(&id);
        }
        if r.qc.values().all(Vec::is_empty) {
            self.stored.film_qc.remove(&id);
        } else {
            self.stored.film_qc.insert(id.clone(), r.qc.clone());
        }
        *slot = r.scores.map(|scores| Scored {
            scores,
            cams: r.cams,
            transforms: r.transforms,
            views_used: r.views_used,
            model_sha256: producer.sha256.to_owned(),
            thresholds: producer.thresholds.to_vec(),
            domain: r.domain,
        });
        match slot {
            Some(s) => {
                let ids = || taxonomy.nodes.iter().map(|n| n.id.clone());
                let stored = StoredPrediction {
                    model_sha256: producer.sha256.to_owned(),
                    model_name: producer.name.to_owned(),
                    time: crate::timestamp::timestamp_now(),
                    probabilities: ids().zip(s.scores.conditional.iter().copied()).collect(),
                    thresholds: ids().zip(producer.thresholds.iter().copied()).collect(),
                    views_used: s.views_used,
                    transforms: s.transforms.clone(),
                    cams: s.cams.clone(),
                    domain: s.domain,
                };
                self.stored.specimens.insert(id, stored);
            }
            None => {
                self.stored.specimens.remove(&id);
            }
        }
        self.unsaved += 1;
    }

    /// Starts writing the stored results beside the review, on a thread of its own, when any
    /// arrived since the last save (and no save is running). `force`: even if the last save was
    /// recent (the end of a run); otherwise at most every 20 s (during a run).
    pub fn save_results(&mut self, force: bool) {
        if self.unsaved == 0 || (!force && self.last_save.elapsed().as_secs() < 20) {
            return;
        }
        if self.saving.is_some() {
            self.save_again |= force;
            return;
        }
        let Some(dir) = self.review.as_ref().filter(|_| self.results_writable).map(|r| r.folder_dir().to_owned())
        else {
            return;
        };
        let snapshot = self.stored.clone();
        self.unsaved = 0;
        self.last_save = Instant::now();
        self.saving = Some(std::thread::spawn(move || snapshot.save(&dir)));
    }

    /// The outcome of a finished save, once (for a banner on failure); starts the save that was
    /// asked for while it ran.
    pub fn poll_save(&mut self) -> Option<Result<PathBuf, String>> {
        if !self.saving.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        let handle = self.saving.take()?;
        let outcome = handle.join().unwrap_or_else(|_| Err("saving the results failed unexpectedly".into()));
        if std::mem::take(&mut self.save_again) {
            self.save_results(true);
        }
        Some(outcome)
    }

    /// Waits for any save in progress and writes what is unsaved (closing the folder or the
    /// window).
    pub fn flush_results(&mut self) -> Result<(), String> {
        if let Some(handle) = self.saving.take() {
            handle.join().unwrap_or_else(|_| Err("saving the results failed unexpectedly".into()))?;
        }
        if self.unsaved == 0 {
            return Ok(());
        }
        let Some(dir) = self.review.as_ref().filter(|_| self.results_writable).map(|r| r.folder_dir().to_owned())
        else {
            return Ok(());
        };
        self.unsaved = 0;
        self.stored.save(&dir).map(|_| ())
    }

    /// The thresholds the stored results were flagged with (those of the newest), in taxonomy
    /// order: what the flags mean before a model is loaded.
    pub fn stored_thresholds(&self, taxonomy: &Taxonomy) -> Option<Vec<f32>> {
        let newest = self.stored.specimens.values().max_by(|a, b| a.time.cmp(&b.time))?;
        Some(newest.threshold_vec(taxonomy))
    }

    /// Whether a save is running.
    pub fn saving(&self) -> bool {
        self.saving.is_some()
    }

    /// The stored results (what export reads for specimens without a decision).
    pub fn stored(&self) -> &StoredResults {
        &self.stored
    }

    /// Recomputes flags: a result of the loaded model (SHA-256 `loaded`) under `thresholds`
    /// (taxonomy order); one of another model under the thresholds it was flagged with, but
    /// for each node the reviewer set by hand (`overrides`, taxonomy order), which applies to all.
    pub fn rethreshold(
        &mut self,
        taxonomy: &Taxonomy,
        loaded: Option<&str>,
        thresholds: &[f32],
        overrides: &[Option<f32>],
    ) {
        for s in self.results.iter_mut().flatten() {
            let own: Vec<f32> = if loaded == Some(s.model_sha256.as_str()) {
                thresholds.to_vec()
            } else {
                (0..taxonomy.nodes.len())
                    .map(|i| {
                        let produced = s.thresholds.get(i).copied().unwrap_or(0.5);
                        overrides.get(i).copied().flatten().unwrap_or(produced)
                    })
                    .collect()
            };
            s.scores = Scores::new(taxonomy, s.scores.conditional.clone(), &own);
        }
    }

    /// Indices of specimens without full results of the model `loaded` (its SHA-256): none at
    /// all, only the scores of a decision record (no transforms, so no overlay can be drawn
    /// until the model runs again), or another model's.
    pub fn unscored(&self, loaded: &str) -> Vec<usize> {
        let stale = |r: &Scored| r.transforms.values().all(Option::is_none) || r.model_sha256 != loaded;
        self.results.iter().enumerate().filter(|(_, r)| r.as_ref().is_none_or(stale)).map(|(i, _)| i).collect()
    }

    /// Applies a reviewer's decision to the selected specimen by the hierarchy's rules, as one
    /// undo step, first recording the model output the reviewer saw. Returns what was decided,
    /// or an error message for the banner.
    pub fn decide_selected(&mut self, decision: &Decision, taxonomy: &Taxonomy) -> Result<Decided, String> {
        let Some(i) = self.selected else { return Ok(Decided::default()) };
        let Some(spec) = self.report.specimens.get(i) else { return Ok(Decided::default()) };
        let Some(review) = self.review.as_mut() else {
            return Err("the review is not open for this folder, so decisions cannot be recorded".into());
        };
        let shown = self.results.get(i).and_then(Option::as_ref).map(|r| shown_of(r, taxonomy));
        review.decide(&spec.id, decision, shown, taxonomy).map_err(|e| e.to_string())
    }

    /// The specimens a batch "normal" may call: classified, not flagged, like the training data,
    /// without film QC problems, and with nothing recorded yet; among `listed`, in that order.
    pub fn unflagged_unreviewed(&self, listed: &[usize]) -> Vec<usize> {
        listed
            .iter()
            .copied()
            .filter(|&i| {
                let scored = self.results.get(i).and_then(Option::as_ref);
                scored.is_some_and(|r| !r.scores.abnormal() && !r.out_of_domain())
                    && self.film_qc_of(i).is_empty()
                    && self.review_of(i).is_none_or(|r| r.status == Status::Unreviewed && r.calls.is_empty())
            })
            .collect()
    }

    /// Applies `decision` to specimens `indices` as one undo step, each with the scores shown.
    pub fn decide_many(
        &mut self,
        indices: &[usize],
        decision: &Decision,
        taxonomy: &Taxonomy,
    ) -> Result<crate::review::BatchDecided, String> {
        let items: Vec<(String, Option<Shown>)> = indices
            .iter()
            .filter_map(|&i| {
                let id = self.report.specimens.get(i)?.id.clone();
                let shown = self.results.get(i).and_then(Option::as_ref).map(|r| shown_of(r, taxonomy));
                Some((id, shown))
            })
            .collect();
        let Some(review) = self.review.as_mut() else {
            return Err("the review is not open for this folder, so decisions cannot be recorded".into());
        };
        review.decide_all(&items, decision, taxonomy).map_err(|e| e.to_string())
    }

    /// The reviewer's call on `node` for specimen `i`.
    pub fn call(&self, i: usize, node: &str) -> Option<Call> {
        self.review_of(i).and_then(|r| r.calls.get(node).copied())
    }

    /// The status of specimen `i`.
    pub fn status(&self, i: usize) -> Status {
        self.review_of(i).map(|r| r.status).unwrap_or_default()
    }

    /// Reviewed specimens (status set or any call), for the "reviewed of total" count.
    pub fn reviewed_count(&self) -> usize {
        // The review holds only touched specimens: count those, not the whole folder.
        let Some(state) = self.review_state() else { return 0 };
        state.specimens.values().filter(|r| r.status != Status::Unreviewed || !r.calls.is_empty()).count()
    }
}

/// What the reviewer was shown: the result's probabilities and the thresholds its flags were
/// judged against.
fn shown_of(scored: &Scored, taxonomy: &Taxonomy) -> Shown {
    let ids = taxonomy.nodes.iter().map(|n| n.id.clone());
    Shown {
        model_sha256: scored.model_sha256.clone(),
        probabilities: ids.clone().zip(scored.scores.conditional.iter().copied()).collect(),
        thresholds: ids.zip(scored.scores.thresholds.iter().copied()).collect(),
    }
}

fn from_stored(p: &StoredPrediction, taxonomy: &Taxonomy) -> Option<Scored> {
    let thresholds = p.threshold_vec(taxonomy);
    Some(Scored {
        scores: p.scores(taxonomy, &thresholds)?,
        thresholds,
        cams: p.cams.clone(),
        transforms: p.transforms.clone(),
        views_used: p.views_used,
        model_sha256: p.model_sha256.clone(),
        domain: p.domain,
    })
}

fn restore(shown: &Shown, s: &Specimen, taxonomy: &Taxonomy) -> Option<Scored> {
    let conditional: Option<Vec<f32>> =
        taxonomy.nodes.iter().map(|n| shown.probabilities.get(&n.id).copied()).collect();
    let thresholds: Vec<f32> =
        taxonomy.nodes.iter().map(|n| shown.thresholds.get(&n.id).copied().unwrap_or(0.5)).collect();
    Some(Scored {
        scores: Scores::new(taxonomy, conditional?, &thresholds),
        thresholds,
        cams: None,
        transforms: ByView::default(),
        views_used: s.present(),
        model_sha256: shown.model_sha256.clone(),
        domain: None,
    })
}

/// `reading` of `folder` as last saved, when it could not be opened here (`opened` is none).
fn read_only_for(folder: &Path, reading: Reading, opened: Option<&ReviewSession>) -> Option<ReviewState> {
    opened.is_none().then(|| crate::review::read_reading(folder, reading).0)
}

/// The first reading of `folder`, read-only, when `reading` is the second (for the comparison).
fn first_reading_for(folder: &Path, reading: Reading) -> Option<ReviewState> {
    (reading == Reading::Second).then(|| crate::review::read_review(folder).0)
}
