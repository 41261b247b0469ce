//! Minimal 3D vector maths for the phantom. Transcendental functions come from `libm`, so
//! results are bit-identical on every machine (the platform libm may differ in the last bit).

use std::ops::{Add, Mul, Neg, Sub};

use serde::{Deserialize, Serialize};

/// A point or direction in millimetres. Body frame: `x` cranial, `y` to the animal's left,
/// `z` dorsal.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct V3 {
    /// Cranial (+) / caudal (-).
    pub x: f64,
    /// Animal's left (+) / right (-).
    pub y: f64,
    /// Dorsal (+) / ventral (-).
    pub z: f64,
}

/// Shorthand constructor.
pub const fn v3(x: f64, y: f64, z: f64) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    /// Dot product.
    pub fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    /// Cross product.
    pub fn cross(self, o: V3) -> V3 {
        v3(self.y * o.z - self.z * o.y, self.z * o.x - self.x * o.z, self.x * o.y - self.y * o.x)
    }

    /// Euclidean length.
    pub fn length(self) -> f64 {
        self.dot(self).sqrt()
    }

    /// Unit vector in the same direction (the zero vector stays zero).
    pub fn normalized(self) -> V3 {
        let l = self.length();
        if l > 0.0 { self * (1.0 / l) } else { self }
    }

    /// Linear interpolation.
    pub fn lerp(self, o: V3, t: f64) -> V3 {
        self + (o - self) * t
    }

    /// Component-wise minimum.
    pub fn min(self, o: V3) -> V3 {
        v3(self.x.min(o.x), self.y.min(o.y), self.z.min(o.z))
    }

    /// Component-wise maximum.
    pub fn max(self, o: V3) -> V3 {
        v3(self.x.max(o.x), self.y.max(o.y), self.z.max(o.z))
    }

    /// Mirrors left-right (negates `y`).
    pub fn mirror_y(self) -> V3 {
        v3(self.x, -self.y, self.z)
    }
}

impl Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f64> for V3 {
    type Output = V3;
    fn mul(self, s: f64) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}

impl Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

/// Sine (portable).
pub fn sin(a: f64) -> f64 {
    libm::sin(a)
}

/// Cosine (portable).
pub fn cos(a: f64) -> f64 {
    libm::cos(a)
}

/// exp (portable).
pub fn exp(a: f64) -> f64 {
    libm::exp(a)
}

/// Natural logarithm (portable).
pub fn ln(a: f64) -> f64 {
    libm::log(a)
}

/// A unit direction from an azimuth in the x-y plane (0 = cranial, +90 deg = animal's left) and
/// an elevation towards dorsal, both in degrees.
pub fn direction(azimuth_deg: f64, elevation_deg: f64) -> V3 {
    let (a, e) = (azimuth_deg.to_radians(), elevation_deg.to_radians());
    v3(cos(a) * cos(e), sin(a) * cos(e), sin(e))
}

/// A smooth bump: 1 at `centre`, falling off as a Gaussian of width `width`.
pub fn bump(s: f64, centre: f64, width: f64) -> f64 {
    let d = (s - centre) / width;
    exp(-0.5 * d * d)
}
