//! Test support: builds images through one helper that always runs `e2fsck -fn`, computes
//! what every manifest entry should look like (independently of the writer's own tree code),
//! and checks images with oracles we did not write: debugfs, ext4-view and the kernel.
#![allow(dead_code, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use yoe_ext4::format::Timestamp;
use yoe_ext4::manifest::{FileContent, Kind, Manifest};
use yoe_ext4::{ImageError, Options, Report, Sources, write_image};

/// Everything a test needs to write one image.
pub struct Case {
    pub manifest: Manifest,
    pub opts: Options,
    pub staging: Option<PathBuf>,
    pub store: Option<PathBuf>,
}

/// A written image (in its own temporary directory).
pub struct Built {
    pub dir: tempfile::TempDir,
    pub img: PathBuf,
    pub report: Report,
}

/// Write the image for `case` and, if that succeeded, require `e2fsck -fn` to find it clean.
/// Every image any test writes goes through here.
pub fn build(case: &Case) -> Result<Built, ImageError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("fs.img");
    let report = build_at(case, &img)?;
    Ok(Built { dir, img, report })
}

/// Like `build`, to a given path (which must not yet hold a valid image).
pub fn build_at(case: &Case, img: &Path) -> Result<Report, ImageError> {
    let sources = Sources::new(case.staging.as_deref(), case.store.as_deref()).expect("sources");
    let report = write_image(&case.manifest, &sources, &case.opts, img)?;
    fsck(img);
    Ok(report)
}

/// `e2fsck -fn` must exit 0 and print nothing but its five pass lines and the summary.
pub fn fsck(img: &Path) {
    let out = Command::new("e2fsck").arg("-fn").arg(img).output().expect("run e2fsck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let odd: Vec<&str> =
        stdout.lines().filter(|l| !l.starts_with("Pass ") && !l.contains(" files (") && !l.trim().is_empty()).collect();
    assert!(
        out.status.code() == Some(0) && odd.is_empty(),
        "e2fsck -fn {} failed ({:?}):\n{}\n{}",
        img.display(),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Expected file content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// All zeros of this size (never read in full by the checks).
    Zeros(u64),
    /// Zeros of this size except for the given (offset, bytes) pieces; checked piecewise.
    Sparse(u64, Vec<(u64, Vec<u8>)>),
}

impl Content {
    pub fn size(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Zeros(n) | Content::Sparse(n, _) => *n,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpKind {
    Dir(BTreeSet<Vec<u8>>),
    File(Content),
    Symlink(Vec<u8>),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    Socket,
}

impl ExpKind {
    pub fn type_bits(&self) -> u32 {
        match self {
            ExpKind::Dir(_) => 0o040000,
            ExpKind::File(_) => 0o100000,
            ExpKind::Symlink(_) => 0o120000,
            ExpKind::Char(..) => 0o020000,
            ExpKind::Block(..) => 0o060000,
            ExpKind::Fifo => 0o010000,
            ExpKind::Socket => 0o140000,
        }
    }
}

/// What one path should look like in the image.
#[derive(Clone, Debug)]
pub struct Exp {
    pub kind: ExpKind,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timestamp,
    pub atime: Timestamp,
    pub ctime: Timestamp,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    pub nlink: u32,
    /// The path whose inode this path shares (itself unless it is a hard link).
    pub inode_of: Vec<u8>,
}

fn norm(p: &[u8]) -> Vec<u8> {
    let p = p.strip_prefix(b"/").unwrap_or(p);
    let mut v = b"/".to_vec();
    v.extend_from_slice(p);
    if v.len() > 1 && v.ends_with(b"/") {
        v.pop();
    }
    v
}

fn parent(p: &[u8]) -> Vec<u8> {
    match p.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/".to_vec(),
        Some(i) => p[..i].to_vec(),
    }
}

fn name(p: &[u8]) -> Vec<u8> {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => p[i + 1..].to_vec(),
        None => p.to_vec(),
    }
}

fn read_content(case: &Case, c: &FileContent, path: &[u8]) -> Content {
    if let Some(d) = &c.data {
        return Content::Bytes(d.clone());
    }
    let file = if let Some(src) = &c.src {
        case.staging
            .as_ref()
            .expect("staging")
            .join(Path::new(std::ffi::OsStr::from_bytes(src.strip_prefix(b"/").unwrap_or(src))))
    } else if let Some(h) = &c.sha256 {
        case.store.as_ref().expect("store").join(h.iter().map(|b| format!("{b:02x}")).collect::<String>())
    } else if let Some(n) = c.size {
        return Content::Zeros(n);
    } else {
        case.staging.as_ref().expect("staging").join(Path::new(std::ffi::OsStr::from_bytes(&path[1..])))
    };
    let len = fs::metadata(&file).unwrap_or_else(|e| panic!("stat {}: {e}", file.display())).len();
    if len > 64 << 20 {
        return sparse_content(&file, len);
    }
    Content::Bytes(fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display())))
}

