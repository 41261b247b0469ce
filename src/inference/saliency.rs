//! Saliency overlays: where in the original radiograph the model found evidence for a class.
//!
//! A map is a grid over the square model input: the model's `cam_dv` / `cam_lv` outputs (each
//! class's exact logit contribution per feature cell), or an occlusion-sensitivity grid for
//! models without them. It is carried back to the original image through the preprocess
//! [`Transform`], upsampled bilinearly between cell centres, reduced to its positive part
//! (evidence for the class), normalised and coloured with a perceptual colormap whose alpha
//! follows the evidence, so weak evidence leaves the film visible.

use serde::{Deserialize, Serialize};

use super::{CamMaps, Classifier, ModelError};
use crate::imaging::Transform;
use crate::specimen::{ByView, View};

/// A grid of evidence over the model input, `side x side` cells (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceGrid {
    /// Cells per side.
    pub side: usize,
    /// Values; positive means evidence for the class.
    pub values: Vec<f32>,
}

impl EvidenceGrid {
    /// One class of a model's CAM output.
    pub fn from_cam(cams: &CamMaps, class: usize) -> Option<EvidenceGrid> {
        cams.class(class).map(|v| EvidenceGrid { side: cams.side, values: v.to_vec() })
    }

    /// The grid minus its median cell. A CAM's uniform part (what every cell, background
    /// included, adds to the logit) says nothing about where the evidence is; what exceeds the
    /// typical cell does. The median cell is background, since the animal covers a minority of
    /// the frame.
    pub fn above_median(mut self) -> EvidenceGrid {
        let mut sorted = self.values.clone();
        sorted.sort_by(f32::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        self.values.iter_mut().for_each(|v| *v -= median);
        self
    }

    /// The largest positive value (0 when there is none).
    pub fn max_positive(&self) -> f32 {
        self.values.iter().copied().fold(0.0, f32::max)
    }

    /// Bilinear value at continuous cell coordinates (cell centres at `i + 0.5`), edge-clamped.
    fn sample(&self, cx: f64, cy: f64) -> f32 {
        let s = self.side;
        if s == 0 || self.values.len() != s * s {
            return 0.0;
        }
        let (x, y) = ((cx - 0.5).clamp(0.0, (s - 1) as f64), (cy - 0.5).clamp(0.0, (s - 1) as f64));
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(s - 1), (y0 + 1).min(s - 1));
        let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
        let v = |i: usize, j: usize| self.values[j * s + i];
        let top = v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx;
        let bottom = v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// A class's evidence grids for DV and LV (views the model did not see get none): each
/// view's CAM above its median cell. The one recipe `predict --saliency` and the viewer share.
pub fn class_grids(cams: &ByView<CamMaps>, views_used: ByView<bool>, class: usize) -> ByView<Option<EvidenceGrid>> {
    cams.as_ref()
        .zip(views_used)
        .map(|(cam, used)| if used { EvidenceGrid::from_cam(cam, class).map(EvidenceGrid::above_median) } else { None })
}

/// The evidence drawn at full strength for a set of grids (one scale across DV and LV, so their
/// colours compare).
pub fn shared_scale<'a>(grids: impl IntoIterator<Item = &'a Option<EvidenceGrid>>) -> f32 {
    grids.into_iter().flatten().map(EvidenceGrid::max_positive).fold(0.0, f32::max)
}

/// Positive evidence per pixel of the original image (or of a copy shrunk by `downscale`).
#[derive(Debug, Clone, PartialEq)]
pub struct SaliencyMap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major positive evidence (0 outside the model's field of view).
    pub values: Vec<f32>,
}

/// Carries a grid back to the original image through the preprocess transform, weighted by the
/// transform's animal mask when it has one (evidence is drawn on the animal only, fading at its
/// edge). `downscale` is original pixels per output pixel (1 for full size; the display's factor
/// for a shrunk copy).
pub fn to_original(grid: &EvidenceGrid, transform: &Transform, downscale: f64) -> SaliencyMap {
    let k = downscale.max(1e-6);
    let width = (f64::from(transform.original_width) / k).ceil().max(1.0) as u32;
    let height = (f64::from(transform.original_height) / k).ceil().max(1.0) as u32;
    let size = f64::from(transform.model_size);
    let cell = size / grid.side.max(1) as f64;
    let mut values = Vec::with_capacity(width as usize * height as usize);
    for j in 0..height {
        for i in 0..width {
            let (x, y) = ((f64::from(i) + 0.5) * k, (f64::from(j) + 0.5) * k);
            let (u, v) = transform.to_model(x, y);
            let inside = (0.0..size).contains(&u) && (0.0..size).contains(&v);
            let weight = transform.animal.as_ref().map_or(1.0, |a| a.at(u, v, transform.model_size));
            values.push(if inside { grid.sample(u / cell, v / cell).max(0.0) * weight } else { 0.0 });
        }
    }
    SaliencyMap { width, height, values }
}

/// A perceptual colormap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    /// Matplotlib's Viridis: perceptually uniform, purple to yellow, readable with red-green
    /// colour blindness (the default).
    #[default]
    Viridis,
    /// Google's Turbo: rainbow-like, high contrast, hard to read with red-green colour blindness.
    Turbo,
    /// Matplotlib's Inferno: perceptually uniform, black to yellow.
    Inferno,
}

