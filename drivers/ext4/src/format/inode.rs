//! One on-disk inode (256 bytes): the classic 128-byte part, 32 bytes of extra fields
//! (nanosecond timestamps, creation time, checksum high half) and the in-inode xattr area.

use super::csum::crc32c_raw;
use super::{EXTRA_ISIZE, INODE_SIZE, Timestamp, put_u16, put_u32};

pub const EXT4_EXTENTS_FL: u32 = 0x0008_0000;
pub const EXT4_INDEX_FL: u32 = 0x0000_1000;
pub const EXT4_HUGE_FILE_FL: u32 = 0x0004_0000;

/// Offset of the in-inode xattr area (after the 128-byte base and the extra fields).
pub const INLINE_XATTR_OFFSET: usize = 128 + EXTRA_ISIZE as usize;
/// Bytes available for in-inode xattrs, including the 4-byte magic.
pub const INLINE_XATTR_SPACE: usize = INODE_SIZE as usize - INLINE_XATTR_OFFSET;

/// Everything we put into an inode. Built by the writer, encoded here.
#[derive(Clone, Debug)]
pub struct Inode {
    /// Full `i_mode` (type bits and permission bits).
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: Timestamp,
    pub ctime: Timestamp,
    pub mtime: Timestamp,
    pub crtime: Timestamp,
    pub links: u16,
    /// `i_blocks` in 512-byte sectors (we never set `HUGE_FILE_FL`).
    pub sectors: u64,
    pub flags: u32,
    /// The 60-byte `i_block` area: extent root, block map, fast symlink or device number.
    pub i_block: [u8; 60],
    /// Block number of the xattr block, 0 if none.
    pub file_acl: u64,
    /// The in-inode xattr area (magic included), empty if none.
    pub inline_xattrs: Vec<u8>,
}

impl Default for Inode {
    fn default() -> Inode {
        Inode {
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            atime: Timestamp::default(),
            ctime: Timestamp::default(),
            mtime: Timestamp::default(),
            crtime: Timestamp::default(),
            links: 0,
            sectors: 0,
            flags: 0,
            i_block: [0; 60],
            file_acl: 0,
            inline_xattrs: Vec::new(),
        }
    }
}

impl Inode {
    /// Encode into `out` (exactly `INODE_SIZE` bytes). `csum_seed` is the filesystem seed when
    /// `metadata_csum` is on.
    pub fn encode(&self, ino: u32, csum_seed: Option<u32>, out: &mut [u8]) {
        debug_assert_eq!(out.len(), INODE_SIZE as usize);
        out.fill(0);
        put_u16(out, 0x00, self.mode);
        put_u16(out, 0x02, self.uid as u16);
        put_u32(out, 0x04, self.size as u32);
        put_u32(out, 0x08, self.atime.base());
        put_u32(out, 0x0C, self.ctime.base());
        put_u32(out, 0x10, self.mtime.base());
        put_u16(out, 0x18, self.gid as u16);
        put_u16(out, 0x1A, self.links);
        put_u32(out, 0x1C, self.sectors as u32);
        put_u32(out, 0x20, self.flags);
        out[0x28..0x28 + 60].copy_from_slice(&self.i_block);
        // i_generation (0x64) stays 0 so that images are reproducible.
        put_u32(out, 0x68, self.file_acl as u32);
        put_u32(out, 0x6C, (self.size >> 32) as u32);
        put_u16(out, 0x74, (self.sectors >> 32) as u16);
        put_u16(out, 0x76, (self.file_acl >> 32) as u16);
        put_u16(out, 0x78, (self.uid >> 16) as u16);
        put_u16(out, 0x7A, (self.gid >> 16) as u16);
        put_u16(out, 0x80, EXTRA_ISIZE);
        put_u32(out, 0x84, self.ctime.extra());
        put_u32(out, 0x88, self.mtime.extra());
        put_u32(out, 0x8C, self.atime.extra());
        put_u32(out, 0x90, self.crtime.base());
        put_u32(out, 0x94, self.crtime.extra());
        if !self.inline_xattrs.is_empty() {
            out[INLINE_XATTR_OFFSET..INLINE_XATTR_OFFSET + self.inline_xattrs.len()]
                .copy_from_slice(&self.inline_xattrs);
        }
        if let Some(seed) = csum_seed {
            set_checksum(ino, seed, out);
        }
    }
}

/// Write an inode checksum (both halves) into an encoded inode whose checksum fields are 0.
pub fn set_checksum(ino: u32, fs_seed: u32, out: &mut [u8]) {
    let generation = super::get_u32(out, 0x64);
    let seed = super::csum::inode_seed(fs_seed, ino, generation);
    let crc = crc32c_raw(seed, out);
    put_u16(out, 0x7C, crc as u16);
    put_u16(out, 0x82, (crc >> 16) as u16);
}

/// Encode a device number into `i_block` the way the kernel does (old 16-bit encoding when
/// both halves fit in a byte, the new 32-bit encoding in the second word otherwise).
pub fn encode_device(major: u32, minor: u32) -> [u8; 60] {
    let mut b = [0u8; 60];
    if major < 256 && minor < 256 {
        put_u32(&mut b, 0, (major << 8) | minor);
    } else {
        let v = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
        put_u32(&mut b, 4, v);
    }
    b
}
