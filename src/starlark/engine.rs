//! Loader state shared by the builtins while `.star` files evaluate: the current phase and
//! module, and everything registered so far (project, machines, units, feeds). It applies
//! Go yoe's registration rules (priority, shadowing, cross-distro pairs) and nothing else.
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ::starlark::codemap::FileSpan;
use ::starlark::environment::Module;
use ::starlark::eval::Evaluator;
use ::starlark::values::Value;

pub use super::marker::Engine;
use super::values::CtxState;
use crate::model::project::ProjectDecl;
use crate::model::step::FnRef;
use crate::model::unit::DeclSite;
use crate::model::{Feed, FnId, LocalOverrides, Location, Machine, ModuleRef, ShadowEvent, Unit};

/// Which kind of file is being evaluated; builtins check it where Go yoe's rules depend on it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    Project,
    Local,
    Peek,
    Machines,
    ModuleStar,
    Containers,
    Units,
    Images,
}

impl Phase {
    pub fn dir(self) -> &'static str {
        match self {
            Phase::Machines => "machines",
            Phase::Containers => "containers",
            Phase::Units => "units",
            Phase::Images => "images",
            Phase::Project | Phase::Local | Phase::Peek | Phase::ModuleStar => "",
        }
    }
}

/// What a MODULE.star said about itself.
#[derive(Debug, Clone)]
pub struct ModuleInfo {
    pub name: crate::model::Ident,
    pub description: String,
    pub deps: Vec<ModuleRef>,
}

#[derive(Debug)]
pub struct State {
    pub phase: Phase,
    pub module: String,
    pub priority: i32,
    /// The file the phase walker is evaluating (units get `defined_in` from it).
    pub walker_file: PathBuf,
    /// Files being evaluated right now, outermost first (load() nests).
    pub eval_stack: Vec<PathBuf>,
    /// sha256 of the load closure of each evaluated file.
    pub closure_digest: HashMap<PathBuf, String>,
    pub project: Option<(ProjectDecl, Location)>,
    pub local: Option<LocalOverrides>,
    pub module_info: Option<ModuleInfo>,
    pub machines: BTreeMap<String, Machine>,
    /// One unit per name (first registration keeps the slot for cross-distro pairs).
    pub flat: BTreeMap<String, Unit>,
    /// Per-module catalogue (module `""` is the project root).
    pub by_module: BTreeMap<String, BTreeMap<String, Unit>>,
    pub shadows: Vec<ShadowEvent>,
    pub feeds: Vec<Feed>,
    pub commands: Vec<String>,
    /// Callables kept alive: (file whose module holds it, hidden global name).
    pub stashed: Vec<(PathBuf, String)>,
    /// The distro units are resolved for (may be empty: every unit is visible).
    pub distro: String,
    pub prefer_modules: BTreeMap<String, BTreeMap<String, String>>,
    /// Virtual name → unit name, as known so far (seeded by the machine's kernel).
    pub provides: BTreeMap<String, String>,
    /// Roots files may belong to, known once modules are resolved.
    pub roots: super::labels::Roots,
    /// Audit load: external container images are kept (and recorded) instead of refused.
    pub audit: bool,
    /// Refusals recorded instead of raised (audit load only).
    pub refusals: Vec<super::Refusal>,
    /// The field a builtin refused last, for a diagnostic at its value.
    pub pending_field: Option<super::field_span::PendingField>,
}

impl Engine {
    pub fn new(root: PathBuf, meter: Arc<super::meter::Meter>) -> Engine {
        Engine {
            root,
            meter,
            ctx: Arc::new(Mutex::new(CtxState::default())),
            state: RefCell::new(State {
                phase: Phase::Project,
                module: String::new(),
                priority: 0,
                walker_file: PathBuf::new(),
                eval_stack: Vec::new(),
                closure_digest: HashMap::new(),
                project: None,
                local: None,
                module_info: None,
                machines: BTreeMap::new(),
                flat: BTreeMap::new(),
                by_module: BTreeMap::new(),
                shadows: Vec::new(),
                feeds: Vec::new(),
                commands: Vec::new(),
                stashed: Vec::new(),
                distro: String::new(),
                prefer_modules: BTreeMap::new(),
                provides: BTreeMap::new(),
                roots: super::labels::Roots::default(),
                audit: false,
                refusals: Vec::new(),
                pending_field: None,
            }),
        }
    }

