//! How a model reads normal animals whose lateral posture changes: the same held-out animals,
//! without findings, X-rayed in LV with a straight or hunched back, the head flexed or
//! extended, the tail's base turned up or down, and as real lateral films show a mouse on its
//! side (hunched, head flexed, tail curled up over the back). Nothing in these changes is a
//! finding, so every kyphosis or lordosis call is a false alarm, and a model that has learned
//! the column, not the outline, calls them as it calls the animal as drawn.

use crate::imaging::{GrayImage16, ModelInput, preprocess};
use crate::inference::Classifier;
use crate::inference::hierarchy::Scores;
use crate::specimen::{ByView, View};
use crate::synth::{Phantom, Prevalence};
use crate::taxonomy::Level;

/// Which phantoms are measured.
#[derive(Debug, Clone)]
pub struct PostureOptions {
    /// Run seed of the phantoms (the held-out set's: never used in training).
    pub seed: u64,
    /// How many animals, from index 0.
    pub count: usize,
    /// Film side in pixels, as rendered.
    pub size: u32,
    /// Specimens per model run.
    pub batch: usize,
}

/// A change of the LV posture from the animal as the varied recipe drew it
/// ([`Phantom::vary_animal`]: a hunch of 0-9 mm, head pitch SD about 11 degrees, a tail within
/// 35 degrees of the table).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Posture {
    /// The thoracolumbar hunch (mm), or `None` to keep the drawn one.
    pub hunch_mm: Option<f64>,
    /// Added to the head's pitch (degrees; negative: flexed towards the chest).
    pub head_deg: f64,
    /// The tail's curl (degrees, dorsal; [`crate::synth::Pose::tail_curl_deg`]).
    pub tail_curl_deg: f64,
}

impl Posture {
    /// The animal as drawn.
    pub const AS_DRAWN: Posture = Posture { hunch_mm: None, head_deg: 0.0, tail_curl_deg: 0.0 };

    /// The postures measured, the animal as drawn first (the reference of "calls changed").
    /// The hunch stays within the training range (0 to 9 mm); the head and tail go beyond it,
    /// to where real lateral films put them.
    pub const ALL: [Posture; 10] = [
        Posture::AS_DRAWN,
        Posture { hunch_mm: Some(0.0), ..Posture::AS_DRAWN },
        Posture { hunch_mm: Some(9.0), ..Posture::AS_DRAWN },
        Posture { head_deg: -30.0, ..Posture::AS_DRAWN },
        // As far as the hunch and the 30° flexion together pitch the skull.
        Posture { head_deg: -45.0, ..Posture::AS_DRAWN },
        Posture { head_deg: 30.0, ..Posture::AS_DRAWN },
        Posture { tail_curl_deg: 90.0, ..Posture::AS_DRAWN },
        Posture { tail_curl_deg: 180.0, ..Posture::AS_DRAWN },
        Posture { tail_curl_deg: -60.0, ..Posture::AS_DRAWN },
        Posture { hunch_mm: Some(9.0), head_deg: -30.0, tail_curl_deg: 180.0 },
    ];

    /// What it is called in reports.
    pub fn label(self) -> String {
        let mut parts = Vec::new();
        match self.hunch_mm {
            Some(0.0) => parts.push("straight back".to_string()),
            Some(mm) => parts.push(format!("hunch {mm} mm")),
            None => {}
        }
        if self.head_deg != 0.0 {
            let how = if self.head_deg < 0.0 { "flexed" } else { "extended" };
            parts.push(format!("head {how} {}°", self.head_deg.abs()));
        }
        if self.tail_curl_deg != 0.0 {
            let how = if self.tail_curl_deg > 0.0 { "up" } else { "down" };
            parts.push(format!("tail curled {how} {}°", self.tail_curl_deg.abs()));
        }
        if parts.is_empty() { "as drawn".to_string() } else { parts.join(", ") }
    }

