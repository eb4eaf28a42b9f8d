//! `cache-dir-escape`: a `cache_dirs` subdirectory that is absolute or climbs out with `..`
//! (Go yoe bind-mounts `<project>/cache/<subdir>` read-write from the host).
use super::super::inputs::is_plain_relative;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!("cache-dir-escape", Steps, High, High, Regular, Static, "a cache_dirs subdirectory is absolute or contains ..");

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            for (mount, sub) in &u.fields.cache_dirs {
                if !sub.is_empty() && is_plain_relative(sub) {
                    continue;
                }
                out.push(cx.finding(
                    &META,
                    u.field_span(&cx.inputs, "cache_dirs", "outside <project>/cache/"),
                    format!("{}.cache_dirs[{mount}]", u.route()),
                    format!("unit {:?} mounts cache directory {sub:?} at {mount}: it resolves outside <project>/cache/ and would expose host files read-write", u.name),
                    "name a plain subdirectory, e.g. {\"/go/cache\": \"go\"}",
                ));
            }
        }
    }
}
