//! The per-unit build directory `build/<unit>.<scope>/` and its parts. Creating and wiping
//! them is the only filesystem work here; nothing outside `build/` is touched. Trusts the
//! unit's dir (yoe made it, steps cannot write it), nothing a step wrote beneath it.
#[cfg(test)]
use std::fs;
use std::path::{Path, PathBuf};

use crate::fsx::{Dir, FsError, RelPath};
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
        Ok(UnitDirs::at(crate::layout::unit_dir(build_root, unit, target)?))
    }

    /// The parts of the unit dir `root`.
    fn at(root: PathBuf) -> UnitDirs {
        UnitDirs {
            src: root.join("src"),
            destdir: root.join("destdir"),
            sysroot: root.join("sysroot"),
            home: root.join("home"),
            log: root.join("build.log"),
            record: root.join("build.json"),
            root,
        }
    }

    /// Wipe everything but the record, and create empty dirs for a fresh build. Whatever a
    /// previous build left (a 2,500-deep tree, dirs of mode 0000, symlinks to anywhere) is
    /// removed beneath the unit's dir without following anything ([`crate::fsx::remove`]).
    pub fn reset(&self) -> Result<(), FsError> {
        for d in [&self.src, &self.destdir, &self.sysroot, &self.home] {
            remove_all(d)?;
            create_dir(d)?;
        }
        Dir::open(&self.home)?.create_dir(RelPath::new("tmp")?, 0o755)?;
        remove_all(&self.log)?;
        Ok(())
    }
}

/// Creates the directory `p`, whose parent yoe made (a unit's build dir).
fn create_dir(p: &Path) -> Result<(), FsError> {
    let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
        return Err(FsError::BadPath { path: p.to_path_buf(), reason: "it has no file name" });
    };
    Dir::open(parent)?.create_dir(RelPath::new(name)?, 0o755)
}

/// Remove a path whatever it is; a directory with everything beneath it, iteratively and
/// without following symlinks, restoring write permission where a build took it away. The
/// parent of `p` is trusted (yoe made it); nothing beneath it is.
pub fn remove_all(p: &Path) -> Result<(), FsError> {
    crate::fsx::remove::remove_path(p).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reset_removes_what_a_hostile_build_left() {
        let t = tempfile::tempdir().expect("tempdir");
        let outside = t.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("keep"), "keep").expect("write");
        let dirs = UnitDirs::at(t.path().join("build/u.x86_64"));
        fs::create_dir_all(&dirs.root).expect("mkdir");
        dirs.reset().expect("first reset");
        // A previous build left a 2,500-deep tree, unreadable dirs and links out.
        crate::fsx::testutil::deep_tree(&dirs.destdir, 2500);
        fs::create_dir_all(dirs.src.join("ro/inner")).expect("mkdir");
        fs::set_permissions(dirs.src.join("ro/inner"), fs::Permissions::from_mode(0o000)).expect("chmod");
        fs::set_permissions(dirs.src.join("ro"), fs::Permissions::from_mode(0o500)).expect("chmod");
        std::os::unix::fs::symlink(&outside, dirs.home.join("out")).expect("symlink");
        std::os::unix::fs::symlink(&outside, dirs.sysroot.join("usr")).expect("symlink");
        fs::write(&dirs.log, "old log").expect("write");
        fs::write(&dirs.record, "{}").expect("write");
        dirs.reset().expect("reset");
        for d in [&dirs.src, &dirs.destdir, &dirs.sysroot] {
            assert_eq!(fs::read_dir(d).expect("ls").count(), 0, "{}", d.display());
        }
        assert!(dirs.home.join("tmp").is_dir());
        assert!(!dirs.log.exists());
        assert!(dirs.record.exists(), "the record stays");
        assert_eq!(fs::read_to_string(outside.join("keep")).expect("read"), "keep");
    }
}
