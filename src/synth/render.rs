//! Projecting a posed body onto the detector: analytic path lengths, Beer-Lambert attenuation,
//! detector blur, quantum noise, vignetting, an optional ruler, 14-bit output.

use serde::{Deserialize, Serialize};

use super::anatomy::{Body, mu};
use super::geometry::{V3, cos, exp, sin, v3};
use super::primitive::Shape;
use super::rng::Rng;
use crate::specimen::View;

/// The largest value of the 14-bit detector range.
pub const DETECTOR_MAX: u16 = 16383;

/// Where the animal lies on the detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// In-plane rotation (degrees, clockwise on screen) of the head-up canonical image.
    pub rotation_deg: f64,
    /// Mirrored left-right.
    pub mirrored: bool,
    /// Shift of the body's centre from the image centre (mm, right and down).
    pub offset_mm: (f64, f64),
    /// Extra margin factor of the field of view around the animal.
    pub zoom_margin: f64,
    /// The field of view widened by this factor after its limits (`synth --vary-film`): the
    /// animal smaller in the film, with more bare film around it (1: as drawn).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub zoom_out: f64,
}

/// Serde default of factors that are 1 unless varied.
pub(super) fn one() -> f64 {
    1.0
}

/// Factors left at 1 are not written.
pub(super) fn is_one(v: &f64) -> bool {
    *v == 1.0
}

impl Placement {
    /// A random placement: vertical, horizontal or diagonal, sometimes mirrored, never
    /// standardised (as at IMPC centres).
    pub fn sample(rng: &mut Rng) -> Placement {
        let base = [0.0, 90.0, -90.0, 45.0, -45.0, 180.0][rng.below(6)];
        Placement {
            rotation_deg: base + rng.normal(0.0, 5.0),
            mirrored: rng.chance(0.3),
            offset_mm: (rng.normal(0.0, 3.0), rng.normal(0.0, 3.0)),
            zoom_margin: rng.range(1.05, 1.25),
            zoom_out: 1.0,
        }
    }
}

/// Exposure and detector settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// Photons per pixel at the centre without attenuation (sets the noise level).
    pub photons: f64,
    /// Detector blur, Gaussian sigma in pixels at 512 px (scaled with the image size).
    pub blur_px: f64,
    /// Vignetting: relative flux loss at the corners.
    pub vignetting: f64,
    /// Output value of unattenuated background.
    pub background: f64,
    /// Output units per unit of attenuation.
    pub gain: f64,
    /// Display curve exponent.
    pub gamma: f64,
    /// A radiopaque ruler along one edge (which edge: 0..4).
    pub ruler: Option<u8>,
}

impl Exposure {
    /// Random exposure settings.
    pub fn sample(rng: &mut Rng, ruler_rate: f64) -> Exposure {
        // A fixed number of draws whatever the ruler rate, so the rate changes nothing else.
        let (ruler_draw, edge) = (rng.uniform(), rng.below(4) as u8);
        Exposure {
            photons: rng.range(900.0, 5000.0),
            blur_px: rng.range(0.55, 1.1),
            vignetting: rng.range(0.0, 0.18),
            background: rng.range(150.0, 900.0),
            gain: rng.range(5200.0, 6800.0),
            gamma: rng.range(0.7, 0.85),
            ruler: (ruler_draw < ruler_rate).then_some(edge),
        }
    }
}

/// Maps pixel centres to rays through the body.
struct Camera {
    /// Ray origin at pixel (0, 0)'s corner, and per-pixel steps.
    origin: V3,
    step_i: V3,
    step_j: V3,
    /// Ray direction (unit).
    dir: V3,
    /// Inverse: body point to pixel coordinates.
    to_pixel: Box<dyn Fn(V3) -> (f64, f64)>,
    /// Millimetres per pixel.
    pixel_mm: f64,
}

