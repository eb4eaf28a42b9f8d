//! Shell steps as `yoe audit` sees them: parsed with brush-parser (a real POSIX/bash parser,
//! not regexes) into pipelines of simple commands whose words are resolved as far as the
//! text allows (quotes removed, `$VAR` kept symbolic, `$(...)` and `<(...)` parsed in turn).
//! Trusts nothing: a step that does not parse is reported as such, never guessed at. The
//! parser recurses once per level of nesting (`{ { ...`, `if ...; then if ...`, `$( $( ...`),
//! so a step nested deeper than `max_parse_depth` (counted by a linear scan first) is left
//! unparsed, like invalid shell, instead of overflowing the audit's stack.
use brush_parser::ast::{
    Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, IoFileRedirectKind, IoFileRedirectTarget,
    IoRedirect, Pipeline, Program, SimpleCommand,
};
use brush_parser::word::WordPiece;
use brush_parser::{Parser, ParserOptions};

use crate::starlark::Limit;

/// Nesting limit for `$(...)` inside `$(...)`: deeper text is treated as opaque.
const MAX_DEPTH: usize = 8;

/// A word after quote removal. `value` keeps parameter expansions as `$NAME` and command
/// substitutions as `$(...)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Word {
    pub value: String,
    /// No expansion of any kind: `value` is exactly what the command receives.
    pub is_static: bool,
    /// Names of the parameters expanded in the word.
    pub params: Vec<String>,
    /// `\xNN` escapes written in the word (ANSI-C quotes or escapes).
    pub hex_escapes: usize,
    /// Whether the word starts with a tilde expansion (`~/...`).
    pub tilde: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirKind {
    Write,
    Append,
    Read,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Redir {
    pub kind: RedirKind,
    pub target: Word,
}

/// One simple command: `NAME=v cmd args > file`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cmd {
    pub assigns: Vec<(String, Word)>,
    /// Command name and arguments.
    pub words: Vec<Word>,
    pub redirects: Vec<Redir>,
    /// `<(...)` / `>(...)` arguments, parsed.
    pub proc_substs: Vec<Script>,
    /// `$(...)` / backquotes anywhere in the command, parsed.
    pub cmd_substs: Vec<Script>,
}

impl Cmd {
    /// The command actually run, after wrappers such as `sudo`, `env A=b`, `exec`, `nohup`,
    /// `time`, `command` and `busybox`: (basename of the name, index of its first argument).
    pub fn effective(&self) -> Option<(String, usize)> {
        let mut i = 0;
        while let Some(w) = self.words.get(i) {
            let name = basename(&w.value);
            match name {
                "sudo" | "doas" | "exec" | "nohup" | "time" | "command" | "builtin" | "nice" | "stdbuf" => {
                    i += 1;
                    while self.words.get(i).is_some_and(|w| w.value.starts_with('-')) {
                        i += 1;
                    }
                }
                "env" => {
                    i += 1;
                    while self.words.get(i).is_some_and(|w| w.value.starts_with('-') || w.value.contains('=')) {
                        i += 1;
                    }
                }
                "busybox" if self.words.len() > i + 1 => i += 1,
                _ => return Some((name.to_string(), i + 1)),
            }
        }
        None
    }

    /// The arguments of the effective command.
    pub fn args(&self) -> &[Word] {
        match self.effective() {
            Some((_, i)) => self.words.get(i..).unwrap_or_default(),
            None => &[],
        }
    }

    pub fn name(&self) -> Option<String> {
        self.effective().map(|(n, _)| n)
    }

    /// Every word of the command, its assignments and its redirection targets.
    pub fn all_words(&self) -> impl Iterator<Item = &Word> {
        self.words.iter().chain(self.assigns.iter().map(|(_, w)| w)).chain(self.redirects.iter().map(|r| &r.target))
    }
}

/// A parsed step: its pipelines (a lone command is a pipeline of one), in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    pub pipelines: Vec<Vec<Cmd>>,
    /// Set when the text is not valid shell, or was not parsed.
    pub error: Option<String>,
    /// The audit limit that kept the step from being parsed, if one did.
    pub not_parsed: Option<Limit>,
}

