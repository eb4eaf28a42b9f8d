//! The only place that spawns bwrap: locating bwrap and the helper, checking the layers
//! before the first step (fail closed), and running one step with its output streamed to a
//! log and/or captured. Trusts the validated policy and the pure argv builder; trusts the
//! helper's status records because only the helper ever holds that socket.

use super::bwrap::{self, ArgvError, ArgvInputs, Layers, RootFs, Shell, StepDirs};
use super::policy::{self, Policy};
use super::user::{self, BuildUser, BuildUserConfig, UserError};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use yoe_sandbox_helper::status::{GO, Layer, Record};
use yoe_sandbox_helper::sys;

/// Environment variable that overrides where the helper binary is.
pub const HELPER_ENV: &str = "YOE_SANDBOX_HELPER";
/// The helper's file name, expected next to the `yoe` binary.
pub const HELPER_NAME: &str = "yoe-sandbox-helper";
/// Oldest bwrap with `--disable-userns`.
pub const MIN_BWRAP: (u32, u32, u32) = (0, 8, 0);
/// Captured output per stream is cut after this many bytes (the log keeps everything).
pub const MAX_CAPTURE: usize = 16 << 20;
/// Lines of output kept for error messages.
pub const TAIL_LINES: usize = 20;
const TAIL_BYTES: usize = 64 << 10;

/// How to find and use the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The bwrap binary (default `/usr/bin/bwrap`).
    pub bwrap: PathBuf,
    /// The helper binary; default: `$YOE_SANDBOX_HELPER`, else next to the running exe.
    pub helper: Option<PathBuf>,
    /// Who runs bwrap when yoe runs as root.
    pub build_user: BuildUserConfig,
    /// The read-only root.
    pub root: RootFs,
    /// Run a trivial step at detection time, so a broken layer stops yoe before any build.
    pub self_test: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            bwrap: PathBuf::from("/usr/bin/bwrap"),
            helper: None,
            build_user: BuildUserConfig::default(),
            root: RootFs::host(),
            self_test: true,
        }
    }
}

/// One step to run.
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub dirs: StepDirs,
    /// The complete environment (see `render_env`); nothing else is passed.
    pub env: Vec<(String, String)>,
    pub shell: Shell,
    /// Given to the shell as `-c SCRIPT`.
    pub script: String,
}

/// Where a step's stdout and stderr go.
#[derive(Debug, Clone)]
pub enum StepOutput {
    /// Both streams, interleaved, appended to this log file.
    Log(PathBuf),
    /// Both streams captured separately (for Starlark `run()`), and also appended to the
    /// log when one is given.
    Capture { log: Option<PathBuf> },
}

/// How the step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepExit {
    Code(i32),
    Signal(i32),
}

impl StepExit {
    pub fn success(self) -> bool {
        self == StepExit::Code(0)
    }
}

impl std::fmt::Display for StepExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepExit::Code(c) => write!(f, "exit status {c}"),
            StepExit::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// What a step did.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub exit: StepExit,
    /// Captured stdout (with [`StepOutput::Capture`]), cut at [`MAX_CAPTURE`].
    pub stdout: Option<Vec<u8>>,
    pub stderr: Option<Vec<u8>>,
    /// Whether a capture was cut.
    pub truncated: bool,
    /// The last [`TAIL_LINES`] lines of output (both streams).
    pub tail: Vec<String>,
    pub duration: Duration,
}

