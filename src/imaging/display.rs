//! Turning a decoded radiograph into an 8-bit picture for people (overlays, the viewer).

use super::GrayImage16;

/// A display window over the original values: `center` ± `width`/2 maps to black..white.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// The value shown mid-grey.
    pub center: f64,
    /// The range of values spread over black..white (at least 1).
    pub width: f64,
}

impl Window {
    /// The window spanning the `lo`..`hi` quantiles (0..=1) of `image`'s values.
    pub fn from_percentiles(image: &GrayImage16, lo: f64, hi: f64) -> Window {
        let hist = image.histogram();
        let a = f64::from(image.percentile(&hist, lo));
        let b = f64::from(image.percentile(&hist, hi)).max(a + 1.0);
        Window { center: (a + b) / 2.0, width: b - a }
    }

    /// The full range of the image's bit depth.
    pub fn full(image: &GrayImage16) -> Window {
        let max = f64::from(image.max_value());
        Window { center: max / 2.0, width: max.max(1.0) }
    }

    /// The 8-bit level of `value` (inverted when `invert`).
    pub fn level(&self, value: f64, invert: bool) -> u8 {
        let width = self.width.max(1.0);
        let t = ((value - (self.center - width / 2.0)) / width).clamp(0.0, 1.0);
        let t = if invert { 1.0 - t } else { t };
        (t * 255.0).round() as u8
    }

    /// A lookup table from every value `0..=max` to its 8-bit level: one pass per window
    /// change, then one lookup per pixel.
    pub fn lut(&self, max: u16, invert: bool) -> Vec<u8> {
        (0..=max).map(|v| self.level(f64::from(v), invert)).collect()
    }
}

/// `image` shrunk by area averaging so that neither side exceeds `max_side`, at its original
/// bit depth (for windowing later). Returns the image and the factor from its pixels to the
/// original's.
pub fn shrink16(image: &GrayImage16, max_side: u32) -> (GrayImage16, f64) {
    let (w, h) = (image.width.max(1), image.height.max(1));
    let k = w.max(h).div_ceil(max_side.max(1)).max(1);
    if k == 1 {
        return (image.clone(), 1.0);
    }
    let (ow, oh) = (w.div_ceil(k), h.div_ceil(k));
    let mut pixels = Vec::with_capacity(ow as usize * oh as usize);
    for oy in 0..oh {
        for ox in 0..ow {
            let (mut sum, mut n) = (0u64, 0u64);
            for y in oy * k..((oy + 1) * k).min(image.height) {
                let row = y as usize * image.width as usize;
                let (x0, x1) = ((ox * k) as usize, (((ox + 1) * k).min(image.width)) as usize);
                if let Some(px) = image.pixels.get(row + x0..row + x1) {
                    sum += px.iter().map(|&v| u64::from(v)).sum::<u64>();
                    n += px.len() as u64;
                }
            }
            pixels.push((sum + n / 2).checked_div(n).unwrap_or(0) as u16);
        }
    }
    let small = GrayImage16 { width: ow, height: oh, bits: image.bits, pixels, format: image.format };
    (small, f64::from(k))
}

/// An 8-bit rendering of `image`, windowed to its 0.5th..99.5th percentiles and shrunk (area
/// average) so that neither side exceeds `max_side`. Returns the picture and the factor from
/// picture pixels to original pixels. The original's polarity is kept: a phenotyper sees the
/// film as it was taken.
pub fn display_gray(image: &GrayImage16, max_side: u32) -> (image::GrayImage, f64) {
    let window = Window::from_percentiles(image, 0.005, 0.995);
    let (small, k) = shrink16(image, max_side);
    let lut = window.lut(small.max_value(), false);
    let px = small.pixels.iter().map(|&v| lut.get(usize::from(v)).copied().unwrap_or(255)).collect();
    let out = image::GrayImage::from_raw(small.width, small.height, px).unwrap_or_default();
    (out, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::FileFormat;

    #[test]
    fn shrinks_to_the_limit_and_windows_the_range() {
        let (w, h) = (300u32, 120u32);
        let pixels: Vec<u16> = (0..w * h).map(|i| 1000 + (i % w) as u16 * 10).collect();
        let Some(img) = GrayImage16::new(w, h, 16, pixels, FileFormat::Png) else { panic!("image") };
        let (d, k) = display_gray(&img, 100);
        assert_eq!((d.width(), d.height(), k), (100, 40, 3.0));
        assert!(d.get_pixel(0, 0).0[0] < 5 && d.get_pixel(99, 0).0[0] > 250);
        let (same, k1) = display_gray(&img, 4096);
        assert_eq!((same.width(), same.height(), k1), (300, 120, 1.0));
    }

    #[test]
    fn window_levels_and_inverts() {
        let w = Window { center: 1000.0, width: 200.0 };
        assert_eq!((w.level(900.0, false), w.level(1000.0, false), w.level(1100.0, false)), (0, 128, 255));
        assert_eq!((w.level(0.0, true), w.level(5000.0, true)), (255, 0));
        let lut = w.lut(4095, false);
        assert_eq!((lut.len(), lut[899], lut[1101]), (4096, 0, 255));
    }

    #[test]
    fn shrink16_averages_blocks_at_full_depth() {
        let Some(img) = GrayImage16::new(4, 2, 14, vec![0, 2, 10, 20, 4, 6, 30, 40], FileFormat::Png) else {
            panic!("image")
        };
        let (s, k) = shrink16(&img, 2);
        assert_eq!((s.width, s.height, s.bits, k), (2, 1, 14, 2.0));
        assert_eq!(s.pixels, vec![3, 25]);
    }
}
