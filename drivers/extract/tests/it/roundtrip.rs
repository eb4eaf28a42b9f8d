//! Good archives in every format, written by the `tar` and `zip` crates' own builders,
//! extract to exactly the tree that went in (content, masked modes, symlinks, hard links,
//! mtimes).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;

use yoe_extract::{ArchiveKind, ExtractOptions, detect, extract};

use crate::fixtures::{Got, Scratch, TAR_KINDS, ZipEntry, compress, ext, read_tree, zip_bytes};

/// One node of a source tree.
pub enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Symlink(String),
    Hardlink(String),
}

pub const BASE_MTIME: u64 = 1_600_000_000;

fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn sample_tree() -> Vec<(String, Node)> {
    let long_dir = format!("src/{}", "l".repeat(120));
    vec![
        ("README".into(), Node::File(0o644, b"hello\n".to_vec())),
        ("configure".into(), Node::File(0o755, b"#!/bin/sh\n".to_vec())),
        ("read-only".into(), Node::File(0o444, b"ro".to_vec())),
        ("src".into(), Node::Dir(0o755)),
        ("src/big.bin".into(), Node::File(0o644, pseudo_random(200_000, 7))),
        ("src/empty".into(), Node::File(0o600, Vec::new())),
        ("src/sub".into(), Node::Dir(0o700)),
        ("src/sub/ünïcode name.txt".into(), Node::File(0o644, "ü".as_bytes().to_vec())),
        (long_dir.clone(), Node::Dir(0o755)),
        (format!("{long_dir}/deep.c"), Node::File(0o644, b"int x;".to_vec())),
        ("src/link".into(), Node::Symlink("../README".into())),
        ("latest".into(), Node::Symlink("src".into())),
        ("empty-dir".into(), Node::Dir(0o555)),
        ("src/hard".into(), Node::Hardlink("README".into())),
    ]
}

