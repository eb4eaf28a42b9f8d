//! `yoe graph`: the dependency graph as text, Graphviz dot, or JSON.
use clap::{Args, ValueEnum};

use super::{Global, Session, exit, json, output};
use crate::graph::EdgeKind;

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only these units and what they depend on.
    pub units: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Dot,
    Json,
}

pub fn run(g: &Global, a: GraphArgs) -> anyhow::Result<u8> {
    let s = Session::open(g)?;
    let order = if a.units.is_empty() { s.graph.order()? } else { s.graph.plan(&a.units)? };
    let format = if g.json { Format::Json } else { a.format };
    match format {
        Format::Text => {
            for name in &order {
                let deps: Vec<&str> = s.graph.deps_of(name).iter().map(|(d, _)| d.as_str()).collect();
                if deps.is_empty() {
                    output::line(name);
                } else {
                    output::line(&format!("{name} <- {}", deps.join(", ")));
                }
            }
        }
        Format::Dot => {
            output::line("digraph yoe {");
            output::line("  rankdir=LR;");
            for name in &order {
                output::line(&format!("  {name:?};"));
                for (d, kind) in s.graph.deps_of(name) {
                    let style = match kind {
                        EdgeKind::Dep => "",
                        EdgeKind::Artifact => " [style=dashed]",
                        EdgeKind::Container => " [color=blue]",
                        EdgeKind::RuntimeOfDep => " [style=dotted]",
                        EdgeKind::RuntimeOfArtifact => " [style=dotted, color=gray]",
                    };
                    output::line(&format!("  {name:?} -> {d:?}{style};"));
                }
            }
            output::line("}");
        }
        Format::Json => {
            let units = &s.loaded.project.units;
            let units = order
                .iter()
                .map(|n| json::GraphNode {
                    name: n,
                    class: &units[n].class,
                    module: &units[n].module,
                    deps: s.graph.deps_of(n).iter().map(|(d, k)| json::GraphEdge { name: d, kind: *k }).collect(),
                })
                .collect();
            json::print(json::schema::GRAPH, &json::Graph { order: &order, units })?;
        }
    }
    Ok(exit::OK)
}
