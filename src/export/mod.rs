//! What mousexray writes for other tools: the predictions CSV (and, with review, decisions).

pub mod predictions;
