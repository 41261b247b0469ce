//! Style b's anatomy: the spine integrated from curvature, and every bone and soft part built
//! around it as capsules and ellipsoids in the body frame (mm; x cranial, y left, z dorsal).

use nalgebra::{Rotation3, Unit};

use super::voxels::{P3, Shape, Solid, Volume, bounds};
use super::{Bend, BoneShape, Paw, Plan, Posture};
use crate::specimen::View;

/// Linear attenuation (1/mm) of style b's materials, at a small-animal tube's energies.
mod mu {
    pub const SOFT: f32 = 0.075;
    pub const LUNG: f32 = 0.02;
    pub const GAS: f32 = 0.0;
    pub const CORTEX: f32 = 0.5;
    pub const MARROW: f32 = 0.2;
    pub const CARTILAGE: f32 = 0.11;
    pub const ENAMEL: f32 = 1.0;
}

/// Vertebrae per region (cervical, thoracic, lumbar, sacral, caudal), their lengths and body
/// radii (mm, before the animal's size).
const REGIONS: [(usize, f64, f64); 5] =
    [(7, 1.5, 0.95), (13, 2.1, 0.95), (6, 3.0, 1.25), (4, 2.4, 1.1), (26, 2.6, 0.85)];
const THORACIC: usize = 7;
const SACRAL: usize = 7 + 13 + 6;
const CAUDAL: usize = SACRAL + 4;
const STEP_MM: f64 = 0.25;

/// The spine sampled every `STEP_MM` from the atlas: point and local frame (caudal tangent,
/// dorsal, left).
struct Spine {
    frames: Vec<(P3, P3, P3, P3)>,
}

impl Spine {
    fn at(&self, s: f64) -> (P3, P3, P3, P3) {
        let i = ((s / STEP_MM).round().max(0.0) as usize).min(self.frames.len() - 1);
        self.frames[i]
    }
}

fn gauss(s: f64, at: f64, spread: f64) -> f64 {
    let z = (s - at) / spread;
    (-0.5 * z * z).exp() / (spread * (std::f64::consts::TAU).sqrt())
}

/// Vertebrae as (start, end, radius) along the arc, mm.
fn vertebrae(size: f64) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    let mut s = 0.0;
    for (region, &(n, len, r)) in REGIONS.iter().enumerate() {
        for k in 0..n {
            let (len, r) = if region == 4 {
                // The tail's vertebrae lengthen over the first few, then shorten and thin.
                let f = k as f64 / n as f64;
                (len * (1.0 + 0.25 * (f * 6.0).min(1.0) - 0.65 * f), r * (1.0 - 0.6 * f))
            } else {
                (len, r)
            };
            out.push((s, s + len * size, r * size));
            s += len * size;
        }
    }
    out
}

fn integrate(plan: &Plan, posture: &Posture, view: View, total: f64) -> Spine {
    let (mut p, mut t, mut d) = (P3::zeros(), -P3::x(), P3::z());
    let tail_start = vertebrae(plan.size)[CAUDAL].0;
    let tail_len = total - tail_start;
    let mut frames = Vec::new();
    let mut s = 0.0;
    while s <= total + STEP_MM {
        let l = t.cross(&d);
        frames.push((p, t, d, l));
        let (mut sag, mut lat) = (0.0, 0.0);
        let mut add = |b: &Bend, at: f64, angle: f64| {
            let k = angle.to_radians() * gauss(s, at * plan.size, b.spread_mm * plan.size);
            if b.lateral { lat += k } else { sag += k }
        };
        for b in &plan.bends {
            add(b, b.at_mm, b.angle_deg);
            // A bend out of the film's plane (a hump in DV, a sideways curve in LV) rests on the
            // plate at both ends: half of it turns back on either side.
            if b.lateral == (view == View::Lv) {
                let off = 3.0 * b.spread_mm + 4.0;
                add(b, b.at_mm - off, -b.angle_deg / 2.0);
                add(b, b.at_mm + off, -b.angle_deg / 2.0);
            }
        }
        for b in &posture.bends {
            add(b, b.at_mm, b.angle_deg);
        }
        if s > tail_start {
            // The tail curls in the plane of the film.
            let k = posture.tail_curl_deg.to_radians() / tail_len;
            if view == View::Lv { sag += k } else { lat += k }
        }
        // A hump turns the caudal tangent ventrally; a left bend turns it left.
        let r = Rotation3::from_axis_angle(&Unit::new_normalize(l), -sag * STEP_MM)
            * Rotation3::from_axis_angle(&Unit::new_normalize(d), -lat * STEP_MM);
        t = (r * t).normalize();
        d = (r * d).normalize();
        p += t * STEP_MM;
        s += STEP_MM;
    }
    Spine { frames }
}

