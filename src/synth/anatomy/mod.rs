//! A parametric adult mouse skeleton and body, in millimetres, built from primitives.
//!
//! [`Anatomy`] holds everything intrinsic to one animal (size, proportions, spine shape and
//! every abnormality's effect); [`Pose`] holds what changes between the DV and LV exposures
//! (limb angles, tail curve, head tilt). [`build`] turns both into [`Body`], the primitives the
//! renderer projects.

mod limbs;
mod skull;
mod soft;
mod spine;

use serde::{Deserialize, Serialize};

use super::geometry::V3;
use super::primitive::{Primitive, Shape};
use super::rng::Rng;

pub use spine::{Spine, VERTEBRAE, Vertebra};

/// Attenuation coefficients (1/mm) of the tissues; display contrast, not a spectrum model.
pub mod mu {
    /// Soft tissue (the body's union, see [`super::Body::soft`]).
    pub const SOFT: f64 = 0.034;
    /// Fur and skin halo just outside the soft-tissue outline.
    pub const FUR: f64 = 0.003;
    /// Cortical bone.
    pub const CORTEX: f64 = 0.62;
    /// Marrow and trabecular bone.
    pub const MARROW: f64 = 0.16;
    /// Thin solid bones (ribs, phalanges, processes).
    pub const THIN_BONE: f64 = 0.72;
    /// Cartilage (costal cartilage): barely denser than soft tissue.
    pub const CARTILAGE: f64 = 0.09;
    /// Tooth enamel and dentine: the densest tissue.
    pub const TOOTH: f64 = 1.15;
    /// Air in lungs and gut, relative to the soft tissue it replaces.
    pub const AIR: f64 = -0.026;
}

/// Which side of the animal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Animal's left (+y).
    Left,
    /// Animal's right (-y).
    Right,
}

impl Side {
    /// +1 for left, -1 for right.
    pub fn sign(self) -> f64 {
        match self {
            Side::Left => 1.0,
            Side::Right => -1.0,
        }
    }

    /// Both sides.
    pub const BOTH: [Side; 2] = [Side::Left, Side::Right];
}

/// A long bone that the `long_bones` finding can shorten or bow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LongBone {
    /// Upper forelimb.
    Humerus,
    /// Thigh.
    Femur,
    /// Shank (with the fibula).
    Tibia,
}

/// Shape changes of one long bone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoneChange {
    /// Which bone.
    pub bone: LongBone,
    /// Which side.
    pub side: Side,
    /// Length factor (1 = normal).
    pub length: f64,
    /// Bowing: sideways deflection of the shaft's middle, in mm.
    pub bow_mm: f64,
}

/// A bony bridge between rib `rib` and rib `rib + 1` on one side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RibBridge {
    /// Cranial rib of the pair (0-based, 0 = first rib).
    pub rib: usize,
    /// Side.
    pub side: Side,
    /// Where along the rib the bridge starts and ends (fraction of the half-turn from the spine).
    pub span: (f64, f64),
    /// Bridge thickness factor relative to a rib.
    pub thickness: f64,
}

/// Adjacent vertebrae merged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    /// First vertebra (index into [`VERTEBRAE`]).
    pub first: usize,
    /// How many vertebrae are merged (2 or more).
    pub count: usize,
    /// 0 = barely, 1 = completely bridged.
    pub completeness: f64,
}

/// A smooth displacement of the spine's centreline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Arc length from the first cervical vertebra (mm) at the peak.
    pub centre_mm: f64,
    /// Gaussian width (mm).
    pub width_mm: f64,
    /// Peak displacement (mm): lateral to the left for sideways curves, dorsal for sagittal ones.
    pub amplitude_mm: f64,
}

/// Digit changes on one paw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PawChange {
    /// Forepaw (`true`) or hind paw.
    pub fore: bool,
    /// Side.
    pub side: Side,
    /// An extra (sixth) digit beside digit 1: its size relative to a normal digit (0 = none).
    pub extra_digit: f64,
    /// Two neighbouring digits fused: the index of the first (1..=3, digit 2 to 4).
    pub fused_with_next: Option<usize>,
}

