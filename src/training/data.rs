//! Training data: a scanned folder with `labels.csv`, every view decoded and preprocessed once
//! (by the same `preprocess` inference uses), a deterministic split by specimen, and the
//! augmentations that mimic how real placements and exposures vary.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rayon::prelude::*;

use super::input_cache::InputCache;
use super::pairs::{PairRow, read_pairs_if_any};
use crate::fingerprint::Fnv;
use crate::imaging::{DecodeOptions, PreprocessSpec, decode, preprocess};
use crate::specimen::{ByView, Problem, ProblemKind, View, read_labels, scan};
use crate::synth::Rng;
use crate::taxonomy::{NodeLabels, Taxonomy};

/// One preprocessed view: `size * size` standardised values, row-major.
#[derive(Clone)]
pub enum Input {
    /// Held in memory (loaded without an input cache).
    Memory(Vec<f32>),
    /// A slot of the folder's input cache, read back when a batch needs it: a dataset larger
    /// than memory trains, at the cost of a read from the page cache or disk per use.
    Cached {
        /// The cache (kept open, and locked, while any input refers to it).
        cache: Arc<InputCache>,
        /// Its slot there.
        slot: u64,
    },
}

impl Input {
    /// The values, read back from the cache when they live there.
    ///
    /// # Errors
    /// The cache's file cannot be read (something truncated it), naming it.
    pub fn values(&self) -> anyhow::Result<Cow<'_, [f32]>> {
        match self {
            Input::Memory(v) => Ok(Cow::Borrowed(v)),
            Input::Cached { cache, slot } => cache.read(*slot).map(Cow::Owned),
        }
    }

    /// Number of values, without reading them.
    pub fn len(&self) -> usize {
        match self {
            Input::Memory(v) => v.len(),
            Input::Cached { cache, .. } => cache.values(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Vec<f32>> for Input {
    fn from(v: Vec<f32>) -> Input {
        Input::Memory(v)
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Memory(v) => write!(f, "Input::Memory({} values)", v.len()),
            Input::Cached { cache, slot } => write!(f, "Input::Cached({}, slot {slot})", cache.dir().display()),
        }
    }
}

/// A specimen's points per view (film or input pixels), when it has them.
pub type ByViewPoints<T> = ByView<Option<Vec<[T; 2]>>>;

/// A loaded view: its input and, when kept, its preprocessing transform's affine part.
type LoadedView = (Input, Option<[f64; 6]>);

/// One labelled specimen, preprocessed.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Specimen id.
    pub id: String,
    /// DV model input (`size * size`), if the view exists and decoded.
    pub dv: Option<Input>,
    /// LV model input.
    pub lv: Option<Input>,
    /// Completed labels in taxonomy order.
    pub labels: NodeLabels,
    /// Per view, the column's midline in model-input pixels (from a phantom folder's
    /// `truth.json`, mapped through the view's preprocessing transform), when loaded with it.
    pub spine: ByViewPoints<f32>,
}

/// A preprocessed dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Input side.
    pub size: u32,
    /// Samples sorted by id.
    pub samples: Vec<Sample>,
    /// A fingerprint of the ids and labels (FNV-1a), for provenance.
    pub fingerprint: String,
    /// Counterfactual pairs from the folders' `pairs.csv` (none for an ordinary folder).
    pub pairs: Vec<PairRow>,
}

impl Dataset {
    /// Splits sample indices into (train, validation) by hashing each specimen id with the
    /// seed, or its pair's id for a member of a pair ([`super::pairs::split_keys`]): the same
    /// specimen always lands on the same side, whatever else is in the folder.
    pub fn split(&self, validation: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        split_keys_by_hash(&super::pairs::split_keys(self), validation, seed)
    }
}

