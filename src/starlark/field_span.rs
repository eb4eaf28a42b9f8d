//! Points a declaration error at the value that caused it: when a builtin refuses a field
//! (`unit(name = "../x")`), the loader turns the error into a rustc-style diagnostic at
//! the literal in the outermost frame that wrote it (the user's `autotools(name = ...)`
//! rather than the class's `unit(name = name)`), else at the user's call. Reads only the
//! text of files the loader already read; trusts none of it.
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use ::starlark::syntax::ast::{ArgumentP, AstExpr, AstLiteral, ExprP};

use super::diag::Diagnostic;
use super::syntax::ParsedFile;
use crate::model::{FieldError, Location};

/// A refused field, recorded by the builtin that refused it: the error and every frame
/// of the call, outermost first.
#[derive(Debug, Clone)]
pub struct PendingField {
    pub error: FieldError,
    pub frames: Vec<Location>,
}

/// The diagnostic for `p`, when the field's value can be found in one of the frames.
pub fn locate(p: &PendingField, sources: &BTreeMap<PathBuf, Arc<str>>) -> Option<Diagnostic> {
    let field = p.error.field();
    let (kwarg, index) = split_field(field);
    let mut fallback: Option<Diagnostic> = None;
    // Outermost first: the user's literal beats a class's pass-through.
    for frame in &p.frames {
        let Some(text) = sources.get(&frame.file) else { continue };
        let Ok(parsed) = ParsedFile::parse(&frame.file, text.to_string()) else { continue };
        let Some(offset) = offset_of(text, frame.line, frame.column) else { continue };
        let Some((call_span, value)) = find_kwarg(&parsed, offset, kwarg, index) else {
            if fallback.is_none() {
                fallback = call_at(&parsed, offset).map(|span| diagnostic(p, &parsed, span, "in this call"));
            }
            continue;
        };
        match value {
            Some(span) => {
                let mut d = diagnostic(p, &parsed, span, "this value");
                let call = format!("in the call at {frame}");
                d.help = Some(match d.help {
                    Some(chain) => format!("{call}; {chain}"),
                    None => call,
                });
                return Some(d);
            }
            None if fallback.is_none() => {
                fallback = Some(diagnostic(p, &parsed, call_span, "the value is computed in this call"))
            }
            None => {}
        }
    }
    fallback
}

/// `deps[2]` → (`deps`, Some(2)); `name` → (`name`, None).
fn split_field(field: &str) -> (&str, Option<usize>) {
    let (head, rest) = field.split_once('[').unwrap_or((field, ""));
    let index = rest.split(']').next().and_then(|i| i.parse().ok());
    (head, index)
}

fn diagnostic(p: &PendingField, f: &ParsedFile, span: Range<usize>, label: &str) -> Diagnostic {
    let frames: Vec<String> = p.frames.iter().map(|l| l.to_string()).collect();
    Diagnostic {
        message: p.error.to_string(),
        location: f.location(span.clone()),
        source: f.text.clone(),
        span,
        label: label.to_string(),
        help: (frames.len() > 1).then(|| format!("call chain: {}", frames.join(" → "))),
    }
}

/// Byte offset of a 1-based line and column (in characters).
fn offset_of(text: &str, line: u32, column: u32) -> Option<usize> {
    let start = if line <= 1 { 0 } else { text.match_indices('\n').nth(line as usize - 2).map(|(i, _)| i + 1)? };
    let rest = text.get(start..)?;
    let col = (column as usize).saturating_sub(1);
    Some(start + rest.char_indices().nth(col).map(|(i, _)| i).unwrap_or(rest.len()))
}

/// The call starting at `offset`: its span, and the span of `kwarg`'s literal value (or of
/// its `index`-th element when the value is a list literal) if it is a literal.
fn find_kwarg(
    f: &ParsedFile,
    offset: usize,
    kwarg: &str,
    index: Option<usize>,
) -> Option<(Range<usize>, Option<Range<usize>>)> {
    let mut found = None;
    f.ast.statement().visit_expr(|e| walk(e, offset, kwarg, index, &mut found));
    found
}

