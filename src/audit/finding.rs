//! The finding model (after zizmor): rule id, severity, confidence, persona, a primary span
//! and secondary spans, a message, a tip, a symbolic route for stable fingerprints, and who
//! owns the code (project or module). Findings are data, never errors. Pure types, no I/O.
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// How bad it is if the finding is true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure the rule is that the finding is true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// Who the finding is for: everyone (`regular`), those who want code smells (`pedantic`),
/// or reviewers who accept false positives (`auditor`). A persona shows its own findings
/// and those of the personas before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Persona {
    Regular,
    Pedantic,
    Auditor,
}

impl Persona {
    pub fn as_str(self) -> &'static str {
        match self {
            Persona::Regular => "regular",
            Persona::Pedantic => "pedantic",
            Persona::Auditor => "auditor",
        }
    }
}

/// What a rule needs: the text only, fetched modules and sources, or built outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Static,
    Cache,
    Output,
}

/// The catalogue groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    ModulesAndTrust,
    Sources,
    Steps,
    Outputs,
    ProjectAndMeta,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::ModulesAndTrust => "modules and trust",
            Group::Sources => "sources",
            Group::Steps => "steps and execution policy",
            Group::Outputs => "outputs",
            Group::ProjectAndMeta => "project and meta",
        }
    }
}

/// Who wrote the code a finding is about. A module may not suppress findings about itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Origin {
    Project,
    Module(String),
    /// A built output (`--outputs`).
    Output,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Project => f.write_str("project"),
            Origin::Module(m) => write!(f, "module {m:?}"),
            Origin::Output => f.write_str("build output"),
        }
    }
}

/// A place in a file. Lines and columns are 1-based; `line == 0` means the whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Relative to the audited root where it lies inside it, else absolute.
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    /// Byte range in the file's text (for rendering), when known.
    #[serde(skip)]
    pub bytes: Option<Range<usize>>,
    /// The call the span is in, e.g. `unit("zlib")` or `run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The argument or field, e.g. `source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub label: String,
    /// Lines covered by the enclosing call (for `# yoe: ignore` on the call).
    #[serde(skip)]
    pub call_lines: Option<(u32, u32)>,
}

impl Span {
    /// A span naming a whole file (binary artifacts, build outputs).
    pub fn file(file: impl Into<PathBuf>, label: impl Into<String>) -> Span {
        Span {
            file: file.into(),
            line: 0,
            column: 0,
            end_line: 0,
            end_column: 0,
            bytes: None,
            call: None,
            field: None,
            label: label.into(),
            call_lines: None,
        }
    }

    pub fn with_call(mut self, call: impl Into<String>) -> Span {
        self.call = Some(call.into());
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Span {
        self.field = Some(field.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Span {
        self.label = label.into();
        self
    }
}

/// Why a finding is not reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// `inline` (a `# yoe: ignore[...]` comment) or `config` (`yoe-audit.toml`).
    pub by: &'static str,
    pub reason: String,
    /// Where the suppression is written.
    pub at: String,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub confidence: Confidence,
    pub persona: Persona,
    pub message: String,
    pub tip: String,
    pub primary: Span,
    pub secondary: Vec<Span>,
    /// Symbolic location, e.g. `unit(zlib).source` or `module(core).ref`.
    pub route: String,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppressed>,
}

impl Finding {
    /// `sha256(rule, path, route)`, hex: stable across line moves and runs.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.rule, &self.primary.file.to_string_lossy(), &self.route] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn secondary(mut self, span: Span) -> Finding {
        self.secondary.push(span);
        self
    }

    pub fn severity(mut self, s: Severity) -> Finding {
        self.severity = s;
        self
    }

    pub fn confidence(mut self, c: Confidence) -> Finding {
        self.confidence = c;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(line: u32, route: &str) -> Finding {
        Finding {
            rule: "source-without-hash",
            severity: Severity::High,
            confidence: Confidence::High,
            persona: Persona::Regular,
            message: String::new(),
            tip: String::new(),
            primary: Span { line, ..Span::file("units/zlib.star", "") },
            secondary: vec![],
            route: route.into(),
            origin: Origin::Project,
            suppressed: None,
        }
    }

    #[test]
    fn fingerprint_ignores_lines_but_not_routes() {
        assert_eq!(f(3, "unit(zlib).source").fingerprint(), f(30, "unit(zlib).source").fingerprint());
        assert_ne!(f(3, "unit(zlib).source").fingerprint(), f(3, "unit(zstd).source").fingerprint());
        assert_eq!(f(3, "x").fingerprint().len(), 64);
    }

    #[test]
    fn severities_order() {
        assert!(Severity::High > Severity::Medium && Severity::Low > Severity::Informational);
    }
}
