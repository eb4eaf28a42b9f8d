//! The per-unit build directory `build/<unit>.<scope>/` and its parts. Creating and wiping
//! them is the only filesystem work here; nothing outside `build/` is touched.
use std::fs;
use std::path::{Path, PathBuf};

use crate::layout::{LayoutError, Target};
use crate::model::Unit;

/// `build/<unit>.<scope>/{src,destdir,sysroot,home,build.log,build.json}`.
#[derive(Debug, Clone)]
pub struct UnitDirs {
    pub root: PathBuf,
    pub src: PathBuf,
    pub destdir: PathBuf,
    pub sysroot: PathBuf,
    pub home: PathBuf,
    pub log: PathBuf,
    pub record: PathBuf,
}

impl UnitDirs {
    /// The dirs of `unit` under `build_root` (names from `crate::layout`).
    pub fn new(build_root: &Path, unit: &Unit, target: Target) -> Result<UnitDirs, LayoutError> {
        let root = crate::layout::unit_dir(build_root, unit, target)?;
        Ok(UnitDirs {
            src: root.join("src"),
            destdir: root.join("destdir"),
            sysroot: root.join("sysroot"),
            home: root.join("home"),
            log: root.join("build.log"),
            record: root.join("build.json"),
            root,
        })
    }

    /// Wipe everything but the record, and create empty dirs for a fresh build.
    pub fn reset(&self) -> std::io::Result<()> {
        for d in [&self.src, &self.destdir, &self.sysroot, &self.home] {
            remove_all(d)?;
            fs::create_dir_all(d)?;
        }
        fs::create_dir_all(self.home.join("tmp"))?;
        if self.log.exists() {
            fs::remove_file(&self.log)?;
        }
        Ok(())
    }
}

/// Remove a path whatever it is; directories recursively, without following symlinks.
/// Write permission is restored first so read-only trees left by a build can be removed.
pub fn remove_all(p: &Path) -> std::io::Result<()> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        use std::os::unix::fs::PermissionsExt;
        for e in walkdir::WalkDir::new(p).follow_links(false).contents_first(false) {
            let e = e.map_err(std::io::Error::other)?;
            if e.file_type().is_dir() {
                let m = e.metadata().map_err(std::io::Error::other)?;
                if m.permissions().mode() & 0o700 != 0o700 {
                    fs::set_permissions(e.path(), fs::Permissions::from_mode(m.permissions().mode() | 0o700))?;
                }
            }
        }
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    }
}
