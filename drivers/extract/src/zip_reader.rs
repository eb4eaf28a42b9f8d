//! Reads a zip archive entry by entry (central directory order) and hands each entry to
//! the writer. Trusts none of the bytes: names are checked raw (never the zip crate's
//! sanitised names), local headers must agree with the central directory, duplicate
//! names and encrypted entries are refused, and the bytes actually inflated are counted.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use zip::ZipArchive;
use zip::extra_fields::ExtraField;
use zip::read::ZipReadOptions;

use crate::error::{EntryRef, ExtractError, Refusal};
use crate::names::{Flavor, MAX_PATH_BYTES, Mapped, common_prefix_len, map_entry_name};
use crate::writer::{Special, Writer};

const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;
const S_IFLNK: u32 = 0o120000;
const S_IFBLK: u32 = 0o060000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Special(Special),
}

fn kind_of(name: &[u8], unix_mode: Option<u32>) -> Kind {
    if name.last() == Some(&b'/') {
        return Kind::Dir;
    }
    match unix_mode.map(|m| m & S_IFMT) {
        Some(S_IFLNK) => Kind::Symlink,
        Some(S_IFDIR) => Kind::Dir,
        Some(S_IFCHR) | Some(S_IFBLK) => Kind::Special(Special::Device),
        Some(S_IFIFO) => Kind::Special(Special::Fifo),
        Some(S_IFSOCK) => Kind::Special(Special::Socket),
        _ => Kind::File,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An MS-DOS timestamp, read as UTC (it has no zone; Go's archive/zip reads it the same).
fn dos_to_unix(t: &zip::DateTime) -> i64 {
    let days = days_from_civil(i64::from(t.year()), i64::from(t.month()), i64::from(t.day()));
    days * 86_400 + i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

pub(crate) fn extract_zip(archive: &Path, w: &mut Writer<'_>) -> Result<(), ExtractError> {
    let file =
        File::open(archive).map_err(|source| ExtractError::ReadArchive { archive: archive.to_path_buf(), source })?;
    let mut zip = ZipArchive::new(BufReader::with_capacity(64 * 1024, file))
        .map_err(|e| w.malformed("the central directory".into(), e))?;
    let strip = common_prefix_len(zip.file_names_raw(), w.opts().strip_components);
    if zip.has_duplicate_names() {
        return Err(w.malformed("the central directory".into(), "two entries have the same name"));
    }
    for i in 0..zip.len() {
        let index = i as u64;
        let (name, encrypted, unix_mode, size) = {
            let d = zip.by_index_data(i).map_err(|e| w.malformed(format!("entry #{index}"), e))?;
            // The zip crate's `unix_mode` clears setuid/setgid/sticky; the policy needs
            // to see them, so read the raw attributes of Unix-made entries.
            let mode = match d.system() {
                zip::System::Unix if d.external_attributes() != 0 => Some(d.external_attributes() >> 16),
                _ => d.unix_mode(),
            };
            (d.name_raw().to_vec(), d.encrypted(), mode, d.size())
        };
        let entry = EntryRef::new(index, &name);
        w.member(&entry)?;
        if encrypted {
            return Err(w.refused(&entry, Refusal::Encrypted));
        }
        let path = match map_entry_name(&name, strip, Flavor::Zip) {
            Ok(Mapped::Path(p)) => Some(p),
            Ok(Mapped::Nothing) => None,
            Err(r) => return Err(w.refused(&entry, r)),
        };
        let kind = kind_of(&name, unix_mode);
        if let Kind::Special(s) = kind {
            w.special(&entry, s)?;
            continue;
        }
        let Some(path) = path else {
            w.skip();
            continue;
        };
        w.charge(&entry, size)?;
        let mut f = zip
            .by_index_with_options(i, ZipReadOptions::new().enforce_header_consistency(true))
            .map_err(|e| w.malformed(format!("entry {entry}"), e))?;
        let mtime = f
            .extra_data_fields()
            .find_map(|x| match x {
                ExtraField::ExtendedTimestamp(ts) => ts.mod_time().map(i64::from),
                _ => None,
            })
            .or_else(|| f.last_modified().map(|t| dos_to_unix(&t)));
        let default_mode = if kind == Kind::Dir { 0o755 } else { 0o644 };
        let mode = unix_mode.map_or(default_mode, |m| m & 0o7777);
        match kind {
            Kind::Dir => w.dir(&entry, &path, mode, mtime)?,
            Kind::File => w.file(&entry, &path, mode, mtime, size, &mut f)?,
            Kind::Symlink => {
                let mut target = Vec::new();
                (&mut f)
                    .take(MAX_PATH_BYTES as u64 + 1)
                    .read_to_end(&mut target)
                    .map_err(|e| w.read_error(&entry, &e))?;
                if target.len() > MAX_PATH_BYTES {
                    return Err(w.refused(
                        &entry,
                        Refusal::SymlinkTooLong { len: size.max(target.len() as u64), limit: MAX_PATH_BYTES },
                    ));
                }
                w.symlink(&entry, &path, &target, mtime)?;
            }
            Kind::Special(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1980, 1, 1), 3652);
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of(b"a/", None), Kind::Dir);
        assert_eq!(kind_of(b"a", Some(0o120777)), Kind::Symlink);
        assert_eq!(kind_of(b"a", Some(0o020644)), Kind::Special(Special::Device));
        assert_eq!(kind_of(b"a", Some(0o010644)), Kind::Special(Special::Fifo));
        assert_eq!(kind_of(b"a", Some(0o100644)), Kind::File);
        assert_eq!(kind_of(b"a", None), Kind::File);
    }
}
