//! Directory contents: linear blocks of `ext4_dir_entry_2` records, and hashed (htree)
//! directories with a dx root, optional dx nodes and hash-ordered leaves. Adds the
//! `metadata_csum` tails. Names are validated before they get here (1..=255 bytes, no `/`, no NUL).

use super::csum::crc32c_raw;
use super::hash::half_md4_signed;
use super::{FileType, put_u8, put_u16, put_u32, round4};

/// Why a directory cannot be laid out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirError {
    #[error(
        "directory has {entries} entries, more than a two-level hash index holds with {block_size}-byte blocks (large_dir is not supported)"
    )]
    TooManyEntries { entries: usize, block_size: u32 },
    #[error("directory would be {bytes} bytes, directories must stay below 4 GiB")]
    TooLarge { bytes: u64 },
}

/// One name in a directory.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub name: &'a [u8],
    pub ino: u32,
    pub ftype: FileType,
}

/// Parameters shared by every directory of one filesystem.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub block_size: u32,
    /// Use an htree index when the directory needs more than one block.
    pub dir_index: bool,
    pub hash_seed: [u32; 4],
    /// `metadata_csum` on: leaves get a 12-byte tail, dx blocks an 8-byte tail.
    pub csum: bool,
}

/// The blocks of one directory, in logical order, checksums included.
pub struct Blocks {
    pub blocks: Vec<Vec<u8>>,
    pub indexed: bool,
}

const TAIL_LEN: usize = 12;
const DX_TAIL_LEN: usize = 8;
const HASH_HALF_MD4: u8 = 1;

fn rec_len(name_len: usize) -> usize {
    8 + round4(name_len)
}

