//! `yoe module lock | update | sync | list | verify | sign | hash`: pins, the module cache,
//! verification and signatures (see docs/modules.md). Results on stdout, notes on stderr.
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};

use super::{Global, exit, json, output};
use crate::module::lockfile::{Change, diff};
use crate::module::paranoid::{RULE_UNPINNED, RULE_UNSIGNED};
use crate::module::signature::{self, SignatureState, TrustedKeys};
use crate::module::{LockedSource, Lockfile, Manifest, Pin, Resolver, Store, SyncAction, UpdateScope};
use crate::starlark::{LoadOptions, find_root, load, load_project_decl};

#[derive(Args, Debug)]
pub struct ModuleArgs {
    #[command(subcommand)]
    pub command: ModuleCommand,
}

#[derive(Subcommand, Debug)]
pub enum ModuleCommand {
    /// Pin every module (transitive ones too) in yoe.lock: resolve new refs to commits,
    /// fetch, hash; keep the pins that still match their declarations; show what changed.
    Lock(LockArgs),
    /// Move pins to the commits their refs name now (all modules, or the NAMEs).
    Update(UpdateArgs),
    /// Fetch what yoe.lock pins into the cache, verify it, repair copies that do not match.
    Sync,
    /// List the modules yoe.lock pins.
    List,
    /// Check each pinned module: cache contents, signature, whether its ref moved, and
    /// whether the lock matches the project.
    Verify(VerifyArgs),
    /// Sign a module directory: writes DIR/.yoe/module.minisig over its tree hash.
    Sign(SignArgs),
    /// Print the tree hash of a module directory (what a signature signs).
    Hash(HashArgs),
}

