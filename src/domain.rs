//! Whether a film looks like the films a model was trained on.
//!
//! Every view's pooled, normalised features (the model's `features_dv` / `features_lv` outputs,
//! `[N, C]`: one or more blocks, each a feature map averaged over its cells, earliest layer
//! first) are compared with the training films' features by their Mahalanobis distance, block by
//! block (Lee et al., "A simple unified framework for detecting out-of-distribution samples and
//! adversarial attacks", NeurIPS 2018, with its feature ensemble over layers), with each
//! covariance shrunk towards a scaled identity by the Ledoit-Wolf estimate (Ledoit & Wolf,
//! J. Multivariate Anal. 88:365, 2004) so that it stays invertible and well conditioned with a
//! few thousand films in a few hundred dimensions.
//!
//! The distances are calibrated on the validation split: a block's score is its distance divided
//! by its `scale` (its validation median times one factor per model), a view's **domain score**
//! the largest of its blocks', and the factor is chosen so that 1 % of validation specimens (the
//! [`DomainDescription::percentile`]) score above 1 in their worse view. A score above 1 means
//! "unlike the training data": the model's scores for that film mean little.

use serde::{Deserialize, Serialize};

use crate::specimen::{ByView, View};

/// The description's method, as stored in a model.
pub const METHOD: &str = "mahalanobis-ledoit-wolf";

/// Fewest training specimens per view a description is fitted on.
pub const MIN_TRAIN: usize = 100;
/// Fewest validation specimens its scale is chosen on (a 99th percentile of fewer is a guess).
pub const MIN_VALIDATION: usize = 50;

/// What a model's training inputs look like in its own feature space (the model contract's
/// `mousexray.domain`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainDescription {
    /// [`METHOD`].
    pub method: String,
    /// The validation percentile a specimen's score of 1 stands at (99: 1 % of validation
    /// specimens score above 1).
    pub percentile: f64,
    /// Training specimens the means and covariances come from.
    pub train: usize,
    /// Validation specimens the scales come from.
    pub validation: usize,
    /// One description per view the model uses.
    pub views: Vec<ViewDomain>,
}

/// One view's feature distribution, block by block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewDomain {
    /// DV or LV.
    pub view: View,
    /// The blocks, in the order of the feature vector.
    pub blocks: Vec<BlockDomain>,
}

/// One block of features: a Mahalanobis distance and the distance at which it scores 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockDomain {
    /// Feature width.
    pub dim: usize,
    /// Ledoit-Wolf shrinkage towards the scaled identity (0 = sample covariance, 1 = identity).
    pub shrinkage: f64,
    /// The Mahalanobis distance at which the block's score is 1.
    pub scale: f32,
    /// Median validation distance, for people (in Mahalanobis units).
    pub validation_median: f32,
    /// Mean feature vector, `dim` values (little-endian float32, base64).
    #[serde(with = "f32_base64")]
    pub mean: Vec<f32>,
    /// The whitening matrix `L⁻¹` (covariance `= L Lᵀ`), lower triangle packed by rows,
    /// `dim (dim + 1) / 2` values (little-endian float32, base64).
    #[serde(with = "f32_base64")]
    pub whiten: Vec<f32>,
}

/// DV and LV domain scores of one specimen (`None` for a view the model did not see or has no
/// description of).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainScore {
    /// DV, LV.
    pub views: ByView<Option<f32>>,
}

impl DomainScore {
    /// The worse view's score: the specimen's score.
    pub fn score(&self) -> Option<f32> {
        self.views.iter().filter_map(|(_, s)| *s).reduce(f32::max)
    }

    /// `Some(true)` when every scored view is at most 1, `None` when no view was scored.
    pub fn in_domain(&self) -> Option<bool> {
        self.score().map(|s| s <= 1.0)
    }

    /// The views scoring above 1.
    pub fn odd_views(&self) -> Vec<View> {
        self.views.iter().filter(|(_, s)| s.is_some_and(|s| s > 1.0)).map(|(v, _)| v).collect()
    }
}

