//! Measuring on the films: the tool being used (its clicks so far), the drawing of finished and
//! unfinished measurements over a panel, and the findings panel's list of them. The
//! measurements themselves, their values and the scale live in [`crate::review::measurement`].

use egui::{Color32, Painter, Pos2, Stroke, Ui};

use crate::review::measurement::{MeasureKind, Measurement, Scale, TIBIA_LENGTH};
use crate::specimen::View;

/// The measurement being drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureTool {
    /// What it measures.
    pub kind: MeasureKind,
    /// The specimen and film clicked first; a click on another film, or on another specimen's,
    /// starts over there.
    pub view: Option<(String, View)>,
    /// Points so far, in original pixels.
    pub points: Vec<[f64; 2]>,
}

impl MeasureTool {
    /// A fresh tool of `kind`.
    pub fn new(kind: MeasureKind) -> MeasureTool {
        MeasureTool { kind, view: None, points: Vec::new() }
    }

    /// Adds a click at original pixel `p` of `view` of `specimen`; returns the specimen and the
    /// measurement once it has all its points (the tool then starts afresh, ready for the next).
    pub fn click(&mut self, specimen: &str, view: View, p: [f64; 2]) -> Option<(String, Measurement)> {
        if self.view.as_ref().is_none_or(|(s, v)| s != specimen || *v != view) {
            self.view = Some((specimen.to_owned(), view));
            self.points.clear();
        }
        self.points.push(p);
        if self.points.len() < self.kind.points() {
            return None;
        }
        let points = std::mem::take(&mut self.points);
        self.view = None;
        let made = crate::timestamp::timestamp_now();
        let m = Measurement { view, kind: self.kind, points, parameter: None, known_mm: None, finding: None, made };
        Some((specimen.to_owned(), m))
    }

    /// What to do next, for the viewer's hint line.
    pub fn hint(&self) -> String {
        let left = self.kind.points() - self.points.len().min(self.kind.points());
        format!("{}: {} ({left} more; Esc cancels)", self.kind.label(), self.kind.how())
    }
}

const COLOR: Color32 = Color32::from_rgb(255, 200, 40);
const CALIBRATION: Color32 = Color32::from_rgb(90, 200, 255);
const MARK: Color32 = Color32::from_rgb(255, 110, 180);

/// Draws `view`'s measurements, and the tool's unfinished one, over a panel. `to_screen` maps
/// original pixels to screen points; `hover` (screen) extends the unfinished one to the pointer;
/// `label_of` names a mark's finding.
#[allow(clippy::too_many_arguments)]
pub fn draw(
    painter: &Painter,
    measurements: &[Measurement],
    label_of: &dyn Fn(&str) -> String,
    view: View,
    scale: Option<&Scale>,
    tool: Option<&MeasureTool>,
    hover: Option<Pos2>,
    to_screen: &dyn Fn([f64; 2]) -> Pos2,
) {
    let font = egui::FontId::proportional(13.0);
    let mut placed: Vec<egui::Rect> = Vec::new();
    for (k, m) in measurements.iter().enumerate().filter(|(_, m)| m.view == view) {
        let color = match m.kind {
            MeasureKind::Calibration => CALIBRATION,
            MeasureKind::Mark | MeasureKind::Region => MARK,
            _ => COLOR,
        };
        let points: Vec<Pos2> = m.points.iter().map(|p| to_screen(*p)).collect();
        if let (MeasureKind::Region, [a, b]) = (m.kind, m.points.as_slice()) {
            region(painter, *a, *b, to_screen, color);
        } else {
            lines(painter, m.kind, &points, color);
        }
        let value = m.value(scale).map_or_else(|| "?".to_owned(), |v| v.text());
        let name = if m.parameter.as_deref() == Some(TIBIA_LENGTH) { " tibia" } else { "" };
        // A mark's label sits at its tail, away from the spot it shows.
        let anchor = match m.kind {
            MeasureKind::Angle | MeasureKind::Mark => {
                points.get(if m.kind == MeasureKind::Mark { 0 } else { 1 }).copied()
            }
            // At the box's top right corner on screen, clear of the region.
            MeasureKind::Region => points.iter().copied().reduce(|a, b| egui::pos2(a.x.max(b.x), a.y.min(b.y))),
            _ => points.last().copied(),
        };
        if let Some(at) = anchor {
            let text = match (m.kind, m.finding.as_deref()) {
                (MeasureKind::Mark | MeasureKind::Region, Some(f)) => format!("{}: {}", k + 1, label_of(f)),
                _ => format!("{}{name}: {value}", k + 1),
            };
            let galley = painter.layout_no_wrap(text, font.clone(), color);
            let rect = egui::Rect::from_min_size(at + egui::vec2(8.0, -8.0), galley.size()).expand(2.0);
            let rect = keep_inside(free_spot(rect, &placed), painter.clip_rect());
            placed.push(rect);
            painter.rect_filled(rect, 2.0, Color32::from_black_alpha(170));
            painter.galley(rect.min + egui::vec2(2.0, 2.0), galley, color);
        }
    }
    if let Some(t) = tool.filter(|t| t.view.as_ref().is_some_and(|(_, v)| *v == view)) {
        let mut points: Vec<Pos2> = t.points.iter().map(|p| to_screen(*p)).collect();
        points.extend(hover);
        match (t.kind, points.as_slice()) {
            // The box the region will fill, up to the pointer.
            (MeasureKind::Region, [a, b]) => {
                let stroke = Stroke::new(1.0, MARK.gamma_multiply(0.7));
                painter.rect_stroke(egui::Rect::from_two_pos(*a, *b), 0.0, stroke, egui::StrokeKind::Middle);
            }
            _ => lines(painter, t.kind, &points, COLOR.gamma_multiply(0.7)),
        }
    }
}