fn capsule(a: P3, b: P3, ra: f64, rb: f64, mu: f32) -> Solid {
    Solid { shape: Shape::Capsule { a, b, ra, rb }, mu }
}

fn ellipsoid(centre: P3, axes: [P3; 3], radii: [f64; 3], mu: f32) -> Solid {
    Solid { shape: Shape::Ellipsoid { centre, axes, radii }, mu }
}

/// A bone with a cortex and, where it is thick enough, a marrow cavity.
fn bone(out: &mut Vec<Solid>, a: P3, b: P3, r: f64) {
    out.push(capsule(a, b, r, r, mu::CORTEX));
    if r > 0.45 {
        out.push(capsule(a, b, r - 0.28, r - 0.28, mu::MARROW));
    }
}

/// A long bone from `a` along `dir`, with its length factor and bowing; returns its far end.
fn long_bone(out: &mut Vec<Solid>, a: P3, dir: P3, len: f64, r: f64, shape: &BoneShape, side: P3) -> P3 {
    let b = a + dir * len * shape.length;
    let normal = dir.cross(&side).try_normalize(1e-9).unwrap_or_else(P3::z);
    let pts: Vec<P3> = (0..=4)
        .map(|k| {
            let f = k as f64 / 4.0;
            a.lerp(&b, f) + normal * shape.bow_mm * 4.0 * f * (1.0 - f)
        })
        .collect();
    for w in pts.windows(2) {
        bone(out, w[0], w[1], r);
    }
    b
}

/// A paw from `a` pointing along `dir`: metapodials and digits (lengths in mm before the
/// animal's size) fanned in the plane of `across`.
fn paw(out: &mut Vec<Solid>, a: P3, dir: P3, across: P3, (meta, digit): (f64, f64), size: f64, paw: &Paw) {
    let mut ends = Vec::new();
    let digits: Vec<(f64, f64)> = (0..5)
        .map(|k| ((k as f64 - 2.0) * 11.0, if k == 0 { 0.6 } else { 1.0 }))
        .chain((paw.extra_digit > 0.0).then_some((-33.0, paw.extra_digit)))
        .collect();
    for (k, &(angle, share)) in digits.iter().enumerate() {
        let rot = Rotation3::from_axis_angle(&Unit::new_normalize(dir.cross(&across)), angle.to_radians());
        let d = rot * dir;
        let base = a + across * (angle / 11.0) * 0.35 * size;
        let m = base + d * meta * share.max(0.5) * size;
        bone(out, base, m, 0.22 * size);
        let tip = m + d * digit * share * size;
        let mid = m.lerp(&tip, 0.55);
        bone(out, m, mid, 0.19 * size);
        bone(out, mid, tip, 0.15 * size);
        if k < 5 {
            ends.push((m, tip));
        }
    }
    if let Some(j) = paw.joined.filter(|j| j + 1 < ends.len()) {
        for f in [0.2, 0.5, 0.8] {
            let (p, q) = (ends[j].0.lerp(&ends[j].1, f), ends[j + 1].0.lerp(&ends[j + 1].1, f));
            out.push(capsule(p, q, 0.18 * size, 0.18 * size, mu::CORTEX));
        }
    }
}