impl BlockDomain {
    /// Mahalanobis distance of a block's features (`dim` values) from the training mean; `None`
    /// when the width differs or a value is not finite.
    pub fn distance(&self, features: &[f32]) -> Option<f32> {
        if features.len() != self.dim || features.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let centred: Vec<f32> = features.iter().zip(&self.mean).map(|(x, m)| x - m).collect();
        let mut sum = 0.0f64;
        let mut row = 0usize;
        for i in 0..self.dim {
            let w = self.whiten.get(row..row + i + 1)?;
            let y: f32 = w.iter().zip(&centred).map(|(a, b)| a * b).sum();
            sum += f64::from(y) * f64::from(y);
            row += i + 1;
        }
        Some(sum.sqrt() as f32)
    }

    fn validate(&self, view: View) -> Result<(), String> {
        let tri = self.dim * (self.dim + 1) / 2;
        if self.dim == 0 || self.mean.len() != self.dim || self.whiten.len() != tri {
            return Err(format!(
                "{} description has {} mean and {} whitening values for {} features",
                view.as_str(),
                self.mean.len(),
                self.whiten.len(),
                self.dim
            ));
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(format!("{} description has scale {}", view.as_str(), self.scale));
        }
        Ok(())
    }
}

impl ViewDomain {
    /// Feature width: the blocks' widths together.
    pub fn dim(&self) -> usize {
        self.blocks.iter().map(|b| b.dim).sum()
    }

    /// The domain score of a view's features: the largest of its blocks' distances over their
    /// scales. `None` when the width differs or a value is not finite.
    pub fn score(&self, features: &[f32]) -> Option<f32> {
        if features.len() != self.dim() {
            return None;
        }
        let mut at = 0;
        let mut worst = 0.0f32;
        for b in &self.blocks {
            let d = b.distance(features.get(at..at + b.dim)?)?;
            worst = worst.max(d / b.scale.max(f32::MIN_POSITIVE));
            at += b.dim;
        }
        Some(worst)
    }

    /// Checks the stored arrays.
    pub fn validate(&self) -> Result<(), String> {
        if self.blocks.is_empty() {
            return Err(format!("{} description has no blocks", self.view.as_str()));
        }
        self.blocks.iter().try_for_each(|b| b.validate(self.view))
    }
}

impl DomainDescription {
    /// The description of `view`, if the model has one.
    pub fn view(&self, view: View) -> Option<&ViewDomain> {
        self.views.iter().find(|v| v.view == view)
    }

    /// Scores one specimen's DV and LV features (absent where the view was not seen).
    pub fn score(&self, features: ByView<Option<&[f32]>>) -> DomainScore {
        DomainScore { views: features.map_view(|view, f| f.and_then(|f| self.view(view)?.score(f))) }
    }

    /// Checks every view's arrays.
    pub fn validate(&self) -> Result<(), String> {
        if self.method != METHOD {
            return Err(format!("domain method `{}`, this build knows `{METHOD}`", self.method));
        }
        self.views.iter().try_for_each(ViewDomain::validate)
    }

