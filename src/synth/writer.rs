//! Writing a phantom folder: images in the chosen layout and format, `specimens.csv`,
//! `labels.csv` and `truth.json`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use image::ImageEncoder;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::style_b::Mouse;
use super::{FilmVariation, Finding, Phantom, Prevalence, Rng};
use crate::imaging::{DicomWriteOptions, FileFormat, GrayImage16, write_dicom};
use crate::specimen::{MANIFEST_FILE, Metadata, View, write_labels};
use crate::taxonomy::{Level, NodeLabels, Taxonomy};

/// Image file format of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    /// 16-bit grayscale PNG holding 14-bit values (the default).
    Png16,
    /// 8-bit JPEG.
    Jpeg,
    /// 8-bit BMP.
    Bmp,
    /// 16-bit TIFF.
    Tiff,
    /// DICOM (Digital X-Ray, 14 bits stored; some MONOCHROME1).
    Dicom,
    /// A different format per specimen.
    Mixed,
}

/// Which generator draws the animals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Analytic path lengths through posed primitives (the training generator).
    #[default]
    A,
    /// A voxel volume projected, with anatomy written apart from style a's (`synth::style_b`):
    /// a test of whether a model learned the skeleton; training refuses it.
    B,
}

impl Style {
    fn is_a(&self) -> bool {
        *self == Style::A
    }
}

/// Folder layout of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutLayout {
    /// `<out>/<id>/DV.<ext>`.
    Subfolders,
    /// `<out>/<id>_DV.<ext>`.
    Flat,
    /// IMPC tree `<out>/<centre>/<pipeline>/IMPC_XRY_001/IMPC_XRY_034_001/<mediaId>.<ext>`.
    Impc,
}

/// Everything that determines a run's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Number of specimens.
    pub count: usize,
    /// Run seed.
    pub seed: u64,
    /// Image side in pixels.
    pub size: u32,
    /// File format.
    pub format: OutFormat,
    /// Folder layout.
    pub layout: OutLayout,
    /// Views to write (DV and/or LV).
    pub views: Vec<View>,
    /// Fraction of specimens missing one of two requested views.
    pub missing_view_rate: f64,
    /// How findings are drawn.
    pub prevalence: Prevalence,
    /// Fraction of images with a radiopaque ruler.
    pub ruler_rate: f64,
    /// Counterfactual pairs: each of the `count` animals written twice, without and with one
    /// added finding, everything else identical (see [`PairTruth`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pairs: bool,
    /// Posture pairs: each of the `count` animals written twice, as drawn and with its lateral
    /// posture drawn again ([`Phantom::redraw_lateral_posture`]), the same findings and
    /// everything else identical; `pairs.csv` lists them with the finding [`POSTURE_PAIR`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub posture_pairs: bool,
    /// Wider film-level variation ([`FilmVariation`]): noise, blur, backgrounds, saturation,
    /// marks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vary_film: bool,
    /// The animal as real films show it ([`Phantom::vary_animal`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vary_animal: bool,
    /// The lateral posture as real laterals show it ([`Phantom::vary_lateral_posture`]): the
    /// tail curled over the back or hanging, the head flexed or extended; needs `vary_animal`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vary_posture: bool,
    /// The generator.
    #[serde(default, skip_serializing_if = "Style::is_a")]
    pub style: Style,
    /// Also write the truth as IMPC observations ([`OBSERVATIONS_FILE`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub impc_observations: bool,
    /// Also record the truth of the first this many specimens (by id) as a reviewer's decisions
    /// in the folder's review ([`write_review`]), for the review-to-training loop.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reviewed: usize,
    /// What the specimen ids start with instead of `MX` (pairs: `PR`), so that folders generated
    /// apart can be trained on as one without two animals sharing an id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_prefix: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl SynthConfig {
    /// Whether each animal is written twice, as a pair of either kind.
    pub fn paired(&self) -> bool {
        self.pairs || self.posture_pairs
    }
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            count: 24,
            seed: 1,
            size: 512,
            format: OutFormat::Png16,
            layout: OutLayout::Subfolders,
            views: vec![View::Dv, View::Lv],
            missing_view_rate: 0.0,
            prevalence: Prevalence::default(),
            ruler_rate: 0.15,
            pairs: false,
            posture_pairs: false,
            vary_film: false,
            vary_animal: false,
            vary_posture: false,
            style: Style::A,
            impc_observations: false,
            reviewed: 0,
            id_prefix: None,
        }
    }
}

