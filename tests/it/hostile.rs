//! Hostile `.star` inputs, generated here (no committed blobs), through the real `yoe`
//! binary in every verb that loads: `graph`, `build --dry-run`, `audit` and
//! `audit --static-only`. Each run must end with a normal exit code (never a panic, an
//! abort, a stack overflow or a hang: a 30 s harness timeout turns a hang into a failure;
//! nothing here asserts how long a run takes), and its error or finding must name the file
//! and the limit. Before these limits existed every case below hung, grew to gigabytes or
//! died with SIGABRT; `load_limits.rs` shows in-process, with a limit moved, that it is the
//! limit that stops each one.
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

use crate::boundary::Who;
use crate::support::yoe_bin;

const PROJECT: &str = "project(name = \"h\", version = \"1.0\", defaults = defaults(machine = \"m\"))\n";
const MACHINE: &str = "machine(name = \"m\", arch = \"x86_64\")\n";

/// A file of a generated project.
pub enum Entry {
    Text(String),
    Fifo,
    Dir,
}

/// One hostile project: its files, the file the limit must be named in, the limits that may
/// stop it (which of the evaluation bounds trips first depends on the machine's speed:
/// steps or time, stack or time), and whether the text alone shows it (then the AST pass of
/// `audit --static-only` reports it too).
pub struct Case {
    pub files: Vec<(String, Entry)>,
    pub file: &'static str,
    pub limits: &'static [&'static str],
    pub static_visible: bool,
}

pub fn text(path: &str, t: impl Into<String>) -> (String, Entry) {
    (path.to_string(), Entry::Text(t.into()))
}

/// Write `files` (plus PROJECT.star and a machine unless given) into a new temp dir.
pub fn write_project(files: &[(String, Entry)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all: Vec<(&str, &Entry)> = files.iter().map(|(p, e)| (p.as_str(), e)).collect();
    let project = Entry::Text(PROJECT.into());
    let machine = Entry::Text(MACHINE.into());
    if !files.iter().any(|(p, _)| p == "PROJECT.star") {
        all.push(("PROJECT.star", &project));
    }
    if !files.iter().any(|(p, _)| p.starts_with("machines/")) {
        all.push(("machines/m.star", &machine));
    }
    for (rel, entry) in all {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        match entry {
            Entry::Text(t) => std::fs::write(&p, t).expect("write"),
            Entry::Dir => std::fs::create_dir_all(&p).expect("mkdir"),
            Entry::Fifo => {
                // std has no mkfifo; the program is in coreutils.
                let ok = std::process::Command::new("mkfifo").arg(&p).status().expect("mkfifo");
                assert!(ok.success());
            }
        }
    }
    dir
}

/// Run yoe in `dir`; the run must end by itself with an exit code (not a signal, not 101).
pub fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_as(dir, args, Who::Root)
}

/// [`run`] as `who` (an unprivileged user runs yoe with its own uid and gid).
fn run_as(dir: &Path, args: &[&str], who: Who) -> (i32, String, String) {
    let mut std_cmd = std::process::Command::new(yoe_bin());
    if let Who::User(uid, gid) = who {
        use std::os::unix::process::CommandExt;
        std_cmd.uid(uid).gid(gid).env("HOME", "/nonexistent").env("YOE_CACHE", dir.join(".cache"));
    }
    let out = Command::from_std(std_cmd)
        .env_remove("YOE_PROJECT")
        .env_remove("YOE_LOG")
        .env("NO_COLOR", "1")
        .arg("--project")
        .arg(dir)
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .expect("run yoe");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or_else(|| {
        panic!("yoe {args:?} did not exit by itself ({:?}; killed by the 30 s harness timeout or a signal)\nstderr:\n{stderr}", out.status)
    });
    assert_ne!(code, 101, "yoe {args:?} panicked:\n{stderr}");
    (code, stdout, stderr)
}

fn names_one_of(text: &str, limits: &[&str]) -> bool {
    limits.iter().any(|l| text.contains(l))
}