/// Why the sandbox could not be used or a step could not run (a failing step is not an
/// error: see [`StepOutcome::exit`]).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox layer {layer} is not available: {detail} (run `yoe doctor`)")]
    Unavailable { layer: &'static str, detail: String },
    #[error("sandbox layer {layer} could not be applied: {message} (run `yoe doctor`)")]
    Layer { layer: Layer, message: String },
    #[error("bwrap failed before the step started ({exit}): {detail} (run `yoe doctor`)")]
    Bwrap { exit: StepExit, detail: String },
    #[error("step dir {0} does not exist or is not a directory")]
    MissingDir(PathBuf),
    #[error("the step was cancelled")]
    Cancelled,
    #[error("sandbox self-test failed: {0}")]
    SelfTest(Box<SandboxError>),
    #[error(transparent)]
    Argv(#[from] ArgvError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// Stops running steps from another thread (first failure without `--keep-going`,
/// timeouts). One token can serve a whole build; cancelling is permanent.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: std::sync::atomic::AtomicBool,
    running: Mutex<Vec<Running>>,
}

#[derive(Debug)]
struct Running {
    id: u64,
    stopper: Arc<Stopper>,
}

/// What it takes to stop one sandbox: bwrap's pid, a copy of yoe's end of the status
/// socket, and whether the helper got its go-ahead. The spawning thread sends the
/// go-ahead and a canceller stops the sandbox under the same lock, so a step either never
/// gets the go-ahead or is killed with bwrap (whose death the helper tied the step to
/// before `ready`).
#[derive(Debug)]
struct Stopper {
    bwrap_pid: u32,
    status: UnixStream,
    go_sent: Mutex<bool>,
}

impl Stopper {
    /// Sends the go-ahead unless `cancel` was cancelled.
    fn go(&self, cancel: &Cancel) {
        let mut go_sent = self.go_sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !cancel.is_cancelled() && (&self.status).write_all(&[GO]).is_ok() {
            *go_sent = true;
        }
    }

    /// Stops the sandbox without stranding bwrap's half-built child: yoe's end of the
    /// status socket is shut (a helper still waiting for the go-ahead then exits), and
    /// bwrap is killed only once the go-ahead went out, i.e. after the helper said `ready`
    /// and so had tied the step to bwrap's life.
    fn stop(&self) {
        // Held throughout, so the go-ahead cannot slip out between the check and the shutdown.
        let go_sent = self.go_sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = self.status.shutdown(std::net::Shutdown::Write);
        if *go_sent {
            let _ = sys::kill_child(self.bwrap_pid);
        }
    }
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops every step running with this token and refuses new ones. A step that has not
    /// got the go-ahead never starts (the helper sees yoe's end of the socket shut); a
    /// step that has is killed (bwrap gets SIGKILL, and the step, pid 1 of its sandbox,
    /// dies with it). `run` then returns [`SandboxError::Cancelled`].
    pub fn cancel(&self) {
        self.0.cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
        let Ok(running) = self.0.running.lock() else {
            return;
        };
        for r in running.iter() {
            r.stopper.stop();
        }
    }

    fn register(&self, id: u64, stopper: &Arc<Stopper>) {
        if let Ok(mut running) = self.0.running.lock() {
            running.push(Running { id, stopper: stopper.clone() });
        }
        // A cancel that raced with the spawn still applies.
        if self.is_cancelled() {
            self.cancel();
        }
    }

    fn unregister(&self, id: u64) {
        if let Ok(mut running) = self.0.running.lock() {
            running.retain(|r| r.id != id);
        }
    }
}

/// Most status bytes yoe reads from one helper.
const STATUS_MAX: usize = 64 << 10;

/// Reads status bytes into `records` until `done(records)`, end of file, an error (also
/// "would block" on a nonblocking socket) or [`STATUS_MAX`].
fn read_status(status: &mut UnixStream, records: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) {
    let mut buf = [0u8; 4096];
    while !done(records) && records.len() <= STATUS_MAX {
        match status.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => records.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// A checked sandbox, ready to run steps.
#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: PathBuf,
    bwrap_version: (u32, u32, u32),
    helper: PathBuf,
    run_as: Option<BuildUser>,
    root: RootFs,
    policy: &'static Policy,
    framed_policy: Arc<Vec<u8>>,
}

/// Parses `bubblewrap X.Y.Z`.
pub fn parse_bwrap_version(out: &str) -> Option<(u32, u32, u32)> {
    let v = out.trim().strip_prefix("bubblewrap ")?;
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

/// Runs `bwrap --version` with an empty environment.
pub fn bwrap_version(bwrap: &Path) -> Result<(u32, u32, u32), SandboxError> {
    let out = Command::new(bwrap).arg("--version").env_clear().output().map_err(|e| SandboxError::Unavailable {
        layer: "bwrap",
        detail: format!("cannot run {}: {e}", bwrap.display()),
    })?;
    parse_bwrap_version(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| SandboxError::Unavailable {
        layer: "bwrap",
        detail: format!("{} --version printed no version", bwrap.display()),
    })
}

/// Where the helper is: explicit path, `$YOE_SANDBOX_HELPER`, or next to the running exe.
pub fn locate_helper(explicit: Option<&Path>) -> Result<PathBuf, SandboxError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os(HELPER_ENV) {
            Some(p) => PathBuf::from(p),
            None => {
                std::env::current_exe().map_err(io_err("locating the running executable"))?.with_file_name(HELPER_NAME)
            }
        },
    };
    let path = std::path::absolute(&path).map_err(io_err("resolving the helper path"))?;
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(path),
        _ => Err(SandboxError::Unavailable {
            layer: "helper",
            detail: format!(
                "{} is missing or not executable (build it with `cargo build -p \
                 yoe-sandbox-helper`, or set {HELPER_ENV})",
                path.display()
            ),
        }),
    }
}

