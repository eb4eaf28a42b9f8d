//! Located diagnostics rendered like rustc (file:line:column, the source line, a caret
//! under the span), for load-time refusals and validation errors.
use std::ops::Range;
use std::path::Path;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::model::Location;

/// A message about a span of a `.star` file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub location: Location,
    /// The file's text and the byte range the message is about.
    pub source: std::sync::Arc<str>,
    pub span: Range<usize>,
    pub label: String,
    pub help: Option<String>,
}

impl Diagnostic {
    /// Render as plain text (no colour), paths shown relative to `root`.
    pub fn render(&self, root: &Path) -> String {
        let shown = self.location.relative_to(root).file.display().to_string();
        let mut report = vec![
            Level::ERROR.primary_title(self.message.as_str()).element(
                Snippet::source(&*self.source)
                    .path(shown.as_str())
                    .fold(true)
                    .annotation(AnnotationKind::Primary.span(self.span.clone()).label(self.label.as_str())),
            ),
        ];
        let help = self.help.as_ref().map(|h| h.replace(&format!("{}/", root.display()), ""));
        if let Some(help) = &help {
            report.push(Group::with_title(Level::HELP.secondary_title(help.as_str())));
        }
        Renderer::plain().render(&report).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_and_caret() {
        let src = "x = 1\nrun(\"a\", host = True)\n";
        let start = src.find("host").unwrap();
        let d = Diagnostic {
            message: "run(host=True) is refused".into(),
            location: Location { file: "/p/classes/c.star".into(), line: 2, column: 10, end_line: 2, end_column: 21 },
            source: src.into(),
            span: start..start + 11,
            label: "host execution".into(),
            help: Some("steps always run in the sandbox".into()),
        };
        let out = d.render(Path::new("/p"));
        assert!(out.contains("classes/c.star:2:10"), "{out}");
        assert!(out.contains("run(\"a\", host = True)"), "{out}");
        assert!(out.contains("^^^^^^^^^^^"), "{out}");
        assert!(out.contains("help: steps always run in the sandbox"), "{out}");
    }
}