/// Loads every labelled specimen of `folder`. Files that fail to decode become problems; a
/// specimen keeps whatever views decoded. With `cache`, images preprocessed before for the
/// same spec are read back ([`super::input_cache`]) and the others are stored there; either way
/// the dataset then refers to the cache's slots instead of holding the arrays ([`Input`]).
pub fn load_dataset(
    folder: &Path,
    labels: Option<&Path>,
    spec: &PreprocessSpec,
    taxonomy: &Taxonomy,
    cache: Option<&Arc<InputCache>>,
    spine: bool,
) -> anyhow::Result<(Dataset, Vec<Problem>)> {
    let report = scan(folder)?;
    let labels_path = labels.map(Path::to_owned).unwrap_or_else(|| folder.join(crate::specimen::LABELS_FILE));
    if !labels_path.is_file() {
        match labels {
            Some(_) => bail!("{}: cannot read the labels file: no such file", labels_path.display()),
            None => bail!("{}: no labels.csv (pass --labels FILE)", labels_path.display()),
        }
    }
    let (table, problems) = read_labels(&labels_path, taxonomy).map_err(|p| anyhow::anyhow!("{p}"))?;
    let pairs = read_pairs_if_any(folder)?;
    let (dataset, problems) =
        load_labelled(folder, report, &table.rows, problems, spec, &labels_path.display().to_string(), cache, spine)?;
    Ok((Dataset { pairs, ..dataset }, problems))
}

/// Loads the specimens of a scanned folder that `table` labels (specimen id to completed labels
/// in taxonomy order); `source` names where the labels came from in messages. `problems` are
/// the labels' own, kept in front of the images'. `cache` as for [`load_dataset`]. With
/// `spine`, each view also gets the column's midline from the folder's `truth.json` (a phantom
/// folder), mapped into the model input ([`Sample::spine`]); a folder without one loads as
/// without `spine`.
#[allow(clippy::too_many_arguments)]
pub fn load_labelled(
    folder: &Path,
    report: crate::specimen::ScanReport,
    table: &std::collections::BTreeMap<String, NodeLabels>,
    mut problems: Vec<Problem>,
    spec: &PreprocessSpec,
    source: &str,
    cache: Option<&Arc<InputCache>>,
    spine: bool,
) -> anyhow::Result<(Dataset, Vec<Problem>)> {
    problems.extend(report.problems);
    let truth = if spine { read_spine_truth(folder)? } else { Default::default() };
    let decode_options = DecodeOptions::default();
    // The input and, when the view has a midline to map, the transform's affine part.
    let load = |path: Option<&Path>, need_affine: bool| -> Result<Option<LoadedView>, Problem> {
        let Some(path) = path else { return Ok(None) };
        if let Some((cache, (slot, affine))) = cache.and_then(|c| Some((c, c.entry(path, need_affine)?))) {
            return Ok(Some((Input::Cached { cache: Arc::clone(cache), slot }, affine)));
        }
        let img =
            decode(path, &decode_options).map_err(|e| Problem::new(path, ProblemKind::NotAnImage, e.to_string()))?;
        let (input, transform) = preprocess(&img, spec).map_err(|e| Problem::new(path, ProblemKind::NotAnImage, e))?;
        let affine = Some(transform.affine());
        // A cache shared with another run is read only: what it lacks stays in memory.
        match cache.filter(|c| c.writable()).map(|c| (c, c.put(path, &input.data, affine))) {
            Some((cache, Ok(slot))) => Ok(Some((Input::Cached { cache: Arc::clone(cache), slot }, affine))),
            Some((_, Err(e))) => {
                tracing::warn!("{}: not cached: {e:#}", path.display());
                Ok(Some((Input::Memory(input.data), affine)))
            }
            None => Ok(Some((Input::Memory(input.data), affine))),
        }
    };
    let results: Vec<(Option<Sample>, Vec<Problem>)> = report
        .specimens
        .par_iter()
        .filter_map(|s| table.get(&s.id).map(|l| (s, l)))
        .map(|(s, l)| {
            let mut errs = Vec::new();
            let points = truth.get(&s.id);
            let mut midline = ByViewPoints::<f32>::default();
            let mut view = |v: View, path: Option<&Path>| {
                let points = points.and_then(|p| p[v].as_ref());
                match load(path, points.is_some()) {
                    Ok(Some((input, affine))) => {
                        midline[v] = points.zip(affine).map(|(p, a)| to_input(p, a));
                        Some(input)
                    }
                    Ok(None) => None,
                    Err(p) => {
                        errs.push(p);
                        None
                    }
                }
            };
            let (dv, lv) = (view(View::Dv, s.dv()), view(View::Lv, s.lv()));
            let sample = (dv.is_some() || lv.is_some()).then(|| Sample {
                id: s.id.clone(),
                dv,
                lv,
                labels: l.clone(),
                spine: midline,
            });
            (sample, errs)
        })
        .collect();
    let mut samples = Vec::new();
    for (s, errs) in results {
        problems.extend(errs);
        samples.extend(s);
    }
    if let Some(Err(e)) = cache.map(|c| c.save()) {
        tracing::warn!("the input cache was not saved: {e:#}");
    }
    samples.sort_by(|a, b| a.id.cmp(&b.id));
    if samples.is_empty() {
        bail!("{}: no specimen has both an image and a row in {source}", folder.display());
    }
    let fingerprint = fingerprint(&samples);
    Ok((Dataset { size: spec.size, samples, fingerprint, pairs: Vec::new() }, problems))
}

