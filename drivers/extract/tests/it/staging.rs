//! The destination appears whole or not at all.

use std::fs;

use yoe_extract::{ExtractError, ExtractOptions, extract};

use crate::fixtures::{RawTar, Scratch};

fn good() -> Vec<u8> {
    RawTar::new().file("top/a", b"a").file("top/b", b"b").finish()
}

#[test]
fn an_existing_non_empty_destination_is_refused_and_untouched() {
    let s = Scratch::new();
    let a = s.write("in.tar", &good());
    fs::create_dir(s.dest()).unwrap();
    fs::write(s.dest().join("keep"), b"mine").unwrap();
    let err = extract(&a, &s.dest(), &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, ExtractError::Destination { .. }), "{err:?}");
    assert_eq!(fs::read(s.dest().join("keep")).unwrap(), b"mine");
    assert_eq!(s.leftovers(), vec!["dest".to_string()]);
}

#[test]
fn an_empty_destination_directory_is_replaced() {
    let s = Scratch::new();
    let a = s.write("in.tar", &good());
    fs::create_dir(s.dest()).unwrap();
    extract(&a, &s.dest(), &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(s.dest().join("b")).unwrap(), b"b");
}

#[test]
fn a_symlink_or_file_as_destination_is_refused() {
    let s = Scratch::new();
    let a = s.write("in.tar", &good());
    let elsewhere = s.dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, s.dest()).unwrap();
    let err = extract(&a, &s.dest(), &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, ExtractError::Destination { .. }), "{err:?}");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn a_failure_after_some_files_leaves_nothing() {
    let mut t = RawTar::new();
    for i in 0..50 {
        t.file(&format!("top/d{}/f{i}", i % 5), b"data");
    }
    t.file("top/../escape", b"evil");
    let s = Scratch::new();
    let a = s.write("in.tar", &t.finish());
    let err = extract(&a, &s.dest(), &ExtractOptions::default()).unwrap_err();
    assert_eq!(err.entry().unwrap().index, 50);
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn a_missing_parent_is_an_error() {
    let s = Scratch::new();
    let a = s.write("in.tar", &good());
    let dest = s.dir.path().join("no/such/dir");
    let err = extract(&a, &dest, &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, ExtractError::Staging { .. }), "{err:?}");
}

#[test]
fn a_missing_archive_is_named() {
    let s = Scratch::new();
    let missing = s.dir.path().join("in.nope.tar");
    let err = extract(&missing, &s.dest(), &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, ExtractError::ReadArchive { .. }), "{err:?}");
    assert!(err.to_string().contains("in.nope.tar"), "{err}");
}
