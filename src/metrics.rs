//! Evaluation metrics: ROC AUC per class and the per-level means the paper reports.

use serde::{Deserialize, Serialize};

use crate::taxonomy::{Level, NodeLabels, Taxonomy};

/// `part` of `whole` as a table cell (`12.3 %`), `-` when `whole` is 0.
pub fn percent(part: usize, whole: usize) -> String {
    if whole == 0 { "-".to_owned() } else { format!("{:.1} %", 100.0 * part as f64 / whole as f64) }
}

/// Area under the ROC curve of `scores` for binary `labels` (Mann-Whitney U, ties counted
/// half). `None` when either class is absent.
pub fn auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    let pos = pairs.iter().filter(|p| p.1).count();
    let neg = pairs.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of positive ranks, averaging ranks over ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * pairs[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// One cut of the ROC sweep: every specimen scoring at least `score` is called; `next` is the
/// next lower distinct score (`None` at the most lenient cut).
struct RocCut {
    fpr: f64,
    tpr: f64,
    score: f32,
    next: Option<f32>,
}

/// The ROC sweep from strict to lenient, one cut per distinct score. A class that is absent
/// counts as one specimen, so its rate stays 0.
fn roc_cuts(scores: &[f32], labels: &[bool]) -> Vec<RocCut> {
    let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let pos = pairs.iter().filter(|p| p.1).count().max(1) as f64;
    let neg = pairs.iter().filter(|p| !p.1).count().max(1) as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut cuts = Vec::new();
    for (k, &(score, y)) in pairs.iter().enumerate() {
        if y {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let next = pairs.get(k + 1).map(|n| n.0);
        if next != Some(score) {
            cuts.push(RocCut { fpr: fp / neg, tpr: tp / pos, score, next });
        }
    }
    cuts
}

/// One ROC curve: (false positive rate, true positive rate) points from strict to lenient,
/// starting at (0, 0).
pub fn roc_curve(scores: &[f32], labels: &[bool]) -> Vec<(f64, f64)> {
    std::iter::once((0.0, 0.0)).chain(roc_cuts(scores, labels).into_iter().map(|c| (c.fpr, c.tpr))).collect()
}

/// The threshold maximising Youden's J (TPR - FPR, Youden 1950) on `scores` for binary
/// `labels`: midway between the two scores that bound the best cut, or the lowest score when
/// every specimen is called. `None` when either class is absent. A specimen is called when its
/// score is at least the threshold.
pub fn youden_threshold(scores: &[f32], labels: &[bool]) -> Option<f32> {
    let n = scores.len().min(labels.len());
    let pos = labels[..n].iter().filter(|&&y| y).count();
    if pos == 0 || pos == n {
        return None;
    }
    let mut best: Option<(f64, f32)> = None;
    for c in roc_cuts(scores, labels) {
        let j = c.tpr - c.fpr;
        if best.is_none_or(|(b, _)| j > b) {
            best = Some((j, c.next.map_or(c.score, |n| (c.score + n) / 2.0)));
        }
    }
    best.map(|(_, t)| t)
}

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Levels trained.
    pub stage: String,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation AUCs (DV+LV as available).
    pub val: LevelAucs,
    /// Wall time of the epoch (s).
    pub seconds: f64,
    /// Training throughput (specimens per second, forward and backward).
    pub specimens_per_s: f64,
    /// Mean ranking loss of the counterfactual pairs trained on (none without pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair_loss: Option<f64>,
    /// Share of the validation pairs in which adding the finding raised its probability (none
    /// without validation pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_pairs_raised: Option<f64>,
    /// Mean absolute error of the auxiliary midline regression (units of the input's half
    /// side; none without `--spine-weight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spine_loss: Option<f64>,
    /// Mean distance (input pixels) between the predicted and true vertebral centres on
    /// validation (none without `--spine-weight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_spine_px: Option<f64>,
    /// Mean squared difference between the probabilities of the training inputs and of their
    /// nudged copies (none without `--stability-weight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability_loss: Option<f64>,
    /// Mean squared difference between the logits of the two members of the posture pairs
    /// trained on (none without `--posture-weight` and posture pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posture_loss: Option<f64>,
    /// Mean over the validation posture pairs of each pair's largest probability difference
    /// between its members (none without validation posture pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_posture_gap: Option<f64>,
}

/// AUCs of one model on one set, per taxonomy node and per level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelAucs {
    /// Per node id: AUC of its (conditional) probability among specimens whose parent is
    /// positive (all specimens for L1), or `None` without both classes.
    pub per_class: Vec<(String, Option<f64>)>,
    /// Mean over L1 nodes with an AUC.
    pub l1: Option<f64>,
    /// Mean over L2 nodes.
    pub l2: Option<f64>,
    /// Mean over L3 nodes.
    pub l3: Option<f64>,
}

/// The scores and labels node `i` is judged on: specimens whose parent is known positive (all
/// specimens for the root) and whose own label is known.
pub fn node_scores(taxonomy: &Taxonomy, i: usize, probs: &[Vec<f32>], labels: &[NodeLabels]) -> (Vec<f32>, Vec<bool>) {
    node_judged(taxonomy, i, probs, labels).into_iter().map(|(_, s, y)| (s, y)).unzip()
}

/// [`node_scores`] with each specimen's position in `probs` and `labels`.
pub fn node_judged(
    taxonomy: &Taxonomy,
    i: usize,
    probs: &[Vec<f32>],
    labels: &[NodeLabels],
) -> Vec<(usize, f32, bool)> {
    let parent = taxonomy.nodes.get(i).and_then(|n| n.parent.as_deref()).and_then(|p| taxonomy.index_of(p));
    let mut out = Vec::new();
    for (k, (p, l)) in probs.iter().zip(labels).enumerate() {
        let parent_ok = parent.is_none_or(|pi| l.get(pi).copied().flatten() == Some(true));
        if let (true, Some(Some(label)), Some(score)) = (parent_ok, l.get(i).copied(), p.get(i).copied()) {
            out.push((k, score, label));
        }
    }
    out
}