/// Direction of a limb segment from its angle (see [`Posture::limbs_deg`]).
fn limb_dir(view: View, t: P3, d: P3, l: P3, side: f64, angle: f64) -> P3 {
    let (c, s) = (angle.to_radians().cos(), angle.to_radians().sin());
    if view == View::Lv {
        (-t * c + d * s + l * side * 0.15).normalize()
    } else {
        (-t * c + l * side * s - d * 0.12).normalize()
    }
}

/// Every solid of the animal as it lay for `view`, in painting order (soft tissue, air, bone).
pub fn solids(plan: &Plan, posture: &Posture, view: View) -> Vec<Solid> {
    let size = plan.size;
    let verts = vertebrae(size);
    let total = verts.last().map_or(0.0, |v| v.1);
    let spine = integrate(plan, posture, view, total);
    let mid = |k: usize| spine.at((verts[k].0 + verts[k].1) / 2.0);
    let (mut soft, mut air, mut bones) = (Vec::new(), Vec::new(), Vec::new());

    // Trunk: ellipsoids along the spine with the back's skin 3.5 mm above it; the profile goes
    // neck, chest, belly, rump (half-width, half-height; mm).
    let profile = [(0.0, 7.0, 7.0), (0.3, 13.0, 12.0), (0.7, 15.0, 14.0), (1.0, 9.0, 8.5)];
    let trunk_end = verts[CAUDAL].0;
    let mut s = 0.0;
    while s <= trunk_end {
        let f = s / trunk_end;
        let k = profile.windows(2).position(|w| f <= w[1].0).unwrap_or(2);
        let (a, b) = (profile[k], profile[k + 1]);
        let g = (f - a.0) / (b.0 - a.0);
        let g = g * g * (3.0 - 2.0 * g);
        let lerp = |x: f64, y: f64| x + (y - x) * g;
        let (p, t, d, l) = spine.at(s);
        let (w, h) = (lerp(a.1, b.1) * plan.girth * size, lerp(a.2, b.2) * plan.girth * size);
        soft.push(ellipsoid(p - d * (h - 3.5 * size), [t, l, d], [2.2 * size, w, h], mu::SOFT));
        s += 1.5 * size;
    }
    // Tail.
    for &(s0, s1, r) in &verts[CAUDAL..] {
        soft.push(capsule(spine.at(s0).0, spine.at(s1).0, r + 0.6 * size, r + 0.6 * size, mu::SOFT));
    }
    // Lungs and gut gas.
    for k in THORACIC + 1..THORACIC + 11 {
        let (p, t, d, l) = mid(k);
        let (w, h) = rib_cage(k - THORACIC, size, plan.girth);
        for side in [1.0, -1.0] {
            air.push(ellipsoid(
                p - d * h * 0.9 + l * side * w * 0.45,
                [t, l, d],
                [1.6 * size, w * 0.42, h * 0.65],
                mu::LUNG,
            ));
        }
    }
    let (lp, lt, ld, ll) = mid(SACRAL - 3);
    for g in &plan.gas {
        air.push(ellipsoid(lp - lt * g[0] * size + ll * g[1] + ld * g[2], [lt, ll, ld], [g[3]; 3], mu::GAS));
    }

    // Vertebrae, their processes and fusions.
    for (k, &(s0, s1, r)) in verts.iter().enumerate() {
        let (p, t, d, l) = spine.at((s0 + s1) / 2.0);
        let half = ((s1 - s0) / 2.0 - 0.2 * size).max(0.3);
        bones.push(ellipsoid(p, [t, l, d], [half, r, r * 0.85], mu::CORTEX));
        bones.push(ellipsoid(
            p,
            [t, l, d],
            [(half - 0.3).max(0.1), (r - 0.3).max(0.1), (r * 0.85 - 0.3).max(0.1)],
            mu::MARROW,
        ));
        if (THORACIC..CAUDAL).contains(&k) {
            let h = if k < THORACIC + 2 {
                2.6
            } else if k < SACRAL {
                1.3
            } else {
                0.9
            } * size;
            bones.push(capsule(p + d * r * 0.7, p + d * (r + h) + t * 0.4 * size, 0.3 * size, 0.22 * size, mu::CORTEX));
        }
        if (SACRAL - 6..SACRAL).contains(&k) {
            for side in [1.0, -1.0] {
                bones.push(capsule(
                    p + l * side * r,
                    p + l * side * (r + 2.0 * size) - t * 0.8 * size,
                    0.35 * size,
                    0.25 * size,
                    mu::CORTEX,
                ));
            }
        }
    }
    for &(first, count, completeness) in &plan.fusions {
        for k in first..(first + count - 1).min(verts.len() - 1) {
            let (a, b) = (mid(k), mid(k + 1));
            let r = verts[k].2 * (0.35 + 0.6 * completeness);
            bones.push(capsule(a.0, b.0, r, r, mu::CORTEX));
            bones.push(capsule(
                a.0 + a.2 * verts[k].2 * 1.3,
                b.0 + b.2 * verts[k + 1].2 * 1.3,
                0.3 * size,
                0.3 * size,
                mu::CORTEX,
            ));
        }
    }

    // Ribs, costal cartilage and sternum.
    let mut rib_points: Vec<[Vec<P3>; 2]> = Vec::new();
    for i in 0..13 {
        let (p, t, d, l) = mid(THORACIC + i);
        let (w, h) = rib_cage(i, size, plan.girth);
        let centre = p - d * h * 0.9;
        let end_deg = if i < 7 {
            170.0
        } else if i < 10 {
            140.0
        } else {
            100.0 - 8.0 * (i - 10) as f64
        };
        let mut sides: [Vec<P3>; 2] = [Vec::new(), Vec::new()];
        for (n, side) in [1.0, -1.0].into_iter().enumerate() {
            sides[n] = (0..=10)
                .map(|k| {
                    let u = k as f64 / 10.0;
                    let phi = (25.0 + u * (end_deg - 25.0)).to_radians();
                    centre + l * side * w * phi.sin() + d * h * phi.cos() + t * 1.8 * size * u
                })
                .collect();
            bones.push(capsule(p + l * side * verts[THORACIC + i].2, sides[n][0], 0.3 * size, 0.25 * size, mu::CORTEX));
            for seg in sides[n].windows(2) {
                bones.push(capsule(seg[0], seg[1], 0.22 * size, 0.22 * size, mu::CORTEX));
            }
            if i < 7 {
                let end = sides[n][10];
                bones.push(capsule(end, centre - d * h + t * 0.8 * size, 0.2 * size, 0.2 * size, mu::CARTILAGE));
            }
        }
        if i < 7 {
            bones.push(ellipsoid(centre - d * h, [t, l, d], [0.9 * size, 0.6 * size, 0.5 * size], mu::CORTEX));
        }
        rib_points.push(sides);
    }
    for &(i, side, u0, u1, r) in &plan.rib_links {
        let n = usize::from(side < 0.0);
        if i + 1 >= rib_points.len() {
            continue;
        }
        for k in 0..=4 {
            let u = u0 + (u1 - u0) * k as f64 / 4.0;
            let at = |pts: &Vec<P3>| {
                let x = (u.clamp(0.0, 1.0) * 10.0).min(9.999);
                pts[x as usize].lerp(&pts[x as usize + 1], x.fract())
            };
            bones.push(capsule(at(&rib_points[i][n]), at(&rib_points[i + 1][n]), r, r, mu::CORTEX));
        }
    }

    skull(plan, posture, &spine, &mut soft, &mut bones);

    // Pelvis and hind limbs.
    let sac = verts[SACRAL].0;
    let (p0, _, _, l0) = spine.at(sac + 1.0 * size);
    let (p1, t1, d1, l1) = spine.at(sac + 6.0 * size);
    let (p2, _, d2, _) = spine.at(sac + 9.5 * size);
    let symphysis = p2 - d2 * 5.5 * size;
    for (n, side) in [1.0, -1.0].into_iter().enumerate() {
        let hip = p1 + l1 * side * plan.hip_half_width_mm * size - d1 * 3.5 * size - t1 * plan.hip_shift_mm[n];
        bones.push(capsule(p0 + l0 * side * 1.5 * size, hip, 0.9 * size, 0.65 * size, mu::CORTEX));
        bones.push(capsule(
            hip,
            hip + t1 * 6.5 * size - l1 * side * 1.8 * size + d1 * 0.5 * size,
            0.55 * size,
            0.45 * size,
            mu::CORTEX,
        ));
        bones.push(capsule(hip, symphysis, 0.45 * size, 0.4 * size, mu::CORTEX));
        let angles = posture.limbs_deg[2 + n];
        let shape = &plan.long_bones[2 + n];
        let dir = |a: f64| limb_dir(view, t1, d1, l1, side, a);
        soft.push(capsule(hip, hip + dir(angles[0]) * 12.0 * size, 3.2 * plan.girth * size, 1.8 * size, mu::SOFT));
        let knee = long_bone(&mut bones, hip, dir(angles[0]), 15.0 * size, 0.85 * size, &shape[0], d1);
        soft.push(capsule(knee, knee + dir(angles[1]) * 14.0 * size, 1.8 * size, 0.9 * size, mu::SOFT));
        let ankle = long_bone(&mut bones, knee, dir(angles[1]), 17.0 * size, 0.65 * size, &shape[1], d1);
        let across = if view == View::Lv { l1 } else { d1 };
        paw(
            &mut bones,
            ankle,
            dir(angles[2]),
            dir(angles[2]).cross(&across).try_normalize(1e-9).unwrap_or(l1),
            (7.0, 5.0),
            size,
            &plan.paws[2 + n],
        );
    }

    // Shoulder girdle and fore limbs.
    let (ps, ts, ds, ls) = mid(THORACIC + 1);
    let (w, _) = rib_cage(1, size, plan.girth);
    for (n, side) in [1.0, -1.0].into_iter().enumerate() {
        let shoulder = ps + ls * side * (w + 0.8 * size) - ds * 2.0 * size - ts * 1.5 * size;
        bones.push(ellipsoid(
            ps + ls * side * w * 0.8 + ds * 1.2 * size + ts * 2.0 * size,
            [ts, ls, ds],
            [4.5 * size, 0.35 * size, 2.8 * size],
            mu::CORTEX,
        ));
        bones.push(capsule(
            shoulder,
            ps - ts * 4.0 * size + ls * side * 1.5 * size - ds * 3.0 * size,
            0.35 * size,
            0.3 * size,
            mu::CORTEX,
        ));
        let angles = posture.limbs_deg[n];
        let shape = &plan.long_bones[n];
        let dir = |a: f64| limb_dir(view, ts, ds, ls, side, a);
        soft.push(capsule(
            shoulder,
            shoulder + dir(angles[0]) * 10.0 * size,
            2.2 * plan.girth * size,
            1.2 * size,
            mu::SOFT,
        ));
        let elbow = long_bone(&mut bones, shoulder, dir(angles[0]), 11.0 * size, 0.7 * size, &shape[0], ds);
        soft.push(capsule(elbow, elbow + dir(angles[1]) * 11.0 * size, 1.2 * size, 0.7 * size, mu::SOFT));
        let across = dir(angles[1]).cross(&ds).try_normalize(1e-9).unwrap_or(ls) * 0.5 * size;
        let wrist = long_bone(&mut bones, elbow + across, dir(angles[1]), 12.0 * size, 0.42 * size, &shape[1], ds);
        long_bone(&mut bones, elbow - across, dir(angles[1]), 12.5 * size, 0.35 * size, &BoneShape::default(), ds);
        let paw_across = if view == View::Lv { ls } else { ds };
        paw(
            &mut bones,
            wrist - across,
            dir(angles[2]),
            dir(angles[2]).cross(&paw_across).try_normalize(1e-9).unwrap_or(ls),
            (2.8, 3.2),
            size,
            &plan.paws[n],
        );
    }

    soft.extend(air);
    soft.extend(bones);
    soft
}

