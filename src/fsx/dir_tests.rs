//! Tests of `Dir` and the single-entry operations, hostile cases included.
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::super::testutil::{CANARY_CONTENT, Canary, mkfifo, socket};
use super::super::{Dir, FsError, Kind, RelPath, Special, append_path, open_regular, regular_bytes, set_file_mode};

fn rel(s: &str) -> RelPath<'_> {
    RelPath::new(s).expect("valid rel path")
}

fn setup() -> (tempfile::TempDir, Dir, Canary) {
    let t = tempfile::tempdir().expect("tempdir");
    let canary = Canary::new(t.path());
    let root = t.path().join("root");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::write(root.join("sub/file"), "data").expect("write");
    std::os::unix::fs::symlink(&canary.dir, root.join("evil")).expect("symlink");
    std::os::unix::fs::symlink(canary.dir.join("secret"), root.join("evil-file")).expect("symlink");
    let d = Dir::open(&root).expect("open");
    (t, d, canary)
}

#[test]
fn open_refuses_a_symlinked_last_component_and_files() {
    let (t, d, _c) = setup();
    let e = Dir::open(t.path().join("root/evil")).unwrap_err();
    assert!(matches!(e, FsError::Kind { found: Kind::Symlink, .. }), "{e}");
    let e = Dir::open(t.path().join("root/sub/file")).unwrap_err();
    assert!(e.to_string().contains("is a regular file; expected a directory"), "{e}");
    assert!(Dir::open(t.path().join("nope")).unwrap_err().is_not_found());
    assert_eq!(d.path(), t.path().join("root"));
    let d = d.with_display("build/x/destdir");
    assert_eq!(d.shown(rel("a/b")), std::path::Path::new("build/x/destdir/a/b"));
    let created = Dir::open_or_create(t.path().join("new")).expect("create");
    assert!(created.stat(RelPath::root()).expect("stat").is_dir());
    Dir::open_or_create(t.path().join("new")).expect("exists already");
}

#[test]
fn nothing_beneath_follows_a_symlink() {
    let (_t, d, canary) = setup();
    for r in ["evil/secret", "evil/sub/inner"] {
        let e = d.open_file(rel(r)).unwrap_err();
        assert!(e.to_string().contains("evil is a symlink"), "{r}: {e}");
    }
    let e = d.open_file(rel("evil-file")).unwrap_err();
    assert!(matches!(e, FsError::Kind { found: Kind::Symlink, .. }), "{e}");
    assert!(d.open_dir(rel("evil")).is_err());
    assert!(d.create_dir(rel("evil/x"), 0o755).is_err());
    assert!(d.create_dir_all(rel("evil/x/y"), 0o755).unwrap_err().to_string().contains("evil is a symlink"));
    assert!(d.create_file(rel("evil/new"), 0o644).is_err());
    assert!(d.create_file(rel("evil-file"), 0o644).is_err(), "O_EXCL refuses the link");
    assert!(d.append_file(rel("evil-file"), 0o644).is_err());
    assert!(d.append_file(rel("evil/secret"), 0o644).is_err());
    assert!(d.write_atomic(rel("evil/secret"), b"x", 0o644).is_err());
    assert!(d.symlink(std::path::Path::new("/x"), rel("evil/l")).is_err());
    assert!(d.remove(rel("evil/secret")).is_err());
    assert!(d.stat(rel("evil/secret")).is_err());
    assert!(d.read_link(rel("evil/x")).is_err());
    assert!(d.hard_link(rel("evil/secret"), &d, rel("stolen")).is_err());
    // Replacing a symlink replaces the link.
    d.write_atomic(rel("evil-file"), b"mine", 0o640).expect("replace");
    assert_eq!(d.stat(rel("evil-file")).expect("stat").kind, Kind::File);
    assert_eq!(std::fs::read(canary.dir.join("secret")).expect("read"), CANARY_CONTENT);
    canary.assert_intact("single-entry operations");
}

#[test]
fn open_file_refuses_fifos_sockets_and_devices_without_blocking() {
    let (t, d, _c) = setup();
    mkfifo(&t.path().join("root/fifo"));
    let _l = socket(&t.path().join("root/sock"));
    for (name, kind) in [("fifo", Special::Fifo), ("sock", Special::Socket)] {
        let e = d.open_file(rel(name)).unwrap_err();
        assert!(matches!(e, FsError::Kind { found: Kind::Special(k), .. } if k == kind), "{e}");
        assert!(e.to_string().contains(&format!("root/{name} is a ")), "{e}");
        assert!(d.append_file(rel(name), 0o644).is_err());
        assert!(d.read_limited(rel(name), 10).is_err());
    }
    let dev = Dir::open("/dev").expect("/dev");
    let e = dev.open_file(rel("null")).unwrap_err();
    assert!(e.to_string().contains("/dev/null is a character device"), "{e}");
    assert!(open_regular(std::path::Path::new("/dev/null")).is_err());
    assert!(open_regular(&t.path().join("root/fifo")).is_err());
    assert!(open_regular(&t.path().join("root/evil-file")).is_err());
    assert!(open_regular(&t.path().join("root/sub/file")).is_ok());
    assert!(append_path(&t.path().join("root/fifo"), 0o644).is_err(), "a fifo log is refused, not opened");
    assert!(append_path(&t.path().join("root/evil-file"), 0o644).is_err(), "a symlinked log is not followed");
    assert!(append_path(&t.path().join("root/new.log"), 0o644).is_ok());
}

