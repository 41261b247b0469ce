//! Which way the animal's head points on a film, for a hanging protocol that shows every animal
//! head up. Preprocessing finds the body's long axis, whose two ends are alike to it; the head
//! is told from the rump by the animal's shape. Opening the animal's mask splits it into a
//! thick trunk and thin parts (tail, paws, limb ends): the tail leaves the trunk at the rump, so
//! the thin parts lie mostly on that side however it curls, and the trunk's mass sits towards
//! the rump (a mouse is pear-shaped, the head a tapering cone). Both cues agreed with the truth
//! on every style-a and style-b phantom tried and on the six real films in the project's notes.

use super::GrayImage16;
use super::crop_frame::{centroid, long_axis};
use super::film::dilate;
use super::preprocess::{PreprocessSpec, first_look};

/// The animal's long axis with its head end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyAxis {
    /// Unit vector from the trunk's centre towards the head, in image pixels (x right, y down).
    pub head: (f64, f64),
    /// The strength of the head-rump cue, in standard deviations of the trunk along its axis
    /// (near 0: the ends look alike and the call is a guess).
    pub confidence: f64,
}

impl BodyAxis {
    /// Clockwise quarter turns that bring the head nearest the top of the screen (0..4).
    pub fn head_up_turns(&self) -> u8 {
        let (x, y) = self.head;
        // After k clockwise quarter turns (x, y) becomes: k=1 (-y, x), k=2 (-x, -y), k=3 (y, -x).
        // Up is (0, -1): the turn that leaves the most negative y.
        let ys = [y, x, -y, -x];
        let mut best = 0;
        for (k, &v) in ys.iter().enumerate() {
            if ys.get(best).is_some_and(|&b| v < b) {
                best = k;
            }
        }
        best as u8
    }
}

/// Weight of the trunk's mass skew against the thin parts' centre (the skew is about a third
/// as large in standard deviations).
const SKEW_WEIGHT: f64 = 3.0;

/// Finds the animal's long axis and its head end, or `None` when there is no elongated animal
/// (an empty film, a round blob, a close-up without a whole body).
///
/// Along the axis of the animal's core (preprocessing's), in standard deviations of the core:
/// the mean position of the thin parts (the animal's mask less its opening by about 1/60 of the
/// film) plus [`SKEW_WEIGHT`] times how far the opened trunk's mean lies from its midpoint.
/// Both point to the rump; the head is the other end.
pub fn body_axis(image: &GrayImage16) -> Option<BodyAxis> {
    let (w, h) = (image.width as usize, image.height as usize);
    if w == 0 || h == 0 || image.pixels.len() != w * h {
        return None;
    }
    let analysis = first_look(image, &PreprocessSpec::default()).analysis;
    let (sw, sh) = (analysis.w, analysis.h);
    let animal = analysis.animal.as_ref()?;
    let body = animal.body.as_ref()?;
    let cell = |i: usize| ((i % sw) as f64 + 0.5, (i / sw) as f64 + 0.5);
    let core: Vec<(f64, f64)> = animal.core.iter().map(|&i| cell(i)).collect();
    if core.len() < 16 {
        return None;
    }
    let centre = centroid(&core);
    let (down, major, minor) = long_axis(&core, centre);
    if major <= 1.2 * minor.max(f64::EPSILON) {
        return None;
    }
    let spread = major.sqrt();
    let along = |i: usize| {
        let p = cell(i);
        ((p.0 - centre.0) * down.0 + (p.1 - centre.1) * down.1) / spread
    };
    let mut mask: Vec<bool> = body.cells.clone();
    mask.resize(sw * sh, false);
    for &i in &animal.core {
        if let Some(m) = mask.get_mut(i) {
            *m = true;
        }
    }
    // An opening: erosion (a dilation of the outside), then dilation.
    let r = (sw.max(sh) / 60).max(2);
    let outside: Vec<bool> = mask.iter().map(|m| !m).collect();
    let eroded: Vec<bool> = dilate(&outside, sw, sh, r).iter().map(|o| !o).collect();
    let opened = dilate(&eroded, sw, sh, r);
    let (mut thin, mut thick) = (Vec::new(), Vec::new());
    for (i, (&m, &o)) in mask.iter().zip(&opened).enumerate() {
        match (m, o) {
            (true, true) => thick.push(along(i)),
            (true, false) => thin.push(along(i)),
            _ => {}
        }
    }
    if thick.is_empty() {
        return None;
    }
    let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    let (lo, hi) = thick.iter().fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
    let rump = mean(&thin) + SKEW_WEIGHT * (mean(&thick) - (lo + hi) / 2.0);
    let head = if rump >= 0.0 { (-down.0, -down.1) } else { down };
    Some(BodyAxis { head, confidence: rump.abs() })
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::specimen::View;
    use crate::synth::{Phantom, Prevalence};

    fn square(pixels: Vec<u16>, size: u32) -> GrayImage16 {
        GrayImage16::new(size, size, 14, pixels, crate::imaging::FileFormat::Png).expect("a square film")
    }

    fn film(p: &Phantom, view: View, size: u32) -> GrayImage16 {
        square(p.render(view, size, true), size)
    }

    /// A clockwise rotation of the head-up image by `deg`: the head's direction on the film.
    fn up_turned(deg: f64) -> (f64, f64) {
        let theta = deg.to_radians();
        (theta.sin(), -theta.cos())
    }

    #[test]
    fn the_head_end_is_found_on_phantoms_of_both_generators_in_every_placement() {
        let prevalence = Prevalence::default();
        let n = 30u64;
        // (generator, view) -> (right, called)
        let mut tally = std::collections::BTreeMap::new();
        for index in 0..n {
            let plain = Phantom::sample(5150, index, &prevalence, 0.15);
            let mut varied = plain.clone();
            varied.vary_animal();
            let b = crate::synth::style_b::Mouse::sample(5151, index, &prevalence);
            for (k, view) in [View::Dv, View::Lv].into_iter().enumerate() {
                let size = 384;
                let cases = [
                    ("style a", film(&plain, view, size), up_turned(plain.placements[k].rotation_deg)),
                    ("style a varied", film(&varied, view, size), up_turned(varied.placements[k].rotation_deg)),
                    (
                        "style b",
                        square(b.render_framed_as(None, view, size), size),
                        up_turned(b.framings[k].rotation_deg),
                    ),
                ];
                for (generator, image, truth) in cases {
                    let e = tally.entry((generator, view.as_str())).or_insert((0, 0));
                    let Some(axis) = body_axis(&image) else { continue };
                    e.1 += 1;
                    e.0 += usize::from(axis.head.0 * truth.0 + axis.head.1 * truth.1 > 0.0);
                }
            }
        }
        eprintln!("head end right (right, called) of {n}: {tally:?}");
        for ((generator, view), (right, called)) in tally {
            assert!(called >= n as usize * 9 / 10, "{generator} {view}: an axis on most films ({called})");
            assert!(right >= called * 9 / 10, "{generator} {view}: the head end on most films ({right} of {called})");
        }
    }

    #[test]
    fn quarter_turns_bring_the_head_up() {
        let turns = |head| BodyAxis { head, confidence: 1.0 }.head_up_turns();
        assert_eq!(turns((0.0, -1.0)), 0);
        assert_eq!(turns((-1.0, 0.1)), 1, "head left: one clockwise turn");
        assert_eq!(turns((0.1, 1.0)), 2);
        assert_eq!(turns((1.0, 0.0)), 3, "head right: three turns");
        assert_eq!(turns((0.7, -0.71)), 0, "a diagonal leans the head up-right");
    }
}