/// The column's midline per specimen and view, in film pixels, from a phantom folder's
/// `truth.json` (`synth` writes it as `spine`); empty when the folder has none.
///
/// # Errors
/// A `truth.json` that exists but cannot be read or parsed, naming it.
fn read_spine_truth(folder: &Path) -> anyhow::Result<std::collections::HashMap<String, ByViewPoints<f64>>> {
    #[derive(serde::Deserialize)]
    struct Truth {
        specimens: Vec<Specimen>,
    }
    #[derive(serde::Deserialize)]
    struct Specimen {
        id: String,
        #[serde(default)]
        spine: std::collections::BTreeMap<View, Vec<[f64; 2]>>,
    }
    let path = folder.join("truth.json");
    if !path.is_file() {
        return Ok(Default::default());
    }
    let file = std::fs::File::open(&path).with_context(|| format!("{}: cannot open", path.display()))?;
    let truth: Truth = serde_json::from_reader(std::io::BufReader::new(file))
        .with_context(|| format!("{}: not a phantom truth file", path.display()))?;
    Ok(truth
        .specimens
        .into_iter()
        .filter(|s| !s.spine.is_empty())
        .map(|mut s| (s.id, ByView::from_fn(|v| s.spine.remove(&v))))
        .collect())
}

/// Film pixels to model-input pixels through a preprocessing transform's affine part.
fn to_input(points: &[[f64; 2]], affine: [f64; 6]) -> Vec<[f32; 2]> {
    points
        .iter()
        .map(|&[x, y]| {
            let (u, v) = crate::imaging::affine_to_model(affine, x, y);
            [u as f32, v as f32]
        })
        .collect()
}

/// Several folders' datasets as one (a centre's archive kept by year or by colony). Each
/// specimen id must be unique across them: the same id in two folders is either one animal
/// twice (it would weigh double and could straddle the split) or two animals under one name,
/// and the error names both folders. The fingerprint is that of the merged samples, so one
/// folder merges to itself.
pub fn merge(parts: Vec<(&Path, Dataset)>) -> anyhow::Result<Dataset> {
    let mut size = None;
    let mut owner: std::collections::HashMap<String, &Path> = std::collections::HashMap::new();
    let mut samples = Vec::new();
    let mut pairs = Vec::new();
    for (folder, dataset) in parts {
        if size.is_some_and(|s| s != dataset.size) {
            bail!(
                "{}: preprocessed at {} px, the other folders at {} px",
                folder.display(),
                dataset.size,
                size.unwrap_or(0)
            );
        }
        size = Some(dataset.size);
        pairs.extend(dataset.pairs);
        for sample in dataset.samples {
            if let Some(first) = owner.insert(sample.id.clone(), folder) {
                bail!(
                    "specimen {} is in both {} and {}: give each animal one id across the folders (phantoms: synth --id-prefix)",
                    sample.id,
                    first.display(),
                    folder.display()
                );
            }
            samples.push(sample);
        }
    }
    let Some(size) = size else { bail!("no folder to train on") };
    samples.sort_by(|a, b| a.id.cmp(&b.id));
    let fingerprint = fingerprint(&samples);
    Ok(Dataset { size, samples, fingerprint, pairs })
}