/// What `truth.json` records per specimen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpecimenTruth {
    /// Specimen id.
    pub id: String,
    /// A style-a phantom (seed, index, anatomy, findings, poses, placements, exposures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phantom: Option<Phantom>,
    /// A style-b phantom (seed, index, plan, findings, postures, framings, detectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_b: Option<Mouse>,
    /// Files written, by view, relative to the output folder.
    pub files: BTreeMap<View, String>,
    /// Metadata written to the manifest.
    pub metadata: Metadata,
    /// Per view, the film variation of a `vary_film` run, with the marks actually placed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub film: BTreeMap<View, FilmVariation>,
    /// Per view of a style-a phantom, the column's midline on the written film
    /// ([`Phantom::spine_landmarks`]: 30 vertebral body centres, C1 first, in pixels).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spine: BTreeMap<View, Vec<[f64; 2]>>,
}

impl SpecimenTruth {
    /// The specimen's findings, whichever style drew it.
    pub fn findings(&self) -> &[Finding] {
        match (&self.phantom, &self.style_b) {
            (Some(p), _) => &p.findings,
            (None, Some(m)) => &m.findings,
            (None, None) => &[],
        }
    }
}

/// `truth.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    /// Generator version.
    pub generator: String,
    /// The run's configuration.
    pub config: SynthConfig,
    /// Per specimen, in id order.
    pub specimens: Vec<SpecimenTruth>,
    /// Counterfactual pairs, for a `pairs` run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<PairTruth>,
}

/// One counterfactual pair (a row of `pairs.csv`): the same animal, pose, placement, exposure
/// and noise, written without and with one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairTruth {
    /// Pair id (`PR00000`).
    pub pair: String,
    /// The L3 class added.
    pub finding: String,
    /// Its severity (0..1).
    pub severity: f64,
    /// The specimen without it (`PR00000A`).
    pub without: String,
    /// The specimen with it (`PR00000B`).
    pub with: String,
}

/// The truth as IMPC observations (`synth --impc-observations`).
pub const OBSERVATIONS_FILE: &str = "observations.csv";

/// The file listing a `pairs` run's pairs.
pub const PAIRS_FILE: &str = "pairs.csv";

/// The `finding` of a posture pair in `pairs.csv`: the same animal in two lateral postures,
/// no finding added.
pub const POSTURE_PAIR: &str = "posture";

/// Stream key of the pairs' added findings.
const PAIR_STREAM: u64 = 0x7061_6972;

/// A finished run.
#[derive(Debug, Clone)]
pub struct SynthSummary {
    /// Specimens written.
    pub specimens: usize,
    /// Images written.
    pub images: usize,
    /// Abnormal specimens.
    pub abnormal: usize,
}

