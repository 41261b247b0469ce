//! Evaluating a model file on a labelled folder, by view mode, through the same inference code
//! the app uses.

use serde::{Deserialize, Serialize};

use super::data::{Dataset, model_batch};
use super::roc_plot::{RocPanel, RocSeries};
use crate::inference::Classifier;
use crate::metrics::{LevelAucs, level_aucs, mean_roc, node_scores, roc_curve};
use crate::specimen::ByView;
use crate::taxonomy::{Level, NodeLabels, Taxonomy};

/// Which views are shown to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewMode {
    /// DV only (LV masked).
    Dv,
    /// LV only (DV masked).
    Lv,
    /// Both.
    Both,
}

impl ViewMode {
    /// Label for tables.
    pub fn label(self) -> &'static str {
        match self {
            ViewMode::Dv => "DV",
            ViewMode::Lv => "LV",
            ViewMode::Both => "DV+LV",
        }
    }

    fn presence(self) -> ByView<bool> {
        match self {
            ViewMode::Dv => ByView::new(true, false),
            ViewMode::Lv => ByView::new(false, true),
            ViewMode::Both => ByView::new(true, true),
        }
    }
}

/// One model's results in one view mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeResult {
    /// The mode.
    pub mode: ViewMode,
    /// Specimens scored.
    pub specimens: usize,
    /// AUCs.
    pub aucs: LevelAucs,
    /// Conditional probabilities per specimen (taxonomy order), for ROC curves.
    #[serde(skip)]
    pub probs: Vec<Vec<f32>>,
    /// The specimens' completed labels, in the order of `probs`.
    #[serde(skip)]
    pub labels: Vec<NodeLabels>,
}

/// Runs a model over the specimens that have both views, once per mode (absent views masked),
/// so the modes are compared on the same animals.
pub fn evaluate(
    model: &mut Classifier,
    dataset: &Dataset,
    modes: &[ViewMode],
    batch: usize,
) -> anyhow::Result<Vec<ModeResult>> {
    let s = dataset.size as usize;
    let bg = model.info.metadata.preprocess.background();
    let both: Vec<_> = dataset.samples.iter().filter(|x| x.dv.is_some() && x.lv.is_some()).collect();
    let mut out = Vec::new();
    for &mode in modes {
        let mut probs = Vec::with_capacity(both.len());
        for chunk in both.chunks(batch.max(1)) {
            let (dv, lv, presence) = model_batch(chunk, mode.presence(), s, bg)?;
            probs.extend(model.predict(&dv, &lv, &presence)?);
        }
        let labels: Vec<_> = both.iter().map(|x| x.labels.clone()).collect();
        let aucs = level_aucs(&model.info.metadata.taxonomy, &probs, &labels);
        out.push(ModeResult { mode, specimens: both.len(), aucs, probs, labels });
    }
    Ok(out)
}

/// A two-view model's DV+LV mean AUC against the best model trained on one view, per level,
/// on the same specimens: the multiview claim of Jawaid et al. (J. Imaging 2025, 11:348), where
/// DV+LV beat the better single view by 0.11 at L2 and 0.23 at L3 with the ConvNeXt backbone,
/// and by 0.01 and 0.03 with the CAE.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiviewGain {
    /// The two-view model.
    pub model: String,
    /// Per level (L1, L2, L3): DV+LV AUC minus the best single-view model's, and that model's
    /// name; `None` where either side has no AUC.
    pub levels: [Option<(f64, String)>; 3],
}

/// [`MultiviewGain`] for every model evaluated in DV+LV in `results` (name, results by mode),
/// against the models evaluated in one mode only (those trained on one view) on the same
/// specimens with the same nodes; a model loaded with other preprocessing may have lost
/// specimens another kept, and is then no baseline. Empty without both kinds.
pub fn multiview_gains(results: &[(&str, &[ModeResult])]) -> Vec<MultiviewGain> {
    let level = |a: &LevelAucs, k: usize| [a.l1, a.l2, a.l3][k];
    let same_nodes =
        |a: &LevelAucs, b: &LevelAucs| a.per_class.iter().map(|(n, _)| n).eq(b.per_class.iter().map(|(n, _)| n));
    let single: Vec<(&str, &ModeResult)> = results
        .iter()
        .filter_map(|(name, modes)| match modes {
            [only] if only.mode != ViewMode::Both => Some((*name, only)),
            _ => None,
        })
        .collect();
    results
        .iter()
        .filter_map(|(name, modes)| {
            let both = modes.iter().find(|m| m.mode == ViewMode::Both)?;
            let comparable: Vec<_> = single
                .iter()
                .filter(|(_, s)| s.specimens == both.specimens && same_nodes(&s.aucs, &both.aucs))
                .collect();
            let levels = std::array::from_fn(|k| {
                let best = comparable
                    .iter()
                    .filter_map(|(n, s)| Some((level(&s.aucs, k)?, *n)))
                    .max_by(|a, b| a.0.total_cmp(&b.0))?;
                Some((level(&both.aucs, k)? - best.0, best.1.to_owned()))
            });
            (!comparable.is_empty()).then(|| MultiviewGain { model: (*name).to_owned(), levels })
        })
        .collect()
}

