//! Module resolution: where each declared module lives on disk, its name (from a peek at
//! its MODULE.star), transitive `module_info(deps=)` with Go yoe's fixpoint, and cycle
//! detection. Where remote modules come from is behind [`ModuleSource`].
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::engine::ModuleInfo;
use super::labels::resolve_within;
use crate::model::project::ProjectDecl;
use crate::model::{Ident, ModuleRef, NameKind, ResolvedModule};

/// Provides the checkout directory of a remote (non-`local=`) module. `Send + Sync`: a load
/// runs on a thread of its own.
pub trait ModuleSource: Send + Sync {
    /// The verified checkout root of `module` (the directory `path=` is relative to).
    /// Nothing in it is evaluated before this returns.
    fn checkout(&self, module: &ModuleRef) -> Result<PathBuf, String>;

    /// Called once PROJECT.star is evaluated, before any module is located.
    fn begin(&self, _project: &ProjectDecl) -> Result<(), String> {
        Ok(())
    }

    /// Called once every module is resolved, before any module file beyond the MODULE.star
    /// peeks is evaluated.
    fn resolved(&self, _modules: &[ResolvedModule]) -> Result<(), String> {
        Ok(())
    }
}

/// Only `local=` modules: a remote module is an error that says how to get it.
pub struct LocalOnly;

impl ModuleSource for LocalOnly {
    fn checkout(&self, m: &ModuleRef) -> Result<PathBuf, String> {
        Err(format!(
            "module {:?} ({}) is not available locally; run `yoe module sync` to fetch the pinned commit, \
             or point `local=` at a checkout inside the project",
            m.basename(),
            m.describe()
        ))
    }
}

/// Limit on transitive rounds, as in Go yoe.
const MAX_ROUNDS: usize = 16;

/// Resolve `declared` modules (from PROJECT.star) plus their transitive deps.
/// `peek` reads a module's MODULE.star for its name and deps.
pub fn resolve(
    root: &Path,
    declared: &[ModuleRef],
    source: &dyn ModuleSource,
    peek: &mut dyn FnMut(&Path) -> Result<Option<ModuleInfo>, String>,
) -> Result<Vec<ResolvedModule>, String> {
    resolve_skipping(root, declared, source, peek, None)
}

