//! The parts of a film that preprocessing tells apart: the exposed area (less an unexposed
//! border or a cassette edge), the animal (with its limbs and tail), and the marks beside it
//! (rulers, text, lead markers), all found on a reduced analysis grid.

use super::GrayImage16;
use super::preprocess::{box_reduce, otsu};
use super::straight_bands::straight_bands;

/// Side of the reduced image used to find the body.
pub(super) const ANALYSIS_SIDE: usize = 256;

/// Regions smaller than this (analysis cells) are specks, not marks.
const MIN_MARK_CELLS: usize = 4;

/// A half-open rectangle of analysis cells, `(x0, y0, x1, y1)`.
type CellRect = (usize, usize, usize, usize);

/// The film on the analysis grid: reduced, thresholded, and its animal found.
pub(super) struct Analysis {
    pub(super) small: Vec<f32>,
    pub(super) w: usize,
    pub(super) h: usize,
    /// Original pixels per cell.
    pub(super) scale: usize,
    pub(super) animal: Option<Animal>,
    /// Bright regions apart from the animal (see [`Marks`]), undilated; `None` when there are
    /// none.
    marks: Option<Vec<bool>>,
}

impl Analysis {
    /// How much of the film's variation is larger than eight cells: the standard deviation of
    /// 8 x 8-cell means over that of the cells. Noise alone has next to none (about 1/8); a
    /// film with an animal on it keeps most of its variation at that scale.
    pub(super) fn structure(&self) -> f64 {
        let std = |v: &[f32]| {
            let n = v.len().max(1) as f64;
            let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
            (v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n).sqrt()
        };
        let (coarse, ..) = box_reduce(&self.small, self.w, self.h, 8);
        let fine = std(&self.small);
        if fine <= f64::EPSILON { 0.0 } else { std(&coarse) / fine }
    }

    /// How many separate stretches of the animal (above half the threshold, two cells wide or
    /// more) cross the exposed film's edge, walking once round the film one cell inside it: a
    /// whole animal's tail or a paw may make one; a close-up cuts through several limbs or the
    /// body.
    pub(super) fn edge_crossings(&self, area: &FilmArea) -> usize {
        let Some((on, (x0, y0, x1, y1))) = self.on_animal(area) else { return 0 };
        // One cell inside the film.
        let (x0, y0, x1, y1) = (x0 + 1, y0 + 1, x1 - 1, y1 - 1);
        // Clockwise from the top-left corner.
        let walk = (x0..x1)
            .map(|x| (x, y0))
            .chain((y0 + 1..y1).map(|y| (x1 - 1, y)))
            .chain((x0..x1 - 1).rev().map(|x| (x, y1 - 1)))
            .chain((y0 + 1..y1 - 1).rev().map(|y| (x0, y)));
        let on: Vec<bool> = walk.map(|(x, y)| on(x, y)).collect();
        // Stretches of at least two cells: a speck of noise at the edge is not a crossing.
        let n = on.len();
        let starts = (0..n).filter(|&i| on[i] && !on[(i + n - 1) % n] && on[(i + 1) % n]).count();
        if starts == 0 && on.iter().all(|&b| b) { 1 } else { starts }
    }

    /// The animal's solid cells within two cells of the exposed film's edge, per cell of the
    /// film's longer side: where a close-up cuts the body, it meets the edge broadly; a tail or
    /// a paw, even one running along the edge, is too thin to be solid there. A cell is solid
    /// when the animal (above half the threshold) is also two cells away from it every way that
    /// stays on the film. Returns that for the body and for its core (the trunk's skeleton).
    pub(super) fn edge_contact(&self, area: &FilmArea) -> (f64, f64) {
        let Some((on, (x0, y0, x1, y1))) = self.on_animal(area) else { return (0.0, 0.0) };
        let Some(animal) = self.animal.as_ref() else { return (0.0, 0.0) };
        let solid = |x: usize, y: usize| {
            on(x, y)
                && (x < x0 + 2 || on(x - 2, y))
                && (x + 2 >= x1 || on(x + 2, y))
                && (y < y0 + 2 || on(x, y - 2))
                && (y + 2 >= y1 || on(x, y + 2))
        };
        let mut n = 0usize;
        for y in y0..y1 {
            // Only the ring's cells: whole rows at the top and bottom, two cells at each side.
            let xs: Box<dyn Iterator<Item = usize>> =
                if y < y0 + 2 || y + 2 >= y1 { Box::new(x0..x1) } else { Box::new((x0..x0 + 2).chain(x1 - 2..x1)) };
            for x in xs {
                n += usize::from(solid(x, y));
            }
        }
        let ring = |x: usize, y: usize| x < x0 + 2 || x + 2 >= x1 || y < y0 + 2 || y + 2 >= y1;
        let core = animal
            .core
            .iter()
            .filter(|&&c| {
                let (x, y) = (c % self.w, c / self.w);
                (x0..x1).contains(&x) && (y0..y1).contains(&y) && ring(x, y) && solid(x, y)
            })
            .count();
        // Two rings of cells count each crossing twice.
        let per = 2.0 * (x1 - x0).max(y1 - y0) as f64;
        (n as f64 / per, core as f64 / per)
    }
}