/// A big source file as its data regions (found with SEEK_DATA / SEEK_HOLE).
fn sparse_content(file: &Path, len: u64) -> Content {
    let f = fs::File::open(file).expect("open");
    let mut pieces = Vec::new();
    let mut off = 0;
    while off < len {
        let Ok(d) = rustix::fs::seek(&f, rustix::fs::SeekFrom::Data(off)) else {
            break;
        };
        let h = rustix::fs::seek(&f, rustix::fs::SeekFrom::Hole(d)).expect("seek hole").min(len);
        assert!(h - d <= 16 << 20, "test files keep their data regions small");
        let mut buf = vec![0u8; (h - d) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, d).expect("read");
        pieces.push((d, buf));
        off = h;
    }
    Content::Sparse(len, pieces)
}

/// The expected image contents of a case, computed from the manifest alone.
pub fn expected(case: &Case) -> BTreeMap<Vec<u8>, Exp> {
    let t = case.opts.default_time;
    let mut exp: BTreeMap<Vec<u8>, Exp> = BTreeMap::new();
    let mut links: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let dir = |perm| Exp {
        kind: ExpKind::Dir(BTreeSet::new()),
        perm,
        uid: 0,
        gid: 0,
        mtime: t,
        atime: t,
        ctime: t,
        xattrs: BTreeMap::new(),
        nlink: 0,
        inode_of: Vec::new(),
    };
    for e in &case.manifest.entries {
        let p = norm(&e.path);
        let (kind, perm) = match &e.kind {
            Kind::Dir => (ExpKind::Dir(BTreeSet::new()), 0o755),
            Kind::File(c) => (ExpKind::File(read_content(case, c, &p)), 0o644),
            Kind::Symlink { target } => (ExpKind::Symlink(target.clone()), 0o777),
            Kind::CharDev { major, minor } => (ExpKind::Char(*major, *minor), 0o600),
            Kind::BlockDev { major, minor } => (ExpKind::Block(*major, *minor), 0o600),
            Kind::Fifo => (ExpKind::Fifo, 0o600),
            Kind::Socket => (ExpKind::Socket, 0o600),
            Kind::HardLink { target } => {
                links.push((p, norm(target)));
                continue;
            }
        };
        let mtime = e.mtime.unwrap_or(t);
        exp.insert(
            p.clone(),
            Exp {
                kind,
                perm: u32::from(e.mode.unwrap_or(perm)),
                uid: e.uid.unwrap_or(0),
                gid: e.gid.unwrap_or(0),
                mtime,
                atime: e.atime.unwrap_or(mtime),
                ctime: e.ctime.unwrap_or(mtime),
                xattrs: e.xattrs.iter().cloned().collect(),
                nlink: 1,
                inode_of: p,
            },
        );
    }
    exp.entry(b"/".to_vec()).or_insert_with(|| dir(0o755)).inode_of = b"/".to_vec();
    if !exp.contains_key(b"/lost+found".as_slice()) && !links.iter().any(|l| l.0 == b"/lost+found") {
        let mut d = dir(0o700);
        d.inode_of = b"/lost+found".to_vec();
        exp.insert(b"/lost+found".to_vec(), d);
    }
    // Hard links share the (final) target's inode.
    for (p, mut target) in links.clone() {
        for _ in 0..=links.len() {
            match links.iter().find(|l| l.0 == target) {
                Some(l) => target = l.1.clone(),
                None => break,
            }
        }
        let mut e = exp[&target].clone();
        e.inode_of = target.clone();
        exp.insert(p, e);
    }
    // Children and link counts.
    let paths: Vec<Vec<u8>> = exp.keys().cloned().collect();
    for p in &paths {
        if p.as_slice() == b"/" {
            continue;
        }
        let par = parent(p);
        if let Some(ExpKind::Dir(children)) = exp.get_mut(&par).map(|e| &mut e.kind) {
            children.insert(name(p));
        }
    }
    let mut counts: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for p in &paths {
        let e = &exp[p];
        match &e.kind {
            ExpKind::Dir(children) => {
                let subdirs = children
                    .iter()
                    .filter(|c| {
                        let mut cp = if p.as_slice() == b"/" { Vec::new() } else { p.clone() };
                        cp.push(b'/');
                        cp.extend_from_slice(c);
                        matches!(exp[&cp].kind, ExpKind::Dir(_))
                    })
                    .count() as u32;
                counts.insert(p.clone(), 2 + subdirs);
            }
            _ => *counts.entry(e.inode_of.clone()).or_insert(0) += 1,
        }
    }
    for p in &paths {
        let of = exp[p].inode_of.clone();
        let n = counts[&of];
        exp.get_mut(p).expect("path").nlink = if n > 65000 { 1 } else { n };
    }
    exp
}

