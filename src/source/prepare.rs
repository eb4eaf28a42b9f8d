//! From pin to `src/`: make sure the pinned bytes are in the store (fetching from the
//! source, then each mirror, against the same hash), re-verify them, and extract them
//! safely into a unit's source dir (first path component stripped, as Go yoe does).
use std::path::{Path, PathBuf};

use super::fetch::{FetchOptions, fetch};
use super::pin::{Pin, pin_of};
use super::store::{Store, StoreError};
use crate::model::Unit;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Pin(#[from] super::pin::PinError),
    #[error("unit {unit:?}: no URL gave bytes with sha256 {sha256}:\n{}", attempts.join("\n"))]
    Fetch { unit: String, sha256: String, attempts: Vec<String> },
    #[error("unit {unit:?}: {message}")]
    Store { unit: String, message: String },
    #[error("unit {unit:?}: extracting source {url} (store object {}): {source}", object.display())]
    Extract { unit: String, url: String, object: PathBuf, source: Box<yoe_extract::ExtractError> },
    #[error("unit {unit:?}: git sources are not supported yet ({url})")]
    Git { unit: String, url: String },
}

/// A message for the user (progress on stderr).
pub type Notify<'a> = &'a (dyn Fn(&str) + Sync);

/// Fetching and preparing sources for a project.
pub struct Sources {
    pub store: Store,
    pub options: FetchOptions,
    /// `file://` sources must resolve inside this directory (the project root).
    pub file_root: PathBuf,
    pub allow_unpinned: bool,
}

/// What `ensure` found or fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub object: PathBuf,
    pub sha256: String,
    /// Whether it was already in the store (and verified).
    pub reused: bool,
}

impl Sources {
    pub fn new(cache_dir: &Path, file_root: &Path) -> Sources {
        Sources {
            store: Store::new(cache_dir),
            options: FetchOptions::default(),
            file_root: file_root.to_path_buf(),
            allow_unpinned: false,
        }
    }

    /// Make sure the unit's pinned source is in the store; `Ok(None)` if it has none.
    pub fn ensure(&self, unit: &Unit, notify: Notify) -> Result<Option<Fetched>, SourceError> {
        match pin_of(unit, self.allow_unpinned)? {
            None => Ok(None),
            Some(Pin::Git { url, .. }) => Err(SourceError::Git { unit: unit.name.clone(), url }),
            Some(Pin::Archive { urls, sha256 }) => {
                if let Some(sha) = &sha256 {
                    match self.store.get(sha) {
                        Ok(Some(p)) => return Ok(Some(Fetched { object: p, sha256: sha.clone(), reused: true })),
                        Ok(None) => {}
                        Err(StoreError::Corrupt { actual, .. }) => notify(&format!(
                            "{}: the cached source object {sha} hashed to {actual}; it was removed and is fetched again",
                            unit.name
                        )),
                        Err(e) => return Err(SourceError::Store { unit: unit.name.clone(), message: e.to_string() }),
                    }
                }
                let mut attempts = Vec::new();
                for url in &urls {
                    match self.fetch_one(url, sha256.as_deref()) {
                        Ok((object, sha)) => {
                            if sha256.is_none() {
                                notify(&format!(
                                    "{}: fetched {url} UNPINNED; pin it with sha256 = \"{sha}\"",
                                    unit.name
                                ));
                            }
                            return Ok(Some(Fetched { object, sha256: sha, reused: false }));
                        }
                        Err(e) => {
                            notify(&format!("{}: {e}", unit.name));
                            attempts.push(format!("  {e}"));
                        }
                    }
                }
                Err(SourceError::Fetch {
                    unit: unit.name.clone(),
                    sha256: sha256.unwrap_or_else(|| "(unpinned)".into()),
                    attempts,
                })
            }
        }
    }

    fn fetch_one(&self, url: &str, sha256: Option<&str>) -> Result<(PathBuf, String), String> {
        let pending = std::cell::RefCell::new(self.store.begin().map_err(|e| e.to_string())?);
        let mut writer = PendingWriter(&pending);
        let mut reset = || {
            let fresh = self.store.begin().map_err(std::io::Error::other)?;
            *pending.borrow_mut() = fresh;
            Ok(())
        };
        fetch(url, &self.options, &self.file_root, &mut writer, &mut reset).map_err(|e| e.to_string())?;
        let pending = pending.into_inner();
        self.store.commit(pending, sha256).map_err(|e| match e {
            StoreError::Corrupt { expected, actual } => format!("{url}: got sha256 {actual}, expected {expected}"),
            other => format!("{url}: {other}"),
        })
    }

    /// Fetch if needed and extract the unit's source into `src` (which must be empty).
    /// Returns whether the unit had a source.
    pub fn prepare(&self, unit: &Unit, src: &Path, notify: Notify) -> Result<bool, SourceError> {
        let Some(f) = self.ensure(unit, notify)? else { return Ok(false) };
        let name = unit.source.rsplit('/').next().unwrap_or("source").to_string();
        // extract() wants a missing or empty destination.
        let opts = yoe_extract::ExtractOptions::default().name_hint(std::ffi::OsStr::new(&name));
        let _ = std::fs::remove_dir(src);
        yoe_extract::extract(&f.object, src, &opts).map_err(|source| SourceError::Extract {
            unit: unit.name.clone(),
            url: unit.source.clone(),
            object: f.object.clone(),
            source: Box::new(source),
        })?;
        Ok(true)
    }
}

struct PendingWriter<'a>(&'a std::cell::RefCell<super::store::Pending>);

impl std::io::Write for PendingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}
