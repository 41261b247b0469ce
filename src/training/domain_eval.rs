//! How well a model's domain description tells its own kind of film from films it has never
//! seen the like of: held-out phantoms (every flag a false alarm) against noise, close-ups,
//! films blurred far beyond any detector's resolution, images that are not radiographs, and
//! animals of other proportions. Each film goes the way `predict` takes it: preprocessing, film
//! QC (which may leave a view out), the model, the domain score.

use image::{ImageBuffer, Luma};

use super::film_qc_eval::close_up;
use crate::imaging::{FileFormat, GrayImage16, preprocess_film, specimen_qc};
use crate::inference::Classifier;
use crate::metrics::percent;
use crate::specimen::View;
use crate::synth::{Phantom, Prevalence, Rng};

/// Which phantoms are the starting point.
#[derive(Debug, Clone)]
pub struct DomainEvalOptions {
    /// Run seed of the phantoms (the held-out set's: never used in training or in fitting the
    /// description).
    pub seed: u64,
    /// Specimens per kind.
    pub count: usize,
    /// Film side in pixels.
    pub size: u32,
}

/// A kind of film pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainCase {
    /// Held-out phantoms as rendered: every flag is a false alarm.
    Phantoms,
    /// Noise at every scale, no object.
    Noise,
    /// Both views cropped to 35-65 % of their side around a point of the animal.
    CloseUp,
    /// Both views blurred with a Gaussian of 2-5 % of the film's side.
    Blurred,
    /// Drawings of random ellipses and rectangles over a gradient: not a radiograph.
    NotRadiograph,
    /// The animal stretched to 1.7-2.2 times its length or squashed to half: other proportions.
    OtherProportions,
}

impl DomainCase {
    /// Every case, in report order.
    pub const ALL: [DomainCase; 6] = [
        DomainCase::Phantoms,
        DomainCase::Noise,
        DomainCase::CloseUp,
        DomainCase::Blurred,
        DomainCase::NotRadiograph,
        DomainCase::OtherProportions,
    ];

