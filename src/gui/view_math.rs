//! Display geometry of one image panel: orientation (quarter turns and a mirror), zoom relative
//! to "fit" and a normalised centre, and the mappings between image pixels, the oriented image
//! and the screen. Plain maths, so the saliency overlay and the pixel readout can be tested to
//! land on the same image pixel under every rotation, flip, zoom and pan.

use egui::{Pos2, Rect, Vec2, pos2, vec2};

/// How an image is turned for display (the file is never changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Orientation {
    /// Clockwise quarter turns, 0..4.
    pub quarter_turns: u8,
    /// Mirror left to right, applied after the rotation.
    pub flip: bool,
}

impl Orientation {
    /// Size after orientation.
    pub fn oriented_size(self, size: Vec2) -> Vec2 {
        if self.quarter_turns % 2 == 1 { vec2(size.y, size.x) } else { size }
    }

    /// A point of the image (pixels, `size` the image size) in oriented coordinates.
    pub fn to_oriented(self, p: Pos2, size: Vec2) -> Pos2 {
        let (w, h) = (size.x, size.y);
        let q = match self.quarter_turns % 4 {
            0 => p,
            1 => pos2(h - p.y, p.x),
            2 => pos2(w - p.x, h - p.y),
            _ => pos2(p.y, w - p.x),
        };
        if self.flip { pos2(self.oriented_size(size).x - q.x, q.y) } else { q }
    }

    /// The inverse of [`Orientation::to_oriented`].
    pub fn from_oriented(self, q: Pos2, size: Vec2) -> Pos2 {
        let (w, h) = (size.x, size.y);
        let q = if self.flip { pos2(self.oriented_size(size).x - q.x, q.y) } else { q };
        match self.quarter_turns % 4 {
            0 => q,
            1 => pos2(q.y, h - q.x),
            2 => pos2(w - q.x, h - q.y),
            _ => pos2(w - q.y, q.x),
        }
    }

    /// Texture coordinates (0..1) for the oriented quad's corners: top-left, top-right,
    /// bottom-right, bottom-left.
    pub fn corner_uvs(self) -> [Pos2; 4] {
        let unit = vec2(1.0, 1.0);
        let corners = [pos2(0.0, 0.0), pos2(1.0, 0.0), pos2(1.0, 1.0), pos2(0.0, 1.0)];
        let o = self.oriented_size(unit);
        corners.map(|c| self.from_oriented(pos2(c.x * o.x, c.y * o.y), unit))
    }
}

/// Zoom and pan of a panel: `zoom` multiplies the fit scale; `center` is the oriented image
/// point (0..1 of each side) at the panel's centre. Relative values let linked DV and LV
/// panels of different sizes zoom and pan together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanZoom {
    /// 1 = fit.
    pub zoom: f32,
    /// Normalised oriented image point at the panel centre.
    pub center: Vec2,
}

impl Default for PanZoom {
    fn default() -> Self {
        PanZoom { zoom: 1.0, center: vec2(0.5, 0.5) }
    }
}

/// Gap between film panels, in points.
pub const PANEL_GAP: f32 = 6.0;

/// `n` film panels in `full`: side by side, or stacked when that fits the films (`sizes`, the
/// oriented sizes of those known) at a larger scale. Stacked wins only by a clear margin (10 %),
/// so the layout does not flip on small changes.
pub fn arrange(full: Rect, n: usize, sizes: &[Vec2]) -> Vec<Rect> {
    let n = n.max(1);
    let k = n as f32;
    let side = vec2(((full.width() - PANEL_GAP * (k - 1.0)) / k).max(1.0), full.height());
    let stack = vec2(full.width(), ((full.height() - PANEL_GAP * (k - 1.0)) / k).max(1.0));
    let worst = |panel: Vec2| sizes.iter().map(|&s| fit_scale(panel, s)).fold(f32::INFINITY, f32::min);
    let stacked = !sizes.is_empty() && worst(stack) > 1.1 * worst(side);
    (0..n)
        .map(|i| {
            let i = i as f32;
            if stacked {
                Rect::from_min_size(pos2(full.min.x, full.min.y + i * (stack.y + PANEL_GAP)), stack)
            } else {
                Rect::from_min_size(pos2(full.min.x + i * (side.x + PANEL_GAP), full.min.y), side)
            }
        })
        .collect()
}

/// Zoom limits relative to fit.
pub const ZOOM_RANGE: std::ops::RangeInclusive<f32> = 0.1..=64.0;

/// The mapping between an oriented image of `size` pixels and a screen `rect`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// The panel.
    pub rect: Rect,
    /// Oriented image size in pixels.
    pub size: Vec2,
    /// Screen points per image pixel.
    pub scale: f32,
    /// Screen position of the oriented image's origin.
    pub origin: Pos2,
}

impl Placement {
    /// Where an oriented image lands in `rect` under `pz`.
    pub fn new(rect: Rect, size: Vec2, pz: PanZoom) -> Placement {
        let fit = fit_scale(rect.size(), size);
        let scale = fit * pz.zoom;
        let c = vec2(pz.center.x * size.x, pz.center.y * size.y);
        let origin = rect.center() - c * scale;
        Placement { rect, size, scale, origin }
    }

