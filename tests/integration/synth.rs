//! The phantom generator: determinism, every finding visible, view dependence, every layout
//! and format readable, labels matching the truth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use mousexray::imaging::{DecodeOptions, decode};
use mousexray::specimen::{View, read_labels, scan};
use mousexray::synth::anatomy::Spine;
use mousexray::synth::{CLASSES, OutFormat, OutLayout, Phantom, Prevalence, Style, SynthConfig, generate};
use mousexray::taxonomy::Taxonomy;

fn config(count: usize, size: u32, format: OutFormat, layout: OutLayout) -> SynthConfig {
    SynthConfig { count, seed: 11, size, format, layout, ..Default::default() }
}

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    // A reviewer's work on the sample (`.mousexray/`) is theirs, not part of the sample.
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".mousexray")
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_bytes_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let cfg = SynthConfig {
        missing_view_rate: 0.3,
        ruler_rate: 0.5,
        ..config(10, 96, OutFormat::Mixed, OutLayout::Subfolders)
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    one.install(|| generate(&a, &cfg, &|| {})).unwrap();
    let two = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    two.install(|| generate(&b, &cfg, &|| {})).unwrap();
    let (fa, fb) = (files(&a), files(&b));
    assert!(fa.len() > 20, "{}", fa.len());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{k} differs");
    }
    // A different seed gives different images.
    let c = dir.path().join("c");
    generate(&c, &SynthConfig { seed: 12, ..cfg }, &|| {}).unwrap();
    let fc = files(&c);
    assert!(fa.iter().any(|(k, v)| fc.get(k).is_some_and(|w| w != v)));
}

fn mean_abs_diff(a: &[u16], b: &[u16]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64
}

fn normal_phantom(index: u64) -> Phantom {
    Phantom::sample(5, index, &Prevalence { abnormal: 0.0, ..Default::default() }, 0.0)
}

#[test]
fn every_finding_changes_the_image_measurably() {
    let base = normal_phantom(3);
    assert!(base.findings.is_empty());
    let size = 256;
    let clean = [base.render(View::Dv, size, false), base.render(View::Lv, size, false)];
    // The noise level, for scale: mean |noisy - clean|.
    let noise = mean_abs_diff(&base.render(View::Dv, size, true), &clean[0]);
    for class in CLASSES {
        let sick = base.with_finding(class, 1.0);
        assert!(sick.has(class));
        let diff = [
            mean_abs_diff(&sick.render(View::Dv, size, false), &clean[0]),
            mean_abs_diff(&sick.render(View::Lv, size, false), &clean[1]),
        ];
        assert!(diff[0].max(diff[1]) > 0.0, "{class}: no change");
        let pixels_changed = sick
            .render(View::Dv, size, false)
            .iter()
            .zip(&clean[0])
            .chain(sick.render(View::Lv, size, false).iter().zip(&clean[1]))
            .filter(|(a, b)| f64::from(a.abs_diff(**b)) > 3.0 * noise)
            .count();
        assert!(
            pixels_changed >= 12,
            "{class}: only {pixels_changed} pixels changed by more than 3x the noise ({noise:.1})"
        );
    }
}

/// Largest displacement (mm) of the spine's joints, projected for a view.
fn spine_shift(a: &Phantom, b: &Phantom, view: View) -> f64 {
    let v = usize::from(view == View::Lv);
    let (sa, sb) = (Spine::new(&a.anatomy, &a.poses[v]), Spine::new(&b.anatomy, &b.poses[v]));
    // Up to the end of the sacrum: the tail is posed per view.
    sa.joints[..=30]
        .iter()
        .zip(&sb.joints[..=30])
        .map(|(p, q)| {
            let d = *p - *q;
            if view == View::Dv { d.x.hypot(d.y) } else { d.x.hypot(d.z) }
        })
        .fold(0.0, f64::max)
}

