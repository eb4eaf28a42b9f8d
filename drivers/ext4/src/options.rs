//! Filesystem options: size, block size, inodes, label, identifiers, reserved blocks, feature
//! set and journal size, with their defaults and the rules that tie them together.

use crate::format::Timestamp;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    #[error("block size {0} is not supported (expected 1024, 2048 or 4096)")]
    BlockSize(u32),
    #[error("label is {0} bytes, at most 16 fit")]
    LabelTooLong(usize),
    #[error("reserved blocks percentage {0} is above 50")]
    Reserved(u32),
    #[error("inode ratio {0} is below the block size {1}")]
    Ratio(u32, u32),
    #[error(
        "unknown feature `{0}` (known: has_journal, extent, 64bit, flex_bg, huge_file, dir_nlink, extra_isize, metadata_csum, dir_index, sparse_super)"
    )]
    UnknownFeature(String),
    #[error("feature 64bit needs extent")]
    Bit64NeedsExtents,
    #[error("journal of {0} blocks is below the minimum of 1024")]
    JournalTooSmall(u32),
    #[error("journal size given but has_journal is off")]
    JournalWithoutFeature,
    #[error("size `{0}` is not a byte count (digits with an optional K, M, G or T suffix)")]
    Size(String),
    #[error("UUID `{0}` is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")]
    Uuid(String),
}

/// Image size: fixed, or computed from the content plus a margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Exactly this many bytes (the filesystem uses whole blocks of it).
    Fixed(u64),
    /// Content, metadata and journal, plus `margin_percent` of free space.
    Auto { margin_percent: u32 },
}

/// How many inodes the filesystem gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inodes {
    /// One inode per this many bytes of filesystem (like `mke2fs -i`). With an automatic size
    /// the count is raised to fit the manifest plus the margin.
    Ratio(u32),
    /// At least this many inodes (rounded up to whole inode-table blocks per group).
    Count(u32),
}

/// Optional on-disk features. `filetype`, `large_file` and `ext_attr` are always on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    pub has_journal: bool,
    pub extent: bool,
    pub bit64: bool,
    pub flex_bg: bool,
    pub huge_file: bool,
    pub dir_nlink: bool,
    pub extra_isize: bool,
    pub metadata_csum: bool,
    pub dir_index: bool,
    pub sparse_super: bool,
}

/// Named starting points for the feature set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FsType {
    /// has_journal, extent, 64bit, flex_bg, huge_file, dir_nlink, extra_isize, metadata_csum,
    /// dir_index, sparse_super (what `mke2fs -t ext4` sets, minus resize_inode).
    Ext4,
    /// ext2 plus a journal.
    Ext3,
    /// No journal, block maps instead of extents, dir_index and sparse_super only.
    Ext2,
}

impl Features {
    pub fn for_type(t: FsType) -> Features {
        let ext2 = Features {
            has_journal: false,
            extent: false,
            bit64: false,
            flex_bg: false,
            huge_file: false,
            dir_nlink: false,
            extra_isize: false,
            metadata_csum: false,
            dir_index: true,
            sparse_super: true,
        };
        match t {
            FsType::Ext2 => ext2,
            FsType::Ext3 => Features { has_journal: true, ..ext2 },
            FsType::Ext4 => Features {
                has_journal: true,
                extent: true,
                bit64: true,
                flex_bg: true,
                huge_file: true,
                dir_nlink: true,
                extra_isize: true,
                metadata_csum: true,
                dir_index: true,
                sparse_super: true,
            },
        }
    }

    /// Apply a `mke2fs -O` style list: `feature` turns it on, `^feature` off.
    pub fn apply(&mut self, spec: &str) -> Result<(), OptionsError> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (on, name) = match item.strip_prefix('^') {
                Some(n) => (false, n),
                None => (true, item),
            };
            let slot = match name {
                "has_journal" => &mut self.has_journal,
                "extent" | "extents" => &mut self.extent,
                "64bit" => &mut self.bit64,
                "flex_bg" => &mut self.flex_bg,
                "huge_file" => &mut self.huge_file,
                "dir_nlink" => &mut self.dir_nlink,
                "extra_isize" => &mut self.extra_isize,
                "metadata_csum" => &mut self.metadata_csum,
                "dir_index" => &mut self.dir_index,
                "sparse_super" => &mut self.sparse_super,
                _ => return Err(OptionsError::UnknownFeature(name.to_owned())),
            };
            *slot = on;
        }
        Ok(())
    }

    pub fn check(&self) -> Result<(), OptionsError> {
        if self.bit64 && !self.extent {
            return Err(OptionsError::Bit64NeedsExtents);
        }
        Ok(())
    }

    /// The list of enabled features, for reports.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = vec![];
        for (on, n) in [
            (self.has_journal, "has_journal"),
            (true, "ext_attr"),
            (self.dir_index, "dir_index"),
            (true, "filetype"),
            (self.extent, "extent"),
            (self.bit64, "64bit"),
            (self.flex_bg, "flex_bg"),
            (self.sparse_super, "sparse_super"),
            (true, "large_file"),
            (self.huge_file, "huge_file"),
            (self.dir_nlink, "dir_nlink"),
            (self.extra_isize, "extra_isize"),
            (self.metadata_csum, "metadata_csum"),
        ] {
            if on {
                v.push(n);
            }
        }
        v
    }
}

