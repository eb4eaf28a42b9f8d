//! The ownership manifest: what every path in the image is, who owns it, and where its content
//! comes from. Parsed from JSON or from the compact line format; this module owns the types
//! and the field syntax shared by both. The bytes parsed here are untrusted.
//!
//! Parsing checks syntax and per-entry field rules; tree rules (duplicates, parents, hard link
//! targets) belong to `crate::tree`.

mod json;
mod lines;
mod value;
mod write;

use std::fmt;

pub use lines::{escape as escape_line_token, unescape as unescape_line_token};
pub use value::{parse_bytes_value, parse_hex as parse_hex_bytes, parse_mode, parse_timestamp};
pub use write::WriteError;

use crate::format::Timestamp;

/// Where an entry came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// Index into the JSON `entries` array (0-based).
    Index(usize),
    /// Line of the line format (1-based).
    Line(usize),
    /// Added by the writer (the root directory or `lost+found` when the manifest has none).
    Implicit,
    /// Found in a directory tree (`--from-dir`).
    FromDir,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Index(i) => write!(f, "entry {i}"),
            Location::Line(l) => write!(f, "line {l}"),
            Location::Implicit => write!(f, "implicit entry"),
            Location::FromDir => write!(f, "directory entry"),
        }
    }
}

/// Names an entry in errors: its location and its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRef {
    pub at: Location,
    pub path: Vec<u8>,
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.at, show_bytes(&self.path))
    }
}

/// Show bytes as text, escaping what is not printable UTF-8.
pub fn show_bytes(b: &[u8]) -> String {
    b.utf8_chunks()
        .flat_map(|chunk| {
            let mut s: String = chunk.valid().chars().flat_map(char::escape_debug).collect();
            for byte in chunk.invalid() {
                s.push_str(&format!("\\x{byte:02x}"));
            }
            [s]
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("manifest: {0}")]
    Top(String),
    #[error("{entry}: {msg}")]
    Entry { entry: EntryRef, msg: String },
    #[error("line {line}: {msg}")]
    Line { line: usize, msg: String },
}

/// A parsed manifest: entries in input order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub entries: Vec<Entry>,
}

/// Input format of a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Lines,
}

impl Manifest {
    /// Parse a manifest in the given format.
    pub fn parse(bytes: &[u8], format: Format) -> Result<Manifest, ManifestError> {
        match format {
            Format::Json => json::parse(bytes),
            Format::Lines => lines::parse(bytes),
        }
    }

    /// Guess the format: JSON if the first non-blank byte is `{`.
    pub fn detect(bytes: &[u8]) -> Format {
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Json,
            _ => Format::Lines,
        }
    }
}

/// One path in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub at: Location,
    /// Path as written (absolute or relative to the image root); normalised by the tree.
    pub path: Vec<u8>,
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (0..=0o7777); default depends on kind.
    pub mode: Option<u16>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mtime: Option<Timestamp>,
    pub atime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    /// Extended attributes: full name (`security.capability`) and value.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    pub fn entry_ref(&self) -> EntryRef {
        EntryRef { at: self.at.clone(), path: self.path.clone() }
    }
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(FileContent),
    Symlink {
        target: Vec<u8>,
    },
    /// Another name for the inode of `target` (a path in the image).
    HardLink {
        target: Vec<u8>,
    },
    CharDev {
        major: u32,
        minor: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
    },
    Fifo,
    Socket,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Dir => "dir",
            Kind::File(_) => "file",
            Kind::Symlink { .. } => "symlink",
            Kind::HardLink { .. } => "hardlink",
            Kind::CharDev { .. } => "char",
            Kind::BlockDev { .. } => "block",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

/// Where a regular file's bytes come from. At most one of `src`, `sha256` (without `src`:
/// from the store) and `data`; none of them with `size` means a sparse file of zeros.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileContent {
    /// Path relative to the staging directory.
    pub src: Option<Vec<u8>>,
    /// Expected SHA-256 of the content; alone, it names an object in the store.
    pub sha256: Option<[u8; 32]>,
    /// Inline content.
    pub data: Option<Vec<u8>>,
    /// Expected size in bytes (or the size of an all-sparse file).
    pub size: Option<u64>,
}

/// Highest device major and minor numbers the kernel's encoding holds.
pub const MAX_MAJOR: u32 = 0xfff;
pub const MAX_MINOR: u32 = 0xf_ffff;

