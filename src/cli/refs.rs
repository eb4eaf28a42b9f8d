//! `yoe refs UNIT`: the units that depend on a unit.
use anyhow::anyhow;
use clap::Args;

use super::{Global, Session, exit, output};

#[derive(Args, Debug)]
pub struct RefsArgs {
    /// Unit name (or a virtual it provides).
    pub unit: String,
    /// Only direct dependents.
    #[arg(long)]
    pub direct: bool,
}

pub fn run(g: &Global, a: RefsArgs) -> anyhow::Result<u8> {
    let s = Session::open(g)?;
    let name =
        s.loaded.project.unit(&a.unit).map(|u| u.name.clone()).ok_or_else(|| anyhow!("unknown unit {:?}", a.unit))?;
    let refs = s.graph.dependents(&name, !a.direct);
    if g.json {
        super::json::print(
            super::json::schema::REFS,
            &super::json::Refs { unit: &name, direct: a.direct, refs: &refs },
        )?;
    } else {
        for r in refs {
            output::line(&r);
        }
    }
    Ok(exit::OK)
}
