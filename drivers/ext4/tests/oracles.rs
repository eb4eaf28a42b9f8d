//! Hand-written manifests covering every entry kind and option, read back by e2fsck, debugfs,
//! ext4-view and (as root) the kernel.

mod support;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use support::{Case, build, opts, verify_all};
use yoe_ext4::format::Timestamp;
use yoe_ext4::manifest::{Format, Manifest};
use yoe_ext4::options::{Features, FsType};
use yoe_ext4::{Inodes, Options, Size};

/// A staging tree and store with files of interesting shapes.
fn fixtures(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let staging = root.join("staging");
    let store = root.join("store");
    fs::create_dir_all(staging.join("bin")).unwrap();
    fs::create_dir_all(&store).unwrap();
    let pattern =
        |n: usize, seed: u8| -> Vec<u8> { (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1).collect() };
    fs::write(staging.join("bin/tool"), pattern(300_000, 1)).unwrap();
    fs::write(staging.join("one-block"), pattern(4096, 2)).unwrap();
    fs::write(staging.join("empty"), b"").unwrap();
    // Content found at the entry's own path (no `src`): big enough that a size estimate that
    // forgot it would not fit.
    fs::write(staging.join("default-path"), pattern(6 << 20, 6)).unwrap();
    // Zero blocks in the middle and at the end: they become holes.
    let mut holes = pattern(70_000, 3);
    holes[8192..40960].fill(0);
    holes.extend(std::iter::repeat_n(0u8, 20_000));
    fs::write(staging.join("holes"), holes).unwrap();
    // A sparse source file above the SEEK_DATA threshold.
    let f = fs::File::create(staging.join("sparse-src")).unwrap();
    f.set_len(3 << 20).unwrap();
    f.write_all_at(b"start", 0).unwrap();
    f.write_all_at(&pattern(10_000, 4), 2 << 20).unwrap();
    let stored = pattern(123_457, 5);
    let hash = support::sha256(&stored);
    fs::write(store.join(hash.iter().map(|b| format!("{b:02x}")).collect::<String>()), &stored).unwrap();
    (staging, store)
}

fn every_kind_manifest(store_hash: &str) -> Manifest {
    let long_name = "n".repeat(255);
    let target60 = "t".repeat(60);
    let target59 = "u".repeat(59);
    let target_long = "/very/long/".repeat(80);
    let acl = "hex:02000000010006000000000002000400e803000004000400ffffffff10000400ffffffff20000400ffffffff";
    let big_value = format!("hex:{}", "ab".repeat(700));
    let text = format!(
        "dir / mode=0755 mtime=1600000000
dir /bin mode=0750 uid=100000 gid=70000 mtime=1000000000.25
file /bin/tool src=bin/tool mode=4755 mtime=1700000000.123456789 atime=1 ctime=2 xattr.security.capability=hex:0100000200000000000000000000000000000000
hardlink /bin/tool2 target=/bin/tool
hardlink /bin/tool3 target=/bin/tool2
file /bin/stored sha256={store_hash} mode=0555
file /bin/inline content=text:hello\\x20world mode=0600 xattr.user.note=text:small xattr.user.big={big_value}
file /bin/empty src=empty
file /default-path mode=0640
file /bin/one src=one-block
file /bin/holes src=holes
file /bin/sparse-src src=sparse-src
file /bin/zeros size=123456789
symlink /bin/fast target={target59}
symlink /bin/slow target={target60}
symlink /bin/longest target={target_long}
dir /dev mode=1777 mtime=2147483647.999999999
file /time-before-1970 content=text:a mtime=-1.5 ctime=-2147483648
file /time-after-2038 content=text:b mtime=10737418239.999999999 atime=2147483648
char /dev/console dev=5:1 mode=0620 gid=5
char /dev/big dev=4095:1048575
block /dev/sda dev=8:0 mode=2660 gid=6
fifo /dev/initctl mode=0600
socket /dev/log mode=0666
dir /acl mode=0770 xattr.system.posix_acl_access={acl} xattr.system.posix_acl_default={acl}
file /{long_name} content=hex:00ff00
file /odd\\xff\\x01name content=text:x
file /with\\x20space content=text:y
dir /empty-dir
"
    );
    Manifest::parse(text.as_bytes(), Format::Lines).unwrap()
}

