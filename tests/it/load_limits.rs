//! The load limits in-process. Each hostile shape of `hostile.rs`, small enough to be safe
//! to run, loads within the limits and fails once the one limit that guards it is moved
//! below it: that shows it is that limit which stops the real input (which would hang,
//! grow to gigabytes or overflow the stack without it). Only limits that end the
//! evaluation cleanly are moved here; the hard ones (thread bytes, stack) stop a thread for
//! good, so they are exercised through the binary only.
use std::path::Path;
use std::sync::{Arc, Mutex};

use yoe::model::Step;
use yoe::starlark::syntax::{ParseError, ParsedFile, check_nesting};
use yoe::starlark::{BuildHost, Limit, LoadError, LoadLimits, LoadOptions, Loaded, LocalOnly, RunOutput, load};

use crate::support::Fixture;

const PROJECT: &str = "project(name = \"t\", version = \"0.1.0\")\n";

fn fixture(files: &[(&str, &str)]) -> Fixture {
    let mut all = vec![("PROJECT.star", PROJECT)];
    all.extend_from_slice(files);
    Fixture::new(&all)
}

fn load_with(f: &Fixture, tweak: impl FnOnce(&mut LoadLimits)) -> Result<Loaded, LoadError> {
    let mut opts = LoadOptions::new(f.root(), Arc::new(LocalOnly));
    tweak(&mut opts.limits);
    load(&opts)
}

/// The limit a failed load names, with its rendered message.
fn limit_of(r: Result<Loaded, LoadError>, root: &Path) -> (Limit, String) {
    match r {
        Ok(_) => panic!("load unexpectedly succeeded"),
        Err(e) => match e.limit() {
            Some(l) => (l, e.render(root)),
            None => panic!("not a limit: {}", e.render(root)),
        },
    }
}

/// Each shape that nests without brackets, `n` links deep.
fn shapes(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("brackets", format!("x = {}{}\n", "[".repeat(n), "]".repeat(n))),
        ("not", format!("x = {}True\n", "not ".repeat(n))),
        ("minus", format!("x = {}1\n", "- ".repeat(n))),
        ("minus unspaced", format!("x = {}1\n", "-".repeat(n))),
        ("conditional", format!("x = {}1\n", "1 if True else ".repeat(n))),
        ("lambda", format!("x = {}1\n", "lambda: ".repeat(n))),
        ("lambda with parameters", format!("x = {}1\n", "lambda a, b: ".repeat(n))),
        ("lambda in a call", format!("x = f({}1)\n", "lambda a, b = [1, 2]: ".repeat(n))),
        ("plus", format!("x = 1{}\n", " + 1".repeat(n))),
        ("hex minus", format!("x = 0x1e{}\n", "-0x1e".repeat(n))),
        ("attribute", format!("x = y{}\n", ".a".repeat(n))),
        ("call", format!("x = f{}\n", "()".repeat(n))),
        ("index", format!("x = [1]{}\n", "[0]".repeat(n))),
        ("elif", {
            let elifs: String = (1..n).map(|i| format!("    elif x == {i}:\n        pass\n")).collect();
            format!("def f(x):\n    if x == 0:\n        pass\n{elifs}")
        }),
        ("defs", {
            let defs: String = (0..n).map(|i| format!("{}def f{i}():\n", " ".repeat(i))).collect();
            format!("{defs}{}pass\n", " ".repeat(n))
        }),
        ("defs with carriage returns", {
            let defs: String = (0..n).map(|i| format!("\r{}def f{i}():\r\n", " ".repeat(i))).collect();
            format!("{defs}{}pass\n", " ".repeat(n))
        }),
    ]
}

/// Run `f` on a thread with the stack the loader and the audit parse on (a test thread's
/// 2 MiB is too small for a debug build's parser at a few hundred levels: that is why yoe
/// never parses on a thread whose stack it did not size).
fn on_load_stack(f: impl FnOnce() + Send + 'static) {
    let stack = LoadLimits::embedded().max_stack_bytes as usize;
    std::thread::Builder::new().stack_size(stack).spawn(f).unwrap().join().unwrap();
}

#[test]
fn parse_depth_refuses_every_deep_shape_and_a_raised_limit_parses_it() {
    on_load_stack(parse_depth_shapes);
}