#[test]
fn create_read_append_and_replace() {
    let (_t, d, _c) = setup();
    let dd = d.create_dir_all(rel("a/b/c"), 0o755).expect("create_dir_all");
    assert_eq!(dd.path(), d.path().join("a/b/c"));
    d.create_dir_all(rel("a/b/c"), 0o755).expect("again");
    let e = d.create_dir_all(rel("sub/file/x"), 0o755).unwrap_err();
    assert!(e.to_string().contains("sub/file is a regular file"), "{e}");
    use std::io::Write;
    d.create_file(rel("a/b/c/f"), 0o644).expect("create").write_all(b"one").expect("write");
    assert!(d.create_file(rel("a/b/c/f"), 0o644).is_err(), "exclusive");
    d.append_file(rel("a/b/c/f"), 0o644).expect("append").write_all(b"two").expect("write");
    d.append_file(rel("log"), 0o644).expect("append new").write_all(b"l").expect("write");
    assert_eq!(d.read_limited(rel("a/b/c/f"), 100).expect("read"), b"onetwo");
    assert!(matches!(d.read_limited(rel("a/b/c/f"), 3), Err(FsError::TooLarge { .. })));
    d.write_atomic(rel("a/b/c/f"), b"new", 0o4755).expect("atomic");
    let m = d.stat(rel("a/b/c/f")).expect("stat");
    assert_eq!((m.kind, m.size, m.mode), (Kind::File, 3, 0o4755));
    let e = d.write_atomic(rel("a"), b"x", 0o644).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
    let leftovers: Vec<_> = std::fs::read_dir(d.path()).expect("ls").flatten().map(|e| e.file_name()).collect();
    assert!(leftovers.iter().all(|n| !n.to_string_lossy().starts_with(".yoe-tmp")), "{leftovers:?}");
    d.symlink(std::path::Path::new("../../x"), rel("a/link")).expect("symlink");
    assert_eq!(d.read_link(rel("a/link")).expect("readlink"), std::path::Path::new("../../x"));
    d.hard_link(rel("a/b/c/f"), &d, rel("a/hard")).expect("link");
    assert_eq!(d.stat(rel("a/hard")).expect("stat").nlink, 2);
    d.remove(rel("a/hard")).expect("remove");
    d.remove(rel("a/link")).expect("remove link");
    assert!(!d.remove_if_exists(rel("a/link")).expect("gone"));
    assert!(d.remove(rel("a")).is_err(), "a non-empty directory is not removed by remove()");
    d.create_dir(rel("empty"), 0o755).expect("mkdir");
    assert!(d.remove_if_exists(rel("empty")).expect("rmdir"));
    assert!(d.try_stat(rel("nope/x")).expect("missing").is_none());
    let sub = d.open_dir(rel("a/b")).expect("open_dir");
    sub.set_mode(0o750).expect("chmod");
    assert_eq!(std::fs::metadata(d.path().join("a/b")).expect("meta").permissions().mode() & 0o777, 0o750);
    assert!(d.create_dir(RelPath::root(), 0o755).is_err(), "the root has no name");
    let f = d.create_file(rel("m"), 0o600).expect("create");
    set_file_mode(&f, 0o4751, &d.shown(rel("m"))).expect("fchmod");
    assert_eq!(d.stat(rel("m")).expect("stat").mode, 0o4751);
}

#[test]
fn regular_bytes_counts_files_not_links_and_does_not_follow() {
    let (t, d, _c) = setup();
    std::fs::create_dir_all(t.path().join("root/usr/lib")).expect("mkdir");
    std::fs::write(t.path().join("root/usr/lib/a"), vec![1u8; 3 << 20]).expect("write");
    std::os::unix::fs::symlink(t.path().join("root/usr/lib/a"), t.path().join("root/usr/l")).expect("link");
    super::super::testutil::sparse_file(&t.path().join("root/usr/sparse"), 5 << 20, &[0], b"x");
    assert_eq!(regular_bytes(&d, rel("usr")).expect("size"), (3 << 20) + (5 << 20));
    assert_eq!(regular_bytes(&d, rel("usr/lib/a")).expect("file"), 3 << 20);
    assert_eq!(regular_bytes(&d, rel("missing")).expect("missing"), 0);
    let e = regular_bytes(&d, rel("evil")).unwrap_err();
    assert!(e.to_string().contains("evil is a symlink"), "{e}");
    assert!(regular_bytes(&d, RelPath::root()).expect("all") >= 8 << 20);
    let m = std::fs::metadata(t.path().join("root/usr/sparse")).expect("meta");
    assert!(m.blocks() < 100, "the fixture is sparse");
}
