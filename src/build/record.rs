//! `build.json`: what was built, from which inputs (the cache key), with which result, and
//! the content hash of the output used to re-verify it before any reuse.
use std::path::Path;

use serde::{Deserialize, Serialize};

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
    /// sha256 of the destdir tree after the build (empty unless complete).
    pub output_sha256: String,
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

impl Record {
    pub fn read(path: &Path) -> Option<Record> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write atomically (temp file + rename) so a crash never leaves a half record.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
