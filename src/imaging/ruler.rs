//! Finding a film's radiopaque ruler and reading its scale, so lengths can be given in
//! millimetres without clicking along the ruler by hand.
//!
//! The ruler is the longest straight bright mark apart from the animal (preprocessing's marks,
//! bright once the film's polarity is normalised, as bone is).
//! Along it, the brightness rises at each tick: a millimetre ruler has ticks every 1 mm, longer
//! ones every 5 and 10 mm, and its design is fitted to the brightness profile
//! ([`ruler_period`]). A ruler of another design reads wrong: the window therefore proposes
//! the reading and the reviewer confirms it.

use super::GrayImage16;
use super::crop_frame::{centroid, long_axis};
use super::film::{Marks, label};
use super::preprocess::{FirstLook, PreprocessSpec, first_look};

/// A ruler found on a film, in original pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RulerReading {
    /// A point on the ruler's centre line near one end.
    pub start: (f64, f64),
    /// The point 10 mm further along the ruler (by the reading).
    pub end: (f64, f64),
    /// Pixels per millimetre.
    pub px_per_mm: f64,
    /// How well a millimetre ruler's ticks fit the brightness along it: a correlation, 0..1.
    pub strength: f64,
}

/// A straight mark: its centre, unit axis, width (standard deviation across) and extent along
/// the axis from the centre, in original pixels.
#[derive(Clone, Copy)]
struct Mark {
    centre: (f64, f64),
    axis: (f64, f64),
    width: f64,
    lo: f64,
    hi: f64,
}

/// The weakest fit of a ruler's ticks taken as a reading.
const MIN_STRENGTH: f64 = 0.25;
/// The shortest ruler, as a fraction of the film's longer side.
const MIN_LENGTH: f64 = 0.15;
/// The least length over width of a ruler's mark.
const MIN_ELONGATION: f64 = 4.0;
/// How high a ruler's bar stands over the film beside it at its lowest tenth, against its
/// median: text and rows of marks fall to the film between their parts.
const MIN_CONTINUITY: f64 = 0.33;
/// How much better the reading must fit than one five times finer or coarser (a correlation).
const AMBIGUITY: f64 = 0.05;
/// The fewest 10 mm periods along the ruler.
const MIN_PERIODS: f64 = 3.0;

