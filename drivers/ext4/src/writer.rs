//! The image writer: validates the tree, sizes and lays out the filesystem, streams file
//! content into place, then writes inode tables, bitmaps, group descriptors and superblocks.
//! Writes to a temporary file next to the output and renames it only when everything
//! succeeded, so an error never leaves a half-written image behind.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::ImageError;
use crate::alloc::{Allocator, Full};
use crate::content::{BlockReader, ContentError, Sources};
use crate::format::blockmap::{self, BlockMap};
use crate::format::dir::{self, DirError};
use crate::format::extent::{self, Extent};
use crate::format::inode::{self, EXT4_EXTENTS_FL, EXT4_INDEX_FL, Inode};
use crate::format::superblock::{BG_INODE_UNINIT, BG_INODE_ZEROED, GroupDesc, Superblock, compat, incompat, ro_compat};
use crate::format::xattr::{self, XattrError};
use crate::format::{INODE_SIZE, JOURNAL_INO, csum, journal};
use crate::layout::{Geometry, LayoutError};
use crate::manifest::{EntryRef, Location, Manifest};
use crate::options::{Inodes, Options, Size, format_uuid};
use crate::tree::{Defaults, Node, NodeKind, Tree};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{entry}: does not fit, the filesystem ({blocks} blocks of {block_size} bytes) is full")]
    Full { entry: EntryRef, blocks: u64, block_size: u32 },
    #[error("{entry}: {source}")]
    Dir { entry: EntryRef, source: DirError },
    #[error("{entry}: {source}")]
    Xattr { entry: EntryRef, source: XattrError },
    #[error("{entry}: file of {size} bytes is larger than ext4 allows here ({max} bytes)")]
    FileTooLarge { entry: EntryRef, size: u64, max: u64 },
    #[error("the manifest needs {needed} inodes but the filesystem has {have}; raise --inodes")]
    TooFewInodes { needed: u64, have: u64 },
    #[error(
        "image size {size} bytes is too small for a journal ({blocks} blocks of {block_size} bytes; a journal needs 2048); use a bigger size or --features ^has_journal"
    )]
    NoRoomForJournal { size: u64, blocks: u64, block_size: u32 },
    #[error("image size {size} bytes holds less than one block of {block_size} bytes")]
    SizeTooSmall { size: u64, block_size: u32 },
    #[error("journal of {journal} blocks does not fit in a filesystem of {blocks} blocks")]
    JournalTooBig { journal: u32, blocks: u64 },
    #[error("output {path}: {source}")]
    Output { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Content(#[from] ContentError),
}

/// What was written.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub image: PathBuf,
    pub image_bytes: u64,
    pub block_size: u32,
    pub blocks: u64,
    pub free_blocks: u64,
    pub inodes: u32,
    pub free_inodes: u32,
    pub uuid: String,
    pub features: Vec<String>,
    /// Manifest entries, implicit ones (root, lost+found) included.
    pub entries: usize,
    /// Regular files written and the bytes of their content (holes included).
    pub files: u64,
    pub file_bytes: u64,
    pub journal_blocks: u32,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "image      {}", self.image.display())?;
        writeln!(
            f,
            "size       {} bytes ({} blocks of {} bytes, {} free)",
            self.image_bytes, self.blocks, self.block_size, self.free_blocks
        )?;
        writeln!(f, "inodes     {} ({} free)", self.inodes, self.free_inodes)?;
        writeln!(f, "uuid       {}", self.uuid)?;
        writeln!(f, "features   {}", self.features.join(" "))?;
        writeln!(f, "entries    {} ({} files, {} bytes of content)", self.entries, self.files, self.file_bytes)?;
        write!(f, "journal    {} blocks", self.journal_blocks)
    }
}

