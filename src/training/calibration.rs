//! Probability calibration: Platt scaling of each node's logit, fitted on validation, so that a
//! model whose outputs are compressed toward small values (as stability training leaves them)
//! says 0.7 where seven in ten such specimens have the finding.
//!
//! The map `logit' = a * logit + b` with `a > 0` keeps every ranking (AUC) and every call (the
//! thresholds move with it), and it folds into the head's weights and bias, so the class
//! activation maps stay exact ([`crate::onnx::head::fold_affine`]).

use serde::{Deserialize, Serialize};

use crate::inference::Classifier;
use crate::metrics::{node_judged, node_scores};
use crate::taxonomy::{NodeLabels, Taxonomy};

use super::data::{Dataset, run_indices};

/// One node's Platt map, `logit' = a * logit + b` (Platt 1999, with the target smoothing and
/// the Newton fit of Lin, Lin and Weng, Machine Learning 2007).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    /// Slope (> 0).
    pub a: f64,
    /// Offset (logits).
    pub b: f64,
}

impl Platt {
    /// The map that changes nothing.
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    /// The calibrated probability of a probability `p`.
    pub fn apply(&self, p: f32) -> f32 {
        sigmoid(self.a * logit(p) + self.b) as f32
    }
}

/// The smallest and largest probability whose logit is taken (a float32 sigmoid saturates
/// past about 17 logits).
const P_EDGE: f64 = 1e-7;

fn logit(p: f32) -> f64 {
    let p = f64::from(p).clamp(P_EDGE, 1.0 - P_EDGE);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Why a node keeps its outputs as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Fewer than the minimum validation positives or negatives.
    TooFew,
    /// The fit would reverse the node's ranking (`a <= 0`): the node is below chance there.
    Reversed,
    /// Fitted on each half of the specimens and tested on the other, the maps predicted no
    /// better than the outputs as they are (total cross-entropy): a slope fitted to noise.
    NoGain,
}

impl Kept {
    /// A few words for tables.
    pub fn label(self) -> &'static str {
        match self {
            Kept::TooFew => "too few",
            Kept::Reversed => "below chance",
            Kept::NoGain => "no gain out of sample",
        }
    }
}

/// Fits `a` and `b` to (probability, label) pairs ([`fit_map`]), keeping the map only when it
/// also helps out of sample: fitted on each half of the pairs (`half`, one flag per pair; a
/// half too small to fit counts as the outputs as they are) and tested on the other, the two
/// maps' total cross-entropy must be lower than that of the outputs as they are. Halves must
/// keep a counterfactual pair's two members together, or the test half holds near-copies of
/// the fitting half.
///
/// # Errors
/// Why the node is better left as it is ([`Kept`]).
pub fn fit(pairs: &[(f32, bool)], half: &[bool], min_side: usize) -> Result<Platt, Kept> {
    let map = fit_map(pairs, min_side)?;
    let halves: [Vec<(f32, bool)>; 2] =
        [false, true].map(|h| pairs.iter().zip(half).filter(|(_, in_half)| **in_half == h).map(|(p, _)| *p).collect());
    let (mut mapped, mut raw) = (0.0, 0.0);
    for (fit_on, test_on) in [(&halves[0], &halves[1]), (&halves[1], &halves[0])] {
        let half = fit_map(fit_on, min_side / 2).unwrap_or(Platt::IDENTITY);
        mapped += cross_entropy(test_on, half) * test_on.len() as f64;
        raw += cross_entropy(test_on, Platt::IDENTITY) * test_on.len() as f64;
    }
    if mapped < raw { Ok(map) } else { Err(Kept::NoGain) }
}

/// Which half of the out-of-sample check a specimen falls in, by its split key (its pair's id
/// for a member of a counterfactual pair, [`super::pairs::split_keys`]).
pub fn half_of(key: &str) -> bool {
    let mut h = crate::fingerprint::Fnv::default();
    h.write(b"calibration-half:");
    h.write(key.as_bytes());
    h.0 & 1 == 1
}

/// The mean cross-entropy of `map`'s probabilities against the labels.
fn cross_entropy(pairs: &[(f32, bool)], map: Platt) -> f64 {
    let n = pairs.len().max(1) as f64;
    pairs
        .iter()
        .map(|&(p, y)| {
            let q = sigmoid(map.a * logit(p) + map.b).clamp(P_EDGE, 1.0 - P_EDGE);
            if y { -q.ln() } else { -(1.0 - q).ln() }
        })
        .sum::<f64>()
        / n
}

