//! What mousexray writes for other tools: the predictions CSV and the reviewed results.

pub mod predictions;
pub mod review_csv;
