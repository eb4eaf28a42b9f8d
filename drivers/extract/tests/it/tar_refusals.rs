//! Every bad tar entry the strict policy refuses, and what the named relaxations allow.
//! Each refusal also checks that nothing was left behind and nothing escaped.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use yoe_extract::{ArchiveKind, ExtractError, ExtractOptions, Refusal, Summary, extract};

use crate::fixtures::{RawTar, Scratch, compress, gz};

fn run(tar: &[u8], opts: &ExtractOptions) -> (Scratch, Result<Summary, ExtractError>) {
    let s = Scratch::new();
    let a = s.write("in.tar", tar);
    let r = extract(&a, &s.dest(), opts);
    (s, r)
}

/// Extract with `opts`, expect a refusal, and check the error names archive and entry and
/// that no destination, staging dir or escaped file is left.
fn refused_with(tar: &[u8], opts: &ExtractOptions, entry_name: &str) -> Refusal {
    let (s, r) = run(tar, opts);
    let err = r.expect_err("archive must be refused");
    let msg = err.to_string();
    assert!(msg.contains("in.tar"), "error does not name the archive: {msg}");
    let entry = err.entry().expect("error names an entry").clone();
    assert_eq!(entry.name, entry_name, "{msg}");
    assert!(msg.contains(&format!("{entry_name:?}")), "error does not name the entry: {msg}");
    assert_eq!(s.leftovers(), Vec::<String>::new(), "left behind after: {msg}");
    err.refusal().expect("a policy refusal").clone()
}

fn refused(tar: &[u8], entry_name: &str) -> Refusal {
    refused_with(tar, &ExtractOptions::default(), entry_name)
}

#[test]
fn dotdot_is_refused() {
    let t = RawTar::new().dir("top/").file("top/ok", b"fine").file("top/../../escape", b"evil").finish();
    assert_eq!(refused(&t, "top/../../escape"), Refusal::ParentComponent);
}

#[test]
fn dotdot_in_the_stripped_part_is_refused() {
    let t = RawTar::new().file("../x/y", b"evil").finish();
    assert_eq!(refused(&t, "../x/y"), Refusal::ParentComponent);
}

#[test]
fn absolute_path_is_refused() {
    let s = Scratch::new();
    let target = s.dir.path().join("abs-escape");
    let name = target.to_str().unwrap().to_string();
    let t = RawTar::new().file(&name, b"evil").finish();
    assert_eq!(refused(&t, &name), Refusal::AbsolutePath);
    assert!(!target.exists());
}

#[test]
fn escaping_symlinks_are_refused() {
    for (at, target) in
        [("top/link", ".."), ("top/link", "../../etc"), ("top/a/link", "../../x"), ("top/a/b/link", "../../../x")]
    {
        let t = RawTar::new().dir("top/").dir("top/a/").dir("top/a/b/").symlink(at, target).finish();
        assert_eq!(refused(&t, at), Refusal::SymlinkEscapes { target: target.into() }, "{at} -> {target}");
    }
}

#[test]
fn absolute_symlink_is_refused() {
    let t = RawTar::new().symlink("top/etc", "/etc").finish();
    assert_eq!(refused(&t, "top/etc"), Refusal::AbsoluteSymlink { target: "/etc".into() });
}

#[test]
fn symlinks_that_stay_inside_are_kept() {
    let t = RawTar::new()
        .dir("top/")
        .dir("top/a/")
        .dir("top/a/b/")
        .file("top/x", b"x")
        .symlink("top/a/b/up", "../../x")
        .symlink("top/a/here", ".")
        .symlink("top/a/dangling", "missing/file")
        .finish();
    let (s, r) = run(&t, &ExtractOptions::default());
    r.unwrap();
    let d = s.dest();
    assert_eq!(fs::read(d.join("a/b/up")).unwrap(), b"x");
    assert_eq!(fs::read_link(d.join("a/dangling")).unwrap().to_str(), Some("missing/file"));
}

#[test]
fn inner_dotdot_in_a_symlink_is_refused() {
    // `l -> .` then `m -> l/../x`: lexically inside, but `l/..` is the parent of the
    // destination. Such targets are refused outright.
    let t = RawTar::new().symlink("top/l", ".").symlink("top/m", "l/../x").finish();
    assert_eq!(refused(&t, "top/m"), Refusal::SymlinkInnerParent { target: "l/../x".into() });
}

#[test]
fn writing_through_a_symlink_is_refused_by_default() {
    let t = RawTar::new().dir("top/dir/").symlink("top/link", "dir").file("top/link/file", b"through").finish();
    assert_eq!(refused(&t, "top/link/file"), Refusal::ThroughSymlink { symlink: "link".into() });
}

