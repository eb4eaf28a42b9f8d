//! Copying a tree from one [`Dir`] into another, merging: directories are created (or kept),
//! later trees replace earlier files. Regular files are copied sparse-aware (only the data
//! segments `SEEK_DATA`/`SEEK_HOLE` report, then `ftruncate` to the size) or, in
//! [`Mode::Link`], hard-linked; symlinks are recreated with their target verbatim, never
//! followed; setuid, setgid and sticky bits never travel; fifos, sockets and devices are
//! refused with their path. Existing destination entries are removed, not written through.
//! Trusts neither tree.
use std::fs::File;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, SeekFrom};
use rustix::io::Errno;

use super::dir::{CREATE_FLAGS, DIR_FLAGS, io_err, open_read_at, stat_at};
use super::remove::replace_prepare;
use super::walk::{Cursor, walk};
use super::{Dir, FsError, Kind, Meta};

/// How regular files travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// Independent copies.
    Copy,
    /// Hard links where the kernel allows them (same filesystem, no setuid/setgid/sticky
    /// bit), else copies. Used for sysroots, which the sandbox mounts read-only.
    Link,
}

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Entries other than directories (files, links, symlinks).
    pub entries: usize,
    /// Regular files hard-linked instead of copied.
    pub linked: usize,
    /// Bytes of data copied (holes are not counted).
    pub bytes: u64,
}

/// Copies the tree beneath `from` into `to`; see the module docs.
pub fn copy_tree(from: &Dir, to: &Dir, mode: CopyMode) -> Result<CopyStats, FsError> {
    let mut stats = CopyStats::default();
    let mut src = Cursor::new(from);
    let mut dst = Cursor::new(to);
    for entry in walk(from) {
        let entry = entry?;
        let sshown = from.shown(entry.path.as_rel());
        let dshown = to.shown(entry.path.as_rel());
        let sp = src.dir(entry.parent())?;
        let dp = dst.dir(entry.parent())?;
        let name = entry.name.as_os_str();
        match entry.meta.kind {
            Kind::Dir => {
                match stat_at(dp, name) {
                    Ok(m) if m.kind == Kind::Dir => {}
                    Ok(_) => {
                        replace_prepare(dp, name, &dshown)?;
                        mkdir(dp, name, &dshown)?;
                    }
                    Err(Errno::NOENT) => mkdir(dp, name, &dshown)?,
                    Err(e) => return Err(io_err("reading the metadata of", dshown, e)),
                }
                let fd = rustix::fs::openat(dp, name, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
                    Errno::LOOP | Errno::NOTDIR => FsError::Changed { path: dshown.clone(), op: "being copied to" },
                    e => io_err("opening", dshown.clone(), e),
                })?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode((entry.meta.mode & 0o777) | 0o700))
                    .map_err(|e| io_err("setting the mode of", dshown.clone(), e))?;
            }
            Kind::File => {
                let (file, meta) = open_read_at(sp, name, &sshown).map_err(|e| match e {
                    FsError::Kind { found: Kind::Symlink, path, .. } => FsError::Changed { path, op: "being copied" },
                    other => other,
                })?;
                replace_prepare(dp, name, &dshown)?;
                if mode == CopyMode::Link && meta.mode & 0o7000 == 0 && link_same(sp, name, dp, &meta)? {
                    stats.linked += 1;
                } else {
                    let out = rustix::fs::openat(dp, name, CREATE_FLAGS, Mode::from_raw_mode(0o600))
                        .map(File::from)
                        .map_err(|e| io_err("creating", dshown.clone(), e))?;
                    stats.bytes += copy_sparse(&file, &out, meta.size, &sshown, &dshown)?;
                    // setuid/setgid/sticky bits never travel between build dirs.
                    rustix::fs::fchmod(&out, Mode::from_raw_mode(meta.mode & 0o777))
                        .map_err(|e| io_err("setting the mode of", dshown.clone(), e))?;
                }
                stats.entries += 1;
            }
            Kind::Symlink => {
                let target = rustix::fs::readlinkat(sp, name, Vec::new())
                    .map_err(|e| io_err("reading the link", sshown.clone(), e))?;
                replace_prepare(dp, name, &dshown)?;
                rustix::fs::symlinkat(target.as_c_str(), dp, name)
                    .map_err(|e| io_err("creating the symlink", dshown.clone(), e))?;
                stats.entries += 1;
            }
            Kind::Special(_) => {
                return Err(FsError::Kind {
                    path: sshown,
                    found: entry.meta.kind,
                    expected: "special files are not copied between build dirs",
                });
            }
        }
    }
    Ok(stats)
}

