//! File content: opens what an entry's content refers to (a path under the staging tree,
//! resolved as if the staging tree were `/` so nothing outside it is reachable; an object in
//! the content store; inline bytes; or nothing for an all-sparse file) and streams it as
//! non-zero blocks. Trusts neither the staging tree nor the store: only regular files are
//! read, sizes are checked before and after, and SHA-256 is verified when given.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags, SeekFrom};
use sha2::{Digest, Sha256};

use crate::manifest::{EntryRef, FileContent, show_bytes};

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("staging directory {path}: {source}")]
    Staging { path: PathBuf, source: io::Error },
    #[error("{entry}: has no content (no `src`, `sha256`, `content` or `size`) and no staging directory was given")]
    NoContent { entry: EntryRef },
    #[error("{entry}: content is in the store (sha256 only) but no store directory was given")]
    NoStore { entry: EntryRef },
    #[error("{entry}: cannot open `{what}`: {source}")]
    Open { entry: EntryRef, what: String, source: io::Error },
    #[error("{entry}: `{what}` is not a regular file")]
    NotRegular { entry: EntryRef, what: String },
    #[error("{entry}: `{what}` is {actual} bytes, the manifest says {expected}")]
    SizeMismatch { entry: EntryRef, what: String, expected: u64, actual: u64 },
    #[error("{entry}: `{what}` changed while it was read (size {expected} at open)")]
    Changed { entry: EntryRef, what: String, expected: u64 },
    #[error("{entry}: reading `{what}`: {source}")]
    Read { entry: EntryRef, what: String, source: io::Error },
    #[error("{entry}: `{what}` has SHA-256 {actual}, the manifest says {expected}")]
    HashMismatch { entry: EntryRef, what: String, expected: String, actual: String },
}

/// Where content comes from: the staging tree and the content store.
pub struct Sources {
    staging: Option<(PathBuf, File)>,
    store: Option<PathBuf>,
}

/// An opened content source with its size.
pub struct Opened<'a> {
    pub size: u64,
    what: String,
    body: Body<'a>,
    expect: Option<[u8; 32]>,
}

enum Body<'a> {
    File(File),
    Inline(&'a [u8]),
    Zero,
}

impl Opened<'_> {
    /// Bytes the content may occupy: 0 for an all-sparse file, else its size.
    pub fn stored_bound(&self) -> u64 {
        if matches!(self.body, Body::Zero) { 0 } else { self.size }
    }
}

impl Sources {
    pub fn new(staging: Option<&Path>, store: Option<&Path>) -> Result<Sources, ContentError> {
        let staging = match staging {
            None => None,
            Some(p) => {
                let fd = rustix::fs::open(p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| ContentError::Staging { path: p.to_owned(), source: e.into() })?;
                Some((p.to_owned(), File::from(fd)))
            }
        };
        Ok(Sources { staging, store: store.map(Path::to_owned) })
    }

    /// Open the content of a file entry. `path` is the entry's path in the image (used as the
    /// staging path when the entry names no content at all).
    pub fn open<'a>(&self, c: &'a FileContent, path: &[u8], entry: &EntryRef) -> Result<Opened<'a>, ContentError> {
        let opened = if let Some(data) = &c.data {
            Opened { size: data.len() as u64, what: "inline content".into(), body: Body::Inline(data), expect: None }
        } else if let Some(src) = &c.src {
            self.open_staging(src, entry)?
        } else if let Some(hash) = &c.sha256 {
            let Some(store) = &self.store else {
                return Err(ContentError::NoStore { entry: entry.clone() });
            };
            let hex = hex(hash);
            let p = store.join(&hex);
            let what = p.display().to_string();
            let fd = rustix::fs::open(
                &p,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| ContentError::Open {
                entry: entry.clone(),
                what: what.clone(),
                source: e.into(),
            })?;
            regular(File::from(fd), what, entry)?
        } else if let Some(size) = c.size {
            Opened { size, what: "sparse file".into(), body: Body::Zero, expect: None }
        } else if self.staging.is_some() {
            self.open_staging(path, entry)?
        } else {
            return Err(ContentError::NoContent { entry: entry.clone() });
        };
        if let Some(expected) = c.size
            && expected != opened.size
        {
            return Err(ContentError::SizeMismatch {
                entry: entry.clone(),
                what: opened.what,
                expected,
                actual: opened.size,
            });
        }
        Ok(Opened { expect: c.sha256, ..opened })
    }

    fn open_staging<'a>(&self, rel: &[u8], entry: &EntryRef) -> Result<Opened<'a>, ContentError> {
        let Some((root, dir)) = &self.staging else {
            return Err(ContentError::NoContent { entry: entry.clone() });
        };
        let rel = rel.strip_prefix(b"/").unwrap_or(rel);
        let what = format!("{}/{}", root.display(), show_bytes(rel));
        // RESOLVE_IN_ROOT: `..` and absolute symlinks stay inside the staging tree.
        let fd = rustix::fs::openat2(
            dir,
            rel,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| ContentError::Open { entry: entry.clone(), what: what.clone(), source: e.into() })?;
        regular(File::from(fd), what, entry)
    }
}

