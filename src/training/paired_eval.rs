//! Counterfactual pairs (`synth --pairs`): does adding one finding to an animal, with everything
//! else identical, raise the model's probability for that finding? A model that learned the
//! finding should answer yes in nearly every pair; one that learned cues of the renderer answers
//! at chance.

use std::collections::BTreeMap;

use super::data::{Dataset, model_batch};
use super::pairs::{PairRow, match_pairs};
use crate::inference::Classifier;
use crate::metrics::percent;
use crate::synth::CLASSES;

/// Severity from which a finding is plainly visible, for the table's second half.
pub const PLAIN_SEVERITY: f64 = 0.5;

/// A rise of P(finding | parent) counts only above this (a tenth of a percentage point): a
/// model that does not react moves by rounding noise, which is no evidence either way.
pub const MIN_RISE: f64 = 0.001;

/// One finding's paired result.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PairedResult {
    /// L3 class.
    pub finding: String,
    /// Pairs scored.
    pub pairs: usize,
    /// Pairs in which P(finding | parent) rose by more than [`MIN_RISE`].
    pub raised: usize,
    /// Mean rise of P(finding | parent) (negative: it fell).
    pub mean_rise: f64,
    /// Pairs at severity >= [`PLAIN_SEVERITY`].
    pub plain_pairs: usize,
    /// Of those, pairs in which it rose.
    pub plain_raised: usize,
}

/// Runs `model` (every view it uses) on both members of every pair found in `dataset` (see
/// [`match_pairs`] for the pairs skipped), and tallies per finding.
pub fn measure(
    model: &mut Classifier,
    dataset: &Dataset,
    pairs: &[PairRow],
    batch: usize,
) -> anyhow::Result<(Vec<PairedResult>, Vec<String>)> {
    let s = model.info.metadata.preprocess.size as usize;
    let bg = model.info.metadata.preprocess.background();
    let uses = model.info.uses();
    let (found, notes) = match_pairs(&model.info.metadata.taxonomy, dataset, pairs, uses);
    let mut rows: BTreeMap<&str, PairedResult> = BTreeMap::new();
    for chunk in found.chunks(batch.max(1)) {
        let samples: Vec<_> = chunk.iter().flat_map(|(_, m)| m.map(|i| &dataset.samples[i])).collect();
        let (dv, lv, presence) = model_batch(&samples, uses, s, bg)?;
        let probs = model.predict(&dv, &lv, &presence)?;
        for (k, (pair, _)) in chunk.iter().enumerate() {
            let Some(node) = model.info.metadata.taxonomy.index_of(&pair.finding) else { continue };
            let (Some(a), Some(b)) =
                (probs.get(2 * k).and_then(|p| p.get(node)), probs.get(2 * k + 1).and_then(|p| p.get(node)))
            else {
                continue;
            };
            let rise = f64::from(b - a);
            let row = rows
                .entry(pair.finding.as_str())
                .or_insert_with(|| PairedResult { finding: pair.finding.clone(), ..Default::default() });
            row.pairs += 1;
            row.raised += usize::from(rise > MIN_RISE);
            row.mean_rise += rise;
            if pair.severity >= PLAIN_SEVERITY {
                row.plain_pairs += 1;
                row.plain_raised += usize::from(rise > MIN_RISE);
            }
        }
    }
    let mut out: Vec<PairedResult> = rows.into_values().collect();
    for r in &mut out {
        r.mean_rise /= r.pairs.max(1) as f64;
    }
    // Taxonomy order.
    out.sort_by_key(|r| CLASSES.iter().position(|c| *c == r.finding).unwrap_or(usize::MAX));
    Ok((out, notes))
}

/// The rows as a Markdown table.
pub fn to_markdown(name: &str, rows: &[PairedResult]) -> String {
    let mut md = format!(
        "## Counterfactual pairs: {name} (every view the model uses)\n\n| finding | pairs | raised | mean rise | pairs at severity >= {PLAIN_SEVERITY} | raised |\n|---|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {:+.3} | {} | {} |\n",
            r.finding,
            r.pairs,
            percent(r.raised, r.pairs),
            r.mean_rise,
            r.plain_pairs,
            percent(r.plain_raised, r.plain_pairs)
        ));
    }
    md
}

/// A change of at least this much of the normalised intensity range (0..=1, before
/// standardisation) makes an input pixel count as showing the finding: about 13 grey levels of
/// an 8-bit display, plainly visible.
pub const SIGNAL_CONTRAST: f32 = 0.05;

/// How much of one finding reaches the model input at one input size.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct InputSignal {
    /// L3 class.
    pub finding: String,
    /// Input side in pixels.
    pub size: u32,
    /// Pairs at severity >= [`PLAIN_SEVERITY`] measured.
    pub pairs: usize,
    /// Median over those pairs of the DV input pixels that change by at least
    /// [`SIGNAL_CONTRAST`] when the finding is added (`None`: no pair has a DV).
    pub dv_pixels: Option<f64>,
    /// The same for LV.
    pub lv_pixels: Option<f64>,
}

/// Input pixels of `a` and `b` (standardised with `std`) that differ by at least
/// [`SIGNAL_CONTRAST`] of the normalised range.
fn changed_pixels(a: &[f32], b: &[f32], std: f32) -> usize {
    a.iter().zip(b).filter(|(x, y)| ((*x - *y) * std).abs() >= SIGNAL_CONTRAST).count()
}

