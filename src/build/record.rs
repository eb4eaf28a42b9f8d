//! `build.json`: what was built, from which inputs (the cache key), with which result, and
//! the digest of the output used to re-verify it before any reuse. Read and written beneath
//! the unit's dir fd (atomically: temp file + rename), never through a symlink, and read
//! only up to [`MAX_RECORD_BYTES`]. Trusts nothing in the file: a record that does not parse
//! is no record.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsx::{Dir, FsError, RelPath};

/// More than any record yoe writes; a bigger `build.json` is not read.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Building,
    Complete,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub unit: String,
    pub status: Status,
    /// The unit's cache key (sha256 over every input).
    pub key: String,
    /// The destdir's digest after the build, with its version tag
    /// (`yoe-output-v2:<hex>`, [`crate::fsx::digest`]); empty unless complete. Records of
    /// older yoe versions have an `output_sha256` instead and none of this: they are rebuilt.
    #[serde(default)]
    pub output_digest: String,
    pub yoe_version: String,
    pub policy_sha256: String,
    pub started: u64,
    pub finished: u64,
    pub duration_seconds: f64,
    pub steps: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the host toolchain (not a toolchain unit) was used.
    pub hermetic: bool,
}

fn split(path: &Path) -> Result<(&Path, RelPath<'_>), FsError> {
    match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => Ok((p, RelPath::new(n)?)),
        _ => Err(FsError::BadPath { path: path.to_path_buf(), reason: "it has no file name" }),
    }
}

impl Record {
    /// The record at `path` (a unit's `build.json`), if there is a readable, well-formed one.
    pub fn read(path: &Path) -> Option<Record> {
        let (dir, name) = split(path).ok()?;
        let data = Dir::open(dir).ok()?.read_limited(name, MAX_RECORD_BYTES).ok()?;
        serde_json::from_slice(&data).ok()
    }

    /// Write atomically (temp file + rename in the unit's dir) so a crash never leaves a
    /// half record, and a symlink at `path` is replaced, not written through.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let data = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let (dir, name) = split(path)?;
        Ok(Dir::open(dir)?.write_atomic(name, &data, 0o644)?)
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            unit: "u".into(),
            status: Status::Complete,
            key: "k".into(),
            output_digest: "yoe-output-v2:00".into(),
            yoe_version: "0".into(),
            policy_sha256: "p".into(),
            started: 1,
            finished: 2,
            duration_seconds: 1.0,
            steps: 1,
            error: None,
            hermetic: false,
        }
    }

    #[test]
    fn round_trip_replaces_links_and_refuses_fifos_and_huge_files() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("build.json");
        record().write(&p).unwrap();
        assert_eq!(Record::read(&p).unwrap().output_digest, "yoe-output-v2:00");
        // A symlink at the record is replaced, its target untouched.
        std::fs::write(t.path().join("elsewhere"), "keep").unwrap();
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(t.path().join("elsewhere"), &p).unwrap();
        assert!(Record::read(&p).is_none(), "a symlinked record is not read");
        record().write(&p).unwrap();
        assert_eq!(std::fs::read_to_string(t.path().join("elsewhere")).unwrap(), "keep");
        assert!(Record::read(&p).is_some());
        std::fs::remove_file(&p).unwrap();
        crate::fsx::testutil::mkfifo(&p);
        assert!(Record::read(&p).is_none(), "a fifo is not opened (the test would hang)");
        std::fs::remove_file(&p).unwrap();
        crate::fsx::testutil::sparse_file(&p, MAX_RECORD_BYTES + 1, &[0], b"{");
        assert!(Record::read(&p).is_none());
    }

    #[test]
    fn an_old_record_reads_without_a_digest() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("build.json");
        let mut v = serde_json::to_value(record()).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("output_digest");
        o.insert("output_sha256".into(), "ab".repeat(32).into());
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(Record::read(&p).unwrap().output_digest, "");
    }
}