impl Analysis {
    /// Whether a cell (x, y) is the animal above half the threshold, with the exposed film's
    /// extent in cells `(x0, y0, x1, y1)`; `None` without an animal's body or when the film is
    /// under six cells on a side.
    fn on_animal(&self, area: &FilmArea) -> Option<(impl Fn(usize, usize) -> bool + '_, CellRect)> {
        let animal = self.animal.as_ref()?;
        let body = animal.body.as_ref()?;
        let r = self.scale;
        let (x0, y0) = (area.x0.div_ceil(r), area.y0.div_ceil(r));
        let (x1, y1) = ((area.x1 / r).min(self.w), (area.y1 / r).min(self.h));
        if x1 <= x0 + 5 || y1 <= y0 + 5 {
            return None;
        }
        let on = move |x: usize, y: usize| {
            let c = y * self.w + x;
            body.cells[c] && self.small[c] > animal.half
        };
        Some((on, (x0, y0, x1, y1)))
    }
}

impl Analysis {
    /// Without `body_only`: the animal is the largest bright region and nothing is blanked.
    pub(super) fn whole_film(norm: &[f32], w: usize, h: usize) -> Analysis {
        let (small, sw, sh, scale) = analysis_grid(norm, w, h);
        let threshold = otsu(&small);
        let mask: Vec<bool> = small.iter().map(|v| *v > threshold).collect();
        let core = largest_component(&mask, sw, sh);
        let animal = Some(Animal { body: None, core, bulk: 0, other_bulk: 0, half: threshold / 2.0, threshold });
        Analysis { small, w: sw, h: sh, scale, animal, marks: None }
    }

    /// The animal on `norm` (a `w x h` film, bone bright, blanked outside `area`). The
    /// threshold and the background level are those of the film with the cells outside `area`
    /// at the median of the cells inside ([`FilmArea::cells_as_film`]: the background's level,
    /// the animal covering a minority of the film), as [`FilmArea::level_counts`] counts such
    /// pixels at the background's: a border blanked to 0 would otherwise weigh in as a dark
    /// class of its own, and its width would move the threshold and with it the animal's
    /// outermost cells and the crop.
    pub(super) fn of(norm: &[f32], w: usize, h: usize, area: &FilmArea) -> Analysis {
        let (small, sw, sh, scale) = analysis_grid(norm, w, h);
        let levels = area.cells_as_film(&small, sw, sh, scale);
        let threshold = otsu(&levels);
        let (animal, marks) =
            match find_animal(&small, sw, sh, threshold, median_level(levels.iter().copied()).min(threshold)) {
                Some((animal, marks)) => (Some(animal), marks),
                None => (None, None),
            };
        Analysis { small, w: sw, h: sh, scale, animal, marks }
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
    /// [`MIN_MARK_CELLS`] cells above the threshold: noise, which the animal's mask blanks
    /// anyway).
    pub(super) fn find(a: &Analysis) -> Option<Marks> {
        let seeds = a.marks.as_ref()?;
        let body = a.animal.as_ref()?.body.as_ref()?;
        let mut cells = dilate(seeds, a.w, a.h, 2);
        // Never over the animal itself.
        for (c, &b) in cells.iter_mut().zip(&body.cells) {
            *c &= !b;
        }
        Some(Marks { cells, w: a.w, scale: a.scale })
    }

    /// The cells of original row `y`: original pixel `x` is covered when cell `x / scale` is.
    pub(super) fn row(&self, y: usize) -> &[bool] {
        let start = (y / self.scale) * self.w;
        self.cells.get(start..start + self.w).unwrap_or(&[])
    }

    /// Sets every covered pixel of a `w`-wide film to `value`.
    pub(super) fn blank(&self, norm: &mut [f32], w: usize, value: f32) {
        for (y, row) in norm.chunks_exact_mut(w).enumerate() {
            for (covered, run) in self.row(y).iter().zip(row.chunks_mut(self.scale)) {
                if *covered {
                    run.fill(value);
                }
            }
        }
    }
}

/// The film's darkest and brightest levels, as its 0.1st and 99.9th percentiles (of every third
/// pixel, to 1/4096 of the bit depth's range): a few saturated or dead pixels must not stretch
/// the range that says what an unexposed border or a cassette edge is.
fn robust_range(image: &GrayImage16) -> (u16, u16) {
    let shift = u32::from(image.bits.clamp(12, 16) - 12);
    let mut hist = [0u32; 4096];
    let mut n = 0u32;
    for &v in image.pixels.iter().step_by(3) {
        hist[usize::from(v >> shift).min(4095)] += 1;
        n += 1;
    }
    let level = |q: u32, upper: bool| {
        let mut seen = 0u32;
        for (bin, &c) in hist.iter().enumerate() {
            seen += c;
            if seen > q {
                let start = (bin as u32) << shift;
                let level = if upper { start + (1 << shift) - 1 } else { start };
                return u16::try_from(level).unwrap_or(u16::MAX);
            }
        }
        u16::MAX
    };
    (level(n / 1000, false), level(n - n / 1000 - 1, true))
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
        let (lo, hi) = robust_range(image);
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
        while a.x0 < cap_x && band(&mut (a.y0..a.y1).map(|y| px(a.x0, y))) {
            a.x0 += 1;
        }
        while w - a.x1 < cap_x && band(&mut (a.y0..a.y1).map(|y| px(a.x1 - 1, y))) {
            a.x1 -= 1;
        }
        a
    }

