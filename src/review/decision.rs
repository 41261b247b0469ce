//! The rules of a decision: what a key or a button means for a specimen's record, so that the
//! status and the calls never contradict each other or the hierarchy.
//!
//! The hierarchy's rule is the taxonomy's label rule (see [`crate::taxonomy`]): a node is
//! abnormal if any child is, and a normal node has only normal children. So an abnormal call
//! carries its ancestors with it, a normal call clears the abnormal calls beneath it, and the
//! status follows the L1 call. [`decide`] turns a [`Decision`] into the [`Edit`]s that keep those
//! rules; [`crate::review::ReviewSession::decide`] applies them as one undo step.

use super::model::{Call, Edit, QcReason, SpecimenReview, Status};
use crate::taxonomy::{Level, Taxonomy};

/// What the reviewer decided about a specimen.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Confirmed abnormal: status and the L1 call.
    Abnormal,
    /// Normal: status and the L1 call; abnormal calls beneath are cleared.
    Normal,
    /// The skeleton cannot be judged on these films: the L1 call unobservable (abnormal calls
    /// beneath are cleared), and a QC status (unreadable) unless a QC reason is already recorded.
    Unobservable,
    /// Ask a second reader: the status only.
    SecondLook,
    /// Back to unreviewed: the status only (calls stay).
    Unreviewed,
    /// A film QC problem: the status only.
    Qc(QcReason),
    /// A call on one node (none: clear it), with the hierarchy's consequences.
    Call {
        /// Taxonomy node id.
        node: String,
        /// The call, or none to clear it.
        call: Option<Call>,
    },
    /// Toggle the abnormal call on a node: abnormal when it is not, cleared when it is.
    ToggleAbnormal {
        /// Taxonomy node id.
        node: String,
    },
    /// Replace the comment.
    Comment(String),
}

/// The edits of a decision, and the abnormal calls it cleared (node ids), so the window can say so.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decided {
    /// Edits to apply in order, as one undo step (empty: nothing changes).
    pub edits: Vec<Edit>,
    /// Abnormal calls beneath a normal call that were cleared.
    pub cleared: Vec<String>,
}

/// Why a decision cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecisionError {
    /// The node is not in the taxonomy in use.
    #[error("`{0}` is not a node of the taxonomy in use")]
    UnknownNode(String),
}

/// The edits that apply `decision` to `specimen`, whose record is `current` (none: nothing
/// recorded yet), under `taxonomy`. Only changes are returned: a decision already in force gives
/// no edits.
///
/// Rules:
/// * an abnormal call on a node also calls each ancestor abnormal, and sets the status to
///   confirmed abnormal if it was unreviewed or normal;
/// * a normal or unobservable call on a node clears every abnormal call beneath it; a normal L1
///   call sets the status to normal if it was unreviewed or confirmed abnormal;
/// * an unobservable L1 call sets a QC status (unreadable) unless one is recorded;
/// * [`Decision::Abnormal`], [`Decision::Normal`] and [`Decision::Unobservable`] are the L1
///   call with their status, whatever the status was.
///
/// # Errors
/// [`DecisionError::UnknownNode`] when a call names a node the taxonomy lacks.
pub fn decide(
    specimen: &str,
    current: Option<&SpecimenReview>,
    decision: &Decision,
    taxonomy: &Taxonomy,
) -> Result<Decided, DecisionError> {
    let mut plan = Plan { specimen, current, taxonomy, out: Decided::default() };
    let root = taxonomy.nodes.first().map(|n| n.id.clone()).unwrap_or_default();
    match decision {
        Decision::Abnormal => {
            plan.status(Status::ConfirmedAbnormal);
            plan.call(&root, Some(Call::Abnormal))?;
        }
        Decision::Normal => {
            plan.status(Status::Normal);
            plan.call(&root, Some(Call::Normal))?;
        }
        Decision::Unobservable => plan.call(&root, Some(Call::Unobservable))?,
        Decision::SecondLook => plan.status(Status::SecondLook),
        Decision::Unreviewed => plan.status(Status::Unreviewed),
        Decision::Qc(reason) => plan.status(Status::QcProblem(*reason)),
        Decision::Call { node, call } => plan.call(node, *call)?,
        Decision::ToggleAbnormal { node } => {
            let on = plan.call_of(node) == Some(Call::Abnormal);
            plan.call(node, if on { None } else { Some(Call::Abnormal) })?;
        }
        Decision::Comment(text) => {
            if current.map_or("", |r| r.comment.as_str()) != text {
                plan.out.edits.push(Edit::Comment { specimen: specimen.to_owned(), text: text.clone() });
            }
        }
    }
    Ok(plan.out)
}

/// A decision being worked out: the record as the edits so far leave it.
struct Plan<'a> {
    specimen: &'a str,
    current: Option<&'a SpecimenReview>,
    taxonomy: &'a Taxonomy,
    out: Decided,
}

