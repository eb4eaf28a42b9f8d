//! `network-requested`: a unit that needs the network at build time (a `network` kwarg, or
//! a class that downloads while building) and is not on the project's allow-list.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!(
    "network-requested",
    Steps,
    Medium,
    High,
    Regular,
    Static,
    "a unit asks for network at build time and is not on the network allow-list"
);

/// Go yoe classes whose steps download (go modules, pip, npm, bun).
const NETWORK_CLASSES: &[&str] = &["go_binary", "python_venv", "nodejs_app", "bun_app"];

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let by_class = NETWORK_CLASSES.iter().find(|c| **c == u.callee || **c == u.fields.unit_class);
            let by_kwarg = u.fields.extra.get("network").is_some_and(|v| v == &serde_json::Value::Bool(true));
            if (by_class.is_none() && !by_kwarg) || cx.config.network.allow.iter().any(|a| a == &u.name) {
                continue;
            }
            let (span, why) = match by_class {
                Some(c) if !by_kwarg => {
                    (u.call_span(&cx.inputs, "needs network"), format!("its class {c} downloads at build time"))
                }
                _ => (u.field_span(&cx.inputs, "network", "needs network"), "it sets network=True".to_string()),
            };
            out.push(cx.finding(
                &META,
                span,
                format!("{}.network", u.route()),
                format!("unit {:?} needs the network while building ({why}); build steps have no network, and what it downloads is not pinned", u.name),
                "vendor the dependencies as sources with hashes; or, after review, add the unit to [network] allow in yoe-audit.toml",
            ));
        }
    }
}
