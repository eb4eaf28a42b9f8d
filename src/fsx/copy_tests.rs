//! Tests of tree copies: merging, links, sparse files, hostile sources and destinations, and
//! concurrent swaps on both sides.
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::super::testutil::{CANARY_CONTENT, Canary, RACE_ATTEMPTS, Swapper, mkfifo, socket, sparse_file, swap_pair};
use super::super::{Dir, FsError, Kind, Special};
use super::{CopyMode, copy_tree};

fn open(p: &Path) -> Dir {
    Dir::open(p).expect("open")
}

#[test]
fn copies_links_and_merges_in_order() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, b, out) = (t.path().join("a"), t.path().join("b"), t.path().join("out"));
    for d in [&a, &b, &out] {
        std::fs::create_dir_all(d.join("usr/lib")).expect("mkdir");
    }
    std::fs::write(a.join("usr/lib/x"), "a").expect("write");
    std::fs::write(b.join("usr/lib/x"), "b").expect("write");
    std::fs::write(a.join("usr/lib/only-a"), "a").expect("write");
    std::os::unix::fs::symlink("/etc/passwd", a.join("usr/lib/link")).expect("symlink");
    std::fs::set_permissions(a.join("usr/lib"), std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let s = copy_tree(&open(&a), &open(&out), CopyMode::Link).expect("copy a");
    assert_eq!((s.entries, s.linked), (3, 2));
    copy_tree(&open(&b), &open(&out), CopyMode::Link).expect("copy b");
    assert_eq!(std::fs::read_to_string(out.join("usr/lib/x")).expect("read"), "b");
    assert_eq!(std::fs::read_to_string(out.join("usr/lib/only-a")).expect("read"), "a");
    assert_eq!(std::fs::read_link(out.join("usr/lib/link")).expect("link"), Path::new("/etc/passwd"));
    let m = std::fs::metadata(out.join("usr/lib")).expect("meta");
    assert_eq!(m.permissions().mode() & 0o777, 0o755, "directory modes travel, with u+rwx");
    assert_eq!(
        std::fs::metadata(out.join("usr/lib/only-a")).expect("meta").ino(),
        std::fs::metadata(a.join("usr/lib/only-a")).expect("meta").ino(),
        "Link mode hard-links"
    );
    // Copy mode gives independent files.
    let c = t.path().join("c");
    std::fs::create_dir(&c).expect("mkdir");
    let s = copy_tree(&open(&a), &open(&c), CopyMode::Copy).expect("copy");
    assert_eq!(s.linked, 0);
    std::fs::write(c.join("usr/lib/x"), "changed").expect("write");
    assert_eq!(std::fs::read_to_string(a.join("usr/lib/x")).expect("read"), "a");
}

#[test]
fn special_bits_never_travel_and_setuid_files_are_not_linked() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, out) = (t.path().join("a"), t.path().join("out"));
    std::fs::create_dir_all(&a).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(a.join("suid"), "x").expect("write");
    std::fs::set_permissions(a.join("suid"), std::fs::Permissions::from_mode(0o6755)).expect("chmod");
    std::fs::create_dir(a.join("sticky")).expect("mkdir");
    std::fs::set_permissions(a.join("sticky"), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let s = copy_tree(&open(&a), &open(&out), CopyMode::Link).expect("copy");
    assert_eq!(s.linked, 0, "a setuid file is copied, not linked");
    assert_eq!(std::fs::metadata(out.join("suid")).expect("meta").permissions().mode() & 0o7777, 0o755);
    assert_eq!(std::fs::metadata(out.join("sticky")).expect("meta").permissions().mode() & 0o7777, 0o777);
}

#[test]
fn special_files_are_refused_with_their_path_and_never_opened() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, out) = (t.path().join("a"), t.path().join("out"));
    std::fs::create_dir_all(a.join("run")).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    mkfifo(&a.join("run/fifo"));
    let e = copy_tree(&open(&a), &open(&out), CopyMode::Copy).unwrap_err();
    assert!(matches!(e, FsError::Kind { found: Kind::Special(Special::Fifo), .. }), "{e}");
    assert!(e.to_string().contains("a/run/fifo is a fifo; special files are not copied"), "{e}");
    std::fs::remove_file(a.join("run/fifo")).expect("rm");
    let _l = socket(&a.join("run/sock"));
    let e = copy_tree(&open(&a), &open(&out), CopyMode::Copy).unwrap_err();
    assert!(e.to_string().contains("run/sock is a socket"), "{e}");
}