    /// Pixel counts per 16-bit level inside the area, less what `marks` covers; every pixel left
    /// out counts as the background's level (the median just inside the area), so the
    /// percentiles are those of the film without its border and marks, not of a smaller film
    /// with more bone in it.
    pub(super) fn level_counts(&self, image: &GrayImage16, marks: Option<&Marks>) -> Vec<u32> {
        self.level_counts_in(image, marks, 0..image.height as usize, |_| (0, image.width as usize), image.pixels.len())
    }

    /// [`Self::level_counts`] over part of the film: in each row `y` of `rows`, the pixels
    /// `span(y)` (a half-open range of columns) that lie inside the area and off the marks;
    /// the rest of `total` pixels counts as the background's level.
    pub(super) fn level_counts_in(
        &self,
        image: &GrayImage16,
        marks: Option<&Marks>,
        rows: std::ops::Range<usize>,
        span: impl Fn(usize) -> (usize, usize),
        total: usize,
    ) -> Vec<u32> {
        let w = image.width as usize;
        let top = image.pixels.iter().copied().max().unwrap_or(0);
        let mut counts = vec![0u32; usize::from(top) + 1];
        let mut counted = 0usize;
        for y in rows.start.max(self.y0)..rows.end.min(self.y1) {
            let (xa, xb) = span(y);
            let (xa, xb) = (xa.max(self.x0), xb.min(self.x1));
            if xa >= xb {
                continue;
            }
            let row = &image.pixels[y * w + xa..y * w + xb];
            match marks {
                None => {
                    for &v in row {
                        counts[usize::from(v)] += 1;
                    }
                    counted += row.len();
                }
                Some(m) => {
                    // Cell by cell: a run of `scale` pixels shares one flag.
                    let cells = m.row(y);
                    let mut x = xa;
                    while x < xb {
                        let end = ((x / m.scale + 1) * m.scale).min(xb);
                        if !cells.get(x / m.scale).copied().unwrap_or(false) {
                            for &v in &row[x - xa..end - xa] {
                                counts[usize::from(v)] += 1;
                            }
                            counted += end - x;
                        }
                        x = end;
                    }
                }
            }
        }
        let missing = total.saturating_sub(counted);
        if missing > 0
            && let Some(level) = self.ring_median(image)
        {
            counts[usize::from(level)] += u32::try_from(missing).unwrap_or(u32::MAX);
        }
        counts
    }

