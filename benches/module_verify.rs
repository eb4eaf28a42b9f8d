//! Benchmark: re-verifying remote modules as part of a load. Builds git repositories of
//! 10,000 files / 100 MB and 500 files / 5 MB (served over file://), locks them into a
//! fresh cache, then times (a) `Store::verify` alone, with 1 thread and the default, and
//! (b) whole loads of projects using one or three such modules, with verification on and
//! off (the bench-only switch), as a ratio. Targets: ≤ 300 ms (10,000 files) and ≤ 15 ms
//! (500 files). Warm page cache: this measures hashing and file-system walking, not disk.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yoe::module::{LockedSource, Lockfile, Pin, Resolver, Store, UpdateScope};
use yoe::starlark::{LoadOptions, load};

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.invalid")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.invalid")
        .args(["-c", "init.defaultBranch=main", "-c", "core.compression=0", "-c", "gc.auto=0"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("git");
    assert!(st.success(), "git {args:?}");
}

/// A module repository with `files` data files of `size` bytes (pseudo-random, so nothing
/// deduplicates) in directories of 100, plus MODULE.star and one unit.
fn make_module(dir: &Path, name: &str, files: usize, size: usize) {
    std::fs::create_dir_all(dir.join("units")).unwrap();
    std::fs::write(dir.join("MODULE.star"), format!("module_info(name = {name:?})\n")).unwrap();
    std::fs::write(dir.join("units/u.star"), format!("unit(name = \"{name}-u\", version = \"1\")\n")).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (files as u64);
    let mut buf = vec![0u8; size];
    for i in 0..files {
        let d = dir.join("files").join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&d).unwrap();
        }
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(d.join(format!("f{i:05}.bin")), &buf).unwrap();
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "bench"]);
}

fn project(dir: &Path, urls: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    let mods: Vec<String> = urls.iter().map(|u| format!("module({u:?}, ref = \"main\")")).collect();
    std::fs::write(dir.join("PROJECT.star"), format!("project(name = \"bench\", modules = [{}])\n", mods.join(", ")))
        .unwrap();
}

fn lock(proj: &Path, store: &Store) -> Lockfile {
    let r = Arc::new(Resolver::new(store.clone(), None, UpdateScope::Keep, false));
    let res = load(&LoadOptions::new(proj, r.clone()));
    let l = r.lockfile().unwrap_or_else(|| panic!("lock: {:?}", res.err().map(|e| e.to_string())));
    l.write(proj).unwrap();
    l
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..2 {
        f();
    }
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f();
        v.push(t.elapsed());
    }
    let min = *v.iter().min().unwrap();
    (median(v), min)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let tmp = tempfile::Builder::new().prefix("yoe-bench-mod-").tempdir().unwrap();
    let t = tmp.path().canonicalize().unwrap();
    let url = |p: &PathBuf| format!("file://{}", p.display());
    let setup = Instant::now();
    // Three of each size (the three-module projects use distinct repositories).
    let big: Vec<PathBuf> = (0..3).map(|i| t.join(format!("origins/big{i}"))).collect();
    let small: Vec<PathBuf> = (0..3).map(|i| t.join(format!("origins/small{i}"))).collect();
    for (i, d) in big.iter().enumerate() {
        make_module(d, &format!("big{i}"), 10_000, 10_485);
    }
    for (i, d) in small.iter().enumerate() {
        make_module(d, &format!("small{i}"), 500, 10_485);
    }
    let store = Store::open(&t.join("cache")).unwrap();
    let projects = [
        ("1 × 10,000 files / 100 MB", vec![url(&big[0])]),
        ("1 × 500 files / 5 MB", vec![url(&small[0])]),
        ("3 × 500 files / 5 MB", small.iter().map(url).collect::<Vec<_>>()),
        ("3 × 10,000 files / 100 MB", big.iter().map(url).collect::<Vec<_>>()),
    ];
    let mut locks = Vec::new();
    for (i, (_, urls)) in projects.iter().enumerate() {
        let p = t.join(format!("proj{i}"));
        project(&p, urls);
        locks.push((p.clone(), lock(&p, &store)));
    }
    println!("setup (repositories, fetch, materialise, lock): {:.1} s", setup.elapsed().as_secs_f64());
    let threads = yoe::module::verify::default_threads();

    println!("\nStore::verify of one module (median / min of 15 runs after 2 warm-ups)");
    println!(
        "{:<28} {:>8} {:>14} {:>14} {:>9}",
        "module",
        "target",
        "1 thread ms",
        format!("{threads} threads ms"),
        "speedup"
    );
    for (i, target) in [(0usize, 300.0), (1, 15.0)] {
        let pin = Pin::from(&locks[i].1.modules[0]);
        let one = store.clone().with_threads(1);
        let (m1, n1) = time(15, || {
            one.verify(&pin).unwrap();
        });
        let (m2, n2) = time(15, || {
            store.verify(&pin).unwrap();
        });
        println!(
            "{:<28} {:>8} {:>7.1} /{:>5.1} {:>7.1} /{:>5.1} {:>8.2}x",
            projects[i].0,
            format!("≤{target:.0}"),
            ms(m1),
            ms(n1),
            ms(m2),
            ms(n2),
            m1.as_secs_f64() / m2.as_secs_f64()
        );
    }

    println!("\nwhole load (median / min of 11 runs after 2 warm-ups), verification on vs off");
    println!("{:<28} {:>16} {:>16} {:>8}", "project", "verified ms", "unverified ms", "ratio");
    for (i, (name, _)) in projects.iter().enumerate() {
        let (proj, _) = &locks[i];
        let run = |s: &Store| {
            let src = LockedSource::with_store(proj, s.clone(), false).unwrap();
            let l = load(&LoadOptions::new(proj.clone(), Arc::new(src))).unwrap_or_else(|e| panic!("{e}"));
            assert!(!l.project.modules.is_empty());
        };
        let off = store.clone().without_verification_for_benchmarks();
        let (on_m, on_n) = time(11, || run(&store));
        let (off_m, off_n) = time(11, || run(&off));
        println!(
            "{:<28} {:>8.1} /{:>6.1} {:>8.1} /{:>6.1} {:>7.1}x",
            name,
            ms(on_m),
            ms(on_n),
            ms(off_m),
            ms(off_n),
            on_m.as_secs_f64() / off_m.as_secs_f64()
        );
    }
}