fn regular<'a>(f: File, what: String, entry: &EntryRef) -> Result<Opened<'a>, ContentError> {
    let st = rustix::fs::fstat(&f).map_err(|e| ContentError::Read {
        entry: entry.clone(),
        what: what.clone(),
        source: e.into(),
    })?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(ContentError::NotRegular { entry: entry.clone(), what });
    }
    Ok(Opened { size: st.st_size as u64, what, body: Body::File(f), expect: None })
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads below this size are done without asking the source for holes.
const SPARSE_PROBE_MIN: u64 = 256 * 1024;
/// Bytes read per system call.
const CHUNK: usize = 4 << 20;

/// Streams the non-zero blocks of an opened source, in order.
pub struct BlockReader<'a, 'b> {
    src: &'b Opened<'a>,
    entry: &'b EntryRef,
    bs: usize,
    /// Data regions `[start, end)`, block aligned, sorted; the rest reads as zeros.
    regions: Vec<(u64, u64)>,
    region: usize,
    /// File offset of `buf[0]` and the valid length of `buf`.
    buf_off: u64,
    buf_len: usize,
    /// Next offset to hand out.
    pos: u64,
    buf: &'b mut Vec<u8>,
    hasher: Option<Sha256>,
    /// Offset up to which the hasher has seen the content.
    hashed: u64,
}

impl<'a, 'b> BlockReader<'a, 'b> {
    pub fn new(
        src: &'b Opened<'a>,
        entry: &'b EntryRef,
        block_size: u32,
        buf: &'b mut Vec<u8>,
    ) -> Result<Self, ContentError> {
        let bs = block_size as usize;
        let size = src.size;
        let whole = size.div_ceil(bs as u64) * bs as u64;
        let regions = match &src.body {
            Body::Zero => Vec::new(),
            _ if size == 0 => Vec::new(),
            Body::Inline(_) => vec![(0, whole)],
            Body::File(f) if size >= SPARSE_PROBE_MIN => data_regions(f, size, bs as u64)
                .map_err(|e| ContentError::Read { entry: entry.clone(), what: src.what.clone(), source: e })?,
            Body::File(_) => vec![(0, whole)],
        };
        if buf.len() < CHUNK.max(bs) {
            buf.resize(CHUNK.max(bs), 0);
        }
        Ok(BlockReader {
            src,
            entry,
            bs,
            regions,
            region: 0,
            buf_off: 0,
            buf_len: 0,
            pos: 0,
            buf,
            hasher: src.expect.map(|_| Sha256::new()),
            hashed: 0,
        })
    }

    fn read_err(&self, e: io::Error) -> ContentError {
        ContentError::Read { entry: self.entry.clone(), what: self.src.what.clone(), source: e }
    }

    /// Feed zeros to the hasher up to `to`.
    fn hash_zeros(&mut self, to: u64) {
        if let Some(h) = &mut self.hasher {
            let zeros = [0u8; 4096];
            while self.hashed < to {
                let n = (to - self.hashed).min(zeros.len() as u64) as usize;
                h.update(&zeros[..n]);
                self.hashed += n as u64;
            }
        }
    }

