//! Style b's renderer: solids painted into a voxel volume of linear attenuation, then summed
//! along the beam (a parallel projection along a grid axis).
//!
//! Painting is partial-volume: a voxel a surface crosses takes the solid's attenuation in
//! proportion to how far inside it lies, so bones thinner than a voxel still project with about
//! their true mass.

use nalgebra::Vector3;

/// A point or direction in the body frame, millimetres: x cranial, y left, z dorsal.
pub type P3 = Vector3<f64>;

/// A shape to paint.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A segment swept by a sphere whose radius goes linearly from `ra` (at `a`) to `rb`.
    Capsule { a: P3, b: P3, ra: f64, rb: f64 },
    /// An ellipsoid with orthonormal `axes` and semi-axis lengths `radii` (mm).
    Ellipsoid { centre: P3, axes: [P3; 3], radii: [f64; 3] },
}

/// A shape and the attenuation (1/mm) it paints.
#[derive(Debug, Clone)]
pub struct Solid {
    /// Its shape.
    pub shape: Shape,
    /// Linear attenuation coefficient, 1/mm.
    pub mu: f32,
}

impl Shape {
    fn bounds(&self) -> (P3, P3) {
        match self {
            Shape::Capsule { a, b, ra, rb } => {
                let r = ra.max(*rb);
                (a.inf(b).add_scalar(-r), a.sup(b).add_scalar(r))
            }
            Shape::Ellipsoid { centre, axes, radii } => {
                // Half-extent along each world axis of an oriented ellipsoid.
                let half = P3::from_fn(|k, _| (0..3).map(|i| (axes[i][k] * radii[i]).powi(2)).sum::<f64>().sqrt());
                (centre - half, centre + half)
            }
        }
    }

    /// Signed distance (mm, negative inside), exact for capsules and approximate for
    /// ellipsoids (exact along the ray from the centre).
    fn signed_distance(&self, p: &P3) -> f64 {
        match self {
            Shape::Capsule { a, b, ra, rb } => {
                let ab = b - a;
                let len2 = ab.norm_squared();
                let t = if len2 > 0.0 { ((p - a).dot(&ab) / len2).clamp(0.0, 1.0) } else { 0.0 };
                (p - (a + ab * t)).norm() - (ra + (rb - ra) * t)
            }
            Shape::Ellipsoid { centre, axes, radii } => {
                let d = p - centre;
                let q = (0..3).map(|i| (d.dot(&axes[i]) / radii[i]).powi(2)).sum::<f64>().sqrt();
                if q <= 1e-12 { -radii.iter().copied().fold(f64::MAX, f64::min) } else { d.norm() * (1.0 - 1.0 / q) }
            }
        }
    }
}

/// The box (mm) holding every solid; an empty box at the origin when there are none.
pub fn bounds(solids: &[Solid]) -> (P3, P3) {
    if solids.is_empty() {
        return (P3::zeros(), P3::zeros());
    }
    solids
        .iter()
        .map(|s| s.shape.bounds())
        .fold((P3::repeat(f64::MAX), P3::repeat(f64::MIN)), |(lo, hi), (a, b)| (lo.inf(&a), hi.sup(&b)))
}

/// A voxel volume of attenuation over a box of the body frame.
pub struct Volume {
    /// Corner of voxel (0, 0, 0), mm.
    pub origin: P3,
    /// Voxel side, mm.
    pub pitch: f64,
    /// Voxels along x, y, z.
    pub dims: [usize; 3],
    mu: Vec<f32>,
}

impl Volume {
    /// The grid over `bounds` (mm) with a margin of two voxels: its origin and size in voxels.
    pub fn grid((lo, hi): (P3, P3), pitch: f64) -> (P3, [usize; 3]) {
        (lo.add_scalar(-2.0 * pitch), [0, 1, 2].map(|k| ((hi[k] - lo[k]) / pitch).ceil() as usize + 4))
    }

    /// An empty (air) volume over [`Volume::grid`].
    pub fn covering(bounds: (P3, P3), pitch: f64) -> Volume {
        let (origin, dims) = Volume::grid(bounds, pitch);
        Volume { origin, pitch, dims, mu: vec![0.0; dims[0] * dims[1] * dims[2]] }
    }