#[test]
fn curvature_findings_show_in_the_view_that_sees_them() {
    for index in 0..4 {
        let base = normal_phantom(index);
        let sco = base.with_finding("scoliosis", 0.8);
        assert!(spine_shift(&base, &sco, View::Dv) > 2.0, "scoliosis moves the DV spine sideways");
        assert!(spine_shift(&base, &sco, View::Lv) < 1e-9, "scoliosis leaves the LV spine in place");
        for class in ["kyphosis", "lordosis"] {
            let bent = base.with_finding(class, 0.8);
            assert!(spine_shift(&base, &bent, View::Lv) > 2.0, "{class} moves the LV spine");
            assert!(spine_shift(&base, &bent, View::Dv) < 1e-9, "{class} leaves the DV spine in place");
        }
        // In the images: the change in the blind view stays below the quantum noise.
        let size = 256;
        let noise = mean_abs_diff(&base.render(View::Lv, size, true), &base.render(View::Lv, size, false));
        let lv = mean_abs_diff(&sco.render(View::Lv, size, false), &base.render(View::Lv, size, false));
        let dv = mean_abs_diff(&sco.render(View::Dv, size, false), &base.render(View::Dv, size, false));
        assert!(dv > 5.0 * lv, "scoliosis: DV change {dv:.2} vs LV change {lv:.2}");
        assert!(lv < noise, "scoliosis: LV change {lv:.2} vs noise {noise:.2}");
        let ky = base.with_finding("kyphosis", 0.8);
        let lv = mean_abs_diff(&ky.render(View::Lv, size, false), &base.render(View::Lv, size, false));
        let dv = mean_abs_diff(&ky.render(View::Dv, size, false), &base.render(View::Dv, size, false));
        assert!(lv > 5.0 * dv, "kyphosis: LV change {lv:.2} vs DV change {dv:.2}");
        let noise_dv = mean_abs_diff(&base.render(View::Dv, size, true), &base.render(View::Dv, size, false));
        assert!(dv < noise_dv, "kyphosis: DV change {dv:.2} vs noise {noise_dv:.2}");
    }
}

#[test]
fn every_layout_and_format_scans_without_problems() {
    let dir = tempfile::tempdir().unwrap();
    for layout in [OutLayout::Subfolders, OutLayout::Flat, OutLayout::Impc] {
        for format in
            [OutFormat::Png16, OutFormat::Jpeg, OutFormat::Bmp, OutFormat::Tiff, OutFormat::Dicom, OutFormat::Mixed]
        {
            let out = dir.path().join(format!("{layout:?}-{format:?}"));
            let cfg = SynthConfig { missing_view_rate: 0.25, ..config(8, 64, format, layout) };
            let summary = generate(&out, &cfg, &|| {}).unwrap();
            let report = scan(&out).unwrap();
            assert!(report.problems.is_empty(), "{layout:?} {format:?}: {:#?}", report.problems);
            assert_eq!(report.specimens.len(), 8, "{layout:?} {format:?}");
            let images: usize = report.specimens.iter().map(|s| s.images.len()).sum();
            assert_eq!(images, summary.images);
            for s in &report.specimens {
                assert!(s.metadata.sex.is_some() && s.metadata.phenotyping_center.is_some(), "{}", s.id);
                for path in s.images.values() {
                    let img = decode(path, &DecodeOptions::default()).unwrap();
                    assert_eq!((img.width, img.height), (64, 64));
                }
            }
        }
    }
}

