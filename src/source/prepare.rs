//! From pin to `src/`: make sure the pinned bytes are in the store (fetching from the
//! source, then each mirror, against the same hash), re-verify them, and extract them
//! safely into a unit's source dir (first path component stripped, as Go yoe does). The
//! store is shared, but a project is served only what it fetched itself
//! ([`super::domain`]).
use std::path::{Path, PathBuf};

use super::domain::{Domain, Kind};
use super::fetch::{FetchOptions, fetch};
use super::pin::{Pin, pin_of};
use super::store::{Store, StoreError};
use crate::model::Unit;
use crate::module::{Pin as ModulePin, Store as ModuleStore, StoreError as ModuleStoreError};

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
    #[error("unit {unit:?}: git source {url} @ {commit}: {message}")]
    Git { unit: String, url: String, commit: String, message: String },
}

/// A message for the user (progress on stderr).
pub type Notify<'a> = &'a (dyn Fn(&str) + Sync);

/// Fetching and preparing sources for a project.
pub struct Sources {
    pub store: Store,
    /// Bare repositories of git sources, under `<cache>/git` (the module store's code).
    pub git_root: PathBuf,
    pub options: FetchOptions,
    /// `file://` sources must resolve inside this directory (the project root).
    pub file_root: PathBuf,
    pub allow_unpinned: bool,
    /// What this project fetched itself (the only objects it is served).
    pub domain: Domain,
}

/// What `ensure` found or fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The store object (an archive) or the bare repository (a git source).
    pub object: PathBuf,
    /// The pin: the archive's sha256 or the git commit.
    pub sha256: String,
    /// Whether it was already in the store (and verified).
    pub reused: bool,
}

impl Sources {
    pub fn new(cache_dir: &Path, file_root: &Path) -> Sources {
        Sources {
            store: Store::new(cache_dir),
            git_root: cache_dir.join("git"),
            options: FetchOptions::default(),
            file_root: file_root.to_path_buf(),
            allow_unpinned: false,
            domain: Domain::of(cache_dir, file_root),
        }
    }

    /// The stored object for `sha256`, re-hashed, if this project fetched it itself.
    pub fn stored(&self, sha256: &str) -> Result<Option<PathBuf>, StoreError> {
        if !self.domain.has(Kind::Archive, sha256) {
            return Ok(None);
        }
        self.store.get(sha256)
    }

    fn record(&self, unit: &Unit, kind: Kind, key: &str) -> Result<(), SourceError> {
        self.domain.record(kind, key).map_err(|e| SourceError::Store {
            unit: unit.name.to_string(),
            message: format!("recording the fetch in the project's cache domain: {e}"),
        })
    }

