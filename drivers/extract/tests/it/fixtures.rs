//! Archive fixtures built in code: a raw tar writer that can spell any (malicious) header,
//! the compressors, a zip builder, and a reader of extracted trees for comparisons.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use yoe_extract::ArchiveKind;

pub const MTIME: u64 = 1_700_000_000;

/// A tar stream written header by header, so that names the `tar` crate's builder would
/// refuse (absolute, `..`, NUL) can be spelled.
#[derive(Default)]
pub struct RawTar {
    buf: Vec<u8>,
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let s = format!("{value:0width$o}");
    field[..width].copy_from_slice(&s.as_bytes()[s.len() - width..]);
    field[width] = 0;
}

impl RawTar {
    pub fn new() -> Self {
        RawTar::default()
    }

    /// One raw member. Names longer than 100 bytes get a GNU long name member first.
    pub fn member(&mut self, name: &[u8], typeflag: u8, mode: u32, data: &[u8], link: &[u8]) -> &mut Self {
        if name.len() > 100 {
            let mut long = name.to_vec();
            long.push(0);
            self.member(b"././@LongLink", b'L', 0o644, &long, b"");
        }
        if link.len() > 100 {
            let mut long = link.to_vec();
            long.push(0);
            self.member(b"././@LongLink", b'K', 0o644, &long, b"");
        }
        let mut h = [0u8; 512];
        let n = name.len().min(100);
        h[..n].copy_from_slice(&name[..n]);
        octal(&mut h[100..108], u64::from(mode));
        octal(&mut h[108..116], 4242); // uid: must never be applied
        octal(&mut h[116..124], 4242); // gid
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], MTIME);
        h[156] = typeflag;
        let l = link.len().min(100);
        h[157..157 + l].copy_from_slice(&link[..l]);
        h[257..263].copy_from_slice(b"ustar ");
        h[263..265].copy_from_slice(b" \0");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.member(name.as_bytes(), b'0', 0o644, data, b"")
    }

    pub fn file_mode(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.member(name.as_bytes(), b'0', mode, data, b"")
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.member(name.as_bytes(), b'5', 0o755, b"", b"")
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.member(name.as_bytes(), b'2', 0o777, b"", target.as_bytes())
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.member(name.as_bytes(), b'1', 0o644, b"", target.as_bytes())
    }

    /// A pax extended header (`x`, or `g` for global) with the given records.
    pub fn pax(&mut self, global: bool, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3; // ' ' '=' '\n'
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let flag = if global { b'g' } else { b'x' };
        self.member(b"PaxHeader", flag, 0o644, &body, b"")
    }

    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

pub fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zst(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// Compress a tar stream as `kind`.
pub fn compress(kind: ArchiveKind, tar: &[u8]) -> Vec<u8> {
    match kind {
        ArchiveKind::Tar => tar.to_vec(),
        ArchiveKind::TarGz => gz(tar),
        ArchiveKind::TarXz => xz(tar),
        ArchiveKind::TarBz2 => bz2(tar),
        ArchiveKind::TarZst => zst(tar),
        ArchiveKind::Zip | ArchiveKind::Plain => panic!("not a tar kind: {kind}"),
    }
}

pub const TAR_KINDS: [ArchiveKind; 5] =
    [ArchiveKind::Tar, ArchiveKind::TarGz, ArchiveKind::TarXz, ArchiveKind::TarBz2, ArchiveKind::TarZst];

pub fn ext(kind: ArchiveKind) -> &'static str {
    match kind {
        ArchiveKind::Tar => "tar",
        ArchiveKind::TarGz => "tar.gz",
        ArchiveKind::TarXz => "tar.xz",
        ArchiveKind::TarBz2 => "tar.bz2",
        ArchiveKind::TarZst => "tar.zst",
        ArchiveKind::Zip => "zip",
        ArchiveKind::Plain => "bin",
    }
}

/// Zip entries for [`zip_bytes`].
pub enum ZipEntry<'a> {
    File(&'a str, &'a [u8]),
    FileAttrs(&'a str, u32, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

pub fn zip_bytes(entries: &[ZipEntry<'_>]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).unix_permissions(0o644);
    for e in entries {
        match e {
            ZipEntry::File(name, data) => {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
            ZipEntry::FileAttrs(name, mode, data) => {
                w.start_file(*name, opts.external_attributes(mode << 16)).unwrap();
                w.write_all(data).unwrap();
            }
            ZipEntry::Dir(name) => w.add_directory(*name, opts.unix_permissions(0o755)).unwrap(),
            ZipEntry::Symlink(name, target) => w.add_symlink(*name, *target, opts).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

/// A scratch area: the archive is written here and extracted into `dest`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch { dir: tempfile::tempdir().unwrap() }
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    pub fn dest(&self) -> PathBuf {
        self.dir.path().join("dest")
    }

    /// Names in the scratch dir other than archives: the destination and any leftovers.
    pub fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("in."))
            .collect();
        v.sort();
        v
    }
}

/// What a path in an extracted tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Dir(u32),
    File(u32, Vec<u8>),
    Symlink(String),
}

/// Read a tree into a map of relative path to content, with permission bits.
pub fn read_tree(root: &Path) -> BTreeMap<String, Got> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Got>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let m = fs::symlink_metadata(&p).unwrap();
        let mode = m.permissions().mode() & 0o7777;
        if m.file_type().is_symlink() {
            let t = fs::read_link(&p).unwrap();
            out.insert(rel, Got::Symlink(t.to_string_lossy().into_owned()));
        } else if m.is_dir() {
            out.insert(rel, Got::Dir(mode));
            walk(root, &p, out);
        } else {
            out.insert(rel, Got::File(mode, fs::read(&p).unwrap()));
        }
    }
}

/// uid of every path under `root` (symlinks not followed).
pub fn owners(root: &Path) -> Vec<u32> {
    let mut v = Vec::new();
    for e in walkdir(root) {
        v.push(fs::symlink_metadata(&e).unwrap().uid());
    }
    v
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut v = vec![root.to_path_buf()];
    let mut i = 0;
    while i < v.len() {
        let p = v[i].clone();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                v.push(e.unwrap().path());
            }
        }
        i += 1;
    }
    v
}