fn join(dir: &[u8], n: &[u8]) -> Vec<u8> {
    let mut p = if dir == b"/" { Vec::new() } else { dir.to_vec() };
    p.push(b'/');
    p.extend_from_slice(n);
    p
}

/// Runs a batch of debugfs commands; returns each command's output, in order.
pub fn debugfs(img: &Path, cmds: &[String]) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("cmds");
    fs::write(&f, cmds.join("\n") + "\n").expect("write cmds");
    let out = Command::new("debugfs").arg("-f").arg(&f).arg(img).output().expect("run debugfs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let bad: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("debugfs ")).collect();
    assert!(out.status.success() && bad.is_empty(), "debugfs failed: {stderr}");
    let mut sections: Vec<Vec<u8>> = Vec::new();
    for line in out.stdout.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"debugfs: ") {
            sections.push(Vec::new());
        } else if let Some(s) = sections.last_mut() {
            s.extend_from_slice(line);
        }
    }
    assert_eq!(sections.len(), cmds.len(), "debugfs output sections");
    sections
}

/// Parsed `stat` output.
#[derive(Debug, Default)]
struct Stat {
    ftype: String,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    links: u32,
    blockcount: u64,
    file_acl: u64,
    times: BTreeMap<String, Timestamp>,
    device: Option<(u32, u32)>,
    fast_link: Option<Vec<u8>>,
}

fn after<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    s.split_once(key).map(|(_, r)| r.split_whitespace().next().unwrap_or(""))
}

