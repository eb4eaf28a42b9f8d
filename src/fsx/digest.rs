//! The output tree digest (`yoe-output-v2`), recorded in `build.json` and checked before a
//! cached output is reused. Covers, for every entry beneath the root in walk order: its path
//! (bytes, length-prefixed), its type, its permission bits (including setuid/setgid/sticky),
//! a regular file's size and content digest, a symlink's target; never times, owners or
//! link counts (hard links hash as separate files). Special files are an error with their
//! path: they are not allowed in outputs.
//!
//! A file's content digest is over fixed [`BLOCK`]-byte blocks (the last one shorter): a run
//! of all-zero blocks is one record with its count, any other block is recorded with its
//! bytes. Holes (`SEEK_DATA`/`SEEK_HOLE`) are zero runs and are never read, and zero blocks
//! read from data are folded into the same runs, so the digest depends on the bytes only, not
//! on where the filesystem keeps holes; a 1 TiB sparse file costs a few syscalls. Separate
//! from `crate::treehash` (module trees in `yoe.lock` depend on that one byte for byte).
//! Trusts nothing in the tree.
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::SeekFrom;
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use super::dir::{io_err, open_read_at};
use super::walk::{Cursor, walk};
use super::{Dir, FsError, Kind};

/// The version tag: the first bytes hashed and the prefix of the digest text.
pub const OUTPUT_DIGEST_TAG: &str = "yoe-output-v2";

/// Block size of the content digest.
pub const BLOCK: u64 = 64 * 1024;

/// What special files in an output are told.
pub const SPECIAL_IN_OUTPUT: &str = "special files are not allowed in outputs";

/// `yoe-output-v2:<sha256 hex>` of the tree beneath `dir`.
pub fn output_digest(dir: &Dir) -> Result<String, FsError> {
    let mut h = Sha256::new();
    h.update(OUTPUT_DIGEST_TAG.as_bytes());
    h.update(b"\n");
    let mut cursor = Cursor::new(dir);
    for entry in walk(dir) {
        let entry = entry?;
        let path = entry.path.as_path().as_os_str().as_bytes();
        let field = |h: &mut Sha256, tag: u8, bytes: &[u8]| {
            h.update([tag]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        match entry.meta.kind {
            Kind::Dir => {
                field(&mut h, b'd', path);
                h.update(entry.meta.mode.to_le_bytes());
            }
            Kind::File => {
                let shown = dir.shown(entry.path.as_rel());
                let parent = cursor.dir(entry.parent())?;
                let (file, meta) = open_read_at(parent, &entry.name, &shown)?;
                field(&mut h, b'f', path);
                h.update(meta.mode.to_le_bytes());
                h.update(meta.size.to_le_bytes());
                h.update(content_digest(&file, meta.size, &shown)?);
            }
            Kind::Symlink => {
                let shown = dir.shown(entry.path.as_rel());
                let parent = cursor.dir(entry.parent())?;
                let target = rustix::fs::readlinkat(parent, &entry.name, Vec::new())
                    .map_err(|e| io_err("reading the link", shown, e))?;
                field(&mut h, b'l', path);
                field(&mut h, b't', target.as_bytes());
            }
            Kind::Special(_) => {
                return Err(FsError::Kind {
                    path: dir.shown(entry.path.as_rel()),
                    found: entry.meta.kind,
                    expected: SPECIAL_IN_OUTPUT,
                });
            }
        }
    }
    Ok(format!("{OUTPUT_DIGEST_TAG}:{}", crate::treehash::hex(&h.finalize())))
}

/// The block digest of the first `size` bytes of `file` (see the module docs).
pub fn content_digest(file: &File, size: u64, shown: &Path) -> Result<[u8; 32], FsError> {
    let mut h = Sha256::new();
    h.update(b"yoe-blocks-v1");
    h.update(BLOCK.to_le_bytes());
    h.update(size.to_le_bytes());
    let blocks = size.div_ceil(BLOCK);
    let mut zeros = 0u64;
    let flush = |h: &mut Sha256, zeros: &mut u64| {
        if *zeros > 0 {
            h.update([b'z']);
            h.update(zeros.to_le_bytes());
            *zeros = 0;
        }
    };
    let mut buf = vec![0u8; BLOCK as usize];
    let mut block = 0u64;
    while block < blocks {
        let pos = block * BLOCK;
        // The first byte of data at or after `pos`; everything before it is a hole.
        let data = match rustix::fs::seek(file, SeekFrom::Data(pos)) {
            Ok(d) => d.min(size),
            Err(Errno::NXIO) => size,
            Err(Errno::INVAL | Errno::OPNOTSUPP) => pos,
            Err(e) => return Err(io_err("reading", shown.to_path_buf(), e)),
        };
        if data >= size {
            zeros += blocks - block;
            break;
        }
        let first = data / BLOCK;
        zeros += first - block;
        block = first;
        // Read every block that overlaps this data segment.
        let hole = match rustix::fs::seek(file, SeekFrom::Hole(data)) {
            Ok(h) => h.min(size),
            Err(_) => size,
        };
        let last = hole.div_ceil(BLOCK).max(block + 1);
        while block < last {
            let pos = block * BLOCK;
            let len = usize::try_from((size - pos).min(BLOCK)).unwrap_or(buf.len());
            read_full(file, &mut buf[..len], pos, shown)?;
            if is_zero(&buf[..len]) {
                zeros += 1;
            } else {
                flush(&mut h, &mut zeros);
                h.update([b'b']);
                h.update(&buf[..len]);
            }
            block += 1;
        }
    }
    flush(&mut h, &mut zeros);
    Ok(h.finalize().into())
}

fn read_full(file: &File, buf: &mut [u8], mut pos: u64, shown: &Path) -> Result<(), FsError> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos) {
            Ok(0) => return Err(FsError::Changed { path: shown.to_path_buf(), op: "being hashed (it shrank)" }),
            Ok(n) => {
                done += n;
                pos += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(FsError::Io { op: "reading", path: shown.to_path_buf(), source }),
        }
    }
    Ok(())
}

fn is_zero(b: &[u8]) -> bool {
    b.chunks(4096).all(|c| c.iter().fold(0u8, |a, x| a | x) == 0)
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
