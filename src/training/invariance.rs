//! How far a model's outputs move when something that is not the animal is added to the film:
//! the same held-out phantoms, clean and with each [`FilmMark`], through the one `preprocess`
//! and the model. A model that has learned the skeleton moves by almost nothing. Two controls
//! carry no mark at all: the film moved by one and by two pixels, as a mark that needs more film
//! moves it, so what a mark adds can be told from what moving the film does. Two more turn both
//! model inputs by 10 degrees either way, as a misjudged body axis turns them: a model that
//! reads the skeleton calls a turned animal as it calls it upright.

use super::data::Augmentation;
use crate::imaging::{GrayImage16, ModelInput, preprocess};
use crate::inference::Classifier;
use crate::inference::hierarchy::Scores;
use crate::specimen::View;
use crate::synth::{FilmMark, MarkPlacement, Phantom, Prevalence, Rng, add_mark, move_film, with_margin};

/// Which phantoms are measured.
#[derive(Debug, Clone)]
pub struct InvarianceOptions {
    /// Run seed of the phantoms (the held-out set's: never used in training).
    pub seed: u64,
    /// How many, from index 0.
    pub count: usize,
    /// Film side in pixels, as rendered.
    pub size: u32,
    /// Bare film added on every edge of each clean film before it is marked or moved (pixels):
    /// a detector larger than the animal, so that marks fit beside it and measure what a mark
    /// does, not what moving the animal on the film does (the controls measure that). 0 marks
    /// the films as rendered, extending one where a mark has no room.
    pub margin: usize,
    /// Findings as in the held-out set.
    pub prevalence: Prevalence,
    /// Specimens per model run.
    pub batch: usize,
}

/// What is done to a film.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Perturbation {
    /// A film mark, beside the animal or on film added for it.
    Mark(FilmMark),
    /// No mark: the film moved by this many pixels down and right (bare film added at its top
    /// and left). On a 384 px film the animal is found on 2 x 2 pixel cells, so one pixel
    /// changes how the cells fall on the animal and two do not.
    Moved(usize),
    /// No mark: both model inputs turned by this many degrees after preprocessing (clockwise
    /// on screen), as an error of the body-axis estimate turns them.
    Turned(i32),
}

impl Perturbation {
    /// The controls, after the marks.
    pub const MOVES: [Perturbation; 2] = [Perturbation::Moved(1), Perturbation::Moved(2)];
    /// The turns, last: about as far as the body-axis estimate moves between a hunched and a
    /// straight animal's real films, and within the training's rotation augmentation.
    pub const TURNS: [Perturbation; 2] = [Perturbation::Turned(-10), Perturbation::Turned(10)];

    /// Name as written in reports.
    pub fn label(self) -> String {
        match self {
            Perturbation::Mark(mark) => mark.as_str().to_string(),
            Perturbation::Moved(px) => format!("none, film moved {px} px"),
            Perturbation::Turned(deg) => format!("none, inputs turned {deg:+}°"),
        }
    }
}

/// One kind of change's effect over the phantoms.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InvarianceRow {
    /// What was done to the films.
    pub change: Perturbation,
    /// Where a mark went: beside the animal on both views, or on film added around one of them;
    /// none for a control (a moved film or turned inputs), which places no mark.
    pub placement: Option<MarkPlacement>,
    /// Phantoms measured.
    pub specimens: usize,
    /// The largest change of any conditional probability, over specimens and nodes.
    pub max_change: f32,
    /// The mean over specimens of each specimen's largest change.
    pub mean_change: f32,
    /// Share of specimens whose largest change exceeds 0.03.
    pub share_over_003: f32,
    /// Share of specimens whose calls changed: any node flagged on one film and not on the
    /// other, at the model's thresholds ([`Scores`]). Unlike the probability change, this does
    /// not shrink with a model whose outputs are compressed toward its thresholds.
    pub calls_changed: f32,
    /// The node and phantom index of the largest change; none when no phantom changed at all
    /// (or none was measured in this row).
    pub worst: Option<(String, u64)>,
}