/// Writes a phantom folder. `progress` is called once per finished specimen (from any thread).
///
/// Refuses to write into a non-empty folder, so nothing is ever overwritten.
pub fn generate(out: &Path, config: &SynthConfig, progress: &(dyn Fn() + Sync)) -> anyhow::Result<SynthSummary> {
    if config.size < 64 || config.size > 4096 {
        bail!("--size {} is outside 64..=4096", config.size);
    }
    if config.views.is_empty() || config.views.iter().any(|v| !v.is_model_view()) {
        bail!("--views must name dv and/or lv");
    }
    if out.exists() && std::fs::read_dir(out).with_context(|| format!("{}", out.display()))?.next().is_some() {
        bail!("{}: folder is not empty; choose a new folder so nothing is overwritten", out.display());
    }
    if config.paired() && config.views.len() != 2 {
        bail!("{} needs both views", if config.pairs { "--pairs" } else { "--posture-pairs" });
    }
    if config.paired() && config.missing_view_rate > 0.0 {
        bail!("--missing-view-rate drops a view, and a pair's members are written with both: give it without pairs");
    }
    if config.pairs && config.posture_pairs {
        bail!("--pairs and --posture-pairs write different pairs: choose one per folder");
    }
    if config.posture_pairs && config.style == Style::B {
        bail!("--posture-pairs draws style a's lateral posture; style b has no such pose");
    }
    if config.style == Style::B && (config.vary_film || config.vary_animal) {
        bail!("--vary-film and --vary-animal widen style a; style b draws its own variation");
    }
    // A redrawn posture bends the column; only a varied animal's trunk follows it.
    if config.vary_posture && !config.vary_animal {
        bail!("--vary-posture widens style a's varied animal: give it with --vary-animal");
    }
    if config.posture_pairs && config.style == Style::A && !config.vary_animal {
        bail!("--posture-pairs redraws a varied animal's posture: give it with --vary-animal");
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let done = AtomicUsize::new(0);
    let written: Vec<(Vec<SpecimenTruth>, Option<PairTruth>)> = (0..config.count)
        .into_par_iter()
        .map(|i| {
            let t = if config.posture_pairs {
                write_posture_pair(out, config, i as u64).map(|(a, b, p)| (vec![a, b], Some(p)))
            } else if config.pairs {
                write_pair(out, config, i as u64).map(|(a, b, p)| (vec![a, b], Some(p)))
            } else {
                write_specimen(out, config, i as u64).map(|t| (vec![t], None))
            };
            done.fetch_add(1, Ordering::Relaxed);
            progress();
            t
        })
        .collect::<anyhow::Result<_>>()?;
    let mut truths = Vec::new();
    let mut pairs = Vec::new();
    for (t, p) in written {
        truths.extend(t);
        pairs.extend(p);
    }
    write_manifest(out, config, &truths)?;
    write_truth_labels(out, &truths)?;
    if config.paired() {
        write_pairs(out, &pairs)?;
    }
    if config.impc_observations {
        write_observations(out, &truths)?;
    }
    if config.reviewed > 0 {
        write_review(out, config.reviewed)?;
    }
    let truth = Truth {
        generator: format!("mousexray {}", env!("CARGO_PKG_VERSION")),
        config: config.clone(),
        specimens: truths,
        pairs,
    };
    let file = File::create(out.join("truth.json")).context("creating truth.json")?;
    let mut w = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, &truth).context("writing truth.json")?;
    w.flush().context("writing truth.json")?;
    Ok(SynthSummary {
        specimens: truth.specimens.len(),
        images: truth.specimens.iter().map(|s| s.files.len()).sum(),
        abnormal: truth.specimens.iter().filter(|s| !s.findings().is_empty()).count(),
    })
}

/// The folders under `folder` (itself included, six levels deep) whose `truth.json` says
/// style b: `train` refuses them, wherever in the data they sit. A `truth.json` that is not a
/// phantom truth file is none of these.
pub fn style_b_folders(folder: &Path) -> Vec<PathBuf> {
    #[derive(Deserialize)]
    struct Head {
        config: StyleOnly,
    }
    #[derive(Deserialize)]
    struct StyleOnly {
        #[serde(default)]
        style: Style,
    }
    walkdir::WalkDir::new(folder)
        .max_depth(6)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() == "truth.json")
        .filter(|e| {
            File::open(e.path())
                .ok()
                .and_then(|f| serde_json::from_reader::<_, Head>(std::io::BufReader::new(f)).ok())
                .is_some_and(|h| h.config.style == Style::B)
        })
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .collect()
}

/// The id of specimen `index`: `prefix` (default `MX`) and the index in five digits.
pub fn specimen_id(prefix: Option<&str>, index: u64) -> String {
    format!("{}{index:05}", prefix.unwrap_or("MX"))
}

/// One animal of either style.
#[derive(Clone)]
enum Drawn {
    A(Phantom),
    B(Mouse),
}

impl Drawn {
    fn findings(&self) -> &[Finding] {
        match self {
            Drawn::A(p) => &p.findings,
            Drawn::B(m) => &m.findings,
        }
    }

    fn has(&self, class: &str) -> bool {
        self.findings().iter().any(|f| f.class == class)
    }

    fn with_finding(&self, class: &str, severity: f64) -> Drawn {
        match self {
            Drawn::A(p) => Drawn::A(p.with_finding(class, severity)),
            Drawn::B(m) => Drawn::B(m.with_finding(class, severity)),
        }
    }
}

