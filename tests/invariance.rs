//! The film-mark invariance measurement (`eval --invariance`) on a tiny random-weight model:
//! every mark is measured on every phantom, and the numbers are probabilities' changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use mousexray::inference::{Classifier, init_runtime};
use mousexray::synth::{FilmMark, Prevalence};
use mousexray::training::invariance::{InvarianceOptions, measure, to_markdown};

#[test]
fn every_mark_is_measured_on_every_phantom() {
    let dir = tempfile::tempdir().unwrap();
    let lib = init_runtime(None).unwrap();
    let mut model = Classifier::load(&common::tiny_model(dir.path()), lib, Default::default()).unwrap();
    let options = InvarianceOptions {
        seed: 2000,
        count: 5,
        size: 128,
        prevalence: Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.3, classes: Vec::new() },
        batch: 2,
    };
    let rows = measure(&mut model, &options).unwrap();
    // A row per mark and placement; every phantom counted once per mark.
    assert_eq!(rows.len(), 2 * FilmMark::ALL.len());
    for mark in FilmMark::ALL {
        assert_eq!(rows.iter().filter(|r| r.mark == mark).map(|r| r.specimens).sum::<usize>(), 5, "{mark:?}");
    }
    for r in &rows {
        assert!((0.0..=1.0).contains(&r.max_change) && r.mean_change <= r.max_change + 1e-6, "{r:?}");
        assert!((0.0..=1.0).contains(&r.share_over_003));
    }
    // A bright frame changes what the whole film looks like: even random weights notice.
    assert!(rows.iter().any(|r| r.max_change > 0.0));
    let md = to_markdown("tiny", &rows);
    assert_eq!(md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| mark")).count(), 10, "{md}");
}
