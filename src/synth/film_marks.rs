//! What real films carry besides the animal (rulers, burned-in text, unexposed borders, lead
//! letter markers, cassette edges), added to a rendered film afterwards. The same film with and
//! without a mark is how the classifier's indifference to everything but the animal is measured
//! ([`crate::training::invariance`]).

use ab_glyph::{Font, FontRef, PxScale, point};

use super::Rng;
use crate::imaging::GrayImage16;

/// A kind of mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilmMark {
    /// A radiopaque ruler with millimetre ticks beside the animal, along one edge.
    Ruler,
    /// Burned-in text (specimen, date, centre) in a corner.
    Text,
    /// An unexposed or collimated border, 2 to 4 % of the film's side wide (20 to 40 px on a
    /// 1,000 px film), brighter than anything else.
    BrightFrame,
    /// A lead letter marker ("L" or "R") near a corner.
    LeadMarker,
    /// A dark band along one edge, where the cassette's edge let more radiation through.
    CassetteEdge,
}

impl FilmMark {
    /// Every kind, in report order.
    pub const ALL: [FilmMark; 5] =
        [FilmMark::Ruler, FilmMark::Text, FilmMark::BrightFrame, FilmMark::LeadMarker, FilmMark::CassetteEdge];

    /// Name as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FilmMark::Ruler => "ruler",
            FilmMark::Text => "text",
            FilmMark::BrightFrame => "bright_frame",
            FilmMark::LeadMarker => "lead_marker",
            FilmMark::CassetteEdge => "cassette_edge",
        }
    }
}

/// Adds `mark` to `film` (bone bright, any bit depth) beside the animal, drawing its placement
/// from `rng`: of the mark's placements (an edge for a ruler or a cassette edge, a corner for
/// text or a lead marker), the first from a random start that stays 1.5 % of the film's side
/// clear of the animal (every pixel above the background by 5 % of the film's range). Where
/// none is clear (the animal reaches every edge), the film is first extended by the mark's
/// reach with background on that side, as a larger film would be; a bright frame is drawn
/// over the film's margin when that is clear of the animal, and around the film otherwise. A
/// mark on the animal changes the animal, which is not what these marks are for.
pub fn add_mark(film: &mut GrayImage16, mark: FilmMark, rng: &mut Rng) -> MarkPlacement {
    add_mark_to_all(std::slice::from_mut(film), mark, rng)
}

/// [`add_mark`] on films of one size that must carry the same mark in the same place, such as
/// the two members of a counterfactual pair: a placement is taken only where it stays clear of
/// the animal on every film, and where none does, every film is extended alike. The mark's
/// size follows the first film. The draws from `rng` are those of [`add_mark`], so one film
/// gets exactly what [`add_mark`] gives it; no film draws nothing and returns `Beside`.
pub fn add_mark_to_all(films: &mut [GrayImage16], mark: FilmMark, rng: &mut Rng) -> MarkPlacement {
    let start = rng.below(4);
    let text = format!("MX{:05}  2026-{:02}-{:02}  HRWL", rng.below(100_000), 1 + rng.below(12), 1 + rng.below(28));
    let frame = 20 + rng.below(21);
    let band = 3 + rng.below(4);
    let letter = if rng.chance(0.5) { "L" } else { "R" };
    // Sizes follow the film as given: drawn on a film extended for it, a frame covers exactly
    // the added film and a cassette edge exactly its band.
    let Some(first) = films.first() else { return MarkPlacement::Beside };
    debug_assert!(films.iter().all(|f| (f.width, f.height) == (first.width, first.height)), "films of one size");
    let side = first.width.min(first.height) as usize;
    let draw = |film: &mut GrayImage16, place: usize| {
        let max = f32::from(film.max_value());
        match mark {
            FilmMark::Ruler => ruler(film, place, 0.93 * max),
            FilmMark::Text => text_at(film, &text, side as f32 * 0.035, place, 0.97 * max),
            FilmMark::BrightFrame => {
                let b = (side * frame / 1000).max(1);
                edge_band(film, b, [true; 4], max as u16);
            }
            FilmMark::LeadMarker => text_at(film, letter, side as f32 * 0.07, place, max),
            FilmMark::CassetteEdge => {
                let mut edges = [false; 4];
                edges[place] = true;
                edge_band(film, side * band / 100, edges, 0);
            }
        }
    };
    let clear: Vec<Clearance> = films.iter().map(Clearance::of).collect();
    let places: Vec<usize> =
        if mark == FilmMark::BrightFrame { vec![0] } else { (0..4).map(|k| (start + k) % 4).collect() };
    for &place in &places {
        let mut marked = films.to_vec();
        marked.iter_mut().for_each(|m| draw(m, place));
        if clear.iter().zip(films.iter()).zip(&marked).all(|((c, film), m)| c.allows(film, m)) {
            films.clone_from_slice(&marked);
            return MarkPlacement::Beside;
        }
    }
    // No clear placement: more film around the animal, then the mark on it.
    let reach = match mark {
        FilmMark::Ruler => side * 3 / 100 + (side / 80).max(2) * 3 + side * 2 / 100,
        FilmMark::Text | FilmMark::LeadMarker => side * 12 / 100,
        FilmMark::BrightFrame => (side * frame / 1000).max(1),
        FilmMark::CassetteEdge => side * band / 100,
    };
    let edges = if mark == FilmMark::BrightFrame {
        [true; 4]
    } else {
        let mut e = [false; 4];
        e[start] = true;
        // A corner mark needs room along both of its edges (corner k sits on edges k and k+3).
        if matches!(mark, FilmMark::Text | FilmMark::LeadMarker) {
            e[(start + 3) % 4] = true;
        }
        e
    };
    for (film, c) in films.iter_mut().zip(&clear) {
        *film = extend(film, reach, edges, c.background);
        draw(film, if mark == FilmMark::BrightFrame { 0 } else { start });
    }
    MarkPlacement::FilmExtended
}

