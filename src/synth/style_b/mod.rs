//! Style b: a second phantom generator, written apart from style a to test whether a model
//! learned the skeleton or style a's drawing (`synth --style b`; training refuses it).
//!
//! Nothing of style a's anatomy, posing or rendering is used. The animal is a plan of sizes and
//! spine bends ([`Plan`]); each view poses it ([`Posture`]), builds capsules and ellipsoids
//! along a spine integrated from curvature ([`skeleton`]), paints them into a voxel volume and
//! projects it ([`voxels`]), and exposes a detector with its own response curve ([`film`]).
//! The same labels, layouts and truth file as style a.

mod film;
mod findings;
mod skeleton;
mod voxels;

use serde::{Deserialize, Serialize};

pub use film::{Detector, Framing};

use super::{Finding, Prevalence, Rng, sample_findings};
use crate::specimen::View;

/// Stream keys of style b, apart from style a's.
const PLAN_STREAM: u64 = 0x0b0b_706c;
const FINDING_STREAM: u64 = 0x0b0b_6669;
const NOISE_STREAM: u64 = 0x0b0b_6e6f;

/// A bend of the spine: a curvature bump whose integral is `angle_deg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bend {
    /// Arc length from the atlas, mm.
    pub at_mm: f64,
    /// Standard deviation of the curvature bump, mm (small: angular; large: a broad arc).
    pub spread_mm: f64,
    /// Total turn, degrees. Sagittal: positive is convex dorsally (a hump). Lateral: positive
    /// turns towards the left.
    pub angle_deg: f64,
    /// `true`: in the lateral plane (seen in DV); `false`: sagittal (seen in LV).
    pub lateral: bool,
}

/// One paw's digits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Paw {
    /// Length of an extra (sixth) digit beside the first, as a share of a normal digit; 0: none.
    pub extra_digit: f64,
    /// Digits `k` and `k + 1` joined along their length by bone.
    pub joined: Option<usize>,
}

/// One long bone's change: length factor and bowing (mm at mid-shaft).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoneShape {
    /// Length factor (1: normal).
    pub length: f64,
    /// Mid-shaft bowing, mm.
    pub bow_mm: f64,
}

impl Default for BoneShape {
    fn default() -> Self {
        BoneShape { length: 1.0, bow_mm: 0.0 }
    }
}

/// The animal: sizes, the spine's own bends and every finding's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Overall length factor.
    pub size: f64,
    /// Soft-tissue girth factor (fat, build).
    pub girth: f64,
    /// Cranium length, width and height, mm.
    pub cranium_mm: [f64; 3],
    /// Snout length, mm.
    pub snout_mm: f64,
    /// Bends the animal has in every posture (scoliosis, kyphosis, lordosis).
    pub bends: Vec<Bend>,
    /// Fused vertebrae: (first index from the atlas, how many, completeness 0..1).
    pub fusions: Vec<(usize, usize, f64)>,
    /// Bony bridges between ribs: (rib index, side +1 left / -1 right, start and end along the
    /// rib 0..1, bridge radius mm).
    pub rib_links: Vec<(usize, f64, f64, f64, f64)>,
    /// Extra incisor growth along its arc, degrees.
    pub incisor_growth_deg: f64,
    /// Lower jaw displaced (forward, sideways), mm.
    pub jaw_shift_mm: (f64, f64),
    /// Half-width of the pelvis at the hips, mm.
    pub hip_half_width_mm: f64,
    /// Hip joints displaced cranially, left then right, mm.
    pub hip_shift_mm: [f64; 2],
    /// Long bones: [fore left, fore right, hind left, hind right] x [upper, lower].
    pub long_bones: [[BoneShape; 2]; 4],
    /// Paws, in the same order.
    pub paws: [Paw; 4],
    /// Gas pockets in the gut: (x, y, z relative to the lumbar spine, radius), mm.
    pub gas: Vec<[f64; 4]>,
}