/// Everything intrinsic to one animal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anatomy {
    /// Overall size factor (1 = a typical adult, nose to rump about 92 mm).
    pub scale: f64,
    /// Body girth factor (fat vs lean).
    pub girth: f64,
    /// Normal thoracic dorsal convexity (mm).
    pub thoracic_arch_mm: f64,
    /// Small lateral irregularities of a normal spine (positioning, posture).
    pub lateral: Vec<Curve>,
    /// Dorsal (+) / ventral (-) displacements beyond the normal arch (kyphosis, lordosis).
    pub sagittal: Vec<Curve>,
    /// Fused vertebrae.
    pub fusions: Vec<Fusion>,
    /// Cranium height factor (domed skull > 1).
    pub cranium_height: f64,
    /// Cranium length factor.
    pub cranium_length: f64,
    /// Snout length factor (shortened skull < 1).
    pub snout_length: f64,
    /// Extra incisor length (mm): overgrowth.
    pub incisor_overgrowth_mm: f64,
    /// Lower incisors protruding in front of the upper ones (malocclusion), mm.
    pub malocclusion_mm: f64,
    /// Lower incisors deviated sideways (mm).
    pub incisor_deviation_mm: f64,
    /// Ribcage width factor.
    pub ribcage_width: f64,
    /// Rib bridges.
    pub rib_bridges: Vec<RibBridge>,
    /// Pelvis width factor (narrow < 1).
    pub pelvis_width: f64,
    /// Shift of one hemipelvis along the body (mm), and which side.
    pub pelvis_shift: (Side, f64),
    /// Long-bone length factors and bowing.
    pub bones: Vec<BoneChange>,
    /// Digit changes.
    pub paws: Vec<PawChange>,
    /// Gas pockets in the gut: (centre offset from mid-abdomen, radius), mm.
    pub gas: Vec<(V3, f64)>,
}

impl Anatomy {
    /// A normal animal with natural variation.
    pub fn sample(rng: &mut Rng) -> Anatomy {
        let lateral = (0..2)
            .map(|_| Curve {
                centre_mm: rng.range(15.0, 60.0),
                width_mm: rng.range(8.0, 16.0),
                amplitude_mm: rng.normal(0.0, 0.35),
            })
            .collect();
        let gas = (0..rng.below(4))
            .map(|_| {
                (
                    V3 { x: rng.range(-12.0, 12.0), y: rng.range(-8.0, 8.0), z: rng.range(-6.0, 2.0) },
                    rng.range(1.0, 3.0),
                )
            })
            .collect();
        Anatomy {
            scale: rng.range(0.92, 1.08),
            girth: rng.range(0.9, 1.12),
            thoracic_arch_mm: rng.range(1.2, 3.0),
            lateral,
            sagittal: Vec::new(),
            fusions: Vec::new(),
            cranium_height: rng.normal(1.0, 0.035),
            cranium_length: rng.normal(1.0, 0.03),
            snout_length: rng.normal(1.0, 0.035),
            incisor_overgrowth_mm: rng.range(0.0, 0.4),
            malocclusion_mm: 0.0,
            incisor_deviation_mm: rng.normal(0.0, 0.08),
            ribcage_width: rng.normal(1.0, 0.04),
            rib_bridges: Vec::new(),
            pelvis_width: rng.normal(1.0, 0.04),
            pelvis_shift: (Side::Left, rng.normal(0.0, 0.15)),
            bones: Vec::new(),
            paws: Vec::new(),
            gas,
        }
    }

    /// Length factor and bowing of one long bone (natural variation is in `scale`).
    pub fn bone(&self, bone: LongBone, side: Side) -> (f64, f64) {
        self.bones.iter().find(|b| b.bone == bone && b.side == side).map_or((1.0, 0.0), |b| (b.length, b.bow_mm))
    }

    /// Digit changes of one paw.
    pub fn paw(&self, fore: bool, side: Side) -> Option<&PawChange> {
        self.paws.iter().find(|p| p.fore == fore && p.side == side)
    }
}

