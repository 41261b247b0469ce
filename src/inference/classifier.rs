//! A loaded classifier: the ONNX session, its metadata checked against the model contract, and
//! batch prediction. The app, `predict` and `eval` all run models through this type.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView4};
use ort::session::Session;
use ort::value::TensorRef;
use sha2::Digest;

use super::OrtLibrary;
use super::device::{Device, EpReport, register};
use crate::imaging::PreprocessSpec;
use crate::taxonomy::{Level, Taxonomy};

/// The contract version this build reads.
pub const SCHEMA_VERSION: &str = "1";

/// Why a model cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file cannot be read.
    #[error("{}: cannot read the model: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// ONNX Runtime refused the file.
    #[error("{}: not a loadable ONNX model: {reason}", path.display())]
    NotOnnx {
        /// The file.
        path: PathBuf,
        /// ONNX Runtime's message.
        reason: String,
    },
    /// The inputs, outputs or metadata differ from the contract.
    #[error("{}: does not follow the mousexray model contract: {reason}", path.display())]
    Contract {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// Running the model failed.
    #[error("{}: inference failed: {reason}", path.display())]
    Run {
        /// The file.
        path: PathBuf,
        /// ONNX Runtime's message.
        reason: String,
    },
}

/// What a model file says about itself.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The file.
    pub path: PathBuf,
    /// SHA-256 of the file: the model's identity everywhere.
    pub sha256: String,
    /// The taxonomy its outputs follow.
    pub taxonomy: Taxonomy,
    /// How inputs must be preprocessed.
    pub preprocess: PreprocessSpec,
    /// Default threshold per taxonomy node.
    pub thresholds: Vec<f32>,
    /// Training provenance (JSON).
    pub provenance: serde_json::Value,
    /// Whether the model has `cam_dv` / `cam_lv` outputs.
    pub has_cam: bool,
}

impl ModelInfo {
    /// Views the model was trained on (`["dv", "lv"]` for multiview).
    pub fn views(&self) -> Vec<String> {
        self.provenance["views"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_else(|| vec!["dv".into(), "lv".into()])
    }

    /// The weights' precision, "fp32" or "fp16" (a copy from `mousexray fp16`).
    pub fn precision(&self) -> &str {
        self.provenance["precision"].as_str().unwrap_or("fp32")
    }
}

/// A loaded model.
pub struct Classifier {
    session: Session,
    /// Its metadata.
    pub info: ModelInfo,
    /// The execution providers tried and the one that runs.
    pub ep: EpReport,
}

/// Options for loading.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Intra-op threads (0 = ONNX Runtime's choice).
    pub threads: usize,
    /// Let idle threads spin (fast for batch work, wasteful in an interactive app).
    pub spinning: bool,
    /// Which execution provider to use.
    pub device: Device,
    /// Write an ONNX Runtime profile with this file prefix (see [`Classifier::end_profiling`]).
    pub profile: Option<PathBuf>,
}

/// Class activation maps of one specimen and view: `classes` maps of `side x side`, each
/// class's logit contribution per feature cell (see the model contract).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CamMaps {
    /// Cells per side.
    pub side: usize,
    /// Maps (taxonomy order).
    pub classes: usize,
    /// `classes * side * side` values, class-major.
    pub data: Vec<f32>,
}

impl CamMaps {
    /// One class's map (row-major), if the class exists.
    pub fn class(&self, i: usize) -> Option<&[f32]> {
        let n = self.side * self.side;
        self.data.get(i * n..(i + 1) * n)
    }
}

/// A batch's outputs.
#[derive(Debug, Clone, Default)]
pub struct BatchOutput {
    /// Conditional probabilities per specimen (taxonomy order).
    pub probs: Vec<Vec<f32>>,
    /// Per specimen, DV and LV class activation maps, when asked for and the model has them.
    pub cams: Vec<[CamMaps; 2]>,
}

fn contract(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Contract { path: path.to_owned(), reason: reason.into() }
}

