//! What a reviewer records about a specimen, and the edits that change it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::measurement::Measurement;

/// A reviewer's call on one taxonomy node, in IMPC's vocabulary. Unset is the absence of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Call {
    /// Looks normal.
    Normal,
    /// Looks abnormal.
    Abnormal,
    /// Cannot be judged on these images.
    Unobservable,
}

impl Call {
    /// IMPC's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Normal => "normal",
            Call::Abnormal => "abnormal",
            Call::Unobservable => "unobservable",
        }
    }
}

/// Why a specimen cannot be scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QcReason {
    /// A view is not the view it claims to be.
    WrongView,
    /// The image cannot be read or judged.
    Unreadable,
    /// There is no mouse in the image.
    NoMouse,
    /// The animal is positioned so the skeleton cannot be judged.
    BadPositioning,
}

/// Where a specimen stands in the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not looked at yet.
    #[default]
    Unreviewed,
    /// The reviewer confirms an abnormality.
    ConfirmedAbnormal,
    /// The reviewer finds it normal.
    Normal,
    /// Needs a second reviewer.
    SecondLook,
    /// Cannot be scored, for this reason.
    QcProblem(QcReason),
}

impl Status {
    /// Short text for CSVs and the GUI.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unreviewed => "unreviewed",
            Status::ConfirmedAbnormal => "confirmed_abnormal",
            Status::Normal => "normal",
            Status::SecondLook => "second_look",
            Status::QcProblem(QcReason::WrongView) => "qc_wrong_view",
            Status::QcProblem(QcReason::Unreadable) => "qc_unreadable",
            Status::QcProblem(QcReason::NoMouse) => "qc_no_mouse",
            Status::QcProblem(QcReason::BadPositioning) => "qc_bad_positioning",
        }
    }
}

/// The model output a reviewer was shown, so a decision can be traced to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// Model SHA-256.
    pub model_sha256: String,
    /// Conditional probability per node id.
    pub probabilities: BTreeMap<String, f32>,
    /// Threshold per node id in force at the time.
    pub thresholds: BTreeMap<String, f32>,
}

/// Everything recorded about one specimen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpecimenReview {
    /// Calls per node id.
    pub calls: BTreeMap<String, Call>,
    /// Overall status.
    pub status: Status,
    /// Free text.
    pub comment: String,
    /// Who made the last change.
    pub reviewer: String,
    /// When the specimen was first changed (RFC 3339 UTC).
    pub created: String,
    /// When it was last changed.
    pub updated: String,
    /// The model output last shown.
    pub shown: Option<Shown>,
    /// Distances and angles drawn on the films, and ruler calibrations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
}

/// One change. Each edit carries the value it sets; [`Edit::apply`] returns the edit that undoes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    /// Sets or clears a call.
    Call {
        /// Specimen id.
        specimen: String,
        /// Taxonomy node id.
        node: String,
        /// The call, or none to clear it.
        call: Option<Call>,
    },
    /// Sets the status.
    Status {
        /// Specimen id.
        specimen: String,
        /// The status.
        status: Status,
    },
    /// Replaces the comment.
    Comment {
        /// Specimen id.
        specimen: String,
        /// The text.
        text: String,
    },
    /// Replaces the specimen's measurements (one edit per added, changed or removed one, so
    /// each is one undo step).
    Measurements {
        /// Specimen id.
        specimen: String,
        /// The whole list after the change.
        measurements: Vec<Measurement>,
    },
    /// Records the model output shown.
    Shown {
        /// Specimen id.
        specimen: String,
        /// What was shown (none to forget it).
        shown: Option<Shown>,
    },
}

impl Edit {
    /// The specimen it changes.
    pub fn specimen(&self) -> &str {
        match self {
            Edit::Call { specimen, .. }
            | Edit::Status { specimen, .. }
            | Edit::Comment { specimen, .. }
            | Edit::Measurements { specimen, .. }
            | Edit::Shown { specimen, .. } => specimen,
        }
    }
}

/// The whole review of one folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReviewState {
    /// Format version of the file.
    pub schema: u32,
    /// Number of edits applied since the review began (the journal's sequence number).
    pub revision: u64,
    /// Per specimen id.
    pub specimens: BTreeMap<String, SpecimenReview>,
}