    /// Fill the buffer starting at `self.pos` (inside the current region).
    fn fill(&mut self) -> Result<(), ContentError> {
        let (_, end) = self.regions[self.region];
        let want = ((end - self.pos) as usize).min(self.buf.len() / self.bs * self.bs);
        self.buf_off = self.pos;
        self.buf_len = want;
        let valid = (self.src.size.saturating_sub(self.pos) as usize).min(want);
        match &self.src.body {
            Body::Inline(d) => {
                let at = self.pos as usize;
                self.buf[..valid].copy_from_slice(&d[at..at + valid]);
            }
            Body::File(f) => {
                let mut got = 0;
                while got < valid {
                    match f.read_at(&mut self.buf[got..valid], self.pos + got as u64) {
                        Ok(0) => {
                            return Err(ContentError::Changed {
                                entry: self.entry.clone(),
                                what: self.src.what.clone(),
                                expected: self.src.size,
                            });
                        }
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(self.read_err(e)),
                    }
                }
            }
            Body::Zero => {}
        }
        self.buf[valid..want].fill(0);
        if let Some(h) = &mut self.hasher {
            h.update(&self.buf[..valid]);
            self.hashed = self.pos + valid as u64;
        }
        Ok(())
    }

    /// The next non-zero block: (logical block number, block bytes, zero-padded).
    pub fn next_block(&mut self) -> Result<Option<(u64, &[u8])>, ContentError> {
        loop {
            if self.region >= self.regions.len() {
                return Ok(None);
            }
            let (start, end) = self.regions[self.region];
            if self.pos < start {
                self.hash_zeros(start);
                self.pos = start;
            }
            if self.pos >= end {
                self.region += 1;
                continue;
            }
            if self.pos >= self.buf_off + self.buf_len as u64 || self.pos < self.buf_off {
                self.fill()?;
            }
            let at = (self.pos - self.buf_off) as usize;
            let lblk = self.pos / self.bs as u64;
            self.pos += self.bs as u64;
            let blk = &self.buf[at..at + self.bs];
            if !is_zero(blk) {
                return Ok(Some((lblk, &self.buf[at..at + self.bs])));
            }
        }
    }

    /// Check the end of the stream: the file did not grow, and the hash matches.
    pub fn finish(mut self) -> Result<(), ContentError> {
        let size = self.src.size;
        if let Body::File(f) = &self.src.body {
            let mut one = [0u8; 1];
            match f.read_at(&mut one, size) {
                Ok(0) => {}
                Ok(_) => {
                    return Err(ContentError::Changed {
                        entry: self.entry.clone(),
                        what: self.src.what.clone(),
                        expected: size,
                    });
                }
                Err(e) => return Err(self.read_err(e)),
            }
        }
        self.hash_zeros(size);
        if let (Some(h), Some(expected)) = (self.hasher.take(), self.src.expect) {
            let actual: [u8; 32] = h.finalize().into();
            if actual != expected {
                return Err(ContentError::HashMismatch {
                    entry: self.entry.clone(),
                    what: self.src.what.clone(),
                    expected: hex(&expected),
                    actual: hex(&actual),
                });
            }
        }
        Ok(())
    }
}

/// True if every byte is zero (written to vectorise: no early exit inside a block).
pub fn is_zero(b: &[u8]) -> bool {
    let (chunks, rest) = b.as_chunks::<16>();
    let acc = chunks.iter().fold(0u128, |a, c| a | u128::from_ne_bytes(*c));
    acc == 0 && rest.iter().all(|&x| x == 0)
}

/// Data regions of a file via SEEK_DATA / SEEK_HOLE, widened to whole blocks. Holes read as
/// zeros, so skipping them gives the same image as reading them; where the filesystem cannot
/// say, the whole file is one region.
fn data_regions(f: &File, size: u64, bs: u64) -> io::Result<Vec<(u64, u64)>> {
    let end_all = size.div_ceil(bs) * bs;
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut off = 0;
    while off < size {
        let d = match rustix::fs::seek(f, SeekFrom::Data(off)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break,
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::OPNOTSUPP) => {
                return Ok(vec![(0, end_all)]);
            }
            Err(e) => return Err(e.into()),
        };
        if d >= size {
            break;
        }
        let h = match rustix::fs::seek(f, SeekFrom::Hole(d)) {
            Ok(h) => h.min(size),
            Err(e) => return Err(e.into()),
        };
        let (s, e) = (d / bs * bs, (h.div_ceil(bs) * bs).min(end_all));
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
        if h <= d {
            break;
        }
        off = h;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_check() {
        let mut b = vec![0u8; 4096];
        assert!(is_zero(&b));
        b[4095] = 1;
        assert!(!is_zero(&b));
        b[4095] = 0;
        b[7] = 1;
        assert!(!is_zero(&b));
    }
}