/// The same film with `by` pixels of its background (its median level) added at the top and the
/// left: the animal moved down and right by whole pixels and nothing else changed. The control
/// for a mark that extends the film, which moves the animal the same way.
pub fn move_film(film: &GrayImage16, by: usize) -> GrayImage16 {
    let (_, background) = animal_pixels(film, 0.05);
    extend(film, by, [true, false, false, true], background)
}

/// The same film inside a margin of `by` pixels of bare film on every edge: a detector larger
/// than the animal, with room for marks beside it. Each added pixel is a pixel of the film's
/// own background drawn at random by `rng`, so the margin carries the film's noise (a
/// noise-free band would read as an unexposed border). The animal moves by `by` pixels right
/// and down, a whole number of the analysis grid's cells when `by` is even.
pub fn with_margin(film: &GrayImage16, by: usize, rng: &mut Rng) -> GrayImage16 {
    // Background well clear of the 5 % that [`add_mark`] keeps its marks away from: on the
    // larger film that level moves a little, and noise above it would read as animal.
    let (near_animal, background) = animal_pixels(film, 0.025);
    let pool: Vec<u16> = film.pixels.iter().zip(&near_animal).filter(|(_, a)| !**a).map(|(&v, _)| v).collect();
    let mut out = extend(film, by, [true; 4], background);
    if pool.is_empty() {
        return out;
    }
    let (w, h, nw) = (film.width as usize, film.height as usize, out.width as usize);
    for (i, v) in out.pixels.iter_mut().enumerate() {
        let (x, y) = (i % nw, i / nw);
        if x < by || y < by || x >= by + w || y >= by + h {
            *v = pool[rng.below(pool.len())];
        }
    }
    out
}

/// Where [`add_mark`] put a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkPlacement {
    /// On the film, clear of the animal.
    Beside,
    /// On film added around the original, which had no room clear of the animal.
    FilmExtended,
}

impl MarkPlacement {
    /// Name as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            MarkPlacement::Beside => "beside the animal",
            MarkPlacement::FilmExtended => "film extended",
        }
    }
}

/// The pixels of a rendered film that belong to the animal: above the film's median (its
/// background, returned too) by `share` of the range up to its 99.9th percentile.
pub fn animal_pixels(film: &GrayImage16, share: f32) -> (Vec<bool>, u16) {
    let mut sorted = film.pixels.clone();
    sorted.sort_unstable();
    let background = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
    let top = sorted.get(sorted.len() * 999 / 1000).copied().unwrap_or(0);
    let level = f32::from(background) + share * (f32::from(top) - f32::from(background));
    (film.pixels.iter().map(|&v| f32::from(v) > level).collect(), background)
}

/// Where the animal is on a film, for placing marks clear of it.
struct Clearance {
    /// Pixels within the clearance of the animal.
    near: Vec<bool>,
    width: usize,
    /// The film's median level.
    background: u16,
}

impl Clearance {
    fn of(film: &GrayImage16) -> Clearance {
        let (w, h) = (film.width as usize, film.height as usize);
        let (animal, background) = animal_pixels(film, 0.05);
        let near = crate::imaging::dilate(&animal, w, h, (w.min(h) * 15 / 1000).max(1));
        Clearance { near, width: w, background }
    }

    /// Whether `marked` differs from `film` only away from the animal.
    fn allows(&self, film: &GrayImage16, marked: &GrayImage16) -> bool {
        film.width as usize == self.width
            && marked.pixels.len() == film.pixels.len()
            && film.pixels.iter().zip(&marked.pixels).zip(&self.near).all(|((a, b), &n)| a == b || !n)
    }
}

