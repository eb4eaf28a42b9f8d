//! Detection by magic bytes first and name second, and the plain-file copy.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use yoe_extract::{ArchiveKind, ExtractError, ExtractOptions, copy_plain, detect, detect_named, extract};

use crate::fixtures::{RawTar, Scratch, TAR_KINDS, ZipEntry, compress, gz, zip_bytes};

#[test]
fn magic_wins_over_a_missing_or_wrong_name() {
    let tar = RawTar::new().file("top/f", b"x").finish();
    let s = Scratch::new();
    for kind in TAR_KINDS {
        // A cache object named by its hash: no extension at all.
        let p = s.write("in.0123abcd", &compress(kind, &tar));
        assert_eq!(detect(&p).unwrap(), kind);
        // A wrong compression in the name does not matter either: the bytes decide.
        assert_eq!(detect_named(&p, OsStr::new("x.tar.bz2")).unwrap(), kind);
    }
    let z = s.write("in.zipobj", &zip_bytes(&[ZipEntry::File("a", b"b")]));
    assert_eq!(detect(&z).unwrap(), ArchiveKind::Zip);
}

#[test]
fn go_yoe_bare_names_are_copied_plain() {
    // An .apk is a gzip'd tar, but the Go yoe copies it as is for the unit to unpack.
    let s = Scratch::new();
    let apk = s.write("in.apk", &gz(&RawTar::new().file(".PKGINFO", b"x").finish()));
    assert_eq!(detect_named(&apk, OsStr::new("musl-1.2.5-r11.apk")).unwrap(), ArchiveKind::Plain);
    let opts = ExtractOptions::default().name_hint("musl-1.2.5-r11.apk");
    let summary = extract(&apk, &s.dest(), &opts).unwrap();
    assert_eq!(summary.kind, ArchiveKind::Plain);
    let copied = s.dest().join("musl-1.2.5-r11.apk");
    assert_eq!(fs::read(&copied).unwrap(), fs::read(&apk).unwrap());
    assert_eq!(fs::metadata(&copied).unwrap().permissions().mode() & 0o7777, 0o755);
}

#[test]
fn unknown_files_and_compressed_non_tars_are_plain() {
    let s = Scratch::new();
    let bin = s.write("in.bin", b"\x7fELF not really");
    assert_eq!(detect_named(&bin, OsStr::new("kubectl")).unwrap(), ArchiveKind::Plain);
    let gzfile = s.write("in.gzobj", &gz(b"just some text, not a tar"));
    assert_eq!(detect_named(&gzfile, OsStr::new("vmlinux.gz")).unwrap(), ArchiveKind::Plain);
}

#[test]
fn a_name_promising_an_archive_must_be_kept() {
    let s = Scratch::new();
    let html = s.write("in.html", b"<html>404 not found</html>");
    let err = detect_named(&html, OsStr::new("foo-1.0.tar.gz")).unwrap_err();
    assert!(matches!(err, ExtractError::KindMismatch { named: ArchiveKind::TarGz, .. }), "{err:?}");
    let gztext = s.write("in.gztext", &gz(b"not a tar at all, but longer than nothing"));
    let err = detect_named(&gztext, OsStr::new("foo-1.0.tgz")).unwrap_err();
    assert!(err.to_string().contains("holds no tar archive"), "{err}");
}

#[test]
fn an_empty_tar_is_recognised_by_name() {
    let s = Scratch::new();
    let empty = s.write("in.tar", &[0u8; 10240]);
    assert_eq!(detect(&empty).unwrap(), ArchiveKind::Tar);
    let summary = extract(&empty, &s.dest(), &ExtractOptions::default()).unwrap();
    assert_eq!((summary.entries, summary.bytes), (0, 0));
    assert!(s.dest().is_dir());
    let gz_empty = s.write("in.tar.gz", &gz(&[0u8; 10240]));
    assert_eq!(detect(&gz_empty).unwrap(), ArchiveKind::TarGz);
}

#[test]
fn plain_names_must_be_single_components() {
    let s = Scratch::new();
    let f = s.write("in.bin", b"x");
    for bad in ["", ".", "..", "a/b", "/etc"] {
        let err = copy_plain(&f, &s.dest(), OsStr::new(bad), &ExtractOptions::default()).unwrap_err();
        assert!(matches!(err, ExtractError::BadPlainName { .. }), "{bad:?}: {err:?}");
    }
    assert!(!s.dest().exists());
}

#[test]
fn plain_copies_obey_the_byte_limit() {
    let s = Scratch::new();
    let f = s.write("in.bin", &[1u8; 2000]);
    let err =
        copy_plain(&f, &s.dest(), OsStr::new("tool"), &ExtractOptions::default().max_total_bytes(1999)).unwrap_err();
    assert!(matches!(err, ExtractError::LimitExceeded { .. }));
    assert_eq!(s.leftovers(), Vec::<String>::new());
}
