//! The filesystem layer yoe uses outside the sandbox for every directory a build step could
//! have written (`src`, `destdir`, `home`, and what is made from them). Trusts the ancestors
//! of the directories it is asked to [`Dir::open`] and nothing beneath them: every path below
//! is resolved by the kernel beneath a directory fd with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`, or is one name handled
//! with a parent fd and an `*at` call that does not follow it. Symlinks are read as links,
//! never followed; fifos, sockets and devices are never opened for data; trees are walked,
//! copied, hashed and removed iteratively with a constant number of fds.
//!
//! See `docs/boundary.md`, "Files yoe touches outside the sandbox".
mod dir;
mod error;
mod path;

pub mod copy;
pub mod digest;
pub mod owner;
pub mod remove;
pub mod walk;

#[cfg(test)]
pub(crate) mod testutil;

pub use dir::{Dir, append_path, open_regular, regular_bytes, set_file_mode};
pub use error::FsError;
pub use path::{RelPath, RelPathBuf};

/// Deepest tree walked, copied, hashed or handed over (directory levels below the root).
/// Deeper trees are an error naming the path; removal has no depth limit.
pub const MAX_DEPTH: usize = 256;

/// The kernel's limit for one path (bytes including the final NUL); a walk reopens every
/// directory from its root, so relative paths longer than this are an error naming the path.
pub const PATH_MAX: usize = 4096;

/// What an entry is, from `lstat` (a symlink is a symlink, never its target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Special(Special),
}

/// Files that are never read as data nor copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Dir => "directory",
            Kind::File => "regular file",
            Kind::Symlink => "symlink",
            Kind::Special(Special::Fifo) => "fifo",
            Kind::Special(Special::Socket) => "socket",
            Kind::Special(Special::CharDevice) => "character device",
            Kind::Special(Special::BlockDevice) => "block device",
            Kind::Special(Special::Unknown) => "file of unknown type",
        })
    }
}

/// The `lstat` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Apparent size in bytes (`st_size`).
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    /// 512-byte blocks allocated (`st_blocks`): small for a sparse file.
    pub blocks: u64,
}

fn to_u64<T: TryInto<u64>>(v: T) -> u64 {
    v.try_into().unwrap_or(0)
}

impl Meta {
    pub(crate) fn from_stat(st: &rustix::fs::Stat) -> Meta {
        use rustix::fs::FileType;
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Kind::Dir,
            FileType::RegularFile => Kind::File,
            FileType::Symlink => Kind::Symlink,
            FileType::Fifo => Kind::Special(Special::Fifo),
            FileType::Socket => Kind::Special(Special::Socket),
            FileType::CharacterDevice => Kind::Special(Special::CharDevice),
            FileType::BlockDevice => Kind::Special(Special::BlockDevice),
            FileType::Unknown => Kind::Special(Special::Unknown),
        };
        Meta {
            kind,
            mode: st.st_mode & 0o7777,
            size: to_u64(st.st_size),
            uid: st.st_uid,
            gid: st.st_gid,
            dev: to_u64(st.st_dev),
            ino: to_u64(st.st_ino),
            nlink: to_u64(st.st_nlink),
            blocks: to_u64(st.st_blocks),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }

    /// Same inode (device and inode number).
    pub fn same_inode(&self, other: &Meta) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// yoe's effective uid.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}
