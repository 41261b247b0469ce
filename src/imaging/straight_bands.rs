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
/// [`BLUR`] cells of it on at least one side; and its bright core runs along one row (or
/// column) for that length, so a bar more than about 2 degrees off the grid's axes is not
/// found. The cells returned are the bright run with the mask past it on each side: all of it
/// on a free side, one cell on a side where something touches the bar. In a row with such a
/// stretch, its other stretches down to a quarter of [`MIN_LENGTH`] are the bar's too
/// (beyond a limb crossing it).
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
    // A bar's core is bright end to end along some row (or column): films without such a run
    // are done after one pass over the grid.
    let (across, down) = longest_bright_runs(bright, w, h);
    let mut band = vec![false; mask.len()];
    if across >= limits.1 {
        let thin = thin_down_columns(mask, bright, w, h, limits.0);
        mark_bars_along_rows(&thin, &mut band, w, limits.1);
    }
    if down >= limits.1 {
        let thin = thin_along_rows(mask, bright, w, limits.0);
        mark_bars_down_columns(&thin, &mut band, w, h, limits.1);
    }
    band
}

/// The longest run of `bright` cells along a row, and along a column, in one pass.
fn longest_bright_runs(bright: &[bool], w: usize, h: usize) -> (usize, usize) {
    let (mut across, mut down) = (0, 0);
    let mut columns = vec![0usize; w];
    for row in bright.chunks_exact(w).take(h) {
        let mut run = 0;
        for (&b, column) in row.iter().zip(columns.iter_mut()) {
            run = if b { run + 1 } else { 0 };
            *column = if b { *column + 1 } else { 0 };
            across = across.max(run);
            down = down.max(*column);
        }
    }
    (across, down)
}

/// How far past a bright run a bar takes the mask on one side, given how far the mask goes
/// on there (`BLUR + 1`: further): all of it on a free side, one cell against something.
fn reach(beyond: usize) -> usize {
    if beyond <= BLUR { beyond } else { 1 }
}

/// The runs of set cells in `row`, left to right.
fn row_runs(row: &[bool]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut x = 0;
    while x < row.len() {
        let start = x;
        while x < row.len() && row[x] {
            x += 1;
        }
        if x == start {
            x += 1;
        } else {
            runs.push(start..x);
        }
    }
    runs
}

/// The runs of set cells down each column of a `w x h` grid, as `(column, rows)`, found in one
/// walk in row order (the grid is read as it lies in memory).
fn column_runs(cells: &[bool], w: usize, h: usize) -> Vec<(usize, std::ops::Range<usize>)> {
    let mut runs = Vec::new();
    let mut run_start = vec![usize::MAX; w];
    for y in 0..=h {
        for (x, start) in run_start.iter_mut().enumerate() {
            if y < h && cells[y * w + x] {
                if *start == usize::MAX {
                    *start = y;
                }
            } else if *start != usize::MAX {
                runs.push((x, std::mem::replace(start, usize::MAX)..y));
            }
        }
    }
    runs
}

/// Cross-sections down the columns (for bars along rows): each column's bright runs at most
/// `thickest` long with a free side, with their blur, flagged.
fn thin_down_columns(mask: &[bool], bright: &[bool], w: usize, h: usize, thickest: usize) -> Vec<bool> {
    let mut thin = vec![false; mask.len()];
    for (x, run) in column_runs(bright, w, h) {
        let (begin, end) = (run.start, run.end);
        if end - begin > thickest {
            continue;
        }
        let up = (1..=BLUR + 1).take_while(|&d| begin >= d && mask[(begin - d) * w + x]).count();
        let down = (0..=BLUR).take_while(|&d| end + d < h && mask[(end + d) * w + x]).count();
        if up.min(down) <= BLUR {
            (begin - reach(up)..end + reach(down)).for_each(|k| thin[k * w + x] = true);
        }
    }
    thin
}

/// Cross-sections along the rows (for bars down columns), as [`thin_down_columns`].
fn thin_along_rows(mask: &[bool], bright: &[bool], w: usize, thickest: usize) -> Vec<bool> {
    let mut thin = vec![false; mask.len()];
    for ((row, row_mask), row_thin) in bright.chunks_exact(w).zip(mask.chunks_exact(w)).zip(thin.chunks_exact_mut(w)) {
        for run in row_runs(row) {
            let (begin, end) = (run.start, run.end);
            if end - begin > thickest {
                continue;
            }
            let left = (1..=BLUR + 1).take_while(|&d| begin >= d && row_mask[begin - d]).count();
            let right = (0..=BLUR).take_while(|&d| end + d < w && row_mask[end + d]).count();
            if left.min(right) <= BLUR {
                row_thin[begin - reach(left)..end + reach(right)].fill(true);
            }
        }
    }
    thin
}

/// Marks the runs of `thin` along each row at least `shortest` long, and in a row with one,
/// its other runs down to a quarter of `shortest`: the bar's stretches beyond a limb crossing
/// it.
fn mark_bars_along_rows(thin: &[bool], band: &mut [bool], w: usize, shortest: usize) {
    for (row_thin, row_band) in thin.chunks_exact(w).zip(band.chunks_exact_mut(w)) {
        let runs = row_runs(row_thin);
        if runs.iter().any(|r| r.len() >= shortest) {
            runs.iter().filter(|r| r.len() * 4 >= shortest).for_each(|r| row_band[r.clone()].fill(true));
        }
    }
}

/// [`mark_bars_along_rows`] down the columns.
fn mark_bars_down_columns(thin: &[bool], band: &mut [bool], w: usize, h: usize, shortest: usize) {
    let runs = column_runs(thin, w, h);
    let mut longest = vec![0usize; w];
    for (x, rows) in &runs {
        longest[*x] = longest[*x].max(rows.len());
    }
    for (x, rows) in runs {
        if longest[x] >= shortest && rows.len() * 4 >= shortest {
            rows.for_each(|y| band[y * w + x] = true);
        }
    }
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
        // And a short bar of 30 cells on its own.
        let short = |x: usize, y: usize| (10..13).contains(&y) && (10..40).contains(&x);
        let mask = grid(w, h, |x, y| bar(x, y) || blob(x, y) || short(x, y));
        let band = straight_bands(&mask, &mask, w, h);
        // 35 % of 100 is 35 cells: the bar's two stretches beside the blob are 35 and 25 long.
        assert!(band[72 * w + 20] && band[72 * w + 30], "the long stretch is a band");
        assert!(!band[72 * w + 50], "under the blob the cross-section is thick");
        assert!(band[72 * w + 80], "the stretch of 25 cells beyond the blob is the bar's too");
        assert!(!band[11 * w + 20], "30 cells on their own are too short");
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
        // The block is bright but for one column near its edge: its 18 cells are too thick
        // (the one bright column at its edge, free on its left, is a bar of its own).
        let bright: Vec<bool> = mask.iter().enumerate().map(|(c, &m)| m && c % w != 21).collect();
        let band = straight_bands(&mask, &bright, w, h);
        assert!(band[50 * w + 6], "a thin bright column");
        assert!(!band[50 * w + 30], "20 cells is thicker than 1/16 of 100");
        let dim = straight_bands(&mask, &vec![false; w * h], w, h);
        assert!(!dim.iter().any(|&b| b), "without a bright cell nothing is a band");
    }
}