fn call_at(f: &ParsedFile, offset: usize) -> Option<Range<usize>> {
    f.calls().into_iter().find(|c| c.span.start == offset).map(|c| c.span)
}

type Found = Option<(Range<usize>, Option<Range<usize>>)>;

fn walk(e: &AstExpr, offset: usize, kwarg: &str, index: Option<usize>, found: &mut Found) {
    if found.is_some() {
        return;
    }
    if let ExprP::Call(_, args) = &e.node
        && e.span.begin().get() as usize == offset
    {
        let span = e.span.begin().get() as usize..e.span.end().get() as usize;
        let value = args.args.iter().find_map(|a| match &a.node {
            ArgumentP::Named(n, v) if n.node == kwarg => Some(v),
            _ => None,
        });
        // `task("build")` names its task positionally.
        let value = value.or_else(|| {
            (kwarg == "name")
                .then(|| args.args.first())
                .flatten()
                .and_then(|a| if let ArgumentP::Positional(v) = &a.node { Some(v) } else { None })
        });
        *found = Some((span, value.and_then(|v| literal_span(v, index))));
        return;
    }
    e.node.visit_expr(|c| walk(c, offset, kwarg, index, found));
}

fn literal_span(v: &AstExpr, index: Option<usize>) -> Option<Range<usize>> {
    let range = |e: &AstExpr| e.span.begin().get() as usize..e.span.end().get() as usize;
    match (&v.node, index) {
        (ExprP::Literal(AstLiteral::String(_)), None) => Some(range(v)),
        (ExprP::List(items), Some(i)) => items.get(i).filter(|x| matches!(x.node, ExprP::Literal(_))).map(range),
        (ExprP::List(_), None) => Some(range(v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NameKind, fields::Kwargs};

    fn pending(field_value: &str, field: &str, frames: Vec<Location>) -> PendingField {
        let kw = Kwargs::new("unit(\"x\")", vec![]);
        let error = kw.name(field, NameKind::Unit, field_value).unwrap_err();
        PendingField { error, frames }
    }

    fn at(file: &str, line: u32, column: u32) -> Location {
        Location { file: file.into(), line, column, end_line: line, end_column: column }
    }

    #[test]
    fn points_at_the_users_literal_through_a_class() {
        let user = "load(\"//c.star\", \"cls\")\ncls(\n    name = \"../x\",\n)\n";
        let class = "def cls(name):\n    unit(name = name)\n";
        let sources: BTreeMap<PathBuf, Arc<str>> =
            [(PathBuf::from("/p/u.star"), Arc::from(user)), (PathBuf::from("/p/c.star"), Arc::from(class))].into();
        let p = pending("../x", "name", vec![at("/p/u.star", 2, 1), at("/p/c.star", 2, 5)]);
        let d = locate(&p, &sources).expect("located");
        assert_eq!((d.location.line, d.location.column), (3, 12), "{d:?}");
        assert_eq!(&user[d.span.clone()], "\"../x\"");
        let help = d.help.as_deref().unwrap_or("");
        assert!(help.contains("in the call at /p/u.star:2:1") && help.contains("/p/c.star:2:5"), "{help}");
    }

    #[test]
    fn list_elements_and_computed_values() {
        let user = "unit(name = \"a\", deps = [\"ok\", \"b/c\"])\nunit(name = \"a\" + \"/b\")\n";
        let sources: BTreeMap<PathBuf, Arc<str>> = [(PathBuf::from("/p/u.star"), Arc::from(user))].into();
        let d = locate(&pending("b/c", "deps[1]", vec![at("/p/u.star", 1, 1)]), &sources).expect("located");
        assert_eq!(&user[d.span.clone()], "\"b/c\"");
        let d = locate(&pending("a/b", "name", vec![at("/p/u.star", 2, 1)]), &sources).expect("located");
        assert_eq!(d.location.line, 2);
        assert_eq!(d.label, "the value is computed in this call");
    }
}