    /// Make sure the unit's pinned source is in the store; `Ok(None)` if it has none.
    pub fn ensure(&self, unit: &Unit, notify: Notify) -> Result<Option<Fetched>, SourceError> {
        match pin_of(unit, self.allow_unpinned)? {
            None => Ok(None),
            Some(Pin::Git { url, commit }) => {
                let (store, pin) = self.git_pin(unit, &url, &commit)?;
                // Fetch if needed and read every object once (re-hashed) into a scratch
                // dir, so that a damaged repository is fetched again now, not at build time.
                let scratch = tempfile::Builder::new()
                    .prefix(".check-")
                    .tempdir_in(store.root())
                    .map_err(|e| git_message(unit, &pin, format!("{}: {e}", store.root().display())))?;
                let (_, fetched) = self.git_checkout(unit, &store, &pin, scratch.path())?;
                let object = store.slug_dir(&url).join("repo.git");
                Ok(Some(Fetched { object, sha256: commit, reused: !fetched }))
            }
            Some(Pin::Archive { urls, sha256 }) => {
                if let Some(sha) = &sha256 {
                    match self.stored(sha) {
                        Ok(Some(p)) => return Ok(Some(Fetched { object: p, sha256: sha.clone(), reused: true })),
                        Ok(None) => {}
                        Err(StoreError::Corrupt { actual, .. }) => notify(&format!(
                            "{}: the cached source object {sha} hashed to {actual}; it was removed and is fetched again",
                            unit.name
                        )),
                        Err(e) => {
                            return Err(SourceError::Store { unit: unit.name.to_string(), message: e.to_string() });
                        }
                    }
                }
                let mut attempts = Vec::new();
                for url in &urls {
                    match self.fetch_one(url, sha256.as_deref()) {
                        Ok((object, sha)) => {
                            self.record(unit, Kind::Archive, &sha)?;
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
                    unit: unit.name.to_string(),
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

    /// The module store that keeps git sources, and the pin of this one. A `file://`
    /// repository must live in the project, like a `file://` archive.
    fn git_pin(&self, unit: &Unit, url: &str, commit: &str) -> Result<(ModuleStore, ModulePin), SourceError> {
        let pin = ModulePin {
            name: unit.name.to_string(),
            url: url.to_string(),
            git_ref: if unit.tag.is_empty() { unit.branch.clone() } else { unit.tag.clone() },
            commit: commit.to_string(),
            path: String::new(),
            tree: String::new(),
        };
        if let Some(path) = url.strip_prefix("file://") {
            let root = self.file_root.canonicalize().unwrap_or_else(|_| self.file_root.clone());
            match Path::new(path).canonicalize() {
                Ok(real) if real.starts_with(&root) => {}
                Ok(real) => {
                    return Err(git_message(
                        unit,
                        &pin,
                        format!(
                            "resolves to {}, outside the project {}; file:// sources must live in the project",
                            real.display(),
                            root.display()
                        ),
                    ));
                }
                // Gone: only the cache can serve it, and the cache only holds what passed
                // this check when it was fetched. The path must still name the project.
                Err(_) if lexically_inside(Path::new(path), &root) => {}
                Err(e) => return Err(git_message(unit, &pin, format!("{path}: {e}"))),
            }
        }
        let store = ModuleStore::open_at(&self.git_root).map_err(|e| git_error(unit, &pin, e))?;
        Ok((store, pin))
    }

    /// Write the unit's git source into `src` (an existing, empty directory): every object
    /// of the pinned commit is re-hashed as it is read from the cached repository, and a
    /// damaged repository is fetched again once.
    pub fn checkout_git(
        &self,
        unit: &Unit,
        url: &str,
        commit: &str,
        src: &Path,
        notify: Notify,
    ) -> Result<(), SourceError> {
        let (store, pin) = self.git_pin(unit, url, commit)?;
        let (_, fetched) = self.git_checkout(unit, &store, &pin, src)?;
        if fetched {
            notify(&format!("{}: fetched {url} @ {commit}", unit.name));
        }
        Ok(())
    }

    /// Check out a git source from the cache, fetching it first when this project has not
    /// fetched that commit from that URL itself (the cache may hold it for another project).
    fn git_checkout(
        &self,
        unit: &Unit,
        store: &ModuleStore,
        pin: &ModulePin,
        dest: &Path,
    ) -> Result<(crate::module::objects::Materialised, bool), SourceError> {
        let key = Domain::git_key(&pin.url, &pin.commit);
        if self.domain.has(Kind::Git, &key) {
            return store.checkout(pin, dest).map_err(|e| git_error(unit, pin, e));
        }
        let r = store.checkout_fetching(pin, dest).map_err(|e| git_error(unit, pin, e))?;
        self.record(unit, Kind::Git, &key)?;
        Ok(r)
    }

    /// Re-hash a cached git source without fetching: `Ok(false)` if it is not cached (for
    /// this project).
    pub fn verify_git(&self, unit: &Unit, url: &str, commit: &str) -> Result<bool, SourceError> {
        if !self.domain.has(Kind::Git, &Domain::git_key(url, commit)) {
            return Ok(false);
        }
        let (store, pin) = self.git_pin(unit, url, commit)?;
        match store.check_commit(&pin) {
            Ok(()) => Ok(true),
            Err(ModuleStoreError::Missing { .. }) => Ok(false),
            Err(e) => Err(git_error(unit, &pin, e)),
        }
    }

    /// Fetch if needed and extract the unit's source into `src` (which must be empty).
    /// Returns whether the unit had a source.
    pub fn prepare(&self, unit: &Unit, src: &Path, notify: Notify) -> Result<bool, SourceError> {
        if let Some(Pin::Git { url, commit }) = pin_of(unit, self.allow_unpinned)? {
            std::fs::create_dir_all(src).map_err(|e| SourceError::Store {
                unit: unit.name.to_string(),
                message: format!("{}: {e}", src.display()),
            })?;
            self.checkout_git(unit, &url, &commit, src, notify)?;
            return Ok(true);
        }
        let Some(f) = self.ensure(unit, notify)? else { return Ok(false) };
        let name = unit.source.rsplit('/').next().unwrap_or("source").to_string();
        // extract() wants a missing or empty destination.
        let opts = yoe_extract::ExtractOptions::default().name_hint(std::ffi::OsStr::new(&name));
        let _ = std::fs::remove_dir(src);
        yoe_extract::extract(&f.object, src, &opts).map_err(|source| SourceError::Extract {
            unit: unit.name.to_string(),
            url: unit.source.clone(),
            object: f.object.clone(),
            source: Box::new(source),
        })?;
        Ok(true)
    }
}

/// `path` with `.` and `..` resolved as text is under `root`.
fn lexically_inside(path: &Path, root: &Path) -> bool {
    path.is_absolute() && crate::starlark::labels::normalize(path).starts_with(root)
}

fn git_message(unit: &Unit, pin: &ModulePin, message: String) -> SourceError {
    SourceError::Git { unit: unit.name.to_string(), url: pin.url.clone(), commit: pin.commit.clone(), message }
}

/// The module store's error, without its "module" framing.
fn git_error(unit: &Unit, pin: &ModulePin, e: ModuleStoreError) -> SourceError {
    let message = match e {
        ModuleStoreError::Git { source, .. } => source.to_string(),
        ModuleStoreError::Objects { source, .. } => source.to_string(),
        ModuleStoreError::Damaged { damage, refetch, .. } => {
            format!("{damage}; fetching the repository again failed: {refetch}")
        }
        other => other.to_string(),
    };
    git_message(unit, pin, message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_containment() {
        let root = Path::new("/p");
        assert!(lexically_inside(Path::new("/p/up/x.git"), root));
        assert!(lexically_inside(Path::new("/p/a/../up/./x.git"), root));
        assert!(!lexically_inside(Path::new("/p/../etc/x.git"), root));
        assert!(!lexically_inside(Path::new("/pp/x.git"), root));
        assert!(!lexically_inside(Path::new("p/x.git"), root));
    }
}
