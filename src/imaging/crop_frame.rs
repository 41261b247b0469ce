//! Where the model's crop square sits on the animal: [`CropFrame`] names the placement a model
//! was trained with, and [`Frame`] is that square on one film (centre, axes, side and the
//! animal's feathered mask).

use serde::{Deserialize, Serialize};

use super::GrayImage16;
use super::film::{Analysis, Animal, Feathered, FilmArea, Marks, box_mean, feather};
use super::preprocess::PreprocessSpec;

/// Where the crop square sits on the animal (with `crop_to_body`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CropFrame {
    /// Centred between the outermost cells of the animal's core (its largest region above the
    /// threshold), just wide enough for them. A bone one analysis cell wide (a limb, a tail
    /// vertebra) is above the threshold at one placement of the grid and not at the next, so
    /// the same film moved by one pixel can move this crop by several and resize it.
    #[default]
    CoreExtent,
    /// Centred on the centroid of the animal's thick parts (its cells whose 3 x 3 mean on the
    /// analysis grid is above the core's threshold, joined or not), wide enough for the
    /// farthest of them: it moves with the animal to a fraction of a pixel. The crop is larger
    /// where the animal is lopsided about its centroid (6 % on average, at most 19 %, on
    /// held-out phantoms).
    ThickCentroid,
    /// Centred between the outermost of the animal's thick cells (as for `ThickCentroid`), just
    /// wide enough for them: as steady where no thick part flickers, and the animal stays
    /// centred by its extent, not by where its mass lies.
    ThickExtent,
}

impl CropFrame {
    /// Its name in the model metadata and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CropFrame::CoreExtent => "core_extent",
            CropFrame::ThickCentroid => "thick_centroid",
            CropFrame::ThickExtent => "thick_extent",
        }
    }
}

impl std::str::FromStr for CropFrame {
    type Err = String;

    /// `core_extent` or `thick_centroid`, as in the model metadata.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "core_extent" => Ok(CropFrame::CoreExtent),
            "thick_centroid" => Ok(CropFrame::ThickCentroid),
            "thick_extent" => Ok(CropFrame::ThickExtent),
            _ => Err(format!("`{s}` is not a crop frame: core_extent, thick_centroid or thick_extent")),
        }
    }
}

/// The square region of the original image that becomes the model input.
pub(super) struct Frame {
    /// Centre in original coordinates.
    pub(super) centre: (f64, f64),
    /// Unit vector of the model's u axis (rightwards) in original coordinates.
    pub(super) eu: (f64, f64),
    /// Unit vector of the model's v axis (downwards) in original coordinates.
    pub(super) ev: (f64, f64),
    /// Side in original pixels.
    pub(super) side: f64,
    /// The animal, feathered, on the analysis grid: 1 inside, 0 outside (none: the whole film).
    pub(super) animal: Option<Feathered>,
    /// Original pixels per analysis cell.
    pub(super) scale: usize,
    /// The core's long axis over its short one (standard deviations); 0 when not measured.
    pub(super) elongation: f64,
}

impl Frame {
    /// Level counts of the pixels inside the frame's square (see [`FilmArea::level_counts_in`]):
    /// the square's pixels outside the film's area or on the marks count as background, as the
    /// model sees them.
    pub(super) fn level_counts(&self, image: &GrayImage16, area: &FilmArea, marks: Option<&Marks>) -> Vec<u32> {
        let half = self.side / 2.0;
        let (cx, cy) = self.centre;
        let reach_y = half * (self.eu.1.abs() + self.ev.1.abs());
        let rows = (cy - reach_y).floor().max(0.0) as usize..(cy + reach_y).ceil().max(0.0) as usize;
        // Row y's pixel centres x + 0.5 with |(x + 0.5 - cx) a + (y + 0.5 - cy) b| <= half for
        // both axes (a, b): the intersection of two intervals.
        let span = |y: usize| {
            let dy = y as f64 + 0.5 - cy;
            let (mut lo, mut hi) = (f64::MIN, f64::MAX);
            for (a, b) in [self.eu, self.ev] {
                let c = dy * b;
                if a.abs() < 1e-12 {
                    if c.abs() > half {
                        return (0, 0);
                    }
                } else {
                    let (p, q) = ((-half - c) / a, (half - c) / a);
                    lo = lo.max(p.min(q));
                    hi = hi.min(p.max(q));
                }
            }
            let (xa, xb) = ((lo + cx - 0.5).ceil(), (hi + cx - 0.5).floor() + 1.0);
            if xb <= xa || xb <= 0.0 { (0, 0) } else { (xa.max(0.0) as usize, xb as usize) }
        };
        let total = (self.side * self.side).round() as usize;
        area.level_counts_in(image, marks, rows, span, total)
    }

