//! Parsing `.star` files in the yoe dialect and extracting call sites from the AST
//! (callee, kwargs, literal values, spans). Used by the loader for load-time refusals and
//! by `yoe audit` for spans. Trusts nothing: any text may arrive here, so before the parser
//! runs, a linear scan bounds how deeply the text nests (the parser's AST, and every pass
//! over it, recurses once per level).
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::starlark::codemap::Span;
use ::starlark::syntax::ast::{ArgumentP, AstExpr, AstLiteral, ExprP, StmtP};
use ::starlark::syntax::{AstModule, Dialect};

use super::limits::{self, Limit, LoadLimits};
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

/// Why a file did not parse.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// starlark's own error, rendered with the source line.
    #[error("{0}")]
    Syntax(::starlark::Error),
    /// Nested deeper than `max_parse_depth`; `location` is the first token past the limit.
    #[error("{}", limits::message(location, Limit::ParseDepth, *limit))]
    TooDeep { location: Location, limit: u64 },
}

impl ParsedFile {
    /// Parse `text` as `path`, with the embedded `max_parse_depth`.
    pub fn parse(path: &Path, text: String) -> Result<ParsedFile, ParseError> {
        Self::parse_with(path, text, &LoadLimits::embedded())
    }

    /// Parse `text` as `path`; text nested deeper than `limits.max_parse_depth` is refused
    /// before the parser sees it.
    pub fn parse_with(path: &Path, text: String, limits: &LoadLimits) -> Result<ParsedFile, ParseError> {
        if let Err(at) = check_nesting(&text, limits.depth(Limit::ParseDepth)) {
            let (line, column) = line_col(&text, at);
            let location = Location { file: path.to_path_buf(), line, column, end_line: line, end_column: column };
            return Err(ParseError::TooDeep { location, limit: limits.max_parse_depth });
        }
        let shared: Arc<str> = Arc::from(text.as_str());
        let ast = AstModule::parse(&path.display().to_string(), text, &dialect()).map_err(ParseError::Syntax)?;
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

/// 1-based line and column (in characters) of a byte offset of `text`.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(start..).map_or(0, |s| s.chars().count()) + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
}

/// Check, in one pass over the bytes and without recursing, that `text` nests at most
/// `max` levels; `Err` holds the byte offset of the first token past the limit.
///
/// The depth counted is an upper bound (within a small factor) of the depth of the AST the
/// parser would build, which is what the parser's actions, drop, the compiler and yoe's own
/// AST walks recurse on. It is the sum, at each token, of:
/// - one per open bracket `(`, `[`, `{`;
/// - one per indented block, plus one per `elif` in the chain that block is part of
///   (`elif` nests the next branch inside the previous one);
/// - one per operator-like token since the last `,` (or the start of the logical line) of
///   each enclosing bracket and of the statement: every operator character (except a lone
///   `=`), `.`, the keywords `and or not in is if else lambda for`, and a `(` or `[` that
///   follows an operand (a call or index suffix). Long chains nest: `a + a + a` is
///   `(a + a) + a`, `not not x`, `- - x`, `x.a.a`, `f()()` and `x if c else y if d else z`
///   all add a level per link. A `,` between a `lambda` and its `:` separates parameters,
///   not siblings, so it resets nothing (`lambda a, b: lambda a, b: ...` nests too).
///
/// Strings and comments are skipped; anything that is not valid Starlark is the parser's
/// business, the scan only has to stay linear and never undercount valid text.
pub fn check_nesting(text: &str, max: usize) -> Result<(), usize> {
    let b = text.as_bytes();
    let n = b.len();
    // Per open bracket: operator-like tokens since its last comma, and `lambda`s whose `:`
    // is still to come.
    let mut frames: Vec<(usize, usize)> = Vec::new();
    let mut bracket_total = 0usize;
    // Indented blocks: (width, elif chain length); the first is the top level.
    let mut blocks: Vec<(usize, usize)> = vec![(0, 0)];
    let mut block_total = 0usize;
    let mut line_ops = 0usize;
    let mut line_lambdas = 0usize;
    let mut line_start = true;
    let mut first_token = true;
    let mut prev_operand = false;
    let mut i = 0usize;
    macro_rules! check {
        ($at:expr) => {
            if block_total + line_ops + bracket_total > max {
                return Err($at);
            }
        };
    }
    macro_rules! op {
        ($at:expr) => {{
            match frames.last_mut() {
                Some(top) => {
                    top.0 += 1;
                    bracket_total += 1;
                }
                None => line_ops += 1,
            }
            check!($at);
        }};
    }
    macro_rules! lambdas {
        () => {
            match frames.last_mut() {
                Some(top) => &mut top.1,
                None => &mut line_lambdas,
            }
        };
    }
    while i < n {
        if line_start && frames.is_empty() {
            line_start = false;
            let mut width = 0usize;
            let mut j = i;
            // As starlark's lexer: spaces count, a `\r` is ignored, a tab is an error there
            // (counted as 8 here).
            while j < n && matches!(b[j], b' ' | b'\t' | b'\r') {
                width += match b[j] {
                    b' ' => 1,
                    b'\t' => 8,
                    _ => 0,
                };
                j += 1;
            }
            let blank = j >= n || matches!(b[j], b'\n' | b'#');
            if !blank {
                let top = blocks.last().map_or(0, |t| t.0);
                if width > top {
                    blocks.push((width, 0));
                    block_total += 1;
                    check!(j);
                } else {
                    while blocks.len() > 1 && blocks.last().is_some_and(|t| width < t.0) {
                        if let Some((_, chain)) = blocks.pop() {
                            block_total -= 1 + chain;
                        }
                    }
                }
                first_token = true;
            }
            i = j;
            continue;
        }
        let c = b[i];
        match c {
            b'\n' => {
                if frames.is_empty() {
                    line_ops = 0;
                    line_lambdas = 0;
                    line_start = true;
                    prev_operand = false;
                }
                i += 1;
            }
            b'\\' if i + 1 < n && b[i + 1] == b'\n' => i += 2,
            b'\\' if i + 2 < n && b[i + 1] == b'\r' && b[i + 2] == b'\n' => i += 3,
            b' ' | b'\t' | b'\r' | b'\x0c' => i += 1,
            b'#' => {
                while i < n && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                first_token = false;
                let triple = i + 2 < n && b[i + 1] == c && b[i + 2] == c;
                i += if triple { 3 } else { 1 };
                while i < n {
                    if b[i] == b'\\' {
                        i += 2;
                    } else if triple && i + 2 < n && b[i] == c && b[i + 1] == c && b[i + 2] == c {
                        i += 3;
                        break;
                    } else if !triple && b[i] == c {
                        i += 1;
                        break;
                    } else if !triple && b[i] == b'\n' {
                        break;
                    } else {
                        i += 1;
                    }
                }
                prev_operand = true;
            }
            b'(' | b'[' | b'{' => {
                first_token = false;
                if prev_operand {
                    op!(i);
                }
                frames.push((0, 0));
                bracket_total += 1;
                check!(i);
                prev_operand = false;
                i += 1;
            }
            b')' | b']' | b'}' => {
                if let Some((ops, _)) = frames.pop() {
                    bracket_total -= 1 + ops;
                }
                prev_operand = true;
                i += 1;
            }
            b',' => {
                match frames.last_mut() {
                    Some(top) if top.1 == 0 => {
                        bracket_total -= top.0;
                        top.0 = 0;
                    }
                    None if line_lambdas == 0 => line_ops = 0,
                    _ => {} // a lambda's parameters
                }
                prev_operand = false;
                i += 1;
            }
            b':' => {
                first_token = false;
                let pending = lambdas!();
                *pending = pending.saturating_sub(1);
                prev_operand = false;
                i += 1;
            }
            b';' => {
                if frames.is_empty() {
                    line_ops = 0;
                    line_lambdas = 0;
                }
                prev_operand = false;
                i += 1;
            }
            b'.' if i + 1 < n && b[i + 1].is_ascii_digit() && !prev_operand => {
                first_token = false;
                i = skip_number(b, i);
                prev_operand = true;
            }
            b'0'..=b'9' => {
                first_token = false;
                i = skip_number(b, i);
                prev_operand = true;
            }
            b'.' => {
                first_token = false;
                op!(i);
                prev_operand = false;
                i += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>' | b'!' | b'=' => {
                first_token = false;
                let start = i;
                while i < n
                    && matches!(
                        b[i],
                        b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>' | b'!' | b'='
                    )
                {
                    i += 1;
                }
                if &b[start..i] != b"=" {
                    for at in start..i {
                        op!(at);
                    }
                }
                prev_operand = false;
            }
            c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let start = i;
                while i < n && (b[i] == b'_' || b[i].is_ascii_alphanumeric() || b[i] >= 0x80) {
                    i += 1;
                }
                let word = &b[start..i];
                if std::mem::take(&mut first_token)
                    && frames.is_empty()
                    && let Some(top) = blocks.last_mut()
                {
                    match word {
                        b"elif" => {
                            top.1 += 1;
                            block_total += 1;
                            check!(start);
                        }
                        b"else" => {}
                        _ => {
                            block_total -= top.1;
                            top.1 = 0;
                        }
                    }
                }
                match word {
                    b"lambda" => {
                        op!(start);
                        *lambdas!() += 1;
                        prev_operand = false;
                    }
                    b"and" | b"or" | b"not" | b"in" | b"is" | b"if" | b"else" | b"for" => {
                        op!(start);
                        prev_operand = false;
                    }
                    b"elif" | b"def" | b"return" | b"load" | b"pass" | b"break" | b"continue" => prev_operand = false,
                    _ => prev_operand = true,
                }
            }
            _ => {
                first_token = false;
                prev_operand = false;
                i += 1;
            }
        }
    }
    Ok(())
}

/// The end of a number literal starting at `i` (digits, letters, `_`, `.`, and a sign
/// right after the exponent of a decimal number).
fn skip_number(b: &[u8], mut i: usize) -> usize {
    let radix = b.get(i) == Some(&b'0') && b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic());
    while i < b.len() {
        let c = b[i];
        let exponent_sign = (c == b'+' || c == b'-') && !radix && i > 0 && matches!(b[i - 1], b'e' | b'E');
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
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
