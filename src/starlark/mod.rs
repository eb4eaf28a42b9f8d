//! The evaluator for the yoe Starlark dialect. It is the only place Starlark values exist:
//! files are evaluated here and their declarations leave as validated `crate::model` types
//! (plus opaque handles to `fn` steps). It trusts no `.star` file and no path in one.

mod bounded;
mod builtins;
mod convert;
pub mod diag;
mod engine;
mod field_span;
pub mod files;
pub mod labels;
pub mod limits;
mod loader;
mod marker;
mod meter;
pub mod modules;
mod runtime;
pub mod syntax;
mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use limits::{Limit, LoadLimits};
pub use loader::{AuditLoadError, LoadOptions, find_root, load, load_for_audit, load_project_decl};
pub use modules::{LocalOnly, ModuleSource};
pub use runtime::{BuildHost, FnRuntime, RunOutput};

use crate::model::{Location, Project};

/// A loaded project: the model, the `fn` steps' runtime, and the text of every file read.
pub struct Loaded {
    pub project: Project,
    pub runtime: FnRuntime,
    pub sources: BTreeMap<PathBuf, Arc<str>>,
}

/// A load-time refusal that an audit load recorded instead of raising. `rule` is the
/// `yoe audit` rule id that reports the same construct.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub rule: &'static str,
    pub location: Location,
    pub message: String,
}

/// What an audit load produced: as much of the model as could be loaded, and why not more.
/// A build never sees this: it comes only from [`load_for_audit`].
pub struct AuditLoad {
    pub loaded: Loaded,
    /// Refusals that `load` would have raised (literal `run(host=True)`, `commands/`,
    /// external container images), in the order met.
    pub refusals: Vec<Refusal>,
    /// Errors that made a file (or a module) drop out of the model; the rest was loaded.
    pub errors: Vec<LoadError>,
    /// Modules that could not be located (not fetched, `local=` escaping), with the reason.
    pub skipped_modules: Vec<(crate::model::ModuleRef, String)>,
    /// Every unit registered, whatever its distro and including shadowed ones.
    pub catalogue: Vec<crate::model::Unit>,
    /// Files evaluated without error.
    pub evaluated: std::collections::BTreeSet<PathBuf>,
}

/// Why a project failed to load. Every message names the file (and line where known).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("no PROJECT.star found in {} or any parent directory", .0.display())]
    NoProject(PathBuf),
    #[error("reading {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// A refusal or error tied to a span of a file, rendered like rustc.
    #[error("{}", .0.message)]
    Located(Box<diag::Diagnostic>),
    /// A refusal about a whole file.
    #[error("{message}")]
    Refused { location: Location, message: String },
    /// An error raised while evaluating Starlark (with its traceback and source line).
    #[error("{0}")]
    Eval(String),
    #[error("{0}")]
    Module(String),
    #[error("{0}")]
    Invalid(String),
    /// A load limit of `policies/load.toml` was hit: `location` is the statement, token or
    /// `load()` where (when known), `value` the limit's value.
    #[error("{}", limits::message(&place(file, location.as_ref()), *limit, *value))]
    Limit { file: PathBuf, location: Option<Location>, limit: Limit, value: u64 },
    /// The evaluator panicked on this input (a bug in starlark or yoe that hostile input
    /// reached); the load stopped there.
    #[error("{}: the Starlark evaluator failed on this file ({message}); the load stopped", place(file, location.as_ref()))]
    Internal { file: PathBuf, location: Option<Location>, message: String },
    /// A `.star` path that names a fifo, socket, device or directory.
    #[error("{} is {kind}, not a regular file; a .star file must be a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
}

fn place(file: &std::path::Path, location: Option<&Location>) -> String {
    match location {
        Some(l) => l.to_string(),
        None => file.display().to_string(),
    }
}

impl From<files::ReadError> for LoadError {
    fn from(e: files::ReadError) -> LoadError {
        match e {
            files::ReadError::Io { path, message } => LoadError::Io { path, message },
            files::ReadError::NotRegular { path, kind } => LoadError::NotRegular { path, kind },
            files::ReadError::TooLarge { path, limit, .. } => {
                LoadError::Limit { file: path, location: None, limit: Limit::FileBytes, value: limit }
            }
        }
    }
}

impl LoadError {
    /// The limit hit, for errors that are limit hits.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            LoadError::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// The full human-readable report, with source snippets where available.
    pub fn render(&self, root: &std::path::Path) -> String {
        match self {
            LoadError::Located(d) => d.render(root),
            // Starlark names files by absolute path; show them relative to the project.
            other => other.to_string().replace(&format!("{}/", root.display()), ""),
        }
    }
}