/// How the animal lay for one exposure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posture {
    /// Normal bends of this posture (the back's arch in LV, a curved placement in DV).
    pub bends: Vec<Bend>,
    /// Head pitch (positive: nose up) and yaw (positive: left), degrees.
    pub head_deg: (f64, f64),
    /// Limb angles, degrees, [fore left, fore right, hind left, hind right] x [upper, lower,
    /// paw]: in DV from the cranial direction towards the side, in LV from the cranial
    /// direction towards the back.
    pub limbs_deg: [[f64; 3]; 4],
    /// Tail curl, degrees over its length.
    pub tail_curl_deg: f64,
}

/// A style-b phantom, as `truth.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mouse {
    /// Run seed.
    pub seed: u64,
    /// Specimen index within the run.
    pub index: u64,
    /// The animal.
    pub plan: Plan,
    /// Its findings.
    pub findings: Vec<Finding>,
    /// DV then LV.
    pub postures: [Posture; 2],
    /// Where each view lies on the detector.
    pub framings: [Framing; 2],
    /// Each view's exposure and detector.
    pub detectors: [Detector; 2],
}

impl Mouse {
    /// Draws specimen `index`: the normal animal, both postures and exposures, then its findings
    /// from a separate stream.
    pub fn sample(seed: u64, index: u64, prevalence: &Prevalence) -> Mouse {
        let mut rng = Rng::new(seed ^ PLAN_STREAM, index);
        let plan = Plan::sample(&mut rng);
        let postures = [Posture::dorsoventral(&mut rng), Posture::lateral(&mut rng)];
        let framings = [Framing::sample(&mut rng), Framing::sample(&mut rng)];
        let detectors = [Detector::sample(&mut rng), Detector::sample(&mut rng)];
        let mut mouse = Mouse { seed, index, plan, findings: Vec::new(), postures, framings, detectors };
        let mut frng = Rng::new(seed ^ FINDING_STREAM, index);
        for (class, severity) in sample_findings(&mut frng, prevalence) {
            mouse = mouse.with_finding(&class, severity);
        }
        mouse
    }

    /// The same animal with one more finding.
    pub fn with_finding(&self, class: &str, severity: f64) -> Mouse {
        let mut out = self.clone();
        let mut rng = Rng::new(self.seed ^ FINDING_STREAM ^ 0x77, self.index * 16 + out.findings.len() as u64);
        out.findings.push(findings::apply(class, severity, &mut out.plan, &mut rng));
        out
    }

    /// Whether the animal has this L3 finding.
    pub fn has(&self, class: &str) -> bool {
        self.findings.iter().any(|f| f.class == class)
    }

    /// Renders one view at `size` x `size`, 14-bit values, framed as `frame`'s animal (the other
    /// member of a counterfactual pair) or its own.
    pub fn render_framed_as(&self, frame: Option<&Mouse>, view: View, size: u32) -> Vec<u16> {
        let v = usize::from(view == View::Lv);
        let projection = skeleton::project(&self.plan, &self.postures[v], view, size);
        let extent = match frame {
            Some(f) => skeleton::extent(&f.plan, &f.postures[v], view),
            None => projection.extent,
        };
        let mut rng = Rng::new(self.seed ^ NOISE_STREAM, self.index * 2 + v as u64);
        film::expose(&projection, extent, &self.framings[v], &self.detectors[v], size, &mut rng)
    }
}