impl Colormap {
    /// Every colormap, the default first.
    pub const ALL: [Colormap; 3] = [Colormap::Viridis, Colormap::Turbo, Colormap::Inferno];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Turbo => "turbo",
            Colormap::Inferno => "inferno",
        }
    }

    /// RGB (0..=1) at `t` in 0..=1 (polynomial fits of the published tables).
    pub fn rgb(self, t: f32) -> [f32; 3] {
        let t = t.clamp(0.0, 1.0);
        match self {
            Colormap::Viridis => {
                // Matt Zucker's sixth-order fit of Matplotlib's viridis.
                const R: [f32; 7] =
                    [0.277_727_33, 0.105_093_04, -0.330_861_83, -4.634_230_5, 6.228_27, 4.776_385, -5.435_456];
                const G: [f32; 7] =
                    [0.005_407_344_5, 1.404_613_5, 0.214_847_56, -5.799_101, 14.179_933, -13.745_145, 4.645_853];
                const B: [f32; 7] =
                    [0.334_099_8, 1.384_590_2, 0.095_095_16, -19.332_441, 56.690_55, -65.353_03, 26.312_435];
                [poly(&R, t), poly(&G, t), poly(&B, t)].map(|c| c.clamp(0.0, 1.0))
            }
            Colormap::Turbo => {
                // Anton Mikhailov's polynomial approximation (Google AI blog, 2019).
                const R: [f32; 6] = [0.135_721_38, 4.615_392_6, -42.660_32, 132.131_08, -152.942_4, 59.286_38];
                const G: [f32; 6] = [0.091_402_61, 2.194_188_4, 4.842_966_6, -14.185_033, 4.277_298_6, 2.829_566];
                const B: [f32; 6] = [0.106_673_3, 12.641_946, -60.582_05, 110.362_77, -89.903_11, 27.348_25];
                [poly(&R, t), poly(&G, t), poly(&B, t)].map(|c| c.clamp(0.0, 1.0))
            }
            Colormap::Inferno => {
                // Matt Zucker's sixth-order fit of Matplotlib's inferno.
                const R: [f32; 7] =
                    [0.000_218_94, 0.106_513_42, 11.602_493, -41.703_995, 77.162_94, -71.319_43, 25.131_126];
                const G: [f32; 7] =
                    [0.001_651_005, 0.563_956_4, -3.972_854, 17.436_398, -33.402_36, 32.626_064, -12.242_669];
                const B: [f32; 7] =
                    [-0.019_480_9, 3.932_712_4, -15.942_394, 44.354_145, -81.807_31, 73.209_52, -23.070_326];
                [poly(&R, t), poly(&G, t), poly(&B, t)].map(|c| c.clamp(0.0, 1.0))
            }
        }
    }
}

/// `c[0] + c[1] t + c[2] t^2 + ...` (Horner).
fn poly(c: &[f32], t: f32) -> f32 {
    c.iter().rev().fold(0.0, |acc, &k| acc * t + k)
}

/// How an overlay is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OverlayStyle {
    /// The colormap.
    pub colormap: Colormap,
    /// Opacity of the strongest evidence (0..=1).
    pub max_alpha: f32,
    /// Evidence below this fraction of the maximum is not drawn.
    pub floor: f32,
    /// Draw only contour lines (at the floor and halfway from it to the maximum), so the bone
    /// under the evidence stays visible.
    pub contour: bool,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        OverlayStyle { colormap: Colormap::default(), max_alpha: 0.7, floor: 0.15, contour: false }
    }
}

