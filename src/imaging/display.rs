//! Turning a decoded radiograph into an 8-bit picture for people (overlays, the viewer).

use super::GrayImage16;

/// An 8-bit rendering of `image`, windowed to its 0.5th..99.5th percentiles and shrunk (area
/// average) so that neither side exceeds `max_side`. Returns the picture and the factor from
/// picture pixels to original pixels. The original's polarity is kept: a phenotyper sees the
/// film as it was taken.
pub fn display_gray(image: &GrayImage16, max_side: u32) -> (image::GrayImage, f64) {
    let hist = image.histogram();
    let lo = f64::from(image.percentile(&hist, 0.005));
    let hi = f64::from(image.percentile(&hist, 0.995)).max(lo + 1.0);
    let (w, h) = (image.width.max(1), image.height.max(1));
    let k = w.max(h).div_ceil(max_side.max(1)).max(1);
    let (ow, oh) = (w.div_ceil(k), h.div_ceil(k));
    let mut out = image::GrayImage::new(ow, oh);
    for oy in 0..oh {
        for ox in 0..ow {
            let (mut sum, mut n) = (0.0f64, 0u32);
            for y in oy * k..((oy + 1) * k).min(h) {
                for x in ox * k..((ox + 1) * k).min(w) {
                    if let Some(v) = image.get(x, y) {
                        sum += f64::from(v);
                        n += 1;
                    }
                }
            }
            let v = if n == 0 { lo } else { sum / f64::from(n) };
            out.put_pixel(ox, oy, image::Luma([(((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8]));
        }
    }
    (out, f64::from(k))
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
}
