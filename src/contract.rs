//! The model contract: what a mousexray ONNX file holds. Its names, its metadata and their
//! checks live here and nowhere else; training writes through [`ModelMetadata::to_props`],
//! inference reads through [`ModelMetadata::from_props`] and [`check_outputs`].
//!
//! | | name | shape | meaning |
//! |---|---|---|---|
//! | input | `dv`, `lv` | `[N, 1, S, S]` float32 | preprocessed views ([`crate::imaging::preprocess`]) |
//! | input | `views` | `[N, 2]` float32 | 1 where DV / LV is present, 0 where masked |
//! | output | `l1`, `l2`, `l3` | `[N, 1]`, `[N, 3]`, `[N, 10]` | P(node \| parent positive), taxonomy order |
//! | output (optional) | `cam_dv`, `cam_lv` | `[N, K, h, w]` | each class's logit contribution per cell |
//! | output (schema 2) | `features_dv`, `features_lv` | `[N, C]` | pooled, normalised features per view, in blocks |
//!
//! Metadata (ONNX `metadata_props`, JSON values): `mousexray.schema`, `.taxonomy`,
//! `.preprocess`, `.thresholds`, `.provenance`, and from schema 2 `.features` (the widths of the
//! feature outputs' blocks, each a feature map averaged over its cells, earliest layer first) and
//! the optional `.domain` ([`crate::domain::DomainDescription`]). Schema 1 files (no features, no domain) still load;
//! their domain is unknown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::DomainDescription;
use crate::imaging::PreprocessSpec;
use crate::metrics::EpochRecord;
use crate::specimen::{ByView, View};
use crate::taxonomy::{Level, Taxonomy};

/// The contract version written.
pub const SCHEMA: u32 = 2;
/// The oldest version this build reads.
pub const OLDEST_SCHEMA: u32 = 1;

/// Graph input and output names.
pub mod io {
    /// Input: DV images.
    pub const DV: &str = "dv";
    /// Input: LV images.
    pub const LV: &str = "lv";
    /// Input: view presence.
    pub const VIEWS: &str = "views";
    /// Output: L1 probabilities.
    pub const L1: &str = "l1";
    /// Output: L2 probabilities.
    pub const L2: &str = "l2";
    /// Output: L3 probabilities.
    pub const L3: &str = "l3";
    /// The three levels' outputs, in taxonomy order.
    pub const LEVELS: [&str; 3] = [L1, L2, L3];
    /// Output: DV class activation maps.
    pub const CAM_DV: &str = "cam_dv";
    /// Output: LV class activation maps.
    pub const CAM_LV: &str = "cam_lv";
    /// Output: DV pooled features.
    pub const FEATURES_DV: &str = "features_dv";
    /// Output: LV pooled features.
    pub const FEATURES_LV: &str = "features_lv";
}

/// Metadata keys.
pub mod key {
    /// The contract version.
    pub const SCHEMA: &str = "mousexray.schema";
    /// The taxonomy (JSON).
    pub const TAXONOMY: &str = "mousexray.taxonomy";
    /// The preprocessing (JSON).
    pub const PREPROCESS: &str = "mousexray.preprocess";
    /// Thresholds by node id (JSON).
    pub const THRESHOLDS: &str = "mousexray.thresholds";
    /// Provenance (JSON).
    pub const PROVENANCE: &str = "mousexray.provenance";
    /// The domain description (JSON).
    pub const DOMAIN: &str = "mousexray.domain";
    /// Widths of the blocks of the feature outputs (JSON array).
    pub const FEATURES: &str = "mousexray.features";
}

/// The weights' precision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 (as trained).
    #[default]
    Fp32,
    /// float16 (a copy from `mousexray fp16`).
    Fp16,
}

impl Precision {
    /// `fp32` or `fp16`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
        }
    }
}

fn both_views() -> Vec<View> {
    View::MODEL.to_vec()
}

/// Where a model came from (`mousexray.provenance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// mousexray version that wrote it.
    #[serde(default)]
    pub mousexray: String,
    /// Backbone kind (`cae`, `convnext`).
    #[serde(default)]
    pub backbone: String,
    /// Views the model uses.
    #[serde(default = "both_views")]
    pub views: Vec<View>,
    /// The weights' precision.
    #[serde(default)]
    pub precision: Precision,
    /// The training run, for trained models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSummary>,
    /// Dataset fingerprint.
    #[serde(default)]
    pub dataset: String,
    /// Git commit of the source the training binary was built from (12 hex digits), or
    /// "unknown" when it was built outside a git checkout.
    #[serde(default)]
    pub git_commit: String,
    /// UTC date written (YYYY-MM-DD).
    #[serde(default)]
    pub date: String,
    /// The calibration folded into the head, when calibrated (`mousexray calibrate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationRecord>,
    /// Anything else recorded (kept as written).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Provenance {
    /// The views as people write them: `DV+LV`, `LV`.
    pub fn views_label(&self) -> String {
        self.views.iter().map(|v| v.as_str().to_uppercase()).collect::<Vec<_>>().join("+")
    }
}

