//! The module store in yoe's cache: one bare repository per URL and one materialised tree
//! per (commit, path), each with its manifest. Layout under `<cache>/modules/`:
//!
//! ```text
//! <slug>/repo.git/                   bare repository (fetch target; never checked out)
//! <slug>/<commit>-<pathkey>/manifest the module's manifest (sha256 = the lock's tree hash)
//! <slug>/<commit>-<pathkey>/tree/    checkout root; the module is tree/<path>/
//! <slug>/lock                        flock: shared while verifying, exclusive while writing
//! ```
//!
//! It trusts the lock's tree hash and nothing in the cache: a manifest is believed only when
//! it hashes to the lock's tree, every file is re-hashed against it on every use, and a
//! tree is written only from objects that hash to the ids the pinned commit names.
use std::fs;
use std::path::{Path, PathBuf};

use super::git::{Git, GitError, RemoteRef};
use super::lockfile::{LockedModule, normalize_path};
use super::manifest::{Manifest, tree_hash_of};
use super::objects::{ObjectError, materialise};
use super::verify::{Problem, default_threads, verify_dir};
use crate::treehash::sha256_hex;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("module {name:?} is not in the cache ({}); run `yoe module sync`", dir.display())]
    Missing { name: String, dir: PathBuf },
    #[error(
        "module {name:?} in the cache ({}) does not match yoe.lock: {}; nothing from it was evaluated; run `yoe module sync` to restore it",
        dir.display(),
        list(problems)
    )]
    Tampered { name: String, dir: PathBuf, problems: Vec<Problem> },
    #[error(
        "module {name:?}: {} does not hash to the tree yoe.lock records ({expected}): the cache was modified; nothing from the module was evaluated; run `yoe module sync`",
        path.display()
    )]
    ManifestMismatch { name: String, path: PathBuf, expected: String },
    #[error(
        "module {name:?}: {pinned} has tree {actual}, but yoe.lock records {expected}; \
         the lock was edited by hand or does not belong to this commit; run `yoe module lock` to re-pin it"
    )]
    TreeMismatch { name: String, pinned: String, actual: String, expected: String },
    #[error("module {name:?}: {source}")]
    Git { name: String, source: Box<GitError> },
    #[error("module {name:?} ({pinned}): {source}")]
    Objects { name: String, pinned: String, source: Box<ObjectError> },
    #[error("module {name:?} ({pinned}): {damage}; fetching it again failed: {refetch}")]
    Damaged { name: String, pinned: String, damage: Box<ObjectError>, refetch: Box<GitError> },
    #[error("{}: {why}", path.display())]
    Io { path: PathBuf, why: String },
}

/// The first problems, one per line after the first.
fn list(problems: &[Problem]) -> String {
    const SHOWN: usize = 20;
    let mut s: Vec<String> = problems.iter().take(SHOWN).map(|p| p.to_string()).collect();
    if problems.len() > SHOWN {
        s.push(format!("and {} more", problems.len() - SHOWN));
    }
    s.join("; ")
}

/// What to fetch or verify: a lock entry's pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    pub url: String,
    pub git_ref: String,
    pub commit: String,
    pub path: String,
    pub tree: String,
}

impl From<&LockedModule> for Pin {
    fn from(m: &LockedModule) -> Pin {
        Pin {
            name: m.name.clone(),
            url: m.url.clone(),
            git_ref: m.git_ref.clone(),
            commit: m.commit.clone(),
            path: m.path.clone(),
            tree: m.tree.clone(),
        }
    }
}

impl Pin {
    /// `url @ commit` (and the path, if any), for messages.
    pub fn describe(&self) -> String {
        let p = if self.path.is_empty() { String::new() } else { format!(" path {}", self.path) };
        format!("{} @ {}{p}", self.url, self.commit)
    }
}

/// What [`Store::sync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAction {
    /// Already present and verified.
    Verified,
    /// Not present: fetched and materialised.
    Fetched,
    /// Present but not matching: rebuilt (the problems found are listed).
    Repaired(Vec<String>),
}

/// The module store under `<cache>/modules`.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    threads: usize,
    verify: bool,
}

impl Store {
    /// The store under `cache_dir` (created if missing).
    pub fn open(cache_dir: &Path) -> Result<Store, StoreError> {
        Self::open_at(&cache_dir.join("modules"))
    }

