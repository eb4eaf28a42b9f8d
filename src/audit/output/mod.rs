//! Output formats of `yoe audit`: `plain` (annotated source, like rustc), `json` (the
//! versioned `json-v1` shape), `sarif` (2.1.0, for GitHub code scanning) and `github`
//! (workflow annotations). Each renders a [`View`]: the findings left after filtering.
pub mod github;
pub mod json;
pub mod plain;
pub mod sarif;

use super::Report;
use super::finding::{Confidence, Finding, Persona, Severity};

/// The documentation page of a rule.
pub fn doc_url(rule: &str) -> String {
    format!("https://github.com/yoebuild/yoe-rs/blob/main/docs/audit/{rule}.md")
}

/// Which findings are shown.
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    pub min_severity: Severity,
    pub min_confidence: Confidence,
    pub persona: Persona,
}

impl Default for Filter {
    fn default() -> Self {
        Filter { min_severity: Severity::Informational, min_confidence: Confidence::Low, persona: Persona::Regular }
    }
}

/// A report seen through a filter.
pub struct View<'a> {
    pub report: &'a Report,
    /// Findings shown (not suppressed, passing the filter).
    pub shown: Vec<&'a Finding>,
    /// Findings suppressed by an ignore (and passing the filter).
    pub suppressed: Vec<&'a Finding>,
}

impl<'a> View<'a> {
    pub fn new(report: &'a Report, filter: Filter) -> View<'a> {
        let pass = |f: &&Finding| {
            f.severity >= filter.min_severity && f.confidence >= filter.min_confidence && f.persona <= filter.persona
        };
        View {
            report,
            shown: report.findings.iter().filter(|f| f.suppressed.is_none()).filter(pass).collect(),
            suppressed: report.findings.iter().filter(|f| f.suppressed.is_some()).filter(pass).collect(),
        }
    }

    /// The highest severity shown.
    pub fn highest(&self) -> Option<Severity> {
        self.shown.iter().map(|f| f.severity).max()
    }

    /// Counts per severity, lowest first.
    pub fn counts(&self) -> [(Severity, usize); 4] {
        [Severity::Informational, Severity::Low, Severity::Medium, Severity::High]
            .map(|s| (s, self.shown.iter().filter(|f| f.severity == s).count()))
    }
}
