//! Tests of the walk: order, metadata, symlinks never followed, O(1) fds, limits.
use std::os::unix::fs::PermissionsExt;

use super::super::testutil::{Canary, deep_tree, mkfifo, socket};
use super::super::{Dir, FsError, Kind, MAX_DEPTH, PATH_MAX, Special};
use super::walk;

fn names(d: &Dir) -> Vec<(String, Kind)> {
    walk(d).map(|e| e.expect("entry")).map(|e| (e.path.to_string(), e.meta.kind)).collect()
}

#[test]
fn pre_order_sorted_with_metadata_and_links_unfollowed() {
    let t = tempfile::tempdir().expect("tempdir");
    let canary = Canary::new(t.path());
    let r = t.path().join("r");
    std::fs::create_dir_all(r.join("b/y")).expect("mkdir");
    std::fs::create_dir_all(r.join("a")).expect("mkdir");
    std::fs::write(r.join("a/x"), "12345").expect("write");
    std::fs::write(r.join("c"), "").expect("write");
    std::fs::set_permissions(r.join("c"), std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    std::os::unix::fs::symlink(&canary.dir, r.join("b/evil")).expect("symlink");
    mkfifo(&r.join("fifo"));
    let _s = socket(&r.join("sock"));
    let d = Dir::open(&r).expect("open");
    assert_eq!(
        names(&d),
        [
            ("a".to_string(), Kind::Dir),
            ("a/x".into(), Kind::File),
            ("b".into(), Kind::Dir),
            ("b/evil".into(), Kind::Symlink),
            ("b/y".into(), Kind::Dir),
            ("c".into(), Kind::File),
            ("fifo".into(), Kind::Special(Special::Fifo)),
            ("sock".into(), Kind::Special(Special::Socket)),
        ]
    );
    let x = walk(&d).map(|e| e.expect("entry")).find(|e| e.path.to_string() == "a/x").expect("a/x");
    assert_eq!((x.meta.size, x.depth, x.parent().to_string(), x.name.to_str()), (5, 2, "a".into(), Some("x")));
    let c = walk(&d).map(|e| e.expect("entry")).find(|e| e.path.to_string() == "c").expect("c");
    assert_eq!(c.meta.mode, 0o4755, "setuid bits are reported");
    assert!(c.meta.nlink == 1 && c.meta.ino != 0 && c.meta.dev != 0);
    canary.assert_intact("walk");
}

#[test]
fn deep_trees_stop_at_the_limit_naming_it_and_fds_stay_constant() {
    let t = tempfile::tempdir().expect("tempdir");
    deep_tree(t.path(), MAX_DEPTH - 1);
    let d = Dir::open(t.path()).expect("open");
    let fds_before = std::fs::read_dir("/proc/self/fd").expect("fds").count();
    let mut max_fds = 0;
    let mut n = 0;
    for e in walk(&d) {
        e.expect("within the limit");
        n += 1;
        if n % 50 == 0 {
            max_fds = max_fds.max(std::fs::read_dir("/proc/self/fd").expect("fds").count());
        }
    }
    assert_eq!(n, MAX_DEPTH, "255 levels and the leaf at the deepest level allowed");
    assert!(max_fds <= fds_before + 2, "fds grew with depth: {fds_before} -> {max_fds}");

    let t2 = tempfile::tempdir().expect("tempdir");
    deep_tree(t2.path(), 2500);
    let d = Dir::open(t2.path()).expect("open");
    let err = walk(&d).find_map(|e| e.err()).expect("a limit error");
    assert!(matches!(err, FsError::TooDeep { limit: MAX_DEPTH, .. }), "{err}");
    assert!(err.to_string().contains(&format!("more than {MAX_DEPTH} directory levels")), "{err}");
}

#[test]
fn long_paths_are_an_error_naming_the_limit() {
    let t = tempfile::tempdir().expect("tempdir");
    // 20 levels of 250-byte names: 5,000 bytes, beyond PATH_MAX, within the depth limit.
    let name = "n".repeat(250);
    let mut cur = rustix::fs::openat(
        rustix::fs::CWD,
        t.path(),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .expect("open");
    for _ in 0..20 {
        rustix::fs::mkdirat(&cur, name.as_str(), rustix::fs::Mode::from_raw_mode(0o755)).expect("mkdir");
        cur = rustix::fs::openat(
            &cur,
            name.as_str(),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .expect("open");
    }
    let d = Dir::open(t.path()).expect("open");
    let err = walk(&d).find_map(|e| e.err()).expect("a length error");
    assert!(matches!(err, FsError::TooLong { limit: PATH_MAX, .. }), "{err}");
    assert!(err.to_string().contains("4096 bytes"), "{err}");
}

#[test]
fn a_swapped_directory_is_an_error_not_a_followed_link() {
    let t = tempfile::tempdir().expect("tempdir");
    let canary = Canary::new(t.path());
    let r = t.path().join("r");
    std::fs::create_dir_all(r.join("a")).expect("mkdir");
    std::fs::write(r.join("a/f"), "x").expect("write");
    let d = Dir::open(&r).expect("open");
    let mut w = walk(&d);
    let first = w.next().expect("a").expect("a ok");
    assert_eq!(first.path.to_string(), "a");
    // Swap before the walk descends: it must not enter the canary.
    std::fs::rename(r.join("a"), r.join("moved")).expect("rename");
    std::os::unix::fs::symlink(&canary.dir, r.join("a")).expect("symlink");
    let e = w.next().expect("an item").unwrap_err();
    assert!(e.to_string().contains("symlink"), "{e}");
    assert!(w.all(|e| e.is_ok_and(|e| !e.path.to_string().contains("secret"))));
    canary.assert_intact("walk with a swap");
}