/// Finds the ruler on `image` and reads its scale, assuming a millimetre ruler with longer
/// ticks every 5 and 10 mm; `None` when there is no long straight mark beside the animal, when
/// the mark is not one solid bar (text, a row of marks), or when its ticks do not say which
/// they are (none, too fine for the film, or read as well at five times the spacing).
pub fn find_ruler(image: &GrayImage16) -> Option<RulerReading> {
    let (w, h) = (image.width as usize, image.height as usize);
    if w == 0 || h == 0 || image.pixels.len() != w * h {
        return None;
    }
    let FirstLook { norm, analysis, .. } = first_look(image, &PreprocessSpec::default());
    let marks = Marks::find(&analysis)?;
    let (sw, sh, scale) = (analysis.w, analysis.h, analysis.scale as f64);
    let (labels, sizes) = label(&marks.cells, sw, sh);
    // The longest straight mark, in original pixels.
    let mut best: Option<Mark> = None;
    for (id, &n) in sizes.iter().enumerate().skip(1) {
        if n < 20 {
            continue;
        }
        let points: Vec<(f64, f64)> = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l as usize == id)
            .map(|(i, _)| (((i % sw) as f64 + 0.5) * scale, ((i / sw) as f64 + 0.5) * scale))
            .collect();
        let centre = centroid(&points);
        let (axis, major, minor) = long_axis(&points, centre);
        if (major / minor.max(scale * scale / 12.0)).sqrt() < MIN_ELONGATION {
            continue;
        }
        let along = |p: &(f64, f64)| (p.0 - centre.0) * axis.0 + (p.1 - centre.1) * axis.1;
        let (lo, hi) = points.iter().map(along).fold((f64::MAX, f64::MIN), |(a, b), t| (a.min(t), b.max(t)));
        if hi - lo < MIN_LENGTH * w.max(h) as f64 || best.is_some_and(|b| hi - lo <= b.hi - b.lo) {
            continue;
        }
        best = Some(Mark { centre, axis, width: minor.sqrt(), lo, hi });
    }
    let Mark { centre, axis, width, lo, hi } = best?;
    let across = (-axis.1, axis.0);
    // The mean brightness across the mark at each pixel along it (nearest pixel; the ends,
    // where the dilated mask runs past the bar, left out).
    let half = (2.0 * width).max(2.0);
    let (t0, t1) = (lo + 2.0 * scale, hi - 2.0 * scale);
    let mean_across = |t: f64, offsets: &mut dyn Iterator<Item = f64>| {
        let (mut sum, mut n) = (0.0, 0.0);
        for s in offsets {
            let (x, y) = (centre.0 + t * axis.0 + s * across.0, centre.1 + t * axis.1 + s * across.1);
            if x >= 0.0 && y >= 0.0 && (x as usize) < w && (y as usize) < h {
                sum += f64::from(norm.get(y as usize * w + x as usize).copied().unwrap_or(0.0));
                n += 1.0;
            }
        }
        if n > 0.0 { Some(sum / n) } else { None }
    };
    let steps = (2.0 * half) as usize + 1;
    let positions: Vec<f64> = (0..(t1 - t0).max(0.0) as usize).map(|k| t0 + k as f64).collect();
    let profile: Vec<f64> =
        positions.iter().map(|&t| mean_across(t, &mut (0..steps).map(|k| k as f64 - half)).unwrap_or(0.0)).collect();
    // A ruler is one solid bar with ticks on it; a line of text, a row of marks, is broken.
    // The bar over the film beside it, along its length: at its lowest tenth it must stand at
    // least a third as high as at its median.
    let beside = half + 2.0 * width.max(1.0);
    let contrast: Vec<f64> = positions
        .iter()
        .zip(&profile)
        .filter_map(|(&t, &p)| mean_across(t, &mut [-beside, beside].into_iter()).map(|o| p - o))
        .collect();
    let mut sorted = contrast.clone();
    sorted.sort_by(f64::total_cmp);
    let quantile = |q: f64| sorted.get(((sorted.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0.0);
    let median = quantile(0.5);
    if !(median > 0.0 && quantile(0.1) >= MIN_CONTINUITY * median) {
        return None;
    }
    let (px_per_mm, strength) = ruler_period(&profile)?;
    let ten_mm = 10.0 * px_per_mm;
    if strength < MIN_STRENGTH || (profile.len() as f64) < MIN_PERIODS * ten_mm {
        return None;
    }
    let start = (centre.0 + t0 * axis.0, centre.1 + t0 * axis.1);
    let end = (start.0 + ten_mm * axis.0, start.1 + ten_mm * axis.1);
    Some(RulerReading { start, end, px_per_mm, strength })
}

/// Pixels per millimetre of the ruler whose brightness along it is `profile`, and how well a
/// millimetre ruler's ticks fit it (a correlation, 0..1).
///
/// The profile is detrended by a running mean over 41 pixels (the bar's slow shading must not
/// count). A millimetre ruler's ticks (full height every 10 mm, two thirds every 5 mm, a third
/// every 1 mm or none where the film cannot show them, each a blurred line) are laid over it at
/// every scale from 1.5 to a thirtieth of the ruler's length in pixels per millimetre, 1 %
/// apart, at every phase; the best fit wins.
/// Matching the whole design, not the strongest repeat, keeps a multiple or fraction of the
/// tick spacing from winning where the millimetre ticks are too fine to show; a scale five times
/// finer or coarser that fits within [`AMBIGUITY`] of the best gives `None`. The scale is then
/// refined where the profile repeats, whole numbers of 10 mm away.
fn ruler_period(profile: &[f64]) -> Option<(f64, f64)> {
    let n = profile.len();
    if n < 60 {
        return None;
    }
    let r = 20usize;
    let d: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(r), (i + r + 1).min(n));
            let mean = profile.get(a..b).map_or(0.0, |s| s.iter().sum::<f64>() / s.len() as f64);
            profile.get(i).copied().unwrap_or(0.0) - mean
        })
        .collect();
    let d_norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    if d_norm <= f64::EPSILON {
        return None;
    }
    // The ticks' blur, from how fast the profile decorrelates over one and two pixels (a
    // Gaussian line of spread s correlates exp(-l^2 / 4 s^2) with itself shifted by l): the
    // same for every scale tried, so a coarse scale does not win by drawing wider ticks.
    let lag_corr = |l: usize| d.iter().zip(d.iter().skip(l)).map(|(a, b)| a * b).sum::<f64>() / (d_norm * d_norm);
    let spread = |l: usize, r: f64| if r > 0.0 && r < 1.0 { (-((l * l) as f64) / (4.0 * r.ln())).sqrt() } else { 0.0 };
    let tick_sigma = spread(1, lag_corr(1)).max(spread(2, lag_corr(2))).clamp(0.8, 4.0);
    // `heights`: of the 10 mm, 5 mm and 1 mm ticks.
    let fit = |q: f64, phase: f64, heights: [f64; 3]| {
        let sigma = tick_sigma.min(0.3 * q);
        let mut t: Vec<f64> = (0..n)
            .map(|i| {
                let mm = (i as f64 - phase) / q;
                let m = mm.round();
                let h = match (m.rem_euclid(10.0) == 0.0, m.rem_euclid(5.0) == 0.0) {
                    (true, _) => heights[0],
                    (false, true) => heights[1],
                    _ => heights[2],
                };
                h * (-0.5 * ((mm - m) * q / sigma).powi(2)).exp()
            })
            .collect();
        let mean = t.iter().sum::<f64>() / n as f64;
        t.iter_mut().for_each(|v| *v -= mean);
        let t_norm = t.iter().map(|v| v * v).sum::<f64>().sqrt();
        if t_norm <= f64::EPSILON {
            return 0.0;
        }
        d.iter().zip(&t).map(|(a, b)| a * b).sum::<f64>() / (d_norm * t_norm)
    };
    let (mut best_q, mut best) = (0.0, f64::MIN);
    let mut q = 1.5;
    while q <= n as f64 / 30.0 {
        let step = (q / 4.0).max(1.0);
        let mut phase = 0.0;
        while phase < 10.0 * q {
            // With the millimetre ticks, and without them (too fine for the film to show).
            for mm_tick in [0.33, 0.0] {
                let f = fit(q, phase, [1.0, 0.66, mm_tick]);
                if f > best {
                    (best_q, best) = (q, f);
                }
            }
            phase += step;
        }
        q *= 1.01;
    }
    if best_q <= 0.0 {
        return None;
    }
    // Which ticks are which shows only in their heights: a train of equal ticks reads as 1 mm
    // ticks or as 5 mm ticks alike. When the reading five times finer or coarser fits about as
    // well, the ruler cannot be read.
    let best_at = |q: f64| {
        let mut f = f64::MIN;
        let mut phase = 0.0;
        while phase < 10.0 * q {
            for mm_tick in [0.33, 0.0] {
                f = f.max(fit(q, phase, [1.0, 0.66, mm_tick]));
            }
            phase += (q / 8.0).max(0.5);
        }
        f
    };
    let rival = [best_q / 5.0, best_q * 5.0]
        .into_iter()
        .filter(|&q| (1.5..=n as f64 / 10.0).contains(&q))
        .map(best_at)
        .fold(f64::MIN, f64::max);
    if rival >= best - AMBIGUITY {
        return None;
    }
    // Refined on the autocorrelation's peaks at 10, 20, 30 mm ...: a tenth of a pixel at the
    // longest reach is a hundredth of one at the ticks.
    let energy = d_norm * d_norm / n as f64;
    let at = |lag: usize| {
        if lag == 0 || lag >= n {
            return 0.0;
        }
        d.iter().zip(d.iter().skip(lag)).map(|(a, b)| a * b).sum::<f64>() / (n - lag) as f64 / energy
    };
    let max_lag = n / 2;
    let mut ten = 10.0 * best_q;
    let mut k = 1.0;
    while k * ten <= max_lag as f64 {
        let guess = k * ten;
        let reach = (0.03 * guess).max(2.0);
        let (from, to) = ((guess - reach).max(3.0) as usize, ((guess + reach) as usize).min(max_lag));
        let Some(l) = (from..=to).max_by(|&a, &b| at(a).total_cmp(&at(b))) else { break };
        let (b, h, a) = (at(l.saturating_sub(1)), at(l), at(l + 1));
        let den = b - 2.0 * h + a;
        let shift = if den.abs() > f64::EPSILON { (0.5 * (b - a) / den).clamp(-0.5, 0.5) } else { 0.0 };
        ten = (l as f64 + shift) / k;
        k += 1.0;
    }
    Some((ten / 10.0, best.clamp(0.0, 1.0)))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::specimen::View;
    use crate::synth::{Phantom, Prevalence, attenuation, build};

    #[test]
    fn a_phantoms_ruler_reads_its_millimetres_at_every_film_size_and_a_film_without_one_has_none() {
        let prevalence = Prevalence::default();
        // (read, films) for plain films, and for films varied as real ones vary (noise, blur,
        // inverted, text and marks burned in).
        let (mut plain, mut varied) = ((0, 0), (0, 0));
        let n = 12;
        for index in 0..n {
            // Millimetre ticks unresolved (5 mm ticks read) and resolved.
            let size = [512, 768, 1024, 2048][index as usize % 4];
            for vary in [false, true] {
                let mut p = Phantom::sample(6160, index, &prevalence, 1.0);
                let variation = vary.then(|| crate::synth::FilmVariation::sample(6160, index, 0));
                if let Some(v) = &variation {
                    v.apply_before_render(&mut p.placements[0], &mut p.exposures[0]);
                }
                let mut pixels = p.render(View::Dv, size, true);
                if let Some(v) = &variation {
                    v.apply_film(std::slice::from_mut(&mut pixels), size, 6160, index, 0);
                }
                let film =
                    GrayImage16::new(size, size, 14, pixels, super::super::FileFormat::Png).expect("a square film");
                let (_, pixel_mm) =
                    attenuation(&build(&p.anatomy, &p.poses[0]), None, View::Dv, size, &p.placements[0]);
                let tally = if vary { &mut varied } else { &mut plain };
                tally.1 += 1;
                let Some(r) = find_ruler(&film) else { continue };
                tally.0 += 1;
                let truth = 1.0 / pixel_mm;
                assert!(
                    (r.px_per_mm - truth).abs() / truth < 0.005,
                    "specimen {index} at {size} px (varied: {vary}): read {:.3} px/mm, the film has {truth:.3}",
                    r.px_per_mm
                );
                let length = ((r.end.0 - r.start.0).powi(2) + (r.end.1 - r.start.1).powi(2)).sqrt();
                assert!((length * pixel_mm - 10.0).abs() < 0.2, "the proposed segment is 10 mm");
            }
        }
        eprintln!(
            "rulers read within 0.5 %: plain {} of {}, varied {} of {}; none misread",
            plain.0, plain.1, varied.0, varied.1
        );
        assert!(plain.0 * 4 >= plain.1 * 3, "a ruler read on {plain:?} plain films");
        let bare = Phantom::sample(6160, 0, &prevalence, 0.0);
        let film = GrayImage16::new(512, 512, 14, bare.render(View::Dv, 512, true), super::super::FileFormat::Png)
            .expect("a square film");
        assert_eq!(find_ruler(&film), None);
    }
}