#[test]
fn labels_agree_with_truth_and_prevalence_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = SynthConfig {
        prevalence: Prevalence { abnormal: 0.6, max_findings: 3, min_severity: 0.1, ..Default::default() },
        ..config(40, 64, OutFormat::Png16, OutLayout::Flat)
    };
    let summary = generate(&out, &cfg, &|| {}).unwrap();
    let taxonomy = Taxonomy::default();
    let (labels, problems) = read_labels(&out.join("labels.csv"), &taxonomy).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    let specimens = truth["specimens"].as_array().unwrap();
    assert_eq!(specimens.len(), 40);
    let mut abnormal = 0;
    for s in specimens {
        let id = s["id"].as_str().unwrap();
        let findings: Vec<&str> =
            s["phantom"]["findings"].as_array().unwrap().iter().map(|f| f["class"].as_str().unwrap()).collect();
        assert!(findings.len() <= 3);
        abnormal += usize::from(!findings.is_empty());
        let row = labels.get(id).unwrap();
        for class in CLASSES {
            let i = taxonomy.index_of(class).unwrap();
            assert_eq!(row[i], Some(findings.contains(&class)), "{id} {class}");
        }
        assert_eq!(row[0], Some(!findings.is_empty()), "{id} abnormal");
        for f in s["phantom"]["findings"].as_array().unwrap() {
            let sev = f["severity"].as_f64().unwrap();
            assert!((0.1..=1.0).contains(&sev));
        }
    }
    assert_eq!(abnormal, summary.abnormal);
    assert!((12..=36).contains(&abnormal), "{abnormal} of 40 abnormal at prevalence 0.6");

    let none = dir.path().join("none");
    let s = generate(
        &none,
        &SynthConfig {
            prevalence: Prevalence { abnormal: 0.0, ..Default::default() },
            ..config(10, 64, OutFormat::Png16, OutLayout::Flat)
        },
        &|| {},
    )
    .unwrap();
    assert_eq!(s.abnormal, 0);
    // Findings drawn only from the requested classes.
    let some = dir.path().join("some");
    let only = Prevalence { abnormal: 1.0, classes: vec!["kyphosis".into(), "teeth".into()], ..Default::default() };
    generate(&some, &SynthConfig { prevalence: only, ..config(12, 64, OutFormat::Png16, OutLayout::Flat) }, &|| {})
        .unwrap();
    let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(some.join("truth.json")).unwrap()).unwrap();
    for s in truth["specimens"].as_array().unwrap() {
        let findings = s["phantom"]["findings"].as_array().unwrap();
        assert!(!findings.is_empty() && findings.len() <= 2);
        assert!(findings.iter().all(|f| f["class"] == "kyphosis" || f["class"] == "teeth"), "{findings:?}");
    }

    // Never writes into a non-empty folder.
    assert!(generate(&none, &config(1, 64, OutFormat::Png16, OutLayout::Flat), &|| {}).is_err());
}

#[test]
fn committed_sample_is_what_make_sample_generates() {
    // Keep in step with SAMPLE_ARGS in the Makefile.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample");
    let cfg = SynthConfig {
        count: 24,
        seed: 20,
        size: 320,
        format: OutFormat::Mixed,
        prevalence: Prevalence { abnormal: 0.6, min_severity: 0.3, ..Default::default() },
        vary_film: true,
        vary_animal: true,
        ..Default::default()
    };
    generate(&out, &cfg, &|| {}).unwrap();
    let makefile = std::fs::read_to_string("Makefile").unwrap();
    assert!(makefile.contains(
        "SAMPLE_ARGS = --count 24 --seed 20 --size 320 --format mixed --prevalence 0.6 --min-severity 0.3 --vary-film --vary-animal\n"
    ));
    let (fresh, committed) = (files(&out), files(Path::new("assets/sample")));
    assert_eq!(fresh.keys().collect::<Vec<_>>(), committed.keys().collect::<Vec<_>>());
    for (k, v) in &fresh {
        assert!(v == &committed[k], "assets/sample/{k} differs from a fresh `make sample`: regenerate it");
    }
    // It covers normals and every abnormality.
    let truth: serde_json::Value = serde_json::from_slice(&fresh["truth.json"]).unwrap();
    let specimens = truth["specimens"].as_array().unwrap();
    assert!(specimens.iter().any(|s| s["phantom"]["findings"].as_array().unwrap().is_empty()));
    for class in CLASSES {
        assert!(
            specimens.iter().any(|s| s["phantom"]["findings"].as_array().unwrap().iter().any(|f| f["class"] == class)),
            "{class} missing from the sample"
        );
    }
    let total: usize = committed.values().map(Vec::len).sum();
    assert!(total <= 8 << 20, "sample is {total} bytes");
}

