//! Evaluation of a whole project in Go yoe's phase order: PROJECT.star, local.star, module
//! resolution, machines/, MODULE.star, containers/, units/, the provides table, images/.
//! Each file is parsed, checked for refused constructs, evaluated once (load cache), and
//! frozen. It trusts no `.star` text and no path: every file is checked to stay in its root,
//! read without blocking up to its size limit, scanned for nesting before it is parsed, and
//! evaluated under the load limits (`policies/load.toml`) on a bounded thread of its own.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ::starlark::PrintHandler;
use ::starlark::environment::{FrozenModule, Globals, GlobalsBuilder, LibraryExtension, Module};
use ::starlark::eval::{Evaluator, FileLoader, ReturnFileLoader};
use sha2::{Digest, Sha256};

use super::bounded::{self, Stop};
use super::builtins::{module_globals, yoe_globals};
use super::diag::Diagnostic;
use super::engine::{Engine, ModuleInfo, Phase, source_name};
use super::files::{kind_of, read_star_text};
use super::labels::Roots;
use super::limits::{Limit, LoadLimits};
use super::meter::{Clock, Meter};
use super::modules::{ModuleSource, resolve_skipping};
use super::runtime::FnRuntime;
use super::syntax::{Literal, ParseError, ParsedFile};
use super::values::Ctx;
use super::{AuditLoad, LoadError, Loaded, Refusal};
use crate::model::project::{Project, ProjectDecl};
use crate::model::{Ident, Location, NameKind, ResolvedModule};

/// Sends Starlark `print()` to the log (stderr), never to stdout.
pub struct LogPrint;

impl PrintHandler for LogPrint {
    fn println(&self, text: &str) -> ::starlark::Result<()> {
        tracing::info!(target: "yoe::starlark", "{text}");
        Ok(())
    }
}

/// What to load and how. Owned: the load runs on a thread of its own, which may outlive
/// the call when a hard limit stops it.
#[derive(Clone)]
pub struct LoadOptions {
    /// A directory inside the project (the nearest parent with PROJECT.star is used).
    pub start: PathBuf,
    /// `--machine`: overrides `local.star` and `defaults(machine=)`.
    pub machine: Option<String>,
    /// `--distro`: overrides `local.star` and `defaults(distro=)`.
    pub distro: Option<String>,
    /// Where remote modules come from.
    pub modules: Arc<dyn ModuleSource>,
    /// What the load may cost (default: `policies/load.toml`).
    pub limits: LoadLimits,
}

impl LoadOptions {
    /// Load the project around `start` with modules from `modules`, no machine or distro
    /// override, and the embedded limits.
    pub fn new(start: impl Into<PathBuf>, modules: Arc<dyn ModuleSource>) -> LoadOptions {
        LoadOptions { start: start.into(), machine: None, distro: None, modules, limits: LoadLimits::embedded() }
    }
}

/// How many times `yoe audit` loads the project, each time without the file a hard limit
/// stopped the previous attempt in.
pub const AUDIT_ATTEMPTS: usize = 3;

/// Find the project root: `start` or its nearest parent holding PROJECT.star.
pub fn find_root(start: &Path) -> Result<PathBuf, LoadError> {
    let abs = start.canonicalize().map_err(|e| LoadError::Io { path: start.to_path_buf(), message: e.to_string() })?;
    abs.ancestors().find(|d| d.join("PROJECT.star").is_file()).map(Path::to_path_buf).ok_or(LoadError::NoProject(abs))
}

struct Globalses {
    base: Globals,
    with_ctx: Globals,
    peek: Globals,
}

fn globals(ctx: &Ctx) -> Globalses {
    let std = || GlobalsBuilder::extended_by(&[LibraryExtension::Print]).with(module_globals);
    let base = std().with(yoe_globals).build();
    let mut b = std().with(yoe_globals);
    b.set("ctx", ctx.clone());
    Globalses { base, with_ctx: b.build(), peek: std().build() }
}

struct Loader<'a> {
    engine: &'a Engine,
    globals: Globalses,
    cache: HashMap<PathBuf, FrozenModule>,
    sources: BTreeMap<PathBuf, Arc<str>>,
    order: Vec<PathBuf>,
    /// `Some` in an audit load: errors that dropped a file, and the files that failed.
    collect: Option<Collected>,
    meter: Arc<Meter>,
    /// Bytes of `.star` text read so far (against `max_total_bytes`), and files.
    read: u64,
    files: u64,
}

#[derive(Default)]
struct Collected {
    errors: Vec<LoadError>,
    failed: HashSet<PathBuf>,
    refusals: Vec<Refusal>,
    skipped_modules: Vec<(crate::model::ModuleRef, String)>,
    /// Files an earlier attempt was stopped in: left out of this one.
    excluded: HashSet<PathBuf>,
    /// A budget of the whole load is spent (time, files, bytes): no further file is
    /// evaluated (each would only hit it again).
    exhausted: Option<Limit>,
    /// Texts of `errors`, to keep one of each.
    seen: HashSet<String>,
}

