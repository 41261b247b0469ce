//! An open folder: its specimens, the model's results for them, the review, and the selection.
//! No egui here beyond plain types, so the worklist logic is tested without a window.

use std::path::PathBuf;

use crate::imaging::Transform;
use crate::inference::CamMaps;
use crate::inference::hierarchy::Scores;
use crate::inference::pipeline::SpecimenResult;
use crate::review::{Call, Edit, ReviewSession, Shown, SpecimenReview, Status};
use crate::specimen::{ScanReport, Specimen};
use crate::taxonomy::Taxonomy;

/// The model's output for one specimen.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Probabilities, joint probabilities and flags under the thresholds in force.
    pub scores: Scores,
    /// DV and LV class activation maps (absent for scores restored from the review file).
    pub cams: Option<[CamMaps; 2]>,
    /// Model-to-original transforms of DV and LV.
    pub transforms: [Option<Transform>; 2],
    /// Which views the model saw.
    pub views_used: [bool; 2],
    /// SHA-256 of the model that produced it.
    pub model_sha256: String,
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
    /// Selected specimen index.
    pub selected: Option<usize>,
    /// The specimen pinned as wild-type reference.
    pub reference: Option<usize>,
}

impl Workspace {
    /// A workspace over a scan; `review` as opened (or the reason it was not). Scores the
    /// reviewer was shown earlier are restored from the review file.
    pub fn new(report: ScanReport, review: Option<ReviewSession>, taxonomy: &Taxonomy) -> Workspace {
        let folder = report.root.clone();
        let mut results: Vec<Option<Scored>> = vec![None; report.specimens.len()];
        if let Some(session) = &review {
            for (slot, s) in results.iter_mut().zip(&report.specimens) {
                let Some(shown) = session.state.get(&s.id).and_then(|r| r.shown.as_ref()) else { continue };
                *slot = restore(shown, s, taxonomy);
            }
        }
        let selected = (!report.specimens.is_empty()).then_some(0);
        Workspace { folder, report, review, results, selected, reference: None }
    }

    /// The specimens.
    pub fn specimens(&self) -> &[Specimen] {
        &self.report.specimens
    }

    /// The selected specimen.
    pub fn selected_specimen(&self) -> Option<&Specimen> {
        self.selected.and_then(|i| self.report.specimens.get(i))
    }

    /// The wild-type reference: the pinned specimen, else a `control` of the same sex as the
    /// selection, else any `control` (manifest column biological_sample_group).
    pub fn reference_specimen(&self) -> Option<&Specimen> {
        if let Some(s) = self.reference.and_then(|i| self.specimens().get(i)) {
            return Some(s);
        }
        let controls = || {
            self.specimens().iter().filter(|s| {
                s.metadata.get("biological_sample_group").is_some_and(|g| g.eq_ignore_ascii_case("control"))
            })
        };
        let sex = self.selected_specimen().and_then(|s| s.metadata.get("sex"));
        controls().find(|s| sex.is_some() && s.metadata.get("sex") == sex).or_else(|| controls().next())
    }

    /// The review record of specimen `i`.
    pub fn review_of(&self, i: usize) -> Option<&SpecimenReview> {
        let s = self.report.specimens.get(i)?;
        self.review.as_ref()?.state.get(&s.id)
    }

    /// Stores a pipeline result.
    pub fn accept(&mut self, r: SpecimenResult, model_sha256: &str) {
        let Some(slot) = self.results.get_mut(r.index) else { return };
        if self.report.specimens.get(r.index).map(|s| &s.id) != Some(&r.specimen.id) {
            return;
        }
        *slot = r.scores.map(|scores| Scored {
            scores,
            cams: r.cams,
            transforms: r.transforms,
            views_used: r.views_used,
            model_sha256: model_sha256.to_owned(),
        });
    }

    /// Recomputes flags under new thresholds.
    pub fn rethreshold(&mut self, taxonomy: &Taxonomy, thresholds: &[f32]) {
        for s in self.results.iter_mut().flatten() {
            s.scores = Scores::new(taxonomy, s.scores.conditional.clone(), thresholds);
        }
    }

    /// Indices of specimens without results.
    pub fn unscored(&self) -> Vec<usize> {
        self.results.iter().enumerate().filter(|(_, r)| r.is_none()).map(|(i, _)| i).collect()
    }

    /// Applies a review edit to the selected specimen, first recording the model output the
    /// reviewer saw. Returns an error message for the banner.
    pub fn edit_selected(
        &mut self,
        make: impl FnOnce(&str) -> Edit,
        taxonomy: &Taxonomy,
        thresholds: &[f32],
    ) -> Result<(), String> {
        let Some(i) = self.selected else { return Ok(()) };
        let Some(spec) = self.report.specimens.get(i) else { return Ok(()) };
        let Some(review) = self.review.as_mut() else {
            return Err("the review is not open for this folder, so decisions cannot be recorded".into());
        };
        if let Some(scored) = self.results.get(i).and_then(Option::as_ref) {
            let shown = shown_of(scored, taxonomy, thresholds);
            let current = review.state.get(&spec.id).and_then(|r| r.shown.as_ref());
            if current != Some(&shown) {
                review
                    .note(Edit::Shown { specimen: spec.id.clone(), shown: Some(shown) })
                    .map_err(|e| e.to_string())?;
            }
        }
        review.edit(make(&spec.id)).map_err(|e| e.to_string())
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
        let Some(review) = &self.review else { return 0 };
        review.state.specimens.values().filter(|r| r.status != Status::Unreviewed || !r.calls.is_empty()).count()
    }
}

fn shown_of(scored: &Scored, taxonomy: &Taxonomy, thresholds: &[f32]) -> Shown {
    let ids = taxonomy.nodes.iter().map(|n| n.id.clone());
    Shown {
        model_sha256: scored.model_sha256.clone(),
        probabilities: ids.clone().zip(scored.scores.conditional.iter().copied()).collect(),
        thresholds: ids.zip(thresholds.iter().copied()).collect(),
    }
}

fn restore(shown: &Shown, s: &Specimen, taxonomy: &Taxonomy) -> Option<Scored> {
    let conditional: Option<Vec<f32>> =
        taxonomy.nodes.iter().map(|n| shown.probabilities.get(&n.id).copied()).collect();
    let thresholds: Vec<f32> =
        taxonomy.nodes.iter().map(|n| shown.thresholds.get(&n.id).copied().unwrap_or(0.5)).collect();
    Some(Scored {
        scores: Scores::new(taxonomy, conditional?, &thresholds),
        cams: None,
        transforms: [None, None],
        views_used: [s.dv().is_some(), s.lv().is_some()],
        model_sha256: shown.model_sha256.clone(),
    })
}
