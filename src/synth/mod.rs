//! Phantom mouse radiographs with ground truth (`mousexray synth`).
//!
//! A [`Phantom`] is one animal: an [`anatomy::Anatomy`] (with its findings applied), a pose per
//! view, a placement on the detector and exposure settings. Rendering projects the posed body
//! along the view's axis, so each abnormality changes the two views the way it would in a real
//! animal: scoliosis bends the spine sideways (seen in DV, not in LV), kyphosis dorsally (seen
//! in LV). Everything is drawn from per-specimen random streams, so output is byte-identical
//! for the same arguments whatever the thread count.

pub mod anatomy;
mod film_marks;
mod film_variation;
mod findings;
pub mod geometry;
mod primitive;
mod render;
mod rng;
pub mod style_b;
mod writer;

use serde::{Deserialize, Serialize};

pub use anatomy::{Anatomy, Body, Pose, build};
pub use film_marks::{FilmMark, MarkPlacement, add_mark, animal_pixels, move_film, with_margin};
pub use film_variation::{Background, FilmVariation};
pub use findings::{CLASSES, Finding, Prevalence, apply, sample_findings};
pub use primitive::{Primitive, Shape};
pub use render::{DETECTOR_MAX, Exposure, Placement, attenuation, project, render};
pub use rng::Rng;
pub use writer::{
    OutFormat, OutLayout, PAIRS_FILE, POSTURE_PAIR, PairTruth, Style, SynthConfig, SynthSummary, generate, pair_ids,
    style_b_folders, write_review,
};

use crate::specimen::View;

/// Stream keys, so each purpose draws from its own sequence.
/// Vertebrae in [`Phantom::spine_landmarks`]: cervical, thoracic, lumbar and sacral (7 + 13 + 6
/// + 4), the tail left out.
pub const SPINE_LANDMARKS: usize = 30;
const FINDINGS_STREAM: u64 = 0x6669_6e64;
const NOISE_STREAM: u64 = 0x6e6f_6973;
const ANIMAL_STREAM: u64 = 0x616e_696d;
const POSTURE_STREAM: u64 = 0x706f_7374;

/// One phantom animal and how it was X-rayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phantom {
    /// Run seed.
    pub seed: u64,
    /// Specimen index within the run.
    pub index: u64,
    /// The animal, findings applied.
    pub anatomy: Anatomy,
    /// Its findings.
    pub findings: Vec<Finding>,
    /// Pose for the DV and the LV exposure.
    pub poses: [Pose; 2],
    /// Placement on the detector, DV then LV.
    pub placements: [Placement; 2],
    /// Exposure settings, DV then LV.
    pub exposures: [Exposure; 2],
}

impl Phantom {
    /// Draws specimen `index` of a run: a normal animal, pose, placement and exposure, then its
    /// findings (from a separate stream, so they change nothing else).
    pub fn sample(seed: u64, index: u64, prevalence: &Prevalence, ruler_rate: f64) -> Phantom {
        let mut rng = Rng::new(seed, index);
        let anatomy = Anatomy::sample(&mut rng);
        let poses = [Pose::dorsoventral(&mut rng), Pose::lateral(&mut rng)];
        let placements = [Placement::sample(&mut rng), Placement::sample(&mut rng)];
        let exposures = [Exposure::sample(&mut rng, ruler_rate), Exposure::sample(&mut rng, ruler_rate)];
        let mut phantom = Phantom { seed, index, anatomy, findings: Vec::new(), poses, placements, exposures };
        let mut frng = Rng::new(seed ^ FINDINGS_STREAM, index);
        for (class, severity) in sample_findings(&mut frng, prevalence) {
            phantom = phantom.with_finding(&class, severity);
        }
        phantom
    }

    /// The same animal with one more finding (drawn from the specimen's findings stream).
    pub fn with_finding(&self, class: &str, severity: f64) -> Phantom {
        let mut out = self.clone();
        let mut frng =
            Rng::new(self.seed ^ FINDINGS_STREAM ^ 0x5a5a, self.index.wrapping_add(out.findings.len() as u64 * 7919));
        let finding = apply(class, severity, &mut out.anatomy, &mut frng);
        out.findings.push(finding);
        out
    }

