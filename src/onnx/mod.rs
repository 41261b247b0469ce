//! Writing ONNX files ourselves: burn's exporter lacks LayerNorm, Erf, Transpose and
//! ConvTranspose, so the few messages we need are declared with prost and assembled by a small
//! graph builder (opset 17, IR 8).

mod builder;
pub mod features;
pub mod fp16;
pub mod head;
pub mod proto;

pub use builder::{Attr, Dim, Graph, IR_VERSION, OPSET, encode};
