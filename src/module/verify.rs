//! Re-verification of a module directory on disk against its manifest: every file's
//! contents (sha256), executable bit and size, every symlink's target, and no path more or
//! fewer. Timestamps, owners and the presence of a `.git` directory mean nothing here. It
//! trusts the manifest it is given (the caller checked it against the lock) and nothing on
//! disk: symlinks are never followed, files are opened with `O_NOFOLLOW`.
use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::manifest::{EntryKind, Manifest, SIGNATURE_PATH};
use crate::treehash::hex;

/// One difference between the disk and the manifest, naming the path (relative to the
/// module directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file's contents (or size) differ.
    Modified(String),
    /// The executable bit differs.
    ModeChanged(String),
    /// On disk, not in the manifest.
    Added(String),
    /// In the manifest, not on disk.
    Removed(String),
    /// A file became a symlink or directory, or the other way round.
    TypeChanged { path: String, expected: &'static str, found: &'static str },
    /// The path could not be read.
    Unreadable { path: String, why: String },
}

impl Problem {
    pub fn path(&self) -> &str {
        match self {
            Problem::Modified(p) | Problem::ModeChanged(p) | Problem::Added(p) | Problem::Removed(p) => p,
            Problem::TypeChanged { path, .. } | Problem::Unreadable { path, .. } => path,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Modified(p) => write!(f, "modified: {p}"),
            Problem::ModeChanged(p) => write!(f, "executable bit changed: {p}"),
            Problem::Added(p) => write!(f, "added: {p}"),
            Problem::Removed(p) => write!(f, "removed: {p}"),
            Problem::TypeChanged { path, expected, found } => {
                write!(f, "{path}: expected a {expected}, found a {found}")
            }
            Problem::Unreadable { path, why } => write!(f, "unreadable: {path}: {why}"),
        }
    }
}

/// How many threads hash file contents (the machine's CPUs, at most 8).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8)
}

/// Check `dir` against `manifest`. `Ok(())` when every path matches; otherwise every
/// problem found, sorted by path. The signature file (and its `.yoe` directory) may be
/// present without being in the manifest: it is checked as a signature, not as content.
pub fn verify_dir(dir: &Path, manifest: &Manifest, threads: usize) -> Result<(), Vec<Problem>> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(m) => {
            let found = kind_name(&m.file_type());
            return Err(vec![Problem::TypeChanged { path: ".".into(), expected: "directory", found }]);
        }
        Err(e) => return Err(vec![Problem::Unreadable { path: ".".into(), why: e.to_string() }]),
    }
    let mut problems = Vec::new();
    // 1. Everything on disk (types from readdir; nothing followed).
    let mut disk: Vec<(String, fs::FileType)> = Vec::with_capacity(manifest.entries.len() + 16);
    for e in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1) {
        match e {
            Ok(e) => {
                let rel = e.path().strip_prefix(dir).unwrap_or(e.path());
                disk.push((rel.to_string_lossy().into_owned(), e.file_type()));
            }
            Err(err) => {
                let path = err.path().and_then(|p| p.strip_prefix(dir).ok()).map(|p| p.display().to_string());
                problems.push(Problem::Unreadable {
                    path: path.unwrap_or_else(|| ".".into()),
                    why: err.io_error().map(|e| e.to_string()).unwrap_or_else(|| err.to_string()),
                });
            }
        }
    }
    disk.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    // 2. Directories the manifest implies, and the signature's.
    let mut dirs: HashSet<&str> = HashSet::new();
    for e in &manifest.entries {
        let mut p = e.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !dirs.insert(parent) {
                break;
            }
            p = parent;
        }
    }
    let sig_dir = SIGNATURE_PATH.rsplit_once('/').map(|(d, _)| d).unwrap_or("");

    // 3. Merge the two sorted lists.
    let mut jobs: Vec<(usize, &str)> = Vec::new(); // (manifest index, path) to hash
    let (mut i, mut j) = (0, 0);
    let entries = &manifest.entries;
    while i < entries.len() || j < disk.len() {
        let ord = match (entries.get(i), disk.get(j)) {
            (Some(m), Some(d)) => m.path.as_bytes().cmp(d.0.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                problems.push(Problem::Removed(entries[i].path.clone()));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let (path, ft) = &disk[j];
                let expected_dir = ft.is_dir() && (dirs.contains(path.as_str()) || path == sig_dir);
                let signature = ft.is_file() && path == SIGNATURE_PATH;
                if !expected_dir && !signature {
                    if dirs.contains(path.as_str()) {
                        let found = kind_name(ft);
                        problems.push(Problem::TypeChanged { path: path.clone(), expected: "directory", found });
                    } else {
                        problems.push(Problem::Added(path.clone()));
                    }
                }
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (path, ft) = &disk[j];
                match &entries[i].kind {
                    EntryKind::File { .. } if ft.is_file() => jobs.push((i, path.as_str())),
                    EntryKind::Symlink { target } if ft.is_symlink() => match fs::read_link(dir.join(path)) {
                        Ok(t) if t.as_os_str() == target.as_str() => {}
                        Ok(_) => problems.push(Problem::Modified(path.clone())),
                        Err(e) => problems.push(Problem::Unreadable { path: path.clone(), why: e.to_string() }),
                    },
                    kind => {
                        let expected = if matches!(kind, EntryKind::File { .. }) { "file" } else { "symlink" };
                        problems.push(Problem::TypeChanged { path: path.clone(), expected, found: kind_name(ft) });
                    }
                }
                i += 1;
                j += 1;
            }
        }
    }

    // 4. Hash file contents, in parallel.
    let found = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let work = || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut local = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(idx, path)) = jobs.get(k) else { break };
            if let EntryKind::File { executable, size, sha256 } = &entries[idx].kind
                && let Err(p) = check_file(&dir.join(path), path, *executable, *size, sha256, &mut buf)
            {
                local.push(p);
            }
        }
        if !local.is_empty()
            && let Ok(mut f) = found.lock()
        {
            f.extend(local);
        }
    };
    let threads = threads.clamp(1, 64).min(jobs.len().max(1));
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    problems.extend(found.into_inner().unwrap_or_else(|e| e.into_inner()));

    // An added directory names itself, not each file under it.
    let disk_dirs: HashSet<&str> = disk.iter().filter(|(_, ft)| ft.is_dir()).map(|(p, _)| p.as_str()).collect();
    let added_dirs: HashSet<String> = problems
        .iter()
        .filter_map(|p| match p {
            Problem::Added(path) if disk_dirs.contains(path.as_str()) => Some(path.clone()),
            _ => None,
        })
        .collect();
    problems.retain(|p| {
        let mut path = p.path();
        while let Some((parent, _)) = path.rsplit_once('/') {
            if added_dirs.contains(parent) {
                return false;
            }
            path = parent;
        }
        true
    });
    problems.sort_by(|a, b| a.path().as_bytes().cmp(b.path().as_bytes()));
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