/// Specimen `index` of the run's animals (drawn with `prevalence`), varied when the run asks
/// for it.
fn sample_animal(config: &SynthConfig, index: u64, prevalence: &Prevalence) -> Drawn {
    match config.style {
        Style::A => {
            let mut phantom = Phantom::sample(config.seed, index, prevalence, config.ruler_rate);
            if config.vary_animal {
                phantom.vary_animal();
            }
            if config.vary_posture {
                phantom.vary_lateral_posture();
            }
            Drawn::A(phantom)
        }
        Style::B => Drawn::B(Mouse::sample(config.seed, index, prevalence)),
    }
}

fn write_specimen(out: &Path, config: &SynthConfig, index: u64) -> anyhow::Result<SpecimenTruth> {
    let animal = sample_animal(config, index, &config.prevalence);
    write_phantom(out, config, index, specimen_id(config.id_prefix.as_deref(), index), animal, index)
}

/// The ids of pair `index`: the pair, the specimen without and the specimen with the finding;
/// `prefix` defaults to `PR`.
pub fn pair_ids(prefix: Option<&str>, index: u64) -> (String, String, String) {
    let pair = format!("{}{index:05}", prefix.unwrap_or("PR"));
    (pair.clone(), format!("{pair}A"), format!("{pair}B"))
}

/// Animal `index` of the run, and the same animal with one finding it lacks added: the classes
/// taken in turn (from the run's class list), the severity uniform over the run's range.
fn write_pair(
    out: &Path,
    config: &SynthConfig,
    index: u64,
) -> anyhow::Result<(SpecimenTruth, SpecimenTruth, PairTruth)> {
    let base = sample_animal(config, index, &config.prevalence);
    let classes: Vec<&str> = if config.prevalence.classes.is_empty() {
        super::CLASSES.to_vec()
    } else {
        config.prevalence.classes.iter().map(String::as_str).collect()
    };
    let n = classes.len().max(1);
    let lacking = |p: &Drawn| (0..n).map(|k| classes[(index as usize + k) % n]).find(|c| !p.has(c));
    // An animal that already has every class asked for is drawn again without findings.
    let (base, finding) = match lacking(&base) {
        Some(f) => (base, f),
        None => {
            let normal = Prevalence { abnormal: 0.0, ..config.prevalence.clone() };
            let b = sample_animal(config, index, &normal);
            let f = lacking(&b).with_context(|| format!("pair {index}: no class to add"))?;
            (b, f)
        }
    };
    let mut rng = Rng::new(config.seed ^ PAIR_STREAM, index);
    let severity = rng.range(config.prevalence.min_severity.clamp(0.0, 1.0), 1.0);
    let with = base.with_finding(finding, severity);
    write_members(out, config, index, base, with, finding, severity)
}

/// Animal `index` of the run (style a) as drawn, and the same animal with its lateral posture
/// drawn again from the pair's own stream, framed as the first: the findings, the DV film and
/// everything but the LV pose identical.
fn write_posture_pair(
    out: &Path,
    config: &SynthConfig,
    index: u64,
) -> anyhow::Result<(SpecimenTruth, SpecimenTruth, PairTruth)> {
    let base = sample_animal(config, index, &config.prevalence);
    let Drawn::A(phantom) = &base else { bail!("pair {index}: posture pairs are drawn in style a") };
    let mut other = phantom.clone();
    other.redraw_lateral_posture(&mut Rng::new(config.seed ^ PAIR_STREAM ^ 0x706f_7365, index));
    write_members(out, config, index, base, Drawn::A(other), POSTURE_PAIR, 0.0)
}

/// Writes pair `index`'s two members, the second framed as the first so that only what differs
/// between the animals moves on the film, and the `pairs.csv` row naming them.
fn write_members(
    out: &Path,
    config: &SynthConfig,
    index: u64,
    first: Drawn,
    second: Drawn,
    finding: &str,
    severity: f64,
) -> anyhow::Result<(SpecimenTruth, SpecimenTruth, PairTruth)> {
    let (pair, a, b) = pair_ids(config.id_prefix.as_deref(), index);
    let members = vec![(a.clone(), first, 2 * index), (b.clone(), second, 2 * index + 1)];
    let mut written = write_phantoms(out, config, index, members)?.into_iter();
    let (Some(without), Some(with)) = (written.next(), written.next()) else {
        bail!("pair {index}: a member was not written")
    };
    let truth = PairTruth { pair, finding: finding.to_owned(), severity, without: a, with: b };
    Ok((without, with, truth))
}