#[test]
fn writing_through_an_inside_symlink_lands_inside_when_allowed() {
    let t = RawTar::new()
        .dir("top/dir/")
        .symlink("top/link", "dir")
        .file("top/link/file", b"through")
        .symlink("top/dir/up", "..")
        .file("top/link/up/dir/deep", b"deep")
        .finish();
    let (s, r) = run(&t, &ExtractOptions::default().follow_symlinks_inside());
    r.unwrap();
    let d = s.dest();
    assert_eq!(fs::read(d.join("dir/file")).unwrap(), b"through");
    assert_eq!(fs::read(d.join("dir/deep")).unwrap(), b"deep");
    assert!(fs::symlink_metadata(d.join("link")).unwrap().file_type().is_symlink());
}

#[test]
fn a_symlink_reached_through_a_symlink_cannot_escape() {
    // With following allowed, `up/escape` is placed at the destination root, where `..`
    // leaves it: refused.
    let t = RawTar::new()
        .dir("top/a/")
        .dir("top/a/b/")
        .symlink("top/a/b/up", "../..")
        .symlink("top/a/b/up/escape", "..")
        .finish();
    let opts = ExtractOptions::default().follow_symlinks_inside();
    assert_eq!(refused_with(&t, &opts, "top/a/b/up/escape"), Refusal::SymlinkEscapes { target: "..".into() });
}

#[test]
fn a_duplicate_entry_replaces_a_symlink_instead_of_writing_through_it() {
    let t =
        RawTar::new().file("top/target", b"original").symlink("top/f", "target").file("top/f", b"replacement").finish();
    let (s, r) = run(&t, &ExtractOptions::default());
    r.unwrap();
    let d = s.dest();
    assert_eq!(fs::read(d.join("target")).unwrap(), b"original");
    assert!(fs::symlink_metadata(d.join("f")).unwrap().is_file());
    assert_eq!(fs::read(d.join("f")).unwrap(), b"replacement");
}

#[test]
fn a_directory_may_replace_a_symlink_but_nothing_replaces_a_directory() {
    let t = RawTar::new().dir("top/d/").symlink("top/l", "d").dir("top/l/").finish();
    let (s, r) = run(&t, &ExtractOptions::default());
    r.unwrap();
    assert!(fs::symlink_metadata(s.dest().join("l")).unwrap().is_dir());

    let t = RawTar::new().dir("top/d/").file("top/d/f", b"x").symlink("top/d", "elsewhere").finish();
    assert_eq!(refused(&t, "top/d"), Refusal::ReplacesDirectory { path: "d".into() });
}

#[test]
fn escaping_hardlinks_are_refused() {
    for target in ["../../etc/passwd", "/etc/passwd", "top/../../x"] {
        let t = RawTar::new().file("top/f", b"x").hardlink("top/h", target).finish();
        assert_eq!(refused(&t, "top/h"), Refusal::HardlinkEscapes { target: target.into() });
    }
}

#[test]
fn hardlinks_must_point_at_an_extracted_regular_file() {
    let t = RawTar::new().hardlink("top/h", "top/missing").finish();
    assert_eq!(refused(&t, "top/h"), Refusal::HardlinkTargetMissing { target: "missing".into() });
    let t = RawTar::new().file("top/f", b"x").symlink("top/s", "f").hardlink("top/h", "top/s").finish();
    assert_eq!(refused(&t, "top/h"), Refusal::HardlinkToNonFile { target: "s".into() });
    let t =
        RawTar::new().dir("top/d/").file("top/d/f", b"x").symlink("top/l", "d").hardlink("top/h", "top/l/f").finish();
    assert_eq!(refused(&t, "top/h"), Refusal::ThroughSymlink { symlink: "l".into() });
}

#[test]
fn hardlinks_share_the_inode_and_a_later_entry_does_not_write_through() {
    let t = RawTar::new()
        .file("top/f", b"content")
        .hardlink("top/h", "top/f")
        .file("top/h", b"new")
        .hardlink("top/h2", "top/f")
        .finish();
    let (s, r) = run(&t, &ExtractOptions::default());
    r.unwrap();
    let d = s.dest();
    assert_eq!(fs::read(d.join("f")).unwrap(), b"content");
    assert_eq!(fs::read(d.join("h")).unwrap(), b"new");
    let f = fs::metadata(d.join("f")).unwrap();
    let h2 = fs::metadata(d.join("h2")).unwrap();
    assert_eq!(f.ino(), h2.ino());
    assert_ne!(f.ino(), fs::metadata(d.join("h")).unwrap().ino());
}