/// Renders `options.count` phantoms (inside `options.margin` of bare film), clean, with each
/// mark on both views and moved (the controls, [`Perturbation::MOVES`]), and compares the
/// model's conditional probabilities (taxonomy order) and calls. Marks are placed from a stream of their own, so every model sees the same
/// films.
///
/// # Errors
/// Preprocessing or the model failed (with the reason).
pub fn measure(model: &mut Classifier, options: &InvarianceOptions) -> anyhow::Result<Vec<InvarianceRow>> {
    let spec = model.info.metadata.preprocess.clone();
    let taxonomy = model.info.metadata.taxonomy.clone();
    let thresholds = model.info.metadata.thresholds.clone();
    let flags = |p: &[f32]| Scores::new(&taxonomy, p.to_vec(), &thresholds).flags;
    let nodes: Vec<String> = taxonomy.nodes.iter().map(|n| n.id.clone()).collect();
    // Each specimen's films after its clean one, in this order.
    let changes: Vec<Perturbation> = FilmMark::ALL
        .iter()
        .map(|&m| Perturbation::Mark(m))
        .chain(Perturbation::MOVES)
        .chain(Perturbation::TURNS)
        .collect();
    let mut rows: Vec<InvarianceRow> = changes
        .iter()
        .flat_map(|&change| match change {
            Perturbation::Mark(_) => {
                vec![(change, Some(MarkPlacement::Beside)), (change, Some(MarkPlacement::FilmExtended))]
            }
            Perturbation::Moved(_) | Perturbation::Turned(_) => vec![(change, None)],
        })
        .map(|(change, placement)| InvarianceRow {
            change,
            placement,
            specimens: 0,
            max_change: 0.0,
            mean_change: 0.0,
            share_over_003: 0.0,
            calls_changed: 0.0,
            worst: None,
        })
        .collect();
    let batch = options.batch.max(1);
    let indices: Vec<u64> = (0..options.count as u64).collect();
    for chunk in indices.chunks(batch) {
        let mut placements: Vec<Vec<Option<MarkPlacement>>> = Vec::new();
        // Films per specimen: clean first, then one per mark, then one per move.
        let mut inputs: Vec<[ModelInput; 2]> = Vec::new();
        for &index in chunk {
            let phantom = Phantom::sample(options.seed, index, &options.prevalence, 0.0);
            let films = [View::Dv, View::Lv].map(|view| {
                phantom.film_framed_as(None, view, options.size, true).map(|film| {
                    let mut rng = Rng::new(options.seed ^ 0x6d61_7267, index * 2 + u64::from(view == View::Lv));
                    if options.margin > 0 { with_margin(&film, options.margin, &mut rng) } else { film }
                })
            });
            let [Some(dv), Some(lv)] = films else {
                anyhow::bail!("phantom {index}: rendered film has the wrong size")
            };
            let mut variants = vec![(dv.clone(), lv.clone())];
            let mut placed = Vec::new();
            for (k, &mark) in FilmMark::ALL.iter().enumerate() {
                let mut rng = Rng::new(options.seed ^ 0x6d61_726b, index * 16 + k as u64);
                let (mut d, mut l) = (dv.clone(), lv.clone());
                let both = [add_mark(&mut d, mark, &mut rng), add_mark(&mut l, mark, &mut rng)];
                placed.push(Some(if both == [MarkPlacement::Beside; 2] {
                    MarkPlacement::Beside
                } else {
                    MarkPlacement::FilmExtended
                }));
                variants.push((d, l));
            }
            for moved in Perturbation::MOVES {
                let Perturbation::Moved(px) = moved else { continue };
                variants.push((move_film(&dv, px), move_film(&lv, px)));
                placed.push(None);
            }
            let first = inputs.len();
            for (d, l) in variants {
                let prep = |img: &GrayImage16| preprocess(img, &spec).map(|(input, _)| input);
                let pair = [prep(&d), prep(&l)];
                let [Ok(d), Ok(l)] = pair else { anyhow::bail!("phantom {index}: preprocessing failed") };
                inputs.push([d, l]);
            }
            for turn in Perturbation::TURNS {
                let Perturbation::Turned(deg) = turn else { continue };
                let clean = inputs[first].clone().map(|mut input| {
                    let side = input.size as usize;
                    // A turn adds no noise, so the generator draws nothing.
                    let mut rng = Rng::new(0, 0);
                    Augmentation::turn(f64::from(deg)).apply(&mut input.data, side, spec.background(), &mut rng);
                    input
                });
                inputs.push(clean);
                placed.push(None);
            }
            placements.push(placed);
        }
        let dv: Vec<f32> = inputs.iter().flat_map(|p| p[0].data.iter().copied()).collect();
        let lv: Vec<f32> = inputs.iter().flat_map(|p| p[1].data.iter().copied()).collect();
        let probs = model.predict(&dv, &lv, &vec![crate::specimen::ByView::new(true, true); inputs.len()])?;
        let per = 1 + changes.len();
        for (s, &index) in chunk.iter().enumerate() {
            let Some(clean) = probs.get(s * per) else { continue };
            let clean_calls = flags(clean);
            for (k, &change) in changes.iter().enumerate() {
                let Some(marked) = probs.get(s * per + 1 + k) else { continue };
                let Some(&placement) = placements.get(s).and_then(|p| p.get(k)) else { continue };
                let Some(row) = rows.iter_mut().find(|r| r.change == change && r.placement == placement) else {
                    continue;
                };
                let (node, change) = clean
                    .iter()
                    .zip(marked)
                    .enumerate()
                    .map(|(i, (a, b))| (i, (a - b).abs()))
                    .fold((0, 0.0f32), |best, x| if x.1 > best.1 { x } else { best });
                row.specimens += 1;
                row.mean_change += change;
                row.share_over_003 += f32::from(u8::from(change > 0.03));
                row.calls_changed += f32::from(u8::from(clean_calls != flags(marked)));
                if change > row.max_change {
                    row.max_change = change;
                    row.worst = Some((nodes.get(node).cloned().unwrap_or_default(), index));
                }
            }
        }
    }
    for row in &mut rows {
        let n = row.specimens.max(1) as f32;
        row.mean_change /= n;
        row.share_over_003 /= n;
        row.calls_changed /= n;
    }
    Ok(rows)
}

