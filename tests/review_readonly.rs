//! A folder that cannot hold the review sidecar (a read-only share, or a `.mousexray` that is
//! not a folder): the review goes to the user data folder, the user is told, and nothing in the
//! image folder changes. One test in its own binary, because it sets XDG_DATA_HOME.
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

use mousexray::review::{Call, Edit, ReviewSession, Status, read_review};

#[test]
fn an_unwritable_folder_keeps_its_review_in_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // SAFETY: this binary holds this one test, so no other thread reads the environment.
    unsafe { std::env::set_var("XDG_DATA_HOME", &data) };
    let folder = dir.path().join("xrays");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("M1_dv.png"), b"stand-in").unwrap();
    // The tests run as root, which writes anywhere: block the sidecar with a file of its name.
    std::fs::write(folder.join(".mousexray"), b"not a folder").unwrap();
    let before: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();

    let mut s = ReviewSession::open(&folder, "ana").unwrap();
    assert!(s.dir().starts_with(&data), "{}", s.dir().display());
    assert!(
        s.notes.iter().any(|n| n.contains("cannot be written") && n.contains(&*s.dir().to_string_lossy())),
        "{:?}",
        s.notes
    );
    s.edit(Edit::Status { specimen: "M1".into(), status: Status::SecondLook }).unwrap();
    s.edit(Edit::Call { specimen: "M1".into(), node: "kyphosis".into(), call: Some(Call::Abnormal) }).unwrap();
    drop(s);

    let s = ReviewSession::open(&folder, "ana").unwrap();
    assert_eq!(s.state.get("M1").unwrap().status, Status::SecondLook);
    drop(s);
    let (state, _) = read_review(&folder);
    assert_eq!(state.get("M1").unwrap().calls.get("kyphosis"), Some(&Call::Abnormal), "export finds it too");
    let after: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after, "the image folder is untouched");
    assert_eq!(std::fs::read(folder.join(".mousexray")).unwrap(), b"not a folder");
}