/// `rect` moved down, a label's height at a time, until it overlaps none of `placed` (at most
/// eight steps: a crowd of labels then overlaps rather than running off the film).
fn free_spot(rect: egui::Rect, placed: &[egui::Rect]) -> egui::Rect {
    let mut r = rect;
    for _ in 0..8 {
        if !placed.iter().any(|p| p.intersects(r)) {
            return r;
        }
        r = r.translate(egui::vec2(0.0, rect.height() + 1.0));
    }
    r
}

/// `rect` moved the least that puts it inside `bounds` (where it fits), so a label beside a
/// point near the film's edge is not cut off.
fn keep_inside(rect: egui::Rect, bounds: egui::Rect) -> egui::Rect {
    let dx = (bounds.max.x - rect.max.x).min(0.0) + (bounds.min.x - rect.min.x).max(0.0);
    let dy = (bounds.max.y - rect.max.y).min(0.0) + (bounds.min.y - rect.min.y).max(0.0);
    rect.translate(egui::vec2(dx, dy))
}

/// A region: the ellipse in the box of original-pixel corners `a` and `b`, drawn through
/// `to_screen` (affine, so the ellipse's centre and half-axes map to the screen's).
fn region(painter: &Painter, a: [f64; 2], b: [f64; 2], to_screen: &dyn Fn([f64; 2]) -> Pos2, color: Color32) {
    let centre = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    let c = to_screen(centre);
    let u = to_screen([b[0].max(a[0]), centre[1]]) - c;
    let v = to_screen([centre[0], b[1].max(a[1])]) - c;
    let outline: Vec<Pos2> = (0..48)
        .map(|k| {
            let t = k as f32 / 48.0 * std::f32::consts::TAU;
            c + u * t.cos() + v * t.sin()
        })
        .collect();
    painter.add(egui::Shape::closed_line(outline, Stroke::new(2.0, color)));
}

/// The strokes of a measurement's points as far as they go.
fn lines(painter: &Painter, kind: MeasureKind, points: &[Pos2], color: Color32) {
    let stroke = Stroke::new(1.5, color);
    for p in points {
        painter.circle_stroke(*p, 3.0, stroke);
    }
    match kind {
        // Cobb: two separate lines.
        MeasureKind::Cobb => {
            for pair in points.chunks(2) {
                if let [a, b] = pair {
                    painter.line_segment([*a, *b], stroke);
                }
            }
        }
        // An arrow, its head at the spot.
        MeasureKind::Mark => {
            if let [tail, head] = points {
                painter.arrow(*tail, *head - *tail, Stroke::new(2.0, color));
            }
        }
        _ => {
            for pair in points.windows(2) {
                painter.line_segment([pair[0], pair[1]], stroke);
            }
        }
    }
}

/// What the findings panel's measurement list asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureAction {
    /// Start drawing one of this kind.
    Start(MeasureKind),
    /// Remove the measurement at this index.
    Remove(usize),
    /// Record (or stop recording) the distance at this index as the IMPC tibia length.
    Tibia(usize, bool),
    /// Find the ruler on the films and propose the scale.
    FindRuler,
}