    /// Fits a description: means and shrunk covariances from `train`, scales from `validation`
    /// (see the module docs). Each element holds a specimen's DV and LV features, absent where a
    /// view is missing; `views` are the views the model uses; `blocks` the widths of the
    /// feature vector's blocks (one block: `[C]`).
    ///
    /// Errors when a view has fewer than [`MIN_TRAIN`] training specimens, fewer than
    /// [`MIN_VALIDATION`] validation specimens have a view, or the widths differ from `blocks`.
    pub fn fit(
        views: &[View],
        blocks: &[usize],
        train: &[ByView<Option<Vec<f32>>>],
        validation: &[ByView<Option<Vec<f32>>>],
        percentile: f64,
    ) -> Result<DomainDescription, String> {
        let width: usize = blocks.iter().sum();
        let mut fitted = Vec::new();
        for &view in views {
            if !view.is_model_view() {
                return Err(format!("{} is not a model view", view_name(view)));
            }
            let k = view;
            let rows: Vec<&[f32]> = train.iter().filter_map(|s| s[k].as_deref()).collect();
            if rows.len() < MIN_TRAIN {
                return Err(format!(
                    "{} training specimens with {} view: at least {MIN_TRAIN} are needed to describe the domain",
                    rows.len(),
                    view_name(view)
                ));
            }
            if width == 0 || rows.iter().any(|r| r.len() != width) {
                return Err(format!("{} features are not {width} wide ({blocks:?})", view.as_str().to_uppercase()));
            }
            let mut at = 0;
            let mut fitted_blocks = Vec::new();
            for &dim in blocks {
                let part: Vec<&[f32]> = rows.iter().map(|r| &r[at..at + dim]).collect();
                fitted_blocks.push(fit_block(view, &part)?);
                at += dim;
            }
            fitted.push(ViewDomain { view, blocks: fitted_blocks });
        }
        // Each block's distances in units of its validation median; the worst block of the worse
        // view makes a specimen's score; one percentile of those sets the common factor.
        let mut worst = vec![None::<f32>; validation.len()];
        for f in &mut fitted {
            let k = f.view;
            let present: Vec<&[f32]> = validation.iter().filter_map(|s| s[k].as_deref()).collect();
            if present.len() < MIN_VALIDATION {
                return Err(format!(
                    "{} validation specimens with {} view: at least {MIN_VALIDATION} are needed to describe the domain",
                    present.len(),
                    view_name(f.view)
                ));
            }
            let mut at = 0;
            for b in &mut f.blocks {
                let part = |x: &[f32]| x.get(at..at + b.dim).map(<[f32]>::to_vec);
                let d: Vec<f32> = present.iter().filter_map(|x| b.distance(&part(x)?)).collect();
                b.validation_median = quantile(&d, 0.5).max(f32::MIN_POSITIVE);
                for (w, s) in worst.iter_mut().zip(validation) {
                    if let Some(d) = s[k].as_deref().and_then(part).and_then(|x| b.distance(&x)) {
                        let r = d / b.validation_median;
                        *w = Some(w.map_or(r, |v| v.max(r)));
                    }
                }
                at += b.dim;
            }
        }
        let worst: Vec<f32> = worst.into_iter().flatten().collect();
        let t = quantile(&worst, percentile / 100.0);
        for b in fitted.iter_mut().flat_map(|f| &mut f.blocks) {
            b.scale = b.validation_median * t;
        }
        Ok(DomainDescription {
            method: METHOD.into(),
            percentile,
            train: train.iter().filter(|s| s.values().any(Option::is_some)).count(),
            validation: worst.len(),
            views: fitted,
        })
    }
}

/// The description without its arrays, for reports (`NAME.json`) and people.
pub fn summary_json(d: &DomainDescription) -> serde_json::Value {
    let views: Vec<serde_json::Value> = d
        .views
        .iter()
        .map(|v| {
            let blocks: Vec<serde_json::Value> = v
                .blocks
                .iter()
                .map(|b| {
                    serde_json::json!({
                        "features": b.dim,
                        "shrinkage": b.shrinkage,
                        "scale": b.scale,
                        "validation_median": b.validation_median,
                    })
                })
                .collect();
            serde_json::json!({ "view": v.view, "blocks": blocks })
        })
        .collect();
    serde_json::json!({
        "method": d.method,
        "percentile": d.percentile,
        "train": d.train,
        "validation": d.validation,
        "views": views,
    })
}

/// One line per view and block: what `doctor --model` prints.
pub fn summary_lines(d: &DomainDescription) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: {} training specimens, score 1 at the {}th percentile of {} validation specimens",
        d.method, d.train, d.percentile, d.validation
    )];
    for v in &d.views {
        for b in &v.blocks {
            lines.push(format!(
                "{}: {} features, shrinkage {:.3}, median validation distance {:.2}, score 1 at distance {:.2}",
                v.view.as_str().to_uppercase(),
                b.dim,
                b.shrinkage,
                b.validation_median,
                b.scale
            ));
        }
    }
    lines
}

fn view_name(view: View) -> String {
    match view {
        View::Dv => "a DV".to_owned(),
        View::Lv => "an LV".to_owned(),
        other => format!("a {}", other.as_str()),
    }
}

