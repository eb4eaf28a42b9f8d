//! Tests of `chown_tree`: symlinks changed themselves, foreign hard links refused, swaps.
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::super::testutil::{Canary, RACE_ATTEMPTS, Swapper, is_root, mkfifo, swap_pair};
use super::super::{Dir, FsError};
use super::chown_tree;

const UID: u32 = 4242;
const GID: u32 = 4343;

fn owners(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).expect("meta");
    (m.uid(), m.gid())
}

#[test]
fn changes_every_entry_and_symlinks_themselves() {
    if !is_root() {
        return; // chown to another uid needs root
    }
    let t = tempfile::tempdir().expect("tempdir");
    let canary = Canary::new(t.path());
    let d = t.path().join("d");
    std::fs::create_dir_all(d.join("sub/deeper")).expect("mkdir");
    std::fs::write(d.join("sub/f"), "x").expect("write");
    std::os::unix::fs::symlink(&canary.dir, d.join("sub/to-canary")).expect("symlink");
    std::os::unix::fs::symlink(canary.dir.join("secret"), d.join("to-secret")).expect("symlink");
    mkfifo(&d.join("fifo"));
    // Hard links among the tree's own files (yoe's, as an extracted archive's are) are fine.
    std::fs::hard_link(d.join("sub/f"), d.join("sub/f2")).expect("link");
    let n = chown_tree(&Dir::open(&d).expect("open"), UID, GID).expect("chown");
    assert_eq!(n, 7, "the root and 7 entries, but sub/f2 is sub/f: changed with it");
    for p in ["", "sub", "sub/deeper", "sub/f", "sub/f2", "sub/to-canary", "to-secret", "fifo"] {
        assert_eq!(owners(&d.join(p)), (UID, GID), "{p}");
    }
    assert_eq!(chown_tree(&Dir::open(&d).expect("open"), UID, GID).expect("again"), 0, "nothing left to change");
    canary.assert_intact("chown_tree");
}

#[test]
fn a_hard_link_to_a_foreign_file_is_refused() {
    if !is_root() {
        return;
    }
    let t = tempfile::tempdir().expect("tempdir");
    let outside = t.path().join("outside");
    std::fs::write(&outside, "someone else's").expect("write");
    std::os::unix::fs::lchown(&outside, Some(1234), Some(1234)).expect("chown");
    let d = t.path().join("d");
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::hard_link(&outside, d.join("planted")).expect("link");
    let e = chown_tree(&Dir::open(&d).expect("open"), UID, GID).unwrap_err();
    assert!(matches!(e, FsError::ForeignHardLink { uid: 1234, nlink: 2, .. }), "{e}");
    assert!(e.to_string().contains("d/planted has 2 hard links and belongs to uid 1234"), "{e}");
    assert_eq!(owners(&outside), (1234, 1234));
    // Already the build user's: nothing to change, nothing refused.
    std::os::unix::fs::lchown(&outside, Some(UID), Some(GID)).expect("chown");
    chown_tree(&Dir::open(&d).expect("open"), UID, GID).expect("the build user's own link");
}

#[test]
fn a_concurrent_swap_never_changes_the_canary() {
    if !is_root() {
        return;
    }
    let mut swaps = 0;
    for attempt in 0..RACE_ATTEMPTS {
        let t = tempfile::tempdir().expect("tempdir");
        let canary = Canary::new(t.path());
        let d = t.path().join("d");
        std::fs::create_dir(&d).expect("mkdir");
        swap_pair(&d, &canary, 200);
        let s = Swapper::start(&d, "a", "evil");
        let _ = chown_tree(&Dir::open(&d).expect("open"), UID, GID);
        swaps += s.stop();
        canary.assert_intact(&format!("chown with a swap, attempt {attempt}"));
    }
    assert!(swaps > 0, "the swapper never swapped; the test proves nothing");
}
