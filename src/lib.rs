//! mousexray: review mouse skeletal X-rays with a hierarchical multiview classifier.
//!
//! The library holds all domain logic; the `mousexray` binary is a thin command-line shell over
//! it, and so is the review window ([`gui`]), the only module that depends on egui/eframe.
//!
//! | module | holds |
//! |---|---|
//! | [`taxonomy`] | the L1/L2/L3 abnormality hierarchy and its label rule |
//! | [`specimen`] | folder scanning (four layouts), manifests, `labels.csv`, problems |
//! | [`imaging`] | decoding PNG/JPEG/BMP/TIFF/DICOM to 16-bit gray, the one `preprocess` |
//! | [`contract`] | the model contract: I/O names, typed metadata, their checks |
//! | [`domain`] | whether a film is like a model's training data (Mahalanobis distance of its features) |
//! | [`metrics`] | ROC AUC per class and per level, the per-epoch record |
//! | [`inference`] | ONNX Runtime set-up, execution providers, the batch pipeline, saliency |
//! | [`export`] | the predictions CSV, shards and merging |
//! | [`review`] | review decisions, undo/redo, crash-safe persistence |
//! | [`onnx`] | our ONNX writer (prost messages and a graph builder) |
//! | [`synth`] | phantom radiographs with ground truth |
//! | [`training`] | the classifier (burn), its loss, metrics and training loop |
//! | [`fingerprint`], [`timestamp`] | the stable hash and the clock every module shares |
//! | [`fsx`] | file safety: atomic replacement, the folder lock, setting a damaged file aside |
//! | [`gui`] | the review window (egui), testable headless |
//! | [`cli`] | the command-line interface |
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod cli;
pub mod contract;
pub mod domain;
pub mod export;
pub mod fingerprint;
pub mod fsx;
pub mod gui;
pub mod imaging;
pub mod inference;
pub mod metrics;
pub mod onnx;
pub mod review;
pub mod specimen;
pub mod synth;
pub mod taxonomy;
pub mod timestamp;
pub mod training;
