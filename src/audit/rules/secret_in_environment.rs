//! `secret-in-environment`: a literal secret in `environment` or an extra kwarg (known key
//! prefixes, PEM private keys, or a literal value under a name like `*TOKEN*`). The value is
//! never repeated in the finding.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!(
    "secret-in-environment",
    Steps,
    High,
    Medium,
    Regular,
    Static,
    "a literal value in environment or an extra kwarg looks like a secret"
);

const PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "sk_live_",
    "rk_live_",
    "AKIA",
    "ASIA",
    "AIza",
    "npm_",
    "pypi-",
];
const NAMES: &[&str] =
    &["TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"];

/// Why `value` under `name` looks like a secret, if it does.
pub fn secret_reason(name: &str, value: &str) -> Option<&'static str> {
    if value.contains("PRIVATE KEY-----") {
        return Some("a PEM private key");
    }
    if PREFIXES.iter().any(|p| value.starts_with(p) && value.len() >= p.len() + 12 && !value.contains(' ')) {
        return Some("a value with a known access-token prefix");
    }
    let upper = name.to_ascii_uppercase();
    if NAMES.iter().any(|n| upper.contains(n)) && value.len() >= 4 && !value.starts_with('$') && !value.contains("${") {
        return Some("a literal value under a secret-looking name");
    }
    None
}

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let env = u.fields.environment.iter().map(|(k, v)| ("environment", k.as_str(), v.as_str()));
            let extra = u.fields.extra.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.as_str(), k.as_str(), s)));
            for (field, key, value) in env.chain(extra) {
                let Some(why) = secret_reason(key, value) else { continue };
                let route = if field == "environment" {
                    format!("{}.environment[{key}]", u.route())
                } else {
                    format!("{}.{key}", u.route())
                };
                out.push(cx.finding(
                    &META,
                    u.field_span(&cx.inputs, field, "literal secret"),
                    route,
                    format!("unit {:?}: {key} holds {why}; unit fields are hashed into cache keys, logged and shipped with the project", u.name),
                    "remove the secret from the .star file and rotate it; builds get no secrets (steps have no network)",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_without_false_alarms_on_references() {
        assert!(secret_reason("GH_TOKEN", "ghp_0123456789abcdefghij").is_some());
        assert!(secret_reason("X", "AKIAABCDEFGHIJKLMNOP").is_some());
        assert!(secret_reason("DB_PASSWORD", "hunter22").is_some());
        assert!(secret_reason("DB_PASSWORD", "$DB_PASSWORD").is_none());
        assert!(secret_reason("CFLAGS", "-O2").is_none());
        assert!(secret_reason("TOKEN_FILE_NAME", "").is_none());
    }
}
