//! The abnormality hierarchy: L1 (abnormal), L2 (anatomical groups), L3 (specific findings).
//!
//! The taxonomy is data. [`Taxonomy::impc_skeletal`] is the one built-in definition; a trained
//! model carries its own copy (as JSON) and the app uses the model's. The label rule is fixed:
//! a node is positive iff one of its children is, negative iff all its children are negative,
//! and unknown otherwise; a negative parent makes every child negative.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Depth of a node in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Normal vs abnormal.
    L1,
    /// Anatomical group.
    L2,
    /// Specific abnormality.
    L3,
}

impl Level {
    /// The level one above this one, if any.
    pub fn parent(self) -> Option<Level> {
        match self {
            Level::L1 => None,
            Level::L2 => Some(Level::L1),
            Level::L3 => Some(Level::L2),
        }
    }
}

/// The X-ray view(s) in which a finding is mainly visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Dorsoventral view.
    Dv,
    /// Lateral view.
    Lv,
    /// Both views.
    Both,
}

impl Visibility {
    /// The one view this finding is read on when `present` lacks it (`present`: which views a
    /// specimen has, or which were scored); none when it is read on both or its view is there.
    /// Scoliosis on an LV-only specimen gives DV: it cannot be judged there.
    pub fn missing_from(self, present: crate::specimen::ByView<bool>) -> Option<crate::specimen::View> {
        match self {
            Visibility::Dv if !present.dv => Some(crate::specimen::View::Dv),
            Visibility::Lv if !present.lv => Some(crate::specimen::View::Lv),
            _ => None,
        }
    }

    /// Whether a finding of this visibility can be read at all with the views in `present`:
    /// a finding read on both views needs either.
    pub fn observable_in(self, present: crate::specimen::ByView<bool>) -> bool {
        match self {
            Visibility::Dv => present.dv,
            Visibility::Lv => present.lv,
            Visibility::Both => present.dv || present.lv,
        }
    }
}

/// One node of the hierarchy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Stable machine identifier (`abnormal`, `axial`, `scoliosis`, ...). Used as CSV column name.
    pub id: String,
    /// Level in the hierarchy.
    pub level: Level,
    /// Parent node id; `None` only for the L1 root.
    pub parent: Option<String>,
    /// Human-readable name.
    pub label: String,
    /// IMPC parameter stable ids scored under this node (empty for L1/L2).
    #[serde(default)]
    pub impc_parameters: Vec<String>,
    /// Where the finding is mainly visible.
    pub visible_in: Visibility,
}

/// The hierarchy, in a fixed order: the L1 node, then the L2 nodes, then the L3 nodes.
///
/// That order is the index order of every per-node vector in the crate (labels, probabilities).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Taxonomy {
    /// Name of this taxonomy, for provenance.
    pub name: String,
    /// All nodes, L1 first, then L2, then L3.
    pub nodes: Vec<Node>,
}

/// Why a taxonomy definition is invalid.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TaxonomyError {
    /// The JSON could not be parsed.
    #[error("taxonomy JSON is invalid: {0}")]
    Json(String),
    /// The structure breaks a rule.
    #[error("taxonomy is invalid: {0}")]
    Invalid(String),
}

/// Per-node labels: `Some(true)` abnormal, `Some(false)` normal, `None` unknown; indexed like
/// [`Taxonomy::nodes`].
pub type NodeLabels = Vec<Option<bool>>;

fn node(id: &str, level: Level, parent: Option<&str>, label: &str, params: &[&str], visible_in: Visibility) -> Node {
    Node {
        id: id.to_owned(),
        level,
        parent: parent.map(str::to_owned),
        label: label.to_owned(),
        impc_parameters: params.iter().map(|p| format!("IMPC_XRY_{p}_001")).collect(),
        visible_in,
    }
}

impl Node {
    /// The label without its parenthesised detail ("Long bones" for "Long bones (humerus, ...)"),
    /// for narrow places: worklist cells, one-line explanations.
    pub fn short_label(&self) -> &str {
        self.label.split(" (").next().unwrap_or(&self.label)
    }
}