/// The rows as a Markdown table; `margin` as in [`InvarianceOptions`]. A row no phantom fell
/// into (a placement no mark needed) is left out, and a sentence says so.
pub fn to_markdown(model: &str, rows: &[InvarianceRow], margin: usize) -> String {
    let mut md = format!(
        "## Output change when a film mark is added ({model})\n\n| mark | placed | specimens | largest change | mean of each specimen's largest | specimens over 0.03 | calls changed | worst node (phantom) |\n|---|---|---:|---:|---:|---:|---:|---|\n"
    );
    for r in rows.iter().filter(|r| r.specimens > 0) {
        let placed = r.placement.map_or("-", MarkPlacement::as_str);
        let worst = r.worst.as_ref().map_or_else(|| "-".to_string(), |(node, index)| format!("{node} ({index})"));
        md.push_str(&format!(
            "| {} | {} | {} | {:.4} | {:.3} | {:.1} % | {:.1} % | {} |\n",
            r.change.label(),
            placed,
            r.specimens,
            r.max_change,
            r.mean_change,
            100.0 * r.share_over_003,
            100.0 * r.calls_changed,
            worst
        ));
    }
    let empty: Vec<String> = rows
        .iter()
        .filter(|r| r.specimens == 0)
        .map(|r| format!("{} {}", r.change.label(), r.placement.map_or("-", MarkPlacement::as_str)))
        .collect();
    if !empty.is_empty() {
        md.push_str(&format!("\nNo phantom fell into these rows, left out: {}.", empty.join("; ")));
    }
    if margin > 0 {
        md.push_str(&format!(
            "\nEvery clean film has {margin} px of bare film added on each edge first, room for the marks beside the animal."
        ));
    }
    md.push_str(
        "\nThe rows \"none, film moved\" add no mark: the same film moved by whole pixels, as a mark that needs more film moves it. The rows \"none, inputs turned\" turn both model inputs after preprocessing (clockwise positive), as a misjudged body axis would.\n",
    );
    md
}
