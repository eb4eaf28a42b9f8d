//! The helper's main sequence, run inside the sandbox after bwrap has built the mounts:
//! read the policy from fd 0, then caps → Landlock → no_new_privs → seccomp → rlimits →
//! fd hygiene → parent-death signal → `ready` → wait for yoe's go-ahead → exec the step.
//! Trusts the policy bytes only after decoding them; trusts nothing from the environment
//! (it never reads it). Any failure exits with the layer's code and a one-line message
//! naming the layer, and the step does not run.

use crate::layers;
use crate::status::{GO, Layer, Record};
use crate::sys;
use crate::wire::HelperPolicy;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

/// The usage line (also the only text the helper prints besides failures).
pub const USAGE: &str = "usage: yoe-sandbox-helper -- PROGRAM [ARGS...]  (policy framed on fd 0)";

struct Status(Option<File>);

impl Status {
    fn send(&mut self, record: &Record) {
        if let Some(f) = self.0.as_mut() {
            // The status channel is best effort: if yoe is gone, so is the sandbox.
            let _ = f.write_all(&record.encode());
        }
    }

    /// Blocks until yoe sends the go-ahead byte; `false` on end of file, an error or any
    /// other byte.
    fn wait_for_go(&mut self) -> bool {
        let Some(f) = self.0.as_mut() else {
            return false;
        };
        let mut b = [0u8; 1];
        loop {
            match f.read(&mut b) {
                Ok(1) => return b[0] == GO,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => return false,
            }
        }
    }

    fn fail(&mut self, layer: Layer, message: &str) -> ExitCode {
        self.send(&Record::Failed { layer, message: message.to_string() });
        eprintln!("yoe-sandbox-helper: {layer} layer failed: {message}");
        ExitCode::from(layer.exit_code())
    }
}

/// Runs the helper with `args` (without argv[0]). Returns only on failure.
pub fn run(args: Vec<OsString>) -> ExitCode {
    // The status channel and the policy arrive on fd 0 (a socket from yoe). Work on a
    // close-on-exec duplicate so the step can never inherit it.
    let channel = std::io::stdin().as_fd().try_clone_to_owned().ok().map(File::from);
    let mut status = Status(channel);

    let (program, rest) = match args.split_first() {
        Some((dd, rest)) if dd == "--" && !rest.is_empty() => (&rest[0], &rest[1..]),
        _ => return status.fail(Layer::Policy, USAGE),
    };

    let policy = match status.0.as_mut() {
        Some(f) => HelperPolicy::read_framed(f),
        None => return status.fail(Layer::Policy, "fd 0 is not open"),
    };
    let policy = match policy {
        Ok(p) => p,
        Err(e) => return status.fail(Layer::Policy, &e.to_string()),
    };

    if let Err(e) = layers::caps::apply() {
        return status.fail(Layer::Caps, &e);
    }
    if let Err(e) = layers::landlock::apply(&policy.landlock) {
        return status.fail(Layer::Landlock, &e);
    }
    match sys::set_no_new_privs().and_then(|()| sys::no_new_privs()) {
        Ok(true) => {}
        Ok(false) => return status.fail(Layer::NoNewPrivs, "still off after setting it"),
        Err(e) => return status.fail(Layer::NoNewPrivs, &e.to_string()),
    }
    if let Err(e) = layers::seccomp::apply(&policy.seccomp) {
        return status.fail(Layer::Seccomp, &e);
    }
    if let Err(e) = layers::rlimits::apply(&policy.rlimits) {
        return status.fail(Layer::Rlimits, &e);
    }
    if let Err(e) = fd_hygiene() {
        return status.fail(Layer::Fds, &e);
    }

    // The step is pid 1 of its namespace (bwrap --as-pid-1): when it dies, the kernel
    // kills every process of the sandbox. It dies with bwrap (armed here), and bwrap dies
    // with the yoe thread that spawned it (--die-with-parent). A parent-death signal armed
    // after the parent died never fires, and a yoe killed with SIGKILL loses its threads
    // before its fds, so no check made from in here can tell that the chain holds.
    // yoe can: after `ready`, the helper waits for yoe's go-ahead, which the spawning
    // thread sends only while it lives (so bwrap armed its signal on a live thread, and
    // bwrap was alive when this one was armed). End of file instead (yoe gone, or
    // cancelling) means the step never starts.
    if let Err(e) = sys::set_parent_death_kill() {
        return status.fail(Layer::Parent, &format!("arming the parent-death signal: {e}"));
    }
    status.send(&Record::Ready);
    if !status.wait_for_go() {
        return status.fail(Layer::Parent, "yoe has gone away; not starting the step");
    }
    let err = Command::new(program).args(rest).exec();
    status.fail(Layer::Exec, &format!("executing {}: {err}", program.to_string_lossy()))
}

/// Every inherited fd above 2 becomes close-on-exec, and stdin becomes /dev/null (the
/// original fd 0 is yoe's socket).
fn fd_hygiene() -> Result<(), String> {
    sys::cloexec_from(3).map_err(|e| format!("marking fds close-on-exec: {e}"))?;
    let null = File::open("/dev/null").map_err(|e| format!("opening /dev/null: {e}"))?;
    sys::dup2(null.as_raw_fd(), 0).map_err(|e| format!("putting /dev/null on fd 0: {e}"))?;
    Ok(())
}
