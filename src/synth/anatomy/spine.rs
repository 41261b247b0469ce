//! The vertebral column (7 cervical, 13 thoracic, 6 lumbar, 4 sacral, 28 caudal) along a 3D
//! curve, and the ribcage hung from it.

use std::f64::consts::PI;

use super::super::geometry::{V3, bump, cos, direction, sin, v3};
use super::super::primitive::Shape;
use super::{Anatomy, Body, Pose, Side, mu};

/// Number of vertebrae modelled.
pub const VERTEBRAE: usize = 58;
/// Index of the first thoracic vertebra.
pub const T1: usize = 7;
/// Index of the first lumbar vertebra.
pub const L1: usize = 20;
/// Index of the first sacral vertebra.
pub const S1: usize = 26;
/// Index of the first caudal vertebra.
pub const CA1: usize = 30;

/// Region of the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Neck.
    Cervical,
    /// Chest, carrying ribs.
    Thoracic,
    /// Lower back.
    Lumbar,
    /// Fused to the pelvis.
    Sacral,
    /// Tail.
    Caudal,
}

/// Size of one vertebra at scale 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vertebra {
    /// Region.
    pub region: Region,
    /// Length along the column including the disc (mm).
    pub length: f64,
    /// Body radius (mm).
    pub radius: f64,
}

/// The vertebra with index `k` (0 = atlas).
pub fn vertebra(k: usize) -> Vertebra {
    const CERVICAL: [f64; 7] = [1.3, 2.4, 1.5, 1.4, 1.4, 1.4, 1.4];
    const LUMBAR: [f64; 6] = [2.9, 3.1, 3.3, 3.4, 3.4, 3.2];
    const SACRAL: [f64; 4] = [2.6, 2.4, 2.3, 2.3];
    let (region, length, radius) = match k {
        0..T1 => (Region::Cervical, CERVICAL[k], if k == 0 { 1.0 } else { 0.85 }),
        T1..L1 => (Region::Thoracic, 1.6 + 0.05 * (k - T1) as f64, 0.72 + 0.01 * (k - T1) as f64),
        L1..S1 => (Region::Lumbar, LUMBAR[k - L1], 0.95),
        S1..CA1 => (Region::Sacral, SACRAL[k - S1], 0.88),
        _ => {
            let i = (k - CA1) as f64;
            let length = if i < 8.0 {
                2.0 + 0.25 * i
            } else if i < 15.0 {
                4.0
            } else {
                4.0 - 0.18 * (i - 15.0)
            };
            (Region::Caudal, length, (0.8 - 0.017 * i).max(0.3))
        }
    };
    Vertebra { region, length, radius }
}

/// A local frame on the column.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Centre of the vertebral body.
    pub centre: V3,
    /// Unit tangent pointing caudally.
    pub caudal: V3,
    /// Unit normal pointing dorsally.
    pub up: V3,
    /// Unit binormal pointing to the animal's left.
    pub left: V3,
}

impl Frame {
    /// A point given in frame coordinates (caudal, left, up).
    pub fn at(&self, caudal: f64, left: f64, up: f64) -> V3 {
        self.centre + self.caudal * caudal + self.left * left + self.up * up
    }
}

/// The posed column: joint positions between vertebrae.
pub struct Spine {
    /// `VERTEBRAE + 1` points: the cranial end of each vertebra, then the tail tip.
    pub joints: Vec<V3>,
    /// The same without abnormal curvature: frames take their orientation from it.
    reference: Vec<V3>,
    /// Overall scale.
    pub scale: f64,
}