impl Plan<'_> {
    /// The status after the edits so far.
    fn status_now(&self) -> Status {
        let planned = self.out.edits.iter().rev().find_map(|e| match e {
            Edit::Status { status, .. } => Some(*status),
            _ => None,
        });
        planned.unwrap_or_else(|| self.current.map(|r| r.status).unwrap_or_default())
    }

    /// The call on `node` after the edits so far.
    fn call_of(&self, node: &str) -> Option<Call> {
        let planned = self.out.edits.iter().rev().find_map(|e| match e {
            Edit::Call { node: n, call, .. } if n == node => Some(*call),
            _ => None,
        });
        planned.unwrap_or_else(|| self.current.and_then(|r| r.calls.get(node).copied()))
    }

    fn status(&mut self, status: Status) {
        if self.status_now() != status {
            self.out.edits.push(Edit::Status { specimen: self.specimen.to_owned(), status });
        }
    }

    fn set(&mut self, node: &str, call: Option<Call>) {
        if self.call_of(node) != call {
            self.out.edits.push(Edit::Call { specimen: self.specimen.to_owned(), node: node.to_owned(), call });
        }
    }

    fn call(&mut self, node: &str, call: Option<Call>) -> Result<(), DecisionError> {
        let Some(n) = self.taxonomy.get(node) else { return Err(DecisionError::UnknownNode(node.to_owned())) };
        let level = n.level;
        self.set(node, call);
        match call {
            Some(Call::Abnormal) => {
                let mut parent = n.parent.clone();
                while let Some(p) = parent {
                    self.set(&p, Some(Call::Abnormal));
                    parent = self.taxonomy.get(&p).and_then(|n| n.parent.clone());
                }
                if matches!(self.status_now(), Status::Unreviewed | Status::Normal) {
                    self.status(Status::ConfirmedAbnormal);
                }
            }
            Some(c @ (Call::Normal | Call::Unobservable)) => {
                for d in descendants(self.taxonomy, node) {
                    if self.call_of(&d) == Some(Call::Abnormal) {
                        self.set(&d, None);
                        self.out.cleared.push(d);
                    }
                }
                let status = self.status_now();
                if level != Level::L1 {
                } else if c == Call::Normal && matches!(status, Status::Unreviewed | Status::ConfirmedAbnormal) {
                    self.status(Status::Normal);
                } else if c == Call::Unobservable && !matches!(status, Status::QcProblem(_)) {
                    self.status(Status::QcProblem(QcReason::Unreadable));
                }
            }
            None => {}
        }
        Ok(())
    }
}

/// The call a record implies on `node` of a specimen with the films `present`: its own call,
/// else, when the nearest ancestor with a call says normal or unobservable, that (a normal group
/// has only normal findings; a skeleton that cannot be judged cannot be judged finding by
/// finding), but unobservable for a finding read on a view the specimen lacks (an LV-only animal
/// called normal says nothing of its scoliosis). An abnormal ancestor implies nothing about a
/// finding, which findings are abnormal being the reviewer's to say, but for one read on a
/// missing view: unobservable (with no film at all, every finding is). Without a call above
/// it, the status speaks as its call would: normal as N, confirmed abnormal as A, a QC problem
/// as unobservable. This is what fills the IMPC parameters of an export with values the
/// reviewer confirmed.
pub fn implied_call(
    record: &SpecimenReview,
    node: &str,
    taxonomy: &Taxonomy,
    present: crate::specimen::ByView<bool>,
) -> Option<Call> {
    if let Some(c) = record.calls.get(node) {
        return Some(*c);
    }
    let unseen = taxonomy.get(node).is_some_and(|n| !n.visible_in.observable_in(present));
    let mut parent = taxonomy.get(node).and_then(|n| n.parent.clone());
    while let Some(p) = parent {
        match record.calls.get(&p) {
            Some(Call::Normal) if unseen => return Some(Call::Unobservable),
            Some(c @ (Call::Normal | Call::Unobservable)) => return Some(*c),
            // Which findings are abnormal is the reviewer's to say, but not one on a view the
            // specimen lacks: that one cannot be seen at all.
            Some(Call::Abnormal) => return unseen.then_some(Call::Unobservable),
            None => parent = taxonomy.get(&p).and_then(|n| n.parent.clone()),
        }
    }
    // No call above it: a status set without calls (as imported reviews carry) speaks for the
    // skeleton as the matching call would.
    match record.status {
        Status::Normal => Some(if unseen { Call::Unobservable } else { Call::Normal }),
        Status::ConfirmedAbnormal => unseen.then_some(Call::Unobservable),
        Status::QcProblem(_) => Some(Call::Unobservable),
        Status::Unreviewed | Status::SecondLook => None,
    }
}

