//! `yoe audit`: static security analysis of a project and its modules, after zizmor. Two
//! passes feed one set of rules: an AST pass over every `.star` file of the project and of
//! every module it can reach (never stops, runs no code), and a model pass through the
//! loader's audit mode (refusals recorded, not raised) that expands units through their
//! classes. Output rules read built destdirs (`--outputs`). Trusts nothing it reads; runs no
//! user code and no external program.
pub mod ast;
pub mod config;
pub mod finding;
pub mod inputs;
pub mod output;
pub mod outputs;
pub mod registry;
pub mod rules;
pub mod shell;
pub mod suppress;
pub mod units;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

pub use finding::{Confidence, Finding, Origin, Persona, Severity, Span};
pub use registry::{Rule, RuleMeta, rules};

use crate::starlark::{LoadError, LoadLimits, LoadOptions, ModuleSource};
use config::{Config, Date};
use inputs::Inputs;
use shell::Script;
use units::UnitView;

/// What to audit and how.
pub struct AuditOptions {
    /// A directory in the project (or a module directory, audited alone).
    pub start: PathBuf,
    pub machine: Option<String>,
    pub distro: Option<String>,
    /// Where remote modules come from; those it cannot give are reported as not audited.
    pub modules: Arc<dyn ModuleSource>,
    /// A build directory whose `<unit>.<scope>/destdir` trees the output rules read.
    pub outputs: Option<PathBuf>,
    pub paranoid: bool,
    /// Apply no suppression (for reviewers).
    pub no_ignores: bool,
    /// Run the model pass (the loader in audit mode). Off: the AST pass alone.
    pub model: bool,
    /// "Today" for `expires` (default: the current UTC date).
    pub today: Option<Date>,
    /// What reading and loading may cost (default: `policies/load.toml`).
    pub limits: LoadLimits,
}

impl AuditOptions {
    /// An audit of the project (or module) at `start` with the defaults: modules from
    /// `modules`, the model pass on, no outputs, suppressions applied, today's date and the
    /// embedded load limits.
    pub fn new(start: impl Into<PathBuf>, modules: Arc<dyn ModuleSource>) -> AuditOptions {
        AuditOptions {
            start: start.into(),
            machine: None,
            distro: None,
            modules,
            outputs: None,
            paranoid: false,
            no_ignores: false,
            model: true,
            today: None,
            limits: LoadLimits::embedded(),
        }
    }
}

/// The result of an audit. Findings include suppressed ones (marked).
pub struct Report {
    pub root: PathBuf,
    pub findings: Vec<Finding>,
    /// Things that limited the audit (a file that does not parse, a model pass that failed).
    pub diagnostics: Vec<String>,
    /// Modules that were not audited here, with why.
    pub not_audited: Vec<(String, String)>,
    /// Text of every `.star` file read (for rendering), by shown path.
    pub sources: HashMap<PathBuf, std::sync::Arc<str>>,
    pub files: usize,
    pub units: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Inputs(#[from] inputs::InputError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
}

impl AuditError {
    /// No project or module was found (exit code 3).
    pub fn is_no_inputs(&self) -> bool {
        matches!(self, AuditError::Inputs(inputs::InputError::NoInputs(_)))
    }
}

/// Everything a rule may look at.
pub struct Context<'a> {
    pub inputs: Inputs,
    pub units: Vec<UnitView>,
    pub config: Config,
    pub opts: &'a AuditOptions,
    /// The audit load, when it ran (refusals, errors, model).
    pub model: Option<crate::starlark::AuditLoad>,
    /// Why the audit load failed, when it did: the error and every hard stop of its
    /// attempts.
    pub model_errors: Vec<LoadError>,
    /// Files of the output tree, when `--outputs` was given.
    pub outputs: Vec<outputs::OutputFile>,
    shells: RefCell<HashMap<String, Rc<Script>>>,
    /// Bytes of shell text parsed so far.
    shell_bytes: std::cell::Cell<u64>,
    sites: std::cell::OnceCell<Rc<Vec<rules::ShellSite>>>,
    tree: std::cell::OnceCell<Rc<Vec<rules::TreeFile>>>,
    lock: std::cell::OnceCell<Option<crate::module::Lockfile>>,
}

impl Context<'_> {
    /// The project's yoe.lock, read once per audit; `None` for a lone module, a project
    /// without one, or one that does not parse (the load reports that).
    pub fn lockfile(&self) -> Option<&crate::module::Lockfile> {
        self.lock
            .get_or_init(|| {
                if !self.inputs.is_project {
                    return None;
                }
                crate::module::Lockfile::read(&self.inputs.root).ok().flatten()
            })
            .as_ref()
    }

    /// A shell step, parsed once per distinct text, within the audit's shell limits
    /// (`max_shell_step_bytes` a step, `max_shell_total_bytes` in all): past them the step is
    /// not parsed, which the `load-limit` rule reports.
    pub fn script(&self, text: &str) -> Rc<Script> {
        if let Some(s) = self.shells.borrow().get(text) {
            return s.clone();
        }
        let l = &self.opts.limits;
        let len = text.len() as u64;
        let parsed = self.shell_bytes.get().saturating_add(len);
        let s = Rc::new(if len > l.max_shell_step_bytes {
            Script::not_parsed(crate::starlark::Limit::ShellStepBytes, l.max_shell_step_bytes)
        } else if parsed > l.max_shell_total_bytes {
            Script::not_parsed(crate::starlark::Limit::ShellTotalBytes, l.max_shell_total_bytes)
        } else {
            self.shell_bytes.set(parsed);
            Script::parse(text)
        });
        self.shells.borrow_mut().insert(text.to_string(), s.clone());
        s
    }

    /// A finding with the rule's default severity, confidence and persona.
    pub fn finding(
        &self,
        meta: &'static RuleMeta,
        primary: Span,
        route: impl Into<String>,
        message: impl Into<String>,
        tip: impl Into<String>,
    ) -> Finding {
        let origin = self.inputs.origin_of(&self.inputs.root.join(&primary.file));
        Finding {
            rule: meta.id,
            severity: meta.severity,
            confidence: meta.confidence,
            persona: meta.persona,
            message: message.into(),
            tip: tip.into(),
            primary,
            secondary: Vec::new(),
            route: route.into(),
            origin,
            suppressed: None,
        }
    }
}