fn parse_depth_shapes() {
    let embedded = LoadLimits::embedded();
    let raised = LoadLimits { max_parse_depth: 2_000, ..embedded };
    for (name, text) in shapes(300) {
        let e = ParsedFile::parse(Path::new("/p/a.star"), text.clone()).err();
        assert!(matches!(e, Some(ParseError::TooDeep { .. })), "{name}: not refused at the default limit: {e:?}");
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("/p/a.star:") && msg.contains("max_parse_depth") && msg.contains("200"), "{msg}");
        // Control: it is valid text, and 300 levels are safe to parse (and drop).
        ParsedFile::parse_with(Path::new("/p/a.star"), text, &raised)
            .unwrap_or_else(|e| panic!("{name}: does not parse with the limit raised: {e}"));
    }
    // Small ones are far from the limit.
    for (name, text) in shapes(20) {
        assert!(ParsedFile::parse(Path::new("a.star"), text).is_ok(), "{name}");
    }
}

#[test]
fn parse_depth_counts_brackets_exactly_and_names_the_first_token_past_the_limit() {
    on_load_stack(bracket_count);
}

fn bracket_count() {
    let at = |n: usize| format!("x = {}{}\n", "[".repeat(n), "]".repeat(n));
    assert!(check_nesting(&at(200), 200).is_ok());
    assert_eq!(check_nesting(&at(201), 200), Err(4 + 200));
    let Err(ParseError::TooDeep { location, .. }) = ParsedFile::parse(Path::new("a.star"), format!("\n\n{}", at(201)))
    else {
        panic!("not refused")
    };
    assert_eq!((location.line, location.column), (3, 205));
    // Strings and comments do not nest; a linear scan, whatever the text.
    let noise = format!("s = \"{}\" # {}\nt = '''{}'''\n", "[".repeat(5000), "(".repeat(5000), "{\n".repeat(5000));
    assert!(check_nesting(&noise, 10).is_ok());
    assert!(check_nesting(&"\u{0}\u{7f}é[[\"'\\".repeat(10_000), 1_000_000).is_ok());
}

#[test]
fn nesting_within_the_limit_loads_in_every_verb_shape() {
    // The deepest legal text (200 brackets) loads end to end: parse, evaluate, freeze.
    let text = format!("x = {}{}\nunit(name = \"a\", version = \"1\")\n", "[".repeat(200), "]".repeat(200));
    let f = fixture(&[("units/a.star", &text)]);
    f.load_ok();
    let text = format!("x = {}{}\n", "[".repeat(201), "]".repeat(201));
    let f = fixture(&[("units/a.star", &text)]);
    let (limit, msg) = limit_of(f.load(), &f.root());
    assert_eq!(limit, Limit::ParseDepth);
    assert!(msg.contains("units/a.star:1:205"), "{msg}");
}