/// Writes one animal as specimen `id`; `index` keys its format and metadata draws, `file_index`
/// its file names where the layout numbers files.
fn write_phantom(
    out: &Path,
    config: &SynthConfig,
    index: u64,
    id: String,
    animal: Drawn,
    file_index: u64,
) -> anyhow::Result<SpecimenTruth> {
    let mut written = write_phantoms(out, config, index, vec![(id, animal, file_index)])?;
    written.pop().context("the specimen was not written")
}

/// Writes `members` (id, animal, file index): one specimen, or a pair's two members, which share
/// the metadata and format draws of `index` (and are all written as experimental animals), are
/// framed as the first as drawn so that only what differs between the animals moves on the
/// film, and carry the same film marks, placed where they fit beside every animal.
fn write_phantoms(
    out: &Path,
    config: &SynthConfig,
    index: u64,
    members: Vec<(String, Drawn, u64)>,
) -> anyhow::Result<Vec<SpecimenTruth>> {
    let Some((_, first, _)) = members.first() else { return Ok(Vec::new()) };
    let frame = first.clone();
    let mut rng = Rng::new(config.seed ^ 0x6d65_7461, index);
    let metadata = sample_metadata(&mut rng, index, config.paired() || !first.findings().is_empty());
    let mut views = config.views.clone();
    // Draws happen whatever the configuration, so other settings do not shift them.
    let (missing, which, fmt_draw, mono1) = (rng.uniform(), rng.below(2), rng.below(5), rng.chance(0.3));
    if views.len() == 2 && missing < config.missing_view_rate && !config.paired() {
        views.remove(which);
    }
    let format = match config.format {
        OutFormat::Mixed => {
            [OutFormat::Png16, OutFormat::Tiff, OutFormat::Dicom, OutFormat::Jpeg, OutFormat::Bmp][fmt_draw]
        }
        f => f,
    };
    let mut truths: Vec<SpecimenTruth> = Vec::with_capacity(members.len());
    let mut animals = Vec::with_capacity(members.len());
    let mut file_indices = Vec::with_capacity(members.len());
    for (k, (id, animal, file_index)) in members.into_iter().enumerate() {
        truths.push(SpecimenTruth {
            id,
            phantom: None,
            style_b: None,
            files: BTreeMap::new(),
            metadata: metadata.clone(),
            film: BTreeMap::new(),
            spine: BTreeMap::new(),
        });
        // The first member is framed as itself, the others as it.
        animals.push((animal, (k > 0).then_some(&frame)));
        file_indices.push(file_index);
    }
    for view in views {
        let slot = usize::from(view == View::Lv);
        let variation = config.vary_film.then(|| FilmVariation::sample(config.seed, index, slot));
        let mut films = Vec::with_capacity(animals.len());
        for ((animal, frame), truth) in animals.iter_mut().zip(&mut truths) {
            films.push(match (animal, frame) {
                (Drawn::A(phantom), frame) => {
                    let frame = match frame {
                        Some(Drawn::A(f)) => Some(f),
                        _ => None,
                    };
                    if let Some(v) = &variation {
                        v.apply_before_render(&mut phantom.placements[slot], &mut phantom.exposures[slot]);
                    }
                    truth.spine.insert(view, phantom.spine_landmarks(frame, view, config.size));
                    phantom.render_framed_as(frame, view, config.size, true)
                }
                (Drawn::B(mouse), frame) => {
                    let frame = match frame {
                        Some(Drawn::B(f)) => Some(f),
                        _ => None,
                    };
                    mouse.render_framed_as(frame, view, config.size)
                }
            });
        }
        if let Some(mut v) = variation {
            v.marks = v.apply_film(&mut films, config.size, config.seed, index, slot);
            for truth in &mut truths {
                truth.film.insert(view, v.clone());
            }
        }
        for ((pixels, truth), file_index) in films.into_iter().zip(&mut truths).zip(&file_indices) {
            let rel = relative_path(config.layout, &truth.id, view, *file_index, format);
            let path = out.join(&rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let uid = format!("2.25.{}{:06}{}", config.seed % 1_000_000_000, file_index, usize::from(view == View::Lv));
            save(&path, config.size, pixels, format, mono1, &truth.id, &uid)
                .with_context(|| format!("writing {}", path.display()))?;
            truth.files.insert(view, rel.to_string_lossy().into_owned());
        }
    }
    for ((animal, _), truth) in animals.into_iter().zip(&mut truths) {
        match animal {
            Drawn::A(p) => truth.phantom = Some(p),
            Drawn::B(m) => truth.style_b = Some(m),
        }
    }
    Ok(truths)
}

fn extension(format: OutFormat) -> &'static str {
    match format {
        OutFormat::Png16 | OutFormat::Mixed => "png",
        OutFormat::Jpeg => "jpg",
        OutFormat::Bmp => "bmp",
        OutFormat::Tiff => "tif",
        OutFormat::Dicom => "dcm",
    }
}