fn parse_stat(out: &[u8]) -> Stat {
    let text = String::from_utf8_lossy(out);
    let mut st = Stat::default();
    for line in text.lines() {
        if line.starts_with("Inode:") {
            st.ftype = line.split("Type:").nth(1).and_then(|r| r.split("Mode:").next()).unwrap_or("").trim().to_owned();
            st.mode = u32::from_str_radix(after(line, "Mode:").unwrap_or("x"), 8).expect("mode");
        } else if line.starts_with("User:") {
            // debugfs prints ids with %d, so ids above 2^31 come out negative.
            st.uid = after(line, "User:").unwrap_or("").parse::<i64>().expect("uid") as u32;
            st.gid = after(line, "Group:").unwrap_or("").parse::<i64>().expect("gid") as u32;
            st.size = after(line, "Size:").unwrap_or("").parse().expect("size");
        } else if let Some(r) = line.strip_prefix("File ACL: ") {
            st.file_acl = r.split_whitespace().next().unwrap_or("").parse().expect("file acl");
        } else if line.starts_with("Links:") {
            st.links = after(line, "Links:").unwrap_or("").parse().expect("links");
            st.blockcount = after(line, "Blockcount:").unwrap_or("").parse().expect("blockcount");
        } else if let Some((k, rest)) = line.trim_start().split_once("time: 0x") {
            let hex = rest.split_whitespace().next().unwrap_or("");
            let (base, extra) = hex.split_once(":0x").or_else(|| hex.split_once(':')).expect("time");
            let base = u32::from_str_radix(base, 16).expect("time base") as i32;
            let extra = u32::from_str_radix(extra.trim_start_matches("0x"), 16).expect("time extra");
            let secs = i64::from(base) + (i64::from(extra & 3) << 32);
            st.times.insert(format!("{}time", k.trim()), Timestamp { secs, nanos: extra >> 2 });
        } else if let Some(r) = line
            .strip_prefix("Device major/minor number: ")
            .or_else(|| line.strip_prefix("(New-style) Device major/minor number: "))
        {
            let d = r.split_whitespace().next().unwrap_or("");
            let (a, b) = d.split_once(':').expect("device");
            st.device = Some((a.parse().expect("major"), b.parse().expect("minor")));
        }
    }
    if let Some(i) = find(out, b"Fast link dest: \"") {
        let rest = &out[i + 17..];
        let end = rest.iter().rposition(|&b| b == b'"').expect("link end");
        st.fast_link = Some(rest[..end].to_vec());
    }
    st
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Walk the image with debugfs `ls -p` from the root and return path -> (ino, ls mode).
pub fn debugfs_tree(img: &Path, exp: &BTreeMap<Vec<u8>, Exp>) -> BTreeMap<Vec<u8>, (u32, u32)> {
    let mut found: BTreeMap<Vec<u8>, (u32, u32)> = BTreeMap::new();
    found.insert(b"/".to_vec(), (2, 0o040000 | exp[b"/".as_slice()].perm));
    let mut level = vec![(b"/".to_vec(), 2u32, 2u32)];
    while !level.is_empty() {
        let cmds: Vec<String> = level.iter().map(|(_, ino, _)| format!("ls -p <{ino}>")).collect();
        let outs = debugfs(img, &cmds);
        let mut next = Vec::new();
        for ((dir, ino, parent_ino), out) in level.iter().zip(outs) {
            let mut names = BTreeSet::new();
            for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let f: Vec<&[u8]> = line.split(|&b| b == b'/').collect();
                assert!(f.len() >= 7, "ls -p line {:?}", String::from_utf8_lossy(line));
                let cino: u32 = std::str::from_utf8(f[1]).expect("ino").parse().expect("ino");
                let mode = u32::from_str_radix(std::str::from_utf8(f[2]).expect("mode"), 8).expect("mode");
                let n = f[5].to_vec();
                if cino == 0 {
                    // Unused records (e.g. the pre-sized blocks of lost+found).
                    continue;
                }
                if n == b"." {
                    assert_eq!(cino, *ino, "`.` of {}", String::from_utf8_lossy(dir));
                    continue;
                }
                if n == b".." {
                    assert_eq!(cino, *parent_ino, "`..` of {}", String::from_utf8_lossy(dir));
                    continue;
                }
                assert!(names.insert(n.clone()), "duplicate name in {}", String::from_utf8_lossy(dir));
                let p = join(dir, &n);
                if mode & 0o170000 == 0o040000 {
                    next.push((p.clone(), cino, *ino));
                }
                found.insert(p, (cino, mode));
            }
            let ExpKind::Dir(want) = &exp[dir].kind else { panic!("not a dir") };
            assert_eq!(&names, want, "names in {}", String::from_utf8_lossy(dir));
        }
        level = next;
    }
    found
}

