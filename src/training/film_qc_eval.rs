//! How well film QC catches what it is for, on films made for it from held-out phantoms:
//! crops (close-ups), two animals on one film, empty films, and DV and LV filed the wrong way
//! round; and how often it raises a false alarm on the phantoms as they are.

use crate::imaging::{FilmMeasures, GrayImage16, PreprocessSpec, QcCode, preprocess_film, specimen_qc};
use crate::specimen::View;
use crate::synth::{Phantom, Prevalence, Rng, animal_pixels};

/// Share of the phantoms rendered with a radiopaque ruler along one edge.
const RULER_RATE: f64 = 0.3;

/// Which phantoms are measured.
#[derive(Debug, Clone)]
pub struct QcEvalOptions {
    /// Run seed of the phantoms (the held-out set's: never used in training or in choosing
    /// the QC thresholds).
    pub seed: u64,
    /// How many specimens, from index 0.
    pub count: usize,
    /// Film side in pixels.
    pub size: u32,
}

/// A kind of constructed case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QcCase {
    /// The phantoms as rendered, each view filed as itself: every code is a false alarm.
    Clean,
    /// One view cropped to 35-65 % of its side around a random point of the animal.
    CloseUp,
    /// One view beside the same view of another phantom, on one film.
    TwoAnimals,
    /// One view replaced by an empty film (its own background and noise).
    Empty,
    /// DV filed as LV and LV as DV.
    Swapped,
    /// Both views as rendered but exposed darker or lighter (gamma 1.5 or 0.67 on the detector
    /// value): every code is a false alarm.
    Exposure,
}

impl QcCase {
    /// Every case, in report order.
    pub const ALL: [QcCase; 6] =
        [QcCase::Clean, QcCase::Exposure, QcCase::CloseUp, QcCase::TwoAnimals, QcCase::Empty, QcCase::Swapped];

