//! Labels from IMPC observations (`mousexray labels --from-impc`): the phantoms' truth written as
//! observations comes back as the same labels.csv; every answer, prefix, conflict and count is
//! read as documented and reported with its file line; `train --labels` takes the result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use mousexray::specimen::{NormalCounts, read_labels, read_observations};
use mousexray::taxonomy::Taxonomy;

fn mousexray(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mousexray")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One epoch of a tiny CAE on `data` with `labels`: enough to show `train` takes the labels.
fn train_tiny(data: &Path, labels: &Path, model: &Path) -> Output {
    mousexray(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--backbone",
        "cae",
        "--size",
        "32",
        "--epochs",
        "1",
        "--pretrain-epochs",
        "0",
        "--batch",
        "8",
    ])
}

#[test]
fn the_phantoms_truth_as_observations_gives_back_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    for style in ["a", "b"] {
        let data = dir.path().join(style);
        let d = data.to_str().unwrap();
        let synth = mousexray(&[
            "synth",
            "--out",
            d,
            "--style",
            style,
            "--count",
            "40",
            "--size",
            "64",
            "--prevalence",
            "0.8",
            "--impc-observations",
        ]);
        assert_eq!(synth.status.code(), Some(0), "{}", stderr(&synth));
        let out = dir.path().join(format!("{style}-labels.csv"));
        let obs = data.join("observations.csv");
        let run =
            mousexray(&["labels", "--from-impc", obs.to_str().unwrap(), "--out", out.to_str().unwrap(), "--folder", d]);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(0), "{err}");
        assert!(err.contains("40 specimens labelled"), "{err}");
        // The phantoms' observations carry one parameter the taxonomy does not map, as real data does.
        assert!(err.contains("unmapped parameter IMPC_XRY_006_001: 40 rows (lines "), "{err}");
        assert!(!err.contains("no images"), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(data.join("labels.csv")).unwrap(), "style {style}");
    }
    // train --labels takes the result.
    let model = dir.path().join("m.onnx");
    let labels = dir.path().join("a-labels.csv");
    let train = train_tiny(&dir.path().join("a"), &labels, &model);
    assert_eq!(train.status.code(), Some(0), "{}", stderr(&train));
    assert!(model.is_file());
}

