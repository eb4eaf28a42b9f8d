//! Parsing `.star` files in the yoe dialect and extracting call sites from the AST
//! (callee, kwargs, literal values, spans). Used by the loader for load-time refusals and
//! by `yoe audit` for spans. Trusts nothing: any text may arrive here.
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::starlark::codemap::Span;
use ::starlark::syntax::ast::{ArgumentP, AstExpr, AstLiteral, ExprP, StmtP};
use ::starlark::syntax::{AstModule, Dialect};

use crate::model::Location;

/// The dialect of Go yoe (`go.starlark.net` defaults): def, lambda and load; no top-level
/// `if`/`for`, no f-strings, no type annotations.
pub fn dialect() -> Dialect {
    Dialect {
        enable_def: true,
        enable_lambda: true,
        enable_load: true,
        enable_keyword_only_arguments: true,
        enable_top_level_stmt: false,
        enable_f_strings: false,
        ..Dialect::Standard
    }
}

/// A parsed file: its text, its AST, and helpers to turn spans into locations.
pub struct ParsedFile {
    pub path: PathBuf,
    pub text: Arc<str>,
    pub ast: AstModule,
}

/// A literal as far as it can be known without evaluating anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    None,
    Str(String),
    Int(i64),
    /// Not a literal: computed at run time.
    Dynamic,
}

#[derive(Debug, Clone)]
pub struct ArgSite {
    /// `None` for positional arguments, `Some("*")`/`Some("**")` for `*args`/`**kwargs`.
    pub name: Option<String>,
    pub span: Range<usize>,
    pub value_span: Range<usize>,
    pub value: Literal,
}

/// One call expression `callee(args...)` anywhere in a file.
#[derive(Debug, Clone)]
pub struct CallSite {
    /// Dotted callee text (`run`, `ctx.shell`), or empty when not a plain name.
    pub callee: String,
    pub span: Range<usize>,
    pub callee_span: Range<usize>,
    pub args: Vec<ArgSite>,
}

impl CallSite {
    pub fn kwarg(&self, name: &str) -> Option<&ArgSite> {
        self.args.iter().find(|a| a.name.as_deref() == Some(name))
    }
}

/// A `load("label", ...)` statement.
#[derive(Debug, Clone)]
pub struct LoadSite {
    pub label: String,
    pub span: Range<usize>,
}

impl ParsedFile {
    /// Parse `text` as `path`. The error is starlark's own, rendered with the source line.
    pub fn parse(path: &Path, text: String) -> Result<ParsedFile, ::starlark::Error> {
        let shared: Arc<str> = Arc::from(text.as_str());
        let ast = AstModule::parse(&path.display().to_string(), text, &dialect())?;
        Ok(ParsedFile { path: path.to_path_buf(), text: shared, ast })
    }

    /// Location (1-based line and column) of a byte range.
    pub fn location(&self, range: Range<usize>) -> Location {
        let span = Span::new(
            ::starlark::codemap::Pos::new(range.start as u32),
            ::starlark::codemap::Pos::new(range.end as u32),
        );
        let r = self.ast.file_span(span).resolve_span();
        Location {
            file: self.path.clone(),
            line: r.begin.line as u32 + 1,
            column: r.begin.column as u32 + 1,
            end_line: r.end.line as u32 + 1,
            end_column: r.end.column as u32 + 1,
        }
    }

    /// Every `load()` statement, in order.
    pub fn loads(&self) -> Vec<LoadSite> {
        let mut out = Vec::new();
        visit_loads(self.ast.statement(), &mut out);
        out
    }

    /// Every call expression in the file, in source order (outer calls before inner ones).
    pub fn calls(&self) -> Vec<CallSite> {
        let mut out = Vec::new();
        self.ast.statement().visit_expr(|e| walk_expr(e, &mut out));
        out.sort_by_key(|c| c.span.start);
        out
    }

