//! The module tree manifest: one line per file or symlink of a module (path, mode, size,
//! sha256 / link target), in a canonical text form whose sha256 is the module's tree hash
//! (`sha256:<hex>`, recorded in yoe.lock and signed by module authors). It trusts nothing it
//! parses: every line is checked, and a manifest is only believed once its own hash equals
//! the one the lock records.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::treehash::{file_sha256, sha256_hex};

/// First line of every manifest; bumps when the format changes.
pub const HEADER: &str = "yoe-module-tree 1";
/// Where a module carries its signature, relative to the module directory. It is left out
/// of the tree hash (it signs the tree hash).
pub const SIGNATURE_PATH: &str = ".yoe/module.minisig";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest line {line}: {why}")]
    Parse { line: usize, why: String },
    #[error("{}: {why}", path.display())]
    Disk { path: PathBuf, why: String },
}

/// One file or symlink of a module tree. Directories are implied by paths (as in git).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// `/`-separated path relative to the module directory.
    pub path: String,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File { executable: bool, size: u64, sha256: String },
    Symlink { target: String },
}

/// A module tree: entries sorted by path bytes, no duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

impl Manifest {
    /// Build from entries in any order (sorts them; duplicates are an error).
    pub fn new(mut entries: Vec<ManifestEntry>) -> Result<Manifest, ManifestError> {
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        for w in entries.windows(2) {
            if w[0].path == w[1].path {
                return Err(ManifestError::Parse { line: 0, why: format!("duplicate path {:?}", w[0].path) });
            }
        }
        Ok(Manifest { entries })
    }

    /// The canonical bytes (what is hashed and stored).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(64 + self.entries.len() * 100);
        out.push_str(HEADER);
        out.push('\n');
        for e in &self.entries {
            match &e.kind {
                EntryKind::File { executable, size, sha256 } => {
                    out.push_str(if *executable { "f 755 " } else { "f 644 " });
                    out.push_str(&size.to_string());
                    out.push(' ');
                    out.push_str(sha256);
                    out.push(' ');
                    escape_into(&e.path, &mut out);
                }
                EntryKind::Symlink { target } => {
                    out.push_str("l ");
                    escape_into(target, &mut out);
                    out.push(' ');
                    escape_into(&e.path, &mut out);
                }
            }
            out.push('\n');
        }
        out.into_bytes()
    }

    /// The tree hash: `sha256:` and the hex sha256 of [`Manifest::to_bytes`].
    pub fn tree_hash(&self) -> String {
        tree_hash_of(&self.to_bytes())
    }

    /// Parse canonical bytes; anything not exactly canonical is refused.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let err = |line: usize, why: &str| ManifestError::Parse { line, why: why.to_string() };
        let text = std::str::from_utf8(bytes).map_err(|_| err(0, "not UTF-8"))?;
        let body = text.strip_suffix('\n').ok_or_else(|| err(0, "does not end with a newline"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(err(1, &format!("expected the header {HEADER:?}")));
        }
        let mut entries = Vec::new();
        for (i, line) in lines.enumerate() {
            let n = i + 2;
            let fields: Vec<&str> = line.split(' ').collect();
            let entry = match fields.as_slice() {
                ["f", mode, size, sha, path] => {
                    let executable = match *mode {
                        "644" => false,
                        "755" => true,
                        _ => return Err(err(n, "mode must be 644 or 755")),
                    };
                    let size = size.parse::<u64>().map_err(|_| err(n, "bad size"))?;
                    if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                        return Err(err(n, "bad sha256"));
                    }
                    ManifestEntry {
                        path: unescape(path).ok_or_else(|| err(n, "bad path"))?,
                        kind: EntryKind::File { executable, size, sha256: sha.to_string() },
                    }
                }
                ["l", target, path] => ManifestEntry {
                    path: unescape(path).ok_or_else(|| err(n, "bad path"))?,
                    kind: EntryKind::Symlink { target: unescape(target).ok_or_else(|| err(n, "bad link target"))? },
                },
                _ => return Err(err(n, "expected `f MODE SIZE SHA256 PATH` or `l TARGET PATH`")),
            };
            check_path(&entry.path).map_err(|why| err(n, &why))?;
            entries.push(entry);
        }
        let m = Manifest::new(entries)?;
        if m.to_bytes() != bytes {
            return Err(err(0, "not in canonical form (order or escaping)"));
        }
        Ok(m)
    }

    /// The manifest of a directory on disk (a module author's checkout): every regular file
    /// and symlink, skipping a top-level `.git` and the signature file. Empty directories
    /// are not recorded (git does not track them); devices, fifos and sockets are refused.
    pub fn from_dir(dir: &Path) -> Result<Manifest, ManifestError> {
        let disk = |p: &Path, why: String| ManifestError::Disk { path: p.to_path_buf(), why };
        let meta = fs::symlink_metadata(dir).map_err(|e| disk(dir, e.to_string()))?;
        if !meta.is_dir() {
            return Err(disk(dir, "not a directory".into()));
        }
        let mut entries = Vec::new();
        let walker = walkdir::WalkDir::new(dir).follow_links(false).min_depth(1).into_iter();
        for e in walker.filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".git")) {
            let e = e.map_err(|e| disk(dir, e.to_string()))?;
            let rel = e.path().strip_prefix(dir).map_err(|x| disk(e.path(), x.to_string()))?;
            let path = rel.to_str().ok_or_else(|| disk(e.path(), "path is not UTF-8".into()))?.to_string();
            let ft = e.file_type();
            if ft.is_dir() || path == SIGNATURE_PATH {
                continue;
            }
            check_path(&path).map_err(|why| disk(e.path(), why))?;
            let kind = if ft.is_symlink() {
                let t = fs::read_link(e.path()).map_err(|x| disk(e.path(), x.to_string()))?;
                let target = t.to_str().ok_or_else(|| disk(e.path(), "link target is not UTF-8".into()))?;
                EntryKind::Symlink { target: target.to_string() }
            } else if ft.is_file() {
                let m = e.metadata().map_err(|x| disk(e.path(), x.to_string()))?;
                EntryKind::File {
                    executable: m.permissions().mode() & 0o111 != 0,
                    size: m.len(),
                    sha256: file_sha256(e.path()).map_err(|x| disk(e.path(), x.to_string()))?,
                }
            } else {
                return Err(disk(e.path(), "not a regular file, directory or symlink".into()));
            };
            entries.push(ManifestEntry { path, kind });
        }
        Manifest::new(entries).map_err(|e| disk(dir, e.to_string()))
    }
}

