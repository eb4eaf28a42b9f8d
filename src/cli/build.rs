//! `yoe build`: plan, then build units in DAG order in the sandbox (or print the plan with
//! `--dry-run`). Results on stdout, progress on stderr, failures as one paragraph each.
use std::io::IsTerminal;
use std::sync::Mutex;

use anyhow::anyhow;
use clap::Args;

use super::{Global, Session, exit, json, output};
use crate::build::executor::{BuildOptions, Executor, Progress};
use crate::build::scheduler::Outcome;
use crate::paranoid::{Request, refusals};
use crate::sandbox::{Sandbox, SandboxConfig};

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Units to build (default: all).
    pub units: Vec<String>,
    /// Print the plan in build order and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Units built at once (default: the number of CPUs).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// After a failure, keep building the units that do not depend on it.
    #[arg(long)]
    pub keep_going: bool,
    /// Rebuild even when a verified cached output exists.
    #[arg(long)]
    pub force: bool,
    /// Fetch archive sources that have no `sha256` and print the hash to pin (local
    /// development only: refused with --paranoid and under CI).
    #[arg(long)]
    pub allow_unpinned: bool,
}

pub fn run(g: &Global, a: BuildArgs) -> anyhow::Result<u8> {
    let s = Session::open(g)?;
    let p = &s.loaded.project;
    let plan = if a.units.is_empty() { s.graph.order()? } else { s.graph.plan(&a.units)? };
    let target = crate::layout::Target { arch: &p.arch, machine: p.machine.as_ref() };
    let dir_of = |n: &str| match crate::layout::unit_dir_name(&p.units[n], target) {
        Ok(d) => format!("build/{d}"),
        Err(e) => format!("no build dir: {e}"),
    };
    if a.dry_run {
        if g.json {
            json::print(json::schema::BUILD_PLAN, &json::BuildPlan { plan: &plan })?;
        } else {
            for (i, n) in plan.iter().enumerate() {
                let u = &p.units[n];
                output::line(&format!("{:>4}  {}  ({}, {})", i + 1, n, u.class, dir_of(n)));
            }
        }
        return Ok(exit::OK);
    }
    if g.paranoid {
        let req = Request { plan: plan.iter().map(|n| &p.units[n]).collect(), ..Request::default() };
        super::refuse(refusals(&req))?;
    }
    let sources = super::source::sources(g, p, a.allow_unpinned)?;
    let sandbox = Sandbox::detect(&SandboxConfig::default())
        .map_err(|e| anyhow!("the sandbox is not usable, so nothing is built: {e}"))?;
    let jobs = a
        .jobs
        .or(p.local.parallel_builds.map(|n| n as usize))
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let options = BuildOptions {
        jobs,
        keep_going: a.keep_going,
        force: a.force,
        source_date_epoch: crate::env::source_date_epoch(),
    };
    let progress: Box<dyn Progress> =
        if std::io::stderr().is_terminal() { Box::new(Bar::new(plan.len())) } else { Box::new(Lines(Mutex::new(()))) };
    let mut exec = Executor::new(&s.loaded, &s.graph, &sandbox, options, progress.as_ref());
    exec.sources = Some(&sources);
    let report = exec.build(&plan).map_err(|e| anyhow!(e))?;
    drop(progress);

    let root = p.root.clone();
    let mut results = Vec::new();
    for n in &report.plan {
        let o = &report.outcomes[n];
        let dir = dir_of(n);
        let (word, detail) = match o {
            Outcome::Built => ("built", format!("{dir}/destdir")),
            Outcome::Cached => ("cached", format!("{dir}/destdir")),
            Outcome::Failed(_) => ("failed", format!("{dir}/build.log")),
            Outcome::Blocked { by } => ("blocked", format!("not built: depends on {by}, which failed")),
            Outcome::NotStarted => ("skipped", "not started: the build stopped at the first failure".to_string()),
        };
        if !g.json {
            output::line(&format!("{word:<8} {n:<24} {detail}"));
        }
        results.push(json::BuildResult { unit: n, result: word, detail, key: report.keys.get(n) });
    }
    if g.json {
        json::print(json::schema::BUILD, &json::BuildResults { results })?;
    }
    for f in &report.failures {
        let mut text = format!("error: unit {:?} failed at {}: {}\n", f.unit, f.step, f.status);
        if !f.tail.is_empty() {
            text.push_str(&format!("  last {} lines of output:\n", f.tail.len()));
            for l in &f.tail {
                text.push_str(&format!("    | {l}\n"));
            }
        }
        let log = f.log.strip_prefix(&root).unwrap_or(&f.log);
        text.push_str(&format!("  full log: {}\n", log.display()));
        let blocked: Vec<&str> = report
            .outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Blocked { by } if *by == f.unit))
            .map(|(n, _)| n.as_str())
            .collect();
        if !blocked.is_empty() {
            text.push_str(&format!("  not built because of it: {}\n", blocked.join(", ")));
        }
        output::status(text.trim_end());
    }
    let ok = report.outcomes.values().all(Outcome::ok);
    Ok(if ok { exit::OK } else { exit::FAILURE })
}

/// Plain progress lines (stderr is not a terminal).
struct Lines(Mutex<()>);

impl Progress for Lines {
    fn started(&self, unit: &str, index: usize, total: usize) {
        let _g = self.0.lock();
        output::status(&format!("[{index}/{total}] {unit}: building"));
    }
    fn finished(&self, unit: &str, outcome: &Outcome, seconds: f64) {
        let _g = self.0.lock();
        match outcome {
            Outcome::Built => output::status(&format!("{unit}: built in {seconds:.1}s")),
            Outcome::Cached => output::status(&format!("{unit}: cached (output verified)")),
            Outcome::Failed(m) => output::status(&format!("{unit}: FAILED: {m}")),
            _ => {}
        }
    }
    fn note(&self, message: &str) {
        output::status(message);
    }
}

/// A progress bar on a terminal.
struct Bar {
    bar: indicatif::ProgressBar,
    running: Mutex<Vec<String>>,
}

impl Bar {
    fn new(total: usize) -> Bar {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Bar { bar, running: Mutex::new(Vec::new()) }
    }
    fn show(&self) {
        if let Ok(r) = self.running.lock() {
            self.bar.set_message(r.join(" "));
        }
    }
}

impl Progress for Bar {
    fn started(&self, unit: &str, _index: usize, _total: usize) {
        if let Ok(mut r) = self.running.lock() {
            r.push(unit.to_string());
        }
        self.show();
    }
    fn finished(&self, unit: &str, outcome: &Outcome, seconds: f64) {
        if let Ok(mut r) = self.running.lock() {
            r.retain(|u| u != unit);
        }
        self.bar.inc(1);
        match outcome {
            Outcome::Built => self.bar.println(output::escape_controls(&format!("{unit}: built in {seconds:.1}s"))),
            Outcome::Cached => self.bar.println(output::escape_controls(&format!("{unit}: cached (output verified)"))),
            Outcome::Failed(m) => self.bar.println(output::escape_controls(&format!("{unit}: FAILED: {m}"))),
            _ => {}
        }
        self.show();
    }
    fn note(&self, message: &str) {
        self.bar.println(output::escape_controls(message));
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