/// Where the labels of [`load_folders`] come from.
pub enum LabelSource<'a> {
    /// Each folder's `labels.csv`, or this file (only with one folder).
    Files(Option<&'a Path>),
    /// One table for every folder (specimen id to completed labels; the reviewers' decisions),
    /// and what to call it in messages.
    Table(&'a std::collections::BTreeMap<String, NodeLabels>, &'a str),
}

/// What [`load_folders`] loaded.
pub struct Loaded {
    /// The folders as one dataset.
    pub dataset: Dataset,
    /// Every folder's problems.
    pub problems: Vec<Problem>,
    /// Images read back from the input caches and images preprocessed now, over the folders
    /// that had a cache (`None`: none had).
    pub cached: Option<(usize, usize)>,
}

/// Loads every labelled specimen of each folder and merges them ([`merge`]). With `cache`,
/// each folder keeps its own input cache (a read-only folder, or one whose cache another run is
/// filling, runs without; one another run has filled is read).
pub fn load_folders(
    folders: &[std::path::PathBuf],
    labels: LabelSource<'_>,
    spec: &PreprocessSpec,
    taxonomy: &Taxonomy,
    cache: bool,
    spine: bool,
) -> anyhow::Result<Loaded> {
    if matches!(labels, LabelSource::Files(Some(_))) && folders.len() > 1 {
        bail!("--labels names one file for one folder; with several folders each needs its own labels.csv");
    }
    if matches!(labels, LabelSource::Files(None)) && folders.len() > 1 {
        for folder in folders {
            let file = folder.join(crate::specimen::LABELS_FILE);
            if !file.is_file() {
                bail!("{}: no labels.csv (with several --data folders, each needs its own)", file.display());
            }
        }
    }
    let mut parts = Vec::new();
    let mut problems = Vec::new();
    let mut cached: Option<(usize, usize)> = None;
    for folder in folders {
        let inputs = if cache { super::input_cache::open_for(folder, spec) } else { None };
        let (dataset, p) = match labels {
            LabelSource::Files(file) => load_dataset(folder, file, spec, taxonomy, inputs.as_ref(), spine)?,
            LabelSource::Table(rows, source) => {
                let report = scan(folder)?;
                load_labelled(folder, report, rows, Vec::new(), spec, source, inputs.as_ref(), spine)?
            }
        };
        if let Some((hits, misses)) = inputs.as_ref().map(|c| c.counts()) {
            let (h, m) = cached.unwrap_or_default();
            cached = Some((h + hits, m + misses));
        }
        problems.extend(p);
        parts.push((folder.as_path(), dataset));
    }
    Ok(Loaded { dataset: merge(parts)?, problems, cached })
}

/// A fingerprint of samples' ids and labels (FNV-1a, 16 hex digits).
pub fn fingerprint(samples: &[Sample]) -> String {
    let mut h = Fnv::default();
    for s in samples {
        h.write(s.id.as_bytes());
        for l in &s.labels {
            h.write(&[match l {
                Some(true) => 1,
                Some(false) => 0,
                None => 2,
            }]);
        }
    }
    format!("{:016x}", h.0)
}

/// A batch's DV buffer, LV buffer and per-sample presence (see [`model_batch`]).
pub type BatchInputs = (Vec<f32>, Vec<f32>, Vec<ByView<bool>>);

