//! Copying trees between build directories: unit files into `src` (always real copies, the
//! project must never be writable from a build), deps' outputs into `sysroot` (hard links
//! where possible; the sysroot is mounted read-only) and into an image's rootfs. The work is
//! [`crate::fsx::copy`]: symlinks are copied, never followed; device nodes, fifos and sockets
//! are refused; sparse files stay sparse; nothing in either tree is trusted. Trusts the
//! ancestors of both paths (the project, the build dir).
use std::path::{Path, PathBuf};

use crate::fsx::{Dir, FsError};

pub use crate::fsx::copy::CopyMode as Mode;

#[derive(Debug, thiserror::Error)]
#[error("copying {} to {}: {source}", from.display(), to.display())]
pub struct CopyError {
    pub from: PathBuf,
    pub to: PathBuf,
    #[source]
    pub source: FsError,
}

/// Copy the contents of `from` into `to` (created if missing; its parent must exist). Later
/// files replace earlier ones, so merging several trees in order is deterministic. Returns
/// the number of entries other than directories.
pub fn copy_tree(from: &Path, to: &Path, mode: Mode) -> Result<usize, CopyError> {
    let err = |source| CopyError { from: from.to_path_buf(), to: to.to_path_buf(), source };
    let src = Dir::open(from).map_err(err)?;
    let dst = Dir::open_or_create(to).map_err(err)?;
    copy_dirs(&src, &dst, mode).map_err(err)
}

/// [`copy_tree`] between directories already open.
pub fn copy_dirs(from: &Dir, to: &Dir, mode: Mode) -> Result<usize, FsError> {
    crate::fsx::copy::copy_tree(from, to, mode).map(|s| s.entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn copies_links_and_merges_in_order() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = t.path().join("b");
        let out = t.path().join("out");
        fs::create_dir_all(a.join("usr/lib")).unwrap();
        fs::create_dir_all(b.join("usr/lib")).unwrap();
        fs::write(a.join("usr/lib/x"), "a").unwrap();
        fs::write(b.join("usr/lib/x"), "b").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", a.join("usr/lib/link")).unwrap();
        copy_tree(&a, &out, Mode::Link).unwrap();
        copy_tree(&b, &out, Mode::Link).unwrap();
        assert_eq!(fs::read_to_string(out.join("usr/lib/x")).unwrap(), "b");
        assert_eq!(fs::read_link(out.join("usr/lib/link")).unwrap(), PathBuf::from("/etc/passwd"));
        // Copy mode gives independent files.
        let c = t.path().join("c");
        copy_tree(&a, &c, Mode::Copy).unwrap();
        fs::write(c.join("usr/lib/x"), "changed").unwrap();
        assert_eq!(fs::read_to_string(a.join("usr/lib/x")).unwrap(), "a");
    }

    #[test]
    fn a_symlinked_source_or_destination_root_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        fs::create_dir_all(&a).unwrap();
        std::os::unix::fs::symlink(&a, t.path().join("link")).unwrap();
        let e = copy_tree(&t.path().join("link"), &t.path().join("out"), Mode::Copy).unwrap_err();
        assert!(e.to_string().contains("link is a symlink"), "{e}");
        let e = copy_tree(&a, &t.path().join("link"), Mode::Copy).unwrap_err();
        assert!(e.to_string().contains("link is a symlink"), "{e}");
    }
}
