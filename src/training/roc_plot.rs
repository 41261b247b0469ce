//! ROC curves as PNG: one panel per level (or per group of classes), one curve per series.
//!
//! Drawn with plotters into a memory buffer and saved with `image`; the font is bundled
//! (`assets/fonts/DejaVuSans.ttf`), so the charts look the same on every machine and need no
//! system font library.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::{FontStyle, Palette, Palette99, register_font};

/// Side of one square panel in pixels.
const PANEL: u32 = 420;
/// Height of the figure's title band.
const TITLE_BAND: u32 = 36;
/// The bundled font's family name for plotters.
pub(crate) const FAMILY: &str = "sans-serif";

/// One curve.
#[derive(Debug, Clone)]
pub struct RocSeries {
    /// Legend text (typically the name and its AUC).
    pub label: String,
    /// (false positive rate, true positive rate) points, from (0, 0) to (1, 1).
    pub points: Vec<(f64, f64)>,
}

/// One panel of curves.
#[derive(Debug, Clone)]
pub struct RocPanel {
    /// Panel caption.
    pub title: String,
    /// The curves, drawn in order.
    pub series: Vec<RocSeries>,
}

/// Registers the bundled font with plotters (once); every figure calls it before drawing text.
pub(crate) fn font_ready() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, include_bytes!("../../assets/fonts/DejaVuSans.ttf")).is_ok()
    });
    anyhow::ensure!(ok, "the bundled chart font could not be read");
    Ok(())
}

/// The colour of series `i`: the ten "tab10" colours (blue, orange, green, ...), then plotters'.
fn colour(i: usize) -> RGBColor {
    const FIRST: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    FIRST.get(i).copied().unwrap_or_else(|| {
        let (r, g, b) = Palette99::pick(i).rgb();
        RGBColor(r, g, b)
    })
}

/// Draws the panels side by side under `title` and writes a PNG to `path`.
pub fn write_roc_png(path: &Path, title: &str, panels: &[RocPanel]) -> anyhow::Result<()> {
    anyhow::ensure!(!panels.is_empty(), "no ROC curves to draw for {}", path.display());
    font_ready()?;
    let (w, h) = (PANEL * panels.len() as u32, PANEL + TITLE_BAND);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    draw(&mut buf, (w, h), title, panels).map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
    let img = image::RgbImage::from_raw(w, h, buf).context("chart buffer size")?;
    img.save(path).with_context(|| format!("writing {}", path.display()))
}

fn draw(
    buf: &mut [u8],
    size: (u32, u32),
    title: &str,
    panels: &[RocPanel],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let root = BitMapBackend::with_buffer(buf, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FAMILY, 20))?;
    for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, (FAMILY, 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .x_labels(6)
            .y_labels(6)
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], RGBColor(170, 170, 170)))?;
        for (i, s) in panel.series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))?
                .label(s.label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        if !panel.series.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FAMILY, 12))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_a_png_with_the_curves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roc.png");
        let panel = |t: &str| RocPanel {
            title: t.into(),
            series: vec![
                RocSeries { label: "perfect (1.000)".into(), points: vec![(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)] },
                RocSeries { label: "chance (0.500)".into(), points: vec![(0.0, 0.0), (1.0, 1.0)] },
            ],
        };
        write_roc_png(&path, "test", &[panel("L1"), panel("L2")]).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (2 * PANEL, PANEL + TITLE_BAND));
        // The first series' blue is drawn; text is drawn in black.
        let blue = img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        assert!(blue > 200, "{blue} blue pixels");
        assert!(img.pixels().any(|p| p.0 == [0, 0, 0]));
        assert!(write_roc_png(&path, "none", &[]).is_err());
    }
}