impl Camera {
    fn new(body: &Body, frame: Option<(V3, V3)>, view: View, size: u32, placement: &Placement) -> Camera {
        // Plane coordinates of a body point in the canonical image (right, up), head up.
        let dv = view != View::Lv;
        let plane = move |p: V3| if dv { (-p.y, p.x) } else { (p.z, p.x) };
        let (lo, hi) = frame.unwrap_or_else(|| bounds(body));
        let corners = [lo, hi, v3(lo.x, hi.y, lo.z), v3(hi.x, lo.y, hi.z), v3(lo.x, lo.y, hi.z), v3(hi.x, hi.y, lo.z)];
        let (mut r0, mut r1, mut u0, mut u1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for c in corners {
            let (r, u) = plane(c);
            r0 = r0.min(r);
            r1 = r1.max(r);
            u0 = u0.min(u);
            u1 = u1.max(u);
        }
        let centre = ((r0 + r1) / 2.0, (u0 + u1) / 2.0);
        let (sa, ca) = (sin(placement.rotation_deg.to_radians()), cos(placement.rotation_deg.to_radians()));
        // Extent of the rotated box decides the field of view.
        let (w, h) = (r1 - r0, u1 - u0);
        let extent = (w * ca.abs() + h * sa.abs()).max(w * sa.abs() + h * ca.abs());
        let fov = (extent * placement.zoom_margin).clamp(90.0, 185.0) * placement.zoom_out.max(0.1);
        let pixel_mm = fov / f64::from(size);
        let half = f64::from(size) / 2.0;
        let mirror = if placement.mirrored { -1.0 } else { 1.0 };
        let (ox, oy) = placement.offset_mm;
        // Canonical (right, up) -> detector (x right, y down), in mm from the image centre.
        let forward = move |r: f64, u: f64| {
            let (x, y) = (mirror * r, -u);
            (x * ca - y * sa + ox, x * sa + y * ca + oy)
        };
        let inverse = move |x: f64, y: f64| {
            let (x, y) = (x - ox, y - oy);
            let (cx, cy) = (x * ca + y * sa, -x * sa + y * ca);
            (mirror * cx, -cy)
        };
        let unplane = move |r: f64, u: f64| {
            let (r, u) = (r + centre.0, u + centre.1);
            if dv { v3(u, -r, 0.0) } else { v3(u, 0.0, r) }
        };
        let ray = |i: f64, j: f64| {
            let (r, u) = inverse((i - half) * pixel_mm, (j - half) * pixel_mm);
            unplane(r, u)
        };
        let origin = ray(0.0, 0.0);
        let step_i = ray(1.0, 0.0) - origin;
        let step_j = ray(0.0, 1.0) - origin;
        let to_pixel = Box::new(move |p: V3| {
            let (r, u) = plane(p);
            let (x, y) = forward(r - centre.0, u - centre.1);
            (x / pixel_mm + half, y / pixel_mm + half)
        });
        let dir = if dv { v3(0.0, 0.0, 1.0) } else { v3(0.0, 1.0, 0.0) };
        Camera { origin, step_i, step_j, dir, to_pixel, pixel_mm }
    }

    /// Pixel rectangle (inclusive start, exclusive end) covering a shape.
    fn footprint(&self, shape: &Shape, size: usize) -> Option<(usize, usize, usize, usize)> {
        let (lo, hi) = shape.bounds();
        let (mut i0, mut i1, mut j0, mut j1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for c in [
            v3(lo.x, lo.y, lo.z),
            v3(hi.x, lo.y, lo.z),
            v3(lo.x, hi.y, lo.z),
            v3(hi.x, hi.y, lo.z),
            v3(lo.x, lo.y, hi.z),
            v3(hi.x, lo.y, hi.z),
            v3(lo.x, hi.y, hi.z),
            v3(hi.x, hi.y, hi.z),
        ] {
            let (i, j) = (self.to_pixel)(c);
            i0 = i0.min(i);
            i1 = i1.max(i);
            j0 = j0.min(j);
            j1 = j1.max(j);
        }
        let n = size as f64;
        if i1 < 0.0 || j1 < 0.0 || i0 >= n || j0 >= n {
            return None;
        }
        let clamp = |v: f64| v.clamp(0.0, n) as usize;
        Some((clamp(i0.floor()), clamp(i1.ceil() + 1.0), clamp(j0.floor()), clamp(j1.ceil() + 1.0)))
    }

    fn ray_origin(&self, i: usize, j: usize) -> V3 {
        self.origin + self.step_i * (i as f64 + 0.5) + self.step_j * (j as f64 + 0.5)
    }
}

/// Bounding box of every shape in the body.
/// The box around every shape of a body (mm): what the field of view is fitted to.
pub fn bounds(body: &Body) -> (V3, V3) {
    let mut lo = v3(f64::MAX, f64::MAX, f64::MAX);
    let mut hi = v3(f64::MIN, f64::MIN, f64::MIN);
    for s in body.soft.iter().chain(body.parts.iter().map(|p| &p.shape)) {
        let (a, b) = s.bounds();
        lo = lo.min(a);
        hi = hi.max(b);
    }
    (lo, hi)
}

/// The attenuation map (sum of mu * path length) of a body, before blur and noise.
///
/// `frame`: the box the field of view is fitted to (default: the body's own, [`bounds`]); a
/// counterfactual pair frames both animals as the one without the finding, so that the finding
/// moves nothing else.
pub fn attenuation(
    body: &Body,
    frame: Option<(V3, V3)>,
    view: View,
    size: u32,
    placement: &Placement,
) -> (Vec<f32>, f64) {
    let n = size as usize;
    let cam = Camera::new(body, frame, view, size, placement);
    let mut soft = vec![0.0f32; n * n];
    for shape in &body.soft {
        let Some((i0, i1, j0, j1)) = cam.footprint(shape, n) else { continue };
        for j in j0..j1 {
            for i in i0..i1 {
                let l = shape.chord(cam.ray_origin(i, j), cam.dir) as f32;
                let cell = &mut soft[j * n + i];
                if l > *cell {
                    *cell = l;
                }
            }
        }
    }
    let mut a: Vec<f32> = soft.iter().map(|&l| l * mu::SOFT as f32).collect();
    for part in &body.parts {
        let Some((i0, i1, j0, j1)) = cam.footprint(&part.shape, n) else { continue };
        let m = part.mu as f32;
        for j in j0..j1 {
            for i in i0..i1 {
                let l = part.shape.chord(cam.ray_origin(i, j), cam.dir) as f32;
                if l > 0.0 {
                    a[j * n + i] += m * l;
                }
            }
        }
    }
    for v in &mut a {
        *v = v.max(0.0);
    }
    (a, cam.pixel_mm)
}

/// Where body points (mm) fall on the film [`render`] draws with the same `frame`, `view`, `size`
/// and `placement`: pixel coordinates (x right, y down) from the film's top-left corner, so
/// pixel (i, j) covers `[i, i + 1) x [j, j + 1)`.
pub fn project(
    body: &Body,
    frame: Option<(V3, V3)>,
    view: View,
    size: u32,
    placement: &Placement,
    points: &[V3],
) -> Vec<(f64, f64)> {
    let cam = Camera::new(body, frame, view, size, placement);
    points.iter().map(|&p| (cam.to_pixel)(p)).collect()
}

/// Renders one view to 14-bit detector values. `noise` switches quantum noise (tests compare
/// noise-free renders).
pub fn render(
    body: &Body,
    frame: Option<(V3, V3)>,
    view: View,
    size: u32,
    placement: &Placement,
    exposure: &Exposure,
    noise: Option<&mut Rng>,
) -> Vec<u16> {
    let n = size as usize;
    let (mut a, pixel_mm) = attenuation(body, frame, view, size, placement);
    if let Some(edge) = exposure.ruler {
        add_ruler(&mut a, n, pixel_mm, edge);
    }
    let sigma = exposure.blur_px * f64::from(size) / 512.0;
    gaussian_blur(&mut a, n, sigma);
    // Display curve, a shifted power law with a finite slope at zero (so background noise is
    // not amplified), through a table: `pow` per pixel would dominate the run time.
    const CURVE_MAX: f64 = 12.0;
    const CURVE_STEPS: usize = 4096;
    const KNEE: f64 = 0.15;
    let g = exposure.gamma;
    let curve: Vec<f32> = (0..=CURVE_STEPS)
        .map(|k| {
            let a = k as f64 * CURVE_MAX / CURVE_STEPS as f64;
            (exposure.gain * (libm::pow(a + KNEE, g) - libm::pow(KNEE, g))) as f32
        })
        .collect();
    let display = |att: f32| -> f32 {
        let x = (f64::from(att.max(0.0)) * CURVE_STEPS as f64 / CURVE_MAX).min(CURVE_STEPS as f64 - 1.0);
        let k = x as usize;
        let f = (x - k as f64) as f32;
        curve[k] * (1.0 - f) + curve[k + 1] * f
    };
    let half = n as f64 / 2.0;
    let inv_sqrt_photons = (1.0 / exposure.photons.sqrt()) as f32;
    let mut rng = noise;
    let mut out = Vec::with_capacity(n * n);
    for j in 0..n {
        for i in 0..n {
            let (dx, dy) = ((i as f64 + 0.5 - half) / half, (j as f64 + 0.5 - half) / half);
            // Vignetting: fewer photons towards the corners, -ln(1 - x) to second order.
            let x = exposure.vignetting * 0.5 * (dx * dx + dy * dy);
            let mut att = a[j * n + i] + (x + 0.5 * x * x) as f32;
            if let Some(r) = rng.as_deref_mut() {
                // Quantum noise in the log domain: sd 1/sqrt(counts) = e^(att/2)/sqrt(photons).
                let sd = (libm::expf(0.5 * att.min(9.0)) * inv_sqrt_photons).min(0.8);
                att += sd * r.gaussian_f32();
            }
            let v = exposure.background as f32 + display(att);
            out.push(v.round().clamp(0.0, f32::from(DETECTOR_MAX)) as u16);
        }
    }
    out
}

/// A radiopaque ruler: a bar along one edge with millimetre, 5 mm and 10 mm ticks.
fn add_ruler(a: &mut [f32], n: usize, pixel_mm: f64, edge: u8) {
    let bar = (4.0 / pixel_mm).max(2.0) as usize;
    let inset = (3.0 / pixel_mm) as usize;
    let len = n * 8 / 10;
    let start = n / 10;
    for t in 0..len {
        let mm = t as f64 * pixel_mm;
        let tick_len = if (mm % 10.0) < pixel_mm {
            bar
        } else if (mm % 5.0) < pixel_mm {
            bar * 2 / 3
        } else if (mm % 1.0) < pixel_mm {
            bar / 3
        } else {
            0
        };
        for d in 0..bar {
            let value = if d < bar / 3 {
                0.9
            } else if d < bar / 3 + tick_len.min(bar) && tick_len > 0 {
                1.6
            } else {
                0.35
            };
            let (i, j) = match edge {
                0 => (start + t, inset + d),
                1 => (start + t, n - 1 - inset - d),
                2 => (inset + d, start + t),
                _ => (n - 1 - inset - d, start + t),
            };
            if i < n && j < n {
                a[j * n + i] += value;
            }
        }
    }
}

/// In-place separable Gaussian blur.
fn gaussian_blur(a: &mut [f32], n: usize, sigma: f64) {
    if sigma < 0.2 {
        return;
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius).map(|k| exp(-0.5 * (k as f64 / sigma).powi(2)) as f32).collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let mut tmp = vec![0.0f32; a.len()];
    let last = n as isize - 1;
    for j in 0..n {
        let row = &a[j * n..(j + 1) * n];
        for i in 0..n {
            let mut acc = 0.0;
            for (k, w) in kernel.iter().enumerate() {
                let x = (i as isize + k as isize - radius).clamp(0, last) as usize;
                acc += w * row[x];
            }
            tmp[j * n + i] = acc;
        }
    }
    for j in 0..n {
        for i in 0..n {
            let mut acc = 0.0;
            for (k, w) in kernel.iter().enumerate() {
                let y = (j as isize + k as isize - radius).clamp(0, last) as usize;
                acc += w * tmp[y * n + i];
            }
            a[j * n + i] = acc;
        }
    }
}
