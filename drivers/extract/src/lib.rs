//! Safe extraction of source archives (tar, tar.gz, tar.xz, tar.bz2, tar.zst, zip) for yoe.
//! Trusts nothing in the archive; trusts its caller's paths and options. No Starlark, no
//! network, no `unsafe`, no C decoders.
//!
//! The default policy ([`ExtractOptions::default`]) is strict: absolute paths, `..`,
//! symlinks or hard links that leave the destination, entries written through symlinks,
//! device nodes, fifos, sockets, setuid/setgid bits, and archives over 8 GiB or 1,000,000
//! members are refused; every error names the archive and the entry. Files belong to the
//! user running yoe, never to the archive's uid/gid; modes are masked (no setuid, setgid or
//! sticky; no group/other write; the owner can always read and write); mtimes are kept.
//! The tree is extracted into a private sibling directory and renamed into place only when
//! complete.
//!
//! ```no_run
//! use std::path::Path;
//! use yoe_extract::{extract, ExtractOptions};
//!
//! let summary = extract(
//!     Path::new("cache/ab12…"),
//!     Path::new("build/zlib.x86_64/src"),
//!     &ExtractOptions::default().name_hint("zlib-1.3.1.tar.gz"),
//! )?;
//! println!("{} entries, {} bytes", summary.entries, summary.bytes);
//! # Ok::<(), yoe_extract::ExtractError>(())
//! ```

mod decompress;
mod detect;
mod error;
mod names;
mod options;
mod plain;
mod staging;
mod tar_reader;
mod tree;
mod writer;
mod zip_reader;

use std::path::Path;

pub use detect::{ArchiveKind, detect, detect_named};
pub use error::{EntryRef, ExtractError, Refusal};
pub use options::{DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_BYTES, DEFAULT_STRIP_COMPONENTS, ExtractOptions};
pub use plain::copy_plain;

/// What an extraction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The kind of input, as detected.
    pub kind: ArchiveKind,
    /// Entries written: directories, regular files, symlinks and hard links.
    pub entries: u64,
    /// Bytes written into regular files.
    pub bytes: u64,
    /// Members not written: stripped away by `strip_components`, pax global headers, and
    /// special files skipped with [`ExtractOptions::skip_special_files`].
    pub skipped: u64,
}

/// Extract `archive` into the new directory `dest` under the policy `opts`.
///
/// The kind is found by [`detect_named`] (with `opts`' name hint, or the archive's own file
/// name). A [`ArchiveKind::Plain`] input is copied as a single file by [`copy_plain`] under
/// that name. `dest` must be missing or an empty directory, and its parent must exist; the
/// tree appears there only when extraction succeeded, and nothing is left behind when it
/// failed.
pub fn extract(archive: &Path, dest: &Path, opts: &ExtractOptions) -> Result<Summary, ExtractError> {
    let name = opts.name_hint.as_deref().or(archive.file_name()).unwrap_or_default().to_os_string();
    let kind = detect_named(archive, &name)?;
    if kind == ArchiveKind::Plain {
        return copy_plain(archive, dest, &name, opts);
    }
    extract_as(archive, dest, kind, opts)
}

/// Extract `archive` as the given `kind`, skipping detection (for callers that already
/// know it, and for fuzzing). `kind` must not be [`ArchiveKind::Plain`]; use
/// [`copy_plain`] for that.
pub fn extract_as(
    archive: &Path,
    dest: &Path,
    kind: ArchiveKind,
    opts: &ExtractOptions,
) -> Result<Summary, ExtractError> {
    let staging = staging::Staging::new(archive, dest)?;
    let counts = {
        let mut w = writer::Writer::new(archive, kind, staging.root(), opts);
        match kind.compression() {
            Some(c) => tar_reader::extract_tar(archive, c, &mut w)?,
            None if kind == ArchiveKind::Zip => zip_reader::extract_zip(archive, &mut w)?,
            None => {
                return Err(ExtractError::KindMismatch {
                    archive: archive.to_path_buf(),
                    named: kind,
                    found: "is to be copied with copy_plain, not extracted".into(),
                });
            }
        }
        w.finish()?
    };
    staging.commit()?;
    Ok(Summary { kind, entries: counts.written, bytes: counts.bytes, skipped: counts.skipped })
}
