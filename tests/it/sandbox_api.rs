//! The sandbox API end to end: steps run, output is logged and captured, the environment
//! is exactly the contract, layers are on, failures are reported, nothing outlives yoe.

use crate::common::{sandbox, tempdir, unit_dirs};
use std::collections::BTreeMap;
use yoe::sandbox::{EnvInputs, SandboxError, Shell, StepExit, StepOutput, StepSpec, policy, render_env};

fn env() -> Vec<(String, String)> {
    let unit = BTreeMap::from([("UNIT_VAR".to_string(), "unit value".to_string())]);
    render_env(
        policy::embedded(),
        &EnvInputs {
            nproc: 2,
            arch: "x86_64",
            machine: "qemu-x86_64",
            distro: "yoe",
            source_date_epoch: 1_700_000_000,
            unit: &unit,
        },
    )
    .expect("env")
}

fn run(script: &str) -> yoe::sandbox::StepOutcome {
    let sb = sandbox();
    let t = tempdir();
    let dirs = unit_dirs(sb, t.path());
    sb.run(&StepSpec { dirs, env: env(), shell: Shell::Sh, script: script.into() }, StepOutput::Capture { log: None })
        .expect("run")
}

#[test]
fn step_runs_with_every_layer_on() {
    let out = run("grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd|CapPrm|CapAmb|CapInh):' /proc/self/status; id -u; pwd");
    assert_eq!(out.exit, StepExit::Code(0), "{:?}", out.tail);
    let text = String::from_utf8_lossy(out.stdout.as_deref().unwrap_or_default()).to_string();
    for want in [
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "CapInh:\t0000000000000000",
        "/build/src",
    ] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
    let uid: u32 = text.lines().rev().nth(1).and_then(|l| l.trim().parse().ok()).expect("uid");
    assert_ne!(uid, 0, "steps must not run as host root");
}

#[test]
fn environment_is_exactly_the_contract() {
    let out = run("env | sort");
    assert!(out.exit.success());
    let text = String::from_utf8_lossy(out.stdout.as_deref().unwrap_or_default()).to_string();
    let mut expected: Vec<String> = env().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    // The shell adds PWD (and dash nothing else) on its own.
    let got: Vec<String> = text
        .lines()
        .filter(|l| {
            !l.starts_with("PWD=") && !l.starts_with("OLDPWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_=")
        })
        .map(String::from)
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn stdout_and_stderr_are_captured_and_logged() {
    let sb = sandbox();
    let t = tempdir();
    let dirs = unit_dirs(sb, t.path());
    let log = t.path().join("build.log");
    let out = sb
        .run(
            &StepSpec { dirs, env: env(), shell: Shell::Bash, script: "echo to-out; echo to-err >&2; exit 3".into() },
            StepOutput::Capture { log: Some(log.clone()) },
        )
        .expect("run");
    assert_eq!(out.exit, StepExit::Code(3));
    assert_eq!(out.stdout.as_deref(), Some(&b"to-out\n"[..]));
    assert_eq!(out.stderr.as_deref(), Some(&b"to-err\n"[..]));
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.contains("to-out") && logged.contains("to-err"));
    assert!(out.tail.iter().any(|l| l == "to-err"));
}

#[test]
fn a_step_can_reopen_its_stdout_and_stderr() {
    // As root, bwrap runs as the build user: the pipes yoe made must be reopenable by it.
    let out = run("echo out > /dev/stdout && echo err > /proc/self/fd/2");
    assert_eq!(out.exit, StepExit::Code(0), "{:?}", out.tail);
    assert_eq!(out.stdout.as_deref(), Some(&b"out\n"[..]));
    assert_eq!(out.stderr.as_deref(), Some(&b"err\n"[..]));
}

#[test]
fn log_mode_interleaves_both_streams() {
    let sb = sandbox();
    let t = tempdir();
    let dirs = unit_dirs(sb, t.path());
    let log = t.path().join("build.log");
    let out = sb
        .run(
            &StepSpec { dirs, env: env(), shell: Shell::Sh, script: "echo one; echo two >&2; echo three".into() },
            StepOutput::Log(log.clone()),
        )
        .expect("run");
    assert!(out.exit.success());
    assert!(out.stdout.is_none());
    assert_eq!(std::fs::read_to_string(&log).expect("log"), "one\ntwo\nthree\n");
}