fn every_kind_case(root: &Path, o: Options) -> Case {
    let (staging, store) = fixtures(root);
    let stored: Vec<u8> = (0..123_457usize).map(|i| (i as u8).wrapping_mul(31).wrapping_add(5) | 1).collect();
    let hash: String = support::sha256(&stored).iter().map(|b| format!("{b:02x}")).collect();
    Case { manifest: every_kind_manifest(&hash), opts: o, staging: Some(staging), store: Some(store) }
}

fn with_type(t: FsType, features: &str, bs: u32) -> Options {
    let mut f = Features::for_type(t);
    f.apply(features).unwrap();
    Options { block_size: bs, features: f, ..opts() }
}

#[test]
fn every_kind_ext4_4k() {
    let dir = tempfile::tempdir().unwrap();
    let case = every_kind_case(dir.path(), opts());
    let built = build(&case).unwrap();
    verify_all(&built, &case);
}

#[test]
fn every_kind_ext4_1k() {
    let dir = tempfile::tempdir().unwrap();
    let case = every_kind_case(dir.path(), with_type(FsType::Ext4, "", 1024));
    let built = build(&case).unwrap();
    verify_all(&built, &case);
}

#[test]
fn every_kind_ext4_2k_without_journal_or_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let case = every_kind_case(dir.path(), with_type(FsType::Ext4, "^has_journal,^metadata_csum,^flex_bg", 2048));
    let built = build(&case).unwrap();
    verify_all(&built, &case);
}

#[test]
fn every_kind_ext2_1k() {
    let dir = tempfile::tempdir().unwrap();
    let case = every_kind_case(dir.path(), with_type(FsType::Ext2, "", 1024));
    let built = build(&case).unwrap();
    verify_all(&built, &case);
}

#[test]
fn every_kind_ext3_4k_with_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let case =
        every_kind_case(dir.path(), with_type(FsType::Ext3, "metadata_csum,dir_nlink,extra_isize,huge_file", 4096));
    let built = build(&case).unwrap();
    verify_all(&built, &case);
}

#[test]
fn fixed_size_many_groups_and_explicit_ids() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        size: Size::Fixed(300 << 20),
        block_size: 1024,
        inodes: Inodes::Count(5000),
        label: b"rootfs".to_vec(),
        uuid: Some(yoe_ext4::options::parse_uuid("01234567-89ab-cdef-0123-456789abcdef").unwrap()),
        hash_seed: Some([7; 16]),
        reserved_percent: 0,
        journal_blocks: Some(4096),
        ..opts()
    };
    let case = every_kind_case(dir.path(), o);
    let built = build(&case).unwrap();
    assert_eq!(built.report.uuid, "01234567-89ab-cdef-0123-456789abcdef");
    assert_eq!(fs::metadata(&built.img).unwrap().len(), 300 << 20);
    let dumpe2fs = std::process::Command::new("dumpe2fs").arg("-h").arg(&built.img).output().unwrap();
    let text = String::from_utf8_lossy(&dumpe2fs.stdout);
    assert!(text.contains("Filesystem volume name:   rootfs"), "{text}");
    assert!(text.contains("Reserved block count:     0"), "{text}");
    assert!(
        text.contains("Journal size:             4096k") || text.contains("Total journal size:       4096k"),
        "{text}"
    );
    verify_all(&built, &case);
}

#[test]
fn same_input_gives_the_same_bytes_in_any_entry_order() {
    let dir = tempfile::tempdir().unwrap();
    let case = every_kind_case(dir.path(), opts());
    let a = build(&case).unwrap();
    let b = build(&case).unwrap();
    assert!(fs::read(&a.img).unwrap() == fs::read(&b.img).unwrap(), "second write differs");
    let mut reversed = case.manifest.clone();
    reversed.entries.reverse();
    let case_r =
        Case { manifest: reversed, opts: case.opts.clone(), staging: case.staging.clone(), store: case.store.clone() };
    let c = build(&case_r).unwrap();
    assert!(fs::read(&a.img).unwrap() == fs::read(&c.img).unwrap(), "entry order changed the image");
    // A different time changes the UUID.
    let case_t =
        Case { opts: Options { default_time: Timestamp { secs: 5, nanos: 0 }, ..case.opts.clone() }, ..case_r };
    let d = build(&case_t).unwrap();
    assert_ne!(a.report.uuid, d.report.uuid);
}