    /// The column's midline on the film [`Phantom::render_framed_as`] draws: the centre of each
    /// vertebral body from the atlas to the last sacral vertebra (C1-C7, T1-T13, L1-L6, S1-S4;
    /// [`SPINE_LANDMARKS`] points, cranial first), in pixels from the film's top-left corner
    /// (see [`project`]), to 0.01 px. A target for learning where the skeleton is, and for
    /// checking where a model's evidence lies.
    pub fn spine_landmarks(&self, frame: Option<&Phantom>, view: View, size: u32) -> Vec<[f64; 2]> {
        let v = usize::from(view == View::Lv);
        let (pose, body) = (&self.poses[v], build(&self.anatomy, &self.poses[v]));
        let frame = frame.map(|f| render::bounds(&build(&f.anatomy, &f.poses[v])));
        let spine = anatomy::Spine::new(&self.anatomy, pose);
        let centres: Vec<_> = (0..SPINE_LANDMARKS).map(|k| spine.frame(k).centre).collect();
        let round = |x: f64| (x * 100.0).round() / 100.0;
        project(&body, frame, view, size, &self.placements[v], &centres)
            .into_iter()
            .map(|(x, y)| [round(x), round(y)])
            .collect()
    }

    /// Varies the animal as real films show it (`synth --vary-animal`), from a stream of its own:
    /// in LV a normal hunch of the thoracolumbar back (0 to 9 mm over a broad arc, as real lateral
    /// films show an anaesthetised mouse) and the head flexed or
    /// extended (pitch SD 10 degrees more); plumper bodies (girth up to 45 % more); in both
    /// views the trunk laid along the curved column, so every curve carries the trunk it holds;
    /// sizes 8 % either way; in DV a curved placement (a broad arc, SD 3 mm at mid-column) and
    /// limbs from tucked in to splayed; in LV limbs reaching forward or hanging, the femur
    /// sometimes forward under the belly.
    /// Kyphosis stays what it was: an angular hump (6 to 10 mm wide) beyond the broad normal arc
    /// (18 mm).
    pub fn vary_animal(&mut self) {
        let mut rng = Rng::new(self.seed ^ ANIMAL_STREAM, self.index);
        self.poses[1].hunch_mm = rng.range(0.0, 9.0);
        self.poses[1].head.1 += rng.normal(0.0, 10.0);
        self.anatomy.girth *= rng.range(1.0, 1.45);
        for pose in &mut self.poses {
            pose.trunk_follows_spine = true;
        }
        self.anatomy.scale *= rng.range(0.92, 1.08);
        self.poses[0].bow_mm = rng.normal(0.0, 3.0).clamp(-7.0, 7.0);
        let mut angle = |az: (f64, f64), el: (f64, f64)| (rng.range(az.0, az.1), rng.range(el.0, el.1));
        for side in 0..2 {
            self.poses[0].fore[side] = [
                angle((30.0, 130.0), (-30.0, -10.0)),
                angle((0.0, 80.0), (-15.0, -5.0)),
                angle((-10.0, 60.0), (-6.0, -4.0)),
            ];
            self.poses[0].hind[side] = [
                angle((80.0, 160.0), (-20.0, -8.0)),
                angle((130.0, 190.0), (-10.0, 0.0)),
                angle((150.0, 200.0), (-4.0, -2.0)),
            ];
            self.poses[1].fore[side] = [
                angle((-20.0, 40.0), (-85.0, -35.0)),
                angle((-10.0, 35.0), (-50.0, -5.0)),
                angle((-10.0, 25.0), (-25.0, 5.0)),
            ];
            // The femur points back, or forward under the belly as a relaxed animal's often does.
            let femur = angle((140.0, 190.0), (-70.0, -25.0));
            let forward = angle((0.0, 40.0), (-80.0, -40.0));
            let femur = if forward.0 < 20.0 { forward } else { femur };
            self.poses[1].hind[side] =
                [femur, angle((140.0, 200.0), (-40.0, 10.0)), angle((150.0, 200.0), (-20.0, 10.0))];
        }
    }

    /// Draws the LV posture again, as an anaesthetised mouse on its side may lie on another
    /// day: a thoracolumbar hunch of 0 to 9 mm, the head's pitch (SD 15 degrees, within 35),
    /// the tail's even curvature as [`Pose::lateral`] draws it, and a curl of the tail from 60
    /// degrees down to 180 degrees up over the back (`Pose::tail_curl_deg`). Anatomy, findings,
    /// limbs, placement and exposure stay: every label stays true.
    pub fn redraw_lateral_posture(&mut self, rng: &mut Rng) {
        let lv = &mut self.poses[1];
        lv.hunch_mm = rng.range(0.0, 9.0);
        lv.head.1 = rng.normal(0.0, 15.0).clamp(-35.0, 35.0);
        lv.tail_curvature = rng.range(-0.012, 0.012);
        lv.tail_curl_deg = rng.range(-60.0, 180.0);
    }

