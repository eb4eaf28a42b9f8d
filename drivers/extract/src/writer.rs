//! Writes checked entries into the staging directory: the only module that touches the
//! extracted tree on disk. It trusts the staging root to be fresh and private to this
//! extraction; it trusts nothing about the entries and applies the policy (limits, modes,
//! replacement rules, symlink and hard link checks) to each before writing.

use std::ffi::OsString;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;

use crate::decompress::over_cap;
use crate::detect::ArchiveKind;
use crate::error::{EntryRef, ExtractError, Refusal};
use crate::names::{RelPath, parse_symlink_target};
use crate::options::ExtractOptions;
use crate::tree::{Existing, Node, Placement, Tree, check_symlink};

/// Mode bits kept from the archive: permissions without group/other write (like
/// extracting with umask 022 as a non-root user). Setuid/setgid are refused or stripped
/// before this; sticky is dropped.
const KEEP_BITS: u32 = 0o755;
const SETID_BITS: u32 = 0o6000;

/// Counters of one extraction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Entries written (directories, files, symlinks, hard links).
    pub(crate) written: u64,
    /// Members not written: stripped away, or special files skipped by option.
    pub(crate) skipped: u64,
    /// Bytes written into regular files.
    pub(crate) bytes: u64,
}

/// The special file types, refused unless skipped by option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Device,
    Fifo,
    Socket,
}