fn relative_path(layout: OutLayout, id: &str, view: View, index: u64, format: OutFormat) -> PathBuf {
    let ext = extension(format);
    let name = if view == View::Dv { "DV" } else { "LV" };
    match layout {
        OutLayout::Subfolders => PathBuf::from(id).join(format!("{name}.{ext}")),
        OutLayout::Flat => PathBuf::from(format!("{id}_{name}.{ext}")),
        OutLayout::Impc => {
            let media = 100_000 + index * 2 + u64::from(view == View::Lv);
            PathBuf::from("Phantom Centre/PHN_001/IMPC_XRY_001")
                .join(view.impc_parameter())
                .join(format!("{media}.{ext}"))
        }
    }
}

fn save(
    path: &Path,
    size: u32,
    pixels: Vec<u16>,
    format: OutFormat,
    mono1: bool,
    id: &str,
    uid: &str,
) -> anyhow::Result<()> {
    let to8 = |px: &[u16]| px.iter().map(|&v| (u32::from(v) * 255 / 16383) as u8).collect::<Vec<u8>>();
    match format {
        OutFormat::Png16 | OutFormat::Mixed => {
            // `image` takes 16-bit samples in native byte order.
            let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_ne_bytes()).collect();
            let w = BufWriter::new(File::create(path)?);
            image::codecs::png::PngEncoder::new_with_quality(
                w,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Sub,
            )
            .write_image(&bytes, size, size, image::ExtendedColorType::L16)?;
        }
        OutFormat::Tiff => {
            let buf = image::ImageBuffer::<image::Luma<u16>, _>::from_raw(size, size, pixels)
                .context("pixel buffer does not match the size")?;
            buf.save_with_format(path, image::ImageFormat::Tiff)?;
        }
        OutFormat::Jpeg => {
            let w = BufWriter::new(File::create(path)?);
            image::codecs::jpeg::JpegEncoder::new_with_quality(w, 92).write_image(
                &to8(&pixels),
                size,
                size,
                image::ExtendedColorType::L8,
            )?;
        }
        OutFormat::Bmp => {
            let mut w = BufWriter::new(File::create(path)?);
            image::codecs::bmp::BmpEncoder::new(&mut w).write_image(
                &to8(&pixels),
                size,
                size,
                image::ExtendedColorType::L8,
            )?;
        }
        OutFormat::Dicom => {
            let img = GrayImage16::new(size, size, 14, pixels, FileFormat::Dicom)
                .context("pixel buffer does not match the size")?;
            let options = DicomWriteOptions {
                monochrome1: mono1,
                patient_id: id.to_owned(),
                instance_uid: uid.to_owned(),
                ..Default::default()
            };
            write_dicom(path, &img, &options).map_err(|e| anyhow::anyhow!(e))?;
        }
    }
    Ok(())
}

/// IMPC-like metadata: abnormal animals are mutants; normal ones mostly wild-type controls.
fn sample_metadata(rng: &mut Rng, index: u64, abnormal: bool) -> Metadata {
    const GENES: [&str; 6] = ["Phx1", "Skl4", "Vrt2", "Rbx7", "Lmb3", "Dgt9"];
    let control = !abnormal && rng.chance(0.7);
    let gene = GENES[rng.below(GENES.len())];
    let mut m = Metadata::default();
    let centre = if rng.chance(0.5) { "Phantom Centre North" } else { "Phantom Centre South" };
    m.set("phenotyping_center", centre);
    m.set("sex", if rng.chance(0.5) { "female" } else { "male" });
    let day = 5 + (index / 6) % 24;
    m.set("date_of_experiment", &format!("2026-{:02}-{:02}", 1 + (index / 144) % 12, day));
    m.set("strain_name", "C57BL/6N");
    if control {
        m.set("biological_sample_group", "control");
        m.set("colony_id", "baseline");
    } else {
        m.set("biological_sample_group", "experimental");
        m.set("gene_symbol", gene);
        m.set("allele_symbol", &format!("{gene}<tm1b(PHN)Mx>"));
        m.set("colony_id", &format!("{}-TM1B", gene.to_uppercase()));
        m.set("zygosity", ["homozygote", "heterozygote", "hemizygote"][rng.below(3)]);
    }
    m
}

