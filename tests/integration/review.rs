//! Review persistence: edits survive a reopen with or without a snapshot, undo and redo are
//! journalled, a second process is kept out, a stale lock is taken over, damage is set aside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mousexray::review::{Call, Decision, Edit, QcReason, ReviewError, ReviewSession, Shown, Status};
use mousexray::taxonomy::Taxonomy;

fn call(specimen: &str, node: &str, c: Option<Call>) -> Edit {
    Edit::Call { specimen: specimen.into(), node: node.into(), call: c }
}

#[test]
fn edits_survive_reopening_with_and_without_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = ReviewSession::open(dir.path(), "ana").unwrap();
        assert_eq!(s.snapshot_due_in(), None, "nothing to write");
        s.edit(call("MX1", "kyphosis", Some(Call::Abnormal))).unwrap();
        // A window that sleeps between inputs wakes for the snapshot this says is waiting.
        assert!(s.snapshot_due_in().is_some_and(|d| d <= mousexray::review::SNAPSHOT_DELAY));
        s.edit(Edit::Status { specimen: "MX1".into(), status: Status::ConfirmedAbnormal }).unwrap();
        s.save().unwrap();
        assert_eq!(s.snapshot_due_in(), None, "written");
        s.edit(Edit::Comment { specimen: "MX2".into(), text: "tail, \"odd\"\nsee LV".into() }).unwrap();
        s.edit(Edit::Status { specimen: "MX2".into(), status: Status::QcProblem(QcReason::BadPositioning) }).unwrap();
        assert!(s.undo().unwrap());
        assert!(s.redo().unwrap());
        assert!(s.undo().unwrap());
        // Simulate a crash: the snapshot is skipped, only the journal has the last edits.
        std::mem::forget(s);
    }
    // The forgotten session still holds its lock file: its process is alive (this one).
    let lock = dir.path().join(".mousexray/review.lock");
    assert!(matches!(ReviewSession::open(dir.path(), "ben"), Err(ReviewError::Locked { .. })));
    std::fs::remove_file(&lock).unwrap();

    let s = ReviewSession::open(dir.path(), "ben").unwrap();
    let mx1 = s.state.get("MX1").unwrap();
    assert_eq!(mx1.calls.get("kyphosis"), Some(&Call::Abnormal));
    assert_eq!(mx1.status, Status::ConfirmedAbnormal);
    assert_eq!(mx1.reviewer, "ana");
    let mx2 = s.state.get("MX2").unwrap();
    assert_eq!(mx2.comment, "tail, \"odd\"\nsee LV");
    assert_eq!(mx2.status, Status::Unreviewed, "the status edit was undone");
    assert_eq!(s.state.revision, 7);
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn a_decision_is_one_undo_step_recorded_with_the_scores_shown_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let t = Taxonomy::impc_skeletal();
    let shown = Shown { model_sha256: "abc".into(), probabilities: Default::default(), thresholds: Default::default() };
    {
        let mut s = ReviewSession::open(dir.path(), "ana").unwrap();
        let d = s.decide("MX1", &Decision::ToggleAbnormal { node: "teeth".into() }, Some(shown.clone()), &t).unwrap();
        assert_eq!(d.edits.len(), 4, "the finding, its group, L1 and the status: {:?}", d.edits);
        let d = s.decide("MX1", &Decision::Normal, Some(shown.clone()), &t).unwrap();
        assert_eq!(d.cleared, vec!["craniofacial".to_owned(), "teeth".to_owned()]);
        let r = s.state.get("MX1").unwrap();
        assert_eq!((r.status, r.calls.len()), (Status::Normal, 1), "{:?}", r.calls);
        // One Z undoes the whole of N: teeth is abnormal again, and so is the status.
        assert!(s.undo().unwrap());
        let r = s.state.get("MX1").unwrap();
        assert_eq!(r.status, Status::ConfirmedAbnormal);
        assert_eq!(r.calls.get("teeth"), Some(&Call::Abnormal));
        assert_eq!(r.calls.get("abnormal"), Some(&Call::Abnormal));
        assert_eq!(r.shown.as_ref(), Some(&shown), "the scores behind the decision are on record");
        assert!(s.redo().unwrap());
        // An unknown node is an error, not a panic, and changes nothing.
        let bad = Decision::Call { node: "tail".into(), call: Some(Call::Abnormal) };
        assert!(matches!(s.decide("MX1", &bad, None, &t), Err(ReviewError::Decision(_))));
        std::mem::forget(s);
    }
    std::fs::remove_file(dir.path().join(".mousexray/review.lock")).unwrap();
    let s = ReviewSession::open(dir.path(), "ben").unwrap();
    let r = s.state.get("MX1").unwrap();
    assert_eq!(r.status, Status::Normal);
    assert_eq!(r.calls.get("abnormal"), Some(&Call::Normal));
    assert_eq!(r.calls.get("teeth"), None);
}