/// Sets a band `b` pixels wide along the chosen edges (top, right, bottom, left) to `value`.
fn edge_band(film: &mut GrayImage16, b: usize, edges: [bool; 4], value: u16) {
    let (w, h) = (film.width as usize, film.height as usize);
    for y in 0..h {
        for x in 0..w {
            let inside =
                (edges[0] && y < b) || (edges[1] && x + b >= w) || (edges[2] && y + b >= h) || (edges[3] && x < b);
            if inside {
                film.pixels[y * w + x] = value;
            }
        }
    }
}

/// The film with `by` pixels of `value` added along the chosen edges (top, right, bottom,
/// left).
fn extend(film: &GrayImage16, by: usize, edges: [bool; 4], value: u16) -> GrayImage16 {
    let (w, h) = (film.width as usize, film.height as usize);
    let pad = |on: bool| if on { by } else { 0 };
    let (top, right, bottom, left) = (pad(edges[0]), pad(edges[1]), pad(edges[2]), pad(edges[3]));
    let (nw, nh) = (w + left + right, h + top + bottom);
    let mut pixels = vec![value; nw * nh];
    for y in 0..h {
        pixels[(y + top) * nw + left..(y + top) * nw + left + w].copy_from_slice(&film.pixels[y * w..(y + 1) * w]);
    }
    GrayImage16 { width: nw as u32, height: nh as u32, bits: film.bits, pixels, format: film.format }
}

/// A bar with millimetre ticks (one every 1 % of the side, longer every fifth and tenth) along
/// `edge` (0 top, 1 right, 2 bottom, 3 left), inset 3 % from it.
fn ruler(film: &mut GrayImage16, edge: usize, value: f32) {
    let (w, h) = (film.width as usize, film.height as usize);
    let side = w.min(h);
    let (bar, inset) = ((side / 80).max(2), side * 3 / 100);
    let step = (side / 100).max(2);
    let along = if edge.is_multiple_of(2) { w } else { h };
    for t in along / 10..along * 9 / 10 {
        let k = (t - along / 10) / step;
        let on_tick = (t - along / 10) % step == 0;
        let tick = if !on_tick {
            0
        } else if k % 10 == 0 {
            bar * 2
        } else if k % 5 == 0 {
            bar * 3 / 2
        } else {
            bar
        };
        for d in 0..bar + tick {
            let (x, y) = match edge {
                0 => (t, inset + d),
                1 => (w - 1 - inset - d, t),
                2 => (t, h - 1 - inset - d),
                _ => (inset + d, t),
            };
            if let Some(p) = film.pixels.get_mut(y * w + x) {
                *p = value as u16;
            }
        }
    }
}

