//! What kind of file an input is: magic bytes first, the file name second. Trusts neither
//! the bytes nor the name; a name that disagrees with the bytes is an error, not a guess.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::decompress::{Compression, decoder};
use crate::error::ExtractError;

/// The kinds of input [`crate::extract`] handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    Tar,
    TarGz,
    TarXz,
    TarBz2,
    TarZst,
    Zip,
    /// Not an archive (or a package such as `.apk`/`.deb` the Go yoe copies as is): copied
    /// as a single file, see [`crate::copy_plain`].
    Plain,
}

impl ArchiveKind {
    pub(crate) fn compression(self) -> Option<Compression> {
        match self {
            ArchiveKind::Tar => Some(Compression::None),
            ArchiveKind::TarGz => Some(Compression::Gzip),
            ArchiveKind::TarXz => Some(Compression::Xz),
            ArchiveKind::TarBz2 => Some(Compression::Bzip2),
            ArchiveKind::TarZst => Some(Compression::Zstd),
            ArchiveKind::Zip | ArchiveKind::Plain => None,
        }
    }

    fn tar_with(c: Compression) -> ArchiveKind {
        match c {
            Compression::None => ArchiveKind::Tar,
            Compression::Gzip => ArchiveKind::TarGz,
            Compression::Xz => ArchiveKind::TarXz,
            Compression::Bzip2 => ArchiveKind::TarBz2,
            Compression::Zstd => ArchiveKind::TarZst,
        }
    }
}

impl fmt::Display for ArchiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArchiveKind::Tar => "tar",
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::TarXz => "tar.xz",
            ArchiveKind::TarBz2 => "tar.bz2",
            ArchiveKind::TarZst => "tar.zst",
            ArchiveKind::Zip => "zip",
            ArchiveKind::Plain => "plain file",
        })
    }
}

/// What the file name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameSays {
    Archive(ArchiveKind),
    /// A package the Go yoe copies bare (`.apk`, `.deb`) even though it is an archive.
    Bare,
    Nothing,
}

fn name_says(name: &OsStr) -> NameSays {
    let lower = name.as_bytes().to_ascii_lowercase();
    let ends = |suffixes: &[&str]| suffixes.iter().any(|s| lower.ends_with(s.as_bytes()));
    if ends(&[".apk", ".deb"]) {
        NameSays::Bare
    } else if ends(&[".tar.gz", ".tgz", ".taz"]) {
        NameSays::Archive(ArchiveKind::TarGz)
    } else if ends(&[".tar.xz", ".txz"]) {
        NameSays::Archive(ArchiveKind::TarXz)
    } else if ends(&[".tar.bz2", ".tbz2", ".tbz", ".tb2"]) {
        NameSays::Archive(ArchiveKind::TarBz2)
    } else if ends(&[".tar.zst", ".tar.zstd", ".tzst"]) {
        NameSays::Archive(ArchiveKind::TarZst)
    } else if ends(&[".tar"]) {
        NameSays::Archive(ArchiveKind::Tar)
    } else if ends(&[".zip"]) {
        NameSays::Archive(ArchiveKind::Zip)
    } else {
        NameSays::Nothing
    }
}

fn compression_magic(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Compression::Xz)
    } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
        Some(Compression::Bzip2)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else {
        None
    }
}

fn zip_magic(head: &[u8]) -> bool {
    // Local file header, or the end-of-central-directory record of an empty zip.
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// Does this 512-byte block look like a tar header? The header checksum must match (as
/// unsigned or, for old writers, signed bytes); the ustar magic is not required so that
/// v7 archives are recognised.
pub(crate) fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    let field = &block[148..156];
    let digits: Vec<u8> =
        field.iter().copied().skip_while(|b| *b == b' ').take_while(|b| (b'0'..=b'7').contains(b)).collect();
    if digits.is_empty() {
        return false;
    }
    let Some(stored) = digits.iter().try_fold(0u32, |acc, d| acc.checked_mul(8)?.checked_add(u32::from(d - b'0')))
    else {
        return false;
    };
    let mut unsigned: u32 = 0;
    let mut signed: i32 = 0;
    for (i, b) in block[..512].iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u32::from(b);
        signed += i32::from(b as i8);
    }
    stored == unsigned || i64::from(stored) == i64::from(signed)
}

/// Read up to `buf.len()` bytes, stopping early only at end of input.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Detect the kind of `path`, using its own file name as the name.
pub fn detect(path: &Path) -> Result<ArchiveKind, ExtractError> {
    detect_named(path, path.file_name().unwrap_or_default())
}

