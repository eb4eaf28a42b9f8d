//! [`Dir`]: an owned directory fd and the path shown in messages, and the single-entry
//! operations beneath it. Trusts the ancestors of the path given to [`Dir::open`] (the caller
//! made them or they are the project's); trusts nothing beneath it: paths below are resolved
//! by `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV`, and the last name is handled with an `*at` call that does not follow it.
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, CWD, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::{FsError, Kind, Meta, PATH_MAX, RelPath};

pub(crate) const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);
/// A directory to read entries from.
pub(crate) const DIR_FLAGS: OFlags =
    OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
/// A directory used only as the base of `*at` calls (no read permission needed).
pub(crate) const PATH_DIR_FLAGS: OFlags =
    OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
/// A file to read: never a symlink, never blocks on a fifo, never becomes a controlling tty.
pub(crate) const READ_FLAGS: OFlags =
    OFlags::RDONLY.union(OFlags::NOFOLLOW).union(OFlags::NONBLOCK).union(OFlags::NOCTTY).union(OFlags::CLOEXEC);
/// A new file: fails if anything (a symlink included) is already there.
pub(crate) const CREATE_FLAGS: OFlags =
    OFlags::WRONLY.union(OFlags::CREATE).union(OFlags::EXCL).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// An open directory and the path used to name it (and what is beneath it) in messages.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

pub(crate) fn io_err(op: &'static str, path: PathBuf, e: Errno) -> FsError {
    match e {
        Errno::NAMETOOLONG => FsError::TooLong { path, limit: PATH_MAX },
        e => FsError::Io { op, path, source: e.into() },
    }
}

/// Errors of a beneath-resolution: ELOOP and EXDEV mean a symlink or mount was in the way.
pub(crate) fn resolve_err(op: &'static str, path: PathBuf, e: Errno) -> FsError {
    match e {
        Errno::LOOP | Errno::XDEV => FsError::NotBeneath { op, path },
        e => io_err(op, path, e),
    }
}

/// `openat2` beneath `base`, retrying the EAGAIN the kernel returns when a concurrent rename
/// made it unsure (bounded).
pub(crate) fn openat2_beneath(base: BorrowedFd<'_>, rel: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    let rel: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(base, rel, flags, mode, RESOLVE) {
            Err(Errno::AGAIN) if tries < 64 => tries += 1,
            r => return r,
        }
    }
}

pub(crate) fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Meta, Errno> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|st| Meta::from_stat(&st))
}

pub(crate) fn fstat(fd: impl AsFd) -> Result<Meta, Errno> {
    rustix::fs::fstat(fd).map(|st| Meta::from_stat(&st))
}

/// The parent of an entry: the directory itself or a directory opened beneath it.
pub(crate) enum Parent<'a> {
    This(BorrowedFd<'a>),
    Opened(OwnedFd),
}

impl AsFd for Parent<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Parent::This(b) => *b,
            Parent::Opened(o) => o.as_fd(),
        }
    }
}

