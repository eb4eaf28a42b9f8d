//! `shared-writable-cache`: units from different trust domains (modules, project) share one
//! read-write `cache_dirs` subdirectory, so one can poison what the other reads.
use std::collections::BTreeMap;

use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!(
    "shared-writable-cache",
    Steps,
    Medium,
    Medium,
    Pedantic,
    Static,
    "units of different modules share one writable cache_dirs subdirectory"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        let mut by_sub: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
        for (i, u) in cx.units.iter().enumerate() {
            for (mount, sub) in &u.fields.cache_dirs {
                by_sub.entry(sub.trim_matches('/').to_string()).or_default().push((i, mount.clone()));
            }
        }
        for (sub, users) in by_sub {
            let Some(&(first, _)) = users.first() else { continue };
            let first_origin = &cx.units[first].origin;
            for (i, mount) in users.iter().filter(|(i, _)| &cx.units[*i].origin != first_origin) {
                let u = &cx.units[*i];
                let other = &cx.units[first];
                out.push(
                    cx.finding(
                        &META,
                        u.field_span(&cx.inputs, "cache_dirs", "shared cache"),
                        format!("{}.cache_dirs[{mount}]", u.route()),
                        format!(
                            "unit {:?} ({}) shares cache directory {sub:?} with unit {:?} ({}); either can change what the other reads",
                            u.name, u.origin, other.name, other.origin
                        ),
                        "give each module its own cache subdirectory (e.g. \"go-<module>\")",
                    )
                    .secondary(other.call_span(&cx.inputs, "also writes this cache")),
                );
            }
        }
    }
}
