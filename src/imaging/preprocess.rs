//! The one preprocessing function: training and inference both call [`preprocess`].

use serde::{Deserialize, Serialize};

use super::crop_frame::{CropFrame, Frame};
use super::film::{Analysis, FilmArea, Marks, median_level};
use super::film_qc::{FilmMeasures, mirror_symmetry, spine_offset};
use super::transform::AnimalMask;
use super::{GrayImage16, Transform};

/// Which way round the image's intensities are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// Decide per image: if the border is brighter than the image as a whole, the background is
    /// bright and the image is inverted.
    #[default]
    Auto,
    /// Bone bright, background dark (the usual display convention); never invert.
    BrightBone,
    /// Bone dark, background bright (raw transmission); always invert.
    DarkBone,
}

/// Which pixels of a film set its intensity window (the clipping percentiles of
/// [`PreprocessSpec`]). Either way the marks beside the animal are left out (with `body_only`),
/// and the pixels left out count at the background's level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipRegion {
    /// The exposed film: more film around the same animal (a larger cassette, a ruler's room)
    /// moves the window, since the percentiles then hold more background.
    #[default]
    Film,
    /// The square the model sees (the crop around the animal, padding included), found first
    /// with the film's window: the window is the same however much film surrounds the animal.
    Crop,
}

impl ClipRegion {
    /// Its name in the model metadata and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ClipRegion::Film => "film",
            ClipRegion::Crop => "crop",
        }
    }
}

impl std::str::FromStr for ClipRegion {
    type Err = String;

    /// `film` or `crop`, as in the model metadata.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "film" => Ok(ClipRegion::Film),
            "crop" => Ok(ClipRegion::Crop),
            _ => Err(format!("`{s}` is not a clip region: film or crop")),
        }
    }
}

/// How a view becomes a model input. Serialisable: it travels inside each model, so a model is
/// always fed exactly as it was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreprocessSpec {
    /// Side of the square model input, in pixels.
    pub size: u32,
    /// Lower clipping percentile (0..100) for intensity normalisation.
    pub clip_low_percent: f64,
    /// Upper clipping percentile (0..100).
    pub clip_high_percent: f64,
    /// Intensity polarity handling.
    pub polarity: Polarity,
    /// Rotate so the body's long axis (principal axis of the foreground) is vertical.
    pub orient: bool,
    /// Crop to the foreground's extent (plus `margin`) instead of fitting the whole image.
    pub crop_to_body: bool,
    /// Margin around the crop, as a fraction of its longer side.
    pub margin: f64,
    /// Only the animal reaches the model: film borders and cassette edges, rulers, text and
    /// markers are left out of the intensity statistics and blanked, with the animal's edge
    /// feathered (see [`preprocess`]). Models written before this option read it as `false`
    /// and are fed exactly as they were trained; new models default to `true`.
    #[serde(default)]
    pub body_only: bool,
    /// Which pixels set the clipping percentiles. Models written before this option read it
    /// as [`ClipRegion::Film`] and are fed exactly as they were trained; new models default to
    /// [`ClipRegion::Crop`].
    #[serde(default)]
    pub clip_region: ClipRegion,
    /// Where the crop sits on the animal. Models written before this option read it as
    /// [`CropFrame::CoreExtent`] and are fed exactly as they were trained, and new models default
    /// to it too: trained from scratch, a model on [`CropFrame::ThickCentroid`] scored best on
    /// held-out phantoms of its own generator and worst on the other (BENCHMARKS.md, "The crop's
    /// frame, trained from scratch").
    #[serde(default)]
    pub crop_frame: CropFrame,
    /// Standardisation: the model sees `(x - mean) / std` for normalised `x` in 0..=1.
    pub mean: f32,
    /// See `mean`.
    pub std: f32,
}

impl Default for PreprocessSpec {
    fn default() -> Self {
        PreprocessSpec {
            size: 224,
            clip_low_percent: 0.5,
            clip_high_percent: 99.5,
            polarity: Polarity::Auto,
            orient: true,
            crop_to_body: true,
            margin: 0.04,
            body_only: true,
            clip_region: ClipRegion::Crop,
            crop_frame: CropFrame::CoreExtent,
            mean: 0.5,
            std: 0.5,
        }
    }
}

impl PreprocessSpec {
    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        if !(8..=4096).contains(&self.size) {
            return Err(format!("size {} is outside 8..=4096", self.size));
        }
        if !(0.0..100.0).contains(&self.clip_low_percent)
            || !(0.0..=100.0).contains(&self.clip_high_percent)
            || self.clip_low_percent >= self.clip_high_percent
        {
            return Err(format!(
                "clip percentiles {}..{} must satisfy 0 <= low < high <= 100",
                self.clip_low_percent, self.clip_high_percent
            ));
        }
        if !(0.0..=1.0).contains(&self.margin) {
            return Err(format!("margin {} is outside 0..=1", self.margin));
        }
        if !(self.std.is_finite() && self.std > 0.0 && self.mean.is_finite()) {
            return Err(format!("mean {} / std {} must be finite with std > 0", self.mean, self.std));
        }
        Ok(())
    }
}

impl PreprocessSpec {
    /// The standardised value of empty background: what padding and absent views hold.
    pub fn background(&self) -> f32 {
        -self.mean / self.std
    }
}

