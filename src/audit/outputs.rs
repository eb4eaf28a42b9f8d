//! The files of built outputs (`yoe audit --outputs DIR`): every entry of every
//! `DIR/<unit>.<scope>/destdir/` (or of DIR itself when it is one destdir), read with
//! `lstat` only. Symlinks are never followed; nothing is executed or changed.
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

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
}

/// Every destdir under `dir`: `(unit, destdir)`.
fn destdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let d = p.join("destdir");
            if d.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let unit = name.rsplit_once('.').map(|(u, _)| u.to_string()).unwrap_or(name);
                out.push((unit, d));
            }
        }
    }
    if out.is_empty() && dir.is_dir() {
        let unit = match dir.file_name().map(|n| n.to_string_lossy().into_owned()) {
            Some(n) if n == "destdir" => dir
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .map(|n| n.rsplit_once('.').map(|(u, _)| u.to_string()).unwrap_or(n))
                .unwrap_or_default(),
            Some(n) => n,
            None => String::new(),
        };
        out.push((unit, dir.to_path_buf()));
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
    for (unit, d) in destdirs(dir) {
        for entry in walkdir::WalkDir::new(&d).follow_links(false).sort_by_file_name().min_depth(1) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    diagnostics.push(format!("--outputs: {e}"));
                    continue;
                }
            };
            let Ok(md) = entry.path().symlink_metadata() else { continue };
            let ft = md.file_type();
            let kind = if ft.is_symlink() {
                Kind::Symlink
            } else if ft.is_dir() {
                Kind::Dir
            } else if ft.is_char_device() {
                Kind::CharDevice
            } else if ft.is_block_device() {
                Kind::BlockDevice
            } else if ft.is_fifo() {
                Kind::Fifo
            } else if ft.is_socket() {
                Kind::Socket
            } else {
                Kind::File
            };
            let rel = entry.path().strip_prefix(&d).map(|p| format!("/{}", p.display())).unwrap_or_default();
            out.push(OutputFile {
                unit: unit.clone(),
                path: rel,
                abs: entry.path().to_path_buf(),
                kind,
                mode: md.mode() & 0o7777,
                size: md.size(),
            });
        }
    }
    out
}
