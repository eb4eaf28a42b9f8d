//! Tests of tree removal: hostile trees, deep trees, unwritable dirs, a concurrent swapper.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::super::testutil::{Canary, RACE_ATTEMPTS, Swapper, deep_tree, is_root, mkfifo, socket, swap_pair};
use super::super::{Dir, RelPath};
use super::{remove_contents, remove_path, remove_tree};

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A tree with a symlink to the canary (and to a file in it) at every level, a fifo and a
/// socket, and directories of modes 0500 and 0000.
fn hostile_tree(root: &Path, canary: &Canary) -> std::os::unix::net::UnixListener {
    let mut cur = root.to_path_buf();
    for level in 0..5 {
        std::fs::create_dir_all(&cur).expect("mkdir");
        std::os::unix::fs::symlink(&canary.dir, cur.join("to-canary")).expect("symlink");
        std::os::unix::fs::symlink(canary.dir.join("secret"), cur.join("to-secret")).expect("symlink");
        std::fs::write(cur.join(format!("f{level}")), "x").expect("write");
        cur = cur.join(format!("d{level}"));
    }
    mkfifo(&root.join("fifo"));
    let l = socket(&root.join("sock"));
    std::fs::create_dir_all(root.join("ro/inner")).expect("mkdir");
    std::fs::write(root.join("ro/inner/f"), "x").expect("write");
    chmod(&root.join("ro/inner"), 0o000);
    chmod(&root.join("ro"), 0o500);
    l
}

#[test]
fn removes_hostile_trees_without_touching_the_canary() {
    let t = tempfile::tempdir().expect("tempdir");
    let canary = Canary::new(t.path());
    let v = t.path().join("victim");
    let _l = hostile_tree(&v, &canary);
    assert!(remove_path(&v).expect("remove"));
    assert!(!v.exists());
    assert!(!remove_path(&v).expect("gone"), "a missing path is not an error");
    canary.assert_intact("remove_path");

    // A symlink as the thing to remove: the link goes, the target stays.
    std::os::unix::fs::symlink(&canary.dir, t.path().join("link")).expect("symlink");
    assert!(remove_path(&t.path().join("link")).expect("remove link"));
    canary.assert_intact("removing a symlink");
}

#[test]
fn remove_tree_and_contents_beneath_a_dir() {
    let t = tempfile::tempdir().expect("tempdir");
    let canary = Canary::new(t.path());
    let root = t.path().join("unit");
    let _l = hostile_tree(&root.join("destdir"), &canary);
    std::fs::write(root.join("build.json"), "{}").expect("write");
    let d = Dir::open(&root).expect("open");
    assert!(remove_tree(&d, RelPath::new("destdir").expect("rel")).expect("remove"));
    assert!(!remove_tree(&d, RelPath::new("destdir").expect("rel")).expect("again"));
    assert!(root.join("build.json").exists());
    let _l2 = hostile_tree(&root.join("home"), &canary);
    let home = Dir::open(root.join("home")).expect("open");
    remove_contents(&home).expect("contents");
    assert_eq!(std::fs::read_dir(root.join("home")).expect("ls").count(), 0);
    let e = remove_tree(&d, RelPath::new("build.json/x").expect("rel")).unwrap_err();
    assert!(e.to_string().contains("build.json is a regular file"), "{e}");
    canary.assert_intact("remove_tree");
}

#[test]
fn removes_a_2500_deep_tree_with_constant_fds() {
    let t = tempfile::tempdir().expect("tempdir");
    let v = t.path().join("deep");
    std::fs::create_dir(&v).expect("mkdir");
    deep_tree(&v, 2500);
    // In a child limited to 16 open files: one fd per level would need 2,500.
    let out = std::process::Command::new("prlimit")
        .arg("--nofile=16:16")
        .arg("--")
        .arg(std::env::current_exe().expect("test binary"))
        .args(["--exact", "fsx::remove::tests::child_removes", "--ignored", "--test-threads=1"])
        .env("YOE_FSX_REMOVE_CHILD", &v)
        .output()
        .expect("spawn prlimit");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!v.exists());
    // And timed in this process.
    std::fs::create_dir(&v).expect("mkdir");
    deep_tree(&v, 2500);
    let start = std::time::Instant::now();
    assert!(remove_path(&v).expect("remove"));
    eprintln!("removing a 2,500-deep tree took {:?}", start.elapsed());
    assert!(!v.exists());
}