/// Every node beneath `id`, depth first.
fn descendants(taxonomy: &Taxonomy, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in taxonomy.children(id) {
        out.push(c.id.clone());
        out.extend(descendants(taxonomy, &c.id));
    }
    out
}

/// The nodes in reading order: the L1 root, then each L2 group followed by its own L3 findings.
pub fn tree_order(taxonomy: &Taxonomy) -> Vec<usize> {
    let Some(root) = taxonomy.nodes.first() else { return Vec::new() };
    let mut ids = vec![root.id.clone()];
    ids.extend(descendants(taxonomy, &root.id));
    ids.iter().filter_map(|id| taxonomy.index_of(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::ReviewState;

    fn apply(state: &mut ReviewState, d: &Decision) -> Decided {
        let t = Taxonomy::impc_skeletal();
        let decided = decide("M1", state.get("M1"), d, &t).unwrap_or_default();
        for e in &decided.edits {
            state.apply(e, "ana", "2026-11-30T10:00:00Z");
        }
        decided
    }

    fn calls(state: &ReviewState) -> Vec<(String, Call)> {
        state.get("M1").map(|r| r.calls.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default()
    }

    #[test]
    fn an_abnormal_finding_carries_its_ancestors_and_the_status() {
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::ToggleAbnormal { node: "teeth".into() });
        let r = s.get("M1").cloned().unwrap_or_default();
        assert_eq!(r.status, Status::ConfirmedAbnormal);
        for n in ["teeth", "craniofacial", "abnormal"] {
            assert_eq!(r.calls.get(n), Some(&Call::Abnormal), "{n}");
        }
        // A second finding adds only itself and its own group.
        let d = apply(&mut s, &Decision::ToggleAbnormal { node: "kyphosis".into() });
        assert_eq!(d.edits.len(), 2, "{:?}", d.edits);
        // Toggling it again clears the finding alone: the reviewer still finds the animal abnormal.
        apply(&mut s, &Decision::ToggleAbnormal { node: "kyphosis".into() });
        assert_eq!(s.get("M1").map(|r| r.calls.get("kyphosis").copied()), Some(None));
        assert_eq!(s.get("M1").map(|r| r.status), Some(Status::ConfirmedAbnormal));
    }

    #[test]
    fn normal_clears_the_abnormal_calls_beneath_and_says_which() {
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::ToggleAbnormal { node: "teeth".into() });
        apply(&mut s, &Decision::Call { node: "scoliosis".into(), call: Some(Call::Normal) });
        let d = apply(&mut s, &Decision::Normal);
        assert_eq!(d.cleared, vec!["craniofacial".to_owned(), "teeth".to_owned()]);
        assert_eq!(s.get("M1").map(|r| r.status), Some(Status::Normal));
        assert_eq!(calls(&s), vec![("abnormal".into(), Call::Normal), ("scoliosis".into(), Call::Normal)]);
        // Normal on a group clears only its own findings and leaves the status alone.
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::ToggleAbnormal { node: "teeth".into() });
        apply(&mut s, &Decision::ToggleAbnormal { node: "kyphosis".into() });
        apply(&mut s, &Decision::Call { node: "axial".into(), call: Some(Call::Normal) });
        assert_eq!(s.get("M1").map(|r| r.calls.get("kyphosis").copied()), Some(None));
        assert_eq!(s.get("M1").map(|r| r.calls.get("teeth").copied()), Some(Some(Call::Abnormal)));
        assert_eq!(s.get("M1").map(|r| r.status), Some(Status::ConfirmedAbnormal));
    }

    #[test]
    fn unobservable_sets_a_qc_status_unless_one_is_recorded() {
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::Unobservable);
        assert_eq!(s.get("M1").map(|r| r.status), Some(Status::QcProblem(QcReason::Unreadable)));
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::Qc(QcReason::NoMouse));
        apply(&mut s, &Decision::Unobservable);
        assert_eq!(s.get("M1").map(|r| r.status), Some(Status::QcProblem(QcReason::NoMouse)));
        assert_eq!(calls(&s), vec![("abnormal".into(), Call::Unobservable)]);
    }

    #[test]
    fn a_decision_in_force_changes_nothing_and_unknown_nodes_are_errors() {
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::Abnormal);
        assert!(apply(&mut s, &Decision::Abnormal).edits.is_empty());
        let t = Taxonomy::impc_skeletal();
        let d = Decision::Call { node: "tail".into(), call: Some(Call::Abnormal) };
        assert_eq!(decide("M1", None, &d, &t), Err(DecisionError::UnknownNode("tail".into())));
    }

    #[test]
    fn a_normal_or_unobservable_ancestor_implies_the_findings_and_an_abnormal_one_does_not() {
        let t = Taxonomy::impc_skeletal();
        let both = crate::specimen::ByView::new(true, true);
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::Normal);
        let r = s.get("M1").cloned().unwrap_or_default();
        assert_eq!(implied_call(&r, "kyphosis", &t, both), Some(Call::Normal));
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::ToggleAbnormal { node: "teeth".into() });
        apply(&mut s, &Decision::Call { node: "axial".into(), call: Some(Call::Normal) });
        let r = s.get("M1").cloned().unwrap_or_default();
        assert_eq!(implied_call(&r, "teeth", &t, both), Some(Call::Abnormal));
        assert_eq!(
            implied_call(&r, "skull_shape", &t, both),
            None,
            "an abnormal group says nothing of its other findings"
        );
        assert_eq!(implied_call(&r, "pelvis", &t, both), Some(Call::Normal), "from its normal group");
        assert_eq!(implied_call(&r, "long_bones", &t, both), None, "its group and the skeleton are not called normal");
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::Unobservable);
        let r = s.get("M1").cloned().unwrap_or_default();
        assert_eq!(implied_call(&r, "pelvis", &t, both), Some(Call::Unobservable));
    }

    #[test]
    fn a_normal_call_leaves_a_finding_read_on_a_missing_view_unobservable() {
        let t = Taxonomy::impc_skeletal();
        let lv_only = crate::specimen::ByView::new(false, true);
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::Normal);
        let r = s.get("M1").cloned().unwrap_or_default();
        assert_eq!(implied_call(&r, "scoliosis", &t, lv_only), Some(Call::Unobservable), "a DV finding");
        assert_eq!(implied_call(&r, "kyphosis", &t, lv_only), Some(Call::Normal), "an LV finding");
        assert_eq!(implied_call(&r, "skull_shape", &t, lv_only), Some(Call::Normal), "read on both");
        let dv_only = crate::specimen::ByView::new(true, false);
        assert_eq!(implied_call(&r, "teeth", &t, dv_only), Some(Call::Unobservable));
        // The reviewer's own call on the finding stands.
        apply(&mut s, &Decision::Call { node: "scoliosis".into(), call: Some(Call::Normal) });
        let r = s.get("M1").cloned().unwrap_or_default();
        assert_eq!(implied_call(&r, "scoliosis", &t, lv_only), Some(Call::Normal));
    }

    #[test]
    fn a_status_without_calls_speaks_as_its_call_and_no_film_leaves_everything_unobservable() {
        let t = Taxonomy::impc_skeletal();
        let (both, lv_only) = (crate::specimen::ByView::new(true, true), crate::specimen::ByView::new(false, true));
        let none = crate::specimen::ByView::new(false, false);
        let normal = SpecimenReview { status: Status::Normal, ..SpecimenReview::default() };
        assert_eq!(implied_call(&normal, "pelvis", &t, both), Some(Call::Normal));
        assert_eq!(implied_call(&normal, "scoliosis", &t, lv_only), Some(Call::Unobservable));
        let qc = SpecimenReview { status: Status::QcProblem(QcReason::BadPositioning), ..SpecimenReview::default() };
        assert_eq!(implied_call(&qc, "kyphosis", &t, both), Some(Call::Unobservable));
        let unreviewed = SpecimenReview::default();
        assert_eq!(implied_call(&unreviewed, "kyphosis", &t, lv_only), None, "nothing said, nothing implied");
        // A normal call on a specimen with no usable film: even a finding read on either view.
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::Normal);
        let r = s.get("M1").cloned().unwrap_or_default();
        assert_eq!(implied_call(&r, "skull_shape", &t, none), Some(Call::Unobservable));
    }

    #[test]
    fn an_abnormal_call_leaves_a_finding_read_on_a_missing_view_unobservable_and_others_open() {
        let t = Taxonomy::impc_skeletal();
        let lv_only = crate::specimen::ByView::new(false, true);
        let mut s = ReviewState::new();
        apply(&mut s, &Decision::Abnormal);
        let r = s.get("M1").cloned().unwrap_or_default();
        assert_eq!(implied_call(&r, "scoliosis", &t, lv_only), Some(Call::Unobservable), "read on DV");
        assert_eq!(implied_call(&r, "kyphosis", &t, lv_only), None, "the reviewer's to say");
        let both = crate::specimen::ByView::new(true, true);
        assert_eq!(implied_call(&r, "scoliosis", &t, both), None);
    }

    #[test]
    fn the_tree_puts_each_finding_under_its_own_group() {
        let t = Taxonomy::impc_skeletal();
        let ids: Vec<&str> = tree_order(&t).into_iter().filter_map(|i| t.nodes.get(i)).map(|n| n.id.as_str()).collect();
        assert_eq!(&ids[..4], ["abnormal", "craniofacial", "skull_shape", "teeth"]);
        assert_eq!(ids.get(4), Some(&"axial"));
        assert_eq!(ids.len(), t.nodes.len());
    }
}