    /// What it is called in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainCase::Phantoms => "held-out phantoms (in domain)",
            DomainCase::Noise => "noise films",
            DomainCase::CloseUp => "close-ups of both views",
            DomainCase::Blurred => "blurred far beyond detector resolution",
            DomainCase::NotRadiograph => "not a radiograph (drawn shapes)",
            DomainCase::OtherProportions => "other proportions (stretched or squashed)",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DomainRow {
    /// The case, as [`DomainCase::as_str`].
    pub case: &'static str,
    /// Whether the case is in the model's domain.
    pub in_domain: bool,
    /// Specimens measured.
    pub specimens: usize,
    /// Specimens with a domain score above 1 when every film reaches the model (the
    /// description alone, film QC ignored).
    pub description_alone: usize,
    /// Specimens scored as `predict` scores them (a view left after film QC).
    pub scored: usize,
    /// Of those, specimens with a domain score above 1 in a view film QC kept.
    pub out_of_domain: usize,
    /// Specimens with any film QC code.
    pub film_qc: usize,
    /// Specimens out of domain or with a film QC code: what the user is warned of.
    pub warned: usize,
}

/// Builds `options.count` specimens of every case and runs them through `model`.
///
/// # Errors
/// The model has no domain description, or a run failed.
pub fn measure(model: &mut Classifier, options: &DomainEvalOptions) -> anyhow::Result<Vec<DomainRow>> {
    anyhow::ensure!(
        model.info.metadata.domain.is_some(),
        "{}: the model carries no domain description (add one with `mousexray domain`)",
        model.info.path.display()
    );
    let prevalence = Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() };
    let spec = model.info.metadata.preprocess.clone();
    let uses = model.info.uses();
    let s = spec.size as usize;
    let bg = spec.background();
    let n = options.size;
    let mut rows = Vec::new();
    for (k, case) in DomainCase::ALL.into_iter().enumerate() {
        let mut row = DomainRow {
            case: case.as_str(),
            in_domain: case == DomainCase::Phantoms,
            specimens: 0,
            description_alone: 0,
            scored: 0,
            out_of_domain: 0,
            film_qc: 0,
            warned: 0,
        };
        for chunk in (0..options.count as u64).collect::<Vec<_>>().chunks(16) {
            let (mut dv, mut lv, mut kept, mut qc_any) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for &index in chunk {
                let phantom = Phantom::sample(options.seed, index, &prevalence, 0.0);
                let mut rng = Rng::new(options.seed ^ 0x00d0_3a1e ^ k as u64, index);
                let films = [
                    case_film(case, &phantom, View::Dv, n, &mut rng)?,
                    case_film(case, &phantom, View::Lv, n, &mut rng)?,
                ];
                let prepared = [preprocess_film(&films[0], &spec), preprocess_film(&films[1], &spec)];
                let [Ok(a), Ok(b)] = prepared else {
                    // A film preprocessing refuses is caught before any model sees it.
                    row.specimens += 1;
                    row.warned += 1;
                    continue;
                };
                let qc = specimen_qc(Some(&a.film), Some(&b.film));
                // Every view the model uses runs (for the description alone); the score as
                // `predict` gives it reads only the views film QC keeps.
                for (buf, (p, k)) in [(&mut dv, (&a, uses.dv)), (&mut lv, (&b, uses.lv))] {
                    if k {
                        buf.extend_from_slice(&p.input.data);
                    } else {
                        buf.extend(std::iter::repeat_n(bg, s * s));
                    }
                }
                kept.push(uses.zip(qc.as_ref()).map(|(used, codes)| used && !codes.iter().any(|c| c.excludes_view())));
                qc_any.push(qc.values().any(|c| !c.is_empty()));
            }
            let presence = vec![uses; kept.len()];
            let out = model.run(&dv, &lv, &presence, false)?;
            for (i, (keep, qc)) in kept.iter().zip(&qc_any).enumerate() {
                let d = out.domain.get(i).copied().unwrap_or_default();
                let alone = d.in_domain() == Some(false);
                let outside = keep.zip(d.views).values().any(|(k, v)| *k && v.is_some_and(|v| v > 1.0));
                row.specimens += 1;
                row.description_alone += usize::from(alone);
                row.scored += usize::from(keep.any());
                row.out_of_domain += usize::from(outside);
                row.film_qc += usize::from(*qc);
                row.warned += usize::from(outside || *qc);
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn film(n: u32, pixels: Vec<u16>) -> anyhow::Result<GrayImage16> {
    GrayImage16::new(n, n, 14, pixels, FileFormat::Png).ok_or_else(|| anyhow::anyhow!("film of the wrong size"))
}

/// One view's film of `case`, built from `phantom` at `n` px (the held-out phantoms for
/// [`DomainCase::Phantoms`]).
///
/// # Errors
/// A rendered film had the wrong size.
pub fn case_film(
    case: DomainCase,
    phantom: &Phantom,
    view: View,
    n: u32,
    rng: &mut Rng,
) -> anyhow::Result<GrayImage16> {
    let max = f64::from((1u32 << 14) - 1);
    let rendered =
        || phantom.film_framed_as(None, view, n, true).ok_or_else(|| anyhow::anyhow!("film of the wrong size"));
    Ok(match case {
        DomainCase::Phantoms => rendered()?,
        DomainCase::CloseUp => close_up(&rendered()?, rng),
        DomainCase::Blurred => {
            let sigma = (f64::from(n) * rng.range(0.02, 0.05)) as f32;
            map16(&rendered()?, |b| image::imageops::blur(b, sigma))
        }
        DomainCase::OtherProportions => {
            let f = rendered()?;
            let stretch = if rng.below(2) == 0 { rng.range(1.7, 2.2) } else { 0.5 };
            // One axis of the film stretched, then the whole fitted back into the film: whatever
            // the animal's placement, its proportions change.
            let (w, h) = if rng.below(2) == 0 {
                ((f64::from(n) * stretch) as u32, n)
            } else {
                (n, (f64::from(n) * stretch) as u32)
            };
            map16(&f, |b| {
                let big = image::imageops::resize(b, w.max(8), h.max(8), image::imageops::FilterType::Triangle);
                let scale = f64::from(n) / f64::from(w.max(h));
                let (w2, h2) = ((f64::from(w) * scale) as u32, (f64::from(h) * scale) as u32);
                let small = image::imageops::resize(&big, w2.max(8), h2.max(8), image::imageops::FilterType::Triangle);
                let corner = b.get_pixel(0, 0)[0];
                let mut canvas = ImageBuffer::from_pixel(n, n, Luma([corner]));
                image::imageops::overlay(
                    &mut canvas,
                    &small,
                    i64::from((n - small.width()) / 2),
                    i64::from((n - small.height()) / 2),
                );
                canvas
            })
        }
        DomainCase::Noise => {
            // White noise plus blurred noise at a random scale: texture, no object.
            let white: Vec<u16> = (0..n * n).map(|_| (rng.uniform() * max) as u16).collect();
            let coarse = map16(&film(n, white.clone())?, |b| image::imageops::blur(b, rng.range(1.0, 20.0) as f32));
            let mix = rng.uniform();
            let pixels = white
                .iter()
                .zip(&coarse.pixels)
                .map(|(&a, &b)| (f64::from(a) * (1.0 - mix) * 0.3 + f64::from(b) * (0.7 + 0.3 * mix)) as u16)
                .collect();
            film(n, pixels)?
        }
        DomainCase::NotRadiograph => {
            let (gx, gy, g0) = (rng.range(-0.5, 0.5), rng.range(-0.5, 0.5), rng.range(0.2, 0.8));
            let mut pixels: Vec<f64> = (0..n * n)
                .map(|i| {
                    let (x, y) = (f64::from(i % n) / f64::from(n), f64::from(i / n) / f64::from(n));
                    (g0 + gx * (x - 0.5) + gy * (y - 0.5)).clamp(0.0, 1.0)
                })
                .collect();
            for _ in 0..(3 + rng.below(10)) {
                let (cx, cy) = (rng.uniform(), rng.uniform());
                let (rx, ry) = (rng.range(0.03, 0.3), rng.range(0.03, 0.3));
                let level = rng.uniform();
                let ellipse = rng.below(2) == 0;
                for (i, p) in pixels.iter_mut().enumerate() {
                    let (x, y) = (f64::from(i as u32 % n) / f64::from(n), f64::from(i as u32 / n) / f64::from(n));
                    let (dx, dy) = ((x - cx) / rx, (y - cy) / ry);
                    let inside = if ellipse { dx * dx + dy * dy <= 1.0 } else { dx.abs() <= 1.0 && dy.abs() <= 1.0 };
                    if inside {
                        *p = level;
                    }
                }
            }
            film(n, pixels.iter().map(|p| (p * max + rng.normal(0.0, 40.0)).clamp(0.0, max) as u16).collect())?
        }
    })
}

/// Applies an `image` operation to a 16-bit film.
fn map16(
    f: &GrayImage16,
    op: impl FnOnce(&ImageBuffer<Luma<u16>, Vec<u16>>) -> ImageBuffer<Luma<u16>, Vec<u16>>,
) -> GrayImage16 {
    let Some(buffer) = ImageBuffer::<Luma<u16>, _>::from_raw(f.width, f.height, f.pixels.clone()) else {
        return f.clone();
    };
    let out = op(&buffer);
    GrayImage16 { width: out.width(), height: out.height(), pixels: out.into_raw(), ..f.clone() }
}

/// The rows as a Markdown table.
pub fn to_markdown(name: &str, rows: &[DomainRow]) -> String {
    let mut md = format!(
        "## Domain description: {name}\n\n| films | specimens | out of domain, every film scored | film QC code | scored after film QC | out of domain (of those) | warned either way |\n|---|---:|---:|---:|---:|---:|---:|\n"
    );
    let (mut ood_n, mut ood_warned, mut ood_scored, mut ood_out, mut ood_alone) = (0, 0, 0, 0, 0);
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.case,
            r.specimens,
            percent(r.description_alone, r.specimens),
            percent(r.film_qc, r.specimens),
            r.scored,
            percent(r.out_of_domain, r.scored),
            percent(r.warned, r.specimens)
        ));
        if !r.in_domain {
            ood_n += r.specimens;
            ood_warned += r.warned;
            ood_scored += r.scored;
            ood_out += r.out_of_domain;
            ood_alone += r.description_alone;
        }
    }
    md.push_str(&format!(
        "| **all unlike the training data** | {ood_n} | {} | | {ood_scored} | {} | {} |\n",
        percent(ood_alone, ood_n),
        percent(ood_out, ood_scored),
        percent(ood_warned, ood_n)
    ));
    md
}
