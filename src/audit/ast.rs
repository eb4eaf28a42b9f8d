//! What `yoe audit` reads from a parsed `.star` file without evaluating it: every call with
//! its arguments as a tree of literals (strings, bools, lists, dicts, nested calls), the
//! `def` each call sits in, and every string literal with its byte span. Trusts nothing:
//! anything that is not a literal is `Dynamic`.
use std::ops::Range;

use ::starlark::codemap::Span;
use ::starlark::syntax::ast::{ArgumentP, AstExpr, AstLiteral, AstStmt, ExprP, StmtP};

use crate::starlark::syntax::ParsedFile;

/// A value as far as it is known from the text alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Bool(bool),
    Int(i64),
    None,
    List(Vec<Node>),
    Dict(Vec<(Node, Node)>),
    /// A nested call (`task(...)`, `install_file(...)`, `module(...)`): index into `calls`.
    Call(usize),
    /// Computed at run time.
    Dynamic,
}

/// A value and the bytes it spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub val: Val,
    pub span: Range<usize>,
}

impl Node {
    pub fn str(&self) -> Option<&str> {
        match &self.val {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_dynamic(&self) -> bool {
        matches!(self.val, Val::Dynamic)
    }
}

/// One argument of a call.
#[derive(Debug, Clone)]
pub struct Arg {
    /// `None` for positional, `Some("*")` / `Some("**")` for splats.
    pub name: Option<String>,
    /// The whole `name = value` text.
    pub span: Range<usize>,
    pub value: Node,
}

/// One call expression.
#[derive(Debug, Clone)]
pub struct Call {
    /// Dotted callee (`run`, `ctx.shell`), empty when not a plain name.
    pub callee: String,
    pub span: Range<usize>,
    pub callee_span: Range<usize>,
    pub args: Vec<Arg>,
    /// The innermost `def` around the call (`None` at top level).
    pub def: Option<String>,
    /// Index of the call this one is an argument of (directly or inside a list/dict).
    pub parent: Option<usize>,
}

impl Call {
    pub fn kwarg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.name.as_deref() == Some(name))
    }

    pub fn kwarg_str(&self, name: &str) -> Option<&str> {
        self.kwarg(name).and_then(|a| a.value.str())
    }

    pub fn positional(&self, i: usize) -> Option<&Arg> {
        self.args.iter().filter(|a| a.name.is_none()).nth(i)
    }

    /// Whether `**kwargs` is passed (any field may then be set at run time).
    pub fn has_splat(&self) -> bool {
        self.args.iter().any(|a| matches!(a.name.as_deref(), Some("**")))
    }
}

/// The audit's view of one file.
#[derive(Debug, Default)]
pub struct Tree {
    /// Every call, in source order of their start.
    pub calls: Vec<Call>,
    /// Every string literal with its span.
    pub strings: Vec<(String, Range<usize>)>,
}

impl Tree {
    pub fn of(file: &ParsedFile) -> Tree {
        let mut t = Tree::default();
        walk_stmt(file.ast.statement(), None, &mut t);
        // Calls are pushed parent-first; keep that order but make it source order overall.
        let mut order: Vec<usize> = (0..t.calls.len()).collect();
        order.sort_by_key(|&i| (t.calls[i].span.start, std::cmp::Reverse(t.calls[i].span.end)));
        let mut remap = vec![0; t.calls.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old] = new;
        }
        let mut calls: Vec<Call> = order.iter().map(|&i| t.calls[i].clone()).collect();
        for c in &mut calls {
            c.parent = c.parent.map(|p| remap[p]);
            for a in &mut c.args {
                remap_node(&mut a.value, &remap);
            }
        }
        t.calls = calls;
        t.strings.sort_by_key(|(_, r)| r.start);
        t
    }

    /// Calls whose callee is `name`.
    pub fn calls_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (usize, &'a Call)> + 'a {
        self.calls.iter().enumerate().filter(move |(_, c)| c.callee == name)
    }

    /// The call whose callee starts at `offset` (for mapping a model location back).
    pub fn call_starting_at(&self, offset: usize) -> Option<usize> {
        self.calls.iter().position(|c| c.span.start == offset)
    }

    /// The innermost call containing the byte range.
    pub fn enclosing_call(&self, range: &Range<usize>) -> Option<usize> {
        self.calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.span.start <= range.start && range.end <= c.span.end)
            .min_by_key(|(_, c)| c.span.end - c.span.start)
            .map(|(i, _)| i)
    }
}

fn remap_node(n: &mut Node, remap: &[usize]) {
    match &mut n.val {
        Val::Call(i) => *i = remap[*i],
        Val::List(items) => items.iter_mut().for_each(|x| remap_node(x, remap)),
        Val::Dict(items) => items.iter_mut().for_each(|(k, v)| {
            remap_node(k, remap);
            remap_node(v, remap);
        }),
        _ => {}
    }
}

fn range(s: Span) -> Range<usize> {
    s.begin().get() as usize..s.end().get() as usize
}

