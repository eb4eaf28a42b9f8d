//! Materialising one directory of one commit from a bare repository, without a checkout:
//! objects are read with `git cat-file --batch`, and every object read (commit, trees,
//! blobs) is re-hashed here with collision-detecting SHA-1 and must match its id, so the
//! files written are exactly those the pinned commit names, whatever the repository holds.
//! No .gitattributes, filters, export-subst, LFS or submodules play any part. It trusts
//! the commit id it is given and nothing the repository says.
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use sha1_checked::Digest as _;
use sha2::{Digest, Sha256};

use super::git::Git;
use super::manifest::{EntryKind, Manifest, ManifestEntry, SIGNATURE_PATH, check_path};
use crate::treehash::hex;

/// Limits on what one module may hold.
pub const MAX_FILES: usize = 200_000;
pub const MAX_TOTAL_BYTES: u64 = 8 << 30;
const MAX_TREE_BYTES: u64 = 64 << 20;
const MAX_LINK_BYTES: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("reading objects from {}: {why}", repo.display())]
    Pipe { repo: PathBuf, why: String },
    #[error("object {id}{} is missing from the cached repository", at_path(.path))]
    Missing { id: String, path: String },
    #[error(
        "object {id}{} in the cached repository does not hash to its id (the cache was tampered with or is corrupt)",
        at_path(.path)
    )]
    Corrupt { id: String, path: String },
    #[error("object {id}{} is a SHA-1 collision attempt", at_path(.path))]
    Collision { id: String, path: String },
    #[error("object {id}{}: {why}", at_path(.path))]
    Malformed { id: String, path: String, why: String },
    #[error("path {path:?} does not exist in commit {commit}, or is not a directory")]
    NoSuchPath { commit: String, path: String },
    #[error("the module is too large: {why}")]
    TooLarge { why: String },
    #[error("{}: {why}", path.display())]
    Write { path: PathBuf, why: String },
}

impl ObjectError {
    /// Whether this says the repository's objects cannot be trusted (refetch helps).
    pub fn is_repository_damage(&self) -> bool {
        matches!(
            self,
            ObjectError::Missing { .. }
                | ObjectError::Corrupt { .. }
                | ObjectError::Malformed { .. }
                | ObjectError::Pipe { .. }
        )
    }
}

fn at_path(p: &str) -> String {
    if p.is_empty() { String::new() } else { format!(" (for {p})") }
}

/// A `git cat-file --batch` process.
struct Batch {
    repo: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Batch {
    fn open(git: &Git, repo: &Path) -> Result<Batch, ObjectError> {
        let pipe = |why: String| ObjectError::Pipe { repo: repo.to_path_buf(), why };
        let mut child = git
            .command(Some(repo))
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| pipe(e.to_string()))?;
        let stdin = child.stdin.take().ok_or_else(|| pipe("no stdin".into()))?;
        let stdout = child.stdout.take().ok_or_else(|| pipe("no stdout".into()))?;
        Ok(Batch {
            repo: repo.to_path_buf(),
            child,
            stdin: Some(stdin),
            stdout: BufReader::with_capacity(1 << 17, stdout),
        })
    }

    fn pipe(&self, why: impl ToString) -> ObjectError {
        ObjectError::Pipe { repo: self.repo.clone(), why: why.to_string() }
    }

    /// Ask for `id`; returns (type, size) with the content ready to read.
    fn request(&mut self, id: &str, path: &str) -> Result<(String, u64), ObjectError> {
        let stdin =
            self.stdin.as_mut().ok_or_else(|| ObjectError::Pipe { repo: self.repo.clone(), why: "closed".into() })?;
        stdin.write_all(format!("{id}\n").as_bytes()).and_then(|_| stdin.flush()).map_err(|e| self.pipe(e))?;
        let mut header = String::new();
        self.stdout.read_line(&mut header).map_err(|e| self.pipe(e))?;
        let fields: Vec<&str> = header.trim_end_matches('\n').split(' ').collect();
        match fields.as_slice() {
            [got, "missing"] if *got == id => Err(ObjectError::Missing { id: id.into(), path: path.into() }),
            [got, kind, size] if *got == id => {
                let size = size.parse::<u64>().map_err(|_| self.pipe(format!("bad header {header:?}")))?;
                Ok((kind.to_string(), size))
            }
            _ => Err(self.pipe(format!("unexpected reply {header:?} for {id}"))),
        }
    }

