//! The superblock (primary and backups) and the block group descriptor table.

use super::csum::crc32c_raw;
use super::{FIRST_INO, INODE_SIZE, JOURNAL_INO, put_u8, put_u16, put_u32};

pub mod compat {
    pub const HAS_JOURNAL: u32 = 0x0004;
    pub const EXT_ATTR: u32 = 0x0008;
    pub const DIR_INDEX: u32 = 0x0020;
}
pub mod incompat {
    pub const FILETYPE: u32 = 0x0002;
    pub const EXTENTS: u32 = 0x0040;
    pub const BIT64: u32 = 0x0080;
    pub const FLEX_BG: u32 = 0x0200;
}
pub mod ro_compat {
    pub const SPARSE_SUPER: u32 = 0x0001;
    pub const LARGE_FILE: u32 = 0x0002;
    pub const HUGE_FILE: u32 = 0x0008;
    pub const DIR_NLINK: u32 = 0x0020;
    pub const EXTRA_ISIZE: u32 = 0x0040;
    pub const METADATA_CSUM: u32 = 0x0400;
}

/// Group descriptor flags.
pub const BG_INODE_UNINIT: u16 = 0x0001;
pub const BG_INODE_ZEROED: u16 = 0x0004;

/// Superblock fields we set; everything else is zero.
#[derive(Clone, Debug, Default)]
pub struct Superblock {
    pub inodes_count: u32,
    pub blocks_count: u64,
    pub r_blocks_count: u64,
    pub free_blocks: u64,
    pub free_inodes: u32,
    pub first_data_block: u32,
    pub log_block_size: u32,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    /// Creation / last write / last check time (seconds, clamped to >= 0 by the caller).
    pub time: i64,
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    pub uuid: [u8; 16],
    pub label: [u8; 16],
    pub hash_seed: [u8; 16],
    pub desc_size: u16,
    pub log_groups_per_flex: u8,
    /// Copy of the journal inode's `i_block` and size (the `s_jnl_blocks` backup).
    pub jnl_blocks: Option<([u8; 60], u64)>,
}

impl Superblock {
    /// Encode the copy that lives in group `group` (the primary is group 0).
    pub fn encode(&self, group: u16) -> [u8; 1024] {
        let mut b = [0u8; 1024];
        let t = self.time as u64;
        put_u32(&mut b, 0x00, self.inodes_count);
        put_u32(&mut b, 0x04, self.blocks_count as u32);
        put_u32(&mut b, 0x08, self.r_blocks_count as u32);
        put_u32(&mut b, 0x0C, self.free_blocks as u32);
        put_u32(&mut b, 0x10, self.free_inodes);
        put_u32(&mut b, 0x14, self.first_data_block);
        put_u32(&mut b, 0x18, self.log_block_size);
        put_u32(&mut b, 0x1C, self.log_block_size);
        put_u32(&mut b, 0x20, self.blocks_per_group);
        put_u32(&mut b, 0x24, self.blocks_per_group);
        put_u32(&mut b, 0x28, self.inodes_per_group);
        put_u32(&mut b, 0x30, t as u32); // s_wtime
        put_u16(&mut b, 0x36, 0xFFFF); // s_max_mnt_count = -1: no mount-count checks
        put_u16(&mut b, 0x38, 0xEF53);
        put_u16(&mut b, 0x3A, 1); // clean
        put_u16(&mut b, 0x3C, 1); // errors=continue
        put_u32(&mut b, 0x40, t as u32); // s_lastcheck
        put_u32(&mut b, 0x4C, 1); // dynamic revision
        put_u32(&mut b, 0x54, FIRST_INO);
        put_u16(&mut b, 0x58, INODE_SIZE as u16);
        put_u16(&mut b, 0x5A, group);
        put_u32(&mut b, 0x5C, self.compat);
        put_u32(&mut b, 0x60, self.incompat);
        put_u32(&mut b, 0x64, self.ro_compat);
        b[0x68..0x78].copy_from_slice(&self.uuid);
        b[0x78..0x88].copy_from_slice(&self.label);
        if self.compat & compat::HAS_JOURNAL != 0 {
            put_u32(&mut b, 0xE0, JOURNAL_INO);
        }
        b[0xEC..0xFC].copy_from_slice(&self.hash_seed);
        put_u8(&mut b, 0xFC, 1); // default hash: half_md4
        if let Some((i_block, size)) = &self.jnl_blocks {
            put_u8(&mut b, 0xFD, 1); // EXT3_JNL_BACKUP_BLOCKS
            b[0x10C..0x10C + 60].copy_from_slice(i_block);
            put_u32(&mut b, 0x10C + 60, (size >> 32) as u32);
            put_u32(&mut b, 0x10C + 64, *size as u32);
        }
        put_u16(&mut b, 0xFE, self.desc_size);
        put_u32(&mut b, 0x100, 0x000C); // default mount options: user_xattr, acl
        put_u32(&mut b, 0x108, t as u32); // s_mkfs_time
        put_u32(&mut b, 0x150, (self.blocks_count >> 32) as u32);
        put_u32(&mut b, 0x154, (self.r_blocks_count >> 32) as u32);
        put_u32(&mut b, 0x158, (self.free_blocks >> 32) as u32);
        put_u16(&mut b, 0x15C, super::EXTRA_ISIZE);
        put_u16(&mut b, 0x15E, super::EXTRA_ISIZE);
        put_u32(&mut b, 0x160, 0x0001); // signed directory hash
        put_u8(&mut b, 0x174, self.log_groups_per_flex);
        let hi = (t >> 32) as u8;
        put_u8(&mut b, 0x274, hi); // s_wtime_hi
        put_u8(&mut b, 0x276, hi); // s_mkfs_time_hi
        put_u8(&mut b, 0x277, hi); // s_lastcheck_hi
        if self.ro_compat & ro_compat::METADATA_CSUM != 0 {
            put_u8(&mut b, 0x175, 1); // crc32c
            let crc = crc32c_raw(!0, &b[..0x3FC]);
            put_u32(&mut b, 0x3FC, crc);
        }
        b
    }
}

