//! The module sources behind a load: [`LockedSource`] (every verb that loads a project:
//! the lock decides, the store is re-verified, no network, `--paranoid`'s module rules) and
//! [`Resolver`] (`yoe module lock` / `update`: resolves refs, fetches, records pins). Both
//! trust PROJECT.star's declarations and yoe.lock; neither trusts the cache. Both own what
//! they use and are `Send + Sync`: a load runs on a thread of its own, which a hard limit
//! can leave running after the caller has moved on.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::git::check_url;
use super::lockfile::{LockedModule, Lockfile, normalize_path};
use super::paranoid::{RULE_UNPINNED, RULE_UNSIGNED, refusal};
use super::signature::{SignatureState, TrustedKeys, check};
use super::store::{Pin, Store};
use crate::model::project::ProjectDecl;
use crate::model::{ModuleRef, ResolvedModule};
use crate::starlark::ModuleSource;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Lock(#[from] super::lockfile::LockError),
}

/// Remote modules from yoe.lock and the store, verified before use.
pub struct LockedSource {
    root: PathBuf,
    lock: Option<Lockfile>,
    /// Opened on first use, so loads without remote modules never touch the cache.
    store: OnceLock<Result<Store, String>>,
    paranoid: bool,
    trusted: Mutex<TrustedKeys>,
    used: Mutex<Vec<bool>>,
}

/// A lock that a panicking holder poisoned is still consistent here (plain data, each
/// update a single assignment).
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LockedSource {
    /// The source for the project at `root`, with the store in yoe's cache directory.
    /// Fails only when yoe.lock exists and is unreadable or malformed.
    pub fn open(root: &Path, paranoid: bool) -> Result<LockedSource, SourceError> {
        Self::build(root, OnceLock::new(), paranoid)
    }

    /// The same with a given store (tests, benchmarks).
    pub fn with_store(root: &Path, store: Store, paranoid: bool) -> Result<LockedSource, SourceError> {
        Self::build(root, OnceLock::from(Ok(store)), paranoid)
    }

    fn build(root: &Path, store: OnceLock<Result<Store, String>>, paranoid: bool) -> Result<LockedSource, SourceError> {
        let lock = Lockfile::read(root)?;
        let n = lock.as_ref().map(|l| l.modules.len()).unwrap_or(0);
        Ok(LockedSource {
            root: root.to_path_buf(),
            lock,
            store,
            paranoid,
            trusted: Mutex::new(TrustedKeys::default()),
            used: Mutex::new(vec![false; n]),
        })
    }

    pub fn lock(&self) -> Option<&Lockfile> {
        self.lock.as_ref()
    }

    /// The lock entry for a declaration, or why the lock does not cover it.
    pub fn entry_for(&self, m: &ModuleRef) -> Result<(usize, &LockedModule), String> {
        lock_entry(self.lock.as_ref(), m)
    }
}

/// The entry of `lock` for a remote module declaration, or why the lock does not cover it
/// (no lock, not in it, or pinned to another commit or ref), with the command that fixes it.
/// Pure: `yoe audit`'s `module-lock-mismatch` uses it too.
pub fn lock_entry<'a>(lock: Option<&'a Lockfile>, m: &ModuleRef) -> Result<(usize, &'a LockedModule), String> {
    let name = m.basename();
    let Some(lock) = lock else {
        return Err(format!(
            "module {name:?} ({}) is remote but the project has no yoe.lock; run `yoe module lock` to pin and fetch it",
            m.url
        ));
    };
    let path = normalize_path(&m.path);
    let Some((i, e)) = lock.modules.iter().enumerate().find(|(_, e)| e.is(&m.url, &path)) else {
        let p = if path.is_empty() { String::new() } else { format!(", path {path:?}") };
        return Err(format!("module {name:?} ({}{p}) is not in yoe.lock; run `yoe module lock`", m.url));
    };
    let mut differs = Vec::new();
    if !m.commit.is_empty() && m.commit != e.commit {
        differs.push(format!("commit {} (yoe.lock: {})", m.commit, e.commit));
    }
    if m.git_ref != e.git_ref {
        differs.push(format!("ref {:?} (yoe.lock: {:?})", m.git_ref, e.git_ref));
    }
    if !differs.is_empty() {
        return Err(format!(
            "yoe.lock disagrees with the declaration of module {name:?}: it is declared with {}; run `yoe module lock` to re-pin it",
            differs.join(" and ")
        ));
    }
    Ok((i, e))
}

