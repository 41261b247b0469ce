//! The reviewer's decisions: what they are, how they change, and how they survive crashes.

pub mod as_labels;
pub mod decision;
pub mod measurement;
pub mod model;
pub mod reading;
pub mod session;
pub mod store;

pub use as_labels::{ReviewLabelReport, review_labels};
pub use decision::{Decided, Decision, DecisionError, decide, implied_call, tree_order};
pub use measurement::{MeasureKind, MeasuredValue, Measurement, Scale};
pub use model::{Call, Edit, QcReason, ReviewState, Shown, SpecimenReview, Status};
pub use reading::{Agreement, Reading, compare};
pub use session::{BatchDecided, ReviewSession, SNAPSHOT_DELAY};
pub use store::{ReviewError, ReviewStore, has_reading, read_reading, read_review, reading_dir, review_dir};