/// A preprocessed view: `size * size` standardised values, row-major, one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    /// Side in pixels.
    pub size: u32,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Turns a decoded view into a model input.
///
/// 1. The exposed film: bands at the film's brightest or darkest level along its edges (an
///    unexposed or collimated border, a cassette edge) are left out of every measure below and
///    become background.
/// 2. Robust intensity normalisation: clip to the spec's percentiles, scale to 0..=1.
/// 3. Polarity: make bone bright (see [`Polarity`]), judged just inside the exposed film.
/// 4. The animal: the largest bright region, grown into its fainter limbs and tail; everything
///    else (rulers, text, markers, a second animal) becomes background, with a feathered edge.
/// 5. Orientation: rotate so the animal's principal axis is vertical (IMPC placements vary).
/// 6. The crop: a square around the animal placed as [`CropFrame`] says, resized with padding
///    into `size x size` (area-averaged when shrinking).
/// 7. Standardisation with the spec's mean and std.
///
/// Returns the input and the [`Transform`] from model to original pixel coordinates.
///
/// # Errors
/// The spec is invalid, or the image's size does not match its pixels.
pub fn preprocess(image: &GrayImage16, spec: &PreprocessSpec) -> Result<(ModelInput, Transform), String> {
    preprocess_film(image, spec).map(|p| (p.input, p.transform))
}

/// What [`preprocess_film`] makes of a view.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessed {
    /// The model input.
    pub input: ModelInput,
    /// Model to original pixel coordinates, with where the animal is.
    pub transform: Transform,
    /// What film QC needs (see [`super::film_qc`]), measured on the body-only analysis.
    pub film: FilmMeasures,
}

/// [`preprocess`] with the film measures for QC. A spec without `body_only` still gets them,
/// from a body-only pass of its own (older models pay that once per view).
///
/// # Errors
/// As [`preprocess`].
pub fn preprocess_film(image: &GrayImage16, spec: &PreprocessSpec) -> Result<Preprocessed, String> {
    spec.validate()?;
    let (w, h) = (image.width as usize, image.height as usize);
    if w == 0 || h == 0 || image.pixels.len() != w * h {
        return Err(format!("image size {w} x {h} does not match its {} pixels", image.pixels.len()));
    }
    if !spec.body_only {
        let whole = FilmArea { x0: 0, y0: 0, x1: w, y1: h };
        let (mut norm, invert) = normalise(image, spec, &whole, None);
        let frame = Frame::find(&Analysis::whole_film(&norm, w, h), w, h, spec);
        if spec.clip_region == ClipRegion::Crop {
            norm = normalise_over(image, spec, &whole, frame.level_counts(image, &whole, None), Some(invert)).0;
        }
        let (input, transform) = sample(norm, w, h, &frame, image, spec);
        let film = preprocess_film(image, &PreprocessSpec { body_only: true, ..spec.clone() })?.film;
        return Ok(Preprocessed { input, transform, film });
    }
    let FirstLook { area, mut norm, invert, mut analysis } = first_look(image, spec);
    // Blanking makes an empty film look structured: QC takes the structure from this first look.
    let structure = analysis.structure();
    let mut other_bulk = analysis.animal.as_ref().map_or(0, |a| a.other_bulk);
    let mut blanked = None;
    // Marks off the animal must not set the clipping or the threshold. A bright mark also
    // darkens everything else at the first look, where a faintly joined part of the animal can
    // pass for a mark: so the film is looked at again, normalised without the candidates, and
    // what is a mark at that contrast is left out of the clipping and blanked.
    if let Some(candidates) = Marks::find(&analysis) {
        (norm, _) = normalise(image, spec, &area, Some((&candidates, invert)));
        area.blank_outside(&mut norm, w);
        analysis = Analysis::of(&norm, w, h, &area);
        other_bulk = analysis.animal.as_ref().map_or(0, |a| a.other_bulk);
        if let Some(marks) = Marks::find(&analysis) {
            // Usually the same marks: then the film is already normalised without them.
            if marks.cells != candidates.cells {
                (norm, _) = normalise(image, spec, &area, Some((&marks, invert)));
                area.blank_outside(&mut norm, w);
            }
            // Blanked to the background's level, not to black: the analysis then sees the film
            // as it would be without the mark, and the animal's mask fades it to black anyway.
            let background = background_level(&norm, w, &marks);
            marks.blank(&mut norm, w, background);
            analysis = Analysis::of(&norm, w, h, &area);
            blanked = Some(marks);
        }
    }
    let frame = Frame::find(&analysis, w, h, spec);
    if spec.clip_region == ClipRegion::Crop {
        // The animal, its crop and its mask stay as found; only the window is measured again.
        let counts = frame.level_counts(image, &area, blanked.as_ref());
        norm = normalise_over(image, spec, &area, counts, Some(invert)).0;
        area.blank_outside(&mut norm, w);
        if let Some(marks) = &blanked {
            let background = background_level(&norm, w, marks);
            marks.blank(&mut norm, w, background);
        }
    }
    let src = Source::of(&norm, w, h, &frame, spec);
    let (input, transform) = sample_from(&src, &frame, image, spec);
    // Film QC's limits were set on inputs framed between the core's outermost cells: a model
    // framed otherwise gets its QC from such an input, sampled from the film as reduced for the
    // model's (the two crops differ by a few per cent, so at most by one step of reduction).
    // Measured on the model's own input instead, the figures on constructed cases hardly move,
    // but on real films the spine's place across the trunk does (BENCHMARKS).
    let qc_input = if spec.crop_frame == CropFrame::CoreExtent || !spec.crop_to_body {
        None
    } else {
        let extent_spec = PreprocessSpec { crop_frame: CropFrame::CoreExtent, ..spec.clone() };
        Some(sample_from(&src, &frame.placed_as(&analysis, w, h, &extent_spec), image, spec).0)
    };
    let film = measure(&analysis, &area, &frame, qc_input.as_ref().unwrap_or(&input), structure, other_bulk);
    Ok(Preprocessed { input, transform, film })
}

