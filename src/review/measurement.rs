//! Measurements a reviewer draws on a film: distances in millimetres (a long bone's length, IMPC
//! tibia length), angles (the kyphosis angle at a vertex) and Cobb angles (scoliosis), the
//! calibration that turns pixels into millimetres, and marks (arrows and regions) that point a
//! finding out for the next reader.
//!
//! Points are kept in the original image's pixel coordinates, so a measurement survives any
//! zoom, pan, rotation or flip of the display. The scale comes from the file itself when it says
//! (DICOM Pixel Spacing), else from a calibration the reviewer drew along the film's ruler: one
//! per folder, since one detector and geometry made its films.

use serde::{Deserialize, Serialize};

use super::model::ReviewState;
use crate::imaging::PixelSpacing;
use crate::specimen::View;

/// The longest ruler stretch a calibration may name, in millimetres (a film is a few
/// centimetres across; a larger number is a typing slip).
pub const MAX_RULER_MM: f64 = 1000.0;

/// IMPC's tibia length parameter (millimetres), the one X-ray measurement of the procedure.
pub const TIBIA_LENGTH: &str = "IMPC_XRY_033_001";

/// What a measurement measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    /// A straight distance between two points (a long bone's length).
    Distance,
    /// The angle at a vertex between two arms: three points, the vertex second (the kyphosis
    /// angle at the apex of the hump).
    Angle,
    /// The Cobb angle: the angle between two lines, two points each, drawn along the end plates
    /// of the curve's end vertebrae (scoliosis). 0 to 90 degrees.
    Cobb,
    /// A known length drawn along the film's ruler: sets the folder's millimetres per pixel.
    Calibration,
    /// An arrow pointing at a finding for the next reader: from its tail to the spot, tied to
    /// a taxonomy node ([`Measurement::finding`]).
    Mark,
    /// A region holding a finding, for the next reader: an ellipse within the box of two
    /// opposite corners, tied to a taxonomy node ([`Measurement::finding`]).
    Region,
}

impl MeasureKind {
    /// Every kind, in the toolbar's order.
    pub const ALL: [MeasureKind; 6] = [
        MeasureKind::Mark,
        MeasureKind::Region,
        MeasureKind::Distance,
        MeasureKind::Angle,
        MeasureKind::Cobb,
        MeasureKind::Calibration,
    ];

    /// Whether it points out a finding (an arrow or a region) rather than measuring.
    pub fn marks_finding(self) -> bool {
        matches!(self, MeasureKind::Mark | MeasureKind::Region)
    }

    /// Points the reviewer clicks.
    pub fn points(self) -> usize {
        match self {
            MeasureKind::Distance | MeasureKind::Calibration | MeasureKind::Mark | MeasureKind::Region => 2,
            MeasureKind::Angle => 3,
            MeasureKind::Cobb => 4,
        }
    }

    /// Its name in the window.
    pub fn label(self) -> &'static str {
        match self {
            MeasureKind::Distance => "Distance",
            MeasureKind::Angle => "Angle",
            MeasureKind::Cobb => "Cobb angle",
            MeasureKind::Calibration => "Calibrate on ruler",
            MeasureKind::Mark => "Mark a finding",
            MeasureKind::Region => "Mark a region",
        }
    }

    /// What to click, for the status line.
    pub fn how(self) -> &'static str {
        match self {
            MeasureKind::Distance => "click both ends (a tibia: knee to ankle joint)",
            MeasureKind::Angle => "click one arm's end, the vertex, then the other arm's end",
            MeasureKind::Cobb => "click two points along each end plate of the curve's end vertebrae",
            MeasureKind::Calibration => "click two ruler marks a known distance apart",
            MeasureKind::Mark => "click where the arrow starts, then the spot it points at",
            MeasureKind::Region => "click two opposite corners of the region",
        }
    }

    /// The key in CSVs.
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureKind::Distance => "distance",
            MeasureKind::Angle => "angle",
            MeasureKind::Cobb => "cobb",
            MeasureKind::Calibration => "calibration",
            MeasureKind::Mark => "mark",
            MeasureKind::Region => "region",
        }
    }
}

/// One measurement on one film.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The film it was drawn on.
    pub view: View,
    /// What it measures.
    pub kind: MeasureKind,
    /// The clicked points, `[x, y]` in the original image's pixels ([`MeasureKind::points`] of
    /// them).
    pub points: Vec<[f64; 2]>,
    /// The IMPC parameter it records, if any ([`TIBIA_LENGTH`] for a tibia).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// For a calibration: the ruler length between the two points, in millimetres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_mm: Option<f64>,
    /// For a mark: the taxonomy node it shows (`kyphosis`, `pelvis`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// When it was drawn (RFC 3339 UTC): the folder's scale is its latest calibration, whatever
    /// was edited since.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub made: String,
}

