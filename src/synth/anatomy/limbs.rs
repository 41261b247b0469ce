//! Shoulder girdle, pelvis, limbs and paws.

use super::super::geometry::{V3, direction};
use super::super::primitive::Shape;
use super::spine::{CA1, S1, Spine, T1};
use super::{Anatomy, Body, LongBone, Pose, Side, mu};

/// Direction of a limb segment given for the left side, mirrored for the right.
fn limb_dir(spec: (f64, f64), side: Side) -> V3 {
    direction(spec.0 * side.sign(), spec.1)
}

/// A long bone from `a` along `dir`, optionally bowed sideways by `bow` mm.
fn bowed_bone(body: &mut Body, a: V3, b: V3, radius: f64, bow: f64, bend_towards: V3) {
    if bow.abs() < 1e-3 {
        body.long_bone(a, b, radius, 0.55);
        return;
    }
    let axis = b - a;
    let perp = (bend_towards - axis.normalized() * bend_towards.dot(axis.normalized())).normalized();
    let pts: Vec<V3> = (0..=4)
        .map(|i| {
            let t = i as f64 / 4.0;
            a + axis * t + perp * (bow * 4.0 * t * (1.0 - t))
        })
        .collect();
    for w in pts.windows(2) {
        body.long_bone(w[0], w[1], radius, 0.55);
    }
}

/// Adds both girdles, all four limbs and the paws.
pub fn add_limbs(anatomy: &Anatomy, pose: &Pose, spine: &Spine, body: &mut Body) {
    let s = spine.scale;
    for (si, side) in Side::BOTH.into_iter().enumerate() {
        let y = side.sign();
        // Shoulder girdle.
        let t1 = spine.frame(T1);
        let t3 = spine.frame(T1 + 2);
        let shoulder = t1.at(-s, y * 6.2 * s * anatomy.girth.sqrt(), -4.2 * s);
        let blade_centre = t3.at(0.5 * s, y * 5.6 * s, -0.6 * s);
        body.add(
            Shape::oriented_ellipsoid(blade_centre, shoulder - blade_centre, t3.left * y, [5.2 * s, 2.4 * s, 0.35 * s]),
            mu::THIN_BONE * 0.8,
        );
        body.rod(shoulder, blade_centre + (blade_centre - shoulder).normalized() * (4.0 * s), 0.3 * s, mu::THIN_BONE);
        let manubrium = spine.rib_point(anatomy, 0, side, std::f64::consts::PI) - t1.caudal * (2.5 * s);
        body.rod(manubrium, shoulder, 0.25 * s, mu::THIN_BONE);

        // Forelimb.
        let (hl, hb) = anatomy.bone(LongBone::Humerus, side);
        let [h_dir, f_dir, p_dir] = pose.fore[si].map(|d| limb_dir(d, side));
        let elbow = shoulder + h_dir * (11.5 * s * hl);
        bowed_bone(body, shoulder, elbow, 0.62 * s, hb * s, t1.left * y);
        body.add(Shape::ellipsoid(shoulder, [1.0 * s, 1.0 * s, 1.0 * s]), mu::CORTEX * 0.7);
        let wrist = elbow + f_dir * (12.0 * s);
        let side_off = h_dir.cross(f_dir).normalized() * (0.35 * s);
        body.long_bone(elbow - f_dir * (1.0 * s) + side_off, wrist + side_off, 0.36 * s, 0.5); // ulna with olecranon
        body.long_bone(elbow - side_off, wrist - side_off, 0.42 * s, 0.5); // radius
        add_paw(anatomy, body, wrist, p_dir, side, true, s, pose.spread);

        // Pelvis.
        let (shift_side, shift) = anatomy.pelvis_shift;
        let shift = if shift_side == side { shift * s } else { 0.0 };
        let w = anatomy.pelvis_width;
        let l6 = spine.frame(S1 - 1);
        let s3 = spine.frame(S1 + 2);
        let crest = l6.at(-0.8 * s + shift, y * 3.4 * s * w, 0.6 * s);
        let acetabulum = s3.at(1.0 * s + shift, y * 4.6 * s * w, -3.0 * s);
        let tuber = acetabulum + s3.caudal * (7.0 * s) + s3.left * (-y * 0.6 * s * w) + s3.up * (0.8 * s);
        let symphysis = spine.frame(CA1).at(1.5 * s, y * 0.6 * s, -6.5 * s);
        body.long_bone(crest, acetabulum, 0.75 * s, 0.45);
        body.add(
            Shape::oriented_ellipsoid(
                crest.lerp(acetabulum, 0.35),
                acetabulum - crest,
                s3.up,
                [3.0 * s, 1.5 * s, 0.45 * s],
            ),
            mu::THIN_BONE * 0.5,
        );
        body.add(Shape::ellipsoid(acetabulum, [1.1 * s, 1.1 * s, 1.1 * s]), mu::CORTEX * 0.7);
        body.rod(acetabulum, tuber, 0.55 * s, mu::THIN_BONE);
        body.rod(acetabulum, symphysis, 0.45 * s, mu::THIN_BONE);
        body.rod(tuber, symphysis, 0.42 * s, mu::THIN_BONE);

        // Hindlimb.
        let (fl, fb) = anatomy.bone(LongBone::Femur, side);
        let (tl, tb) = anatomy.bone(LongBone::Tibia, side);
        let [f_dir, t_dir, p_dir] = pose.hind[si].map(|d| limb_dir(d, side));
        let hip = acetabulum + f_dir * (0.6 * s);
        let knee = hip + f_dir * (15.0 * s * fl);
        bowed_bone(body, hip, knee, 0.78 * s, fb * s, s3.left * y);
        body.add(Shape::ellipsoid(hip, [0.95 * s, 0.95 * s, 0.95 * s]), mu::CORTEX);
        body.add(
            Shape::ellipsoid(knee + (f_dir - t_dir).normalized() * (0.7 * s), [0.6 * s, 0.45 * s, 0.45 * s]),
            mu::CORTEX,
        );
        let ankle = knee + t_dir * (17.0 * s * tl);
        bowed_bone(body, knee, ankle, 0.62 * s, tb * s, s3.left * y);
        let fib_off = f_dir.cross(t_dir).normalized() * (0.8 * s);
        body.rod(knee + fib_off, knee.lerp(ankle, 0.6) + fib_off * 0.2, 0.26 * s, mu::THIN_BONE);
        body.rod(ankle, ankle - p_dir * (2.2 * s), 0.45 * s, mu::CORTEX); // calcaneus
        add_paw(anatomy, body, ankle, p_dir, side, false, s, pose.spread);

        // Limb soft tissue.
        body.soft.push(Shape::Capsule { a: shoulder, b: elbow, radius: 2.6 * s });
        body.soft.push(Shape::Capsule { a: elbow, b: wrist, radius: 1.5 * s });
        body.soft.push(Shape::Capsule { a: hip, b: knee, radius: 4.2 * s * anatomy.girth });
        body.soft.push(Shape::Capsule { a: knee, b: ankle, radius: 2.0 * s });
    }
}