/// Opens a file for reading in `parent` (one name, not followed) and checks, on the open fd,
/// that it is a regular file. The caller checked with `lstat` that it was one, so no fifo or
/// device is opened unless it was swapped in between (and then it is refused unread).
pub(crate) fn open_read_at(parent: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> Result<(File, Meta), FsError> {
    let fd = rustix::fs::openat(parent, name, READ_FLAGS, Mode::empty()).map_err(|e| match e {
        Errno::LOOP => FsError::Kind {
            path: shown.to_path_buf(),
            found: Kind::Symlink,
            expected: "expected a regular file; symlinks are not followed",
        },
        e => io_err("opening", shown.to_path_buf(), e),
    })?;
    let meta = fstat(&fd).map_err(|e| io_err("reading the metadata of", shown.to_path_buf(), e))?;
    if meta.kind != Kind::File {
        return Err(FsError::Kind { path: shown.to_path_buf(), found: meta.kind, expected: "expected a regular file" });
    }
    Ok((File::from(fd), meta))
}

/// Removes one entry that is not a directory (an empty directory too), without following it.
pub(crate) fn unlink_at(parent: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
        Err(Errno::ISDIR) => rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR),
        r => r,
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Dir {
    /// Opens the directory at `path`, whose ancestors the caller trusts; the last component
    /// must be a real directory (not a symlink).
    pub fn open(path: impl AsRef<Path>) -> Result<Dir, FsError> {
        let path = path.as_ref();
        let fd = rustix::fs::openat(CWD, path, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
            Errno::LOOP => FsError::Kind {
                path: path.to_path_buf(),
                found: Kind::Symlink,
                expected: "expected a directory; symlinks are not followed",
            },
            Errno::NOTDIR => match rustix::fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => FsError::Kind {
                    path: path.to_path_buf(),
                    found: Meta::from_stat(&st).kind,
                    expected: "expected a directory",
                },
                Err(e) => io_err("opening", path.to_path_buf(), e),
            },
            e => io_err("opening", path.to_path_buf(), e),
        })?;
        Ok(Dir { fd, path: path.to_path_buf() })
    }

    /// [`Dir::open`], creating the last component first (mode 0755 less the umask) when it
    /// does not exist. Its parent must exist.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Dir, FsError> {
        let path = path.as_ref();
        match rustix::fs::mkdirat(CWD, path, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err("creating", path.to_path_buf(), e)),
        }
        Dir::open(path)
    }

    /// The same directory shown as `shown` in messages (e.g. relative to the project).
    pub fn with_display(mut self, shown: impl Into<PathBuf>) -> Dir {
        self.path = shown.into();
        self
    }

    /// The path shown for this directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path shown for `rel` beneath this directory.
    pub fn shown(&self, rel: RelPath<'_>) -> PathBuf {
        if rel.is_root() { self.path.clone() } else { self.path.join(rel.as_path()) }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// The parent directory of `rel` and its last name; `rel` must not be the root.
    pub(crate) fn parent_of<'r>(&self, rel: RelPath<'r>, op: &'static str) -> Result<(Parent<'_>, &'r OsStr), FsError> {
        let Some((parent, name)) = rel.split_last() else {
            return Err(FsError::BadPath { path: self.path.clone(), reason: "it names the directory itself" });
        };
        if parent.is_root() {
            return Ok((Parent::This(self.fd()), name));
        }
        let fd = openat2_beneath(self.fd(), parent.as_path(), PATH_DIR_FLAGS, Mode::empty())
            .map_err(|e| self.parent_err(op, parent, e))?;
        Ok((Parent::Opened(fd), name))
    }

    fn parent_err(&self, op: &'static str, parent: RelPath<'_>, e: Errno) -> FsError {
        if e == Errno::NOTDIR || e == Errno::LOOP {
            // Name the first component that is not a real directory.
            let mut cur = PathBuf::new();
            for n in parent.names() {
                cur.push(n);
                if let Ok(r) = RelPath::new(&cur)
                    && let Ok(m) = self.stat(r)
                    && m.kind != Kind::Dir
                {
                    return FsError::Kind {
                        path: self.path.join(&cur),
                        found: m.kind,
                        expected: "expected a directory; symlinks are not followed",
                    };
                }
            }
        }
        resolve_err(op, self.shown(parent), e)
    }

    /// A new open file description of this directory (its own read position).
    pub fn reopen(&self) -> Result<Dir, FsError> {
        let fd = rustix::fs::openat(self.fd(), ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| io_err("opening", self.path.clone(), e))?;
        Ok(Dir { fd, path: self.path.clone() })
    }

    /// Opens the directory `rel` beneath this one (the root: [`Dir::reopen`]).
    pub fn open_dir(&self, rel: RelPath<'_>) -> Result<Dir, FsError> {
        if rel.is_root() {
            return self.reopen();
        }
        let fd = openat2_beneath(self.fd(), rel.as_path(), DIR_FLAGS, Mode::empty()).map_err(|e| {
            match (e, self.stat(rel)) {
                (Errno::LOOP | Errno::NOTDIR, Ok(m)) if m.kind != Kind::Dir => FsError::Kind {
                    path: self.shown(rel),
                    found: m.kind,
                    expected: "expected a directory; symlinks are not followed",
                },
                _ => self.parent_err("opening", rel, e),
            }
        })?;
        Ok(Dir { fd, path: self.shown(rel) })
    }

    /// Opens the regular file `rel` for reading. Anything else (a symlink, a fifo, a socket,
    /// a device) is an error naming it, and is never opened for data: fifos would block,
    /// devices could act on open.
    pub fn open_file(&self, rel: RelPath<'_>) -> Result<File, FsError> {
        let meta = self.stat(rel)?;
        if meta.kind != Kind::File {
            return Err(FsError::Kind { path: self.shown(rel), found: meta.kind, expected: "expected a regular file" });
        }
        let (parent, name) = self.parent_of(rel, "opening")?;
        Ok(open_read_at(parent.as_fd(), name, &self.shown(rel))?.0)
    }

    /// The `lstat` of `rel` (the root: this directory).
    pub fn stat(&self, rel: RelPath<'_>) -> Result<Meta, FsError> {
        if rel.is_root() {
            return fstat(self.fd()).map_err(|e| io_err("reading the metadata of", self.path.clone(), e));
        }
        let (parent, name) = self.parent_of(rel, "reading the metadata of")?;
        stat_at(parent.as_fd(), name).map_err(|e| io_err("reading the metadata of", self.shown(rel), e))
    }

    /// [`Dir::stat`], `None` when `rel` (or a parent of it) does not exist.
    pub fn try_stat(&self, rel: RelPath<'_>) -> Result<Option<Meta>, FsError> {
        match self.stat(rel) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The target of the symlink `rel`, verbatim.
    pub fn read_link(&self, rel: RelPath<'_>) -> Result<PathBuf, FsError> {
        let (parent, name) = self.parent_of(rel, "reading the link")?;
        let t = rustix::fs::readlinkat(parent.as_fd(), name, Vec::new())
            .map_err(|e| io_err("reading the link", self.shown(rel), e))?;
        Ok(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
    }

    /// The contents of the regular file `rel`, at most `limit` bytes (more is an error).
    pub fn read_limited(&self, rel: RelPath<'_>, limit: u64) -> Result<Vec<u8>, FsError> {
        let f = self.open_file(rel)?;
        let mut data = Vec::new();
        f.take(limit.saturating_add(1)).read_to_end(&mut data).map_err(|source| FsError::Io {
            op: "reading",
            path: self.shown(rel),
            source,
        })?;
        if data.len() as u64 > limit {
            return Err(FsError::TooLarge { path: self.shown(rel), limit });
        }
        Ok(data)
    }

    /// Creates the directory `rel` (its parent must exist). `mode` is less the umask.
    pub fn create_dir(&self, rel: RelPath<'_>, mode: u32) -> Result<(), FsError> {
        let (parent, name) = self.parent_of(rel, "creating")?;
        rustix::fs::mkdirat(parent.as_fd(), name, Mode::from_raw_mode(mode))
            .map_err(|e| io_err("creating", self.shown(rel), e))
    }

    /// Creates `rel` and its missing parents one name at a time and opens it. An existing
    /// component that is not a real directory (a symlink, a file) is an error naming it.
    pub fn create_dir_all(&self, rel: RelPath<'_>, mode: u32) -> Result<Dir, FsError> {
        let mut cur = rustix::fs::openat(self.fd(), ".", PATH_DIR_FLAGS, Mode::empty())
            .map_err(|e| io_err("opening", self.path.clone(), e))?;
        let mut done = PathBuf::new();
        for name in rel.names() {
            done.push(name);
            let shown = || self.path.join(&done);
            match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(mode)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err("creating", shown(), e)),
            }
            cur = rustix::fs::openat(&cur, name, PATH_DIR_FLAGS, Mode::empty()).map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR => match stat_at(cur.as_fd(), name) {
                    Ok(m) => FsError::Kind {
                        path: shown(),
                        found: m.kind,
                        expected: "expected a directory; symlinks are not followed",
                    },
                    Err(e) => io_err("opening", shown(), e),
                },
                e => io_err("opening", shown(), e),
            })?;
        }
        let fd = rustix::fs::openat(&cur, ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| io_err("opening", self.shown(rel), e))?;
        Ok(Dir { fd, path: self.shown(rel) })
    }

    /// Creates the new regular file `rel` for writing; anything already there (a symlink
    /// too) is an error. `mode` is less the umask.
    pub fn create_file(&self, rel: RelPath<'_>, mode: u32) -> Result<File, FsError> {
        let (parent, name) = self.parent_of(rel, "creating")?;
        rustix::fs::openat(parent.as_fd(), name, CREATE_FLAGS, Mode::from_raw_mode(mode))
            .map(File::from)
            .map_err(|e| io_err("creating", self.shown(rel), e))
    }

    /// Opens `rel` for appending (a log), creating it when missing. An existing entry must
    /// be a regular file: a symlink is not followed, a fifo or device is not opened.
    pub fn append_file(&self, rel: RelPath<'_>, mode: u32) -> Result<File, FsError> {
        let shown = self.shown(rel);
        let (parent, name) = self.parent_of(rel, "opening")?;
        if let Ok(m) = stat_at(parent.as_fd(), name)
            && m.kind != Kind::File
        {
            return Err(FsError::Kind { path: shown, found: m.kind, expected: "expected a regular file to append to" });
        }
        let flags = OFlags::WRONLY
            .union(OFlags::APPEND)
            .union(OFlags::CREATE)
            .union(OFlags::NOFOLLOW)
            .union(OFlags::NONBLOCK)
            .union(OFlags::NOCTTY)
            .union(OFlags::CLOEXEC);
        let fd = rustix::fs::openat(parent.as_fd(), name, flags, Mode::from_raw_mode(mode)).map_err(|e| match e {
            Errno::LOOP => FsError::Kind {
                path: shown.clone(),
                found: Kind::Symlink,
                expected: "expected a regular file to append to; symlinks are not followed",
            },
            e => io_err("opening", shown.clone(), e),
        })?;
        let m = fstat(&fd).map_err(|e| io_err("reading the metadata of", shown.clone(), e))?;
        if m.kind != Kind::File {
            return Err(FsError::Kind { path: shown, found: m.kind, expected: "expected a regular file to append to" });
        }
        Ok(File::from(fd))
    }

    /// Writes `data` to `rel` atomically: a new file in the same directory, then `renameat`
    /// over `rel`. An existing file or symlink at `rel` is replaced (never written through);
    /// an existing directory is an error. The file gets `mode` exactly (`fchmod`).
    pub fn write_atomic(&self, rel: RelPath<'_>, data: &[u8], mode: u32) -> Result<(), FsError> {
        let shown = self.shown(rel);
        let (parent, name) = self.parent_of(rel, "writing")?;
        let parent = parent.as_fd();
        // Names a step pre-created are skipped (O_EXCL), a bounded number of times.
        let mut tries = 0;
        let (tmp, fd) = loop {
            let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = format!(".yoe-tmp.{}.{n}", std::process::id());
            match rustix::fs::openat(parent, tmp.as_str(), CREATE_FLAGS, Mode::from_raw_mode(0o600)) {
                Ok(fd) => break (tmp, fd),
                Err(Errno::EXIST) if tries < 1000 => tries += 1,
                Err(e) => return Err(io_err("creating a temporary file for", shown, e)),
            }
        };
        let result = (|| {
            let mut f = File::from(fd);
            f.write_all(data).map_err(|source| FsError::Io { op: "writing", path: shown.clone(), source })?;
            rustix::fs::fchmod(&f, Mode::from_raw_mode(mode & 0o7777))
                .map_err(|e| io_err("setting the mode of", shown.clone(), e))?;
            rustix::fs::renameat(parent, tmp.as_str(), parent, name).map_err(|e| match e {
                Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => {
                    FsError::Kind { path: shown.clone(), found: Kind::Dir, expected: "expected a file to replace" }
                }
                e => io_err("replacing", shown.clone(), e),
            })
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(parent, tmp.as_str(), AtFlags::empty());
        }
        result
    }

    /// Creates the symlink `rel` with `target` verbatim (nothing is resolved).
    pub fn symlink(&self, target: &Path, rel: RelPath<'_>) -> Result<(), FsError> {
        let (parent, name) = self.parent_of(rel, "creating the symlink")?;
        rustix::fs::symlinkat(target, parent.as_fd(), name)
            .map_err(|e| io_err("creating the symlink", self.shown(rel), e))
    }

    /// Hard-links the entry `from` (not followed if it is a symlink) as `to` beneath `to_dir`.
    pub fn hard_link(&self, from: RelPath<'_>, to_dir: &Dir, to: RelPath<'_>) -> Result<(), FsError> {
        let (fp, fname) = self.parent_of(from, "linking")?;
        let (tp, tname) = to_dir.parent_of(to, "linking")?;
        rustix::fs::linkat(fp.as_fd(), fname, tp.as_fd(), tname, AtFlags::empty())
            .map_err(|e| io_err("hard-linking", to_dir.shown(to), e))
    }

    /// Removes the entry `rel` if it is not a directory, or an empty directory; a symlink is
    /// removed itself. Trees: [`super::remove::remove_tree`].
    pub fn remove(&self, rel: RelPath<'_>) -> Result<(), FsError> {
        let (parent, name) = self.parent_of(rel, "removing")?;
        unlink_at(parent.as_fd(), name).map_err(|e| io_err("removing", self.shown(rel), e))
    }

    /// [`Dir::remove`], `false` when nothing was there.
    pub fn remove_if_exists(&self, rel: RelPath<'_>) -> Result<bool, FsError> {
        match self.remove(rel) {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `fchmod` of this directory.
    pub fn set_mode(&self, mode: u32) -> Result<(), FsError> {
        rustix::fs::fchmod(self.fd(), Mode::from_raw_mode(mode & 0o7777))
            .map_err(|e| io_err("setting the mode of", self.path.clone(), e))
    }
}

/// `fchmod` of an open file, `shown` in the error.
pub fn set_file_mode(f: &File, mode: u32, shown: &Path) -> Result<(), FsError> {
    rustix::fs::fchmod(f, Mode::from_raw_mode(mode & 0o7777))
        .map_err(|e| io_err("setting the mode of", shown.to_path_buf(), e))
}

/// Opens the regular file at `path` for reading, trusting its ancestors (a project or module
/// file): the last component is not followed, and a fifo, socket or device is refused unread.
pub fn open_regular(path: &Path) -> Result<File, FsError> {
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (if p.as_os_str().is_empty() { Path::new(".") } else { p }, n),
        _ => return Err(FsError::BadPath { path: path.to_path_buf(), reason: "it has no file name" }),
    };
    let dir = Dir::open(parent)?;
    dir.open_file(RelPath::new(name)?)
}

/// Opens the log file at `path` for appending (created with `mode` when missing), trusting
/// the ancestors of `path` (a unit's build dir): a symlink at `path` is not followed, a fifo
/// or device there is refused unopened.
pub fn append_path(path: &Path, mode: u32) -> Result<File, FsError> {
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (if p.as_os_str().is_empty() { Path::new(".") } else { p }, n),
        _ => return Err(FsError::BadPath { path: path.to_path_buf(), reason: "it has no file name" }),
    };
    Dir::open(parent)?.append_file(RelPath::new(name)?, mode)
}

/// Bytes of the regular files at or beneath `rel` (apparent sizes: a sparse file counts in
/// full), nothing followed: a symlink counts nothing. A missing `rel` is 0 bytes; a symlink
/// as `rel` itself is an error naming it.
pub fn regular_bytes(dir: &Dir, rel: RelPath<'_>) -> Result<u64, FsError> {
    let Some(meta) = dir.try_stat(rel)? else { return Ok(0) };
    match meta.kind {
        Kind::File => Ok(meta.size),
        Kind::Dir => {
            let sub = dir.open_dir(rel)?;
            let mut total = 0u64;
            for e in super::walk::walk(&sub) {
                let e = e?;
                if e.meta.kind == Kind::File {
                    total = total.saturating_add(e.meta.size);
                }
            }
            Ok(total)
        }
        Kind::Symlink => Err(FsError::Kind {
            path: dir.shown(rel),
            found: Kind::Symlink,
            expected: "expected a directory or a file; symlinks are not followed",
        }),
        Kind::Special(_) => Ok(0),
    }
}

#[cfg(test)]
#[path = "dir_tests.rs"]
mod tests;