/// Colours a map as RGBA. `scale` is the evidence drawn at full strength (pass the maximum over
/// both views of a specimen so DV and LV are comparable); 0 draws nothing.
pub fn colorize(map: &SaliencyMap, scale: f32, style: &OverlayStyle) -> image::RgbaImage {
    if style.contour {
        return contours(map, scale, style);
    }
    let mut out = image::RgbaImage::new(map.width, map.height);
    for (p, &v) in out.pixels_mut().zip(&map.values) {
        let t = if scale > 0.0 { (v / scale).clamp(0.0, 1.0) } else { 0.0 };
        if t <= style.floor {
            continue;
        }
        let [r, g, b] = style.colormap.rgb(t);
        // Alpha ramps up from the floor, so the overlay fades in rather than starting at an edge.
        let a = ((t - style.floor) / (1.0 - style.floor).max(1e-6)).sqrt() * style.max_alpha;
        *p = image::Rgba([r, g, b, a].map(|c| (c * 255.0).round().clamp(0.0, 255.0) as u8));
    }
    out
}

/// Contour lines of a map at the floor and halfway from the floor to full strength, opaque, in
/// the colormap's colour of their level: a pixel is on a line when it is at or above the level
/// and a 4-neighbour is below it.
fn contours(map: &SaliencyMap, scale: f32, style: &OverlayStyle) -> image::RgbaImage {
    let (w, h) = (map.width as usize, map.height as usize);
    let mut out = image::RgbaImage::new(map.width, map.height);
    if scale <= 0.0 {
        return out;
    }
    let t = |x: usize, y: usize| map.values.get(y * w + x).map_or(0.0, |v| (v / scale).clamp(0.0, 1.0));
    let levels = [style.floor.max(1e-3), (1.0 + style.floor) / 2.0];
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (x, y) = (x as usize, y as usize);
        let here = t(x, y);
        let below = |level: f32| {
            (x == 0 || t(x - 1, y) < level)
                || (y == 0 || t(x, y - 1) < level)
                || (x + 1 >= w || t(x + 1, y) < level)
                || (y + 1 >= h || t(x, y + 1) < level)
        };
        // The higher level wins where both lines meet.
        if let Some(&level) = levels.iter().rev().find(|&&l| here >= l && below(l)) {
            let [r, g, b] = style.colormap.rgb(level.max(0.35));
            *p = image::Rgba([r, g, b, 1.0].map(|c| (c * 255.0).round().clamp(0.0, 255.0) as u8));
        }
    }
    out
}

/// Blends an RGBA overlay over an 8-bit gray picture of the same size.
pub fn composite(base: &image::GrayImage, overlay: &image::RgbaImage) -> image::RgbImage {
    let mut out = image::RgbImage::new(base.width(), base.height());
    for (x, y, p) in out.enumerate_pixels_mut() {
        let g = f32::from(base.get_pixel(x, y).0[0]);
        let [r, gg, b, a] = overlay.get_pixel_checked(x, y).map_or([0, 0, 0, 0], |o| o.0);
        let a = f32::from(a) / 255.0;
        *p = image::Rgb([r, gg, b].map(|c| (g * (1.0 - a) + f32::from(c) * a).round() as u8));
    }
    out
}