impl Spine {
    /// Lays out the column for an animal in a pose.
    pub fn new(anatomy: &Anatomy, pose: &Pose) -> Spine {
        let s = anatomy.scale;
        let mut starts = Vec::with_capacity(VERTEBRAE + 1);
        let mut acc = 0.0;
        for k in 0..=VERTEBRAE {
            starts.push(acc);
            if k < VERTEBRAE {
                acc += vertebra(k).length * s;
            }
        }
        let thoracic_mid = (starts[T1 + 6] + starts[T1 + 7]) / 2.0;
        let lumbar_start = starts[L1];
        let sacral_end = starts[CA1];
        // `bent`: include the displacement curves. Orientation comes from the unbent column, so
        // a sideways curve moves ribs and girdles sideways without turning them (which would
        // show in the other view); the vertebral bodies themselves follow the bent line.
        let centreline = |arc: f64, bent: bool| {
            let neck = 1.4 * s * (1.0 - arc / (11.0 * s)).max(0.0);
            let drop = if arc > lumbar_start { -s * ((arc - lumbar_start) / (sacral_end - lumbar_start)) } else { 0.0 };
            let mut z = 3.0 * s + neck + drop + anatomy.thoracic_arch_mm * s * bump(arc, thoracic_mid, 10.0 * s);
            if pose.hunch_mm != 0.0 {
                // Posture, not pathology: in the reference line too, so frames turn with it.
                z += pose.hunch_mm * s * bump(arc, (thoracic_mid + lumbar_start) / 2.0, 18.0 * s);
            }
            let mut y = 0.0;
            if pose.bow_mm != 0.0 {
                let u = (arc / sacral_end).clamp(0.0, 1.0);
                y += pose.bow_mm * s * 4.0 * u * (1.0 - u);
            }
            if bent {
                for c in &anatomy.sagittal {
                    z += c.amplitude_mm * s * bump(arc, c.centre_mm * s, c.width_mm * s);
                }
                for c in &anatomy.lateral {
                    y += c.amplitude_mm * s * bump(arc, c.centre_mm * s, c.width_mm * s);
                }
            }
            v3(-arc, y, z)
        };
        let mut joints: Vec<V3> = starts[..=CA1].iter().map(|&a| centreline(a, true)).collect();
        let mut reference: Vec<V3> = starts[..=CA1].iter().map(|&a| centreline(a, false)).collect();

        // The tail: integrate a curve from the sacrum's end.
        let mut p = joints[CA1];
        let d0 = (reference[CA1] - reference[CA1 - 1]).normalized();
        let mut heading = d0.y.atan2(d0.x).to_degrees();
        let mut elevation = d0.z.asin().to_degrees();
        let table = -8.0 * s;
        let mut arc = 0.0;
        for k in CA1..VERTEBRAE {
            let len = vertebra(k).length * s;
            arc += len;
            if pose.tail_flat {
                // Sinks to the table, then bends towards the animal's left.
                elevation = if p.z > table + 0.5 { -25.0 } else { 0.0 };
                if arc > 8.0 * s {
                    heading -= (pose.tail_curvature / s * len).to_degrees();
                }
            } else {
                elevation += (pose.tail_curvature / s * len).to_degrees();
                elevation = elevation.clamp(-35.0, 35.0);
            }
            // The curl is added to, not clamped with, the even curvature's elevation.
            let lift = if pose.tail_flat { 0.0 } else { pose.tail_curl_deg * (arc / (30.0 * s)).min(1.0) };
            let dir = direction(heading, elevation + lift);
            let mut next = p + dir * len;
            if pose.tail_flat {
                next.z = next.z.max(table);
            }
            joints.push(next);
            reference.push(next);
            p = next;
        }
        Spine { joints, reference, scale: s }
    }

    /// The frame at the middle of vertebra `k`.
    pub fn frame(&self, k: usize) -> Frame {
        let k = k.min(VERTEBRAE - 1);
        let (a, b) = (self.joints[k], self.joints[k + 1]);
        let caudal = (self.reference[k + 1] - self.reference[k]).normalized();
        let mut up = v3(0.0, 0.0, 1.0) - caudal * caudal.z;
        if up.length() < 1e-6 {
            up = v3(1.0, 0.0, 0.0);
        }
        let up = up.normalized();
        Frame { centre: a.lerp(b, 0.5), caudal, up, left: caudal.cross(up) }
    }

