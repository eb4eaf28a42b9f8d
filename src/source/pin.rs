//! What a unit's source is pinned to. A missing or malformed pin is an error naming the unit
//! and the field; `--allow-unpinned` (development only) lets an archive through unpinned.
use crate::model::Unit;
use crate::model::module::is_full_commit;

/// A unit's source, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// An archive or plain file fetched over http(s) or from file://, with its sha256
    /// (`None` only with `--allow-unpinned`). `urls` are the source then its mirrors.
    Archive { urls: Vec<String>, sha256: Option<String> },
    /// A git repository at a full commit.
    Git { url: String, commit: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error(
        "unit {unit:?}: field `sha256` is missing: {url} is not pinned (add `sha256 = \"<hex>\"`; `yoe source fetch --allow-unpinned {unit}` prints it)"
    )]
    MissingSha256 { unit: String, url: String },
    #[error("unit {unit:?}: field `sha256` must be 64 lowercase hex digits, got {got:?}")]
    BadSha256 { unit: String, got: String },
    #[error(
        "unit {unit:?}: field `commit` is missing: git source {url} needs a full 40-hex commit (`tag`/`branch` alone can move)"
    )]
    MissingCommit { unit: String, url: String },
    #[error("unit {unit:?}: field `source` {url:?}: unsupported scheme (use https://, http://, file:// or a git URL)")]
    Scheme { unit: String, url: String },
    #[error("unit {unit:?}: field `mirrors` {url:?}: a mirror must be an http(s) or file URL")]
    Mirror { unit: String, url: String },
}

/// Go yoe's `IsGitURL`: `.git` suffix, `git://`, `git@`, `ssh://`, or a github.com URL that
/// is not an archive or release download.
pub fn is_git_url(url: &str) -> bool {
    url.ends_with(".git")
        || url.starts_with("git://")
        || url.starts_with("git@")
        || url.starts_with("ssh://")
        || (url.contains("github.com/") && !url.contains("/archive/") && !url.contains("/releases/"))
}

fn is_fetchable(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://") || url.starts_with("file://")
}

/// The pin of a unit's source, `Ok(None)` when it has none.
pub fn pin_of(unit: &Unit, allow_unpinned: bool) -> Result<Option<Pin>, PinError> {
    let url = unit.source.as_str();
    if url.is_empty() {
        return Ok(None);
    }
    if is_git_url(url) {
        if !is_full_commit(&unit.commit) {
            return Err(PinError::MissingCommit { unit: unit.name.to_string(), url: url.to_string() });
        }
        if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("file://")) {
            return Err(PinError::Scheme { unit: unit.name.to_string(), url: url.to_string() });
        }
        return Ok(Some(Pin::Git { url: url.to_string(), commit: unit.commit.clone() }));
    }
    if !is_fetchable(url) {
        return Err(PinError::Scheme { unit: unit.name.to_string(), url: url.to_string() });
    }
    for m in &unit.mirrors {
        if !is_fetchable(m) {
            return Err(PinError::Mirror { unit: unit.name.to_string(), url: m.clone() });
        }
    }
    let sha256 = if unit.sha256.is_empty() {
        if !allow_unpinned {
            return Err(PinError::MissingSha256 { unit: unit.name.to_string(), url: url.to_string() });
        }
        None
    } else if unit.sha256.len() == 64 && unit.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Some(unit.sha256.clone())
    } else {
        return Err(PinError::BadSha256 { unit: unit.name.to_string(), got: unit.sha256.clone() });
    };
    let mut urls = vec![url.to_string()];
    urls.extend(unit.mirrors.iter().cloned());
    Ok(Some(Pin::Archive { urls, sha256 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_url_detection_matches_go_yoe() {
        assert!(is_git_url("https://github.com/madler/zlib.git"));
        assert!(is_git_url("https://github.com/madler/zlib"));
        assert!(!is_git_url("https://github.com/madler/zlib/archive/v1.3.1.tar.gz"));
        assert!(!is_git_url("https://zlib.net/zlib-1.3.1.tar.xz"));
    }
}