/// One block group descriptor.
#[derive(Clone, Debug, Default)]
pub struct GroupDesc {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
    pub free_blocks: u32,
    pub free_inodes: u32,
    pub used_dirs: u32,
    pub flags: u16,
    pub block_bitmap_csum: u32,
    pub inode_bitmap_csum: u32,
    pub itable_unused: u32,
}

impl GroupDesc {
    /// Encode into `out` (`desc_size` bytes: 32 without `64bit`, 64 with it).
    pub fn encode(&self, group: u32, out: &mut [u8], csum_seed: Option<u32>) {
        out.fill(0);
        let wide = out.len() >= 64;
        put_u32(out, 0x00, self.block_bitmap as u32);
        put_u32(out, 0x04, self.inode_bitmap as u32);
        put_u32(out, 0x08, self.inode_table as u32);
        put_u16(out, 0x0C, self.free_blocks as u16);
        put_u16(out, 0x0E, self.free_inodes as u16);
        put_u16(out, 0x10, self.used_dirs as u16);
        put_u16(out, 0x12, self.flags);
        put_u16(out, 0x18, self.block_bitmap_csum as u16);
        put_u16(out, 0x1A, self.inode_bitmap_csum as u16);
        put_u16(out, 0x1C, self.itable_unused as u16);
        if wide {
            put_u32(out, 0x20, (self.block_bitmap >> 32) as u32);
            put_u32(out, 0x24, (self.inode_bitmap >> 32) as u32);
            put_u32(out, 0x28, (self.inode_table >> 32) as u32);
            put_u16(out, 0x2C, (self.free_blocks >> 16) as u16);
            put_u16(out, 0x2E, (self.free_inodes >> 16) as u16);
            put_u16(out, 0x30, (self.used_dirs >> 16) as u16);
            put_u16(out, 0x32, (self.itable_unused >> 16) as u16);
            put_u16(out, 0x38, (self.block_bitmap_csum >> 16) as u16);
            put_u16(out, 0x3A, (self.inode_bitmap_csum >> 16) as u16);
        }
        if let Some(seed) = csum_seed {
            let crc = crc32c_raw(crc32c_raw(seed, &group.to_le_bytes()), out);
            put_u16(out, 0x1E, crc as u16);
        }
    }
}