/// A film's first body-only look: its exposed area, the film normalised by `spec` over that
/// area (bone bright) with everything outside it blanked, and its analysis (the animal, its
/// core and body, and the marks beside it), before any mark is left out or blanked.
pub(super) struct FirstLook {
    pub(super) area: FilmArea,
    pub(super) norm: Vec<f32>,
    /// Whether normalising inverted the film (its bone was dark).
    pub(super) invert: bool,
    pub(super) analysis: Analysis,
}

/// Step 1 of [`preprocess`] and the look [`super::body_axis`] and [`super::find_ruler`] read
/// the animal and the ruler from. `image` must hold `width * height` pixels.
pub(super) fn first_look(image: &GrayImage16, spec: &PreprocessSpec) -> FirstLook {
    let (w, h) = (image.width as usize, image.height as usize);
    let area = FilmArea::find(image);
    let (mut norm, invert) = normalise(image, spec, &area, None);
    area.blank_outside(&mut norm, w);
    let analysis = Analysis::of(&norm, w, h, &area);
    FirstLook { area, norm, invert, analysis }
}

/// The median normalised level of the film off the marks (every third pixel of every third row):
/// its background's, since the animal covers a minority of a whole-body film.
fn background_level(norm: &[f32], w: usize, marks: &Marks) -> f32 {
    let unmarked = norm.chunks_exact(w).enumerate().step_by(3).flat_map(|(y, row)| {
        marks
            .row(y)
            .iter()
            .zip(row.chunks(marks.scale))
            .filter(|(covered, _)| !**covered)
            .flat_map(|(_, run)| run.iter().step_by(3).copied())
    });
    median_level(unmarked)
}

/// The film measures of a body-only analysis; `structure` and `other_bulk` come from the look
/// before any mark was blanked.
fn measure(
    analysis: &Analysis,
    area: &FilmArea,
    frame: &Frame,
    input: &ModelInput,
    structure: f64,
    other_bulk: usize,
) -> FilmMeasures {
    let r = analysis.scale.max(1);
    let film_cells = ((area.x1 - area.x0).div_ceil(r) * (area.y1 - area.y0).div_ceil(r)).max(1);
    let bulk = analysis.animal.as_ref().map_or(0, |a| a.bulk);
    let (edge_contact, core_edge_contact) = analysis.edge_contact(area);
    FilmMeasures {
        bulk_share: bulk as f64 / film_cells as f64,
        structure,
        other_bulk_ratio: if bulk == 0 { 0.0 } else { other_bulk as f64 / bulk as f64 },
        edge_contact,
        edge_crossings: analysis.edge_crossings(area),
        core_edge_contact,
        elongation: frame.elongation,
        symmetry: mirror_symmetry(input),
        spine_offset: spine_offset(input),
    }
}

/// A normalised film, area-averaged by `k` (1: as it is).
struct Source<'a> {
    v: std::borrow::Cow<'a, [f32]>,
    w: usize,
    h: usize,
    k: usize,
}

