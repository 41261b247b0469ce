//! Counterfactual pairs (`synth --pairs`): one animal rendered without and with one finding,
//! everything else identical. `eval --pairs` scores a model on them
//! ([`super::paired_eval`]); `train` learns from them when a folder has a `pairs.csv`: both
//! members land on the same side of the split and in the same batch, with the same augmentation,
//! and a ranking loss asks that adding the finding raise its logit. The supervised loss alone
//! sees the two films as unrelated specimens; the ranking term says what differs between them
//! is the finding, which a model can learn only from the finding itself (counterfactually
//! augmented data, Kaushik et al., ICLR 2020). Posture pairs (`synth --posture-pairs`, finding
//! [`POSTURE_PAIR`]) are the converse: one animal in two lateral postures, labelled alike, whose
//! outputs training asks to agree (`train --posture-weight`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use burn::tensor::{Device, Tensor, TensorData};

use super::data::Dataset;
use crate::specimen::ByView;
use crate::synth::{PAIRS_FILE, POSTURE_PAIR, Rng};
use crate::taxonomy::Taxonomy;

/// The least rise, in logits, the ranking loss asks of the added finding (odds times e).
pub const PAIR_MARGIN: f32 = 1.0;

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
    /// The `pairs.csv` it was read from (empty for pairs made in code), for messages.
    #[serde(skip)]
    pub file: std::path::PathBuf,
}

impl PairRow {
    /// How messages name the pair: its file and id.
    fn named(&self) -> String {
        if self.file.as_os_str().is_empty() {
            format!("pair {}", self.pair)
        } else {
            format!("{}: pair {}", self.file.display(), self.pair)
        }
    }
}

/// Reads `pairs.csv` of a pairs folder. Errors name the file.
pub fn read_pairs(folder: &Path) -> anyhow::Result<Vec<PairRow>> {
    let path = folder.join(PAIRS_FILE);
    let mut r = csv::Reader::from_path(&path)
        .with_context(|| format!("{}: cannot read (a folder from `synth --pairs` has one)", path.display()))?;
    r.deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map(|row: PairRow| PairRow { file: path.clone(), ..row })
                .with_context(|| format!("{}: row {}", path.display(), i + 2))
        })
        .collect()
}

/// A pair found in a dataset: the row and its members' indices (without, with).
pub type FoundPair<'a> = (&'a PairRow, [usize; 2]);

/// Finds each pair's members in `dataset`. A pair is skipped, with the reason in the returned
/// notes, when a member is missing from the dataset (or lacks a view `uses` asks for), its
/// finding is neither an L3 node nor [`POSTURE_PAIR`], its id repeats, or the labels contradict
/// it (the first member has the finding, the second lacks it; a posture pair's members are
/// labelled differently).
pub fn match_pairs<'a>(
    taxonomy: &crate::taxonomy::Taxonomy,
    dataset: &Dataset,
    pairs: &'a [PairRow],
    uses: ByView<bool>,
) -> (Vec<FoundPair<'a>>, Vec<String>) {
    let index: BTreeMap<&str, usize> = dataset.samples.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let mut notes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut found = Vec::new();
    for p in pairs {
        let node = taxonomy.index_of(&p.finding).filter(|&k| taxonomy.nodes[k].level == crate::taxonomy::Level::L3);
        let members = [index.get(p.without.as_str()).copied(), index.get(p.with.as_str()).copied()];
        let has = |i: usize| node.and_then(|k| dataset.samples[i].labels.get(k).copied().flatten());
        let complete = |i: usize| {
            let x = &dataset.samples[i];
            (!uses.dv || x.dv.is_some()) && (!uses.lv || x.lv.is_some())
        };
        let posture = p.finding == POSTURE_PAIR;
        let why = match members {
            _ if !seen.insert(p.pair.as_str()) => Some("its id appears twice".to_owned()),
            _ if node.is_none() && !posture => Some(format!("`{}` is not one of the ten findings", p.finding)),
            [Some(a), Some(b)] if posture && dataset.samples[a].labels != dataset.samples[b].labels => Some(format!(
                "labels.csv labels {} and {} differently, and a posture pair adds no finding",
                p.without, p.with
            )),
            [Some(a), Some(b)] if !posture && (has(a) != Some(false) || has(b) != Some(true)) => {
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
            notes.push(format!("{}: skipped, {why}", p.named()));
        }
    }
    (found, notes)
}
/// The pairs of `folder`'s `pairs.csv`, or none when it has none (an ordinary folder).
///
/// # Errors
/// The file exists but cannot be read or parsed, naming it and the row.
pub fn read_pairs_if_any(folder: &Path) -> anyhow::Result<Vec<PairRow>> {
    if folder.join(PAIRS_FILE).is_file() { read_pairs(folder) } else { Ok(Vec::new()) }
}

/// A pair the training loop learns from: its members' sample indices (without, with) and the
/// nodes whose logit adding the finding must raise, in taxonomy order: the finding's L3 node,
/// and its L2 group and L1 `abnormal` where the member without it is labelled negative for them.
/// A posture pair has no finding and no node to rank: its members' outputs should agree.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedPair {
    /// Sample indices, without and with the finding (a posture pair: as drawn, posed again).
    pub members: [usize; 2],
    /// The finding's taxonomy index; `None` for a posture pair.
    pub finding: Option<usize>,
    /// Taxonomy indices to rank (none for a posture pair).
    pub nodes: Vec<usize>,
}