    fn index(&self, i: usize, j: usize, k: usize) -> usize {
        (i * self.dims[1] + j) * self.dims[2] + k
    }

    /// Paints one solid: each voxel becomes `mu * f + old * (1 - f)`, with `f` the share of the
    /// voxel inside (a linear ramp one voxel wide across the surface).
    pub fn paint(&mut self, solid: &Solid) {
        let (lo, hi) = solid.shape.bounds();
        let range = |k: usize| {
            let a = ((lo[k] - self.origin[k]) / self.pitch - 1.0).floor().max(0.0) as usize;
            let b = (((hi[k] - self.origin[k]) / self.pitch + 1.0).ceil().max(0.0) as usize).min(self.dims[k]);
            a..b
        };
        let (ri, rj, rk) = (range(0), range(1), range(2));
        for i in ri {
            for j in rj.clone() {
                for k in rk.clone() {
                    let p = self.origin + P3::new(i as f64 + 0.5, j as f64 + 0.5, k as f64 + 0.5) * self.pitch;
                    let f = (0.5 - solid.shape.signed_distance(&p) / self.pitch).clamp(0.0, 1.0) as f32;
                    if f > 0.0 {
                        let at = self.index(i, j, k);
                        self.mu[at] = solid.mu * f + self.mu[at] * (1.0 - f);
                    }
                }
            }
        }
    }

    /// Line integrals of attenuation along `axis` (1: y, the LV beam; 2: z, the DV beam): an
    /// image `dims[0]` (along x) by the remaining axis, row-major by x.
    pub fn project(&self, axis: usize) -> Vec<f32> {
        let [nx, ny, nz] = self.dims;
        let pitch = self.pitch as f32;
        let other = if axis == 1 { nz } else { ny };
        let mut out = vec![0.0f32; nx * other];
        for i in 0..nx {
            for j in 0..ny {
                for k in 0..nz {
                    let v = self.mu[self.index(i, j, k)];
                    if v != 0.0 {
                        out[i * other + if axis == 1 { k } else { j }] += v * pitch;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thin_rod_projects_about_its_mass_whatever_the_pitch() {
        // A rod of radius 0.2 mm along x: its cross-section integral is mu * pi * r^2.
        let rod = Solid {
            shape: Shape::Capsule { a: P3::new(-5.0, 0.0, 0.0), b: P3::new(5.0, 0.0, 0.0), ra: 0.2, rb: 0.2 },
            mu: 1.0,
        };
        for pitch in [0.05, 0.15, 0.3] {
            let mut v = Volume::covering(bounds(std::slice::from_ref(&rod)), pitch);
            v.paint(&rod);
            let p = v.project(2);
            let ny = v.dims[1];
            let mid = v.dims[0] / 2;
            let across: f32 = p[mid * ny..(mid + 1) * ny].iter().sum::<f32>() * pitch as f32;
            let truth = std::f32::consts::PI * 0.04;
            assert!((across - truth).abs() < 0.35 * truth, "pitch {pitch}: {across} against {truth}");
        }
    }

    #[test]
    fn painting_replaces_what_lies_beneath() {
        let body = Solid {
            shape: Shape::Ellipsoid { centre: P3::zeros(), axes: [P3::x(), P3::y(), P3::z()], radii: [4.0, 4.0, 4.0] },
            mu: 0.1,
        };
        let hole = Solid {
            shape: Shape::Ellipsoid { centre: P3::zeros(), axes: [P3::x(), P3::y(), P3::z()], radii: [2.0, 2.0, 2.0] },
            mu: 0.0,
        };
        let mut v = Volume::covering(bounds(std::slice::from_ref(&body)), 0.1);
        v.paint(&body);
        v.paint(&hole);
        let p = v.project(2);
        let ny = v.dims[1];
        let (ci, cj) = (v.dims[0] / 2, v.dims[1] / 2);
        // Through the centre: 8 mm of body less the 4 mm hole.
        assert!((p[ci * ny + cj] - 0.4).abs() < 0.03, "{}", p[ci * ny + cj]);
    }
}
