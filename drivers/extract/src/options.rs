//! The extraction policy: strict defaults, and one named builder method per relaxation.
//! Trusts its caller (yoe's own code), never the archive.

use std::ffi::{OsStr, OsString};

/// Default cap on the bytes an archive may extract (sum of all entry sizes): 8 GiB.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 8 << 30;
/// Default cap on the number of members an archive may hold: 1,000,000.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;
/// Default number of leading path components stripped, as the Go yoe does.
pub const DEFAULT_STRIP_COMPONENTS: usize = 1;

/// How to extract. `ExtractOptions::default()` is the strict policy; every relaxation is a
/// named method, so a caller that relaxes something says so in its code.
///
/// ```
/// use yoe_extract::ExtractOptions;
/// let opts = ExtractOptions::default().strip_components(0).max_entries(10_000);
/// assert_eq!(opts.get_strip_components(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    pub(crate) strip_components: usize,
    pub(crate) max_total_bytes: u64,
    pub(crate) max_entries: u64,
    pub(crate) strip_setid_bits: bool,
    pub(crate) skip_special_files: bool,
    pub(crate) follow_symlinks_inside: bool,
    pub(crate) name_hint: Option<OsString>,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            strip_components: DEFAULT_STRIP_COMPONENTS,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            strip_setid_bits: false,
            skip_special_files: false,
            follow_symlinks_inside: false,
            name_hint: None,
        }
    }
}

impl ExtractOptions {
    /// The strict default policy (same as `Default::default()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Strip this many leading path components from every entry (default 1). In a tar,
    /// entries with no more components than that are skipped (GNU `--strip-components`).
    /// In a zip, the components are stripped only when every entry shares them, as the Go
    /// yoe does, so a flat zip keeps its files.
    pub fn strip_components(mut self, n: usize) -> Self {
        self.strip_components = n;
        self
    }

    /// Refuse archives whose entries add up to more than `bytes` (default 8 GiB). The bytes
    /// actually decompressed are counted too, so a lying size field does not get past it.
    pub fn max_total_bytes(mut self, bytes: u64) -> Self {
        self.max_total_bytes = bytes;
        self
    }

    /// Refuse archives with more than `n` members (default 1,000,000).
    pub fn max_entries(mut self, n: u64) -> Self {
        self.max_entries = n;
        self
    }

    /// Relaxation: clear setuid/setgid bits instead of refusing the entry.
    pub fn strip_setid_bits(mut self) -> Self {
        self.strip_setid_bits = true;
        self
    }

    /// Relaxation: skip device nodes, fifos and sockets (counted in
    /// [`crate::Summary::skipped`]) instead of refusing them.
    pub fn skip_special_files(mut self) -> Self {
        self.skip_special_files = true;
        self
    }

    /// Relaxation: let an entry's path go through a symlink extracted earlier (`lib ->
    /// lib64`, then `lib/libc.so`), as long as the resolved path stays inside the
    /// destination. Off by default: such an entry is refused.
    pub fn follow_symlinks_inside(mut self) -> Self {
        self.follow_symlinks_inside = true;
        self
    }

    /// The file's original name (e.g. the last segment of its URL), used to detect its kind
    /// when the bytes are not conclusive and as the name of a plain file copied as is.
    /// Without it, the archive path's own file name is used.
    pub fn name_hint(mut self, name: impl Into<OsString>) -> Self {
        self.name_hint = Some(name.into());
        self
    }

    /// Leading components stripped.
    pub fn get_strip_components(&self) -> usize {
        self.strip_components
    }

    /// Total byte cap.
    pub fn get_max_total_bytes(&self) -> u64 {
        self.max_total_bytes
    }

    /// Entry count cap.
    pub fn get_max_entries(&self) -> u64 {
        self.max_entries
    }

    /// The name hint, if one was given.
    pub fn get_name_hint(&self) -> Option<&OsStr> {
        self.name_hint.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_strict() {
        let o = ExtractOptions::default();
        assert_eq!(o, ExtractOptions::new());
        assert!(!o.strip_setid_bits);
        assert!(!o.skip_special_files);
        assert!(!o.follow_symlinks_inside);
        assert_eq!(o.strip_components, 1);
        assert_eq!(o.max_total_bytes, 8 * 1024 * 1024 * 1024);
        assert_eq!(o.max_entries, 1_000_000);
    }

    #[test]
    fn relaxations_are_named() {
        let o = ExtractOptions::default().strip_setid_bits().skip_special_files().follow_symlinks_inside();
        assert!(o.strip_setid_bits && o.skip_special_files && o.follow_symlinks_inside);
    }
}
