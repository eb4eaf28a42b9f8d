//! Reads a (possibly compressed) tar stream member by member and hands each entry to the
//! writer. Trusts none of the bytes: the tar crate parses headers in raw mode, and the GNU
//! long name/link and pax extension headers are merged here, with size limits, so that a
//! huge extension header cannot make us allocate without bound.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use tar::EntryType;

use crate::decompress::{CappedReader, Compression, decoder};
use crate::error::{EntryRef, ExtractError, Refusal};
use crate::names::{Flavor, Mapped, map_entry_name};
use crate::writer::{Special, Writer};

/// Largest GNU long name or long link extension accepted (names are capped at 4095 bytes
/// later; this only bounds what is read).
const MAX_LONG_NAME: u64 = 64 * 1024;
/// Largest pax extended header accepted.
const MAX_PAX: u64 = 1024 * 1024;
/// Most bytes read after the end-of-archive marker to reach the compressed stream's own
/// end and checksum. Real archives pad to at most a 10 KiB record.
const MAX_TRAILING: u64 = 16 * 1024 * 1024;
/// Header plus block padding per member, for the cap on decompressed bytes.
const PER_MEMBER_OVERHEAD: u64 = 1024;

/// The pax records this reader acts on.
#[derive(Debug, Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    mtime: Option<i64>,
    sparse: bool,
}

fn parse_pax(bytes: &[u8]) -> Result<Pax, String> {
    let mut pax = Pax::default();
    for ext in tar::PaxExtensions::new(bytes) {
        let ext = ext.map_err(|e| format!("bad pax record: {e}"))?;
        let value = ext.value_bytes();
        match ext.key_bytes() {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => {
                let s = std::str::from_utf8(value).map_err(|_| "pax size is not text")?;
                pax.size = Some(s.parse().map_err(|_| format!("bad pax size {s:?}"))?);
            }
            b"mtime" => {
                let s = std::str::from_utf8(value).map_err(|_| "pax mtime is not text")?;
                let whole = s.split('.').next().unwrap_or_default();
                pax.mtime = Some(whole.parse().map_err(|_| format!("bad pax mtime {s:?}"))?);
            }
            k if k.starts_with(b"GNU.sparse.") => pax.sparse = true,
            _ => {}
        }
    }
    Ok(pax)
}

/// Extension headers waiting for the member they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

