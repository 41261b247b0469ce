//! The film-mark invariance measurement (`eval --invariance`) on a tiny random-weight model:
//! every mark is measured on every phantom, and the numbers are probabilities' changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use mousexray::inference::{Classifier, init_runtime};
use mousexray::synth::{FilmMark, Prevalence};
use mousexray::training::invariance::{InvarianceOptions, Perturbation, measure, to_markdown};

#[test]
fn every_mark_is_measured_on_every_phantom() {
    let dir = tempfile::tempdir().unwrap();
    let lib = init_runtime(None).unwrap();
    let mut model = Classifier::load(&common::tiny_model(dir.path()), lib, Default::default()).unwrap();
    let options = InvarianceOptions {
        seed: 2000,
        count: 5,
        size: 128,
        margin: 0,
        prevalence: Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() },
        batch: 2,
    };
    let rows = measure(&mut model, &options).unwrap();
    // A row per mark and placement, and one per move and turn; every phantom counted once per
    // change.
    assert_eq!(rows.len(), 2 * FilmMark::ALL.len() + Perturbation::MOVES.len() + Perturbation::TURNS.len());
    for change in
        FilmMark::ALL.map(Perturbation::Mark).into_iter().chain(Perturbation::MOVES).chain(Perturbation::TURNS)
    {
        assert_eq!(rows.iter().filter(|r| r.change == change).map(|r| r.specimens).sum::<usize>(), 5, "{change:?}");
    }
    for r in &rows {
        assert!((0.0..=1.0).contains(&r.max_change) && r.mean_change <= r.max_change + 1e-6, "{r:?}");
        assert!((0.0..=1.0).contains(&r.share_over_003) && (0.0..=1.0).contains(&r.calls_changed));
    }
    // A bright frame changes what the whole film looks like: even random weights notice.
    assert!(rows.iter().any(|r| r.max_change > 0.0));
    let md = to_markdown("tiny", &rows, 0);
    let filled = rows.iter().filter(|r| r.specimens > 0).count();
    assert_eq!(md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| mark")).count(), filled, "{md}");
    assert!(md.contains("| none, film moved 1 px | - | 5 |"), "{md}");
    assert!(md.contains("| none, inputs turned +10° | - | 5 |"), "{md}");
    // Random weights still read a turned input differently from an upright one.
    let turned = rows.iter().filter(|r| matches!(r.change, Perturbation::Turned(_)));
    assert!(turned.clone().all(|r| r.max_change > 0.0), "{rows:?}");
    // With 15 % of the side as bare film around each clean film, every mark finds room beside
    // the animal, and the report says what the films carried.
    let rows = measure(&mut model, &InvarianceOptions { margin: 20, ..options }).unwrap();
    for r in rows.iter().filter(|r| matches!(r.change, Perturbation::Mark(_))) {
        let expected = if r.placement == Some(mousexray::synth::MarkPlacement::Beside) { 5 } else { 0 };
        assert_eq!(r.specimens, expected, "{r:?}");
    }
    let md = to_markdown("tiny", &rows, 20);
    assert!(md.contains("20 px of bare film"), "{md}");
    // The five empty "film extended" rows are named once, not printed as rows of zeros.
    assert!(!md.contains("| film extended |") && md.contains("No phantom fell into these rows"), "{md}");
    assert!(md.contains("text film extended; "), "{md}");
}

/// What reaches the model is the same with a mark beside the animal as without it, for every
/// kind of mark: the model input differs by under 0.01 on average (normalised units, 0..1), and
/// by over 0.3 (a mark's contrast is near 1) in under 0.5 % of its pixels, on generated films.
/// Fed without body-only preprocessing, the same films differ far more (so the test can fail).
#[test]
fn a_mark_beside_the_animal_does_not_reach_the_model_input() {
    use mousexray::imaging::{FileFormat, GrayImage16, PreprocessSpec, preprocess};
    use mousexray::specimen::View;
    use mousexray::synth::{MarkPlacement, Phantom, Rng, add_mark};
    let prevalence = Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() };
    let body = PreprocessSpec { size: 96, ..Default::default() };
    let whole_film = PreprocessSpec { body_only: false, ..body.clone() };
    let difference = |a: &GrayImage16, b: &GrayImage16, spec: &PreprocessSpec| {
        let (x, y) = (preprocess(a, spec).unwrap().0, preprocess(b, spec).unwrap().0);
        let d: Vec<f32> = x.data.iter().zip(&y.data).map(|(p, q)| (p - q).abs() * spec.std).collect();
        let n = d.len() as f32;
        (d.iter().sum::<f32>() / n, d.iter().filter(|&&v| v > 0.3).count() as f32 / n)
    };
    let (mut films, mut legacy_moved) = (0, 0);
    for (k, mark) in FilmMark::ALL.into_iter().enumerate() {
        let mut beside = 0;
        for index in 0..12u64 {
            let phantom = Phantom::sample(2000, index, &prevalence, 0.0);
            for view in [View::Dv, View::Lv] {
                let clean = GrayImage16::new(256, 256, 14, phantom.render(view, 256, true), FileFormat::Png).unwrap();
                let mut marked = clean.clone();
                if add_mark(&mut marked, mark, &mut Rng::new(7, index * 16 + k as u64)) != MarkPlacement::Beside {
                    continue;
                }
                beside += 1;
                let (mean, large) = difference(&clean, &marked, &body);
                let (legacy_mean, legacy_large) = difference(&clean, &marked, &whole_film);
                assert!(mean < 0.01, "{mark:?} on phantom {index} {view:?}: mean change {mean:.4}");
                assert!(large < 0.005, "{mark:?} on phantom {index} {view:?}: {large:.4} of the pixels changed");
                legacy_moved += usize::from(legacy_mean >= 0.01 || legacy_large >= 0.005);
            }
        }
        assert!(beside >= 3, "{mark:?}: only {beside} films had room beside the animal");
        films += beside;
    }
    // The old path crops to the largest bright region, so a small marker can fall outside it;
    // rulers, text and frames still move most films.
    assert!(legacy_moved * 2 >= films, "without body-only only {legacy_moved} of {films} films moved");
}

