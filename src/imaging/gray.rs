//! A grayscale image at its original bit depth.

use serde::{Deserialize, Serialize};

use super::FileFormat;

/// A single-channel image with up to 16 significant bits per pixel, row-major.
///
/// Values keep the source's scale (an 8-bit JPEG holds 0..=255, a 14-bit detector 0..=16383) so
/// display windowing works on the original data; higher values are brighter (MONOCHROME2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrayImage16 {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Significant bits per pixel of the source (8..=16).
    pub bits: u8,
    /// Pixels, `width * height` values, row-major.
    pub pixels: Vec<u16>,
    /// The container the image came from.
    pub format: FileFormat,
}

impl GrayImage16 {
    /// Creates an image; `None` if the pixel count does not match the size.
    pub fn new(width: u32, height: u32, bits: u8, pixels: Vec<u16>, format: FileFormat) -> Option<Self> {
        (pixels.len() as u64 == u64::from(width) * u64::from(height)).then_some(GrayImage16 {
            width,
            height,
            bits,
            pixels,
            format,
        })
    }

    /// The largest value the bit depth allows.
    pub fn max_value(&self) -> u16 {
        if self.bits >= 16 { u16::MAX } else { (1u16 << self.bits) - 1 }
    }

    /// The pixel at (x, y), if inside.
    pub fn get(&self, x: u32, y: u32) -> Option<u16> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.pixels.get(y as usize * self.width as usize + x as usize).copied()
    }

    /// How many pixels hold each level, from 0 to the highest present (values above the bit
    /// depth, from a damaged or mislabelled file, keep their own count).
    pub fn level_counts(&self) -> Vec<u32> {
        let top = self.pixels.iter().copied().max().unwrap_or(0);
        let mut counts = vec![0u32; usize::from(top) + 1];
        for &v in &self.pixels {
            counts[usize::from(v)] += 1;
        }
        counts
    }

    /// A histogram with one bin per possible value (`max_value() + 1` bins); values above the
    /// bit depth count in the last bin.
    pub fn histogram(&self) -> Vec<u32> {
        self.histogram_from(&self.level_counts())
    }

    /// [`GrayImage16::histogram`] from [`GrayImage16::level_counts`] already taken.
    pub fn histogram_from(&self, counts: &[u32]) -> Vec<u32> {
        let bins = usize::from(self.max_value()) + 1;
        let mut h = vec![0u32; bins];
        for (v, &c) in counts.iter().enumerate() {
            h[v.min(bins - 1)] += c;
        }
        h
    }

    /// The value below which `q` (0..=1) of the pixels lie, from the histogram.
    pub fn percentile(&self, histogram: &[u32], q: f64) -> u16 {
        let total: u64 = histogram.iter().map(|&c| u64::from(c)).sum();
        let target = (q.clamp(0.0, 1.0) * total as f64).ceil() as u64;
        let mut acc = 0u64;
        for (v, &c) in histogram.iter().enumerate() {
            acc += u64::from(c);
            if acc >= target.max(1) {
                return v as u16;
            }
        }
        self.max_value()
    }
}