    /// The oriented image's rectangle on screen.
    pub fn image_rect(&self) -> Rect {
        Rect::from_min_size(self.origin, self.size * self.scale)
    }

    /// Screen point to oriented image pixel.
    pub fn to_image(&self, screen: Pos2) -> Pos2 {
        pos2((screen.x - self.origin.x) / self.scale, (screen.y - self.origin.y) / self.scale)
    }

    /// Oriented image pixel to screen point.
    pub fn to_screen(&self, p: Pos2) -> Pos2 {
        self.origin + p.to_vec2() * self.scale
    }
}

/// Screen points per pixel that fit `image` inside `panel`.
pub fn fit_scale(panel: Vec2, image: Vec2) -> f32 {
    if image.x <= 0.0 || image.y <= 0.0 {
        return 1.0;
    }
    (panel.x / image.x).min(panel.y / image.y).max(1e-6)
}

impl PanZoom {
    /// Pans by a screen delta.
    pub fn pan(&mut self, delta: Vec2, placement: &Placement) {
        let s = placement.scale.max(1e-6);
        let (w, h) = (placement.size.x.max(1.0), placement.size.y.max(1.0));
        self.center -= vec2(delta.x / s / w, delta.y / s / h);
        self.center = self.center.clamp(vec2(0.0, 0.0), vec2(1.0, 1.0));
    }

    /// Zooms by `factor` keeping the image point under `anchor` (screen) where it is.
    pub fn zoom_about(&mut self, factor: f32, anchor: Pos2, placement: &Placement) {
        let new_zoom = (self.zoom * factor).clamp(*ZOOM_RANGE.start(), *ZOOM_RANGE.end());
        let k = new_zoom / self.zoom;
        if !(k.is_finite() && k > 0.0) {
            return;
        }
        let under = placement.to_image(anchor);
        let (w, h) = (placement.size.x.max(1.0), placement.size.y.max(1.0));
        let c = vec2(self.center.x * w, self.center.y * h);
        // Keep `under` fixed: new centre = under - (under - centre) / k.
        let u = under.to_vec2();
        let nc = u - (u - c) / k;
        self.zoom = new_zoom;
        self.center = vec2(nc.x / w, nc.y / h).clamp(vec2(0.0, 0.0), vec2(1.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_round_trips_and_uvs_match_points() {
        let size = vec2(40.0, 30.0);
        for quarter_turns in 0..4 {
            for flip in [false, true] {
                let o = Orientation { quarter_turns, flip };
                let p = pos2(7.0, 3.0);
                let q = o.to_oriented(p, size);
                let back = o.from_oriented(q, size);
                assert!((back - p).length() < 1e-4, "{o:?}");
                // The texture coordinate at the oriented point's relative position is p / size.
                let os = o.oriented_size(size);
                let [tl, tr, br, bl] = o.corner_uvs();
                let (a, b) = (q.x / os.x, q.y / os.y);
                let top = tl.to_vec2() * (1.0 - a) + tr.to_vec2() * a;
                let bottom = bl.to_vec2() * (1.0 - a) + br.to_vec2() * a;
                let uv = top * (1.0 - b) + bottom * b;
                assert!((uv - vec2(p.x / size.x, p.y / size.y)).length() < 1e-5, "{o:?}");
            }
        }
        let o = Orientation { quarter_turns: 1, flip: false };
        assert_eq!(o.oriented_size(size), vec2(30.0, 40.0));
        assert_eq!(o.to_oriented(pos2(0.0, 0.0), size), pos2(30.0, 0.0));
    }

    #[test]
    fn zoom_keeps_the_anchor_and_pan_moves_the_image() {
        let rect = Rect::from_min_size(pos2(100.0, 50.0), vec2(400.0, 300.0));
        let size = vec2(800.0, 600.0);
        let mut pz = PanZoom::default();
        let pl = Placement::new(rect, size, pz);
        assert!((pl.scale - 0.5).abs() < 1e-6 && pl.image_rect() == rect);
        let anchor = pos2(180.0, 120.0);
        let under = pl.to_image(anchor);
        pz.zoom_about(4.0, anchor, &pl);
        let pl2 = Placement::new(rect, size, pz);
        assert!((pl2.to_screen(under) - anchor).length() < 1e-3);
        let before = pl2.to_screen(pos2(400.0, 300.0));
        pz.pan(vec2(10.0, -5.0), &pl2);
        let after = Placement::new(rect, size, pz).to_screen(pos2(400.0, 300.0));
        assert!((after - before - vec2(10.0, -5.0)).length() < 1e-3);
    }

    #[test]
    fn landscape_films_in_a_wide_pane_stack_and_portrait_ones_sit_side_by_side() {
        let wide = Rect::from_min_size(pos2(0.0, 0.0), vec2(800.0, 600.0));
        let stacked = arrange(wide, 2, &[vec2(1000.0, 600.0), vec2(1000.0, 600.0)]);
        assert_eq!(stacked[0].width(), 800.0);
        assert!(stacked[1].min.y > stacked[0].max.y);
        let side = arrange(wide, 2, &[vec2(500.0, 1000.0), vec2(500.0, 1000.0)]);
        assert!(side[1].min.x > side[0].max.x && side[0].height() == 600.0);
        // Unknown sizes (still loading): side by side.
        assert!(arrange(wide, 2, &[])[1].min.x > 0.0);
    }
}
