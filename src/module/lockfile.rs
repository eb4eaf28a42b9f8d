//! `yoe.lock`: the versioned TOML file at the project root that pins every remote module,
//! transitive ones included, to a commit and a tree hash. It is written only by
//! `yoe module lock` / `update` (to a temp file, renamed), and read strictly: unknown
//! fields, a bad commit or tree hash, a disallowed URL or a duplicate module are errors.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::git::check_url;
use super::manifest::is_tree_hash;
use crate::model::module::is_full_commit;

pub const LOCK_FILE: &str = "yoe.lock";
pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
    #[error("{}: {why}", path.display())]
    Io { path: PathBuf, why: String },
}

/// One pinned module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedModule {
    /// The module's name (from its MODULE.star, else the basename).
    pub name: String,
    pub url: String,
    /// The branch or tag the commit was resolved from ("" for the remote's HEAD).
    #[serde(rename = "ref", default)]
    pub git_ref: String,
    /// Full 40-hex commit id.
    pub commit: String,
    /// Directory inside the repository holding MODULE.star ("" for the top).
    #[serde(default)]
    pub path: String,
    /// `sha256:<hex>` of the module's tree manifest.
    pub tree: String,
    /// Declared by another module rather than by PROJECT.star.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transitive: bool,
}

impl LockedModule {
    /// Whether this entry is for the module at `url` / `path`.
    pub fn is(&self, url: &str, path: &str) -> bool {
        self.url == url && self.path == normalize_path(path)
    }

    pub fn short_commit(&self) -> &str {
        self.commit.get(..12).unwrap_or(&self.commit)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    #[serde(rename = "module", default)]
    pub modules: Vec<LockedModule>,
}

const HEADER: &str = "# yoe.lock: remote modules pinned to a commit and a tree hash (see docs/modules.md).\n\
# Written by `yoe module lock` and `yoe module update`; commit it, do not edit it by hand.\n\n";

impl Lockfile {
    pub fn new(mut modules: Vec<LockedModule>) -> Lockfile {
        modules.sort_by(|a, b| (&a.name, &a.url, &a.path).cmp(&(&b.name, &b.url, &b.path)));
        Lockfile { version: LOCK_VERSION, modules }
    }

    pub fn path(root: &Path) -> PathBuf {
        root.join(LOCK_FILE)
    }

    /// Read `<root>/yoe.lock`; `Ok(None)` when there is none.
    pub fn read(root: &Path) -> Result<Option<Lockfile>, LockError> {
        let path = Self::path(root);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LockError::Io { path, why: e.to_string() }),
        };
        Self::parse(&text).map(Some).map_err(|why| LockError::Invalid { path, why })
    }

    pub fn parse(text: &str) -> Result<Lockfile, String> {
        let lock: Lockfile = toml::from_str(text).map_err(|e| e.to_string())?;
        if lock.version != LOCK_VERSION {
            return Err(format!(
                "version {} is not supported (this yoe reads version {LOCK_VERSION}); run `yoe module lock`",
                lock.version
            ));
        }
        for (i, m) in lock.modules.iter().enumerate() {
            let at = format!("module {:?}", m.name);
            if m.name.is_empty() {
                return Err(format!("module #{} has an empty name", i + 1));
            }
            check_url(&m.url).map_err(|e| format!("{at}: {e}"))?;
            if !is_full_commit(&m.commit) {
                return Err(format!("{at}: commit {:?} is not a full 40-character hex id", m.commit));
            }
            if !is_tree_hash(&m.tree) {
                return Err(format!("{at}: tree {:?} is not sha256:<64 hex digits>", m.tree));
            }
            if m.path.split('/').any(|p| p == "..") {
                return Err(format!("{at}: path {:?} has a `..` component", m.path));
            }
            if m.path != normalize_path(&m.path) {
                return Err(format!(
                    "{at}: path {:?} is not normalized (expected {:?})",
                    m.path,
                    normalize_path(&m.path)
                ));
            }
            if lock.modules[..i].iter().any(|o| o.is(&m.url, &m.path)) {
                return Err(format!("{at}: {} (path {:?}) is listed twice", m.url, m.path));
            }
            if lock.modules[..i].iter().any(|o| o.name == m.name) {
                return Err(format!("{at}: two modules share this name"));
            }
        }
        Ok(lock)
    }

    /// The canonical text.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("{HEADER}{body}")
    }

    /// Write `<root>/yoe.lock` atomically (temp file in the same directory, then rename).
    pub fn write(&self, root: &Path) -> Result<(), LockError> {
        let path = Self::path(root);
        let tmp = root.join(format!(".{LOCK_FILE}.tmp-{}", std::process::id()));
        let io = |p: &Path, e: std::io::Error| LockError::Io { path: p.to_path_buf(), why: e.to_string() };
        std::fs::write(&tmp, self.to_text()).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(&path, e)
        })
    }

    pub fn find(&self, url: &str, path: &str) -> Option<&LockedModule> {
        self.modules.iter().find(|m| m.is(url, path))
    }
}

/// A module's `path=` as the lock records it: no leading/trailing `/`, no `.` or empty parts.
pub fn normalize_path(path: &str) -> String {
    path.split('/').filter(|p| !p.is_empty() && *p != ".").collect::<Vec<_>>().join("/")
}