/// Fits `a` and `b` to (probability, label) pairs by Newton's method with a backtracking line
/// search on the cross-entropy against Platt's smoothed targets.
///
/// Written here because it is two parameters and twenty lines; a crate for it would bring a
/// linear-algebra and optimisation stack.
///
/// # Errors
/// Either side has fewer than `min_side` specimens, or the fit would reverse the ranking.
pub fn fit_map(pairs: &[(f32, bool)], min_side: usize) -> Result<Platt, Kept> {
    let pos = pairs.iter().filter(|p| p.1).count();
    let neg = pairs.len() - pos;
    if pos < min_side.max(1) || neg < min_side.max(1) {
        return Err(Kept::TooFew);
    }
    let hi = (pos as f64 + 1.0) / (pos as f64 + 2.0);
    let lo = 1.0 / (neg as f64 + 2.0);
    let data: Vec<(f64, f64)> = pairs.iter().map(|&(p, y)| (logit(p), if y { hi } else { lo })).collect();
    let loss = |a: f64, b: f64| -> f64 {
        data.iter()
            .map(|&(z, t)| {
                let f = a * z + b;
                // t * -ln σ(f) + (1 - t) * -ln(1 - σ(f)), written so that no exp overflows.
                if f >= 0.0 { (1.0 + (-f).exp()).ln() + (1.0 - t) * f } else { (1.0 + f.exp()).ln() - t * f }
            })
            .sum()
    };
    let (mut a, mut b) = (1.0, 0.0);
    let mut current = loss(a, b);
    for _ in 0..100 {
        let (mut g1, mut g2, mut h11, mut h12, mut h22) = (0.0, 0.0, 1e-12, 0.0, 1e-12);
        for &(z, t) in &data {
            let p = sigmoid(a * z + b);
            let d = p - t;
            let w = p * (1.0 - p);
            g1 += d * z;
            g2 += d;
            h11 += w * z * z;
            h12 += w * z;
            h22 += w;
        }
        let det = h11 * h22 - h12 * h12;
        if det.abs() < 1e-300 {
            break;
        }
        let (da, db) = ((h22 * g1 - h12 * g2) / det, (h11 * g2 - h12 * g1) / det);
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-10 {
            let (na, nb) = (a - step * da, b - step * db);
            let next = loss(na, nb);
            if next <= current {
                (a, b, current) = (na, nb, next);
                improved = true;
                break;
            }
            step /= 2.0;
        }
        if !improved || (step * da).abs().max((step * db).abs()) < 1e-9 {
            break;
        }
    }
    if a > 0.0 && a.is_finite() && b.is_finite() { Ok(Platt { a, b }) } else { Err(Kept::Reversed) }
}

/// Each node's (conditional probability, label) pairs, where the node is judged
/// ([`crate::metrics::node_scores`]: L2 and L3 among parent-positive specimens).
pub fn node_pairs(taxonomy: &Taxonomy, probs: &[Vec<f32>], labels: &[NodeLabels], node: usize) -> Vec<(f32, bool)> {
    let (s, y) = node_scores(taxonomy, node, probs, labels);
    s.into_iter().zip(y).collect()
}

/// One Platt map per node (taxonomy order), fitted on `probs` against `labels` ([`fit`], `half`
/// one flag per specimen, [`half_of`]), or why the node keeps its outputs.
pub fn fit_nodes(
    taxonomy: &Taxonomy,
    probs: &[Vec<f32>],
    labels: &[NodeLabels],
    half: &[bool],
    min_side: usize,
) -> Vec<Result<Platt, Kept>> {
    (0..taxonomy.nodes.len())
        .map(|i| {
            let judged = node_judged(taxonomy, i, probs, labels);
            let pairs: Vec<(f32, bool)> = judged.iter().map(|&(_, p, y)| (p, y)).collect();
            let halves: Vec<bool> = judged.iter().map(|&(k, _, _)| half.get(k).copied().unwrap_or(false)).collect();
            fit(&pairs, &halves, min_side)
        })
        .collect()
}

/// `model`'s conditional probabilities (taxonomy order) for the specimens at `indices`
/// ([`run_indices`]).
///
/// # Errors
/// As [`run_indices`].
pub fn probabilities(
    model: &mut Classifier,
    dataset: &Dataset,
    indices: &[usize],
    batch: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(indices.len());
    run_indices(model, dataset, indices, batch, |o| out.extend(o.probs))?;
    Ok(out)
}