fn write_manifest(out: &Path, config: &SynthConfig, truths: &[SpecimenTruth]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(out.join(MANIFEST_FILE)).context("creating specimens.csv")?;
    let mut header = vec!["specimen_id", "view", "path"];
    header.extend(crate::specimen::Metadata::COLUMNS);
    w.write_record(&header)?;
    for t in truths {
        let meta: Vec<String> = crate::specimen::Metadata::COLUMNS
            .iter()
            .map(|c| t.metadata.fields().iter().find(|(k, _)| k == c).map(|(_, v)| (*v).to_owned()).unwrap_or_default())
            .collect();
        let mut rows: Vec<(String, String)> = Vec::new();
        if config.layout == OutLayout::Impc {
            rows.extend(t.files.iter().map(|(v, p)| (v.impc_parameter().to_owned(), p.clone())));
        } else {
            rows.push((String::new(), String::new()));
        }
        for (view, path) in rows {
            let mut rec = vec![t.id.clone(), view, path];
            rec.extend(meta.iter().cloned());
            w.write_record(&rec)?;
        }
    }
    w.flush().context("writing specimens.csv")?;
    Ok(())
}

fn write_pairs(out: &Path, pairs: &[PairTruth]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(out.join(PAIRS_FILE)).context("creating pairs.csv")?;
    w.write_record(["pair", "finding", "severity", "without", "with"])?;
    for p in pairs {
        w.write_record([&p.pair, &p.finding, &format!("{:.4}", p.severity), &p.without, &p.with])?;
    }
    w.flush().context("writing pairs.csv")?;
    Ok(())
}

fn write_truth_labels(out: &Path, truths: &[SpecimenTruth]) -> anyhow::Result<()> {
    let taxonomy = Taxonomy::default();
    let rows: Vec<(&str, NodeLabels)> = truths
        .iter()
        .map(|t| {
            let mut labels: NodeLabels = taxonomy
                .nodes
                .iter()
                .map(|n| (n.level == Level::L3).then(|| t.findings().iter().any(|f: &Finding| f.class == n.id)))
                .collect();
            taxonomy.complete(&mut labels);
            (t.id.as_str(), labels)
        })
        .collect();
    write_labels(&out.join(crate::specimen::LABELS_FILE), &taxonomy, rows.iter().map(|(id, l)| (*id, l)))
        .context("writing labels.csv")
}

/// Records the truth of the first `count` specimens (by id) of a phantom folder, as its
/// `labels.csv` holds it, as a thorough reviewer's decisions (reviewer "phantom truth"): status
/// normal for a normal animal; else a call on every finding, abnormal or normal, and status
/// confirmed abnormal.
pub fn write_review(out: &Path, count: usize) -> anyhow::Result<()> {
    use crate::review::{Call, Edit, ReviewSession, Status};
    let taxonomy = Taxonomy::default();
    let (table, _) =
        crate::specimen::read_labels(&out.join("labels.csv"), &taxonomy).map_err(|p| anyhow::anyhow!("{p}"))?;
    let mut edits = Vec::new();
    for (id, labels) in table.rows.iter().take(count) {
        let specimen = id.clone();
        if labels.first().copied().flatten() != Some(true) {
            edits.push(Edit::Status { specimen, status: Status::Normal });
            continue;
        }
        for (node, label) in taxonomy.nodes.iter().zip(labels) {
            if let (Level::L3, Some(abnormal)) = (node.level, label) {
                let call = Some(if *abnormal { Call::Abnormal } else { Call::Normal });
                edits.push(Edit::Call { specimen: specimen.clone(), node: node.id.clone(), call });
            }
        }
        edits.push(Edit::Status { specimen, status: Status::ConfirmedAbnormal });
    }
    let mut session = ReviewSession::open(out, "phantom truth").context("opening the folder's review")?;
    session.edit_all(edits).context("recording the decisions")?;
    session.save().context("saving the review")
}