/// Read back every entry with debugfs: stat, ls -l (via ls -p), ea_list, ea_get, dump.
pub fn verify_debugfs(img: &Path, exp: &BTreeMap<Vec<u8>, Exp>, pick: &dyn Fn(&[u8]) -> bool) {
    let tree = debugfs_tree(img, exp);
    assert_eq!(tree.keys().collect::<Vec<_>>(), exp.keys().collect::<Vec<_>>(), "paths");
    let dump = tempfile::tempdir().expect("tempdir");
    let mut cmds = Vec::new();
    let mut what = Vec::new();
    let bs = block_size(img);
    for (p, e) in exp.iter().filter(|(p, _)| pick(p)) {
        let (ino, mode) = tree[p];
        assert_eq!(mode, e.kind.type_bits() | e.perm, "ls mode of {}", String::from_utf8_lossy(p));
        assert_eq!(
            ino,
            tree[&e.inode_of].0,
            "{} shares the inode of {}",
            String::from_utf8_lossy(p),
            String::from_utf8_lossy(&e.inode_of)
        );
        cmds.push(format!("stat <{ino}>"));
        what.push((p.clone(), "stat".to_string()));
        cmds.push(format!("ea_list <{ino}>"));
        what.push((p.clone(), "ea_list".to_string()));
        for (k, name) in e.xattrs.keys().enumerate() {
            let f = dump.path().join(format!("x{ino}-{k}"));
            cmds.push(format!("ea_get -f {} <{ino}> {}", f.display(), String::from_utf8_lossy(name)));
            what.push((p.clone(), format!("xattr {k}")));
        }
        let dumpable = match &e.kind {
            ExpKind::File(Content::Bytes(_)) => true,
            ExpKind::Symlink(t) => t.len() >= 60,
            _ => false,
        };
        if dumpable {
            cmds.push(format!("dump <{ino}> {}", dump.path().join(format!("d{ino}")).display()));
            what.push((p.clone(), "dump".to_string()));
        }
        if let ExpKind::File(Content::Sparse(_, pieces)) = &e.kind {
            for (off, bytes) in pieces {
                for lblk in off / bs..(off + bytes.len() as u64).div_ceil(bs) {
                    cmds.push(format!("bmap <{ino}> {lblk}"));
                    what.push((p.clone(), format!("bmap {lblk}")));
                }
            }
        }
    }
    let outs = debugfs(img, &cmds);
    for ((p, w), out) in what.iter().zip(outs) {
        let e = &exp[p];
        let shown = String::from_utf8_lossy(p).into_owned();
        let ino = tree[p].0;
        match w.as_str() {
            "stat" => {
                let st = parse_stat(&out);
                let want_type = match e.kind {
                    ExpKind::Dir(_) => "directory",
                    ExpKind::File(_) => "regular",
                    ExpKind::Symlink(_) => "symlink",
                    ExpKind::Char(..) => "character special",
                    ExpKind::Block(..) => "block special",
                    ExpKind::Fifo => "FIFO",
                    ExpKind::Socket => "socket",
                };
                assert_eq!(st.ftype, want_type, "type of {shown}");
                assert_eq!(st.mode, e.perm, "mode of {shown}");
                assert_eq!((st.uid, st.gid), (e.uid, e.gid), "owner of {shown}");
                assert_eq!(st.links, e.nlink, "links of {shown}");
                assert_eq!(st.times.get("mtime"), Some(&e.mtime), "mtime of {shown}");
                assert_eq!(st.times.get("atime"), Some(&e.atime), "atime of {shown}");
                assert_eq!(st.times.get("ctime"), Some(&e.ctime), "ctime of {shown}");
                match &e.kind {
                    ExpKind::File(c) => {
                        assert_eq!(st.size, c.size(), "size of {shown}");
                        if let Content::Zeros(_) = c {
                            // No data blocks; only an xattr block, if there is one.
                            let xattr_sectors = if st.file_acl != 0 { bs / 512 } else { 0 };
                            assert_eq!(st.blockcount, xattr_sectors, "sparse {shown} has no data blocks");
                        }
                    }
                    ExpKind::Symlink(t) => {
                        assert_eq!(st.size, t.len() as u64, "size of {shown}");
                        if t.len() < 60 {
                            assert_eq!(st.fast_link.as_deref(), Some(t.as_slice()), "target of {shown}");
                        }
                    }
                    ExpKind::Char(a, b) | ExpKind::Block(a, b) => {
                        assert_eq!(st.device, Some((*a, *b)), "device of {shown}")
                    }
                    _ => {}
                }
            }
            "ea_list" => {
                let text = String::from_utf8_lossy(&out);
                let listed: BTreeSet<String> = text
                    .lines()
                    .skip_while(|l| !l.starts_with("Extended attributes:"))
                    .skip(1)
                    .filter_map(|l| l.trim_start().split(" (").next().map(str::to_owned))
                    .collect();
                let want: BTreeSet<String> = e.xattrs.keys().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
                assert_eq!(listed, want, "xattr names of {shown}");
            }
            x if x.starts_with("bmap ") => {
                let lblk: u64 = x[5..].parse().expect("lblk");
                let pblk: u64 = String::from_utf8_lossy(&out).trim().parse().expect("bmap output");
                assert_ne!(pblk, 0, "{shown}: logical block {lblk} holds data but is a hole");
                let mut blk = vec![0u8; bs as usize];
                fs::File::open(img)
                    .and_then(|f| std::os::unix::fs::FileExt::read_exact_at(&f, &mut blk, pblk * bs))
                    .expect("read image");
                let ExpKind::File(Content::Sparse(_, pieces)) = &e.kind else { unreachable!() };
                for (off, bytes) in pieces {
                    for (i, b) in bytes.iter().enumerate() {
                        let at = off + i as u64;
                        if at / bs == lblk {
                            assert_eq!(blk[(at % bs) as usize], *b, "{shown}: byte {at}");
                        }
                    }
                }
            }
            "dump" => {
                let got = fs::read(dump.path().join(format!("d{ino}"))).expect("dumped file");
                match &e.kind {
                    ExpKind::File(Content::Bytes(b)) => {
                        assert!(got == *b, "content of {shown} ({} vs {} bytes)", got.len(), b.len())
                    }
                    ExpKind::Symlink(t) => assert_eq!(&got, t, "target of {shown}"),
                    _ => unreachable!(),
                }
            }
            x => {
                let k: usize = x.trim_start_matches("xattr ").parse().expect("index");
                let (name, value) = e.xattrs.iter().nth(k).expect("xattr");
                let got = fs::read(dump.path().join(format!("x{ino}-{k}"))).expect("ea_get output");
                assert_eq!(
                    acl_canon(name, &got),
                    acl_canon(name, value),
                    "xattr {} of {shown}",
                    String::from_utf8_lossy(name)
                );
            }
        }
    }
}

