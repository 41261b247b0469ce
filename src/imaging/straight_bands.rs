//! Straight bright bands on the analysis grid: a ruler's bar, or a film's straight edge strip,
//! found even where the animal touches it, so that it can be told from the animal.
//!
//! Written by hand: it is two passes of run lengths over a boolean grid, specific to how
//! [`super::film`] reads a film; no imaging crate offers "long thin axis-aligned band".

/// The thickest band, as a fraction of the grid's longer side (a ruler's bar with its blurred
/// edges is 3-5 %, a trunk 15 % or more).
const MAX_THICKNESS: f64 = 1.0 / 16.0;
/// The shortest band, as a fraction of the grid's longer side: an animal's straight parts (a
/// tail held straight along a row, a limb) are shorter, or not aligned with the grid so long.
const MIN_LENGTH: f64 = 0.35;

/// The cells of `mask` (the film above the animal's half threshold, `w x h`, row-major) that lie
/// on a straight band along a row or a column: a stretch of at least [`MIN_LENGTH`] of the grid
/// whose every cross-section (the mask's run across it) is at most [`MAX_THICKNESS`] thick and
/// holds a `bright` cell. Where something thicker touches the band (the animal against a
/// ruler), the cross-sections there are thick and stay out: the band stops at the contact.
///
/// Only axis-aligned bands are found: rulers and film edges lie along the film's edges.
pub(super) fn straight_bands(mask: &[bool], bright: &[bool], w: usize, h: usize) -> Vec<bool> {
    if mask.len() != w * h || bright.len() != w * h || w == 0 || h == 0 {
        return vec![false; mask.len()];
    }
    let side = w.max(h) as f64;
    let limits = ((side * MAX_THICKNESS).ceil() as usize, (side * MIN_LENGTH).ceil() as usize);
    let mut band = along_rows(mask, bright, w, h, limits);
    // Along the columns: the same on the transposed grid.
    let (tm, tb) = (transpose(mask, w, h), transpose(bright, w, h));
    let down = transpose(&along_rows(&tm, &tb, h, w, limits), h, w);
    band.iter_mut().zip(down).for_each(|(b, d)| *b |= d);
    band
}

/// The bands along rows: runs along a row, at least `shortest` long, of cells whose column run
/// of `mask` is at most `thickest` long and holds a `bright` cell.
fn along_rows(mask: &[bool], bright: &[bool], w: usize, h: usize, (thickest, shortest): (usize, usize)) -> Vec<bool> {
    let mut thin = vec![false; mask.len()];
    for x in 0..w {
        let mut y = 0;
        while y < h {
            let start = y;
            let mut lit = false;
            while y < h && mask[y * w + x] {
                lit |= bright[y * w + x];
                y += 1;
            }
            if y == start {
                y += 1;
            } else if y - start <= thickest && lit {
                (start..y).for_each(|k| thin[k * w + x] = true);
            }
        }
    }
    let mut band = vec![false; mask.len()];
    for (row_thin, row_band) in thin.chunks_exact(w).zip(band.chunks_exact_mut(w)) {
        let mut x = 0;
        while x < w {
            let start = x;
            while x < w && row_thin[x] {
                x += 1;
            }
            if x == start {
                x += 1;
            } else if x - start >= shortest {
                row_band[start..x].fill(true);
            }
        }
    }
    band
}

/// The `w x h` row-major grid as `h x w`.
fn transpose(v: &[bool], w: usize, h: usize) -> Vec<bool> {
    (0..w * h).map(|i| v[(i % h) * w + i / h]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(w: usize, h: usize, f: impl Fn(usize, usize) -> bool) -> Vec<bool> {
        (0..w * h).map(|i| f(i % w, i / w)).collect()
    }

    #[test]
    fn a_ruler_touching_a_blob_is_found_up_to_the_contact_and_the_blob_is_not() {
        let (w, h) = (100, 80);
        // A bar 4 cells thick along row 70..74 from x 5 to 95, and a blob 30 cells across
        // resting on it at x 40..70.
        let bar = |x: usize, y: usize| (70..74).contains(&y) && (5..95).contains(&x);
        let blob = |x: usize, y: usize| (40..70).contains(&x) && (40..71).contains(&y);
        let mask = grid(w, h, |x, y| bar(x, y) || blob(x, y));
        let band = straight_bands(&mask, &mask, w, h);
        // 35 % of 100 is 35 cells: the bar's two stretches beside the blob are 35 and 25 long.
        assert!(band[72 * w + 20] && band[72 * w + 30], "the long stretch is a band");
        assert!(!band[72 * w + 50], "under the blob the cross-section is thick");
        assert!(!band[72 * w + 80], "the stretch of 25 cells is too short");
        assert!(!band.iter().zip(&mask).any(|(&b, &m)| b && !m), "only masked cells");
        assert!((0..w * h).filter(|&c| blob(c % w, c / w) && c / w < 70).all(|c| !band[c]), "the blob stays");
    }

    #[test]
    fn a_vertical_band_is_found_and_a_dim_or_thick_one_is_not() {
        let (w, h) = (60, 100);
        let mask = grid(w, h, |x, y| ((5..8).contains(&x) || (20..40).contains(&x)) && (10..90).contains(&y));
        let bright = grid(w, h, |x, _| x != 21);
        let band = straight_bands(&mask, &bright, w, h);
        assert!(band[50 * w + 6], "a thin bright column");
        assert!(!band[50 * w + 30], "20 cells is thicker than 1/16 of 100");
        let dim = straight_bands(&mask, &vec![false; w * h], w, h);
        assert!(!dim.iter().any(|&b| b), "without a bright cell nothing is a band");
    }
}