fn check_file(
    full: &Path,
    rel: &str,
    executable: bool,
    size: u64,
    sha256: &str,
    buf: &mut [u8],
) -> Result<(), Problem> {
    let unreadable = |e: std::io::Error| Problem::Unreadable { path: rel.to_string(), why: e.to_string() };
    let mut f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(full).map_err(unreadable)?;
    let meta = f.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Problem::TypeChanged { path: rel.into(), expected: "file", found: kind_name(&meta.file_type()) });
    }
    if meta.len() != size {
        return Err(Problem::Modified(rel.into()));
    }
    if (meta.permissions().mode() & 0o111 != 0) != executable {
        return Err(Problem::ModeChanged(rel.into()));
    }
    let mut h = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = f.read(buf).map_err(unreadable)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    if total != size || hex(&h.finalize()) != sha256 {
        return Err(Problem::Modified(rel.into()));
    }
    Ok(())
}

fn kind_name(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Manifest) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("units/sub")).unwrap();
        fs::write(r.join("MODULE.star"), "module_info(name = \"m\")\n").unwrap();
        fs::write(r.join("units/a.star"), "unit(name = \"a\")\n").unwrap();
        fs::write(r.join("units/sub/b.star"), "unit(name = \"b\")\n").unwrap();
        std::os::unix::fs::symlink("a.star", r.join("units/link")).unwrap();
        let m = Manifest::from_dir(r).unwrap();
        (t, m)
    }

    fn paths(r: Result<(), Vec<Problem>>) -> Vec<String> {
        r.unwrap_err().iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn clean_tree_verifies_with_one_or_many_threads() {
        let (t, m) = setup();
        verify_dir(t.path(), &m, 1).unwrap();
        verify_dir(t.path(), &m, 4).unwrap();
        fs::create_dir_all(t.path().join(".yoe")).unwrap();
        fs::write(t.path().join(SIGNATURE_PATH), "sig").unwrap();
        verify_dir(t.path(), &m, 2).unwrap();
    }

    #[test]
    fn every_change_names_its_path() {
        let (t, m) = setup();
        let r = t.path();
        fs::write(r.join("units/a.star"), "unit(name = \"A\")\n").unwrap(); // same size
        fs::remove_file(r.join("units/sub/b.star")).unwrap();
        fs::write(r.join("units/new.star"), "x").unwrap();
        fs::create_dir_all(r.join(".git/objects")).unwrap();
        fs::write(r.join(".git/HEAD"), "ref").unwrap();
        fs::set_permissions(r.join("MODULE.star"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::remove_file(r.join("units/link")).unwrap();
        std::os::unix::fs::symlink("sub", r.join("units/link")).unwrap();
        assert_eq!(
            paths(verify_dir(r, &m, 2)),
            [
                "added: .git",
                "executable bit changed: MODULE.star",
                "modified: units/a.star",
                "modified: units/link",
                "added: units/new.star",
                "removed: units/sub/b.star",
            ]
        );
    }

    #[test]
    fn swapped_types_and_symlinked_root() {
        let (t, m) = setup();
        let r = t.path();
        fs::remove_file(r.join("units/a.star")).unwrap();
        fs::create_dir(r.join("units/a.star")).unwrap();
        fs::remove_dir_all(r.join("units/sub")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("units/sub")).unwrap();
        assert_eq!(
            paths(verify_dir(r, &m, 1)),
            [
                "units/a.star: expected a file, found a directory",
                "units/sub: expected a directory, found a symlink",
                "removed: units/sub/b.star",
            ]
        );
        let t2 = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(r, t2.path().join("m")).unwrap();
        assert_eq!(paths(verify_dir(&t2.path().join("m"), &m, 1)), [".: expected a directory, found a symlink"]);
    }
}