    /// `phantom` with its LV pose changed.
    pub fn apply(self, phantom: &Phantom) -> Phantom {
        let mut out = phantom.clone();
        let lv = &mut out.poses[1];
        if let Some(mm) = self.hunch_mm {
            lv.hunch_mm = mm;
        }
        lv.head.1 += self.head_deg;
        lv.tail_curl_deg = self.tail_curl_deg;
        out
    }
}

/// One posture's calls over the animals.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PostureRow {
    /// The change.
    pub posture: Posture,
    /// Animals measured.
    pub specimens: usize,
    /// Share called abnormal (every one a false alarm).
    pub abnormal: f32,
    /// Share called kyphosis.
    pub kyphosis: f32,
    /// Share called lordosis.
    pub lordosis: f32,
    /// Mean joint P(kyphosis).
    pub mean_p_kyphosis: f32,
    /// Share whose calls differ from the animal as drawn.
    pub calls_changed: f32,
    /// Mean P(abnormal): how far the posture moves the L1 output, whatever the threshold.
    pub mean_p_abnormal: f32,
    /// The L3 finding called on most animals and its share of `specimens` (0 to 1; `None`: no
    /// L3 call at all): what an "abnormal" call rests on when it is neither kyphosis nor lordosis.
    pub top_finding: Option<(String, f32)>,
}

/// Renders `options.count` normal animals of the held-out seed, varied as the training recipe
/// varies them, in each [`Posture::ALL`] (LV only; the DV film is the same), each LV framed as
/// the animal as drawn so that only the posture moves, and counts the model's calls.
///
/// # Errors
/// The model has no kyphosis, lordosis or abnormal node, or preprocessing or the model failed
/// (with the reason).
pub fn measure(model: &mut Classifier, options: &PostureOptions) -> anyhow::Result<Vec<PostureRow>> {
    let spec = model.info.metadata.preprocess.clone();
    let taxonomy = model.info.metadata.taxonomy.clone();
    let thresholds = model.info.metadata.thresholds.clone();
    let node = |id: &str| taxonomy.index_of(id).ok_or_else(|| anyhow::anyhow!("the model has no {id} node"));
    let (abnormal, kyphosis, lordosis) = (node("abnormal")?, node("kyphosis")?, node("lordosis")?);
    let normal = Prevalence { abnormal: 0.0, max_findings: 1, min_severity: 0.3, classes: Vec::new() };
    let mut rows: Vec<PostureRow> = Posture::ALL
        .iter()
        .map(|&posture| PostureRow {
            posture,
            specimens: 0,
            abnormal: 0.0,
            kyphosis: 0.0,
            lordosis: 0.0,
            mean_p_kyphosis: 0.0,
            calls_changed: 0.0,
            mean_p_abnormal: 0.0,
            top_finding: None,
        })
        .collect();
    let l3: Vec<usize> = (0..taxonomy.nodes.len()).filter(|&i| taxonomy.nodes[i].level == Level::L3).collect();
    // Per posture, per L3 node (in `l3`'s order): animals called.
    let mut l3_calls = vec![vec![0usize; l3.len()]; rows.len()];
    let film = |phantom: &Phantom, frame: &Phantom, view: View| {
        phantom
            .film_framed_as(Some(frame), view, options.size, true)
            .ok_or_else(|| anyhow::anyhow!("phantom {}: rendered film has the wrong size", phantom.index))
    };
    let prep = |img: &GrayImage16, index: u64| {
        preprocess(img, &spec)
            .map(|(input, _)| input)
            .map_err(|e| anyhow::anyhow!("phantom {index}: preprocessing failed: {e}"))
    };
    let indices: Vec<u64> = (0..options.count as u64).collect();
    for chunk in indices.chunks(options.batch.max(1)) {
        // Per animal: one input per posture, in `Posture::ALL` order.
        let mut inputs: Vec<[ModelInput; 2]> = Vec::new();
        for &index in chunk {
            let mut phantom = Phantom::sample(options.seed, index, &normal, 0.0);
            phantom.vary_animal();
            let dv = prep(&film(&phantom, &phantom, View::Dv)?, index)?;
            for posture in Posture::ALL {
                let lv = prep(&film(&posture.apply(&phantom), &phantom, View::Lv)?, index)?;
                inputs.push([dv.clone(), lv]);
            }
        }
        let dv: Vec<f32> = inputs.iter().flat_map(|p| p[0].data.iter().copied()).collect();
        let lv: Vec<f32> = inputs.iter().flat_map(|p| p[1].data.iter().copied()).collect();
        let probs = model.predict(&dv, &lv, &vec![ByView::new(true, true); inputs.len()])?;
        let per = Posture::ALL.len();
        for s in 0..chunk.len() {
            let scores: Vec<Scores> = (0..per)
                .filter_map(|k| probs.get(s * per + k))
                .map(|p| Scores::new(&taxonomy, p.clone(), &thresholds))
                .collect();
            let Some(drawn) = scores.first() else { continue };
            for ((row, score), calls) in rows.iter_mut().zip(&scores).zip(&mut l3_calls) {
                let flag = |i: usize| f32::from(u8::from(score.flags.get(i).copied().unwrap_or(false)));
                for (count, &i) in calls.iter_mut().zip(&l3) {
                    *count += usize::from(score.flags.get(i).copied().unwrap_or(false));
                }
                row.specimens += 1;
                row.abnormal += flag(abnormal);
                row.kyphosis += flag(kyphosis);
                row.lordosis += flag(lordosis);
                row.mean_p_kyphosis += score.joint.get(kyphosis).copied().unwrap_or(0.0);
                row.calls_changed += f32::from(u8::from(score.flags != drawn.flags));
                row.mean_p_abnormal += score.joint.get(abnormal).copied().unwrap_or(0.0);
            }
        }
    }
    for (row, calls) in rows.iter_mut().zip(&l3_calls) {
        let n = row.specimens.max(1) as f32;
        row.top_finding = most_called(calls).map(|(k, c)| (taxonomy.nodes[l3[k]].id.clone(), c as f32 / n));
        row.abnormal /= n;
        row.kyphosis /= n;
        row.lordosis /= n;
        row.mean_p_kyphosis /= n;
        row.calls_changed /= n;
        row.mean_p_abnormal /= n;
    }
    Ok(rows)
}