    /// A store rooted at `root` itself (created if missing); units' git sources use
    /// `<cache>/git`, apart from the modules.
    pub fn open_at(root: &Path) -> Result<Store, StoreError> {
        let root = root.to_path_buf();
        fs::create_dir_all(&root).map_err(|e| StoreError::Io { path: root.clone(), why: e.to_string() })?;
        let root = root.canonicalize().map_err(|e| StoreError::Io { path: root.clone(), why: e.to_string() })?;
        Ok(Store { root, threads: default_threads(), verify: true })
    }

    /// The store in yoe's cache directory (`crate::env::cache_dir`).
    pub fn open_default() -> Result<Store, StoreError> {
        Self::open(&crate::env::cache_dir())
    }

    /// Bench-only: skip re-verification (the baseline of `benches/module_verify.rs`).
    #[doc(hidden)]
    pub fn without_verification_for_benchmarks(mut self) -> Store {
        self.verify = false;
        self
    }

    /// Threads used to hash file contents.
    pub fn with_threads(mut self, threads: usize) -> Store {
        self.threads = threads.max(1);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn git(&self) -> Result<Git, GitError> {
        let home = self.root.join(".home");
        fs::create_dir_all(&home).map_err(|e| GitError::Io { path: home.clone(), why: e.to_string() })?;
        Ok(Git::new(&home))
    }

    /// `<root>/<basename>-<sha256(url)[..16]>`.
    pub fn slug_dir(&self, url: &str) -> PathBuf {
        let base: String = url
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit('/')
            .next()
            .unwrap_or("module")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
            .take(40)
            .collect();
        let base = base.trim_start_matches('.');
        let base = if base.is_empty() { "module" } else { base };
        self.root.join(format!("{base}-{}", &sha256_hex(url.as_bytes())[..16]))
    }

    /// The entry directory of a (url, commit, path).
    pub fn entry_dir(&self, url: &str, commit: &str, path: &str) -> PathBuf {
        let path = normalize_path(path);
        let key = if path.is_empty() { "root".to_string() } else { sha256_hex(path.as_bytes())[..16].to_string() };
        self.slug_dir(url).join(format!("{commit}-{key}"))
    }

    /// The directory holding the module's MODULE.star inside an entry.
    pub fn module_dir(&self, pin: &Pin) -> PathBuf {
        let mut d = self.entry_dir(&pin.url, &pin.commit, &pin.path).join("tree");
        for part in normalize_path(&pin.path).split('/').filter(|p| !p.is_empty()) {
            d.push(part);
        }
        d
    }

    /// Verify the cached module against the pin (no network, writes nothing) and return
    /// its checkout root (the directory `path=` is relative to).
    pub fn verify(&self, pin: &Pin) -> Result<PathBuf, StoreError> {
        let entry = self.entry_dir(&pin.url, &pin.commit, &pin.path);
        let _guard = self.lock(&pin.url, false);
        self.verify_entry(pin, &entry)
    }

    fn verify_entry(&self, pin: &Pin, entry: &Path) -> Result<PathBuf, StoreError> {
        let tampered = |problems: Vec<Problem>| StoreError::Tampered {
            name: pin.name.clone(),
            dir: self.module_dir(pin),
            problems,
        };
        match fs::symlink_metadata(entry) {
            Err(_) => return Err(StoreError::Missing { name: pin.name.clone(), dir: entry.to_path_buf() }),
            Ok(m) if !m.is_dir() => {
                return Err(tampered(vec![Problem::TypeChanged {
                    path: entry.display().to_string(),
                    expected: "directory",
                    found: if m.file_type().is_symlink() { "symlink" } else { "file" },
                }]));
            }
            Ok(_) => {}
        }
        let manifest_path = entry.join("manifest");
        let mismatch = || StoreError::ManifestMismatch {
            name: pin.name.clone(),
            path: manifest_path.clone(),
            expected: pin.tree.clone(),
        };
        let bytes = read_nofollow(&manifest_path).map_err(|_| mismatch())?;
        if tree_hash_of(&bytes) != pin.tree {
            return Err(mismatch());
        }
        let manifest = Manifest::parse(&bytes).map_err(|_| mismatch())?;
        // Every directory from the entry down to the module must be real (no symlinks).
        let checkout = entry.join("tree");
        let mut dir = checkout.clone();
        let mut rel = String::new();
        for part in std::iter::once("").chain(normalize_path(&pin.path).split('/').filter(|p| !p.is_empty())) {
            if !part.is_empty() {
                dir.push(part);
                rel = if rel.is_empty() { part.to_string() } else { format!("{rel}/{part}") };
            }
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(m) => {
                    let found = if m.file_type().is_symlink() { "symlink" } else { "file" };
                    let shown = if rel.is_empty() { dir.display().to_string() } else { rel.clone() };
                    return Err(tampered(vec![Problem::TypeChanged { path: shown, expected: "directory", found }]));
                }
                Err(_) => return Err(StoreError::Missing { name: pin.name.clone(), dir: dir.clone() }),
            }
        }
        if self.verify {
            verify_dir(&dir, &manifest, self.threads).map_err(tampered)?;
        }
        Ok(checkout)
    }