/// Half-width and half-height of the rib cage at rib `i` (0..13), mm.
fn rib_cage(i: usize, size: f64, girth: f64) -> (f64, f64) {
    let x = std::f64::consts::PI * (i as f64 + 1.0) / 15.0;
    (size * girth.powf(0.3) * (4.5 + 6.5 * x.sin()), size * (4.0 + 5.5 * x.sin()))
}

fn skull(plan: &Plan, posture: &Posture, spine: &Spine, soft: &mut Vec<Solid>, bones: &mut Vec<Solid>) {
    let size = plan.size;
    let (p, t, d, l) = spine.at(0.0);
    let (pitch, yaw) = posture.head_deg;
    let rot = Rotation3::from_axis_angle(&Unit::new_normalize(d), yaw.to_radians())
        * Rotation3::from_axis_angle(&Unit::new_normalize(l), -pitch.to_radians());
    let (h, dh) = ((rot * -t).normalize(), (rot * d).normalize());
    let lh = h.cross(&dh).normalize() * -1.0;
    let [cl, cw, ch] = plan.cranium_mm.map(|v| v * size);
    let centre = p + h * (cl / 2.0 + 0.8 * size) + dh * 0.6 * size;
    let tip = centre + h * (cl * 0.45 + plan.snout_mm * size) - dh * 1.0 * size;
    soft.push(ellipsoid(
        centre + h * 4.0 * size,
        [h, lh, dh],
        [cl / 2.0 + 7.0 * size, cw / 2.0 + 2.0 * size, ch / 2.0 + 2.2 * size],
        mu::SOFT,
    ));
    bones.push(ellipsoid(centre, [h, lh, dh], [cl / 2.0, cw / 2.0, ch / 2.0], mu::CORTEX));
    bones.push(ellipsoid(centre, [h, lh, dh], [cl / 2.0 - 0.45, cw / 2.0 - 0.45, ch / 2.0 - 0.45], mu::SOFT));
    let snout_base = centre + h * cl * 0.3 - dh * 0.6 * size;
    bones.push(capsule(snout_base, tip, 3.0 * size, 1.2 * size, mu::CORTEX));
    bones.push(capsule(snout_base, tip, 2.6 * size, 0.85 * size, mu::SOFT));
    for side in [1.0, -1.0] {
        let arch = centre + lh * side * (cw / 2.0 + 1.0 * size);
        bones.push(capsule(
            arch - h * 2.5 * size,
            arch + h * 3.5 * size - dh * 0.8 * size,
            0.35 * size,
            0.35 * size,
            mu::CORTEX,
        ));
        let jaw_back = centre - dh * ch * 0.45 - h * cl * 0.2 + lh * side * 3.2 * size;
        let jaw_tip = tip - dh * 2.4 * size
            + h * (plan.jaw_shift_mm.0 - 1.2 * size)
            + lh * (side * 0.6 * size + plan.jaw_shift_mm.1);
        bones.push(capsule(jaw_back, jaw_tip, 0.9 * size, 0.6 * size, mu::CORTEX));
        for m in 0..3 {
            let at = centre + h * (cl * 0.35 + 1.2 * size * m as f64) - dh * ch * 0.42 + lh * side * 1.8 * size;
            bones.push(ellipsoid(at, [h, lh, dh], [0.55 * size, 0.5 * size, 0.6 * size], mu::ENAMEL));
        }
        // Incisors: arcs of enamel, the upper curving down from the snout, the lower up from
        // the jaw; overgrowth lengthens both arcs.
        let side_off = lh * side * 0.35 * size;
        let upper = tip - h * 2.0 * size - dh * 0.3 * size + side_off;
        let lower = jaw_tip - h * 2.2 * size + side_off;
        let growth = plan.incisor_growth_deg;
        arc(bones, upper, h, dh, 2.0 * size, 0.0, 110.0 + growth);
        arc(bones, lower, h, -dh, 2.5 * size, 0.0, 95.0 + growth * 0.8);
    }
}

