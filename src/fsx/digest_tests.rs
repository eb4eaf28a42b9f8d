//! Tests of the output digest: what it covers, hole independence, sparse speed, refusals.
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;

use super::super::testutil::{mkfifo, socket, sparse_file};
use super::super::{Dir, FsError, Kind, Special};
use super::{BLOCK, OUTPUT_DIGEST_TAG, content_digest, output_digest};

fn digest(p: &Path) -> String {
    output_digest(&Dir::open(p).expect("open")).expect("digest")
}

#[test]
fn covers_paths_types_modes_content_and_targets_but_not_times() {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    std::fs::create_dir(r.join("d")).expect("mkdir");
    std::fs::write(r.join("d/f"), "x").expect("write");
    std::os::unix::fs::symlink("d/f", r.join("l")).expect("symlink");
    let h1 = digest(r);
    assert!(h1.starts_with(&format!("{OUTPUT_DIGEST_TAG}:")) && h1.len() == OUTPUT_DIGEST_TAG.len() + 65, "{h1}");
    let f = std::fs::File::options().write(true).open(r.join("d/f")).expect("open");
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).expect("mtime");
    assert_eq!(digest(r), h1, "mtime is not content");
    std::fs::write(r.join("d/f"), "y").expect("write");
    let h2 = digest(r);
    assert_ne!(h1, h2, "content");
    std::fs::set_permissions(r.join("d/f"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let h3 = digest(r);
    assert_ne!(h3, h2, "executable bit");
    std::fs::set_permissions(r.join("d/f"), std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    assert_ne!(digest(r), h3, "setuid bit");
    std::fs::remove_file(r.join("l")).expect("rm");
    std::os::unix::fs::symlink("elsewhere", r.join("l")).expect("symlink");
    let h4 = digest(r);
    std::fs::rename(r.join("l"), r.join("m")).expect("rename");
    assert_ne!(digest(r), h4, "path");
    std::fs::hard_link(r.join("d/f"), r.join("d/g")).expect("link");
    let linked = digest(r);
    std::fs::remove_file(r.join("d/g")).expect("rm");
    std::fs::copy(r.join("d/f"), r.join("d/g")).expect("copy");
    std::fs::set_permissions(r.join("d/g"), std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    assert_eq!(digest(r), linked, "a hard link hashes as a separate file");
}

#[test]
fn refuses_special_files_naming_them() {
    let t = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(t.path().join("run")).expect("mkdir");
    let _l = socket(&t.path().join("run/sock"));
    let d = Dir::open(t.path()).expect("open").with_display("build/x.x86_64/destdir");
    let e = output_digest(&d).unwrap_err();
    assert!(matches!(e, FsError::Kind { found: Kind::Special(Special::Socket), .. }), "{e}");
    assert_eq!(e.to_string(), "build/x.x86_64/destdir/run/sock is a socket; special files are not allowed in outputs");
    std::fs::remove_file(t.path().join("run/sock")).expect("rm");
    mkfifo(&t.path().join("run/fifo"));
    let e = output_digest(&d).unwrap_err();
    assert!(e.to_string().contains("run/fifo is a fifo"), "{e}");
}

fn file_digest(p: &Path) -> [u8; 32] {
    let f = std::fs::File::open(p).expect("open");
    let size = f.metadata().expect("meta").len();
    content_digest(&f, size, p).expect("digest")
}

#[test]
fn the_content_digest_depends_on_bytes_not_on_holes() {
    let t = tempfile::tempdir().expect("tempdir");
    let size = 10 * BLOCK + 123;
    // The same bytes three ways: dense zeros written out, a sparse file, half and half.
    let dense = t.path().join("dense");
    let mut bytes = vec![0u8; size as usize];
    bytes[(3 * BLOCK + 7) as usize] = 1;
    bytes[(size - 1) as usize] = 2;
    std::fs::write(&dense, &bytes).expect("write");
    let sparse = t.path().join("sparse");
    sparse_file(&sparse, size, &[], b"");
    let f = std::fs::OpenOptions::new().write(true).open(&sparse).expect("open");
    f.write_all_at(&[1], 3 * BLOCK + 7).expect("write");
    f.write_all_at(&[2], size - 1).expect("write");
    let mixed = t.path().join("mixed");
    sparse_file(&mixed, size, &[], b"");
    let f = std::fs::OpenOptions::new().write(true).open(&mixed).expect("open");
    f.write_all_at(&bytes[..(5 * BLOCK) as usize], 0).expect("write");
    f.write_all_at(&[2], size - 1).expect("write");
    assert_eq!(file_digest(&dense), file_digest(&sparse));
    assert_eq!(file_digest(&dense), file_digest(&mixed));
    // Different bytes, or a different length of zeros, differ.
    f.write_all_at(&[3], 8 * BLOCK).expect("write");
    assert_ne!(file_digest(&dense), file_digest(&mixed));
    let shorter = t.path().join("shorter");
    std::fs::write(&shorter, &bytes[1..]).expect("write");
    assert_ne!(file_digest(&dense), file_digest(&shorter));
    let (z1, z2) = (t.path().join("z1"), t.path().join("z2"));
    std::fs::write(&z1, vec![0u8; (2 * BLOCK) as usize]).expect("write");
    std::fs::write(&z2, vec![0u8; (2 * BLOCK + 1) as usize]).expect("write");
    assert_ne!(file_digest(&z1), file_digest(&z2));
    assert_ne!(file_digest(&z1), file_digest(&t.path().join("dense")));
    std::fs::write(t.path().join("empty"), "").expect("write");
    assert_ne!(file_digest(&t.path().join("empty")), file_digest(&z1));
}

#[test]
fn sparse_files_hash_without_reading_their_holes() {
    let t = tempfile::tempdir().expect("tempdir");
    let gib = t.path().join("gib");
    sparse_file(&gib, 1 << 30, &[0, 700 << 20], b"some data");
    let start = std::time::Instant::now();
    let d = file_digest(&gib);
    let gib_time = start.elapsed();
    let tib = t.path().join("tib");
    sparse_file(&tib, 1 << 40, &[1 << 39], b"some data");
    let start = std::time::Instant::now();
    let d2 = file_digest(&tib);
    let tib_time = start.elapsed();
    eprintln!("digest of a 1 GiB sparse file: {gib_time:?}; of a 1 TiB sparse file: {tib_time:?}");
    assert_ne!(d, d2);
    assert!(tib_time < std::time::Duration::from_secs(1), "1 TiB sparse took {tib_time:?}");
    assert!(gib_time < std::time::Duration::from_secs(1), "1 GiB sparse took {gib_time:?}");
    // The tree digest takes the same path.
    let start = std::time::Instant::now();
    output_digest(&Dir::open(t.path()).expect("open")).expect("tree digest");
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
}
