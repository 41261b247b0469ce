//! Running models through ONNX Runtime. For now: finding and loading the runtime library.

mod runtime;

pub use runtime::{LibrarySource, OrtLibrary, OrtSetupError, candidates, init_runtime, locate_library};
