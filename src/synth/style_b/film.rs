//! Style b's exposure: the projection placed on the detector, the heel effect, blur, quantum
//! noise and a power-law detector response (style a uses vignetting and a gamma on
//! attenuation instead).

use image::{ImageBuffer, Luma};
use serde::{Deserialize, Serialize};

use super::skeleton::Projection;
use crate::synth::{DETECTOR_MAX, Rng};

/// Where the animal lies on the detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Framing {
    /// Rotation of the head-up image, degrees clockwise.
    pub rotation_deg: f64,
    /// Mirrored left-right.
    pub mirrored: bool,
    /// Shift from the image centre, mm (right, down).
    pub offset_mm: (f64, f64),
    /// Field of view as a multiple of the animal's rotated extent.
    pub margin: f64,
}

impl Framing {
    /// A random framing: any of four orientations or a diagonal, sometimes mirrored.
    pub fn sample(rng: &mut Rng) -> Framing {
        let base = [0.0, 90.0, 180.0, 270.0, 30.0, -30.0][rng.below(6)];
        Framing {
            rotation_deg: base + rng.normal(0.0, 6.0),
            mirrored: rng.chance(0.4),
            offset_mm: (rng.normal(0.0, 4.0), rng.normal(0.0, 4.0)),
            margin: rng.range(1.05, 1.35),
        }
    }
}

/// Exposure and detector of one view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// Photons per pixel of unattenuated beam.
    pub photons: f64,
    /// Blur, Gaussian sigma in pixels at 512 px (scaled with the image size).
    pub blur_px: f64,
    /// Heel effect: relative flux change from the image's centre to its right edge.
    pub heel: f64,
    /// Response exponent: output rises as `1 - transmission^kappa`.
    pub kappa: f64,
    /// Output of unattenuated beam.
    pub floor: f64,
    /// Output range above `floor`.
    pub span: f64,
}

impl Detector {
    /// Random settings.
    pub fn sample(rng: &mut Rng) -> Detector {
        Detector {
            photons: rng.range(500.0, 5000.0),
            blur_px: rng.range(0.4, 1.6),
            heel: rng.range(-0.15, 0.15),
            kappa: rng.range(0.35, 0.7),
            floor: rng.range(100.0, 1800.0),
            span: rng.range(10_000.0, 15_500.0),
        }
    }
}

/// Bilinear sample of the projection at plane coordinates (mm); 0 outside.
fn sample(p: &Projection, x: f64, v: f64) -> f32 {
    let (fr, fc) = ((x - p.origin.0) / p.pitch, (v - p.origin.1) / p.pitch);
    if fr < 0.0 || fc < 0.0 || fr >= (p.rows - 1) as f64 || fc >= (p.cols - 1) as f64 {
        return 0.0;
    }
    let (r, c) = (fr as usize, fc as usize);
    let (a, b) = ((fr - r as f64) as f32, (fc - c as f64) as f32);
    let at = |r: usize, c: usize| p.values[r * p.cols + c];
    (at(r, c) * (1.0 - b) + at(r, c + 1) * b) * (1.0 - a) + (at(r + 1, c) * (1.0 - b) + at(r + 1, c + 1) * b) * a
}

/// Exposes a `size` x `size` film of the projection, framed around `extent` (x0, x1, v0, v1 in
/// mm, the animal's box in the image plane): 14-bit values, brighter where more attenuated.
pub fn expose(
    p: &Projection,
    extent: (f64, f64, f64, f64),
    framing: &Framing,
    detector: &Detector,
    size: u32,
    rng: &mut Rng,
) -> Vec<u16> {
    let (x0, x1, v0, v1) = extent;
    let (cu, cr) = ((x0 + x1) / 2.0, (v0 + v1) / 2.0);
    let (h, w) = (x1 - x0, v1 - v0);
    let (sa, ca) = framing.rotation_deg.to_radians().sin_cos();
    let rotated = (w * ca.abs() + h * sa.abs()).max(w * sa.abs() + h * ca.abs());
    let fov = (rotated * framing.margin).clamp(50.0, 220.0);
    let n = size as usize;
    let pix = fov / n as f64;
    let mirror = if framing.mirrored { -1.0 } else { 1.0 };
    let mut transmission = ImageBuffer::<Luma<f32>, Vec<f32>>::new(size, size);
    for (px, py, out) in transmission.enumerate_pixels_mut() {
        // Detector mm from the centre, less the shift, rotated back to the head-up image.
        let x = (f64::from(px) + 0.5 - n as f64 / 2.0) * pix - framing.offset_mm.0;
        let y = (f64::from(py) + 0.5 - n as f64 / 2.0) * pix - framing.offset_mm.1;
        let (rx, ry) = (x * ca + y * sa, -x * sa + y * ca);
        let (r, u) = (mirror * rx, -ry);
        let line = sample(p, cu + u, cr + r);
        let heel = 1.0 + detector.heel * (f64::from(px) / n as f64 - 0.5) * 2.0;
        out.0[0] = (-line).exp() * heel as f32;
    }
    let sigma = (detector.blur_px * size as f64 / 512.0) as f32;
    let blurred = if sigma > 0.3 { image::imageops::blur(&transmission, sigma) } else { transmission };
    blurred
        .pixels()
        .map(|t| {
            let t = f64::from(t.0[0]).max(0.0);
            let noisy = (t + (t / detector.photons).sqrt() * f64::from(rng.gaussian_f32())).clamp(0.0, 1.5);
            let value = detector.floor + detector.span * (1.0 - noisy.powf(detector.kappa));
            value.round().clamp(0.0, f64::from(DETECTOR_MAX)) as u16
        })
        .collect()
}
