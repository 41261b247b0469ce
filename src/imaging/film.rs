//! The parts of a film that preprocessing tells apart: the exposed area (less an unexposed
//! border or a cassette edge), the animal (with its limbs and tail), and the marks beside it
//! (rulers, text, lead markers), all found on a reduced analysis grid.

use super::GrayImage16;
use super::preprocess::{box_reduce, otsu};

/// Side of the reduced image used to find the body.
pub(super) const ANALYSIS_SIDE: usize = 256;

/// Regions smaller than this (analysis cells) are specks, not marks.
const MIN_MARK_CELLS: usize = 4;

/// The film on the analysis grid: reduced, thresholded, and its animal found.
pub(super) struct Analysis {
    pub(super) small: Vec<f32>,
    pub(super) w: usize,
    pub(super) h: usize,
    /// Original pixels per cell.
    pub(super) scale: usize,
    pub(super) threshold: f32,
    pub(super) animal: Option<Animal>,
}

impl Analysis {
    /// Without `body_only`: the animal is the largest bright region and nothing is blanked.
    pub(super) fn whole_film(norm: &[f32], w: usize, h: usize) -> Analysis {
        let (small, sw, sh, scale) = analysis_grid(norm, w, h);
        let threshold = otsu(&small);
        let mask: Vec<bool> = small.iter().map(|v| *v > threshold).collect();
        let core = largest_component(&mask, sw, sh);
        Analysis { small, w: sw, h: sh, scale, threshold, animal: Some(Animal { body: None, core }) }
    }

    pub(super) fn of(norm: &[f32], w: usize, h: usize) -> Analysis {
        let (small, sw, sh, scale) = analysis_grid(norm, w, h);
        let threshold = otsu(&small);
        let animal = find_animal(&small, sw, sh, threshold);
        Analysis { small, w: sw, h: sh, scale, threshold, animal }
    }
}

/// Bright regions of the film other than the animal (rulers, text, markers), on the analysis
/// grid, dilated by two cells to take in their anti-aliased edges.
pub(super) struct Marks {
    pub(super) cells: Vec<bool>,
    pub(super) w: usize,
    pub(super) scale: usize,
}

impl Marks {
    /// `None` when the film has no bright region besides the animal but specks (under
    /// [`MIN_MARK_CELLS`] cells, noise that the animal's mask blanks anyway).
    pub(super) fn find(a: &Analysis) -> Option<Marks> {
        let body = a.animal.as_ref()?.body.as_ref()?;
        let mask: Vec<bool> = a.small.iter().map(|v| *v > a.threshold).collect();
        let (labels, sizes) = label(&mask, a.w, a.h);
        // A region touching the animal's body is part of it.
        let mut mark = vec![true; sizes.len()];
        mark[0] = false;
        for (l, &b) in labels.iter().zip(body) {
            if b {
                mark[*l as usize] = false;
            }
        }
        for (m, &n) in mark.iter_mut().zip(&sizes) {
            *m &= n >= MIN_MARK_CELLS;
        }
        if !mark.iter().any(|&m| m) {
            return None;
        }
        let seeds: Vec<bool> = labels.iter().map(|&l| mark[l as usize]).collect();
        let mut cells = dilate(&seeds, a.w, a.h, 2);
        // Never over the animal itself.
        for (c, &b) in cells.iter_mut().zip(body) {
            *c &= !b;
        }
        Some(Marks { cells, w: a.w, scale: a.scale })
    }

    pub(super) fn covers(&self, x: usize, y: usize) -> bool {
        self.cells.get((y / self.scale) * self.w + x / self.scale).copied().unwrap_or(false)
    }
}

/// The exposed part of the film, half-open `[x0, x1) x [y0, y1)`: the whole film less any band
/// along an edge where 90 % of a line sits at the film's darkest or brightest level (within 1 %
/// of its range), at most 12 % of the side per edge, so a dark or bright background is never
/// mistaken for a band all the way to the animal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct FilmArea {
    pub(super) x0: usize,
    pub(super) y0: usize,
    pub(super) x1: usize,
    pub(super) y1: usize,
}