/// Load a project. The first error stops the load and names file, line and what was expected.
pub fn load(opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let clock = Clock::new(Some(Duration::from_millis(opts.limits.max_cpu_ms)));
    match attempt(opts, false, HashSet::new(), clock) {
        Attempt::Done(r) => r.map(|a| a.loaded),
        Attempt::Stopped(e) => Err(e),
    }
}

/// Load a project for `yoe audit`: the load-time refusals (literal `run(host=True)` /
/// `run(privileged=True)`, `commands/*.star`, external container images) are recorded
/// instead of raised, a file that fails to evaluate is recorded and left out, and modules
/// that cannot be located are skipped, so that as much of the model as possible is produced.
/// It still runs no build step. Only PROJECT.star failing fails the whole load.
///
/// A file that hits a hard limit stops the evaluating thread for good; the load is then
/// attempted again without that file (at most [`AUDIT_ATTEMPTS`] attempts in all, within
/// one `max_cpu_ms`, while the process cap has room), and the limit hit is reported among
/// the errors. When no attempt succeeds, the error holds every hard stop met.
pub fn load_for_audit(opts: &LoadOptions) -> Result<AuditLoad, AuditLoadError> {
    let clock = Clock::new(Some(Duration::from_millis(opts.limits.max_cpu_ms)));
    let mut excluded = HashSet::new();
    let mut stopped: Vec<LoadError> = Vec::new();
    for n in 1..=AUDIT_ATTEMPTS {
        match attempt(opts, true, excluded.clone(), clock.clone()) {
            Attempt::Done(Ok(mut a)) => {
                a.errors.splice(0..0, stopped);
                return Ok(*a);
            }
            Attempt::Done(Err(error)) => return Err(AuditLoadError { error, stopped }),
            Attempt::Stopped(e) => {
                let file = match &e {
                    LoadError::Limit { file, .. } | LoadError::Internal { file, .. }
                        if !file.as_os_str().is_empty() =>
                    {
                        Some(file.clone())
                    }
                    _ => None,
                };
                tracing::info!("audit load attempt {n} stopped: {e}");
                stopped.push(e);
                match file {
                    Some(f) if !clock.over(Duration::ZERO) && !excluded.contains(&f) => {
                        excluded.insert(f);
                    }
                    _ => break,
                }
            }
        }
    }
    // The first stop is what a reader needs first; all of them are kept.
    let error = stopped.first().cloned().unwrap_or_else(|| LoadError::Invalid("internal: no load attempt".into()));
    Err(AuditLoadError { error, stopped })
}

/// Why no attempt of [`load_for_audit`] produced a model.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct AuditLoadError {
    /// What failed the load (the first hard stop, when there was one).
    pub error: LoadError,
    /// Every hard stop of the attempts made, in order.
    pub stopped: Vec<LoadError>,
}

impl AuditLoadError {
    pub fn render(&self, root: &Path) -> String {
        self.error.render(root)
    }
}

enum Attempt {
    /// The thread finished, with the load's own result.
    Done(Result<Box<AuditLoad>, LoadError>),
    /// A hard limit stopped the thread (or it overstayed its time): it was abandoned.
    Stopped(LoadError),
}

/// One load on a bounded thread of its own.
fn attempt(opts: &LoadOptions, audit: bool, excluded: HashSet<PathBuf>, clock: Arc<Clock>) -> Attempt {
    let meter = Meter::new(opts.limits, clock.clone());
    let (o, m) = (opts.clone(), meter.clone());
    match bounded::run(bounded::LOAD, &opts.limits, Some(clock.clone()), move || load_inner(&o, audit, excluded, m)) {
        Ok(r) => {
            let (statements, ticks) = meter.counts();
            let ms = clock.elapsed().as_millis();
            tracing::debug!(statements, ticks, ms, "load done");
            Attempt::Done(r.map(Box::new))
        }
        Err(stop @ Stop::Failed(_)) => Attempt::Done(Err(stopped(&meter, stop))),
        Err(stop) => Attempt::Stopped(stopped(&meter, stop)),
    }
}

/// The error for a bounded thread that delivered nothing, placed where the meter last saw
/// it (the statement being run, else the file).
fn stopped(meter: &Meter, stop: Stop) -> LoadError {
    let (file, location) = meter.place();
    match stop {
        Stop::Limit(limit) => LoadError::Limit { file, location, limit, value: limit.value(&meter.limits) },
        Stop::Panicked(message) => LoadError::Internal { file, location, message },
        Stop::Failed(m) => LoadError::Invalid(format!("internal error: {m}")),
    }
}

/// Module sources do trusted work (checking modules in the cache, fetching for `yoe module
/// lock`): the load's clock does not run and the thread's allocations are not counted.
struct Trusted<'a> {
    inner: &'a dyn ModuleSource,
    clock: &'a Clock,
}

