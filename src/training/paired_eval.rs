//! Counterfactual pairs (`synth --pairs`): does adding one finding to an animal, with everything
//! else identical, raise the model's probability for that finding? A model that learned the
//! finding should answer yes in nearly every pair; one that learned cues of the renderer answers
//! at chance.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::data::{Dataset, model_batch};
use crate::inference::Classifier;
use crate::metrics::percent;
use crate::synth::{CLASSES, PAIRS_FILE};

/// Severity from which a finding is plainly visible, for the table's second half.
pub const PLAIN_SEVERITY: f64 = 0.5;

/// A rise of P(finding | parent) counts only above this (a tenth of a percentage point): a
/// model that does not react moves by rounding noise, which is no evidence either way.
pub const MIN_RISE: f64 = 0.001;

/// One pair as `pairs.csv` lists it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct PairRow {
    /// Pair id.
    pub pair: String,
    /// The L3 class added.
    pub finding: String,
    /// Its severity.
    pub severity: f64,
    /// Specimen without it.
    pub without: String,
    /// Specimen with it.
    pub with: String,
}

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

/// Reads `pairs.csv` of a pairs folder. Errors name the file.
pub fn read_pairs(folder: &Path) -> anyhow::Result<Vec<PairRow>> {
    let path = folder.join(PAIRS_FILE);
    let mut r = csv::Reader::from_path(&path)
        .with_context(|| format!("{}: cannot read (a folder from `synth --pairs` has one)", path.display()))?;
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{}: row {}", path.display(), i + 2)))
        .collect()
}

/// Runs `model` (every view it uses) on both members of every pair found in `dataset`, and
/// tallies per finding. A pair is skipped, with the reason in the returned notes, when a member
/// is missing from the dataset (or lacks a view the model uses), its finding is not an L3 node,
/// its id repeats, or the labels contradict it (the first member has the finding, the second
/// lacks it).
pub fn measure(
    model: &mut Classifier,
    dataset: &Dataset,
    pairs: &[PairRow],
    batch: usize,
) -> anyhow::Result<(Vec<PairedResult>, Vec<String>)> {
    let index: BTreeMap<&str, usize> = dataset.samples.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let s = model.info.metadata.preprocess.size as usize;
    let bg = model.info.metadata.preprocess.background();
    let uses = model.info.uses();
    let taxonomy = model.info.metadata.taxonomy.clone();
    let mut notes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut found: Vec<(&PairRow, [usize; 2])> = Vec::new();
    for p in pairs {
        let node = taxonomy.index_of(&p.finding).filter(|&k| taxonomy.nodes[k].level == crate::taxonomy::Level::L3);
        let members = [index.get(p.without.as_str()).copied(), index.get(p.with.as_str()).copied()];
        let has = |i: usize| node.and_then(|k| dataset.samples[i].labels.get(k).copied().flatten());
        let complete = |i: usize| {
            let x = &dataset.samples[i];
            (!uses[0] || x.dv.is_some()) && (!uses[1] || x.lv.is_some())
        };
        let why = match members {
            _ if !seen.insert(p.pair.as_str()) => Some("its id appears twice".to_owned()),
            _ if node.is_none() => Some(format!("`{}` is not one of the ten findings", p.finding)),
            [Some(a), Some(b)] if has(a) != Some(false) || has(b) != Some(true) => {
                Some(format!("labels.csv does not say {} lacks and {} has {}", p.without, p.with, p.finding))
            }
            [Some(a), Some(b)] if !complete(a) || !complete(b) => {
                Some("a member lacks a view the model uses".to_owned())
            }
            [Some(a), Some(b)] => {
                found.push((p, [a, b]));
                None
            }
            _ => Some(format!("{} or {} is not in the folder (or not labelled)", p.without, p.with)),
        };
        if let Some(why) = why {
            notes.push(format!("pair {}: skipped, {why}", p.pair));
        }
    }
    let mut rows: BTreeMap<&str, PairedResult> = BTreeMap::new();
    for chunk in found.chunks(batch.max(1)) {
        let samples: Vec<_> = chunk.iter().flat_map(|(_, m)| m.map(|i| &dataset.samples[i])).collect();
        let (dv, lv, presence) = model_batch(&samples, uses, s, bg);
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