fn trim_nuls(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Read an extension header's data after checking its declared size against `limit`.
fn read_extension(
    w: &Writer<'_>,
    entry: &EntryRef,
    data: &mut dyn Read,
    size: u64,
    what: &'static str,
    limit: u64,
) -> Result<Vec<u8>, ExtractError> {
    if size > limit {
        return Err(w.refused(entry, Refusal::ExtensionTooLarge { what, len: size, limit }));
    }
    let mut v = Vec::with_capacity(size as usize);
    data.take(limit).read_to_end(&mut v).map_err(|e| w.read_error(entry, &e))?;
    Ok(v)
}

pub(crate) fn extract_tar(archive: &Path, compression: Compression, w: &mut Writer<'_>) -> Result<(), ExtractError> {
    let file =
        File::open(archive).map_err(|source| ExtractError::ReadArchive { archive: archive.to_path_buf(), source })?;
    let opts = w.opts().clone();
    let cap = opts
        .max_total_bytes
        .saturating_add(opts.max_entries.saturating_mul(PER_MEMBER_OVERHEAD))
        .saturating_add(MAX_TRAILING);
    let stream = CappedReader::new(decoder(compression, BufReader::with_capacity(64 * 1024, file)), cap);
    let mut ar = tar::Archive::new(stream);
    let mut last: Option<EntryRef> = None;
    let at = |last: &Option<EntryRef>| match last {
        Some(e) => format!("the header after entry {e}"),
        None => "the first header".to_string(),
    };
    let entries = ar.entries().map_err(|e| w.malformed(at(&last), e))?.raw(true);
    let mut pending = Pending::default();
    for (index, item) in (0u64..).zip(entries) {
        let mut e = match item {
            Ok(e) => e,
            Err(err) => {
                let entry = last.clone().unwrap_or_else(|| EntryRef::new(index, b""));
                return Err(match crate::decompress::over_cap(&err) {
                    Some(_) => w.read_error(&entry, &err),
                    None => w.malformed(at(&last), err),
                });
            }
        };
        let header_name = e.header().path_bytes().into_owned();
        let raw_ref = EntryRef::new(index, &header_name);
        w.member(&raw_ref)?;
        let size = e.size();
        w.charge(&raw_ref, size)?;
        let ty = e.header().entry_type();
        match ty {
            EntryType::GNULongName | EntryType::GNULongLink | EntryType::XHeader => {
                let (slot, what, limit) = match ty {
                    EntryType::GNULongName => (&mut pending.long_name, "gnu long name", MAX_LONG_NAME),
                    EntryType::GNULongLink => (&mut pending.long_link, "gnu long link", MAX_LONG_NAME),
                    _ => (&mut pending.pax, "pax", MAX_PAX),
                };
                if slot.is_some() {
                    return Err(w.malformed(format!("entry {raw_ref}"), format!("two {what} headers for one member")));
                }
                *slot = Some(read_extension(w, &raw_ref, &mut e, size, what, limit)?);
                last = Some(raw_ref);
                continue;
            }
            EntryType::XGlobalHeader => {
                let bytes = read_extension(w, &raw_ref, &mut e, size, "pax global", MAX_PAX)?;
                let pax = parse_pax(&bytes).map_err(|r| w.malformed(format!("entry {raw_ref}"), r))?;
                for (set, key) in
                    [(pax.path.is_some(), "path"), (pax.linkpath.is_some(), "linkpath"), (pax.size.is_some(), "size")]
                {
                    if set {
                        return Err(w.refused(&raw_ref, Refusal::PaxGlobalOverride { key: key.into() }));
                    }
                }
                w.skip();
                last = Some(raw_ref);
                continue;
            }
            _ => {}
        }
        let entry_pending = std::mem::take(&mut pending);
        let pax = match &entry_pending.pax {
            Some(bytes) => parse_pax(bytes).map_err(|r| w.malformed(format!("entry {raw_ref}"), r))?,
            None => Pax::default(),
        };
        let name = pax.path.clone().or(entry_pending.long_name.map(trim_nuls)).unwrap_or(header_name);
        let entry = EntryRef::new(index, &name);
        last = Some(entry.clone());
        one_entry(w, &entry, &mut e, &name, pax, entry_pending.long_link, &opts)?;
    }
    if !pending.is_empty() {
        return Err(w.malformed("the end of the archive".into(), "extension header without a following member"));
    }
    let mut stream = ar.into_inner();
    if compression != Compression::None {
        // Read to the end of the compressed stream so its checksum is verified.
        let entry = last.unwrap_or_else(|| EntryRef::new(0, b""));
        let trailing = io::copy(&mut (&mut stream).take(MAX_TRAILING + 1), &mut io::sink())
            .map_err(|e| w.read_error(&entry, &e))?;
        if trailing > MAX_TRAILING {
            return Err(w.malformed(
                "the end of the archive".into(),
                format!("more than {MAX_TRAILING} bytes after the end-of-archive marker"),
            ));
        }
    }
    Ok(())
}

fn one_entry(
    w: &mut Writer<'_>,
    entry: &EntryRef,
    e: &mut tar::Entry<'_, impl Read>,
    name: &[u8],
    pax: Pax,
    long_link: Option<Vec<u8>>,
    opts: &crate::options::ExtractOptions,
) -> Result<(), ExtractError> {
    let header = e.header();
    let size = e.size();
    if let Some(p) = pax.size
        && p != size
    {
        return Err(w.refused(entry, Refusal::PaxSizeMismatch { pax: p, header: size }));
    }
    if pax.sparse {
        return Err(w.refused(entry, Refusal::Sparse));
    }
    let ty = header.entry_type();
    let mode = header.mode().map_err(|err| w.malformed(format!("entry {entry}"), err))?;
    let mtime = match pax.mtime {
        Some(t) => Some(t),
        None => header.mtime().ok().map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
    };
    let link = pax.linkpath.or(long_link.map(trim_nuls)).or_else(|| header.link_name_bytes().map(|c| c.into_owned()));
    let path = match map_entry_name(name, opts.strip_components, Flavor::Tar) {
        Ok(Mapped::Path(p)) => Some(p),
        Ok(Mapped::Nothing) => None,
        Err(r) => return Err(w.refused(entry, r)),
    };
    // Special files are refused whatever their name maps to.
    match ty {
        EntryType::Char | EntryType::Block => return w.special(entry, Special::Device),
        EntryType::Fifo => return w.special(entry, Special::Fifo),
        EntryType::GNUSparse => return Err(w.refused(entry, Refusal::Sparse)),
        _ => {}
    }
    let Some(path) = path else {
        w.skip();
        return Ok(());
    };
    match ty {
        EntryType::Regular | EntryType::Continuous if name.ends_with(b"/") => w.dir(entry, &path, mode, mtime),
        EntryType::Regular | EntryType::Continuous => w.file(entry, &path, mode, mtime, size, e),
        EntryType::Directory => w.dir(entry, &path, mode, mtime),
        EntryType::Symlink => {
            let Some(target) = link else {
                return Err(w.malformed(format!("entry {entry}"), "symlink without a target"));
            };
            w.symlink(entry, &path, &target, mtime)
        }
        EntryType::Link => {
            let Some(target) = link else {
                return Err(w.malformed(format!("entry {entry}"), "hard link without a target"));
            };
            let shown = String::from_utf8_lossy(&target).into_owned();
            let target = match map_entry_name(&target, opts.strip_components, Flavor::Tar) {
                Ok(Mapped::Path(p)) => p,
                Ok(Mapped::Nothing) => return Err(w.refused(entry, Refusal::EmptyLinkTarget)),
                Err(Refusal::AbsolutePath | Refusal::ParentComponent) => {
                    return Err(w.refused(entry, Refusal::HardlinkEscapes { target: shown }));
                }
                Err(r) => return Err(w.refused(entry, r)),
            };
            w.hardlink(entry, &path, &target)
        }
        other => Err(w.refused(entry, Refusal::UnsupportedTarType { typeflag: char::from(other.as_byte()) })),
    }
}