/// Block size of an image, from its superblock.
pub fn block_size(img: &Path) -> u64 {
    let mut sb = [0u8; 4];
    fs::File::open(img)
        .and_then(|f| std::os::unix::fs::FileExt::read_exact_at(&f, &mut sb, 1024 + 0x18))
        .expect("read superblock");
    1024 << u32::from_le_bytes(sb)
}

/// Read back every entry with ext4-view (an independent Rust reader).
pub fn verify_ext4_view(img: &Path, exp: &BTreeMap<Vec<u8>, Exp>, block_maps: bool, pick: &dyn Fn(&[u8]) -> bool) {
    let fs = ext4_view::Ext4::load_from_path(img).expect("ext4-view loads the image");
    for (p, e) in exp.iter().filter(|(p, _)| pick(p)) {
        let shown = String::from_utf8_lossy(p);
        let path = ext4_view::Path::try_from(p.as_slice()).expect("path");
        // ext4-view 1.0 rejects timestamps whose 32-bit base field has the top bit set (before
        // 1970 or after 2038); debugfs and the kernel check those entries.
        let odd = |x: &Exp| [x.mtime, x.atime, x.ctime].iter().any(|t| !(0..=i64::from(i32::MAX)).contains(&t.secs));
        let mut odd_time = odd(e);
        let mut up = p.clone();
        while up.as_slice() != b"/" {
            up = parent(&up);
            odd_time |= odd(&exp[&up]);
        }
        let md = match fs.symlink_metadata(path) {
            Err(err) if odd_time && err.to_string().contains("invalid timestamp") => continue,
            r => r.unwrap_or_else(|err| panic!("ext4-view metadata {shown}: {err}")),
        };
        assert_eq!(u32::from(md.mode()) & 0o7777, e.perm, "ext4-view mode of {shown}");
        assert_eq!((md.uid(), md.gid()), (e.uid, e.gid), "ext4-view owner of {shown}");
        let m = md.modified();
        assert_eq!((m.seconds(), m.nanoseconds()), (e.mtime.secs, e.mtime.nanos), "ext4-view mtime of {shown}");
        let a = md.accessed();
        assert_eq!((a.seconds(), a.nanoseconds()), (e.atime.secs, e.atime.nanos), "ext4-view atime of {shown}");
        match &e.kind {
            ExpKind::Dir(children) => {
                assert!(md.is_dir(), "ext4-view: {shown} is a dir");
                let names: BTreeSet<Vec<u8>> = fs
                    .read_dir(path)
                    .expect("read_dir")
                    .map(|d| d.expect("dir entry").file_name().as_ref().to_vec())
                    .filter(|n| n != b"." && n != b"..")
                    .collect();
                assert_eq!(&names, children, "ext4-view names in {shown}");
            }
            ExpKind::File(c) => {
                assert_eq!(md.len(), c.size(), "ext4-view size of {shown}");
                // ext4-view 1.0 panics on sparse block maps (see above); skip those.
                if let (Content::Sparse(_, pieces), false) = (c, block_maps) {
                    let mut f = fs.open(path).expect("open");
                    for (off, bytes) in pieces {
                        f.seek_to(*off).expect("seek");
                        let mut got = vec![0u8; bytes.len()];
                        let mut n = 0;
                        while n < got.len() {
                            let k = f.read_bytes(&mut got[n..]).expect("read_bytes");
                            assert!(k > 0, "ext4-view: short read of {shown}");
                            n += k;
                        }
                        assert_eq!(&got, bytes, "ext4-view content of {shown} at {off}");
                    }
                }
                if let Content::Bytes(b) = c {
                    match fs.read(path) {
                        // ext4-view 1.0 follows a zero (hole) indirect-block pointer of a block
                        // map as if it were block 0; debugfs and the kernel check these files.
                        Err(err) if block_maps && format!("{err:?}").contains("block_index: 0,") => {}
                        r => assert!(r.expect("read") == *b, "ext4-view content of {shown}"),
                    }
                }
            }
            ExpKind::Symlink(t) => {
                assert!(md.is_symlink(), "ext4-view: {shown} is a symlink");
                let got = fs.read_link(path).expect("read_link");
                assert_eq!(got.as_ref(), t.as_slice(), "ext4-view target of {shown}");
            }
            _ => {}
        }
    }
}

