//! Benchmark: load + validate + graph of generated projects (250 / 1,000 / 4,000 units over
//! 25 / 100 / 400 `.star` files, a class loaded by half of the files). Prints medians and the
//! per-unit cost so growth can be judged linear. Target: ≤ 150 ms for 1,000 units.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yoe::starlark::{LoadOptions, LocalOnly, load};

fn generate(dir: &Path, units: usize) {
    let files = units / 10;
    std::fs::create_dir_all(dir.join("classes")).unwrap();
    std::fs::create_dir_all(dir.join("machines")).unwrap();
    std::fs::write(
        dir.join("PROJECT.star"),
        "project(name = \"bench\", version = \"1.0\", defaults = defaults(machine = \"m\"))\n",
    )
    .unwrap();
    std::fs::write(dir.join("machines/m.star"), "machine(name = \"m\", arch = \"x86_64\", partitions = [partition(label = \"rootfs\", type = \"ext4\", size = \"1G\", root = True)])\n").unwrap();
    std::fs::write(
        dir.join("classes/autotools.star"),
        r#"def autotools(name, version, deps = [], configure_args = [], **kwargs):
    unit(
        name = name,
        version = version,
        deps = deps,
        tasks = [task("build", steps = [
            "./configure --prefix=$PREFIX " + " ".join(configure_args),
            "make -j$NPROC",
            "make DESTDIR=$DESTDIR install",
        ])],
        **kwargs
    )
"#,
    )
    .unwrap();
    let mut n = 0;
    for f in 0..files {
        let sub = dir.join("units").join(format!("g{}", f % 10));
        std::fs::create_dir_all(&sub).unwrap();
        let with_class = f % 2 == 0;
        let mut text = String::new();
        if with_class {
            text.push_str("load(\"//classes/autotools.star\", \"autotools\")\n\n");
        }
        for _ in 0..10 {
            let deps: Vec<String> = (1..=3).filter(|d| n >= *d * 7).map(|d| format!("\"u{}\"", n - d * 7)).collect();
            if with_class {
                text.push_str(&format!(
                    "autotools(name = \"u{n}\", version = \"1.{n}\", deps = [{}], configure_args = [\"--with-x\"], license = \"MIT\")\n",
                    deps.join(", ")
                ));
            } else {
                text.push_str(&format!(
                    "unit(name = \"u{n}\", version = \"1.{n}\", deps = [{}], tasks = [task(\"build\", steps = [\"make\", \"make install\"])])\n",
                    deps.join(", ")
                ));
            }
            n += 1;
        }
        std::fs::write(sub.join(format!("f{f}.star")), text).unwrap();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    println!("load + validate + graph (median of 11 runs after 2 warm-ups)");
    println!("{:>7} {:>7} {:>12} {:>14}", "units", "files", "median ms", "µs per unit");
    for units in [250usize, 1000, 4000] {
        let t = tempfile::tempdir().unwrap();
        generate(t.path(), units);
        let opts = LoadOptions::new(t.path(), Arc::new(LocalOnly));
        let mut times = Vec::new();
        for i in 0..13 {
            let start = Instant::now();
            let l = load(&opts).unwrap_or_else(|e| panic!("{e}"));
            let g = yoe::graph::Graph::build(&l.project).unwrap();
            let order = g.order().unwrap();
            let el = start.elapsed();
            assert_eq!(order.len(), units);
            if i >= 2 {
                times.push(el);
            }
        }
        let m = median(times);
        println!(
            "{:>7} {:>7} {:>12.1} {:>14.1}",
            units,
            units / 10,
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e6 / units as f64
        );
    }
}
