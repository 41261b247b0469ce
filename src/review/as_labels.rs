//! The reviewer's decisions as training labels (`mousexray labels --from-review`).
//!
//! Only specimens with a decision count: a status of normal or confirmed abnormal, or at least
//! one normal or abnormal call. Per node, an abnormal call is positive, a normal call negative,
//! an unobservable call unknown; status normal makes every node negative. A QC status excludes
//! the specimen (its images cannot be judged), and so does "second look" (the decision is not
//! made yet). Parents follow by the taxonomy's rule.

use std::collections::BTreeMap;

use super::{Call, ReviewState, Status};
use crate::taxonomy::{NodeLabels, Taxonomy};

/// What turning a review into labels left out or found inconsistent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewLabelReport {
    /// Specimens with a QC status.
    pub qc: Vec<String>,
    /// Specimens marked for a second look.
    pub second_look: Vec<String>,
    /// Specimens in the review without any decision.
    pub undecided: usize,
    /// Calls contradicting the status or the hierarchy: (specimen, node, what was kept).
    pub conflicts: Vec<(String, String, String)>,
    /// Calls on nodes the taxonomy does not have: (specimen, node).
    pub unknown_nodes: Vec<(String, String)>,
}

/// Labels by specimen id from a review, completed by the taxonomy's rule.
pub fn review_labels(review: &ReviewState, taxonomy: &Taxonomy) -> (BTreeMap<String, NodeLabels>, ReviewLabelReport) {
    let mut labels = BTreeMap::new();
    let mut report = ReviewLabelReport::default();
    for (id, r) in &review.specimens {
        match r.status {
            Status::QcProblem(_) => {
                report.qc.push(id.clone());
                continue;
            }
            Status::SecondLook => {
                report.second_look.push(id.clone());
                continue;
            }
            _ => {}
        }
        let decided_calls = r.calls.values().any(|c| *c != Call::Unobservable);
        if !decided_calls && !matches!(r.status, Status::Normal | Status::ConfirmedAbnormal) {
            report.undecided += 1;
            continue;
        }
        let mut row: NodeLabels = vec![None; taxonomy.nodes.len()];
        for (node, call) in &r.calls {
            let Some(k) = taxonomy.index_of(node) else {
                report.unknown_nodes.push((id.clone(), node.clone()));
                continue;
            };
            row[k] = match call {
                Call::Abnormal => Some(true),
                Call::Normal => Some(false),
                Call::Unobservable => None,
            };
        }
        match r.status {
            Status::Normal => {
                for (k, n) in taxonomy.nodes.iter().enumerate() {
                    if row[k] == Some(true) {
                        report.conflicts.push((id.clone(), n.id.clone(), "status normal: negative".to_owned()));
                    }
                    row[k] = Some(false);
                }
            }
            Status::ConfirmedAbnormal => {
                if row[0] == Some(false) {
                    report.conflicts.push((
                        id.clone(),
                        taxonomy.nodes[0].id.clone(),
                        "status abnormal: positive".to_owned(),
                    ));
                }
                row[0] = Some(true);
            }
            _ => {}
        }
        for (node, explicit, derived) in taxonomy.complete(&mut row) {
            let kept = derived.map_or("unknown", |d| if d { "positive" } else { "negative" });
            let said = if explicit { "abnormal" } else { "normal" };
            report.conflicts.push((id.clone(), node, format!("called {said}, its findings say {kept}")));
        }
        labels.insert(id.clone(), row);
    }
    (labels, report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::review::{QcReason, SpecimenReview};

    fn specimen(status: Status, calls: &[(&str, Call)]) -> SpecimenReview {
        SpecimenReview {
            status,
            calls: calls.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn decisions_become_labels_and_the_rest_is_left_out() {
        let t = Taxonomy::default();
        let mut review = ReviewState::new();
        let s = &mut review.specimens;
        s.insert("normal".into(), specimen(Status::Normal, &[]));
        s.insert(
            "kypho".into(),
            specimen(Status::ConfirmedAbnormal, &[("kyphosis", Call::Abnormal), ("scoliosis", Call::Normal)]),
        );
        s.insert(
            "calls".into(),
            specimen(Status::Unreviewed, &[("teeth", Call::Normal), ("pelvis", Call::Unobservable)]),
        );
        s.insert("abn".into(), specimen(Status::ConfirmedAbnormal, &[]));
        s.insert("qc".into(), specimen(Status::QcProblem(QcReason::NoMouse), &[("kyphosis", Call::Abnormal)]));
        s.insert("later".into(), specimen(Status::SecondLook, &[("kyphosis", Call::Abnormal)]));
        s.insert("open".into(), specimen(Status::Unreviewed, &[("kyphosis", Call::Unobservable)]));
        s.insert("odd".into(), specimen(Status::Normal, &[("lordosis", Call::Abnormal)]));
        let (labels, report) = review_labels(&review, &t);
        let at = |id: &str, node: &str| labels[id][t.index_of(node).unwrap()];
        assert!(labels["normal"].iter().all(|l| *l == Some(false)));
        assert_eq!(
            (at("kypho", "kyphosis"), at("kypho", "scoliosis"), at("kypho", "lordosis")),
            (Some(true), Some(false), None)
        );
        assert_eq!((at("kypho", "axial"), at("kypho", "abnormal")), (Some(true), Some(true)));
        assert_eq!((at("calls", "teeth"), at("calls", "pelvis"), at("calls", "abnormal")), (Some(false), None, None));
        assert_eq!((at("abn", "abnormal"), at("abn", "kyphosis")), (Some(true), None));
        assert_eq!(labels.len(), 5);
        assert_eq!(
            (report.qc, report.second_look, report.undecided),
            (vec!["qc".to_owned()], vec!["later".to_owned()], 1)
        );
        // Status normal wins over a stray abnormal call, and says so.
        assert_eq!(at("odd", "lordosis"), Some(false));
        assert!(report.conflicts.iter().any(|(id, node, _)| id == "odd" && node == "lordosis"));
    }
}