/// Files with a hole in every other block: thousands of extents (extent trees two levels
/// deep with 1 KiB blocks) or indirect blocks, and data that crosses the superblock copies
/// and metadata of several groups.
fn fragmented(o: Options) {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    let bs = o.block_size as usize;
    let mut frag = vec![0u8; 3000 * bs];
    for (i, b) in frag.chunks_mut(bs).enumerate() {
        if i % 2 == 0 {
            b.fill((i % 251) as u8 | 1);
        }
    }
    fs::write(staging.join("frag"), &frag).unwrap();
    let long: Vec<u8> = (0..(40usize << 20)).map(|i| (i / 4096) as u8 | 1).collect();
    fs::write(staging.join("long"), &long).unwrap();
    let m = Manifest::parse(b"file /frag src=frag\nfile /long src=long\n", Format::Lines).unwrap();
    let case = Case { manifest: m, opts: o, staging: Some(staging), store: None };
    let built = build(&case).unwrap();
    verify_all(&built, &case);
}

#[test]
fn fragmented_files_1k_extents() {
    fragmented(with_type(FsType::Ext4, "", 1024));
}

#[test]
fn fragmented_files_4k_extents() {
    fragmented(opts());
}

#[test]
fn fragmented_files_1k_block_maps() {
    fragmented(with_type(FsType::Ext2, "", 1024));
}

/// Two names with the same directory hash, placed so that one ends a leaf and the other
/// starts the next: the index entry of the second leaf must carry the collision bit, or
/// the kernel cannot find the first name.
#[test]
fn hash_collision_across_a_leaf_boundary() {
    use yoe_ext4::format::hash::half_md4_signed;
    let seed_bytes = [0x5a_u8; 16];
    let seed = [u32::from_le_bytes([0x5a; 4]); 4];
    let mut by_hash = std::collections::HashMap::new();
    let mut pool = Vec::new();
    let mut pair = None;
    for i in 0..2_000_000u32 {
        let name = format!("x{i:07}").into_bytes();
        let (h, _) = half_md4_signed(&name, &seed);
        if let Some(other) = by_hash.insert(h, name.clone()) {
            pair = Some((h, other, name));
            break;
        }
        pool.push((h, name));
    }
    let (h, a, b) = pair.expect("a collision among 2 million names");
    // 8-byte names take 16-byte records; a 4 KiB leaf with its checksum tail holds 255.
    let per_leaf = (4096 - 12) / 16;
    let below: Vec<&Vec<u8>> =
        pool.iter().filter(|(x, n)| *x < h && *n != a).map(|(_, n)| n).take(per_leaf - 1).collect();
    let above: Vec<&Vec<u8>> = pool.iter().filter(|(x, _)| *x > h).map(|(_, n)| n).take(300).collect();
    assert_eq!(below.len(), per_leaf - 1);
    let mut text = String::from("dir /d\n");
    for n in below.iter().chain(above.iter()).copied().chain([&a, &b]) {
        text.push_str(&format!("file /d/{} size=0\n", String::from_utf8_lossy(n)));
    }
    let m = Manifest::parse(text.as_bytes(), Format::Lines).unwrap();
    let case =
        Case { manifest: m, opts: Options { hash_seed: Some(seed_bytes), ..opts() }, staging: None, store: None };
    let built = build(&case).unwrap();
    // The index must really put the pair on both sides of a boundary: debugfs htree_dump
    // shows the leaf keys; the second leaf's key is the collision hash with bit 0 set.
    let dump = support::debugfs(&built.img, &["htree_dump /d".to_string()]);
    let text = String::from_utf8_lossy(&dump[0]);
    assert!(text.contains(&format!("0x{:08x}", h | 1)), "no continuation key 0x{:08x} in\n{text}", h | 1);
    // ext4-view 1.0 looks in one leaf only and so cannot find the first name; debugfs reads
    // every entry, and the kernel's lookup of the first name depends on the collision bit.
    let exp = support::expected(&case);
    support::verify_debugfs(&built.img, &exp, &|_| true);
    support::verify_mount(&built.img, &exp, &|p: &[u8]| p.ends_with(&a) || p.ends_with(&b) || p == b"/d");
}