/// Millimetres per original pixel, and where that comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    /// Millimetres per pixel across the image (x, between columns).
    pub mm_per_px: f64,
    /// Pixel height over width (the DICOM row spacing over the column spacing); 1 for square
    /// pixels and for a ruler calibration.
    pub aspect: f64,
    /// "DICOM Pixel Spacing", or the ruler calibration's specimen and view.
    pub source: String,
}

impl Scale {
    /// Square pixels of `mm_per_px`.
    pub fn square(mm_per_px: f64, source: impl Into<String>) -> Scale {
        Scale { mm_per_px, aspect: 1.0, source: source.into() }
    }
}

/// What a measurement comes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MeasuredValue {
    /// A length in millimetres.
    Millimetres(f64),
    /// A length in pixels: no scale is known.
    Pixels(f64),
    /// An angle in degrees.
    Degrees(f64),
}

impl MeasuredValue {
    /// As the window and the CSV show it: `12.35 mm`, `412 px (no scale)`, `23.4°`.
    pub fn text(self) -> String {
        match self {
            MeasuredValue::Millimetres(v) => format!("{v:.2} mm"),
            MeasuredValue::Pixels(v) => format!("{v:.0} px (no scale)"),
            MeasuredValue::Degrees(v) => format!("{v:.1}°"),
        }
    }
}

fn length(a: [f64; 2], b: [f64; 2]) -> f64 {
    (b[0] - a[0]).hypot(b[1] - a[1])
}

/// Points in pixels to points in units of the pixel width: rows stretched by `aspect`.
fn stretched(points: &[[f64; 2]], aspect: f64) -> Vec<[f64; 2]> {
    points.iter().map(|p| [p[0], p[1] * aspect]).collect()
}

/// The angle between the directions `u` and `v`, in degrees (0 to 180); none if either is a
/// point.
fn angle_between(u: [f64; 2], v: [f64; 2]) -> Option<f64> {
    let (nu, nv) = (u[0].hypot(u[1]), v[0].hypot(v[1]));
    if nu == 0.0 || nv == 0.0 {
        return None;
    }
    let cos = ((u[0] * v[0] + u[1] * v[1]) / (nu * nv)).clamp(-1.0, 1.0);
    Some(cos.acos().to_degrees())
}

impl Measurement {
    /// Whether it has the points its kind needs, all finite.
    pub fn is_complete(&self) -> bool {
        self.points.len() == self.kind.points() && self.points.iter().flatten().all(|v| v.is_finite())
    }

    /// Whether its points coincide, so it measures nothing: a length of zero, or an angle with
    /// an arm of no length.
    pub fn is_degenerate(&self) -> bool {
        match self.kind {
            MeasureKind::Distance | MeasureKind::Calibration | MeasureKind::Mark => {
                self.length_px().is_none_or(|l| l < 1e-9)
            }
            MeasureKind::Angle | MeasureKind::Cobb => self.angle_deg().is_none(),
            // A region with no width or no height holds nothing.
            MeasureKind::Region => match self.points.as_slice() {
                [a, b] => (a[0] - b[0]).abs() < 1e-9 || (a[1] - b[1]).abs() < 1e-9,
                _ => true,
            },
        }
    }

    /// Its length in pixels (distances and calibrations).
    pub fn length_px(&self) -> Option<f64> {
        match (self.kind, self.points.as_slice()) {
            (MeasureKind::Distance | MeasureKind::Calibration | MeasureKind::Mark, [a, b]) => Some(length(*a, *b)),
            _ => None,
        }
    }

    /// Its angle in degrees: at the vertex for [`MeasureKind::Angle`] (0 to 180), between the
    /// two lines for [`MeasureKind::Cobb`] (0 to 90, lines having no direction), on square
    /// pixels.
    pub fn angle_deg(&self) -> Option<f64> {
        self.angle_with_aspect(1.0)
    }

    /// The angle on pixels `aspect` times as high as wide (non-square DICOM pixels).
    fn angle_with_aspect(&self, aspect: f64) -> Option<f64> {
        let d = |a: [f64; 2], b: [f64; 2]| [b[0] - a[0], b[1] - a[1]];
        let points = stretched(&self.points, aspect);
        match (self.kind, points.as_slice()) {
            (MeasureKind::Angle, [a, v, b]) => angle_between(d(*v, *a), d(*v, *b)),
            (MeasureKind::Cobb, [a, b, c, e]) => angle_between(d(*a, *b), d(*c, *e)).map(|t| t.min(180.0 - t)),
            _ => None,
        }
    }