    /// The pixels of the 2 % ring just inside the area, a row's stretch at a time.
    fn ring<'a>(&self, image: &'a GrayImage16) -> impl Iterator<Item = &'a [u16]> + 'a {
        let w = image.width as usize;
        let (x0, y0, x1, y1) = (self.x0, self.y0, self.x1, self.y1);
        let (aw, ah) = (x1 - x0, y1 - y0);
        let b = (aw.min(ah) / 50).max(1);
        (y0..y1).flat_map(move |y| {
            let row = &image.pixels[y * w + x0..y * w + x1];
            if y < y0 + b || y + b >= y1 {
                [row, &[][..]]
            } else {
                [&row[..b.min(aw)], &row[aw.saturating_sub(b).max(b.min(aw))..]]
            }
        })
    }

    /// The median level of the 2 % ring just inside the area: the background's.
    pub(super) fn ring_median(&self, image: &GrayImage16) -> Option<u16> {
        let mut ring: Vec<u16> = self.ring(image).flatten().copied().collect();
        let mid = ring.len() / 2;
        (!ring.is_empty()).then(|| *ring.select_nth_unstable(mid).1)
    }

    /// Fraction of the pixels within 2 % of the area's edges for which `above` holds.
    pub(super) fn border_fraction(&self, image: &GrayImage16, above: impl Fn(u16) -> bool) -> f64 {
        let (mut hits, mut n) = (0usize, 0usize);
        for px in self.ring(image) {
            hits += px.iter().filter(|&&p| above(p)).count();
            n += px.len();
        }
        if n == 0 { 0.0 } else { hits as f64 / n as f64 }
    }

    /// `small` (the film on a `sw x sh` grid of `r`-pixel cells) with every cell not wholly
    /// inside the area set to the median of those that are: the film as if its border were
    /// background. Borrowed as it is when the area is the whole film.
    pub(super) fn cells_as_film<'a>(
        &self,
        small: &'a [f32],
        sw: usize,
        sh: usize,
        r: usize,
    ) -> std::borrow::Cow<'a, [f32]> {
        // An area reaching the film's own edge keeps the partial cell there.
        let end = |a: usize, n: usize| if a.div_ceil(r) >= n { n } else { a / r };
        let (x0, y0) = (self.x0.div_ceil(r), self.y0.div_ceil(r));
        let (x1, y1) = (end(self.x1, sw), end(self.y1, sh));
        let inside = |c: usize| (x0..x1).contains(&(c % sw)) && (y0..y1).contains(&(c / sw));
        if (x0, y0, x1, y1) == (0, 0, sw, sh) || x1 <= x0 || y1 <= y0 {
            return std::borrow::Cow::Borrowed(small);
        }
        let background = median_level(small.iter().enumerate().filter(|&(c, _)| inside(c)).map(|(_, &v)| v));
        small.iter().enumerate().map(|(c, &v)| if inside(c) { v } else { background }).collect()
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
    pub(super) body: Option<Region>,
    /// Its largest region above the threshold (the trunk's bone and dense tissue), which sets
    /// the orientation and the crop.
    pub(super) core: Vec<usize>,
    /// Its bulk: cells with the half-threshold mask two cells away every way.
    pub(super) bulk: usize,
    /// The largest bulk of any other region: a second animal has one, a ruler or text none.
    pub(super) other_bulk: usize,
    /// The level that separates the animal's soft tissue from the background.
    pub(super) half: f32,
    /// The level above which a cell is bone or dense tissue: the core's.
    pub(super) threshold: f32,
}

/// A region of the analysis grid with its bounding box (half-open, in cells).
pub(super) struct Region {
    pub(super) cells: Vec<bool>,
    pub(super) x0: usize,
    pub(super) y0: usize,
    pub(super) x1: usize,
    pub(super) y1: usize,
}