/// Where each finding shows in the input, without a model: for every pair at severity >=
/// [`PLAIN_SEVERITY`] (members found as [`match_pairs`] does), the input pixels adding the
/// finding changes, per view; the median per finding. `dataset` must be preprocessed with
/// standardisation `std` at the size reported, with a geometry that does not follow the body
/// (no crop, no rotation), so that the members differ only by the finding. A finding whose
/// median is a few pixels cannot be learned at that resolution, whatever the network.
///
/// # Errors
/// A cached input cannot be read back.
pub fn input_signal(
    dataset: &Dataset,
    pairs: &[PairRow],
    taxonomy: &crate::taxonomy::Taxonomy,
    std: f32,
) -> anyhow::Result<Vec<InputSignal>> {
    let (found, _) = match_pairs(taxonomy, dataset, pairs, crate::specimen::ByView::new(false, false));
    let mut per: BTreeMap<&str, [Vec<f64>; 2]> = BTreeMap::new();
    for (pair, [a, b]) in found {
        if pair.severity < PLAIN_SEVERITY {
            continue;
        }
        let (a, b) = (&dataset.samples[a], &dataset.samples[b]);
        let entry = per.entry(pair.finding.as_str()).or_default();
        for (k, (x, y)) in [(&a.dv, &b.dv), (&a.lv, &b.lv)].into_iter().enumerate() {
            if let (Some(x), Some(y)) = (x, y)
                && x.len() == y.len()
            {
                entry[k].push(changed_pixels(&x.values()?, &y.values()?, std) as f64);
            }
        }
    }
    let median = |v: &mut Vec<f64>| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        Some(if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) })
    };
    let mut out: Vec<InputSignal> = per
        .into_iter()
        .map(|(finding, [mut dv, mut lv])| InputSignal {
            finding: finding.to_owned(),
            size: dataset.size,
            pairs: dv.len().max(lv.len()),
            dv_pixels: median(&mut dv),
            lv_pixels: median(&mut lv),
        })
        .collect();
    out.sort_by_key(|r| CLASSES.iter().position(|c| *c == r.finding).unwrap_or(usize::MAX));
    Ok(out)
}

/// Input-signal rows of several sizes as one Markdown table (a column per size).
pub fn signal_markdown(rows: &[Vec<InputSignal>]) -> String {
    let px = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let mut md = format!(
        "## Where each finding survives resampling (pairs at severity >= {PLAIN_SEVERITY})\n\nMedian pixels, DV / LV, of the whole film resampled to each size (no crop or rotation) that adding the finding changes by at least {:.0} % of the intensity range.\n\n| finding |",
        100.0 * SIGNAL_CONTRAST
    );
    for size_rows in rows {
        let size = size_rows.first().map_or(0, |r| r.size);
        md.push_str(&format!(" {size} px |"));
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(rows.len()));
    md.push('\n');
    for class in CLASSES {
        if !rows.iter().any(|size_rows| size_rows.iter().any(|r| r.finding == class)) {
            continue;
        }
        md.push_str(&format!("| {class} |"));
        for size_rows in rows {
            match size_rows.iter().find(|r| r.finding == class) {
                Some(r) => md.push_str(&format!(" {} / {} |", px(r.dv_pixels), px(r.lv_pixels))),
                None => md.push_str(" - |"),
            }
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use crate::training::data::Sample;

    #[test]
    fn input_signal_counts_the_pixels_a_finding_changes_and_takes_the_median() {
        let taxonomy = crate::taxonomy::Taxonomy::default();
        let k = taxonomy.index_of("teeth").expect("teeth is a node");
        let labelled = |has: bool| {
            let mut l = vec![None; taxonomy.nodes.len()];
            l[k] = Some(has);
            l
        };
        // Standardised with std 0.5: a change of 0.2 in the input is 0.1 of the range (counts),
        // one of 0.06 is 0.03 (does not).
        let film = |changed: usize| {
            let mut x = vec![0.0_f32; 16];
            for v in x.iter_mut().take(changed) {
                *v = 0.2;
            }
            x[15] = 0.06;
            x
        };
        let mut samples = Vec::new();
        let mut pairs = Vec::new();
        for (i, changed) in [1_usize, 3, 7].into_iter().enumerate() {
            samples.push(Sample {
                id: format!("P{i}A"),
                dv: Some(vec![0.0; 16].into()),
                lv: None,
                labels: labelled(false),
                spine: Default::default(),
            });
            samples.push(Sample {
                id: format!("P{i}B"),
                dv: Some(film(changed).into()),
                lv: None,
                labels: labelled(true),
                spine: Default::default(),
            });
            pairs.push(PairRow {
                pair: format!("P{i}"),
                finding: "teeth".into(),
                severity: 0.8,
                without: format!("P{i}A"),
                with: format!("P{i}B"),
                file: Default::default(),
            });
        }
        // A faint pair (severity under PLAIN_SEVERITY) is not counted.
        pairs.push(PairRow {
            pair: "P9".into(),
            finding: "teeth".into(),
            severity: 0.2,
            without: "P0A".into(),
            with: "P2B".into(),
            file: Default::default(),
        });
        let dataset = Dataset { size: 4, samples, fingerprint: String::new(), pairs: Vec::new() };
        let rows = input_signal(&dataset, &pairs, &taxonomy, 0.5).expect("in memory");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].pairs, 3);
        assert_eq!(rows[0].dv_pixels, Some(3.0));
        assert_eq!(rows[0].lv_pixels, None);
        let md = signal_markdown(&[rows]);
        assert!(md.contains("| teeth | 3 / - |"), "{md}");
    }
}
