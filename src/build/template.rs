//! `install_template` rendering: the subset of Go's text/template that yoe templates use,
//! `{{.key}}` (spaces and `-` trim markers allowed), with missing keys as errors, as Go
//! yoe's `missingkey=error`. Rendered by yoe itself, never by a shell. The output is bounded
//! by `max_template_bytes` of `policies/load.toml` (a small template repeating a large value
//! would otherwise build gigabytes): rendering stops before the piece that would exceed it.
use std::collections::BTreeMap;

use crate::starlark::{Limit, LoadLimits};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("line {line}: unknown key {key:?} (known: {known})")]
    MissingKey { line: usize, key: String, known: String },
    #[error("line {line}: unsupported template action {action:?}; only {{{{.key}}}} is supported")]
    Unsupported { line: usize, action: String },
    #[error("line {line}: unterminated {{{{")]
    Unterminated { line: usize },
    #[error("{}", crate::starlark::limits::message(&format!("line {line}"), Limit::TemplateBytes, *limit))]
    TooLarge { line: usize, limit: u64 },
}

/// Render `text` with `ctx` (values already stringified), within the embedded
/// `max_template_bytes`.
pub fn render(text: &str, ctx: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    render_limited(text, ctx, LoadLimits::embedded().max_template_bytes)
}

/// [`render`] with an output of at most `limit` bytes.
pub fn render_limited(text: &str, ctx: &BTreeMap<String, String>, limit: u64) -> Result<String, TemplateError> {
    let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = String::with_capacity(text.len().min(limit_bytes));
    let mut rest = text;
    let line_of = |pos: usize| text[..pos].matches('\n').count() + 1;
    // Checked before every append, so the output never grows past the limit.
    let fits = |out: &String, piece: &str| out.len().checked_add(piece.len()).is_some_and(|n| n <= limit_bytes);
    while let Some(start) = rest.find("{{") {
        let abs = text.len() - rest.len() + start;
        let mut before = &rest[..start];
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unterminated { line: line_of(abs) })?;
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix('-') {
            before = before.trim_end();
            action = a;
        }
        let trim_after = action.ends_with('-');
        if trim_after {
            action = &action[..action.len() - 1];
        }
        if !fits(&out, before) {
            return Err(TemplateError::TooLarge { line: line_of(abs), limit });
        }
        out.push_str(before);
        let key = action.trim();
        let name = key
            .strip_prefix('.')
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| TemplateError::Unsupported { line: line_of(abs), action: key.to_string() })?;
        let v = ctx.get(name).ok_or_else(|| TemplateError::MissingKey {
            line: line_of(abs),
            key: name.to_string(),
            known: ctx.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        if !fits(&out, v) {
            return Err(TemplateError::TooLarge { line: line_of(abs), limit });
        }
        out.push_str(v);
        rest = &after[end + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
    }
    if !fits(&out, rest) {
        return Err(TemplateError::TooLarge { line: text.matches('\n').count() + 1, limit });
    }
    out.push_str(rest);
    Ok(out)
}

/// How Go's text/template prints a JSON-ish value.
pub fn go_format(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "<no value>".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(go_format).collect::<Vec<_>>().join(" ")),
        serde_json::Value::Object(o) => {
            format!("map[{}]", o.iter().map(|(k, v)| format!("{k}:{}", go_format(v))).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> BTreeMap<String, String> {
        [("name", "base-files"), ("project_version", "1.2")].into_iter().map(|(a, b)| (a.into(), b.into())).collect()
    }

    #[test]
    fn renders_keys_with_spaces_and_trim() {
        assert_eq!(render("V={{.project_version}} {{ .name }}\n", &ctx()).unwrap(), "V=1.2 base-files\n");
        assert_eq!(render("a  {{- .name -}}  b", &ctx()).unwrap(), "abase-filesb");
    }

    #[test]
    fn missing_key_and_unsupported_action_are_errors_with_line() {
        assert_eq!(
            render("x\n{{.nope}}", &ctx()).unwrap_err(),
            TemplateError::MissingKey { line: 2, key: "nope".into(), known: "name, project_version".into() }
        );
        assert!(matches!(render("{{if .name}}", &ctx()), Err(TemplateError::Unsupported { line: 1, .. })));
        assert!(matches!(render("{{.name", &ctx()), Err(TemplateError::Unterminated { line: 1 })));
    }

    #[test]
    fn output_past_the_limit_is_an_error_naming_the_limit() {
        // 10,000 references to a 1 MiB value would render 10 GiB; the limit stops it at the
        // first piece that does not fit, with only the limit's worth allocated.
        let big: BTreeMap<String, String> = [("v".to_string(), "x".repeat(1 << 20))].into_iter().collect();
        let text = "{{.v}}\n".repeat(10_000);
        let e = render_limited(&text, &big, 16 << 20).unwrap_err();
        assert_eq!(e, TemplateError::TooLarge { line: 16, limit: 16 << 20 });
        let msg = e.to_string();
        assert!(msg.contains("line 16") && msg.contains("max_template_bytes") && msg.contains("16777216"), "{msg}");
        // Control: the same template within a limit that holds it renders in full.
        let small = "{{.v}}\n".repeat(3);
        assert_eq!(render_limited(&small, &big, 4 << 20).unwrap().len(), 3 * ((1 << 20) + 1));
        // Exactly at the limit is fine; one byte less is not.
        assert_eq!(render_limited("ab{{.name}}", &ctx(), 12).unwrap(), "abbase-files");
        assert!(render_limited("ab{{.name}}", &ctx(), 11).is_err());
        assert!(render_limited("abc", &ctx(), 2).is_err());
    }

    #[test]
    fn go_formatting() {
        assert_eq!(go_format(&serde_json::json!(["a", 1])), "[a 1]");
        assert_eq!(go_format(&serde_json::json!(true)), "true");
    }
}