/// `synth --posture-pairs`: the same animal twice, its LV posture drawn again: the same labels,
/// the same DV file, another LV film framed as the first; style b is refused.
#[test]
fn posture_pairs_differ_by_the_lateral_posture_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("posture");
    let cfg = SynthConfig {
        posture_pairs: true,
        vary_animal: true,
        prevalence: Prevalence { abnormal: 0.5, ..Prevalence::default() },
        ..config(8, 96, OutFormat::Png16, OutLayout::Subfolders)
    };
    assert_eq!(generate(&out, &cfg, &|| {}).unwrap().specimens, 16);
    let (labels, problems) = read_labels(&out.join("labels.csv"), &Taxonomy::default()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let mut r = csv::Reader::from_path(out.join("pairs.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 8);
    let mut abnormal = 0;
    for row in &rows {
        let (finding, first, second) = (&row[1], &row[3], &row[4]);
        assert_eq!(finding, mousexray::synth::POSTURE_PAIR);
        assert_eq!(labels.rows[first], labels.rows[second], "{first} and {second} are labelled alike");
        abnormal += usize::from(labels.rows[first][0] == Some(true));
        let read = |id: &str, view: &str| std::fs::read(out.join(id).join(format!("{view}.png"))).unwrap();
        assert!(read(first, "DV") == read(second, "DV"), "{first}: the DV film is the same animal's");
        let a = decode(&out.join(first).join("LV.png"), &DecodeOptions::default()).unwrap();
        let b = decode(&out.join(second).join("LV.png"), &DecodeOptions::default()).unwrap();
        let changed = a.pixels.iter().zip(&b.pixels).filter(|(x, y)| x != y).count();
        assert!(changed > 40, "{first}: only {changed} LV pixels changed");
    }
    assert!(abnormal > 0, "posture pairs keep their findings");
    let one_view = generate(&dir.path().join("v"), &SynthConfig { missing_view_rate: 0.2, ..cfg.clone() }, &|| {});
    assert!(one_view.unwrap_err().to_string().contains("--missing-view-rate"));
    let refused = generate(&dir.path().join("b"), &SynthConfig { style: Style::B, vary_animal: false, ..cfg }, &|| {});
    assert!(refused.unwrap_err().to_string().contains("style b"));
}

/// `synth --vary-posture` redraws only the LV posture of a varied run: the same labels and DV
/// files, other LV films with tails and heads beyond `--vary-animal`'s range; it needs
/// `--vary-animal` and style a.
#[test]
fn vary_posture_changes_the_lateral_posture_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig { vary_animal: true, ..config(6, 96, OutFormat::Png16, OutLayout::Subfolders) };
    let (plain, posed) = (dir.path().join("plain"), dir.path().join("posed"));
    generate(&plain, &cfg, &|| {}).unwrap();
    generate(&posed, &SynthConfig { vary_posture: true, ..cfg.clone() }, &|| {}).unwrap();
    let read = |dir: &Path, name: &str| std::fs::read(dir.join(name)).unwrap();
    assert!(read(&plain, "labels.csv") == read(&posed, "labels.csv"), "the findings stay");
    let mut moved = 0;
    for k in 0..6 {
        let id = format!("MX{k:05}");
        assert!(read(&plain, &format!("{id}/DV.png")) == read(&posed, &format!("{id}/DV.png")), "{id}: DV changed");
        moved += usize::from(read(&plain, &format!("{id}/LV.png")) != read(&posed, &format!("{id}/LV.png")));
    }
    assert_eq!(moved, 6, "every LV film shows the redrawn posture");
    let truth: serde_json::Value = serde_json::from_slice(&read(&posed, "truth.json")).unwrap();
    let curls: Vec<f64> = truth["specimens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["phantom"]["poses"][1]["tail_curl_deg"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(curls.iter().all(|c| (-60.0..=180.0).contains(c)) && curls.iter().any(|c| *c > 35.0), "{curls:?}");
    let alone = generate(
        &dir.path().join("bad"),
        &SynthConfig { vary_posture: true, vary_animal: false, ..cfg.clone() },
        &|| {},
    );
    assert!(alone.unwrap_err().to_string().contains("--vary-posture"), "refused without --vary-animal");
    let pairs = SynthConfig { posture_pairs: true, vary_animal: false, ..cfg };
    let refused = generate(&dir.path().join("bad"), &pairs, &|| {});
    assert!(refused.unwrap_err().to_string().contains("--posture-pairs"), "posture pairs redraw a varied animal");
    assert!(!dir.path().join("bad").exists());
}

/// A pair's two members carry the same film marks: a mark is placed only where it fits beside
/// both animals (a curled tail or an added finding may take the corner a mark would use).
#[test]
fn pair_members_carry_the_same_film_marks() {
    let dir = tempfile::tempdir().unwrap();
    // Runs where placing each member's marks on its own film put different marks on the two.
    for (name, posture_pairs, ruler_rate) in [("posture", true, 0.5), ("findings", false, 0.15)] {
        let out = dir.path().join(name);
        let cfg = SynthConfig {
            pairs: !posture_pairs,
            posture_pairs,
            vary_film: true,
            vary_animal: true,
            seed: 3,
            ruler_rate,
            ..config(30, 128, OutFormat::Png16, OutLayout::Subfolders)
        };
        generate(&out, &cfg, &|| {}).unwrap();
        let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
        let by_id: BTreeMap<&str, &serde_json::Value> =
            truth["specimens"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap(), s)).collect();
        let mut r = csv::Reader::from_path(out.join("pairs.csv")).unwrap();
        let mut marks = 0;
        for row in r.records().map(|x| x.unwrap()) {
            // A posture pair's DV films are the same animal's: with the same marks in the same
            // places they are the same file.
            if posture_pairs {
                let dv = |id: &str| std::fs::read(out.join(id).join("DV.png")).unwrap();
                assert!(dv(&row[3]) == dv(&row[4]), "{name} pair {}: DV files differ", &row[0]);
            }
            for view in ["dv", "lv"] {
                let of = |id: &str| by_id[id]["film"][view]["marks"].clone();
                assert_eq!(of(&row[3]), of(&row[4]), "{name} pair {}: {view} marks differ", &row[0]);
                marks += of(&row[3]).as_array().map_or(0, Vec::len);
            }
        }
        assert!(marks > 10, "{name}: only {marks} marks placed");
    }
}

#[test]
fn pairs_differ_by_one_finding_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pairs");
    let cfg = SynthConfig {
        pairs: true,
        prevalence: Prevalence { abnormal: 0.3, ..Prevalence::default() },
        ..config(12, 96, OutFormat::Png16, OutLayout::Subfolders)
    };
    let summary = generate(&out, &cfg, &|| {}).unwrap();
    assert_eq!(summary.specimens, 24);
    let (labels, problems) = read_labels(&out.join("labels.csv"), &Taxonomy::default()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let taxonomy = Taxonomy::default();
    let mut r = csv::Reader::from_path(out.join("pairs.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 12);
    // The classes are taken in turn: the first ten pairs cover all ten findings.
    let first: std::collections::BTreeSet<&str> = rows.iter().take(10).map(|r| &r[1]).collect();
    assert_eq!(first.len(), 10);
    for row in &rows {
        let (finding, without, with) = (&row[1], &row[3], &row[4]);
        let node = taxonomy.index_of(finding).unwrap();
        assert_eq!(labels.rows[without][node], Some(false), "{without} lacks {finding}");
        assert_eq!(labels.rows[with][node], Some(true), "{with} has {finding}");
        // Every other L3 label is the same animal's.
        for (k, n) in taxonomy.nodes.iter().enumerate() {
            if k != node && n.level == mousexray::taxonomy::Level::L3 {
                assert_eq!(labels.rows[without][k], labels.rows[with][k], "{finding}: {} differs", n.id);
            }
        }
        // Same pose, placement, exposure and noise: most pixels are identical, some are not.
        let mut changed = 0usize;
        let mut total = 0usize;
        for view in ["DV", "LV"] {
            let a = decode(&out.join(without).join(format!("{view}.png")), &DecodeOptions::default()).unwrap();
            let b = decode(&out.join(with).join(format!("{view}.png")), &DecodeOptions::default()).unwrap();
            changed += a.pixels.iter().zip(&b.pixels).filter(|(x, y)| x != y).count();
            total += a.pixels.len();
        }
        assert!(changed > 0, "{finding}: the pair is identical");
        // Both members are framed as the animal without the finding: only the finding's
        // pixels change, not the whole animal shifted by a re-fitted field of view.
        assert!(changed < total / 8, "{finding}: {changed} of {total} pixels changed");
    }
    // Animals that already have every class asked for are drawn again without findings.
    let only = dir.path().join("only");
    let cfg = SynthConfig {
        pairs: true,
        prevalence: Prevalence {
            abnormal: 1.0,
            classes: vec!["kyphosis".into(), "scoliosis".into()],
            ..Prevalence::default()
        },
        ..config(10, 64, OutFormat::Png16, OutLayout::Flat)
    };
    assert_eq!(generate(&only, &cfg, &|| {}).unwrap().specimens, 20);
    // A pair's two members carry the same metadata.
    let manifest = std::fs::read_to_string(only.join("specimens.csv")).unwrap();
    let rows: Vec<&str> = manifest.lines().skip(1).collect();
    for pair in rows.chunks(2) {
        let strip = |r: &str| r.split_once(',').map(|x| x.1.to_owned()).unwrap();
        assert_eq!(strip(pair[0]), strip(pair[1]), "{pair:?}");
    }
}

#[test]
fn varied_films_are_recorded_and_still_pass_film_qc() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, varied) = (dir.path().join("plain"), dir.path().join("varied"));
    let cfg = config(12, 256, OutFormat::Png16, OutLayout::Subfolders);
    generate(&plain, &cfg, &|| {}).unwrap();
    generate(&varied, &SynthConfig { vary_film: true, ..cfg }, &|| {}).unwrap();
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(varied.join("truth.json")).unwrap()).unwrap();
    let specimens = truth["specimens"].as_array().unwrap();
    let films: Vec<&serde_json::Value> =
        specimens.iter().flat_map(|s| s["film"].as_object().unwrap().values()).collect();
    assert_eq!(films.len(), 24, "every view's variation is recorded");
    let kinds: std::collections::BTreeSet<String> =
        films.iter().map(|f| f["background"].as_str().map_or("grey".to_owned(), str::to_owned)).collect();
    assert_eq!(kinds.len(), 3, "dark, grey and inverted backgrounds: {kinds:?}");
    assert!(films.iter().any(|f| !f["marks"].as_array().unwrap().is_empty()), "some marks placed");
    // The plain run has no variation recorded; the animals are the same, the films are not.
    let plain_truth = std::fs::read_to_string(plain.join("truth.json")).unwrap();
    assert!(!plain_truth.contains("\"film\""));
    let spec = mousexray::imaging::PreprocessSpec { body_only: true, ..Default::default() };
    for s in specimens {
        let id = s["id"].as_str().unwrap();
        let [a, b] =
            ["DV", "LV"].map(|v| decode(&varied.join(id).join(format!("{v}.png")), &DecodeOptions::default()).unwrap());
        assert_ne!(a.pixels, decode(&plain.join(id).join("DV.png"), &DecodeOptions::default()).unwrap().pixels);
        let films = [&a, &b].map(|f| mousexray::imaging::preprocess_film(f, &spec).unwrap().film);
        let qc = mousexray::imaging::specimen_qc(Some(&films[0]), Some(&films[1]));
        assert!(
            qc.values().all(Vec::is_empty),
            "{id}: film QC {qc:?} on a varied whole phantom {films:?} {}",
            s["film"]
        );
    }
}

