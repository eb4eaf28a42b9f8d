//! Filesystem geometry: block groups, inodes per group, where the superblock copies, group
//! descriptors, bitmaps and inode tables go (flex_bg packing or classic per-group), and the
//! resulting list of reserved block ranges that data allocation must skip.

use crate::format::INODE_SIZE;
use crate::options::Features;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("a filesystem of {blocks} blocks of {block_size} bytes is too small to hold its own metadata")]
    TooSmall { blocks: u64, block_size: u32 },
    #[error("a filesystem of {blocks} blocks needs the 64bit feature (more than 2^32 blocks)")]
    Needs64Bit { blocks: u64 },
    #[error("{blocks} blocks is beyond what ext4 addresses (2^48)")]
    TooBig { blocks: u64 },
    #[error("{0} inodes requested, at most {1} fit ({2} groups of at most {3})")]
    TooManyInodes(u64, u64, u32, u32),
}

/// Where one group's metadata lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupMeta {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
}

#[derive(Clone, Debug)]
pub struct Geometry {
    pub block_size: u32,
    pub blocks_count: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u64,
    pub groups: u32,
    pub inodes_per_group: u32,
    pub itable_blocks: u64,
    pub desc_size: u32,
    pub gdt_blocks: u64,
    pub log_groups_per_flex: u8,
    pub sparse_super: bool,
    pub meta: Vec<GroupMeta>,
    /// Sorted, merged `[start, end)` ranges of metadata blocks (superblock copies, descriptor
    /// tables, bitmaps, inode tables).
    pub reserved: Vec<(u64, u64)>,
}

const LOG_FLEX: u8 = 4;

impl Geometry {
    /// Lay out a filesystem of `blocks` blocks with room for at least `inodes` inodes.
    pub fn new(block_size: u32, blocks: u64, inodes: u64, f: &Features) -> Result<Geometry, LayoutError> {
        let bs = u64::from(block_size);
        let first_data_block = u64::from(block_size == 1024);
        let bpg = 8 * bs;
        let desc_size: u32 = if f.bit64 { 64 } else { 32 };
        let too_small = LayoutError::TooSmall { blocks, block_size };
        if blocks > 1 << 48 {
            return Err(LayoutError::TooBig { blocks });
        }
        if !f.bit64 && blocks > 1 << 32 {
            return Err(LayoutError::Needs64Bit { blocks });
        }
        let mut blocks_count = blocks;
        // Inode tables are whole blocks and bitmaps whole bytes.
        let per_block = (bs / u64::from(INODE_SIZE)) as u32;
        let align = lcm(per_block, 8);
        loop {
            if blocks_count <= first_data_block {
                return Err(too_small);
            }
            let groups = (blocks_count - first_data_block).div_ceil(bpg);
            let max_ipg = (8 * bs) as u32 / align * align;
            let want = inodes.div_ceil(groups).max(u64::from(align));
            let ipg = want.div_ceil(u64::from(align)) * u64::from(align);
            if ipg > u64::from(max_ipg) || groups * ipg > u64::from(u32::MAX) {
                return Err(LayoutError::TooManyInodes(
                    inodes,
                    groups * u64::from(max_ipg).min(u64::from(u32::MAX) / groups),
                    groups as u32,
                    max_ipg,
                ));
            }
            let ipg = ipg as u32;
            let itable_blocks = u64::from(ipg) * u64::from(INODE_SIZE) / bs;
            let gdt_blocks = (groups * u64::from(desc_size)).div_ceil(bs);
            let mut g = Geometry {
                block_size,
                blocks_count,
                first_data_block,
                blocks_per_group: bpg,
                groups: groups as u32,
                inodes_per_group: ipg,
                itable_blocks,
                desc_size,
                gdt_blocks,
                log_groups_per_flex: if f.flex_bg { LOG_FLEX } else { 0 },
                sparse_super: f.sparse_super,
                meta: Vec::new(),
                reserved: Vec::new(),
            };
            // A last group too small for its own overhead plus some data is dropped, as
            // mke2fs does.
            let last = g.groups - 1;
            let rem = (blocks_count - first_data_block) % bpg;
            let overhead = g.super_blocks(last) + if f.flex_bg { 0 } else { 2 + itable_blocks };
            if rem != 0 && rem < overhead + 50 {
                if g.groups == 1 {
                    return Err(too_small);
                }
                blocks_count -= rem;
                continue;
            }
            g.place(f.flex_bg).ok_or(too_small)?;
            return Ok(g);
        }
    }

    pub fn inodes_count(&self) -> u32 {
        self.groups * self.inodes_per_group
    }

    pub fn group_first(&self, g: u32) -> u64 {
        self.first_data_block + u64::from(g) * self.blocks_per_group
    }

    /// One past the last block of group `g`.
    pub fn group_end(&self, g: u32) -> u64 {
        (self.group_first(g) + self.blocks_per_group).min(self.blocks_count)
    }

    pub fn has_super(&self, g: u32) -> bool {
        if g <= 1 || !self.sparse_super {
            return true;
        }
        [3u32, 5, 7].iter().any(|&b| is_power_of(g, b))
    }

