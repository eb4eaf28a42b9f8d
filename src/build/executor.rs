//! The executor: builds the units of a plan in DAG order, each in its own build dirs, with
//! every shell step, every `run()` of an `fn` step and nothing else run in the sandbox.
//! Install steps are done by yoe into `$DESTDIR`. Cached outputs are reused only after their
//! recorded content hash is verified. Trusts the loaded model and the sandbox; trusts no
//! file a build produced.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::graph::Graph;
use crate::model::{Ident, Project, Shell, Step, Unit};
use crate::sandbox::{self, Cancel, EnvInputs, Sandbox, StepDirs, StepOutput, StepSpec, render_env};
use crate::starlark::{BuildHost, FnRuntime, Loaded, RunOutput};

use super::dirs::UnitDirs;
use super::key::{KeyContext, unit_key};
use super::record::{Record, Status, now};
use super::scheduler::{self, Outcome};
use super::tree::{Mode, copy_tree};

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub jobs: usize,
    pub keep_going: bool,
    /// Rebuild even when a verified cached output exists.
    pub force: bool,
    /// `SOURCE_DATE_EPOCH` given to every step (and part of every key).
    pub source_date_epoch: u64,
}

/// Why a unit failed, for the user.
#[derive(Debug, Clone)]
pub struct Failure {
    pub unit: String,
    /// e.g. `task "build", step 2: make -j$NPROC`
    pub step: String,
    /// e.g. `exit status 2`, or the error message when the step could not run.
    pub status: String,
    pub tail: Vec<String>,
    pub log: PathBuf,
}

/// Progress events (stderr): plain lines or a bar, chosen by the CLI.
pub trait Progress: Sync {
    fn started(&self, unit: &str, index: usize, total: usize);
    fn finished(&self, unit: &str, outcome: &Outcome, seconds: f64);
    fn note(&self, message: &str);
}

pub struct Report {
    pub plan: Vec<String>,
    pub outcomes: BTreeMap<String, Outcome>,
    pub failures: Vec<Failure>,
    pub keys: BTreeMap<String, String>,
}

/// Everything one build of a plan needs.
pub struct Executor<'a> {
    pub project: &'a Project,
    pub runtime: &'a FnRuntime,
    pub graph: &'a Graph,
    pub sandbox: &'a Sandbox,
    pub build_root: PathBuf,
    pub options: BuildOptions,
    pub progress: &'a dyn Progress,
    pub cancel: Cancel,
    /// Where unit sources come from (`None`: units with a `source` fail clearly).
    pub sources: Option<&'a crate::source::Sources>,
}

impl<'a> Executor<'a> {
    pub fn new(
        loaded: &'a Loaded,
        graph: &'a Graph,
        sandbox: &'a Sandbox,
        options: BuildOptions,
        progress: &'a dyn Progress,
    ) -> Self {
        Executor {
            project: &loaded.project,
            runtime: &loaded.runtime,
            graph,
            sandbox,
            build_root: loaded.project.root.join("build"),
            options,
            progress,
            cancel: Cancel::new(),
            sources: None,
        }
    }

    fn dirs(&self, unit: &Unit) -> Result<UnitDirs, crate::layout::LayoutError> {
        UnitDirs::new(&self.build_root, unit, self.target())
    }