impl Script {
    /// Parse a step as `sh -c` (or bash) would see it.
    pub fn parse(text: &str) -> Script {
        parse_depth(text, 0)
    }

    /// A step the audit did not parse because of `limit`.
    pub fn not_parsed(limit: Limit, value: u64) -> Script {
        Script {
            pipelines: Vec::new(),
            error: Some(format!("{}: load limit `{}` = {value}", limit.what(), limit.key())),
            not_parsed: Some(limit),
        }
    }

    /// Every command, including those in `$(...)` and `<(...)`, depth first.
    pub fn all_commands(&self) -> Vec<&Cmd> {
        let mut out = Vec::new();
        for p in &self.pipelines {
            for c in p {
                out.push(c);
                for s in c.cmd_substs.iter().chain(&c.proc_substs) {
                    out.extend(s.all_commands());
                }
            }
        }
        out
    }

    /// Whether any command here (or nested) is named one of `names`.
    pub fn runs_any(&self, names: &[&str]) -> bool {
        self.all_commands().iter().any(|c| c.name().is_some_and(|n| names.contains(&n.as_str())))
    }
}

fn parse_depth(text: &str, depth: usize) -> Script {
    // Nested substitutions are parts of the text checked at depth 0.
    let max = crate::starlark::LoadLimits::embedded().max_parse_depth;
    if depth == 0 && nesting(text) > max {
        return Script::not_parsed(Limit::ParseDepth, max);
    }
    let options = ParserOptions::default();
    let mut parser = Parser::new(std::io::BufReader::new(text.as_bytes()), &options);
    match parser.parse_program() {
        Ok(program) => {
            let mut s = Script::default();
            program_into(&program, depth, &mut s);
            s
        }
        Err(e) => Script { pipelines: Vec::new(), error: Some(e.to_string()), not_parsed: None },
    }
}

/// The deepest nesting of a shell text, in one pass and an upper bound of what the parser
/// recurses on: brackets `( { $( ${ $((`, backquotes, and the compound commands `if while
/// until for case select` (closed by `fi done esac`) where a command starts. Quotes are
/// followed (`$(` and backquotes nest inside double quotes too).
fn nesting(text: &str) -> u64 {
    let b = text.as_bytes();
    let (mut depth, mut max, mut i) = (0u64, 0u64, 0usize);
    let mut backquoted = false;
    let mut in_double = false;
    let mut command_start = true;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                i += 2;
                command_start = false;
                continue;
            }
            b'\'' if !in_double => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                command_start = false;
            }
            b'"' => in_double = !in_double,
            b'(' | b'{' => {
                depth += 1;
                command_start = true;
            }
            b')' | b'}' => {
                depth = depth.saturating_sub(1);
                command_start = false;
            }
            b'`' => {
                backquoted = !backquoted;
                depth = if backquoted { depth + 1 } else { depth.saturating_sub(1) };
                command_start = backquoted;
            }
            b';' | b'&' | b'|' | b'\n' => command_start = true,
            b' ' | b'\t' | b'\r' => {}
            _ if c.is_ascii_alphabetic() && command_start && !in_double => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                match &b[start..i] {
                    b"if" | b"while" | b"until" | b"for" | b"case" | b"select" => depth += 1,
                    b"fi" | b"done" | b"esac" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                // A compound keyword is followed by a command; a plain word by arguments.
                command_start =
                    matches!(&b[start..i], b"then" | b"do" | b"else" | b"elif" | b"if" | b"while" | b"until" | b"!");
                max = max.max(depth);
                continue;
            }
            _ => command_start = false,
        }
        max = max.max(depth);
        i += 1;
    }
    max
}

fn program_into(p: &Program, depth: usize, out: &mut Script) {
    for cc in &p.complete_commands {
        list_into(cc, depth, out);
    }
}

fn list_into(list: &CompoundList, depth: usize, out: &mut Script) {
    for item in &list.0 {
        let and_or = &item.0;
        pipeline_into(&and_or.first, depth, out);
        for next in &and_or.additional {
            match next {
                brush_parser::ast::AndOr::And(p) | brush_parser::ast::AndOr::Or(p) => pipeline_into(p, depth, out),
            }
        }
    }
}

