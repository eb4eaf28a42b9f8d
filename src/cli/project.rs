//! Loading the project for a verb: finds the root, loads it, and turns load errors into
//! one readable report.
use std::sync::Arc;

use anyhow::anyhow;

use super::Global;
use crate::graph::Graph;
use crate::starlark::{LoadOptions, Loaded, ModuleSource, find_root, load};

/// A loaded project plus its graph, as most verbs need.
pub struct Session {
    pub loaded: Loaded,
    pub graph: Graph,
}

impl Session {
    /// Load with remote modules from yoe.lock and the verified cache (`crate::module`);
    /// under `--paranoid`, first refuse a dirty project tree.
    pub fn open(g: &Global) -> anyhow::Result<Session> {
        let start = g.project.clone().unwrap_or_else(|| std::path::PathBuf::from("."));
        let root = find_root(&start).map_err(|e| anyhow!("{e}"))?;
        if g.paranoid {
            let req = crate::paranoid::Request { project_root: Some(&root), ..Default::default() };
            super::refuse(crate::paranoid::refusals(&req))?;
        }
        let source = crate::module::LockedSource::open(&root, g.paranoid)?;
        Self::open_with(g, Arc::new(source))
    }

    pub fn open_with(g: &Global, modules: Arc<dyn ModuleSource>) -> anyhow::Result<Session> {
        let start = g.project.clone().unwrap_or_else(|| std::path::PathBuf::from("."));
        let root = find_root(&start).map_err(|e| anyhow!("{e}"))?;
        let mut opts = LoadOptions::new(root.clone(), modules);
        opts.machine = g.machine.clone();
        opts.distro = g.distro.clone();
        let loaded = load(&opts).map_err(|e| anyhow!("{}", e.render(&root)))?;
        let graph = Graph::build(&loaded.project).map_err(|e| anyhow!("{e}"))?;
        Ok(Session { loaded, graph })
    }

    pub fn root(&self) -> &std::path::Path {
        &self.loaded.project.root
    }
}