/// Everything about the filesystem that is not in the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub size: Size,
    pub block_size: u32,
    pub inodes: Inodes,
    pub label: Vec<u8>,
    /// Filesystem UUID; derived from the manifest and options when None.
    pub uuid: Option<[u8; 16]>,
    /// Directory hash seed; derived from the manifest and options when None.
    pub hash_seed: Option<[u8; 16]>,
    /// Blocks reserved for root, in percent of the filesystem (like `mke2fs -m`).
    pub reserved_percent: u32,
    pub features: Features,
    /// Journal size in blocks; `mke2fs`'s default for the filesystem size when None.
    pub journal_blocks: Option<u32>,
    /// Times for entries that give none, and for the superblock (`SOURCE_DATE_EPOCH`).
    pub default_time: Timestamp,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            size: Size::Auto { margin_percent: 20 },
            block_size: 4096,
            inodes: Inodes::Ratio(16384),
            label: Vec::new(),
            uuid: None,
            hash_seed: None,
            reserved_percent: 5,
            features: Features::for_type(FsType::Ext4),
            journal_blocks: None,
            default_time: Timestamp::default(),
        }
    }
}

impl Options {
    pub fn check(&self) -> Result<(), OptionsError> {
        if ![1024, 2048, 4096].contains(&self.block_size) {
            return Err(OptionsError::BlockSize(self.block_size));
        }
        if self.label.len() > 16 {
            return Err(OptionsError::LabelTooLong(self.label.len()));
        }
        if self.reserved_percent > 50 {
            return Err(OptionsError::Reserved(self.reserved_percent));
        }
        if let Inodes::Ratio(r) = self.inodes
            && r < self.block_size
        {
            return Err(OptionsError::Ratio(r, self.block_size));
        }
        if let Some(j) = self.journal_blocks {
            if !self.features.has_journal {
                return Err(OptionsError::JournalWithoutFeature);
            }
            if j < crate::format::journal::MIN_BLOCKS {
                return Err(OptionsError::JournalTooSmall(j));
            }
        }
        self.features.check()
    }
}

/// Parse `123`, `64K`, `100M`, `2G`, `1T` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, OptionsError> {
    let bad = || OptionsError::Size(s.to_owned());
    let (digits, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        Some(b'T' | b't') => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).ok_or_else(bad)
}

/// Parse a UUID in its usual text form into 16 bytes.
pub fn parse_uuid(s: &str) -> Result<[u8; 16], OptionsError> {
    let bad = || OptionsError::Uuid(s.to_owned());
    let groups: Vec<&str> = s.split('-').collect();
    if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
        return Err(bad());
    }
    let hex: String = groups.concat();
    let v = crate::manifest::parse_hex_bytes(hex.as_bytes()).ok_or_else(bad)?;
    v.try_into().map_err(|_| bad())
}

/// Format 16 bytes as a UUID.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }

    #[test]
    fn uuids_round_trip() {
        let u = parse_uuid("11111111-2222-3333-4444-555555555555").unwrap();
        assert_eq!(format_uuid(&u), "11111111-2222-3333-4444-555555555555");
        assert!(parse_uuid("1111-2222").is_err());
    }

    #[test]
    fn feature_lists() {
        let mut f = Features::for_type(FsType::Ext4);
        f.apply("^has_journal,^metadata_csum").unwrap();
        assert!(!f.has_journal && !f.metadata_csum && f.extent);
        assert!(f.apply("resize_inode").is_err());
        let mut f = Features::for_type(FsType::Ext2);
        f.apply("64bit").unwrap();
        assert_eq!(f.check(), Err(OptionsError::Bit64NeedsExtents));
    }
}