/// A tooth along a circle of radius `r` around `centre`: from angle `from` to `to` (degrees,
/// 0 along `up`, 90 along `forward`).
fn arc(out: &mut Vec<Solid>, centre: P3, forward: P3, up: P3, r: f64, from: f64, to: f64) {
    let n = ((to - from) / 15.0).ceil().max(1.0) as usize;
    let at = |a: f64| centre + (forward * a.to_radians().sin() + up * a.to_radians().cos()) * r;
    for k in 0..n {
        let (a, b) = (from + (to - from) * k as f64 / n as f64, from + (to - from) * (k + 1) as f64 / n as f64);
        out.push(capsule(at(a), at(b), 0.3 * r / 2.0, 0.28 * r / 2.0, mu::ENAMEL));
    }
}

/// One view's projection: line integrals of attenuation on a grid of the image plane.
pub struct Projection {
    /// Values, `rows` (along the body's x) by `cols`.
    pub values: Vec<f32>,
    /// Grid size.
    pub rows: usize,
    /// Grid size.
    pub cols: usize,
    /// Plane coordinate (mm) of cell (0, 0)'s centre: (x, y) in DV, (x, z) in LV.
    pub origin: (f64, f64),
    /// Cell side, mm.
    pub pitch: f64,
    /// The animal's plane extent, as [`extent`] gives it.
    pub extent: (f64, f64, f64, f64),
}