#[test]
fn missing_dir_is_an_error_naming_it() {
    let sb = sandbox();
    let t = tempdir();
    let mut dirs = unit_dirs(sb, t.path());
    dirs.sysroot = t.path().join("nope");
    let err = sb
        .run(&StepSpec { dirs, env: env(), shell: Shell::Sh, script: "true".into() }, StepOutput::Capture { log: None })
        .expect_err("must fail");
    assert!(matches!(err, SandboxError::MissingDir(ref p) if p.ends_with("nope")), "{err}");
}

#[test]
fn a_bad_helper_fails_closed_naming_the_layer() {
    // A "helper" that is not ours: the sandbox must refuse at detect time (self-test).
    let t = tempdir();
    let fake = t.path().join("yoe-sandbox-helper");
    std::fs::write(&fake, "#!/bin/sh\nexec \"$@\"\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let err = yoe::sandbox::Sandbox::detect(&yoe::sandbox::SandboxConfig { helper: Some(fake), ..Default::default() })
        .expect_err("a helper that applies no layer must be refused");
    assert!(err.to_string().contains("yoe doctor"), "{err}");
}

const HOLD_ENV: &str = "YOE_IT_HOLD_MARKER";

/// Child mode for `killing_yoe_leaves_no_sandbox_behind`: runs a long step and blocks.
#[test]
#[ignore = "run by killing_yoe_leaves_no_sandbox_behind in a child process"]
fn hold_step_child() {
    let Ok(marker) = std::env::var(HOLD_ENV) else {
        return;
    };
    let _ = run(&format!("sleep 300; : {marker}"));
}

fn marker_pids(marker: &str, only_shell: bool) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains(marker) && (!only_shell || cmd.starts_with("/bin/sh")) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Starts a stand-in for yoe running a long step, kills it with SIGKILL once the sandbox
/// is being set up (`early`) or once the step runs, and checks nothing is left.
fn kill_yoe_and_check(early: bool, delay_ms: u64) {
    crate::common::helper();
    let marker = format!("yoe-hold-{}-{early}-{delay_ms}-{:?}", std::process::id(), std::time::Instant::now());
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--ignored", "--exact", "sandbox_api::hold_step_child", "--test-threads=1"])
        .env(HOLD_ENV, &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while marker_pids(&marker, !early).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the held step never started");
        std::thread::sleep(std::time::Duration::from_millis(if early { 1 } else { 20 }));
    }
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    child.kill().expect("kill -9 the yoe stand-in");
    child.wait().expect("reap");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = marker_pids(&marker, false);
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sandbox processes outlived yoe:\n{}", describe(&left));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One line per pid: its cmdline, state, parent and where it sleeps in the kernel.
fn describe(pids: &[u32]) -> String {
    let mut out = String::new();
    for pid in pids {
        let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
        let status = read("status");
        let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).map(str::trim).unwrap_or("?").to_owned();
        out.push_str(&format!(
            "  {pid}: state={} ppid={} wchan={} cmdline={:?}\n",
            field("State:"),
            field("PPid:"),
            read("wchan"),
            read("cmdline").replace('\0', " ")
        ));
    }
    out
}

#[test]
fn killing_yoe_during_a_step_leaves_no_sandbox_behind() {
    kill_yoe_and_check(false, 0);
}

#[test]
fn killing_yoe_during_sandbox_setup_leaves_no_sandbox_behind() {
    // At several points of bwrap's setup and the helper's layers.
    for delay_ms in [0, 0, 1, 2, 4, 8] {
        kill_yoe_and_check(true, delay_ms);
    }
}

/// Runs bwrap with the sandbox's own argv, speaking the status protocol by hand: reads
/// `ready`, then either sends the go-ahead or closes the socket. Returns bwrap's exit code
/// and whether the step ran.
fn run_by_hand(go: bool) -> (Option<i32>, bool) {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    let sb = sandbox();
    let t = tempdir();
    let dirs = unit_dirs(sb, t.path());
    let ran = dirs.destdir.join("ran");
    let step = StepSpec { dirs, env: env(), shell: Shell::Sh, script: "touch /build/destdir/ran".into() };
    let argv = sb.argv(&step).expect("argv");
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    ours.write_all(&sb.policy().helper_policy().encode_framed()).expect("policy");
    let mut cmd = std::process::Command::new(sb.bwrap_path());
    cmd.args(&argv)
        .env_clear()
        .current_dir("/")
        .stdin(std::os::fd::OwnedFd::from(theirs))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(u) = sb.build_user() {
        cmd.uid(u.uid).gid(u.gid);
    }
    let mut child = cmd.spawn().expect("spawn bwrap");
    drop(cmd);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"ready\n") {
        let n = ours.read(&mut buf).expect("read status");
        assert!(n > 0, "the helper never said ready: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    // The helper waits: nothing runs before the go-ahead.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!ran.exists(), "the step started before the go-ahead");
    if go {
        ours.write_all(&[yoe_sandbox_helper::status::GO]).expect("go");
    } else {
        drop(ours);
    }
    let status = child.wait().expect("wait");
    (status.code(), ran.exists())
}

#[test]
fn the_step_starts_only_on_yoes_go_ahead() {
    assert_eq!(run_by_hand(true), (Some(0), true));
    // yoe gone (or cancelling) after `ready`: the helper exits with the parent layer's
    // code and the step never runs.
    assert_eq!(run_by_hand(false), (Some(77), false));
}

#[test]
fn doctor_reports_every_required_layer_ok_on_this_machine() {
    let report = yoe::sandbox::doctor::doctor_report_with(&yoe::sandbox::SandboxConfig {
        helper: Some(crate::common::helper().to_path_buf()),
        ..Default::default()
    });
    let text = report.to_string();
    eprintln!("{text}");
    assert!(!report.missing_required(), "{text}");
    for layer in ["bwrap", "helper", "user namespaces", "landlock", "seccomp", "cgroups", "self-test"] {
        assert!(report.lines.iter().any(|l| l.layer == layer), "no {layer} line:\n{text}");
    }
    // A broken configuration is reported as missing, with what to do.
    let broken = yoe::sandbox::doctor::doctor_report_with(&yoe::sandbox::SandboxConfig {
        bwrap: "/nonexistent/bwrap".into(),
        helper: Some(crate::common::helper().to_path_buf()),
        ..Default::default()
    });
    assert!(broken.missing_required());
    assert!(broken.to_string().contains("MISSING  bwrap"), "{broken}");
}

fn cancel_after(
    delay: std::time::Duration,
    marker: &str,
) -> (Result<yoe::sandbox::StepOutcome, SandboxError>, std::time::Duration) {
    let sb = sandbox();
    let t = tempdir();
    let dirs = unit_dirs(sb, t.path());
    let cancel = yoe::sandbox::Cancel::new();
    let c2 = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(delay);
        c2.cancel();
    });
    let started = std::time::Instant::now();
    let r = sb.run_cancellable(
        &StepSpec { dirs, env: env(), shell: Shell::Sh, script: format!("sleep 300; : {marker}") },
        StepOutput::Capture { log: None },
        &cancel,
    );
    let took = started.elapsed();
    canceller.join().expect("canceller");
    (r, took)
}

#[test]
fn cancel_stops_steps_at_any_point_and_leaves_nothing() {
    for delay_ms in [0u64, 1, 2, 5, 10, 300] {
        let marker = format!("yoe-cancel-{}-{delay_ms}", std::process::id());
        let (r, took) = cancel_after(std::time::Duration::from_millis(delay_ms), &marker);
        assert!(matches!(r, Err(SandboxError::Cancelled)), "{delay_ms} ms: {r:?}");
        assert!(took < std::time::Duration::from_secs(20), "{delay_ms} ms: took {took:?}");
        // The step dies with bwrap asynchronously; give the kernel a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !marker_pids(&marker, false).is_empty() {
            assert!(std::time::Instant::now() < deadline, "{delay_ms} ms: processes left");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    // A cancelled token refuses new steps.
    let cancel = yoe::sandbox::Cancel::new();
    cancel.cancel();
    let sb = sandbox();
    let t = tempdir();
    let dirs = unit_dirs(sb, t.path());
    let r = sb.run_cancellable(
        &StepSpec { dirs, env: env(), shell: Shell::Sh, script: "true".into() },
        StepOutput::Capture { log: None },
        &cancel,
    );
    assert!(matches!(r, Err(SandboxError::Cancelled)));
}