    /// Adds vertebral bodies and processes.
    pub fn add_vertebrae(&self, anatomy: &Anatomy, body: &mut Body) {
        let s = self.scale;
        for k in 0..VERTEBRAE {
            let v = vertebra(k);
            let f = self.frame(k);
            let r = v.radius * s;
            let fused_next = fusion_with_next(anatomy, k);
            let fused_prev = k > 0 && fusion_with_next(anatomy, k - 1).is_some();
            let len = (self.joints[k + 1] - self.joints[k]).length();
            let gap = 0.16 * len;
            let front = if fused_prev { gap * 0.5 * (1.0 - completeness(anatomy, k - 1)) } else { gap * 0.5 };
            let back = match fused_next {
                Some(c) => gap * 0.5 * (1.0 - c),
                None => gap * 0.5,
            };
            let a = self.joints[k] + f.caudal * front;
            let b = self.joints[k + 1] - f.caudal * back;
            body.add(Shape::Cylinder { a, b, radius: r }, mu::CORTEX);
            let plate = 0.18 * s;
            if (b - a).length() > 2.0 * plate {
                body.add(
                    Shape::Cylinder { a: a + f.caudal * plate, b: b - f.caudal * plate, radius: r * 0.7 },
                    mu::MARROW - mu::CORTEX,
                );
            }
            if let Some(c) = fused_next {
                // Bony bridge across the disc and along the back of the bodies.
                let nf = self.frame(k + 1);
                body.rod(f.centre, nf.centre, r * (0.55 + 0.4 * c), mu::THIN_BONE * 0.6);
                body.rod(f.at(0.0, 0.0, 1.8 * r), nf.at(0.0, 0.0, 1.8 * r), 0.3 * s * (0.5 + c), mu::THIN_BONE);
            }
            self.add_processes(k, v, &f, body);
        }
    }

    fn add_processes(&self, k: usize, v: Vertebra, f: &Frame, body: &mut Body) {
        let s = self.scale;
        let r = v.radius * s;
        let thin = 0.26 * s;
        if v.region == Region::Caudal {
            if k < CA1 + 5 {
                for side in [1.0, -1.0] {
                    body.rod(
                        f.at(0.0, side * r, 0.0),
                        f.at(-0.3 * s, side * (r + 0.9 * s), 0.0),
                        0.2 * s,
                        mu::THIN_BONE,
                    );
                }
            }
            return;
        }
        // Neural arch: two pedicles meeting dorsally.
        let top = f.at(0.0, 0.0, 1.9 * r);
        for side in [1.0, -1.0] {
            body.rod(f.at(0.0, side * 0.75 * r, 0.4 * r), f.at(0.0, side * 0.45 * r, 1.9 * r), thin, mu::THIN_BONE);
        }
        // Spinous process: tall at T2, leaning caudally in the chest and cranially in the loins.
        let (height, lean) = match v.region {
            Region::Cervical if k == 1 => (2.0, -0.6),
            Region::Cervical => (0.4, 0.0),
            Region::Thoracic if k < T1 + 3 => (2.8 - 0.3 * (k - T1) as f64, 1.2),
            Region::Thoracic => (1.5, 0.9),
            Region::Lumbar => (1.6, -0.7),
            _ => (1.0, 0.0),
        };
        body.rod(top, top + f.up * (height * s) + f.caudal * (lean * s), thin, mu::THIN_BONE);
        // Transverse processes.
        let (reach, forward, down, radius) = match v.region {
            Region::Cervical if k == 0 => (2.6, 0.0, 0.0, 0.42),
            Region::Cervical => (1.5, 0.0, -0.3, 0.26),
            Region::Thoracic => (1.1, 0.0, 0.4, 0.24),
            Region::Lumbar => (2.7, 1.1, -0.6, 0.27),
            Region::Sacral if k == S1 => (2.9, 0.3, 0.0, 0.55),
            _ => (2.0, 0.0, 0.0, 0.45),
        };
        for side in [1.0, -1.0] {
            body.rod(
                f.at(0.0, side * 0.8 * r, 0.2 * r),
                f.at(-forward * s, side * (r + reach * s), (0.2 * r) + down * s),
                radius * s,
                mu::THIN_BONE,
            );
        }
    }

    /// Half-width and half-height of the ribcage at rib `i` (0-based), and the rib's end angle.
    fn cage(&self, anatomy: &Anatomy, i: usize) -> (f64, f64, f64, f64) {
        const WIDTH: [f64; 13] = [3.4, 4.7, 5.8, 6.8, 7.6, 8.3, 8.9, 9.3, 9.6, 9.7, 9.5, 9.1, 8.6];
        const HEIGHT: [f64; 13] = [3.0, 4.0, 5.0, 5.9, 6.7, 7.3, 7.8, 8.1, 8.3, 8.3, 8.0, 7.5, 7.0];
        let s = self.scale;
        let w = WIDTH[i] * s * anatomy.ribcage_width * anatomy.girth.sqrt();
        let h = HEIGHT[i] * s * anatomy.girth.sqrt();
        let end = match i {
            0..7 => PI,
            7..10 => 0.86 * PI,
            _ => 0.5 * PI + 0.03 * (12 - i) as f64,
        };
        let slant = (3.5 + 0.45 * i as f64) * s;
        (w, h, end, slant)
    }

