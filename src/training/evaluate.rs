//! Evaluating a model file on a labelled folder, by view mode, through the same inference code
//! the app uses.

use serde::{Deserialize, Serialize};

use super::data::Dataset;
use super::metrics::{LevelAucs, level_aucs};
use crate::inference::{Classifier, ModelError};

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

    fn presence(self) -> [bool; 2] {
        match self {
            ViewMode::Dv => [true, false],
            ViewMode::Lv => [false, true],
            ViewMode::Both => [true, true],
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
}

/// Runs a model over the specimens that have both views, once per mode (absent views masked),
/// so the modes are compared on the same animals.
pub fn evaluate(
    model: &mut Classifier,
    dataset: &Dataset,
    modes: &[ViewMode],
    batch: usize,
) -> Result<Vec<ModeResult>, ModelError> {
    let s = dataset.size as usize;
    let bg = model.info.preprocess.background();
    let both: Vec<_> = dataset.samples.iter().filter(|x| x.dv.is_some() && x.lv.is_some()).collect();
    let mut out = Vec::new();
    for &mode in modes {
        let mut probs = Vec::with_capacity(both.len());
        for chunk in both.chunks(batch.max(1)) {
            let (mut dv, mut lv) = (Vec::with_capacity(chunk.len() * s * s), Vec::with_capacity(chunk.len() * s * s));
            for x in chunk {
                let p = mode.presence();
                dv.extend(x.dv.as_deref().filter(|_| p[0]).map_or_else(|| vec![bg; s * s], <[f32]>::to_vec));
                lv.extend(x.lv.as_deref().filter(|_| p[1]).map_or_else(|| vec![bg; s * s], <[f32]>::to_vec));
            }
            probs.extend(model.predict(dv, lv, &vec![mode.presence(); chunk.len()])?);
        }
        let labels: Vec<_> = both.iter().map(|x| x.labels.clone()).collect();
        let aucs = level_aucs(&model.info.taxonomy, &probs, &labels);
        out.push(ModeResult { mode, specimens: both.len(), aucs, probs });
    }
    Ok(out)
}
