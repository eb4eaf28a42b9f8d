//! Tasks and their steps: shell commands, install steps, and Starlark `fn` steps (kept as
//! opaque handles into the loader's runtime plus a digest of their source for cache keys).
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::fields::{FieldError, Kwargs};
use super::ident::{Ident, NameKind};
use super::raw::RawValue;

/// Index of a callable kept alive by the Starlark runtime of a loaded project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FnId(pub u32);

/// A reference to a Starlark callable, as it leaves the evaluator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FnRef {
    pub id: FnId,
    /// The callable as Starlark prints it, e.g. `_assemble_rootfs` or `lambda`.
    pub name: String,
    /// sha256 (hex) over the text of every `.star` file in the load closure of the file
    /// that created the unit: a sound over-approximation of the body and what it captures.
    pub source_digest: String,
}

/// A Starlark callable step (`task(fn=...)` or a callable in `steps=`).
pub type FnStep = FnRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallKind {
    File,
    Template,
}

/// `install_file(src, dest, mode=)` / `install_template(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallStep {
    pub kind: InstallKind,
    /// Path relative to `base_dir` (checked to stay inside it at build time).
    pub src: String,
    /// Destination; `$DESTDIR`-relative after expansion (confined at build time).
    pub dest: String,
    pub mode: u32,
    /// `<dir of the calling .star file>/<its stem>/`, as in Go yoe.
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    Shell { command: String },
    Install(InstallStep),
    Fn(FnStep),
}

/// `task(name, run= | fn= | steps=, container=)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub name: Ident,
    pub container: Option<String>,
    pub steps: Vec<Step>,
    /// Other task kwargs (e.g. `remove=True` read by class helpers), kept for hashing.
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Task {
    /// Validate the struct returned by `task()`. `owner` names the unit for messages.
    pub fn from_struct(fields: Vec<(String, RawValue)>, owner: &str) -> Result<Task, FieldError> {
        let name = match fields.iter().find(|(k, _)| k == "name") {
            Some((_, RawValue::Str(s))) => s.clone(),
            _ => String::new(),
        };
        let mut kw = Kwargs::new(format!("{owner}: task({name:?})"), fields);
        let name = kw.required_ident("name", NameKind::Task)?;
        let container = kw.str_nonempty("container")?;
        let mut steps = Vec::new();
        if let Some(run) = kw.take("run") {
            match run {
                RawValue::Str(command) => steps = vec![Step::Shell { command }],
                other => return Err(kw.wrong("run", "a shell command string", &other)),
            }
        }
        if let Some(f) = kw.take("fn") {
            match f {
                RawValue::Callable(r) => steps = vec![Step::Fn(r)],
                other => return Err(kw.wrong("fn", "a function", &other)),
            }
        }
        if let Some(list) = kw.take("steps") {
            let RawValue::List(items) = list else {
                return Err(kw.wrong("steps", "a list of strings, install steps or functions", &list));
            };
            for item in items {
                steps.push(match item {
                    RawValue::Str(command) => Step::Shell { command },
                    RawValue::Install(i) => Step::Install(i),
                    RawValue::Callable(r) => Step::Fn(r),
                    other => {
                        return Err(kw.wrong("steps", "a list of strings, install steps or functions", &other));
                    }
                });
            }
        }
        let call = kw.call().to_string();
        let extra = super::unit::extra_values(&call, kw.into_rest())?;
        Ok(Task { name, container, steps, extra })
    }
}