    /// Make the cache hold the pinned module, verified: verify, and if it is missing or
    /// does not match, rebuild it from the bare repository (fetching the commit if needed).
    pub fn sync(&self, pin: &Pin) -> Result<(PathBuf, SyncAction), StoreError> {
        let entry = self.entry_dir(&pin.url, &pin.commit, &pin.path);
        let _guard = self.lock(&pin.url, true);
        let action = match self.verify_entry(pin, &entry) {
            Ok(checkout) => return Ok((checkout, SyncAction::Verified)),
            Err(StoreError::Missing { .. }) => SyncAction::Fetched,
            Err(StoreError::Tampered { problems, .. }) => {
                SyncAction::Repaired(problems.iter().map(|p| p.to_string()).collect())
            }
            Err(e @ StoreError::ManifestMismatch { .. }) => SyncAction::Repaired(vec![e.to_string()]),
            Err(e) => return Err(e),
        };
        let manifest = self.build(pin, &entry, Some(&pin.tree))?;
        debug_assert_eq!(manifest.tree_hash(), pin.tree);
        let checkout = self.verify_entry(pin, &entry)?;
        Ok((checkout, action))
    }

    /// Fetch and materialise a commit that is not locked yet, and return its checkout root
    /// and manifest (whose tree hash the lock will record). Never trusts an existing entry.
    pub fn fetch_new(&self, pin_without_tree: &Pin) -> Result<(PathBuf, Manifest), StoreError> {
        let entry = self.entry_dir(&pin_without_tree.url, &pin_without_tree.commit, &pin_without_tree.path);
        let _guard = self.lock(&pin_without_tree.url, true);
        let manifest = self.build(pin_without_tree, &entry, None)?;
        let pin = Pin { tree: manifest.tree_hash(), ..pin_without_tree.clone() };
        let checkout = self.verify_entry(&pin, &entry)?;
        Ok((checkout, manifest))
    }

    /// What `git_ref` of `url` points at now (network).
    pub fn resolve_ref(&self, name: &str, url: &str, git_ref: &str) -> Result<RemoteRef, StoreError> {
        let err = |source| StoreError::Git { name: name.into(), source: Box::new(source) };
        self.git().map_err(err)?.resolve_ref(url, git_ref).map_err(err)
    }

