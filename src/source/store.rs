//! The content-addressed store: objects named by their sha256 under `<cache>/objects/`,
//! written to a temp file in the same directory and renamed into place atomically (so two
//! yoe processes can share it), and re-hashed every time they are reused.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("object {expected} hashes to {actual}; it was removed from the store")]
    Corrupt { expected: String, actual: String },
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A file being written into the store, hashed as it is written.
pub struct Pending {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    pub bytes: u64,
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Store {
    pub fn new(cache_dir: &Path) -> Store {
        Store { root: cache_dir.join("objects") }
    }

    fn io(&self, path: &Path, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io { path: path.to_path_buf(), message: e.to_string() }
    }

    /// Where an object lives (it may not exist).
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(&sha256[..2.min(sha256.len())]).join(sha256)
    }

    /// The object, re-hashed now. A mismatch deletes it and is reported as `Corrupt`.
    pub fn get(&self, sha256: &str) -> Result<Option<PathBuf>, StoreError> {
        let p = self.path_of(sha256);
        match fs::symlink_metadata(&p) {
            Err(_) => return Ok(None),
            Ok(m) if !m.is_file() => {
                let _ = fs::remove_file(&p);
                return Err(StoreError::Corrupt { expected: sha256.into(), actual: "not a regular file".into() });
            }
            Ok(_) => {}
        }
        let actual = crate::treehash::file_sha256(&p).map_err(|e| self.io(&p, e))?;
        if actual != sha256 {
            let _ = fs::remove_file(&p);
            return Err(StoreError::Corrupt { expected: sha256.into(), actual });
        }
        Ok(Some(p))
    }

    /// Start writing a new object.
    pub fn begin(&self) -> Result<Pending, StoreError> {
        let tmp = self.root.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| self.io(&tmp, e))?;
        let file = tempfile::NamedTempFile::new_in(&tmp).map_err(|e| self.io(&tmp, e))?;
        Ok(Pending { file, hasher: Sha256::new(), bytes: 0 })
    }

    /// Finish an object: its hash must equal `expected` when given. Returns (path, sha256).
    pub fn commit(&self, mut pending: Pending, expected: Option<&str>) -> Result<(PathBuf, String), StoreError> {
        pending.file.flush().map_err(|e| self.io(pending.file.path(), e))?;
        pending.file.as_file().sync_all().map_err(|e| self.io(pending.file.path(), e))?;
        let actual = crate::treehash::hex(&pending.hasher.finalize());
        if let Some(exp) = expected
            && exp != actual
        {
            return Err(StoreError::Corrupt { expected: exp.into(), actual });
        }
        let dst = self.path_of(&actual);
        let dir = dst.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        // Objects are read-only; a rename over an existing identical object is harmless.
        let mut perms = pending.file.as_file().metadata().map_err(|e| self.io(&dst, e))?.permissions();
        perms.set_readonly(true);
        fs::set_permissions(pending.file.path(), perms).map_err(|e| self.io(&dst, e))?;
        pending.file.persist(&dst).map_err(|e| self.io(&dst, e.error))?;
        Ok((dst, actual))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_corruption_is_caught_and_removed() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path());
        let mut p = s.begin().unwrap();
        p.write_all(b"hello").unwrap();
        let (path, sha) = s.commit(p, None).unwrap();
        assert_eq!(sha, crate::treehash::sha256_hex(b"hello"));
        assert_eq!(s.get(&sha).unwrap(), Some(path.clone()));
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, "evil").unwrap();
        assert!(matches!(s.get(&sha), Err(StoreError::Corrupt { .. })));
        assert!(!path.exists(), "a corrupt object is removed");
        let mut p = s.begin().unwrap();
        p.write_all(b"other").unwrap();
        assert!(
            matches!(s.commit(p, Some(&sha)), Err(StoreError::Corrupt { .. })),
            "wrong bytes never enter the store"
        );
        assert_eq!(s.get(&sha).unwrap(), None);
    }
}