/// Where the animal reaches every edge, a mark needs more film around it. That film moves the
/// intensity window when it is set over the whole film (its percentiles then hold more
/// background), not when it is set over the crop the model sees: on every extended film the
/// input changes less with the crop's window, and on the typical film less than half as much.
/// (What is left is the crop and mask moving by a fraction of a pixel, and the odd film whose
/// faint tail joins the animal at one exposure and not at the other.)
#[test]
fn more_film_around_the_animal_moves_the_input_less_with_a_window_over_the_crop() {
    use mousexray::imaging::{ClipRegion, FileFormat, GrayImage16, PreprocessSpec, preprocess};
    use mousexray::specimen::View;
    use mousexray::synth::{MarkPlacement, Phantom, Rng, add_mark};
    let prevalence = Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() };
    let crop = PreprocessSpec { size: 96, clip_region: ClipRegion::Crop, ..Default::default() };
    let film = PreprocessSpec { clip_region: ClipRegion::Film, ..crop.clone() };
    let mean_change = |a: &GrayImage16, b: &GrayImage16, spec: &PreprocessSpec| {
        let (x, y) = (preprocess(a, spec).unwrap().0, preprocess(b, spec).unwrap().0);
        x.data.iter().zip(&y.data).map(|(p, q)| (p - q).abs() * spec.std).sum::<f32>() / x.data.len() as f32
    };
    let (mut over_crop, mut over_film) = (Vec::new(), Vec::new());
    for (k, mark) in FilmMark::ALL.into_iter().enumerate() {
        for index in 0..8u64 {
            let phantom = Phantom::sample(2000, index, &prevalence, 0.0);
            for view in [View::Dv, View::Lv] {
                // 384 px, as `eval --invariance` renders: the analysis grid's cell is then the same
                // on the extended film (on a 256 px film it doubles, which moves the mask).
                let clean = GrayImage16::new(384, 384, 14, phantom.render(view, 384, true), FileFormat::Png).unwrap();
                let mut marked = clean.clone();
                if add_mark(&mut marked, mark, &mut Rng::new(7, index * 16 + k as u64)) != MarkPlacement::FilmExtended {
                    continue;
                }
                let (c, f) = (mean_change(&clean, &marked, &crop), mean_change(&clean, &marked, &film));
                assert!(
                    c <= f + 1e-4,
                    "{mark:?} on phantom {index} {view:?}: {c:.4} over the crop, {f:.4} over the film"
                );
                over_crop.push(c);
                over_film.push(f);
            }
        }
    }
    assert!(over_crop.len() >= 20, "only {} films were extended", over_crop.len());
    let median = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let (c, f) = (median(&mut over_crop), median(&mut over_film));
    assert!(c < 0.5 * f, "median mean change {c:.4} over the crop against {f:.4} over the film");
}