/// Unmounts on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// When running as root and the kernel allows loop mounts: mount read-only and compare the
/// tree. Returns false (after saying why) when it had to skip.
pub fn verify_mount(img: &Path, exp: &BTreeMap<Vec<u8>, Exp>, pick: &dyn Fn(&[u8]) -> bool) -> bool {
    if !rustix::process::geteuid().is_root() {
        println!("skipping loop-mount check: not running as root");
        return false;
    }
    let mnt = tempfile::tempdir().expect("tempdir");
    let out = Command::new("mount")
        .args(["-t", "ext4", "-o", "loop,ro,nosuid,nodev,noexec"])
        .arg(img)
        .arg(mnt.path())
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            println!("skipping loop-mount check: mount failed: {}", String::from_utf8_lossy(&o.stderr).trim());
            return false;
        }
        Err(e) => {
            println!("skipping loop-mount check: cannot run mount: {e}");
            return false;
        }
    }
    let _guard = Mounted(mnt.path().to_owned());
    let mut inos: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    // Picked paths, plus the paths whose inode a picked hard link shares.
    let link_targets: BTreeSet<&[u8]> =
        exp.iter().filter(|(p, _)| pick(p)).map(|(_, e)| e.inode_of.as_slice()).collect();
    for (p, e) in exp.iter().filter(|(p, _)| pick(p) || link_targets.contains(p.as_slice())) {
        let shown = String::from_utf8_lossy(p);
        let host = mnt.path().join(Path::new(std::ffi::OsStr::from_bytes(&p[1..])));
        let md = fs::symlink_metadata(&host).unwrap_or_else(|err| panic!("kernel: stat {shown}: {err}"));
        inos.insert(p.clone(), md.ino());
        assert_eq!(md.mode(), e.kind.type_bits() | e.perm, "kernel mode of {shown}");
        assert_eq!((md.uid(), md.gid()), (e.uid, e.gid), "kernel owner of {shown}");
        assert_eq!(md.nlink(), u64::from(e.nlink), "kernel link count of {shown}");
        assert_eq!((md.mtime(), md.mtime_nsec()), (e.mtime.secs, i64::from(e.mtime.nanos)), "kernel mtime of {shown}");
        assert_eq!((md.ctime(), md.ctime_nsec()), (e.ctime.secs, i64::from(e.ctime.nanos)), "kernel ctime of {shown}");
        match &e.kind {
            ExpKind::Dir(children) => {
                let names: BTreeSet<Vec<u8>> = fs::read_dir(&host)
                    .expect("readdir")
                    .map(|d| d.expect("entry").file_name().as_bytes().to_vec())
                    .collect();
                assert_eq!(&names, children, "kernel names in {shown}");
            }
            ExpKind::File(c) => {
                assert_eq!(md.len(), c.size(), "kernel size of {shown}");
                if let Content::Bytes(b) = c {
                    let got = fs::read(&host).expect("read");
                    assert!(got == *b, "kernel content of {shown}");
                }
                if let Content::Sparse(_, pieces) = c {
                    let f = fs::File::open(&host).expect("open");
                    for (off, bytes) in pieces {
                        let mut got = vec![0u8; bytes.len()];
                        std::os::unix::fs::FileExt::read_exact_at(&f, &mut got, *off).expect("pread");
                        assert_eq!(&got, bytes, "kernel content of {shown} at {off}");
                    }
                }
            }
            ExpKind::Symlink(t) => assert_eq!(
                fs::read_link(&host).expect("readlink").as_os_str().as_bytes(),
                t.as_slice(),
                "kernel target of {shown}"
            ),
            ExpKind::Char(a, b) | ExpKind::Block(a, b) => {
                assert_eq!(
                    (rustix::fs::major(md.rdev()), rustix::fs::minor(md.rdev())),
                    (*a, *b),
                    "kernel device of {shown}"
                )
            }
            _ => {}
        }
        for (name, value) in &e.xattrs {
            let mut buf = vec![0u8; 65536];
            let n = rustix::fs::lgetxattr(&host, name.as_slice(), &mut buf[..])
                .unwrap_or_else(|err| panic!("kernel getxattr {shown}: {err}"));
            assert_eq!(
                acl_canon(name, &buf[..n]),
                acl_canon(name, value),
                "kernel xattr {} of {shown}",
                String::from_utf8_lossy(name)
            );
        }
    }
    for (p, e) in exp {
        if let (Some(a), Some(b)) = (inos.get(p), inos.get(&e.inode_of)) {
            assert_eq!(a, b, "kernel: {} is a hard link", String::from_utf8_lossy(p));
        }
    }
    true
}

