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

/// Adds `mark` to `film` (bone bright, any bit depth), drawing its placement from `rng`. Every
/// mark stays within 12 % of the film's edges, as on real films; where an animal's tail or paw
/// reaches that far, the mark covers it, as it would there too.
pub fn add_mark(film: &mut GrayImage16, mark: FilmMark, rng: &mut Rng) {
    let max = f32::from(film.max_value());
    let (w, h) = (film.width as usize, film.height as usize);
    let side = w.min(h);
    let corner = rng.below(4);
    match mark {
        FilmMark::Ruler => ruler(film, rng.below(4), 0.93 * max),
        FilmMark::Text => {
            let text =
                format!("MX{:05}  2026-{:02}-{:02}  HRWL", rng.below(100_000), 1 + rng.below(12), 1 + rng.below(28));
            let px = side as f32 * 0.035;
            text_at(film, &text, px, corner, 0.97 * max);
        }
        FilmMark::BrightFrame => {
            let b = (side * (20 + rng.below(21)) / 1000).max(1);
            for y in 0..h {
                for x in 0..w {
                    if x < b || y < b || x + b >= w || y + b >= h {
                        film.pixels[y * w + x] = max as u16;
                    }
                }
            }
        }
        FilmMark::LeadMarker => {
            let letter = if rng.chance(0.5) { "L" } else { "R" };
            text_at(film, letter, side as f32 * 0.07, corner, max);
        }
        FilmMark::CassetteEdge => {
            let band = side * (3 + rng.below(4)) / 100;
            let edge = rng.below(4);
            for y in 0..h {
                for x in 0..w {
                    let inside = match edge {
                        0 => y < band,
                        1 => x + band >= w,
                        2 => y + band >= h,
                        _ => x < band,
                    };
                    if inside {
                        film.pixels[y * w + x] = 0;
                    }
                }
            }
        }
    }
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
            add_mark(&mut film, mark, &mut Rng::new(7, k as u64));
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
}
