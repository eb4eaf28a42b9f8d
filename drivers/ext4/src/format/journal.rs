//! The jbd2 journal superblock of an empty internal journal (big-endian, as jbd2 stores it),
//! and the default journal size that `mke2fs` would choose.

/// The journal's first block: a clean, empty version-2 journal superblock.
pub fn superblock(block_size: u32, journal_blocks: u32, fs_uuid: &[u8; 16]) -> Vec<u8> {
    let mut b = vec![0u8; block_size as usize];
    let mut put = |off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_be_bytes());
    put(0x00, 0xC03B_3998); // h_magic
    put(0x04, 4); // h_blocktype: superblock v2
    put(0x08, 0); // h_sequence
    put(0x0C, block_size);
    put(0x10, journal_blocks); // s_maxlen
    put(0x14, 1); // s_first: first log block
    put(0x18, 1); // s_sequence
    put(0x1C, 0); // s_start: 0 means the journal is empty, nothing to replay
    put(0x40, 1); // s_nr_users
    b[0x30..0x40].copy_from_slice(fs_uuid);
    b
}

/// Smallest journal jbd2 accepts, in blocks.
pub const MIN_BLOCKS: u32 = 1024;

/// `mke2fs`'s default journal size (in blocks) for a filesystem of `blocks` blocks, or None if
/// the filesystem is too small for a journal.
pub fn default_blocks(blocks: u64) -> Option<u32> {
    Some(match blocks {
        0..2048 => return None,
        2048..32768 => 1024,
        32768..262_144 => 4096,
        262_144..524_288 => 8192,
        524_288..4_194_304 => 16384,
        4_194_304..8_388_608 => 32768,
        8_388_608..16_777_216 => 65536,
        16_777_216..33_554_432 => 131_072,
        _ => 262_144,
    })
}
