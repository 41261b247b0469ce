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

/// How far the film above half the threshold may reach past a bar's bright core on its free
/// side, in cells: the detector's blur of the bar's edge.
const BLUR: usize = 3;

/// The cells of a straight bar along a row or a column of the analysis grid (`w x h`,
/// row-major): a stretch of at least [`MIN_LENGTH`] of the grid's longer side whose every
/// cross-section is a run of `bright` cells (above the animal's threshold) at most
/// [`MAX_THICKNESS`] thick, with `mask` (the film above half the threshold) ending within
/// [`BLUR`] cells of it on at least one side. The cells returned are the bright run, the mask
/// past it on that free side, and one cell of the mask on the other.
///
/// A ruler the animal lies against keeps a thin bright core and a free side, so it is found
/// along the contact too; the spine has soft tissue on both sides and the trunk's bones make
/// thick or broken runs, so the animal is not. Where bone touches the bar (a skull against
/// it), the cross-section is thick and the bar stops there. Only axis-aligned bars are found:
/// rulers and film edges lie along the film's edges.
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

/// The bars along rows (see [`straight_bands`]): cross-sections down the columns, and runs of
/// them at least `shortest` long along the rows.
fn along_rows(mask: &[bool], bright: &[bool], w: usize, h: usize, (thickest, shortest): (usize, usize)) -> Vec<bool> {
    let mut thin = vec![false; mask.len()];
    let on = |v: &[bool], x: usize, y: usize| v[y * w + x];
    for x in 0..w {
        let mut y = 0;
        while y < h {
            if !on(bright, x, y) {
                y += 1;
                continue;
            }
            let start = y;
            while y < h && on(bright, x, y) {
                y += 1;
            }
            if y - start > thickest {
                continue;
            }
            // How far the mask goes on past the bright run, up and down (BLUR + 1: further).
            let up = (1..=BLUR + 1).take_while(|&d| start >= d && on(mask, x, start - d)).count();
            let down = (0..=BLUR).take_while(|&d| y + d < h && on(mask, x, y + d)).count();
            // The bar's blur on its free side; on the other, only the cell its edge shares with
            // what touches it.
            if up.min(down) <= BLUR {
                let reach = |d: usize| if d <= BLUR { d } else { 1 };
                (start - reach(up)..y + reach(down)).for_each(|k| thin[k * w + x] = true);
            }
        }
    }
    let mut band = vec![false; mask.len()];
    for (row_thin, row_band) in thin.chunks_exact(w).zip(band.chunks_exact_mut(w)) {
        let mut runs = Vec::new();
        let mut x = 0;
        while x < w {
            let start = x;
            while x < w && row_thin[x] {
                x += 1;
            }
            if x == start {
                x += 1;
            } else {
                runs.push(start..x);
            }
        }
        // In a row the bar runs along, its stretches beyond a limb that crosses it are the bar's
        // too, down to a quarter of the shortest bar.
        if runs.iter().any(|r| r.len() >= shortest) {
            runs.iter().filter(|r| r.len() * 4 >= shortest).for_each(|r| row_band[r.clone()].fill(true));
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
    fn a_ruler_the_soft_tissue_lies_along_is_found_and_a_spine_inside_it_is_not() {
        let (w, h) = (100, 80);
        // A bright bar along rows 70..74 from x 5 to 95; soft tissue (above half the threshold,
        // not bright) over x 20..80, y 40..71, touching the bar along 60 cells; a bright
        // spine 3 cells thick along y 55..58 inside the tissue, 60 cells long.
        let bar = |x: usize, y: usize| (70..74).contains(&y) && (5..95).contains(&x);
        let tissue = |x: usize, y: usize| (20..80).contains(&x) && (40..71).contains(&y);
        let spine = |x: usize, y: usize| (55..58).contains(&y) && (20..80).contains(&x);
        let mask = grid(w, h, |x, y| bar(x, y) || tissue(x, y));
        let bright = grid(w, h, |x, y| bar(x, y) || spine(x, y));
        let band = straight_bands(&mask, &bright, w, h);
        assert!((5..95).all(|x| band[72 * w + x]), "the whole bar, along the contact too");
        assert!(band[69 * w + 50] && !band[68 * w + 50], "one cell of the tissue against the bar");
        assert!(!band[56 * w + 50], "the spine has tissue on both sides");
    }

    #[test]
    fn a_vertical_band_is_found_and_a_dim_or_thick_one_is_not() {
        let (w, h) = (60, 100);
        let mask = grid(w, h, |x, y| ((5..8).contains(&x) || (20..40).contains(&x)) && (10..90).contains(&y));
        // The block is bright but for one column near its edge: 18 cells still too thick.
        let bright: Vec<bool> = mask.iter().enumerate().map(|(c, &m)| m && c % w != 21).collect();
        let band = straight_bands(&mask, &bright, w, h);
        assert!(band[50 * w + 6], "a thin bright column");
        assert!(!band[50 * w + 30], "20 cells is thicker than 1/16 of 100");
        let dim = straight_bands(&mask, &vec![false; w * h], w, h);
        assert!(!dim.iter().any(|&b| b), "without a bright cell nothing is a band");
    }
}