/// The plane extent (x0, x1, v0, v1) of the animal in `view`, mm: its box on a 1 mm grid.
pub fn extent(plan: &Plan, posture: &Posture, view: View) -> (f64, f64, f64, f64) {
    plane_extent(bounds(&solids(plan, posture, view)), view)
}

fn plane_extent(box_mm: (P3, P3), view: View) -> (f64, f64, f64, f64) {
    let (origin, dims) = Volume::grid(box_mm, 1.0);
    let axis = if view == View::Lv { 2 } else { 1 };
    let hi = |k: usize| origin[k] + dims[k] as f64;
    (origin[0], hi(0), origin[axis], hi(axis))
}

/// Paints the animal as it lay for `view` and projects it along the beam, with voxels about the
/// size of a pixel of a `size`-pixel film (0.2 mm at the finest, which bounds the memory of a
/// whole mouse with its tail to about 200 MB).
pub fn project(plan: &Plan, posture: &Posture, view: View, size: u32) -> Projection {
    let solids = solids(plan, posture, view);
    let box_mm = bounds(&solids);
    let longest = Volume::grid(box_mm, 1.0).1.iter().copied().max().unwrap_or(1) as f64;
    let pitch = (longest * 1.1 / f64::from(size)).clamp(0.2, 2.0);
    let mut volume = Volume::covering(box_mm, pitch);
    for s in &solids {
        volume.paint(s);
    }
    let axis = if view == View::Lv { 1 } else { 2 };
    let other = if view == View::Lv { 2 } else { 1 };
    Projection {
        values: volume.project(axis),
        rows: volume.dims[0],
        cols: volume.dims[other],
        origin: (volume.origin[0] + pitch / 2.0, volume.origin[other] + pitch / 2.0),
        pitch,
        extent: plane_extent(box_mm, view),
    }
}