    /// What it comes to with `scale` (a distance without one stays in pixels); none while
    /// incomplete or degenerate.
    pub fn value(&self, scale: Option<&Scale>) -> Option<MeasuredValue> {
        if !self.is_complete() {
            return None;
        }
        match self.kind {
            MeasureKind::Distance => {
                let px = self.length_px()?;
                Some(match (scale, self.points.as_slice()) {
                    (Some(s), [a, b]) => {
                        let p = stretched(&[*a, *b], s.aspect);
                        MeasuredValue::Millimetres(length(p[0], p[1]) * s.mm_per_px)
                    }
                    _ => MeasuredValue::Pixels(px),
                })
            }
            MeasureKind::Calibration => Some(MeasuredValue::Millimetres(self.known_mm?)),
            MeasureKind::Angle | MeasureKind::Cobb => {
                self.angle_with_aspect(scale.map_or(1.0, |s| s.aspect)).map(MeasuredValue::Degrees)
            }
            MeasureKind::Mark | MeasureKind::Region => None,
        }
    }

    /// The millimetres per pixel a calibration sets: none for other kinds, for a length of
    /// zero, or a known length that is not a positive number.
    pub fn calibration(&self) -> Option<f64> {
        let px = self.length_px().filter(|&p| p > 0.0)?;
        let mm = self.known_mm.filter(|m| m.is_finite() && *m > 0.0 && *m <= MAX_RULER_MM)?;
        (self.kind == MeasureKind::Calibration && self.is_complete()).then_some(mm / px)
    }
}

fn calibration_scale(id: &str, m: &Measurement) -> Option<Scale> {
    Some(Scale::square(m.calibration()?, format!("ruler on {id} {}", m.view.as_str().to_uppercase())))
}

/// The folder's scale from a ruler calibration: the one drawn last (by [`Measurement::made`],
/// then by specimen id and order, so editing a specimen later does not change it). `None` when
/// nobody has calibrated.
pub fn ruler_scale(state: &ReviewState) -> Option<Scale> {
    state
        .specimens
        .iter()
        .flat_map(|(id, r)| r.measurements.iter().enumerate().map(move |(k, m)| (m.made.as_str(), id, k, m)))
        .filter(|(.., m)| m.calibration().is_some())
        .max_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))
        .and_then(|(_, id, _, m)| calibration_scale(id, m))
}

/// The scale for `view` of specimen `id`, most specific first: a ruler calibration drawn on that
/// very film (its last), the film's own DICOM pixel spacing (`dicom`, from
/// [`crate::imaging::pixel_spacing_mm`]; its pixels may be oblong), then the folder's ruler
/// calibration ([`ruler_scale`]).
pub fn scale_for(
    id: &str,
    view: View,
    own: &[Measurement],
    dicom: Option<PixelSpacing>,
    ruler: Option<&Scale>,
) -> Option<Scale> {
    let on_film = own.iter().rev().filter(|m| m.view == view).find_map(|m| calibration_scale(id, m));
    let from_file = dicom.filter(|s| [s.row_mm, s.col_mm].iter().all(|v| v.is_finite() && *v > 0.0)).map(|s| Scale {
        mm_per_px: s.col_mm,
        aspect: s.row_mm / s.col_mm,
        source: s.source.to_owned(),
    });
    on_film.or(from_file).or_else(|| ruler.cloned())
}