impl<'a> Source<'a> {
    /// The film reduced as sampling `frame` at the spec's size needs: area-averaged before
    /// bilinear sampling when shrinking by 2 or more, against aliasing.
    fn of(norm: &'a [f32], w: usize, h: usize, frame: &Frame, spec: &PreprocessSpec) -> Source<'a> {
        let k = Source::reduction(frame, spec);
        if k > 1 {
            let (v, sw, sh) = box_reduce(norm, w, h, k);
            Source { v: v.into(), w: sw, h: sh, k }
        } else {
            Source { v: norm.into(), w, h, k }
        }
    }

    fn reduction(frame: &Frame, spec: &PreprocessSpec) -> usize {
        let s = frame.side / f64::from(spec.size);
        if s >= 2.0 { s.floor() as usize } else { 1 }
    }
}

/// Resamples the frame of a normalised film into the model input, with its transform.
fn sample(
    norm: Vec<f32>,
    w: usize,
    h: usize,
    frame: &Frame,
    image: &GrayImage16,
    spec: &PreprocessSpec,
) -> (ModelInput, Transform) {
    sample_from(&Source::of(&norm, w, h, frame, spec), frame, image, spec)
}

/// [`sample`] from a film already reduced for this frame.
fn sample_from(src: &Source, frame: &Frame, image: &GrayImage16, spec: &PreprocessSpec) -> (ModelInput, Transform) {
    let size = spec.size as usize;
    let s = frame.side / size as f64;
    let (eu, ev) = (frame.eu, frame.ev);
    let half = size as f64 / 2.0;
    let mut t = Transform {
        a: s * eu.0,
        b: s * ev.0,
        c: s * eu.1,
        d: s * ev.1,
        tx: frame.centre.0 - s * half * (eu.0 + ev.0),
        ty: frame.centre.1 - s * half * (eu.1 + ev.1),
        model_size: spec.size,
        original_width: image.width,
        original_height: image.height,
        animal: None,
    };

    let (sw, sh) = (src.w, src.h);
    let kf = src.k as f64;
    let mut data = Vec::with_capacity(size * size);
    let mut weights = Vec::with_capacity(if frame.animal.is_some() { size * size } else { 0 });
    let rf = frame.scale as f64;
    for j in 0..size {
        for i in 0..size {
            let (x, y) = t.to_original(i as f64 + 0.5, j as f64 + 0.5);
            // The animal's weight here (1 everywhere when the whole film is kept).
            let m = frame.animal.as_ref().map_or(1.0, |a| {
                bilinear(&a.weights, a.w, a.h, x / rf - 0.5 - a.x0 as f64, y / rf - 0.5 - a.y0 as f64)
            });
            // Background is 0 after normalisation, so the feathered mask fades to it.
            let v = if m > 0.0 { m * bilinear(&src.v, sw, sh, x / kf - 0.5, y / kf - 0.5) } else { 0.0 };
            data.push((v - spec.mean) / spec.std);
            if frame.animal.is_some() {
                weights.push(m);
            }
        }
    }
    if frame.animal.is_some() {
        t.animal = AnimalMask::from_weights(&weights, size);
    }
    (ModelInput { size: spec.size, data }, t)
}

/// Clips to the percentiles, scales to 0..=1 and applies the polarity.
///
/// Every pixel's value depends on its 16-bit level alone, so the levels are mapped once through
/// a table and the Otsu histogram is built from level counts: the result is the same as mapping
/// each pixel, at a fraction of the cost on large images.
/// With `without`, the marks' pixels are left out of the percentiles and the polarity found
/// before is kept.
fn normalise(
    image: &GrayImage16,
    spec: &PreprocessSpec,
    area: &FilmArea,
    without: Option<(&Marks, bool)>,
) -> (Vec<f32>, bool) {
    let counts = area.level_counts(image, without.map(|m| m.0));
    normalise_over(image, spec, area, counts, without.map(|m| m.1))
}

/// [`normalise`] with the percentiles of `counts` (level counts of the pixels that set the
/// window); `invert` keeps a polarity found before.
fn normalise_over(
    image: &GrayImage16,
    spec: &PreprocessSpec,
    area: &FilmArea,
    counts: Vec<u32>,
    invert: Option<bool>,
) -> (Vec<f32>, bool) {
    let mut table = clip_table(image, spec, &counts);
    let invert = match (invert, spec.polarity) {
        (Some(invert), _) => invert,
        (None, Polarity::BrightBone) => false,
        (None, Polarity::DarkBone) => true,
        (None, Polarity::Auto) => {
            // The background is the Otsu class most of the border falls in; vignetting or a
            // ruler can brighten a border, but not past the threshold between tissue and air.
            let mut levels = [0u64; 256];
            for (&x, &c) in table.iter().zip(&counts) {
                levels[otsu_bin(x)] += u64::from(c);
            }
            let threshold = otsu_threshold(&levels);
            area.border_fraction(image, |v| table.get(usize::from(v)).is_some_and(|&x| x > threshold)) > 0.5
        }
    };
    if invert {
        table.iter_mut().for_each(|x| *x = 1.0 - *x);
    }
    (apply_table(image, &table), invert)
}

/// Each 16-bit level's value once clipped to the spec's percentiles of `counts` and scaled to
/// 0..=1.
fn clip_table(image: &GrayImage16, spec: &PreprocessSpec, counts: &[u32]) -> Vec<f32> {
    let hist = image.histogram_from(counts);
    let lo = f32::from(image.percentile(&hist, spec.clip_low_percent / 100.0));
    let hi = f32::from(image.percentile(&hist, spec.clip_high_percent / 100.0)).max(lo + 1.0);
    (0..counts.len()).map(|v| v as u16).map(|v| ((f32::from(v) - lo) / (hi - lo)).clamp(0.0, 1.0)).collect()
}

/// Maps every pixel through a level table (levels beyond it, outside the exposed film, to 0).
fn apply_table(image: &GrayImage16, table: &[f32]) -> Vec<f32> {
    image.pixels.iter().map(|&v| table.get(usize::from(v)).copied().unwrap_or(0.0)).collect()
}

/// Averages `k x k` blocks (partial blocks at the edges average what they have). Each block sums
/// its pixels row by row, left to right.
pub(super) fn box_reduce(v: &[f32], w: usize, h: usize, k: usize) -> (Vec<f32>, usize, usize) {
    let (rw, rh) = (w.div_ceil(k), h.div_ceil(k));
    let mut sum = vec![0.0f32; rw * rh];
    for (y, row) in v.chunks_exact(w).enumerate().take(h) {
        let cells = &mut sum[(y / k) * rw..(y / k + 1) * rw];
        // The common factors get unrolled loops; the sums are the same, added in the same order.
        match k {
            2 => add_blocks::<2>(cells, row),
            3 => add_blocks::<3>(cells, row),
            4 => add_blocks::<4>(cells, row),
            _ => {
                for (cell, block) in cells.iter_mut().zip(row.chunks(k)) {
                    *cell = block.iter().fold(*cell, |acc, &p| acc + p);
                }
            }
        }
    }
    for (cy, cells) in sum.chunks_exact_mut(rw).enumerate() {
        let rows = (h - cy * k).min(k);
        for (cx, cell) in cells.iter_mut().enumerate() {
            let count = rows * (w - cx * k).min(k);
            *cell /= count as f32;
        }
    }
    (sum, rw, rh)
}

/// Adds each `K`-wide block of `row` to its cell, left to right; a partial last block too.
fn add_blocks<const K: usize>(cells: &mut [f32], row: &[f32]) {
    let blocks = row.chunks_exact(K);
    let rest = blocks.remainder();
    for (cell, block) in cells.iter_mut().zip(blocks) {
        *cell = block.iter().fold(*cell, |acc, &p| acc + p);
    }
    if let Some(cell) = cells.get_mut(row.len() / K)
        && !rest.is_empty()
    {
        *cell = rest.iter().fold(*cell, |acc, &p| acc + p);
    }
}

/// The Otsu bin (of 256) of a value in 0..=1: `round(x * 255)`, without a libm call per pixel
/// (adding 0.5 in f64 is exact, so the truncation equals rounding half away from zero).
fn otsu_bin(x: f32) -> usize {
    (f64::from(x.clamp(0.0, 1.0) * 255.0) + 0.5) as usize
}

/// Otsu's threshold over values in 0..=1 (256 bins).
pub(super) fn otsu(v: &[f32]) -> f32 {
    let mut hist = [0u64; 256];
    for &x in v {
        hist[otsu_bin(x)] += 1;
    }
    otsu_threshold(&hist)
}

/// Otsu's threshold from a 256-bin histogram, as a value in 0..=1.
fn otsu_threshold(hist: &[u64; 256]) -> f32 {
    let total: u64 = hist.iter().sum();
    let sum_all: f64 = hist.iter().enumerate().map(|(i, &c)| i as f64 * c as f64).sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0u64, 0.0f64, -1.0f64, 0usize);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c;
        sum0 += t as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0 || w1 == 0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0 as f64, (sum_all - sum0) / w1 as f64);
        let between = w0 as f64 * w1 as f64 * (m0 - m1).powi(2);
        if between > best {
            best = between;
            best_t = t;
        }
    }
    (best_t as f32 + 0.5) / 255.0
}

