//! The hierarchy-masked binary cross-entropy.

use burn::tensor::Tensor;

use crate::taxonomy::{Level, NodeLabels, Taxonomy};

/// Which levels a training stage optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Only L1.
    L1,
    /// L1 and L2.
    L2,
    /// All levels.
    All,
}

impl Stage {
    /// Whether this stage trains nodes of `level`.
    pub fn trains(self, level: Level) -> bool {
        matches!((self, level), (Stage::L1, Level::L1) | (Stage::L2, Level::L1 | Level::L2) | (Stage::All, _))
    }
}

/// Per-node target and mask for one specimen, in taxonomy order: a node counts only when its
/// label is known and its parent is known positive (L1 always when known), so L2 and L3 outputs
/// learn conditional probabilities. `stage` drops the deeper levels.
pub fn targets_and_mask(taxonomy: &Taxonomy, labels: &NodeLabels, stage: Stage) -> (Vec<f32>, Vec<f32>) {
    let n = taxonomy.nodes.len();
    let (mut target, mut mask) = (vec![0.0f32; n], vec![0.0f32; n]);
    for (i, node) in taxonomy.nodes.iter().enumerate() {
        let Some(Some(value)) = labels.get(i).copied() else { continue };
        let parent_positive = match node.parent.as_deref().and_then(|p| taxonomy.index_of(p)) {
            None => true,
            Some(p) => labels.get(p).copied().flatten() == Some(true),
        };
        if parent_positive && stage.trains(node.level) {
            target[i] = if value { 1.0 } else { 0.0 };
            mask[i] = 1.0;
        }
    }
    (target, mask)
}

/// Mean masked, weighted binary cross-entropy on logits (numerically stable form
/// `max(x, 0) - x*y + ln(1 + e^-|x|)`). `weights` `[1, classes]` scales positives per class.
pub fn masked_bce(logits: Tensor<2>, targets: Tensor<2>, mask: Tensor<2>, pos_weights: Tensor<2>) -> Tensor<1> {
    let x = logits;
    let bce = x.clone().clamp_min(0.0) - x.clone() * targets.clone() + (x.abs().neg().exp() + 1.0).log();
    // Positives weighted by pos_weight, negatives by 1.
    let w = targets.clone() * (pos_weights - 1.0) + 1.0;
    let total = (bce * w * mask.clone()).sum();
    total / mask.sum().clamp_min(1.0)
}
