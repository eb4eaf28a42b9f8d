//! One view of every unit for the unit rules, whichever pass produced it: the model (units
//! expanded through their classes, e.g. `autotools(...)` → the real `source`/`sha256`/steps)
//! for files the audit load evaluated, the literal kwargs of the call for files it could not.
//! Each unit comes from exactly one pass, so no finding is reported twice.
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;
use std::path::PathBuf;

use super::ast::{Call, Val};
use super::finding::{Origin, Span};
use super::inputs::{Inputs, SourceFile, call_label};
use crate::model::unit::UNIT_FIELDS;
use crate::model::{Step, Unit};

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Shell(String),
    Install { dest: String, template: bool },
}

#[derive(Debug, Clone)]
pub struct StepView {
    pub task: String,
    pub index: usize,
    pub kind: StepKind,
    /// (file, bytes) of the literal that wrote the step, when it was found.
    pub literal: Option<(usize, Range<usize>)>,
}

#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub source: String,
    pub mirrors: Vec<String>,
    pub sha256: String,
    pub apk_checksum: String,
    pub tag: String,
    pub branch: String,
    pub commit: String,
    pub container: String,
    pub task_containers: Vec<(String, String)>,
    pub sandbox: Option<bool>,
    pub environment: Vec<(String, String)>,
    pub cache_dirs: Vec<(String, String)>,
    pub extra: BTreeMap<String, serde_json::Value>,
    pub steps: Vec<StepView>,
    pub unit_class: String,
}

/// A unit, as the rules see it.
#[derive(Debug, Clone)]
pub struct UnitView {
    pub name: String,
    pub origin: Origin,
    /// The callee of the user's call: `unit`, `image`, `autotools`, `go_binary`, ...
    pub callee: String,
    /// File (index into `Inputs::files`) and call (index into its tree) of the user's call.
    pub file: usize,
    pub call: Option<usize>,
    /// Class frames: where the class turned the user's call into `unit(...)`.
    pub frames: Vec<Span>,
    pub fields: Fields,
    /// Produced by the model pass (expanded through classes).
    pub from_model: bool,
    /// AST only: some kwargs are not literals, so "X is missing" cannot be decided.
    pub partial: bool,
}

impl UnitView {
    pub fn route(&self) -> String {
        format!("unit({})", self.name)
    }

    fn user_call<'a>(&self, inputs: &'a Inputs) -> (&'a SourceFile, Option<&'a Call>) {
        let f = &inputs.files[self.file];
        (f, self.call.and_then(|c| f.tree.calls.get(c)))
    }

    /// The primary span for `field`: the user's `field = ...` when written there, else the
    /// user's call (the value came from a class).
    pub fn field_span(&self, inputs: &Inputs, field: &str, label: &str) -> Span {
        let (f, call) = self.user_call(inputs);
        match call {
            Some(c) if c.kwarg(field).is_some() => f.arg_span(c, field, label),
            Some(c) => f.call_span(c, format!("{label} (set by class `{}`)", self.callee)).with_field(field),
            None => Span::file(f.rel.clone(), label).with_field(field),
        }
    }

    /// The span of the user's call itself.
    pub fn call_span(&self, inputs: &Inputs, label: &str) -> Span {
        let (f, call) = self.user_call(inputs);
        match call {
            Some(c) => f.call_span(c, label),
            None => Span::file(f.rel.clone(), label),
        }
    }

    /// Primary and secondary spans of a step: the literal when the user wrote it, else the
    /// user's call with the literal (or the class frame) as secondary.
    pub fn step_spans(&self, inputs: &Inputs, step: &StepView, label: &str) -> (Span, Vec<Span>) {
        let field = format!("tasks[{}].steps[{}]", step.task, step.index);
        match &step.literal {
            Some((fi, r)) if *fi == self.file => {
                let f = &inputs.files[*fi];
                let mut s = f.span(r.clone(), label).with_field(field);
                if let Some(c) = self.call.and_then(|c| f.tree.calls.get(c)) {
                    s = s.with_call(call_label(c));
                }
                (s, Vec::new())
            }
            Some((fi, r)) => {
                let f = &inputs.files[*fi];
                let primary = self.call_span(inputs, &format!("{label} (in a step of class `{}`)", self.callee));
                (primary.with_field(field), vec![f.span(r.clone(), "the step is written here")])
            }
            None => {
                let primary = self.call_span(inputs, &format!("{label} (in a computed step)"));
                (primary.with_field(field), self.frames.clone())
            }
        }
    }

    /// Every shell step.
    pub fn shell_steps(&self) -> impl Iterator<Item = (&StepView, &str)> {
        self.fields.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Shell(c) => Some((s, c.as_str())),
            _ => None,
        })
    }
}

