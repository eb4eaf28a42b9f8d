//! Deterministic content hashes of directory trees (paths, types, executable bits, file
//! contents, symlink targets; never timestamps or owners). Used for module trees, unit
//! files and build outputs. Reads the filesystem, trusts nothing in it: symlinks are hashed
//! as links, never followed.
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("hashing {}: {message}", path.display())]
pub struct TreeHashError {
    pub path: PathBuf,
    pub message: String,
}

/// One entry of a hashed tree, in sorted order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File {
        executable: bool,
        size: u64,
        sha256: String,
    },
    Symlink {
        target: String,
    },
    /// Devices, fifos, sockets: recorded by type only.
    Special(String),
}

/// Walk `root` (which must be a real directory) and list its entries, sorted by path.
/// Names in `skip` at the top level (e.g. `.git`) are left out.
pub fn entries(root: &Path, skip: &[&str]) -> Result<Vec<Entry>, TreeHashError> {
    let err = |p: &Path, m: String| TreeHashError { path: p.to_path_buf(), message: m };
    let meta = fs::symlink_metadata(root).map_err(|e| err(root, e.to_string()))?;
    if !meta.is_dir() {
        return Err(err(root, "not a directory (a symlink or file is not a tree)".into()));
    }
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().min_depth(1) {
        let e = e.map_err(|e| err(root, e.to_string()))?;
        let rel = e.path().strip_prefix(root).map_err(|e| err(root, e.to_string()))?;
        if e.depth() == 1 && skip.iter().any(|s| rel.as_os_str() == *s) {
            continue;
        }
        if rel.components().next().is_some_and(|c| skip.iter().any(|s| c.as_os_str() == *s)) {
            continue;
        }
        let path = rel.to_string_lossy().to_string();
        let ft = e.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let t = fs::read_link(e.path()).map_err(|x| err(e.path(), x.to_string()))?;
            EntryKind::Symlink { target: t.to_string_lossy().to_string() }
        } else if ft.is_file() {
            let m = e.metadata().map_err(|x| err(e.path(), x.to_string()))?;
            EntryKind::File {
                executable: m.permissions().mode() & 0o111 != 0,
                size: m.len(),
                sha256: file_sha256(e.path()).map_err(|x| err(e.path(), x.to_string()))?,
            }
        } else {
            EntryKind::Special(format!("{ft:?}"))
        };
        out.push(Entry { path, kind });
    }
    Ok(out)
}

/// sha256 (hex) of a whole tree: one line per entry, in sorted order.
pub fn tree_sha256(root: &Path, skip: &[&str]) -> Result<String, TreeHashError> {
    Ok(digest_entries(&entries(root, skip)?))
}

pub fn digest_entries(entries: &[Entry]) -> String {
    let mut h = Sha256::new();
    for e in entries {
        let line = match &e.kind {
            EntryKind::Dir => format!("d {}\n", e.path),
            EntryKind::File { executable, size, sha256 } => {
                format!("f {} {} {} {}\n", if *executable { "x" } else { "-" }, size, sha256, e.path)
            }
            EntryKind::Symlink { target } => format!("l {} -> {}\n", e.path, target),
            EntryKind::Special(k) => format!("s {} {}\n", k, e.path),
        };
        h.update(line.as_bytes());
    }
    hex(&h.finalize())
}

/// sha256 (hex) of a file's contents, streamed.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_content_mode_and_links_but_not_mtime() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir(r.join("d")).unwrap();
        fs::write(r.join("d/f"), "x").unwrap();
        std::os::unix::fs::symlink("d/f", r.join("l")).unwrap();
        let h1 = tree_sha256(r, &[]).unwrap();
        let f = fs::File::options().write(true).open(r.join("d/f")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(tree_sha256(r, &[]).unwrap(), h1, "mtime is not content");
        fs::write(r.join("d/f"), "y").unwrap();
        let h2 = tree_sha256(r, &[]).unwrap();
        assert_ne!(h1, h2);
        fs::set_permissions(r.join("d/f"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(tree_sha256(r, &[]).unwrap(), h2);
        fs::remove_file(r.join("l")).unwrap();
        std::os::unix::fs::symlink("elsewhere", r.join("l")).unwrap();
        assert_ne!(tree_sha256(r, &[]).unwrap(), h2);
    }

    #[test]
    fn skip_and_symlinked_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("r");
        fs::create_dir_all(r.join(".git")).unwrap();
        fs::write(r.join(".git/HEAD"), "x").unwrap();
        fs::write(r.join("a"), "a").unwrap();
        let with = tree_sha256(&r, &[]).unwrap();
        let without = tree_sha256(&r, &[".git"]).unwrap();
        assert_ne!(with, without);
        fs::write(r.join(".git/HEAD"), "y").unwrap();
        assert_eq!(tree_sha256(&r, &[".git"]).unwrap(), without);
        std::os::unix::fs::symlink(&r, t.path().join("link")).unwrap();
        assert!(tree_sha256(&t.path().join("link"), &[]).is_err(), "a symlinked root is not a tree");
    }
}