/// The dataset's pairs that training can rank ([`match_pairs`] with every view optional), each
/// specimen in one pair at most (a later pair naming a specimen again is skipped), and notes
/// for those skipped.
pub fn ranked_pairs(taxonomy: &Taxonomy, dataset: &Dataset) -> (Vec<RankedPair>, Vec<String>) {
    let (found, mut notes) = match_pairs(taxonomy, dataset, &dataset.pairs, ByView::new(false, false));
    let mut used = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (row, members) in found {
        if members.iter().any(|m| used.contains(m)) {
            notes.push(format!("{}: skipped, a member is already in another pair", row.named()));
            continue;
        }
        used.extend(members);
        if row.finding == POSTURE_PAIR {
            out.push(RankedPair { members, finding: None, nodes: Vec::new() });
            continue;
        }
        let Some(leaf) = taxonomy.index_of(&row.finding) else { continue };
        let without = &dataset.samples[members[0]].labels;
        let mut nodes = vec![leaf];
        let mut parent = taxonomy.nodes[leaf].parent.as_deref().and_then(|p| taxonomy.index_of(p));
        while let Some(p) = parent {
            if without.get(p).copied().flatten() == Some(false) {
                nodes.push(p);
            }
            parent = taxonomy.nodes[p].parent.as_deref().and_then(|q| taxonomy.index_of(q));
        }
        nodes.sort_unstable();
        out.push(RankedPair { members, finding: Some(leaf), nodes });
    }
    (out, notes)
}

/// The key the train/validation split hashes for each sample: its pair's id for a member of a
/// pair (so both members fall on the same side: one animal seen in training must not be judged
/// in validation), else its own id.
pub fn split_keys(dataset: &Dataset) -> Vec<&str> {
    let mut pair_of: HashMap<&str, &str> = HashMap::new();
    for p in &dataset.pairs {
        pair_of.insert(p.without.as_str(), p.pair.as_str());
        pair_of.insert(p.with.as_str(), p.pair.as_str());
    }
    dataset.samples.iter().map(|s| pair_of.get(s.id.as_str()).copied().unwrap_or(s.id.as_str())).collect()
}

/// A pair inside a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPair {
    /// The members' positions in the batch (without, with).
    pub at: [usize; 2],
    /// Taxonomy indices to rank ([`RankedPair::nodes`]).
    pub nodes: Vec<usize>,
    /// A posture pair ([`posture_pair_outputs`]), not ranked.
    pub posture: bool,
}