fn pipeline_into(p: &Pipeline, depth: usize, out: &mut Script) {
    let mut stages = Vec::new();
    for c in &p.seq {
        match c {
            Command::Simple(sc) => stages.push(simple(sc, depth)),
            Command::Compound(cc, redirects) => {
                // A compound stage reads the pipe as a whole: show it as one command named
                // after its first inner command, and also list its own pipelines.
                let mut inner = Script::default();
                compound_into(cc, depth, &mut inner);
                let mut stage = inner.pipelines.first().and_then(|p| p.first()).cloned().unwrap_or_default();
                if let Some(r) = redirects {
                    for io in &r.0 {
                        redirect_into(io, depth, &mut stage);
                    }
                }
                stages.push(stage);
                out.pipelines.extend(inner.pipelines.into_iter().skip(1));
            }
            Command::Function(f) => {
                let mut inner = Script::default();
                compound_into(&f.body.0, depth, &mut inner);
                out.pipelines.extend(inner.pipelines);
            }
            Command::ExtendedTest(..) => {}
        }
    }
    if !stages.is_empty() {
        out.pipelines.push(stages);
    }
}

fn compound_into(cc: &CompoundCommand, depth: usize, out: &mut Script) {
    match cc {
        CompoundCommand::BraceGroup(b) => list_into(&b.list, depth, out),
        CompoundCommand::Subshell(s) => list_into(&s.list, depth, out),
        CompoundCommand::ForClause(f) => list_into(&f.body.list, depth, out),
        CompoundCommand::ArithmeticForClause(f) => list_into(&f.body.list, depth, out),
        CompoundCommand::CaseClause(c) => {
            c.cases.iter().filter_map(|i| i.cmd.as_ref()).for_each(|l| list_into(l, depth, out))
        }
        CompoundCommand::IfClause(i) => {
            list_into(&i.condition, depth, out);
            list_into(&i.then, depth, out);
            for e in i.elses.iter().flatten() {
                if let Some(c) = &e.condition {
                    list_into(c, depth, out);
                }
                list_into(&e.body, depth, out);
            }
        }
        CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
            list_into(&w.0, depth, out);
            list_into(&w.1.list, depth, out);
        }
        CompoundCommand::Coprocess(_) | CompoundCommand::Arithmetic(_) => {}
    }
}

fn simple(sc: &SimpleCommand, depth: usize) -> Cmd {
    let mut cmd = Cmd::default();
    let items = sc.prefix.iter().flat_map(|p| p.0.iter());
    let name = sc.word_or_name.iter();
    let suffix = sc.suffix.iter().flat_map(|s| s.0.iter());
    for item in items {
        item_into(item, depth, &mut cmd);
    }
    for w in name {
        let word = word(&w.value, depth, &mut cmd.cmd_substs);
        cmd.words.push(word);
    }
    for item in suffix {
        item_into(item, depth, &mut cmd);
    }
    cmd
}

fn item_into(item: &CommandPrefixOrSuffixItem, depth: usize, cmd: &mut Cmd) {
    match item {
        CommandPrefixOrSuffixItem::Word(w) => {
            let word = word(&w.value, depth, &mut cmd.cmd_substs);
            cmd.words.push(word);
        }
        CommandPrefixOrSuffixItem::AssignmentWord(a, w) => {
            let name = match &a.name {
                brush_parser::ast::AssignmentName::VariableName(n) => n.clone(),
                brush_parser::ast::AssignmentName::ArrayElementName(n, _) => n.clone(),
            };
            let raw = w.value.split_once('=').map(|(_, v)| v).unwrap_or(&w.value);
            let value = word(raw, depth, &mut cmd.cmd_substs);
            cmd.assigns.push((name, value));
        }
        CommandPrefixOrSuffixItem::IoRedirect(io) => redirect_into(io, depth, cmd),
        CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
            let mut s = Script::default();
            if depth < MAX_DEPTH {
                list_into(&sub.list, depth + 1, &mut s);
            }
            cmd.proc_substs.push(s);
            cmd.words.push(Word { value: "<(...)".into(), ..Word::default() });
        }
    }
}

