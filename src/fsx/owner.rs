//! Changing the owner of a tree (handing build dirs to the build user). Each entry is opened
//! with `O_PATH | O_NOFOLLOW` beneath the walk root, checked on that fd, and changed through
//! it (`fchownat(fd, "", AT_EMPTY_PATH)`): a symlink is changed itself, never its target, and
//! the inode checked is the inode changed, whatever a concurrent writer renames meanwhile.
//!
//! Hard links: `chown` changes the inode, so every other name of it too. A step can only link
//! files it can see on the same mount, i.e. its own dirs (bind mounts make `linkat` across
//! them fail with EXDEV, and `protected_hardlinks` refuses links to files it neither owns nor
//! can write); yoe's extractor makes links inside `src` only. So a regular file with more than
//! one link is changed only when it already belongs to yoe's user or to the target user;
//! anything else is a link into a tree that is not the build's, and is refused with its path.
//! Trusts the root [`Dir`]; nothing beneath it.
use std::os::fd::AsFd;

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use super::dir::{fstat, io_err};
use super::walk::{Cursor, walk};
use super::{Dir, FsError, Kind};

/// Gives `dir` and everything beneath it to `uid:gid`; returns how many entries changed.
pub fn chown_tree(dir: &Dir, uid: u32, gid: u32) -> Result<usize, FsError> {
    let me = super::euid();
    let (owner, group) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    let mut changed = 0;
    let m = fstat(dir.fd()).map_err(|e| io_err("reading the metadata of", dir.path().to_path_buf(), e))?;
    if (m.uid, m.gid) != (uid, gid) {
        rustix::fs::fchown(dir.fd(), owner, group)
            .map_err(|e| io_err("changing the owner of", dir.path().to_path_buf(), e))?;
        changed += 1;
    }
    let mut cursor = Cursor::new(dir);
    for entry in walk(dir) {
        let entry = entry?;
        let shown = dir.shown(entry.path.as_rel());
        let parent = cursor.dir(entry.parent())?;
        let flags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
        let fd = match rustix::fs::openat(parent, &entry.name, flags, Mode::empty()) {
            Ok(fd) => fd,
            // Removed meanwhile: nothing to hand over.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(io_err("opening", shown, e)),
        };
        let m = fstat(&fd).map_err(|e| io_err("reading the metadata of", shown.clone(), e))?;
        if (m.uid, m.gid) == (uid, gid) {
            continue;
        }
        if m.kind == Kind::File && m.nlink > 1 && m.uid != me && m.uid != uid {
            return Err(FsError::ForeignHardLink { path: shown, nlink: m.nlink, uid: m.uid });
        }
        rustix::fs::chownat(fd.as_fd(), "", owner, group, AtFlags::EMPTY_PATH)
            .map_err(|e| io_err("changing the owner of", shown, e))?;
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
#[path = "owner_tests.rs"]
mod tests;