/// The same film moved by one pixel (bare film added at its top and left), on 384 px films
/// where the animal is found on 2 x 2 pixel cells: with the crop on the animal's thick parts'
/// centroid, the crop moves with the film to within a pixel and keeps its size, and the input
/// moves less than with the crop between the core's outermost cells, which a limb one cell wide
/// joins at one placement of the grid and leaves at the next.
#[test]
fn a_film_moved_by_one_pixel_moves_the_crop_on_the_thick_centroid_with_it() {
    use mousexray::imaging::{CropFrame, FileFormat, GrayImage16, PreprocessSpec, preprocess};
    use mousexray::specimen::View;
    use mousexray::synth::{Phantom, move_film};
    let prevalence = Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() };
    // Per spec: the largest centre error (pixels), the largest size change, the mean input change.
    let measure = |frame: CropFrame| {
        let spec = PreprocessSpec { size: 96, crop_frame: frame, ..Default::default() };
        let (mut worst_centre, mut worst_size, mut changes) = (0.0f64, 0.0f64, Vec::new());
        for index in 0..10u64 {
            let phantom = Phantom::sample(2000, index, &prevalence, 0.0);
            for view in [View::Dv, View::Lv] {
                let film = GrayImage16::new(384, 384, 14, phantom.render(view, 384, true), FileFormat::Png).unwrap();
                let (a, ta) = preprocess(&film, &spec).unwrap();
                let (b, tb) = preprocess(&move_film(&film, 1), &spec).unwrap();
                let (ca, cb) = (ta.to_original(48.0, 48.0), tb.to_original(48.0, 48.0));
                worst_centre = worst_centre.max((cb.0 - ca.0 - 1.0).hypot(cb.1 - ca.1 - 1.0));
                worst_size = worst_size.max((tb.scale() / ta.scale() - 1.0).abs());
                let n = a.data.len() as f32;
                changes.push(a.data.iter().zip(&b.data).map(|(p, q)| (p - q).abs() * spec.std).sum::<f32>() / n);
            }
        }
        (worst_centre, worst_size, changes.iter().sum::<f32>() / changes.len() as f32)
    };
    let (centre, size, change) = measure(CropFrame::ThickCentroid);
    let (extent_centre, extent_size, extent_change) = measure(CropFrame::CoreExtent);
    let (_, thick_extent_size, thick_extent_change) = measure(CropFrame::ThickExtent);
    eprintln!(
        "thick centroid: {centre:.2} px, {size:.3}, {change:.4}; core extent: {extent_centre:.2} px, {extent_size:.3}, {extent_change:.4}"
    );
    assert!(centre < 1.5 && size < 0.03, "thick centroid: centre off by {centre:.2} px, size by {size:.3}");
    assert!(extent_centre > 2.0, "the core's extent moved by at most {extent_centre:.2} px: the test shows nothing");
    assert!(change * 2.0 < extent_change, "mean input change {change:.4} against {extent_change:.4}");
    // Between the thick cells' outermost, the crop keeps its size and moves the input less too.
    assert!(thick_extent_size < 0.03, "thick extent: size by {thick_extent_size:.3}");
    assert!(
        thick_extent_change * 1.5 < extent_change,
        "thick extent: {thick_extent_change:.4} against {extent_change:.4}"
    );
}

/// On a film with room around the animal (bare film on every edge), a border painted over that
/// room (a bright frame, a cassette edge) is left out of the exposed area, and the film is
/// analysed as if the border were background: the crop stays where it was to half a
/// pixel and the input hardly moves. Blanked to 0 and counted as such, a border's width used to
/// move the threshold and, on one film in six, the crop by pixels.
#[test]
fn a_border_painted_around_the_animal_moves_neither_the_crop_nor_the_input() {
    use mousexray::imaging::{ClipRegion, FileFormat, GrayImage16, PreprocessSpec, preprocess};
    use mousexray::specimen::View;
    use mousexray::synth::{MarkPlacement, Phantom, Rng, add_mark, with_margin};
    let prevalence = Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() };
    let spec = PreprocessSpec { size: 128, clip_region: ClipRegion::Crop, ..Default::default() };
    let (mut films, mut worst) = (0, 0.0f32);
    for index in 0..12u64 {
        let phantom = Phantom::sample(2000, index, &prevalence, 0.0);
        for view in [View::Dv, View::Lv] {
            let rendered = GrayImage16::new(384, 384, 14, phantom.render(view, 384, true), FileFormat::Png).unwrap();
            let clean = with_margin(&rendered, 58, &mut Rng::new(5, index * 2 + u64::from(view == View::Lv)));
            assert_eq!((clean.width, clean.height), (500, 500));
            let (a, ta) = preprocess(&clean, &spec).unwrap();
            for (k, mark) in [FilmMark::BrightFrame, FilmMark::CassetteEdge].into_iter().enumerate() {
                let mut marked = clean.clone();
                let placed = add_mark(&mut marked, mark, &mut Rng::new(11, index * 16 + k as u64));
                assert_eq!(placed, MarkPlacement::Beside, "{mark:?} on phantom {index} {view:?}");
                let (b, tb) = preprocess(&marked, &spec).unwrap();
                let (ca, cb) = (ta.to_original(64.0, 64.0), tb.to_original(64.0, 64.0));
                let moved = (cb.0 - ca.0).hypot(cb.1 - ca.1);
                let resized = (tb.scale() / ta.scale() - 1.0).abs();
                let change = a.data.iter().zip(&b.data).map(|(p, q)| (p - q).abs() * spec.std).sum::<f32>()
                    / a.data.len() as f32;
                let at = format!("{mark:?} on phantom {index} {view:?}");
                assert!(moved < 0.5 && resized < 0.005, "{at}: crop moved {moved:.2} px, resized by {resized:.4}");
                assert!(change < 0.002, "{at}: mean input change {change:.4}");
                worst = worst.max(change);
                films += 1;
            }
        }
    }
    assert_eq!(films, 48);
    eprintln!("largest mean input change: {worst:.5}");
}