/// How one module changed between two locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(LockedModule),
    Removed(LockedModule),
    Changed { old: LockedModule, new: LockedModule },
    Unchanged(LockedModule),
}

impl Change {
    /// One line for humans: `+ name url@ref → commit`, `~ name old → new`, `- name`, `= name`.
    pub fn describe(&self) -> String {
        let at = |m: &LockedModule| {
            let r = if m.git_ref.is_empty() { "HEAD".to_string() } else { m.git_ref.clone() };
            let p = if m.path.is_empty() { String::new() } else { format!(" path {}", m.path) };
            format!("{}{p} @ {r}", m.url)
        };
        match self {
            Change::Added(m) => format!("+ {:<20} {} → {} ({})", m.name, at(m), m.short_commit(), short_tree(&m.tree)),
            Change::Removed(m) => format!("- {:<20} {} (no longer used)", m.name, at(m)),
            Change::Changed { old, new } => {
                let mut what = Vec::new();
                if old.commit != new.commit {
                    what.push(format!("commit {} → {}", old.short_commit(), new.short_commit()));
                }
                if old.git_ref != new.git_ref {
                    what.push(format!("ref {:?} → {:?}", old.git_ref, new.git_ref));
                }
                if old.tree != new.tree {
                    what.push(format!("tree {} → {}", short_tree(&old.tree), short_tree(&new.tree)));
                }
                if old.name != new.name {
                    what.push(format!("name {:?} → {:?}", old.name, new.name));
                }
                if old.transitive != new.transitive {
                    what.push(if new.transitive {
                        "now transitive".into()
                    } else {
                        "now declared by the project".into()
                    });
                }
                format!("~ {:<20} {}: {}", new.name, at(new), what.join(", "))
            }
            Change::Unchanged(m) => format!("= {:<20} {} {}", m.name, at(m), m.short_commit()),
        }
    }
}

fn short_tree(t: &str) -> String {
    t.get(..19).map(|s| format!("{s}…")).unwrap_or_else(|| t.to_string())
}

/// What changes from `old` to `new`, keyed by url and path, in `new`'s order then removals.
pub fn diff(old: Option<&Lockfile>, new: &Lockfile) -> Vec<Change> {
    let mut out = Vec::new();
    for m in &new.modules {
        match old.and_then(|o| o.find(&m.url, &m.path)) {
            None => out.push(Change::Added(m.clone())),
            Some(o) if o == m => out.push(Change::Unchanged(m.clone())),
            Some(o) => out.push(Change::Changed { old: o.clone(), new: m.clone() }),
        }
    }
    for o in old.map(|o| o.modules.as_slice()).unwrap_or_default() {
        if new.find(&o.url, &o.path).is_none() {
            out.push(Change::Removed(o.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, url: &str, path: &str) -> LockedModule {
        LockedModule {
            name: name.into(),
            url: url.into(),
            git_ref: "main".into(),
            commit: "a".repeat(40),
            path: path.into(),
            tree: format!("sha256:{}", "b".repeat(64)),
            transitive: false,
        }
    }

    #[test]
    fn round_trip_and_strictness() {
        let lock = Lockfile::new(vec![m("core", "https://x/yoe.git", "modules/core"), m("alpine", "file:///m", "")]);
        let text = lock.to_text();
        assert!(text.starts_with("# yoe.lock"), "{text}");
        assert!(text.contains("[[module]]\nname = \"alpine\""), "sorted by name: {text}");
        assert_eq!(Lockfile::parse(&text).unwrap(), lock);
        for (bad, want) in [
            (text.replace("version = 1", "version = 2"), "version 2"),
            (text.replacen(&"a".repeat(40), "abc", 1), "full 40-character"),
            (text.replacen("sha256:", "md5:", 1), "sha256:<64"),
            (text.replacen("file:///m", "ssh://host/m", 1), "not allowed"),
            (text.replacen("name = \"alpine\"", "name = \"alpine\"\nsha265 = \"x\"", 1), "unknown field"),
            (text.replacen("modules/core", "/modules/core/", 1), "not normalized"),
            (text.replacen("https://x/yoe.git", "file:///m", 1).replacen("modules/core", "", 1), "listed twice"),
        ] {
            let err = Lockfile::parse(&bad).unwrap_err();
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn diff_names_each_change() {
        let a = m("a", "file:///a", "");
        let b = m("b", "file:///b", "");
        let mut b2 = b.clone();
        b2.commit = "c".repeat(40);
        let c = m("c", "file:///c", "");
        let old = Lockfile::new(vec![a.clone(), b]);
        let new = Lockfile::new(vec![b2, c]);
        let d: Vec<String> = diff(Some(&old), &new).iter().map(Change::describe).collect();
        assert!(d[0].starts_with("~ b") && d[0].contains("commit aaaaaaaaaaaa → cccccccccccc"), "{d:?}");
        assert!(d[1].starts_with("+ c"), "{d:?}");
        assert!(d[2].starts_with("- a"), "{d:?}");
        assert_eq!(normalize_path("/./a//b/"), "a/b");
    }
}
