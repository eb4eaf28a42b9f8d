//! `--format plain`: each finding with its source lines and spans underlined (rendered by
//! annotate-snippets), its confidence and a tip, then a one-line summary.
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

use super::View;
use crate::audit::finding::{Severity, Span};

fn level(s: Severity) -> Level<'static> {
    match s {
        Severity::High => Level::ERROR,
        Severity::Medium => Level::WARNING,
        Severity::Low => Level::NOTE,
        Severity::Informational => Level::INFO,
    }
}

/// Text of the files spans point into: the report's `.star` sources, others read on demand.
struct Sources<'a> {
    root: &'a Path,
    known: &'a HashMap<PathBuf, Arc<str>>,
    read: HashMap<PathBuf, Option<Arc<str>>>,
}

impl Sources<'_> {
    fn get(&mut self, file: &Path) -> Option<Arc<str>> {
        if let Some(t) = self.known.get(file) {
            return Some(t.clone());
        }
        let root = self.root;
        self.read
            .entry(file.to_path_buf())
            .or_insert_with(|| {
                let p = if file.is_absolute() { file.to_path_buf() } else { root.join(file) };
                let meta = std::fs::symlink_metadata(&p).ok()?;
                if !meta.is_file() || meta.len() > 1 << 20 {
                    return None;
                }
                std::fs::read_to_string(&p).ok().map(Arc::from)
            })
            .clone()
    }
}

/// The bytes of a span: its own, or its whole line when only the line is known.
fn bytes(span: &Span, text: &str) -> Option<Range<usize>> {
    if let Some(b) = &span.bytes {
        return (b.end <= text.len()).then(|| b.clone());
    }
    if span.line == 0 {
        return None;
    }
    let start = text.split_inclusive('\n').take(span.line as usize - 1).map(str::len).sum::<usize>();
    let line = text.get(start..)?.split('\n').next()?;
    Some(start..start + line.len())
}

pub fn render(view: &View) -> String {
    let mut sources = Sources { root: &view.report.root, known: &view.report.sources, read: HashMap::new() };
    let renderer = Renderer::plain();
    let mut out = String::new();
    for f in &view.shown {
        let texts: Vec<(Span, Option<Arc<str>>)> =
            std::iter::once(&f.primary).chain(&f.secondary).map(|s| (s.clone(), sources.get(&s.file))).collect();
        let title = level(f.severity).primary_title(f.message.as_str()).id(f.rule);
        let mut group = Group::with_title(title);
        // One snippet per file, the primary file first.
        let mut files: Vec<&Path> = Vec::new();
        for (s, _) in &texts {
            if !files.contains(&s.file.as_path()) {
                files.push(&s.file);
            }
        }
        for file in files {
            let in_file: Vec<&(Span, Option<Arc<str>>)> = texts.iter().filter(|(s, _)| s.file == file).collect();
            let shown = file.display().to_string();
            let text = in_file.iter().find_map(|(_, t)| t.clone());
            let annotated: Vec<(usize, &Span, Range<usize>)> = match &text {
                Some(t) => {
                    in_file.iter().enumerate().filter_map(|(i, (s, _))| bytes(s, t).map(|b| (i, s, b))).collect()
                }
                None => Vec::new(),
            };
            match (&text, annotated.is_empty()) {
                (Some(t), false) => {
                    let mut snippet = Snippet::source(Cow::Owned(t.to_string())).path(shown).fold(true);
                    for (i, s, b) in annotated {
                        let primary = i == 0 && s == &f.primary;
                        let kind = if primary { AnnotationKind::Primary } else { AnnotationKind::Context };
                        snippet = snippet.annotation(kind.span(b).label(s.label.clone()));
                    }
                    group = group.element(snippet);
                }
                _ => {
                    group = group.element(Origin::path(shown));
                    for (s, _) in in_file {
                        if !s.label.is_empty() {
                            group = group.element(Level::NOTE.message(s.label.clone()));
                        }
                    }
                }
            }
        }
        group = group
            .element(Level::NOTE.message(format!("audit confidence → {}", f.confidence.as_str())))
            .element(Level::HELP.message(f.tip.as_str()));
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    for d in &view.report.diagnostics {
        out.push_str(&format!("warning: {d}\n"));
    }
    for (m, why) in &view.report.not_audited {
        out.push_str(&format!("note: module {m} was not audited: {why}\n"));
    }
    out.push_str(&summary(view));
    out
}

pub fn summary(view: &View) -> String {
    let n = view.shown.len();
    let counts: Vec<String> = view.counts().iter().map(|(s, c)| format!("{c} {s}")).collect();
    let suppressed =
        if view.suppressed.is_empty() { String::new() } else { format!(" ({} suppressed)", view.suppressed.len()) };
    if n == 0 {
        format!(
            "No findings to report{suppressed}. Audited {} files, {} units.\n",
            view.report.files, view.report.units
        )
    } else {
        format!("{n} finding{}{suppressed}: {}\n", if n == 1 { "" } else { "s" }, counts.join(", "))
    }
}