fn redirect_into(io: &IoRedirect, depth: usize, cmd: &mut Cmd) {
    match io {
        IoRedirect::File(_, kind, target) => {
            let kind = match kind {
                IoFileRedirectKind::Write | IoFileRedirectKind::Clobber => RedirKind::Write,
                IoFileRedirectKind::Append => RedirKind::Append,
                IoFileRedirectKind::Read => RedirKind::Read,
                IoFileRedirectKind::ReadAndWrite => RedirKind::Write,
                IoFileRedirectKind::DuplicateInput | IoFileRedirectKind::DuplicateOutput => RedirKind::Other,
            };
            match target {
                IoFileRedirectTarget::Filename(w) => {
                    let target = word(&w.value, depth, &mut cmd.cmd_substs);
                    cmd.redirects.push(Redir { kind, target });
                }
                IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                    let mut s = Script::default();
                    if depth < MAX_DEPTH {
                        list_into(&sub.list, depth + 1, &mut s);
                    }
                    cmd.proc_substs.push(s);
                }
                IoFileRedirectTarget::Fd(_) | IoFileRedirectTarget::Duplicate(_) => {}
            }
        }
        IoRedirect::OutputAndError(w, append) => {
            let target = word(&w.value, depth, &mut cmd.cmd_substs);
            cmd.redirects.push(Redir { kind: if *append { RedirKind::Append } else { RedirKind::Write }, target });
        }
        IoRedirect::HereDocument(..) | IoRedirect::HereString(..) => {}
    }
}

/// Resolve a raw word: quotes removed, expansions kept symbolic, substitutions parsed.
fn word(raw: &str, depth: usize, substs: &mut Vec<Script>) -> Word {
    let options = ParserOptions::default();
    let mut w = Word { is_static: true, ..Word::default() };
    match brush_parser::word::parse(raw, &options) {
        Ok(pieces) => {
            for (i, p) in pieces.iter().enumerate() {
                piece(&p.piece, raw, p.start_index..p.end_index, i == 0, depth, substs, &mut w);
            }
        }
        Err(_) => {
            w.value = raw.to_string();
            w.is_static = false;
        }
    }
    w.hex_escapes += count_hex_escapes(raw).saturating_sub(w.hex_escapes);
    w
}

fn piece(
    p: &WordPiece,
    raw: &str,
    at: std::ops::Range<usize>,
    first: bool,
    depth: usize,
    substs: &mut Vec<Script>,
    w: &mut Word,
) {
    let src = raw.get(at).unwrap_or("");
    match p {
        WordPiece::Text(s) | WordPiece::SingleQuotedText(s) => w.value.push_str(s),
        WordPiece::AnsiCQuotedText(s) => {
            w.value.push_str(s);
        }
        WordPiece::EscapeSequence(s) => w.value.push_str(s.strip_prefix('\\').unwrap_or(s)),
        WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
            for (i, x) in inner.iter().enumerate() {
                piece(&x.piece, raw, x.start_index..x.end_index, first && i == 0, depth, substs, w);
            }
        }
        WordPiece::TildeExpansion(_) => {
            w.is_static = false;
            if first {
                w.tilde = true;
            }
            w.value.push_str("$HOME");
            w.params.push("HOME".into());
        }
        WordPiece::ParameterExpansion(_) => {
            w.is_static = false;
            let name = param_name(src);
            w.value.push('$');
            w.value.push_str(&name);
            if !name.is_empty() {
                w.params.push(name);
            }
        }
        WordPiece::CommandSubstitution(s) | WordPiece::BackquotedCommandSubstitution(s) => {
            w.is_static = false;
            w.value.push_str("$(...)");
            if depth < MAX_DEPTH {
                substs.push(parse_depth(s, depth + 1));
            }
        }
        WordPiece::ArithmeticExpression(_) => {
            w.is_static = false;
            w.value.push_str("$((...))");
        }
    }
}