/// Model inputs for a batch of samples: the DV and LV buffers (`samples.len() * size * size`
/// each) and each sample's presence. A view is shown where `shown` allows it and the sample has
/// it at the right size; elsewhere the buffer holds `background` and presence is false.
///
/// # Errors
/// A cached input cannot be read back ([`Input::values`]).
pub fn model_batch(
    samples: &[&Sample],
    shown: ByView<bool>,
    size: usize,
    background: f32,
) -> anyhow::Result<BatchInputs> {
    let n = size * size;
    let (mut dv, mut lv) = (Vec::with_capacity(samples.len() * n), Vec::with_capacity(samples.len() * n));
    let mut presence = Vec::with_capacity(samples.len());
    for sample in samples {
        let mut present = ByView::default();
        for (buf, (view, input)) in [(&mut dv, (View::Dv, &sample.dv)), (&mut lv, (View::Lv, &sample.lv))] {
            match input.as_ref().filter(|x| shown[view] && x.len() == n) {
                Some(x) => {
                    buf.extend_from_slice(&x.values()?);
                    present[view] = true;
                }
                None => buf.extend(std::iter::repeat_n(background, n)),
            }
        }
        presence.push(present);
    }
    Ok((dv, lv, presence))
}

/// Runs `model` over the specimens of `dataset` at `indices`, shown the views it uses, in
/// batches of `batch`, handing each batch's output to `each` in order.
///
/// # Errors
/// An index is out of range, a cached input cannot be read back, or the model fails.
pub fn run_indices(
    model: &mut crate::inference::Classifier,
    dataset: &Dataset,
    indices: &[usize],
    batch: usize,
    mut each: impl FnMut(crate::inference::BatchOutput),
) -> anyhow::Result<()> {
    let s = model.info.metadata.preprocess.size as usize;
    let bg = model.info.metadata.preprocess.background();
    let uses = model.info.uses();
    for chunk in indices.chunks(batch.max(1)) {
        let samples = chunk
            .iter()
            .map(|&i| dataset.samples.get(i).context("sample index out of range"))
            .collect::<Result<Vec<_>, _>>()?;
        let (dv, lv, presence) = model_batch(&samples, uses, s, bg)?;
        each(model.run(&dv, &lv, &presence, false)?);
    }
    Ok(())
}

/// Splits sample indices into (train, validation) by hashing each specimen id with the seed:
/// the same specimen always lands on the same side, whatever else is in the folder.
pub fn split(samples: &[Sample], validation: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let keys: Vec<&str> = samples.iter().map(|s| s.id.as_str()).collect();
    split_keys_by_hash(&keys, validation, seed)
}

fn split_keys_by_hash(keys: &[&str], validation: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, key) in keys.iter().enumerate() {
        let mut h = Fnv::default();
        h.write(key.as_bytes());
        // FNV's high bits barely differ between similar ids: the seeded stream mixes them.
        if Rng::new(seed, h.0).uniform() < validation {
            val.push(i);
        } else {
            train.push(i);
        }
    }
    (train, val)
}

/// Standard deviation of the augmentation's rotation, degrees, unless a run says otherwise
/// ([`super::train::TrainOptions::rotation_sd_deg`]).
pub const DEFAULT_ROTATION_SD_DEG: f64 = 6.0;

/// One draw of augmentation: mirror and head-up/down flips, a rotation (normal, clipped at 2.5
/// standard deviations) and a small zoom about the input's centre, a small shift, gain and
/// offset, and noise. The zoom (up to 7 %) and shift (up
/// to 3 % of the side) span how far the crop moves when the same film is moved by a pixel or
/// framed by a border (measured 2026-12-02, they did not make a model steadier under such a
/// move: BENCHMARKS.md, "The retrained CAE models"). [`Augmentation::apply`] warps an input
/// with it and [`Augmentation::map_point`] moves a point of the input (a landmark) the same way.
#[derive(Debug, Clone, Copy)]
pub struct Augmentation {
    flip_h: bool,
    flip_v: bool,
    /// Radians.
    angle: f64,
    /// Output over input size.
    zoom: f64,
    /// Fractions of the side, added after rotation and zoom.
    shift: [f64; 2],
    gain: f32,
    offset: f32,
    noise: f32,
}