#[test]
fn destination_symlinks_are_replaced_not_written_through() {
    let t = tempfile::tempdir().expect("tempdir");
    let canary = Canary::new(t.path());
    let (a, out) = (t.path().join("a"), t.path().join("out"));
    std::fs::create_dir_all(a.join("etc")).expect("mkdir");
    std::fs::write(a.join("etc/secret"), "mine").expect("write");
    std::fs::write(a.join("file-over-dir"), "f").expect("write");
    std::fs::create_dir_all(a.join("dir-over-file")).expect("mkdir");
    std::fs::create_dir_all(out.join("file-over-dir/sub")).expect("mkdir");
    std::fs::write(out.join("dir-over-file"), "old").expect("write");
    // The destination's `etc` is a symlink to the canary, and `secret` there too.
    std::os::unix::fs::symlink(&canary.dir, out.join("etc")).expect("symlink");
    copy_tree(&open(&a), &open(&out), CopyMode::Copy).expect("copy");
    assert!(std::fs::symlink_metadata(out.join("etc")).expect("meta").is_dir(), "the link was replaced");
    assert_eq!(std::fs::read_to_string(out.join("etc/secret")).expect("read"), "mine");
    assert!(std::fs::symlink_metadata(out.join("file-over-dir")).expect("meta").is_file());
    assert!(std::fs::symlink_metadata(out.join("dir-over-file")).expect("meta").is_dir());
    std::fs::remove_file(out.join("etc/secret")).expect("rm");
    std::os::unix::fs::symlink(canary.dir.join("secret"), out.join("etc/secret")).expect("symlink");
    copy_tree(&open(&a), &open(&out), CopyMode::Copy).expect("copy again");
    assert_eq!(std::fs::read_to_string(out.join("etc/secret")).expect("read"), "mine");
    canary.assert_intact("copy over planted links");
}

#[test]
fn sparse_files_stay_sparse() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, out) = (t.path().join("a"), t.path().join("out"));
    std::fs::create_dir_all(&a).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    let size = 1u64 << 30;
    sparse_file(&a.join("big"), size, &[0, 123 << 20, size - 5], b"data!");
    let start = std::time::Instant::now();
    let s = copy_tree(&open(&a), &open(&out), CopyMode::Copy).expect("copy");
    let took = start.elapsed();
    let m = std::fs::metadata(out.join("big")).expect("meta");
    eprintln!("copying a 1 GiB sparse file took {took:?}, {} bytes of data, {} blocks", s.bytes, m.blocks());
    assert_eq!(m.len(), size);
    assert!(m.blocks() < 1024, "the copy is sparse: {} blocks", m.blocks());
    assert!(s.bytes < 1 << 20, "only data segments were copied: {}", s.bytes);
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(out.join("big")).expect("open");
    for o in [0, 123 << 20, size - 5] {
        let mut b = [0u8; 5];
        f.read_exact_at(&mut b, o).expect("read");
        assert_eq!(&b, b"data!", "data at {o}");
    }
    let mut b = [1u8; 4];
    f.read_exact_at(&mut b, 1 << 20).expect("read");
    assert_eq!(b, [0; 4]);
}

fn no_canary_content(dir: &Path) {
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).expect("meta");
        if m.is_dir() {
            todo.extend(std::fs::read_dir(&p).expect("ls").map(|e| e.expect("entry").path()));
        } else if m.is_file() {
            assert_ne!(std::fs::read(&p).expect("read"), CANARY_CONTENT, "{} holds canary data", p.display());
        }
    }
}

#[test]
fn concurrent_swaps_in_source_or_destination_never_reach_outside() {
    let mut swaps = 0;
    for attempt in 0..RACE_ATTEMPTS {
        let t = tempfile::tempdir().expect("tempdir");
        let canary = Canary::new(t.path());
        let (src, dst) = (t.path().join("src"), t.path().join("dst"));
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::create_dir_all(&dst).expect("mkdir");
        swap_pair(&src, &canary, 100);
        // Source side: `a` and a symlink to the canary trade places while the copy runs.
        let s = Swapper::start(&src, "a", "evil");
        let _ = copy_tree(&open(&src), &open(&dst), CopyMode::Copy);
        swaps += s.stop();
        canary.assert_intact(&format!("copy from a swapped source, attempt {attempt}"));
        no_canary_content(&dst);
        // Destination side: the copy writes into `a` while it trades places with a symlink.
        let dst2 = t.path().join("dst2");
        std::fs::create_dir_all(dst2.join("a")).expect("mkdir");
        std::os::unix::fs::symlink(&canary.dir, dst2.join("evil")).expect("symlink");
        let fresh = t.path().join("fresh");
        std::fs::create_dir_all(fresh.join("a")).expect("mkdir");
        for i in 0..100 {
            std::fs::write(fresh.join(format!("a/secret{i}")), "written by the copy").expect("write");
        }
        let s = Swapper::start(&dst2, "a", "evil");
        let _ = copy_tree(&open(&fresh), &open(&dst2), CopyMode::Link);
        swaps += s.stop();
        canary.assert_intact(&format!("copy into a swapped destination, attempt {attempt}"));
    }
    assert!(swaps > 0, "the swapper never swapped; the test proves nothing");
}