#[test]
fn removes_unwritable_trees_as_an_unprivileged_user() {
    let t = tempfile::tempdir().expect("tempdir");
    let v = t.path().join("victim");
    for d in ["a/b/c", "x"] {
        std::fs::create_dir_all(v.join(d)).expect("mkdir");
    }
    std::fs::write(v.join("a/b/c/f"), "x").expect("write");
    std::fs::write(v.join("a/f"), "x").expect("write");
    std::fs::write(v.join("x/f"), "x").expect("write");
    deep_tree(&v.join("x"), 300);
    for (d, m) in [("a/b/c", 0o000), ("a/b", 0o500), ("a", 0o000), ("x", 0o500), ("", 0o500)] {
        chmod(&v.join(d), m);
    }
    if !is_root() {
        assert!(remove_path(&v).expect("remove"));
        return;
    }
    // As root the kernel lets yoe through any mode; run the removal as `nobody` too, where
    // the modes matter (the files are theirs, as a build's are the build user's).
    let nobody = 65534;
    let walk_all = |p: &Path| {
        let mut todo = vec![p.to_path_buf()];
        while let Some(p) = todo.pop() {
            std::os::unix::fs::lchown(&p, Some(nobody), Some(nobody)).expect("chown");
            if std::fs::symlink_metadata(&p).expect("meta").is_dir() {
                todo.extend(std::fs::read_dir(&p).expect("ls").map(|e| e.expect("entry").path()));
            }
        }
    };
    walk_all(t.path());
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "fsx::remove::tests::child_removes", "--ignored", "--test-threads=1"])
        .env("YOE_FSX_REMOVE_CHILD", &v)
        .env("YOE_FSX_REMOVE_UNPRIVILEGED", "1")
        .uid(nobody)
        .gid(nobody)
        .output()
        .expect("spawn");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!v.exists(), "removed by the unprivileged child");
}

use std::os::unix::process::CommandExt;

#[test]
#[ignore = "run in a child process by the tests above (as another user, or with few fds)"]
fn child_removes() {
    let p = std::env::var_os("YOE_FSX_REMOVE_CHILD").expect("YOE_FSX_REMOVE_CHILD");
    if std::env::var_os("YOE_FSX_REMOVE_UNPRIVILEGED").is_some() {
        assert_ne!(super::super::euid(), 0);
    }
    assert!(remove_path(Path::new(&p)).expect("remove in the child"));
}

#[test]
fn a_concurrent_swap_with_a_symlink_never_reaches_outside() {
    let mut swaps = 0;
    for attempt in 0..RACE_ATTEMPTS {
        let t = tempfile::tempdir().expect("tempdir");
        let canary = Canary::new(t.path());
        let v = t.path().join("victim");
        std::fs::create_dir(&v).expect("mkdir");
        swap_pair(&v, &canary, 200);
        let s = Swapper::start(&v, "a", "evil");
        let r = remove_path(&v);
        swaps += s.stop();
        canary.assert_intact(&format!("remove, attempt {attempt}"));
        // The swapper may have kept `a`/`evil` alive; a second pass without it finishes.
        if r.is_err() || v.exists() {
            remove_path(&v).expect("remove after the race");
        }
        canary.assert_intact(&format!("remove after the race, attempt {attempt}"));
    }
    assert!(swaps > 0, "the swapper never swapped; the test proves nothing");
}
