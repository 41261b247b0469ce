//! Review persistence: edits survive a reopen with or without a snapshot, undo and redo are
//! journalled, a second process is kept out, a stale lock is taken over, damage is set aside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mousexray::review::{Call, Edit, QcReason, ReviewError, ReviewSession, Status};

fn call(specimen: &str, node: &str, c: Option<Call>) -> Edit {
    Edit::Call { specimen: specimen.into(), node: node.into(), call: c }
}

#[test]
fn edits_survive_reopening_with_and_without_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = ReviewSession::open(dir.path(), "ana").unwrap();
        s.edit(call("MX1", "kyphosis", Some(Call::Abnormal))).unwrap();
        s.edit(Edit::Status { specimen: "MX1".into(), status: Status::ConfirmedAbnormal }).unwrap();
        s.save().unwrap();
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
