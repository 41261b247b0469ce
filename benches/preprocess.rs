//! The preprocessing function's cost per crop frame, on generated films held in memory
//! (`cargo bench --bench preprocess -- [FILMS] [FILM_SIDE] [ROUNDS]`, defaults 40, 512, 15).
//!
//! Every round runs each spec once over every film, in rotating order, so the specs share the
//! machine's state; the table gives each spec's median time per film and its ratio to the
//! first spec (the bundled models' frame) within the same run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use mousexray::imaging::{ClipRegion, CropFrame, FileFormat, GrayImage16, PreprocessSpec, preprocess_film};
use mousexray::specimen::View;
use mousexray::synth::{Phantom, Prevalence};

fn main() {
    let arg = |i: usize, default: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (films, side, rounds) = (arg(1, 40), arg(2, 512) as u32, arg(3, 15));
    let prevalence = Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() };
    let images: Vec<GrayImage16> = (0..films as u64)
        .map(|i| {
            let view = if i % 2 == 0 { View::Dv } else { View::Lv };
            let pixels = Phantom::sample(2000, i / 2, &prevalence, 0.0).render(view, side, true);
            GrayImage16::new(side, side, 14, pixels, FileFormat::Png).unwrap()
        })
        .collect();
    let base = PreprocessSpec { size: 128, clip_region: ClipRegion::Crop, ..Default::default() };
    let specs = [
        ("core extent (bundled and new models)", PreprocessSpec { crop_frame: CropFrame::CoreExtent, ..base.clone() }),
        ("thick centroid", PreprocessSpec { crop_frame: CropFrame::ThickCentroid, ..base.clone() }),
        ("thick extent", PreprocessSpec { crop_frame: CropFrame::ThickExtent, ..base.clone() }),
    ];
    let mut times = vec![Vec::new(); specs.len()];
    for round in 0..=rounds {
        for k in 0..specs.len() {
            let s = (k + round) % specs.len();
            let t = Instant::now();
            for image in &images {
                std::hint::black_box(preprocess_film(image, &specs[s].1).unwrap());
            }
            // Round 0 warms the caches and is not counted.
            if round > 0 {
                times[s].push(t.elapsed().as_secs_f64() * 1e3 / films as f64);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians: Vec<f64> = times.iter_mut().map(median).collect();
    println!("preprocess_film, {films} films of {side} px, {rounds} rounds, 128 px input, window over the crop:");
    println!("| crop frame | ms per film (median) | ratio to the first |");
    println!("|---|---|---|");
    for ((name, _), m) in specs.iter().zip(&medians) {
        println!("| {name} | {m:.3} | {:.3} |", m / medians[0]);
    }
}
