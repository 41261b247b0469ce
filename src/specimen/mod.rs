//! Specimens and the folders that hold them.
//!
//! [`scan`] reads a folder in any of four layouts (mixable) and returns the specimens it found
//! with every problem it met; [`read_labels`] reads training labels and [`read_observations`]
//! makes them from IMPC observations.

pub mod by_view;
pub mod colony;
mod escape;
mod impc_observations;
mod labels;
mod manifest;
mod naming;
mod problem;
mod scan;
mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use by_view::ByView;
pub use escape::{display_path, escape_name};
pub use impc_observations::{
    NormalCounts, ObservationReport, is_count_parameter, line_list, read_observations, xry_stem,
};
pub use labels::{LABELS_FILE, LabelTable, read_labels, write_labels, write_labels_to};
pub use manifest::{MANIFEST_FILE, Manifest, ManifestRow};
pub use naming::{NameParse, parse_file_name};
pub use problem::{Problem, ProblemKind};
pub use scan::{APP_DIR, OUTPUT_MARKER, ScanError, ScanOptions, ScanReport, require_folder, scan, scan_with};
pub use view::View;

/// How a specimen's images were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `<root>/<specimen_id>/<view>.<ext>`.
    Subfolders,
    /// View tokens in the file name; the rest of the name is the id.
    Flat,
    /// `<root>/<view>/<specimen_id>.<ext>` (plain view folders such as `DV/` and `LV/`).
    ViewFolders,
    /// IMPC tree `.../IMPC_XRY_034_001/<mediaId>.<ext>`, specimens from the manifest.
    Impc,
    /// Rows of the manifest CSV.
    Manifest,
}

impl Layout {
    /// Name as written in reports (`subfolders`, `flat`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Subfolders => "subfolders",
            Layout::Flat => "flat",
            Layout::ViewFolders => "view_folders",
            Layout::Impc => "impc",
            Layout::Manifest => "manifest",
        }
    }
}

/// Optional specimen metadata, named as IMPC names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// IMPC `external_sample_id` (the centre's own specimen name).
    pub external_sample_id: Option<String>,
    /// Colony id.
    pub colony_id: Option<String>,
    /// Gene symbol of the knocked-out gene.
    pub gene_symbol: Option<String>,
    /// Allele symbol.
    pub allele_symbol: Option<String>,
    /// Zygosity (homozygote, heterozygote, hemizygote).
    pub zygosity: Option<String>,
    /// Sex.
    pub sex: Option<String>,
    /// Phenotyping centre.
    pub phenotyping_center: Option<String>,
    /// Date of the experiment.
    pub date_of_experiment: Option<String>,
    /// `control` or `experimental`.
    pub biological_sample_group: Option<String>,
    /// Strain name.
    pub strain_name: Option<String>,
    /// Any other manifest column, by header name.
    pub other: BTreeMap<String, String>,
}

impl Metadata {
    /// The named IMPC columns, in their fixed order.
    pub const COLUMNS: [&'static str; 10] = [
        "external_sample_id",
        "colony_id",
        "gene_symbol",
        "allele_symbol",
        "zygosity",
        "sex",
        "phenotyping_center",
        "date_of_experiment",
        "biological_sample_group",
        "strain_name",
    ];

    /// A field's value by IMPC column name (named fields, then `other`).
    pub fn get(&self, column: &str) -> Option<&str> {
        self.fields().into_iter().find(|(k, _)| *k == column).map(|(_, v)| v)
    }

    /// Sets a field by its IMPC column name; unknown names go to `other`. Empty values are ignored.
    pub fn set(&mut self, column: &str, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        let v = Some(value.to_owned());
        match column {
            "external_sample_id" => self.external_sample_id = v,
            "colony_id" => self.colony_id = v,
            "gene_symbol" => self.gene_symbol = v,
            "allele_symbol" => self.allele_symbol = v,
            "zygosity" => self.zygosity = v,
            "sex" => self.sex = v,
            "phenotyping_center" => self.phenotyping_center = v,
            "date_of_experiment" => self.date_of_experiment = v,
            "biological_sample_group" => self.biological_sample_group = v,
            "strain_name" => self.strain_name = v,
            other => {
                self.other.insert(other.to_owned(), value.to_owned());
            }
        }
    }

    /// Fields that are set, as (name, value) pairs, in a fixed order.
    pub fn fields(&self) -> Vec<(&str, &str)> {
        let named = [
            ("external_sample_id", &self.external_sample_id),
            ("colony_id", &self.colony_id),
            ("gene_symbol", &self.gene_symbol),
            ("allele_symbol", &self.allele_symbol),
            ("zygosity", &self.zygosity),
            ("sex", &self.sex),
            ("phenotyping_center", &self.phenotyping_center),
            ("date_of_experiment", &self.date_of_experiment),
            ("biological_sample_group", &self.biological_sample_group),
            ("strain_name", &self.strain_name),
        ];
        let mut out: Vec<(&str, &str)> = named.into_iter().filter_map(|(k, v)| v.as_deref().map(|v| (k, v))).collect();
        out.extend(self.other.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }
}

/// One mouse: an id, its images by view and optional metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Specimen {
    /// Specimen id, unique within a scan.
    pub id: String,
    /// Image paths by view (absolute or relative to the current directory, as scanned).
    #[serde(serialize_with = "escape::path_map")]
    pub images: BTreeMap<View, PathBuf>,
    /// Metadata from the manifest, if any.
    pub metadata: Metadata,
    /// How the images were found.
    pub layout: Layout,
}

impl Specimen {
    /// The dorsoventral image, if present.
    pub fn dv(&self) -> Option<&Path> {
        self.images.get(&View::Dv).map(PathBuf::as_path)
    }

    /// The lateral image, if present.
    pub fn lv(&self) -> Option<&Path> {
        self.images.get(&View::Lv).map(PathBuf::as_path)
    }

    /// Views that are not fed to the model (skull, paw, leg), in view order.
    pub fn extra_views(&self) -> impl Iterator<Item = (View, &Path)> {
        self.images.iter().filter(|(v, _)| !v.is_model_view()).map(|(v, p)| (*v, p.as_path()))
    }

    /// Which model views are present.
    pub fn present(&self) -> ByView<bool> {
        ByView::new(self.dv().is_some(), self.lv().is_some())
    }

    /// Short description of the model views present: `DV+LV`, `DV`, `LV` or `none`.
    pub fn model_views(&self) -> &'static str {
        self.present().label()
    }
}