/// Builds entries from `key=value` style fields; shared by both formats so that they accept
/// exactly the same things.
#[derive(Default)]
struct Fields {
    kind: Option<String>,
    path: Option<Vec<u8>>,
    mode: Option<u16>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<Timestamp>,
    atime: Option<Timestamp>,
    ctime: Option<Timestamp>,
    src: Option<Vec<u8>>,
    sha256: Option<[u8; 32]>,
    data: Option<Vec<u8>>,
    size: Option<u64>,
    target: Option<Vec<u8>>,
    major: Option<u32>,
    minor: Option<u32>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Fields {
    /// Turn the collected fields into an entry, checking which fields the kind allows.
    fn into_entry(self, at: Location) -> Result<Entry, (Vec<u8>, String)> {
        let path = self.path.clone().unwrap_or_default();
        let fail = |msg: String| Err((path.clone(), msg));
        let Some(kind_name) = self.kind.as_deref() else {
            return fail("missing `type`".into());
        };
        if self.path.is_none() {
            return fail("missing `path`".into());
        }
        let has_content = self.src.is_some() || self.sha256.is_some() || self.data.is_some() || self.size.is_some();
        let has_dev = self.major.is_some() || self.minor.is_some();
        let allow = |content: bool, target: bool, dev: bool| -> Result<(), String> {
            if !content && has_content {
                return Err(format!("`src`, `sha256`, `content` and `size` are only for files, not for a {kind_name}"));
            }
            if !target && self.target.is_some() {
                return Err(format!("`target` is only for symlinks and hard links, not for a {kind_name}"));
            }
            if !dev && has_dev {
                return Err(format!("`major`/`minor` are only for char and block devices, not for a {kind_name}"));
            }
            Ok(())
        };
        let kind = match kind_name {
            "dir" => allow(false, false, false).map(|()| Kind::Dir),
            "file" => allow(true, false, false).and_then(|()| {
                if self.data.is_some() && (self.src.is_some() || self.sha256.is_some()) {
                    return Err("`content` cannot be combined with `src` or `sha256`".into());
                }
                if let (Some(d), Some(s)) = (&self.data, self.size)
                    && d.len() as u64 != s
                {
                    return Err(format!("`size` is {s} but `content` has {} bytes", d.len()));
                }
                Ok(Kind::File(FileContent {
                    src: self.src.clone(),
                    sha256: self.sha256,
                    data: self.data.clone(),
                    size: self.size,
                }))
            }),
            "symlink" | "hardlink" => allow(false, true, false).and_then(|()| {
                let target = self.target.clone().ok_or_else(|| format!("a {kind_name} needs `target`"))?;
                Ok(if kind_name == "symlink" { Kind::Symlink { target } } else { Kind::HardLink { target } })
            }),
            "char" | "block" => allow(false, false, true).and_then(|()| {
                let (Some(major), Some(minor)) = (self.major, self.minor) else {
                    return Err(format!("a {kind_name} device needs `major` and `minor` (or `dev=MAJOR:MINOR`)"));
                };
                if major > MAX_MAJOR || minor > MAX_MINOR {
                    return Err(format!(
                        "device {major}:{minor} is out of range (major <= {MAX_MAJOR}, minor <= {MAX_MINOR})"
                    ));
                }
                Ok(if kind_name == "char" { Kind::CharDev { major, minor } } else { Kind::BlockDev { major, minor } })
            }),
            "fifo" => allow(false, false, false).map(|()| Kind::Fifo),
            "socket" => allow(false, false, false).map(|()| Kind::Socket),
            other => Err(format!(
                "unknown type `{}` (expected dir, file, symlink, hardlink, char, block, fifo or socket)",
                other.escape_debug()
            )),
        };
        let kind = match kind {
            Ok(k) => k,
            Err(m) => return fail(m),
        };
        if matches!(kind, Kind::HardLink { .. })
            && (self.mode.is_some()
                || self.uid.is_some()
                || self.gid.is_some()
                || self.mtime.is_some()
                || self.atime.is_some()
                || self.ctime.is_some()
                || !self.xattrs.is_empty())
        {
            return fail("a hard link shares its target's inode: it takes no mode, owner, times or xattrs".into());
        }
        Ok(Entry {
            at,
            path,
            kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            mtime: self.mtime,
            atime: self.atime,
            ctime: self.ctime,
            xattrs: self.xattrs,
        })
    }
}