impl Augmentation {
    /// Draws one from `rng`, its rotation with a standard deviation of `rotation_sd_deg` degrees.
    pub fn draw(rng: &mut Rng, rotation_sd_deg: f64) -> Augmentation {
        let (flip_h, flip_v) = (rng.chance(0.5), rng.chance(0.5));
        let limit = 2.5 * rotation_sd_deg;
        let angle = rng.normal(0.0, rotation_sd_deg).clamp(-limit, limit).to_radians();
        let (gain, offset, noise) =
            (rng.range(0.85, 1.15) as f32, rng.range(-0.1, 0.1) as f32, rng.range(0.0, 0.05) as f32);
        let zoom = rng.range(-0.07, 0.07).exp();
        let shift = [rng.range(-0.03, 0.03), rng.range(-0.03, 0.03)];
        Augmentation { flip_h, flip_v, angle, zoom, shift, gain, offset, noise }
    }

    /// A turn by `degrees` about the input's centre and nothing else (positive: clockwise on
    /// screen, y down): what an error of the body-axis estimate does to an input.
    pub fn turn(degrees: f64) -> Augmentation {
        let (flip_h, flip_v, zoom, shift) = (false, false, 1.0, [0.0; 2]);
        Augmentation { flip_h, flip_v, angle: degrees.to_radians(), zoom, shift, gain: 1.0, offset: 0.0, noise: 0.0 }
    }

    /// Warps a standardised `size x size` input in place; `background` fills what rotation, zoom
    /// and shift uncover; the noise, if any, is drawn from `rng`.
    pub fn apply(&self, x: &mut [f32], size: usize, background: f32, rng: &mut Rng) {
        let src = x.to_vec();
        let (sa, ca) = (crate::synth::geometry::sin(self.angle), crate::synth::geometry::cos(self.angle));
        let c = size as f64 / 2.0;
        let (tx, ty) = (self.shift[0] * size as f64, self.shift[1] * size as f64);
        for j in 0..size {
            for i in 0..size {
                let (u, v) = ((i as f64 + 0.5 - c - tx) / self.zoom, (j as f64 + 0.5 - c - ty) / self.zoom);
                let (mut sx, mut sy) = (ca * u + sa * v + c - 0.5, -sa * u + ca * v + c - 0.5);
                if self.flip_h {
                    sx = size as f64 - 1.0 - sx;
                }
                if self.flip_v {
                    sy = size as f64 - 1.0 - sy;
                }
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
                let at = |xi: f64, yi: f64| {
                    if xi < 0.0 || yi < 0.0 || xi >= size as f64 || yi >= size as f64 {
                        background
                    } else {
                        src[yi as usize * size + xi as usize]
                    }
                };
                let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
                let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
                let value = top * (1.0 - fy) + bottom * fy;
                // Without noise nothing is drawn (a turn; a drawn augmentation's noise is never
                // exactly 0, so training streams are as before).
                let noise = if self.noise > 0.0 { self.noise * rng.gaussian_f32() } else { 0.0 };
                x[j * size + i] = value * self.gain + self.offset + noise;
            }
        }
    }

    /// The same warp nudged as a film moved by a pixel moves its crop (measured: the crop's
    /// side changes by up to 7-8 %, its centre by up to 3 pixels of 128), with its own noise:
    /// the second copy of stability training (Zheng et al., "Improving the Robustness of Deep
    /// Neural Networks via Stability Training", CVPR 2016). With `turn_deg` above 0 the copy is
    /// also turned by up to that many degrees either way, as a misjudged body axis turns an
    /// input (drawn after the rest, so that 0 leaves the generator's stream as it was).
    pub fn nudged(&self, rng: &mut Rng, turn_deg: f64) -> Augmentation {
        let zoom = self.zoom * rng.range(-0.05, 0.05).exp();
        let shift = self.shift.map(|s| s + rng.range(-0.02, 0.02));
        let angle = if turn_deg > 0.0 { self.angle + rng.range(-turn_deg, turn_deg).to_radians() } else { self.angle };
        Augmentation { zoom, shift, angle, ..*self }
    }

