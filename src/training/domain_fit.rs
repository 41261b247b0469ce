//! Describing a model's domain from its own features on its training data: the training split
//! gives the means and covariances, the validation split the scale (see [`crate::domain`]). The
//! split is the one training used (same fraction, same seed), so no validation specimen shaped
//! the description's means.

use anyhow::Context;

use super::data::{Dataset, run_indices};
use crate::domain::DomainDescription;
use crate::inference::Classifier;
use crate::specimen::ByView;

/// Percentile of validation specimens that a domain score of 1 stands at.
pub const PERCENTILE: f64 = 99.0;

/// DV and LV features of the given samples (absent where a sample lacks the view or the model
/// does not use it), in batches of `batch`.
pub fn features(
    model: &mut Classifier,
    dataset: &Dataset,
    indices: &[usize],
    batch: usize,
) -> anyhow::Result<Vec<ByView<Option<Vec<f32>>>>> {
    anyhow::ensure!(model.info.has_features, "{}: the model has no feature outputs", model.info.path.display());
    let mut out = Vec::with_capacity(indices.len());
    run_indices(model, dataset, indices, batch, |o| out.extend(o.features))?;
    Ok(out)
}

/// Fits the description of `model` on `dataset`, split as training split it (`val_split`,
/// `seed`).
/// Errors name `data`, the dataset's folders.
pub fn describe(
    model: &mut Classifier,
    dataset: &Dataset,
    data: &str,
    val_split: f64,
    seed: u64,
) -> anyhow::Result<DomainDescription> {
    let (train_idx, val_idx) = dataset.split(val_split, seed);
    let train = features(model, dataset, &train_idx, 32)?;
    let val = features(model, dataset, &val_idx, 32)?;
    let views = model.info.views().to_vec();
    let blocks = model.info.metadata.features.clone();
    anyhow::ensure!(
        !blocks.is_empty(),
        "{}: the model does not say how its features are made",
        model.info.path.display()
    );
    DomainDescription::fit(&views, &blocks, &train, &val, PERCENTILE).map_err(|e| anyhow::anyhow!("{data}: {e}"))
}

/// How many of `dataset`'s specimens `model` finds unlike its training data (every view it
/// uses), of how many: `None` when the model has no domain description.
pub fn share_out_of_domain(
    model: &mut Classifier,
    dataset: &Dataset,
    batch: usize,
) -> anyhow::Result<Option<(usize, usize)>> {
    let Some(domain) = model.info.metadata.domain.clone() else { return Ok(None) };
    let all: Vec<usize> = (0..dataset.samples.len()).collect();
    let feats = features(model, dataset, &all, batch)?;
    let scores: Vec<_> = feats.iter().map(|f| domain.score(f.as_ref().map(|x| x.as_deref()))).collect();
    let n = scores.iter().filter(|s| s.in_domain().is_some()).count();
    Ok(Some((scores.iter().filter(|s| s.in_domain() == Some(false)).count(), n)))
}

/// A model with its domain described.
pub struct Described {
    /// The new file's bytes.
    pub bytes: Vec<u8>,
    /// Its metadata.
    pub metadata: crate::contract::ModelMetadata,
    /// The description.
    pub domain: crate::domain::DomainDescription,
}

/// Describes the domain of the model just written to `out` from the dataset it was trained on,
/// already in memory (`data` names its folders), with the run's split; returns the rewritten
/// model. Needs ONNX Runtime (`ort_lib` overrides where it is looked for).
pub fn describe_written(
    out: &std::path::Path,
    dataset: &Dataset,
    data: &str,
    val_split: f64,
    seed: u64,
    ort_lib: Option<&std::path::Path>,
) -> anyhow::Result<Described> {
    let lib = crate::inference::init_runtime(ort_lib)?;
    let bytes = std::fs::read(out).with_context(|| format!("{}: cannot read", out.display()))?;
    let mut model = Classifier::load_bytes(out, &bytes, lib, Default::default())?;
    let domain = describe(&mut model, dataset, data, val_split, seed)?;
    let mut metadata = model.info.metadata.clone();
    metadata.domain = Some(domain.clone());
    let mut proto = crate::onnx::features::decode(&bytes)?;
    crate::onnx::features::set_metadata(&mut proto, &metadata)?;
    Ok(Described { bytes: crate::onnx::features::encode(&proto), metadata, domain })
}
