//! Classification results kept with a folder's review (`results.json` beside `review.json`), so
//! that reopening the folder shows every score, flag and overlay again without rerunning the
//! model, and `export` has the probabilities of every scored specimen, reviewed or not.
//!
//! The file is replaced atomically ([`crate::fsx`]); one that cannot be read is set aside and
//! reported, never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CamMaps;
use super::hierarchy::Scores;
use crate::domain::DomainScore;
use crate::imaging::{QcCode, Transform};
use crate::specimen::ByView;
use crate::taxonomy::Taxonomy;

/// File name inside the review folder.
pub const RESULTS_FILE: &str = "results.json";

/// Version of the file's layout.
pub const RESULTS_SCHEMA: u32 = 1;

/// One specimen's model output, with what is needed to redraw its overlays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPrediction {
    /// SHA-256 of the model that produced it.
    pub model_sha256: String,
    /// The model's file name, for people.
    pub model_name: String,
    /// When it was computed (RFC 3339 UTC).
    pub time: String,
    /// P(node | parent positive) per node id.
    pub probabilities: BTreeMap<String, f32>,
    /// The flag threshold per node id in force when it was computed.
    pub thresholds: BTreeMap<String, f32>,
    /// Which of DV and LV the model saw.
    pub views_used: ByView<bool>,
    /// Model-to-original transforms of DV and LV.
    pub transforms: ByView<Option<Transform>>,
    /// DV and LV class activation maps, when the model has them.
    pub cams: Option<ByView<CamMaps>>,
    /// DV and LV domain scores, when the model has a domain description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainScore>,
}

impl StoredPrediction {
    /// Scores in `taxonomy` order under `thresholds` (one per node); `None` when a node's
    /// probability is missing (a file from a model with another taxonomy).
    pub fn scores(&self, taxonomy: &Taxonomy, thresholds: &[f32]) -> Option<Scores> {
        let conditional: Option<Vec<f32>> =
            taxonomy.nodes.iter().map(|n| self.probabilities.get(&n.id).copied()).collect();
        Some(Scores::new(taxonomy, conditional?, thresholds))
    }

    /// The stored thresholds in `taxonomy` order (0.5 where absent).
    pub fn threshold_vec(&self, taxonomy: &Taxonomy) -> Vec<f32> {
        taxonomy.nodes.iter().map(|n| self.thresholds.get(&n.id).copied().unwrap_or(0.5)).collect()
    }
}

/// Every stored result of a folder, by specimen id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredResults {
    /// [`RESULTS_SCHEMA`] when written.
    pub schema: u32,
    /// Results by specimen id.
    pub specimens: BTreeMap<String, StoredPrediction>,
    /// Film QC codes of DV and LV by specimen id, for specimens with any (scored or not).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub film_qc: BTreeMap<String, ByView<Vec<QcCode>>>,
    /// Why the last run scored nothing, by specimen id, for specimens whose files could not be
    /// read (the files named, with the reason).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unreadable: BTreeMap<String, String>,
}

/// What [`StoredResults::load`] found.
#[derive(Debug, Clone, Default)]
pub struct LoadedResults {
    /// The results (empty when there were none or they could not be read).
    pub results: StoredResults,
    /// Things the user should know (a damaged file set aside).
    pub notes: Vec<String>,
    /// Whether saving may replace the file: not when a damaged one could not be set aside, so
    /// it is never written over.
    pub writable: bool,
}

