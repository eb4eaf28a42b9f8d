//! Extent trees: the in-inode root (up to 4 entries) and, for files with more extents, index
//! and leaf blocks with the `metadata_csum` tail. Input extents are sorted and non-overlapping.

use super::csum::crc32c_raw;
use super::{put_u16, put_u32};

const MAGIC: u16 = 0xF30A;
/// Longest initialized extent, in blocks.
pub const MAX_LEN: u32 = 32768;
const ROOT_MAX: usize = 4;
/// The kernel refuses deeper trees.
const MAX_DEPTH: usize = 5;

/// One mapping of `len` logical blocks starting at `lblk` to physical blocks at `pblk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub lblk: u32,
    pub pblk: u64,
    pub len: u32,
}

/// Entries that fit in one tree block.
pub fn per_block(block_size: u32) -> usize {
    (block_size as usize - 12) / 12
}

/// Node counts per level below the in-inode root, leaves first. Empty when the root holds all.
fn level_counts(n_extents: usize, block_size: u32) -> Vec<usize> {
    let per = per_block(block_size);
    let mut levels = Vec::new();
    let mut n = n_extents;
    while n > ROOT_MAX {
        n = n.div_ceil(per);
        levels.push(n);
    }
    levels
}

/// Number of tree blocks a file with `n_extents` extents needs, or None if the tree would be
/// deeper than the kernel accepts.
pub fn tree_blocks(n_extents: usize, block_size: u32) -> Option<u64> {
    let levels = level_counts(n_extents, block_size);
    if levels.len() > MAX_DEPTH {
        return None;
    }
    Some(levels.iter().map(|&c| c as u64).sum())
}

/// A built tree: the 60-byte `i_block` root and the tree blocks to write.
pub struct Tree {
    pub root: [u8; 60],
    pub blocks: Vec<(u64, Vec<u8>)>,
}

/// Build the tree for `extents` using `tree_pblks` (exactly `tree_blocks()` block numbers).
/// `csum_seed` is the inode's checksum seed when `metadata_csum` is on.
pub fn build(extents: &[Extent], tree_pblks: &[u64], block_size: u32, csum_seed: Option<u32>) -> Tree {
    let levels = level_counts(extents.len(), block_size);
    debug_assert_eq!(levels.iter().sum::<usize>(), tree_pblks.len());
    let per = per_block(block_size);
    let mut blocks = Vec::with_capacity(tree_pblks.len());
    let mut pblks = tree_pblks.iter().copied();

    // Entries of the current level: (first logical block, 12-byte record).
    let mut entries: Vec<(u32, [u8; 12])> = extents.iter().map(|e| (e.lblk, leaf_record(e))).collect();
    let mut depth: u16 = 0;
    for _ in &levels {
        let mut next = Vec::new();
        for chunk in entries.chunks(per) {
            let pblk = pblks.next().unwrap_or(0);
            let mut b = vec![0u8; block_size as usize];
            write_node(&mut b, chunk, per, depth);
            if let Some(seed) = csum_seed {
                let tail = 12 + 12 * per;
                let crc = crc32c_raw(seed, &b[..tail]);
                put_u32(&mut b, tail, crc);
            }
            blocks.push((pblk, b));
            next.push((chunk[0].0, index_record(chunk[0].0, pblk)));
        }
        entries = next;
        depth += 1;
    }
    let mut root = [0u8; 60];
    write_node(&mut root, &entries, ROOT_MAX, depth);
    Tree { root, blocks }
}

fn write_node(buf: &mut [u8], entries: &[(u32, [u8; 12])], max: usize, depth: u16) {
    put_u16(buf, 0, MAGIC);
    put_u16(buf, 2, entries.len() as u16);
    put_u16(buf, 4, max as u16);
    put_u16(buf, 6, depth);
    for (i, (_, rec)) in entries.iter().enumerate() {
        buf[12 + 12 * i..24 + 12 * i].copy_from_slice(rec);
    }
}

fn leaf_record(e: &Extent) -> [u8; 12] {
    let mut r = [0u8; 12];
    put_u32(&mut r, 0, e.lblk);
    put_u16(&mut r, 4, e.len as u16);
    put_u16(&mut r, 6, (e.pblk >> 32) as u16);
    put_u32(&mut r, 8, e.pblk as u32);
    r
}

fn index_record(lblk: u32, child: u64) -> [u8; 12] {
    let mut r = [0u8; 12];
    put_u32(&mut r, 0, lblk);
    put_u32(&mut r, 4, child as u32);
    put_u16(&mut r, 8, (child >> 32) as u16);
    r
}

/// An empty in-inode extent root (for empty files and freshly made directories).
pub fn empty_root() -> [u8; 60] {
    let mut root = [0u8; 60];
    write_node(&mut root, &[], ROOT_MAX, 0);
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_counts_grow_with_extents() {
        assert_eq!(tree_blocks(0, 4096), Some(0));
        assert_eq!(tree_blocks(4, 4096), Some(0));
        assert_eq!(tree_blocks(5, 4096), Some(1));
        assert_eq!(tree_blocks(340 * 4, 4096), Some(4));
        assert_eq!(tree_blocks(340 * 4 + 1, 4096), Some(5 + 1));
        assert_eq!(tree_blocks(85, 1024), Some(2));
    }

    #[test]
    fn index_entries_point_at_first_child_block() {
        let extents: Vec<Extent> =
            (0..10).map(|i| Extent { lblk: i * 10, pblk: 1000 + u64::from(i) * 7, len: 3 }).collect();
        let n = tree_blocks(extents.len(), 1024).unwrap() as usize;
        let pblks: Vec<u64> = (0..n as u64).map(|i| 50 + i).collect();
        let t = build(&extents, &pblks, 1024, Some(1));
        assert_eq!(t.blocks.len(), 1);
        // Root: depth 1, one index entry at lblk 0 pointing at block 50.
        assert_eq!(super::super::get_u16(&t.root, 6), 1);
        assert_eq!(super::super::get_u32(&t.root, 12), 0);
        assert_eq!(super::super::get_u32(&t.root, 16), 50);
        assert_eq!(super::super::get_u16(&t.blocks[0].1, 2), 10);
    }
}