/// A specimen's measurements for a CSV: all of them as text (`DV distance 12.35 mm; LV angle
/// 23.4°`), and the IMPC tibia length in millimetres, the mean of the distances marked tibia on
/// films with a scale (both tibiae may be drawn). `scale_of` gives each film's scale.
pub fn export_summary(measurements: &[Measurement], scale_of: &dyn Fn(View) -> Option<Scale>) -> (String, Option<f64>) {
    let mut text = Vec::new();
    let mut tibia = Vec::new();
    for m in measurements {
        if m.kind.marks_finding() {
            if let Some(finding) = m.finding.as_deref().filter(|_| m.is_complete()) {
                text.push(format!("{} {} {finding}", m.view.as_str().to_uppercase(), m.kind.as_str()));
            }
            continue;
        }
        let Some(value) = m.value(scale_of(m.view).as_ref()) else { continue };
        let kind = if m.parameter.as_deref() == Some(TIBIA_LENGTH) { "tibia" } else { m.kind.as_str() };
        text.push(format!("{} {kind} {}", m.view.as_str().to_uppercase(), value.text()));
        if let (Some(TIBIA_LENGTH), MeasuredValue::Millimetres(mm)) = (m.parameter.as_deref(), value)
            && m.kind == MeasureKind::Distance
        {
            tibia.push(mm);
        }
    }
    let mean = (!tibia.is_empty()).then(|| tibia.iter().sum::<f64>() / tibia.len() as f64);
    (text.join("; "), mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{Edit, SpecimenReview};

    fn m(kind: MeasureKind, points: &[[f64; 2]]) -> Measurement {
        Measurement {
            view: View::Dv,
            kind,
            points: points.to_vec(),
            parameter: None,
            known_mm: None,
            finding: None,
            made: String::new(),
        }
    }

    #[test]
    fn distances_angles_and_cobb_angles_follow_their_definitions() {
        let d = m(MeasureKind::Distance, &[[0.0, 0.0], [30.0, 40.0]]);
        assert_eq!(d.length_px(), Some(50.0));
        assert_eq!(d.value(None), Some(MeasuredValue::Pixels(50.0)));
        let scale = Scale::square(0.05, "");
        assert_eq!(d.value(Some(&scale)).map(MeasuredValue::text), Some("2.50 mm".into()));
        // A right angle at the vertex, the vertex clicked second.
        let a = m(MeasureKind::Angle, &[[10.0, 0.0], [0.0, 0.0], [0.0, 7.0]]);
        assert!((a.angle_deg().unwrap_or(0.0) - 90.0).abs() < 1e-9);
        // Two end plates tilted +20 and -15 degrees from horizontal: Cobb 35, whichever way
        // each line was clicked.
        let line = |deg: f64, flip: bool| {
            let (s, c) = deg.to_radians().sin_cos();
            if flip { [[c, s], [0.0, 0.0]] } else { [[0.0, 0.0], [c, s]] }
        };
        for (f1, f2) in [(false, false), (true, false), (false, true), (true, true)] {
            let (l1, l2) = (line(20.0, f1), line(-15.0, f2));
            let cobb = m(MeasureKind::Cobb, &[l1[0], l1[1], l2[0], l2[1]]);
            assert!((cobb.angle_deg().unwrap_or(0.0) - 35.0).abs() < 1e-9, "{f1} {f2}");
        }
        // Incomplete or degenerate: no value.
        assert_eq!(m(MeasureKind::Angle, &[[0.0, 0.0], [1.0, 1.0]]).value(None), None);
        assert_eq!(m(MeasureKind::Angle, &[[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]).value(None), None);
        assert_eq!(m(MeasureKind::Distance, &[[0.0, f64::NAN], [1.0, 1.0]]).value(None), None);
    }

    #[test]
    fn the_export_lists_every_measurement_and_the_mean_tibia_length_in_millimetres() {
        let tibia = |x: f64| Measurement {
            parameter: Some(TIBIA_LENGTH.into()),
            ..m(MeasureKind::Distance, &[[0.0, 0.0], [x, 0.0]])
        };
        let mark = Measurement { finding: Some("pelvis".into()), ..m(MeasureKind::Mark, &[[0.0, 0.0], [5.0, 5.0]]) };
        let region = Measurement { finding: Some("teeth".into()), ..m(MeasureKind::Region, &[[9.0, 1.0], [2.0, 6.0]]) };
        let list =
            [tibia(300.0), tibia(320.0), m(MeasureKind::Angle, &[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]), mark, region];
        let scale = |_| Some(Scale::square(0.05, ""));
        let (text, mm) = export_summary(&list, &scale);
        assert_eq!(text, "DV tibia 15.00 mm; DV tibia 16.00 mm; DV angle 90.0°; DV mark pelvis; DV region teeth");
        // A region with no width holds nothing.
        assert!(m(MeasureKind::Region, &[[3.0, 1.0], [3.0, 6.0]]).is_degenerate());
        assert!(!m(MeasureKind::Region, &[[9.0, 1.0], [2.0, 6.0]]).is_degenerate());
        assert_eq!(mm, Some(15.5));
        // Without a scale the text says pixels and there is no tibia length.
        let (text, mm) = export_summary(&list[..1], &|_| None);
        assert_eq!((text.as_str(), mm), ("DV tibia 300 px (no scale)", None));
    }

    #[test]
    fn a_films_own_ruler_then_its_dicom_spacing_then_the_latest_calibration_of_the_folder() {
        let mut state = ReviewState::new();
        assert_eq!(scale_for("A", View::Dv, &[], None, ruler_scale(&state).as_ref()), None);
        let cal = |px: f64, mm: f64, made: &str| Measurement {
            known_mm: Some(mm),
            made: made.into(),
            ..m(MeasureKind::Calibration, &[[0.0, 0.0], [px, 0.0]])
        };
        // B is calibrated after A; A is edited last. The folder's scale is B's, the later one.
        let a = cal(200.0, 10.0, "2026-12-01T10:00:00Z");
        let b = cal(400.0, 10.0, "2026-12-01T11:00:00Z");
        let d = m(MeasureKind::Distance, &[[0.0, 0.0], [100.0, 0.0]]);
        for (id, list, time) in [
            ("A", vec![a.clone()], "2026-12-01T10:00:00Z"),
            ("B", vec![b], "2026-12-01T11:00:00Z"),
            ("A", vec![a.clone(), d], "2026-12-01T12:00:00Z"),
        ] {
            state.apply(&Edit::Measurements { specimen: id.into(), measurements: list }, "ana", time);
        }
        let ruler = ruler_scale(&state);
        let s = scale_for("C", View::Dv, &[], None, ruler.as_ref()).unwrap_or(Scale::square(0.0, ""));
        assert!((s.mm_per_px - 0.025).abs() < 1e-12 && s.source == "ruler on B DV", "{s:?}");
        // A film with its own ruler keeps it, over its DICOM spacing and the folder's.
        let own = [a];
        let file = PixelSpacing { row_mm: 0.1, col_mm: 0.1, source: "DICOM Pixel Spacing" };
        let on_a = scale_for("A", View::Dv, &own, Some(file), ruler.as_ref());
        assert_eq!(on_a.map(|s| (s.mm_per_px, s.source)), Some((0.05, "ruler on A DV".to_owned())));
        // Its other film takes the file's spacing, and without one the folder's.
        let lv = scale_for("A", View::Lv, &own, Some(file), ruler.as_ref());
        assert_eq!(lv.map(|s| (s.mm_per_px, s.source)), Some((0.1, "DICOM Pixel Spacing".to_owned())));
        assert_eq!(scale_for("A", View::Lv, &own, None, ruler.as_ref()).map(|s| s.mm_per_px), Some(0.025));
        // A calibration of zero length or no known length sets nothing.
        assert_eq!(cal(0.0, 10.0, "").calibration(), None);
        assert_eq!(cal(10.0, -1.0, "").calibration(), None);
        let review = SpecimenReview { measurements: vec![cal(100.0, 0.0, "")], ..Default::default() };
        let only_bad = ReviewState { specimens: [("C".to_owned(), review)].into(), ..ReviewState::new() };
        assert_eq!(ruler_scale(&only_bad), None);
    }

    #[test]
    #[allow(clippy::expect_used, clippy::panic)]
    fn oblong_dicom_pixels_scale_each_direction_by_its_own_spacing() {
        // Rows 0.2 mm apart, columns 0.1 mm: a pixel twice as high as wide.
        let file = PixelSpacing { row_mm: 0.2, col_mm: 0.1, source: "DICOM Pixel Spacing" };
        let scale = scale_for("A", View::Dv, &[], Some(file), None).expect("a scale from the file");
        assert_eq!((scale.mm_per_px, scale.aspect), (0.1, 2.0));
        let mm = |points: &[[f64; 2]]| match m(MeasureKind::Distance, points).value(Some(&scale)) {
            Some(MeasuredValue::Millimetres(v)) => v,
            other => panic!("{other:?}"),
        };
        assert!((mm(&[[0.0, 0.0], [30.0, 0.0]]) - 3.0).abs() < 1e-12, "across: column spacing");
        assert!((mm(&[[0.0, 0.0], [0.0, 30.0]]) - 6.0).abs() < 1e-12, "down: row spacing");
        assert!((mm(&[[0.0, 0.0], [30.0, 40.0]]) - 3.0f64.hypot(8.0)).abs() < 1e-12);
        // 45° in pixels is about 63.4° on the animal (rows are twice as far apart).
        let angle = m(MeasureKind::Angle, &[[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]);
        assert!((angle.angle_deg().unwrap_or(0.0) - 45.0).abs() < 1e-9);
        match angle.value(Some(&scale)) {
            Some(MeasuredValue::Degrees(d)) => assert!((d - 2.0f64.atan().to_degrees()).abs() < 1e-9, "{d}"),
            other => panic!("{other:?}"),
        }
    }
}
