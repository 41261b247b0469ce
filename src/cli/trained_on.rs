//! The folders a model was trained on, for the commands that rework a model without retraining
//! it (`domain`, `calibrate`): loaded with the model's preprocessing, checked against its
//! dataset fingerprint, with the split its training used.

use std::path::{Path, PathBuf};

use crate::contract::ModelMetadata;
use crate::training::data::{Dataset, LabelSource, Loaded, load_folders};

/// `--labels` names one file, so it goes with one `--data` folder only.
pub fn check_labels(labels: Option<&Path>, data: &[PathBuf]) -> Result<(), super::UsageError> {
    if labels.is_some() && data.len() > 1 {
        return Err(super::UsageError(
            "--labels names one file for one --data folder; with several, each folder needs its own labels.csv".into(),
        ));
    }
    Ok(())
}

/// A model's training folders, loaded.
pub struct TrainedOn {
    /// The folders as one dataset (merged as `train` merges them).
    pub dataset: Dataset,
    /// The folders, comma-separated, for messages and records.
    pub label: String,
    /// The validation share training used (0.2 when the model does not say).
    pub val_split: f64,
    /// The split seed training used (1 when the model does not say).
    pub seed: u64,
}

impl TrainedOn {
    /// Loads `data` for the model at `path` with `metadata`.
    ///
    /// # Errors
    /// A folder cannot be loaded, or its fingerprint is not the model's and `other_data` is
    /// false (the message says how to `verb` it anyway).
    pub fn load(
        path: &Path,
        metadata: &ModelMetadata,
        data: &[PathBuf],
        labels: Option<&Path>,
        other_data: bool,
        verb: &str,
    ) -> anyhow::Result<TrainedOn> {
        let Loaded { dataset, problems, .. } =
            load_folders(data, LabelSource::Files(labels), &metadata.preprocess, &metadata.taxonomy, true, false)?;
        for p in &problems {
            tracing::warn!("{p}");
        }
        let label = data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
        let trained = &metadata.provenance.dataset;
        if dataset.fingerprint != *trained && !other_data {
            anyhow::bail!(
                "{label}: dataset {} is not the one {} was trained on ({}); pass --other-data to {verb} anyway",
                dataset.fingerprint,
                path.display(),
                if trained.is_empty() { "unknown" } else { trained }
            );
        }
        let options = metadata.provenance.training.as_ref().and_then(|t| t.extra.get("options"));
        let val_split = options.and_then(|o| o["val_split"].as_f64()).unwrap_or(0.2);
        let seed = options.and_then(|o| o["seed"].as_u64()).unwrap_or(1);
        Ok(TrainedOn { dataset, label, val_split, seed })
    }
}
