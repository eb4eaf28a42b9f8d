//! `unused-suppression`: a suppression that matched no finding, has expired, lacks a reason
//! under `--paranoid`, or sits inside a module (never applied there).
use super::super::registry::{Rule, RuleMeta};
use super::super::suppress::Unapplied;
use super::super::{Context, Finding};
use super::rule;

rule!(
    "unused-suppression",
    ProjectAndMeta,
    Low,
    High,
    Regular,
    Static,
    "a suppression matched nothing, expired, has no reason under --paranoid, or is inside a module"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    /// Runs after the suppressions are applied: see [`report`].
    fn check(&self, _cx: &Context, _out: &mut Vec<Finding>) {}
}

/// Turn what `suppress::apply` could not apply into findings.
pub fn report(cx: &Context, unapplied: Vec<Unapplied>, out: &mut Vec<Finding>) {
    for u in unapplied {
        let mut f = cx.finding(
            &META,
            u.span,
            u.route,
            u.message,
            "remove it, renew it, or give it a reason; suppressions inside modules never apply",
        );
        f.origin = u.origin;
        out.push(f);
    }
}