impl StoredResults {
    /// Reads `dir/results.json`; absent means empty. A damaged or newer file is set aside when
    /// `repair` (never overwritten) and reported in the notes.
    pub fn load(dir: &Path, repair: bool) -> LoadedResults {
        let path = dir.join(RESULTS_FILE);
        let found = |results, notes, writable| LoadedResults { results, notes, writable };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return found(StoredResults::default(), Vec::new(), true);
            }
            Err(e) => {
                let note = format!("{}: cannot be read ({e}); results will not be saved", path.display());
                return found(StoredResults::default(), vec![note], false);
            }
        };
        let why = match serde_json::from_slice::<StoredResults>(&bytes) {
            Ok(r) if r.schema <= RESULTS_SCHEMA => return found(r, Vec::new(), true),
            Ok(r) => format!("is schema {} (this version reads up to {RESULTS_SCHEMA})", r.schema),
            Err(e) => format!("is damaged ({e})"),
        };
        if !repair {
            return found(StoredResults::default(), vec![format!("{} {why}; ignored", path.display())], false);
        }
        match crate::fsx::set_aside(&path) {
            Ok(aside) => {
                let note = format!("{} {why}; kept as {} untouched", path.display(), aside.display());
                found(StoredResults::default(), vec![note], true)
            }
            Err(e) => {
                let note = format!("{} {why} and cannot be set aside ({e}); results will not be saved", path.display());
                found(StoredResults::default(), vec![note], false)
            }
        }
    }

    /// Writes `dir/results.json` atomically (only where [`LoadedResults::writable`] allowed it).
    ///
    /// # Errors
    /// The file cannot be written (with the path).
    pub fn save(&self, dir: &Path) -> Result<PathBuf, String> {
        /// The document as written: the schema of this version, the results borrowed.
        #[derive(Serialize)]
        struct Doc<'a> {
            schema: u32,
            specimens: &'a BTreeMap<String, StoredPrediction>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            film_qc: &'a BTreeMap<String, ByView<Vec<QcCode>>>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            unreadable: &'a BTreeMap<String, String>,
        }
        let path = dir.join(RESULTS_FILE);
        let doc = Doc {
            schema: RESULTS_SCHEMA,
            specimens: &self.specimens,
            film_qc: &self.film_qc,
            unreadable: &self.unreadable,
        };
        let json = serde_json::to_vec(&doc).map_err(|e| format!("{}: {e}", path.display()))?;
        crate::fsx::write_bytes_atomic(&path, &json).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn one() -> StoredPrediction {
        let taxonomy = Taxonomy::default();
        StoredPrediction {
            model_sha256: "ab".repeat(32),
            model_name: "m.onnx".into(),
            time: "2026-11-30T00:00:00Z".into(),
            probabilities: taxonomy.nodes.iter().map(|n| (n.id.clone(), 0.25)).collect(),
            thresholds: taxonomy.nodes.iter().map(|n| (n.id.clone(), 0.5)).collect(),
            views_used: ByView::new(true, false),
            transforms: ByView::default(),
            cams: Some(ByView::new(
                CamMaps { side: 2, classes: 1, data: vec![0.1, -0.2, 0.3, 0.4] },
                CamMaps { side: 2, classes: 1, data: vec![0.0; 4] },
            )),
            domain: Some(DomainScore { views: ByView::new(Some(0.5), None) }),
        }
    }

    #[test]
    fn results_round_trip_and_damage_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = StoredResults::default();
        r.specimens.insert("M1".into(), one());
        // Film QC of a specimen the model did not score is kept too.
        r.film_qc.insert("M2".into(), ByView::new(vec![QcCode::NotWholeBody], Vec::new()));
        r.unreadable.insert("M3".into(), "M3/DV.png: truncated PNG".into());
        r.save(dir.path()).unwrap();
        let loaded = StoredResults::load(dir.path(), true);
        assert!(loaded.notes.is_empty() && loaded.writable);
        let back = loaded.results;
        assert_eq!((&back.specimens, &back.film_qc, &back.unreadable), (&r.specimens, &r.film_qc, &r.unreadable));
        let scores = back.specimens["M1"].scores(&Taxonomy::default(), &[0.2; 14]).unwrap();
        assert!(scores.flags[0]);

        std::fs::write(dir.path().join(RESULTS_FILE), b"{ torn").unwrap();
        let loaded = StoredResults::load(dir.path(), true);
        let (empty, notes) = (loaded.results, loaded.notes);
        assert!(loaded.writable, "set aside, so the next save writes a new file");
        assert!(empty.specimens.is_empty());
        assert!(notes[0].contains("damaged") && notes[0].contains("untouched"), "{notes:?}");
        let kept: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).collect();
        assert!(kept.iter().any(|e| e.file_name().to_string_lossy().contains("damaged")));
    }
}