#[test]
fn a_stale_lock_is_taken_over_and_damage_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = ReviewSession::open(dir.path(), "ana").unwrap();
        s.edit(call("MX1", "teeth", Some(Call::Unobservable))).unwrap();
    }
    let side = dir.path().join(".mousexray");
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    if !host.is_empty() {
        std::fs::write(side.join("review.lock"), format!("4000000 {host} 2026-01-01T00:00:00Z")).unwrap();
        let s = ReviewSession::open(dir.path(), "ben").unwrap();
        assert_eq!(s.state.get("MX1").unwrap().calls.get("teeth"), Some(&Call::Unobservable));
    }

    // A torn last journal line (a crash mid-append) is ignored quietly.
    {
        let mut s = ReviewSession::open(dir.path(), "ana").unwrap();
        s.edit(call("MX3", "pelvis", Some(Call::Normal))).unwrap();
        std::mem::forget(s);
    }
    std::fs::remove_file(side.join("review.lock")).unwrap();
    let mut j = std::fs::OpenOptions::new().append(true).open(side.join("journal.jsonl")).unwrap();
    std::io::Write::write_all(&mut j, b"{\"rev\":99,\"revi").unwrap();
    drop(j);
    {
        let s = ReviewSession::open(dir.path(), "ana").unwrap();
        assert_eq!(s.state.get("MX3").unwrap().calls.get("pelvis"), Some(&Call::Normal));
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    // A whole line that ends and does not parse is damage, not a torn append: reported.
    {
        let mut j = std::fs::OpenOptions::new().write(true).truncate(true).open(side.join("journal.jsonl")).unwrap();
        std::io::Write::write_all(&mut j, b"not an edit\n").unwrap();
    }
    {
        let s = ReviewSession::open(dir.path(), "ana").unwrap();
        assert!(s.notes.iter().any(|n| n.contains("line 1 is damaged")), "{:?}", s.notes);
    }

    // A damaged snapshot is moved aside, never overwritten, and reported.
    std::fs::write(side.join("review.json"), b"{ not json").unwrap();
    let s = ReviewSession::open(dir.path(), "ana").unwrap();
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(s.notes[0].contains("damaged"), "{:?}", s.notes);
    let aside: Vec<_> = std::fs::read_dir(&side)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("damaged"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(side.join(&aside[0])).unwrap(), b"{ not json");
}

