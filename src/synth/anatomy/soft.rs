//! Soft tissue: neck, trunk, tail, lungs, gut gas and the fur halo.

use super::super::geometry::V3;
use super::super::primitive::Shape;
use super::spine::{CA1, L1, S1, Spine, T1, VERTEBRAE};
use super::{Anatomy, Body, Pose, mu};

/// Adds the body's soft tissue (a union of shapes) and the air-filled organs.
pub fn add_soft_tissue(anatomy: &Anatomy, pose: &Pose, spine: &Spine, body: &mut Body) {
    let s = spine.scale;
    let g = anatomy.girth;
    if pose.trunk_follows_spine {
        add_trunk_along_spine(anatomy, spine, body);
    } else {
        add_straight_trunk(anatomy, spine, body);
    }
    add_neck_tail_and_organs(anatomy, spine, body, s, g);
}

/// The trunk as a chain of overlapping ellipsoids hung from the posed column, one per vertebra
/// and each reaching about three vertebrae either way (so the outline stays smooth), tapering
/// at shoulders and rump: every curve of the column carries it.
fn add_trunk_along_spine(anatomy: &Anatomy, spine: &Spine, body: &mut Body) {
    let (s, g) = (spine.scale, anatomy.girth);
    let (first, last) = (T1 - 2, S1 + 3);
    for k in first..=last {
        let f = spine.frame(k);
        let len = (spine.joints[(k + 1).min(VERTEBRAE)] - spine.joints[k]).length();
        // Full girth over the chest and belly, narrower towards the neck and the tail.
        let t = (k - first) as f64 / (last - first) as f64;
        let taper = (0.55 + 0.45 * (std::f64::consts::PI * t).sin().powf(0.6)).min(1.0);
        let half = len * 3.0 + 2.0 * s;
        body.soft.push(Shape::oriented_ellipsoid(
            f.at(0.0, 0.0, -5.5 * s * taper),
            f.caudal,
            f.left,
            [half, 14.5 * s * g * taper, 10.8 * s * g * taper],
        ));
        body.soft.push(Shape::oriented_ellipsoid(
            f.at(0.0, 0.0, -1.5 * s),
            f.caudal,
            f.left,
            [half, 12.0 * s * g * taper, 7.0 * s],
        ));
        body.add(
            Shape::oriented_ellipsoid(
                f.at(0.0, 0.0, -5.5 * s * taper),
                f.caudal,
                f.left,
                [half * 0.6, 16.0 * s * g * taper, 12.2 * s * g * taper],
            ),
            // The chain's halos overlap about 3.6 deep: their sum stays that of one halo.
            mu::FUR * 0.28,
        );
    }
}

/// The trunk as one ellipsoid from the shoulders to the rump.
fn add_straight_trunk(anatomy: &Anatomy, spine: &Spine, body: &mut Body) {
    let (s, g) = (spine.scale, anatomy.girth);
    // Trunk: from the shoulders to the rump, hanging below the spine.
    let chest = spine.frame(T1 + 5);
    let rump = spine.frame(S1 + 2);
    let front = spine.frame(T1).centre;
    let back = rump.centre;
    let mid = front.lerp(back, 0.5);
    let half_len = (back - front).length() * 0.5 + 9.0 * s;
    let axis = (back - front).normalized();
    let trunk_centre = mid + V3 { x: 0.0, y: 0.0, z: -5.5 * s };
    body.soft.push(Shape::oriented_ellipsoid(trunk_centre, axis, chest.left, [half_len, 14.5 * s * g, 10.8 * s * g]));
    // The back: flatter and closer to the spine than the belly.
    body.soft.push(Shape::oriented_ellipsoid(
        mid + V3 { x: 0.0, y: 0.0, z: -1.5 * s },
        axis,
        chest.left,
        [half_len * 0.97, 12.0 * s * g, 7.0 * s],
    ));
    // Fur and skin: a faint halo around the trunk.
    body.add(
        Shape::oriented_ellipsoid(trunk_centre, axis, chest.left, [half_len + 1.5 * s, 16.0 * s * g, 12.2 * s * g]),
        mu::FUR,
    );
}

/// Neck, tail, lungs and gut gas.
fn add_neck_tail_and_organs(anatomy: &Anatomy, spine: &Spine, body: &mut Body, s: f64, g: f64) {
    // Neck, joining head and trunk.
    let c3 = spine.frame(3);
    body.soft.push(Shape::oriented_ellipsoid(
        c3.at(0.0, 0.0, -3.5 * s),
        c3.caudal,
        c3.left,
        [9.0 * s, 8.3 * s * g.sqrt(), 7.2 * s],
    ));
    // Tail: tapering tube along the caudal vertebrae.
    for k in CA1 - 1..VERTEBRAE {
        let r = (1.9 - 0.045 * (k + 1 - CA1) as f64).max(0.6) * s;
        body.soft.push(Shape::Capsule { a: spine.joints[k], b: spine.joints[k + 1], radius: r });
    }
    // Lungs: two air-filled lobes inside the chest, around the heart.
    let lung_front = spine.frame(T1 + 2);
    let lung_back = spine.frame(L1 - 2);
    for side in [1.0, -1.0] {
        let a = lung_front.at(0.0, side * 3.6 * s, -4.2 * s);
        let b = lung_back.at(0.0, side * 5.4 * s, -4.8 * s);
        body.add(
            Shape::oriented_ellipsoid(
                a.lerp(b, 0.5),
                b - a,
                lung_front.left,
                [(b - a).length() * 0.62, 3.8 * s * g.sqrt(), 4.6 * s],
            ),
            mu::AIR,
        );
    }
    // Gas in the gut.
    let belly = spine.frame(L1 + 2).at(0.0, 0.0, -7.0 * s);
    for &(offset, r) in &anatomy.gas {
        body.add(Shape::ellipsoid(belly + offset * s, [r * s * 1.3, r * s, r * s * 0.8]), mu::AIR);
    }
}