#[test]
fn device_nodes_and_fifos_are_refused_or_skipped() {
    for (flag, reason) in [(b'3', Refusal::DeviceNode), (b'4', Refusal::DeviceNode), (b'6', Refusal::Fifo)] {
        let mut t = RawTar::new();
        t.file("top/f", b"x").member(b"top/dev", flag, 0o644, b"", b"");
        let t = t.finish();
        assert_eq!(refused(&t, "top/dev"), reason);
        let (s, r) = run(&t, &ExtractOptions::default().skip_special_files());
        let summary = r.unwrap();
        assert_eq!(summary.skipped, 1);
        assert!(!s.dest().join("dev").exists());
        assert!(s.dest().join("f").exists());
    }
}

#[test]
fn setid_bits_are_refused_or_stripped() {
    let t = RawTar::new().file_mode("top/su", 0o4755, b"x").finish();
    assert_eq!(refused(&t, "top/su"), Refusal::SetidBits { mode: 0o4755 });
    let mut d = RawTar::new();
    d.member(b"top/sgid/", b'5', 0o2775, b"", b"");
    assert_eq!(refused(&d.finish(), "top/sgid/"), Refusal::SetidBits { mode: 0o2775 });

    let (s, r) = run(&t, &ExtractOptions::default().strip_setid_bits());
    r.unwrap();
    let mode = fs::metadata(s.dest().join("su")).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn modes_are_masked_and_ownership_is_ours() {
    let t = RawTar::new()
        .file_mode("top/ro", 0o444, b"x")
        .file_mode("top/sticky-ww", 0o1777, b"x")
        .member(b"top/rodir/", b'5', 0o555, b"", b"")
        .file("top/rodir/inner", b"x")
        .finish();
    let (s, r) = run(&t, &ExtractOptions::default());
    r.unwrap();
    let d = s.dest();
    let mode = |p: &str| fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("ro"), 0o644);
    assert_eq!(mode("sticky-ww"), 0o755);
    assert_eq!(mode("rodir"), 0o755);
    let me = fs::metadata(s.dir.path()).unwrap().uid();
    assert_ne!(me, 4242);
    assert!(crate::fixtures::owners(&d).iter().all(|u| *u == me));
}

#[test]
fn too_many_entries() {
    let mut t = RawTar::new();
    for i in 0..6 {
        t.file(&format!("top/f{i}"), b"x");
    }
    let (s, r) = run(&t.finish(), &ExtractOptions::default().max_entries(5));
    match r {
        Err(ExtractError::LimitExceeded { what, limit, entry, .. }) => {
            assert_eq!((what, limit), ("entries", 5));
            assert_eq!(entry.index, 5);
            assert_eq!(entry.name, "top/f5");
        }
        other => panic!("expected the entry limit, got {other:?}"),
    }
    assert!(s.leftovers().is_empty());
    let (_, r) = run(&t.finish(), &ExtractOptions::default().max_entries(6));
    assert_eq!(r.unwrap().entries, 6);
}

#[test]
fn too_many_bytes() {
    let t = RawTar::new().file("top/a", &[1u8; 600]).file("top/b", &[2u8; 401]).finish();
    let (s, r) = run(&t, &ExtractOptions::default().max_total_bytes(1000));
    match r {
        Err(ExtractError::LimitExceeded { what, entry, .. }) => {
            assert_eq!(what, "bytes");
            assert_eq!(entry.name, "top/b");
        }
        other => panic!("expected the byte limit, got {other:?}"),
    }
    assert!(s.leftovers().is_empty());
    let (_, r) = run(&t, &ExtractOptions::default().max_total_bytes(1001));
    assert_eq!(r.unwrap().bytes, 1001);
}

#[test]
fn a_decompression_bomb_is_stopped_before_it_is_written() {
    // 64 MiB of zeros compress to ~64 KiB; with a 1 MiB limit the entry is refused from its
    // header, before any byte is written.
    let big = vec![0u8; 64 << 20];
    let t = RawTar::new().file("top/bomb", &big).finish();
    let bomb = gz(&t);
    assert!(bomb.len() < 1 << 20);
    let s = Scratch::new();
    let a = s.write("in.tar.gz", &bomb);
    let r = extract(&a, &s.dest(), &ExtractOptions::default().max_total_bytes(1 << 20));
    assert!(matches!(r, Err(ExtractError::LimitExceeded { what: "bytes", .. })), "{r:?}");
    assert!(s.leftovers().is_empty());
}

#[test]
fn a_bomb_after_the_end_marker_is_stopped() {
    let mut t = RawTar::new().file("top/f", b"x").finish();
    t.extend(std::iter::repeat_n(0u8, 40 << 20));
    let s = Scratch::new();
    let a = s.write("in.tar.gz", &gz(&t));
    let err = extract(&a, &s.dest(), &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, ExtractError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("after the end-of-archive marker"), "{err}");
    assert!(s.leftovers().is_empty());
}