    /// What it is called in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            QcCase::Clean => "whole phantoms, filed right",
            QcCase::CloseUp => "close-up (crop of one view)",
            QcCase::TwoAnimals => "two animals on one film",
            QcCase::Empty => "empty film",
            QcCase::Swapped => "DV and LV swapped",
            QcCase::Exposure => "whole phantoms, darker or lighter exposure",
        }
    }

    /// The code that should be raised (none for clean films).
    pub fn expected(self) -> Option<QcCode> {
        match self {
            QcCase::Clean | QcCase::Exposure => None,
            QcCase::CloseUp => Some(QcCode::NotWholeBody),
            QcCase::TwoAnimals => Some(QcCode::MultipleAnimals),
            QcCase::Empty => Some(QcCode::NoAnimal),
            QcCase::Swapped => Some(QcCode::ViewSwapped),
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QcRow {
    /// The case, as [`QcCase::as_str`].
    pub case: &'static str,
    /// The code it should raise.
    pub expected: Option<&'static str>,
    /// Specimens measured.
    pub specimens: usize,
    /// Specimens where the expected code was raised (on the altered view; on both for swaps).
    pub caught: usize,
    /// Specimens with any code the case should not raise.
    pub false_alarms: usize,
}

/// Renders `options.count` phantoms, builds every case from each, and runs film QC on it (with
/// `spec`, as a model would preprocess).
///
/// # Errors
/// A film could not be preprocessed (with the reason).
pub fn measure(spec: &PreprocessSpec, options: &QcEvalOptions) -> anyhow::Result<Vec<QcRow>> {
    let prevalence = Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() };
    let mut rows: Vec<QcRow> = QcCase::ALL
        .iter()
        .map(|c| QcRow {
            case: c.as_str(),
            expected: c.expected().map(QcCode::as_str),
            specimens: 0,
            caught: 0,
            false_alarms: 0,
        })
        .collect();
    let n = options.size;
    let film_of = |phantom: &Phantom, view: View| {
        phantom.film_framed_as(None, view, n, true).ok_or_else(|| anyhow::anyhow!("rendered film has the wrong size"))
    };
    let measures = |img: &GrayImage16| -> anyhow::Result<FilmMeasures> {
        preprocess_film(img, spec).map(|p| p.film).map_err(|e| anyhow::anyhow!(e))
    };
    for index in 0..options.count as u64 {
        // A third of the films carry the renderer's ruler, as real films often do.
        let phantom = Phantom::sample(options.seed, index, &prevalence, RULER_RATE);
        let other = Phantom::sample(options.seed ^ 0x0051_570c, index, &prevalence, RULER_RATE);
        let mut rng = Rng::new(options.seed ^ 0x0051_4321, index);
        let dv = film_of(&phantom, View::Dv)?;
        let lv = film_of(&phantom, View::Lv)?;
        let clean = [measures(&dv)?, measures(&lv)?];
        // The view altered in the one-view cases.
        let v = rng.below(2);
        let view = [View::Dv, View::Lv][v];
        let original = if v == 0 { &dv } else { &lv };
        for (k, case) in QcCase::ALL.into_iter().enumerate() {
            let pair: [FilmMeasures; 2] = match case {
                QcCase::Clean => clean,
                QcCase::Swapped => [clean[1], clean[0]],
                QcCase::Exposure => {
                    let g = if index % 2 == 0 { 1.5 } else { 1.0 / 1.5 };
                    [measures(&gamma(&dv, g))?, measures(&gamma(&lv, g))?]
                }
                QcCase::CloseUp | QcCase::TwoAnimals | QcCase::Empty => {
                    let altered = match case {
                        QcCase::CloseUp => close_up(original, &mut rng),
                        QcCase::TwoAnimals => side_by_side(original, &film_of(&other, view)?),
                        _ => empty(original, &mut rng),
                    };
                    let mut pair = clean;
                    pair[v] = measures(&altered)?;
                    pair
                }
            };
            let codes = specimen_qc(Some(&pair[0]), Some(&pair[1]));
            let row = &mut rows[k];
            row.specimens += 1;
            match case.expected() {
                None => row.false_alarms += usize::from(codes.values().any(|c| !c.is_empty())),
                Some(QcCode::ViewSwapped) => {
                    row.caught += usize::from(codes.values().all(|c| c.contains(&QcCode::ViewSwapped)));
                    row.false_alarms += usize::from(codes.values().flatten().any(|&c| c != QcCode::ViewSwapped));
                }
                Some(expected) => {
                    row.caught += usize::from(codes[View::MODEL[v]].contains(&expected));
                    let unaltered = &codes[View::MODEL[1 - v]];
                    row.false_alarms += usize::from(!unaltered.is_empty());
                }
            }
        }
    }
    Ok(rows)
}

/// A crop of 35-65 % of the film's side around a random point of the animal (a pixel above the
/// film's median by a fifth of its range, [`animal_pixels`]), as a close-up is framed.
pub(crate) fn close_up(film: &GrayImage16, rng: &mut Rng) -> GrayImage16 {
    let (w, h) = (film.width as usize, film.height as usize);
    let animal: Vec<usize> =
        animal_pixels(film, 0.2).0.iter().enumerate().filter(|(_, a)| **a).map(|(i, _)| i).collect();
    let centre = if animal.is_empty() { w * h / 2 + w / 2 } else { animal[rng.below(animal.len())] };
    let side = ((w.min(h) as f64) * rng.range(0.35, 0.65)) as usize;
    let x0 = (centre % w).saturating_sub(side / 2).min(w - side);
    let y0 = (centre / w).saturating_sub(side / 2).min(h - side);
    let pixels = (y0..y0 + side).flat_map(|y| film.pixels[y * w + x0..y * w + x0 + side].iter().copied()).collect();
    GrayImage16 { width: side as u32, height: side as u32, bits: film.bits, pixels, format: film.format }
}

/// The film with every value `v` of its range mapped to `max * (v / max)^g`.
fn gamma(film: &GrayImage16, g: f64) -> GrayImage16 {
    let max = f64::from(film.max_value());
    let pixels =
        film.pixels.iter().map(|&v| (max * (f64::from(v) / max).clamp(0.0, 1.0).powf(g)).round() as u16).collect();
    GrayImage16 { pixels, ..film.clone() }
}

/// Two films of the same height side by side, as one film.
fn side_by_side(a: &GrayImage16, b: &GrayImage16) -> GrayImage16 {
    let (wa, wb, h) = (a.width as usize, b.width as usize, a.height.min(b.height) as usize);
    let mut pixels = Vec::with_capacity((wa + wb) * h);
    for y in 0..h {
        pixels.extend_from_slice(&a.pixels[y * wa..(y + 1) * wa]);
        pixels.extend_from_slice(&b.pixels[y * wb..(y + 1) * wb]);
    }
    GrayImage16 { width: (wa + wb) as u32, height: h as u32, bits: a.bits, pixels, format: a.format }
}

/// An empty film: each pixel one of the film's own background pixels (its outer 5 % band),
/// drawn at random, so the level and the noise are the film's.
fn empty(film: &GrayImage16, rng: &mut Rng) -> GrayImage16 {
    let (w, h) = (film.width as usize, film.height as usize);
    let b = (w.min(h) / 20).max(1);
    let band: Vec<u16> = (0..w * h)
        .filter(|&i| i % w < b || i % w + b >= w || i / w < b || i / w + b >= h)
        .map(|i| film.pixels[i])
        .collect();
    let pixels = (0..w * h).map(|_| band[rng.below(band.len())]).collect();
    GrayImage16 { width: w as u32, height: h as u32, bits: film.bits, pixels, format: film.format }
}

/// The rows as a Markdown table.
pub fn to_markdown(rows: &[QcRow]) -> String {
    let mut md = String::from(
        "## Film QC on constructed cases\n\n| case | expected code | specimens | caught | false alarms |\n|---|---|---:|---:|---:|\n",
    );
    for r in rows {
        let pct = |n: usize| 100.0 * n as f64 / r.specimens.max(1) as f64;
        let caught = if r.expected.is_some() { format!("{:.1} %", pct(r.caught)) } else { "-".to_owned() };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} % |\n",
            r.case,
            r.expected.unwrap_or("none"),
            r.specimens,
            caught,
            pct(r.false_alarms)
        ));
    }
    md
}
