//! `load-limit`: a `.star` file that hits a load limit of `policies/load.toml` (too large,
//! nested too deeply, a `load()` chain too deep, too many steps, too much memory or time, a
//! value too deep, recursion off the stack) or that is not a regular file. yoe refuses to
//! load such a file; the audit reports where the limit was hit, leaves the file out of the
//! model pass and audits the rest.
use std::path::Path;

use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Span};
use super::rule;
use crate::model::Location;
use crate::starlark::{Limit, LoadError};

rule!(
    "load-limit",
    ProjectAndMeta,
    Medium,
    High,
    Regular,
    Static,
    "a .star file hits a load limit (size, nesting, load depth, steps, memory, time) or is not a regular file"
);

const TIP: &str = "real projects stay far below these limits: look for generated or hostile code and remove it, \
                   or split a large file; the limits are in policies/load.toml (docs/boundary.md, \"Load limits\")";

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for f in &cx.inputs.files {
            let Some(r) = &f.refused else { continue };
            let at = Location {
                file: f.path.clone(),
                line: r.line,
                column: r.column,
                end_line: r.line,
                end_column: r.column,
            };
            let message = match r.limit {
                Some(limit) => what(limit, cx),
                None => strip(&r.message, &cx.inputs.root),
            };
            let kind = r.limit.map_or(Kind::NotRegular, Kind::Limit);
            out.push(finding(cx, &at, kind, message));
        }
        // Shell steps the audit did not parse (too long, or past its shell budget): the shell
        // rules could not look at them, so say so where they are.
        for site in cx.shell_sites().iter() {
            let Some(limit) = site.script.not_parsed else { continue };
            let message = format!("{}; the step was not audited", what(limit, cx));
            let primary = site.primary.clone().with_label(format!("not audited: `{}`", limit.key()));
            let mut f = cx.finding(&META, primary, format!("load-limit.{}({})", limit.key(), site.route), message, TIP);
            f.secondary = site.secondary.clone();
            out.push(f);
        }
        let model_errors = cx.model.iter().flat_map(|m| m.errors.iter()).chain(cx.model_errors.iter());
        for e in model_errors {
            match e {
                // A stop with no file (the process cap refused another attempt) has no place
                // to report; the audit's diagnostics carry it.
                LoadError::Limit { file, .. } if file.as_os_str().is_empty() => {}
                LoadError::Limit { file, location, limit, .. } => {
                    let at = location.clone().unwrap_or_else(|| Location::file_only(file.clone()));
                    let mut message = what(*limit, cx);
                    if limit.is_hard() || *limit == Limit::CpuMs {
                        message.push_str("; the model pass went on without the file");
                    }
                    out.push(finding(cx, &at, Kind::Limit(*limit), message));
                }
                LoadError::Internal { file, location, message } => {
                    let at = location.clone().unwrap_or_else(|| Location::file_only(file.clone()));
                    let message = format!(
                        "the Starlark evaluator failed on this file ({message}); the model pass went on without it"
                    );
                    out.push(finding(cx, &at, Kind::Evaluator, message));
                }
                LoadError::NotRegular { path, .. } => {
                    let message = strip(&e.to_string(), &cx.inputs.root);
                    out.push(finding(cx, &Location::file_only(path.clone()), Kind::NotRegular, message));
                }
                _ => {}
            }
        }
    }
}

fn what(limit: Limit, cx: &Context) -> String {
    format!("{}: load limit `{}` = {} (policies/load.toml)", limit.what(), limit.key(), limit.value(&cx.opts.limits))
}

fn strip(message: &str, root: &Path) -> String {
    message.replace(&format!("{}/", root.display()), "")
}

/// What stopped the file.
#[derive(Clone, Copy)]
enum Kind {
    Limit(Limit),
    NotRegular,
    /// The evaluator panicked on it.
    Evaluator,
}

fn finding(cx: &Context, at: &Location, kind: Kind, message: String) -> Finding {
    let rel = cx.inputs.rel(&at.file);
    let (key, label) = match kind {
        Kind::Limit(l) => (l.key(), format!("hits `{}`", l.key())),
        Kind::NotRegular => ("regular-file", "not a regular file".to_string()),
        Kind::Evaluator => ("evaluator", "stops the evaluator".to_string()),
    };
    let primary = match cx.inputs.file(&at.file).filter(|_| at.line > 0) {
        Some(f) => match f.offset(at.line, at.column) {
            Some(off) => f.span(off..off, label),
            None => Span::file(rel.clone(), label),
        },
        None if at.line > 0 => {
            let mut s = Span::file(rel.clone(), label);
            (s.line, s.column, s.end_line, s.end_column) = (at.line, at.column, at.end_line, at.end_column);
            s
        }
        None => Span::file(rel.clone(), label),
    };
    cx.finding(&META, primary, format!("load-limit.{key}({})", rel.display()), message, TIP)
}