/// Run every rule over the project (or module) at `opts.start`.
///
/// The audit runs on a thread of its own whose stack is `max_stack_bytes`: parsing, walking
/// and dropping an AST recurses once per nesting level, and `max_parse_depth` is sized for
/// that stack (not for whatever the caller's thread has).
pub fn audit(opts: &AuditOptions) -> Result<Report, AuditError> {
    std::thread::scope(|s| {
        let t = std::thread::Builder::new()
            .name("audit".into())
            .stack_size(opts.limits.bytes(crate::starlark::Limit::StackBytes))
            .spawn_scoped(s, || audit_here(opts));
        match t {
            Ok(t) => t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            // No thread to be had: run here.
            Err(_) => audit_here(opts),
        }
    })
}

fn audit_here(opts: &AuditOptions) -> Result<Report, AuditError> {
    let inputs = inputs::discover(&opts.start, opts.modules.as_ref(), &opts.limits)?;
    let config = if inputs.is_project { Config::load(&inputs.root)? } else { Config::default() };
    let mut diagnostics = Vec::new();
    for f in inputs.files.iter().filter(|f| f.parse_error.is_some()) {
        diagnostics.push(format!(
            "{} does not parse; only its file-level rules ran: {}",
            f.rel.display(),
            f.parse_error.as_deref().unwrap_or("").replace(&format!("{}/", inputs.root.display()), "")
        ));
    }
    for m in &inputs.modules {
        if let inputs::ModuleStatus::Missing(why) = &m.status {
            diagnostics.push(format!("module {} was not found, so not audited: {why}", m.as_ref().describe()));
        }
    }
    let not_audited: Vec<(String, String)> = inputs
        .modules
        .iter()
        .filter_map(|m| match &m.status {
            inputs::ModuleStatus::NotAudited(why) => Some((m.as_ref().describe(), why.clone())),
            _ => None,
        })
        .collect();

    let mut model_errors = Vec::new();
    let model = if opts.model && inputs.is_project {
        let lo = LoadOptions {
            start: inputs.root.clone(),
            machine: opts.machine.clone(),
            distro: opts.distro.clone(),
            modules: opts.modules.clone(),
            limits: opts.limits,
        };
        match crate::starlark::load_for_audit(&lo) {
            Ok(a) => {
                for (m, why) in &a.skipped_modules {
                    if m.local.is_empty() {
                        continue; // remote: reported as not audited
                    }
                    diagnostics.push(format!("model pass: module {} was left out: {why}", m.describe()));
                }
                for e in &a.errors {
                    diagnostics.push(format!(
                        "model pass: a file was left out (its units were audited from their literal arguments): {}",
                        e.render(&inputs.root)
                    ));
                }
                Some(a)
            }
            Err(e) => {
                diagnostics.push(format!(
                    "model pass failed, units were audited from their literal arguments only: {}",
                    e.render(&inputs.root)
                ));
                let text = e.error.to_string();
                model_errors = e.stopped;
                if !model_errors.iter().any(|s| s.to_string() == text) {
                    model_errors.push(e.error);
                }
                None
            }
        }
    } else {
        None
    };
    let units = units::collect(&inputs, model.as_ref().map(|m| (m.catalogue.as_slice(), &m.evaluated)));
    let outputs = match &opts.outputs {
        Some(dir) => outputs::scan(dir, &mut diagnostics),
        None => Vec::new(),
    };
    let cx = Context {
        inputs,
        units,
        config,
        opts,
        model,
        model_errors,
        outputs,
        shells: RefCell::new(HashMap::new()),
        shell_bytes: std::cell::Cell::new(0),
        sites: std::cell::OnceCell::new(),
        tree: std::cell::OnceCell::new(),
        lock: std::cell::OnceCell::new(),
    };

    let mut findings = Vec::new();
    for rule in rules() {
        if rule.meta().id == "unused-suppression" {
            continue;
        }
        rule.check(&cx, &mut findings);
    }
    dedup(&mut findings);
    let today = opts.today.unwrap_or_else(config::today);
    let unapplied = suppress::apply(&cx.inputs, &cx.config, &mut findings, opts.paranoid, opts.no_ignores, today);
    rules::unused_suppression::report(&cx, unapplied, &mut findings);
    findings.sort_by(|a, b| {
        (&a.primary.file, a.primary.line, a.primary.column, a.rule, &a.route).cmp(&(
            &b.primary.file,
            b.primary.line,
            b.primary.column,
            b.rule,
            &b.route,
        ))
    });
    let sources = cx.inputs.files.iter().map(|f| (f.rel.clone(), f.text.clone())).collect();
    Ok(Report {
        root: cx.inputs.root.clone(),
        findings,
        diagnostics,
        not_audited,
        sources,
        files: cx.inputs.files.len(),
        units: cx.units.len(),
    })
}

/// One finding per (rule, route, primary place).
fn dedup(findings: &mut Vec<Finding>) {
    let mut seen = std::collections::HashSet::new();
    findings
        .retain(|f| seen.insert((f.rule, f.route.clone(), f.primary.file.clone(), f.primary.line, f.primary.column)));
}
