//! `yoe desc UNIT`: every field of a unit and where it was defined.
use anyhow::anyhow;
use clap::Args;

use super::{Global, Session, exit, output};

#[derive(Args, Debug)]
pub struct DescArgs {
    /// Unit name (or a virtual it provides).
    pub unit: String,
}

pub fn run(g: &Global, a: DescArgs) -> anyhow::Result<u8> {
    let s = Session::open(g)?;
    let p = &s.loaded.project;
    let u = p.unit(&a.unit).ok_or_else(|| {
        let names: Vec<&str> = p.units.keys().map(String::as_str).collect();
        let hint = crate::model::fields::suggest(&a.unit, &names)
            .map(|n| format!(" (did you mean {n:?}?)"))
            .unwrap_or_default();
        anyhow!("unknown unit {:?}{hint}", a.unit)
    })?;
    if g.json {
        super::json::print(super::json::schema::DESC, u)?;
        return Ok(exit::OK);
    }
    let root = s.root();
    output::line(&format!("unit {} (class {})", u.name, u.class));
    output::line(&format!(
        "  defined at {} ({})",
        u.defined_at.relative_to(root),
        if u.module.is_empty() { "project".to_string() } else { format!("module {}", u.module) }
    ));
    if u.call_stack.len() > 1 {
        for l in &u.call_stack {
            output::line(&format!("    via {}", l.relative_to(root)));
        }
    }
    let value = serde_json::to_value(u)?;
    let skip = ["name", "class", "defined_at", "call_stack", "module", "defined_in"];
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            if skip.contains(&k.as_str()) || is_empty(&v) {
                continue;
            }
            output::line(&format!("  {k}: {}", render(&v)));
        }
    }
    let deps = s.graph.deps_of(&u.name);
    if !deps.is_empty() {
        let d: Vec<String> = deps
            .iter()
            .map(|(n, k)| format!("{n} ({})", serde_json::to_value(k).map(|v| render(&v)).unwrap_or_default()))
            .collect();
        output::line(&format!("  graph edges: {}", d.join(", ")));
    }
    Ok(exit::OK)
}

fn is_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn render(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
