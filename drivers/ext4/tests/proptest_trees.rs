//! Random trees: every entry kind, file sizes from 0 bytes to a few MiB with holes, hard
//! links, symlinks of every length, device nodes, big directories and xattrs, on several
//! block sizes and feature sets. Each image must pass every oracle, and a second write must
//! give the same bytes. `PROPTEST_CASES` raises the number of cases (default 10).

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use proptest::prelude::*;
use support::{Case, build, verify_all};
use yoe_ext4::format::Timestamp;
use yoe_ext4::manifest::{Entry, FileContent, Kind, Location, Manifest};
use yoe_ext4::options::{Features, FsType};
use yoe_ext4::{Options, Size};

#[derive(Clone, Debug)]
struct Meta {
    mode: u16,
    uid: u32,
    gid: u32,
    mtime: (i64, u32),
    xattrs: Vec<(String, Vec<u8>)>,
}

#[derive(Clone, Debug)]
enum Node {
    Dir,
    File {
        size: usize,
        seed: u8,
        holes: bool,
        inline: bool,
    },
    SparseOnly(u64),
    Symlink(usize, u8),
    HardLink(usize),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    Socket,
    /// A directory with this many empty files.
    Many(usize),
}

#[derive(Clone, Debug)]
struct Spec {
    bs: u32,
    fs: u8,
    nodes: Vec<(usize, Vec<u8>, Node, Meta)>,
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => "[a-z0-9_.-]{1,16}".prop_map(String::into_bytes),
        2 => proptest::collection::vec(prop_oneof![Just(b' '), 0x80u8..=0xff, b'a'..=b'z', Just(b'\\'), Just(b'"')], 1..40),
        1 => (200usize..=255).prop_map(|n| vec![b'L'; n]),
    ]
    .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

fn meta() -> impl Strategy<Value = Meta> {
    let xattr = (
        prop_oneof![Just("user."), Just("trusted."), Just("security.")],
        "[a-z0-9_.]{1,24}",
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(p, n, v)| (format!("{p}{n}"), v));
    (
        0u16..=0o7777,
        prop_oneof![Just(0u32), 0u32..70000, any::<u32>()],
        prop_oneof![Just(0u32), 0u32..70000, any::<u32>()],
        (i64::from(i32::MIN)..=10_737_418_239i64, 0u32..1_000_000_000),
        proptest::collection::vec(xattr, 0..3),
    )
        .prop_map(|(mode, uid, gid, mtime, xattrs)| Meta { mode, uid, gid, mtime, xattrs })
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        6 => Just(Node::Dir),
        10 => (prop_oneof![4 => 0usize..5000, 3 => 0usize..200_000, 1 => 0usize..3_500_000], any::<u8>(), any::<bool>(), any::<bool>())
            .prop_map(|(size, seed, holes, inline)| Node::File { size, seed, holes, inline: inline && size < 100_000 }),
        1 => (0u64..(6u64 << 30)).prop_map(Node::SparseOnly),
        4 => (1usize..4096, any::<u8>()).prop_map(|(n, s)| Node::Symlink(n, s)),
        3 => any::<usize>().prop_map(Node::HardLink),
        1 => (0u32..=4095, 0u32..=0xfffff).prop_map(|(a, b)| Node::Char(a, b)),
        1 => (0u32..=4095, 0u32..=0xfffff).prop_map(|(a, b)| Node::Block(a, b)),
        1 => Just(Node::Fifo),
        1 => Just(Node::Socket),
        1 => (100usize..1500).prop_map(Node::Many),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![Just(1024u32), Just(2048), Just(4096)],
        0u8..3,
        proptest::collection::vec((any::<usize>(), name(), node(), meta()), 1..40),
    )
        .prop_map(|(bs, fs, nodes)| Spec { bs, fs, nodes })
}

fn content(size: usize, seed: u8, holes: bool) -> Vec<u8> {
    let mut v: Vec<u8> = (0..size).map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed).collect();
    if holes {
        for (k, chunk) in v.chunks_mut(4096).enumerate() {
            if !(k + seed as usize).is_multiple_of(3) {
                chunk.fill(0);
            }
        }
    }
    v
}