    pub fn from_eval<'a>(eval: &'a Evaluator) -> Option<&'a Engine> {
        eval.extra.and_then(|e| e.downcast_ref::<Engine>())
    }

    /// Record a refused field (so the loader can point at its value) and return the error
    /// for Starlark to raise.
    pub fn refuse(&self, eval: &Evaluator, error: crate::model::FieldError) -> anyhow::Error {
        let frames = eval.call_stack().frames.iter().filter_map(|f| f.location.as_ref().map(location_of)).collect();
        let e = anyhow::anyhow!("{error}");
        self.state.borrow_mut().pending_field = Some(super::field_span::PendingField { error, frames });
        e
    }

    pub fn phase(&self) -> Phase {
        self.state.borrow().phase
    }

    /// Where the current builtin call happens: every Starlark frame, outermost first, and
    /// the frame that lies in the file the walker is evaluating (the user's call).
    pub fn site(&self, eval: &Evaluator) -> DeclSite {
        let st = self.state.borrow();
        let stack: Vec<Location> =
            eval.call_stack().frames.iter().filter_map(|f| f.location.as_ref().map(location_of)).collect();
        let current = st.eval_stack.last().cloned().unwrap_or_else(|| st.walker_file.clone());
        let defined_at = stack
            .iter()
            .find(|l| l.file == current)
            .or_else(|| stack.last())
            .cloned()
            .unwrap_or_else(|| Location::file_only(current.clone()));
        DeclSite {
            module: st.module.clone(),
            priority: st.priority,
            defined_in: st.walker_file.parent().map(Path::to_path_buf).unwrap_or_default(),
            defined_at,
            call_stack: stack,
        }
    }

    /// Register a unit under Go yoe's rules: same name and priority is an error; different
    /// priorities shadow (highest wins); two different non-empty distro tags coexist.
    pub fn register_unit(&self, unit: Unit) -> Result<(), String> {
        let mut st = self.state.borrow_mut();
        let name = unit.name.to_string();
        let mut cross_distro = false;
        if let Some(existing) = st.flat.get(&name) {
            cross_distro = unit.distro.is_some() && existing.distro.is_some() && unit.distro != existing.distro;
            if !cross_distro {
                if existing.priority == unit.priority {
                    return Err(format!(
                        "unit {name:?} is already defined at {} ({}); the same name may not be defined twice by one {}",
                        existing.defined_at.relative_to(&self.root),
                        source_name(&existing.module),
                        if unit.module.is_empty() { "project" } else { "module" },
                    ));
                }
                let (winner, loser) =
                    if unit.priority < existing.priority { (existing, &unit) } else { (&unit, existing) };
                let ev = ShadowEvent {
                    unit: name.clone(),
                    winner_module: winner.module.clone(),
                    winner_at: winner.defined_at.clone(),
                    loser_module: loser.module.clone(),
                    loser_at: loser.defined_at.clone(),
                };
                tracing::debug!(unit = %name, winner = %source_name(&ev.winner_module), loser = %source_name(&ev.loser_module), "unit shadowed");
                let loses = unit.priority < existing.priority;
                st.shadows.push(ev);
                if loses {
                    st.by_module.entry(unit.module.clone()).or_default().insert(name, unit);
                    return Ok(());
                }
            }
        }
        if !cross_distro {
            st.flat.insert(name.clone(), unit.clone());
        }
        st.by_module.entry(unit.module.clone()).or_default().insert(name, unit);
        Ok(())
    }

    /// Runtime closure of `roots` for `distro` (deps first, deterministic), as Go yoe's
    /// `resolve_closure()`.
    pub fn closure(&self, roots: &[String], distro: &str) -> Result<Vec<String>, String> {
        let st = self.state.borrow();
        let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut queue: std::collections::VecDeque<(String, Option<String>)> =
            roots.iter().map(|r| (r.clone(), None)).collect();
        while let Some((raw, parent)) = queue.pop_front() {
            let u = lookup(&st, &raw, distro).ok_or_else(|| match &parent {
                None => format!("unresolved name {raw:?} (not in any module, no provider, or filtered by distro={distro:?})"),
                Some(p) => format!("unresolved name {raw:?} (runtime dep of {p:?}; not in any module, no provider, or filtered by distro={distro:?})"),
            })?;
            if deps.contains_key(u.name.as_str()) {
                continue;
            }
            let mut resolved: Vec<String> = Vec::new();
            for d in u.runtime_deps_for(distro) {
                let du = lookup(&st, &d, distro).ok_or_else(|| {
                    format!("unresolved name {d:?} (runtime dep of {:?}; not in any module, no provider, or filtered by distro={distro:?})", u.name)
                })?;
                resolved.push(du.name.to_string());
            }
            for r in &resolved {
                queue.push_back((r.clone(), Some(u.name.to_string())));
            }
            deps.insert(u.name.to_string(), resolved);
        }
        Ok(crate::graph::topo_layers(&deps))
    }
}