impl ModuleSource for Trusted<'_> {
    fn checkout(&self, m: &crate::model::ModuleRef) -> Result<PathBuf, String> {
        let (_p, _s) = (self.clock.pause(), yoe_sandbox_helper::budget::suspend());
        self.inner.checkout(m)
    }

    fn begin(&self, project: &ProjectDecl) -> Result<(), String> {
        let (_p, _s) = (self.clock.pause(), yoe_sandbox_helper::budget::suspend());
        self.inner.begin(project)
    }

    fn resolved(&self, modules: &[ResolvedModule]) -> Result<(), String> {
        let (_p, _s) = (self.clock.pause(), yoe_sandbox_helper::budget::suspend());
        self.inner.resolved(modules)
    }
}

fn load_inner(
    opts: &LoadOptions,
    audit: bool,
    excluded: HashSet<PathBuf>,
    meter: Arc<Meter>,
) -> Result<AuditLoad, LoadError> {
    let root = find_root(&opts.start)?;
    let engine = Engine::new(root.clone(), meter.clone());
    let collect = audit.then(|| Collected { excluded, ..Collected::default() });
    let mut l = Loader::new(&engine, &root, collect, meter.clone());
    engine.state.borrow_mut().audit = audit;
    let source = Trusted { inner: opts.modules.as_ref(), clock: &meter.clock };

    // 1. PROJECT.star
    let project_file = root.join("PROJECT.star");
    l.set_phase(Phase::Project, "", 0, &project_file);
    l.eval_file(&project_file, Which::Base)?;
    let (decl, _) = engine.state.borrow().project.clone().ok_or_else(|| {
        LoadError::Invalid(format!("{}: PROJECT.star did not call project()", project_file.display()))
    })?;

    // 2. local.star
    let local_file = root.join("local.star");
    if local_file.exists() {
        l.set_phase(Phase::Local, "", 0, &local_file);
        let r = l.eval_file(&local_file, Which::Base);
        l.soft(r)?;
    }
    let local = engine.state.borrow().local.clone().unwrap_or_default();

    // 3. modules (with transitive deps), each checked for refused `commands/`.
    let r = check_no_commands(&root);
    l.soft(r)?;
    let r = source.begin(&decl).map_err(LoadError::Module);
    l.soft(r)?;
    let mut skipped = Vec::new();
    let skipping = if audit { Some(&mut skipped) } else { None };
    let mut peek = |dir: &Path| l.peek(dir);
    let modules = resolve_skipping(&root, &decl.modules, &source, &mut peek, skipping).map_err(LoadError::Module)?;
    let r = source.resolved(&modules).map_err(LoadError::Module);
    l.soft(r)?;
    if let Some(c) = l.collect.as_mut() {
        c.skipped_modules = skipped;
    }
    for m in &modules {
        let r = check_no_commands(&m.dir);
        l.soft(r)?;
    }
    engine.state.borrow_mut().roots.modules = modules.iter().map(|m| (m.name.to_string(), m.dir.clone())).collect();
    let project_priority = modules.len() as i32 + 1;

    // 4. machines/
    l.phase(Phase::Machines, &root, &modules, project_priority)?;

    // 5. machine, distro and ctx
    let machines = engine.state.borrow().machines.clone();
    let cli_machine = opts.machine.as_deref().map(|m| cli_name(NameKind::Machine, "--machine", m)).transpose()?;
    let cli_distro = opts.distro.as_deref().map(|d| cli_name(NameKind::Distro, "--distro", d)).transpose()?;
    let chosen = cli_machine.clone().or_else(|| local.machine.clone());
    let machine = chosen.clone().or_else(|| decl.defaults.machine.clone());
    if let Some(m) = chosen.as_ref().filter(|m| !machines.contains_key(m.as_str())) {
        let e = LoadError::Invalid(format!(
            "machine {:?} not found (known: {})",
            m.as_str(),
            machines.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        l.soft(Err(e))?;
    }
    let active = machine.as_ref().and_then(|m| machines.get(m.as_str())).cloned();
    let distro_override = cli_distro.or_else(|| local.default_distro_override.clone());
    let distro = distro_override.clone().or_else(|| decl.defaults.distro.clone());
    let distro = distro.map(Ident::into_string).unwrap_or_default();
    {
        let mut c = engine.ctx.lock().unwrap_or_else(|e| e.into_inner());
        c.arch = active.as_ref().map(|m| m.arch.clone()).unwrap_or_else(|| "x86_64".into());
        c.machine = machine.as_ref().map(Ident::to_string).unwrap_or_default();
        c.project_version = decl.version.as_ref().map(Ident::to_string).unwrap_or_default();
        c.default_distro = decl.defaults.distro.as_ref().map(Ident::to_string).unwrap_or_default();
        c.default_distro_override = distro_override.as_ref().map(Ident::to_string).unwrap_or_default();
        c.machine_config = active.clone();
        if let Some(k) = active.as_ref().and_then(|m| m.kernel.as_ref())
            && let (Some(provides), Some(unit)) = (&k.provides, &k.unit)
        {
            c.provides.insert(provides.to_string(), unit.to_string());
        }
        let mut st = engine.state.borrow_mut();
        st.provides = c.provides.clone();
        st.distro = distro.clone();
        st.prefer_modules = decl
            .prefer_modules
            .iter()
            .map(|(d, pins)| (d.to_string(), pins.iter().map(|(u, m)| (u.to_string(), m.to_string())).collect()))
            .collect();
    }

    // 6. MODULE.star of each module
    for m in &modules {
        let f = m.dir.join("MODULE.star");
        if f.exists() {
            l.set_phase(Phase::ModuleStar, &m.name, m.priority, &f);
            let r = l.eval_file(&f, Which::Ctx);
            l.soft(r)?;
        }
    }

    // 7. prefer_modules must name real modules (or feeds, `<module>.<feed>`).
    let r = check_prefer_modules(&decl.prefer_modules, &modules, &engine.state.borrow().feeds);
    l.soft(r)?;

    // 8. containers/ and units/
    l.phase(Phase::Containers, &root, &modules, project_priority)?;
    l.phase(Phase::Units, &root, &modules, project_priority)?;

    // 9. provides table
    let provides = match provides_table(&engine) {
        Ok(p) => p,
        Err(e) => {
            l.soft(Err(e))?;
            engine.state.borrow().provides.clone()
        }
    };
    engine.ctx.lock().unwrap_or_else(|e| e.into_inner()).provides = provides.clone();
    engine.state.borrow_mut().provides = provides.clone();

    // 10. images/
    l.phase(Phase::Images, &root, &modules, project_priority)?;

    // 11. the view for this load's distro, and the callables for build time
    let st = engine.state.borrow();
    let mut names: Vec<&String> = st.by_module.values().flat_map(|m| m.keys()).collect();
    names.sort();
    names.dedup();
    let units = names
        .into_iter()
        .filter_map(|n| super::engine::find_unit(&st, n, &distro).map(|u| (n.clone(), u.clone())))
        .collect();
    let mut fns = Vec::with_capacity(st.stashed.len());
    for (file, global) in &st.stashed {
        let module = l
            .cache
            .get(file)
            .ok_or_else(|| LoadError::Invalid(format!("internal: no module for {}", file.display())))?;
        let v = module.get_any_visibility(global).map_err(|e| LoadError::Invalid(format!("internal: {e}")))?.0;
        fns.push(v);
    }
    let project = Project {
        root: root.clone(),
        local,
        distro,
        machine,
        arch: engine.ctx.lock().map(|c| c.arch.clone()).unwrap_or_default(),
        modules,
        machines,
        units,
        provides,
        shadows: st.shadows.clone(),
        feeds: st.feeds.clone(),
        commands: st.commands.clone(),
        files: l.order.clone(),
        decl,
    };
    let catalogue = st.by_module.values().flat_map(|m| m.values().cloned()).collect();
    let mut refusals = st.refusals.clone();
    drop(st);
    let collected = l.collect.take().unwrap_or_default();
    refusals.splice(0..0, collected.refusals);
    let evaluated = l.order.iter().cloned().collect();
    Ok(AuditLoad {
        loaded: Loaded { project, runtime: FnRuntime { fns }, sources: l.sources },
        refusals,
        errors: collected.errors,
        skipped_modules: collected.skipped_modules,
        catalogue,
        evaluated,
    })
}

/// Evaluate PROJECT.star alone and return the project root and its `project()` settings
/// (for verbs that need the settings, such as trusted keys, without loading modules).
/// Bounded like [`load`], with the embedded limits.
pub fn load_project_decl(start: &Path) -> Result<(PathBuf, ProjectDecl), LoadError> {
    let root = find_root(start)?;
    let limits = LoadLimits::embedded();
    let clock = Clock::new(Some(Duration::from_millis(limits.max_cpu_ms)));
    let meter = Meter::new(limits, clock.clone());
    let m = meter.clone();
    let r = root.clone();
    let run = move || -> Result<ProjectDecl, LoadError> {
        let engine = Engine::new(r.clone(), m.clone());
        let mut l = Loader::new(&engine, &r, None, m);
        let project_file = r.join("PROJECT.star");
        l.set_phase(Phase::Project, "", 0, &project_file);
        l.eval_file(&project_file, Which::Base)?;
        let decl = engine.state.borrow().project.clone().map(|(d, _)| d).ok_or_else(|| {
            LoadError::Invalid(format!("{}: PROJECT.star did not call project()", project_file.display()))
        })?;
        Ok(decl)
    };
    match bounded::run(bounded::LOAD, &limits, Some(clock), run) {
        Ok(decl) => Ok((root, decl?)),
        Err(stop) => Err(stopped(&meter, stop)),
    }
}

#[derive(Clone, Copy)]
enum Which {
    Base,
    Ctx,
}

impl<'a> Loader<'a> {
    /// A loader for the project at `root`, whose files may then belong to the project only
    /// (module roots are added once modules are resolved).
    fn new(engine: &'a Engine, root: &Path, collect: Option<Collected>, meter: Arc<Meter>) -> Loader<'a> {
        let ctx = Ctx { state: engine.ctx.clone() };
        engine.state.borrow_mut().roots = Roots { project: root.to_path_buf(), modules: Vec::new() };
        Loader {
            engine,
            globals: globals(&ctx),
            cache: HashMap::new(),
            sources: BTreeMap::new(),
            order: Vec::new(),
            collect,
            meter,
            read: 0,
            files: 0,
        }
    }

    fn limits(&self) -> &LoadLimits {
        &self.meter.limits
    }

    /// The text of `path`: read without blocking, a regular file, within `max_file_bytes`
    /// and, with what was read before, within `max_total_bytes` and `max_files`.
    fn read(&mut self, path: &Path) -> Result<String, LoadError> {
        self.files += 1;
        if self.files > self.limits().max_files {
            let value = self.limits().max_files;
            return Err(LoadError::Limit { file: path.to_path_buf(), location: None, limit: Limit::Files, value });
        }
        let text = read_star_text(path, self.limits().max_file_bytes)?;
        self.read = self.read.saturating_add(text.len() as u64);
        if self.read > self.limits().max_total_bytes {
            let value = self.limits().max_total_bytes;
            return Err(LoadError::Limit { file: path.to_path_buf(), location: None, limit: Limit::TotalBytes, value });
        }
        Ok(text)
    }

    fn parse(&self, path: &Path, text: String) -> Result<ParsedFile, LoadError> {
        ParsedFile::parse_with(path, text, self.limits()).map_err(|e| match e {
            ParseError::Syntax(e) => LoadError::Eval(e.to_string()),
            ParseError::TooDeep { location, limit } => LoadError::Limit {
                file: path.to_path_buf(),
                location: Some(location),
                limit: Limit::ParseDepth,
                value: limit,
            },
        })
    }

    /// The load error for a failed evaluation of `path`: a limit hit if the meter (or
    /// starlark's call-stack check) says so, else starlark's error.
    fn eval_error(&self, path: &Path, e: ::starlark::Error) -> LoadError {
        let limit = match self.meter.take_tripped() {
            Some(l) => Some(l),
            None if matches!(e.kind(), ::starlark::ErrorKind::StackOverflow(_)) => Some(Limit::CallDepth),
            None => None,
        };
        match limit {
            Some(limit) => {
                let location = self.meter.location();
                let file = location.as_ref().map(|l| l.file.clone()).unwrap_or_else(|| path.to_path_buf());
                LoadError::Limit { file, location, limit, value: limit.value(self.limits()) }
            }
            None => {
                // A refused field is shown at its value; anything else as Starlark says.
                let pending = self.engine.state.borrow_mut().pending_field.take();
                match pending.and_then(|p| super::field_span::locate(&p, &self.sources)) {
                    Some(d) => LoadError::Located(Box::new(d)),
                    None => LoadError::Eval(e.to_string()),
                }
            }
        }
    }

    /// In an audit load, record the error (a refusal if it is one) and go on; otherwise
    /// return it.
    fn soft(&mut self, r: Result<(), LoadError>) -> Result<(), LoadError> {
        match (r, self.collect.as_mut()) {
            (Ok(()), _) => Ok(()),
            (Err(e), None) => Err(e),
            (Err(LoadError::Refused { location, message }), Some(c)) => {
                c.refusals.push(Refusal { rule: "module-ships-commands", location, message });
                Ok(())
            }
            (Err(e), Some(c)) => {
                if c.seen.insert(e.to_string()) {
                    c.errors.push(e);
                }
                Ok(())
            }
        }
    }

    fn set_phase(&self, phase: Phase, module: &str, priority: i32, walker_file: &Path) {
        let mut st = self.engine.state.borrow_mut();
        st.phase = phase;
        st.module = module.to_string();
        st.priority = priority;
        st.walker_file = walker_file.to_path_buf();
    }

    /// Evaluate `<root>/<dir>/**/*.star` of the project (top priority), then of each module.
    fn phase(
        &mut self,
        phase: Phase,
        root: &Path,
        modules: &[ResolvedModule],
        project_priority: i32,
    ) -> Result<(), LoadError> {
        let which = if phase == Phase::Machines { Which::Base } else { Which::Ctx };
        for (name, dir, prio) in std::iter::once(("", root, project_priority))
            .chain(modules.iter().map(|m| (m.name.as_str(), m.dir.as_path(), m.priority)))
        {
            for file in walk(dir, phase.dir()) {
                let file = match file {
                    Ok(f) => f,
                    Err(e) => {
                        self.soft(Err(e))?;
                        continue;
                    }
                };
                if self.cache.contains_key(&file) {
                    continue; // already evaluated through a load()
                }
                self.set_phase(phase, name, prio, &file);
                let r = self.eval_file(&file, which);
                self.soft(r)?;
            }
        }
        Ok(())
    }

    /// Peek at a module's MODULE.star for `module_info()` only.
    fn peek(&mut self, dir: &Path) -> Result<Option<ModuleInfo>, String> {
        let file = dir.join("MODULE.star");
        if !file.exists() {
            return Ok(None);
        }
        let saved = self.engine.state.borrow().phase;
        self.engine.state.borrow_mut().phase = Phase::Peek;
        self.engine.state.borrow_mut().module_info = None;
        self.meter.set_file(&file);
        let text = self.read(&file).map_err(|e| e.to_string())?;
        let parsed = self.parse(&file, text).map_err(|e| e.to_string())?;
        let engine = self.engine;
        let globals = &self.globals.peek;
        let meter = self.meter.clone();
        meter.set_file(&file);
        let result = Module::with_temp_heap(|module| {
            let loader = NoLoads;
            let mut eval = Evaluator::new(&module);
            eval.extra = Some(engine);
            eval.set_loader(&loader);
            if let Err(limit) = meter.arm(&mut eval) {
                return Err(meter.trip(limit));
            }
            let r = eval.eval_module(parsed.ast, globals).map(|_| ());
            meter.finish(&eval);
            r
        });
        if let Err(e) = &result
            && let Some(limit) = meter.take_tripped()
        {
            // A limit hit while peeking is the load's error, not "no module_info".
            let _ = e;
            let location = meter.location();
            let file = location.as_ref().map(|l| l.file.clone()).unwrap_or(file);
            self.engine.state.borrow_mut().phase = saved;
            return Err(LoadError::Limit { file, location, limit, value: limit.value(self.limits()) }.to_string());
        }
        let mut st = self.engine.state.borrow_mut();
        st.phase = saved;
        let info = st.module_info.take();
        match (result, info) {
            (_, Some(info)) => Ok(Some(info)),
            // As in Go yoe: a MODULE.star that cannot be peeked names itself by its path.
            (Ok(()), None) | (Err(_), None) => Ok(None),
        }
    }

    /// Parse, check, resolve loads, evaluate and freeze one file (once).
    fn eval_file(&mut self, path: &Path, which: Which) -> Result<(), LoadError> {
        if self.cache.contains_key(path) {
            return Ok(());
        }
        if let Some(c) = self.collect.as_ref() {
            if c.failed.contains(path) {
                return Err(LoadError::Invalid(format!("{} failed to load (reported above)", path.display())));
            }
            if c.excluded.contains(path) {
                return Err(LoadError::Invalid(format!(
                    "{} was left out: it stopped an earlier attempt at a hard limit (reported above)",
                    path.display()
                )));
            }
            if let Some(limit) = c.exhausted {
                return Err(LoadError::Invalid(format!(
                    "the model pass reached load limit `{}` = {}; later files were not evaluated",
                    limit.key(),
                    limit.value(&self.meter.limits)
                )));
            }
        }
        let checkpoint = self.meter.checkpoint();
        let r = self.eval_file_once(path, which);
        if let (Err(e), Some(c)) = (&r, self.collect.as_mut()) {
            c.failed.insert(path.to_path_buf());
            match e.limit() {
                // The file is left out: its steps do not count against the rest.
                Some(Limit::Steps) => self.meter.restore(checkpoint),
                Some(l @ (Limit::CpuMs | Limit::Files | Limit::TotalBytes)) => c.exhausted = Some(l),
                _ => {}
            }
        }
        r
    }

    fn eval_file_once(&mut self, path: &Path, which: Which) -> Result<(), LoadError> {
        let root = self.engine.root.clone();
        {
            let st = self.engine.state.borrow();
            if st.eval_stack.iter().any(|p| p == path) {
                let mut chain: Vec<String> = st.eval_stack.iter().map(|p| rel(p, &root)).collect();
                chain.push(rel(path, &root));
                return Err(LoadError::Invalid(format!("load cycle: {}", chain.join(" → "))));
            }
        }
        // Placed in this file from here on: a stop while parsing it must not be put at the
        // last statement of another.
        self.meter.set_file(path);
        let text = self.read(path)?;
        let parsed = self.parse(path, text)?;
        match self.collect.as_mut() {
            None => check_refused(&parsed, &root)?,
            Some(c) => c.refusals.extend(refused(&parsed).into_iter().map(|e| match e {
                LoadError::Located(d) => Refusal {
                    rule: "removed-escalation-kwarg",
                    location: d.location.clone(),
                    message: d.message.clone(),
                },
                other => Refusal {
                    rule: "removed-escalation-kwarg",
                    location: Location::file_only(path),
                    message: other.to_string(),
                },
            })),
        }
        self.sources.insert(path.to_path_buf(), parsed.text.clone());

        // Resolve and evaluate the loads first (each at most once).
        let mut digest = Sha256::new();
        digest.update(path.as_os_str().as_encoded_bytes());
        digest.update([0]);
        digest.update(parsed.text.as_bytes());
        let mut labels: Vec<(String, PathBuf)> = Vec::new();
        for load in parsed.loads() {
            let target = {
                let st = self.engine.state.borrow();
                st.roots.resolve(&load.label, path)
            }
            .map_err(|e| located(&parsed, load.span.clone(), e.to_string(), "this load", None))?;
            // This file's load() nests one level below the files that loaded it.
            let depth = self.engine.state.borrow().eval_stack.len() as u64 + 1;
            if depth > self.limits().max_load_depth {
                return Err(LoadError::Limit {
                    file: path.to_path_buf(),
                    location: Some(parsed.location(load.span.clone())),
                    limit: Limit::LoadDepth,
                    value: self.limits().max_load_depth,
                });
            }
            self.engine.state.borrow_mut().eval_stack.push(path.to_path_buf());
            let r = self.eval_file(&target, which);
            self.engine.state.borrow_mut().eval_stack.pop();
            r?;
            let st = self.engine.state.borrow();
            digest.update(st.closure_digest.get(&target).map(String::as_bytes).unwrap_or_default());
            labels.push((load.label, target));
        }
        let digest = hex(&digest.finalize());
        self.engine.state.borrow_mut().closure_digest.insert(path.to_path_buf(), digest);

        let modules: HashMap<&str, &FrozenModule> =
            labels.iter().filter_map(|(label, p)| self.cache.get(p).map(|m| (label.as_str(), m))).collect();
        let globals = match which {
            Which::Base => &self.globals.base,
            Which::Ctx => &self.globals.with_ctx,
        };
        let engine = self.engine;
        let meter = self.meter.clone();
        meter.set_file(path);
        engine.state.borrow_mut().eval_stack.push(path.to_path_buf());
        engine.state.borrow_mut().pending_field = None;
        let result = Module::with_temp_heap(|module| {
            {
                let loader = ReturnFileLoader { modules: &modules };
                let print = LogPrint;
                let mut eval = Evaluator::new(&module);
                eval.extra = Some(engine);
                eval.set_loader(&loader);
                eval.set_print_handler(&print);
                if let Err(limit) = meter.arm(&mut eval) {
                    let value = limit.value(&meter.limits);
                    return Err(LoadError::Limit { file: path.to_path_buf(), location: None, limit, value });
                }
                let r = eval.eval_module(parsed.ast, globals);
                meter.finish(&eval);
                r.map_err(|e| self.eval_error(path, e))?;
            }
            module.freeze().map_err(|e| LoadError::Invalid(format!("{}: freezing module: {e:?}", rel(path, &root))))
        });
        engine.state.borrow_mut().eval_stack.pop();
        let frozen = result?;
        self.cache.insert(path.to_path_buf(), frozen);
        self.order.push(path.to_path_buf());
        Ok(())
    }
}

struct NoLoads;

impl FileLoader for NoLoads {
    fn load(&self, path: &str) -> ::starlark::Result<FrozenModule> {
        Err(::starlark::Error::new_other(anyhow::anyhow!(
            "load({path:?}) is not available while peeking at MODULE.star"
        )))
    }
}

/// `.star` files under `root/dir`, recursively, in lexical order; each must stay in `root`.
fn walk(root: &Path, dir: &str) -> Vec<Result<PathBuf, LoadError>> {
    let base = root.join(dir);
    if !base.is_dir() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut it = walkdir::WalkDir::new(&base).sort_by_file_name().follow_links(false).into_iter();
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.push(Err(LoadError::Io { path: base.clone(), message: e.to_string() }));
                continue;
            }
        };
        let p = entry.path();
        if p.extension().is_none_or(|e| e != "star") {
            continue;
        }
        let io = |e: std::io::Error| LoadError::Io { path: p.to_path_buf(), message: e.to_string() };
        let canonical = match p.canonicalize() {
            Ok(c) => c,
            Err(e) => {
                out.push(Err(io(e)));
                continue;
            }
        };
        // A fifo, socket, device or directory named `*.star` is refused, not skipped (and
        // never opened, so it cannot stall the load).
        let ft = match std::fs::metadata(&canonical) {
            Ok(m) => m.file_type(),
            Err(e) => {
                out.push(Err(io(e)));
                continue;
            }
        };
        if !ft.is_file() {
            if entry.file_type().is_dir() {
                it.skip_current_dir();
            }
            out.push(Err(LoadError::NotRegular { path: p.to_path_buf(), kind: kind_of(ft) }));
            continue;
        }
        if !canonical.starts_with(root) {
            out.push(Err(LoadError::Invalid(format!(
                "{} resolves to {}, outside its root {}",
                p.display(),
                canonical.display(),
                root.display()
            ))));
            continue;
        }
        out.push(Ok(canonical));
    }
    out
}

