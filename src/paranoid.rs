//! `--paranoid` as one engine decision: given what a verb is about to do (build a plan,
//! fetch unpinned, trust modules, run in a sandbox), [`refusals`] returns every rule that
//! refuses it, typed, each naming its rule id and what to change. The CLI only prints them;
//! a library user (or a remote executor) gets the same decisions from the same function.
//! Module rules that apply while a project loads (unpinned and unsigned modules) are
//! enforced by the module source during the load, with the same rule ids and wording
//! (`crate::module::paranoid`). Trusts the model and the reports it is given.
use std::fmt;
use std::path::Path;

use crate::model::Unit;
use crate::module::paranoid::{RULE_DIRTY, RULE_UNPINNED, RULE_UNSIGNED, require_clean_project};
use crate::module::signature::SignatureState;
use crate::sandbox::{DoctorReport, State};

/// A `--paranoid` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Rule {
    /// A unit would build with the host toolchain (no `container=` toolchain unit).
    HostToolchain,
    /// `--allow-unpinned` was asked for.
    UnpinnedSource,
    /// A remote module without `commit=`.
    UnpinnedModule,
    /// A remote module without a valid signature by a trusted key.
    UnsignedModule,
    /// The project's git tree has uncommitted changes.
    DirtyProject,
    /// A sandbox layer that is not required is missing (every layer a build depends on
    /// already fails closed; `--paranoid` refuses the optional ones too).
    DegradedSandbox,
}

impl Rule {
    /// The rule id, as error messages and the docs name it.
    pub fn id(self) -> &'static str {
        match self {
            Rule::HostToolchain => "paranoid-host-toolchain",
            Rule::UnpinnedSource => "paranoid-unpinned-source",
            Rule::UnpinnedModule => RULE_UNPINNED,
            Rule::UnsignedModule => RULE_UNSIGNED,
            Rule::DirtyProject => RULE_DIRTY,
            Rule::DegradedSandbox => "paranoid-degraded-sandbox",
        }
    }
}

/// One refusal: the rule and what it is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub rule: Rule,
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--paranoid refuses this [rule: {}]: {}", self.rule.id(), self.message)
    }
}

/// What a verb is about to do, as far as `--paranoid` cares. Leave out what the verb does
/// not do (an empty plan, no modules, no sandbox report).
#[derive(Default)]
pub struct Request<'a> {
    /// The project whose git tree must be clean.
    pub project_root: Option<&'a Path>,
    /// The units a build would build.
    pub plan: Vec<&'a Unit>,
    /// Whether `--allow-unpinned` was given.
    pub allow_unpinned: bool,
    /// The signature state of each remote module (`yoe module verify`).
    pub signatures: Vec<(&'a str, &'a SignatureState)>,
    /// The sandbox's layers (`yoe doctor`).
    pub sandbox: Option<&'a DoctorReport>,
}

/// Every rule that refuses `req`, in a stable order (empty: `--paranoid` lets it through).
pub fn refusals(req: &Request) -> Vec<Refusal> {
    let mut out = Vec::new();
    if req.allow_unpinned {
        out.push(Refusal {
            rule: Rule::UnpinnedSource,
            message: "--allow-unpinned is refused with --paranoid (it fetches sources without a pin): pin every source with sha256 or commit".into(),
        });
    }
    if let Some(root) = req.project_root
        && let Err(e) = require_clean_project(root)
    {
        out.push(Refusal { rule: Rule::DirtyProject, message: strip_prefix(&e.to_string(), RULE_DIRTY) });
    }
    let host: Vec<&str> = req.plan.iter().filter(|u| u.container.is_empty()).map(|u| u.name.as_str()).collect();
    if !host.is_empty() {
        out.push(Refusal {
            rule: Rule::HostToolchain,
            message: format!(
                "{} would build with the host toolchain (non-hermetic): {}; name a toolchain unit with `container=`",
                if host.len() == 1 { "this unit" } else { "these units" },
                host.join(", ")
            ),
        });
    }
    for (module, state) in &req.signatures {
        if matches!(state, SignatureState::Unsigned | SignatureState::Untrusted { .. }) {
            out.push(Refusal {
                rule: Rule::UnsignedModule,
                message: format!("module {module:?} is not signed by a trusted key: {}", state.describe()),
            });
        }
    }
    for l in req.sandbox.iter().flat_map(|r| &r.lines) {
        if l.state == State::Missing && !l.required && !l.layer.starts_with("toolchain") {
            out.push(Refusal {
                rule: Rule::DegradedSandbox,
                message: format!("sandbox layer {} is missing: {}", l.layer, l.detail),
            });
        }
    }
    out
}

/// The message of a module-rule error without its `--paranoid refuses this [rule: …]:`
/// prefix (the refusal adds it back).
fn strip_prefix(text: &str, rule: &str) -> String {
    for p in [format!("--paranoid refuses this [rule: {rule}]: "), format!("--paranoid [rule: {rule}]: ")] {
        if let Some(rest) = text.strip_prefix(&p) {
            return rest.to_string();
        }
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::unit::DeclSite;
    use crate::model::{Location, RawValue};
    use crate::sandbox::DoctorLine;

    fn unit(name: &str, container: &str) -> Unit {
        let mut kw = vec![("name".to_string(), RawValue::Str(name.into()))];
        if !container.is_empty() {
            kw.push(("container".to_string(), RawValue::Str(container.into())));
        }
        let site = DeclSite {
            module: String::new(),
            priority: 1,
            defined_in: "/p/units".into(),
            defined_at: Location::file_only("/p/units/u.star"),
            call_stack: vec![],
        };
        Unit::from_kwargs(kw, "unit", site).expect("unit")
    }

    #[test]
    fn each_rule_refuses_with_its_id() {
        let (a, b, t) = (unit("a", ""), unit("b", "toolchain"), unit("c", ""));
        let unsigned = SignatureState::Unsigned;
        let report = DoctorReport {
            lines: vec![
                DoctorLine {
                    layer: "cgroups v2",
                    state: State::Missing,
                    required: false,
                    detail: "v1".into(),
                    fix: None,
                },
                DoctorLine {
                    layer: "toolchain gcc",
                    state: State::Missing,
                    required: false,
                    detail: "-".into(),
                    fix: None,
                },
            ],
        };
        let req = Request {
            plan: vec![&a, &b, &t],
            allow_unpinned: true,
            signatures: vec![("core", &unsigned)],
            sandbox: Some(&report),
            ..Request::default()
        };
        let r = refusals(&req);
        let ids: Vec<&str> = r.iter().map(|x| x.rule.id()).collect();
        assert_eq!(
            ids,
            [
                "paranoid-unpinned-source",
                "paranoid-host-toolchain",
                "paranoid-unsigned-module",
                "paranoid-degraded-sandbox"
            ]
        );
        assert!(
            r[1].to_string().contains("these units would build with the host toolchain (non-hermetic): a, c"),
            "{}",
            r[1]
        );
        assert!(r[1].to_string().starts_with("--paranoid refuses this [rule: paranoid-host-toolchain]: "));
        assert!(refusals(&Request { plan: vec![&b], ..Request::default() }).is_empty());
    }
}
