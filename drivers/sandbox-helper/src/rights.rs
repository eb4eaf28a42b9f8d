//! Names of Landlock filesystem access rights, as the policy spells them, and their
//! `LANDLOCK_ACCESS_FS_*` bits (stable kernel ABI values). Trusts nothing but itself.

/// `(name, bit, first ABI that knows it)`.
pub const FS_RIGHTS: &[(&str, u64, u32)] = &[
    ("execute", 1 << 0, 1),
    ("write_file", 1 << 1, 1),
    ("read_file", 1 << 2, 1),
    ("read_dir", 1 << 3, 1),
    ("remove_dir", 1 << 4, 1),
    ("remove_file", 1 << 5, 1),
    ("make_char", 1 << 6, 1),
    ("make_dir", 1 << 7, 1),
    ("make_reg", 1 << 8, 1),
    ("make_sock", 1 << 9, 1),
    ("make_fifo", 1 << 10, 1),
    ("make_block", 1 << 11, 1),
    ("make_sym", 1 << 12, 1),
    ("refer", 1 << 13, 2),
    ("truncate", 1 << 14, 3),
    ("ioctl_dev", 1 << 15, 5),
];

/// The bit of a right name, if it is one.
pub fn fs_right(name: &str) -> Option<u64> {
    FS_RIGHTS.iter().find(|(n, _, _)| *n == name).map(|(_, bit, _)| *bit)
}

/// All rights bits known for an ABI.
pub fn fs_all(abi: u32) -> u64 {
    FS_RIGHTS.iter().filter(|(_, _, since)| *since <= abi).fold(0, |acc, (_, bit, _)| acc | bit)
}

/// Names of the bits set in `bits`, in table order (for messages and docs).
pub fn fs_names(bits: u64) -> Vec<&'static str> {
    FS_RIGHTS.iter().filter(|(_, bit, _)| bits & bit != 0).map(|(n, _, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_match_the_landlock_crate() {
        use landlock::{ABI, Access, AccessFs};
        for abi in [ABI::V1, ABI::V2, ABI::V3, ABI::V5, ABI::V7] {
            assert_eq!(fs_all(abi as u32), AccessFs::from_all(abi).bits(), "{abi:?}");
        }
        assert_eq!(fs_right("truncate"), Some(AccessFs::Truncate as u64));
        assert_eq!(fs_names(0b101), vec!["execute", "read_file"]);
    }
}