/// Finds the animal: of the regions above half the Otsu threshold, the one with the most cells
/// inside it by two cells every way (its bulk), the largest among equals. A ruler or a line
/// of text is thin, so it never wins over a body however long it is, and at half the threshold
/// the soft tissue joins the bones into one region. A region joined to it above a quarter of
/// the threshold and mostly below the threshold (a tail whose faint stretches broke it off, a
/// paw) is part of it too; the other regions with at least [`MIN_MARK_CELLS`] cells above the
/// threshold are marks (a radiopaque ruler or text is bright throughout, even where its
/// blurred edge touches the animal). A straight bar (see [`straight_bands`]) is taken out
/// first and is a mark, with what is left of it beside the animal. `None` when nothing but
/// such bars is above half the threshold.
///
/// "Half" and "a quarter" are measured from the background (`background`, the film's median
/// cell) up to the threshold, so a grey background with noise on it never joins the animal.
fn find_animal(
    small: &[f32],
    w: usize,
    h: usize,
    threshold: f32,
    background: f32,
) -> Option<(Animal, Option<Vec<bool>>)> {
    let half = background + (threshold - background) / 2.0;
    let mut low: Vec<bool> = small.iter().map(|v| *v > half).collect();
    // A ruler the animal lies against joins it at half the threshold: its straight bar is taken
    // out first, so it neither steers the crop nor counts as the animal, and is marked instead.
    let bright_cells: Vec<bool> = small.iter().map(|v| *v > threshold).collect();
    let band = straight_bands(&low, &bright_cells, w, h);
    low.iter_mut().zip(&band).for_each(|(l, &b)| *l &= !b);
    let (labels, sizes) = label(&low, w, h);
    let (mut bulk, mut bright, mut first) =
        (vec![0usize; sizes.len()], vec![0usize; sizes.len()], vec![usize::MAX; sizes.len()]);
    for (c, (&l, &v)) in labels.iter().zip(small).enumerate() {
        bright[l as usize] += usize::from(v > threshold);
        first[l as usize] = first[l as usize].min(c);
    }
    // Bulk: cells with the mask two cells away in all four directions; a line up to four cells
    // thick has none.
    // The spread of values over each region's bulk: an animal's bones and soft tissue differ;
    // a sticker or a ruler's ticks are one level throughout.
    let mut moments = vec![Moments::default(); sizes.len()];
    for y in 2..h.saturating_sub(2) {
        for x in 2..w.saturating_sub(2) {
            let c = y * w + x;
            if labels[c] != 0 && low[c - 2] && low[c + 2] && low[c - 2 * w] && low[c + 2 * w] {
                let l = labels[c] as usize;
                bulk[l] += 1;
                moments[l].add(x as f64, y as f64, f64::from(small[c]));
            }
        }
    }
    // Label 0 is "none"; the first found wins among equals.
    let best = (1..sizes.len()).fold(None, |best: Option<usize>, l| match best {
        Some(b) if (bulk[l], sizes[l]) <= (bulk[b], sizes[b]) => Some(b),
        _ => Some(l),
    })?;
    let quarter = background + (threshold - background) / 4.0;
    let faint: Vec<bool> = small.iter().zip(&band).map(|(v, &b)| *v > quarter && !b).collect();
    let (faint_labels, _) = label(&faint, w, h);
    let anchor = faint_labels[first[best]];
    // Joined: in one piece with the animal above a quarter of the threshold, and either faint
    // and thin (a tail, a paw) or with some bulk of its own (a skull or a pelvis that the soft
    // tissue joins only faintly), but not as much as a second animal. A ruler or text touching
    // the animal through a blurred edge is bright and thin: a mark.
    let joined = |l: usize| {
        faint_labels[first[l]] == anchor
            && bulk[l] * 4 < bulk[best].max(1)
            && ((bright[l] * 2 < sizes[l] && bulk[l] * 10 < bulk[best].max(1)) || bulk[l] > 0)
    };
    // What is left of a bar where it ends or meets the animal (its blurred tip, a stub) is the
    // bar's, however faint, unless it is the animal or joined to it (a paw against the bar).
    let mut by_band = vec![false; sizes.len()];
    for (c, _) in band.iter().enumerate().filter(|(_, b)| **b) {
        let (x, y) = (c % w, c / w);
        for ny in y.saturating_sub(1)..(y + 2).min(h) {
            for nx in x.saturating_sub(1)..(x + 2).min(w) {
                by_band[labels[ny * w + nx] as usize] = true;
            }
        }
    }
    let is_mark: Vec<bool> = (0..sizes.len())
        .map(|l| l != 0 && l != best && !joined(l) && (bright[l] >= MIN_MARK_CELLS || by_band[l]))
        .collect();
    // The body: the joined regions and the faint cells between them, less any mark.
    let cells: Vec<bool> =
        labels.iter().zip(&faint_labels).map(|(&l, &f)| f == anchor && !is_mark[l as usize]).collect();
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (y, row) in cells.chunks_exact(w).enumerate() {
        if let (Some(a), Some(b)) = (row.iter().position(|&c| c), row.iter().rposition(|&c| c)) {
            (x0, y0, x1, y1) = (x0.min(a), y0.min(y), x1.max(b + 1), y1.max(y + 1));
        }
    }
    let body = Region { cells, x0, y0, x1, y1 };
    // The core, labelled within the body's box only.
    let bw = x1 - x0;
    let high: Vec<bool> = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| y * w + x))
        .map(|c| body.cells[c] && small[c] > threshold)
        .collect();
    let (hl, hs) = label(&high, bw, y1 - y0);
    let core_label = (1..hs.len()).fold(None, |best: Option<usize>, l| match best {
        Some(b) if hs[l] <= hs[b] => Some(b),
        _ => Some(l),
    });
    let core: Vec<usize> = match core_label {
        Some(k) => (0..hl.len()).filter(|&i| hl[i] as usize == k).map(|i| (y0 + i / bw) * w + x0 + i % bw).collect(),
        None => (0..body.cells.len()).filter(|&c| body.cells[c]).collect(),
    };
    let marks = (is_mark.iter().any(|&m| m) || band.iter().any(|&b| b))
        .then(|| labels.iter().zip(&band).map(|(&l, &b)| b || is_mark[l as usize]).collect());
    // A second animal is soft tissue around bone (its bulk's values vary by more than an
    // eighth of their mean, mostly a fifth to two fifths); a ruler's ticks, a label or a
    // sticker is one level throughout (about a tenth, from its blurred edges), whatever its
    // bulk.
    // Its bulk is also compact (a trunk, at most about 3 times as long as wide); a ruler's bar
    // is a long band, whatever the detector's blur and noise do to its values.
    let animal_like = |l: usize| moments[l].spread() > 0.125 * moments[l].mean() && moments[l].elongation() < 6.0;
    let other_bulk =
        (1..sizes.len()).filter(|&l| l != best && !joined(l) && animal_like(l)).map(|l| bulk[l]).max().unwrap_or(0);
    Some((Animal { body: Some(body), core, bulk: bulk[best], other_bulk, half, threshold }, marks))
}