impl FilmArea {
    pub(super) fn find(image: &GrayImage16) -> FilmArea {
        let (w, h) = (image.width as usize, image.height as usize);
        let (lo, hi) = image.pixels.iter().fold((u16::MAX, 0u16), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let tol = ((f32::from(hi) - f32::from(lo)) / 100.0).max(1.0);
        let extreme = |v: u16| {
            let v = f32::from(v);
            if v <= f32::from(lo) + tol {
                -1i8
            } else if v >= f32::from(hi) - tol {
                1
            } else {
                0
            }
        };
        // A line is a band when 90 % of it sits at one extreme.
        let band = |line: &mut dyn Iterator<Item = u16>| {
            let (mut dark, mut bright, mut n) = (0usize, 0usize, 0usize);
            for v in line {
                match extreme(v) {
                    -1 => dark += 1,
                    1 => bright += 1,
                    _ => {}
                }
                n += 1;
            }
            n > 0 && (dark * 10 >= n * 9 || bright * 10 >= n * 9)
        };
        let px = |x: usize, y: usize| image.pixels[y * w + x];
        let (cap_x, cap_y) = (w * 12 / 100, h * 12 / 100);
        let mut a = FilmArea { x0: 0, y0: 0, x1: w, y1: h };
        while a.y0 < cap_y && band(&mut (0..w).map(|x| px(x, a.y0))) {
            a.y0 += 1;
        }
        while h - a.y1 < cap_y && band(&mut (0..w).map(|x| px(x, a.y1 - 1))) {
            a.y1 -= 1;
        }
        while a.x0 < cap_x && band(&mut (0..h).map(|y| px(a.x0, y))) {
            a.x0 += 1;
        }
        while w - a.x1 < cap_x && band(&mut (0..h).map(|y| px(a.x1 - 1, y))) {
            a.x1 -= 1;
        }
        a
    }

    /// Pixel counts per 16-bit level inside the area, less what `marks` covers; every pixel left
    /// out counts as the background's level (the median just inside the area), so the
    /// percentiles are those of the film without its border and marks, not of a smaller film
    /// with more bone in it.
    pub(super) fn level_counts(&self, image: &GrayImage16, marks: Option<&Marks>) -> Vec<u32> {
        let w = image.width as usize;
        let top = image.pixels.iter().copied().max().unwrap_or(0);
        let mut counts = vec![0u32; usize::from(top) + 1];
        let mut counted = 0usize;
        for (y, row) in image.pixels.chunks_exact(w).enumerate().take(self.y1).skip(self.y0) {
            let row = &row[self.x0..self.x1];
            match marks {
                None => {
                    for &v in row {
                        counts[usize::from(v)] += 1;
                    }
                    counted += row.len();
                }
                Some(m) => {
                    for (x, &v) in (self.x0..).zip(row) {
                        if !m.covers(x, y) {
                            counts[usize::from(v)] += 1;
                            counted += 1;
                        }
                    }
                }
            }
        }
        let missing = image.pixels.len().saturating_sub(counted);
        if missing > 0
            && let Some(level) = self.ring_median(image)
        {
            counts[usize::from(level)] += u32::try_from(missing).unwrap_or(u32::MAX);
        }
        counts
    }

    /// The median level of the 2 % ring just inside the area: the background's.
    pub(super) fn ring_median(&self, image: &GrayImage16) -> Option<u16> {
        let w = image.width as usize;
        let (aw, ah) = (self.x1 - self.x0, self.y1 - self.y0);
        let b = (aw.min(ah) / 50).max(1);
        let mut ring: Vec<u16> = Vec::new();
        for y in self.y0..self.y1 {
            let row = &image.pixels[y * w + self.x0..y * w + self.x1];
            if y < self.y0 + b || y + b >= self.y1 {
                ring.extend_from_slice(row);
            } else {
                ring.extend_from_slice(&row[..b.min(aw)]);
                ring.extend_from_slice(&row[aw.saturating_sub(b).max(b.min(aw))..]);
            }
        }
        let mid = ring.len() / 2;
        (!ring.is_empty()).then(|| *ring.select_nth_unstable(mid).1)
    }

    /// Fraction of the pixels within 2 % of the area's edges for which `above` holds.
    pub(super) fn border_fraction(&self, image: &GrayImage16, above: impl Fn(u16) -> bool) -> f64 {
        let w = image.width as usize;
        let (aw, ah) = (self.x1 - self.x0, self.y1 - self.y0);
        let b = (aw.min(ah) / 50).max(1);
        let (mut hits, mut n) = (0usize, 0usize);
        for y in self.y0..self.y1 {
            let row = &image.pixels[y * w + self.x0..y * w + self.x1];
            let mut count = |px: &[u16]| {
                hits += px.iter().filter(|&&p| above(p)).count();
                n += px.len();
            };
            if y < self.y0 + b || y + b >= self.y1 {
                count(row);
            } else {
                count(&row[..b.min(aw)]);
                count(&row[aw.saturating_sub(b).max(b.min(aw))..]);
            }
        }
        if n == 0 { 0.0 } else { hits as f64 / n as f64 }
    }

    /// Sets everything outside the area to 0 (background, once bone is bright).
    pub(super) fn blank_outside(&self, norm: &mut [f32], w: usize) {
        if self.x0 == 0 && self.y0 == 0 && self.x1 == w && self.y1 * w == norm.len() {
            return;
        }
        for (y, row) in norm.chunks_exact_mut(w).enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                if x < self.x0 || x >= self.x1 || y < self.y0 || y >= self.y1 {
                    *v = 0.0;
                }
            }
        }
    }
}

