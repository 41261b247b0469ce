//! Running models through ONNX Runtime: finding and loading the runtime library, and loading
//! classifiers checked against the model contract.

mod classifier;
mod runtime;

pub use classifier::{Classifier, ModelError, ModelInfo, SCHEMA_VERSION, SessionOptions};

pub use runtime::{LibrarySource, OrtLibrary, OrtSetupError, candidates, init_runtime, locate_library};