impl Classifier {
    /// Loads a model and checks it against the contract.
    pub fn load(path: &Path, lib: &OrtLibrary, options: SessionOptions) -> Result<Classifier, ModelError> {
        let bytes =
            std::fs::read(path).map_err(|e| ModelError::Unreadable { path: path.to_owned(), reason: e.to_string() })?;
        let sha256: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        let not_onnx = |e: String| ModelError::NotOnnx { path: path.to_owned(), reason: e };
        let builder = Session::builder(&lib.environment).map_err(|e| not_onnx(e.to_string()))?;
        let builder = builder.with_intra_threads(options.threads).map_err(|e| not_onnx(e.to_string()))?;
        let mut builder = builder.with_intra_op_spinning(options.spinning).map_err(|e| not_onnx(e.to_string()))?;
        if let Some(prefix) = &options.profile {
            builder = builder.with_profiling(prefix).map_err(|e| not_onnx(e.to_string()))?;
        }
        let ep = register(&mut builder, options.device);
        let session = builder.commit_from_memory(&bytes).map_err(|e| not_onnx(e.to_string()))?;
        let info = read_info(path, sha256, &session)?;
        Ok(Classifier { session, info, ep })
    }

    /// Ends profiling and returns the profile file's path (see [`SessionOptions::profile`]).
    pub fn end_profiling(&mut self) -> Result<PathBuf, ModelError> {
        self.session
            .end_profiling()
            .map(PathBuf::from)
            .map_err(|e| ModelError::Run { path: self.info.path.clone(), reason: e.to_string() })
    }

    /// Conditional probabilities (taxonomy order) for a batch: `dv` and `lv` hold `n` inputs of
    /// `size * size` each (any values where a view is absent), `views[i]` says which are present.
    pub fn predict(&mut self, dv: &[f32], lv: &[f32], views: &[[bool; 2]]) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(self.run(dv, lv, views, false)?.probs)
    }

    /// Runs a batch (see [`Classifier::predict`]); with `cam`, also returns the class activation
    /// maps when the model has them. The inputs are borrowed: ONNX Runtime reads them in place
    /// (or copies them straight to the GPU), with no copy on our side.
    pub fn run(&mut self, dv: &[f32], lv: &[f32], views: &[[bool; 2]], cam: bool) -> Result<BatchOutput, ModelError> {
        let n = views.len();
        let s = self.info.preprocess.size as usize;
        let path = self.info.path.clone();
        let run = |e: String| ModelError::Run { path: path.clone(), reason: e };
        let dv = ArrayView4::from_shape((n, 1, s, s), dv).map_err(|e| run(e.to_string()))?;
        let lv = ArrayView4::from_shape((n, 1, s, s), lv).map_err(|e| run(e.to_string()))?;
        let presence: Vec<f32> = views.iter().flat_map(|v| v.map(|b| if b { 1.0 } else { 0.0 })).collect();
        let presence = Array2::from_shape_vec((n, 2), presence).map_err(|e| run(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![
                "dv" => TensorRef::from_array_view(dv).map_err(|e| run(e.to_string()))?,
                "lv" => TensorRef::from_array_view(lv).map_err(|e| run(e.to_string()))?,
                "views" => TensorRef::from_array_view(&presence).map_err(|e| run(e.to_string()))?,
            ])
            .map_err(|e| run(e.to_string()))?;
        let mut probs = vec![Vec::with_capacity(self.info.taxonomy.nodes.len()); n];
        for name in ["l1", "l2", "l3"] {
            let (shape, data) = outputs[name].try_extract_tensor::<f32>().map_err(|e| run(e.to_string()))?;
            let width = shape.get(1).copied().unwrap_or(0).max(0) as usize;
            if data.len() != n * width {
                return Err(run(format!("output {name} has {} values for {n} specimens", data.len())));
            }
            for (i, row) in data.chunks(width.max(1)).enumerate().take(n) {
                probs[i].extend_from_slice(row);
            }
        }
        let mut cams = Vec::new();
        if cam && self.info.has_cam {
            let mut per_view = Vec::new();
            for name in ["cam_dv", "cam_lv"] {
                let (shape, data) = outputs[name].try_extract_tensor::<f32>().map_err(|e| run(e.to_string()))?;
                let dims: Vec<usize> = shape.iter().map(|d| (*d).max(0) as usize).collect();
                let [_, classes, h, w] = dims[..] else {
                    return Err(run(format!("output {name} has shape {dims:?}, expected [N, classes, h, w]")));
                };
                if h != w || data.len() != n * classes * h * w {
                    return Err(run(format!("output {name} has shape {dims:?} for {n} specimens")));
                }
                let per = classes * h * w;
                per_view.push(
                    data.chunks(per.max(1))
                        .take(n)
                        .map(|c| CamMaps { side: h, classes, data: c.to_vec() })
                        .collect::<Vec<_>>(),
                );
            }
            let lv_maps = per_view.pop().unwrap_or_default();
            let dv_maps = per_view.pop().unwrap_or_default();
            cams = dv_maps.into_iter().zip(lv_maps).map(|(a, b)| [a, b]).collect();
        }
        Ok(BatchOutput { probs, cams })
    }
}