/// All read-back oracles (the image was already fsck-checked by `build`).
pub fn verify_all(built: &Built, case: &Case) {
    verify_some(built, case, &|_| true);
}

/// The read-back oracles for the paths `pick` selects (directory listings are always checked
/// in full).
pub fn verify_some(built: &Built, case: &Case, pick: &dyn Fn(&[u8]) -> bool) {
    let exp = expected(case);
    verify_debugfs(&built.img, &exp, pick);
    verify_ext4_view(&built.img, &exp, !case.opts.features.extent, pick);
    verify_mount(&built.img, &exp, pick);
}

/// POSIX ACL values in the xattr interface carry an id for every entry, but the owner, group,
/// mask and other entries have none on disk: readers fill in 0 (e2fsprogs) or -1 (the kernel).
fn acl_canon(name: &[u8], v: &[u8]) -> Vec<u8> {
    let mut v = v.to_vec();
    if name.starts_with(b"system.posix_acl_") && v.len() >= 4 {
        for e in v[4..].chunks_exact_mut(8) {
            if matches!(u16::from_le_bytes([e[0], e[1]]), 0x01 | 0x04 | 0x10 | 0x20) {
                e[4..8].fill(0);
            }
        }
    }
    v
}

pub fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Options for tests: small, fixed defaults and a fixed time.
pub fn opts() -> Options {
    Options { default_time: Timestamp { secs: 1_700_000_000, nanos: 0 }, ..Options::default() }
}
