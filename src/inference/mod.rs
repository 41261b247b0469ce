//! Running models through ONNX Runtime: finding and loading the runtime library, and loading
//! classifiers checked against the model contract.

mod classifier;
pub mod device;
pub mod hierarchy;
pub mod pipeline;
mod runtime;
pub mod saliency;
pub mod stored;

pub use classifier::{BatchOutput, CamMaps, Classifier, ModelError, ModelInfo, SessionOptions};
pub use device::{Device, EpOutcome, EpReport, EpStatus, Provider};

pub use runtime::{
    DEFAULT_MODELS, LibrarySource, OrtLibrary, OrtSetupError, candidates, init_runtime, locate_library, locate_model,
    model_candidates,
};
