//! Bad zip entries the strict policy refuses, and the zip-specific behaviour (Go yoe's
//! common-prefix strip, symlinks stored as content, lying size fields).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use yoe_extract::{ExtractError, ExtractOptions, Refusal, Summary, extract};

use crate::fixtures::{Scratch, ZipEntry, zip_bytes};

fn run(zip: &[u8], opts: &ExtractOptions) -> (Scratch, Result<Summary, ExtractError>) {
    let s = Scratch::new();
    let a = s.write("in.zip", zip);
    let r = extract(&a, &s.dest(), opts);
    (s, r)
}

fn refused(zip: &[u8], entry_name: &str) -> Refusal {
    let (s, r) = run(zip, &ExtractOptions::default());
    let err = r.expect_err("archive must be refused");
    let msg = err.to_string();
    assert!(msg.contains("in.zip"), "{msg}");
    assert_eq!(err.entry().expect("names an entry").name, entry_name, "{msg}");
    assert!(msg.contains(&format!("{entry_name:?}")), "{msg}");
    assert_eq!(s.leftovers(), Vec::<String>::new(), "{msg}");
    err.refusal().expect("a policy refusal").clone()
}

#[test]
fn dotdot_absolute_and_backslash_names_are_refused() {
    use ZipEntry::File;
    let cases: [(&str, Refusal); 5] = [
        ("top/../../evil", Refusal::ParentComponent),
        ("../evil", Refusal::ParentComponent),
        ("/tmp/evil", Refusal::AbsolutePath),
        ("C:/evil", Refusal::AbsolutePath),
        ("top\\..\\..\\evil", Refusal::Backslash),
    ];
    for (name, reason) in cases {
        let z = zip_bytes(&[File("top/ok", b"ok"), File(name, b"evil")]);
        assert_eq!(refused(&z, name), reason, "{name}");
    }
}

#[test]
fn escaping_zip_symlinks_are_refused() {
    use ZipEntry::*;
    let z = zip_bytes(&[Dir("top/"), Symlink("top/l", "../../etc")]);
    assert_eq!(refused(&z, "top/l"), Refusal::SymlinkEscapes { target: "../../etc".into() });
    let z = zip_bytes(&[Dir("top/"), Symlink("top/l", "/etc")]);
    assert_eq!(refused(&z, "top/l"), Refusal::AbsoluteSymlink { target: "/etc".into() });
    let z = zip_bytes(&[Dir("top/"), Dir("top/d/"), Symlink("top/l", "d"), File("top/l/f", b"through")]);
    assert_eq!(refused(&z, "top/l/f"), Refusal::ThroughSymlink { symlink: "l".into() });
}

#[test]
fn zip_symlinks_inside_are_made() {
    use ZipEntry::*;
    let z = zip_bytes(&[Dir("top/"), File("top/f", b"data"), Dir("top/d/"), Symlink("top/d/l", "../f")]);
    let (s, r) = run(&z, &ExtractOptions::default());
    r.unwrap();
    let l = s.dest().join("d/l");
    assert_eq!(fs::read_link(&l).unwrap().to_str(), Some("../f"));
    assert_eq!(fs::read(&l).unwrap(), b"data");
}

#[test]
fn special_files_and_setid_bits_in_zip() {
    use ZipEntry::*;
    for (mode, reason) in [
        (0o020644, Refusal::DeviceNode),
        (0o060644, Refusal::DeviceNode),
        (0o010644, Refusal::Fifo),
        (0o140644, Refusal::Socket),
        (0o104755, Refusal::SetidBits { mode: 0o4755 }),
    ] {
        let z = zip_bytes(&[File("top/ok", b"x"), FileAttrs("top/odd", mode, b"")]);
        assert_eq!(refused(&z, "top/odd"), reason, "{mode:o}");
    }
    let z = zip_bytes(&[File("top/ok", b"x"), FileAttrs("top/fifo", 0o010644, b"")]);
    let (s, r) = run(&z, &ExtractOptions::default().skip_special_files());
    assert_eq!(r.unwrap().skipped, 1);
    assert!(!s.dest().join("fifo").exists());
}