    /// Materialise `pin` into a fresh temp dir, check it against `expected`, and install
    /// it as `entry` (replacing whatever was there). Caller holds the exclusive lock.
    fn build(&self, pin: &Pin, entry: &Path, expected: Option<&str>) -> Result<Manifest, StoreError> {
        let io = |p: &Path, e: std::io::Error| StoreError::Io { path: p.to_path_buf(), why: e.to_string() };
        let slug = self.slug_dir(&pin.url);
        let ((tmp, m), _) = self.with_repo(pin, Fetch::IfMissing, |git, repo| {
            let tmp = slug.join(format!(".tmp-{}-{}", std::process::id(), unique()));
            let werr = |e: std::io::Error| ObjectError::Write { path: tmp.clone(), why: e.to_string() };
            fs::create_dir(&tmp).and_then(|_| fs::create_dir(tmp.join("tree"))).map_err(werr)?;
            match materialise(git, repo, &pin.commit, &normalize_path(&pin.path), &tmp.join("tree")) {
                Ok(m) => Ok((tmp, m)),
                Err(e) => {
                    let _ = fs::remove_dir_all(&tmp);
                    Err(e)
                }
            }
        })?;
        warn_submodules(&pin.name, &m);
        let manifest = m.manifest;
        let actual = manifest.tree_hash();
        if let Some(want) = expected
            && actual != want
        {
            let _ = fs::remove_dir_all(&tmp);
            return Err(StoreError::TreeMismatch {
                name: pin.name.clone(),
                pinned: pin.describe(),
                actual,
                expected: want.to_string(),
            });
        }
        let mpath = tmp.join("manifest");
        if let Err(e) = fs::write(&mpath, manifest.to_bytes()).and_then(|_| install(&tmp, entry)) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io(entry, e));
        }
        Ok(manifest)
    }

    /// Write the whole tree of `pin.commit` into `dest` (an existing, empty directory) from
    /// the bare repository, fetching the commit if it is missing. Every object is re-hashed
    /// on the way, so what lands in `dest` is exactly what the commit names, whatever the
    /// cache holds. Used for units' git sources, which have no tree hash of their own: the
    /// commit id is the pin. Also returns whether the commit had to be fetched.
    pub fn checkout(&self, pin: &Pin, dest: &Path) -> Result<(super::objects::Materialised, bool), StoreError> {
        self.checkout_with(pin, dest, Fetch::IfMissing)
    }

    /// [`Store::checkout`], but with the commit fetched from `pin.url` even when it is
    /// cached: a fetch that fails is an error, so the caller proves it can reach the
    /// repository before it is served the cached copy (see `crate::source::domain`).
    pub fn checkout_fetching(
        &self,
        pin: &Pin,
        dest: &Path,
    ) -> Result<(super::objects::Materialised, bool), StoreError> {
        self.checkout_with(pin, dest, Fetch::Always)
    }

    fn checkout_with(
        &self,
        pin: &Pin,
        dest: &Path,
        fetch: Fetch,
    ) -> Result<(super::objects::Materialised, bool), StoreError> {
        let _guard = self.lock(&pin.url, true);
        let (m, fetched) = self.with_repo(pin, fetch, |git, repo| {
            let r = materialise(git, repo, &pin.commit, &normalize_path(&pin.path), dest);
            if r.is_err() {
                // Leave `dest` empty for a retry (or for the caller to see nothing half-written).
                clear_dir(dest).map_err(|e| ObjectError::Write { path: dest.to_path_buf(), why: e.to_string() })?;
            }
            r
        })?;
        warn_submodules(&pin.name, &m);
        Ok((m, fetched))
    }

    /// Re-read every object of `pin.commit` from the bare repository, re-hashing each (no
    /// network; writes only a scratch copy that is removed). `Missing` if it is not cached.
    pub fn check_commit(&self, pin: &Pin) -> Result<(), StoreError> {
        let _guard = self.lock(&pin.url, true);
        let slug = self.slug_dir(&pin.url);
        let repo = slug.join("repo.git");
        let git = self.git().map_err(|source| StoreError::Git { name: pin.name.clone(), source: Box::new(source) })?;
        if !fs::symlink_metadata(&repo).is_ok_and(|m| m.is_dir()) || !git.has_commit(&repo, &pin.commit) {
            return Err(StoreError::Missing { name: pin.name.clone(), dir: repo });
        }
        super::git::sanitize_repo(&repo)
            .map_err(|source| StoreError::Git { name: pin.name.clone(), source: Box::new(source) })?;
        let tmp = slug.join(format!(".check-{}-{}", std::process::id(), unique()));
        fs::create_dir(&tmp).map_err(|e| StoreError::Io { path: tmp.clone(), why: e.to_string() })?;
        let r = materialise(&git, &repo, &pin.commit, &normalize_path(&pin.path), &tmp);
        let _ = fs::remove_dir_all(&tmp);
        r.map(|_| ()).map_err(|e| StoreError::Objects {
            name: pin.name.clone(),
            pinned: pin.describe(),
            source: Box::new(e),
        })
    }

    /// Run `f` on the bare repository of `pin.url` once it holds `pin.commit`. If `f` finds
    /// the repository's objects damaged, the repository is deleted, fetched again, and `f`
    /// runs once more. Caller holds the exclusive lock. Also returns whether anything was
    /// fetched.
    fn with_repo<T>(
        &self,
        pin: &Pin,
        mut fetch: Fetch,
        mut f: impl FnMut(&Git, &Path) -> Result<T, ObjectError>,
    ) -> Result<(T, bool), StoreError> {
        let git_err = |source| StoreError::Git { name: pin.name.clone(), source: Box::new(source) };
        let git = self.git().map_err(git_err)?;
        let slug = self.slug_dir(&pin.url);
        fs::create_dir_all(&slug).map_err(|e| StoreError::Io { path: slug.clone(), why: e.to_string() })?;
        let repo = slug.join("repo.git");
        let mut damage: Option<ObjectError> = None;
        let mut fetched = false;
        loop {
            match self.ensure_repo(&git, &repo, pin, fetch) {
                Ok(f) => {
                    fetched |= f;
                    fetch = Fetch::IfMissing;
                }
                Err(e) => {
                    return Err(match damage {
                        Some(d) => StoreError::Damaged {
                            name: pin.name.clone(),
                            pinned: pin.describe(),
                            damage: Box::new(d),
                            refetch: Box::new(e),
                        },
                        None => git_err(e),
                    });
                }
            }
            match f(&git, &repo) {
                Ok(t) => return Ok((t, fetched)),
                Err(e) if e.is_repository_damage() && damage.is_none() => {
                    // The cached repository cannot be trusted: start it over once.
                    tracing::warn!("{:?}: {e}; fetching the repository again", pin.name);
                    let _ = fs::remove_dir_all(&repo);
                    damage = Some(e);
                }
                Err(e) => {
                    return Err(StoreError::Objects {
                        name: pin.name.clone(),
                        pinned: pin.describe(),
                        source: Box::new(e),
                    });
                }
            }
        }
    }

    /// Make the bare repository exist, sanitized, holding `pin.commit`; whether it fetched.
    fn ensure_repo(&self, git: &Git, repo: &Path, pin: &Pin, fetch: Fetch) -> Result<bool, GitError> {
        match fs::symlink_metadata(repo) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                fs::remove_file(repo).map_err(|e| GitError::Io { path: repo.to_path_buf(), why: e.to_string() })?;
                git.init_bare(repo)?;
            }
            Err(_) => git.init_bare(repo)?,
        }
        super::git::sanitize_repo(repo)?;
        if fetch == Fetch::IfMissing && git.has_commit(repo, &pin.commit) {
            return Ok(false);
        }
        git.fetch_commit(repo, &pin.url, &pin.commit, &pin.git_ref, fetch == Fetch::Always)?;
        Ok(true)
    }

    /// A lock on the URL's slug (`None` when the cache is read-only: verification still
    /// runs, only concurrent repair is not excluded).
    fn lock(&self, url: &str, exclusive: bool) -> Option<fs::File> {
        let slug = self.slug_dir(url);
        if exclusive {
            fs::create_dir_all(&slug).ok()?;
        }
        let f =
            fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(slug.join("lock")).ok()?;
        let locked = if exclusive { f.lock() } else { f.lock_shared() };
        locked.ok().map(|_| f)
    }
}