impl Taxonomy {
    /// The built-in IMPC skeletal taxonomy (1 + 3 + 10 nodes).
    pub fn impc_skeletal() -> Self {
        use Level::*;
        use Visibility::*;
        let nodes = vec![
            node("abnormal", L1, None, "Abnormal skeleton", &[], Both),
            node("craniofacial", L2, Some("abnormal"), "Craniofacial", &[], Both),
            node("axial", L2, Some("abnormal"), "Axial skeleton", &[], Both),
            node("appendicular", L2, Some("abnormal"), "Appendicular skeleton", &[], Both),
            node("skull_shape", L3, Some("craniofacial"), "Skull shape", &["001"], Both),
            node("teeth", L3, Some("craniofacial"), "Mandibles and teeth", &["004", "005"], Lv),
            node("scoliosis", L3, Some("axial"), "Scoliosis", &["056"], Dv),
            node("kyphosis", L3, Some("axial"), "Kyphosis", &["057"], Lv),
            node("lordosis", L3, Some("axial"), "Lordosis", &["058"], Lv),
            node("vertebral_fusion", L3, Some("axial"), "Fusion of vertebrae", &["019"], Both),
            node("rib_fusion", L3, Some("axial"), "Fusion of ribs", &["011"], Dv),
            node("pelvis", L3, Some("axial"), "Pelvis", &["012"], Dv),
            node(
                "long_bones",
                L3,
                Some("appendicular"),
                "Long bones (humerus, radius, ulna, femur, tibia, fibula)",
                &["021", "022", "023", "024", "025", "026"],
                Both,
            ),
            node("polysyndactyly", L3, Some("appendicular"), "Polysyndactyly and digit number", &["062", "028"], Dv),
        ];
        Taxonomy { name: "impc-skeletal-v1".to_owned(), nodes }
    }

    /// Parses and validates a taxonomy from JSON.
    pub fn from_json(json: &str) -> Result<Self, TaxonomyError> {
        let t: Taxonomy = serde_json::from_str(json).map_err(|e| TaxonomyError::Json(e.to_string()))?;
        t.validate()?;
        Ok(t)
    }

    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and enums cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the structural rules: exactly one L1 node and it comes first, nodes ordered by
    /// level, unique non-empty ids, every parent exists one level up, every L1/L2 node has a child.
    pub fn validate(&self) -> Result<(), TaxonomyError> {
        let bad = |m: String| Err(TaxonomyError::Invalid(m));
        let Some(first) = self.nodes.first() else {
            return bad("no nodes".into());
        };
        if first.level != Level::L1 || first.parent.is_some() {
            return bad(format!("the first node `{}` must be the L1 root without a parent", first.id));
        }
        let mut seen: HashMap<&str, Level> = HashMap::new();
        let mut previous = Level::L1;
        for n in &self.nodes {
            if n.id.trim().is_empty() || n.id.contains(',') {
                return bad(format!("node id `{}` must be non-empty and contain no comma", n.id));
            }
            if n.level < previous {
                return bad(format!("node `{}` is out of level order (L1, then L2, then L3)", n.id));
            }
            previous = n.level;
            if n.level == Level::L1 && !std::ptr::eq(n, first) {
                return bad(format!("second L1 node `{}`", n.id));
            }
            if let Some(parent_level) = n.level.parent() {
                let Some(p) = n.parent.as_deref() else {
                    return bad(format!("node `{}` has no parent", n.id));
                };
                match seen.get(p) {
                    Some(l) if *l == parent_level => {}
                    Some(_) => return bad(format!("parent `{p}` of `{}` is not at level {parent_level:?}", n.id)),
                    None => return bad(format!("parent `{p}` of `{}` is not defined before it", n.id)),
                }
            }
            if seen.insert(&n.id, n.level).is_some() {
                return bad(format!("duplicate node id `{}`", n.id));
            }
        }
        for n in &self.nodes {
            if n.level != Level::L3 && self.children(&n.id).next().is_none() {
                return bad(format!("node `{}` has no children", n.id));
            }
        }
        Ok(())
    }