/// `$NAME`, `${NAME}`, `${NAME:-x}` → `NAME`; special parameters (`$1`, `$@`) → the character.
fn param_name(src: &str) -> String {
    let s = src.trim_start_matches('$').trim_start_matches('{').trim_start_matches('!');
    let name: String = s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    if name.is_empty() { s.chars().next().map(String::from).unwrap_or_default() } else { name }
}

fn count_hex_escapes(raw: &str) -> usize {
    let b = raw.as_bytes();
    (0..b.len().saturating_sub(3))
        .filter(|&i| b[i] == b'\\' && b[i + 1] == b'x' && b[i + 2].is_ascii_hexdigit() && b[i + 3].is_ascii_hexdigit())
        .count()
}

/// The last path component of a command name (`/usr/bin/curl` → `curl`).
pub fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_of_curl_into_sh() {
        let s = Script::parse("curl -fsSL https://x.example/i.sh | sudo bash -s -- --yes");
        assert_eq!(s.pipelines.len(), 1);
        let p = &s.pipelines[0];
        assert_eq!(p[0].name().as_deref(), Some("curl"));
        assert_eq!(p[1].name().as_deref(), Some("bash"));
        assert_eq!(p[1].args()[0].value, "-s");
    }

    #[test]
    fn quotes_params_and_substitutions() {
        let s = Script::parse("echo \"$DESTDIR/etc\" '${X}' > ${DESTDIR}/a; eval \"$(wget -qO- http://x)\"");
        let echo = &s.pipelines[0][0];
        assert_eq!(echo.words[1].value, "$DESTDIR/etc");
        assert_eq!(echo.words[1].params, ["DESTDIR"]);
        assert_eq!(echo.words[2].value, "${X}");
        assert!(echo.words[2].is_static);
        assert_eq!(echo.redirects[0].target.value, "$DESTDIR/a");
        let ev = &s.pipelines[1][0];
        assert_eq!(ev.cmd_substs.len(), 1);
        assert!(ev.cmd_substs[0].runs_any(&["wget"]));
    }

    #[test]
    fn process_substitution_and_compound_commands() {
        let s = Script::parse("if true; then bash <(curl -s https://x); fi");
        let cmds = s.all_commands();
        assert!(cmds.iter().any(|c| c.name().as_deref() == Some("curl")));
        let bash = cmds.iter().find(|c| c.name().as_deref() == Some("bash")).unwrap();
        assert_eq!(bash.proc_substs.len(), 1);
    }

    #[test]
    fn tilde_and_hex_escapes() {
        let s = Script::parse("cp ~/.netrc . && printf '\\x63\\x75\\x72\\x6c' | sh");
        assert!(s.pipelines[0][0].words[1].tilde);
        assert_eq!(s.pipelines[1][0].words[1].hex_escapes, 4);
    }

    #[test]
    fn deeply_nested_steps_are_left_unparsed_not_overflowed() {
        let n = 20_000;
        for deep in [
            format!("{}x;{}", "{ ".repeat(n), " }".repeat(n)),
            format!("{}x{}", "if true; then ".repeat(n), "; fi".repeat(n)),
            format!("{}x{}", "$(".repeat(n), ")".repeat(n)),
            format!("{}x{}", "while true; do ".repeat(n), "; done".repeat(n)),
            format!("echo \"{}x{}\"", "$(".repeat(n), ")".repeat(n)),
        ] {
            let s = Script::parse(&deep);
            assert!(s.error.as_deref().is_some_and(|e| e.contains("max_parse_depth")), "{:?}", s.error);
        }
        // Words that look like keywords, quotes and long flat lists do not count.
        let flat = format!("{}{}", "echo if while for; ".repeat(1000), "a && ".repeat(1000));
        assert!(nesting(&(flat + "b")) <= 2);
        assert_eq!(nesting("if a; then if b; then c; fi; fi"), 2);
        assert_eq!(nesting("echo '((((' \"$(a $(b))\""), 2);
        let ok = Script::parse("for f in a b; do if [ -e $f ]; then cat $f; fi; done");
        assert!(ok.error.is_none() && ok.runs_any(&["cat"]));
    }

    #[test]
    fn invalid_shell_is_an_error_not_a_guess() {
        assert!(Script::parse("echo 'unterminated").error.is_some());
    }
}