/// Builtins that take `name=` but are not units.
const NOT_UNITS: &[&str] = &[
    "project",
    "module",
    "module_info",
    "machine",
    "kernel",
    "partition",
    "qemu_config",
    "defaults",
    "cache",
    "task",
    "arg",
    "command",
    "alpine_feed",
    "apt_feed",
    "local",
    "user",
];

/// Unit kwargs that make a non-builtin call look like a class call declaring a unit.
const UNITISH: &[&str] = &["source", "tasks", "sandbox", "container", "sha256", "environment", "cache_dirs", "version"];

/// Build the views: model units for evaluated files, literal calls for the rest.
pub fn collect(inputs: &Inputs, model: Option<(&[Unit], &BTreeSet<PathBuf>)>) -> Vec<UnitView> {
    let mut out = Vec::new();
    let evaluated: HashSet<&PathBuf> = model.map(|(_, e)| e.iter().collect()).unwrap_or_default();
    if let Some((units, _)) = model {
        let index = StringIndex::new(inputs);
        for u in units {
            if let Some(v) = from_model(inputs, &index, u) {
                out.push(v);
            }
        }
    }
    for (fi, f) in inputs.files.iter().enumerate() {
        if evaluated.contains(&f.path) {
            continue;
        }
        for (ci, c) in f.tree.calls.iter().enumerate() {
            if c.def.is_some() || c.parent.is_some() || NOT_UNITS.contains(&c.callee.as_str()) || c.callee.is_empty() {
                continue;
            }
            let Some(name) = c.kwarg_str("name") else { continue };
            let builtin = c.callee == "unit" || c.callee == "image";
            if !builtin && !c.args.iter().any(|a| a.name.as_deref().is_some_and(|n| UNITISH.contains(&n))) {
                continue;
            }
            out.push(from_ast(inputs, fi, ci, name));
        }
    }
    out
}

/// Where each string literal is, per file.
struct StringIndex {
    by_file: Vec<std::collections::HashMap<String, Range<usize>>>,
}

impl StringIndex {
    fn new(inputs: &Inputs) -> StringIndex {
        let by_file = inputs
            .files
            .iter()
            .map(|f| {
                let mut m = std::collections::HashMap::new();
                for (s, r) in &f.tree.strings {
                    m.entry(s.clone()).or_insert_with(|| r.clone());
                }
                m
            })
            .collect();
        StringIndex { by_file }
    }

    fn find(&self, files: &[usize], s: &str) -> Option<(usize, Range<usize>)> {
        files.iter().find_map(|&f| self.by_file.get(f).and_then(|m| m.get(s)).map(|r| (f, r.clone())))
    }
}

fn from_model(inputs: &Inputs, index: &StringIndex, u: &Unit) -> Option<UnitView> {
    let file = *inputs.index.get(&u.defined_at.file)?;
    let f = &inputs.files[file];
    let call = f.offset(u.defined_at.line, u.defined_at.column).and_then(|o| f.tree.call_starting_at(o));
    let callee = call.map(|c| f.tree.calls[c].callee.clone()).unwrap_or_else(|| u.class.to_string());
    // Class frames: every frame but the user's call, in files we read.
    let mut frames = Vec::new();
    let mut frame_files = vec![file];
    for l in &u.call_stack {
        if l.file == u.defined_at.file && l.line == u.defined_at.line {
            continue;
        }
        let Some(&fi) = inputs.index.get(&l.file) else { continue };
        let ff = &inputs.files[fi];
        if !frame_files.contains(&fi) {
            frame_files.push(fi);
        }
        let Some(off) = ff.offset(l.line, l.column) else { continue };
        let span = match ff.tree.call_starting_at(off) {
            Some(c) => ff.call_span(&ff.tree.calls[c], "via this class call"),
            None => ff.span(off..off, "via this class call"),
        };
        frames.push(span);
    }
    let mut steps = Vec::new();
    for t in &u.tasks {
        for (i, s) in t.steps.iter().enumerate() {
            let kind = match s {
                Step::Shell { command } => StepKind::Shell(command.clone()),
                Step::Install(i) => {
                    StepKind::Install { dest: i.dest.clone(), template: i.kind == crate::model::InstallKind::Template }
                }
                Step::Fn(_) => continue,
            };
            let literal = match &kind {
                StepKind::Shell(c) => index.find(&frame_files, c),
                StepKind::Install { dest, .. } => index.find(&frame_files, dest),
            };
            steps.push(StepView { task: t.name.to_string(), index: i, kind, literal });
        }
    }
    let fields = Fields {
        source: u.source.clone(),
        mirrors: u.mirrors.clone(),
        sha256: u.sha256.clone(),
        apk_checksum: u.apk_checksum.clone(),
        tag: u.tag.clone(),
        branch: u.branch.clone(),
        commit: u.commit.clone(),
        container: u.container.clone(),
        task_containers: u.tasks.iter().filter_map(|t| t.container.clone().map(|c| (t.name.to_string(), c))).collect(),
        sandbox: u.sandbox,
        environment: u.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        cache_dirs: u.cache_dirs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        extra: u.extra.clone(),
        steps,
        unit_class: u.class.to_string(),
    };
    Some(UnitView {
        name: u.name.to_string(),
        origin: inputs.origin_of(&u.defined_at.file),
        callee,
        file,
        call,
        frames,
        fields,
        from_model: true,
        partial: false,
    })
}

