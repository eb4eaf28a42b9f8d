//! The build DAG of a loaded project (Go yoe's edges: build deps, image artifacts,
//! container units, and the runtime closure of build deps; plus, for images, the runtime
//! closure of their artifacts, so an image starts only once every output it copies is
//! finished and its key covers all of them), its deterministic topological order, and
//! cycle reports that print the cycle. Pure: works on the model only.
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use crate::model::{Project, Unit};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("unit {unit:?} depends on {dep:?}, which does not exist (no unit or provider of that name{hint})")]
    MissingDep { unit: String, dep: String, hint: String },
    #[error("dependency cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    #[error("unknown unit {0:?}{1}")]
    UnknownUnit(String, String),
}

/// Why an edge exists, for `yoe graph` and `yoe desc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Dep,
    Artifact,
    Container,
    RuntimeOfDep,
    /// A member of an image's rootfs: the runtime closure of its artifacts.
    RuntimeOfArtifact,
}

#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// unit → (dep, why), deps sorted by name.
    pub deps: BTreeMap<String, Vec<(String, EdgeKind)>>,
    pub rdeps: BTreeMap<String, Vec<String>>,
}

impl Graph {
    /// Build the DAG over every unit of the project's current view.
    pub fn build(project: &Project) -> Result<Graph, GraphError> {
        let distro = project.distro.as_str();
        let mut deps: BTreeMap<String, Vec<(String, EdgeKind)>> = BTreeMap::new();
        for (name, unit) in &project.units {
            let mut edges: Vec<(String, EdgeKind)> = Vec::new();
            let mut seen = BTreeSet::new();
            let mut add = |dep: &str, kind: EdgeKind, edges: &mut Vec<(String, EdgeKind)>| -> Result<(), GraphError> {
                let resolved = project.resolve_name(dep);
                if resolved == name {
                    return Ok(());
                }
                if !project.units.contains_key(resolved) {
                    return Err(GraphError::MissingDep {
                        unit: name.clone(),
                        dep: dep.to_string(),
                        hint: hint(project, dep),
                    });
                }
                if seen.insert(resolved.to_string()) {
                    edges.push((resolved.to_string(), kind));
                }
                Ok(())
            };
            for d in unit.deps_for(distro) {
                add(&d, EdgeKind::Dep, &mut edges)?;
            }
            if unit.is_image() {
                for a in &unit.artifacts {
                    add(a, EdgeKind::Artifact, &mut edges)?;
                }
            }
            for c in container_refs(unit) {
                // A container that names no unit is caught at build time with a clear message.
                if project.unit(&c).is_some() {
                    add(&c, EdgeKind::Container, &mut edges)?;
                }
            }
            // The runtime closure of each build dep (of each artifact, for an image) must be
            // built before this unit: a sysroot or a rootfs copies all of it.
            let kind = if unit.is_image() { EdgeKind::RuntimeOfArtifact } else { EdgeKind::RuntimeOfDep };
            let mut queue: VecDeque<String> = edges.iter().map(|(d, _)| d.clone()).collect();
            while let Some(d) = queue.pop_front() {
                let Some(du) = project.units.get(&d) else {
                    continue;
                };
                for r in du.runtime_deps_for(distro) {
                    let resolved = project.resolve_name(&r).to_string();
                    if resolved == *name || seen.contains(&resolved) {
                        continue;
                    }
                    if !project.units.contains_key(&resolved) {
                        if unit.is_image() {
                            // The image would ship a rootfs without it: say so now, not at build time.
                            return Err(GraphError::MissingDep {
                                unit: d.clone(),
                                dep: r.to_string(),
                                hint: hint(project, &r),
                            });
                        }
                        continue;
                    }
                    seen.insert(resolved.clone());
                    edges.push((resolved.clone(), kind));
                    queue.push_back(resolved);
                }
            }
            edges.sort();
            deps.insert(name.clone(), edges);
        }
        let mut rdeps: BTreeMap<String, Vec<String>> = deps.keys().map(|k| (k.clone(), Vec::new())).collect();
        for (name, ds) in &deps {
            for (d, _) in ds {
                rdeps.entry(d.clone()).or_default().push(name.clone());
            }
        }
        let g = Graph { deps, rdeps };
        g.order()?;
        Ok(g)
    }

    /// All units in a deterministic topological order: deps first, ties by name.
    pub fn order(&self) -> Result<Vec<String>, GraphError> {
        let plain: BTreeMap<String, Vec<String>> =
            self.deps.iter().map(|(k, v)| (k.clone(), v.iter().map(|(d, _)| d.clone()).collect())).collect();
        kahn(&plain)
    }

    /// `targets` and everything they transitively depend on, in build order.
    pub fn plan(&self, targets: &[String]) -> Result<Vec<String>, GraphError> {
        let mut want = BTreeSet::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        for t in targets {
            if !self.deps.contains_key(t) {
                return Err(GraphError::UnknownUnit(t.clone(), suggest_unit(self, t)));
            }
            queue.push_back(t.clone());
        }
        while let Some(n) = queue.pop_front() {
            if want.insert(n.clone()) {
                for (d, _) in &self.deps[&n] {
                    queue.push_back(d.clone());
                }
            }
        }
        Ok(self.order()?.into_iter().filter(|n| want.contains(n)).collect())
    }