/// Detect the kind of `path` whose original name is `name` (e.g. a cache object named by
/// its hash, downloaded from `…/foo-1.0.tar.gz`).
///
/// The bytes decide first: zip magic is a zip; gzip/xz/bzip2/zstd magic is a compressed tar
/// when the first decompressed block is a tar header; a valid tar header is a tar. The name
/// decides second: `.apk` and `.deb` are always copied plain (as the Go yoe does); an empty
/// tar is recognised by its name; a name that promises an archive whose bytes are not one
/// is a [`ExtractError::KindMismatch`]. Anything else is [`ArchiveKind::Plain`].
pub fn detect_named(path: &Path, name: &OsStr) -> Result<ArchiveKind, ExtractError> {
    let read_err = |source| ExtractError::ReadArchive { archive: path.to_path_buf(), source };
    let named = name_says(name);
    if named == NameSays::Bare {
        return Ok(ArchiveKind::Plain);
    }
    let mut file = File::open(path).map_err(read_err)?;
    let mut head = [0u8; 512];
    let head_len = read_up_to(&mut file, &mut head).map_err(read_err)?;
    let head = &head[..head_len];

    if zip_magic(head) {
        return Ok(ArchiveKind::Zip);
    }
    if let Some(c) = compression_magic(head) {
        let file = File::open(path).map_err(read_err)?;
        let mut dec = decoder(c, BufReader::new(file));
        let mut block = [0u8; 512];
        let kind = ArchiveKind::tar_with(c);
        let n = read_up_to(&mut *dec, &mut block).map_err(|e| ExtractError::Malformed {
            archive: path.to_path_buf(),
            kind,
            at: "start".into(),
            reason: e.to_string(),
        })?;
        let block = &block[..n];
        let empty_tar = n == 512 && block.iter().all(|b| *b == 0);
        if is_tar_header(block) || (empty_tar && matches!(named, NameSays::Archive(_))) {
            return Ok(kind);
        }
        return match named {
            NameSays::Archive(k) => Err(ExtractError::KindMismatch {
                archive: path.to_path_buf(),
                named: k,
                found: format!("is {kind}-compressed but holds no tar archive"),
            }),
            _ => Ok(ArchiveKind::Plain),
        };
    }
    if is_tar_header(head) {
        return Ok(ArchiveKind::Tar);
    }
    match named {
        NameSays::Archive(ArchiveKind::Tar) if head_len == 512 && head.iter().all(|b| *b == 0) => Ok(ArchiveKind::Tar),
        NameSays::Archive(k) => Err(ExtractError::KindMismatch {
            archive: path.to_path_buf(),
            named: k,
            found: "has no matching magic bytes".into(),
        }),
        NameSays::Bare | NameSays::Nothing => Ok(ArchiveKind::Plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name_says(OsStr::new("a-1.0.TAR.GZ")), NameSays::Archive(ArchiveKind::TarGz));
        assert_eq!(name_says(OsStr::new("a.tzst")), NameSays::Archive(ArchiveKind::TarZst));
        assert_eq!(name_says(OsStr::new("musl-1.2.5-r11.apk")), NameSays::Bare);
        assert_eq!(name_says(OsStr::new("kubectl")), NameSays::Nothing);
        assert_eq!(name_says(OsStr::new("x.gz")), NameSays::Nothing);
    }

    #[test]
    fn magic() {
        assert_eq!(compression_magic(b"BZh9xxxx"), Some(Compression::Bzip2));
        assert_eq!(compression_magic(b"BZhx"), None);
        assert_eq!(compression_magic(&[0xfd, b'7', b'z', b'X', b'Z', 0]), Some(Compression::Xz));
        assert!(zip_magic(b"PK\x03\x04rest"));
        assert!(!zip_magic(b"PK\x01\x02"));
    }

    #[test]
    fn tar_header_checksum() {
        let mut h = tar::Header::new_ustar();
        h.set_path("a/b").unwrap();
        h.set_size(3);
        h.set_cksum();
        assert!(is_tar_header(h.as_bytes()));
        let mut bad = *h.as_bytes();
        bad[0] ^= 1;
        assert!(!is_tar_header(&bad));
        assert!(!is_tar_header(&[0u8; 512]));
        assert!(!is_tar_header(&[0u8; 100]));
    }
}
