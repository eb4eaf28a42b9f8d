//! The ext4 on-disk format: constants, byte helpers and one encoder per structure.
//!
//! Everything below this module is pure: it turns already-validated values into bytes and
//! trusts its callers (the writer) for sizes and block numbers. It never does I/O.

pub mod blockmap;
pub mod csum;
pub mod dir;
pub mod extent;
pub mod hash;
pub mod inode;
pub mod journal;
pub mod superblock;
pub mod xattr;

/// Size of every inode we write. Fixed: 128 bytes of classic inode plus 32 bytes of extra
/// fields plus 96 bytes of in-inode extended attribute space.
pub const INODE_SIZE: u32 = 256;
/// `i_extra_isize` of every inode we write.
pub const EXTRA_ISIZE: u16 = 32;
/// First non-reserved inode number.
pub const FIRST_INO: u32 = 11;
pub const ROOT_INO: u32 = 2;
pub const JOURNAL_INO: u32 = 8;
pub const LOST_FOUND_INO: u32 = 11;

/// Little-endian writers into a byte slice at a fixed offset. Offsets are constants of the
/// format, so an out-of-range offset is a programming error caught by the tests.
pub fn put_u8(buf: &mut [u8], off: usize, v: u8) {
    buf[off] = v;
}
pub fn put_u16(buf: &mut [u8], off: usize, v: u16) {
    buf[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u64(buf: &mut [u8], off: usize, v: u64) {
    buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
pub fn get_u16(buf: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([buf[off], buf[off + 1]])
}
pub fn get_u32(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

/// Round `n` up to a multiple of 4 (directory entries and xattr records are 4-aligned).
pub const fn round4(n: usize) -> usize {
    (n + 3) & !3
}

/// Directory entry file types (the `filetype` feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    Regular = 1,
    Dir = 2,
    CharDev = 3,
    BlockDev = 4,
    Fifo = 5,
    Socket = 6,
    Symlink = 7,
}

impl FileType {
    /// The `S_IFMT` bits of `i_mode` for this type.
    pub fn mode_bits(self) -> u16 {
        match self {
            FileType::Regular => 0o100000,
            FileType::Dir => 0o040000,
            FileType::CharDev => 0o020000,
            FileType::BlockDev => 0o060000,
            FileType::Fifo => 0o010000,
            FileType::Socket => 0o140000,
            FileType::Symlink => 0o120000,
        }
    }
}

/// A timestamp as ext4 stores it: seconds since the epoch plus nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    /// Smallest representable second (with the two epoch bits of the extra field).
    pub const MIN_SECS: i64 = i32::MIN as i64;
    /// Largest second we write: 2^31 - 1 + 2 * 2^32 (2310-04-04). The format goes on to 2446,
    /// but e2fsck reads times from 2310 to 2378 as pre-1970 dates written by old kernels
    /// and "fixes" them, so they are refused.
    pub const MAX_SECS: i64 = i32::MAX as i64 + 2 * (1i64 << 32);

    pub fn new(secs: i64, nanos: u32) -> Option<Timestamp> {
        if !(Self::MIN_SECS..=Self::MAX_SECS).contains(&secs) || nanos >= 1_000_000_000 {
            return None;
        }
        Some(Timestamp { secs, nanos })
    }

    /// The 32-bit base field (the low 32 bits of the seconds).
    pub fn base(self) -> u32 {
        self.secs as u32
    }

    /// The `_extra` field: two epoch bits, then 30 bits of nanoseconds.
    pub fn extra(self) -> u32 {
        let epoch = ((self.secs - i64::from(self.secs as i32)) >> 32) as u32 & 3;
        epoch | (self.nanos << 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trip_through_kernel_decoding() {
        // The kernel decodes: secs = (i32)base + (extra & 3) << 32.
        for secs in [
            0i64,
            -1,
            1_700_000_000,
            i32::MAX as i64,
            i32::MAX as i64 + 1,
            Timestamp::MIN_SECS,
            Timestamp::MAX_SECS,
            -12345,
            10_000_000_000,
        ] {
            let t = Timestamp::new(secs, 999_999_999).unwrap();
            let decoded = i64::from(t.base() as i32) + (i64::from(t.extra() & 3) << 32);
            assert_eq!(decoded, secs, "secs {secs}");
            assert_eq!(t.extra() >> 2, 999_999_999);
        }
        assert!(Timestamp::new(Timestamp::MAX_SECS + 1, 0).is_none());
        assert!(Timestamp::new(Timestamp::MIN_SECS - 1, 0).is_none());
        assert!(Timestamp::new(0, 1_000_000_000).is_none());
    }
}