/// `x.floor()` for the coordinates [`bilinear`] meets, without a libm call per pixel (the
/// baseline x86-64 target has no rounding instruction): truncation, one less below zero.
fn floor(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t > x { t - 1.0 } else { t }
}

/// Bilinear sample at index coordinates (pixel centres at integers); outside is 0.
fn bilinear(v: &[f32], w: usize, h: usize, x: f64, y: f64) -> f32 {
    let (x0, y0) = (floor(x), floor(y));
    let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
    // Inside, away from the edges (nearly every sample): the four values without a check each.
    if x0 >= 0.0 && y0 >= 0.0 && x0 + 1.0 < w as f64 && y0 + 1.0 < h as f64 {
        let i = y0 as usize * w + x0 as usize;
        let top = v[i] * (1.0 - fx) + v[i + 1] * fx;
        let bottom = v[i + w] * (1.0 - fx) + v[i + w + 1] * fx;
        return top * (1.0 - fy) + bottom * fy;
    }
    let at = |xi: f64, yi: f64| -> f32 {
        if xi < 0.0 || yi < 0.0 || xi >= w as f64 || yi >= h as f64 { 0.0 } else { v[yi as usize * w + xi as usize] }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
    let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::imaging::FileFormat;

    /// A dark frame with a bright ellipse (semi-axes 110 and 22) rotated by `deg`.
    fn ellipse(w: u32, h: u32, deg: f64, bright_background: bool) -> GrayImage16 {
        let (cx, cy) = (w as f64 * 0.55, h as f64 * 0.45);
        let (s, c) = deg.to_radians().sin_cos();
        let mut px = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
                let inside = (u / 110.0).powi(2) + (v / 22.0).powi(2) <= 1.0;
                let bone = if inside { 3000 + (x % 7) as u16 * 40 } else { 200 + (y % 5) as u16 * 10 };
                px.push(if bright_background { 4095 - bone } else { bone });
            }
        }
        GrayImage16::new(w, h, 12, px, FileFormat::Png).unwrap()
    }

    /// Angle of the principal axis of the bright pixels of a model input, degrees from vertical.
    fn axis_from_vertical(m: &ModelInput) -> f64 {
        let n = m.size as usize;
        let pts: Vec<(f64, f64)> =
            (0..n * n).filter(|&i| m.data[i] > 0.0).map(|i| ((i % n) as f64, (i / n) as f64)).collect();
        let k = pts.len() as f64;
        let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / k, pts.iter().map(|p| p.1).sum::<f64>() / k);
        let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
        for (x, y) in pts {
            sxx += (x - mx).powi(2);
            syy += (y - my).powi(2);
            sxy += (x - mx) * (y - my);
        }
        let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
        let from_vertical = 90.0 - theta.to_degrees().abs();
        from_vertical.abs()
    }

    /// The definitions the table-driven code must reproduce bit for bit: each pixel mapped on its
    /// own, Otsu bins by `round`, and the border scanned pixel by pixel.
    fn normalise_by_pixel(image: &GrayImage16, spec: &PreprocessSpec) -> Vec<f32> {
        let hist = image.histogram();
        let lo = f32::from(image.percentile(&hist, spec.clip_low_percent / 100.0));
        let hi = f32::from(image.percentile(&hist, spec.clip_high_percent / 100.0)).max(lo + 1.0);
        let norm: Vec<f32> = image.pixels.iter().map(|&v| ((f32::from(v) - lo) / (hi - lo)).clamp(0.0, 1.0)).collect();
        let mut bins = [0u64; 256];
        norm.iter().for_each(|&x| bins[(x.clamp(0.0, 1.0) * 255.0).round() as usize] += 1);
        let threshold = otsu_threshold(&bins);
        let (w, h) = (image.width as usize, image.height as usize);
        let b = (w.min(h) / 50).max(1);
        let (mut above, mut n) = (0, 0);
        for y in 0..h {
            for x in 0..w {
                if x < b || y < b || x + b >= w || y + b >= h {
                    above += usize::from(norm[y * w + x] > threshold);
                    n += 1;
                }
            }
        }
        let invert = match spec.polarity {
            Polarity::BrightBone => false,
            Polarity::DarkBone => true,
            Polarity::Auto => above as f64 / n as f64 > 0.5,
        };
        norm.into_iter().map(|x| if invert { 1.0 - x } else { x }).collect()
    }

    #[test]
    fn table_normalisation_equals_the_per_pixel_definition() {
        let mut state = 12345u32;
        for (w, h, bits, inverted) in [(300, 200, 12, false), (97, 61, 12, true), (3, 2, 8, false), (40, 40, 16, true)]
        {
            let mut image = ellipse(w, h, 30.0, inverted);
            image.bits = bits;
            for p in image.pixels.iter_mut().step_by(13) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                // Noise, some of it above what the bit depth allows (corrupt or mislabelled files).
                *p = p.saturating_add((state % 700) as u16).min(if bits == 8 { 300 } else { u16::MAX });
            }
            for polarity in [Polarity::Auto, Polarity::BrightBone, Polarity::DarkBone] {
                let spec = PreprocessSpec { polarity, ..Default::default() };
                let whole = FilmArea { x0: 0, y0: 0, x1: w as usize, y1: h as usize };
                let (fast, slow) = (normalise(&image, &spec, &whole, None).0, normalise_by_pixel(&image, &spec));
                assert!(fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()), "{w}x{h} {polarity:?}");
            }
        }
        let values: Vec<f32> = (0..=100_000).map(|i| i as f32 / 100_000.0).chain([0.5 / 255.0, 1.5 / 255.0]).collect();
        assert!(values.iter().all(|&x| otsu_bin(x) == (x * 255.0).round() as usize));
    }

    #[test]
    fn box_reduce_averages_partial_blocks() {
        let v: Vec<f32> = (0..35).map(|i| i as f32).collect();
        let (out, rw, rh) = box_reduce(&v, 7, 5, 3);
        assert_eq!((rw, rh), (3, 2));
        // Top-left 3x3 block, the right column's 1-wide blocks, and the bottom row's 2-high ones.
        assert_eq!(out[0], (1 + 2 + 7 + 8 + 9 + 14 + 15 + 16) as f32 / 9.0);
        assert_eq!(out[2], (6 + 13 + 20) as f32 / 3.0);
        assert_eq!(out[5], (27 + 34) as f32 / 2.0);
        // Every factor gives the per-pixel definition bit for bit.
        let (w, h) = (37usize, 23usize);
        let v: Vec<f32> = (0..w * h).map(|i| ((i * 7919) % 1000) as f32 / 997.0).collect();
        for k in 1..=6 {
            let (rw, rh) = (w.div_ceil(k), h.div_ceil(k));
            let (mut sum, mut count) = (vec![0.0f32; rw * rh], vec![0u32; rw * rh]);
            for y in 0..h {
                for x in 0..w {
                    sum[(y / k) * rw + x / k] += v[y * w + x];
                    count[(y / k) * rw + x / k] += 1;
                }
            }
            let (out, ..) = box_reduce(&v, w, h, k);
            assert!(
                out.iter().zip(sum.iter().zip(&count)).all(|(o, (s, &c))| o.to_bits() == (s / c as f32).to_bits()),
                "k {k}"
            );
        }
    }

    #[test]
    fn output_shape_and_range() {
        let spec = PreprocessSpec { size: 64, ..Default::default() };
        let (m, t) = preprocess(&ellipse(300, 200, 30.0, false), &spec).unwrap();
        assert_eq!(m.data.len(), 64 * 64);
        let (lo, hi) = (spec.background(), (1.0 - spec.mean) / spec.std);
        assert!(m.data.iter().all(|v| v.is_finite() && *v >= lo - 1e-5 && *v <= hi + 1e-5));
        assert!(m.data.iter().any(|v| *v > 0.5) && m.data.iter().any(|v| *v < -0.5));
        assert_eq!((t.model_size, t.original_width, t.original_height), (64, 300, 200));
    }

    /// The largest difference between two model inputs, in 0..=1 (normalised) units.
    fn max_difference(a: &ModelInput, b: &ModelInput, spec: &PreprocessSpec) -> f32 {
        a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs() * spec.std).fold(0.0, f32::max)
    }

    /// The two films give the same model input, within 0.08 (normalised units) anywhere.
    fn assert_same_input(a: &GrayImage16, b: &GrayImage16, spec: &PreprocessSpec) {
        let (a, _) = preprocess(a, spec).unwrap();
        let (b, _) = preprocess(b, spec).unwrap();
        let d = max_difference(&a, &b, spec);
        assert!(d < 0.08, "inputs differ by {d}");
    }

    #[test]
    fn a_window_over_the_crop_does_not_move_with_more_film_around_the_animal() {
        // A body whose bone brightens along it (so the percentiles' place within it matters) on
        // a noisy background; the larger film is the same scene with more film right and below.
        let (sn, cs) = 30f64.to_radians().sin_cos();
        let scene = |w: u32, h: u32| {
            let px = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let (dx, dy) = (f64::from(x) + 0.5 - 165.0, f64::from(y) + 0.5 - 90.0);
                    let (u, v) = (dx * cs + dy * sn, -dx * sn + dy * cs);
                    let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 120;
                    if (u / 110.0).powi(2) + (v / 22.0).powi(2) <= 1.0 {
                        1000 + (1500.0 * (u / 110.0 + 1.0)) as u16 + noise as u16
                    } else {
                        200 + noise as u16
                    }
                })
                .collect();
            GrayImage16::new(w, h, 12, px, FileFormat::Png).unwrap()
        };
        let (film, larger) = (scene(300, 200), scene(700, 600));
        // The window shows in the bone's brightest values (the crop itself may move by a
        // fraction of a pixel, since the animal is found on a coarser grid on a larger film).
        let top = |image: &GrayImage16, spec: &PreprocessSpec| {
            let mut v = preprocess(image, spec).unwrap().0.data;
            v.sort_by(f32::total_cmp);
            v[v.len() - 200..].iter().sum::<f32>() / 200.0 * spec.std
        };
        for body_only in [true, false] {
            let crop = PreprocessSpec { size: 64, body_only, clip_region: ClipRegion::Crop, ..Default::default() };
            let whole = PreprocessSpec { clip_region: ClipRegion::Film, ..crop.clone() };
            let moved = |spec: &PreprocessSpec| (top(&film, spec) - top(&larger, spec)).abs();
            let (over_crop, over_film) = (moved(&crop), moved(&whole));
            // The film's window moves: its percentiles now hold seven times the background.
            assert!(over_film > 0.05, "body_only {body_only}: film window moved only {over_film}");
            assert!(over_crop < 0.005, "body_only {body_only}: crop window moved {over_crop}");
        }
    }

    fn set(img: &mut GrayImage16, x: u32, y: u32, v: u16) {
        let w = img.width;
        img.pixels[(y * w + x) as usize] = v;
    }

    #[test]
    fn a_bright_frame_changes_neither_the_polarity_nor_the_animal() {
        let spec = PreprocessSpec { size: 64, ..Default::default() };
        let clean = ellipse(300, 300, 20.0, false);
        let mut framed = clean.clone();
        for y in 0..300 {
            for x in 0..300 {
                if x < 12 || y < 12 || x >= 288 || y >= 288 {
                    set(&mut framed, x, y, 4095);
                }
            }
        }
        assert_same_input(&clean, &framed, &spec);
    }

    #[test]
    fn a_few_saturated_pixels_change_neither_the_film_area_nor_the_input() {
        let spec = PreprocessSpec { size: 64, ..Default::default() };
        let clean = ellipse(300, 300, 20.0, false);
        let mut hot = clean.clone();
        // A 12-bit film with a dead-hot pixel at the 16-bit maximum, and a small hot dot.
        set(&mut hot, 150, 40, u16::MAX);
        for (x, y) in [(10, 10), (11, 10), (10, 11), (11, 11)] {
            set(&mut hot, x, y, u16::MAX);
        }
        assert_eq!(FilmArea::find(&hot), FilmArea::find(&clean), "no band is read into the film");
        assert_same_input(&clean, &hot, &spec);
    }

    #[test]
    fn marks_off_the_animal_are_blanked_and_change_no_value_on_it() {
        let spec = PreprocessSpec { size: 64, ..Default::default() };
        let clean = ellipse(300, 300, 20.0, false);
        let mut marked = clean.clone();
        // A ruler along the bottom and a lead marker in a corner, brighter than the bone.
        for x in 30..270 {
            for y in 280..285 {
                set(&mut marked, x, y, 4095);
            }
            if x % 6 == 0 {
                for y in 274..280 {
                    set(&mut marked, x, y, 4095);
                }
            }
        }
        for y in 12..30 {
            for x in 12..20 {
                set(&mut marked, x, y, 4095);
            }
        }
        assert_same_input(&clean, &marked, &spec);
    }

    #[test]
    fn a_faint_tail_stays_with_the_body_and_the_background_is_blank() {
        let spec = PreprocessSpec { size: 64, ..Default::default() };
        let mut img = ellipse(300, 300, 0.0, false);
        // A tail from the ellipse's end, dimmer than the body but well above the background.
        for x in 275..298 {
            for y in 133..137 {
                set(&mut img, x, y, 1400);
            }
        }
        let (m, t) = preprocess(&img, &spec).unwrap();
        let bg = spec.background();
        // Some model pixel that maps onto the tail is bright; far from the animal all is blank.
        let on_tail = (0..64 * 64).any(|i| {
            let (x, y) = t.to_original((i % 64) as f64 + 0.5, (i / 64) as f64 + 0.5);
            (280.0..295.0).contains(&x) && (133.0..137.0).contains(&y) && m.data[i] > bg + 0.3
        });
        assert!(on_tail, "the tail is kept");
        let far = (0..64 * 64).filter(|&i| {
            let (x, y) = t.to_original((i % 64) as f64 + 0.5, (i / 64) as f64 + 0.5);
            ((x - 165.0).powi(2) + (y - 135.0).powi(2)).sqrt() > 150.0
        });
        assert!(far.into_iter().all(|i| (m.data[i] - bg).abs() < 1e-4), "the background is blank");
    }

    #[test]
    fn elongated_blob_at_any_angle_comes_out_vertical() {
        let spec = PreprocessSpec { size: 96, ..Default::default() };
        for deg in [0.0, 17.0, 45.0, 60.0, 90.0, 123.0, 151.0, 178.0] {
            for inverted in [false, true] {
                let (m, t) = preprocess(&ellipse(320, 260, deg, inverted), &spec).unwrap();
                let off = axis_from_vertical(&m);
                assert!(off < 3.0, "{deg} deg (inverted {inverted}): {off:.2} deg from vertical");
                // The transform's rotation undoes the placement (modulo the axis direction).
                let r = (t.rotation_degrees() + deg - 90.0).rem_euclid(180.0);
                assert!(!(2.0..=178.0).contains(&r), "{deg}: rotation {}", t.rotation_degrees());
            }
        }
    }

    #[test]
    fn transform_round_trip_and_bright_dot_lands_where_mapped() {
        let spec = PreprocessSpec { size: 128, orient: false, crop_to_body: false, ..Default::default() };
        let mut img = GrayImage16::new(300, 180, 16, vec![100; 300 * 180], FileFormat::Png).unwrap();
        let (dx, dy) = (211u32, 57u32);
        for y in dy - 1..=dy + 1 {
            for x in dx - 1..=dx + 1 {
                img.pixels[(y * 300 + x) as usize] = 60000;
            }
        }
        let (m, t) = preprocess(&img, &spec).unwrap();
        for (u, v) in [(0.0, 0.0), (12.5, 100.25), (127.0, 3.0)] {
            let (x, y) = t.to_original(u, v);
            let (u2, v2) = t.to_model(x, y);
            assert!((u - u2).abs() < 1e-9 && (v - v2).abs() < 1e-9);
        }
        let brightest = (0..m.data.len()).max_by(|&a, &b| m.data[a].total_cmp(&m.data[b])).unwrap();
        let (bu, bv) = ((brightest % 128) as f64 + 0.5, (brightest / 128) as f64 + 0.5);
        let (x, y) = t.to_original(bu, bv);
        let err = ((x - (dx as f64 + 0.5)).powi(2) + (y - (dy as f64 + 0.5)).powi(2)).sqrt();
        assert!(err <= t.scale() + 1.0, "dot mapped {err:.2} px away (scale {:.2})", t.scale());
    }

    #[test]
    fn rejects_bad_specs() {
        let img = ellipse(64, 64, 0.0, false);
        for spec in [
            PreprocessSpec { size: 0, ..Default::default() },
            PreprocessSpec { std: 0.0, ..Default::default() },
            PreprocessSpec { clip_low_percent: 90.0, clip_high_percent: 10.0, ..Default::default() },
        ] {
            assert!(preprocess(&img, &spec).is_err());
        }
    }

    #[test]
    fn spec_serde_round_trip_and_defaults_fill_in() {
        let spec = PreprocessSpec { size: 160, polarity: Polarity::DarkBone, ..Default::default() };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<PreprocessSpec>(&json).unwrap(), spec);
        let partial: PreprocessSpec = serde_json::from_str(r#"{"size": 96}"#).unwrap();
        // A spec written before `body_only`, `clip_region` or `crop_frame` existed keeps the
        // preprocessing its model learned.
        let before = PreprocessSpec {
            size: 96,
            body_only: false,
            clip_region: ClipRegion::Film,
            crop_frame: CropFrame::CoreExtent,
            ..Default::default()
        };
        assert_eq!(partial, before);
        assert!(PreprocessSpec::default().body_only, "new models get body-only input");
        assert_eq!(PreprocessSpec::default().clip_region, ClipRegion::Crop, "new models get the crop's window");
        assert_eq!(
            PreprocessSpec::default().crop_frame,
            CropFrame::CoreExtent,
            "new models get the crop that generalised"
        );
        let json = serde_json::to_string(&PreprocessSpec::default()).unwrap();
        assert!(json.contains(r#""clip_region":"crop""#) && json.contains(r#""crop_frame":"core_extent""#), "{json}");
        for frame in [CropFrame::CoreExtent, CropFrame::ThickCentroid, CropFrame::ThickExtent] {
            assert_eq!(frame.as_str().parse::<CropFrame>(), Ok(frame));
            assert_eq!(serde_json::to_string(&frame).unwrap(), format!("\"{}\"", frame.as_str()));
        }
        assert!("centroid".parse::<CropFrame>().is_err());
    }
}
