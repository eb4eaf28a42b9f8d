//! CRC32C as ext4 uses it: the raw (not pre/post-inverted) Castagnoli update that the kernel
//! calls `ext4_chksum`, plus the per-filesystem and per-inode seeds of `metadata_csum`.

/// `crc32c_le(seed, data)` as the kernel and e2fsprogs compute it: no inversion on entry or exit.
pub fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    // The crc32c crate inverts before and after; undo both.
    !crc32c::crc32c_append(!seed, data)
}

/// The filesystem checksum seed: `crc32c_le(~0, uuid)`.
pub fn fs_seed(uuid: &[u8; 16]) -> u32 {
    crc32c_raw(!0, uuid)
}

/// The per-inode seed: `crc32c_le(crc32c_le(fs_seed, le32 ino), le32 generation)`.
pub fn inode_seed(fs_seed: u32, ino: u32, generation: u32) -> u32 {
    let s = crc32c_raw(fs_seed, &ino.to_le_bytes());
    crc32c_raw(s, &generation.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_crc_matches_the_standard_check_value() {
        // Standard CRC-32C of "123456789" is 0xE3069283 = !raw(!0, data).
        assert_eq!(!crc32c_raw(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn raw_crc_chains() {
        let a = crc32c_raw(!0, b"hello ");
        assert_eq!(crc32c_raw(a, b"world"), crc32c_raw(!0, b"hello world"));
    }
}
