//! Copying a file that is not extracted (a bare binary, an `.apk`, a `.deb`, anything
//! unknown) into the destination as a single file, as the Go yoe does. Trusts the caller's
//! paths; the name is checked to be a single safe file name.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use filetime::FileTime;

use crate::Summary;
use crate::detect::ArchiveKind;
use crate::error::{EntryRef, ExtractError};
use crate::names::single_component;
use crate::options::ExtractOptions;
use crate::staging::Staging;

/// Copy `file` into a new directory `dest` as `dest/<name>`, mode 0755 (the Go yoe marks
/// bare sources executable), keeping its mtime. `name` must be a single file name
/// (typically the last segment of the source URL). `dest` must be missing or an empty
/// directory; it appears only once the copy is complete. The copy is refused beyond
/// `opts`' byte limit.
pub fn copy_plain(file: &Path, dest: &Path, name: &OsStr, opts: &ExtractOptions) -> Result<Summary, ExtractError> {
    let name = single_component(name).map_err(|reason| ExtractError::BadPlainName {
        archive: file.to_path_buf(),
        name: name.to_string_lossy().into_owned(),
        reason,
    })?;
    let read_err = |source| ExtractError::ReadArchive { archive: file.to_path_buf(), source };
    let mut input = File::open(file).map_err(read_err)?;
    let meta = input.metadata().map_err(read_err)?;
    let entry = EntryRef::new(0, name.as_encoded_bytes());
    if meta.len() > opts.max_total_bytes {
        return Err(ExtractError::LimitExceeded {
            archive: file.to_path_buf(),
            entry,
            what: "bytes",
            limit: opts.max_total_bytes,
        });
    }
    let staging = Staging::new(file, dest)?;
    let target = staging.root().join(&name);
    let write_err = |source| ExtractError::Write {
        archive: file.to_path_buf(),
        entry: entry.clone(),
        path: target.clone(),
        source,
    };
    let mut out = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&target).map_err(write_err)?;
    // Read at most one byte past the limit, in case the file grows while we copy.
    let copied = copy_counted(&mut (&mut input).take(opts.max_total_bytes.saturating_add(1)), &mut out).map_err(
        |e| match e {
            CopyError::Read(e) => read_err(e),
            CopyError::Write(e) => write_err(e),
        },
    )?;
    if copied > opts.max_total_bytes {
        return Err(ExtractError::LimitExceeded {
            archive: file.to_path_buf(),
            entry,
            what: "bytes",
            limit: opts.max_total_bytes,
        });
    }
    out.set_permissions(Permissions::from_mode(0o755)).map_err(write_err)?;
    let mtime = FileTime::from_last_modification_time(&meta);
    filetime::set_file_handle_times(&out, Some(mtime), Some(mtime)).map_err(write_err)?;
    drop(out);
    staging.commit()?;
    Ok(Summary { kind: ArchiveKind::Plain, entries: 1, bytes: copied, skipped: 0 })
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy_counted(input: &mut dyn Read, out: &mut fs::File) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}