/// The macro-average of several ROC curves: true positive rate averaged over the curves at
/// `points` evenly spaced false positive rates (linear between a curve's corners).
pub fn mean_roc(curves: &[Vec<(f64, f64)>], points: usize) -> Vec<(f64, f64)> {
    if curves.is_empty() {
        return Vec::new();
    }
    let n = points.max(2);
    (0..n)
        .map(|k| {
            let x = k as f64 / (n - 1) as f64;
            let tpr = curves.iter().map(|c| interpolate(c, x)).sum::<f64>() / curves.len() as f64;
            (x, tpr)
        })
        .collect()
}

/// TPR of a ROC curve at false positive rate `x`; on a vertical run, the highest TPR.
fn interpolate(curve: &[(f64, f64)], x: f64) -> f64 {
    let mut best: f64 = 0.0;
    for w in curve.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x0 <= x && x <= x1 {
            let y = if x1 > x0 { y0 + (y1 - y0) * (x - x0) / (x1 - x0) } else { y1 };
            best = best.max(y);
        }
    }
    best
}

/// Computes [`LevelAucs`] from per-specimen conditional probabilities (taxonomy order) and
/// completed labels. Each node is judged where its training loss applies: among specimens whose
/// parent is known positive, and whose own label is known.
pub fn level_aucs(taxonomy: &Taxonomy, probs: &[Vec<f32>], labels: &[NodeLabels]) -> LevelAucs {
    let mut out = LevelAucs::default();
    let mut by_level: [Vec<f64>; 3] = Default::default();
    for (i, node) in taxonomy.nodes.iter().enumerate() {
        let (s, y) = node_scores(taxonomy, i, probs, labels);
        let a = auc(&s, &y);
        if let Some(v) = a {
            by_level[match node.level {
                Level::L1 => 0,
                Level::L2 => 1,
                Level::L3 => 2,
            }]
            .push(v);
        }
        out.per_class.push((node.id.clone(), a));
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    out.l1 = mean(&by_level[0]);
    out.l2 = mean(&by_level[1]);
    out.l3 = mean(&by_level[2]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_hand_counts() {
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
        assert_eq!(auc(&[0.2, 0.2], &[false, true]), Some(0.5));
        assert_eq!(auc(&[1.0, 2.0, 3.0], &[false, true, true]), Some(1.0));
        assert_eq!(auc(&[1.0, 2.0], &[true, true]), None);
        let roc = roc_curve(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert_eq!(roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(roc.last(), Some(&(1.0, 1.0)));
        // The mean of one curve is the curve; of a perfect and a chance curve, halfway.
        let perfect = vec![(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)];
        let chance = vec![(0.0, 0.0), (1.0, 1.0)];
        let m = mean_roc(&[perfect.clone(), chance], 5);
        assert_eq!(m.len(), 5);
        assert_eq!(m[0], (0.0, 0.5));
        assert_eq!(m[2], (0.5, 0.75));
        assert_eq!(mean_roc(&[perfect], 3), vec![(0.0, 1.0), (0.5, 1.0), (1.0, 1.0)]);
    }

    #[test]
    fn youden_threshold_cuts_where_tpr_minus_fpr_is_largest() {
        // Separable: the cut lies midway between the highest negative and the lowest positive.
        assert_eq!(youden_threshold(&[0.1, 0.2, 0.6, 0.8], &[false, false, true, true]), Some(0.4));
        // One positive below a negative: calling it too (J = 1 - 1/2) loses to leaving it out
        // (J = 2/3), so the cut stays above the negative at 0.5.
        assert_eq!(youden_threshold(&[0.1, 0.3, 0.5, 0.7, 0.9], &[false, true, false, true, true]), Some(0.6));
        // Tied scores are never split.
        // (The tied negative comes after the tied positive, so a cut between them would give J = 1.)
        let t = youden_threshold(&[0.2, 0.5, 0.5, 0.9], &[false, true, false, true]);
        assert!(t.is_some_and(|t| t > 0.5), "{t:?}");
        assert_eq!(youden_threshold(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn level_aucs_use_the_parent_positive_subset() {
        let t = Taxonomy::impc_skeletal();
        let n = t.nodes.len();
        // Two abnormal axial specimens (one scoliosis), one normal.
        let mut a = vec![Some(false); n];
        a[t.index_of("abnormal").unwrap_or(0)] = Some(true);
        a[t.index_of("axial").unwrap_or(0)] = Some(true);
        let mut b = a.clone();
        b[t.index_of("scoliosis").unwrap_or(0)] = Some(true);
        a[t.index_of("kyphosis").unwrap_or(0)] = Some(true);
        let c = vec![Some(false); n];
        let mut pa = vec![0.5f32; n];
        let mut pb = pa.clone();
        let pc = vec![0.1f32; n];
        pa[0] = 0.9;
        pb[0] = 0.8;
        pb[t.index_of("scoliosis").unwrap_or(0)] = 0.9;
        pa[t.index_of("scoliosis").unwrap_or(0)] = 0.2;
        let r = level_aucs(&t, &[pa, pb, pc], &[a, b, c]);
        assert_eq!(r.l1, Some(1.0));
        let sco = r.per_class.iter().find(|(id, _)| id == "scoliosis").and_then(|x| x.1);
        // Judged only among the two axial-positive specimens.
        assert_eq!(sco, Some(1.0));
    }
}
