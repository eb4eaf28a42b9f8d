//! An iterative, deterministic walk of the tree beneath a [`Dir`]: entries in pre-order, the
//! children of each directory sorted by name (bytes), each with its `lstat`. No recursion and
//! no fd kept per level: each directory is reopened from the walk root with `openat2`
//! beneath, no symlinks, read whole and closed, so a walk holds at most one fd at a time and
//! its memory is the entries of the directories on the current path. Trusts nothing in the
//! tree: the metadata is what `lstat` saw, so callers that act on an entry check again on the
//! fd they open (a concurrent writer can swap entries between the walk and the act).
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{FileType, Mode};

use super::dir::{DIR_FLAGS, PATH_DIR_FLAGS, io_err, openat2_beneath, resolve_err, stat_at};
use super::{Dir, FsError, Kind, MAX_DEPTH, Meta, RelPath, RelPathBuf};

/// One entry of a walk.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the walk root.
    pub path: RelPathBuf,
    /// The last name of `path`.
    pub name: OsString,
    pub meta: Meta,
    /// 1 for the root's children.
    pub depth: usize,
}

impl Entry {
    /// The directory holding this entry (the root for depth 1).
    pub fn parent(&self) -> RelPath<'_> {
        self.path.as_rel().split_last().map(|(p, _)| p).unwrap_or(RelPath::root())
    }
}

struct Frame {
    dir: RelPathBuf,
    /// Children still to yield, sorted, reversed (popped from the end).
    children: Vec<(OsString, Meta)>,
    depth: usize,
}

/// The walk; see the module docs. An error (a directory that cannot be read, a tree too deep
/// or a path too long) is yielded once and the walk goes on with the next entry, so a caller
/// can stop at the first error (`?`) or collect them.
pub struct Walk<'a> {
    root: &'a Dir,
    stack: Vec<Frame>,
    /// A directory just yielded, read before its siblings' turn.
    pending: Option<(RelPathBuf, usize)>,
    started: bool,
}

/// Walks the tree beneath `root` (the root itself is not yielded).
pub fn walk(root: &Dir) -> Walk<'_> {
    Walk { root, stack: Vec::new(), pending: None, started: false }
}

impl Walk<'_> {
    /// Do not descend into the directory yielded last.
    pub fn skip_dir(&mut self) {
        self.pending = None;
    }

    fn read(&self, dir: RelPathBuf, depth: usize) -> Result<Frame, FsError> {
        let fd = self.root.open_dir(dir.as_rel())?.into_fd();
        let children = read_sorted(fd, &self.root.shown(dir.as_rel()))?;
        if depth > MAX_DEPTH
            && let Some((name, _)) = children.last()
        {
            return Err(FsError::TooDeep { path: self.root.shown(dir.join(name)?.as_rel()), limit: MAX_DEPTH });
        }
        Ok(Frame { dir, children, depth })
    }
}

/// The entries of an open directory with their `lstat`, sorted by name, reversed. Entries
/// that vanish between reading the directory and `lstat` are left out. `fd` must be a fresh
/// description (its read position at the start).
pub(crate) fn read_sorted(fd: OwnedFd, shown: &std::path::Path) -> Result<Vec<(OsString, Meta)>, FsError> {
    let mut rd = rustix::fs::Dir::new(fd).map_err(|e| io_err("reading the directory", shown.to_path_buf(), e))?;
    let names = read_all(&mut rd, shown)?;
    let dirfd = rd.fd().map_err(|e| io_err("reading the directory", shown.to_path_buf(), e))?;
    let mut out = Vec::with_capacity(names.len());
    for (name, _) in names {
        match stat_at(dirfd, &name) {
            Ok(m) => out.push((name, m)),
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(io_err("reading the metadata of", shown.join(&name), e)),
        }
    }
    out.sort_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes()));
    Ok(out)
}

/// The names in the directory `fd` (without `.` and `..`) and their `d_type`, in directory
/// order, read through a new description so whoever read `fd` before does not matter. For
/// one level; [`walk`] for trees.
pub fn read_names(fd: BorrowedFd<'_>, shown: &std::path::Path) -> Result<Vec<(OsString, FileType)>, FsError> {
    let own = rustix::fs::openat(fd, ".", DIR_FLAGS, Mode::empty())
        .map_err(|e| io_err("reading the directory", shown.to_path_buf(), e))?;
    let mut rd = rustix::fs::Dir::new(own).map_err(|e| io_err("reading the directory", shown.to_path_buf(), e))?;
    read_all(&mut rd, shown)
}

fn read_all(rd: &mut rustix::fs::Dir, shown: &std::path::Path) -> Result<Vec<(OsString, FileType)>, FsError> {
    let mut names = Vec::new();
    while let Some(e) = rd.read() {
        let e = e.map_err(|e| io_err("reading the directory", shown.to_path_buf(), e))?;
        let n = e.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        names.push((OsString::from(std::ffi::OsStr::from_bytes(n)), e.file_type()));
    }
    Ok(names)
}

impl Iterator for Walk<'_> {
    type Item = Result<Entry, FsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            match self.read(RelPathBuf::root(), 1) {
                Ok(f) => self.stack.push(f),
                Err(e) => return Some(Err(e)),
            }
        }
        if let Some((dir, depth)) = self.pending.take() {
            match self.read(dir, depth) {
                Ok(f) => self.stack.push(f),
                Err(e) => return Some(Err(e)),
            }
        }
        loop {
            let top = self.stack.last_mut()?;
            let Some((name, meta)) = top.children.pop() else {
                self.stack.pop();
                continue;
            };
            let depth = top.depth;
            let path = match top.dir.join(&name) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            if meta.kind == Kind::Dir {
                self.pending = Some((path.clone(), depth + 1));
            }
            return Some(Ok(Entry { path, name, meta, depth }));
        }
    }
}

/// A cached fd of one directory beneath a root, for acting on the entries of a pre-order
/// walk: consecutive entries mostly share their parent, so it is reopened only when the
/// parent changes (still one `openat2` beneath, no symlinks, and one fd).
pub(crate) struct Cursor<'a> {
    root: &'a Dir,
    at: Option<(RelPathBuf, OwnedFd)>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(root: &'a Dir) -> Cursor<'a> {
        Cursor { root, at: None }
    }

    /// An fd (`O_PATH`) of the directory `rel` beneath the root.
    pub(crate) fn dir(&mut self, rel: RelPath<'_>) -> Result<BorrowedFd<'_>, FsError> {
        if rel.is_root() {
            return Ok(self.root.fd());
        }
        let hit = matches!(&self.at, Some((p, _)) if p.as_rel() == rel);
        if !hit {
            self.at = None;
            let fd = openat2_beneath(self.root.fd(), rel.as_path(), PATH_DIR_FLAGS, Mode::empty())
                .map_err(|e| resolve_err("opening", self.root.shown(rel), e))?;
            self.at = Some((rel.to_buf(), fd));
        }
        match &self.at {
            Some((_, fd)) => Ok(fd.as_fd()),
            None => Ok(self.root.fd()),
        }
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