/// The animal on the analysis grid.
pub(super) struct Animal {
    /// Its region at half the threshold: the body with its fainter limbs and tail (none: the
    /// whole film is kept).
    pub(super) body: Option<Vec<bool>>,
    /// Its largest region above the threshold (the trunk's bone and dense tissue), which sets
    /// the orientation and the crop.
    pub(super) core: Vec<usize>,
}

/// Finds the animal: of the regions above half the Otsu threshold, the one with the most cells
/// inside it by two cells every way (its bulk), the largest among equals. A ruler or a line
/// of text is thin, so it never wins over a body however long it is, and at half the threshold
/// the soft tissue joins the bones into one region. `None` when nothing is above it.
pub(super) fn find_animal(small: &[f32], w: usize, h: usize, threshold: f32) -> Option<Animal> {
    let low: Vec<bool> = small.iter().map(|v| *v > threshold / 2.0).collect();
    // Bulk: cells with the mask two cells away in all four directions; a line up to four cells
    // thick has none.
    let solid = |c: usize| {
        let (x, y) = (c % w, c / w);
        x >= 2 && y >= 2 && x + 2 < w && y + 2 < h && low[c - 2] && low[c + 2] && low[c - 2 * w] && low[c + 2 * w]
    };
    let (labels, sizes) = label(&low, w, h);
    let mut bulk = vec![0usize; sizes.len()];
    for (c, &l) in labels.iter().enumerate() {
        if l != 0 && solid(c) {
            bulk[l as usize] += 1;
        }
    }
    // Label 0 is "none"; the first found wins among equals.
    let best = (1..sizes.len()).fold(None, |best: Option<usize>, l| match best {
        Some(b) if (bulk[l], sizes[l]) <= (bulk[b], sizes[b]) => Some(b),
        _ => Some(l),
    })?;
    let body: Vec<bool> = labels.iter().map(|&l| l as usize == best).collect();
    let high: Vec<bool> = small.iter().zip(&body).map(|(v, &b)| b && *v > threshold).collect();
    let (hl, hs) = label(&high, w, h);
    let core_label = (1..hs.len()).fold(None, |best: Option<usize>, l| match best {
        Some(b) if hs[l] <= hs[b] => Some(b),
        _ => Some(l),
    });
    let core: Vec<usize> = match core_label {
        Some(k) => (0..hl.len()).filter(|&c| hl[c] as usize == k).collect(),
        None => (0..body.len()).filter(|&c| body[c]).collect(),
    };
    Some(Animal { body: Some(body), core })
}

/// Indices of the largest 8-connected `true` region of a mask.
pub(super) fn largest_component(mask: &[bool], w: usize, h: usize) -> Vec<usize> {
    let mut label = vec![0u32; mask.len()];
    let mut best: Vec<usize> = Vec::new();
    let mut next = 0u32;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let mut region = Vec::new();
        while let Some(i) = stack.pop() {
            region.push(i);
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && label[j] == 0 {
                        label[j] = next;
                        stack.push(j);
                    }
                }
            }
        }
        if region.len() > best.len() {
            best = region;
        }
    }
    best
}