/// The index and count of the largest of `calls` (the first of equals), or `None` when all are 0.
fn most_called(calls: &[usize]) -> Option<(usize, usize)> {
    let top = calls.iter().copied().enumerate().rev().max_by_key(|&(_, c)| c);
    top.filter(|&(_, c)| c > 0)
}

/// The rows as a Markdown table.
pub fn to_markdown(model: &str, rows: &[PostureRow]) -> String {
    let mut md = format!(
        "## Normal animals in other lateral postures ({model})\n\n| LV posture | animals | called abnormal | called kyphosis | called lordosis | mean P(kyphosis) | calls changed | mean P(abnormal) | most called L3 finding |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {:.1} % | {:.1} % | {:.1} % | {:.3} | {:.1} % | {:.3} | {} |\n",
            r.posture.label(),
            r.specimens,
            100.0 * r.abnormal,
            100.0 * r.kyphosis,
            100.0 * r.lordosis,
            r.mean_p_kyphosis,
            100.0 * r.calls_changed,
            r.mean_p_abnormal,
            r.top_finding
                .as_ref()
                .map_or_else(|| "none".to_string(), |(id, share)| format!("{id} {:.1} %", 100.0 * share))
        ));
    }
    md.push_str(
        "\nHeld-out animals without findings, varied as the training recipe varies them; only the LV posture changes (the DV film and the LV field of view stay those of the animal as drawn). Every call is a false alarm; mean P(kyphosis) is the joint probability (abnormal, axial, kyphosis), calls follow each node's threshold. The varied recipe draws hunches of 0-9 mm, the head's pitch with an SD of about 11 degrees and the tail within 35 degrees of the table: the tail rows go beyond it, to where real lateral films put them (`synth --vary-posture` and `--posture-pairs` draw them, and the head's pitch within 35 degrees), and the 45-degree flexion tests the skull's angle alone (as far as the hunch and the 30-degree flexion together pitch it). \"Calls changed\" counts animals whose calls differ from the animal as drawn; mean P(abnormal) shows how far the posture moves the L1 output whatever the threshold; the last column gives the L3 finding called on most animals (the first in the taxonomy's order on a tie) and its share of all the animals.\n",
    );
    md
}