/// Write the image described by `manifest` and `opts` to `out`, reading content from `sources`.
pub fn write_image(manifest: &Manifest, sources: &Sources, opts: &Options, out: &Path) -> Result<Report, ImageError> {
    opts.check()?;
    let f = &opts.features;
    let bs = opts.block_size;
    let tree = Tree::build(manifest, &Defaults { time: opts.default_time, block_size: bs, dir_nlink: f.dir_nlink })?;
    let (derived_uuid, derived_seed) = crate::ids::derive(&tree, opts);
    let uuid = opts.uuid.unwrap_or(derived_uuid);
    let hash_seed = opts.hash_seed.unwrap_or(derived_seed);

    // Open every source once before writing anything: missing or odd content fails early.
    // `bounds` holds the bytes each file may store (its size, 0 for an all-sparse file).
    let mut bounds = vec![0u64; tree.nodes.len()];
    for &i in &tree.order {
        let n = &tree.nodes[i];
        if let NodeKind::File(c) = &n.kind {
            let opened = sources.open(c, &n.path, &n.entry_ref())?;
            let max = max_file_bytes(opts);
            if opened.size > max {
                return Err(WriteError::FileTooLarge { entry: n.entry_ref(), size: opened.size, max }.into());
            }
            bounds[i] = opened.stored_bound();
        }
    }

    let (geo, journal_blocks, image_bytes) = plan(&tree, &bounds, opts, &hash_seed)?;
    let out_dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let io_err = |source: io::Error| WriteError::Output { path: out.to_owned(), source };
    let tmp = tempfile::Builder::new().prefix(".yoe-ext4-").suffix(".tmp").tempfile_in(&out_dir).map_err(io_err)?;
    tmp.as_file().set_len(image_bytes).map_err(io_err)?;

    let mut w = Writer::new(&tree, opts, geo, tmp.as_file(), uuid, hash_seed, out);
    w.write_journal(journal_blocks)?;
    for &i in &tree.order {
        w.write_node(i, sources)?;
    }
    let (free_blocks, free_inodes) = w.finish(uuid, hash_seed, journal_blocks)?;
    let files = w.files;
    let file_bytes = w.file_bytes;
    let geo = w.geo;

    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(out).map_err(|e| io_err(e.error))?;
    if let Ok(d) = File::open(&out_dir) {
        // Make the rename durable; failure to sync a directory is not worth failing the build.
        let _ = d.sync_all();
    }
    Ok(Report {
        image: out.to_owned(),
        image_bytes,
        block_size: bs,
        blocks: geo.blocks_count,
        free_blocks,
        inodes: geo.inodes_count(),
        free_inodes,
        uuid: format_uuid(&uuid),
        features: f.names().iter().map(|s| s.to_string()).collect(),
        entries: tree.nodes.len(),
        files,
        file_bytes,
        journal_blocks,
    })
}

/// Largest regular file the options allow.
fn max_file_bytes(o: &Options) -> u64 {
    let bits = o.block_size.trailing_zeros();
    let by_addr =
        if o.features.extent { (1u64 << 32) - 1 } else { blockmap::max_blocks(o.block_size).min((1 << 32) - 1) };
    let mut max = by_addr << bits;
    if !o.features.huge_file {
        max = max.min((((1u64 << 32) - 1) >> (bits - 9)) << bits);
    }
    max
}

/// Upper bound of data-area blocks the tree needs besides the journal.
fn estimate_blocks(
    tree: &Tree,
    bounds: &[u64],
    o: &Options,
    hash_seed: &[u8; 16],
    crossings: u64,
) -> Result<u64, ImageError> {
    let bs = u64::from(o.block_size);
    let params = dir_params(o, hash_seed);
    let meta_blocks = |n: u64| -> u64 {
        if n == 0 {
            return 0;
        }
        if o.features.extent {
            let extents = n.div_ceil(u64::from(extent::MAX_LEN)) + crossings.min(n - 1) + 1;
            extent::tree_blocks(extents as usize, o.block_size).unwrap_or(n)
        } else {
            dense_indirect_blocks(n, o.block_size)
        }
    };
    let mut total = 0u64;
    for &i in &tree.order {
        let n = &tree.nodes[i];
        let data = match &n.kind {
            NodeKind::Dir { children } => {
                let entries = dir_entries(tree, children);
                let blocks = dir::layout(n.ino, 2, &entries, &params, 0)
                    .map_err(|source| WriteError::Dir { entry: n.entry_ref(), source })?;
                (blocks.blocks.len() as u64).max(if is_lost_found(tree, i) { 16384 / bs } else { 0 })
            }
            NodeKind::File(_) => bounds[i].div_ceil(bs),
            NodeKind::Symlink(t) if t.len() >= 60 => 1,
            _ => 0,
        };
        let xblock = u64::from(!xattr::place(&n.meta.xattrs).1.is_empty());
        total += data + meta_blocks(data) + xblock;
    }
    Ok(total)
}