#[test]
fn export_writes_wide_and_long_csv_safe_for_spreadsheets() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("xrays");
    let config = mousexray::synth::SynthConfig { count: 4, size: 96, ..Default::default() };
    mousexray::synth::generate(&root, &config, &|| {}).unwrap();
    {
        let mut s = ReviewSession::open(&root, "=ana").unwrap();
        let probabilities: BTreeMap<String, f32> = [("abnormal".to_owned(), 0.9f32), ("axial".into(), 0.7)].into();
        let thresholds: BTreeMap<String, f32> = [("abnormal".to_owned(), 0.5f32), ("axial".into(), 0.4)].into();
        let shown = mousexray::review::Shown { model_sha256: "ab".repeat(32), probabilities, thresholds };
        s.edit(Edit::Shown { specimen: "MX00001".into(), shown: Some(shown) }).unwrap();
        s.edit(call("MX00001", "kyphosis", Some(Call::Abnormal))).unwrap();
        s.edit(Edit::Status { specimen: "MX00001".into(), status: Status::ConfirmedAbnormal }).unwrap();
        s.edit(Edit::Comment { specimen: "MX00001".into(), text: "=HYPERLINK(\"x\")".into() }).unwrap();
        // N on a second specimen: every IMPC parameter takes "normal" from it.
        s.decide("MX00002", &Decision::Normal, None, &Taxonomy::impc_skeletal()).unwrap();
        // N on an LV-only specimen: the findings read on DV stay unobservable.
        s.decide("MX00003", &Decision::Normal, None, &Taxonomy::impc_skeletal()).unwrap();
        // N on a specimen whose DV film QC left out (a close-up): the same, from the QC.
        s.decide("MX00000", &Decision::Normal, None, &Taxonomy::impc_skeletal()).unwrap();
        // A specimen reviewed before its films were moved away: its review is still exported.
        s.decide("GHOST", &Decision::Normal, None, &Taxonomy::impc_skeletal()).unwrap();
    }
    std::fs::remove_file(root.join("MX00003").join("DV.png")).unwrap();
    let side = mousexray::review::review_dir(&root);
    let mut stored = mousexray::inference::stored::StoredResults::default();
    let close_up = mousexray::specimen::ByView::new(vec![mousexray::imaging::QcCode::NotWholeBody], Vec::new());
    stored.film_qc.insert("MX00000".into(), close_up);
    stored.save(&side).unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mousexray")).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let r = root.to_str().unwrap();
    // The output's folder is made, as predict and merge make theirs.
    let wide = dir.path().join("exports").join("wide.csv");
    run(&["export", r, "--out", wide.to_str().unwrap()]);
    let mut rd = csv::Reader::from_path(&wide).unwrap();
    let h = rd.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5, "four specimens, then the reviewed one without films");
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let ghost = rows.last().unwrap();
    assert_eq!((&ghost[0], &ghost[col("dv_path")], &ghost[col("status")]), ("GHOST", "", "normal"));
    let row = rows.iter().find(|r| &r[0] == "MX00001").unwrap();
    assert_eq!(&row[col("status")], "confirmed_abnormal");
    assert_eq!(&row[col("call_kyphosis")], "abnormal");
    assert_eq!(&row[col("p_abnormal")], "0.9000");
    assert_eq!(&row[col("comment")], "'=HYPERLINK(\"x\")", "formula neutralised");
    assert_eq!(&row[col("reviewer")], "'=ana");
    assert_eq!(row[col("model_sha256")].len(), 64);

    let long = dir.path().join("long.csv");
    run(&["export", r, "--out", long.to_str().unwrap(), "--only", "reviewed", "--long", "--excel"]);
    let bytes = std::fs::read(&long).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 14, "one row per node and IMPC parameter");
    assert!(
        lines[1..]
            .iter()
            .all(|l| ["MX00001,", "MX00002,", "MX00003,", "MX00000,", "GHOST,"].iter().any(|id| l.starts_with(id)))
    );
    assert!(text.contains("kyphosis,L3,IMPC_XRY_") && text.contains(",abnormal,"), "{text}");
    // impc_call: the reviewer's call, or the one a normal ancestor implies; never the model's.
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let h = rd.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let (level, node) = (col("level"), col("node"));
    let l3 = |id: &'static str| rows.iter().filter(move |r| &r[0] == id && &r[level] == "L3");
    // Every category parameter; the number of digits (028) is a count, which nobody recorded.
    let digits = |r: &&csv::StringRecord| r[col("parameter_stable_id")].contains("_XRY_028_");
    assert!(
        l3("MX00002").filter(|r| !digits(r)).all(|r| &r[col("impc_call")] == "normal" && r[col("call")].is_empty())
    );
    assert!(l3("MX00002").filter(digits).all(|r| r[col("impc_call")].is_empty() && r[col("data_point")].is_empty()));
    assert_eq!(l3("MX00002").filter(digits).count(), 1);
    assert!(l3("MX00002").any(|r| r[col("parameter_stable_id")].starts_with("IMPC_XRY_")));
    let lv_only = |finding: &str| l3("MX00003").find(|r| &r[node] == finding).map(|r| r[col("impc_call")].to_owned());
    assert_eq!(lv_only("scoliosis").as_deref(), Some("unobservable"), "a DV finding without a DV film");
    assert_eq!(lv_only("kyphosis").as_deref(), Some("normal"));
    let close_up = |finding: &str| l3("MX00000").find(|r| &r[node] == finding).map(|r| r[col("impc_call")].to_owned());
    assert_eq!(close_up("scoliosis").as_deref(), Some("unobservable"), "read on a DV film QC left out");
    assert_eq!(close_up("kyphosis").as_deref(), Some("normal"), "read on the whole-body LV");
    let kyphosis = l3("MX00001").find(|r| &r[node] == "kyphosis").unwrap();
    assert_eq!(&kyphosis[col("impc_call")], "abnormal");
    // The shown scores gave abnormal 0.9 and axial 0.7 over their thresholds, no other node
    // a score: flagged, flagged, and unknown (not "not flagged").
    let flag =
        |id: &str| rows.iter().find(|r| &r[0] == "MX00001" && &r[node] == id).unwrap()[col("flagged")].to_owned();
    assert_eq!((flag("abnormal").as_str(), flag("axial").as_str(), flag("kyphosis").as_str()), ("1", "1", ""));
    assert!(l3("MX00001").filter(|r| &r[node] != "kyphosis").all(|r| r[col("impc_call")].is_empty()));

    let flagged = dir.path().join("flagged.csv");
    run(&["export", r, "--out", flagged.to_str().unwrap(), "--only", "flagged"]);
    assert_eq!(std::fs::read_to_string(&flagged).unwrap().lines().count(), 2);

    // A blinded second reading is its own review, exported on request; none yet is an error.
    let none = std::process::Command::new(env!("CARGO_BIN_EXE_mousexray"))
        .args(["export", r, "--out", dir.path().join("none.csv").to_str().unwrap(), "--second-reading"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("has no second reading"));
    assert!(!dir.path().join("none.csv").exists());
    {
        let mut s = ReviewSession::open_reading(&root, "ben", mousexray::review::Reading::Second).unwrap();
        s.decide("MX00001", &Decision::Normal, None, &Taxonomy::impc_skeletal()).unwrap();
    }
    let second = dir.path().join("second.csv");
    run(&["export", r, "--out", second.to_str().unwrap(), "--only", "reviewed", "--second-reading"]);
    let mut rd = csv::Reader::from_path(&second).unwrap();
    let h = rd.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    assert_eq!(rows.len(), 1, "only the second reader's one specimen");
    assert_eq!((&rows[0][0], &rows[0][col("status")], &rows[0][col("reviewer")]), ("MX00001", "normal", "ben"));
    run(&["export", r, "--out", wide.to_str().unwrap()]);
    let mut rd = csv::Reader::from_path(&wide).unwrap();
    let row = rd.records().map(Result::unwrap).find(|r| &r[0] == "MX00001").unwrap();
    assert_eq!(&row[col("status")], "confirmed_abnormal", "the folder's review is untouched");
}