/// Columns of [`CSV_HEADER`] and of each of [`csv_records`]' rows.
pub const CSV_COLUMNS: usize = 11;

/// The header of [`csv_records`]' rows.
pub const CSV_HEADER: [&str; CSV_COLUMNS] = [
    "model",
    "lv_posture",
    "animals",
    "called_abnormal",
    "called_kyphosis",
    "called_lordosis",
    "mean_p_kyphosis",
    "calls_changed",
    "mean_p_abnormal",
    "most_called_finding",
    "most_called_share",
];

/// The rows as CSV records under [`CSV_HEADER`]: shares from 0 to 1, the finding's id empty
/// when no L3 finding was called.
pub fn csv_records(model: &str, rows: &[PostureRow]) -> Vec<[String; CSV_COLUMNS]> {
    rows.iter()
        .map(|r| {
            let (finding, share) = r.top_finding.clone().unwrap_or_default();
            [
                model.to_owned(),
                r.posture.label(),
                r.specimens.to_string(),
                format!("{:.4}", r.abnormal),
                format!("{:.4}", r.kyphosis),
                format!("{:.4}", r.lordosis),
                format!("{:.4}", r.mean_p_kyphosis),
                format!("{:.4}", r.calls_changed),
                format!("{:.4}", r.mean_p_abnormal),
                finding,
                format!("{share:.4}"),
            ]
        })
        .collect()
}

/// Height of the sheet's label band, in pixels.
const LABEL_BAND: u32 = 44;

