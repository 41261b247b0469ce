//! The skull: braincase, snout, zygomatic arches, bullae, mandibles, incisors and molars.

use super::super::geometry::{V3, cos, sin};
use super::super::primitive::Shape;
use super::spine::Spine;
use super::{Anatomy, Body, Pose, Side, mu};

/// The skull's frame: origin at the occipital condyles, axes forward (towards the nose), left, up.
struct SkullFrame {
    origin: V3,
    forward: V3,
    left: V3,
    up: V3,
    scale: f64,
}

impl SkullFrame {
    fn at(&self, f: f64, l: f64, u: f64) -> V3 {
        self.origin + (self.forward * f + self.left * l + self.up * u) * self.scale
    }

    fn ellipsoid(&self, centre: (f64, f64, f64), radii: [f64; 3]) -> Shape {
        Shape::Ellipsoid {
            centre: self.at(centre.0, centre.1, centre.2),
            axes: [self.forward, self.left, self.up],
            radii: radii.map(|r| r * self.scale),
        }
    }
}

/// Quadratic Bezier through `p0`, `p1` (control), `p2`, sampled at `n + 1` points.
fn bezier(p0: V3, p1: V3, p2: V3, n: usize) -> Vec<V3> {
    (0..=n)
        .map(|i| {
            let t = i as f64 / n as f64;
            p0 * ((1.0 - t) * (1.0 - t)) + p1 * (2.0 * t * (1.0 - t)) + p2 * (t * t)
        })
        .collect()
}

/// Adds the skull at the cranial end of the spine.
pub fn add_skull(anatomy: &Anatomy, pose: &Pose, spine: &Spine, body: &mut Body) {
    let atlas = spine.frame(0);
    let (yaw, pitch) = (pose.head.0.to_radians(), (pose.head.1 + 8.0).to_radians());
    // Start from the neck's direction, then tilt the head.
    let f0 = -atlas.caudal;
    let l0 = atlas.left;
    let u0 = atlas.up;
    let forward = (f0 * (cos(yaw) * cos(pitch)) + l0 * (sin(yaw) * cos(pitch)) + u0 * sin(pitch)).normalized();
    let left = (l0 * cos(yaw) - f0 * sin(yaw)).normalized();
    let up = forward.cross(left).normalized();
    let k = SkullFrame { origin: spine.joints[0] + u0 * (0.3 * spine.scale), forward, left, up, scale: spine.scale };

    let (cl, ch, sl) = (anatomy.cranium_length, anatomy.cranium_height, anatomy.snout_length);
    // Braincase: a shell, thicker at the base.
    body.shell(
        k.ellipsoid((5.8 * cl, 0.0, 2.6 + 0.6 * (ch - 1.0)), [7.0 * cl, 5.0, 3.9 * ch]),
        0.42 * k.scale,
        mu::CORTEX,
    );
    // Snout (nasal and maxilla), in front of the braincase.
    let snout_c = 5.8 * cl + 7.0 * cl * 0.55 + 7.6 * sl * 0.5;
    let snout_len = 7.6 * sl;
    body.shell(k.ellipsoid((snout_c, 0.0, 1.7), [snout_len * 0.62, 2.6, 2.3]), 0.38 * k.scale, mu::CORTEX);
    let nose = snout_c + snout_len * 0.6;

    for side in Side::BOTH {
        let y = side.sign();
        // Tympanic bulla.
        body.shell(k.ellipsoid((2.2, y * 3.7, -0.4), [2.0, 1.5, 1.5]), 0.25 * k.scale, mu::CORTEX);
        // Zygomatic arch, bowing out.
        let arch = [(4.8, 4.7, 0.9), (8.0, 5.8, 1.1), (11.0, 5.2, 1.3), (snout_c - 1.5, 2.8, 1.6)];
        let pts: Vec<V3> = arch.iter().map(|&(f, l, u)| k.at(f, y * l, u)).collect();
        body.chain(&pts, 0.3 * k.scale, mu::THIN_BONE);
        // Mandible: body, angle and coronoid process.
        let jaw = [(3.2, 3.5, -1.6), (7.0, 2.8, -2.5), (11.5, 1.5, -2.4), (nose - 7.0, 0.7, -1.8)];
        let pts: Vec<V3> = jaw.iter().map(|&(f, l, u)| k.at(f, y * l, u)).collect();
        body.chain(&pts, 0.55 * k.scale, mu::CORTEX * 0.9);
        body.rod(k.at(6.8, y * 3.2, -2.0), k.at(7.4, y * 3.4, 0.7), 0.33 * k.scale, mu::THIN_BONE);
        body.add(k.ellipsoid((3.0, y * 3.7, 0.0), [0.7, 0.5, 0.6]), mu::CORTEX);
        // Molars: three per quadrant.
        for (i, f) in [8.6, 9.8, 10.9].into_iter().enumerate() {
            let r = [0.62, 0.52, 0.42][i];
            body.add(k.ellipsoid((f * cl.sqrt(), y * 1.7, -0.5), [r, r * 0.85, 0.55]), mu::TOOTH);
            body.add(k.ellipsoid((f * cl.sqrt(), y * 1.6, -1.25), [r, r * 0.85, 0.5]), mu::TOOTH);
        }
        // Upper incisors: curve down from inside the snout to a tip below the nose.
        let grow = anatomy.incisor_overgrowth_mm;
        let upper_tip = k.at(nose - 1.4 - 0.6 * grow, y * 0.45, -2.3 - 1.3 * grow);
        let upper = bezier(k.at(nose - 8.0, y * 0.55, 1.8), k.at(nose - 0.6 + 0.45 * grow, y * 0.5, 1.2), upper_tip, 6);
        body.chain(&upper, 0.3 * k.scale, mu::TOOTH);
        // Lower incisors: long roots in the mandible, tip meeting the upper tip (or passing it).
        let dev = anatomy.incisor_deviation_mm;
        let m = anatomy.malocclusion_mm;
        let lower_tip = k.at(nose - 1.9 + 0.7 * m + 0.5 * grow, y * 0.45 + dev, -2.2 + 1.0 * m + 0.6 * grow);
        let lower =
            bezier(k.at(9.0, y * 0.9, -2.1), k.at(nose - 3.5 + 0.4 * m, y * 0.6 + dev * 0.5, -3.0), lower_tip, 6);
        body.chain(&lower, 0.28 * k.scale, mu::TOOTH);
    }
    // Head soft tissue.
    body.soft.push(k.ellipsoid((nose * 0.48, 0.0, 0.4), [nose * 0.56, 7.6, 6.2]));
}