#[test]
fn huge_extension_headers_are_refused_unread() {
    let mut t = RawTar::new();
    t.member(b"././@LongLink", b'L', 0o644, &vec![b'a'; 100_000], b"");
    t.file("top/f", b"x");
    let r = refused(&t.finish(), "././@LongLink");
    assert!(matches!(r, Refusal::ExtensionTooLarge { len: 100_000, .. }), "{r:?}");
}

#[test]
fn nul_and_overlong_names_are_refused() {
    let t = RawTar::new().pax(false, &[("path", b"top/a\0b")]).file("ignored", b"x").finish();
    assert_eq!(refused(&t, "top/a\0b"), Refusal::NulInName);

    let long = format!("top/{}", "d/".repeat(2100));
    let t = RawTar::new().file(&long, b"x").finish();
    assert!(matches!(refused(&t, &long), Refusal::NameTooLong { limit: 4095, .. }));

    let comp = format!("top/{}", "c".repeat(256));
    let t = RawTar::new().file(&comp, b"x").finish();
    assert_eq!(refused(&t, &comp), Refusal::ComponentTooLong { len: 256, limit: 255 });
}

#[test]
fn long_names_via_gnu_and_pax_work() {
    let gnu = format!("top/{}/file", "g".repeat(150));
    let pax = format!("top/{}/file", "p".repeat(150));
    let t = RawTar::new()
        .file(&gnu, b"gnu")
        .pax(false, &[("path", pax.as_bytes()), ("mtime", b"1234.5")])
        .file("short-name-replaced-by-pax", b"pax")
        .finish();
    let (s, r) = run(&t, &ExtractOptions::default());
    r.unwrap();
    let d = s.dest();
    assert_eq!(fs::read(d.join(&gnu[4..])).unwrap(), b"gnu");
    let p = d.join(&pax[4..]);
    assert_eq!(fs::read(&p).unwrap(), b"pax");
    assert_eq!(fs::metadata(&p).unwrap().mtime(), 1234);
    assert!(!d.join("short-name-replaced-by-pax").exists());
}

#[test]
fn pax_tricks_are_refused() {
    let t = RawTar::new().pax(true, &[("path", b"evil")]).file("top/f", b"x").finish();
    assert_eq!(refused(&t, "PaxHeader"), Refusal::PaxGlobalOverride { key: "path".into() });
    let t = RawTar::new().pax(false, &[("size", b"5")]).file("top/f", b"xy").finish();
    assert_eq!(refused(&t, "top/f"), Refusal::PaxSizeMismatch { pax: 5, header: 2 });
    let t = RawTar::new().pax(false, &[("GNU.sparse.major", b"1")]).file("top/f", b"xy").finish();
    assert_eq!(refused(&t, "top/f"), Refusal::Sparse);
    // A global header with only a comment (what `git archive` writes) is fine.
    let t = RawTar::new().pax(true, &[("comment", b"0123456789abcdef")]).file("top/f", b"xy").finish();
    assert_eq!(run(&t, &ExtractOptions::default()).1.unwrap().entries, 1);
}

#[test]
fn unknown_types_and_sparse_are_refused() {
    let mut t = RawTar::new();
    t.member(b"top/vol", b'V', 0o644, b"", b"");
    assert_eq!(refused(&t.finish(), "top/vol"), Refusal::UnsupportedTarType { typeflag: 'V' });
    let mut t = RawTar::new();
    t.member(b"top/sparse", b'S', 0o644, b"", b"");
    assert_eq!(refused(&t.finish(), "top/sparse"), Refusal::Sparse);
}

#[test]
fn malformed_archives_leave_nothing() {
    let good = RawTar::new().file("top/a", &[7u8; 3000]).file("top/b", b"b").finish();
    // Truncated in the middle of a's data.
    for kind in [ArchiveKind::Tar, ArchiveKind::TarGz, ArchiveKind::TarZst] {
        let s = Scratch::new();
        let a = s.write("in.tar", &compress(kind, &good[..1500]));
        let r = extract(&a, &s.dest(), &ExtractOptions::default());
        assert!(matches!(r, Err(ExtractError::Malformed { .. })), "{kind}: {r:?}");
        assert!(s.leftovers().is_empty());
    }
    // A corrupt header checksum.
    let mut bad = good.clone();
    bad[512 * 7] ^= 0xff; // inside the second header's name
    let s = Scratch::new();
    let a = s.write("in.tar", &bad);
    let err = extract(&a, &s.dest(), &ExtractOptions::default()).unwrap_err();
    assert!(err.to_string().contains("after entry #0 \"top/a\""), "{err}");
    assert!(s.leftovers().is_empty());
}
