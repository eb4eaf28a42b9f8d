//! Removing trees a step may have written, iteratively and with a constant number of fds
//! whatever their depth: the tree is flattened. Each directory's subdirectories are renamed
//! up into the top directory under fresh names (`renameat2(RENAME_NOREPLACE)`), its other
//! entries are unlinked (a symlink is removed, never followed), and it is removed; so no
//! directory deeper than one level below the top is ever opened. Directories the step made
//! unreadable or unwritable (mode 0500, 0000) are given `u+rwx` through their own fd first.
//! Trusts the parent it is given; nothing beneath it.
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, Mode, RenameFlags};
use rustix::io::Errno;

use super::dir::{DIR_FLAGS, PATH_DIR_FLAGS, fstat, io_err, stat_at, unlink_at};
use super::walk::read_names;
use super::{Dir, FsError, RelPath};

/// How often a directory is emptied again when a concurrent writer refills it, before the
/// removal gives up with [`FsError::Changed`]; also bounds retries on entries that change type.
const MAX_RETRIES: usize = 64;

/// Removes `rel` beneath `parent`, whatever it is (a tree, a file, a symlink: the link, not
/// its target). `false` when nothing was there.
pub fn remove_tree(parent: &Dir, rel: RelPath<'_>) -> Result<bool, FsError> {
    let (p, name) = parent.parent_of(rel, "removing")?;
    remove_at(p.as_fd(), name, &parent.shown(rel))
}

/// Removes everything in `dir`, keeping `dir`.
pub fn remove_contents(dir: &Dir) -> Result<(), FsError> {
    let top = rustix::fs::openat(dir.fd(), ".", DIR_FLAGS, Mode::empty())
        .map_err(|e| io_err("opening", dir.path().to_path_buf(), e))?;
    empty_top(top.as_fd(), dir.path())
}

/// Removes the entry at `path`, whose parent directory the caller trusts (e.g. a unit's
/// build dir). `false` when nothing was there.
pub fn remove_path(path: &Path) -> Result<bool, FsError> {
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (if p.as_os_str().is_empty() { Path::new(".") } else { p }, n),
        _ => return Err(FsError::BadPath { path: path.to_path_buf(), reason: "it has no file name" }),
    };
    let dir = match Dir::open(parent) {
        Ok(d) => d,
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e),
    };
    remove_at(dir.fd(), name, path)
}

/// Removes the entry `name` of `parent`.
pub(crate) fn remove_at(parent: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> Result<bool, FsError> {
    for _ in 0..MAX_RETRIES {
        match unlink_at(parent, name) {
            Ok(()) => return Ok(true),
            Err(Errno::NOENT) => return Ok(false),
            // A directory with entries (EEXIST on some filesystems).
            Err(Errno::NOTEMPTY | Errno::EXIST) => {}
            Err(e) => return Err(io_err("removing", shown.to_path_buf(), e)),
        }
        match open_dir(parent, name, shown)? {
            Opened::Dir(top) => empty_top(top.as_fd(), shown)?,
            Opened::Gone => return Ok(false),
            Opened::NotDir => {}
        }
    }
    Err(FsError::Changed { path: shown.to_path_buf(), op: "being removed" })
}

enum Opened {
    Dir(OwnedFd),
    NotDir,
    Gone,
}

/// Opens the directory `name` of `parent` for reading, making it `u+rwx` when it is not.
fn open_dir(parent: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> Result<Opened, FsError> {
    for _ in 0..2 {
        match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => {
                let m = fstat(&fd).map_err(|e| io_err("reading the metadata of", shown.to_path_buf(), e))?;
                if m.mode & 0o700 != 0o700 {
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(m.mode | 0o700))
                        .map_err(|e| io_err("making removable", shown.to_path_buf(), e))?;
                }
                return Ok(Opened::Dir(fd));
            }
            Err(Errno::NOENT) => return Ok(Opened::Gone),
            Err(Errno::LOOP | Errno::NOTDIR) => return Ok(Opened::NotDir),
            Err(Errno::ACCESS) => fix_mode(parent, name, shown)?,
            Err(e) => return Err(io_err("opening", shown.to_path_buf(), e)),
        }
    }
    Err(io_err("opening", shown.to_path_buf(), Errno::ACCESS))
}