/// Indirect blocks of a block map covering logical blocks `0..n`.
fn dense_indirect_blocks(n: u64, block_size: u32) -> u64 {
    let per = u64::from(block_size / 4);
    let mut m = n.saturating_sub(12);
    let mut count = 0;
    if m > 0 {
        count += 1;
        m = m.saturating_sub(per);
    }
    if m > 0 {
        let d = m.min(per * per);
        count += 1 + d.div_ceil(per);
        m -= d;
    }
    if m > 0 {
        count += 1 + m.div_ceil(per * per) + m.div_ceil(per);
    }
    count
}

/// Choose the geometry: fixed size, or the smallest that holds the content plus the margin.
fn plan(tree: &Tree, bounds: &[u64], o: &Options, hash_seed: &[u8; 16]) -> Result<(Geometry, u32, u64), ImageError> {
    let bs = u64::from(o.block_size);
    let used_inodes = tree.used_inodes();
    let journal_for = |blocks: u64| -> Option<u32> {
        if !o.features.has_journal {
            return Some(0);
        }
        o.journal_blocks.or_else(|| journal::default_blocks(blocks))
    };
    let inodes_for = |blocks: u64, margin: u32| -> Result<u64, ImageError> {
        let with_margin = used_inodes + used_inodes * u64::from(margin) / 100;
        match o.inodes {
            Inodes::Ratio(r) => Ok((blocks * bs / u64::from(r)).max(with_margin)),
            Inodes::Count(c) if u64::from(c) < used_inodes => {
                Err(WriteError::TooFewInodes { needed: used_inodes, have: u64::from(c) }.into())
            }
            Inodes::Count(c) => Ok(u64::from(c)),
        }
    };
    let (geo, image_bytes) = match o.size {
        Size::Fixed(bytes) => {
            let blocks = bytes / bs;
            if blocks == 0 {
                return Err(WriteError::SizeTooSmall { size: bytes, block_size: o.block_size }.into());
            }
            let geo = Geometry::new(o.block_size, blocks, inodes_for(blocks, 0)?, &o.features)?;
            (geo, bytes)
        }
        Size::Auto { margin_percent } => {
            let mut blocks: u64 = 64;
            let mut rounds = 0;
            loop {
                rounds += 1;
                let geo = match Geometry::new(o.block_size, blocks, inodes_for(blocks, margin_percent)?, &o.features) {
                    Ok(g) => g,
                    // Too small for its own metadata, or for the inodes in its groups: grow.
                    Err(LayoutError::TooSmall { .. } | LayoutError::TooManyInodes(..)) if rounds < 64 => {
                        blocks *= 2;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let journal = u64::from(journal_for(geo.blocks_count).unwrap_or(journal::MIN_BLOCKS));
                let content = estimate_blocks(tree, bounds, o, hash_seed, geo.reserved.len() as u64)?;
                let need = journal + 2 + content + content * u64::from(margin_percent) / 100;
                let have = geo.blocks_count - geo.overhead();
                if have >= need && (!o.features.has_journal || geo.blocks_count >= 2048) {
                    let bytes = geo.blocks_count * bs;
                    break (geo, bytes);
                }
                if rounds > 64 {
                    return Err(LayoutError::TooBig { blocks }.into());
                }
                blocks = (geo.blocks_count + need.saturating_sub(have)).max(blocks + 1);
                if o.features.has_journal {
                    blocks = blocks.max(2048);
                }
            }
        }
    };
    if (geo.inodes_count() as u64) < u64::from(tree.max_ino) {
        return Err(
            WriteError::TooFewInodes { needed: u64::from(tree.max_ino), have: u64::from(geo.inodes_count()) }.into()
        );
    }
    let journal = match journal_for(geo.blocks_count) {
        Some(j) => j,
        None => {
            return Err(WriteError::NoRoomForJournal {
                size: image_bytes,
                blocks: geo.blocks_count,
                block_size: o.block_size,
            }
            .into());
        }
    };
    if u64::from(journal) + geo.overhead() >= geo.blocks_count {
        return Err(WriteError::JournalTooBig { journal, blocks: geo.blocks_count }.into());
    }
    Ok((geo, journal, image_bytes))
}

fn dir_params(o: &Options, hash_seed: &[u8; 16]) -> dir::Params {
    let mut seed = [0u32; 4];
    for (i, s) in seed.iter_mut().enumerate() {
        *s = u32::from_le_bytes([hash_seed[4 * i], hash_seed[4 * i + 1], hash_seed[4 * i + 2], hash_seed[4 * i + 3]]);
    }
    dir::Params {
        block_size: o.block_size,
        dir_index: o.features.dir_index,
        hash_seed: seed,
        csum: o.features.metadata_csum,
    }
}

fn dir_entries<'t>(tree: &'t Tree, children: &'t [(Vec<u8>, usize)]) -> Vec<dir::Entry<'t>> {
    children
        .iter()
        .map(|(name, c)| {
            let n = &tree.nodes[*c];
            dir::Entry { name, ino: n.ino, ftype: n.file_type(tree) }
        })
        .collect()
}

fn is_lost_found(tree: &Tree, i: usize) -> bool {
    let n = &tree.nodes[i];
    n.path == b"lost+found" && matches!(n.kind, NodeKind::Dir { .. })
}

/// Collects contiguous data blocks into large writes.
struct SeqWriter {
    buf: Vec<u8>,
    start: u64,
    len: usize,
    bs: usize,
}

impl SeqWriter {
    const CAP: usize = 8 << 20;

    fn put(&mut self, file: &File, pblk: u64, data: &[u8]) -> io::Result<()> {
        let contiguous = self.len > 0 && pblk == self.start + (self.len / self.bs) as u64;
        if self.len > 0 && (!contiguous || self.len + data.len() > Self::CAP) {
            self.flush(file)?;
        }
        if data.len() > Self::CAP {
            return file.write_all_at(data, pblk * self.bs as u64);
        }
        if self.len == 0 {
            self.start = pblk;
        }
        self.buf[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
        Ok(())
    }

    fn flush(&mut self, file: &File) -> io::Result<()> {
        if self.len > 0 {
            file.write_all_at(&self.buf[..self.len], self.start * self.bs as u64)?;
            self.len = 0;
        }
        Ok(())
    }
}

struct XattrBlock {
    blk: u64,
    body: Vec<u8>,
    refs: u32,
}

/// Most inodes one xattr block may be shared by (the kernel's limit).
const XATTR_REFCOUNT_MAX: u32 = 1024;

struct Writer<'a> {
    tree: &'a Tree,
    o: &'a Options,
    geo: Geometry,
    alloc: Allocator,
    file: &'a File,
    out: &'a Path,
    data: SeqWriter,
    /// The inode table of group `itable_group`, up to its highest inode stored so far.
    /// Inodes are stored in increasing order, so one group's table is enough in memory.
    itable: Vec<u8>,
    itable_group: u32,
    fs_seed: Option<u32>,
    params: dir::Params,
    xblocks: Vec<XattrBlock>,
    xindex: HashMap<Vec<u8>, usize>,
    dirs_per_group: Vec<u32>,
    read_buf: Vec<u8>,
    jnl_backup: Option<([u8; 60], u64)>,
    journal_first: u64,
    files: u64,
    file_bytes: u64,
}

impl<'a> Writer<'a> {
    fn new(
        tree: &'a Tree,
        o: &'a Options,
        geo: Geometry,
        file: &'a File,
        uuid: [u8; 16],
        hash_seed: [u8; 16],
        out: &'a Path,
    ) -> Writer<'a> {
        let bs = o.block_size as usize;
        let groups = geo.groups as usize;
        Writer {
            tree,
            o,
            alloc: Allocator::new(&geo),
            geo,
            file,
            out,
            data: SeqWriter { buf: vec![0; SeqWriter::CAP], start: 0, len: 0, bs },
            itable: Vec::new(),
            itable_group: 0,
            fs_seed: o.features.metadata_csum.then(|| csum::fs_seed(&uuid)),
            params: dir_params(o, &hash_seed),
            xblocks: Vec::new(),
            xindex: HashMap::new(),
            dirs_per_group: vec![0; groups],
            read_buf: Vec::new(),
            jnl_backup: None,
            journal_first: 0,
            files: 0,
            file_bytes: 0,
        }
    }

    fn io(&self, source: io::Error) -> WriteError {
        WriteError::Output { path: self.out.to_owned(), source }
    }

    fn full(&self, entry: &EntryRef) -> WriteError {
        WriteError::Full { entry: entry.clone(), blocks: self.geo.blocks_count, block_size: self.o.block_size }
    }

    fn inode_seed(&self, ino: u32) -> u32 {
        self.fs_seed.map_or(0, |s| csum::inode_seed(s, ino, 0))
    }

    fn put(&mut self, pblk: u64, data: &[u8]) -> Result<(), WriteError> {
        self.data.put(self.file, pblk, data).map_err(|e| self.io(e))
    }

    /// Allocate `n` blocks as a flat list of block numbers.
    fn alloc_list(&mut self, n: u64, entry: &EntryRef) -> Result<Vec<u64>, WriteError> {
        let runs = self.alloc.run(n).map_err(|Full| self.full(entry))?;
        Ok(runs.iter().flat_map(|&(s, l)| s..s + l).collect())
    }

    /// Map `runs` of (logical, physical, length) into the inode: extent tree or block map.
    /// Returns the number of extra (tree / indirect) blocks.
    fn map(
        &mut self,
        ino: u32,
        runs: &[(u64, u64, u64)],
        inode: &mut Inode,
        entry: &EntryRef,
    ) -> Result<u64, WriteError> {
        let bs = self.o.block_size;
        if self.o.features.extent {
            let mut extents = Vec::new();
            for &(l, p, n) in runs {
                let mut off = 0;
                while off < n {
                    let len = (n - off).min(u64::from(extent::MAX_LEN));
                    extents.push(Extent { lblk: (l + off) as u32, pblk: p + off, len: len as u32 });
                    off += len;
                }
            }
            let count = extent::tree_blocks(extents.len(), bs).ok_or_else(|| WriteError::FileTooLarge {
                entry: entry.clone(),
                size: inode.size,
                max: 0,
            })?;
            let pblks = self.alloc_list(count, entry)?;
            let tree = extent::build(&extents, &pblks, bs, self.fs_seed.map(|_| self.inode_seed(ino)));
            for (p, b) in &tree.blocks {
                self.put(*p, b)?;
            }
            inode.i_block = tree.root;
            inode.flags |= EXT4_EXTENTS_FL;
            Ok(count)
        } else {
            let map = BlockMap::plan(runs, bs);
            let count = map.indirect_blocks();
            let pblks = self.alloc_list(count, entry)?;
            let (i_block, blocks) = map.encode(&pblks, bs);
            for (p, b) in &blocks {
                self.put(*p, b)?;
            }
            inode.i_block = i_block;
            Ok(count)
        }
    }

    fn store_inode(&mut self, ino: u32, inode: &Inode) -> Result<(), WriteError> {
        let isz = INODE_SIZE as usize;
        let ipg = self.geo.inodes_per_group;
        let group = (ino - 1) / ipg;
        let idx = ((ino - 1) % ipg) as usize;
        if group < self.itable_group {
            // Not expected (inodes come in order), but always correct: write it in place.
            let mut one = vec![0u8; isz];
            inode.encode(ino, self.fs_seed, &mut one);
            let at = self.geo.meta[group as usize].inode_table * u64::from(self.o.block_size) + (idx * isz) as u64;
            return self.file.write_all_at(&one, at).map_err(|e| self.io(e));
        }
        if group > self.itable_group {
            self.flush_itable()?;
            self.itable_group = group;
        }
        if self.itable.len() < (idx + 1) * isz {
            self.itable.resize((idx + 1) * isz, 0);
        }
        inode.encode(ino, self.fs_seed, &mut self.itable[idx * isz..(idx + 1) * isz]);
        Ok(())
    }

    /// Write the inode table held in memory (the rest of every table stays zero).
    fn flush_itable(&mut self) -> Result<(), WriteError> {
        if !self.itable.is_empty() {
            let at = self.geo.meta[self.itable_group as usize].inode_table * u64::from(self.o.block_size);
            self.file.write_all_at(&self.itable, at).map_err(|e| self.io(e))?;
            self.itable.clear();
        }
        Ok(())
    }

    fn write_journal(&mut self, blocks: u32) -> Result<(), WriteError> {
        if blocks == 0 {
            return Ok(());
        }
        let entry = EntryRef { at: Location::Implicit, path: b"<journal>".to_vec() };
        let runs = self.alloc.run(u64::from(blocks)).map_err(|Full| self.full(&entry))?;
        let mut lruns = Vec::with_capacity(runs.len());
        let mut l = 0;
        for &(p, n) in &runs {
            lruns.push((l, p, n));
            l += n;
        }
        // The journal superblock goes into the first block; it is written by `finish`.
        self.journal_first = runs.first().map_or(0, |r| r.0);
        let t = self.o.default_time;
        let size = u64::from(blocks) * u64::from(self.o.block_size);
        let mut inode =
            Inode { mode: 0o100600, links: 1, size, atime: t, ctime: t, mtime: t, crtime: t, ..Inode::default() };
        let extra = self.map(JOURNAL_INO, &lruns, &mut inode, &entry)?;
        inode.sectors = (u64::from(blocks) + extra) * u64::from(self.o.block_size / 512);
        self.jnl_backup = Some((inode.i_block, size));
        self.store_inode(JOURNAL_INO, &inode)?;
        Ok(())
    }

    fn write_node(&mut self, i: usize, sources: &Sources) -> Result<(), WriteError> {
        let tree = self.tree;
        let n: &Node = &tree.nodes[i];
        let ino = n.ino;
        let entry = n.entry_ref();
        let bs = u64::from(self.o.block_size);
        let ftype = n.file_type(tree);
        let m = &n.meta;
        let mut inode = Inode {
            mode: ftype.mode_bits() | m.perm,
            uid: m.uid,
            gid: m.gid,
            atime: m.atime,
            ctime: m.ctime,
            mtime: m.mtime,
            crtime: m.ctime,
            links: n.links,
            ..Inode::default()
        };
        let mut blocks: u64 = 0;
        match &n.kind {
            NodeKind::Dir { children } => {
                let entries = dir_entries(tree, children);
                let parent = tree.nodes[n.parent].ino;
                let seed = self.inode_seed(ino);
                let mut d = dir::layout(ino, parent, &entries, &self.params, seed)
                    .map_err(|source| WriteError::Dir { entry: entry.clone(), source })?;
                if is_lost_found(tree, i) && !d.indexed {
                    while (d.blocks.len() as u64) * bs < 16384 {
                        d.blocks.push(dir::empty_block(&self.params, seed));
                    }
                }
                let count = d.blocks.len() as u64;
                let runs = self.alloc.run(count).map_err(|Full| self.full(&entry))?;
                let mut lruns = Vec::with_capacity(runs.len());
                let mut l = 0u64;
                for &(p, len) in &runs {
                    for k in 0..len {
                        self.put(p + k, &d.blocks[(l + k) as usize])?;
                    }
                    lruns.push((l, p, len));
                    l += len;
                }
                inode.size = count * bs;
                blocks = count + self.map(ino, &lruns, &mut inode, &entry)?;
                if d.indexed {
                    inode.flags |= EXT4_INDEX_FL;
                }
                let g = ((ino - 1) / self.geo.inodes_per_group) as usize;
                self.dirs_per_group[g] += 1;
            }
            NodeKind::File(c) => {
                let opened = sources.open(c, &n.path, &entry)?;
                let mut buf = std::mem::take(&mut self.read_buf);
                let mut reader = BlockReader::new(&opened, &entry, self.o.block_size, &mut buf)?;
                let mut runs: Vec<(u64, u64, u64)> = Vec::new();
                let mut data_blocks = 0u64;
                while let Some((lblk, bytes)) = reader.next_block()? {
                    let pblk = self.alloc.one().map_err(|Full| self.full(&entry))?;
                    self.data
                        .put(self.file, pblk, bytes)
                        .map_err(|e| WriteError::Output { path: self.out.to_owned(), source: e })?;
                    match runs.last_mut() {
                        Some((l, p, len)) if *l + *len == lblk && *p + *len == pblk => *len += 1,
                        _ => runs.push((lblk, pblk, 1)),
                    }
                    data_blocks += 1;
                }
                reader.finish()?;
                self.read_buf = buf;
                inode.size = opened.size;
                self.files += 1;
                self.file_bytes += opened.size;
                blocks = data_blocks + self.map(ino, &runs, &mut inode, &entry)?;
            }
            NodeKind::Symlink(target) => {
                inode.size = target.len() as u64;
                if target.len() < 60 {
                    inode.i_block[..target.len()].copy_from_slice(target);
                } else {
                    let p = self.alloc.one().map_err(|Full| self.full(&entry))?;
                    let mut b = vec![0u8; bs as usize];
                    b[..target.len()].copy_from_slice(target);
                    self.put(p, &b)?;
                    blocks = 1 + self.map(ino, &[(0, p, 1)], &mut inode, &entry)?;
                }
            }
            NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                inode.i_block = inode::encode_device(*major, *minor);
            }
            NodeKind::Fifo | NodeKind::Socket => {}
            NodeKind::HardLink(_) => return Ok(()),
        }
        // Extended attributes: in the inode where they fit, the rest in a (shared) block.
        if !m.xattrs.is_empty() {
            let (inline, rest) = xattr::place(&m.xattrs);
            inode.inline_xattrs = inline;
            if !rest.is_empty() {
                xattr::check_block(&rest, self.o.block_size)
                    .map_err(|source| WriteError::Xattr { entry: entry.clone(), source })?;
                let body = xattr::encode_block(&rest, self.o.block_size);
                let shared = self.xindex.get(&body).copied().filter(|&k| self.xblocks[k].refs < XATTR_REFCOUNT_MAX);
                let k = match shared {
                    Some(k) => k,
                    None => {
                        let blk = self.alloc.one().map_err(|Full| self.full(&entry))?;
                        self.xblocks.push(XattrBlock { blk, body: body.clone(), refs: 0 });
                        self.xindex.insert(body, self.xblocks.len() - 1);
                        self.xblocks.len() - 1
                    }
                };
                self.xblocks[k].refs += 1;
                inode.file_acl = self.xblocks[k].blk;
                blocks += 1;
            }
        }
        inode.sectors = blocks * (bs / 512);
        let sector_limit = if self.o.features.huge_file { 1u64 << 48 } else { 1u64 << 32 };
        if inode.sectors >= sector_limit {
            return Err(WriteError::FileTooLarge { entry, size: inode.size, max: max_file_bytes(self.o) });
        }
        self.store_inode(ino, &inode)?;
        Ok(())
    }

    /// Write the remaining metadata. Returns (free blocks, free inodes).
    fn finish(&mut self, uuid: [u8; 16], hash_seed: [u8; 16], journal_blocks: u32) -> Result<(u64, u32), WriteError> {
        let bs = u64::from(self.o.block_size);
        let geo = self.geo.clone();
        let f = self.o.features;
        self.data.flush(self.file).map_err(|e| self.io(e))?;

        // The journal superblock, now that the UUID is known.
        if journal_blocks > 0 {
            let jsb = journal::superblock(self.o.block_size, journal_blocks, &uuid);
            self.file.write_all_at(&jsb, self.journal_first * bs).map_err(|e| self.io(e))?;
        }
        // Xattr blocks, with their final reference counts.
        for x in &mut self.xblocks {
            xattr::seal_block(&mut x.body, x.refs, x.blk, self.fs_seed);
            self.file
                .write_all_at(&x.body, x.blk * bs)
                .map_err(|e| WriteError::Output { path: self.out.to_owned(), source: e })?;
        }
        self.flush_itable()?;
        let ipg = geo.inodes_per_group;
        let max_ino = self.tree.max_ino;
        // Bitmaps and group descriptors.
        let csum = f.metadata_csum;
        let high = self.alloc.high_water();
        let mut descs = vec![0u8; (geo.gdt_blocks * bs) as usize];
        let (mut free_blocks, mut free_inodes) = (0u64, 0u64);
        for g in 0..geo.groups {
            let first = geo.group_first(g);
            let end = geo.group_end(g);
            let mut bb = vec![0u8; bs as usize];
            set_bits(&mut bb, 0, (high.min(end).max(first) - first) as usize);
            for &(s, e) in &geo.reserved {
                let (s, e) = (s.max(first), e.min(end));
                if s < e {
                    set_bits(&mut bb, (s - first) as usize, (e - first) as usize);
                }
            }
            set_bits(&mut bb, (end - first) as usize, 8 * bs as usize);
            let used_blocks: u64 = bb.iter().map(|b| u64::from(b.count_ones())).sum::<u64>() - (8 * bs - (end - first));
            let gfree = (end - first) - used_blocks;

            let mut ib = vec![0u8; bs as usize];
            let used_in_group = if max_ino >= first_ino_of(g, ipg) { (max_ino - g * ipg).min(ipg) } else { 0 };
            set_bits(&mut ib, 0, used_in_group as usize);
            set_bits(&mut ib, ipg as usize, 8 * bs as usize);
            let gfree_inodes = ipg - used_in_group;

            let mut d = GroupDesc {
                block_bitmap: geo.meta[g as usize].block_bitmap,
                inode_bitmap: geo.meta[g as usize].inode_bitmap,
                inode_table: geo.meta[g as usize].inode_table,
                free_blocks: gfree as u32,
                free_inodes: gfree_inodes,
                used_dirs: self.dirs_per_group[g as usize],
                ..GroupDesc::default()
            };
            if let Some(seed) = self.fs_seed {
                d.block_bitmap_csum = csum::crc32c_raw(seed, &bb);
                d.inode_bitmap_csum = csum::crc32c_raw(seed, &ib[..(ipg / 8) as usize]);
            }
            if csum {
                d.flags = BG_INODE_ZEROED | if used_in_group == 0 { BG_INODE_UNINIT } else { 0 };
                d.itable_unused = ipg - used_in_group;
            }
            let ds = geo.desc_size as usize;
            d.encode(g, &mut descs[g as usize * ds..(g as usize + 1) * ds], self.fs_seed);
            self.file.write_all_at(&bb, d.block_bitmap * bs).map_err(|e| self.io(e))?;
            self.file.write_all_at(&ib, d.inode_bitmap * bs).map_err(|e| self.io(e))?;
            free_blocks += gfree;
            free_inodes += u64::from(gfree_inodes);
        }
        let mut label = [0u8; 16];
        label[..self.o.label.len()].copy_from_slice(&self.o.label);
        let sb = Superblock {
            inodes_count: geo.inodes_count(),
            blocks_count: geo.blocks_count,
            r_blocks_count: geo.blocks_count * u64::from(self.o.reserved_percent) / 100,
            free_blocks,
            free_inodes: free_inodes as u32,
            first_data_block: geo.first_data_block as u32,
            log_block_size: self.o.block_size.trailing_zeros() - 10,
            blocks_per_group: geo.blocks_per_group as u32,
            inodes_per_group: ipg,
            time: self.o.default_time.secs.max(0),
            compat: compat::EXT_ATTR
                | if f.has_journal { compat::HAS_JOURNAL } else { 0 }
                | if f.dir_index { compat::DIR_INDEX } else { 0 },
            incompat: incompat::FILETYPE
                | if f.extent { incompat::EXTENTS } else { 0 }
                | if f.bit64 { incompat::BIT64 } else { 0 }
                | if f.flex_bg { incompat::FLEX_BG } else { 0 },
            ro_compat: ro_compat::LARGE_FILE
                | if f.sparse_super { ro_compat::SPARSE_SUPER } else { 0 }
                | if f.huge_file { ro_compat::HUGE_FILE } else { 0 }
                | if f.dir_nlink { ro_compat::DIR_NLINK } else { 0 }
                | if f.extra_isize { ro_compat::EXTRA_ISIZE } else { 0 }
                | if f.metadata_csum { ro_compat::METADATA_CSUM } else { 0 },
            uuid,
            label,
            hash_seed,
            desc_size: if f.bit64 { 64 } else { 0 },
            log_groups_per_flex: geo.log_groups_per_flex,
            jnl_blocks: self.jnl_backup,
        };
        for g in 0..geo.groups {
            if !geo.has_super(g) {
                continue;
            }
            let block = geo.group_first(g);
            let sb_off = if g == 0 { 1024 } else { block * bs };
            self.file.write_all_at(&sb.encode(g as u16), sb_off).map_err(|e| self.io(e))?;
            self.file.write_all_at(&descs, (block + 1) * bs).map_err(|e| self.io(e))?;
        }
        Ok((free_blocks, free_inodes as u32))
    }
}

fn first_ino_of(g: u32, ipg: u32) -> u32 {
    g * ipg + 1
}

/// Set bits `[from, to)` of a bitmap.
fn set_bits(b: &mut [u8], from: usize, to: usize) {
    let to = to.min(b.len() * 8);
    let mut i = from;
    while i < to {
        if i.is_multiple_of(8) && i + 8 <= to {
            let end = (to / 8).min(b.len());
            b[i / 8..end].fill(0xff);
            i = end * 8;
        } else {
            b[i / 8] |= 1 << (i % 8);
            i += 1;
        }
    }
}