/// A sheet of the LV films measured: a band naming each posture over its column, then one row
/// per animal (held-out `seed`, indices from 0, as [`measure`] draws them), one column per
/// [`Posture::ALL`], each film `size` px square, each posture framed as the animal as drawn.
/// Each film is shown as the review window first shows a film
/// ([`crate::imaging::display_gray`]: its 0.5th to 99.5th percentile over black to white).
///
/// # Errors
/// The bundled font could not be read, the labels could not be drawn, or a film rendered at
/// the wrong size.
pub fn sheet(seed: u64, animals: u64, size: u32) -> anyhow::Result<image::RgbImage> {
    use super::roc_plot::{FAMILY, font_ready};
    use plotters::prelude::*;
    font_ready()?;
    let normal = Prevalence { abnormal: 0.0, max_findings: 1, min_severity: 0.3, classes: Vec::new() };
    let columns = Posture::ALL.len() as u32;
    let (w, h) = (size * columns, LABEL_BAND + size * animals as u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let style = TextStyle::from((FAMILY, 13).into_font()).color(&BLACK);
        for (c, posture) in Posture::ALL.iter().enumerate() {
            // One line per change, so the longest label fits its column.
            let label = posture.label();
            for (line, text) in label.split(", ").enumerate() {
                let at = (c as i32 * size as i32 + 4, 3 + 13 * line as i32);
                root.draw(&Text::new(text.to_owned(), at, style.clone()))
                    .map_err(|e| anyhow::anyhow!("drawing the posture sheet's labels: {e}"))?;
            }
        }
        root.present().map_err(|e| anyhow::anyhow!("drawing the posture sheet's labels: {e}"))?;
    }
    let mut out = image::RgbImage::from_raw(w, h, buf)
        .ok_or_else(|| anyhow::anyhow!("the posture sheet's buffer has the wrong size"))?;
    for index in 0..animals {
        let mut phantom = Phantom::sample(seed, index, &normal, 0.0);
        phantom.vary_animal();
        for (c, posture) in Posture::ALL.iter().enumerate() {
            let film = posture
                .apply(&phantom)
                .film_framed_as(Some(&phantom), View::Lv, size, false)
                .ok_or_else(|| anyhow::anyhow!("phantom {index}: rendered film has the wrong size"))?;
            let (shown, _) = crate::imaging::display_gray(&film, size);
            for (x, y, level) in shown.enumerate_pixels() {
                out.put_pixel(c as u32 * size + x, LABEL_BAND + index as u32 * size + y, image::Rgb([level[0]; 3]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    /// Each posture changes what it says and nothing else: the DV pose, the anatomy and the
    /// placement are the animal's, and the animal as drawn is left as it was.
    #[test]
    fn a_posture_changes_the_lateral_pose_only() {
        let normal = Prevalence { abnormal: 0.0, max_findings: 1, min_severity: 0.3, classes: Vec::new() };
        let mut phantom = Phantom::sample(2000, 3, &normal, 0.0);
        phantom.vary_animal();
        assert_eq!(Posture::AS_DRAWN.apply(&phantom), phantom);
        for posture in &Posture::ALL[1..] {
            let changed = posture.apply(&phantom);
            assert_eq!(changed.poses[0], phantom.poses[0]);
            assert_eq!(changed.anatomy, phantom.anatomy);
            assert_eq!(changed.placements, phantom.placements);
            assert_ne!(changed.poses[1], phantom.poses[1], "{}", posture.label());
            assert!(changed.findings.is_empty());
        }
    }

    /// A curled tail changes the LV film (the tail is drawn where the pose says), and
    /// leaves the DV film, where the tail lies flat on the table, as it was.
    #[test]
    fn a_curled_tail_moves_the_lateral_film_only() {
        let normal = Prevalence { abnormal: 0.0, max_findings: 1, min_severity: 0.3, classes: Vec::new() };
        let phantom = Phantom::sample(2000, 5, &normal, 0.0);
        let curled = Posture { tail_curl_deg: 120.0, ..Posture::AS_DRAWN }.apply(&phantom);
        let mut both = curled.clone();
        both.poses[0].tail_curl_deg = 120.0;
        assert_eq!(both.render(View::Dv, 96, false), phantom.render(View::Dv, 96, false));
        let (a, b) = (
            phantom.render_framed_as(None, View::Lv, 96, false),
            curled.render_framed_as(Some(&phantom), View::Lv, 96, false),
        );
        let moved = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(moved > 30, "only {moved} pixels moved");
    }

    #[test]
    fn the_most_called_finding_is_the_first_of_equals_and_none_without_calls() {
        assert_eq!(most_called(&[0, 3, 1, 3]), Some((1, 3)));
        assert_eq!(most_called(&[2, 0, 5]), Some((2, 5)));
        assert_eq!(most_called(&[0, 0, 0]), None);
        assert_eq!(most_called(&[]), None);
    }

    #[test]
    fn labels_say_what_changed() {
        let labels: Vec<String> = Posture::ALL.iter().map(|p| p.label()).collect();
        assert_eq!(labels[0], "as drawn");
        assert_eq!(labels[3], "head flexed 30°");
        assert_eq!(labels[4], "head flexed 45°");
        assert_eq!(labels[9], "hunch 9 mm, head flexed 30°, tail curled up 180°");
        let unique: std::collections::HashSet<&String> = labels.iter().collect();
        assert_eq!(unique.len(), labels.len());
    }
}
