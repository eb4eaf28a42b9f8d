//! The sandbox API end to end: steps run, output is logged and captured, the environment
//! is exactly the contract, layers are on, failures are reported, nothing outlives yoe.

use crate::common::{sandbox, tempdir, unit_dirs};
use std::collections::BTreeMap;
use yoe::sandbox::{
    EnvInputs, SandboxError, Shell, StepExit, StepOutput, StepSpec, policy, render_env,
};

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
    sb.run(
        &StepSpec {
            dirs,
            env: env(),
            shell: Shell::Sh,
            script: script.into(),
        },
        StepOutput::Capture { log: None },
    )
    .expect("run")
}

#[test]
fn step_runs_with_every_layer_on() {
    let out = run(
        "grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd|CapPrm|CapAmb|CapInh):' /proc/self/status; id -u; pwd",
    );
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
    let uid: u32 = text
        .lines()
        .rev()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("uid");
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
            !l.starts_with("PWD=")
                && !l.starts_with("OLDPWD=")
                && !l.starts_with("SHLVL=")
                && !l.starts_with("_=")
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
            &StepSpec {
                dirs,
                env: env(),
                shell: Shell::Bash,
                script: "echo to-out; echo to-err >&2; exit 3".into(),
            },
            StepOutput::Capture {
                log: Some(log.clone()),
            },
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
fn log_mode_interleaves_both_streams() {
    let sb = sandbox();
    let t = tempdir();
    let dirs = unit_dirs(sb, t.path());
    let log = t.path().join("build.log");
    let out = sb
        .run(
            &StepSpec {
                dirs,
                env: env(),
                shell: Shell::Sh,
                script: "echo one; echo two >&2; echo three".into(),
            },
            StepOutput::Log(log.clone()),
        )
        .expect("run");
    assert!(out.exit.success());
    assert!(out.stdout.is_none());
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "one\ntwo\nthree\n"
    );
}

#[test]
fn missing_dir_is_an_error_naming_it() {
    let sb = sandbox();
    let t = tempdir();
    let mut dirs = unit_dirs(sb, t.path());
    dirs.sysroot = t.path().join("nope");
    let err = sb
        .run(
            &StepSpec {
                dirs,
                env: env(),
                shell: Shell::Sh,
                script: "true".into(),
            },
            StepOutput::Capture { log: None },
        )
        .expect_err("must fail");
    assert!(
        matches!(err, SandboxError::MissingDir(ref p) if p.ends_with("nope")),
        "{err}"
    );
}

#[test]
fn a_bad_helper_fails_closed_naming_the_layer() {
    // A "helper" that is not ours: the sandbox must refuse at detect time (self-test).
    let t = tempdir();
    let fake = t.path().join("yoe-sandbox-helper");
    std::fs::write(&fake, "#!/bin/sh\nexec \"$@\"\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let err = yoe::sandbox::Sandbox::detect(&yoe::sandbox::SandboxConfig {
        helper: Some(fake),
        ..Default::default()
    })
    .expect_err("a helper that applies no layer must be refused");
    assert!(err.to_string().contains("yoe doctor"), "{err}");
}