pub(crate) struct Writer<'a> {
    archive: &'a Path,
    kind: ArchiveKind,
    root: &'a Path,
    opts: &'a ExtractOptions,
    tree: Tree,
    members: u64,
    charged: u64,
    counts: Counts,
    dir_meta: Vec<(Vec<OsString>, u32, Option<i64>, EntryRef)>,
    buf: Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(archive: &'a Path, kind: ArchiveKind, root: &'a Path, opts: &'a ExtractOptions) -> Self {
        Writer {
            archive,
            kind,
            root,
            opts,
            tree: Tree::new(),
            members: 0,
            charged: 0,
            counts: Counts::default(),
            dir_meta: Vec::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    pub(crate) fn opts(&self) -> &ExtractOptions {
        self.opts
    }

    pub(crate) fn refused(&self, entry: &EntryRef, reason: Refusal) -> ExtractError {
        ExtractError::Refused { archive: self.archive.to_path_buf(), entry: entry.clone(), reason }
    }

    pub(crate) fn malformed(&self, at: String, reason: impl ToString) -> ExtractError {
        ExtractError::Malformed { archive: self.archive.to_path_buf(), kind: self.kind, at, reason: reason.to_string() }
    }

    fn limit(&self, entry: &EntryRef, what: &'static str, limit: u64) -> ExtractError {
        ExtractError::LimitExceeded { archive: self.archive.to_path_buf(), entry: entry.clone(), what, limit }
    }

    /// An I/O error while reading the archive at `entry`: the decompression cap, or a
    /// malformed archive.
    pub(crate) fn read_error(&self, entry: &EntryRef, err: &io::Error) -> ExtractError {
        match over_cap(err) {
            Some(cap) => self.limit(entry, "decompressed bytes", cap),
            None => self.malformed(format!("entry {entry}"), err),
        }
    }

    fn write_error(&self, entry: &EntryRef, path: &[OsString], source: io::Error) -> ExtractError {
        ExtractError::Write { archive: self.archive.to_path_buf(), entry: entry.clone(), path: self.full(path), source }
    }

    fn full(&self, path: &[OsString]) -> PathBuf {
        let mut p = self.root.to_path_buf();
        p.extend(path);
        p
    }

    /// Count one member of the archive (extension headers included) against the limit.
    pub(crate) fn member(&mut self, entry: &EntryRef) -> Result<(), ExtractError> {
        self.members += 1;
        if self.members > self.opts.max_entries {
            return Err(self.limit(entry, "entries", self.opts.max_entries));
        }
        Ok(())
    }

    /// Charge `n` bytes (an entry's declared size) against the total size limit.
    pub(crate) fn charge(&mut self, entry: &EntryRef, n: u64) -> Result<(), ExtractError> {
        self.charged = self.charged.saturating_add(n);
        if self.charged > self.opts.max_total_bytes {
            return Err(self.limit(entry, "bytes", self.opts.max_total_bytes));
        }
        Ok(())
    }

    /// A member that is not written (stripped away).
    pub(crate) fn skip(&mut self) {
        self.counts.skipped += 1;
    }

    /// A device node, fifo or socket: refused, or skipped by option.
    pub(crate) fn special(&mut self, entry: &EntryRef, what: Special) -> Result<(), ExtractError> {
        if self.opts.skip_special_files {
            self.counts.skipped += 1;
            return Ok(());
        }
        Err(self.refused(
            entry,
            match what {
                Special::Device => Refusal::DeviceNode,
                Special::Fifo => Refusal::Fifo,
                Special::Socket => Refusal::Socket,
            },
        ))
    }

    fn masked_mode(&self, entry: &EntryRef, mode: u32, owner: u32) -> Result<u32, ExtractError> {
        let mode = mode & 0o7777;
        if mode & SETID_BITS != 0 && !self.opts.strip_setid_bits {
            return Err(self.refused(entry, Refusal::SetidBits { mode }));
        }
        Ok((mode & KEEP_BITS) | owner)
    }

    fn place(&self, entry: &EntryRef, path: &RelPath) -> Result<Placement, ExtractError> {
        self.tree.place(path, self.opts.follow_symlinks_inside).map_err(|r| self.refused(entry, r))
    }

    /// Create missing parents, and clear what the new entry replaces. Directories are never
    /// replaced by anything else (the symlink invariant in `tree` rests on that).
    fn make_room(&mut self, entry: &EntryRef, p: &Placement, new_is_dir: bool) -> Result<(), ExtractError> {
        for d in p.dirs_to_create() {
            self.mkdir(entry, d)?;
        }
        match p.existing {
            Existing::Nothing => Ok(()),
            Existing::Dir if new_is_dir => Ok(()),
            Existing::Dir => {
                Err(self.refused(entry, Refusal::ReplacesDirectory { path: crate::names::display_components(&p.path) }))
            }
            Existing::File | Existing::Symlink => {
                fs::remove_file(self.full(&p.path)).map_err(|e| self.write_error(entry, &p.path, e))?;
                self.tree.remove(&p.path);
                Ok(())
            }
        }
    }

    fn mkdir(&mut self, entry: &EntryRef, path: &[OsString]) -> Result<(), ExtractError> {
        let full = self.full(path);
        fs::create_dir(&full).map_err(|e| self.write_error(entry, path, e))?;
        // Whatever the umask, the extraction must be able to write into it.
        fs::set_permissions(&full, Permissions::from_mode(0o755)).map_err(|e| self.write_error(entry, path, e))?;
        self.tree.insert(path, Node::Dir);
        Ok(())
    }

    /// A directory entry. Its mode and mtime are applied at the end, once nothing more is
    /// written inside it.
    pub(crate) fn dir(
        &mut self,
        entry: &EntryRef,
        path: &RelPath,
        mode: u32,
        mtime: Option<i64>,
    ) -> Result<(), ExtractError> {
        let mode = self.masked_mode(entry, mode, 0o700)?;
        let p = self.place(entry, path)?;
        self.make_room(entry, &p, true)?;
        if p.existing != Existing::Dir {
            self.mkdir(entry, &p.path)?;
        }
        self.dir_meta.push((p.path, mode, mtime, entry.clone()));
        self.counts.written += 1;
        Ok(())
    }

    /// A regular file of `declared` bytes read from `data`. Bytes beyond the declared size
    /// are charged to the limit as they come; a size mismatch is a malformed archive.
    pub(crate) fn file(
        &mut self,
        entry: &EntryRef,
        path: &RelPath,
        mode: u32,
        mtime: Option<i64>,
        declared: u64,
        data: &mut dyn Read,
    ) -> Result<(), ExtractError> {
        let mode = self.masked_mode(entry, mode, 0o600)?;
        let p = self.place(entry, path)?;
        self.make_room(entry, &p, false)?;
        let full = self.full(&p.path);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&full)
            .map_err(|e| self.write_error(entry, &p.path, e))?;
        self.tree.insert(&p.path, Node::File);
        let mut buf = std::mem::take(&mut self.buf);
        let copied = self.copy(entry, &p.path, data, &mut out, declared, &mut buf);
        self.buf = buf;
        let copied = copied?;
        if copied != declared {
            return Err(self.malformed(
                format!("entry {entry}"),
                format!("entry data is {copied} bytes, its header says {declared}"),
            ));
        }
        out.set_permissions(Permissions::from_mode(mode)).map_err(|e| self.write_error(entry, &p.path, e))?;
        if let Some(t) = mtime {
            let t = FileTime::from_unix_time(t, 0);
            filetime::set_file_handle_times(&out, Some(t), Some(t)).map_err(|e| self.write_error(entry, &p.path, e))?;
        }
        self.counts.bytes += copied;
        self.counts.written += 1;
        Ok(())
    }

    fn copy(
        &mut self,
        entry: &EntryRef,
        path: &[OsString],
        data: &mut dyn Read,
        out: &mut fs::File,
        declared: u64,
        buf: &mut [u8],
    ) -> Result<u64, ExtractError> {
        let mut copied: u64 = 0;
        loop {
            let n = match data.read(buf) {
                Ok(0) => return Ok(copied),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(entry, &e)),
            };
            let before = copied;
            copied += n as u64;
            if copied > declared {
                let extra = copied - before.max(declared);
                self.charge(entry, extra)?;
            }
            out.write_all(&buf[..n]).map_err(|e| self.write_error(entry, path, e))?;
        }
    }

    /// A symlink whose target is `raw_target` as the archive stores it.
    pub(crate) fn symlink(
        &mut self,
        entry: &EntryRef,
        path: &RelPath,
        raw_target: &[u8],
        mtime: Option<i64>,
    ) -> Result<(), ExtractError> {
        let target = parse_symlink_target(raw_target).map_err(|r| self.refused(entry, r))?;
        let p = self.place(entry, path)?;
        check_symlink(p.parent_depth(), &target, raw_target).map_err(|r| self.refused(entry, r))?;
        self.make_room(entry, &p, false)?;
        let full = self.full(&p.path);
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(raw_target), &full)
            .map_err(|e| self.write_error(entry, &p.path, e))?;
        self.tree.insert(&p.path, Node::Symlink(target));
        if let Some(t) = mtime {
            let t = FileTime::from_unix_time(t, 0);
            filetime::set_symlink_file_times(&full, t, t).map_err(|e| self.write_error(entry, &p.path, e))?;
        }
        self.counts.written += 1;
        Ok(())
    }

    /// A hard link to `target`, a regular file extracted earlier by this extraction.
    pub(crate) fn hardlink(&mut self, entry: &EntryRef, path: &RelPath, target: &RelPath) -> Result<(), ExtractError> {
        let source =
            self.tree.hardlink_source(target, self.opts.follow_symlinks_inside).map_err(|r| self.refused(entry, r))?;
        let p = self.place(entry, path)?;
        if p.path == source {
            // A link to itself: the file is already there.
            self.counts.written += 1;
            return Ok(());
        }
        self.make_room(entry, &p, false)?;
        fs::hard_link(self.full(&source), self.full(&p.path)).map_err(|e| self.write_error(entry, &p.path, e))?;
        self.tree.insert(&p.path, Node::File);
        self.counts.written += 1;
        Ok(())
    }

    /// Apply directory modes and mtimes, deepest first, and return the counters.
    pub(crate) fn finish(mut self) -> Result<Counts, ExtractError> {
        let mut meta = std::mem::take(&mut self.dir_meta);
        // Later entries for the same directory win: keep the last of each.
        meta.reverse();
        let mut seen = std::collections::HashSet::new();
        meta.retain(|(p, _, _, _)| seen.insert(p.clone()));
        meta.sort_by_key(|(p, _, _, _)| std::cmp::Reverse(p.len()));
        for (path, mode, mtime, entry) in meta {
            let full = self.full(&path);
            fs::set_permissions(&full, Permissions::from_mode(mode)).map_err(|e| self.write_error(&entry, &path, e))?;
            if let Some(t) = mtime {
                let t = FileTime::from_unix_time(t, 0);
                filetime::set_file_times(&full, t, t).map_err(|e| self.write_error(&entry, &path, e))?;
            }
        }
        Ok(self.counts)
    }
}
