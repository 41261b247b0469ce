//! ONNX Runtime discovery and loading. `make test` installs the library first, so these tests
//! fail (never skip) when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use mousexray::inference::{LibrarySource, OrtSetupError, candidates, init_runtime, locate_library};

#[test]
fn loads_the_project_library_and_reports_its_version() {
    let lib = init_runtime(None).unwrap_or_else(|e| panic!("{e}"));
    assert!(lib.path.is_file());
    assert!(!lib.build_info.is_empty());
    // The same outcome on every later call, whatever is passed.
    let again = init_runtime(Some(Path::new("/elsewhere/libonnxruntime.so"))).unwrap();
    assert_eq!(again.path, lib.path);
}

#[test]
fn lookup_order_and_errors_name_the_fix() {
    let explicit = Path::new("/definitely/not/here/libonnxruntime.so");
    let all = candidates(Some(explicit));
    assert_eq!(all[0], (explicit.to_owned(), LibrarySource::Explicit));
    let order: Vec<LibrarySource> = all.iter().map(|c| c.1).collect();
    let pos = |s| order.iter().position(|o| *o == s).unwrap();
    assert!(pos(LibrarySource::ExeDir) < pos(LibrarySource::ExeLib));
    assert!(pos(LibrarySource::ExeLib) < pos(LibrarySource::ProjectDir));
    assert!(pos(LibrarySource::ProjectDir) < pos(LibrarySource::UserData));

    let err = locate_library(Some(explicit)).unwrap_err();
    assert!(matches!(err, OrtSetupError::Load { source_kind: LibrarySource::Explicit, .. }));
    let msg = err.to_string();
    assert!(msg.contains("/definitely/not/here") && msg.contains("make setup"), "{msg}");

    let none = OrtSetupError::NotFound(vec!["a/libonnxruntime.so".into()]).to_string();
    assert!(none.contains("a/libonnxruntime.so") && none.contains("make setup") && none.contains("--ort-lib"));
}