/// The highest point (mm, dorsal) of the body's soft tissue within `band` mm of `x` along the
/// body, sampled over the soft shapes' ellipsoid centres plus their dorsal reach.
fn dorsal_outline(body: &mousexray::synth::Body, x: f64, band: f64) -> f64 {
    body.soft
        .iter()
        .filter_map(|s| match s {
            mousexray::synth::Shape::Ellipsoid { centre, axes, radii } if (centre.x - x).abs() < band => {
                Some(centre.z + (0..3).map(|k| (axes[k].z * radii[k]).abs()).fold(0.0, f64::max))
            }
            _ => None,
        })
        .fold(f64::MIN, f64::max)
}

#[test]
fn a_varied_animal_hunches_in_lv_and_its_trunk_follows_its_curves() {
    let mut varied = normal_phantom(4);
    varied.vary_animal();
    assert!(varied.poses[1].hunch_mm > 0.0 && varied.poses[0].hunch_mm == 0.0, "a hunch in LV only");
    assert!(varied.poses.iter().all(|p| p.trunk_follows_spine));
    // Kyphosis lifts the back's outline where the trunk follows the column, and not otherwise
    // (the column used to move inside a fixed trunk: a shortcut a model can learn).
    let plain = normal_phantom(4);
    let hump_x = {
        let sick = plain.with_finding("kyphosis", 1.0);
        let c = sick.anatomy.sagittal[0].centre_mm * sick.anatomy.scale;
        -c
    };
    let lift = |p: &Phantom| {
        let sick = p.with_finding("kyphosis", 1.0);
        let before = mousexray::synth::build(&p.anatomy, &p.poses[1]);
        let after = mousexray::synth::build(&sick.anatomy, &sick.poses[1]);
        dorsal_outline(&after, hump_x, 4.0) - dorsal_outline(&before, hump_x, 4.0)
    };
    let mut following = plain.clone();
    following.poses[1].trunk_follows_spine = true;
    assert!(lift(&following) > 1.0, "the trunk rises with the hump: {:.2} mm", lift(&following));
    assert!(lift(&plain).abs() < 0.2, "the fixed trunk does not: {:.2} mm", lift(&plain));
    // The default generator is unchanged: a plain run renders what it always did.
    assert_eq!(plain.poses[1].hunch_mm, 0.0);
    assert_eq!(plain.poses[0].bow_mm, 0.0);
    // A curved DV placement moves the mid-column sideways and leaves the ends in place.
    let mut bowed = plain.clone();
    bowed.poses[0].bow_mm = 5.0;
    let (a, b) = (Spine::new(&plain.anatomy, &plain.poses[0]), Spine::new(&bowed.anatomy, &bowed.poses[0]));
    // Joints 0 to 30 run from the skull to the end of the sacrum (7 + 13 + 6 + 4 vertebrae).
    let shift = |k: usize| b.joints[k].y - a.joints[k].y;
    let most = (0..=30).map(shift).fold(0.0, f64::max);
    assert!(most > 4.0, "mid-column moved {most:.2} mm");
    assert!(shift(0).abs() < 0.5 && shift(30).abs() < 0.5, "ends moved {:.2} / {:.2} mm", shift(0), shift(30));
}

