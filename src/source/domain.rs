//! Trust domains of the shared source caches: the store and the git cache are shared by
//! every project of a user (one copy of each archive), but a project is served only what
//! it fetched itself. Otherwise any project could read the bytes of another project's
//! private source just by naming its sha256 (or its private repository URL and commit),
//! without ever having access to it. A domain is one project directory; what it fetched is
//! recorded as empty marker files under `<cache>/domains/<id>/`. Trusts nothing in the
//! cache: a marker only says "this project fetched it"; the bytes are re-hashed anyway.
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::treehash::hex;

/// The domain of one project directory.
#[derive(Debug, Clone)]
pub struct Domain {
    dir: PathBuf,
}

/// What a domain can hold.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An archive in the store, by sha256.
    Archive,
    /// A commit of a git source, by (URL, commit).
    Git,
}

impl Domain {
    /// The domain of the project at `project_root` in the cache at `cache_dir`.
    pub fn of(cache_dir: &Path, project_root: &Path) -> Domain {
        let canonical = project_root.canonicalize().unwrap_or_else(|_| project_root.to_path_buf());
        let id = &hex(&Sha256::digest(canonical.as_os_str().as_encoded_bytes()))[..24];
        Domain { dir: cache_dir.join("domains").join(id) }
    }

    fn marker(&self, kind: Kind, key: &str) -> PathBuf {
        let k = hex(&Sha256::digest(key.as_bytes()));
        match kind {
            Kind::Archive => self.dir.join("archive").join(k),
            Kind::Git => self.dir.join("git").join(k),
        }
    }

    /// Whether this project fetched `key` itself.
    pub fn has(&self, kind: Kind, key: &str) -> bool {
        std::fs::symlink_metadata(self.marker(kind, key)).is_ok_and(|m| m.is_file())
    }

    /// Record that this project fetched `key` (from a URL it declares, bytes verified).
    pub fn record(&self, kind: Kind, key: &str) -> std::io::Result<()> {
        let m = self.marker(kind, key);
        if let Some(parent) = m.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&m).map(|_| ())
    }

    /// The marker key of a git source.
    pub fn git_key(url: &str, commit: &str) -> String {
        format!("{url}\n{commit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_have_separate_domains() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let cache = t.path().join("cache");
        let (da, db) = (Domain::of(&cache, &a), Domain::of(&cache, &b));
        da.record(Kind::Archive, "abc").unwrap();
        assert!(da.has(Kind::Archive, "abc"));
        assert!(!db.has(Kind::Archive, "abc"), "b never fetched it");
        assert!(!da.has(Kind::Git, "abc"), "kinds are separate");
        // The same directory named another way is the same domain.
        assert!(Domain::of(&cache, &a.join("../a")).has(Kind::Archive, "abc"));
    }
}