/// `sha256:<hex>` of manifest bytes.
pub fn tree_hash_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Whether `s` is a well-formed tree hash (`sha256:` and 64 lowercase hex digits).
pub fn is_tree_hash(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A path inside a module: relative, `/`-separated, no empty, `.`, `..` or `.git` part.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > 4096 {
        return Err("empty or over-long path".into());
    }
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(format!("path {path:?} has an empty, `.` or `..` component"));
        }
        if part.eq_ignore_ascii_case(".git") {
            return Err(format!("path {path:?} has a `.git` component"));
        }
        if part.contains('\0') {
            return Err(format!("path {path:?} contains a NUL byte"));
        }
    }
    Ok(())
}

/// Percent-escape space, `%` and control characters so fields split on spaces.
fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        if c == ' ' || c == '%' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
}

fn unescape(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            if hex.bytes().any(|c| c.is_ascii_lowercase()) {
                return None; // canonical escapes are upper case
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> ManifestEntry {
        ManifestEntry {
            path: path.into(),
            kind: EntryKind::File {
                executable: false,
                size: content.len() as u64,
                sha256: sha256_hex(content.as_bytes()),
            },
        }
    }

    #[test]
    fn round_trip_with_odd_names_and_bytewise_order() {
        let m = Manifest::new(vec![
            file("a/b", "1"),
            file("a.txt", "2"),
            file("sp ace/100%", "3"),
            ManifestEntry { path: "l\tnk".into(), kind: EntryKind::Symlink { target: "a b/../c".into() } },
            file("é", "4"),
        ])
        .unwrap();
        let order: Vec<&str> = m.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(order, ["a.txt", "a/b", "l\tnk", "sp ace/100%", "é"], "bytewise: '.' < '/'");
        let bytes = m.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(" sp%20ace/100%25\n"), "{text}");
        assert!(text.contains("l a%20b/../c l%09nk\n"), "{text}");
        assert_eq!(Manifest::parse(&bytes).unwrap(), m);
        assert!(is_tree_hash(&m.tree_hash()));
    }

    #[test]
    fn non_canonical_or_bad_lines_are_refused() {
        let m = Manifest::new(vec![file("b", "x"), file("a", "y")]).unwrap();
        let good = String::from_utf8(m.to_bytes()).unwrap();
        let swapped = {
            let mut lines: Vec<&str> = good.lines().collect();
            lines.swap(1, 2);
            lines.join("\n") + "\n"
        };
        for (bad, why) in [
            (swapped.as_str(), "order"),
            ("yoe-module-tree 2\n", "header"),
            ("yoe-module-tree 1\nf 600 1 00 a\n", "mode"),
            ("yoe-module-tree 1\nl x ../a\n", "dotdot"),
            ("yoe-module-tree 1\nl x .git/config\n", "dotgit"),
            ("yoe-module-tree 1", "newline"),
        ] {
            assert!(Manifest::parse(bad.as_bytes()).is_err(), "{why}: {bad:?}");
        }
        let lower_escape = good.clone() + "l %2f x\n";
        assert!(Manifest::parse(lower_escape.as_bytes()).is_err());
    }

    #[test]
    fn from_dir_skips_git_and_signature_and_empty_dirs() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join(".git/objects")).unwrap();
        fs::write(r.join(".git/HEAD"), "x").unwrap();
        fs::create_dir_all(r.join(".yoe")).unwrap();
        fs::write(r.join(SIGNATURE_PATH), "sig").unwrap();
        fs::create_dir_all(r.join("empty")).unwrap();
        fs::write(r.join("MODULE.star"), "module_info(name = \"m\")\n").unwrap();
        std::os::unix::fs::symlink("MODULE.star", r.join("link")).unwrap();
        let m = Manifest::from_dir(r).unwrap();
        let paths: Vec<&str> = m.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["MODULE.star", "link"]);
        let before = m.tree_hash();
        fs::write(r.join(SIGNATURE_PATH), "other sig").unwrap();
        assert_eq!(Manifest::from_dir(r).unwrap().tree_hash(), before, "the signature is not hashed");
        fs::set_permissions(r.join("MODULE.star"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(Manifest::from_dir(r).unwrap().tree_hash(), before, "the exec bit is hashed");
    }
}
