//! Errors of the extractor: every one names the archive, and the entry when there is one.
//! Trusts nothing; only formats what the other modules found.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::detect::ArchiveKind;

/// One entry of an archive, as named in errors: its position (0-based, counting every
/// member the archive holds) and its name exactly as the archive spells it (lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef {
    /// Position of the entry in the archive, counting from 0.
    pub index: u64,
    /// The entry's name as stored in the archive, before stripping or normalising.
    pub name: String,
}

impl EntryRef {
    pub(crate) fn new(index: u64, raw_name: &[u8]) -> Self {
        EntryRef { index, name: String::from_utf8_lossy(raw_name).into_owned() }
    }
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {:?}", self.index, self.name)
    }
}

/// Why an entry was refused. Each is a rule of the strict default; the ones that a named
/// option relaxes say which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("absolute path")]
    AbsolutePath,
    #[error("path has a '..' component")]
    ParentComponent,
    #[error("name contains a NUL byte")]
    NulInName,
    #[error("name is {len} bytes long, the limit is {limit}")]
    NameTooLong { len: usize, limit: usize },
    #[error("path component is {len} bytes long, the limit is {limit}")]
    ComponentTooLong { len: usize, limit: usize },
    #[error("path has {depth} components, the limit is {limit}")]
    TooDeep { depth: usize, limit: usize },
    #[error("zip name contains a backslash (ambiguous separator)")]
    Backslash,
    #[error("symlink target {target:?} is absolute")]
    AbsoluteSymlink { target: String },
    #[error("symlink target {target:?} resolves outside the destination")]
    SymlinkEscapes { target: String },
    #[error(
        "symlink target {target:?} has a '..' after a name; only leading '..' components are \
         accepted"
    )]
    SymlinkInnerParent { target: String },
    #[error("symlink target is empty")]
    EmptySymlink,
    #[error("symlink target is {len} bytes long, the limit is {limit}")]
    SymlinkTooLong { len: u64, limit: usize },
    #[error("hard link target {target:?} is not inside the destination")]
    HardlinkEscapes { target: String },
    #[error("hard link target {target:?} was not extracted before the link")]
    HardlinkTargetMissing { target: String },
    #[error("hard link target {target:?} is not a regular file")]
    HardlinkToNonFile { target: String },
    #[error(
        "path goes through the extracted symlink {symlink:?} \
         (allowed only with follow_symlinks_inside)"
    )]
    ThroughSymlink { symlink: String },
    #[error("path resolves outside the destination through symlink {symlink:?}")]
    EscapesThroughSymlink { symlink: String },
    #[error("symlinks nest too deeply resolving the path (loop?)")]
    SymlinkLoop,
    #[error("parent {parent:?} is not a directory")]
    ParentNotDirectory { parent: String },
    #[error("would replace the directory {path:?} with a non-directory")]
    ReplacesDirectory { path: String },
    #[error("device node (allowed only as skipped, with skip_special_files)")]
    DeviceNode,
    #[error("fifo (allowed only as skipped, with skip_special_files)")]
    Fifo,
    #[error("socket (allowed only as skipped, with skip_special_files)")]
    Socket,
    #[error("mode {mode:#o} has setuid or setgid bits (allowed only with strip_setid_bits)")]
    SetidBits { mode: u32 },
    #[error("sparse files are not supported")]
    Sparse,
    #[error("unsupported tar entry type {typeflag:?}")]
    UnsupportedTarType { typeflag: char },
    #[error("entry is encrypted")]
    Encrypted,
    #[error("pax header sets {key:?} in a global header")]
    PaxGlobalOverride { key: String },
    #[error("pax size {pax} disagrees with the header size {header}")]
    PaxSizeMismatch { pax: u64, header: u64 },
    #[error("{what} extension header is {len} bytes, the limit is {limit}")]
    ExtensionTooLarge { what: &'static str, len: u64, limit: u64 },
    #[error("a hard link target whose name is empty after stripping")]
    EmptyLinkTarget,
}

/// Errors of [`crate::extract`], [`crate::detect`] and [`crate::copy_plain`].
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The archive file itself cannot be opened or read.
    #[error("cannot read archive {archive}: {source}")]
    ReadArchive {
        archive: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The archive's bytes are not a well-formed archive of the detected kind.
    #[error("archive {archive} ({kind}) is malformed at {at}: {reason}")]
    Malformed {
        archive: PathBuf,
        kind: ArchiveKind,
        /// The entry being read, or where in the archive, e.g. `after entry #3 "a/b"`.
        at: String,
        reason: String,
    },
    /// An entry breaks a rule of the extraction policy.
    #[error("archive {archive}: entry {entry} refused: {reason}")]
    Refused { archive: PathBuf, entry: EntryRef, reason: Refusal },
    /// The archive holds more entries or more bytes than allowed.
    #[error("archive {archive}: entry {entry} exceeds the limit of {limit} {what}")]
    LimitExceeded { archive: PathBuf, entry: EntryRef, what: &'static str, limit: u64 },
    /// Writing an entry to disk failed.
    #[error("archive {archive}: entry {entry}: cannot write {path}: {source}")]
    Write {
        archive: PathBuf,
        entry: EntryRef,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file name says one kind of archive and the bytes say another.
    #[error("archive {archive} is named like a {named} but its content {found}")]
    KindMismatch { archive: PathBuf, named: ArchiveKind, found: String },
    /// The destination exists and is not an empty directory, or its parent is missing.
    #[error("archive {archive}: destination {dest} {reason}")]
    Destination { archive: PathBuf, dest: PathBuf, reason: String },
    /// Creating, renaming or cleaning up the staging directory failed.
    #[error("archive {archive}: cannot {action} {path}: {source}")]
    Staging {
        archive: PathBuf,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The name given for a plain (non-archive) file is not a single safe file name.
    #[error("file {archive}: {name:?} is not usable as a file name: {reason}")]
    BadPlainName { archive: PathBuf, name: String, reason: Refusal },
}

impl ExtractError {
    /// The refusal behind this error, if it is a policy refusal.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            ExtractError::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The entry this error is about, if any.
    pub fn entry(&self) -> Option<&EntryRef> {
        match self {
            ExtractError::Refused { entry, .. }
            | ExtractError::LimitExceeded { entry, .. }
            | ExtractError::Write { entry, .. } => Some(entry),
            _ => None,
        }
    }
}