/// Running sums over a region's cells: their number, positions and values.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: f64,
    x: f64,
    y: f64,
    xx: f64,
    yy: f64,
    xy: f64,
    v: f64,
    vv: f64,
}

impl Moments {
    fn add(&mut self, x: f64, y: f64, v: f64) {
        self.n += 1.0;
        (self.x, self.y, self.v) = (self.x + x, self.y + y, self.v + v);
        (self.xx, self.yy, self.xy, self.vv) = (self.xx + x * x, self.yy + y * y, self.xy + x * y, self.vv + v * v);
    }

    /// The mean value.
    fn mean(&self) -> f64 {
        self.v / self.n.max(1.0)
    }

    /// The values' standard deviation.
    fn spread(&self) -> f64 {
        (self.vv / self.n.max(1.0) - self.mean().powi(2)).max(0.0).sqrt()
    }

    /// The cells' long axis over their short one (standard deviations; large for a band).
    fn elongation(&self) -> f64 {
        let n = self.n.max(1.0);
        let (mx, my) = (self.x / n, self.y / n);
        let (sxx, syy, sxy) = (self.xx / n - mx * mx, self.yy / n - my * my, self.xy / n - mx * my);
        let spread = ((sxx - syy).powi(2) + 4.0 * sxy * sxy).sqrt();
        let (major, minor) = ((sxx + syy + spread) / 2.0, (sxx + syy - spread) / 2.0);
        (major / minor.max(0.25)).sqrt()
    }
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
/// (0 outside) and each label's size (index 0 unused). Works on runs of set cells, joined with
/// the runs of the row above that they touch, through a union-find: a few operations per run
/// rather than per cell.
pub(super) fn label(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<usize>) {
    // (row, first cell, one past the last cell).
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    let find = |parent: &mut Vec<usize>, mut i: usize| {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    };
    let mut above = 0..0;
    for (y, row) in mask.chunks_exact(w).enumerate().take(h) {
        let first = runs.len();
        let mut p = above.start;
        let mut x = 0;
        while x < w {
            if !row[x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < w && row[x] {
                x += 1;
            }
            let id = runs.len();
            runs.push((y, start, x));
            parent.push(id);
            // Runs above touch this one, diagonally included, when they end at or after
            // `start - 1` and begin at or before `x`.
            while p < above.end && runs[p].2 < start {
                p += 1;
            }
            let mut q = p;
            while q < above.end && runs[q].1 <= x {
                let (a, b) = (find(&mut parent, q), find(&mut parent, id));
                // The earlier run's root stays the root, so labels follow scan order.
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                parent[hi] = lo;
                q += 1;
            }
        }
        above = first..runs.len();
    }
    let mut labels = vec![0u32; mask.len()];
    let mut sizes = vec![0usize];
    let mut of_root = vec![0u32; runs.len()];
    for (i, &(y, a, b)) in runs.iter().enumerate() {
        let root = find(&mut parent, i);
        if of_root[root] == 0 {
            of_root[root] = sizes.len() as u32;
            sizes.push(0);
        }
        let l = of_root[root];
        sizes[l as usize] += b - a;
        labels[y * w + a..y * w + b].fill(l);
    }
    (labels, sizes)
}

/// An animal's mask with a soft edge, over the part of the analysis grid around it.
#[derive(Clone)]
pub(super) struct Feathered {
    /// Weights in 0..=1, `w * h`, row-major.
    pub(super) weights: Vec<f32>,
    /// Where the part starts on the analysis grid, in cells.
    pub(super) x0: usize,
    pub(super) y0: usize,
    pub(super) w: usize,
    pub(super) h: usize,
}

/// The region dilated by two cells, then a 5 x 5 box filter: a soft edge about two cells
/// wide outside it. Computed over the region's box grown by five cells (beyond the reach of the
/// dilation and the filter, every weight is 0), not over the whole grid.
pub(super) fn feather(region: &Region, w: usize, h: usize) -> Feathered {
    let (x0, y0) = (region.x0.saturating_sub(5), region.y0.saturating_sub(5));
    let (x1, y1) = ((region.x1 + 5).min(w), (region.y1 + 5).min(h));
    let (fw, fh) = (x1 - x0, y1 - y0);
    let inside: Vec<bool> = (y0..y1).flat_map(|y| region.cells[y * w + x0..y * w + x1].iter().copied()).collect();
    let dilated = dilate(&inside, fw, fh, 2);
    let m: Vec<f32> = dilated.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
    Feathered { weights: box_mean(&m, fw, fh, 2), x0, y0, w: fw, h: fh }
}

/// A mask grown by `radius` cells in every direction (a square): how many set cells each
/// square holds, by running counts along the rows and then down the columns, as [`box_mean`]
/// sums; linear in the cells whatever the radius.
pub(crate) fn dilate(mask: &[bool], w: usize, h: usize, radius: usize) -> Vec<bool> {
    let mut rows = vec![0u32; mask.len()];
    for (src, dst) in mask.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        let mut count: u32 = src.iter().take(radius).map(|&b| u32::from(b)).sum();
        for (x, out) in dst.iter_mut().enumerate() {
            if x + radius < w {
                count += u32::from(src[x + radius]);
            }
            if x > radius {
                count -= u32::from(src[x - radius - 1]);
            }
            *out = count;
        }
    }
    let mut out = vec![false; mask.len()];
    let mut count = vec![0u32; w];
    for row in rows.chunks_exact(w).take(radius) {
        count.iter_mut().zip(row).for_each(|(c, v)| *c += v);
    }
    for y in 0..h {
        if y + radius < h {
            count.iter_mut().zip(&rows[(y + radius) * w..(y + radius + 1) * w]).for_each(|(c, v)| *c += v);
        }
        if y > radius {
            count.iter_mut().zip(&rows[(y - radius - 1) * w..(y - radius) * w]).for_each(|(c, v)| *c -= v);
        }
        out[y * w..(y + 1) * w].iter_mut().zip(&count).for_each(|(o, &c)| *o = c > 0);
    }
    out
}

/// The mean over the `(2 radius + 1)`-square around each cell (edge cells average what they
/// have): running sums along each row, then a running sum of whole rows down the columns.
pub(super) fn box_mean(m: &[f32], w: usize, h: usize, radius: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; m.len()];
    for (src, dst) in m.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        let mut sum: f32 = src.iter().take(radius).sum();
        for (x, out) in dst.iter_mut().enumerate() {
            if x + radius < w {
                sum += src[x + radius];
            }
            if x > radius {
                sum -= src[x - radius - 1];
            }
            *out = sum / ((x + radius + 1).min(w) - x.saturating_sub(radius)) as f32;
        }
    }
    let mut out = vec![0.0f32; m.len()];
    let mut sum = vec![0.0f32; w];
    for row in rows.chunks_exact(w).take(radius) {
        sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    for y in 0..h {
        if y + radius < h {
            sum.iter_mut().zip(&rows[(y + radius) * w..(y + radius + 1) * w]).for_each(|(s, v)| *s += v);
        }
        if y > radius {
            sum.iter_mut().zip(&rows[(y - radius - 1) * w..(y - radius) * w]).for_each(|(s, v)| *s -= v);
        }
        let n = ((y + radius + 1).min(h) - y.saturating_sub(radius)) as f32;
        out[y * w..(y + 1) * w].iter_mut().zip(&sum).for_each(|(o, s)| *o = s / n);
    }
    out
}

