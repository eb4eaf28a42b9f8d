//! The staging directory: a fresh, private sibling of the destination that the tree is
//! extracted into, renamed into place only on success and removed on failure, so a failed
//! extraction never leaves a tree that looks valid. Trusts the caller's destination path.

use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::error::ExtractError;

pub(crate) struct Staging {
    dir: TempDir,
    dest: PathBuf,
    archive: PathBuf,
}

fn dest_error(archive: &Path, dest: &Path, reason: impl Into<String>) -> ExtractError {
    ExtractError::Destination { archive: archive.to_path_buf(), dest: dest.to_path_buf(), reason: reason.into() }
}

impl Staging {
    /// Check that `dest` is free (missing, or an empty directory that is not a symlink)
    /// and create the staging directory next to it.
    pub(crate) fn new(archive: &Path, dest: &Path) -> Result<Staging, ExtractError> {
        let name = dest.file_name().ok_or_else(|| dest_error(archive, dest, "has no file name"))?;
        match fs::symlink_metadata(dest) {
            Ok(m) if m.file_type().is_dir() => {
                let mut it =
                    fs::read_dir(dest).map_err(|e| dest_error(archive, dest, format!("cannot be listed: {e}")))?;
                if it.next().is_some() {
                    return Err(dest_error(archive, dest, "is a directory that is not empty"));
                }
            }
            Ok(_) => return Err(dest_error(archive, dest, "exists and is not a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(dest_error(archive, dest, format!("cannot be examined: {e}")));
            }
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".yoe-extract-");
        let dir =
            tempfile::Builder::new().prefix(&prefix).tempdir_in(&parent).map_err(|source| ExtractError::Staging {
                archive: archive.to_path_buf(),
                action: "create a staging directory in",
                path: parent.clone(),
                source,
            })?;
        Ok(Staging { dir, dest: dest.to_path_buf(), archive: archive.to_path_buf() })
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Move the finished tree into place. On failure the staging directory is removed.
    pub(crate) fn commit(self) -> Result<(), ExtractError> {
        let staging_err = |action, path: &Path, source| ExtractError::Staging {
            archive: self.archive.clone(),
            action,
            path: path.to_path_buf(),
            source,
        };
        fs::set_permissions(self.dir.path(), Permissions::from_mode(0o755))
            .map_err(|e| staging_err("set the mode of", self.dir.path(), e))?;
        // rename(2) replaces an empty directory atomically and fails on a non-empty one,
        // so a destination filled in the meantime is not clobbered.
        fs::rename(self.dir.path(), &self.dest)
            .map_err(|e| staging_err("rename the staging directory to", &self.dest, e))?;
        // The TempDir now points at a path that no longer exists: keep it from deleting.
        let _moved = self.dir.keep();
        Ok(())
    }
}