    /// Index of a node by id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// The node with this id.
    pub fn get(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Nodes of one level, in order.
    pub fn level(&self, level: Level) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.level == level)
    }

    /// Direct children of a node, in order.
    pub fn children<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Node> {
        self.nodes.iter().filter(move |n| n.parent.as_deref() == Some(id))
    }

    /// Completes per-node labels by the hierarchy rule.
    ///
    /// Upward: a parent is positive iff a child is, negative iff all children are negative.
    /// Explicit parent values that contradict their children are returned as conflicts (node id,
    /// explicit value, derived value) and the derived value wins; an explicit value whose
    /// children are unknown is kept. Downward: a negative parent makes unknown children
    /// negative, so `abnormal = 0` alone means "all normal".
    pub fn complete(&self, labels: &mut NodeLabels) -> Vec<(String, bool, Option<bool>)> {
        labels.resize(self.nodes.len(), None);
        let parent_index: Vec<Option<usize>> =
            self.nodes.iter().map(|n| n.parent.as_deref().and_then(|p| self.index_of(p))).collect();
        let mut conflicts = Vec::new();
        for level in [Level::L2, Level::L1] {
            for (i, n) in self.nodes.iter().enumerate().filter(|(_, n)| n.level == level) {
                let kids: Vec<Option<bool>> =
                    (0..self.nodes.len()).filter(|&j| parent_index[j] == Some(i)).map(|j| labels[j]).collect();
                let derived = if kids.contains(&Some(true)) {
                    Some(true)
                } else if kids.iter().all(|k| *k == Some(false)) {
                    Some(false)
                } else {
                    None
                };
                match (labels[i], derived) {
                    (Some(explicit), Some(d)) if explicit != d => {
                        conflicts.push((n.id.clone(), explicit, derived));
                        labels[i] = derived;
                    }
                    (Some(_), None) => {}
                    (_, d) => labels[i] = d,
                }
            }
        }
        for i in 0..self.nodes.len() {
            if let Some(p) = parent_index[i]
                && labels[p] == Some(false)
                && labels[i].is_none()
            {
                labels[i] = Some(false);
            }
        }
        conflicts
    }
}

impl Default for Taxonomy {
    fn default() -> Self {
        Self::impc_skeletal()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn builtin_is_valid_and_has_1_3_10() {
        let t = Taxonomy::impc_skeletal();
        t.validate().unwrap();
        assert_eq!(t.level(Level::L1).count(), 1);
        assert_eq!(t.level(Level::L2).count(), 3);
        assert_eq!(t.level(Level::L3).count(), 10);
        assert_eq!(t.children("axial").count(), 6);
        assert_eq!(t.get("teeth").unwrap().impc_parameters, vec!["IMPC_XRY_004_001", "IMPC_XRY_005_001"]);
    }

    #[test]
    fn json_round_trip() {
        let t = Taxonomy::impc_skeletal();
        assert_eq!(Taxonomy::from_json(&t.to_json()).unwrap(), t);
    }

    #[test]
    fn invalid_structures_are_rejected() {
        let mut t = Taxonomy::impc_skeletal();
        t.nodes[5].parent = Some("nope".into());
        assert!(t.validate().is_err());
        let mut t = Taxonomy::impc_skeletal();
        t.nodes.swap(1, 5);
        assert!(t.validate().is_err());
        let mut t = Taxonomy::impc_skeletal();
        t.nodes[6].id = "teeth".into();
        assert!(t.validate().unwrap_err().to_string().contains("duplicate"));
        let mut t = Taxonomy::impc_skeletal();
        t.nodes.retain(|n| n.parent.as_deref() != Some("appendicular"));
        assert!(t.validate().unwrap_err().to_string().contains("no children"));
        assert!(Taxonomy::from_json("{").is_err());
    }

    #[test]
    fn completion_follows_the_rule() {
        let t = Taxonomy::impc_skeletal();
        let idx = |id| t.index_of(id).unwrap();
        // One positive L3 makes its L2 and L1 positive.
        let mut l = vec![None; t.nodes.len()];
        l[idx("kyphosis")] = Some(true);
        assert!(t.complete(&mut l).is_empty());
        assert_eq!(l[idx("axial")], Some(true));
        assert_eq!(l[idx("abnormal")], Some(true));
        assert_eq!(l[idx("craniofacial")], None);
        // L1 negative alone: everything negative.
        let mut l = vec![None; t.nodes.len()];
        l[0] = Some(false);
        assert!(t.complete(&mut l).is_empty());
        assert!(l.iter().all(|v| *v == Some(false)));
        // A contradiction is reported and the derived value wins.
        let mut l = vec![Some(false); t.nodes.len()];
        l[idx("scoliosis")] = Some(true);
        let c = t.complete(&mut l);
        assert_eq!(c.len(), 2, "{c:?}"); // axial and abnormal
        assert_eq!(l[idx("axial")], Some(true));
    }
}
