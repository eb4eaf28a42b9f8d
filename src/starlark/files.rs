//! Reading one `.star` file without trusting what the path names: it is opened without
//! blocking (a fifo, a socket or a device never stalls the load), refused unless it is a
//! regular file, and read only up to the size limit (a larger file is refused after at
//! most limit + 1 bytes). Used by the loader for every file it evaluates or peeks at and by
//! `yoe audit`'s reader, so both see the same bytes under the same rules.
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a `.star` file was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("reading {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// A fifo, socket, device or directory where a `.star` file was expected.
    #[error("{} is {kind}, not a regular file; a .star file must be a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    /// Larger than the limit: `size` is the size fstat reported, or limit + 1 when the file
    /// grew while it was read.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
}

impl ReadError {
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. } | ReadError::NotRegular { path, .. } | ReadError::TooLarge { path, .. } => path,
        }
    }
}

/// What a non-regular file is, in words.
pub fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a fifo"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// The bytes of the regular file at `path` (symlinks followed), at most `limit` of them.
pub fn read_star(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io = |e: std::io::Error| ReadError::Io { path: path.to_path_buf(), message: e.to_string() };
    // A path-based look first, so that a device is refused without being opened at all.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular { path: path.to_path_buf(), kind: kind_of(meta.file_type()) });
    }
    // O_NONBLOCK: if the path was swapped for a fifo since, open() returns at once instead of
    // waiting for a writer; O_NOCTTY: a terminal never becomes ours. std adds O_CLOEXEC.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(io)?;
    // fstat of what was opened decides.
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular { path: path.to_path_buf(), kind: kind_of(meta.file_type()) });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), size: meta.len(), limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), size: limit + 1, limit });
    }
    Ok(bytes)
}

/// [`read_star`] as UTF-8 text.
pub fn read_star_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_star(path, limit)?;
    String::from_utf8(bytes)
        .map_err(|_| ReadError::Io { path: path.to_path_buf(), message: "the file is not valid UTF-8".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_socket_and_directory_are_refused_without_blocking() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("f.star");
        // std has no mkfifo; the program is in coreutils.
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(read_star(&fifo, 10), Err(ReadError::NotRegular { kind: "a fifo", .. })));
        let sock = t.path().join("s.star");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert!(matches!(read_star(&sock, 10), Err(ReadError::NotRegular { kind: "a socket", .. })));
        let dir = t.path().join("d.star");
        std::fs::create_dir(&dir).unwrap();
        let e = read_star(&dir, 10).unwrap_err();
        assert!(e.to_string().contains("d.star is a directory, not a regular file"), "{e}");
        assert!(matches!(read_star(Path::new("/dev/null"), 10), Err(ReadError::NotRegular { .. })));
    }

    #[test]
    fn size_is_checked_before_and_while_reading() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a.star");
        std::fs::write(&p, "x = 1\n").unwrap();
        assert_eq!(read_star(&p, 6).unwrap(), b"x = 1\n");
        assert_eq!(read_star(&p, 5), Err(ReadError::TooLarge { path: p.clone(), size: 6, limit: 5 }));
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_star_text(&p, 5).unwrap_err().to_string().contains("not valid UTF-8"));
    }
}