    /// Direct dependencies of a unit.
    pub fn deps_of(&self, unit: &str) -> &[(String, EdgeKind)] {
        self.deps.get(unit).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Everything that (transitively, if `transitive`) depends on `unit`, sorted.
    pub fn dependents(&self, unit: &str, transitive: bool) -> Vec<String> {
        let mut out = BTreeSet::new();
        let mut queue: VecDeque<&str> = VecDeque::from([unit]);
        while let Some(n) = queue.pop_front() {
            for r in self.rdeps.get(n).into_iter().flatten() {
                if out.insert(r.clone()) && transitive {
                    queue.push_back(r);
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Units named by `container=` on the unit or its tasks.
pub fn container_refs(unit: &Unit) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if !unit.container.is_empty() {
        out.push(unit.container.clone());
    }
    for t in &unit.tasks {
        if let Some(c) = &t.container
            && !out.contains(c)
        {
            out.push(c.clone());
        }
    }
    out
}

fn hint(project: &Project, dep: &str) -> String {
    let names: Vec<&str> =
        project.units.keys().map(String::as_str).chain(project.provides.keys().map(String::as_str)).collect();
    crate::model::fields::suggest(dep, &names).map(|s| format!("; did you mean {s:?}?")).unwrap_or_default()
}

fn suggest_unit(g: &Graph, name: &str) -> String {
    let names: Vec<&str> = g.deps.keys().map(String::as_str).collect();
    crate::model::fields::suggest(name, &names).map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default()
}

/// Kahn's algorithm with a sorted ready set; on a cycle, report one cycle in order.
pub fn kahn(deps: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, GraphError> {
    let mut indeg: BTreeMap<&str, usize> = deps.keys().map(|k| (k.as_str(), 0)).collect();
    let mut rdeps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (n, ds) in deps {
        for d in ds {
            if deps.contains_key(d) && d != n {
                *indeg.entry(n).or_default() += 1;
                rdeps.entry(d.as_str()).or_default().push(n.as_str());
            }
        }
    }
    let mut ready: BTreeSet<&str> = indeg.iter().filter(|(_, d)| **d == 0).map(|(n, _)| *n).collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(n) = ready.pop_first() {
        order.push(n.to_string());
        for r in rdeps.get(n).into_iter().flatten() {
            let e = indeg.entry(r).or_default();
            *e -= 1;
            if *e == 0 {
                ready.insert(r);
            }
        }
    }
    if order.len() == deps.len() {
        return Ok(order);
    }
    let remaining: BTreeMap<String, Vec<String>> = deps
        .iter()
        .filter(|(n, _)| !order.contains(n))
        .map(|(n, ds)| (n.clone(), ds.iter().filter(|d| !order.contains(d)).cloned().collect()))
        .collect();
    let cycle = crate::starlark::modules::find_cycle(&remaining).unwrap_or_else(|| remaining.keys().cloned().collect());
    Err(GraphError::Cycle(cycle))
}

/// Go yoe's `topoOrder` for `resolve_closure`: layers of ready names, each sorted; names
/// stuck in a cycle are appended sorted rather than failing.
pub fn topo_layers(deps: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut indeg: BTreeMap<&str, usize> = deps.keys().map(|k| (k.as_str(), 0)).collect();
    let mut rdeps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (n, ds) in deps {
        let mut counted = BTreeSet::new();
        for d in ds {
            if d == n || !deps.contains_key(d) || !counted.insert(d) {
                continue;
            }
            *indeg.entry(n).or_default() += 1;
            rdeps.entry(d.as_str()).or_default().push(n.as_str());
        }
    }
    let mut ready: Vec<&str> = indeg.iter().filter(|(_, d)| **d == 0).map(|(n, _)| *n).collect();
    let mut order: Vec<String> = Vec::with_capacity(deps.len());
    while !ready.is_empty() {
        ready.sort();
        order.extend(ready.iter().map(|s| s.to_string()));
        let mut next = Vec::new();
        for n in &ready {
            for r in rdeps.get(n).into_iter().flatten() {
                let e = indeg.entry(r).or_default();
                *e -= 1;
                if *e == 0 {
                    next.push(*r);
                }
            }
        }
        ready = next;
    }
    if order.len() < deps.len() {
        let mut stuck: Vec<String> = deps.keys().filter(|k| !order.contains(k)).cloned().collect();
        stuck.sort();
        order.extend(stuck);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn kahn_orders_deps_first_and_ties_by_name() {
        let d = g(&[("app", &["libb", "liba"]), ("liba", &[]), ("libb", &["liba"]), ("zz", &[])]);
        assert_eq!(kahn(&d).unwrap(), ["liba", "libb", "app", "zz"]);
    }

    #[test]
    fn kahn_reports_the_cycle() {
        let d = g(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("x", &[])]);
        assert_eq!(kahn(&d).unwrap_err(), GraphError::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    }

    #[test]
    fn topo_layers_matches_go_yoe() {
        let d = g(&[("musl", &[]), ("busybox", &["musl"]), ("openrc", &["musl", "busybox"])]);
        assert_eq!(topo_layers(&d), ["musl", "busybox", "openrc"]);
    }
}
