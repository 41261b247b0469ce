//! The review window (eframe/egui). It holds no domain logic: it calls specimen, imaging,
//! inference, review and export.
//!
//! [`ReviewApp`] is plain egui, so every panel runs headless under egui_kittest; [`run`] is the
//! thin eframe shell around it. Every action is a [`UICommand`] or an [`AppCommand`] carrying
//! what it acts on; panels queue them while drawing and they run after the frame, in one place
//! (`command_handling`); the rules of a decision live in [`crate::review::decide`]. Scanning,
//! decoding, inference and export run on background threads and report through channels, so the
//! UI never waits.

mod app;
mod background;
mod bench;
mod command;
mod command_handling;
mod contact_sheet;
mod dialogs;
mod findings;
mod images;
mod improve;
mod jobs;
mod layout;
mod measure;
mod menus;
mod settings;
mod shell;
mod view_math;
mod viewer;
mod viewer_toolbar;
mod worklist;
mod workspace;

pub use app::{AppOptions, Banner, ReviewApp, Topic};
pub use background::{BackgroundTasks, ClassifyRun};
pub use bench::{GuiBench, make_folder, run as run_gui_bench};
pub use command::UICommand;
pub use command_handling::AppCommand;
pub use contact_sheet::{ContactSheet, THUMBNAIL_SIDE};
pub use dialogs::{Dialog, Purpose};
pub use images::AXIS_SIDE;
pub use improve::ImproveRun;
pub use settings::Settings;
pub use shell::{GuiError, Renderer, display_available, run};
pub use view_math::{Orientation, PanZoom, Placement};
pub use worklist::{Filter, SortColumn};