/// Labels the 8-connected `true` regions of a mask 1, 2, ... in scan order; returns the labels
/// (0 outside) and each label's size (index 0 unused).
pub(super) fn label(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<usize>) {
    let mut labels = vec![0u32; mask.len()];
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        let l = sizes.len() as u32;
        sizes.push(0);
        labels[start] = l;
        stack.push(start);
        while let Some(i) = stack.pop() {
            sizes[l as usize] += 1;
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if mask[j] && labels[j] == 0 {
                        labels[j] = l;
                        stack.push(j);
                    }
                }
            }
        }
    }
    (labels, sizes)
}

/// Weights in 0..=1: `inside` dilated by two cells, then a 3 x 3 box filter twice, a soft edge
/// about two cells wide outside the region.
pub(super) fn feather(inside: &[bool], w: usize, h: usize) -> Vec<f32> {
    let dilated = dilate(inside, w, h, 2);
    let mut m: Vec<f32> = dilated.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
    for _ in 0..2 {
        m = box3(&m, w, h);
    }
    m
}

/// A mask grown by `radius` cells in every direction (a square): two separable passes of a
/// sliding window count, linear in the cells whatever the radius.
pub(super) fn dilate(mask: &[bool], w: usize, h: usize, radius: usize) -> Vec<bool> {
    let mut rows = vec![false; mask.len()];
    for (src, dst) in mask.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        slide(src.iter().copied(), w, radius, dst.iter_mut());
    }
    // The same along columns, on a transposed copy (contiguous lines).
    let mut cols = vec![false; mask.len()];
    for x in 0..w {
        for y in 0..h {
            cols[x * h + y] = rows[y * w + x];
        }
    }
    let mut grown = vec![false; mask.len()];
    for (src, dst) in cols.chunks_exact(h).zip(grown.chunks_exact_mut(h)) {
        slide(src.iter().copied(), h, radius, dst.iter_mut());
    }
    let mut out = vec![false; mask.len()];
    for x in 0..w {
        for y in 0..h {
            out[y * w + x] = grown[x * h + y];
        }
    }
    out
}

/// One line of [`dilate`]: each output is whether any input within `radius` is set.
fn slide<'a>(
    line: impl Iterator<Item = bool> + Clone,
    n: usize,
    radius: usize,
    out: impl Iterator<Item = &'a mut bool>,
) {
    let ahead: Vec<bool> = line.collect();
    let mut count = ahead.iter().take(radius.min(n)).filter(|&&b| b).count();
    for (i, o) in out.enumerate() {
        if i + radius < n && ahead[i + radius] {
            count += 1;
        }
        if i > radius && ahead[i - radius - 1] {
            count -= 1;
        }
        *o = count > 0;
    }
}

/// A 3 x 3 mean (edge cells average what they have), in two separable passes.
pub(super) fn box3(m: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; m.len()];
    for (src, dst) in m.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        for (x, out) in dst.iter_mut().enumerate() {
            let (a, b) = (x.saturating_sub(1), (x + 2).min(w));
            let mut s = 0.0;
            for v in &src[a..b] {
                s += v;
            }
            *out = s / (b - a) as f32;
        }
    }
    let mut out = vec![0.0f32; m.len()];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(1), (y + 2).min(h));
        let n = (b - a) as f32;
        for x in 0..w {
            let mut s = 0.0;
            for ny in a..b {
                s += rows[ny * w + x];
            }
            out[y * w + x] = s / n;
        }
    }
    out
}

/// The film reduced to about [`ANALYSIS_SIDE`] on its longer side, with the reduction factor.
pub(super) fn analysis_grid(norm: &[f32], w: usize, h: usize) -> (Vec<f32>, usize, usize, usize) {
    let r = w.max(h).div_ceil(ANALYSIS_SIDE).max(1);
    let (small, sw, sh) = box_reduce(norm, w, h, r);
    (small, sw, sh, r)
}