/// The specimen's measurements with their values, and the tools to add more.
pub fn list(
    ui: &mut Ui,
    measurements: &[Measurement],
    scale_of: &dyn Fn(View) -> Option<Scale>,
    label_of: &dyn Fn(&str) -> String,
) -> Vec<MeasureAction> {
    let mut actions = Vec::new();
    ui.horizontal_wrapped(|ui| {
        ui.label("Measure:");
        for kind in MeasureKind::ALL {
            if ui.small_button(kind.label()).on_hover_text(kind.how()).clicked() {
                actions.push(MeasureAction::Start(kind));
            }
        }
        let c = super::command::UICommand::FindRuler;
        if ui.small_button(c.label()).on_hover_text(c.tooltip()).clicked() {
            actions.push(MeasureAction::FindRuler);
        }
    });
    for (k, m) in measurements.iter().enumerate() {
        let scale = scale_of(m.view);
        ui.horizontal_wrapped(|ui| {
            if ui.small_button("x").on_hover_text("remove this measurement").clicked() {
                actions.push(MeasureAction::Remove(k));
            }
            let value = match (m.kind, m.finding.as_deref()) {
                (MeasureKind::Mark | MeasureKind::Region, Some(f)) => label_of(f),
                _ => m.value(scale.as_ref()).map_or_else(|| "?".to_owned(), |v| v.text()),
            };
            let kind = match m.kind {
                MeasureKind::Mark => "Mark",
                MeasureKind::Region => "Region",
                k => k.label(),
            };
            ui.label(format!("{} {} {kind}: {value}", k + 1, m.view.as_str().to_uppercase()));
            if m.kind == MeasureKind::Distance {
                let mut tibia = m.parameter.as_deref() == Some(TIBIA_LENGTH);
                if ui.checkbox(&mut tibia, "tibia").on_hover_text(format!("export as {TIBIA_LENGTH}")).changed() {
                    actions.push(MeasureAction::Tibia(k, tibia));
                }
            }
        });
    }
    let shown: Vec<_> = measurements.iter().filter(|m| m.kind == MeasureKind::Distance).collect();
    if let Some(m) = shown.first() {
        let text = match scale_of(m.view) {
            Some(s) if (s.aspect - 1.0).abs() > 1e-6 => format!(
                "scale {:.4} mm/px across, {:.4} down (oblong pixels), from {}",
                s.mm_per_px,
                s.mm_per_px * s.aspect,
                s.source
            ),
            Some(s) => format!("scale {:.4} mm/px, from {}", s.mm_per_px, s.source),
            None => "no scale: calibrate on the film's ruler once for this folder".to_owned(),
        };
        ui.label(egui::RichText::new(text).small());
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_collects_its_points_on_one_film_and_starts_over_on_another() {
        let mut t = MeasureTool::new(MeasureKind::Angle);
        assert_eq!(t.click("A", View::Dv, [0.0, 0.0]), None);
        // A click on the other film starts over there, and so does one on another specimen.
        assert_eq!(t.click("A", View::Lv, [9.0, 9.0]), None);
        assert_eq!(t.click("B", View::Lv, [1.0, 0.0]), None);
        assert_eq!(t.points, vec![[1.0, 0.0]]);
        assert_eq!(t.click("B", View::Lv, [0.0, 0.0]), None);
        let done = t.click("B", View::Lv, [0.0, 1.0]);
        assert_eq!(done.as_ref().map(|(s, m)| (s.as_str(), m.view, m.points.len())), Some(("B", View::Lv, 3)));
        assert!((done.and_then(|(_, m)| m.angle_deg()).unwrap_or(0.0) - 90.0).abs() < 1e-9);
        // Ready for the next.
        assert!(t.points.is_empty() && t.view.is_none());
    }

    #[test]
    fn labels_at_the_same_spot_stack_instead_of_overlapping() {
        let label = egui::Rect::from_min_size(egui::pos2(10.0, 10.0), egui::vec2(80.0, 18.0));
        let mut placed = Vec::new();
        for _ in 0..3 {
            let r = free_spot(label, &placed);
            assert!(placed.iter().all(|p: &egui::Rect| !p.intersects(r)), "{r:?} overlaps {placed:?}");
            placed.push(r);
        }
        assert_eq!(placed[0], label, "a free spot stays where it is");
        assert!(placed[2].min.y > placed[1].min.y && placed[1].min.y > placed[0].min.y);
        // A label past the pane's right or top edge comes back inside it.
        let pane = egui::Rect::from_min_size(egui::pos2(0.0, 0.0), egui::vec2(100.0, 100.0));
        let out = egui::Rect::from_min_size(egui::pos2(60.0, -5.0), egui::vec2(80.0, 18.0));
        let inside = keep_inside(out, pane);
        assert!(pane.contains_rect(inside), "{inside:?}");
        assert_eq!(keep_inside(label, pane), label, "one inside stays");
    }
}