/// Five digits (plus changes) fanned out from `wrist` along `dir`.
#[allow(clippy::too_many_arguments)]
fn add_paw(anatomy: &Anatomy, body: &mut Body, wrist: V3, dir: V3, side: Side, fore: bool, s: f64, spread: bool) {
    let change = anatomy.paw(fore, side);
    // Metapodial and phalanx lengths (mm): digit 1 is short.
    let (meta, phal): (f64, [f64; 3]) = if fore { (2.3, [1.3, 0.95, 0.7]) } else { (6.5, [1.6, 1.1, 0.8]) };
    // The fan opens in the plane the paw lies in: horizontal when spread, otherwise tilted.
    let dir = dir.normalized();
    let across = if spread {
        dir.cross(V3 { x: 0.0, y: 0.0, z: 1.0 }).normalized() * side.sign()
    } else {
        dir.cross(V3 { x: 0.0, y: 1.0, z: 0.0 }).normalized() * 0.35
    };
    body.add(Shape::ellipsoid(wrist + dir * (0.8 * s), [1.1 * s, 1.1 * s, 0.7 * s]), mu::CORTEX * 0.55);
    // (slot across the paw, size factor); an extra digit sits beside digit 1.
    let mut digits: Vec<(f64, f64)> = vec![(-2.0, 1.0), (-1.0, 1.0), (0.0, 1.0), (1.0, 1.0), (2.0, 1.0)];
    let extra = change.map_or(0.0, |c| c.extra_digit);
    if extra > 0.0 {
        digits.insert(0, (-2.9, 0.6 + 0.4 * extra));
    }
    let fused = change.and_then(|c| c.fused_with_next);
    let fan = if fore { 0.33 } else { 0.22 };
    let mut tips = Vec::new();
    for (n, &(slot, size)) in digits.iter().enumerate() {
        let first = slot <= -2.0;
        let (m_len, phalanges) = if first { (meta * 0.45 * size, 2) } else { (meta * (1.0 - 0.06 * (slot.abs())), 3) };
        let d = (dir + across * (slot * fan)).normalized();
        let base = wrist + dir * (1.4 * s) + across * (slot * 0.45 * s);
        let mut p = base + d * (m_len * s);
        body.rod(base, p, 0.2 * s, mu::THIN_BONE);
        let mut seg = Vec::new();
        for ph in phal.iter().take(phalanges) {
            let q = p + d * (ph * s * size);
            seg.push((p, q));
            p = q;
        }
        for (a, b) in &seg {
            let a = *a + (*b - *a) * 0.08;
            body.rod(a, *b, 0.16 * s, mu::THIN_BONE);
        }
        tips.push((n, base, p));
    }
    // Syndactyly: two neighbouring digits joined by a bony web along their length.
    if let Some(i) = fused {
        let offset = usize::from(extra > 0.0);
        let (a, b) = (i + offset, i + offset + 1);
        if let (Some(&(_, ba, ta)), Some(&(_, bb, tb))) = (tips.get(a), tips.get(b)) {
            for t in [0.3, 0.55, 0.8, 1.0] {
                body.rod(ba.lerp(ta, t), bb.lerp(tb, t), 0.17 * s, mu::THIN_BONE);
            }
        }
    }
}