fn walk_stmt(stmt: &AstStmt, def: Option<&str>, t: &mut Tree) {
    match &stmt.node {
        StmtP::Def(d) => {
            let name = d.name.node.ident.clone();
            // Default values are evaluated where the def is, the body inside it.
            for p in &d.params {
                p.node.visit_expr(|e| {
                    walk_expr(e, def, None, t);
                });
            }
            walk_stmt(&d.body, Some(&name), t);
        }
        _ => {
            stmt.node.visit_children(|c| match c {
                starlark_syntax::syntax::uniplate::Visit::Stmt(s) => walk_stmt(s, def, t),
                starlark_syntax::syntax::uniplate::Visit::Expr(e) => {
                    walk_expr(e, def, None, t);
                }
            });
        }
    }
}

/// Walk an expression, recording calls and strings; returns its value.
fn walk_expr(e: &AstExpr, def: Option<&str>, parent: Option<usize>, t: &mut Tree) -> Node {
    let span = range(e.span);
    let val = match &e.node {
        ExprP::Literal(AstLiteral::String(s)) => {
            t.strings.push((s.node.clone(), span.clone()));
            Val::Str(s.node.clone())
        }
        ExprP::Literal(AstLiteral::Int(i)) => match &i.node {
            starlark_syntax::lexer::TokenInt::I32(v) => Val::Int(i64::from(*v)),
            _ => Val::Dynamic,
        },
        ExprP::Identifier(id) => match id.node.ident.as_str() {
            "True" => Val::Bool(true),
            "False" => Val::Bool(false),
            "None" => Val::None,
            _ => Val::Dynamic,
        },
        ExprP::List(items) => Val::List(items.iter().map(|x| walk_expr(x, def, parent, t)).collect()),
        ExprP::Dict(items) => {
            Val::Dict(items.iter().map(|(k, v)| (walk_expr(k, def, parent, t), walk_expr(v, def, parent, t))).collect())
        }
        ExprP::Call(callee, args) => {
            let idx = t.calls.len();
            t.calls.push(Call {
                callee: dotted(callee).unwrap_or_default(),
                span: span.clone(),
                callee_span: range(callee.span),
                args: Vec::new(),
                def: def.map(str::to_string),
                parent,
            });
            // The callee itself may contain calls (`f(x)(y)`).
            callee.node.visit_expr(|c| {
                walk_expr(c, def, parent, t);
            });
            let args: Vec<Arg> = args
                .args
                .iter()
                .map(|a| {
                    let (name, v) = match &a.node {
                        ArgumentP::Positional(v) => (None, v),
                        ArgumentP::Named(n, v) => (Some(n.node.clone()), v),
                        ArgumentP::Args(v) => (Some("*".to_string()), v),
                        ArgumentP::KwArgs(v) => (Some("**".to_string()), v),
                    };
                    Arg { name, span: range(a.span), value: walk_expr(v, def, Some(idx), t) }
                })
                .collect();
            t.calls[idx].args = args;
            Val::Call(idx)
        }
        ExprP::Lambda(l) => {
            let name = def.map(|d| format!("{d}.lambda")).unwrap_or_else(|| "lambda".to_string());
            walk_expr(&l.body, Some(&name), None, t);
            Val::Dynamic
        }
        other => {
            other.visit_expr(|c| {
                walk_expr(c, def, parent, t);
            });
            Val::Dynamic
        }
    };
    Node { val, span }
}

fn dotted(e: &AstExpr) -> Option<String> {
    match &e.node {
        ExprP::Identifier(id) => Some(id.node.ident.clone()),
        ExprP::Dot(inner, attr) => Some(format!("{}.{}", dotted(inner)?, attr.node)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn tree(src: &str) -> Tree {
        Tree::of(&ParsedFile::parse(Path::new("t.star"), src.to_string()).unwrap())
    }

    #[test]
    fn nested_calls_lists_and_defs() {
        let t = tree(
            "def c(name):\n    unit(name = name, tasks = [task(\"b\", steps = [\"make\", install_file(\"a\", \"/etc/a\")])])\n\nc(name = \"x\", sandbox = False)\n",
        );
        let callees: Vec<&str> = t.calls.iter().map(|c| c.callee.as_str()).collect();
        assert_eq!(callees, ["unit", "task", "install_file", "c"]);
        assert_eq!(t.calls[0].def.as_deref(), Some("c"));
        assert_eq!(t.calls[3].def, None);
        assert_eq!(t.calls[1].parent, Some(0));
        assert_eq!(t.calls[2].parent, Some(1));
        let Val::List(steps) = &t.calls[1].kwarg("steps").unwrap().value.val else { panic!() };
        assert_eq!(steps[0].str(), Some("make"));
        assert_eq!(steps[1].val, Val::Call(2));
        assert!(t.calls[0].kwarg("name").unwrap().value.is_dynamic());
        assert_eq!(t.calls[3].kwarg("sandbox").unwrap().value.val, Val::Bool(false));
        assert!(t.strings.iter().any(|(s, _)| s == "/etc/a"));
    }
}