/// The `q` quantile (0..=1) of `values` by linear interpolation; 0 when empty.
fn quantile(values: &[f32], q: f64) -> f32 {
    let mut v: Vec<f32> = values.to_vec();
    v.sort_by(f32::total_cmp);
    let Some(last) = v.len().checked_sub(1) else { return 0.0 };
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = (pos - lo as f64) as f32;
    v[lo] + (v[hi] - v[lo]) * frac
}

/// Mean, Ledoit-Wolf shrunk covariance and its whitening matrix for one block (scale unset).
fn fit_block(view: View, rows: &[&[f32]]) -> Result<BlockDomain, String> {
    use nalgebra::DMatrix;
    let n = rows.len();
    let dim = rows.first().map_or(0, |r| r.len());
    let x = DMatrix::<f64>::from_fn(n, dim, |i, j| f64::from(rows[i][j]));
    let mean = x.row_mean();
    let mut centred = x;
    for mut row in centred.row_iter_mut() {
        row -= &mean;
    }
    let nf = n as f64;
    let sample = centred.transpose() * &centred / nf;
    // Ledoit & Wolf (2004), Lemma 3.2-3.4, with the normalised Frobenius norm ||A||² = tr(AAᵀ)/p.
    let p = dim as f64;
    let mu = sample.trace() / p;
    let s_norm2 = sample.norm_squared() / p;
    let d2 = (s_norm2 - 2.0 * mu * sample.trace() / p + mu * mu).max(0.0); // ||S - mu I||²
    let fourth: f64 = centred.row_iter().map(|r| r.norm_squared().powi(2)).sum::<f64>() / nf;
    let b2 = ((fourth / p - s_norm2) / nf).clamp(0.0, d2);
    let shrinkage = if d2 > 0.0 { b2 / d2 } else { 1.0 };
    let mut cov = sample * (1.0 - shrinkage);
    for i in 0..dim {
        cov[(i, i)] += shrinkage * mu.max(1e-12);
    }
    let chol = cov
        .cholesky()
        .ok_or_else(|| format!("{} feature covariance is not positive definite", view.as_str().to_uppercase()))?;
    let inv = chol
        .l()
        .solve_lower_triangular(&DMatrix::identity(dim, dim))
        .ok_or_else(|| format!("{} feature covariance cannot be inverted", view.as_str().to_uppercase()))?;
    let mut whiten = Vec::with_capacity(dim * (dim + 1) / 2);
    for i in 0..dim {
        for j in 0..=i {
            whiten.push(inv[(i, j)] as f32);
        }
    }
    Ok(BlockDomain {
        dim,
        shrinkage,
        scale: 1.0,
        validation_median: 1.0,
        mean: mean.iter().map(|&m| m as f32).collect(),
        whiten,
    })
}

