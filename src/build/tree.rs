//! Copying trees between build directories: unit files into `src` (always real copies, the
//! project must never be writable from a build) and deps' outputs into `sysroot` (hard links
//! where possible; the sysroot is mounted read-only). Symlinks are copied, never followed;
//! device nodes, fifos and sockets are refused.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Independent copies (used for `src`).
    Copy,
    /// Hard links when on the same filesystem, else copies (used for `sysroot`).
    Link,
}

#[derive(Debug, thiserror::Error)]
#[error("copying {} to {}: {message}", from.display(), to.display())]
pub struct CopyError {
    pub from: PathBuf,
    pub to: PathBuf,
    pub message: String,
}

/// Copy the contents of `from` into `to` (created if needed). Later files replace earlier
/// ones, so merging several trees in order is deterministic.
pub fn copy_tree(from: &Path, to: &Path, mode: Mode) -> Result<usize, CopyError> {
    let err = |f: &Path, t: &Path, m: String| CopyError { from: f.to_path_buf(), to: t.to_path_buf(), message: m };
    let mut n = 0;
    fs::create_dir_all(to).map_err(|e| err(from, to, e.to_string()))?;
    for e in walkdir::WalkDir::new(from).follow_links(false).sort_by_file_name().min_depth(1) {
        let e = e.map_err(|e| err(from, to, e.to_string()))?;
        let rel = e.path().strip_prefix(from).map_err(|x| err(from, to, x.to_string()))?;
        let dst = to.join(rel);
        let ft = e.file_type();
        if ft.is_dir() {
            match fs::symlink_metadata(&dst) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&dst).map_err(|x| err(e.path(), &dst, x.to_string()))?;
                    fs::create_dir(&dst).map_err(|x| err(e.path(), &dst, x.to_string()))?;
                }
                Err(_) => fs::create_dir(&dst).map_err(|x| err(e.path(), &dst, x.to_string()))?,
            }
            let m = e.metadata().map_err(|x| err(e.path(), &dst, x.to_string()))?;
            fs::set_permissions(&dst, fs::Permissions::from_mode((m.permissions().mode() & 0o777) | 0o700))
                .map_err(|x| err(e.path(), &dst, x.to_string()))?;
            continue;
        }
        if let Ok(m) = fs::symlink_metadata(&dst) {
            if m.is_dir() {
                super::dirs::remove_all(&dst).map_err(|x| err(e.path(), &dst, x.to_string()))?;
            } else {
                fs::remove_file(&dst).map_err(|x| err(e.path(), &dst, x.to_string()))?;
            }
        }
        if ft.is_symlink() {
            let target = fs::read_link(e.path()).map_err(|x| err(e.path(), &dst, x.to_string()))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(|x| err(e.path(), &dst, x.to_string()))?;
        } else if ft.is_file() {
            let linked = mode == Mode::Link && fs::hard_link(e.path(), &dst).is_ok();
            if !linked {
                fs::copy(e.path(), &dst).map_err(|x| err(e.path(), &dst, x.to_string()))?;
                let m = e.metadata().map_err(|x| err(e.path(), &dst, x.to_string()))?;
                // setuid/setgid/sticky bits never travel between build dirs.
                fs::set_permissions(&dst, fs::Permissions::from_mode(m.permissions().mode() & 0o777))
                    .map_err(|x| err(e.path(), &dst, x.to_string()))?;
            }
        } else {
            return Err(err(
                e.path(),
                &dst,
                "device nodes, fifos and sockets are not copied between build dirs".into(),
            ));
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
