//! A loaded classifier: the ONNX session, its metadata checked against the model contract, and
//! batch prediction. The app, `predict` and `eval` all run models through this type.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView4};
use ort::session::Session;
use ort::value::TensorRef;

use super::OrtLibrary;
use super::device::{Device, EpReport, register};
use crate::contract::{ModelMetadata, check_outputs, io};
use crate::domain::DomainScore;
use crate::specimen::{ByView, View};

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
    /// Its contract metadata: taxonomy, preprocessing, thresholds, provenance, feature blocks
    /// and domain description (`None`: domain unknown).
    pub metadata: ModelMetadata,
    /// Whether the model has `cam_dv` / `cam_lv` outputs.
    pub has_cam: bool,
    /// Whether the model has `features_dv` / `features_lv` outputs.
    pub has_features: bool,
}

impl ModelInfo {
    /// Views the model was trained on (DV and LV for multiview).
    pub fn views(&self) -> &[View] {
        &self.metadata.provenance.views
    }

    /// Which of DV and LV the model uses.
    pub fn uses(&self) -> ByView<bool> {
        self.metadata.uses()
    }

    /// The weights' precision, "fp32" or "fp16" (a copy from `mousexray fp16`).
    pub fn precision(&self) -> &'static str {
        self.metadata.provenance.precision.as_str()
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
    pub cams: Vec<ByView<CamMaps>>,
    /// Per specimen, DV and LV pooled features (`C` values each) of the views present, when
    /// the model has them (empty otherwise).
    pub features: Vec<ByView<Option<Vec<f32>>>>,
    /// Per specimen, the domain scores of the views present, when the model has a domain
    /// description (empty otherwise).
    pub domain: Vec<DomainScore>,
}

fn contract(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Contract { path: path.to_owned(), reason: reason.into() }
}

impl Classifier {
    /// Loads a model and checks it against the contract.
    pub fn load(path: &Path, lib: &OrtLibrary, options: SessionOptions) -> Result<Classifier, ModelError> {
        let bytes =
            std::fs::read(path).map_err(|e| ModelError::Unreadable { path: path.to_owned(), reason: e.to_string() })?;
        Classifier::load_bytes(path, &bytes, lib, options)
    }

    /// Loads a model already in memory; `path` names it in messages.
    pub fn load_bytes(
        path: &Path,
        bytes: &[u8],
        lib: &OrtLibrary,
        options: SessionOptions,
    ) -> Result<Classifier, ModelError> {
        let sha256 = crate::fingerprint::sha256_hex(bytes);
        let not_onnx = |e: String| ModelError::NotOnnx { path: path.to_owned(), reason: e };
        let builder = Session::builder(&lib.environment).map_err(|e| not_onnx(e.to_string()))?;
        let builder = builder.with_intra_threads(options.threads).map_err(|e| not_onnx(e.to_string()))?;
        let mut builder = builder.with_intra_op_spinning(options.spinning).map_err(|e| not_onnx(e.to_string()))?;
        if let Some(prefix) = &options.profile {
            builder = builder.with_profiling(prefix).map_err(|e| not_onnx(e.to_string()))?;
        }
        let ep = register(&mut builder, options.device);
        let session = builder.commit_from_memory(bytes).map_err(|e| not_onnx(e.to_string()))?;
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
    pub fn predict(&mut self, dv: &[f32], lv: &[f32], views: &[ByView<bool>]) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(self.run(dv, lv, views, false)?.probs)
    }