#[test]
fn flat_zips_are_not_stripped_but_a_common_top_dir_is() {
    use ZipEntry::*;
    let (s, r) = run(&zip_bytes(&[File("README", b"r"), File("src/a.c", b"a")]), &ExtractOptions::default());
    r.unwrap();
    assert!(s.dest().join("README").is_file());
    assert!(s.dest().join("src/a.c").is_file());

    let (s, r) = run(&zip_bytes(&[Dir("pkg-1.0/"), File("pkg-1.0/src/a.c", b"a")]), &ExtractOptions::default());
    let summary = r.unwrap();
    assert_eq!((summary.entries, summary.skipped), (1, 1));
    assert!(s.dest().join("src/a.c").is_file());
    assert!(!s.dest().join("pkg-1.0").exists());
}

#[test]
fn duplicate_names_are_refused() {
    use ZipEntry::File;
    // The zip writer refuses duplicates; rename the second entry in both headers instead.
    let mut z = zip_bytes(&[File("top/aaaa", b"one"), File("top/bbbb", b"two")]);
    let from = b"top/bbbb";
    let mut i = 0;
    while let Some(pos) = z[i..].windows(from.len()).position(|w| w == from) {
        z[i + pos..i + pos + from.len()].copy_from_slice(b"top/aaaa");
        i += pos + from.len();
    }
    let (s, r) = run(&z, &ExtractOptions::default());
    let err = r.unwrap_err();
    assert!(matches!(err, ExtractError::Malformed { .. }), "{err:?}");
    assert!(s.leftovers().is_empty());
}

/// Overwrite the uncompressed-size fields of every header (local and central) in `z`
/// whose value is `from`.
fn patch_sizes(z: &mut [u8], from: u32, to: u32) {
    let mut i = 0;
    while i + 4 <= z.len() {
        let sig = &z[i..i + 4];
        let field = if sig == b"PK\x03\x04" {
            Some(i + 22)
        } else if sig == b"PK\x01\x02" {
            Some(i + 24)
        } else {
            None
        };
        if let Some(f) = field
            && u32::from_le_bytes(z[f..f + 4].try_into().unwrap()) == from
        {
            z[f..f + 4].copy_from_slice(&to.to_le_bytes());
        }
        i += 1;
    }
}

#[test]
fn a_lying_size_cannot_get_past_the_byte_limit() {
    use ZipEntry::File;
    let big = vec![0u8; 1 << 20];
    let mut z = zip_bytes(&[File("top/bomb", &big)]);
    patch_sizes(&mut z, 1 << 20, 10);
    let (s, r) = run(&z, &ExtractOptions::default().max_total_bytes(1000));
    let err = r.unwrap_err();
    assert!(matches!(err, ExtractError::LimitExceeded { .. } | ExtractError::Malformed { .. }), "{err:?}");
    assert!(s.leftovers().is_empty());
}

#[test]
fn zip_limits() {
    use ZipEntry::File;
    let z = zip_bytes(&[File("top/a", &[1; 600]), File("top/b", &[2; 401])]);
    let (_, r) = run(&z, &ExtractOptions::default().max_total_bytes(1000));
    assert!(matches!(r, Err(ExtractError::LimitExceeded { what: "bytes", .. })));
    let (_, r) = run(&z, &ExtractOptions::default().max_entries(1));
    assert!(matches!(r, Err(ExtractError::LimitExceeded { what: "entries", .. })));
    let (s, r) = run(&z, &ExtractOptions::default().max_total_bytes(1001));
    assert_eq!(r.unwrap().bytes, 1001);
    let m = fs::metadata(s.dest().join("a")).unwrap().permissions().mode();
    assert_eq!(m & 0o777, 0o644);
}

#[test]
fn encrypted_entries_are_refused() {
    // Set the "encrypted" general-purpose flag in the local and central headers.
    let mut z = zip_bytes(&[ZipEntry::File("top/secret", b"hidden")]);
    for i in 0..z.len() - 4 {
        if &z[i..i + 4] == b"PK\x03\x04" {
            z[i + 6] |= 1;
        } else if &z[i..i + 4] == b"PK\x01\x02" {
            z[i + 8] |= 1;
        }
    }
    assert_eq!(refused(&z, "top/secret"), Refusal::Encrypted);
}