#[test]
fn load_depth_cuts_a_long_chain_and_a_raised_limit_loads_it() {
    let n = 70;
    let mut files: Vec<(String, String)> = vec![("units/a.star".into(), "load(\"//classes/c0.star\", \"v\")\n".into())];
    for i in 0..n {
        let body = if i + 1 < n { format!("load(\"//classes/c{}.star\", \"v\")\n", i + 1) } else { "v = 1\n".into() };
        files.push((format!("classes/c{i}.star"), body));
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let f = fixture(&refs);
    let (limit, msg) = limit_of(f.load(), &f.root());
    assert_eq!(limit, Limit::LoadDepth);
    assert!(msg.contains("classes/c63.star:1:1") && msg.contains("max_load_depth") && msg.contains("64"), "{msg}");
    load_with(&f, |l| l.max_load_depth = 100).unwrap_or_else(|e| panic!("{}", e.render(&f.root())));
}

const SPIN: &str = "def spin(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n";

#[test]
fn steps_stop_a_long_loop_and_name_its_statement() {
    let f = fixture(&[("units/a.star", &format!("{SPIN}x = spin(20000)\n"))]);
    f.load_ok();
    let (limit, msg) = limit_of(load_with(&f, |l| l.max_steps = 5_000), &f.root());
    assert_eq!(limit, Limit::Steps);
    assert!(msg.contains("units/a.star:4:") && msg.contains("max_steps") && msg.contains("5000"), "{msg}");
}

#[test]
fn cpu_time_stops_a_long_loop() {
    let f = fixture(&[("units/a.star", &format!("{SPIN}x = spin(1000)\n"))]);
    f.load_ok();
    let f = fixture(&[("units/a.star", &format!("{SPIN}x = spin(100000000)\n"))]);
    let (limit, msg) = limit_of(load_with(&f, |l| l.max_cpu_ms = 50), &f.root());
    assert_eq!(limit, Limit::CpuMs);
    assert!(msg.contains("units/a.star:") && msg.contains("max_cpu_ms") && msg.contains("= 50"), "{msg}");
}

#[test]
fn heap_stops_a_load_that_holds_too_much() {
    let f = fixture(&[("units/a.star", "n = 8 << 20\nx = \"a\" * n\ny = 1\n")]);
    f.load_ok();
    let (limit, msg) = limit_of(load_with(&f, |l| l.max_heap_bytes = 4 << 20), &f.root());
    assert_eq!(limit, Limit::HeapBytes);
    assert!(msg.contains("units/a.star:") && msg.contains("max_heap_bytes"), "{msg}");
}

#[test]
fn call_depth_stops_deep_recursion() {
    let body = "def f(n):\n    return 0 if n == 0 else f(n - 1)\nx = f(40)\n";
    let f = fixture(&[("units/a.star", body)]);
    f.load_ok();
    let (limit, msg) = limit_of(load_with(&f, |l| l.max_call_depth = 20), &f.root());
    assert_eq!(limit, Limit::CallDepth);
    assert!(msg.contains("units/a.star:2:") && msg.contains("max_call_depth"), "{msg}");
}

#[test]
fn value_depth_stops_a_deep_value_handed_to_yoe() {
    let deep = |n: usize| {
        format!(
            "def f():\n    x = []\n    for i in range({n}):\n        x = [x]\n    unit(name = \"a\", version = \"1\", deep = x)\nf()\n"
        )
    };
    fixture(&[("units/a.star", &deep(60))]).load_ok();
    let f = fixture(&[("units/a.star", &deep(70))]);
    let (limit, msg) = limit_of(f.load(), &f.root());
    assert_eq!(limit, Limit::ValueDepth);
    assert!(msg.contains("units/a.star:5:") && msg.contains("max_value_depth") && msg.contains("64"), "{msg}");
    load_with(&f, |l| l.max_value_depth = 100).unwrap_or_else(|e| panic!("{}", e.render(&f.root())));
}

#[test]
fn file_and_total_bytes_refuse_large_inputs() {
    let text = |n: &str| format!("# {}\nunit(name = \"{n}\", version = \"1\")\n", "x".repeat(2000));
    let f = fixture(&[("units/a.star", &text("a")), ("units/b.star", &text("b"))]);
    f.load_ok();
    let (limit, msg) = limit_of(load_with(&f, |l| l.max_file_bytes = 1000), &f.root());
    assert_eq!(limit, Limit::FileBytes);
    assert!(msg.contains("units/a.star") && msg.contains("max_file_bytes") && msg.contains("1000"), "{msg}");
    let (limit, msg) = limit_of(load_with(&f, |l| l.max_total_bytes = 3000), &f.root());
    assert_eq!(limit, Limit::TotalBytes);
    assert!(msg.contains("units/b.star") && msg.contains("max_total_bytes"), "{msg}");
}

#[test]
fn the_number_of_files_is_bounded_in_the_load_and_the_audit() {
    // 1 MB of one-line files would be 50,000 parses and modules; max_files stops that.
    let files: Vec<(String, String)> = (0..12).map(|i| (format!("units/u{i:02}.star"), format!("x = {i}\n"))).collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let f = fixture(&refs);
    f.load_ok();
    let (limit, msg) = limit_of(load_with(&f, |l| l.max_files = 10), &f.root());
    assert_eq!(limit, Limit::Files);
    // PROJECT.star is the first file read, so the tenth unit file is the eleventh.
    assert!(msg.contains("units/u09.star") && msg.contains("max_files") && msg.contains("= 10"), "{msg}");

    let mut opts = yoe::audit::AuditOptions {
        today: Some((2026, 6, 1)),
        ..yoe::audit::AuditOptions::new(f.root(), Arc::new(LocalOnly))
    };
    opts.limits.max_files = 10;
    let report = yoe::audit::audit(&opts).expect("audit");
    let hits: Vec<(String, &str)> = report
        .findings
        .iter()
        .filter(|f| f.rule == "load-limit")
        .map(|f| (f.primary.file.display().to_string(), f.message.as_str()))
        .collect();
    assert!(!hits.is_empty() && hits.iter().all(|(_, m)| m.contains("max_files")), "{hits:?}");
    assert!(hits.len() <= 2, "one finding per pass, not one per file left out: {hits:?}");
    for static_only in [false, true] {
        opts.model = !static_only;
        let report = yoe::audit::audit(&opts).expect("audit");
        assert!(report.files <= 11, "{} files read", report.files);
    }
}

#[test]
fn a_step_too_long_to_audit_is_reported_and_a_raised_limit_audits_it() {
    // A curl | sh behind 80 KB of padding: past max_shell_step_bytes it is not parsed, and
    // the audit says so at the step instead of staying silent.
    let step = format!("{}curl -fsSL https://example.org/i.sh | sh", "echo x; ".repeat(10_000));
    let unit = format!("unit(name = \"a\", version = \"1\", tasks = [task(\"b\", steps = [\"{step}\"])])\n");
    let f = fixture(&[("units/a.star", &unit)]);
    let mut opts = yoe::audit::AuditOptions {
        today: Some((2026, 6, 1)),
        ..yoe::audit::AuditOptions::new(f.root(), Arc::new(LocalOnly))
    };
    let rules = |opts: &yoe::audit::AuditOptions| -> Vec<(&'static str, String)> {
        let report = yoe::audit::audit(opts).expect("audit");
        report.findings.iter().map(|f| (f.rule, f.message.clone())).collect()
    };
    let found = rules(&opts);
    assert!(found.iter().any(|(r, m)| *r == "load-limit" && m.contains("max_shell_step_bytes")), "{found:?}");
    assert!(!found.iter().any(|(r, _)| *r == "curl-pipe-shell"), "{found:?}");
    opts.limits.max_shell_step_bytes = 1 << 20;
    let found = rules(&opts);
    assert!(found.iter().any(|(r, _)| *r == "curl-pipe-shell"), "{found:?}");
    assert!(!found.iter().any(|(r, _)| *r == "load-limit"), "{found:?}");
    // The total: two such steps fit one at a time, not both.
    opts.limits.max_shell_total_bytes = 100_000;
    let step2 = step.replace("i.sh", "j.sh");
    let unit =
        format!("unit(name = \"a\", version = \"1\", tasks = [task(\"b\", steps = [\"{step}\", \"{step2}\"])])\n");
    f.write("units/a.star", &unit);
    let found = rules(&opts);
    assert!(found.iter().any(|(r, m)| *r == "load-limit" && m.contains("max_shell_total_bytes")), "{found:?}");
}

#[test]
fn a_fifo_is_refused_where_a_regular_file_loads() {
    let f = fixture(&[("units/a.star", "load(\"//classes/f.star\", \"x\")\n"), ("classes/f.star", "x = 1\n")]);
    f.load_ok();
    let fifo = f.root().join("classes/f.star");
    std::fs::remove_file(&fifo).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let err = f.load_err();
    assert!(err.contains("classes/f.star is a fifo, not a regular file"), "{err}");
}

#[test]
fn audit_leaves_a_file_out_and_refunds_its_steps_to_the_rest() {
    let f = fixture(&[
        ("units/a.star", "unit(name = \"a\", version = \"1\")\n"),
        ("units/m.star", &format!("{SPIN}x = spin(20000)\n")),
        ("units/z.star", &format!("{SPIN}x = spin(2000)\nunit(name = \"z\", version = \"1\")\n")),
    ]);
    let mut opts = LoadOptions::new(f.root(), Arc::new(LocalOnly));
    // Enough for z.star only if m.star's steps are given back when it is left out.
    opts.limits.max_steps = 5_000;
    let a = yoe::starlark::load_for_audit(&opts).unwrap_or_else(|e| panic!("{}", e.render(&f.root())));
    let limits: Vec<_> = a.errors.iter().filter_map(LoadError::limit).collect();
    assert_eq!(limits, [Limit::Steps]);
    let names: Vec<&str> = a.catalogue.iter().map(|u| u.name.as_str()).collect();
    assert!(names.contains(&"a") && names.contains(&"z"), "{names:?}");
}

struct Host(Mutex<Vec<String>>);

impl BuildHost for Host {
    fn run(&self, cmd: &str) -> Result<RunOutput, String> {
        self.0.lock().unwrap().push(cmd.to_string());
        Ok(RunOutput { exit_code: 0, stdout: String::new(), stderr: String::new() })
    }
    fn dir_size_mb(&self, _: &str) -> Result<u64, String> {
        Ok(0)
    }
}

#[test]
fn fn_steps_run_under_the_step_and_heap_limits() {
    let body = format!(
        "{SPIN}def build():\n    run(\"n=\" + str(spin(20000)))\nunit(name = \"u\", version = \"1\", tasks = [task(\"t\", fn = build)])\n"
    );
    let f = fixture(&[("units/u.star", &body)]);
    let l = f.load_ok();
    let Step::Fn(fr) = &l.project.units["u"].tasks[0].steps[0] else { panic!("expected a fn step") };
    let host = Arc::new(Host(Mutex::new(Vec::new())));
    l.runtime.call(fr.id, host.clone()).unwrap();
    assert_eq!(host.0.lock().unwrap().len(), 1);
    let small = LoadLimits { max_steps: 5_000, ..LoadLimits::embedded() };
    let err = l.runtime.call_with(fr.id, host.clone(), &small).unwrap_err();
    assert!(err.contains("units/u.star:4:") && err.contains("max_steps") && err.contains("5000"), "{err}");
    assert_eq!(host.0.lock().unwrap().len(), 1, "the step stopped before run()");

    let body = "def build():\n    x = \"a\" * (8 << 20)\n    run(\"x\")\nunit(name = \"u\", version = \"1\", tasks = [task(\"t\", fn = build)])\n";
    let f = fixture(&[("units/u.star", body)]);
    let l = f.load_ok();
    let Step::Fn(fr) = &l.project.units["u"].tasks[0].steps[0] else { panic!("expected a fn step") };
    l.runtime.call(fr.id, host.clone()).unwrap();
    let small = LoadLimits { max_heap_bytes: 4 << 20, ..LoadLimits::embedded() };
    let err = l.runtime.call_with(fr.id, host.clone(), &small).unwrap_err();
    assert!(err.contains("units/u.star:3:") && err.contains("max_heap_bytes"), "{err}");
}

mod scan_bounds_the_ast {
    //! The nesting scan must never undercount: for random valid expressions built from every
    //! shape that nests, the AST's real depth stays within a small factor of what the scan
    //! measures, so `max_parse_depth` bounds the parser's recursion whatever the text.
    use std::path::Path;

    use proptest::prelude::*;
    use starlark_syntax::syntax::ast::AstNoPayload;
    use starlark_syntax::syntax::uniplate::Visit;
    use yoe::starlark::LoadLimits;
    use yoe::starlark::syntax::{ParsedFile, check_nesting};

    fn expr() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![Just("1".to_string()), Just("x".to_string()), Just("\"s\"".to_string())];
        leaf.prop_recursive(40, 400, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| format!("[{a}]")),
                inner.clone().prop_map(|a| format!("({a})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{{a}: {b}}}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} + {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
                (inner.clone(), inner.clone(), inner.clone()).prop_map(|(a, b, c)| format!("{a} if {b} else {c}")),
                inner.clone().prop_map(|a| format!("not {a}")),
                inner.clone().prop_map(|a| format!("-{a}")),
                inner.clone().prop_map(|a| format!("lambda: {a}")),
                inner.clone().prop_map(|a| format!("lambda p, q: {a}")),
                inner.clone().prop_map(|a| format!("({a}).f")),
                inner.clone().prop_map(|a| format!("({a})()")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("f({a}, k = {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a} for y in {b}]")),
            ]
        })
    }

    fn depth(v: Visit<AstNoPayload>) -> usize {
        let mut d = 0;
        v.visit_children(|c| d = d.max(depth(c)));
        d + 1
    }

    /// The smallest limit the scan lets `text` through at.
    fn scanned(text: &str) -> usize {
        (0..10_000).find(|&m| check_nesting(text, m).is_ok()).unwrap_or(usize::MAX)
    }

    fn check(e: &str) -> Result<(), TestCaseError> {
        let text = format!("z = {e}\n");
        let raised = LoadLimits { max_parse_depth: 10_000, ..LoadLimits::embedded() };
        let Ok(parsed) = ParsedFile::parse_with(Path::new("p.star"), text.clone(), &raised) else {
            return Ok(()); // not valid Starlark (the scan has nothing to bound)
        };
        let ast = depth(Visit::Stmt(parsed.ast.statement()));
        let scan = scanned(&text);
        prop_assert!(ast <= 3 * scan + 4, "AST depth {ast} but the scan measured {scan}: {text}");
        Ok(())
    }

    #[test]
    fn for_random_expressions() {
        super::on_load_stack(|| {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
            runner.run(&expr(), |e| check(&e)).unwrap_or_else(|e| panic!("{e}"));
        });
    }
}