/// [`resolve`], but a module whose directory cannot be located (not fetched, or `local=`
/// escaping the project) is recorded in `skipped` and left out instead of failing the whole
/// resolution. Used by `yoe audit`, which reports such modules and audits the rest.
pub fn resolve_skipping(
    root: &Path,
    declared: &[ModuleRef],
    source: &dyn ModuleSource,
    peek: &mut dyn FnMut(&Path) -> Result<Option<ModuleInfo>, String>,
    mut skipped: Option<&mut Vec<(ModuleRef, String)>>,
) -> Result<Vec<ResolvedModule>, String> {
    struct Entry {
        decl: ModuleRef,
        dir: PathBuf,
        info: Option<ModuleInfo>,
        transitive: bool,
    }
    let mut entries: Vec<Entry> = Vec::new();
    // identity → entry index (a skipped transitive declaration maps to the project's one)
    let mut ids: HashMap<String, usize> = HashMap::new();
    // (module that declared it, declaration)
    let mut pending: Vec<(Option<usize>, ModuleRef)> = declared.iter().cloned().map(|m| (None, m)).collect();
    let mut edges: Vec<(usize, usize)> = Vec::new();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        if rounds > MAX_ROUNDS + 1 {
            return Err(format!("module dependencies are nested deeper than {MAX_ROUNDS} levels"));
        }
        let batch = std::mem::take(&mut pending);
        let first_new = entries.len();
        for (parent, decl) in batch {
            let transitive = parent.is_some();
            // A remote module's identity needs no checkout, so a declaration that an
            // earlier one covers (or that the project's declaration overrides) is never
            // located: only the modules that are used are fetched and verified.
            let mut dir = None;
            let id = if decl.local.is_empty() {
                decl.identity(None)
            } else {
                match (locate(root, &decl, source), skipped.as_deref_mut()) {
                    (Ok(d), _) => {
                        let id = decl.identity(Some(&d));
                        dir = Some(d);
                        id
                    }
                    (Err(e), Some(list)) => {
                        list.push((decl, e));
                        continue;
                    }
                    (Err(e), None) => return Err(e),
                }
            };
            let idx = if let Some(&i) = ids.get(&id) {
                i
            } else {
                let base = decl.basename();
                match entries.iter().position(|e| e.decl.basename() == base) {
                    // The project-level declaration of a name wins over a transitive one.
                    Some(i) if !entries[i].transitive && transitive => i,
                    Some(i) => {
                        return Err(format!(
                            "module {base:?} is declared twice at incompatible refs: {} and {} (pin one explicitly at the project level)",
                            entries[i].decl.describe(),
                            decl.describe()
                        ));
                    }
                    None => {
                        let dir = match dir {
                            Some(d) => d,
                            None => match (locate(root, &decl, source), skipped.as_deref_mut()) {
                                (Ok(d), _) => d,
                                (Err(e), Some(list)) => {
                                    list.push((decl, e));
                                    continue;
                                }
                                (Err(e), None) => return Err(e),
                            },
                        };
                        let info = peek(&dir)?;
                        entries.push(Entry { decl, dir, info, transitive });
                        entries.len() - 1
                    }
                }
            };
            ids.insert(id, idx);
            if let Some(p) = parent {
                edges.push((p, idx));
            }
        }
        for (i, e) in entries.iter().enumerate().skip(first_new) {
            for dep in e.info.iter().flat_map(|i| i.deps.iter()) {
                pending.push((Some(i), dep.clone()));
            }
        }
    }
    let names: Vec<Ident> = entries.iter().map(|e| module_name(&e.decl, e.info.as_ref())).collect::<Result<_, _>>()?;
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(names[from].to_string()).or_default().push(names[to].to_string());
    }
    if let Some(cycle) = find_cycle(&graph) {
        return Err(format!("module dependency cycle: {}", cycle.join(" → ")));
    }
    let mut seen_names: HashMap<Ident, PathBuf> = HashMap::new();
    let mut out = Vec::new();
    for (i, (e, name)) in entries.into_iter().zip(names).enumerate() {
        if let Some(prev) = seen_names.insert(name.clone(), e.dir.clone()) {
            return Err(format!(
                "two modules are both named {name:?} ({} and {}); module names must be unique",
                prev.display(),
                e.dir.display()
            ));
        }
        out.push(ResolvedModule {
            name,
            description: e.info.as_ref().map(|i| i.description.clone()).unwrap_or_default(),
            decl: e.decl,
            dir: e.dir,
            priority: i as i32 + 1,
            transitive: e.transitive,
        });
    }
    Ok(out)
}

/// `module_info(name=)` (already an identifier), else the basename of the declaration,
/// which must be one too: it names the module in `@name//` labels and messages.
fn module_name(decl: &ModuleRef, info: Option<&ModuleInfo>) -> Result<Ident, String> {
    if let Some(i) = info {
        return Ok(i.name.clone());
    }
    let base = decl.basename();
    Ident::new(NameKind::Module, &base).map_err(|e| {
        let at = decl.declared_at.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
        format!(
            "{at}module {}: its name comes from the last component of its path or URL, and {e}; give the module a valid `module_info(name=...)`",
            decl.describe()
        )
    })
}

/// The directory holding a module's MODULE.star, contained as the design requires.
fn locate(root: &Path, m: &ModuleRef, source: &dyn ModuleSource) -> Result<PathBuf, String> {
    let at = m.declared_at.as_ref().map(|l| format!("{}: ", l.relative_to(root))).unwrap_or_default();
    let checkout = if !m.local.is_empty() {
        resolve_within(&format!("{at}module {:?}: local={:?}", m.basename(), m.local), root, &m.local, root, "project")?
    } else {
        source.checkout(m).map_err(|e| format!("{at}{e}"))?
    };
    if m.path.is_empty() {
        return Ok(checkout);
    }
    resolve_within(
        &format!("{at}module {:?}: path={:?}", m.basename(), m.path),
        &checkout,
        &m.path,
        &checkout,
        "module checkout",
    )
}

/// A cycle in `graph`, as the list of names with the first repeated at the end.
pub fn find_cycle(graph: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, Vec<String>>,
        state: &mut HashMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(_) => return None,
            None => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = HashMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_is_reported_in_order() {
        let mut g = BTreeMap::new();
        g.insert("a".to_string(), vec!["b".to_string()]);
        g.insert("b".to_string(), vec!["c".to_string()]);
        g.insert("c".to_string(), vec!["a".to_string()]);
        assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
        g.insert("c".to_string(), vec![]);
        assert_eq!(find_cycle(&g), None);
    }
}
