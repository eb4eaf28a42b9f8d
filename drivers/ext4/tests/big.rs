//! Large cases kept cheap: a directory with 100,000 entries (htree with an index level),
//! deep trees, and files above 4 GiB that are mostly holes.

mod support;

use std::fs;
use std::os::unix::fs::FileExt;

use support::{Case, build, opts, verify_some};
use yoe_ext4::manifest::{Entry, FileContent, Kind, Location, Manifest};
use yoe_ext4::options::{Features, FsType};
use yoe_ext4::{Options, Size};

fn entry(path: Vec<u8>, kind: Kind) -> Entry {
    Entry {
        at: Location::Index(0),
        path,
        kind,
        mode: None,
        uid: None,
        gid: None,
        mtime: None,
        atime: None,
        ctime: None,
        xattrs: Vec::new(),
    }
}

fn big_dir(n: usize, bs: u32) {
    let mut entries = vec![entry(b"/many".to_vec(), Kind::Dir)];
    for i in 0..n {
        // Names of varying length so leaves hold different numbers of records.
        let name = format!("/many/entry-{i:06}{}", "x".repeat(i % 37));
        let kind =
            if i % 1000 == 0 { Kind::Dir } else { Kind::File(FileContent { size: Some(0), ..FileContent::default() }) };
        entries.push(entry(name.into_bytes(), kind));
    }
    let case =
        Case { manifest: Manifest { entries }, opts: Options { block_size: bs, ..opts() }, staging: None, store: None };
    let built = build(&case).unwrap();
    // Every name is listed by debugfs (checked in full); a sample is looked up by path, which
    // goes through the hash index in ext4-view and the kernel.
    verify_some(&built, &case, &|p| !p.starts_with(b"/many/") || p.ends_with(b"7") || p.ends_with(b"000"));
}

#[test]
fn directory_with_100000_entries() {
    big_dir(100_000, 4096);
}

#[test]
fn directory_with_20000_entries_1k_blocks() {
    big_dir(20_000, 1024);
}

#[test]
fn deep_tree_with_long_names() {
    let mut entries = Vec::new();
    let mut path = Vec::new();
    for depth in 0..120 {
        path.extend_from_slice(format!("/{depth:03}-{}", "d".repeat(25)).as_bytes());
        entries.push(entry(path.clone(), Kind::Dir));
        let mut f = path.clone();
        f.extend_from_slice(b"/file");
        entries.push(entry(
            f,
            Kind::File(FileContent { data: Some(format!("depth {depth}").into_bytes()), ..FileContent::default() }),
        ));
    }
    let case = Case { manifest: Manifest { entries }, opts: opts(), staging: None, store: None };
    let built = build(&case).unwrap();
    verify_some(&built, &case, &|_| true);
}

fn huge_sparse(o: Options) {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    let len = (5u64 << 30) + 3;
    let f = fs::File::create(staging.join("huge")).unwrap();
    f.set_len(len).unwrap();
    f.write_all_at(b"HEAD", 0).unwrap();
    f.write_all_at(b"MIDDLE beyond 4 GiB", (4 << 30) + 1234).unwrap();
    f.write_all_at(b"TAIL", len - 4).unwrap();
    drop(f);
    let entries = vec![
        entry(b"/huge".to_vec(), Kind::File(FileContent { src: Some(b"huge".to_vec()), ..FileContent::default() })),
        entry(b"/zeros".to_vec(), Kind::File(FileContent { size: Some(10 << 30), ..FileContent::default() })),
    ];
    let case = Case { manifest: Manifest { entries }, opts: o, staging: Some(staging), store: None };
    let built = build(&case).unwrap();
    assert_eq!(built.report.file_bytes, len + (10 << 30));
    verify_some(&built, &case, &|_| true);
}

#[test]
fn file_above_4gib_sparse_ext4() {
    huge_sparse(opts());
}

#[test]
fn file_above_4gib_sparse_ext2_block_maps() {
    let f = Features::for_type(FsType::Ext2);
    huge_sparse(Options { features: f, size: Size::Fixed(64 << 20), ..opts() });
}