    /// Runs a batch (see [`Classifier::predict`]); with `cam`, also returns the class activation
    /// maps when the model has them. The inputs are borrowed: ONNX Runtime reads them in place
    /// (or copies them straight to the GPU), with no copy on our side.
    pub fn run(
        &mut self,
        dv: &[f32],
        lv: &[f32],
        views: &[ByView<bool>],
        cam: bool,
    ) -> Result<BatchOutput, ModelError> {
        let n = views.len();
        let s = self.info.metadata.preprocess.size as usize;
        let path = self.info.path.clone();
        let run = |e: String| ModelError::Run { path: path.clone(), reason: e };
        let dv = ArrayView4::from_shape((n, 1, s, s), dv).map_err(|e| run(e.to_string()))?;
        let lv = ArrayView4::from_shape((n, 1, s, s), lv).map_err(|e| run(e.to_string()))?;
        let presence: Vec<f32> = views.iter().flat_map(|v| v.map(|b| if b { 1.0 } else { 0.0 }).into_array()).collect();
        let presence = Array2::from_shape_vec((n, 2), presence).map_err(|e| run(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![
                io::DV => TensorRef::from_array_view(dv).map_err(|e| run(e.to_string()))?,
                io::LV => TensorRef::from_array_view(lv).map_err(|e| run(e.to_string()))?,
                io::VIEWS => TensorRef::from_array_view(&presence).map_err(|e| run(e.to_string()))?,
            ])
            .map_err(|e| run(e.to_string()))?;
        let mut probs = vec![Vec::with_capacity(self.info.metadata.taxonomy.nodes.len()); n];
        for name in io::LEVELS {
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
            for name in [io::CAM_DV, io::CAM_LV] {
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
            cams = dv_maps.into_iter().zip(lv_maps).map(|(a, b)| ByView::new(a, b)).collect();
        }
        let mut features: Vec<ByView<Option<Vec<f32>>>> = Vec::new();
        if self.info.has_features {
            features = vec![ByView::default(); n];
            for (view, name) in [(View::Dv, io::FEATURES_DV), (View::Lv, io::FEATURES_LV)] {
                let (shape, data) = outputs[name].try_extract_tensor::<f32>().map_err(|e| run(e.to_string()))?;
                let width = shape.get(1).copied().unwrap_or(0).max(0) as usize;
                if width == 0 || data.len() != n * width {
                    return Err(run(format!("output {name} has {} values for {n} specimens", data.len())));
                }
                for (i, row) in data.chunks(width).enumerate().take(n) {
                    if views[i][view] {
                        features[i][view] = Some(row.to_vec());
                    }
                }
            }
        }
        let domain = match &self.info.metadata.domain {
            Some(d) if !features.is_empty() => {
                features.iter().map(|f| d.score(f.as_ref().map(|x| x.as_deref()))).collect()
            }
            _ => Vec::new(),
        };
        Ok(BatchOutput { probs, cams, features, domain })
    }
}

/// Reads and checks the metadata, inputs and outputs.
fn read_info(path: &Path, sha256: String, session: &Session) -> Result<ModelInfo, ModelError> {
    let inputs: Vec<(String, usize)> = session
        .inputs()
        .iter()
        .map(|i| (i.name().to_owned(), i.dtype().tensor_shape().map_or(0, |s| s.len())))
        .collect();
    for (name, rank) in [(io::DV, 4), (io::LV, 4), (io::VIEWS, 2)] {
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
    let outputs: Vec<(&str, Option<i64>)> = session
        .outputs()
        .iter()
        .map(|o| (o.name(), o.dtype().tensor_shape().and_then(|s| s.get(1).copied())))
        .collect();
    let has = |name: &str| outputs.iter().any(|(n, _)| *n == name);
    let mut widths = [0usize; 3];
    for (w, name) in widths.iter_mut().zip(io::LEVELS) {
        let Some((_, width)) = outputs.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = outputs.iter().map(|(n, _)| *n).collect();
            return Err(contract(path, format!("no output `{name}` (outputs: {})", names.join(", "))));
        };
        *w = width.unwrap_or(0).max(0) as usize;
    }
    let has_cam = has(io::CAM_DV) && has(io::CAM_LV);
    let has_features = has(io::FEATURES_DV) && has(io::FEATURES_LV);
    let meta = session.metadata().map_err(|e| contract(path, e.to_string()))?;
    let m = ModelMetadata::from_props(|key| meta.custom(key)).map_err(|e| contract(path, e))?;
    check_outputs(widths, &m.taxonomy).map_err(|e| contract(path, e))?;
    if m.domain.is_some() && !has_features {
        return Err(contract(path, "a domain description without `features_dv` / `features_lv` outputs"));
    }
    Ok(ModelInfo { path: path.to_owned(), sha256, metadata: m, has_cam, has_features })
}
