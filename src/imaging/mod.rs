//! Images: decoding every supported format to 16-bit gray, and the one preprocessing function
//! shared by training and inference.

mod body_axis;
mod crop_frame;
mod decode;
mod dicom;
mod dicom_lengths;
mod display;
mod film;
pub mod film_qc;
mod format;
mod gray;
mod jpeg_structure;
mod preprocess;
mod ruler;
mod straight_bands;
mod transform;

pub use body_axis::{BodyAxis, body_axis};
pub use crop_frame::CropFrame;
pub use decode::{DecodeError, DecodeOptions, decode};
pub use dicom::{DicomWriteOptions, PixelSpacing, pixel_spacing_mm, write_dicom};
pub use display::{Window, display_gray, shrink16};
pub(crate) use film::dilate;
pub use film_qc::{FilmMeasures, QcCode, specimen_qc};
pub use format::{FileFormat, SNIFF_LEN};
pub use gray::GrayImage16;
pub use preprocess::{ClipRegion, ModelInput, Polarity, PreprocessSpec, Preprocessed, preprocess, preprocess_film};
pub use ruler::{RulerReading, find_ruler};
pub use transform::AnimalMask;
pub use transform::{Transform, affine_to_model};
