//! The affine map between model input coordinates and original image pixels.

use serde::{Deserialize, Serialize};

/// Maps continuous model-input coordinates `(u, v)` to original-image coordinates `(x, y)`:
/// `x = a*u + b*v + tx`, `y = c*u + d*v + ty`. Pixel `(i, j)` covers `[i, i+1) x [j, j+1)` in
/// both spaces, so its centre is `(i + 0.5, j + 0.5)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// Linear part, row 1.
    pub a: f64,
    /// Linear part, row 1.
    pub b: f64,
    /// Linear part, row 2.
    pub c: f64,
    /// Linear part, row 2.
    pub d: f64,
    /// Translation x.
    pub tx: f64,
    /// Translation y.
    pub ty: f64,
    /// Side of the square model input in pixels.
    pub model_size: u32,
    /// Original image width.
    pub original_width: u32,
    /// Original image height.
    pub original_height: u32,
}

impl Transform {
    /// Model coordinates to original coordinates.
    pub fn to_original(&self, u: f64, v: f64) -> (f64, f64) {
        (self.a * u + self.b * v + self.tx, self.c * u + self.d * v + self.ty)
    }

    /// Original coordinates to model coordinates.
    pub fn to_model(&self, x: f64, y: f64) -> (f64, f64) {
        let det = self.a * self.d - self.b * self.c;
        if det.abs() < f64::EPSILON {
            return (f64::NAN, f64::NAN);
        }
        let (dx, dy) = (x - self.tx, y - self.ty);
        ((self.d * dx - self.b * dy) / det, (-self.c * dx + self.a * dy) / det)
    }

    /// Original pixels per model pixel.
    pub fn scale(&self) -> f64 {
        (self.a * self.d - self.b * self.c).abs().sqrt()
    }

    /// Rotation of the model's vertical axis in the original image, in degrees from the
    /// original's vertical (counter-clockwise positive in image coordinates, y down).
    pub fn rotation_degrees(&self) -> f64 {
        self.b.atan2(self.d).to_degrees()
    }
}