fn from_ast(inputs: &Inputs, fi: usize, ci: usize, name: &str) -> UnitView {
    let f = &inputs.files[fi];
    let c = &f.tree.calls[ci];
    let s = |k: &str| c.kwarg_str(k).unwrap_or_default().to_string();
    let str_list = |k: &str| -> Vec<String> {
        match c.kwarg(k).map(|a| &a.value.val) {
            Some(Val::List(items)) => items.iter().filter_map(|n| n.str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    let str_dict = |k: &str| -> Vec<(String, String)> {
        match c.kwarg(k).map(|a| &a.value.val) {
            Some(Val::Dict(items)) => items
                .iter()
                .filter_map(|(k, v)| Some((k.str()?.to_string(), v.str().unwrap_or("").to_string())))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut steps = Vec::new();
    let mut task_containers = Vec::new();
    if let Some(Val::List(tasks)) = c.kwarg("tasks").map(|a| &a.value.val) {
        for t in tasks {
            let Val::Call(ti) = t.val else { continue };
            let tc = &f.tree.calls[ti];
            if tc.callee != "task" {
                continue;
            }
            let tname =
                tc.positional(0).and_then(|a| a.value.str()).or(tc.kwarg_str("name")).unwrap_or("?").to_string();
            if let Some(cont) = tc.kwarg_str("container") {
                task_containers.push((tname.clone(), cont.to_string()));
            }
            let mut items: Vec<&super::ast::Node> = Vec::new();
            if let Some(a) = tc.kwarg("run") {
                items.push(&a.value);
            }
            if let Some(Val::List(xs)) = tc.kwarg("steps").map(|a| &a.value.val) {
                items.extend(xs.iter());
            }
            for (i, n) in items.into_iter().enumerate() {
                match &n.val {
                    Val::Str(cmd) => steps.push(StepView {
                        task: tname.clone(),
                        index: i,
                        kind: StepKind::Shell(cmd.clone()),
                        literal: Some((fi, n.span.clone())),
                    }),
                    Val::Call(ii) => {
                        let ic = &f.tree.calls[*ii];
                        if let ("install_file" | "install_template", Some(dest)) =
                            (ic.callee.as_str(), ic.positional(1).and_then(|a| a.value.str()))
                        {
                            let r = ic.positional(1).map(|a| a.span.clone()).unwrap_or(ic.span.clone());
                            steps.push(StepView {
                                task: tname.clone(),
                                index: i,
                                kind: StepKind::Install {
                                    dest: dest.to_string(),
                                    template: ic.callee == "install_template",
                                },
                                literal: Some((fi, r)),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let sandbox = match c.kwarg("sandbox").map(|a| &a.value.val) {
        Some(Val::Bool(b)) => Some(*b),
        _ => None,
    };
    let mut extra = BTreeMap::new();
    for a in &c.args {
        let Some(n) = a.name.as_deref() else { continue };
        if UNIT_FIELDS.contains(&n) || n == "*" || n == "**" {
            continue;
        }
        let v = match &a.value.val {
            Val::Str(s) => serde_json::Value::String(s.clone()),
            Val::Bool(b) => serde_json::Value::Bool(*b),
            Val::Int(i) => serde_json::Value::from(*i),
            _ => serde_json::Value::Null,
        };
        extra.insert(n.to_string(), v);
    }
    const DECIDING: &[&str] = &["source", "sha256", "apk_checksum", "commit", "tag", "branch", "mirrors", "sandbox"];
    let partial = c.has_splat()
        || c.args.iter().any(|a| a.name.as_deref().is_some_and(|n| DECIDING.contains(&n)) && a.value.is_dynamic());
    UnitView {
        name: name.to_string(),
        origin: f.origin.clone(),
        callee: c.callee.clone(),
        file: fi,
        call: Some(ci),
        frames: Vec::new(),
        fields: Fields {
            source: s("source"),
            mirrors: str_list("mirrors"),
            sha256: s("sha256"),
            apk_checksum: s("apk_checksum"),
            tag: s("tag"),
            branch: s("branch"),
            commit: s("commit"),
            container: s("container"),
            task_containers,
            sandbox,
            environment: str_dict("environment"),
            cache_dirs: str_dict("cache_dirs"),
            extra,
            steps,
            unit_class: c.kwarg_str("unit_class").map(str::to_string).unwrap_or_else(|| c.callee.clone()),
        },
        from_model: false,
        partial,
    }
}