/// How a model's probabilities were calibrated: per node, the map `logit' = a * logit + b`
/// folded into its head (`training::calibration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRecord {
    /// `platt`.
    pub method: String,
    /// UTC date (YYYY-MM-DD).
    pub date: String,
    /// The folders whose validation split it was fitted on.
    pub data: String,
    /// Validation specimens.
    pub specimens: usize,
    /// Node id to `[a, b]`; a node absent (too few validation specimens) was left as it was.
    pub maps: BTreeMap<String, [f64; 2]>,
}

/// The training run's history and choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// The epoch whose weights were kept (1-based, 0 = none).
    #[serde(default)]
    pub best_epoch: usize,
    /// Every epoch's figures.
    #[serde(default)]
    pub history: Vec<EpochRecord>,
    /// The rest of the run's state (options, counts), kept as written.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl TrainingSummary {
    /// The best epoch's record.
    pub fn best(&self) -> Option<&EpochRecord> {
        self.history.iter().find(|r| r.epoch == self.best_epoch)
    }
}

/// Everything a model says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetadata {
    /// The contract version it was written under.
    pub schema: u32,
    /// The taxonomy its outputs follow.
    pub taxonomy: Taxonomy,
    /// How its inputs are made.
    pub preprocess: PreprocessSpec,
    /// Default threshold per taxonomy node (taxonomy order).
    pub thresholds: Vec<f32>,
    /// Where it came from.
    pub provenance: Provenance,
    /// Widths of the blocks of `features_dv` / `features_lv` (empty: no feature outputs).
    pub features: Vec<usize>,
    /// What its training inputs look like in its feature space, when described.
    pub domain: Option<DomainDescription>,
}

impl ModelMetadata {
    /// The metadata as ONNX `metadata_props` (key, JSON value).
    pub fn to_props(&self) -> Result<Vec<(String, String)>, String> {
        let json = |what: &str, r: serde_json::Result<String>| r.map_err(|e| format!("{what}: {e}"));
        let thresholds: BTreeMap<&str, f32> =
            self.taxonomy.nodes.iter().zip(&self.thresholds).map(|(n, t)| (n.id.as_str(), *t)).collect();
        let mut props = vec![
            (key::SCHEMA.to_owned(), self.schema.to_string()),
            (key::TAXONOMY.to_owned(), self.taxonomy.to_json()),
            (key::PREPROCESS.to_owned(), json("preprocess", serde_json::to_string(&self.preprocess))?),
            (key::THRESHOLDS.to_owned(), json("thresholds", serde_json::to_string(&thresholds))?),
            (key::PROVENANCE.to_owned(), json("provenance", serde_json::to_string(&self.provenance))?),
        ];
        if !self.features.is_empty() {
            props.push((key::FEATURES.to_owned(), json("features", serde_json::to_string(&self.features))?));
        }
        if let Some(domain) = &self.domain {
            props.push((key::DOMAIN.to_owned(), json("domain", serde_json::to_string(domain))?));
        }
        Ok(props)
    }