    /// The point at angle `theta` (0 at the spine, PI at the sternum) along rib `i` on `side`.
    pub fn rib_point(&self, anatomy: &Anatomy, i: usize, side: Side, theta: f64) -> V3 {
        let f = self.frame(T1 + i);
        let (w, h, _, slant) = self.cage(anatomy, i);
        let lateral = side.sign() * (0.9 * self.scale + w * sin(theta));
        f.at(slant * theta / PI, lateral, h * (cos(theta) - 1.0))
    }

    /// Adds 13 rib pairs, costal cartilages, the sternum and any rib bridges.
    pub fn add_ribcage(&self, anatomy: &Anatomy, body: &mut Body) {
        let s = self.scale;
        let rib_r = 0.2 * s;
        for i in 0..13 {
            let (_, _, end, _) = self.cage(anatomy, i);
            for side in Side::BOTH {
                const SEGMENTS: usize = 12;
                let bony_end = if i < 10 { 0.78 * end } else { end };
                let pts: Vec<V3> = (0..=SEGMENTS)
                    .map(|j| self.rib_point(anatomy, i, side, end * j as f64 / SEGMENTS as f64))
                    .collect();
                for (j, w) in pts.windows(2).enumerate() {
                    let theta = end * (j as f64 + 0.5) / SEGMENTS as f64;
                    let (r, m) = if theta <= bony_end {
                        (rib_r * (1.0 + 0.15 * (1.0 - theta / PI)), mu::THIN_BONE)
                    } else {
                        (rib_r * 0.9, mu::CARTILAGE)
                    };
                    body.rod(w[0], w[1], r, m);
                }
            }
        }
        // Sternum: sternebrae between the ventral ends of the true ribs.
        let sternum: Vec<V3> = (0..7)
            .map(|i| self.rib_point(anatomy, i, Side::Left, PI).lerp(self.rib_point(anatomy, i, Side::Right, PI), 0.5))
            .collect();
        for w in sternum.windows(2) {
            let d = (w[1] - w[0]) * 0.12;
            body.rod(w[0] + d, w[1] - d, 0.42 * s, mu::THIN_BONE * 0.8);
        }
        if let (Some(&first), Some(&last)) = (sternum.first(), sternum.last()) {
            let f = self.frame(T1);
            body.rod(first, first - f.caudal * (3.0 * s), 0.55 * s, mu::THIN_BONE * 0.8);
            body.rod(last, last + f.caudal * (4.0 * s), 0.25 * s, mu::THIN_BONE * 0.6);
        }
        for bridge in &anatomy.rib_bridges {
            let i = bridge.rib.min(11);
            let (_, _, end_a, _) = self.cage(anatomy, i);
            let (_, _, end_b, _) = self.cage(anatomy, i + 1);
            let end = end_a.min(end_b);
            let steps = 5;
            for j in 0..=steps {
                let t = bridge.span.0 + (bridge.span.1 - bridge.span.0) * j as f64 / steps as f64;
                let theta = t * end;
                let (p, q) = (
                    self.rib_point(anatomy, i, bridge.side, theta),
                    self.rib_point(anatomy, i + 1, bridge.side, theta),
                );
                body.rod(p, q, rib_r * bridge.thickness, mu::THIN_BONE);
            }
        }
    }
}

/// Completeness of the fusion between vertebra `k` and `k + 1`, if they are fused.
fn fusion_with_next(anatomy: &Anatomy, k: usize) -> Option<f64> {
    anatomy.fusions.iter().find(|f| k >= f.first && k + 1 < f.first + f.count).map(|f| f.completeness)
}

fn completeness(anatomy: &Anatomy, k: usize) -> f64 {
    fusion_with_next(anatomy, k).unwrap_or(0.0)
}