    fn target(&self) -> crate::layout::Target<'_> {
        crate::layout::Target { arch: &self.project.arch, machine: self.project.machine.as_ref() }
    }

    /// Cache keys of every unit in `plan` (deps first).
    pub fn keys(&self, plan: &[String]) -> Result<BTreeMap<String, String>, String> {
        let toolchain = super::toolchain::host_identity();
        let ctx = KeyContext::new(self.project, &self.sandbox.policy().hash_hex(), &toolchain);
        let ctx = KeyContext {
            project_version: format!("{}+sde{}", ctx.project_version, self.options.source_date_epoch),
            ..ctx
        };
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        for name in plan {
            let unit = &self.project.units[name];
            let files = crate::layout::files_dir(unit);
            // A files directory is a real directory or nothing: a symlink there (say, to
            // /root in a module's tree) is refused, never followed.
            let files_sha = if std::fs::symlink_metadata(&files).is_ok() {
                crate::treehash::tree_sha256(&files, &[])
                    .map_err(|e| format!("unit {name:?}: its files directory must be a real directory: {e}"))?
            } else {
                String::new()
            };
            let mut installs = Vec::new();
            for (patch, path) in self.patch_paths(unit).unwrap_or_default() {
                let sha = crate::treehash::file_sha256(&path).unwrap_or_else(|_| "missing".into());
                installs.push((format!("patch:{patch}"), sha));
            }
            for step in unit.tasks.iter().flat_map(|t| &t.steps) {
                if let Step::Install(i) = step {
                    let sha = super::install::source_path(i)
                        .ok()
                        .and_then(|p| crate::treehash::file_sha256(&p).ok())
                        .unwrap_or_else(|| "missing".into());
                    installs.push((i.src.clone(), sha));
                }
            }
            let dep_keys: Vec<(String, String)> = self
                .graph
                .deps_of(name)
                .iter()
                .map(|(d, _)| (d.clone(), keys.get(d).cloned().unwrap_or_default()))
                .collect();
            keys.insert(name.clone(), unit_key(unit, &ctx, &self.project.root, &files_sha, &installs, &dep_keys));
        }
        Ok(keys)
    }

    /// Build `plan` (a dependency-ordered list, e.g. from `Graph::plan`).
    pub fn build(&self, plan: &[String]) -> Result<Report, String> {
        let keys = self.keys(plan)?;
        std::fs::create_dir_all(&self.build_root)
            .map_err(|e| format!("creating {}: {e}", self.build_root.display()))?;
        let deps: BTreeMap<String, Vec<String>> =
            plan.iter().map(|n| (n.clone(), self.graph.deps_of(n).iter().map(|(d, _)| d.clone()).collect())).collect();
        let failures = Mutex::new(Vec::new());
        let counter = std::sync::atomic::AtomicUsize::new(0);
        let total = plan.len();
        let outcomes = scheduler::run(plan, &deps, self.options.jobs, self.options.keep_going, |name| {
            let index = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            self.progress.started(name, index, total);
            let start = Instant::now();
            let outcome = match self.build_one(name, &keys[name]) {
                Ok(o) => o,
                Err(f) => {
                    let msg = format!("{}: {}", f.step, f.status.lines().next().unwrap_or_default());
                    failures.lock().unwrap_or_else(|e| e.into_inner()).push(*f);
                    Outcome::Failed(msg)
                }
            };
            self.progress.finished(name, &outcome, start.elapsed().as_secs_f64());
            if !outcome.ok() && !self.options.keep_going {
                // Stop the steps of units still running, too.
                self.cancel.cancel();
            }
            outcome
        });
        Ok(Report { plan: plan.to_vec(), outcomes, failures: failures.into_inner().unwrap_or_default(), keys })
    }

    /// Whether `dirs` holds a complete build of `key` whose output still hashes as recorded.
    fn verified_cache(&self, unit: &str, dirs: &UnitDirs, key: &str) -> bool {
        let Some(rec) = Record::read(&dirs.record) else { return false };
        if rec.status != Status::Complete || rec.key != key {
            return false;
        }
        let tag = crate::fsx::digest::OUTPUT_DIGEST_TAG;
        if !rec.output_digest.starts_with(&format!("{tag}:")) {
            self.progress.note(&format!(
                "{unit}: the cached output was recorded without a {tag} digest (by an older yoe); rebuilding"
            ));
            return false;
        }
        match output_digest(&self.project.root, &dirs.destdir) {
            Ok(h) if h == rec.output_digest => true,
            Ok(h) => {
                self.progress.note(&format!(
                    "{unit}: the cached output in {} changed since it was built (recorded {}, found {}); rebuilding",
                    dirs.destdir.display(),
                    short(digest_hex(&rec.output_digest)),
                    short(digest_hex(&h))
                ));
                false
            }
            Err(e) => {
                self.progress.note(&format!("{unit}: cannot verify the cached output ({e}); rebuilding"));
                false
            }
        }
    }

    fn build_one(&self, name: &str, key: &str) -> Result<Outcome, Box<Failure>> {
        let unit = &self.project.units[name];
        let dirs = self.dirs(unit).map_err(|e| {
            Box::new(Failure {
                unit: name.to_string(),
                step: "choosing the build directory".into(),
                status: e.to_string(),
                tail: vec![],
                log: self.build_root.clone(),
            })
        })?;
        if !self.options.force && self.verified_cache(name, &dirs, key) {
            return Ok(Outcome::Cached);
        }
        let fail = |step: &str, status: String, tail: Vec<String>| {
            Box::new(Failure { unit: name.to_string(), step: step.to_string(), status, tail, log: dirs.log.clone() })
        };
        std::fs::create_dir_all(&dirs.root).map_err(|e| fail("preparing build dirs", e.to_string(), vec![]))?;
        dirs.reset().map_err(|e| fail("preparing build dirs", e.to_string(), vec![]))?;
        let started = now();
        let t0 = Instant::now();
        let mut record = Record {
            unit: name.to_string(),
            status: Status::Building,
            key: key.to_string(),
            output_digest: String::new(),
            yoe_version: env!("CARGO_PKG_VERSION").to_string(),
            policy_sha256: self.sandbox.policy().hash_hex(),
            started,
            finished: 0,
            duration_seconds: 0.0,
            steps: 0,
            error: None,
            hermetic: false,
        };
        let _ = record.write(&dirs.record);
        let result = self.run_unit(unit, &dirs, &mut record);
        // The output's digest, which also refuses special files in it (naming them).
        let result = result.and_then(|()| match output_digest(&self.project.root, &dirs.destdir) {
            Ok(h) => {
                record.output_digest = h;
                Ok(())
            }
            Err(
                e @ (crate::fsx::FsError::Kind { .. }
                | crate::fsx::FsError::TooDeep { .. }
                | crate::fsx::FsError::TooLong { .. }),
            ) => Err(fail("checking the output", format!("output {e}"), vec![])),
            Err(e) => Err(fail("checking the output", e.to_string(), vec![])),
        });
        record.finished = now();
        record.duration_seconds = t0.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                record.status = Status::Complete;
                record.write(&dirs.record).map_err(|e| fail("writing build.json", e.to_string(), vec![]))?;
                Ok(Outcome::Built)
            }
            Err(f) => {
                record.status = Status::Failed;
                record.error = Some(format!("{}: {}", f.step, f.status));
                let _ = record.write(&dirs.record);
                Err(f)
            }
        }
    }

    fn run_unit(&self, unit: &Unit, dirs: &UnitDirs, record: &mut Record) -> Result<(), Box<Failure>> {
        let fail = |step: String, status: String, tail: Vec<String>| {
            Box::new(Failure { unit: unit.name.to_string(), step, status, tail, log: dirs.log.clone() })
        };
        // A toolchain unit as the sandbox root is not implemented: say so rather than
        // silently building on the host toolchain the unit did not ask for.
        if let Some(c) = crate::graph::container_refs(unit).into_iter().next() {
            return Err(fail(
                "choosing the toolchain".into(),
                format!(
                    "container {c:?}: using a unit's output as the sandbox root is not supported yet; \
                     remove `container=` to build with the host toolchain (non-hermetic)"
                ),
                vec![],
            ));
        }
        // src: the pinned source, fetched and verified, or else the unit's files directory.
        if !unit.source.is_empty() {
            let sources = self.sources.ok_or_else(|| {
                fail(
                    "fetching the source".into(),
                    format!("source {:?}: no source store is configured", unit.source),
                    vec![],
                )
            })?;
            let notify = |m: &str| self.progress.note(m);
            sources
                .prepare(unit, &dirs.src, &notify)
                .map_err(|e| fail("fetching the source".into(), e.to_string(), vec![]))?;
        } else {
            let files = crate::layout::files_dir(unit);
            if files.is_dir() {
                copy_tree(&files, &dirs.src, Mode::Copy)
                    .map_err(|e| fail("preparing src".into(), e.to_string(), vec![]))?;
            }
        }
        if unit.is_image() && unit.tasks.is_empty() {
            let dirs_of = |u: &Unit| self.dirs(u);
            let (_, notes) = super::image::assemble(self.project, unit, dirs, &dirs_of, self.options.source_date_epoch)
                .map_err(|e| fail("assembling the image".into(), e, vec![]))?;
            for n in notes {
                log_header(&dirs.log, "image", &n);
            }
            return Ok(());
        }
        // sysroot: every transitive dependency's output, in build order.
        for dep in self.transitive_deps(&unit.name) {
            let d = self
                .dirs(&self.project.units[&dep])
                .map_err(|e| fail(format!("assembling the sysroot from {dep}"), e.to_string(), vec![]))?;
            copy_tree(&d.destdir, &dirs.sysroot, Mode::Link)
                .map_err(|e| fail(format!("assembling the sysroot from {dep}"), e.to_string(), vec![]))?;
        }
        // patches: copied next to the build (they are untrusted input) and applied in the sandbox.
        let patches = self.patch_paths(unit).map_err(|e| fail("reading patches".into(), e, vec![]))?;
        for (i, (name, path)) in patches.iter().enumerate() {
            copy_patch(&dirs.home, path, &crate::layout::patch_file_name(i, name))
                .map_err(|e| fail(format!("copying patch {name}"), e.to_string(), vec![]))?;
        }
        for d in [&dirs.src, &dirs.destdir, &dirs.home] {
            self.sandbox
                .hand_over(d)
                .map_err(|e| fail("handing the build dirs to the build user".into(), e.to_string(), vec![]))?;
        }
        let env = render_env(
            self.sandbox.policy(),
            &EnvInputs {
                nproc: self.options.jobs.max(1) as u32,
                arch: &self.project.arch,
                machine: self.project.machine.as_deref().unwrap_or(""),
                distro: &self.project.distro,
                source_date_epoch: self.options.source_date_epoch,
                unit: &unit.environment,
            },
        )
        .map_err(|e| fail("preparing the environment".into(), format!("unit {:?}: {e}", unit.name), vec![]))?;
        let shell = match unit.shell {
            Shell::Sh => sandbox::Shell::Sh,
            Shell::Bash => sandbox::Shell::Bash,
        };
        let step_dirs = StepDirs {
            src: dirs.src.clone(),
            destdir: dirs.destdir.clone(),
            sysroot: dirs.sysroot.clone(),
            home: dirs.home.clone(),
        };
        let vars: BTreeMap<String, String> = env.iter().cloned().collect();
        for (i, (name, _)) in patches.iter().enumerate() {
            let what = format!("patch {name}");
            let script = format!(
                "patch -p1 --forward --batch --no-backup-if-mismatch -i \"$HOME/.yoe-patches/{}\"",
                crate::layout::patch_file_name(i, name)
            );
            log_header(&dirs.log, &what, &script);
            let spec = StepSpec { dirs: step_dirs.clone(), env: env.clone(), shell, script };
            let out = self
                .sandbox
                .run_cancellable(&spec, StepOutput::Log(dirs.log.clone()), &self.cancel)
                .map_err(|e| fail(what.clone(), e.to_string(), vec![]))?;
            if !out.exit.success() {
                return Err(fail(what, format!("{} (the patch does not apply)", out.exit), out.tail));
            }
        }
        let tctx = template_context(self.project, unit);
        for task in &unit.tasks {
            for (i, step) in task.steps.iter().enumerate() {
                let what = format!("task {:?}, step {}", task.name, i + 1);
                record.steps += 1;
                match step {
                    Step::Shell { command } => {
                        log_header(&dirs.log, &what, command);
                        let spec =
                            StepSpec { dirs: step_dirs.clone(), env: env.clone(), shell, script: command.clone() };
                        let out = self
                            .sandbox
                            .run_cancellable(&spec, StepOutput::Log(dirs.log.clone()), &self.cancel)
                            .map_err(|e| fail(format!("{what}: {}", first_line(command)), e.to_string(), vec![]))?;
                        if !out.exit.success() {
                            return Err(fail(
                                format!("{what}: {}", first_line(command)),
                                out.exit.to_string(),
                                out.tail,
                            ));
                        }
                    }
                    Step::Install(inst) => {
                        log_header(&dirs.log, &what, &format!("install {} -> {}", inst.src, inst.dest));
                        super::install::install(inst, &dirs.destdir, &vars, &tctx)
                            .map_err(|e| fail(what.clone(), e.to_string(), vec![]))?;
                        self.sandbox.hand_over(&dirs.destdir).map_err(|e| fail(what.clone(), e.to_string(), vec![]))?;
                    }
                    Step::Fn(f) => {
                        log_header(&dirs.log, &what, &format!("fn {}", f.name));
                        let host = Arc::new(UnitHost {
                            sandbox: self.sandbox.clone(),
                            spec: StepSpec { dirs: step_dirs.clone(), env: env.clone(), shell, script: String::new() },
                            log: dirs.log.clone(),
                            destdir: dirs.destdir.clone(),
                            cancel: self.cancel.clone(),
                            last_tail: Mutex::new(Vec::new()),
                        });
                        if let Err(e) = self.runtime.call(f.id, host.clone()) {
                            let tail = host.last_tail.lock().map(|t| t.clone()).unwrap_or_default();
                            let root = format!("{}/", self.project.root.display());
                            return Err(fail(format!("{what}: fn {}", f.name), e.replace(&root, ""), tail));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The unit's patches as (name as written, host path), each checked to stay inside the
    /// root (module or project) of the file that declared the unit.
    fn patch_paths(&self, unit: &Unit) -> Result<Vec<(String, PathBuf)>, String> {
        let root = self
            .project
            .modules
            .iter()
            .map(|m| m.dir.as_path())
            .filter(|d| unit.defined_in.starts_with(d))
            .max_by_key(|d| d.components().count())
            .unwrap_or(&self.project.root);
        unit.patches
            .iter()
            .map(|p| {
                let what = format!("unit {:?}: patch {p:?}", unit.name);
                crate::starlark::labels::resolve_within(&what, &unit.defined_in, p, root, "module or project")
                    .map(|path| (p.clone(), path))
            })
            .collect()
    }

    /// All transitive deps of a unit, in build order.
    fn transitive_deps(&self, name: &str) -> Vec<String> {
        let mut plan = self.graph.plan(&[name.to_string()]).unwrap_or_default();
        plan.retain(|n| n != name);
        plan
    }
}

fn template_context(project: &Project, unit: &Unit) -> BTreeMap<String, String> {
    let mut c = BTreeMap::new();
    let console = project
        .active_machine()
        .and_then(|m| m.kernel.as_ref())
        .and_then(|k| k.cmdline.split_whitespace().find_map(|p| p.strip_prefix("console=")))
        .map(|c| c.split(',').next().unwrap_or(c).to_string())
        .unwrap_or_default();
    for (k, v) in [
        ("name", unit.name.to_string()),
        ("version", unit.version_str().to_string()),
        ("release", unit.release.to_string()),
        ("arch", project.arch.clone()),
        ("machine", project.machine.as_ref().map(Ident::to_string).unwrap_or_default()),
        ("console", console),
        ("project", project.decl.name.clone()),
        ("project_version", project.version_str().to_string()),
        ("base_distro", project.distro.clone()),
        ("base_version", project.version_str().to_string()),
    ] {
        c.insert(k.to_string(), v);
    }
    for (k, v) in &unit.extra {
        c.insert(k.clone(), super::template::go_format(v));
    }
    c
}

fn log_header(log: &Path, what: &str, text: &str) {
    use std::io::Write;
    if let Ok(mut f) = crate::fsx::append_path(log, 0o644) {
        let _ = writeln!(f, "==> {what}: {}", first_line(text));
    }
}

/// `yoe-output-v2:<hex>` of a destdir, walked beneath its fd; errors name the path as the
/// user sees it (`build/<unit>.<scope>/destdir/...`).
fn output_digest(project_root: &Path, destdir: &Path) -> Result<String, crate::fsx::FsError> {
    let shown = destdir.strip_prefix(project_root).unwrap_or(destdir);
    crate::fsx::digest::output_digest(&crate::fsx::Dir::open(destdir)?.with_display(shown))
}

/// The hex part of a tagged digest.
fn digest_hex(d: &str) -> &str {
    d.rsplit_once(':').map(|(_, h)| h).unwrap_or(d)
}

/// Copies a patch (a project or module file, resolved and contained by `patch_paths`) into
/// `home/.yoe-patches/NAME`: read through an fd that is a regular file, written beneath the
/// home dir's fd (the patch must not land where a planted symlink points).
fn copy_patch(home: &Path, from: &Path, name: &str) -> Result<(), crate::fsx::FsError> {
    use crate::fsx::{Dir, FsError, RelPath};
    let mut src = crate::fsx::open_regular(from)?;
    let dir = Dir::open(home)?.create_dir_all(RelPath::new(".yoe-patches")?, 0o755)?;
    let rel = RelPath::new(name)?;
    let mut out = dir.create_file(rel, 0o644)?;
    std::io::copy(&mut src, &mut out).map_err(|source| FsError::Io {
        op: "copying to",
        path: dir.shown(rel),
        source,
    })?;
    Ok(())
}

fn first_line(s: &str) -> String {
    let l = s.trim().lines().next().unwrap_or("");
    if s.trim().lines().count() > 1 { format!("{l} …") } else { l.to_string() }
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// What an `fn` step's `run()` and `dir_size_mb()` reach: sandboxed steps of this unit.
struct UnitHost {
    sandbox: Sandbox,
    spec: StepSpec,
    log: PathBuf,
    destdir: PathBuf,
    cancel: Cancel,
    last_tail: Mutex<Vec<String>>,
}

impl BuildHost for UnitHost {
    fn run(&self, cmd: &str) -> Result<RunOutput, String> {
        log_header(&self.log, "run()", cmd);
        let spec = StepSpec { script: cmd.to_string(), ..self.spec.clone() };
        let out = self
            .sandbox
            .run_cancellable(&spec, StepOutput::Capture { log: Some(self.log.clone()) }, &self.cancel)
            .map_err(|e| e.to_string())?;
        if let Ok(mut t) = self.last_tail.lock() {
            *t = out.tail.clone();
        }
        let code = match out.exit {
            sandbox::StepExit::Code(c) => c,
            sandbox::StepExit::Signal(s) => 128 + s,
        };
        Ok(RunOutput {
            exit_code: code,
            stdout: String::from_utf8_lossy(out.stdout.as_deref().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(out.stderr.as_deref().unwrap_or_default()).into_owned(),
        })
    }

    fn dir_size_mb(&self, subpath: &str) -> Result<u64, String> {
        let bad = || format!("{subpath:?} must be a relative path inside $DESTDIR");
        if subpath.starts_with('/') {
            return Err(bad());
        }
        // `usr/lib/`, `./usr` and `` are fine; `..` is not.
        let mut rel = std::path::PathBuf::new();
        for c in subpath.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if c == ".." {
                return Err(bad());
            }
            rel.push(c);
        }
        let rel = crate::fsx::RelPath::new(&rel).map_err(|e| e.to_string())?;
        // Beneath the destdir's fd, nothing followed (walkdir followed a symlinked root).
        let destdir = crate::fsx::Dir::open(&self.destdir).map_err(|e| e.to_string())?;
        let total = crate::fsx::regular_bytes(&destdir, rel).map_err(|e| e.to_string())?;
        Ok(total / (1024 * 1024))
    }
}