impl ModuleSource for LockedSource {
    fn begin(&self, project: &ProjectDecl) -> Result<(), String> {
        let keys = TrustedKeys::parse(&self.root, &project.trusted_keys).map_err(|e| e.to_string())?;
        *locked(&self.trusted) = keys;
        Ok(())
    }

    fn checkout(&self, m: &ModuleRef) -> Result<PathBuf, String> {
        let name = m.basename();
        if self.paranoid && !m.is_pinned() {
            let hint = self
                .lock
                .as_ref()
                .and_then(|l| l.find(&m.url, &m.path))
                .map(|e| format!("add commit = \"{}\" to it (the commit yoe.lock pins)", e.commit))
                .unwrap_or_else(|| "add commit = \"<40-hex id>\" to it".into());
            return Err(refusal(
                RULE_UNPINNED,
                &format!(
                    "module {name:?} ({}) is declared without commit=; {hint}, in PROJECT.star (a transitive module can be pinned by declaring it there)",
                    m.url
                ),
            ));
        }
        let (i, entry) = self.entry_for(m)?;
        let store = self
            .store
            .get_or_init(|| Store::open_default().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| format!("module {name:?}: {e}"))?;
        let pin = Pin::from(entry);
        let checkout = store.verify(&pin).map_err(|e| e.to_string())?;
        if self.paranoid {
            let keys = locked(&self.trusted).clone();
            if keys.is_empty() {
                return Err(refusal(
                    RULE_UNSIGNED,
                    &format!(
                        "module {:?} must carry a signature by a trusted key, and the project declares none (project(trusted_keys=[…]))",
                        entry.name
                    ),
                ));
            }
            match check(&store.module_dir(&pin), &entry.tree, &keys) {
                SignatureState::Trusted { .. } => {}
                other => {
                    return Err(refusal(
                        RULE_UNSIGNED,
                        &format!("module {:?} is not signed by a trusted key: {}", entry.name, other.describe()),
                    ));
                }
            }
        }
        if let Some(u) = locked(&self.used).get_mut(i) {
            *u = true;
        }
        Ok(checkout)
    }

    fn resolved(&self, _modules: &[ResolvedModule]) -> Result<(), String> {
        let Some(lock) = &self.lock else { return Ok(()) };
        let used = locked(&self.used);
        let stale: Vec<String> = lock
            .modules
            .iter()
            .zip(used.iter())
            .filter(|(_, u)| !**u)
            .map(|(m, _)| format!("{:?} ({})", m.name, m.url))
            .collect();
        if stale.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "yoe.lock pins modules the project no longer declares: {}; run `yoe module lock` to drop them",
                stale.join(", ")
            ))
        }
    }
}

/// Which lock entries `yoe module lock` / `update` may move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateScope {
    /// `lock`: keep every entry that still matches its declaration.
    Keep,
    /// `update`: re-resolve every ref.
    All,
    /// `update NAME…`: re-resolve these modules only.
    Named(Vec<String>),
}

/// Resolves declarations to pins while the loader walks the modules. Owns its store and
/// the old lock (a load may outlive the caller's borrow).
pub struct Resolver {
    store: Store,
    old: Option<Lockfile>,
    scope: UpdateScope,
    offline: bool,
    found: Mutex<Vec<(LockedModule, PathBuf, bool)>>,
    resolved_seen: AtomicBool,
    notes: Mutex<Vec<String>>,
}

impl Resolver {
    pub fn new(store: Store, old: Option<Lockfile>, scope: UpdateScope, offline: bool) -> Resolver {
        Resolver {
            store,
            old,
            scope,
            offline,
            found: Mutex::new(Vec::new()),
            resolved_seen: AtomicBool::new(false),
            notes: Mutex::new(Vec::new()),
        }
    }