    /// Read `size` content bytes plus the trailing newline, feeding them to `sink`; check
    /// that `kind size\0content` hashes to `id`.
    fn content(
        &mut self,
        id: &str,
        path: &str,
        kind: &str,
        size: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ObjectError>,
    ) -> Result<(), ObjectError> {
        let mut sha1 = sha1_checked::Sha1::new();
        sha1.update(format!("{kind} {size}\0").as_bytes());
        let mut left = size;
        let mut buf = vec![0u8; 1 << 16];
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = self.stdout.read(&mut buf[..want]).map_err(|e| self.pipe(e))?;
            if n == 0 {
                return Err(self.pipe("git cat-file ended early"));
            }
            sha1.update(&buf[..n]);
            sink(&buf[..n])?;
            left -= n as u64;
        }
        let mut nl = [0u8; 1];
        self.stdout.read_exact(&mut nl).map_err(|e| self.pipe(e))?;
        let result = sha1.try_finalize();
        if result.has_collision() {
            return Err(ObjectError::Collision { id: id.into(), path: path.into() });
        }
        if hex(result.hash().as_slice()) != id {
            return Err(ObjectError::Corrupt { id: id.into(), path: path.into() });
        }
        Ok(())
    }

    /// A whole (small) object of the expected type, verified.
    fn read(&mut self, id: &str, path: &str, want: &str, max: u64) -> Result<Vec<u8>, ObjectError> {
        let (kind, size) = self.request(id, path)?;
        let malformed = |why: String| ObjectError::Malformed { id: id.into(), path: path.into(), why };
        if size > max {
            // Drain it so the pipe stays in step, then refuse.
            self.content(id, path, &kind, size, &mut |_| Ok(()))?;
            return Err(malformed(format!("{kind} of {size} bytes is larger than {max}")));
        }
        let mut out = Vec::with_capacity(size as usize);
        self.content(id, path, &kind, size, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })?;
        if kind != want {
            return Err(malformed(format!("expected a {want}, found a {kind}")));
        }
        Ok(out)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of materialising a module.
#[derive(Debug)]
pub struct Materialised {
    pub manifest: Manifest,
    /// Paths of submodule entries (gitlinks) that were left out.
    pub skipped_submodules: Vec<String>,
}

/// One entry of a git tree object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub mode: String,
    pub name: String,
    /// 40-hex object id.
    pub id: String,
}

/// Parse a git tree object's content (`<mode> <name>\0<20-byte id>`…). `id` and `path`
/// only name the object in errors.
pub fn parse_tree(id: &str, path: &str, data: &[u8]) -> Result<Vec<TreeEntry>, ObjectError> {
    let malformed = |why: &str| ObjectError::Malformed { id: id.into(), path: path.into(), why: why.into() };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').ok_or_else(|| malformed("tree entry without a mode"))?;
        let mode = std::str::from_utf8(&rest[..sp]).map_err(|_| malformed("bad mode"))?.to_string();
        rest = &rest[sp + 1..];
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(|| malformed("tree entry without a name"))?;
        let name = std::str::from_utf8(&rest[..nul])
            .map_err(|_| malformed("a file name is not UTF-8 (yoe modules need UTF-8 names)"))?
            .to_string();
        rest = &rest[nul + 1..];
        if rest.len() < 20 {
            return Err(malformed("truncated tree entry"));
        }
        out.push(TreeEntry { mode, name, id: hex(&rest[..20]) });
        rest = &rest[20..];
    }
    Ok(out)
}

