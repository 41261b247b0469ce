//! Blinded double reading: a second reader scores the folder in a review of their own, kept
//! apart from the first (`.mousexray/second-reading/`), so the first reader's calls cannot
//! sway theirs; once the second reader has decided a specimen, the two are compared.

use serde::{Deserialize, Serialize};

use super::model::{Call, SpecimenReview, Status};

/// Which reading of a folder a review holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// The folder's review: the one exports, labels and `improve` read by default.
    #[default]
    First,
    /// A blinded second reading, stored apart.
    Second,
}

impl Reading {
    /// The folder inside the review folder that holds this reading (none: the review folder).
    pub fn subdir(self) -> Option<&'static str> {
        match self {
            Reading::First => None,
            Reading::Second => Some("second-reading"),
        }
    }

    /// How the window and the CLI name it.
    pub fn label(self) -> &'static str {
        match self {
            Reading::First => "first reading",
            Reading::Second => "second reading",
        }
    }
}

/// How a second reading of a specimen compares with the first.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// The first reader's status and the second's.
    pub status: (Status, Status),
    /// Nodes called differently: node id, the first reader's call, the second's.
    pub calls: Vec<(String, Option<Call>, Option<Call>)>,
}

impl Agreement {
    /// Whether the two readings agree on the status and on every call.
    pub fn agrees(&self) -> bool {
        self.status.0 == self.status.1 && self.calls.is_empty()
    }
}

/// Compares the first reading of a specimen (none: never reviewed) with the second.
pub fn compare(first: Option<&SpecimenReview>, second: &SpecimenReview) -> Agreement {
    let empty = SpecimenReview::default();
    let first = first.unwrap_or(&empty);
    let nodes: std::collections::BTreeSet<&String> = first.calls.keys().chain(second.calls.keys()).collect();
    let calls = nodes
        .into_iter()
        .filter_map(|node| {
            let (a, b) = (first.calls.get(node).copied(), second.calls.get(node).copied());
            (a != b).then(|| (node.clone(), a, b))
        })
        .collect();
    Agreement { status: (first.status, second.status), calls }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(status: Status, calls: &[(&str, Call)]) -> SpecimenReview {
        SpecimenReview {
            status,
            calls: calls.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect(),
            ..SpecimenReview::default()
        }
    }

    #[test]
    fn readings_agree_only_on_the_same_status_and_calls() {
        let a = review(Status::ConfirmedAbnormal, &[("abnormal", Call::Abnormal), ("teeth", Call::Abnormal)]);
        assert!(compare(Some(&a), &a.clone()).agrees());
        let b = review(Status::ConfirmedAbnormal, &[("abnormal", Call::Abnormal), ("kyphosis", Call::Abnormal)]);
        let d = compare(Some(&a), &b);
        assert!(!d.agrees());
        assert_eq!(
            d.calls,
            vec![("kyphosis".to_owned(), None, Some(Call::Abnormal)), ("teeth".to_owned(), Some(Call::Abnormal), None)]
        );
        let n = review(Status::Normal, &[("abnormal", Call::Normal)]);
        let d = compare(None, &n);
        assert_eq!(d.status, (Status::Unreviewed, Status::Normal));
        assert_eq!(d.calls, vec![("abnormal".to_owned(), None, Some(Call::Normal))]);
    }
}