/// Gives the directory `name` of `parent` `u+rwx`, through an `O_PATH` fd of that very
/// directory (`chmod` of `/proc/self/fd/N`, the kernel's link to the fd, so no path a step
/// controls is resolved). A non-directory is left alone.
fn fix_mode(parent: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> Result<(), FsError> {
    let fd = match rustix::fs::openat(parent, name, PATH_DIR_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => return Ok(()),
        Err(e) => return Err(io_err("opening", shown.to_path_buf(), e)),
    };
    let m = fstat(&fd).map_err(|e| io_err("reading the metadata of", shown.to_path_buf(), e))?;
    chmod_fd(fd.as_fd(), m.mode | 0o700).map_err(|e| io_err("making removable", shown.to_path_buf(), e))
}

/// `chmod` of the inode an `O_PATH` fd refers to.
pub(crate) fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    match rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)) {
        Err(Errno::BADF) => {
            let proc = rustix::fs::openat(CWD, "/proc/self/fd", PATH_DIR_FLAGS, Mode::empty())?;
            rustix::fs::chmodat(&proc, fd.as_raw_fd().to_string(), Mode::from_raw_mode(mode), AtFlags::empty())
        }
        r => r,
    }
}

fn is_dir(parent: BorrowedFd<'_>, name: &OsStr, t: FileType) -> bool {
    match t {
        FileType::Directory => true,
        FileType::Unknown => stat_at(parent, name).is_ok_and(|m| m.is_dir()),
        _ => false,
    }
}

/// Empties the directory `top` (flattening; see the module docs).
fn empty_top(top: BorrowedFd<'_>, shown: &Path) -> Result<(), FsError> {
    let mut fresh = 0u64;
    let mut retries = 0usize;
    let mut retry = |what: &Path| -> Result<(), FsError> {
        retries += 1;
        if retries > MAX_RETRIES * 16 {
            return Err(FsError::Changed { path: what.to_path_buf(), op: "being removed" });
        }
        Ok(())
    };
    loop {
        let names = read_names(top, shown)?;
        if names.is_empty() {
            return Ok(());
        }
        // Directories of `top` still to empty and remove, by their name in `top`.
        let mut pending: Vec<OsString> = Vec::new();
        for (name, t) in names {
            if is_dir(top, &name, t) {
                pending.push(name);
            } else {
                match unlink_at(top, &name) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(Errno::NOTEMPTY | Errno::EXIST) => pending.push(name),
                    Err(e) => return Err(io_err("removing", shown.join(&name), e)),
                }
            }
        }
        while let Some(d) = pending.pop() {
            let dshown = shown.join(&d);
            let fd = match open_dir(top, &d, &dshown)? {
                Opened::Dir(fd) => fd,
                Opened::Gone => continue,
                Opened::NotDir => {
                    match unlink_at(top, &d) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(Errno::NOTEMPTY | Errno::EXIST) => {
                            retry(&dshown)?;
                            pending.push(d);
                        }
                        Err(e) => return Err(io_err("removing", dshown, e)),
                    }
                    continue;
                }
            };
            for (name, t) in read_names(fd.as_fd(), &dshown)? {
                let eshown = dshown.join(&name);
                if !is_dir(fd.as_fd(), &name, t) {
                    match unlink_at(fd.as_fd(), &name) {
                        Ok(()) | Err(Errno::NOENT) => continue,
                        Err(Errno::NOTEMPTY | Errno::EXIST) => {}
                        Err(e) => return Err(io_err("removing", eshown, e)),
                    }
                }
                // A directory: move it up into `top` under a fresh name.
                let mut fixed = false;
                let mut taken = 0;
                loop {
                    let to = format!(".yoe-rm.{fresh}");
                    fresh += 1;
                    match rustix::fs::renameat_with(fd.as_fd(), &name, top, to.as_str(), RenameFlags::NOREPLACE) {
                        Ok(()) => {
                            pending.push(OsString::from(to));
                            break;
                        }
                        // The name is taken (by an earlier removal's leftovers, say): the next one.
                        Err(Errno::EXIST | Errno::NOTEMPTY) if taken < 100_000 => taken += 1,
                        Err(Errno::NOENT) => break,
                        // Moving a directory to another parent needs write permission on it.
                        Err(Errno::ACCESS | Errno::PERM) if !fixed => {
                            fix_mode(fd.as_fd(), &name, &eshown)?;
                            fixed = true;
                        }
                        Err(e) => return Err(io_err("removing", eshown, e)),
                    }
                }
            }
            drop(fd);
            match rustix::fs::unlinkat(top, &d, AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOTDIR) => {
                    retry(&dshown)?;
                    pending.push(d);
                }
                Err(e) => return Err(io_err("removing", dshown, e)),
            }
        }
        retry(shown)?;
    }
}

/// Removes whatever is at `name` in `parent` (a whole tree too, nothing followed), so that a
/// new entry can take its place.
pub(crate) fn replace_prepare(parent: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> Result<(), FsError> {
    match stat_at(parent, name) {
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io_err("reading the metadata of", shown.to_path_buf(), e)),
        Ok(_) => remove_at(parent, name, shown).map(|_| ()),
    }
}

#[cfg(test)]
#[path = "remove_tests.rs"]
mod tests;