/// One training batch: sample indices, and the ranked pairs among them.
#[derive(Debug, Clone, PartialEq)]
pub struct PairBatch {
    /// Sample indices.
    pub samples: Vec<usize>,
    /// Pairs whose both members are in `samples`.
    pub pairs: Vec<BatchPair>,
}

/// One epoch's batches: `train` shuffled, each ranked pair kept whole and together (a batch
/// closes once it holds `batch` specimens, so one may hold one more).
pub fn epoch_batches(train: &[usize], pairs: &[RankedPair], batch: usize, rng: &mut Rng) -> Vec<PairBatch> {
    let in_train: std::collections::HashSet<usize> = train.iter().copied().collect();
    let mut partner: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, p) in pairs.iter().enumerate() {
        if p.members.iter().all(|m| in_train.contains(m)) {
            partner.insert(p.members[0], k);
            partner.insert(p.members[1], k);
        }
    }
    // Units: a lone specimen, or a pair (entered once, at its first member).
    let mut units: Vec<Result<usize, usize>> = Vec::new();
    for &i in train {
        match partner.get(&i) {
            Some(&k) if pairs[k].members[0] == i => units.push(Err(k)),
            Some(_) => {}
            None => units.push(Ok(i)),
        }
    }
    for i in (1..units.len()).rev() {
        units.swap(i, rng.below(i + 1));
    }
    let mut out = Vec::new();
    let (mut current, mut ranked) = (Vec::new(), Vec::new());
    for unit in units {
        match unit {
            Ok(i) => current.push(i),
            Err(k) => {
                let at = current.len();
                current.extend(pairs[k].members);
                ranked.push(BatchPair {
                    at: [at, at + 1],
                    nodes: pairs[k].nodes.clone(),
                    posture: pairs[k].finding.is_none(),
                });
            }
        }
        if current.len() >= batch.max(1) {
            out.push(PairBatch { samples: std::mem::take(&mut current), pairs: std::mem::take(&mut ranked) });
        }
    }
    if !current.is_empty() {
        out.push(PairBatch { samples: current, pairs: ranked });
    }
    out
}

/// The ranking loss of one batch: the mean over its pairs' ranked nodes of
/// `softplus(PAIR_MARGIN - (z_with - z_without))` on the logits `[n, classes]` (the pairwise
/// logistic loss of RankNet, Burges et al., ICML 2005, with a margin); `None` without pairs.
pub fn pair_loss(logits: Tensor<2>, ranked: &[BatchPair], device: &Device) -> Option<Tensor<1>> {
    if ranked.is_empty() {
        return None;
    }
    let [n, k] = logits.dims();
    let p = ranked.len();
    // Differences by one product: row r of `select` is +1 at the "with" member, -1 at the
    // "without" one.
    let (mut select, mut weight) = (vec![0.0f32; p * n], vec![0.0f32; p * k]);
    for (r, pair) in ranked.iter().enumerate() {
        select[r * n + pair.at[0]] = -1.0;
        select[r * n + pair.at[1]] = 1.0;
        for &c in &pair.nodes {
            weight[r * k + c] = 1.0;
        }
    }
    let select = Tensor::<2>::from_data(TensorData::new(select, [p, n]), device);
    let weight = Tensor::<2>::from_data(TensorData::new(weight, [p, k]), device);
    let x = select.matmul(logits).neg() + PAIR_MARGIN;
    let softplus = x.clone().clamp_min(0.0) + (x.abs().neg().exp() + 1.0).log();
    Some((softplus * weight.clone()).sum() / weight.sum().clamp_min(1.0))
}