/// Lay out a directory with inode `ino`, parent `parent` and `entries` (already sorted by name;
/// `.` and `..` are added here). `csum_seed` is the directory inode's checksum seed.
pub fn layout(ino: u32, parent: u32, entries: &[Entry<'_>], p: &Params, csum_seed: u32) -> Result<Blocks, DirError> {
    let bs = p.block_size as usize;
    let usable = if p.csum { bs - TAIL_LEN } else { bs };
    let linear_bytes: usize = 24 + entries.iter().map(|e| rec_len(e.name.len())).sum::<usize>();
    let seed = p.csum.then_some(csum_seed);
    let out = if linear_bytes <= usable || !p.dir_index {
        let mut lb = LeafBuilder::new(bs, usable, seed);
        lb.push(b".", ino, FileType::Dir);
        lb.push(b"..", parent, FileType::Dir);
        for e in entries {
            lb.push(e.name, e.ino, e.ftype);
        }
        Blocks { blocks: lb.finish(), indexed: false }
    } else {
        htree(ino, parent, entries, p, usable, seed)?
    };
    let bytes = out.blocks.len() as u64 * bs as u64;
    if bytes >= 1 << 32 {
        return Err(DirError::TooLarge { bytes });
    }
    Ok(out)
}

/// An empty directory block (one unused record spanning it), for pre-sized directories such
/// as `lost+found`.
pub fn empty_block(p: &Params, csum_seed: u32) -> Vec<u8> {
    let bs = p.block_size as usize;
    let usable = if p.csum { bs - TAIL_LEN } else { bs };
    let mut b = vec![0u8; bs];
    put_u16(&mut b, 4, usable as u16);
    if p.csum {
        put_u16(&mut b, usable + 4, TAIL_LEN as u16);
        put_u8(&mut b, usable + 7, 0xDE);
        let crc = crc32c_raw(csum_seed, &b[..usable]);
        put_u32(&mut b, bs - 4, crc);
    }
    b
}

/// Fills leaf blocks with records, closing a block when the next record does not fit.
struct LeafBuilder {
    bs: usize,
    usable: usize,
    blocks: Vec<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    last: usize,
    /// Per block: (hash of first record, hash of last record); only used for htree leaves.
    first_last: Vec<(u32, u32)>,
    cur_hashes: Option<(u32, u32)>,
    seed: Option<u32>,
}

impl LeafBuilder {
    fn new(bs: usize, usable: usize, seed: Option<u32>) -> LeafBuilder {
        LeafBuilder {
            bs,
            usable,
            blocks: Vec::new(),
            cur: vec![0; bs],
            pos: 0,
            last: 0,
            first_last: Vec::new(),
            cur_hashes: None,
            seed,
        }
    }

    /// True if a record for a name of `name_len` bytes still fits in the current block.
    fn fits(&self, name_len: usize) -> bool {
        self.pos + rec_len(name_len) <= self.usable
    }

    fn push(&mut self, name: &[u8], ino: u32, ftype: FileType) {
        self.push_hashed(name, ino, ftype, 0);
    }

    fn push_hashed(&mut self, name: &[u8], ino: u32, ftype: FileType, hash: u32) {
        let len = rec_len(name.len());
        if !self.fits(name.len()) {
            self.close();
        }
        let b = &mut self.cur;
        put_u32(b, self.pos, ino);
        put_u16(b, self.pos + 4, len as u16);
        put_u8(b, self.pos + 6, name.len() as u8);
        put_u8(b, self.pos + 7, ftype as u8);
        b[self.pos + 8..self.pos + 8 + name.len()].copy_from_slice(name);
        self.last = self.pos;
        self.pos += len;
        self.cur_hashes = Some(match self.cur_hashes {
            None => (hash, hash),
            Some((first, _)) => (first, hash),
        });
    }

    fn close(&mut self) {
        if self.pos == 0 {
            return;
        }
        let mut b = std::mem::replace(&mut self.cur, vec![0; self.bs]);
        put_u16(&mut b, self.last + 4, (self.usable - self.last) as u16);
        if self.usable < self.bs {
            // The checksum tail: a fake entry with rec_len 12 and file type 0xDE.
            put_u16(&mut b, self.usable + 4, TAIL_LEN as u16);
            put_u8(&mut b, self.usable + 7, 0xDE);
        }
        if let Some(seed) = self.seed {
            let crc = crc32c_raw(seed, &b[..self.usable]);
            put_u32(&mut b, self.bs - 4, crc);
        }
        self.blocks.push(b);
        self.first_last.push(self.cur_hashes.take().unwrap_or((0, 0)));
        self.pos = 0;
        self.last = 0;
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        self.close();
        self.blocks
    }
}

fn htree(
    ino: u32,
    parent: u32,
    entries: &[Entry<'_>],
    p: &Params,
    usable: usize,
    seed: Option<u32>,
) -> Result<Blocks, DirError> {
    let bs = p.block_size as usize;
    let mut hashed: Vec<(u32, u32, &Entry<'_>)> = entries
        .iter()
        .map(|e| {
            let (h, minor) = half_md4_signed(e.name, &p.hash_seed);
            (h, minor, e)
        })
        .collect();
    hashed.sort_by(|a, b| (a.0, a.1, a.2.name).cmp(&(b.0, b.1, b.2.name)));

    let mut lb = LeafBuilder::new(bs, usable, seed);
    for (h, _, e) in &hashed {
        lb.push_hashed(e.name, e.ino, e.ftype, *h);
    }
    lb.close();
    let leaves = lb.blocks;
    // Index key of each leaf: its first hash, with bit 0 set when the previous leaf ends with
    // the same hash (a collision run continues across the boundary).
    let keys: Vec<u32> = lb
        .first_last
        .iter()
        .enumerate()
        .map(|(i, &(first, _))| if i > 0 && lb.first_last[i - 1].1 == first { first | 1 } else { first })
        .collect();

    let dx_tail = if p.csum { DX_TAIL_LEN } else { 0 };
    let root_limit = (bs - 32 - dx_tail) / 8;
    let node_limit = (bs - 8 - dx_tail) / 8;
    let n = leaves.len();
    let mut blocks = Vec::new();
    if n <= root_limit {
        let refs: Vec<(u32, u32)> = keys.iter().enumerate().map(|(i, &k)| (k, 1 + i as u32)).collect();
        blocks.push(dx_root(ino, parent, bs, root_limit, 0, &refs, seed));
        blocks.extend(leaves);
    } else {
        let nodes = n.div_ceil(node_limit);
        if nodes > root_limit {
            return Err(DirError::TooManyEntries { entries: entries.len(), block_size: p.block_size });
        }
        let first_leaf = 1 + nodes as u32;
        let mut root_refs = Vec::with_capacity(nodes);
        let mut node_blocks = Vec::with_capacity(nodes);
        for (ni, chunk) in keys.chunks(node_limit).enumerate() {
            let base = ni * node_limit;
            let refs: Vec<(u32, u32)> =
                chunk.iter().enumerate().map(|(i, &k)| (k, first_leaf + (base + i) as u32)).collect();
            root_refs.push((chunk[0], 1 + ni as u32));
            node_blocks.push(dx_node(bs, node_limit, &refs, seed));
        }
        blocks.push(dx_root(ino, parent, bs, root_limit, 1, &root_refs, seed));
        blocks.extend(node_blocks);
        blocks.extend(leaves);
    }
    Ok(Blocks { blocks, indexed: true })
}

/// Writes count/limit and the (hash, block) entries starting at `off`. The first entry's hash
/// slot holds count and limit; its hash is implicitly 0.
fn dx_entries(b: &mut [u8], off: usize, limit: usize, refs: &[(u32, u32)]) {
    put_u16(b, off, limit as u16);
    put_u16(b, off + 2, refs.len() as u16);
    for (i, &(hash, blk)) in refs.iter().enumerate() {
        if i > 0 {
            put_u32(b, off + 8 * i, hash);
        }
        put_u32(b, off + 8 * i + 4, blk);
    }
}

fn dx_root(
    ino: u32,
    parent: u32,
    bs: usize,
    limit: usize,
    levels: u8,
    refs: &[(u32, u32)],
    seed: Option<u32>,
) -> Vec<u8> {
    let mut b = vec![0u8; bs];
    put_u32(&mut b, 0, ino);
    put_u16(&mut b, 4, 12);
    put_u8(&mut b, 6, 1);
    put_u8(&mut b, 7, FileType::Dir as u8);
    b[8] = b'.';
    put_u32(&mut b, 12, parent);
    put_u16(&mut b, 16, (bs - 12) as u16);
    put_u8(&mut b, 18, 2);
    put_u8(&mut b, 19, FileType::Dir as u8);
    b[20] = b'.';
    b[21] = b'.';
    // dx_root_info: reserved_zero, hash_version, info_length, indirect_levels, unused_flags.
    put_u8(&mut b, 28, HASH_HALF_MD4);
    put_u8(&mut b, 29, 8);
    put_u8(&mut b, 30, levels);
    dx_entries(&mut b, 32, limit, refs);
    if let Some(seed) = seed {
        seal_dx(&mut b, 32, seed);
    }
    b
}

fn dx_node(bs: usize, limit: usize, refs: &[(u32, u32)], seed: Option<u32>) -> Vec<u8> {
    let mut b = vec![0u8; bs];
    // A fake empty entry spanning the whole block hides the index from non-htree readers.
    put_u16(&mut b, 4, bs as u16);
    dx_entries(&mut b, 8, limit, refs);
    if let Some(seed) = seed {
        seal_dx(&mut b, 8, seed);
    }
    b
}

/// The dx tail checksum: over the header and the used entries, then the tail's reserved word
/// and a zeroed checksum field.
fn seal_dx(b: &mut [u8], off: usize, seed: u32) {
    let limit = super::get_u16(b, off) as usize;
    let count = super::get_u16(b, off + 2) as usize;
    let tail = off + 8 * limit;
    let mut crc = crc32c_raw(seed, &b[..off + 8 * count]);
    crc = crc32c_raw(crc, &b[tail..tail + 4]);
    crc = crc32c_raw(crc, &[0u8; 4]);
    put_u32(b, tail + 4, crc);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(bs: u32) -> Params {
        Params { block_size: bs, dir_index: true, hash_seed: [1, 2, 3, 4], csum: true }
    }

    #[test]
    fn empty_dir_is_one_block_with_dot_entries() {
        let b = layout(12, 2, &[], &params(1024), 7).unwrap();
        assert_eq!(b.blocks.len(), 1);
        assert!(!b.indexed);
        let blk = &b.blocks[0];
        assert_eq!(super::super::get_u32(blk, 0), 12);
        assert_eq!(super::super::get_u16(blk, 4), 12);
        assert_eq!(super::super::get_u32(blk, 12), 2);
        assert_eq!(super::super::get_u16(blk, 16) as usize, 1024 - 12 - 12);
        assert_eq!(blk[1024 - 12 + 7], 0xDE);
    }

    #[test]
    fn big_dir_gets_an_index_and_every_leaf_is_referenced() {
        let names: Vec<Vec<u8>> = (0..10000).map(|i| format!("file-{i:05}").into_bytes()).collect();
        let mut entries: Vec<Entry<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Entry { name: n, ino: 100 + i as u32, ftype: FileType::Regular })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(b.name));
        let b = layout(12, 2, &entries, &params(1024), 7).unwrap();
        assert!(b.indexed);
        // 10000 entries need about 200 one-KiB leaves, more than the root holds (123).
        assert_eq!(b.blocks[0][30], 1);
    }
}