    /// Blocks at the start of group `g` taken by a superblock copy and descriptor table.
    pub fn super_blocks(&self, g: u32) -> u64 {
        if self.has_super(g) { 1 + self.gdt_blocks } else { 0 }
    }

    /// Place bitmaps and inode tables. With flex_bg, those of 16 groups are packed at the start
    /// of the first group of each flex group; otherwise each group holds its own.
    fn place(&mut self, flex_bg: bool) -> Option<()> {
        let flex = if flex_bg { 1u32 << LOG_FLEX } else { 1 };
        let mut supers: Vec<(u64, u64)> = (0..self.groups)
            .filter(|&g| self.has_super(g))
            .map(|g| (self.group_first(g), self.group_first(g) + self.super_blocks(g)))
            .collect();
        supers.sort_unstable();
        let mut meta = vec![GroupMeta::default(); self.groups as usize];
        let mut used: Vec<(u64, u64)> = Vec::new();
        for f0 in (0..self.groups).step_by(flex as usize) {
            let f1 = (f0 + flex).min(self.groups);
            let limit = if flex_bg { self.blocks_count } else { self.group_end(f0) };
            let mut cursor = self.group_first(f0) + self.super_blocks(f0);
            let mut take = |len: u64, cursor: &mut u64| -> Option<u64> {
                let start = find_free(&supers, *cursor, len);
                if start + len > limit {
                    return None;
                }
                *cursor = start + len;
                used.push((start, start + len));
                Some(start)
            };
            for g in f0..f1 {
                meta[g as usize].block_bitmap = take(1, &mut cursor)?;
            }
            for g in f0..f1 {
                meta[g as usize].inode_bitmap = take(1, &mut cursor)?;
            }
            for g in f0..f1 {
                meta[g as usize].inode_table = take(self.itable_blocks, &mut cursor)?;
            }
        }
        used.extend(supers);
        used.sort_unstable();
        // Packing must never put two structures on the same block.
        if used.windows(2).any(|w| w[0].1 > w[1].0) {
            return None;
        }
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(used.len());
        for (s, e) in used {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.meta = meta;
        self.reserved = merged;
        Some(())
    }

    /// Blocks taken by metadata (and, with 1 KiB blocks, the boot block).
    pub fn overhead(&self) -> u64 {
        self.first_data_block + self.reserved.iter().map(|(s, e)| e - s).sum::<u64>()
    }
}

/// First start >= `from` where `len` blocks do not overlap any of the sorted `busy` ranges.
fn find_free(busy: &[(u64, u64)], from: u64, len: u64) -> u64 {
    let mut start = from;
    for &(s, e) in busy {
        if e <= start {
            continue;
        }
        if s >= start + len {
            break;
        }
        start = e;
    }
    start
}

fn is_power_of(mut n: u32, b: u32) -> bool {
    while n > 1 && n.is_multiple_of(b) {
        n /= b;
    }
    n == 1
}

fn lcm(a: u32, b: u32) -> u32 {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Features, FsType};

    #[test]
    fn backup_groups_follow_sparse_super() {
        let g = Geometry::new(1024, 100 * 8192, 1000, &Features::for_type(FsType::Ext4)).unwrap();
        let with: Vec<u32> = (0..g.groups).filter(|&i| g.has_super(i)).collect();
        assert_eq!(with, vec![0, 1, 3, 5, 7, 9, 25, 27, 49, 81]);
    }

    #[test]
    fn metadata_never_overlaps_and_stays_in_group_without_flex_bg() {
        for ft in [FsType::Ext4, FsType::Ext2] {
            for bs in [1024u32, 4096] {
                let f = Features::for_type(ft);
                let g = Geometry::new(bs, 40 * 8 * u64::from(bs) + 777, 5000, &f).unwrap();
                let mut all: Vec<(u64, u64)> = Vec::new();
                for (i, m) in g.meta.iter().enumerate() {
                    all.push((m.block_bitmap, m.block_bitmap + 1));
                    all.push((m.inode_bitmap, m.inode_bitmap + 1));
                    all.push((m.inode_table, m.inode_table + g.itable_blocks));
                    if !f.flex_bg {
                        let (a, b) = (g.group_first(i as u32), g.group_end(i as u32));
                        assert!(m.block_bitmap >= a && m.inode_table + g.itable_blocks <= b);
                    }
                }
                for i in 0..g.groups {
                    if g.has_super(i) {
                        all.push((g.group_first(i), g.group_first(i) + g.super_blocks(i)));
                    }
                }
                all.sort_unstable();
                for w in all.windows(2) {
                    assert!(w[0].1 <= w[1].0, "{ft:?} {bs}: {:?} overlaps {:?}", w[0], w[1]);
                }
                assert!(all.last().unwrap().1 <= g.blocks_count);
            }
        }
    }

    #[test]
    fn tiny_last_group_is_dropped() {
        let f = Features::for_type(FsType::Ext4);
        let g = Geometry::new(4096, 32768 + 10, 100, &f).unwrap();
        assert_eq!(g.groups, 1);
        assert_eq!(g.blocks_count, 32768);
    }
}