/// Reads and checks the metadata, inputs and outputs.
fn read_info(path: &Path, sha256: String, session: &Session) -> Result<ModelInfo, ModelError> {
    let inputs: Vec<(String, usize)> = session
        .inputs()
        .iter()
        .map(|i| (i.name().to_owned(), i.dtype().tensor_shape().map_or(0, |s| s.len())))
        .collect();
    for (name, rank) in [("dv", 4), ("lv", 4), ("views", 2)] {
        match inputs.iter().find(|(n, _)| n == name) {
            None => {
                let have: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
                return Err(contract(path, format!("no input `{name}` (inputs: {})", have.join(", "))));
            }
            Some((_, r)) if *r != rank => {
                return Err(contract(path, format!("input `{name}` has rank {r}, expected {rank}")));
            }
            Some(_) => {}
        }
    }
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    for name in ["l1", "l2", "l3"] {
        if !outputs.contains(&name) {
            return Err(contract(path, format!("no output `{name}` (outputs: {})", outputs.join(", "))));
        }
    }
    let has_cam = outputs.contains(&"cam_dv") && outputs.contains(&"cam_lv");
    let meta = session.metadata().map_err(|e| contract(path, e.to_string()))?;
    let get = |key: &str| meta.custom(key).ok_or_else(|| contract(path, format!("metadata `{key}` missing")));
    let schema = get("mousexray.schema")?;
    if schema != SCHEMA_VERSION {
        return Err(contract(path, format!("schema {schema}, this build reads {SCHEMA_VERSION}")));
    }
    let taxonomy = Taxonomy::from_json(&get("mousexray.taxonomy")?).map_err(|e| contract(path, e.to_string()))?;
    let preprocess: PreprocessSpec =
        serde_json::from_str(&get("mousexray.preprocess")?).map_err(|e| contract(path, format!("preprocess: {e}")))?;
    preprocess.validate().map_err(|e| contract(path, format!("preprocess: {e}")))?;
    let thresholds: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&get("mousexray.thresholds")?).map_err(|e| contract(path, format!("thresholds: {e}")))?;
    let thresholds = taxonomy
        .nodes
        .iter()
        .map(|n| thresholds.get(&n.id).and_then(serde_json::Value::as_f64).unwrap_or(0.5) as f32)
        .collect();
    let provenance =
        serde_json::from_str(&get("mousexray.provenance")?).map_err(|e| contract(path, format!("provenance: {e}")))?;
    let levels = [Level::L1, Level::L2, Level::L3].map(|l| taxonomy.level(l).count());
    if levels.contains(&0) {
        return Err(contract(path, format!("taxonomy has {levels:?} nodes per level")));
    }
    Ok(ModelInfo { path: path.to_owned(), sha256, taxonomy, preprocess, thresholds, provenance, has_cam })
}
