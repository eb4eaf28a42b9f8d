//! `install_template` rendering: the subset of Go's text/template that yoe templates use,
//! `{{.key}}` (spaces and `-` trim markers allowed), with missing keys as errors, as Go
//! yoe's `missingkey=error`. Rendered by yoe itself, never by a shell.
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("line {line}: unknown key {key:?} (known: {known})")]
    MissingKey { line: usize, key: String, known: String },
    #[error("line {line}: unsupported template action {action:?}; only {{{{.key}}}} is supported")]
    Unsupported { line: usize, action: String },
    #[error("line {line}: unterminated {{{{")]
    Unterminated { line: usize },
}

/// Render `text` with `ctx` (values already stringified).
pub fn render(text: &str, ctx: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let line_of = |pos: usize| text[..pos].matches('\n').count() + 1;
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
        out.push_str(v);
        rest = &after[end + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
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
    fn go_formatting() {
        assert_eq!(go_format(&serde_json::json!(["a", 1])), "[a 1]");
        assert_eq!(go_format(&serde_json::json!(true)), "true");
    }
}