/// Draws `text` at `px` pixels high in `corner` (0 top left, clockwise), inset 3 % from the
/// edges, blending towards `value` by glyph coverage.
fn text_at(film: &mut GrayImage16, text: &str, px: f32, corner: usize, value: f32) {
    // The bundled chart font; a failure to parse it would be a build defect, and draws nothing.
    let Ok(font) = FontRef::try_from_slice(include_bytes!("../../assets/fonts/DejaVuSans.ttf")) else { return };
    let scale = PxScale::from(px.max(6.0));
    let width: f32 =
        text.chars().map(|c| font.h_advance_unscaled(font.glyph_id(c)) * scale.x / font.height_unscaled()).sum();
    let (w, h) = (film.width as f32, film.height as f32);
    let inset = w.min(h) * 0.03;
    let x0 = if corner == 1 || corner == 2 { w - inset - width } else { inset };
    let baseline = if corner >= 2 { h - inset - px * 0.25 } else { inset + px };
    let mut x = x0;
    for c in text.chars() {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(scale, point(x, baseline));
        x += font.h_advance_unscaled(id) * scale.x / font.height_unscaled();
        let Some(outline) = font.outline_glyph(glyph) else { continue };
        let bounds = outline.px_bounds();
        let fw = film.width as usize;
        outline.draw(|gx, gy, coverage| {
            let (px_x, px_y) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
            if px_x < 0 || px_y < 0 || px_x >= i64::from(film.width) || px_y >= i64::from(film.height) {
                return;
            }
            let i = px_y as usize * fw + px_x as usize;
            let old = f32::from(film.pixels[i]);
            film.pixels[i] = (old + (value - old) * coverage.clamp(0.0, 1.0)).round() as u16;
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::imaging::FileFormat;

    #[test]
    fn every_mark_changes_only_the_film_s_margins() {
        let (w, h) = (384u32, 384u32);
        let clean = GrayImage16::new(w, h, 14, vec![2000; (w * h) as usize], FileFormat::Png).unwrap();
        for (k, mark) in FilmMark::ALL.into_iter().enumerate() {
            let mut film = clean.clone();
            assert_eq!(add_mark(&mut film, mark, &mut Rng::new(7, k as u64)), MarkPlacement::Beside);
            let changed: Vec<(usize, usize)> = film
                .pixels
                .iter()
                .zip(&clean.pixels)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| (i % w as usize, i / w as usize))
                .collect();
            assert!(changed.len() > 50, "{mark:?} drew {} pixels", changed.len());
            let margin = (w as usize * 12) / 100;
            let inner = |&(x, y): &(usize, usize)| {
                x > margin && y > margin && x + margin < w as usize && y + margin < h as usize
            };
            assert!(!changed.iter().any(inner), "{mark:?} reached the middle of the film");
        }
    }

    #[test]
    fn a_border_around_a_film_the_animal_fills_covers_the_added_film_only() {
        // A bright film edge to edge: no room beside it, so the film is extended first.
        let (w, h) = (384u32, 384u32);
        let pixels = (0..w * h).map(|i| 9000 + (i % 97) as u16).collect();
        let clean = GrayImage16::new(w, h, 14, pixels, FileFormat::Png).unwrap();
        for (mark, seed) in [(FilmMark::BrightFrame, 3u64), (FilmMark::CassetteEdge, 4)] {
            let mut film = clean.clone();
            assert_eq!(add_mark(&mut film, mark, &mut Rng::new(7, seed)), MarkPlacement::FilmExtended);
            // Wherever the original sits in the larger film, it is there untouched.
            let (fw, fh) = (film.width as usize, film.height as usize);
            let found =
                (0..=fh - h as usize).flat_map(|y| (0..=fw - w as usize).map(move |x| (x, y))).any(|(x0, y0)| {
                    (0..h as usize).all(|y| {
                        film.pixels[(y0 + y) * fw + x0..(y0 + y) * fw + x0 + w as usize]
                            == clean.pixels[y * w as usize..(y + 1) * w as usize]
                    })
                });
            assert!(found, "{mark:?} drew over the original film ({fw} x {fh})");
        }
    }

    #[test]
    fn a_moved_film_is_the_film_lower_and_further_right_on_its_own_background() {
        // A dark film with a bright square: the median is the background.
        let (w, h) = (64usize, 48usize);
        let pixels = (0..w * h)
            .map(|i| if (20..30).contains(&(i % w)) && (10..20).contains(&(i / w)) { 9000 } else { 100 })
            .collect();
        let film = GrayImage16::new(w as u32, h as u32, 14, pixels, FileFormat::Png).unwrap();
        let moved = move_film(&film, 3);
        assert_eq!((moved.width, moved.height), (w as u32 + 3, h as u32 + 3));
        for y in 0..h + 3 {
            for x in 0..w + 3 {
                let expected = if x < 3 || y < 3 { 100 } else { film.pixels[(y - 3) * w + x - 3] };
                assert_eq!(moved.pixels[y * (w + 3) + x], expected, "({x}, {y})");
            }
        }
    }

    /// Two films with room for a cassette edge on different sides only: each alone takes its
    /// own side, together neither side is clear of both animals, so both are extended alike.
    #[test]
    fn a_mark_for_several_films_fits_beside_every_animal() {
        let side = 200usize;
        // An "animal" 80 px wide over the film's full height: it reaches the top, the bottom
        // and one side, and leaves the other side clear.
        let film_with_animal = |x0: usize| {
            let mut pixels = vec![1000u16; side * side];
            for y in 0..side {
                for x in x0..x0 + 80 {
                    pixels[y * side + x] = 12_000;
                }
            }
            GrayImage16::new(side as u32, side as u32, 14, pixels, FileFormat::Png).unwrap()
        };
        let (a, b) = (film_with_animal(0), film_with_animal(side - 80));
        for (k, film) in [&a, &b].into_iter().enumerate() {
            let mut alone = film.clone();
            let placed = add_mark(&mut alone, FilmMark::CassetteEdge, &mut Rng::new(3, 1));
            assert_eq!(placed, MarkPlacement::Beside, "film {k} alone has a clear side");
        }
        let mut both = [a.clone(), b.clone()];
        let placed = add_mark_to_all(&mut both, FilmMark::CassetteEdge, &mut Rng::new(3, 1));
        assert_eq!(placed, MarkPlacement::FilmExtended);
        assert_eq!((both[0].width, both[0].height), (both[1].width, both[1].height));
        assert!(both[0].pixels.len() > a.pixels.len(), "extended");
    }
}