#[derive(Args, Debug)]
pub struct LockArgs {
    /// Do not contact remotes (fails if a ref must be resolved).
    #[arg(long)]
    pub offline: bool,
    /// Write nothing; exit 1 if yoe.lock would change (implied by --paranoid).
    #[arg(long)]
    pub check: bool,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Modules to move (default: all).
    pub names: Vec<String>,
    /// Write nothing; exit 1 if yoe.lock would change (implied by --paranoid).
    #[arg(long)]
    pub check: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Do not contact remotes (skips the check for moved refs).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// minisign secret key file.
    #[arg(long, short = 'k', value_name = "FILE")]
    pub key: PathBuf,
    /// Read the key's password from this file (else it is asked for on the terminal).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The module directory (the one holding MODULE.star).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct HashArgs {
    /// Print the exact statement a signature signs instead of the bare hash.
    #[arg(long)]
    pub statement: bool,
    /// The module directory (a clean checkout: every file on disk is hashed, except a
    /// top-level .git and the signature).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

pub fn run(g: &Global, a: ModuleArgs) -> anyhow::Result<u8> {
    match a.command {
        ModuleCommand::Lock(l) => lock(g, UpdateScope::Keep, l.offline, l.check),
        ModuleCommand::Update(u) => {
            let scope = if u.names.is_empty() { UpdateScope::All } else { UpdateScope::Named(u.names) };
            lock(g, scope, false, u.check)
        }
        ModuleCommand::Sync => sync(g),
        ModuleCommand::List => list(g),
        ModuleCommand::Verify(v) => verify(g, v),
        ModuleCommand::Sign(s) => sign(g, s),
        ModuleCommand::Hash(h) => hash(h),
    }
}

fn root(g: &Global) -> anyhow::Result<PathBuf> {
    let start = g.project.clone().unwrap_or_else(|| PathBuf::from("."));
    find_root(&start).map_err(|e| anyhow!("{e}"))
}

fn store() -> anyhow::Result<Store> {
    Ok(Store::open_default()?)
}

fn require_lock(root: &std::path::Path) -> anyhow::Result<Lockfile> {
    Lockfile::read(root)?.ok_or_else(|| anyhow!("the project has no yoe.lock; run `yoe module lock`"))
}

fn lock(g: &Global, scope: UpdateScope, offline: bool, check: bool) -> anyhow::Result<u8> {
    let root = root(g)?;
    let check = check || g.paranoid;
    let store = store()?;
    let old = Lockfile::read(&root)?;
    let resolver = Arc::new(Resolver::new(store.clone(), old.clone(), scope, offline));
    let mut opts = LoadOptions::new(root.clone(), resolver.clone());
    opts.machine = g.machine.clone();
    opts.distro = g.distro.clone();
    let loaded = load(&opts);
    let Some(new) = resolver.lockfile() else {
        let e = loaded.err().map(|e| e.render(&root)).unwrap_or_else(|| "module resolution did not finish".into());
        bail!("{e}");
    };
    let unknown = resolver.unknown_names();
    if !unknown.is_empty() {
        let known: Vec<&str> = new.modules.iter().map(|m| m.name.as_str()).collect();
        bail!("no module named {} (modules: {})", unknown.join(", "), known.join(", "));
    }
    for n in resolver.notes() {
        output::status(&n);
    }
    let changes = diff(old.as_ref(), &new);
    let changed = old.as_ref() != Some(&new) && !(old.is_none() && new.modules.is_empty());
    // Refs that moved since the kept pins were made: reported, never followed by `lock`.
    let mut drift = Vec::new();
    if !offline {
        for m in resolver.kept().iter().filter(|m| !crate::model::module::is_full_commit(&m.git_ref)) {
            match store.resolve_ref(&m.name, &m.url, &m.git_ref) {
                Ok(r) if r.commit != m.commit => drift.push(json::Drift {
                    module: m.name.clone(),
                    git_ref: m.git_ref.clone(),
                    kind: r.kind.to_string(),
                    locked: m.commit.clone(),
                    now: r.commit,
                }),
                Ok(_) => {}
                Err(e) => output::status(&format!("note: could not check whether {:?} moved: {e}", m.name)),
            }
        }
    }
    if g.json {
        let doc = json::ModuleLock {
            changes: changes.iter().map(change_json).collect(),
            drift: drift.clone(),
            changed,
            written: changed && !check,
        };
        json::print(json::schema::MODULE_LOCK, &doc)?;
    } else {
        for c in &changes {
            output::line(&c.describe());
        }
        for d in &drift {
            output::line(&drift_line(d));
        }
    }
    let mut code = exit::OK;
    if changed {
        if check {
            output::status("yoe.lock is out of date (nothing written); run `yoe module lock`");
            code = exit::FAILURE;
        } else {
            new.write(&root)?;
            output::status(&format!("wrote {}", Lockfile::path(&root).display()));
        }
    } else {
        output::status("yoe.lock is up to date");
    }
    if let Err(e) = loaded {
        output::status(&format!(
            "warning: the modules are pinned, but the project does not load:\n{}",
            e.render(&root)
        ));
        code = exit::FAILURE;
    }
    Ok(code)
}

fn change_json(c: &Change) -> json::ModuleChange {
    let row = |change, m: &crate::module::LockedModule| json::ModuleChange {
        change,
        module: m.name.clone(),
        old_commit: None,
        commit: m.commit.clone(),
        old_tree: None,
        tree: None,
    };
    match c {
        Change::Added(m) => json::ModuleChange { tree: Some(m.tree.clone()), ..row("added", m) },
        Change::Removed(m) => row("removed", m),
        Change::Changed { old, new } => json::ModuleChange {
            old_commit: Some(old.commit.clone()),
            old_tree: Some(old.tree.clone()),
            tree: Some(new.tree.clone()),
            ..row("changed", new)
        },
        Change::Unchanged(m) => row("unchanged", m),
    }
}

fn drift_line(d: &json::Drift) -> String {
    let short = |c: &str| c.get(..12).unwrap_or(c).to_string();
    let what = if d.kind == "tag" { "MOVED TAG" } else { "ref moved" };
    format!(
        "! {:<20} {what}: {} {:?} now points at {}; yoe.lock keeps {} (`yoe module update {}` to move)",
        d.module,
        d.kind,
        d.git_ref,
        short(&d.now),
        short(&d.locked),
        d.module
    )
}

fn sync(g: &Global) -> anyhow::Result<u8> {
    let root = root(g)?;
    let lock = require_lock(&root)?;
    let store = store()?;
    let mut failed = 0;
    let mut results = Vec::new();
    for m in &lock.modules {
        match store.sync(&Pin::from(m)) {
            Ok((_, action)) => {
                let (word, detail) = match &action {
                    SyncAction::Verified => ("verified", String::new()),
                    SyncAction::Fetched => ("fetched", String::new()),
                    SyncAction::Repaired(p) => ("repaired", p.join("; ")),
                };
                if !g.json {
                    let d = if detail.is_empty() { String::new() } else { format!(" (was: {detail})") };
                    output::line(&format!("{word:<9} {:<20} {}{d}", m.name, m.short_commit()));
                }
                results.push(json::ModuleSyncResult { module: m.name.clone(), result: word, detail });
            }
            Err(e) => {
                failed += 1;
                output::status(&format!("error: {e}"));
                results.push(json::ModuleSyncResult {
                    module: m.name.clone(),
                    result: "failed",
                    detail: e.to_string(),
                });
            }
        }
    }
    if g.json {
        json::print(json::schema::MODULE_SYNC, &json::ModuleSync { results })?;
    }
    Ok(if failed == 0 { exit::OK } else { exit::FAILURE })
}

fn list(g: &Global) -> anyhow::Result<u8> {
    let root = root(g)?;
    let lock = require_lock(&root)?;
    let store = Store::open_default().ok();
    let mut rows = Vec::new();
    for m in &lock.modules {
        let cached = store.as_ref().is_some_and(|s| {
            std::fs::symlink_metadata(s.entry_dir(&m.url, &m.commit, &m.path)).is_ok_and(|x| x.is_dir())
        });
        if !g.json {
            let r = if m.git_ref.is_empty() { "HEAD" } else { &m.git_ref };
            let p = if m.path.is_empty() { String::new() } else { format!(" path {}", m.path) };
            let t = if m.transitive { " (transitive)" } else { "" };
            output::line(&format!(
                "{:<20} {} {:<12} {}{p} @ {r}{t}{}",
                m.name,
                m.short_commit(),
                m.tree.get(..19).unwrap_or(&m.tree),
                m.url,
                if cached { "" } else { "  [not in cache: yoe module sync]" }
            ));
        }
        rows.push(json::ModuleListRow {
            name: m.name.clone(),
            url: m.url.clone(),
            git_ref: m.git_ref.clone(),
            commit: m.commit.clone(),
            path: m.path.clone(),
            tree: m.tree.clone(),
            transitive: m.transitive,
            cached,
        });
    }
    if g.json {
        json::print(json::schema::MODULE_LIST, &json::ModuleList { modules: rows })?;
    }
    Ok(exit::OK)
}

fn verify(g: &Global, a: VerifyArgs) -> anyhow::Result<u8> {
    let root = root(g)?;
    let (root, decl) = load_project_decl(&root).map_err(|e| anyhow!("{}", e.render(&root)))?;
    let keys = TrustedKeys::parse(&root, &decl.trusted_keys)?;
    let lock = require_lock(&root)?;
    let store = store()?;
    let mut bad = false;
    let mut rows = Vec::new();
    for m in &lock.modules {
        let pin = Pin::from(m);
        let (cache, cache_detail) = match store.verify(&pin) {
            Ok(_) => ("ok", String::new()),
            Err(e) => {
                bad = true;
                let word = if matches!(e, crate::module::StoreError::Missing { .. }) { "missing" } else { "TAMPERED" };
                (word, e.to_string())
            }
        };
        let sig = if cache == "ok" {
            signature::check(&store.module_dir(&pin), &m.tree, &keys)
        } else {
            SignatureState::Bad { why: "not checked: the cached module does not verify".into() }
        };
        if matches!(sig, SignatureState::Bad { .. }) && cache == "ok" {
            bad = true;
        }
        if g.paranoid {
            let req = crate::paranoid::Request { signatures: vec![(m.name.as_str(), &sig)], ..Default::default() };
            bad |= !crate::paranoid::refusals(&req).is_empty();
        }
        let mut drift = String::new();
        if !a.offline && !crate::model::module::is_full_commit(&m.git_ref) {
            match store.resolve_ref(&m.name, &m.url, &m.git_ref) {
                Ok(r) if r.commit != m.commit => {
                    if r.kind == "tag" {
                        bad = true;
                    }
                    drift = drift_line(&json::Drift {
                        module: m.name.clone(),
                        git_ref: m.git_ref.clone(),
                        kind: r.kind.to_string(),
                        locked: m.commit.clone(),
                        now: r.commit,
                    });
                }
                Ok(_) => {}
                Err(e) => drift = format!("could not check the ref: {e}"),
            }
        }
        if !g.json {
            output::line(&format!("{:<20} {} cache {cache}, {}", m.name, m.short_commit(), sig.describe()));
            if !cache_detail.is_empty() {
                output::line(&format!("  {cache_detail}"));
            }
            if !drift.is_empty() {
                output::line(&format!("  {drift}"));
            }
        }
        rows.push(json::ModuleVerifyRow {
            module: m.name.clone(),
            commit: m.commit.clone(),
            cache,
            cache_detail,
            signature: sig.word(),
            signature_detail: sig.describe(),
            drift,
        });
    }
    // The lock against the project (declarations, stale entries, --paranoid's module rules).
    let source = LockedSource::with_store(&root, store.clone(), g.paranoid)?;
    let mut opts = LoadOptions::new(root.clone(), Arc::new(source));
    opts.machine = g.machine.clone();
    opts.distro = g.distro.clone();
    let project = match load(&opts) {
        Ok(_) => "yoe.lock matches the project and every module verifies".to_string(),
        Err(e) => {
            bad = true;
            format!("the project does not load with this lock: {}", e.render(&root))
        }
    };
    let mut project = project;
    if g.paranoid {
        for r in
            crate::paranoid::refusals(&crate::paranoid::Request { project_root: Some(&root), ..Default::default() })
        {
            bad = true;
            project = format!("{project}\n{r}");
        }
    }
    if g.json {
        json::print(json::schema::MODULE_VERIFY, &json::ModuleVerify { modules: rows, project, ok: !bad })?;
    } else {
        output::line(&project);
        if g.paranoid {
            output::status(&format!(
                "--paranoid: rules {RULE_UNPINNED} and {RULE_UNSIGNED} were applied to every remote module"
            ));
        }
    }
    Ok(if bad { exit::FAILURE } else { exit::OK })
}

fn sign(g: &Global, a: SignArgs) -> anyhow::Result<u8> {
    let password = match &a.password_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| anyhow!("{}: {e}", p.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        None => None,
    };
    let (tree, path) = signature::sign(&a.dir, &a.key, password)?;
    if g.json {
        json::print(json::schema::MODULE_SIGN, &json::ModuleSign { tree: &tree, signature: &path })?;
    } else {
        output::line(&format!("signed {tree} -> {}", path.display()));
    }
    Ok(exit::OK)
}

fn hash(a: HashArgs) -> anyhow::Result<u8> {
    let tree = Manifest::from_dir(&a.dir)?.tree_hash();
    if a.statement {
        // The exact bytes, trailing newline included.
        output::line(signature::statement(&tree).trim_end_matches('\n'));
    } else {
        output::line(&tree);
    }
    Ok(exit::OK)
}
