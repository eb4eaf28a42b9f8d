//! The one error type of [`crate::fsx`]: every message is lowercase and names the path (as the
//! caller chose to show it), the operation and what was expected. Trusts nothing.
use std::io;
use std::path::PathBuf;

use super::Kind;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A system call failed for a reason the kernel gave.
    #[error("{op} {}: {}", path.display(), describe(source))]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An entry is not of the kind the operation works on (a fifo where a file was expected,
    /// a symlink where a directory was expected, ...). It was not opened or followed.
    #[error("{} is a {found}; {expected}", path.display())]
    Kind { path: PathBuf, found: Kind, expected: &'static str },
    /// Resolving the path would have followed a symlink or left the directory.
    #[error("{op} {}: a component on the way is a symlink or a mount point; yoe does not follow them", path.display())]
    NotBeneath { op: &'static str, path: PathBuf },
    /// A tree deeper than [`super::MAX_DEPTH`].
    #[error("{} is more than {limit} directory levels deep; yoe does not walk deeper trees", path.display())]
    TooDeep { path: PathBuf, limit: usize },
    /// A path the kernel cannot resolve in one call.
    #[error("{} is longer than the kernel's limit of {limit} bytes for a path", path.display())]
    TooLong { path: PathBuf, limit: usize },
    /// A relative path argument that could leave its directory.
    #[error("{path:?} is not a valid relative path: {reason}")]
    BadPath { path: PathBuf, reason: &'static str },
    /// A file with several hard links whose owner is neither yoe's user nor the target user:
    /// changing its owner would change a file outside the tree.
    #[error(
        "{} has {nlink} hard links and belongs to uid {uid}, which is neither yoe's user nor the \
         build user; its owner is not changed (a link to a file outside the tree)",
        path.display()
    )]
    ForeignHardLink { path: PathBuf, nlink: u64, uid: u32 },
    /// A file bigger than the caller reads.
    #[error("{} is larger than {limit} bytes, the most yoe reads from it", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    /// The entry changed between two steps of one operation (a concurrent writer).
    #[error("{} changed while {op}; nothing was followed, try again", path.display())]
    Changed { path: PathBuf, op: &'static str },
}

impl FsError {
    /// Whether the error is "no such file or directory".
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

impl From<FsError> for io::Error {
    fn from(e: FsError) -> io::Error {
        match e {
            FsError::Io { ref source, .. } => io::Error::new(source.kind(), e),
            other => io::Error::other(other),
        }
    }
}

/// `permission denied` rather than `Permission denied (os error 13)`.
pub(crate) fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_name_the_path() {
        let e =
            FsError::Io { op: "opening", path: "build/x/destdir/a".into(), source: io::Error::from_raw_os_error(13) };
        assert_eq!(e.to_string(), "opening build/x/destdir/a: permission denied");
        assert!(e.source_is_io());
        let e = FsError::Kind {
            path: "build/app.x86_64/destdir/usr/lib/x".into(),
            found: Kind::Special(super::super::Special::Fifo),
            expected: "special files are not allowed in outputs",
        };
        assert_eq!(
            e.to_string(),
            "build/app.x86_64/destdir/usr/lib/x is a fifo; special files are not allowed in outputs"
        );
        let nf = FsError::Io { op: "x", path: "p".into(), source: io::Error::from_raw_os_error(2) };
        assert!(nf.is_not_found());
        assert_eq!(io::Error::from(nf).kind(), io::ErrorKind::NotFound);
    }

    impl FsError {
        fn source_is_io(&self) -> bool {
            std::error::Error::source(self).is_some_and(|s| s.is::<io::Error>())
        }
    }
}
