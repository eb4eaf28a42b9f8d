//! Benchmark: `yoe audit` of a generated project with 1,000 units over 100 `.star` files, a
//! third of them in each of 3 local modules (each with a class and a MODULE.star). Every
//! unit has a source (archive with sha256, or git with commit; one in ten lacks its pin) and
//! three shell steps, one of them unique to the unit, so the shell parser's cache does not
//! hide the cost. Prints the median of the static pass (text only, the ≤ 300 ms target),
//! of the full audit (static + model pass), and of a plain `load()` of the same project as
//! the baseline measured in the same run. Half of the files declare units with `unit()`
//! and literal steps, half through the class.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yoe::audit::{AuditOptions, audit};
use yoe::starlark::{LoadOptions, LocalOnly, load};

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn class(name: &str) -> String {
    format!(
        r#"def {name}(name, version, source, sha256 = "", commit = "", deps = [], configure_args = [], **kwargs):
    unit(
        name = name,
        version = version,
        source = source,
        sha256 = sha256,
        commit = commit,
        deps = deps,
        tasks = [task("build", steps = [
            "./configure --prefix=$PREFIX " + " ".join(configure_args),
            "make -j$NPROC && make DESTDIR=$DESTDIR install",
            "install -D -m 0644 %s.pc $DESTDIR$PREFIX/lib/pkgconfig/%s.pc" % (name, name),
        ])],
        **kwargs
    )
"#
    )
}

fn generate(dir: &Path, units: usize) {
    let modules = ["m0", "m1", "m2"];
    let decls: Vec<String> = modules
        .iter()
        .map(|m| format!("module(\"https://example.org/{m}.git\", commit = \"{COMMIT}\", local = \"vendor/{m}\")"))
        .collect();
    write(
        &dir.join("PROJECT.star"),
        &format!(
            "project(name = \"bench\", version = \"1.0\", defaults = defaults(machine = \"m\"), modules = [{}])\n",
            decls.join(", ")
        ),
    );
    write(&dir.join("machines/m.star"), "machine(name = \"m\", arch = \"x86_64\")\n");
    write(&dir.join("classes/c.star"), &class("c"));
    for m in modules {
        write(&dir.join(format!("vendor/{m}/MODULE.star")), &format!("module_info(name = \"{m}\")\n"));
        write(&dir.join(format!("vendor/{m}/classes/c.star")), &class("c"));
    }
    let files = units / 10;
    let mut n = 0;
    for f in 0..files {
        let base = match f % 4 {
            0 => dir.to_path_buf(),
            k => dir.join(format!("vendor/m{}", k - 1)),
        };
        let with_class = f % 2 == 0;
        let mut text = String::from("load(\"//classes/c.star\", \"c\")\n\n");
        for _ in 0..10 {
            let deps: Vec<String> = (1..=2).filter(|d| n >= d * 13).map(|d| format!("\"u{}\"", n - d * 13)).collect();
            let pin = if n % 10 == 0 {
                String::new()
            } else if n % 2 == 0 {
                format!("sha256 = \"{SHA}\",")
            } else {
                format!("commit = \"{COMMIT}\",")
            };
            let source = if n % 2 == 0 {
                format!("https://example.org/src/u{n}-1.{n}.tar.gz")
            } else {
                format!("https://github.com/example/u{n}.git")
            };
            if !with_class {
                // A plain unit with literal steps: the static pass parses these too.
                text.push_str(&format!(
                    "unit(\n    name = \"u{n}\",\n    version = \"1.{n}\",\n    source = \"{source}\",\n    {pin}\n    deps = [{}],\n    tasks = [task(\"build\", steps = [\n        \"./configure --prefix=$PREFIX --with-u{n}\",\n        \"make -j$NPROC && make DESTDIR=$DESTDIR install\",\n        \"install -D -m 0644 u{n}.pc $DESTDIR$PREFIX/lib/pkgconfig/u{n}.pc\",\n    ])],\n)\n",
                    deps.join(", ")
                ));
                n += 1;
                continue;
            }
            text.push_str(&format!(
                "c(\n    name = \"u{n}\",\n    version = \"1.{n}\",\n    source = \"{source}\",\n    {pin}\n    deps = [{}],\n    configure_args = [\"--with-u{n}\", \"--disable-static\"],\n    license = \"MIT\",\n)\n",
                deps.join(", ")
            ));
            n += 1;
        }
        write(&base.join(format!("units/g{}/f{f}.star", f % 10)), &text);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T, check: impl Fn(&T)) -> Duration {
    let mut times = Vec::new();
    for i in 0..runs + 2 {
        let start = Instant::now();
        let out = f();
        let el = start.elapsed();
        check(&out);
        if i >= 2 {
            times.push(el);
        }
    }
    median(times)
}

fn main() {
    let units = 1000;
    let t = tempfile::tempdir().unwrap();
    generate(t.path(), units);
    let opts = |model: bool| AuditOptions { model, ..AuditOptions::new(t.path(), Arc::new(LocalOnly)) };
    let pins = units / 10;
    let static_opts = opts(false);
    let full_opts = opts(true);
    let lo = LoadOptions::new(t.path(), Arc::new(LocalOnly));
    let check = |r: &yoe::audit::Report| {
        assert_eq!(r.units, units);
        let missing =
            r.findings.iter().filter(|f| f.rule == "source-without-hash" || f.rule == "git-source-without-commit");
        assert_eq!(missing.count(), pins, "one unit in ten lacks its pin");
    };
    let s = time(11, || audit(&static_opts).unwrap(), check);
    let full = time(11, || audit(&full_opts).unwrap(), check);
    let base = time(11, || load(&lo).unwrap(), |l| assert_eq!(l.project.units.len(), units));
    println!("yoe audit, {units} units in {} files, 3 modules (median of 11 runs after 2 warm-ups)", units / 10 + 8);
    println!("{:<34} {:>10} {:>16}", "pass", "median ms", "× load() alone");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = |d: Duration| d.as_secs_f64() / base.as_secs_f64();
    println!("{:<34} {:>10.1} {:>16.2}", "static (AST + rules), target ≤ 300", ms(s), ratio(s));
    println!("{:<34} {:>10.1} {:>16.2}", "full (static + model pass)", ms(full), ratio(full));
    println!("{:<34} {:>10.1} {:>16.2}", "baseline: load() of the project", ms(base), 1.0);
}