/// Turn a spec into a manifest (writing file content into `staging`).
fn realise(spec: &Spec, staging: &Path) -> Case {
    let mut entries = Vec::new();
    let mut dirs: Vec<Vec<u8>> = vec![b"/".to_vec()];
    let mut files: Vec<Vec<u8>> = Vec::new();
    let mut taken: BTreeSet<Vec<u8>> = BTreeSet::new();
    taken.insert(b"/lost+found".to_vec());
    let mut n = 0usize;
    for (parent, nm, node, m) in &spec.nodes {
        let dir = &dirs[parent % dirs.len()];
        let mut path = if dir.as_slice() == b"/" { Vec::new() } else { dir.clone() };
        path.push(b'/');
        path.extend_from_slice(nm);
        if !taken.insert(path.clone()) {
            continue;
        }
        n += 1;
        let kind = match node {
            Node::Dir | Node::Many(_) => Kind::Dir,
            Node::File { size, seed, holes, inline } => {
                let data = content(*size, *seed, *holes);
                if *inline {
                    Kind::File(FileContent { data: Some(data), ..FileContent::default() })
                } else {
                    let src = format!("f{n}");
                    fs::write(staging.join(&src), data).unwrap();
                    Kind::File(FileContent { src: Some(src.into_bytes()), ..FileContent::default() })
                }
            }
            Node::SparseOnly(size) => Kind::File(FileContent { size: Some(*size), ..FileContent::default() }),
            Node::Symlink(len, seed) => {
                let len = 1 + len % (spec.bs as usize - 1);
                let target: Vec<u8> = (0..len).map(|i| b"abc/._-xyz"[(i + *seed as usize) % 10]).collect();
                Kind::Symlink { target }
            }
            Node::HardLink(t) if !files.is_empty() => Kind::HardLink { target: files[t % files.len()].clone() },
            Node::HardLink(_) => Kind::Fifo,
            Node::Char(a, b) => Kind::CharDev { major: *a, minor: *b },
            Node::Block(a, b) => Kind::BlockDev { major: *a, minor: *b },
            Node::Fifo => Kind::Fifo,
            Node::Socket => Kind::Socket,
        };
        let hard = matches!(kind, Kind::HardLink { .. });
        if matches!(kind, Kind::File(_)) {
            files.push(path.clone());
        }
        if matches!(kind, Kind::Dir) {
            dirs.push(path.clone());
        }
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let plain = matches!(kind, Kind::Dir | Kind::File(_));
        for (k, v) in &m.xattrs {
            // The writer refuses user.* on special files (the kernel would hide them).
            if !plain && k.starts_with("user.") {
                continue;
            }
            if !xattrs.iter().any(|x| x.0 == k.as_bytes()) {
                xattrs.push((k.clone().into_bytes(), v.clone()));
            }
        }
        let t = Timestamp { secs: m.mtime.0, nanos: m.mtime.1 };
        entries.push(Entry {
            at: Location::Index(entries.len()),
            path: path.clone(),
            kind,
            mode: (!hard).then_some(m.mode),
            uid: (!hard).then_some(m.uid),
            gid: (!hard).then_some(m.gid),
            mtime: (!hard).then_some(t),
            atime: None,
            ctime: None,
            xattrs: if hard { Vec::new() } else { xattrs },
        });
        if let Node::Many(count) = node {
            for i in 0..*count {
                let mut p = path.clone();
                p.extend_from_slice(format!("/member-{i:05}-{}", "m".repeat(i % 23)).as_bytes());
                entries.push(Entry {
                    at: Location::Index(entries.len()),
                    path: p,
                    kind: Kind::File(FileContent { size: Some(0), ..FileContent::default() }),
                    mode: None,
                    uid: None,
                    gid: None,
                    mtime: None,
                    atime: None,
                    ctime: None,
                    xattrs: Vec::new(),
                });
            }
        }
    }
    let features = match spec.fs {
        0 => Features::for_type(FsType::Ext4),
        1 => {
            let mut f = Features::for_type(FsType::Ext4);
            f.apply("^has_journal,^metadata_csum,^flex_bg").unwrap();
            f
        }
        _ => Features::for_type(FsType::Ext2),
    };
    let opts = Options { block_size: spec.bs, features, size: Size::Auto { margin_percent: 10 }, ..support::opts() };
    Case { manifest: Manifest { entries }, opts, staging: Some(staging.to_owned()), store: None }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(10)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_pass_every_oracle_and_are_reproducible(spec in spec()) {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging");
        fs::create_dir_all(&staging).unwrap();
        let case = realise(&spec, &staging);
        let a = build(&case).unwrap_or_else(|e| panic!("build failed: {e}"));
        verify_all(&a, &case);
        let b = build(&case).unwrap();
        prop_assert!(fs::read(&a.img).unwrap() == fs::read(&b.img).unwrap(), "second write differs");
        let _ = staging.as_os_str().as_bytes();
    }
}
