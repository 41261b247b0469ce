//! The affine map between model input coordinates and original image pixels.

use serde::{Deserialize, Serialize};

/// Maps continuous model-input coordinates `(u, v)` to original-image coordinates `(x, y)`:
/// `x = a*u + b*v + tx`, `y = c*u + d*v + ty`. Pixel `(i, j)` covers `[i, i+1) x [j, j+1)` in
/// both spaces, so its centre is `(i + 0.5, j + 0.5)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Where the animal is in the model input (none: the whole input is the film, as for
    /// models without body-only preprocessing and results stored before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animal: Option<AnimalMask>,
}

/// [`Transform::to_model`] for an affine part kept alone ([`Transform::affine`]): original
/// coordinates to model coordinates, NaN when the map is singular.
pub fn affine_to_model([a, b, c, d, tx, ty]: [f64; 6], x: f64, y: f64) -> (f64, f64) {
    let det = a * d - b * c;
    if det.abs() < f64::EPSILON {
        return (f64::NAN, f64::NAN);
    }
    let (dx, dy) = (x - tx, y - ty);
    ((d * dx - b * dy) / det, (-c * dx + a * dy) / det)
}

impl Transform {
    /// Model coordinates to original coordinates.
    pub fn to_original(&self, u: f64, v: f64) -> (f64, f64) {
        (self.a * u + self.b * v + self.tx, self.c * u + self.d * v + self.ty)
    }

    /// Original coordinates to model coordinates (NaN when the map is singular).
    pub fn to_model(&self, x: f64, y: f64) -> (f64, f64) {
        affine_to_model(self.affine(), x, y)
    }

    /// The affine part alone, `[a, b, c, d, tx, ty]` (what the input cache keeps per image).
    pub fn affine(&self) -> [f64; 6] {
        [self.a, self.b, self.c, self.d, self.tx, self.ty]
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

/// The animal's weight over the model input, coarsely: `side x side` cells covering the square
/// input, each 0 (blanked by preprocessing: air, rulers, text, a second animal) to 1 (the
/// animal), in 16 steps; between the two at the animal's feathered edge. Overlays multiply by
/// it, so evidence is drawn on the animal only and fades at its edge. Stored as one hex digit
/// per cell, row-major (1 KiB for 32 x 32).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MaskText", into = "MaskText")]
pub struct AnimalMask {
    side: usize,
    /// 0..=15 per cell.
    levels: Vec<u8>,
}

/// Cells per side of an [`AnimalMask`] (at most; fewer for inputs under 32 px).
pub const ANIMAL_MASK_SIDE: usize = 32;

impl AnimalMask {
    /// Reduces per-pixel weights (0..=1, `size * size`, row-major) to the mask by block
    /// averages; `None` when the counts do not match.
    pub fn from_weights(weights: &[f32], size: usize) -> Option<AnimalMask> {
        if size == 0 || weights.len() != size * size {
            return None;
        }
        let (cells, side, _) = super::preprocess::box_reduce(weights, size, size, size.div_ceil(ANIMAL_MASK_SIDE));
        let levels = cells.iter().map(|&m| (m.clamp(0.0, 1.0) * 15.0).round() as u8).collect();
        Some(AnimalMask { side, levels })
    }

    /// Cells per side.
    pub fn side(&self) -> usize {
        self.side
    }

    /// The weight (0..=1) at model coordinates `(u, v)` of an input `model_size` pixels wide:
    /// bilinear between cell centres, clamped at the edges.
    pub fn at(&self, u: f64, v: f64, model_size: u32) -> f32 {
        let s = self.side;
        let cell = f64::from(model_size) / s as f64;
        let (x, y) = ((u / cell - 0.5).clamp(0.0, (s - 1) as f64), (v / cell - 0.5).clamp(0.0, (s - 1) as f64));
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(s - 1), (y0 + 1).min(s - 1));
        let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
        let level = |i: usize, j: usize| f32::from(self.levels[j * s + i]) / 15.0;
        let top = level(x0, y0) * (1.0 - fx) + level(x1, y0) * fx;
        let bottom = level(x0, y1) * (1.0 - fx) + level(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// How an [`AnimalMask`] is stored: its side and one hex digit per cell.
#[derive(Serialize, Deserialize)]
struct MaskText {
    side: usize,
    cells: String,
}

impl From<AnimalMask> for MaskText {
    fn from(m: AnimalMask) -> MaskText {
        let cells = m.levels.iter().map(|&l| char::from_digit(u32::from(l.min(15)), 16).unwrap_or('0')).collect();
        MaskText { side: m.side, cells }
    }
}

impl TryFrom<MaskText> for AnimalMask {
    type Error = String;

    fn try_from(t: MaskText) -> Result<AnimalMask, String> {
        if t.side == 0 || t.side > 4096 || t.cells.len() != t.side * t.side {
            return Err(format!(
                "an animal mask of side {} needs {} cells, not {}",
                t.side,
                t.side * t.side,
                t.cells.len()
            ));
        }
        let levels = t
            .cells
            .chars()
            .map(|c| {
                c.to_digit(16).map(|d| d as u8).ok_or_else(|| format!("{c:?} is not a hex digit in an animal mask"))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        Ok(AnimalMask { side: t.side, levels })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn animal_mask_round_trips_and_refuses_a_damaged_one() {
        let weights: Vec<f32> = (0..128 * 128).map(|i| if (i % 128) < 64 { 1.0 } else { 0.0 }).collect();
        let mask = AnimalMask::from_weights(&weights, 128).unwrap();
        assert_eq!(mask.side(), 32);
        assert!((mask.at(10.0, 10.0, 128) - 1.0).abs() < 1e-6 && mask.at(120.0, 10.0, 128) == 0.0);
        let json = serde_json::to_string(&mask).unwrap();
        assert_eq!(json.len(), r#"{"side":32,"cells":""}"#.len() + 32 * 32, "one hex digit a cell");
        assert_eq!(serde_json::from_str::<AnimalMask>(&json).unwrap(), mask);
        for bad in [r#"{"side":2,"cells":"0f0"}"#, r#"{"side":2,"cells":"0fxz"}"#, r#"{"side":0,"cells":""}"#] {
            assert!(serde_json::from_str::<AnimalMask>(bad).is_err(), "{bad}");
        }
        // Results stored before the mask existed read as having none.
        let t: Transform = serde_json::from_str(
            r#"{"a":1,"b":0,"c":0,"d":1,"tx":0,"ty":0,"model_size":8,"original_width":8,"original_height":8}"#,
        )
        .unwrap();
        assert!(t.animal.is_none());
        assert_eq!(AnimalMask::from_weights(&[1.0; 3], 2), None);
    }
}