/// The logits `[p, classes]` of the posture pairs' first and second members (rows of `logits`,
/// `[n, classes]`), for a term that asks them to agree; `None` without posture pairs.
pub fn posture_pair_outputs(logits: &Tensor<2>, pairs: &[BatchPair], device: &Device) -> Option<[Tensor<2>; 2]> {
    let posture: Vec<&BatchPair> = pairs.iter().filter(|p| p.posture).collect();
    if posture.is_empty() {
        return None;
    }
    let rows = |m: usize| {
        let at: Vec<i64> = posture.iter().map(|p| p.at[m] as i64).collect();
        let n = at.len();
        logits.clone().select(0, Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(at, [n]), device))
    };
    Some([rows(0), rows(1)])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;
    use crate::training::data::Sample;

    fn labelled(taxonomy: &Taxonomy, positive: &[&str]) -> Vec<Option<bool>> {
        let mut l = vec![Some(false); taxonomy.nodes.len()];
        for name in positive {
            let mut at = taxonomy.index_of(name);
            while let Some(i) = at {
                l[i] = Some(true);
                at = taxonomy.nodes[i].parent.as_deref().and_then(|p| taxonomy.index_of(p));
            }
        }
        l
    }

    fn dataset(taxonomy: &Taxonomy, count: usize) -> Dataset {
        let mut samples = Vec::new();
        let mut pairs = Vec::new();
        for i in 0..count {
            // Every third animal already has skull shape; each pair adds kyphosis.
            let base: &[&str] = if i % 3 == 0 { &["skull_shape"] } else { &[] };
            let with: Vec<&str> = base.iter().copied().chain(["kyphosis"]).collect();
            for (suffix, labels) in [("A", labelled(taxonomy, base)), ("B", labelled(taxonomy, &with))] {
                samples.push(Sample {
                    id: format!("PR{i:05}{suffix}"),
                    dv: Some(vec![0.0; 4].into()),
                    lv: None,
                    labels,
                    spine: Default::default(),
                });
            }
            pairs.push(PairRow {
                pair: format!("PR{i:05}"),
                finding: "kyphosis".into(),
                severity: 0.8,
                without: format!("PR{i:05}A"),
                with: format!("PR{i:05}B"),
                file: Default::default(),
            });
        }
        for i in 0..count {
            samples.push(Sample {
                id: format!("MX{i:05}"),
                dv: Some(vec![0.0; 4].into()),
                lv: None,
                labels: labelled(taxonomy, &[]),
                spine: Default::default(),
            });
        }
        samples.sort_by(|a, b| a.id.cmp(&b.id));
        Dataset { size: 2, samples, fingerprint: String::new(), pairs }
    }

    #[test]
    fn pair_members_share_a_side_of_the_split_and_a_batch() {
        let taxonomy = Taxonomy::default();
        let data = dataset(&taxonomy, 60);
        let (train, val) = data.split(0.3, 5);
        assert!(!val.is_empty() && !train.is_empty());
        let side = |id: &str| {
            let i = data.samples.iter().position(|s| s.id == id).expect("present");
            train.contains(&i)
        };
        for p in &data.pairs {
            assert_eq!(side(&p.without), side(&p.with), "{} straddles the split", p.pair);
        }
        let (ranked, notes) = ranked_pairs(&taxonomy, &data);
        assert_eq!((ranked.len(), notes.len()), (60, 0));
        let batches = epoch_batches(&train, &ranked, 7, &mut Rng::new(1, 1));
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.samples.iter().copied()).collect();
        seen.sort_unstable();
        let mut expected = train.clone();
        expected.sort_unstable();
        assert_eq!(seen, expected, "every training specimen once an epoch");
        let mut pairs_seen = 0;
        for batch in &batches {
            assert!(batch.samples.len() <= 8);
            for pair in &batch.pairs {
                let (a, b) = (&data.samples[batch.samples[pair.at[0]]], &data.samples[batch.samples[pair.at[1]]]);
                assert_eq!(a.id.trim_end_matches('A'), b.id.trim_end_matches('B'));
                assert!(pair.nodes.contains(&taxonomy.index_of("kyphosis").expect("node")));
                pairs_seen += 1;
            }
        }
        assert_eq!(pairs_seen, ranked.iter().filter(|p| train.contains(&p.members[0])).count());
    }

    /// A posture pair is matched when its members are labelled alike and skipped, named, when
    /// not; it ranks nothing, travels whole into a batch marked as such, and its members' logits
    /// come out row for row.
    #[test]
    fn posture_pairs_are_matched_batched_and_read_back() {
        let taxonomy = Taxonomy::default();
        let mut data = dataset(&taxonomy, 4);
        for (k, pair) in data.pairs.iter_mut().enumerate() {
            pair.finding = POSTURE_PAIR.into();
            // Members of pairs 0-2 get the same labels; pair 3 keeps its added kyphosis.
            if k < 3 {
                let first = data.samples.iter().position(|s| s.id == pair.without).expect("member");
                let second = data.samples.iter().position(|s| s.id == pair.with).expect("member");
                data.samples[second].labels = data.samples[first].labels.clone();
            }
        }
        let (ranked, notes) = ranked_pairs(&taxonomy, &data);
        assert_eq!(ranked.len(), 3);
        assert!(ranked.iter().all(|p| p.finding.is_none() && p.nodes.is_empty()));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("PR00003") && notes[0].contains("labels"), "{notes:?}");
        let all: Vec<usize> = (0..data.samples.len()).collect();
        let batches = epoch_batches(&all, &ranked, 4, &mut Rng::new(3, 3));
        let in_batches: Vec<&BatchPair> = batches.iter().flat_map(|b| &b.pairs).collect();
        assert_eq!(in_batches.len(), 3);
        assert!(in_batches.iter().all(|p| p.posture && p.nodes.is_empty()));

        let device = Device::flex();
        let logits = Tensor::<2>::from_data(TensorData::new((0..12).map(|v| v as f32).collect(), [4, 3]), &device);
        let pairs = [
            BatchPair { at: [2, 3], nodes: Vec::new(), posture: true },
            BatchPair { at: [0, 1], nodes: vec![0], posture: false },
        ];
        let [first, second] = posture_pair_outputs(&logits, &pairs, &device).expect("one posture pair");
        assert_eq!(first.into_data().try_to_vec::<f32>().expect("floats"), vec![6.0, 7.0, 8.0]);
        assert_eq!(second.into_data().try_to_vec::<f32>().expect("floats"), vec![9.0, 10.0, 11.0]);
        assert!(posture_pair_outputs(&logits, &pairs[1..], &device).is_none());
    }

    #[test]
    fn ranked_nodes_are_the_finding_and_the_parents_it_turns_positive() {
        let taxonomy = Taxonomy::default();
        let data = dataset(&taxonomy, 3);
        let (ranked, _) = ranked_pairs(&taxonomy, &data);
        let idx = |n: &str| taxonomy.index_of(n).expect("node");
        let mut normal = vec![idx("abnormal"), idx("axial"), idx("kyphosis")];
        normal.sort_unstable();
        // Pair 0's animal already had skull shape: abnormal was positive already, axial not.
        let mut had_skull = vec![idx("axial"), idx("kyphosis")];
        had_skull.sort_unstable();
        assert_eq!(ranked[0].nodes, had_skull);
        assert_eq!(ranked[1].nodes, normal);
    }

    #[test]
    fn the_ranking_loss_falls_as_the_added_finding_rises_and_vanishes_without_pairs() {
        let device = Device::flex();
        let loss = |rise: f32| {
            let logits = Tensor::<2>::from_data(TensorData::new(vec![0.0, 0.3, rise, 0.3], [2, 2]), &device);
            pair_loss(logits, &[BatchPair { at: [0, 1], nodes: vec![0], posture: false }], &device)
                .expect("a pair")
                .into_scalar::<f32>()
        };
        assert!(loss(-1.0) > loss(0.0) && loss(0.0) > loss(1.0) && loss(1.0) > loss(4.0));
        // At the margin, softplus(0) = ln 2; the other node (weight 0) does not count.
        assert!((loss(PAIR_MARGIN) - std::f32::consts::LN_2).abs() < 1e-5);
        let logits = Tensor::<2>::zeros([2, 2], &device);
        assert!(pair_loss(logits, &[], &device).is_none());
    }
}
