//! Everything the window remembers between runs, in one `#[serde(default)]` struct, so a file
//! written by an older or newer version still loads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::view_math::Orientation;
use super::worklist::{Filter, SortColumn};
use crate::inference::saliency::Colormap;

/// How many recent folders are kept.
pub const RECENT_MAX: usize = 10;

/// Persisted preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Recorded with every review edit.
    pub reviewer: String,
    /// The reviewer confirmed their name (asked once, at the first launch).
    pub reviewer_confirmed: bool,
    /// Execution device: auto, cpu, cuda, tensorrt (see `mousexray doctor`).
    pub device: String,
    /// Intra-op threads for the model (0: ONNX Runtime decides).
    pub threads: usize,
    /// The model to use; empty for the default lookup.
    pub model: Option<PathBuf>,
    /// Per-node threshold overrides (node id to probability); others come from the model.
    pub thresholds: BTreeMap<String, f32>,
    /// Saliency colour map.
    pub colormap: Colormap,
    /// Overlay opacity 0..=1.
    pub overlay_opacity: f32,
    /// Hide saliency weaker than this fraction of the map's maximum.
    pub overlay_threshold: f32,
    /// Draw the saliency as contour lines instead of a filled map.
    pub overlay_contour: bool,
    /// Move to the next specimen after a call.
    pub auto_advance: bool,
    /// Review as the blinded second reader (Review > Second reading): calls go to the folder's
    /// second reading, and the first reader's stay hidden until the second reader decides.
    pub second_reading: bool,
    /// Most recent first.
    pub recent_folders: Vec<PathBuf>,
    /// How the window was laid out and sorted when it was last closed.
    pub view: ViewPrefs,
    /// The specimen last viewed in each recent folder (folder, specimen id), most recent first.
    pub last_viewed: Vec<(PathBuf, String)>,
}

/// The reviewer's view of the window, kept between runs: panels, worklist order and filter,
/// and the films' display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewPrefs {
    /// The worklist on the left is shown.
    pub worklist_panel: bool,
    /// The findings panel on the right is shown.
    pub findings_panel: bool,
    /// Worklist sort column.
    pub sort: SortColumn,
    /// Worklist sorted descending.
    pub descending: bool,
    /// Worklist filter.
    pub filter: Filter,
    /// DV and LV zoom and pan together.
    pub linked: bool,
    /// Grey levels inverted.
    pub invert: bool,
    /// Display orientation of both views.
    pub orientation: Orientation,
    /// Hanging protocol: every film turned so the animal's head is up.
    pub head_up: bool,
    /// The centre shows the contact sheet instead of the films.
    pub contact_sheet: bool,
    /// The contact sheet shows the selected specimen's colony beside its matched controls.
    pub colony: bool,
    /// Side of a contact sheet thumbnail, in points.
    pub thumbnail_size: f32,
    /// The worklist's width the reviewer dragged it to, in points (`None`: about a quarter of
    /// the window); a narrower window narrows the panel for as long as it lasts.
    pub worklist_width: Option<f32>,
    /// The findings panel's width the reviewer dragged it to, in points (as `worklist_width`).
    pub findings_width: Option<f32>,
}

impl Default for ViewPrefs {
    fn default() -> Self {
        ViewPrefs {
            worklist_panel: true,
            findings_panel: true,
            sort: SortColumn::Abnormal,
            descending: true,
            filter: Filter::default(),
            linked: true,
            invert: false,
            orientation: Orientation::default(),
            head_up: false,
            contact_sheet: false,
            colony: false,
            thumbnail_size: 120.0,
            worklist_width: None,
            findings_width: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reviewer: std::env::var("USER").unwrap_or_default(),
            reviewer_confirmed: false,
            device: "auto".into(),
            threads: 0,
            model: None,
            thresholds: BTreeMap::new(),
            colormap: Colormap::Viridis,
            overlay_opacity: 0.45,
            overlay_threshold: 0.2,
            overlay_contour: false,
            auto_advance: true,
            second_reading: false,
            recent_folders: Vec::new(),
            view: ViewPrefs::default(),
            last_viewed: Vec::new(),
        }
    }
}

impl Settings {
    /// Puts `folder` first in the recent list.
    pub fn remember_folder(&mut self, folder: PathBuf) {
        self.recent_folders.retain(|f| f != &folder);
        self.recent_folders.insert(0, folder);
        self.recent_folders.truncate(RECENT_MAX);
    }

    /// Records `id` as the specimen last viewed in `folder`.
    pub fn remember_viewed(&mut self, folder: &std::path::Path, id: &str) {
        if self.last_viewed.first().is_some_and(|(f, i)| f == folder && i == id) {
            return;
        }
        self.last_viewed.retain(|(f, _)| f != folder);
        self.last_viewed.insert(0, (folder.to_owned(), id.to_owned()));
        self.last_viewed.truncate(RECENT_MAX);
    }

    /// The specimen last viewed in `folder`.
    pub fn last_viewed_in(&self, folder: &std::path::Path) -> Option<&str> {
        self.last_viewed.iter().find(|(f, _)| f == folder).map(|(_, id)| id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_files_load_with_defaults_and_recent_folders_stay_unique() {
        let Ok(s) = serde_json::from_str::<Settings>(r#"{"reviewer":"ana","future_field":1}"#) else {
            panic!("settings with unknown and missing fields must load")
        };
        assert_eq!(s.reviewer, "ana");
        assert_eq!(s.device, "auto");
        let mut s = s;
        for f in ["a", "b", "a"] {
            s.remember_folder(f.into());
        }
        assert_eq!(s.recent_folders, vec![PathBuf::from("a"), PathBuf::from("b")]);
    }
}
