//! Solid primitives with an X-ray attenuation, and the analytic length of a ray through each.

use super::geometry::{V3, v3};

/// A solid shape in body coordinates (millimetres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// An ellipsoid: centre, three orthonormal axes and the radius along each.
    Ellipsoid {
        /// Centre.
        centre: V3,
        /// Orthonormal axes.
        axes: [V3; 3],
        /// Radius along each axis.
        radii: [f64; 3],
    },
    /// A flat-ended cylinder around the segment `a`-`b`.
    Cylinder {
        /// Centre of one end face.
        a: V3,
        /// Centre of the other end face.
        b: V3,
        /// Radius.
        radius: f64,
    },
    /// A capsule: all points within `radius` of the segment `a`-`b`.
    Capsule {
        /// One end of the core segment.
        a: V3,
        /// The other end.
        b: V3,
        /// Radius.
        radius: f64,
    },
}

/// A shape with a linear attenuation coefficient `mu` (1/mm). Negative values subtract, which
/// models cavities (marrow inside cortex, air in the lungs) nested in a denser shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Primitive {
    /// The solid.
    pub shape: Shape,
    /// Attenuation per millimetre of path.
    pub mu: f64,
}

impl Shape {
    /// An axis-aligned ellipsoid.
    pub fn ellipsoid(centre: V3, radii: [f64; 3]) -> Shape {
        Shape::Ellipsoid { centre, axes: [v3(1.0, 0.0, 0.0), v3(0.0, 1.0, 0.0), v3(0.0, 0.0, 1.0)], radii }
    }

    /// An ellipsoid whose first axis points along `long` (radius `r_long`), the second axis
    /// perpendicular to it in the plane of `long` and `side_hint`.
    pub fn oriented_ellipsoid(centre: V3, long: V3, side_hint: V3, radii: [f64; 3]) -> Shape {
        let a0 = long.normalized();
        let mut a2 = a0.cross(side_hint).normalized();
        if a2.length() < 0.5 {
            a2 = a0.cross(v3(0.0, 0.0, 1.0)).normalized();
            if a2.length() < 0.5 {
                a2 = a0.cross(v3(0.0, 1.0, 0.0)).normalized();
            }
        }
        let a1 = a2.cross(a0).normalized();
        Shape::Ellipsoid { centre, axes: [a0, a1, a2], radii }
    }

    /// Axis-aligned bounding box (min, max).
    pub fn bounds(&self) -> (V3, V3) {
        match *self {
            Shape::Ellipsoid { centre, axes, radii } => {
                let half = |pick: fn(V3) -> f64| (0..3).map(|i| (pick(axes[i]) * radii[i]).powi(2)).sum::<f64>().sqrt();
                let h = v3(half(|v| v.x), half(|v| v.y), half(|v| v.z));
                (centre - h, centre + h)
            }
            Shape::Capsule { a, b, radius } | Shape::Cylinder { a, b, radius } => {
                let r = v3(radius, radius, radius);
                (a.min(b) - r, a.max(b) + r)
            }
        }
    }

    /// Length of the line `origin + t * dir` (`dir` a unit vector) inside the shape.
    pub fn chord(&self, origin: V3, dir: V3) -> f64 {
        match *self {
            Shape::Ellipsoid { centre, axes, radii } => {
                let p = origin - centre;
                let (mut qa, mut qb, mut qc) = (0.0, 0.0, -1.0);
                for i in 0..3 {
                    let (o, d) = (p.dot(axes[i]) / radii[i], dir.dot(axes[i]) / radii[i]);
                    qa += d * d;
                    qb += o * d;
                    qc += o * o;
                }
                let disc = qb * qb - qa * qc;
                if disc <= 0.0 || qa <= 0.0 { 0.0 } else { 2.0 * disc.sqrt() / qa }
            }
            Shape::Capsule { a, b, radius } => {
                let parts = [
                    sphere_interval(origin, dir, a, radius),
                    sphere_interval(origin, dir, b, radius),
                    cylinder_interval(origin, dir, a, b, radius),
                ];
                // Convex: the line meets the capsule in one interval, the hull of the parts'.
                let (lo, hi) = parts
                    .iter()
                    .flatten()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(s, e)| (lo.min(s), hi.max(e)));
                if hi > lo { hi - lo } else { 0.0 }
            }
            Shape::Cylinder { a, b, radius } => {
                cylinder_interval(origin, dir, a, b, radius).map_or(0.0, |(s, e)| e - s)
            }
        }
    }
}

/// Interval of the line inside a sphere, if any.
fn sphere_interval(origin: V3, dir: V3, centre: V3, r: f64) -> Option<(f64, f64)> {
    let p = origin - centre;
    let half_b = p.dot(dir);
    let c = p.dot(p) - r * r;
    let disc = half_b * half_b - c;
    (disc > 0.0).then(|| {
        let s = disc.sqrt();
        (-half_b - s, -half_b + s)
    })
}