/// The IMPC parameter stem (`"024"`) an L3 finding is scored under: the node's first parameter,
/// or the one its variant names (the bone of a long-bone finding, the mandible of a
/// malocclusion).
fn scored_stem(class: &str, variant: &str, stems: &[&str]) -> Vec<String> {
    let named = |word: &str, stem: &str| variant.contains(word).then(|| stem.to_owned());
    let picked: Vec<String> = match class {
        "long_bones" => {
            [("humerus", "021"), ("femur", "024"), ("tibia", "025")].iter().filter_map(|(w, s)| named(w, s)).collect()
        }
        "teeth" => {
            std::iter::once("005".to_owned()).chain(named("malocclusion", "004")).chain(named("jaw", "004")).collect()
        }
        _ => Vec::new(),
    };
    if picked.is_empty() { stems.iter().take(1).map(|s| (*s).to_owned()).collect() } else { picked }
}

/// The IMPC names of the X-ray parameters the phantoms' observations use, by stem.
const IMPC_XRY_NAMES: [(&str, &str); 18] = [
    ("001", "Skull shape"),
    ("004", "Mandibles"),
    ("005", "Teeth"),
    ("006", "Scapulae"),
    ("011", "Fusion of ribs"),
    ("012", "Pelvis"),
    ("019", "Fusion of vertebrae"),
    ("021", "Humerus"),
    ("022", "Radius"),
    ("023", "Ulna"),
    ("024", "Femur"),
    ("025", "Tibia"),
    ("026", "Fibula"),
    ("028", "Number of digits"),
    ("056", "Scoliosis"),
    ("057", "Kyphosis"),
    ("058", "Lordosis"),
    ("062", "Polysyndactylism"),
];

/// Writes the truth as the IMPC's long-form observations: per specimen, every X-ray parameter
/// the taxonomy maps (`normal`/`abnormal`, `not fused`/`fused`, and the number of digits, 20
/// unless a digit was added), plus the unmapped scapulae parameter as real data has such rows.
fn write_observations(out: &Path, truths: &[SpecimenTruth]) -> anyhow::Result<()> {
    let taxonomy = Taxonomy::default();
    let path = out.join(OBSERVATIONS_FILE);
    crate::fsx::write_atomic(&path, |w| {
        let mut w = csv::Writer::from_writer(w);
        w.write_record([
            "specimen_id",
            "phenotyping_center",
            "procedure_stable_id",
            "parameter_stable_id",
            "parameter_name",
            "category",
            "data_point",
        ])?;
        for t in truths {
            let centre = t.metadata.fields().iter().find(|(k, _)| *k == "phenotyping_center").map_or("", |(_, v)| *v);
            let mut row = |stem: &str, name: &str, category: &str, data: &str| {
                w.write_record([&t.id, centre, "IMPC_XRY_001", &format!("IMPC_XRY_{stem}_001"), name, category, data])
            };
            for node in taxonomy.level(Level::L3) {
                let stems: Vec<&str> =
                    node.impc_parameters.iter().filter_map(|p| crate::specimen::xry_stem(p)).collect();
                let finding = t.findings().iter().find(|f| f.class == node.id);
                let abnormal = finding.map(|f| scored_stem(&f.class, &f.variant, &stems)).unwrap_or_default();
                for stem in &stems {
                    let hit = abnormal.iter().any(|s| s == stem);
                    let name = IMPC_XRY_NAMES.iter().find(|(s, _)| s == stem).map_or(node.label.as_str(), |(_, n)| n);
                    match *stem {
                        "028" => {
                            let extra = finding.is_some_and(|f| f.variant.contains("extra digit"));
                            row(stem, name, "", if extra { "21" } else { "20" })?;
                        }
                        "011" | "019" => row(stem, name, if hit { "fused" } else { "not fused" }, "")?,
                        _ => row(stem, name, if hit { "abnormal" } else { "normal" }, "")?,
                    }
                }
            }
            row("006", "Scapulae", "normal", "")?;
        }
        w.flush()
    })
    .with_context(|| format!("writing {}", path.display()))
}