fn auc_text(a: Option<f64>) -> String {
    a.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

/// One panel per level, one curve per view mode: the macro-average ROC of the level's nodes,
/// labelled with the level's mean AUC (the number in the tables).
pub fn level_roc_panels(taxonomy: &Taxonomy, results: &[ModeResult]) -> Vec<RocPanel> {
    [(Level::L1, "L1 normal / abnormal"), (Level::L2, "L2 groups (mean)"), (Level::L3, "L3 findings (mean)")]
        .into_iter()
        .map(|(level, title)| {
            let series = results
                .iter()
                .map(|r| {
                    let curves: Vec<_> = (0..taxonomy.nodes.len())
                        .filter(|&i| taxonomy.nodes[i].level == level)
                        .map(|i| node_scores(taxonomy, i, &r.probs, &r.labels))
                        .filter(|(_, y)| y.iter().any(|&b| b) && y.iter().any(|&b| !b))
                        .map(|(s, y)| roc_curve(&s, &y))
                        .collect();
                    let mean = match level {
                        Level::L1 => r.aucs.l1,
                        Level::L2 => r.aucs.l2,
                        Level::L3 => r.aucs.l3,
                    };
                    RocSeries {
                        label: format!("{} ({})", r.mode.label(), auc_text(mean)),
                        points: mean_roc(&curves, 101),
                    }
                })
                .collect();
            RocPanel { title: title.into(), series }
        })
        .collect()
}

/// Each node's own ROC curve in one view mode: L1 and L2 in one panel, L3 in another.
pub fn class_roc_panels(taxonomy: &Taxonomy, result: &ModeResult) -> Vec<RocPanel> {
    let panel = |title: &str, keep: &dyn Fn(Level) -> bool| {
        let series = taxonomy
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| keep(n.level))
            .map(|(i, n)| {
                let (s, y) = node_scores(taxonomy, i, &result.probs, &result.labels);
                let auc = result.aucs.per_class.get(i).and_then(|x| x.1);
                RocSeries { label: format!("{} ({})", n.id, auc_text(auc)), points: roc_curve(&s, &y) }
            })
            .collect();
        RocPanel { title: format!("{title}, {}", result.mode.label()), series }
    };
    vec![panel("L1 and L2", &|l| l != Level::L3), panel("L3", &|l| l == Level::L3)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(mode: ViewMode, l: [f64; 3]) -> ModeResult {
        let aucs = LevelAucs { per_class: Vec::new(), l1: Some(l[0]), l2: Some(l[1]), l3: Some(l[2]) };
        ModeResult { mode, specimens: 10, aucs, probs: Vec::new(), labels: Vec::new() }
    }

    #[test]
    fn multiview_gain_is_against_the_best_single_view_model_per_level() {
        let mv = [
            // Its own one-view modes are not the baselines: the models trained on one view are.
            result(ViewMode::Dv, [0.9, 0.9, 0.9]),
            result(ViewMode::Lv, [0.9, 0.9, 0.9]),
            result(ViewMode::Both, [0.75, 0.72, 0.75]),
        ];
        let (dv, lv) = ([result(ViewMode::Dv, [0.56, 0.70, 0.62])], [result(ViewMode::Lv, [0.68, 0.67, 0.68])]);
        let results: [(&str, &[ModeResult]); 3] = [("mv", &mv), ("dv", &dv), ("lv", &lv)];
        let gains = multiview_gains(&results);
        assert_eq!(gains.len(), 1);
        assert_eq!(gains[0].model, "mv");
        let got: Vec<(f64, &str)> =
            gains[0].levels.iter().map(|l| l.as_ref().map_or((f64::NAN, ""), |(g, n)| (*g, n.as_str()))).collect();
        assert!((got[0].0 - 0.07).abs() < 1e-9 && got[0].1 == "lv", "{got:?}");
        assert!((got[1].0 - 0.02).abs() < 1e-9 && got[1].1 == "dv", "{got:?}");
        assert!((got[2].0 - 0.07).abs() < 1e-9 && got[2].1 == "lv", "{got:?}");
        // Without a single-view model there is nothing to compare with.
        assert!(multiview_gains(&results[..1]).is_empty());
        // A single-view model scored on other specimens is no baseline.
        let mut fewer = result(ViewMode::Lv, [0.99, 0.99, 0.99]);
        fewer.specimens = 9;
        let fewer = [fewer];
        let with_fewer: [(&str, &[ModeResult]); 2] = [("mv", &mv), ("lv9", &fewer)];
        assert!(multiview_gains(&with_fewer).is_empty());
        let all: [(&str, &[ModeResult]); 4] = [("mv", &mv), ("dv", &dv), ("lv", &lv), ("lv9", &fewer)];
        assert_eq!(multiview_gains(&all), gains);
    }
}
