//! Training the hierarchical multiview classifier with burn (CPU backend `flex`).

pub mod calibration;
pub mod data;
pub mod device;
pub mod domain_eval;
pub mod domain_fit;
pub mod evaluate;
pub mod film_qc_eval;
pub mod improve;
pub mod input_cache;
pub mod invariance;
pub mod loss;
pub mod model;
pub mod onnx_export;
pub mod onnx_import;
pub mod package;
pub mod paired_eval;
pub mod pairs;
pub mod posture_eval;
pub mod roc_plot;
pub mod spine_evidence;
pub mod train;