/// When a checkout fetches the pinned commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    IfMissing,
    Always,
}

fn warn_submodules(name: &str, m: &super::objects::Materialised) {
    if !m.skipped_submodules.is_empty() {
        tracing::warn!("{name:?}: submodules are not fetched; left out: {}", m.skipped_submodules.join(", "));
    }
}

/// Remove everything inside `dir` (not `dir` itself).
fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if fs::symlink_metadata(&p)?.is_dir() { fs::remove_dir_all(&p)? } else { fs::remove_file(&p)? }
    }
    Ok(())
}

/// Replace `entry` with `tmp` (both in the same directory): move the old one aside, rename
/// the new one in, remove the old one.
fn install(tmp: &Path, entry: &Path) -> std::io::Result<()> {
    let parent = entry.parent().unwrap_or(Path::new("."));
    let trash = parent.join(format!(".trash-{}-{}", std::process::id(), unique()));
    let had_old = match fs::symlink_metadata(entry) {
        Ok(_) => {
            fs::rename(entry, &trash)?;
            true
        }
        Err(_) => false,
    };
    fs::rename(tmp, entry)?;
    if had_old {
        match fs::symlink_metadata(&trash) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&trash)?,
            Ok(_) => fs::remove_file(&trash)?,
            Err(_) => {}
        }
    }
    Ok(())
}

/// A manifest file, not following a symlink and at most [`MAX_MANIFEST_BYTES`] (a larger
/// one cannot be genuine: it would list more than [`super::objects::MAX_FILES`] files).
fn read_nofollow(p: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(p)?;
    let mut v = Vec::new();
    f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut v)?;
    if v.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(std::io::Error::other("manifest too large"));
    }
    Ok(v)
}

const MAX_MANIFEST_BYTES: u64 = 256 << 20;

fn unique() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    t ^ u128::from(N.fetch_add(1, Ordering::Relaxed))
}
