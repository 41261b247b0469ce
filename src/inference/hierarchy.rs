//! From a model's conditional probabilities to what a phenotyper reads: joint probabilities,
//! flags and the top finding.
//!
//! The model's L2 and L3 outputs are conditional on their parent being positive (that is how
//! they were trained), so P(node) is the product along the path from the root. A node is flagged
//! when its conditional probability reaches its threshold and its parent is flagged; thresholds
//! were chosen on validation among parent-positive specimens, which is the same condition.

use serde::{Deserialize, Serialize};

use crate::taxonomy::{Level, Taxonomy};

/// One specimen's result in taxonomy order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// P(node | parent positive), as the model outputs it.
    pub conditional: Vec<f32>,
    /// P(node): the product of conditionals from the root down.
    pub joint: Vec<f32>,
    /// Whether each node is flagged.
    pub flags: Vec<bool>,
    /// The threshold each node's flag was judged against (taxonomy order).
    #[serde(default)]
    pub thresholds: Vec<f32>,
}

impl Scores {
    /// Computes joint probabilities and flags. `thresholds` holds one value per node (missing
    /// ones count as 0.5).
    pub fn new(taxonomy: &Taxonomy, conditional: Vec<f32>, thresholds: &[f32]) -> Scores {
        let n = taxonomy.nodes.len();
        let mut joint = vec![0.0f32; n];
        let mut flags = vec![false; n];
        let mut used = vec![0.5f32; n];
        // Nodes are stored parents first, so one pass sees every parent before its children.
        for (i, node) in taxonomy.nodes.iter().enumerate() {
            let p = conditional.get(i).copied().unwrap_or(0.0);
            let t = thresholds.get(i).copied().unwrap_or(0.5);
            used[i] = t;
            let parent = node.parent.as_deref().and_then(|id| taxonomy.index_of(id));
            let (pj, pf) = parent.map_or((1.0, true), |pi| (joint[pi], flags[pi]));
            joint[i] = pj * p;
            flags[i] = pf && p >= t;
        }
        Scores { conditional, joint, flags, thresholds: used }
    }

    /// The flagged node to show first: the flagged L3 finding with the highest joint
    /// probability, else the most likely flagged L2 group, else the abnormal flag itself.
    pub fn top_finding<'a>(&self, taxonomy: &'a Taxonomy) -> Option<(&'a str, f32)> {
        for level in [Level::L3, Level::L2, Level::L1] {
            let best = taxonomy
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| n.level == level && self.flags.get(*i).copied().unwrap_or(false))
                .map(|(i, n)| (n.id.as_str(), self.joint.get(i).copied().unwrap_or(0.0)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// The flagged nodes none of whose children is flagged (the findings that explain the flag),
    /// as taxonomy indices, most likely (joint probability) first.
    pub fn flagged_leaves(&self, taxonomy: &Taxonomy) -> Vec<usize> {
        let flagged = |i: usize| self.flags.get(i).copied().unwrap_or(false);
        let mut out: Vec<usize> = (0..taxonomy.nodes.len())
            .filter(|&i| flagged(i))
            .filter(|&i| {
                let id = taxonomy.nodes.get(i).map(|n| n.id.as_str()).unwrap_or_default();
                !taxonomy.children(id).any(|c| taxonomy.index_of(&c.id).is_some_and(flagged))
            })
            .collect();
        let joint = |i: usize| self.joint.get(i).copied().unwrap_or(0.0);
        out.sort_by(|&a, &b| joint(b).total_cmp(&joint(a)));
        out
    }

    /// Whether the specimen is flagged abnormal (the root's flag).
    pub fn abnormal(&self) -> bool {
        self.flags.first().copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn joint_is_the_product_along_the_path_and_flags_need_the_parent() {
        let t = Taxonomy::impc_skeletal();
        let n = t.nodes.len();
        let ix = |id: &str| t.index_of(id).unwrap();
        let mut c = vec![0.1f32; n];
        c[ix("abnormal")] = 0.8;
        c[ix("axial")] = 0.5;
        c[ix("scoliosis")] = 0.9;
        c[ix("craniofacial")] = 0.2;
        c[ix("teeth")] = 0.95;
        let s = Scores::new(&t, c, &vec![0.5; n]);
        assert!((s.joint[ix("scoliosis")] - 0.8 * 0.5 * 0.9).abs() < 1e-6);
        assert!((s.joint[ix("teeth")] - 0.8 * 0.2 * 0.95).abs() < 1e-6);
        assert!(s.abnormal() && s.flags[ix("axial")] && s.flags[ix("scoliosis")]);
        // Teeth is confident, but its group is not flagged.
        assert!(!s.flags[ix("craniofacial")] && !s.flags[ix("teeth")]);
        assert_eq!(s.top_finding(&t), Some(("scoliosis", s.joint[ix("scoliosis")])));

        // Nothing flagged without the root; per-class thresholds apply.
        let mut c2 = vec![0.9f32; n];
        c2[0] = 0.3;
        assert_eq!(Scores::new(&t, c2.clone(), &vec![0.5; n]).top_finding(&t), None);
        let mut th = vec![0.5; n];
        th[0] = 0.25;
        th[ix("scoliosis")] = 0.95;
        let s = Scores::new(&t, c2, &th);
        assert!(s.abnormal() && !s.flags[ix("scoliosis")] && s.flags[ix("kyphosis")]);
    }
}