/// The median of values in 0..=1, to 1/255 (rounded down); 0 for none.
pub(super) fn median_level(values: impl Iterator<Item = f32>) -> f32 {
    let mut hist = [0usize; 256];
    let mut n = 0usize;
    for x in values {
        hist[(x.clamp(0.0, 1.0) * 255.0) as usize] += 1;
        n += 1;
    }
    let mut seen = 0;
    for (level, &c) in hist.iter().enumerate() {
        seen += c;
        if seen * 2 >= n && n > 0 {
            return level as f32 / 255.0;
        }
    }
    0.0
}

/// The film reduced to about [`ANALYSIS_SIDE`] on its longer side, with the reduction factor.
pub(super) fn analysis_grid(norm: &[f32], w: usize, h: usize) -> (Vec<f32>, usize, usize, usize) {
    let r = w.max(h).div_ceil(ANALYSIS_SIDE).max(1);
    let (small, sw, sh) = box_reduce(norm, w, h, r);
    (small, sw, sh, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_outside_the_area_count_as_its_background() {
        // A 6 x 4 grid of 2-pixel cells; the area leaves out the first column and the last row
        // of cells.
        let small: Vec<f32> = (0..24).map(|c| if c % 6 == 0 { 0.0 } else { 0.1 + 0.01 * (c % 3) as f32 }).collect();
        let area = FilmArea { x0: 2, y0: 0, x1: 12, y1: 6 };
        let levels = area.cells_as_film(&small, 6, 4, 2);
        let background =
            median_level(small.iter().enumerate().filter(|(c, _)| c % 6 != 0 && c / 6 < 3).map(|(_, &v)| v));
        for (c, (&v, &s)) in levels.iter().zip(&small).enumerate() {
            let inside = c % 6 != 0 && c / 6 < 3;
            assert_eq!(v, if inside { s } else { background }, "cell {c}");
        }
        // The whole film, ending in a partial cell, is borrowed as it is.
        let whole = FilmArea { x0: 0, y0: 0, x1: 11, y1: 8 };
        assert!(matches!(whole.cells_as_film(&small, 6, 4, 2), std::borrow::Cow::Borrowed(_)));
    }

    /// 8-connected labelling by flood fill, one cell at a time: the definition [`label`] must
    /// reproduce (labels numbered in scan order of each region's first cell).
    fn flood_labels(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<usize>) {
        let mut labels = vec![0u32; mask.len()];
        let mut sizes = vec![0usize];
        for start in 0..mask.len() {
            if !mask[start] || labels[start] != 0 {
                continue;
            }
            let l = sizes.len() as u32;
            sizes.push(0);
            labels[start] = l;
            let mut stack = vec![start];
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

    #[test]
    fn run_labelling_equals_the_flood_fill() {
        let mut state = 0x1234_5678u32;
        for (w, h, density) in [(1, 1, 50), (7, 5, 50), (40, 30, 45), (64, 64, 55), (100, 3, 60), (3, 100, 60)] {
            for _ in 0..20 {
                let mask: Vec<bool> = (0..w * h)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        state % 100 < density
                    })
                    .collect();
                assert_eq!(label(&mask, w, h), flood_labels(&mask, w, h), "{w} x {h}");
            }
        }
        // Shapes that join late: a U, whose arms meet only at the bottom, and diagonal steps.
        let u = ["#...#", "#...#", "#####"];
        let diagonal = ["#....", ".#...", "..#.#", "...#."];
        for rows in [&u[..], &diagonal[..]] {
            let (w, h) = (rows[0].len(), rows.len());
            let mask: Vec<bool> = rows.iter().flat_map(|r| r.chars().map(|c| c == '#')).collect();
            let (labels, sizes) = label(&mask, w, h);
            assert_eq!(sizes.len(), 2, "one region: {labels:?}");
            assert_eq!((labels, sizes), flood_labels(&mask, w, h));
        }
    }

    #[test]
    fn dilation_and_box_mean_match_their_definitions() {
        let (w, h) = (13, 9);
        let mask: Vec<bool> = (0..w * h).map(|i| i == 20 || i == 100).collect();
        let grown = dilate(&mask, w, h, 2);
        for y in 0..h {
            for x in 0..w {
                let near = [20usize, 100].iter().any(|&c| (c % w).abs_diff(x) <= 2 && (c / w).abs_diff(y) <= 2);
                assert_eq!(grown[y * w + x], near, "({x}, {y})");
            }
        }
        let v: Vec<f32> = (0..w * h).map(|i| (i % 7) as f32).collect();
        let mean = box_mean(&v, w, h, 2);
        for y in 0..h {
            for x in 0..w {
                let (mut s, mut n) = (0.0f32, 0.0f32);
                for ny in y.saturating_sub(2)..(y + 3).min(h) {
                    for nx in x.saturating_sub(2)..(x + 3).min(w) {
                        s += v[ny * w + nx];
                        n += 1.0;
                    }
                }
                assert!((mean[y * w + x] - s / n).abs() < 1e-4, "({x}, {y})");
            }
        }
    }
}