/// Expected calibration error: the mean over ten equal-width probability bins of
/// |mean predicted - share positive|, weighted by the bin's share of the pairs (Guo et al.,
/// ICML 2017). `None` for no pairs.
pub fn expected_calibration_error(pairs: &[(f32, bool)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let mut bins = [(0.0f64, 0.0f64, 0usize); 10];
    for &(p, y) in pairs {
        let k = ((f64::from(p) * 10.0) as usize).min(9);
        bins[k].0 += f64::from(p);
        bins[k].1 += if y { 1.0 } else { 0.0 };
        bins[k].2 += 1;
    }
    let n = pairs.len() as f64;
    Some(bins.iter().filter(|b| b.2 > 0).map(|&(sp, sy, c)| (sp - sy).abs() / c as f64 * (c as f64 / n)).sum())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;

    /// Labels drawn from a known Platt map of a score: the fit recovers it.
    #[test]
    fn the_fit_recovers_a_known_map() {
        let truth = Platt { a: 2.5, b: 1.5 };
        let mut state = 12345u64;
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let pairs: Vec<(f32, bool)> = (0..20_000)
            .map(|_| {
                let p = (0.02 + 0.2 * uniform()) as f32; // compressed toward small values
                let y = uniform() < f64::from(truth.apply(p));
                (p, y)
            })
            .collect();
        let half: Vec<bool> = (0..pairs.len()).map(|i| i % 2 == 1).collect();
        let got = fit(&pairs, &half, 10).expect("both sides are large, and the map helps out of sample");
        assert!((got.a - truth.a).abs() < 0.25, "{got:?}");
        assert!((got.b - truth.b).abs() < 0.5, "{got:?}");
        let before = expected_calibration_error(&pairs).unwrap_or(1.0);
        let after: Vec<(f32, bool)> = pairs.iter().map(|&(p, y)| (got.apply(p), y)).collect();
        let after = expected_calibration_error(&after).unwrap_or(1.0);
        assert!(after < 0.02 && after < before / 5.0, "ECE {before} -> {after}");
    }

    #[test]
    fn too_few_a_reversed_ranking_or_a_slope_fitted_to_noise_gives_no_map() {
        let alternate: Vec<bool> = (0..400).map(|i| i % 2 == 1).collect();
        let few: Vec<(f32, bool)> = (0..100).map(|i| (i as f32 / 100.0, i < 5)).collect();
        assert_eq!(fit(&few, &alternate, 10), Err(Kept::TooFew));
        let reversed: Vec<(f32, bool)> = (0..100).map(|i| (i as f32 / 100.0, i < 50)).collect();
        assert_eq!(fit(&reversed, &alternate, 10), Err(Kept::Reversed));
        // One half of the pairs says high means positive, the other mostly the reverse: the
        // whole fits a positive slope, and a slope fitted on either half fails on the other.
        let mixed: Vec<(f32, bool)> = (0..400usize)
            .map(|i| {
                let p = 0.2 + 0.2 * ((i * 37) % 400) as f32 / 400.0;
                let high = p > 0.3;
                (p, if i % 2 == 0 || i % 6 == 1 { high } else { !high })
            })
            .collect();
        assert!(fit_map(&mixed, 10).is_ok_and(|m| m.a > 0.0));
        assert_eq!(fit(&mixed, &alternate, 10), Err(Kept::NoGain));
    }

    #[test]
    fn the_map_keeps_the_order_and_the_identity_changes_nothing() {
        let m = Platt { a: 0.7, b: -2.0 };
        let ps = [0.001f32, 0.01, 0.2, 0.5, 0.9, 0.999];
        let mapped: Vec<f32> = ps.iter().map(|&p| m.apply(p)).collect();
        assert!(mapped.windows(2).all(|w| w[0] < w[1]), "{mapped:?}");
        for p in ps {
            assert!((Platt::IDENTITY.apply(p) - p).abs() < 1e-6);
        }
    }

    #[test]
    fn calibration_error_weighs_each_bins_gap() {
        let pairs: Vec<(f32, bool)> = (0..10).map(|i| (0.25, i < 2)).chain((0..10).map(|i| (0.85, i < 8))).collect();
        let e = expected_calibration_error(&pairs).unwrap_or(1.0);
        assert!((e - 0.05).abs() < 1e-6, "{e}");
        assert_eq!(expected_calibration_error(&[]), None);
    }
}