    /// Reads and checks the metadata; `get` returns a key's value. Errors say which key and why.
    pub fn from_props(get: impl Fn(&str) -> Option<String>) -> Result<ModelMetadata, String> {
        let need = |k: &str| get(k).ok_or_else(|| format!("metadata `{k}` missing"));
        let schema_text = need(key::SCHEMA)?;
        let schema: u32 = schema_text.trim().parse().map_err(|_| format!("schema `{schema_text}` is not a number"))?;
        if !(OLDEST_SCHEMA..=SCHEMA).contains(&schema) {
            return Err(format!("schema {schema}, this build reads {OLDEST_SCHEMA} to {SCHEMA}"));
        }
        let taxonomy = Taxonomy::from_json(&need(key::TAXONOMY)?).map_err(|e| e.to_string())?;
        let levels = [Level::L1, Level::L2, Level::L3].map(|l| taxonomy.level(l).count());
        if levels.contains(&0) {
            return Err(format!("taxonomy has {levels:?} nodes per level"));
        }
        let preprocess: PreprocessSpec =
            serde_json::from_str(&need(key::PREPROCESS)?).map_err(|e| format!("preprocess: {e}"))?;
        preprocess.validate().map_err(|e| format!("preprocess: {e}"))?;
        let by_id: BTreeMap<String, f32> =
            serde_json::from_str(&need(key::THRESHOLDS)?).map_err(|e| format!("thresholds: {e}"))?;
        let thresholds = taxonomy.nodes.iter().map(|n| by_id.get(&n.id).copied().unwrap_or(0.5)).collect();
        let provenance: Provenance =
            serde_json::from_str(&need(key::PROVENANCE)?).map_err(|e| format!("provenance: {e}"))?;
        if provenance.views.is_empty() || provenance.views.iter().any(|v| !v.is_model_view()) {
            return Err(format!("provenance: views {:?}, expected DV and/or LV", provenance.views));
        }
        let features: Vec<usize> = match get(key::FEATURES) {
            None => Vec::new(),
            Some(text) => serde_json::from_str(&text).map_err(|e| format!("features: {e}"))?,
        };
        let domain = match get(key::DOMAIN) {
            None => None,
            Some(text) => {
                let d: DomainDescription = serde_json::from_str(&text).map_err(|e| format!("domain: {e}"))?;
                d.validate().map_err(|e| format!("domain: {e}"))?;
                let width: usize = features.iter().sum();
                if let Some(v) = d.views.iter().find(|v| v.dim() != width) {
                    return Err(format!(
                        "domain: the {} description is {} features wide, the feature outputs {width} ({features:?})",
                        v.view.as_str(),
                        v.dim()
                    ));
                }
                Some(d)
            }
        };
        Ok(ModelMetadata { schema, taxonomy, preprocess, thresholds, provenance, features, domain })
    }

    /// The readable report kept beside a model (`NAME.json`): provenance, thresholds by node id
    /// and the domain description's summary (without its arrays).
    pub fn report(&self) -> serde_json::Value {
        let thresholds: BTreeMap<&str, f32> =
            self.taxonomy.nodes.iter().zip(&self.thresholds).map(|(n, t)| (n.id.as_str(), *t)).collect();
        let mut report = serde_json::json!({ "provenance": self.provenance, "thresholds": thresholds });
        if let Some(d) = &self.domain {
            report["domain"] = crate::domain::summary_json(d);
        }
        report
    }

    /// Which of DV and LV the model uses.
    pub fn uses(&self) -> ByView<bool> {
        ByView::from_fn(|v| self.provenance.views.contains(&v))
    }
}

/// Checks the widths of `l1`, `l2` and `l3` against the taxonomy's levels.
pub fn check_outputs(widths: [usize; 3], taxonomy: &Taxonomy) -> Result<(), String> {
    let expected = [Level::L1, Level::L2, Level::L3].map(|l| taxonomy.level(l).count());
    for ((name, got), want) in io::LEVELS.iter().zip(widths).zip(expected) {
        if got != want {
            return Err(format!("output `{name}` has {got} classes, the taxonomy has {want}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn metadata() -> ModelMetadata {
        let taxonomy = Taxonomy::default();
        let thresholds = (0..taxonomy.nodes.len()).map(|i| 0.3 + i as f32 * 0.01).collect();
        ModelMetadata {
            schema: SCHEMA,
            taxonomy,
            preprocess: PreprocessSpec::default(),
            thresholds,
            provenance: serde_json::from_str(r#"{"backbone":"cae","views":["lv"],"custom":1}"#).unwrap(),
            features: vec![8, 16],
            domain: None,
        }
    }

    #[test]
    fn metadata_round_trips_and_keeps_unknown_provenance() {
        let m = metadata();
        let props = m.to_props().unwrap();
        let get = |k: &str| props.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let back = ModelMetadata::from_props(get).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.provenance.extra["custom"], 1);
        assert_eq!(back.uses(), ByView::new(false, true));
        assert!(get(key::DOMAIN).is_none());
    }

    #[test]
    fn schema_one_reads_and_unknown_schemas_are_refused() {
        let props = metadata().to_props().unwrap();
        let with = |schema: &str| {
            let props = props.clone();
            let schema = schema.to_owned();
            ModelMetadata::from_props(move |k| {
                if k == key::SCHEMA {
                    Some(schema.clone())
                } else {
                    props.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
                }
            })
        };
        assert_eq!(with("1").unwrap().schema, 1);
        assert!(with("3").unwrap_err().contains("schema 3"));
        assert!(with("x").unwrap_err().contains("not a number"));
    }

    #[test]
    fn output_widths_are_checked_against_the_taxonomy() {
        let t = Taxonomy::default();
        assert!(check_outputs([1, 3, 10], &t).is_ok());
        assert!(check_outputs([1, 3, 9], &t).unwrap_err().contains("`l3` has 9"));
    }
}