/// The current schema version.
pub const SCHEMA: u32 = 1;

impl ReviewState {
    /// An empty review.
    pub fn new() -> Self {
        ReviewState { schema: SCHEMA, revision: 0, specimens: BTreeMap::new() }
    }

    /// Applies an edit by `reviewer` at `time`, returning the edit that undoes it.
    pub fn apply(&mut self, edit: &Edit, reviewer: &str, time: &str) -> Edit {
        self.revision += 1;
        let entry = self.specimens.entry(edit.specimen().to_owned()).or_default();
        if entry.created.is_empty() {
            entry.created = time.to_owned();
        }
        entry.updated = time.to_owned();
        if !reviewer.is_empty() {
            entry.reviewer = reviewer.to_owned();
        }
        match edit {
            Edit::Call { specimen, node, call } => {
                let old = match call {
                    Some(c) => entry.calls.insert(node.clone(), *c),
                    None => entry.calls.remove(node),
                };
                Edit::Call { specimen: specimen.clone(), node: node.clone(), call: old }
            }
            Edit::Status { specimen, status } => {
                let old = std::mem::replace(&mut entry.status, *status);
                Edit::Status { specimen: specimen.clone(), status: old }
            }
            Edit::Comment { specimen, text } => {
                let old = std::mem::replace(&mut entry.comment, text.clone());
                Edit::Comment { specimen: specimen.clone(), text: old }
            }
            Edit::Measurements { specimen, measurements } => {
                let old = std::mem::replace(&mut entry.measurements, measurements.clone());
                Edit::Measurements { specimen: specimen.clone(), measurements: old }
            }
            Edit::Shown { specimen, shown } => {
                let old = std::mem::replace(&mut entry.shown, shown.clone());
                Edit::Shown { specimen: specimen.clone(), shown: old }
            }
        }
    }

    /// A specimen's review, if anything was recorded.
    pub fn get(&self, specimen: &str) -> Option<&SpecimenReview> {
        self.specimens.get(specimen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_edit_is_undone_by_its_inverse() {
        let mut s = ReviewState::new();
        let edits = [
            Edit::Call { specimen: "A".into(), node: "kyphosis".into(), call: Some(Call::Abnormal) },
            Edit::Call { specimen: "A".into(), node: "kyphosis".into(), call: Some(Call::Normal) },
            Edit::Status { specimen: "A".into(), status: Status::QcProblem(QcReason::NoMouse) },
            Edit::Comment { specimen: "B".into(), text: "check the tail".into() },
            Edit::Measurements {
                specimen: "B".into(),
                measurements: vec![Measurement {
                    view: crate::specimen::View::Lv,
                    kind: super::super::measurement::MeasureKind::Angle,
                    points: vec![[1.0, 2.0], [3.0, 4.0], [5.0, 1.0]],
                    parameter: None,
                    known_mm: None,
                    finding: None,
                    made: String::new(),
                }],
            },
            Edit::Call { specimen: "A".into(), node: "kyphosis".into(), call: None },
        ];
        let mut snapshots = vec![s.clone()];
        let mut inverses = Vec::new();
        for e in &edits {
            inverses.push(s.apply(e, "ana", "2026-11-26T10:00:00Z"));
            snapshots.push(s.clone());
        }
        // Undo in reverse order; the content (not the bookkeeping) returns step by step.
        for (k, inv) in inverses.iter().enumerate().rev() {
            s.apply(inv, "ana", "2026-11-26T10:00:00Z");
            let want = &snapshots[k];
            for (id, r) in &s.specimens {
                let w = want.specimens.get(id).cloned().unwrap_or_default();
                assert_eq!(
                    (&r.calls, r.status, &r.comment, &r.measurements),
                    (&w.calls, w.status, &w.comment, &w.measurements),
                    "after undoing {k}"
                );
            }
        }
        assert_eq!(s.revision, 12);
        let json = serde_json::to_string(&edits[2]).unwrap_or_default();
        assert!(json.contains(r#""op":"status""#) && json.contains("no_mouse"), "{json}");
    }
}
