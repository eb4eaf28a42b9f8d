//! `--format github`: GitHub Actions workflow commands (`::error file=...::message`), one
//! per finding. GitHub shows only the first few per step; use SARIF for the full list.
use super::View;
use crate::audit::finding::Severity;

fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(view: &View) -> String {
    let mut out = String::new();
    for f in &view.shown {
        let kind = match f.severity {
            Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Informational => "notice",
        };
        let p = &f.primary;
        let mut props = vec![format!("file={}", escape_property(&p.file.to_string_lossy()))];
        if p.line > 0 {
            props.push(format!("line={}", p.line));
            props.push(format!("col={}", p.column));
            props.push(format!("endLine={}", p.end_line));
            props.push(format!("endColumn={}", p.end_column));
        }
        props.push(format!("title={}", escape_property(&format!("yoe/{} ({})", f.rule, f.severity))));
        out.push_str(&format!(
            "::{kind} {}::{}\n",
            props.join(","),
            escape_data(&format!("{} (tip: {})", f.message, f.tip))
        ));
    }
    out
}