/// Occlusion sensitivity for models without CAM outputs: for each cell of a `grid x grid`
/// partition of one view's input, how much the class's logit drops when that cell is replaced by
/// background. Costs `grid * grid` model runs (batched).
pub fn occlusion(
    model: &mut Classifier,
    dv: &[f32],
    lv: &[f32],
    present: ByView<bool>,
    view: View,
    class: usize,
    grid: usize,
) -> Result<EvidenceGrid, ModelError> {
    let s = model.info.metadata.preprocess.size as usize;
    let bg = model.info.metadata.preprocess.background();
    let g = grid.clamp(1, s);
    let logit = |p: f32| {
        let p = p.clamp(1e-6, 1.0 - 1e-6);
        (p / (1.0 - p)).ln()
    };
    let base = model.predict(dv, lv, &[present])?;
    let reference = logit(base.first().and_then(|p| p.get(class)).copied().unwrap_or(0.5));
    let mut values = Vec::with_capacity(g * g);
    let cells: Vec<(usize, usize)> = (0..g).flat_map(|j| (0..g).map(move |i| (i, j))).collect();
    for chunk in cells.chunks(16) {
        let (mut bdv, mut blv) = (Vec::with_capacity(chunk.len() * s * s), Vec::with_capacity(chunk.len() * s * s));
        for &(i, j) in chunk {
            let mut x = if view == View::Dv { dv.to_vec() } else { lv.to_vec() };
            let (x0, x1, y0, y1) = (i * s / g, (i + 1) * s / g, j * s / g, (j + 1) * s / g);
            for y in y0..y1 {
                x[y * s + x0..y * s + x1].fill(bg);
            }
            if view == View::Dv {
                bdv.extend_from_slice(&x);
                blv.extend_from_slice(lv);
            } else {
                bdv.extend_from_slice(dv);
                blv.extend_from_slice(&x);
            }
        }
        let probs = model.predict(&bdv, &blv, &vec![present; chunk.len()])?;
        values.extend(probs.iter().map(|p| reference - logit(p.get(class).copied().unwrap_or(0.5))));
    }
    Ok(EvidenceGrid { side: g, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_runs_from_purple_to_yellow_and_contours_leave_the_inside_clear() {
        let near = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.03);
        // Matplotlib's viridis at 0, 0.5 and 1.
        assert!(near(Colormap::Viridis.rgb(0.0), [0.267, 0.005, 0.329]), "{:?}", Colormap::Viridis.rgb(0.0));
        assert!(near(Colormap::Viridis.rgb(0.5), [0.128, 0.567, 0.551]), "{:?}", Colormap::Viridis.rgb(0.5));
        assert!(near(Colormap::Viridis.rgb(1.0), [0.993, 0.906, 0.144]), "{:?}", Colormap::Viridis.rgb(1.0));
        // A disc of evidence: the contour is a ring, its inside and outside transparent.
        let (w, h) = (40u32, 40u32);
        let values = (0..w * h)
            .map(|k| {
                let (x, y) = ((k % w) as f32 - 20.0, (k / w) as f32 - 20.0);
                (1.0 - (x * x + y * y).sqrt() / 15.0).max(0.0)
            })
            .collect();
        let map = SaliencyMap { width: w, height: h, values };
        let style = OverlayStyle { contour: true, floor: 0.2, ..OverlayStyle::default() };
        let img = colorize(&map, 1.0, &style);
        let alpha = |x: u32, y: u32| img.get_pixel(x, y).0[3];
        assert_eq!(alpha(20, 20), 0, "the centre stays clear");
        assert_eq!(alpha(0, 0), 0, "outside stays clear");
        // The floor's line at radius 12 (1 - 12/15 = 0.2), the halfway line (0.6) at radius 6.
        let on_ring = (0..w).filter(|&x| alpha(x, 20) == 255).collect::<Vec<_>>();
        let has = |r: std::ops::RangeInclusive<u32>| on_ring.iter().any(|x| r.contains(x));
        assert!(has(8..=9) && has(31..=32), "the floor's line: {on_ring:?}");
        assert!(has(13..=14) && has(26..=27), "the halfway line: {on_ring:?}");
        assert!(on_ring.len() <= 8, "lines, not a fill: {on_ring:?}");
    }

    fn identity(size: u32, w: u32, h: u32, scale: f64, tx: f64, ty: f64) -> Transform {
        Transform {
            a: scale,
            b: 0.0,
            c: 0.0,
            d: scale,
            tx,
            ty,
            model_size: size,
            original_width: w,
            original_height: h,
            animal: None,
        }
    }

    #[test]
    fn evidence_off_the_animal_is_not_drawn() {
        // Evidence everywhere; the animal is the left half of the model input (original x
        // 100..164 of the 100..228 the input covers).
        let grid = EvidenceGrid { side: 4, values: vec![1.0; 16] };
        let t = identity(64, 300, 240, 2.0, 100.0, 50.0);
        let weights: Vec<f32> = (0..64 * 64).map(|i| if i % 64 < 32 { 1.0 } else { 0.0 }).collect();
        let masked = Transform { animal: crate::imaging::AnimalMask::from_weights(&weights, 64), ..t.clone() };
        let (plain, drawn) = (to_original(&grid, &t, 1.0), to_original(&grid, &masked, 1.0));
        let at = |m: &SaliencyMap, x: usize| m.values[100 * m.width as usize + x];
        assert!(at(&plain, 200) > 0.9 && at(&plain, 120) > 0.9);
        assert!(at(&drawn, 120) > 0.9, "on the animal: {}", at(&drawn, 120));
        assert_eq!(at(&drawn, 200), 0.0, "off the animal");
    }

    #[test]
    fn a_hot_cell_lands_where_the_transform_says() {
        // 4x4 grid over a 64 px model input; the input covers original x 100..228, y 50..178.
        let mut values = vec![0.0; 16];
        values[2 * 4 + 1] = 1.0; // cell (1, 2): model pixels 16..32 x 32..48
        let grid = EvidenceGrid { side: 4, values };
        let t = identity(64, 300, 240, 2.0, 100.0, 50.0);
        let map = to_original(&grid, &t, 1.0);
        assert_eq!((map.width, map.height), (300, 240));
        let (mut best, mut at) = (0.0, (0, 0));
        for (k, v) in map.values.iter().enumerate() {
            if *v > best {
                best = *v;
                at = (k as u32 % map.width, k as u32 / map.width);
            }
        }
        // Cell centre (24, 40) in the model is (148, 130) in the original.
        assert!((at.0 as i32 - 148).abs() <= 2 && (at.1 as i32 - 130).abs() <= 2, "{at:?}");
        // Outside the model's field of view there is no evidence.
        assert_eq!(map.values[10 * 300 + 10], 0.0);
        // A shrunk copy puts it at the same place in its own pixels.
        let half = to_original(&grid, &t, 2.0);
        assert_eq!((half.width, half.height), (150, 120));
        let k = half.values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |x| x.0);
        assert!(((k % 150) as i32 - 74).abs() <= 2 && ((k / 150) as i32 - 65).abs() <= 2);
    }

    #[test]
    fn the_uniform_part_of_a_map_is_not_evidence() {
        let grid = EvidenceGrid { side: 3, values: vec![2.0, 2.0, 2.0, 2.0, 5.0, 2.0, 2.0, 2.0, 1.0] }.above_median();
        assert_eq!(grid.values[4], 3.0);
        assert_eq!(grid.values[0], 0.0);
        assert_eq!(grid.max_positive(), 3.0);
    }

    #[test]
    fn rotation_is_followed() {
        // Model axes rotated 90 degrees: model u runs down the original, model v runs left.
        let mut values = vec![0.0; 4];
        values[1] = 1.0; // cell (1, 0): model (48, 16) in a 64 px input
        let grid = EvidenceGrid { side: 2, values };
        let t = Transform {
            a: 0.0,
            b: -1.0,
            c: 1.0,
            d: 0.0,
            tx: 64.0,
            ty: 0.0,
            model_size: 64,
            original_width: 64,
            original_height: 64,
            animal: None,
        };
        let (x, y) = t.to_original(48.0, 16.0);
        let map = to_original(&grid, &t, 1.0);
        let v = |x: f64, y: f64| map.values[y as usize * 64 + x as usize];
        assert!(v(x, y) > 0.9 && v(x, y) > v(64.0 - x, 64.0 - y) + 0.5, "{x} {y}");
    }

    #[test]
    fn colormaps_run_dark_to_bright_and_alpha_follows_evidence() {
        for cm in [Colormap::Turbo, Colormap::Inferno] {
            let lum = |t: f32| {
                let [r, g, b] = cm.rgb(t);
                0.2126 * r + 0.7152 * g + 0.0722 * b
            };
            assert!(lum(0.0) < 0.15 && lum(0.5) > lum(0.0) + 0.3, "{cm:?}");
        }
        let [r, g, b] = Colormap::Turbo.rgb(1.0);
        assert!(r > 0.4 && g < 0.1 && b < 0.1, "turbo ends dark red");
        let [r, g, b] = Colormap::Inferno.rgb(1.0);
        assert!(r > 0.95 && g > 0.95 && b < 0.75, "inferno ends pale yellow");
        let map = SaliencyMap { width: 3, height: 1, values: vec![0.0, 0.5, 2.0] };
        let img = colorize(&map, 2.0, &OverlayStyle::default());
        let a: Vec<u8> = img.pixels().map(|p| p.0[3]).collect();
        assert_eq!(a[0], 0);
        assert!(a[1] > 0 && a[1] < a[2] && a[2] == (0.7f32 * 255.0).round() as u8, "{a:?}");
        assert!(colorize(&map, 0.0, &OverlayStyle::default()).pixels().all(|p| p.0[3] == 0));
        let base = image::GrayImage::from_pixel(3, 1, image::Luma([100]));
        let c = composite(&base, &img);
        assert_eq!(c.get_pixel(0, 0).0, [100, 100, 100]);
        assert_ne!(c.get_pixel(2, 0).0, [100, 100, 100]);
    }
}