/// A tar of `tree` under `top/` (when given), written by the tar crate's builder.
pub fn build_tar(tree: &[(String, Node)], top: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let prefix = |p: &str| match top {
        Some(t) => format!("{t}/{p}"),
        None => p.to_string(),
    };
    if let Some(t) = top {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(BASE_MTIME);
        h.set_size(0);
        b.append_data(&mut h, format!("{t}/"), &[][..]).unwrap();
    }
    for (i, (path, node)) in tree.iter().enumerate() {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(BASE_MTIME + i as u64);
        h.set_uid(4242);
        h.set_gid(4242);
        h.set_size(0);
        let name = prefix(path);
        match node {
            Node::Dir(mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                b.append_data(&mut h, format!("{name}/"), &[][..]).unwrap();
            }
            Node::File(mode, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, &data[..]).unwrap();
            }
            Node::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, name, target).unwrap();
            }
            Node::Hardlink(target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                b.append_link(&mut h, name, prefix(target)).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// A zip of `tree` (hard links become copies) under `top/`.
pub fn build_zip(tree: &[(String, Node)], top: &str) -> Vec<u8> {
    let mut entries = vec![(format!("{top}/"), None::<&Node>)];
    for (p, n) in tree {
        entries.push((format!("{top}/{p}"), Some(n)));
    }
    let contents: BTreeMap<&str, &[u8]> = tree
        .iter()
        .filter_map(|(p, n)| match n {
            Node::File(_, d) => Some((p.as_str(), &d[..])),
            _ => None,
        })
        .collect();
    let z: Vec<ZipEntry<'_>> = entries
        .iter()
        .map(|(name, node)| match node {
            None | Some(Node::Dir(_)) => ZipEntry::Dir(name),
            Some(Node::File(mode, data)) => ZipEntry::FileAttrs(name, 0o100000 | mode, data),
            Some(Node::Symlink(t)) => ZipEntry::Symlink(name, t),
            Some(Node::Hardlink(t)) => ZipEntry::File(name, contents[t.as_str()]),
        })
        .collect();
    zip_bytes(&z)
}

/// What extracting `tree` must produce.
pub fn expected(tree: &[(String, Node)], zip: bool) -> BTreeMap<String, Got> {
    let files: BTreeMap<&str, (u32, &Vec<u8>)> = tree
        .iter()
        .filter_map(|(p, n)| match n {
            Node::File(m, d) => Some((p.as_str(), (*m, d))),
            _ => None,
        })
        .collect();
    tree.iter()
        .map(|(p, n)| {
            let got = match n {
                Node::Dir(m) => Got::Dir(if zip { 0o755 } else { (m & 0o755) | 0o700 }),
                Node::File(m, d) => Got::File((m & 0o755) | 0o600, d.clone()),
                Node::Symlink(t) => Got::Symlink(t.clone()),
                Node::Hardlink(t) => {
                    let (m, d) = files[t.as_str()];
                    Got::File(if zip { 0o644 } else { (m & 0o755) | 0o600 }, d.clone())
                }
            };
            (p.clone(), got)
        })
        .collect()
}

#[test]
fn every_tar_format_round_trips() {
    let tree = sample_tree();
    let tar = build_tar(&tree, Some("pkg-1.0"));
    for kind in TAR_KINDS {
        let s = Scratch::new();
        let a = s.write(&format!("in.{}", ext(kind)), &compress(kind, &tar));
        assert_eq!(detect(&a).unwrap(), kind);
        let summary = extract(&a, &s.dest(), &ExtractOptions::default()).unwrap();
        assert_eq!(summary.kind, kind);
        assert_eq!(summary.entries, tree.len() as u64, "{kind}");
        assert_eq!(summary.skipped, 1, "{kind}: the top directory");
        let d = s.dest();
        assert_eq!(read_tree(&d), expected(&tree, false), "{kind}");
        // Hard link shares the inode; mtimes are kept, on files, dirs and symlinks.
        let ino = |p: &str| fs::metadata(d.join(p)).unwrap().ino();
        assert_eq!(ino("src/hard"), ino("README"));
        for (i, (p, node)) in tree.iter().enumerate() {
            if matches!(node, Node::Hardlink(_)) {
                continue;
            }
            let m = fs::symlink_metadata(d.join(p)).unwrap();
            assert_eq!(m.mtime(), (BASE_MTIME + i as u64) as i64, "{kind}: {p}");
        }
        assert_eq!(s.leftovers(), vec!["dest".to_string()]);
    }
}

#[test]
fn a_zip_round_trips() {
    let tree = sample_tree();
    let s = Scratch::new();
    let a = s.write("in.zip", &build_zip(&tree, "pkg-1.0"));
    assert_eq!(detect(&a).unwrap(), ArchiveKind::Zip);
    let summary = extract(&a, &s.dest(), &ExtractOptions::default()).unwrap();
    assert_eq!(summary.entries, tree.len() as u64);
    assert_eq!(read_tree(&s.dest()), expected(&tree, true));
}

#[test]
fn strip_zero_keeps_the_top_directory() {
    let tree = sample_tree();
    let tar = build_tar(&tree, Some("pkg-1.0"));
    let s = Scratch::new();
    let a = s.write("in.tar", &tar);
    extract(&a, &s.dest(), &ExtractOptions::default().strip_components(0)).unwrap();
    let got = read_tree(&s.dest());
    assert_eq!(got.get("pkg-1.0"), Some(&Got::Dir(0o755)));
    assert_eq!(got.get("pkg-1.0/README"), Some(&Got::File(0o644, b"hello\n".to_vec())));
}

#[test]
fn a_tar_split_over_several_compressed_streams_round_trips() {
    // pigz/pbzip2/pzstd-style output: the tar is cut into pieces, each compressed on its
    // own and concatenated. Every piece must be read.
    let tree = sample_tree();
    let tar = build_tar(&tree, Some("pkg-1.0"));
    let cuts = [0, 1000, tar.len() / 2, tar.len() - 700, tar.len()];
    for kind in [ArchiveKind::TarGz, ArchiveKind::TarXz, ArchiveKind::TarBz2, ArchiveKind::TarZst] {
        let mut joined = Vec::new();
        for w in cuts.windows(2) {
            joined.extend(compress(kind, &tar[w[0]..w[1]]));
        }
        let s = Scratch::new();
        let a = s.write(&format!("in.{}", ext(kind)), &joined);
        extract(&a, &s.dest(), &ExtractOptions::default()).unwrap();
        assert_eq!(read_tree(&s.dest()), expected(&tree, false), "{kind}");
    }
}