/// What differs between the two exposures of one animal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Limbs spread flat (DV) or folded under the body in the sagittal plane (LV).
    pub spread: bool,
    /// Forelimb segment directions per side: (humerus, forearm, paw), as (azimuth, elevation)
    /// in degrees for the left side (mirrored for the right).
    pub fore: [[(f64, f64); 3]; 2],
    /// Hindlimb segment directions per side: (femur, tibia, foot).
    pub hind: [[(f64, f64); 3]; 2],
    /// Tail bending per mm (1/mm) and the plane it bends in (`true`: towards the left, lying on
    /// the table; `false`: dorsoventral).
    pub tail_curvature: f64,
    /// Whether the tail bends in the horizontal plane.
    pub tail_flat: bool,
    /// Head yaw (degrees, towards the left) and pitch (degrees, dorsal).
    pub head: (f64, f64),
    /// A normal hunch of the thoracolumbar back (mm, dorsal), as an anaesthetised mouse lying
    /// on its side shows: a broad arc that carries the ribs, girdles and trunk with it (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hunch_mm: f64,
    /// A curved placement in DV (mm to the left at mid-column, 0 at the head and the sacrum):
    /// the whole body lies in a broad arc that carries everything hung from the column.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bow_mm: f64,
    /// Lay the trunk's soft tissue along the posed, curved column, so that every curve (a
    /// hunch, kyphosis, scoliosis) carries the trunk it holds; otherwise the trunk is one
    /// straight ellipsoid from shoulders to rump and a curve moves the column inside it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trunk_follows_spine: bool,
    /// The tail curled dorsally in LV (degrees; negative: ventrally), turning evenly over its
    /// first 30 mm, on top of its even curvature: the upturned tail of a mouse lying on its
    /// side. 0: none (then the tail's elevation stays within 35 degrees of the table).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tail_curl_deg: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Pose {
    /// The DV exposure: prone, limbs spread, tail curved along the animal's left side.
    pub fn dorsoventral(rng: &mut Rng) -> Pose {
        let fore = |rng: &mut Rng| {
            [
                (rng.range(55.0, 115.0), rng.range(-30.0, -15.0)),
                (rng.range(15.0, 65.0), rng.range(-15.0, -5.0)),
                (rng.range(0.0, 45.0), -5.0),
            ]
        };
        let hind = |rng: &mut Rng| {
            [
                (rng.range(100.0, 140.0), rng.range(-20.0, -8.0)),
                (rng.range(145.0, 175.0), rng.range(-10.0, 0.0)),
                (rng.range(160.0, 190.0), -3.0),
            ]
        };
        Pose {
            spread: true,
            fore: [fore(rng), fore(rng)],
            hind: [hind(rng), hind(rng)],
            tail_curvature: rng.range(0.028, 0.05),
            tail_flat: true,
            head: (rng.normal(0.0, 4.0), 0.0),
            hunch_mm: 0.0,
            bow_mm: 0.0,
            trunk_follows_spine: false,
            tail_curl_deg: 0.0,
        }
    }

    /// The LV exposure: on its side, limbs stretched roughly in the sagittal plane.
    pub fn lateral(rng: &mut Rng) -> Pose {
        let fore = |rng: &mut Rng| {
            [
                (rng.range(-5.0, 25.0), rng.range(-75.0, -50.0)),
                (rng.range(0.0, 20.0), rng.range(-40.0, -10.0)),
                (rng.range(0.0, 15.0), rng.range(-20.0, 0.0)),
            ]
        };
        let hind = |rng: &mut Rng| {
            [
                (rng.range(150.0, 185.0), rng.range(-60.0, -30.0)),
                (rng.range(165.0, 195.0), rng.range(-25.0, 5.0)),
                (rng.range(170.0, 195.0), rng.range(-15.0, 5.0)),
            ]
        };
        Pose {
            spread: false,
            fore: [fore(rng), fore(rng)],
            hind: [hind(rng), hind(rng)],
            tail_curvature: rng.range(-0.012, 0.012),
            tail_flat: false,
            head: (0.0, rng.normal(0.0, 5.0)),
            hunch_mm: 0.0,
            bow_mm: 0.0,
            trunk_follows_spine: false,
            tail_curl_deg: 0.0,
        }
    }
}

/// The primitives of one posed animal.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// Additive attenuators: bones, teeth, lungs, gas, fur.
    pub parts: Vec<Primitive>,
    /// Soft-tissue shapes whose union is the body: the renderer takes the longest chord per
    /// ray, so overlapping pieces (head, neck, trunk, limbs, tail) show no seams.
    pub soft: Vec<Shape>,
}

impl Body {
    /// Adds a primitive.
    pub fn add(&mut self, shape: Shape, mu: f64) {
        self.parts.push(Primitive { shape, mu });
    }

    /// A solid capsule.
    pub fn rod(&mut self, a: V3, b: V3, radius: f64, mu: f64) {
        self.add(Shape::Capsule { a, b, radius }, mu);
    }

    /// A long bone: cortex around a marrow cavity (inner radius `hollow` of the outer).
    pub fn long_bone(&mut self, a: V3, b: V3, radius: f64, hollow: f64) {
        self.rod(a, b, radius, mu::CORTEX);
        let inset = (b - a).normalized() * (radius * 0.6);
        self.rod(a + inset, b - inset, radius * hollow, mu::MARROW - mu::CORTEX);
    }

    /// A hollow ellipsoid: a shell of thickness `thickness` mm.
    pub fn shell(&mut self, shape: Shape, thickness: f64, mu_shell: f64) {
        self.add(shape, mu_shell);
        if let Shape::Ellipsoid { centre, axes, radii } = shape {
            let inner = radii.map(|r| (r - thickness).max(r * 0.2));
            self.add(Shape::Ellipsoid { centre, axes, radii: inner }, -mu_shell);
        }
    }

    /// A chain of long-bone segments through `points`.
    pub fn chain(&mut self, points: &[V3], radius: f64, mu: f64) {
        for w in points.windows(2) {
            self.rod(w[0], w[1], radius, mu);
        }
    }
}

/// Builds the posed animal.
pub fn build(anatomy: &Anatomy, pose: &Pose) -> Body {
    let mut body = Body::default();
    let spine = Spine::new(anatomy, pose);
    spine.add_vertebrae(anatomy, &mut body);
    spine.add_ribcage(anatomy, &mut body);
    skull::add_skull(anatomy, pose, &spine, &mut body);
    limbs::add_limbs(anatomy, pose, &spine, &mut body);
    soft::add_soft_tissue(anatomy, pose, &spine, &mut body);
    body
}