    /// Byte ranges of every comment (`# ...`).
    pub fn comments(&self) -> Vec<Range<usize>> {
        self.ast.comments().iter().map(|s| range(*s)).collect()
    }

    /// The 1-based line number of a byte offset.
    pub fn line_of(&self, offset: usize) -> u32 {
        self.location(offset..offset).line
    }
}

fn visit_loads(stmt: &::starlark::syntax::ast::AstStmt, out: &mut Vec<LoadSite>) {
    match &stmt.node {
        StmtP::Load(l) => out.push(LoadSite { label: l.module.node.clone(), span: range(stmt.span) }),
        StmtP::Statements(xs) => xs.iter().for_each(|x| visit_loads(x, out)),
        _ => {}
    }
}

fn range(s: Span) -> Range<usize> {
    s.begin().get() as usize..s.end().get() as usize
}

fn walk_expr(e: &AstExpr, out: &mut Vec<CallSite>) {
    if let ExprP::Call(callee, args) = &e.node {
        let args = args
            .args
            .iter()
            .map(|a| {
                let (name, value) = match &a.node {
                    ArgumentP::Positional(v) => (None, v),
                    ArgumentP::Named(n, v) => (Some(n.node.clone()), v),
                    ArgumentP::Args(v) => (Some("*".to_string()), v),
                    ArgumentP::KwArgs(v) => (Some("**".to_string()), v),
                };
                ArgSite { name, span: range(a.span), value_span: range(value.span), value: literal(value) }
            })
            .collect();
        out.push(CallSite {
            callee: dotted(callee).unwrap_or_default(),
            span: range(e.span),
            callee_span: range(callee.span),
            args,
        });
    }
    e.node.visit_expr(|c| walk_expr(c, out));
}

fn dotted(e: &AstExpr) -> Option<String> {
    match &e.node {
        ExprP::Identifier(id) => Some(id.node.ident.clone()),
        ExprP::Dot(inner, attr) => Some(format!("{}.{}", dotted(inner)?, attr.node)),
        _ => None,
    }
}

fn literal(e: &AstExpr) -> Literal {
    match &e.node {
        ExprP::Identifier(id) => match id.node.ident.as_str() {
            "True" => Literal::Bool(true),
            "False" => Literal::Bool(false),
            "None" => Literal::None,
            _ => Literal::Dynamic,
        },
        ExprP::Literal(AstLiteral::String(s)) => Literal::Str(s.node.clone()),
        ExprP::Literal(AstLiteral::Int(i)) => match &i.node {
            starlark_syntax::lexer::TokenInt::I32(v) => Literal::Int(i64::from(*v)),
            _ => Literal::Dynamic,
        },
        _ => Literal::Dynamic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> ParsedFile {
        ParsedFile::parse(Path::new("t.star"), src.to_string()).unwrap()
    }

    #[test]
    fn finds_nested_calls_with_literal_kwargs() {
        let f = parse("def f():\n    run(\"x\", privileged = True)\n    g(lambda: run(\"y\", host=True))\n");
        let runs: Vec<_> = f.calls().into_iter().filter(|c| c.callee == "run").collect();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].kwarg("privileged").unwrap().value, Literal::Bool(true));
        assert_eq!(runs[1].kwarg("host").unwrap().value, Literal::Bool(true));
        let loc = f.location(runs[0].kwarg("privileged").unwrap().span.clone());
        assert_eq!((loc.line, loc.column), (2, 14));
    }

    #[test]
    fn top_level_if_is_rejected_like_go_yoe() {
        assert!(ParsedFile::parse(Path::new("t.star"), "if True:\n    x = 1\n".into()).is_err());
    }

    #[test]
    fn loads_are_listed() {
        let f = parse("load(\"//classes/a.star\", \"a\")\nload(\"@core//b.star\", \"b\")\n");
        let labels: Vec<_> = f.loads().into_iter().map(|l| l.label).collect();
        assert_eq!(labels, ["//classes/a.star", "@core//b.star"]);
    }
}