/// Write the files under `subdir` of `commit` into `dest/<subdir>/` (dest must exist and be
/// empty) and return their manifest (paths relative to `subdir`). The signature file is
/// written but not listed.
pub fn materialise(
    git: &Git,
    repo: &Path,
    commit: &str,
    subdir: &str,
    dest: &Path,
) -> Result<Materialised, ObjectError> {
    let mut b = Batch::open(git, repo)?;
    let commit_data = b.read(commit, "", "commit", MAX_TREE_BYTES)?;
    let first = commit_data.split(|&c| c == b'\n').next().unwrap_or_default();
    let root_tree = std::str::from_utf8(first)
        .ok()
        .and_then(|l| l.strip_prefix("tree "))
        .filter(|t| t.len() == 40)
        .ok_or_else(|| ObjectError::Malformed { id: commit.into(), path: String::new(), why: "no tree line".into() })?
        .to_string();

    // Walk down to the module's directory.
    let parts: Vec<&str> = subdir.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let no_path = || ObjectError::NoSuchPath { commit: commit.into(), path: subdir.into() };
    let mut tree = root_tree;
    let mut walked = String::new();
    for part in &parts {
        if *part == ".." {
            return Err(no_path());
        }
        let data = b.read(&tree, &walked, "tree", MAX_TREE_BYTES)?;
        let entries = parse_tree(&tree, &walked, &data)?;
        let e = entries.into_iter().find(|e| e.name == *part && e.mode == "40000").ok_or_else(no_path)?;
        walked = if walked.is_empty() { part.to_string() } else { format!("{walked}/{part}") };
        tree = e.id;
    }
    let mut base = dest.to_path_buf();
    for part in &parts {
        base.push(part);
        make_dir(&base)?;
    }

    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    let mut total = 0u64;
    // (tree id, path relative to the module dir)
    let mut stack = vec![(tree, String::new())];
    while let Some((id, rel)) = stack.pop() {
        let data = b.read(&id, &rel, "tree", MAX_TREE_BYTES)?;
        for e in parse_tree(&id, &rel, &data)? {
            let path = if rel.is_empty() { e.name.clone() } else { format!("{rel}/{}", e.name) };
            check_path(&path).map_err(|why| ObjectError::Malformed { id: id.clone(), path: path.clone(), why })?;
            let full = base.join(&path);
            if path == SIGNATURE_PATH && !matches!(e.mode.as_str(), "100644" | "100664" | "100755") {
                return Err(ObjectError::Malformed { id, path, why: "the signature must be a regular file".into() });
            }
            match e.mode.as_str() {
                "40000" => {
                    make_dir(&full)?;
                    stack.push((e.id, path));
                }
                "100644" | "100664" | "100755" => {
                    let executable = e.mode == "100755";
                    let (kind, size) = b.request(&e.id, &path)?;
                    total += size;
                    if total > MAX_TOTAL_BYTES {
                        return Err(ObjectError::TooLarge { why: format!("more than {MAX_TOTAL_BYTES} bytes") });
                    }
                    let werr = |x: std::io::Error| ObjectError::Write { path: full.clone(), why: x.to_string() };
                    let mut f = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(if executable { 0o755 } else { 0o644 })
                        .open(&full)
                        .map_err(werr)?;
                    let mut sha = Sha256::new();
                    b.content(&e.id, &path, &kind, size, &mut |chunk| {
                        sha.update(chunk);
                        f.write_all(chunk).map_err(|x| ObjectError::Write { path: full.clone(), why: x.to_string() })
                    })?;
                    if kind != "blob" {
                        return Err(ObjectError::Malformed {
                            id: e.id,
                            path,
                            why: format!("expected a blob, found a {kind}"),
                        });
                    }
                    f.set_permissions(fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }))
                        .map_err(werr)?;
                    if path != SIGNATURE_PATH {
                        entries.push(ManifestEntry {
                            path,
                            kind: EntryKind::File { executable, size, sha256: hex(&sha.finalize()) },
                        });
                    }
                }
                "120000" => {
                    let target = b.read(&e.id, &path, "blob", MAX_LINK_BYTES)?;
                    let target = String::from_utf8(target)
                        .ok()
                        .filter(|t| !t.is_empty() && !t.contains('\0'))
                        .ok_or_else(|| ObjectError::Malformed {
                            id: e.id.clone(),
                            path: path.clone(),
                            why: "symlink target is empty or not UTF-8".into(),
                        })?;
                    std::os::unix::fs::symlink(&target, &full)
                        .map_err(|x| ObjectError::Write { path: full.clone(), why: x.to_string() })?;
                    entries.push(ManifestEntry { path, kind: EntryKind::Symlink { target } });
                }
                "160000" => skipped.push(path),
                other => {
                    return Err(ObjectError::Malformed { id, path, why: format!("unknown tree entry mode {other}") });
                }
            }
            if entries.len() > MAX_FILES {
                return Err(ObjectError::TooLarge { why: format!("more than {MAX_FILES} files") });
            }
        }
    }
    let manifest = Manifest::new(entries).map_err(|e| ObjectError::Malformed {
        id: commit.into(),
        path: subdir.into(),
        why: e.to_string(),
    })?;
    skipped.sort();
    Ok(Materialised { manifest, skipped_submodules: skipped })
}

fn make_dir(p: &Path) -> Result<(), ObjectError> {
    let werr = |x: std::io::Error| ObjectError::Write { path: p.to_path_buf(), why: x.to_string() };
    match fs::create_dir(p) {
        Ok(()) => fs::set_permissions(p, fs::Permissions::from_mode(0o755)).map_err(werr),
        Err(e)
            if e.kind() == std::io::ErrorKind::AlreadyExists && fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) =>
        {
            Ok(())
        }
        Err(e) => Err(werr(e)),
    }
}
