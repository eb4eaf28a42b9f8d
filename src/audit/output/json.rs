//! `--format json` (= `json-v1`): one object with the findings and what limited the audit.
//! The shape changes only with a new version name.
use serde_json::{Value, json};

use super::View;
use crate::audit::finding::Finding;

pub const VERSION: &str = "json-v1";

fn finding(f: &Finding) -> Value {
    json!({
        "rule": f.rule,
        "severity": f.severity,
        "confidence": f.confidence,
        "persona": f.persona,
        "message": f.message,
        "tip": f.tip,
        "route": f.route,
        "fingerprint": f.fingerprint(),
        "origin": f.origin,
        "primary": f.primary,
        "secondary": f.secondary,
        "suppressed": f.suppressed,
        "help_uri": super::doc_url(f.rule),
    })
}

pub fn render(view: &View) -> Value {
    let counts: serde_json::Map<String, Value> =
        view.counts().iter().map(|(s, c)| (s.as_str().to_string(), json!(c))).collect();
    json!({
        "version": VERSION,
        "tool": { "name": "yoe", "version": env!("CARGO_PKG_VERSION") },
        "root": view.report.root,
        "findings": view.shown.iter().map(|f| finding(f)).collect::<Vec<_>>(),
        "suppressed": view.suppressed.iter().map(|f| finding(f)).collect::<Vec<_>>(),
        "diagnostics": view.report.diagnostics,
        "not_audited": view.report.not_audited.iter().map(|(m, why)| json!({"module": m, "reason": why})).collect::<Vec<_>>(),
        "summary": {
            "files": view.report.files,
            "units": view.report.units,
            "findings": view.shown.len(),
            "suppressed": view.suppressed.len(),
            "by_severity": counts,
        },
    })
}
