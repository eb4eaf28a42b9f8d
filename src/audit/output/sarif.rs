//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning reads it: one rule per registered
//! rule (`yoe/<id>`, `security-severity`, `precision`, `tags`), results with relative URIs
//! under `%SRCROOT%`, `partialFingerprints["yoe/v1"]` = sha256(rule, path, route) so that
//! results survive line moves, and the audit's diagnostics as tool notifications.
use serde_json::{Value, json};

use super::View;
use crate::audit::finding::{Confidence, Finding, Severity, Span};
use crate::audit::registry::rules;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "note",
    }
}

/// GitHub's scale: > 9.0 critical, 7.0–8.9 high, 4.0–6.9 medium, ≤ 3.9 low.
pub fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Informational => "1.0",
    }
}

pub fn precision(c: Confidence) -> &'static str {
    match c {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    }
}

fn uri(span: &Span) -> String {
    span.file.to_string_lossy().split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Percent-encode what may not appear in a URI path segment.
fn encode(seg: &str) -> String {
    seg.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'+' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn physical(span: &Span) -> Value {
    let mut loc = json!({ "artifactLocation": { "uri": uri(span), "uriBaseId": "%SRCROOT%" } });
    if span.line > 0 {
        loc["region"] = json!({
            "startLine": span.line,
            "startColumn": span.column.max(1),
            "endLine": span.end_line.max(span.line),
            "endColumn": span.end_column.max(1),
        });
    }
    loc
}

fn result(f: &Finding, index: usize) -> Value {
    let related: Vec<Value> = f
        .secondary
        .iter()
        .enumerate()
        .map(|(i, s)| json!({ "id": i + 1, "physicalLocation": physical(s), "message": { "text": s.label } }))
        .collect();
    let mut r = json!({
        "ruleId": format!("yoe/{}", f.rule),
        "ruleIndex": index,
        "level": level(f.severity),
        "message": { "text": format!("{}\n\nTip: {}", f.message, f.tip) },
        "locations": [{ "physicalLocation": physical(&f.primary), "message": { "text": f.primary.label } }],
        "partialFingerprints": { "yoe/v1": f.fingerprint() },
        "properties": {
            "yoe/severity": f.severity,
            "yoe/confidence": f.confidence,
            "yoe/persona": f.persona,
            "yoe/route": f.route,
        },
    });
    if !related.is_empty() {
        r["relatedLocations"] = Value::Array(related);
    }
    r
}

pub fn render(view: &View) -> Value {
    let all = rules();
    let descriptors: Vec<Value> = all
        .iter()
        .map(|r| {
            let m = r.meta();
            json!({
                "id": format!("yoe/{}", m.id),
                "name": m.id,
                "shortDescription": { "text": m.summary },
                "fullDescription": { "text": format!("{} ({}, {} phase)", m.summary, m.group.title(), format!("{:?}", m.phase).to_lowercase()) },
                "helpUri": super::doc_url(m.id),
                "help": { "text": format!("See {}", super::doc_url(m.id)) },
                "defaultConfiguration": { "level": level(m.severity) },
                "properties": {
                    "security-severity": security_severity(m.severity),
                    "precision": precision(m.confidence),
                    "problem.severity": match m.severity { Severity::High => "error", Severity::Medium => "warning", _ => "recommendation" },
                    "tags": ["security", m.group.title()],
                },
            })
        })
        .collect();
    let results: Vec<Value> =
        view.shown.iter().map(|f| result(f, all.iter().position(|r| r.meta().id == f.rule).unwrap_or(0))).collect();
    let notes: Vec<Value> = view
        .report
        .diagnostics
        .iter()
        .map(|d| json!({ "level": "warning", "message": { "text": d } }))
        .chain(view.report.not_audited.iter().map(
            |(m, why)| json!({ "level": "note", "message": { "text": format!("module {m} was not audited: {why}") } }),
        ))
        .collect();
    let root = view.report.root.to_string_lossy();
    let root_uri = format!("file://{}/", root.split('/').map(encode).collect::<Vec<_>>().join("/"));
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "yoe",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/yoebuild/yoe-rs",
                "rules": descriptors,
            } },
            "originalUriBaseIds": { "%SRCROOT%": { "uri": root_uri } },
            "results": results,
            "invocations": [{ "executionSuccessful": true, "toolExecutionNotifications": notes }],
            "columnKind": "unicodeCodePoints",
        }],
    })
}
