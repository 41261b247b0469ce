//! The integration tests, one module per area, linked into one test binary: each binary links
//! the whole dependency tree (burn, wgpu, eframe), so 26 modules in one binary instead of 26
//! binaries save most of the tests' build time. `tests/review_readonly.rs` stays apart because
//! it sets XDG_DATA_HOME for its whole process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod gui_support;

mod calibrate;
mod cli;
mod decode;
mod domain;
mod file_faults;
mod film_qc;
mod fp16;
mod fuzz;
mod gradcheck;
mod gui;
mod gui_models;
mod gui_triage;
mod hostile;
mod impc_labels;
mod invariance;
mod models;
mod onnx_writer;
mod ort_runtime;
mod parity;
mod predict;
mod review;
mod review_crash;
mod review_lock;
mod scan;
mod spine;
mod synth;
mod train;