/// Float32 arrays as base64 of their little-endian bytes: a quarter of JSON numbers' size, exact.
mod f32_base64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        if bytes.len() % 4 != 0 {
            return Err(serde::de::Error::custom(format!("{} bytes is not a float32 array", bytes.len())));
        }
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Standard normal draws (Box-Muller over a xorshift): enough for these tests.
    struct Rng(u64);
    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
        }
    }

    fn gaussian(rng: &mut Rng, n: usize, dim: usize, shift: f32) -> Vec<ByView<Option<Vec<f32>>>> {
        (0..n)
            .map(|_| {
                // Correlated features: each is a noisy copy of a shared factor.
                let common = rng.normal() as f32;
                let f: Vec<f32> =
                    (0..dim).map(|j| common * (j as f32 / dim as f32) + rng.normal() as f32 + shift).collect();
                ByView::new(Some(f.clone()), Some(f.iter().map(|v| -v).collect()))
            })
            .collect()
    }

    #[test]
    fn calibrated_on_validation_and_far_points_score_high() {
        let mut rng = Rng::new(7);
        let train = gaussian(&mut rng, 2000, 16, 0.0);
        let val = gaussian(&mut rng, 1000, 16, 0.0);
        let d = DomainDescription::fit(&View::MODEL, &[16], &train, &val, 99.0).unwrap();
        d.validate().unwrap();
        let flagged = |set: &[ByView<Option<Vec<f32>>>]| {
            set.iter().filter(|s| d.score(s.as_ref().map(|x| x.as_deref())).in_domain() == Some(false)).count() as f64
                / set.len() as f64
        };
        assert!(flagged(&val) <= 0.011, "validation flagged {}", flagged(&val));
        let test = gaussian(&mut rng, 1000, 16, 0.0);
        assert!(flagged(&test) < 0.03, "held out flagged {}", flagged(&test));
        let far = gaussian(&mut rng, 200, 16, 3.0);
        assert!(flagged(&far) > 0.99, "shifted flagged {}", flagged(&far));
        // The stored form round-trips exactly.
        let back: DomainDescription = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn a_shift_in_one_block_alone_is_flagged() {
        // Two blocks of 8: the second is what the first block's shift would hide in one
        // 16-wide description whose distance the unchanged half dilutes.
        let mut rng = Rng::new(11);
        let train = gaussian(&mut rng, 2000, 16, 0.0);
        let val = gaussian(&mut rng, 1000, 16, 0.0);
        let d = DomainDescription::fit(&View::MODEL, &[8, 8], &train, &val, 99.0).unwrap();
        assert_eq!(d.views[0].blocks.len(), 2);
        assert_eq!(d.views[0].dim(), 16);
        let mut shifted = gaussian(&mut rng, 200, 16, 0.0);
        for s in &mut shifted {
            for v in s.as_mut().into_iter().filter_map(|(_, v)| v.as_mut()) {
                v[..8].iter_mut().for_each(|x| *x += 2.0);
            }
        }
        let flagged =
            shifted.iter().filter(|s| d.score(s.as_ref().map(|x| x.as_deref())).in_domain() == Some(false)).count();
        assert!(flagged > 190, "{flagged} of 200");
        // Widths other than the blocks' are refused, not misread.
        assert_eq!(d.views[0].score(&[0.0; 15]), None);
        assert!(DomainDescription::fit(&View::MODEL, &[8, 9], &train, &val, 99.0).is_err());
    }

    #[test]
    fn one_odd_view_is_named() {
        let s = DomainScore { views: ByView::new(Some(0.5), Some(2.0)) };
        assert_eq!(s.score(), Some(2.0));
        assert_eq!(s.in_domain(), Some(false));
        assert_eq!(s.odd_views(), vec![View::Lv]);
        assert_eq!(DomainScore::default().in_domain(), None);
    }

    #[test]
    fn mahalanobis_matches_the_definition() {
        // Independent features with variances 1 and 4 and no shrinkage pull at this size:
        // distance² ≈ x₁² + x₂²/4.
        let mut rng = Rng::new(3);
        let train: Vec<ByView<Option<Vec<f32>>>> =
            (0..20000).map(|_| ByView::new(Some(vec![rng.normal() as f32, 2.0 * rng.normal() as f32]), None)).collect();
        let d = DomainDescription::fit(&[View::Dv], &[2], &train, &train[..100], 99.0).unwrap();
        let v = &d.views[0].blocks[0];
        let dist = v.distance(&[1.0, 2.0]).unwrap();
        assert!((dist - 2f32.sqrt()).abs() < 0.05, "distance {dist}");
        assert_eq!(v.distance(&[1.0]), None);
        assert_eq!(v.distance(&[f32::NAN, 0.0]), None);
    }

    #[test]
    fn too_few_specimens_is_an_error_not_a_panic() {
        let one = vec![ByView::new(Some(vec![1.0f32, 2.0]), None)];
        assert!(
            DomainDescription::fit(&[View::Dv], &[2], &one, &one, 99.0).unwrap_err().contains("1 training specimens")
        );
        assert!(DomainDescription::fit(&[View::Lv], &[2], &one, &one, 99.0).unwrap_err().contains("with an LV view"));
        let mut rng = Rng::new(1);
        let enough = gaussian(&mut rng, MIN_TRAIN, 4, 0.0);
        let err = DomainDescription::fit(&View::MODEL, &[4], &enough, &enough[..MIN_VALIDATION - 1], 99.0).unwrap_err();
        assert!(err.contains("49 validation specimens"), "{err}");
        assert!(DomainDescription::fit(&View::MODEL, &[4], &enough, &enough[..MIN_VALIDATION], 99.0).is_ok());
    }
}