/// Checks the kernel layers the policy requires (Landlock ABI, seccomp, user namespaces).
pub fn check_kernel_layers(policy: &Policy) -> Result<(), SandboxError> {
    let abi = sys::landlock_abi();
    if abi < policy.landlock_min_abi {
        return Err(SandboxError::Unavailable {
            layer: "landlock",
            detail: format!("kernel Landlock ABI is {abi}, the policy needs at least {}", policy.landlock_min_abi),
        });
    }
    if !sys::seccomp_filter_available() {
        return Err(SandboxError::Unavailable {
            layer: "seccomp",
            detail: "the kernel does not offer seccomp filters".into(),
        });
    }
    if let Some(n) = read_sysctl("/proc/sys/user/max_user_namespaces")
        && n == 0
    {
        return Err(SandboxError::Unavailable {
            layer: "user namespaces",
            detail: "user.max_user_namespaces is 0".into(),
        });
    }
    if let Some(0) = read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") {
        return Err(SandboxError::Unavailable {
            layer: "user namespaces",
            detail: "kernel.unprivileged_userns_clone is 0".into(),
        });
    }
    Ok(())
}

/// Reads a numeric sysctl file; `None` when it does not exist or is not a number.
pub fn read_sysctl(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Sandbox {
    /// Finds bwrap and the helper, checks every required layer and (by default) runs a
    /// trivial step through the whole stack. Fails closed, naming the layer.
    pub fn detect(config: &SandboxConfig) -> Result<Sandbox, SandboxError> {
        let policy = policy::embedded();
        let bwrap_version = bwrap_version(&config.bwrap)?;
        if bwrap_version < MIN_BWRAP {
            return Err(SandboxError::Unavailable {
                layer: "bwrap",
                detail: format!(
                    "{} is version {}.{}.{}, need at least {}.{}.{}",
                    config.bwrap.display(),
                    bwrap_version.0,
                    bwrap_version.1,
                    bwrap_version.2,
                    MIN_BWRAP.0,
                    MIN_BWRAP.1,
                    MIN_BWRAP.2
                ),
            });
        }
        let helper = locate_helper(config.helper.as_deref())?;
        check_kernel_layers(policy)?;
        let run_as = if sys::euid() == 0 {
            let u = user::resolve_build_user(&config.build_user)?;
            user::check_traversable(&helper, u)?;
            Some(u)
        } else {
            None
        };
        let sandbox = Sandbox {
            bwrap: config.bwrap.clone(),
            bwrap_version,
            helper,
            run_as,
            root: config.root.clone(),
            policy,
            framed_policy: Arc::new(policy.helper_policy().encode_framed()),
        };
        if config.self_test {
            sandbox.self_test().map_err(|e| SandboxError::SelfTest(Box::new(e)))?;
        }
        Ok(sandbox)
    }

    fn self_test(&self) -> Result<(), SandboxError> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let base = std::env::temp_dir().join(format!("yoe-sandbox-selftest-{}-{nanos}", std::process::id()));
        // create_dir (not _all) fails on an existing path, so nobody can pre-plant it.
        std::fs::create_dir(&base).map_err(io_err(format!("creating {}", base.display())))?;
        let result = (|| {
            let dirs = StepDirs {
                src: base.join("src"),
                destdir: base.join("destdir"),
                sysroot: base.join("sysroot"),
                home: base.join("home"),
            };
            for d in [&dirs.src, &dirs.destdir, &dirs.sysroot, &dirs.home] {
                std::fs::create_dir(d).map_err(io_err(format!("creating {}", d.display())))?;
            }
            self.hand_over(&base)?;
            let step = StepSpec {
                dirs,
                env: vec![("PATH".into(), "/usr/bin:/bin".into())],
                shell: Shell::Sh,
                script: "exit 0".into(),
            };
            let out = self.run(&step, StepOutput::Capture { log: None })?;
            if out.exit.success() {
                Ok(())
            } else {
                Err(SandboxError::Bwrap { exit: out.exit, detail: out.tail.join(" | ") })
            }
        })();
        let _ = std::fs::remove_dir_all(&base);
        result
    }

    /// bwrap's path.
    pub fn bwrap_path(&self) -> &Path {
        &self.bwrap
    }

    /// bwrap's version.
    pub fn bwrap_version(&self) -> (u32, u32, u32) {
        self.bwrap_version
    }

    /// The helper's host path.
    pub fn helper_path(&self) -> &Path {
        &self.helper
    }

    /// The user bwrap runs as when yoe runs as root (`None`: yoe's own user).
    pub fn build_user(&self) -> Option<BuildUser> {
        self.run_as
    }

    /// The policy this sandbox enforces.
    pub fn policy(&self) -> &'static Policy {
        self.policy
    }

    /// Gives a build dir the executor created to the build user (recursive lchown), when
    /// yoe runs as root; a no-op otherwise. Hand over `src`, `destdir` and `home` (or the
    /// unit dir that holds them) before the first step. The sysroot only has to be
    /// readable; chown changes every hard link of a file, so a file with several links
    /// owned by neither yoe nor the build user is refused (`crate::fsx::owner`).
    pub fn hand_over(&self, dir: &Path) -> Result<(), SandboxError> {
        match self.run_as {
            Some(u) => Ok(user::hand_over(dir, u)?),
            None => Ok(()),
        }
    }

    /// A pipe yoe creates is owned by yoe's user with mode 0600; when bwrap runs as the
    /// build user, the step could use the pipe as its stdout but not reopen it
    /// (`> /dev/stdout` failed with EACCES). The pipe goes to the build user.
    fn give_pipe(&self, w: &io::PipeWriter) -> Result<(), SandboxError> {
        match self.run_as {
            Some(u) => std::os::unix::fs::fchown(w, Some(u.uid), Some(u.gid))
                .map_err(io_err("giving the output pipe to the build user")),
            None => Ok(()),
        }
    }

    /// The bwrap argv for a step (for logs and `--dry-run`; contains no secret).
    pub fn argv(&self, step: &StepSpec) -> Result<Vec<std::ffi::OsString>, SandboxError> {
        Ok(bwrap::bwrap_argv(&ArgvInputs {
            dirs: &step.dirs,
            root: &self.root,
            helper: &self.helper,
            tmp_size: self.policy.tmp_size,
            env: &step.env,
            shell: step.shell,
            script: &step.script,
            layers: Layers::Full,
        })?)
    }

    /// Runs one step in the sandbox and waits for it. Blocks the calling thread, which
    /// must stay alive until this returns (bwrap dies with the thread that spawned it).
    pub fn run(&self, step: &StepSpec, out: StepOutput) -> Result<StepOutcome, SandboxError> {
        self.run_cancellable(step, out, &Cancel::new())
    }

    /// [`Sandbox::run`], stoppable from another thread through `cancel`.
    pub fn run_cancellable(
        &self,
        step: &StepSpec,
        out: StepOutput,
        cancel: &Cancel,
    ) -> Result<StepOutcome, SandboxError> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        if cancel.is_cancelled() {
            return Err(SandboxError::Cancelled);
        }
        for d in [&step.dirs.src, &step.dirs.destdir, &step.dirs.sysroot, &step.dirs.home] {
            if !d.is_dir() {
                return Err(SandboxError::MissingDir(d.clone()));
            }
        }
        let argv = self.argv(step)?;
        let started = Instant::now();

        let (mut status_ours, status_theirs) = UnixStream::pair().map_err(io_err("creating the status socket"))?;
        status_ours.write_all(&self.framed_policy).map_err(io_err("writing the helper policy"))?;

        let (log, capture) = match &out {
            StepOutput::Log(p) => (Some(p.clone()), false),
            StepOutput::Capture { log } => (log.clone(), true),
        };
        let log = match log {
            // Beneath the log's directory, not following a symlink and not opening a fifo.
            Some(p) => Some(Arc::new(Mutex::new(
                crate::fsx::append_path(&p, 0o644)
                    .map_err(|e| SandboxError::Io { what: "opening the step log".into(), source: e.into() })?,
            ))),
            None => None,
        };

        let mut cmd = Command::new(&self.bwrap);
        cmd.args(&argv).env_clear().current_dir("/").stdin(Stdio::from(OwnedFd::from(status_theirs)));
        if let Some(u) = self.run_as {
            cmd.uid(u.uid).gid(u.gid);
        }
        // Lifetime: bwrap's --die-with-parent ties bwrap to this thread (a parent-death
        // signal follows the thread that forked, not the process); the helper ties the
        // step (pid 1 of the sandbox) to bwrap, says `ready`, and waits for the go-ahead
        // this thread sends below. bwrap arms its signal before it lets its child run, so
        // a go-ahead sent by this thread, alive, proves the chain yoe → bwrap → step
        // holds; a yoe that dies first closes the socket and the step never starts. yoe
        // does not arm a parent-death signal on bwrap itself: killing bwrap while it sets
        // up leaves its half-built child blocked forever (measured).
        let (out_r, out_w) = io::pipe().map_err(io_err("creating the output pipe"))?;
        self.give_pipe(&out_w)?;
        let err_r = if capture {
            let (r, w) = io::pipe().map_err(io_err("creating the stderr pipe"))?;
            self.give_pipe(&w)?;
            cmd.stdout(out_w).stderr(w);
            Some(r)
        } else {
            let w2 = out_w.try_clone().map_err(io_err("duplicating the output pipe"))?;
            cmd.stdout(out_w).stderr(w2);
            None
        };
        // Duplicated before bwrap exists, so failing here strands nothing.
        let stop_status = status_ours.try_clone().map_err(io_err("duplicating the status socket"))?;
        let child = cmd.spawn().map_err(io_err(format!("spawning {}", self.bwrap.display())))?;
        // Close our copies of the child's ends, so EOF arrives when the sandbox is gone.
        drop(cmd);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stopper = Arc::new(Stopper { bwrap_pid: child.id(), status: stop_status, go_sent: Mutex::new(false) });
        cancel.register(id, &stopper);
        let mut guard = ChildGuard { child: Some(child), stopper: stopper.clone(), cancel, id };

        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_BYTES)));
        let err_thread = err_r.map(|r| {
            let (log, tail) = (log.clone(), tail.clone());
            std::thread::spawn(move || pump(r, log.as_deref(), &tail, true))
        });
        // Until `ready` only bwrap and the helper write, a few lines at most, so leaving
        // stdout unread for now cannot fill its pipe.
        let mut records = Vec::new();
        read_status(&mut status_ours, &mut records, |r| Record::last_in(r).is_some());
        if Record::last_in(&records) == Some(Record::Ready) {
            stopper.go(cancel);
        }
        let (stdout, mut truncated) = pump(out_r, log.as_deref(), &tail, capture);
        let (stderr, t2) = match err_thread {
            Some(h) => h.join().unwrap_or((None, false)),
            None => (None, false),
        };
        truncated |= t2;
        // Unregister before reaping: until then the pid cannot be reused, so a concurrent
        // cancel never signals a stranger.
        cancel.unregister(id);
        let status = guard.wait().map_err(io_err("waiting for bwrap"))?;
        let exit = match (status.code(), status.signal()) {
            (Some(c), _) => StepExit::Code(c),
            (None, Some(s)) => StepExit::Signal(s),
            (None, None) => StepExit::Code(-1),
        };

        status_ours.set_nonblocking(true).map_err(io_err("reading the helper status"))?;
        read_status(&mut status_ours, &mut records, |_| false);
        let tail = tail_lines(&tail.lock().map(|t| t.iter().copied().collect::<Vec<u8>>()).unwrap_or_default());
        if cancel.is_cancelled() && !matches!(exit, StepExit::Code(0)) {
            return Err(SandboxError::Cancelled);
        }
        match Record::last_in(&records) {
            Some(Record::Ready) => Ok(StepOutcome {
                exit,
                stdout: if capture { stdout.or(Some(Vec::new())) } else { None },
                stderr: if capture { stderr.or(Some(Vec::new())) } else { None },
                truncated,
                tail,
                duration: started.elapsed(),
            }),
            Some(Record::Failed { layer, message }) => Err(SandboxError::Layer { layer, message }),
            None => Err(SandboxError::Bwrap {
                exit,
                detail: if tail.is_empty() { "no output".into() } else { tail.join(" | ") },
            }),
        }
    }
}