/// The load-limit findings of an audit's JSON: (file, message).
fn load_limit_findings(stdout: &str) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("audit JSON does not parse: {e}\n{stdout}"));
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "load-limit")
        .map(|f| {
            (f["primary"]["file"].as_str().unwrap_or("").to_string(), f["message"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

/// Every verb on one case, as root and as an unprivileged user (when the tests run as root,
/// as CI does; else as the current user alone).
pub fn check(name: &str, case: &Case) {
    for who in crate::boundary::identities() {
        let dir = write_project(&case.files);
        if let Who::User(uid, gid) = who {
            for e in walkdir::WalkDir::new(dir.path()).follow_links(false) {
                let e = e.expect("walk");
                std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid)).expect("lchown");
            }
        }
        check_as(&format!("{name} [{}]", who.label()), case, dir.path(), who);
    }
}

fn check_as(name: &str, case: &Case, root: &Path, who: Who) {
    let run = |root: &Path, args: &[&str]| run_as(root, args, who);
    let root: PathBuf = root.to_path_buf();
    let what = |e: &str| {
        if case.limits.iter().all(|l| l.starts_with("max_")) {
            format!("a limit of {:?}", case.limits)
        } else {
            e.to_string()
        }
    };
    for verb in [&["graph"][..], &["build", "--dry-run"][..]] {
        let (code, stdout, stderr) = run(&root, verb);
        assert_eq!(code, 1, "{name}: yoe {verb:?} must fail normally\nstdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(stderr.contains(case.file), "{name}: yoe {verb:?} does not name {}:\n{stderr}", case.file);
        assert!(names_one_of(&stderr, case.limits), "{name}: yoe {verb:?} does not name {}:\n{stderr}", what(""));
    }
    let (code, stdout, stderr) = run(&root, &["audit", "--format", "json"]);
    assert!((11..=14).contains(&code), "{name}: yoe audit exited {code}\n{stderr}\n{stdout}");
    let found = load_limit_findings(&stdout);
    assert!(
        found.iter().any(|(f, m)| f == case.file && names_one_of(m, case.limits)),
        "{name}: yoe audit has no load-limit finding in {} naming {}: {found:?}\n{stderr}",
        case.file,
        what("")
    );
    let (code, stdout, stderr) = run(&root, &["audit", "--static-only", "--format", "json"]);
    assert!(code == 0 || (11..=14).contains(&code), "{name}: yoe audit --static-only exited {code}\n{stderr}");
    if case.static_visible {
        let found = load_limit_findings(&stdout);
        assert!(
            found.iter().any(|(f, m)| f == case.file && names_one_of(m, case.limits)),
            "{name}: yoe audit --static-only has no load-limit finding in {}: {found:?}",
            case.file
        );
    }
}

fn unit_file(body: impl Into<String>) -> Vec<(String, Entry)> {
    vec![text("units/a.star", body)]
}

fn eval_case(body: impl Into<String>, limits: &'static [&'static str]) -> Case {
    Case { files: unit_file(body), file: "units/a.star", limits, static_visible: false }
}

fn nesting_case(body: String) -> Case {
    Case { files: unit_file(body), file: "units/a.star", limits: &["max_parse_depth"], static_visible: true }
}

const TIME: &[&str] = &["max_steps", "max_cpu_ms"];
const MEMORY: &[&str] = &["max_thread_bytes", "max_heap_bytes"];

// ---- evaluation ---------------------------------------------------------------------

#[test]
fn a_2_40_step_comprehension_stops_at_the_step_or_time_limit() {
    check("comprehension", &eval_case("x = [1 for a in range(1 << 20) for b in range(1 << 20)]\n", TIME));
    let spin =
        "def spin():\n    for a in range(1 << 20):\n        for b in range(1 << 20):\n            pass\nspin()\n";
    check("loop", &eval_case(spin, TIME));
}

#[test]
fn forty_256_mib_strings_stop_at_the_memory_limit() {
    let body: String = (0..40).map(|i| format!("s{i} = \"a\" * (256 << 20)\n")).collect();
    check("strings", &eval_case(body, MEMORY));
    // The same, built at run time (no constant folding).
    let body: String = (0..40).map(|i| format!("n{i} = 256 << 20\ns{i} = \"a\" * n{i}\n")).collect();
    check("strings at run time", &eval_case(body, MEMORY));
}

#[test]
fn single_operations_that_allocate_gigabytes_stop_at_the_thread_budget() {
    check("replace", &eval_case("x = (\"a\" * 1000000).replace(\"\", \"b\" * 1000000)\n", MEMORY));
    check("repeat", &eval_case("x = \"ab\" * 2147483647\n", MEMORY));
    check("range", &eval_case("x = list(range(400000000))\n", MEMORY));
}

#[test]
fn an_evaluator_panic_is_caught_and_names_the_file() {
    // starlark asserts that no single value reaches 4 GiB (here 2^31 list slots) before any
    // allocation: a panic on the evaluating thread, caught and reported, never a crash.
    let case = eval_case("x = list(range(2147483647))\n", &["the Starlark evaluator failed"]);
    check("list of 2^31", &case);
}

#[test]
fn deep_recursion_stops_at_the_call_depth() {
    check("recursion", &eval_case("def f(n):\n    return f(n + 1)\nx = f(0)\n", &["max_call_depth"]));
}

#[test]
fn deep_values_stop_at_the_value_depth_or_the_stack_guard() {
    // Handed to yoe: the conversion refuses it.
    let to_unit =
        "def f():\n    x = []\n    for i in range(5000):\n        x = [x]\n    unit(name = \"a\", deep = x)\nf()\n";
    check("value to unit()", &eval_case(to_unit, &["max_value_depth"]));
    // Frozen with the module: starlark recurses once per level; the stack guard stops it.
    let frozen = "def f():\n    x = {}\n    for i in range(200000):\n        x = {\"a\": x}\n    return x\ny = f()\n";
    check("frozen dict", &eval_case(frozen, &["max_stack_bytes", "max_cpu_ms"]));
    // Printed: repr recurses too.
    let printed =
        "def f():\n    x = []\n    for i in range(1000000):\n        x = [x]\n    return len(str(x))\ny = f()\n";
    check("repr", &eval_case(printed, &["max_stack_bytes", "max_cpu_ms", "max_steps"]));
}

#[test]
fn a_slow_single_operation_stops_at_the_deadline() {
    // Within the step limit, then one native sort that takes seconds.
    let sort = "x = sorted([i * 7919 % 1000003 for i in range(5000000)])\n";
    check("sort", &eval_case(sort, &["max_cpu_ms", "max_steps", "max_heap_bytes"]));
}

// ---- parsing ------------------------------------------------------------------------

#[test]
fn twenty_thousand_nested_brackets_are_refused_before_parsing() {
    let n = 20_000;
    check("brackets", &nesting_case(format!("x = {}{}\n", "[".repeat(n), "]".repeat(n))));
    check("parens", &nesting_case(format!("x = {}1{}\n", "(".repeat(n), ")".repeat(n))));
    check("dicts", &nesting_case(format!("x = {}1{}\n", "{1: ".repeat(n), "}".repeat(n))));
}

#[test]
fn long_chains_without_brackets_are_refused_before_parsing() {
    check("not", &nesting_case(format!("x = {}True\n", "not ".repeat(200_000))));
    check("minus", &nesting_case(format!("x = {}1\n", "- ".repeat(300_000))));
    check("minus unspaced", &nesting_case(format!("x = {}1\n", "-".repeat(500_000))));
    check("conditional", &nesting_case(format!("x = {}1\n", "1 if True else ".repeat(60_000))));
    check("lambda", &nesting_case(format!("x = {}1\n", "lambda: ".repeat(100_000))));
    check("lambda with parameters", &nesting_case(format!("x = {}1\n", "lambda a, b: ".repeat(60_000))));
    check("plus", &nesting_case(format!("x = 1{}\n", " + 1".repeat(200_000))));
    check("hex minus", &nesting_case(format!("x = 0x1e{}\n", "-0x1e".repeat(150_000))));
    check("attribute", &nesting_case(format!("x = struct(a = 1){}\n", ".a".repeat(300_000))));
    check("call", &nesting_case(format!("def f():\n    return f\nx = f{}\n", "()".repeat(300_000))));
    check("index", &nesting_case(format!("x = [1]{}\n", "[0]".repeat(200_000))));
}

#[test]
fn deep_blocks_are_refused_before_parsing() {
    let elifs: String = (1..25_000).map(|i| format!("    elif x == {i}:\n        pass\n")).collect();
    check("elif", &nesting_case(format!("def f(x):\n    if x == 0:\n        pass\n{elifs}f(1)\n")));
    let defs: String = (0..1200).map(|i| format!("{}def f{i}():\n", " ".repeat(i))).collect();
    check("defs", &nesting_case(format!("{defs}{}pass\n", " ".repeat(1200))));
}

// ---- files --------------------------------------------------------------------------

#[test]
fn a_ten_thousand_file_load_chain_stops_at_the_load_depth() {
    let mut files = vec![text("units/a.star", "load(\"//classes/c0.star\", \"v\")\n")];
    for i in 0..10_000 {
        let body = if i < 9_999 { format!("load(\"//classes/c{}.star\", \"v\")\n", i + 1) } else { "v = 1\n".into() };
        files.push(text(&format!("classes/c{i}.star"), body));
    }
    // The chain is cut where it gets too deep, in the file whose load() goes one too far.
    let case = Case { files, file: "classes/c63.star", limits: &["max_load_depth"], static_visible: false };
    check("load chain", &case);
}

#[test]
fn fifos_and_directories_named_star_are_refused_without_blocking() {
    let refused = &["not a regular file"][..];
    let target = Case {
        files: vec![
            text("units/a.star", "load(\"//classes/f.star\", \"x\")\n"),
            ("classes/f.star".into(), Entry::Fifo),
        ],
        file: "classes/f.star",
        limits: refused,
        static_visible: true,
    };
    check("fifo load target", &target);
    let walked = Case {
        files: vec![("units/a.star".into(), Entry::Fifo)],
        file: "units/a.star",
        limits: refused,
        static_visible: true,
    };
    check("walked fifo", &walked);
    let dir = Case {
        files: vec![text("units/a.star", "load(\"//classes/f.star\", \"x\")\n"), ("classes/f.star".into(), Entry::Dir)],
        file: "classes/f.star",
        limits: refused,
        static_visible: true,
    };
    check("directory load target", &dir);
    let walked_dir = Case {
        files: vec![("units/d.star".into(), Entry::Dir), text("units/d.star/inner.star", "x = 1\n")],
        file: "units/d.star",
        limits: refused,
        static_visible: true,
    };
    check("walked directory", &walked_dir);
}

#[test]
fn files_past_the_size_limits_are_refused_before_they_are_read() {
    let big = format!("# {}\n", "x".repeat(2 << 20));
    let case = Case { files: unit_file(big), file: "units/a.star", limits: &["max_file_bytes"], static_visible: true };
    check("big file", &case);
    let part = format!("# {}\n", "x".repeat(900 << 10));
    let files = (0..3).map(|i| text(&format!("units/p{i}.star"), part.clone())).collect();
    let case = Case { files, file: "units/p2.star", limits: &["max_total_bytes"], static_visible: true };
    check("total bytes", &case);
}

// ---- the rest of the project is still audited ---------------------------------------

#[test]
fn audit_reports_the_hostile_file_and_audits_the_rest() {
    for (name, hostile) in [
        ("hard stop", "x = \"ab\" * 2147483647\n"),
        (
            "soft stop",
            "def spin():\n    for a in range(1 << 20):\n        for b in range(1 << 20):\n            pass\nspin()\n",
        ),
    ] {
        // The hostile file sorts last, so the step or time limit (which ends the model pass
        // once its deadline is spent) finds the other files evaluated already.
        let dir = write_project(&[
            text("units/z.star", hostile),
            text(
                "classes/c.star",
                "def tarball(name):\n    unit(name = name, version = \"1\", source = \"https://example.org/\" + name + \".tar.gz\")\n",
            ),
            text("units/b.star", "load(\"//classes/c.star\", \"tarball\")\ntarball(\"zlib\")\n"),
        ]);
        let (code, stdout, stderr) = run(dir.path(), &["audit", "--format", "json"]);
        assert!((11..=14).contains(&code), "{name}: {code}\n{stderr}");
        let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        let rules: Vec<(String, String)> = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| (f["rule"].as_str().unwrap_or("").into(), f["primary"]["file"].as_str().unwrap_or("").into()))
            .collect();
        assert!(rules.contains(&("load-limit".into(), "units/z.star".into())), "{name}: {rules:?}");
        // Found through the model pass (the class call expanded), so the model ran on.
        assert!(rules.iter().any(|(r, _)| r == "source-without-hash"), "{name}: {rules:?}");
        assert!(v["summary"]["units"].as_u64().unwrap_or(0) >= 1, "{name}: {stdout}");
    }
}

#[test]
fn audit_stops_retrying_when_stopped_threads_fill_the_process_cap() {
    // Each file fills the thread budget with 1 MB strings (the step between two memory
    // checks is 1,000 ticks, so the allocator is what stops it). The first attempt stops in
    // a.star, the second in b.star; the parked threads then fill max_process_bytes, so there
    // is no third attempt, and both files are still reported.
    let fill = "s = \"a\" * 1000000\nx = [s + str(i) for i in range(1000)]\n";
    let dir = write_project(&[text("units/a.star", fill), text("units/b.star", fill)]);
    let (code, stdout, stderr) = run(dir.path(), &["audit", "--format", "json"]);
    assert!((11..=14).contains(&code), "{code}\n{stderr}");
    let found = load_limit_findings(&stdout);
    for f in ["units/a.star", "units/b.star"] {
        assert!(found.iter().any(|(p, m)| p == f && m.contains("max_thread_bytes")), "{f}: {found:?}");
    }
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let diagnostics = v["diagnostics"].to_string();
    assert!(diagnostics.contains("model pass failed"), "{diagnostics}");
}

#[test]
fn audit_bounds_the_shell_it_parses_and_reports_what_it_did_not() {
    // Three lines that make 40 steps of 480 KB: the audit used to parse 19 MB of shell
    // (20 s, 2.3 GB); each step past max_shell_step_bytes is now reported, not parsed.
    let generated = "def mk(i):\n    unit(name = \"u%d\" % i, version = \"1\", tasks = [task(\"b\", steps = [\"echo x; \" * 60000 + str(i)])])\n[mk(i) for i in range(40)]\n";
    let dir = write_project(&[text("units/a.star", generated)]);
    let (code, stdout, stderr) = run(dir.path(), &["audit", "--format", "json"]);
    assert!((11..=14).contains(&code), "{code}\n{stderr}");
    let found = load_limit_findings(&stdout);
    assert_eq!(
        found.iter().filter(|(f, m)| f == "units/a.star" && m.contains("max_shell_step_bytes")).count(),
        40,
        "{found:?}"
    );
    // Shell nested past max_parse_depth would overflow the shell parser (20,000 levels did,
    // even on the audit's 32 MiB stack): not parsed, reported. (Under max_shell_step_bytes,
    // which would refuse them first.)
    for (name, step) in [
        ("braces", format!("{}x;{}", "{ ".repeat(5000), " }".repeat(5000))),
        ("ifs", format!("{}x{}", "if true; then ".repeat(2000), "; fi".repeat(2000))),
    ] {
        let unit = format!("unit(name = \"a\", version = \"1\", tasks = [task(\"b\", steps = [\"{step}\"])])\n");
        let dir = write_project(&[text("units/a.star", unit)]);
        for args in [&["audit", "--format", "json"][..], &["audit", "--static-only", "--format", "json"][..]] {
            let (code, stdout, stderr) = run(dir.path(), args);
            assert!((11..=14).contains(&code), "{name}: {code}\n{stderr}");
            let found = load_limit_findings(&stdout);
            assert!(
                found.iter().any(|(f, m)| f == "units/a.star" && m.contains("max_parse_depth")),
                "{name}: {found:?}"
            );
        }
    }
}

#[test]
fn controls_the_same_shapes_within_the_limits_load() {
    // Each hostile shape, small: the verbs succeed, so it is the size that is refused.
    let dir = write_project(&[
        text("units/a.star", "x = \"ab\" * 1000000\ny = [1 for a in range(100) for b in range(100)]\nz = ((((1))))\n"),
        text("classes/c0.star", "load(\"//classes/c1.star\", \"v\")\n"),
        text("classes/c1.star", "v = 1\n"),
        text("units/b.star", "load(\"//classes/c0.star\", \"v\")\nw = not not not True\n"),
    ]);
    let (code, _, stderr) = run(dir.path(), &["graph"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = run(dir.path(), &["audit", "--format", "json"]);
    assert!(load_limit_findings(&stdout).is_empty(), "{code}: {stdout}");
}