#[test]
fn answers_prefixes_conflicts_and_counts_are_read_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let obs = dir.path().join("obs.csv");
    std::fs::write(
        &obs,
        "external_sample_id,parameter_stable_id,category,data_point,gene_symbol\n\
         S1,MGP_XRY_056_001,abnormal,,Abc1\n\
         S1,IMPC_XRY_057_002,normal,,Abc1\n\
         S2,IMPC_XRY_021_001,normal,,\n\
         S2,IMPC_XRY_024_001,imageOnly,,\n\
         S2,IMPC_XRY_028_001,,21,\n\
         S3,IMPC_XRY_019_001,fused,,\n\
         S3,IMPC_XRY_019_001,not fused,,\n\
         S3,IMPC_XRY_011_001,not fused,,\n\
         S4,IMPC_XRY_001_001,maybe,,\n\
         S4,IMPC_XRY_062_001,unobservable,,\n\
         ,IMPC_XRY_056_001,abnormal,,\n\
         S5,IMPC_XRY_028_001,,20,\n",
    )
    .unwrap();
    let taxonomy = Taxonomy::default();
    let (labels, report) = read_observations(&obs, &taxonomy, &NormalCounts::default()).unwrap();
    let at = |id: &str, node: &str| labels[id][taxonomy.index_of(node).unwrap()];
    // Hostile but real: a Latin-1 byte, a quoted comment over two lines (line numbers stay the
    // file's), a NaN count, an empty specimen_id with an external_sample_id, and an imageOnly
    // beside an abnormal answer (not a conflict).
    let rough = dir.path().join("rough.csv");
    let mut bytes = b"specimen_id,external_sample_id,parameter_stable_id,category,data_point,comment\n".to_vec();
    bytes.extend_from_slice(b"R1,,IMPC_XRY_056_001,abnormal,,caf\xe9\n");
    bytes.extend_from_slice(b"R1,,IMPC_XRY_056_001,imageOnly,,\"two\nlines\"\n");
    bytes.extend_from_slice(b"R2,,IMPC_XRY_028_001,,NaN,\n");
    bytes.extend_from_slice(b",R3,IMPC_XRY_057_001,normal,,\n");
    std::fs::write(&rough, bytes).unwrap();
    let (rough_labels, rough_report) = read_observations(&rough, &taxonomy, &NormalCounts::default()).unwrap();
    assert_eq!(rough_labels["R1"][taxonomy.index_of("scoliosis").unwrap()], Some(true));
    assert!(rough_report.conflicts.is_empty(), "{rough_report:?}");
    assert_eq!(rough_report.unknown_answers.get(&("IMPC_XRY_028_001".to_owned(), "NaN".to_owned())), Some(&vec![5]));
    assert_eq!(rough_labels["R3"][taxonomy.index_of("kyphosis").unwrap()], Some(false));
    // Any centre prefix and procedure version; external_sample_id when there is no specimen_id.
    assert_eq!(at("S1", "scoliosis"), Some(true));
    assert_eq!(at("S1", "kyphosis"), Some(false));
    assert_eq!(at("S1", "lordosis"), None);
    assert_eq!(at("S1", "axial"), Some(true));
    assert_eq!(at("S1", "abnormal"), Some(true));
    // A node is negative when every known parameter is (imageOnly is unknown); a count outside
    // the normal one is positive.
    assert_eq!(at("S2", "long_bones"), Some(false));
    assert_eq!(at("S2", "polysyndactyly"), Some(true));
    assert_eq!(at("S5", "polysyndactyly"), Some(false));
    // Two different answers for one parameter: unknown, and reported with both lines.
    assert_eq!(at("S3", "vertebral_fusion"), None);
    assert_eq!(at("S3", "rib_fusion"), Some(false));
    assert_eq!(report.conflicts.get(&("S3".to_owned(), "IMPC_XRY_019_001".to_owned())), Some(&vec![7, 8]));
    // An answer outside the vocabulary is reported, not guessed.
    assert_eq!(at("S4", "skull_shape"), None);
    assert_eq!(report.unknown_answers.get(&("IMPC_XRY_001_001".to_owned(), "maybe".to_owned())), Some(&vec![10]));
    assert_eq!(at("S4", "polysyndactyly"), None);
    assert_eq!(report.no_specimen, vec![12]);
    assert_eq!((report.rows, labels.len()), (12, 5));
    // Another strain's normal count.
    let wide = NormalCounts([("028".to_owned(), (20.0, 22.0))].into_iter().collect());
    let (labels, _) = read_observations(&obs, &taxonomy, &wide).unwrap();
    assert_eq!(labels["S2"][taxonomy.index_of("polysyndactyly").unwrap()], Some(false));

    // From the command line: the report names the lines; the labels read back cleanly.
    let out = dir.path().join("labels.csv");
    let folder = dir.path().join("films");
    std::fs::create_dir_all(folder.join("S1")).unwrap();
    mousexray::synth::generate(
        &dir.path().join("one"),
        &mousexray::synth::SynthConfig { count: 1, size: 64, ..Default::default() },
        &|| {},
    )
    .unwrap();
    std::fs::copy(dir.path().join("one/MX00000/DV.png"), folder.join("S1/DV.png")).unwrap();
    let run = mousexray(&[
        "labels",
        "--from-impc",
        obs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--folder",
        folder.to_str().unwrap(),
        "--normal-count",
        "028=20",
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(err.contains("conflict: S3 IMPC_XRY_019_001 answered differently, read as unknown (lines 7, 8)"), "{err}");
    assert!(err.contains("unknown answer `maybe` for IMPC_XRY_001_001: 1 rows, read as unknown (lines 10)"), "{err}");
    assert!(err.contains("rows without a specimen id: 1 (lines 12)"), "{err}");
    assert!(err.contains("4 specimens have observations but no images"), "{err}");
    let (table, problems) = read_labels(&out, &taxonomy).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(table.rows.len(), 5);
    // Usage errors: a bad count, and overwriting the observations however the path is spelled.
    assert_eq!(
        mousexray(&["labels", "--from-impc", "x.csv", "--out", "y.csv", "--normal-count", "28=20"]).status.code(),
        Some(2)
    );
    let twisted = dir.path().join("films").join("..").join("obs.csv");
    let same = mousexray(&["labels", "--from-impc", obs.to_str().unwrap(), "--out", twisted.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(1));
    assert!(stderr(&same).contains("would overwrite"), "{}", stderr(&same));
    let not_a_count =
        mousexray(&["labels", "--from-impc", obs.to_str().unwrap(), "--out", "-", "--normal-count", "056=1"]);
    assert_eq!(not_a_count.status.code(), Some(1), "{}", stderr(&not_a_count));
    // `-` writes to standard output.
    let piped = mousexray(&["labels", "--from-impc", obs.to_str().unwrap(), "--out", "-"]);
    assert_eq!(piped.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&piped.stdout).starts_with("specimen_id,abnormal,"), "{piped:?}");
    // Nothing labelled: nothing written, and the file that was there is kept.
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "specimen_id,parameter_stable_id,category\nS1,IMPC_XRY_006_001,normal\n").unwrap();
    let none = mousexray(&["labels", "--from-impc", empty.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("no specimen could be labelled; nothing written"), "{}", stderr(&none));
    assert_eq!(read_labels(&out, &taxonomy).unwrap().0.rows.len(), 5, "the earlier labels are intact");
    // A file without the columns names itself and the reason.
    std::fs::write(&obs, "id,parameter\nS1,IMPC_XRY_056_001\n").unwrap();
    let bad = mousexray(&["labels", "--from-impc", obs.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("obs.csv") && stderr(&bad).contains("no `specimen_id` or `external_sample_id` column"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn the_reviewers_decisions_become_labels_that_train_takes() {
    use mousexray::review::{Call, Edit, QcReason, ReviewSession, Status};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("films");
    let synth = mousexray(&["synth", "--out", data.to_str().unwrap(), "--count", "24", "--size", "64"]);
    assert_eq!(synth.status.code(), Some(0), "{}", stderr(&synth));
    {
        let mut s = ReviewSession::open(&data, "ana").unwrap();
        for k in 0..20 {
            let id = format!("MX{k:05}");
            let status = match k {
                0..=9 => Status::Normal,
                10..=15 => Status::ConfirmedAbnormal,
                16 => Status::QcProblem(QcReason::NoMouse),
                17 => Status::SecondLook,
                _ => Status::Unreviewed,
            };
            s.edit(Edit::Status { specimen: id.clone(), status }).unwrap();
            if (10..=15).contains(&k) || k == 18 {
                s.edit(Edit::Call { specimen: id, node: "kyphosis".into(), call: Some(Call::Abnormal) }).unwrap();
            }
        }
        s.save().unwrap();
    }
    let out = dir.path().join("review-labels.csv");
    let run = mousexray(&["labels", "--from-review", data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(
        err.contains("17 specimens with a decision; left out 1 with a QC status, 1 for a second look, 1 undecided"),
        "{err}"
    );
    let taxonomy = Taxonomy::default();
    let (table, problems) = read_labels(&out, &taxonomy).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let at = |id: &str, node: &str| table.rows[id][taxonomy.index_of(node).unwrap()];
    assert_eq!((at("MX00000", "abnormal"), at("MX00000", "kyphosis")), (Some(false), Some(false)));
    assert_eq!(
        (at("MX00010", "kyphosis"), at("MX00010", "axial"), at("MX00010", "scoliosis")),
        (Some(true), Some(true), None)
    );
    assert_eq!(at("MX00018", "kyphosis"), Some(true));
    assert!(!table.rows.contains_key("MX00016") && !table.rows.contains_key("MX00017"));
    // Both --from-impc and --from-review, or neither, is a usage error.
    assert_eq!(mousexray(&["labels", "--out", out.to_str().unwrap()]).status.code(), Some(2));
    let model = dir.path().join("m.onnx");
    let train = train_tiny(&data, &out, &model);
    assert_eq!(train.status.code(), Some(0), "{}", stderr(&train));
    assert!(stderr(&train).contains("17 labelled specimens"), "{}", stderr(&train));
}