#[test]
fn style_b_pairs_are_deterministic_labelled_and_differ_by_their_finding() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let cfg = SynthConfig {
        style: Style::B,
        pairs: true,
        prevalence: Prevalence { abnormal: 0.4, min_severity: 0.5, ..Prevalence::default() },
        ..config(10, 128, OutFormat::Png16, OutLayout::Subfolders)
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    one.install(|| generate(&a, &cfg, &|| {})).unwrap();
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    two.install(|| generate(&b, &cfg, &|| {})).unwrap();
    assert_eq!(files(&a), files(&b), "style b is byte-identical whatever the thread count");
    let report = scan(&a).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.specimens.len(), 20);
    // The truth file records style b's animals, and the labels follow their findings.
    let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["config"]["style"], "b");
    let taxonomy = Taxonomy::default();
    let (labels, _) = read_labels(&a.join("labels.csv"), &taxonomy).unwrap();
    for s in truth["specimens"].as_array().unwrap() {
        assert!(s.get("phantom").is_none(), "style b writes no style-a phantom");
        let id = s["id"].as_str().unwrap();
        let found: Vec<&str> =
            s["style_b"]["findings"].as_array().unwrap().iter().map(|f| f["class"].as_str().unwrap()).collect();
        for class in CLASSES {
            let node = taxonomy.index_of(class).unwrap();
            assert_eq!(labels.rows[id][node], Some(found.contains(&class)), "{id} {class}");
        }
    }
    let mut r = csv::Reader::from_path(a.join("pairs.csv")).unwrap();
    for row in r.records().map(|x| x.unwrap()) {
        let (finding, without, with) = (&row[1], &row[3], &row[4]);
        let (mut changed, mut total) = (0usize, 0usize);
        for view in ["DV", "LV"] {
            let x = decode(&a.join(without).join(format!("{view}.png")), &DecodeOptions::default()).unwrap();
            let y = decode(&a.join(with).join(format!("{view}.png")), &DecodeOptions::default()).unwrap();
            changed += x.pixels.iter().zip(&y.pixels).filter(|(p, q)| p.abs_diff(**q) > 200).count();
            total += x.pixels.len();
        }
        assert!(changed > 0, "{finding}: adding it changed nothing visible");
        assert!(changed < total / 8, "{finding}: {changed} of {total} pixels changed");
    }
}

#[test]
fn style_b_curvatures_show_in_the_view_that_sees_them() {
    use mousexray::synth::style_b::Mouse;
    let base = Mouse::sample(9, 1, &Prevalence { abnormal: 0.0, ..Prevalence::default() });
    let changed = |class: &str, view: View| {
        let with = base.with_finding(class, 1.0);
        let (x, y) = (base.render_framed_as(None, view, 192), with.render_framed_as(Some(&base), view, 192));
        mean_abs_diff(&x, &y)
    };
    // Scoliosis bends the spine sideways: DV shows it far more than LV; kyphosis the reverse.
    assert!(changed("scoliosis", View::Dv) > 2.0 * changed("scoliosis", View::Lv));
    assert!(changed("kyphosis", View::Lv) > 2.0 * changed("kyphosis", View::Dv));
}