impl Plan {
    fn sample(rng: &mut Rng) -> Plan {
        let size = rng.range(0.86, 1.14);
        Plan {
            size,
            girth: rng.range(0.85, 1.35),
            cranium_mm: [rng.normal(12.5, 0.4), rng.normal(10.0, 0.35), rng.normal(7.6, 0.3)],
            snout_mm: rng.normal(10.5, 0.4),
            bends: Vec::new(),
            fusions: Vec::new(),
            rib_links: Vec::new(),
            incisor_growth_deg: rng.range(0.0, 10.0),
            jaw_shift_mm: (rng.normal(0.0, 0.1), rng.normal(0.0, 0.08)),
            hip_half_width_mm: rng.normal(4.3, 0.2),
            hip_shift_mm: [rng.normal(0.0, 0.15), rng.normal(0.0, 0.15)],
            long_bones: Default::default(),
            paws: Default::default(),
            gas: (0..rng.below(5))
                .map(|_| [rng.range(-8.0, 14.0), rng.range(-7.0, 7.0), rng.range(-9.0, -3.0), rng.range(0.8, 2.8)])
                .collect(),
        }
    }
}

impl Posture {
    /// Prone on the plate, limbs spread; the body may lie in a broad curve.
    fn dorsoventral(rng: &mut Rng) -> Posture {
        let mut bends = vec![Bend {
            at_mm: rng.range(25.0, 50.0),
            spread_mm: rng.range(10.0, 18.0),
            angle_deg: rng.normal(0.0, 7.0),
            lateral: true,
        }];
        bends.push(Bend { at_mm: 30.0, spread_mm: 14.0, angle_deg: rng.range(0.0, 10.0), lateral: false });
        let fore = |rng: &mut Rng| [rng.range(20.0, 70.0), rng.range(-10.0, 40.0), rng.range(0.0, 50.0)];
        let hind = |rng: &mut Rng| [rng.range(110.0, 160.0), rng.range(140.0, 200.0), rng.range(150.0, 200.0)];
        Posture {
            bends,
            head_deg: (rng.normal(0.0, 6.0), rng.normal(0.0, 6.0)),
            limbs_deg: [fore(rng), fore(rng), hind(rng), hind(rng)],
            tail_curl_deg: rng.normal(0.0, 60.0),
        }
    }

    /// On its side: the back arched from straight to markedly hunched, the head flexed or
    /// extended, limbs forward and back in the sagittal plane.
    fn lateral(rng: &mut Rng) -> Posture {
        let bends = vec![
            Bend {
                at_mm: rng.range(22.0, 42.0),
                spread_mm: rng.range(9.0, 16.0),
                angle_deg: rng.range(0.0, 40.0),
                lateral: false,
            },
            Bend {
                at_mm: rng.range(45.0, 58.0),
                spread_mm: rng.range(8.0, 12.0),
                angle_deg: rng.range(-10.0, 5.0),
                lateral: false,
            },
            Bend { at_mm: rng.range(25.0, 50.0), spread_mm: 14.0, angle_deg: rng.normal(0.0, 4.0), lateral: true },
        ];
        let fore = |rng: &mut Rng| [rng.range(-80.0, -30.0), rng.range(-120.0, -60.0), rng.range(-60.0, 10.0)];
        let hind = |rng: &mut Rng| [rng.range(-80.0, -20.0), rng.range(-170.0, -120.0), rng.range(-120.0, -40.0)];
        Posture {
            bends,
            head_deg: (rng.normal(0.0, 14.0), rng.normal(0.0, 4.0)),
            limbs_deg: [fore(rng), fore(rng), hind(rng), hind(rng)],
            tail_curl_deg: rng.normal(0.0, 50.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_differs_only_where_the_finding_is() {
        let base = Mouse::sample(5, 3, &Prevalence { abnormal: 0.0, ..Prevalence::default() });
        let with = base.with_finding("kyphosis", 1.0);
        let a = base.render_framed_as(None, View::Lv, 128);
        let b = with.render_framed_as(Some(&base), View::Lv, 128);
        let changed = a.iter().zip(&b).filter(|(x, y)| x.abs_diff(**y) > 400).count();
        assert!(changed > 50, "kyphosis changed only {changed} pixels");
        assert!(changed < a.len() / 3, "kyphosis changed {changed} of {} pixels", a.len());
        assert_eq!(base.render_framed_as(None, View::Lv, 128), a, "rendering is deterministic");
    }
}