    /// Where a point of the input (pixels from its top-left corner) lands in the warped input:
    /// the inverse of the sampling [`Augmentation::apply`] does.
    pub fn map_point(&self, [x, y]: [f32; 2], size: usize) -> [f32; 2] {
        let (s, c) = (size as f64, size as f64 / 2.0);
        let x = if self.flip_h { s - f64::from(x) } else { f64::from(x) };
        let y = if self.flip_v { s - f64::from(y) } else { f64::from(y) };
        let (sa, ca) = (crate::synth::geometry::sin(self.angle), crate::synth::geometry::cos(self.angle));
        let (dx, dy) = (x - c, y - c);
        let (tx, ty) = (self.shift[0] * s, self.shift[1] * s);
        [((ca * dx - sa * dy) * self.zoom + c + tx) as f32, ((sa * dx + ca * dy) * self.zoom + c + ty) as f32]
    }
}

/// Augments a standardised `size x size` input in place with one [`Augmentation`] drawn from
/// `rng` (rotation SD `rotation_sd_deg` degrees), and returns it. `background` fills what
/// rotation uncovers.
pub fn augment(x: &mut [f32], size: usize, background: f32, rotation_sd_deg: f64, rng: &mut Rng) -> Augmentation {
    let a = Augmentation::draw(rng, rotation_sd_deg);
    a.apply(x, size, background, rng);
    a
}

/// Which inputs a model trained on `views` reads.
pub fn reads(views: &[View]) -> ByView<bool> {
    ByView::from_fn(|v| views.contains(&v))
}

