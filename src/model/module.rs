//! Module references (`module(url, ref=, commit=, path=, local=)`), resolved modules, and
//! package feeds declared in MODULE.star (recorded, never fetched here).
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::fields::{FieldError, Kwargs};
use super::ident::Ident;
use super::location::Location;
use super::raw::RawValue;

pub const MODULE_FIELDS: &[&str] = &["url", "ref", "commit", "path", "local"];

/// A declared module, as written in PROJECT.star or in a MODULE.star `deps=` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleRef {
    pub url: String,
    /// Branch or tag, informational once `commit` is set.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Full 40-hex commit id, or empty when unpinned.
    pub commit: String,
    /// Subdirectory of the repository that holds MODULE.star.
    pub path: String,
    /// On-disk location relative to the project root (like Go's `replace`).
    pub local: String,
    pub declared_at: Option<Location>,
}

impl ModuleRef {
    pub fn from_struct(fields: Vec<(String, RawValue)>, at: Option<Location>) -> Result<ModuleRef, FieldError> {
        let mut kw = Kwargs::new("module()", fields);
        let url = kw.str("url")?.unwrap_or_default();
        kw.set_call(format!("module({url:?})"));
        let git_ref = kw.str("ref")?.unwrap_or_default();
        let commit = kw.str("commit")?.unwrap_or_default();
        if !commit.is_empty() && !is_full_commit(&commit) {
            return Err(kw.invalid("commit", format!("must be a full 40-character hex commit id, got {commit:?}")));
        }
        let path = kw.str("path")?.unwrap_or_default();
        let local = kw.str("local")?.unwrap_or_default();
        if url.is_empty() && local.is_empty() {
            return Err(kw.missing("url", "a git URL (or `local=` for an on-disk module)"));
        }
        kw.deny_unknown(MODULE_FIELDS)?;
        Ok(ModuleRef { url, git_ref, commit, path, local, declared_at: at })
    }

    /// The fallback module name: basename of `path`, else of the URL without `.git`.
    pub fn basename(&self) -> String {
        let src = if !self.path.is_empty() {
            self.path.trim_end_matches('/')
        } else if !self.url.is_empty() {
            self.url.trim_end_matches('/').trim_end_matches(".git")
        } else {
            self.local.trim_end_matches('/')
        };
        src.rsplit('/').next().unwrap_or(src).to_string()
    }

    /// Identity used for de-duplicating transitive declarations (as Go yoe does).
    pub fn identity(&self, local_abs: Option<&std::path::Path>) -> String {
        match local_abs {
            Some(p) => format!("local:{}", p.display()),
            None => format!("git:{}@{}#{}", self.url.trim_end_matches(".git"), self.git_ref, self.path),
        }
    }

    pub fn is_pinned(&self) -> bool {
        is_full_commit(&self.commit)
    }

    /// How to show this reference in messages.
    pub fn describe(&self) -> String {
        if !self.local.is_empty() {
            format!("local={}", self.local)
        } else if !self.commit.is_empty() {
            format!("{} @ {}", self.url, self.commit)
        } else if !self.git_ref.is_empty() {
            format!("{} @ {}", self.url, self.git_ref)
        } else {
            self.url.clone()
        }
    }
}

pub fn is_full_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A module after resolution: its name and the directory that holds its MODULE.star.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedModule {
    pub name: Ident,
    pub decl: ModuleRef,
    pub dir: PathBuf,
    /// 1-based priority among modules; the project root ranks above all of them.
    pub priority: i32,
    pub description: String,
    /// Whether this module was declared by another module rather than by the project.
    pub transitive: bool,
}

/// An `alpine_feed(...)` or `apt_feed(...)` declaration: recorded in the model, not fetched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feed {
    pub kind: String,
    pub module: Ident,
    pub name: Ident,
    pub fields: BTreeMap<String, serde_json::Value>,
    pub declared_at: Location,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(fields: &[(&str, &str)]) -> Result<ModuleRef, FieldError> {
        ModuleRef::from_struct(
            fields.iter().map(|(k, v)| (k.to_string(), RawValue::Str(v.to_string()))).collect(),
            None,
        )
    }

    #[test]
    fn basename_prefers_path() {
        let r = m(&[("url", "https://x/yoe.git"), ("path", "modules/module-core")]).unwrap();
        assert_eq!(r.basename(), "module-core");
        let r = m(&[("url", "https://x/module-alpine.git")]).unwrap();
        assert_eq!(r.basename(), "module-alpine");
    }

    #[test]
    fn short_commit_is_rejected() {
        let err = m(&[("url", "u"), ("commit", "abc123")]).unwrap_err().to_string();
        assert!(err.contains("full 40-character hex commit"), "{err}");
    }

    #[test]
    fn unknown_kwarg_is_rejected() {
        let err = m(&[("url", "u"), ("refs", "main")]).unwrap_err().to_string();
        assert!(err.contains("unknown field `refs` (did you mean `ref`?)"), "{err}");
    }
}