/// `commands/*.star` run `ctx.shell()` on the host in Go yoe; yoe refuses to load them.
fn check_no_commands(root: &Path) -> Result<(), LoadError> {
    let dir = root.join("commands");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    let mut found: Vec<PathBuf> =
        rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "star")).collect();
    found.sort();
    match found.first() {
        None => Ok(()),
        Some(f) => Err(LoadError::Refused {
            location: Location::file_only(f.clone()),
            message: format!(
                "{}: custom commands (commands/*.star) are refused: they run ctx.shell() on the host, outside any sandbox [rule: removed-escalation-kwarg]",
                f.display()
            ),
        }),
    }
}

/// Load-time refusals visible in the text: a literal `host=True` / `privileged=True` in a
/// `run()` call anywhere in the file.
fn check_refused(f: &ParsedFile, _root: &Path) -> Result<(), LoadError> {
    match refused(f).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every literal `host=True` / `privileged=True` in a `run()` call of the file, in order.
fn refused(f: &ParsedFile) -> Vec<LoadError> {
    let mut out = Vec::new();
    for call in f.calls() {
        if call.callee != "run" {
            continue;
        }
        for kw in ["privileged", "host"] {
            if let Some(arg) = call.kwarg(kw).filter(|a| a.value == Literal::Bool(true)) {
                let why = if kw == "host" {
                    "yoe never runs build code on the host; every step runs in the sandbox"
                } else {
                    "yoe never runs build code as root; filesystems, images and ownership are produced by yoe's drivers"
                };
                out.push(located(
                    f,
                    arg.span.clone(),
                    format!("run({kw}=True) is refused: {why}"),
                    "refused here",
                    Some(
                        "remove the argument; see `yoe audit` rule removed-escalation-kwarg and docs/differences.md"
                            .into(),
                    ),
                ));
            }
        }
    }
    out
}

fn located(
    f: &ParsedFile,
    span: std::ops::Range<usize>,
    message: String,
    label: &str,
    help: Option<String>,
) -> LoadError {
    LoadError::Located(Box::new(Diagnostic {
        location: f.location(span.clone()),
        message,
        source: f.text.clone(),
        span,
        label: label.to_string(),
        help,
    }))
}

/// The provides table, filled name-sorted from the winning units, as Go yoe does. Two
/// providers at the same priority are an error naming both definitions.
fn provides_table(engine: &Engine) -> Result<BTreeMap<String, String>, LoadError> {
    let st = engine.state.borrow();
    let mut table = st.provides.clone();
    for (name, u) in &st.flat {
        for virt in u.provides.iter().filter(|v| !v.is_empty()) {
            let Some(existing_name) = table.get(virt.as_str()).cloned() else {
                table.insert(virt.to_string(), name.clone());
                continue;
            };
            let Some(existing) = st.flat.get(&existing_name) else {
                table.insert(virt.to_string(), name.clone()); // a machine kernel seed: units win
                continue;
            };
            if u.distro.is_some() && existing.distro.is_some() && u.distro != existing.distro {
                continue;
            }
            if existing.priority == u.priority && existing.name != u.name {
                return Err(LoadError::Invalid(format!(
                    "virtual package {virt:?} is provided by both {:?} ({}, {}) and {:?} ({}, {}) at the same priority; \
                     rename one, drop one `provides`, or move one into a module that ranks differently",
                    existing.name,
                    existing.defined_at.relative_to(&engine.root),
                    source_name(&existing.module),
                    u.name,
                    u.defined_at.relative_to(&engine.root),
                    source_name(&u.module),
                )));
            }
            if u.priority > existing.priority {
                table.insert(virt.to_string(), name.clone());
            }
        }
    }
    Ok(table)
}

fn check_prefer_modules(
    prefer: &BTreeMap<Ident, BTreeMap<Ident, Ident>>,
    modules: &[ResolvedModule],
    feeds: &[crate::model::Feed],
) -> Result<(), LoadError> {
    let mut known: Vec<String> = modules.iter().map(|m| m.name.to_string()).collect();
    known.extend(feeds.iter().map(|f| format!("{}.{}", f.module, f.name)));
    for (distro, pins) in prefer {
        let (distro, pins) = (distro.as_str(), pins);
        for (unit, module) in pins {
            let (unit, module) = (unit.as_str(), module.as_str());
            if known.iter().any(|k| k == module) {
                continue;
            }
            let refs: Vec<&str> = known.iter().map(String::as_str).collect();
            let hint = crate::model::fields::suggest(module, &refs)
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            return Err(LoadError::Invalid(format!(
                "project(): prefer_modules[{distro:?}][{unit:?}] names module {module:?}, which is not loaded{hint}; known modules: {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// A name given on the command line, checked like the names in `.star` files.
fn cli_name(kind: NameKind, flag: &str, value: &str) -> Result<Ident, LoadError> {
    Ident::new(kind, value).map_err(|e| LoadError::Invalid(format!("{flag}: {e}")))
}

fn rel(p: &Path, root: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