/// Copies one output stream into the log and the tail, capturing it when asked.
fn pump(
    mut r: io::PipeReader,
    log: Option<&Mutex<File>>,
    tail: &Mutex<VecDeque<u8>>,
    capture: bool,
) -> (Option<Vec<u8>>, bool) {
    let mut captured = capture.then(Vec::new);
    let mut truncated = false;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        if let Some(log) = log
            && let Ok(mut f) = log.lock()
        {
            // A full disk must not hang the step; the tail still has the last lines.
            let _ = f.write_all(chunk);
        }
        if let Ok(mut t) = tail.lock() {
            t.extend(chunk.iter().copied());
            let excess = t.len().saturating_sub(TAIL_BYTES);
            t.drain(..excess);
        }
        if let Some(c) = captured.as_mut() {
            let room = MAX_CAPTURE.saturating_sub(c.len());
            c.extend_from_slice(&chunk[..room.min(n)]);
            truncated |= room < n;
        }
    }
    (captured, truncated)
}

/// The last [`TAIL_LINES`] lines of `bytes`.
fn tail_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].iter().map(|l| l.to_string()).collect()
}

/// Stops and reaps bwrap if the run is abandoned (error or panic) before it ended.
struct ChildGuard<'a> {
    child: Option<Child>,
    stopper: Arc<Stopper>,
    cancel: &'a Cancel,
    id: u64,
}

impl ChildGuard<'_> {
    fn wait(&mut self) -> io::Result<std::process::ExitStatus> {
        let status = match self.child.as_mut() {
            Some(c) => c.wait()?,
            None => return Err(io::Error::other("child already reaped")),
        };
        self.child = None;
        Ok(status)
    }
}

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        self.cancel.unregister(self.id);
        if let Some(mut c) = self.child.take() {
            self.stopper.stop();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parsing() {
        assert_eq!(parse_bwrap_version("bubblewrap 0.8.0\n"), Some((0, 8, 0)));
        assert_eq!(parse_bwrap_version("bubblewrap 0.11"), Some((0, 11, 0)));
        assert_eq!(parse_bwrap_version("bwrap 1"), None);
        assert!(parse_bwrap_version("bubblewrap 0.7.9").is_some_and(|v| v < MIN_BWRAP));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let t = tail_lines(text.as_bytes());
        assert_eq!(t.len(), TAIL_LINES);
        assert_eq!(t.last().map(String::as_str), Some("line 29"));
    }
}