    /// Draws the LV posture from the whole range real laterals show (`synth --vary-posture`),
    /// from a stream of its own: [`Phantom::redraw_lateral_posture`]'s hunch, head and tail, so
    /// that a curled tail or a flexed head is normal in training as it is on real films.
    pub fn vary_lateral_posture(&mut self) {
        self.redraw_lateral_posture(&mut Rng::new(self.seed ^ POSTURE_STREAM, self.index));
    }

    /// Whether the animal has this L3 finding.
    pub fn has(&self, class: &str) -> bool {
        self.findings.iter().any(|f| f.class == class)
    }

    /// Renders one view (DV or LV) at `size` x `size`, 14-bit values. `noise`: add quantum noise.
    pub fn render(&self, view: View, size: u32, noise: bool) -> Vec<u16> {
        self.render_framed_as(None, view, size, noise)
    }

    /// [`Phantom::render_framed_as`] as the 14-bit film a detector writes (read as a PNG), for
    /// measurements that feed phantoms to the app's own preprocessing; `None` only if the
    /// renderer's output does not fill `size` x `size`.
    pub fn film_framed_as(
        &self,
        frame: Option<&Phantom>,
        view: View,
        size: u32,
        noise: bool,
    ) -> Option<crate::imaging::GrayImage16> {
        let pixels = self.render_framed_as(frame, view, size, noise);
        crate::imaging::GrayImage16::new(size, size, 14, pixels, crate::imaging::FileFormat::Png)
    }

    /// [`Phantom::render`] with the field of view fitted to `frame`'s animal instead of this
    /// one: the member of a counterfactual pair with the finding is framed as the one without,
    /// so that nothing but the finding moves.
    pub fn render_framed_as(&self, frame: Option<&Phantom>, view: View, size: u32, noise: bool) -> Vec<u16> {
        let v = usize::from(view == View::Lv);
        let body = build(&self.anatomy, &self.poses[v]);
        let frame = frame.map(|f| render::bounds(&build(&f.anatomy, &f.poses[v])));
        let mut rng = Rng::new(self.seed ^ NOISE_STREAM, self.index.wrapping_mul(2).wrapping_add(v as u64));
        render(&body, frame, view, size, &self.placements[v], &self.exposures[v], noise.then_some(&mut rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every landmark lies on its vertebral body: rendered alone, in the whole animal's field of
    /// view, the column attenuates at each point. A mirrored, rotated or shifted projection
    /// would put most points beside the column (its bodies are 2-3 px wide here).
    #[test]
    fn spine_landmarks_lie_on_the_vertebral_bodies_in_both_views() {
        let prevalence = Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() };
        let size = 384;
        for index in 0..12 {
            let mut phantom = Phantom::sample(77, index, &prevalence, 0.0);
            if index % 2 == 1 {
                phantom.vary_animal();
            }
            for view in [View::Dv, View::Lv] {
                let v = usize::from(view == View::Lv);
                let whole = build(&phantom.anatomy, &phantom.poses[v]);
                let mut column = Body::default();
                anatomy::Spine::new(&phantom.anatomy, &phantom.poses[v]).add_vertebrae(&phantom.anatomy, &mut column);
                let frame = Some(render::bounds(&whole));
                let (att, _) = attenuation(&column, frame, view, size, &phantom.placements[v]);
                let points = phantom.spine_landmarks(None, view, size);
                assert_eq!(points.len(), SPINE_LANDMARKS);
                for (k, [x, y]) in points.iter().enumerate() {
                    let (i, j) = (*x as usize, *y as usize);
                    assert!(i < size as usize && j < size as usize, "{index} {view:?} C{k}: ({x}, {y}) off the film");
                    assert!(att[j * size as usize + i] > 0.0, "{index} {view:?} vertebra {k}: ({x}, {y}) not on bone");
                }
                // Consecutive centres are a vertebra apart, not scattered.
                let steps: Vec<f64> = points
                    .windows(2)
                    .map(|w| ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt())
                    .collect();
                assert!(steps.iter().all(|&s| s < 15.0), "{index} {view:?}: {steps:?}");
            }
        }
    }
}
