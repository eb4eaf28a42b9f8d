//! Builds a manifest from a directory tree (`--from-dir`), for debugging and benchmarks: types,
//! modes, times, device numbers, symlink targets, hard links and xattrs come from the tree;
//! owners too unless one owner is given for everything. Does not follow symlinks.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::format::Timestamp;
use crate::manifest::{Entry, FileContent, Kind, Location, Manifest};

#[derive(Debug, thiserror::Error)]
pub enum FromDirError {
    #[error("walking {path}: {source}")]
    Walk { path: PathBuf, source: io::Error },
    #[error("{path}: time {secs} is outside what ext4 stores")]
    Time { path: PathBuf, secs: i64 },
}

/// One owner for every entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl std::str::FromStr for Owner {
    type Err = String;
    fn from_str(s: &str) -> Result<Owner, String> {
        let (u, g) = s.split_once(':').ok_or_else(|| format!("owner `{s}` is not UID:GID"))?;
        let num = |x: &str| x.parse::<u32>().map_err(|_| format!("owner `{s}`: `{x}` is not a number"));
        Ok(Owner { uid: num(u)?, gid: num(g)? })
    }
}

/// Walk `dir` and describe it as a manifest whose file entries point at `src` paths relative
/// to `dir` (use `dir` as the staging directory).
pub fn manifest_from_dir(dir: &Path, owner: Option<Owner>) -> Result<Manifest, FromDirError> {
    let mut entries = Vec::new();
    let mut seen: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let walk_err = |path: &Path, e: io::Error| FromDirError::Walk { path: path.to_owned(), source: e };
    for item in walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name() {
        let item = item.map_err(|e| {
            let path = e.path().map_or_else(|| dir.to_owned(), Path::to_owned);
            FromDirError::Walk { path, source: e.into() }
        })?;
        let full = item.path();
        let rel = full.strip_prefix(dir).unwrap_or(full);
        let mut path = b"/".to_vec();
        path.extend_from_slice(rel.as_os_str().as_bytes());
        let md = fs::symlink_metadata(full).map_err(|e| walk_err(full, e))?;
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let t = fs::read_link(full).map_err(|e| walk_err(full, e))?;
            Kind::Symlink { target: t.as_os_str().as_bytes().to_vec() }
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = seen.get(&(md.dev(), md.ino())) {
                    entries.push(Entry {
                        at: Location::FromDir,
                        path,
                        kind: Kind::HardLink { target: first.clone() },
                        mode: None,
                        uid: None,
                        gid: None,
                        mtime: None,
                        atime: None,
                        ctime: None,
                        xattrs: Vec::new(),
                    });
                    continue;
                }
                seen.insert((md.dev(), md.ino()), path.clone());
            }
            Kind::File(FileContent {
                src: Some(rel.as_os_str().as_bytes().to_vec()),
                sha256: None,
                data: None,
                size: Some(md.len()),
            })
        } else if ft.is_char_device() {
            Kind::CharDev { major: rustix::fs::major(md.rdev()), minor: rustix::fs::minor(md.rdev()) }
        } else if ft.is_block_device() {
            Kind::BlockDev { major: rustix::fs::major(md.rdev()), minor: rustix::fs::minor(md.rdev()) }
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            Kind::Socket
        };
        let t = Timestamp::new(md.mtime(), md.mtime_nsec() as u32)
            .ok_or(FromDirError::Time { path: full.to_owned(), secs: md.mtime() })?;
        let (uid, gid) = owner.map_or((md.uid(), md.gid()), |o| (o.uid, o.gid));
        entries.push(Entry {
            at: Location::FromDir,
            path,
            kind,
            mode: Some((md.mode() & 0o7777) as u16),
            uid: Some(uid),
            gid: Some(gid),
            mtime: Some(t),
            atime: Some(t),
            ctime: Some(t),
            xattrs: xattrs(full).map_err(|e| walk_err(full, e))?,
        });
    }
    Ok(Manifest { entries })
}

fn xattrs(p: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let n = match rustix::fs::llistxattr_query(p) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut names = vec![0u8; n];
    let n = rustix::fs::llistxattr(p, &mut names[..])?;
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let len = rustix::fs::lgetxattr_query(p, name)?;
        let mut value = vec![0u8; len];
        let len = rustix::fs::lgetxattr(p, name, &mut value[..])?;
        value.truncate(len);
        out.push((name.to_vec(), value));
    }
    out.sort();
    Ok(out)
}
