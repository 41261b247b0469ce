//! Wider film-level variation than the default phantoms show, as real films vary (`synth
//! --vary-film`): quantum noise from 0.7 to 2 times and detector blur from half to twice the
//! default, exposure curves that brighten soft tissue towards bone, the animal smaller in the
//! film (a field of view up to 1.8 times wider), backgrounds that are not
//! black (grey, as in a screenshot of a viewer, or a film
//! stored inverted, air bright), saturated highlights, and the marks real films carry beside
//! the animal (burned-in text, lead letters, unexposed borders, cassette edges). Drawn from a
//! stream of its own, so a run without it is unchanged.

use serde::{Deserialize, Serialize};

use super::film_marks::{FilmMark, MarkPlacement, add_mark_to_all};
use super::render::{Exposure, Placement, is_one, one};
use super::rng::Rng;
use crate::imaging::{FileFormat, GrayImage16};

/// Stream key of the variations.
const VARY_STREAM: u64 = 0x7661_7279;

/// How the film behind the animal looks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Background {
    /// Black, as rendered.
    Dark,
    /// Raised to this share of the range (0.15 to 0.45), everything else compressed above it.
    Grey(f64),
    /// The whole film inverted: air bright, bone dark (a film stored MONOCHROME1-style).
    Inverted,
}

/// One film's variation, recorded in `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilmVariation {
    /// Factor on the detector blur (0.5 to 2).
    pub blur_factor: f64,
    /// Factor on the photons per pixel (0.25 to 2; fewer photons, more noise).
    pub photon_factor: f64,
    /// The background.
    pub background: Background,
    /// Share of the range at the top clipped to white (0 to 0.25).
    pub saturation: f64,
    /// Exposure curve: the film's values above its bare film's level (0..1 of what remains)
    /// raised to this power (0.3 to 1.2, log-uniform) before the background is set. Below 1 soft tissue brightens towards bone,
    /// as in the 8-bit renderings viewers and web pages show.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub curve: f64,
    /// Field of view widened by this factor (1 to 1.8, log-uniform, on half the films): the
    /// animal smaller in a film with more bare film around it, as in real archives.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub zoom_out: f64,
    /// Marks added beside the animal.
    pub marks: Vec<FilmMark>,
}

impl FilmVariation {
    /// Draws the variation of view slot `view` (0 DV, 1 LV) of specimen `index`.
    pub fn sample(seed: u64, index: u64, view: usize) -> FilmVariation {
        let mut rng = Rng::new(seed ^ VARY_STREAM, index.wrapping_mul(2).wrapping_add(view as u64));
        let blur_factor = rng.range(0.5f64.ln(), 2f64.ln()).exp();
        let photon_factor = rng.range(0.25f64.ln(), 2f64.ln()).exp();
        let background = match rng.below(4) {
            0 | 1 => Background::Dark,
            2 => Background::Grey(rng.range(0.15, 0.45)),
            _ => Background::Inverted,
        };
        let saturation = if rng.chance(0.3) { rng.range(0.0, 0.25) } else { 0.0 };
        let kinds = [FilmMark::Text, FilmMark::LeadMarker, FilmMark::BrightFrame, FilmMark::CassetteEdge];
        let marks = kinds.into_iter().filter(|_| rng.chance(0.3)).collect();
        let curve = rng.range(0.3f64.ln(), 1.2f64.ln()).exp();
        let zoom_out = if rng.chance(0.5) { rng.range(0.0, 1.8f64.ln()).exp() } else { 1.0 };
        FilmVariation { blur_factor, photon_factor, background, saturation, curve, zoom_out, marks }
    }

    /// Applies the placement and exposure part before rendering.
    pub fn apply_before_render(&self, placement: &mut Placement, exposure: &mut Exposure) {
        placement.zoom_out *= self.zoom_out;
        exposure.blur_px *= self.blur_factor;
        exposure.photons *= self.photon_factor;
    }

    /// Applies the film part to rendered `size x size` films of one view (14-bit values): marks
    /// first (only where they fit beside the animal; the film keeps its size), then saturation,
    /// the exposure curve and the background. Several films are the members of a pair, framed
    /// alike: a mark is placed only where it fits beside every animal, so all carry the same
    /// marks (none if a film is not `size x size`). Returns the marks that were placed.
    pub fn apply_film(&self, films: &mut [Vec<u16>], size: u32, seed: u64, index: u64, view: usize) -> Vec<FilmMark> {
        let mut rng = Rng::new(seed ^ VARY_STREAM ^ 0x6d61_726b, index.wrapping_mul(2).wrapping_add(view as u64));
        let mut placed = Vec::new();
        // Without marks to place, the films are not copied into images at all.
        if !self.marks.is_empty()
            && let Some(mut images) = films
                .iter()
                .map(|p| GrayImage16::new(size, size, 14, p.clone(), FileFormat::Png))
                .collect::<Option<Vec<GrayImage16>>>()
        {
            for &mark in &self.marks {
                let mut marked = images.clone();
                if add_mark_to_all(&mut marked, mark, &mut rng) == MarkPlacement::Beside {
                    images = marked;
                    placed.push(mark);
                }
            }
            for (pixels, image) in films.iter_mut().zip(images) {
                *pixels = image.pixels;
            }
        }
        for pixels in films {
            self.develop(pixels);
        }
        placed
    }

    /// Saturation, the exposure curve and the background, on one film.
    fn develop(&self, pixels: &mut [u16]) {
        let max = (1u32 << 14) - 1;
        let ceiling = (f64::from(max) * (1.0 - self.saturation)).max(1.0);
        // The curve bends what lies above the bare film (its median, as the animal covers a
        // minority of the film, plus three noise deviations), so the background and its noise
        // stay as they were; `bend` has a finite slope at 0 so faint noise is not lifted.
        let mut sample: Vec<u16> = pixels.iter().step_by(7).copied().collect();
        sample.sort_unstable();
        let at = |q: usize| sample.get(sample.len() * q / 100).map_or(0.0, |&v| f64::from(v) / ceiling);
        let floor = (at(50) + 3.0 * (at(50) - at(10)) / 1.28).min(0.9);
        let bend = |x: f64| {
            const EPS: f64 = 0.05;
            ((x + EPS).powf(self.curve) - EPS.powf(self.curve)) / ((1.0 + EPS).powf(self.curve) - EPS.powf(self.curve))
        };
        for p in pixels.iter_mut() {
            let v = (f64::from(*p) / ceiling).min(1.0);
            let v = if v > floor { floor + (1.0 - floor) * bend((v - floor) / (1.0 - floor)) } else { v };
            let v = match self.background {
                Background::Dark => v,
                Background::Grey(level) => level + (1.0 - level) * v,
                Background::Inverted => 1.0 - v,
            };
            *p = (v * f64::from(max)).round() as u16;
        }
    }
}