/// Look a name up for a distro: through provides first, then [`find_unit`].
pub fn lookup<'a>(st: &'a State, raw: &str, distro: &str) -> Option<&'a Unit> {
    let name = st.provides.get(raw).map(String::as_str).unwrap_or(raw);
    find_unit(st, name, distro)
}

/// The unit really named `name` for a distro: a `prefer_modules` pin, then the flat
/// catalogue, then the highest-priority visible unit of any module (cross-distro pairs).
pub fn find_unit<'a>(st: &'a State, name: &str, distro: &str) -> Option<&'a Unit> {
    if let Some(pinned) = st.prefer_modules.get(distro).and_then(|p| p.get(name))
        && let Some(u) = st.by_module.get(pinned).and_then(|m| m.get(name)).filter(|u| u.visible_to(distro))
    {
        return Some(u);
    }
    if let Some(u) = st.flat.get(name).filter(|u| u.visible_to(distro)) {
        return Some(u);
    }
    st.by_module.values().filter_map(|m| m.get(name)).filter(|u| u.visible_to(distro)).max_by_key(|u| u.priority)
}

pub fn source_name(module: &str) -> String {
    if module.is_empty() { "project root".to_string() } else { format!("module {module:?}") }
}

pub fn location_of(fs: &FileSpan) -> Location {
    let r = fs.resolve_span();
    Location {
        file: PathBuf::from(fs.filename()),
        line: r.begin.line as u32 + 1,
        column: r.begin.column as u32 + 1,
        end_line: r.end.line as u32 + 1,
        end_column: r.end.column as u32 + 1,
    }
}

impl Engine {
    /// Keep a callable alive as a hidden global of the module being evaluated, so it
    /// survives freezing and can be called at build time.
    pub fn stash<'v>(&self, value: Value<'v>, module: &Module<'v>) -> FnRef {
        let mut st = self.state.borrow_mut();
        let id = st.stashed.len() as u32;
        let global = format!("_yoe_fn_{id}");
        module.set(&global, value);
        let file = st.eval_stack.last().cloned().unwrap_or_default();
        let digest = st.closure_digest.get(&file).cloned().unwrap_or_default();
        st.stashed.push((file, global));
        let repr = value.to_repr();
        let name = repr.strip_prefix("<function ").and_then(|r| r.strip_suffix('>')).unwrap_or(&repr);
        // Lambdas print as `<path>.lambda`: show the path relative to the project.
        let name = name.strip_prefix(&format!("{}/", self.root.display())).unwrap_or(name).to_string();
        FnRef { id: FnId(id), name, source_digest: digest }
    }
}
