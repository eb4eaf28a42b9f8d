//! `yoe build`: plan (and, without `--dry-run`, run) the build of units in DAG order.
use clap::Args;

use super::{Global, Session, exit, output};

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Units to build (default: all).
    pub units: Vec<String>,
    /// Print the plan in build order and stop.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(g: &Global, a: BuildArgs) -> anyhow::Result<u8> {
    let s = Session::open(g)?;
    let plan = if a.units.is_empty() { s.graph.order()? } else { s.graph.plan(&a.units)? };
    if g.json {
        output::json(&serde_json::json!({ "plan": plan }))?;
    } else {
        for (i, n) in plan.iter().enumerate() {
            let u = &s.loaded.project.units[n];
            output::line(&format!("{:>4}  {}  ({}, {})", i + 1, n, u.class, u.build_dir_name()));
        }
    }
    if !a.dry_run {
        anyhow::bail!("building is not available in this version; use --dry-run");
    }
    Ok(exit::OK)
}