/// Interval of the line inside the finite, flat-ended cylinder around `a`-`b`, if any.
fn cylinder_interval(origin: V3, dir: V3, a: V3, b: V3, r: f64) -> Option<(f64, f64)> {
    let axis = b - a;
    let len = axis.length();
    if len <= 1e-12 {
        return None;
    }
    let w = axis * (1.0 / len);
    let p = origin - a;
    let (d_along, p_along) = (dir.dot(w), p.dot(w));
    // Components perpendicular to the axis.
    let (dp, pp) = (dir - w * d_along, p - w * p_along);
    let qa = dp.dot(dp);
    let (half_b, c) = (pp.dot(dp), pp.dot(pp) - r * r);
    let (mut s0, mut s1) = if qa > 1e-12 {
        let disc = half_b * half_b - qa * c;
        if disc <= 0.0 {
            return None;
        }
        let s = disc.sqrt();
        ((-half_b - s) / qa, (-half_b + s) / qa)
    } else if c < 0.0 {
        // Parallel to the axis and inside the infinite cylinder.
        (f64::NEG_INFINITY, f64::INFINITY)
    } else {
        return None;
    };
    // Clip to the slab between the end faces.
    if d_along.abs() > 1e-12 {
        let (u0, u1) = (-p_along / d_along, (len - p_along) / d_along);
        s0 = s0.max(u0.min(u1));
        s1 = s1.min(u0.max(u1));
    } else if !(0.0..=len).contains(&p_along) {
        return None;
    }
    (s1 > s0).then_some((s0, s1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: V3 = v3(0.0, 0.0, 1.0);

    #[test]
    fn sphere_and_ellipsoid_chords() {
        let s = Shape::ellipsoid(v3(0.0, 0.0, 0.0), [2.0, 2.0, 2.0]);
        assert!((s.chord(v3(0.0, 0.0, -10.0), Z) - 4.0).abs() < 1e-12);
        assert!((s.chord(v3(2.0f64.sqrt(), 0.0, 5.0), Z) - 2.0 * 2.0f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.chord(v3(3.0, 0.0, 0.0), Z), 0.0);
        let e = Shape::ellipsoid(v3(1.0, 1.0, 1.0), [1.0, 2.0, 3.0]);
        assert!((e.chord(v3(1.0, 1.0, 0.0), Z) - 6.0).abs() < 1e-12);
        let rotated =
            Shape::oriented_ellipsoid(v3(0.0, 0.0, 0.0), v3(0.0, 0.0, 1.0), v3(1.0, 0.0, 0.0), [3.0, 1.0, 1.0]);
        assert!((rotated.chord(v3(0.0, 0.0, 9.0), Z) - 6.0).abs() < 1e-9);
    }

    #[test]
    fn capsule_chords() {
        let c = Shape::Capsule { a: v3(0.0, 0.0, 0.0), b: v3(10.0, 0.0, 0.0), radius: 1.0 };
        // Across the cylinder: the diameter.
        assert!((c.chord(v3(5.0, 0.0, -4.0), Z) - 2.0).abs() < 1e-12);
        // Through an end cap.
        assert!((c.chord(v3(-0.5, 0.0, -4.0), Z) - 2.0 * 0.75f64.sqrt()).abs() < 1e-12);
        // Along the axis: length plus both caps.
        let along = c.chord(v3(-5.0, 0.0, 0.0), v3(1.0, 0.0, 0.0));
        assert!((along - 12.0).abs() < 1e-9, "{along}");
        // Oblique line through the middle: 2r / sin(angle).
        let d = v3(1.0, 0.0, 1.0).normalized();
        let oblique = c.chord(v3(5.0, 0.0, 0.0) - d * 5.0, d);
        assert!((oblique - 2.0 * 2.0f64.sqrt()).abs() < 1e-9, "{oblique}");
        assert_eq!(c.chord(v3(5.0, 2.0, -4.0), Z), 0.0);
        // A flat-ended cylinder has no caps.
        let cyl = Shape::Cylinder { a: v3(0.0, 0.0, 0.0), b: v3(10.0, 0.0, 0.0), radius: 1.0 };
        assert_eq!(cyl.chord(v3(-0.5, 0.0, -4.0), Z), 0.0);
        assert!((cyl.chord(v3(-5.0, 0.0, 0.0), v3(1.0, 0.0, 0.0)) - 10.0).abs() < 1e-9);
        let (lo, hi) = c.bounds();
        assert_eq!((lo, hi), (v3(-1.0, -1.0, -1.0), v3(11.0, 1.0, 1.0)));
    }
}