    /// The crop `spec` asks for on the animal `a` found, on a `w x h` film; the whole film
    /// when no body was found or `spec` keeps it.
    pub(super) fn find(a: &Analysis, w: usize, h: usize, spec: &PreprocessSpec) -> Frame {
        Frame::locate(a, w, h, spec, |body| match a.animal.as_ref().and_then(|a| a.body.as_ref()) {
            Some(b) if body => Some(feather(b, a.w, a.h)),
            _ => None,
        })
    }

    /// The frame `spec` places on the same animal, with this frame's mask (found once).
    pub(super) fn placed_as(&self, a: &Analysis, w: usize, h: usize, spec: &PreprocessSpec) -> Frame {
        Frame::locate(a, w, h, spec, |_| self.animal.clone())
    }

    /// The crop `spec` asks for; `mask` makes the animal's feathered mask, given whether the
    /// analysis found a body.
    fn locate(
        a: &Analysis,
        w: usize,
        h: usize,
        spec: &PreprocessSpec,
        mask: impl FnOnce(bool) -> Option<Feathered>,
    ) -> Frame {
        let (sw, sh, r) = (a.w, a.h, a.scale);
        let rf = r as f64;
        let at = |i: usize| (((i % sw) as f64 + 0.5) * rf, ((i / sw) as f64 + 0.5) * rf);
        // Only the animal steers the orientation and the crop: a ruler, a label or a marker
        // beside it must not.
        let animal = a.animal.as_ref();
        let component: &[usize] = animal.map_or(&[], |a| a.core.as_slice());
        let core: Vec<(f64, f64)> = component.iter().map(|&i| at(i)).collect();
        // A body needs some pixels, and not the whole frame.
        let body = core.len() >= 16 && core.len() < sw * sh * 95 / 100;
        let feathered = mask(body);
        let thick_frame = body && spec.crop_to_body && spec.crop_frame != CropFrame::CoreExtent;
        let centred = thick_frame && spec.crop_frame == CropFrame::ThickCentroid;
        let thick = match animal {
            Some(animal) if thick_frame => thick_cells(a, animal).into_iter().map(at).collect(),
            _ => Vec::new(),
        };
        // The cells that place the crop; film QC's elongation stays the core's either way.
        let from_core = thick.len() < 16;
        let points = if from_core { &core } else { &thick };
        let (cx, cy) = if body { centroid(points) } else { (w as f64 / 2.0, h as f64 / 2.0) };

        let mut ev = (0.0, 1.0);
        let mut elongation = 0.0;
        if body {
            let (axis, major, minor) = long_axis(points, (cx, cy));
            let (major, minor) = if from_core {
                (major, minor)
            } else {
                let (_, major, minor) = long_axis(&core, centroid(&core));
                (major, minor)
            };
            elongation = (major / minor.max(f64::EPSILON)).sqrt();
            // A round blob has no long axis: leave it as it is.
            if spec.orient && major > 1.2 * minor.max(f64::EPSILON) {
                ev = axis;
            }
        }
        let eu = (ev.1, -ev.0);

        let project = |p: (f64, f64)| {
            let (dx, dy) = (p.0 - cx, p.1 - cy);
            (dx * eu.0 + dy * eu.1, dx * ev.0 + dy * ev.1)
        };
        let corners = [(0.0, 0.0), (w as f64, 0.0), (0.0, h as f64), (w as f64, h as f64)];
        let pad = if body && spec.crop_to_body { rf / 2.0 } else { 0.0 };
        let projected: Vec<(f64, f64)> = if body && spec.crop_to_body {
            points.iter().map(|&p| project(p)).collect()
        } else {
            corners.iter().map(|&p| project(p)).collect()
        };
        let (mut umin, mut umax, mut vmin, mut vmax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (u, v) in projected {
            umin = umin.min(u - pad);
            umax = umax.max(u + pad);
            vmin = vmin.min(v - pad);
            vmax = vmax.max(v + pad);
        }
        // Centred on the centroid, the square reaches the farthest cell on either side.
        let (mu, mv, reach) = if centred {
            (0.0, 0.0, 2.0 * umin.abs().max(umax.abs()).max(vmin.abs()).max(vmax.abs()))
        } else {
            ((umin + umax) / 2.0, (vmin + vmax) / 2.0, (umax - umin).max(vmax - vmin))
        };
        let side = (reach * (1.0 + 2.0 * spec.margin)).max(1.0);
        let centre = (cx + eu.0 * mu + ev.0 * mv, cy + eu.1 * mu + ev.1 * mv);
        Frame { centre, eu, ev, side, animal: feathered, scale: r, elongation }
    }
}

/// The animal's thick cells (see [`CropFrame::ThickCentroid`]): those of its body region (of its
/// core, when the whole film is kept) whose 3 x 3 mean is above the core's threshold. A bone one
/// cell wide averages under it wherever the grid falls.
fn thick_cells(a: &Analysis, animal: &Animal) -> Vec<usize> {
    // Only over the body's box grown by the mean's reach (the whole grid without a body).
    let (x0, y0, x1, y1) = match animal.body.as_ref() {
        Some(b) => (b.x0.saturating_sub(1), b.y0.saturating_sub(1), (b.x1 + 1).min(a.w), (b.y1 + 1).min(a.h)),
        None => (0, 0, a.w, a.h),
    };
    let bw = x1.saturating_sub(x0);
    if bw == 0 || y1 <= y0 {
        return Vec::new();
    }
    let part: Vec<f32> = (y0..y1).flat_map(|y| a.small[y * a.w + x0..y * a.w + x1].iter().copied()).collect();
    let mean = box_mean(&part, bw, y1 - y0, 1);
    let cells = (y0..y1).flat_map(|y| (x0..x1).map(move |x| (y, x)));
    let thick = cells.filter(|&(y, x)| mean[(y - y0) * bw + x - x0] > animal.threshold).map(|(y, x)| y * a.w + x);
    match animal.body.as_ref() {
        Some(body) => thick.filter(|&c| body.cells[c]).collect(),
        None => {
            let core: std::collections::HashSet<usize> = animal.core.iter().copied().collect();
            thick.filter(|c| core.contains(c)).collect()
        }
    }
}

/// The mean of `points` (at least one).
pub(super) fn centroid(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n)
}

/// The principal axis of `points` about `centre`: the unit vector along it that points down
/// the image (of its two directions, the one with y >= 0), and the variances along it and
/// across it.
pub(super) fn long_axis(points: &[(f64, f64)], centre: (f64, f64)) -> ((f64, f64), f64, f64) {
    let n = points.len() as f64;
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for &(x, y) in points {
        let (dx, dy) = (x - centre.0, y - centre.1);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let (sxx, syy, sxy) = (sxx / n, syy / n, sxy / n);
    let spread = ((sxx - syy).powi(2) + 4.0 * sxy * sxy).sqrt();
    let (major, minor) = ((sxx + syy + spread) / 2.0, (sxx + syy - spread) / 2.0);
    let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let axis = (theta.cos(), theta.sin());
    let down = if axis.1 >= 0.0 { axis } else { (-axis.0, -axis.1) };
    (down, major, minor)
}