fn mkdir(dp: BorrowedFd<'_>, name: &std::ffi::OsStr, shown: &Path) -> Result<(), FsError> {
    rustix::fs::mkdirat(dp, name, Mode::from_raw_mode(0o700)).map_err(|e| io_err("creating", shown.to_path_buf(), e))
}

/// Hard-links `name` of `sp` as `name` of `dp`, and keeps the link only if it is the very
/// file `expected` describes (the one opened and checked; a concurrent swap of the name is
/// undone). `false`: the kernel refused (another filesystem, link limits) or the name was
/// swapped; the caller copies instead.
fn link_same(sp: BorrowedFd<'_>, name: &std::ffi::OsStr, dp: BorrowedFd<'_>, expected: &Meta) -> Result<bool, FsError> {
    match rustix::fs::linkat(sp, name, dp, name, AtFlags::empty()) {
        Ok(()) => {}
        Err(_) => return Ok(false),
    }
    match stat_at(dp, name) {
        Ok(m) if m.same_inode(expected) => Ok(true),
        _ => {
            let _ = rustix::fs::unlinkat(dp, name, AtFlags::empty());
            Ok(false)
        }
    }
}

/// Copies `size` bytes of `src` into the new, empty `dst`, reading only the data segments:
/// holes stay holes (`ftruncate` sets the size). Returns the bytes copied.
pub fn copy_sparse(src: &File, dst: &File, size: u64, sshown: &Path, dshown: &Path) -> Result<u64, FsError> {
    let mut pos = 0u64;
    let mut copied = 0u64;
    while pos < size {
        let data = match rustix::fs::seek(src, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(Errno::NXIO) => break,
            // No SEEK_DATA on this filesystem: everything is data.
            Err(Errno::INVAL | Errno::OPNOTSUPP) => pos,
            Err(e) => return Err(io_err("reading", sshown.to_path_buf(), e)),
        };
        if data >= size {
            break;
        }
        let hole = match rustix::fs::seek(src, SeekFrom::Hole(data)) {
            Ok(h) => h.min(size),
            Err(_) => size,
        };
        copy_range(src, dst, data, hole - data, sshown, dshown)?;
        copied += hole - data;
        pos = hole;
    }
    rustix::fs::ftruncate(dst, size).map_err(|e| io_err("setting the size of", dshown.to_path_buf(), e))?;
    Ok(copied)
}

fn copy_range(src: &File, dst: &File, start: u64, len: u64, sshown: &Path, dshown: &Path) -> Result<(), FsError> {
    let end = start + len;
    let (mut off_in, mut off_out) = (start, start);
    while off_in < end {
        let chunk = usize::try_from((end - off_in).min(1 << 30)).unwrap_or(1 << 30);
        match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), chunk) {
            Ok(0) => return Err(FsError::Changed { path: sshown.to_path_buf(), op: "being copied (it shrank)" }),
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::PERM) => {
                return copy_range_rw(src, dst, off_in, end - off_in, sshown, dshown);
            }
            Err(e) => return Err(io_err("copying to", dshown.to_path_buf(), e)),
        }
    }
    Ok(())
}

fn copy_range_rw(src: &File, dst: &File, start: u64, len: u64, sshown: &Path, dshown: &Path) -> Result<(), FsError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut off = start;
    let end = start + len;
    while off < end {
        let want = usize::try_from((end - off).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = src.read_at(&mut buf[..want], off).map_err(|source| FsError::Io {
            op: "reading",
            path: sshown.to_path_buf(),
            source,
        })?;
        if n == 0 {
            return Err(FsError::Changed { path: sshown.to_path_buf(), op: "being copied (it shrank)" });
        }
        dst.write_all_at(&buf[..n], off).map_err(|source| FsError::Io {
            op: "writing",
            path: dshown.to_path_buf(),
            source,
        })?;
        off += n as u64;
    }
    Ok(())
}

#[cfg(test)]
#[path = "copy_tests.rs"]
mod tests;
