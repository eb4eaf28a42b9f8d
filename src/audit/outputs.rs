//! The files of built outputs (`yoe audit --outputs DIR`): every entry of every
//! `DIR/<unit>.<scope>/destdir/` (or of DIR itself when it is one destdir), walked beneath
//! the destdir's fd with `lstat` only ([`crate::fsx::walk`]). Symlinks are never followed,
//! fifos and devices are never opened, nothing is executed or changed; file contents are
//! read only through [`OutputFile::read`], which opens the file beneath the same fd and
//! refuses anything but a regular file. Trusts DIR as given; nothing in the destdirs.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsx::{Dir, FsError, RelPathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// One entry of a destdir.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// The unit (build directory name without its `.scope`).
    pub unit: String,
    /// Path inside the destdir, starting with `/`.
    pub path: String,
    pub abs: PathBuf,
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    destdir: Arc<Dir>,
    rel: RelPathBuf,
}

impl OutputFile {
    /// The file's contents, at most `limit` bytes, read beneath its destdir's fd (a regular
    /// file only: a fifo swapped in since the scan is refused, not opened).
    pub fn read(&self, limit: u64) -> Result<Vec<u8>, FsError> {
        self.destdir.read_limited(self.rel.as_rel(), limit)
    }

    /// sha256 (hex) of the contents, read the same way (whole file, streamed).
    pub fn sha256(&self) -> Result<String, FsError> {
        use sha2::Digest;
        use std::io::Read;
        let mut f = self.destdir.open_file(self.rel.as_rel())?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => return Err(FsError::Io { op: "reading", path: self.abs.clone(), source }),
            }
        }
        Ok(crate::treehash::hex(&h.finalize()))
    }
}

fn unit_of(dir_name: &str) -> String {
    dir_name.rsplit_once('.').map(|(u, _)| u.to_string()).unwrap_or_else(|| dir_name.to_string())
}

/// Every destdir under `dir`: `(unit, destdir)`, opened beneath `dir` without following.
fn destdirs(dir: &Path, diagnostics: &mut Vec<String>) -> Vec<(String, Dir)> {
    let mut out = Vec::new();
    let top = match Dir::open(dir) {
        Ok(d) => d,
        Err(e) => {
            diagnostics.push(format!("--outputs: {e}"));
            return out;
        }
    };
    let mut names = match crate::fsx::walk::read_names(top.fd(), top.path()) {
        Ok(n) => n.into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
        Err(e) => {
            diagnostics.push(format!("--outputs: {e}"));
            Vec::new()
        }
    };
    names.sort();
    for name in names {
        let Ok(rel) = RelPathBuf::new(PathBuf::from(&name).join("destdir")) else { continue };
        let name = name.to_string_lossy();
        if top.try_stat(rel.as_rel()).ok().flatten().is_some_and(|m| m.is_dir()) {
            match top.open_dir(rel.as_rel()) {
                Ok(d) => out.push((unit_of(&name), d)),
                Err(e) => diagnostics.push(format!("--outputs: {e}")),
            }
        }
    }
    if out.is_empty() {
        let unit = match dir.file_name().map(|n| n.to_string_lossy().into_owned()) {
            Some(n) if n == "destdir" => {
                dir.parent().and_then(|p| p.file_name()).map(|n| unit_of(&n.to_string_lossy())).unwrap_or_default()
            }
            Some(n) => n,
            None => String::new(),
        };
        out.push((unit, top));
    }
    out
}

/// Read every entry of every destdir under `dir`. Unreadable entries become diagnostics.
pub fn scan(dir: &Path, diagnostics: &mut Vec<String>) -> Vec<OutputFile> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        diagnostics.push(format!("--outputs {}: not a directory; the output rules did not run", dir.display()));
        return out;
    }
    for (unit, d) in destdirs(dir, diagnostics) {
        let d = Arc::new(d);
        for entry in crate::fsx::walk::walk(&d) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    diagnostics.push(format!("--outputs: {e}"));
                    continue;
                }
            };
            use crate::fsx::{Kind as K, Special as S};
            let kind = match entry.meta.kind {
                K::Symlink => Kind::Symlink,
                K::Dir => Kind::Dir,
                K::File => Kind::File,
                K::Special(S::CharDevice) => Kind::CharDevice,
                K::Special(S::BlockDevice) => Kind::BlockDevice,
                K::Special(S::Fifo) => Kind::Fifo,
                K::Special(S::Socket) => Kind::Socket,
                // Nothing else exists on Linux; say so rather than guess.
                K::Special(S::Unknown) => {
                    diagnostics.push(format!(
                        "--outputs: {} has an unknown file type",
                        d.shown(entry.path.as_rel()).display()
                    ));
                    continue;
                }
            };
            out.push(OutputFile {
                unit: unit.clone(),
                path: format!("/{}", entry.path),
                abs: d.shown(entry.path.as_rel()),
                kind,
                mode: entry.meta.mode,
                size: entry.meta.size,
                destdir: d.clone(),
                rel: entry.path,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_beneath_without_following_or_opening_fifos() {
        let t = tempfile::tempdir().unwrap();
        let canary = crate::fsx::testutil::Canary::new(t.path());
        let build = t.path().join("build");
        let dd = build.join("app.x86_64/destdir");
        std::fs::create_dir_all(dd.join("usr/bin")).unwrap();
        std::fs::write(dd.join("usr/bin/app"), "binary").unwrap();
        std::os::unix::fs::symlink(&canary.dir, dd.join("usr/evil")).unwrap();
        crate::fsx::testutil::mkfifo(&dd.join("usr/fifo"));
        // A unit dir whose destdir is a symlink is not followed.
        std::fs::create_dir_all(build.join("sneaky.x86_64")).unwrap();
        std::os::unix::fs::symlink(&canary.dir, build.join("sneaky.x86_64/destdir")).unwrap();
        let mut diags = Vec::new();
        let files = scan(&build, &mut diags);
        let paths: Vec<(&str, &str, Kind)> = files.iter().map(|f| (f.unit.as_str(), f.path.as_str(), f.kind)).collect();
        assert_eq!(
            paths,
            [
                ("app", "/usr", Kind::Dir),
                ("app", "/usr/bin", Kind::Dir),
                ("app", "/usr/bin/app", Kind::File),
                ("app", "/usr/evil", Kind::Symlink),
                ("app", "/usr/fifo", Kind::Fifo),
            ]
        );
        assert!(diags.is_empty(), "{diags:?}");
        let app = &files[2];
        assert_eq!(app.read(100).unwrap(), b"binary");
        assert_eq!(app.sha256().unwrap(), crate::treehash::sha256_hex(b"binary"));
        assert!(files[4].read(100).is_err(), "a fifo is refused, never opened");
        assert!(files[3].read(100).is_err(), "a symlink is not followed");
        assert_eq!(app.abs, dd.join("usr/bin/app"));
        // Swapped for a fifo after the scan: refused without blocking.
        std::fs::remove_file(dd.join("usr/bin/app")).unwrap();
        crate::fsx::testutil::mkfifo(&dd.join("usr/bin/app"));
        assert!(app.read(100).is_err());
        canary.assert_intact("audit scan");
    }

    #[test]
    fn one_destdir_given_directly() {
        let t = tempfile::tempdir().unwrap();
        let dd = t.path().join("x.noarch/destdir");
        std::fs::create_dir_all(&dd).unwrap();
        std::fs::write(dd.join("f"), "").unwrap();
        let files = scan(&dd, &mut Vec::new());
        assert_eq!(files.len(), 1);
        assert_eq!((files[0].unit.as_str(), files[0].path.as_str()), ("x", "/f"));
    }
}