    /// Whether every module was resolved (the load got past module resolution).
    pub fn complete(&self) -> bool {
        self.resolved_seen.load(Ordering::SeqCst)
    }

    /// Notes for the user (caches repaired, refs resolved).
    pub fn notes(&self) -> Vec<String> {
        locked(&self.notes).clone()
    }

    /// The new lock; `None` when resolution did not finish.
    pub fn lockfile(&self) -> Option<Lockfile> {
        self.complete().then(|| Lockfile::new(locked(&self.found).iter().map(|(m, _, _)| m.clone()).collect()))
    }

    /// Names given to `update` that match no module.
    pub fn unknown_names(&self) -> Vec<String> {
        let UpdateScope::Named(names) = &self.scope else { return Vec::new() };
        let found = locked(&self.found);
        names.iter().filter(|n| !found.iter().any(|(m, _, _)| &m.name == *n)).cloned().collect()
    }

    /// The entries kept from the old lock (not re-resolved).
    pub fn kept(&self) -> Vec<LockedModule> {
        locked(&self.found).iter().filter(|(_, _, kept)| *kept).map(|(m, _, _)| m.clone()).collect()
    }

    fn covers(&self, old_name: &str, basename: &str) -> bool {
        match &self.scope {
            UpdateScope::Keep => false,
            UpdateScope::All => true,
            UpdateScope::Named(n) => n.iter().any(|x| x == old_name || x == basename),
        }
    }
}

impl ModuleSource for Resolver {
    fn checkout(&self, m: &ModuleRef) -> Result<PathBuf, String> {
        check_url(&m.url).map_err(|e| e.to_string())?;
        let path = normalize_path(&m.path);
        if let Some((_, dir, _)) = locked(&self.found).iter().find(|(e, _, _)| e.is(&m.url, &path)) {
            return Ok(dir.clone());
        }
        let name = m.basename();
        let keep = self
            .old
            .as_ref()
            .and_then(|o| o.find(&m.url, &path))
            .filter(|o| o.git_ref == m.git_ref && (m.commit.is_empty() || m.commit == o.commit))
            .filter(|o| !self.covers(&o.name, &name));
        if let Some(o) = keep {
            let (dir, action) = self.store.sync(&Pin::from(o)).map_err(|e| e.to_string())?;
            if let super::store::SyncAction::Repaired(problems) = action {
                locked(&self.notes).push(format!("repaired the cached copy of {:?} ({})", o.name, problems.join("; ")));
            }
            locked(&self.found).push((o.clone(), dir.clone(), true));
            return Ok(dir);
        }
        let commit = if m.is_pinned() {
            m.commit.clone()
        } else if self.offline {
            return Err(format!(
                "module {name:?}: resolving ref {:?} of {} needs the network (drop --offline)",
                m.git_ref, m.url
            ));
        } else {
            let r = self.store.resolve_ref(&name, &m.url, &m.git_ref).map_err(|e| e.to_string())?;
            r.commit
        };
        let pin = Pin {
            name: name.clone(),
            url: m.url.clone(),
            git_ref: m.git_ref.clone(),
            commit,
            path: path.clone(),
            tree: String::new(),
        };
        let (dir, manifest) = self.store.fetch_new(&pin).map_err(|e| e.to_string())?;
        let entry = LockedModule {
            name,
            url: pin.url,
            git_ref: pin.git_ref,
            commit: pin.commit,
            path,
            tree: manifest.tree_hash(),
            transitive: false,
        };
        locked(&self.found).push((entry, dir.clone(), false));
        Ok(dir)
    }

    fn resolved(&self, modules: &[ResolvedModule]) -> Result<(), String> {
        let mut found = locked(&self.found);
        for r in modules.iter().filter(|r| r.decl.local.is_empty()) {
            if let Some((e, _, _)) = found.iter_mut().find(|(e, _, _)| e.is(&r.decl.url, &r.decl.path)) {
                e.name = r.name.to_string();
                e.transitive = r.transitive;
            }
        }
        self.resolved_seen.store(true, Ordering::SeqCst);
        Ok(())
    }
}