/// Which model inputs a batch row carries, before view dropout.
pub fn presence(sample: &Sample, views: &[View]) -> ByView<bool> {
    let read = reads(views);
    ByView::new(sample.dv.is_some() && read.dv, sample.lv.is_some() && read.lv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: String) -> Sample {
        Sample { id, dv: None, lv: None, labels: Vec::new(), spine: ByView::default() }
    }

    /// A bright dot warped by an augmentation lands where `map_point` puts its centre.
    #[test]
    fn a_point_moves_with_the_input_it_marks() {
        let size = 64;
        for seed in 0..40 {
            let mut rng = Rng::new(seed, 3);
            let a = Augmentation::draw(&mut rng, DEFAULT_ROTATION_SD_DEG);
            let a = Augmentation { noise: 0.0, gain: 1.0, offset: 0.0, ..a };
            let (px, py) = (20 + (seed as usize % 7) * 3, 40 - (seed as usize % 5) * 4);
            let mut x = vec![0.0f32; size * size];
            x[py * size + px] = 1.0;
            a.apply(&mut x, size, 0.0, &mut rng);
            // The warped dot's centroid.
            let total: f32 = x.iter().sum();
            let cx = x.iter().enumerate().map(|(i, v)| (i % size) as f32 * v).sum::<f32>() / total + 0.5;
            let cy = x.iter().enumerate().map(|(i, v)| (i / size) as f32 * v).sum::<f32>() / total + 0.5;
            let [mx, my] = a.map_point([px as f32 + 0.5, py as f32 + 0.5], size);
            assert!((mx - cx).abs() < 0.6 && (my - cy).abs() < 0.6, "{seed}: {a:?} ({mx}, {my}) vs ({cx}, {cy})");
        }
    }

    /// A nudge with a turn turns the copy by up to that much either way, both ways over many
    /// draws, and changes nothing else; without one the generator's stream is as it was.
    #[test]
    fn a_nudge_turns_within_its_limit() {
        let (mut left, mut right) = (0, 0);
        for seed in 0..300 {
            // Two generators at the same point of one stream.
            let (mut plain, mut turned) = (Rng::new(seed, 11), Rng::new(seed, 11));
            let a = Augmentation::draw(&mut plain, DEFAULT_ROTATION_SD_DEG);
            Augmentation::draw(&mut turned, DEFAULT_ROTATION_SD_DEG);
            let (p, t) = (a.nudged(&mut plain, 0.0), a.nudged(&mut turned, 10.0));
            assert_eq!((p.zoom, p.shift), (t.zoom, t.shift));
            let d = (t.angle - a.angle).to_degrees();
            assert!(d.abs() <= 10.0 + 1e-9, "{d}");
            left += usize::from(d < -5.0);
            right += usize::from(d > 5.0);
            assert_eq!(
                (t.flip_h, t.flip_v, t.gain, t.offset, t.noise),
                (a.flip_h, a.flip_v, a.gain, a.offset, a.noise)
            );
        }
        assert!(left > 50 && right > 50, "{left} {right}");
    }

    /// A turn is clockwise on screen and nothing else: a point above the centre moves to its
    /// right, and a point at the centre stays.
    #[test]
    fn a_turn_is_clockwise_about_the_centre() {
        let a = Augmentation::turn(90.0);
        let [x, y] = a.map_point([32.0, 22.0], 64);
        assert!((x - 42.0).abs() < 1e-4 && (y - 32.0).abs() < 1e-4, "({x}, {y})");
        assert_eq!(a.map_point([32.0, 32.0], 64), [32.0, 32.0]);
        assert_eq!((a.zoom, a.gain, a.offset, a.noise, a.flip_h, a.flip_v), (1.0, 1.0, 0.0, 0.0, false, false));
    }

    /// The rotation's spread follows the run's SD and is clipped at 2.5 SD: the default
    /// reaches 15 degrees and no further, a 12-degree SD reaches past it to 30.
    #[test]
    fn the_rotation_follows_its_standard_deviation() {
        let largest = |sd: f64| {
            (0..2000)
                .map(|seed| Augmentation::draw(&mut Rng::new(seed, 9), sd).angle.to_degrees().abs())
                .fold(0.0f64, f64::max)
        };
        let (narrow, wide) = (largest(DEFAULT_ROTATION_SD_DEG), largest(12.0));
        assert!(narrow <= 15.0 + 1e-9 && narrow > 14.0, "{narrow}");
        assert!(wide <= 30.0 + 1e-9 && wide > 25.0, "{wide}");
        assert_eq!(largest(0.0), 0.0);
    }

    /// A nudge moves a point by about what a film moved by a pixel does to its crop, and
    /// nothing but the zoom and shift changes.
    #[test]
    fn a_nudge_moves_the_warp_a_little_and_keeps_the_rest() {
        let size = 128;
        let (mut moved, mut largest) = (0, 0.0f32);
        for seed in 0..200 {
            let mut rng = Rng::new(seed, 5);
            let a = Augmentation::draw(&mut rng, DEFAULT_ROTATION_SD_DEG);
            let b = a.nudged(&mut rng, 0.0);
            assert_eq!(
                (a.flip_h, a.flip_v, a.angle, a.gain, a.offset, a.noise),
                (b.flip_h, b.flip_v, b.angle, b.gain, b.offset, b.noise)
            );
            assert!((b.zoom / a.zoom).ln().abs() <= 0.05 + 1e-9);
            for p in [[64.0, 64.0], [20.0, 30.0], [110.0, 100.0]] {
                let ([ax, ay], [bx, by]) = (a.map_point(p, size), b.map_point(p, size));
                let d = (ax - bx).hypot(ay - by);
                largest = largest.max(d);
                moved += usize::from(d > 0.5);
            }
        }
        assert!(largest < 8.0, "a nudge is small: {largest} px");
        assert!(moved > 300, "and it moves most points by more than half a pixel: {moved} of 600");
    }

    #[test]
    fn split_is_deterministic_and_near_the_fraction() {
        let samples: Vec<Sample> = (0..1000).map(|i| sample(format!("MX{i:05}"))).collect();
        let (train, val) = split(&samples, 0.2, 1);
        assert_eq!(train.len() + val.len(), 1000);
        assert!((150..=250).contains(&val.len()), "{}", val.len());
        assert_eq!(split(&samples, 0.2, 1), (train.clone(), val.clone()));
        assert_ne!(split(&samples, 0.2, 2).1, val);
        // A specimen's side does not depend on the others.
        let (_, v2) = split(&samples[..500], 0.2, 1);
        assert!(v2.iter().all(|i| val.contains(i)));
    }
}
