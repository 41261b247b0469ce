//! Where a model's evidence for the spine's findings lies: for phantoms whose `truth.json` gives
//! the column's midline, the mean distance from the midline of each finding's class activation
//! map (weighted by how far each cell stands above the map's median), against the mean distance
//! of the animal's cells (what evidence spread evenly over the animal would give). A model that
//! learned the skeleton puts its scoliosis, kyphosis, lordosis and fusion evidence on the
//! column: a ratio well under 1.

use serde::{Deserialize, Serialize};

use super::data::{Dataset, model_batch};
use crate::inference::Classifier;
use crate::specimen::{ByView, View};

/// The findings of the column.
pub const SPINE_FINDINGS: [&str; 4] = ["scoliosis", "kyphosis", "lordosis", "vertebral_fusion"];

/// One finding's row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceRow {
    /// The finding.
    pub finding: String,
    /// Which view's maps.
    pub view: View,
    /// Films scored: the view of every specimen with the finding and a midline.
    pub films: usize,
    /// Mean distance of the map's mass (above its median cell) from the midline, in cells.
    pub evidence_distance: f64,
    /// Mean distance of the animal's cells from the midline, in cells.
    pub animal_distance: f64,
}

/// Distance from a point to a polyline.
fn distance_to_line(p: [f32; 2], line: &[[f32; 2]]) -> f32 {
    line.windows(2)
        .map(|w| {
            let ([ax, ay], [bx, by]) = (w[0], w[1]);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 { (((p[0] - ax) * dx + (p[1] - ay) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
            ((p[0] - ax - t * dx).powi(2) + (p[1] - ay - t * dy).powi(2)).sqrt()
        })
        .fold(f32::INFINITY, f32::min)
}

/// One film's (evidence, animal) mean distances from the midline `line` (input pixels), in
/// cells of the `side x side` map: the map weighted by how far each cell stands above its
/// median, the animal as the cells whose mean input (`x`, `size x size`) stands 0.1 above the
/// background `bg`. `None` for a flat map or a film without animal cells.
fn film_distances(map: &[f32], side: usize, x: &[f32], size: usize, bg: f32, line: &[[f32; 2]]) -> Option<(f64, f64)> {
    let cell = size as f32 / side as f32;
    let mut sorted = map.to_vec();
    sorted.sort_by(f32::total_cmp);
    let median = *sorted.get(sorted.len() / 2)?;
    let (mut mass, mut weighted, mut animal, mut animal_sum) = (0.0f64, 0.0f64, 0usize, 0.0f64);
    for (c, &value) in map.iter().enumerate() {
        let (cx, cy) = (c % side, c / side);
        let centre = [(cx as f32 + 0.5) * cell, (cy as f32 + 0.5) * cell];
        let distance = f64::from(distance_to_line(centre, line) / cell);
        let w = f64::from((value - median).max(0.0));
        mass += w;
        weighted += w * distance;
        let (x0, y0) = ((cx as f32 * cell) as usize, (cy as f32 * cell) as usize);
        let (x1, y1) = ((((cx + 1) as f32) * cell) as usize, (((cy + 1) as f32) * cell) as usize);
        let (mut sum, mut n) = (0.0f32, 0usize);
        for yy in y0..y1.min(size) {
            for xx in x0..x1.min(size) {
                sum += x[yy * size + xx];
                n += 1;
            }
        }
        if n > 0 && sum / n as f32 > bg + 0.1 {
            animal += 1;
            animal_sum += distance;
        }
    }
    (mass > 0.0 && animal > 0).then(|| (weighted / mass, animal_sum / animal as f64))
}

/// Measures `model` on the specimens of `dataset` (loaded with their midlines) that have both
/// views, a midline and the finding, both views shown; rows only for the views the model reads.
///
/// # Errors
/// A cached input cannot be read back, or the model fails to run.
pub fn measure(model: &mut Classifier, dataset: &Dataset, batch: usize) -> anyhow::Result<Vec<EvidenceRow>> {
    let s = dataset.size as usize;
    let bg = model.info.metadata.preprocess.background();
    // A single-view baseline's map for the view it never reads means nothing.
    let uses = model.info.uses();
    let taxonomy = model.info.metadata.taxonomy.clone();
    let index: Vec<Option<usize>> =
        SPINE_FINDINGS.iter().map(|f| taxonomy.nodes.iter().position(|n| n.id == *f)).collect();
    // (evidence distance, animal distance, films) per finding and view.
    let mut sums = vec![[(0.0f64, 0.0f64, 0usize); 2]; SPINE_FINDINGS.len()];
    let usable: Vec<_> = dataset
        .samples
        .iter()
        .filter(|x| x.dv.is_some() && x.lv.is_some() && x.spine.dv.is_some() && x.spine.lv.is_some())
        .filter(|x| index.iter().flatten().any(|&i| x.labels.get(i).copied().flatten() == Some(true)))
        .collect();
    for chunk in usable.chunks(batch.max(1)) {
        let (dv, lv, presence) = model_batch(chunk, ByView::new(true, true), s, bg)?;
        let out = model.run(&dv, &lv, &presence, true)?;
        for (k, sample) in chunk.iter().enumerate() {
            let Some(cams) = out.cams.get(k) else { continue };
            for (f, class) in index.iter().enumerate() {
                let Some(class) = *class else { continue };
                if sample.labels.get(class).copied().flatten() != Some(true) {
                    continue;
                }
                for (v, view) in View::MODEL.into_iter().enumerate().filter(|&(_, view)| uses[view]) {
                    let (Some(line), Some(map)) = (sample.spine[view].as_ref(), cams[view].class(class)) else {
                        continue;
                    };
                    let x = if v == 0 { &dv[k * s * s..(k + 1) * s * s] } else { &lv[k * s * s..(k + 1) * s * s] };
                    if let Some((evidence, animal)) = film_distances(map, cams[view].side, x, s, bg, line) {
                        let e = &mut sums[f][v];
                        e.0 += evidence;
                        e.1 += animal;
                        e.2 += 1;
                    }
                }
            }
        }
    }
    Ok(SPINE_FINDINGS
        .iter()
        .zip(sums)
        .flat_map(|(f, by_view)| {
            View::MODEL.into_iter().zip(by_view).filter(|(_, e)| e.2 > 0).map(|(view, (on, area, n))| EvidenceRow {
                finding: (*f).to_owned(),
                view,
                films: n,
                evidence_distance: on / n as f64,
                animal_distance: area / n as f64,
            })
        })
        .collect())
}

/// The rows of several models as a Markdown table.
pub fn to_markdown(results: &[(String, Vec<EvidenceRow>)]) -> String {
    let mut md = String::from(
        "## Evidence on the spine\n\nMean distance from the column's midline (in cells of the map) of each finding's class activation map, weighted by how far each cell stands above the map's median, against the mean distance of the animal's cells: a ratio under 1 puts the evidence nearer the spine than the animal's average.\n\n| model | finding | view | films | evidence from the spine | animal from the spine | ratio |\n|---|---|---|---:|---:|---:|---:|\n",
    );
    for (name, rows) in results {
        for r in rows {
            md.push_str(&format!(
                "| {name} | {} | {} | {} | {:.2} | {:.2} | {:.2} |\n",
                r.finding,
                r.view.as_str(),
                r.films,
                r.evidence_distance,
                r.animal_distance,
                if r.animal_distance > 0.0 { r.evidence_distance / r.animal_distance } else { f64::NAN }
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map peaked on the midline scores well under the animal's distance, one peaked on the
    /// animal's edge well over it.
    #[test]
    fn evidence_on_the_line_scores_under_the_animal_and_beside_it_over() {
        let (side, size) = (8, 64);
        // The animal: columns 2..6 of cells; the midline down the middle (x = 32).
        let x: Vec<f32> = (0..size * size).map(|i| if (16..48).contains(&(i % size)) { 1.0 } else { 0.0 }).collect();
        let line = [[32.0, 0.0], [32.0, 64.0]];
        let mut on = vec![0.0f32; side * side];
        let mut beside = vec![0.0f32; side * side];
        for row in 0..side {
            on[row * side + 3] = 1.0;
            on[row * side + 4] = 1.0;
            beside[row * side + 2] = 1.0;
        }
        let (Some((e_on, animal)), Some((e_beside, _))) =
            (film_distances(&on, side, &x, size, 0.0, &line), film_distances(&beside, side, &x, size, 0.0, &line))
        else {
            panic!("both maps have evidence on the animal")
        };
        assert!((animal - 1.0).abs() < 1e-6, "{animal}");
        assert!(e_on < 0.6 * animal && e_beside > 1.4 * animal, "{e_on} {e_beside} {animal}");
        assert!(film_distances(&[0.0; 64], side, &x, size, 0.0, &line).is_none(), "a flat map has no evidence");
    }

    #[test]
    fn distance_to_a_polyline() {
        let line = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]];
        assert!((distance_to_line([5.0, 3.0], &line) - 3.0).abs() < 1e-6);
        assert!((distance_to_line([13.0, 5.0], &line) - 3.0).abs() < 1e-6);
        assert!((distance_to_line([-3.0, -4.0], &line) - 5.0).abs() < 1e-6);
    }
}
