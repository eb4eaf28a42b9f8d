//! The escape battery, at the unit level: every probe of `battery_probes` and every
//! positive check is one unit of a generated yoe project, built by the real
//! `yoe build --keep-going -j 2`, once as root (steps then run as the build user) and once
//! as a created unprivileged user. Each unit is judged from its `build.log` (the probe's
//! `RESULT <TOKEN>`), its outcome, and host-side oracles (files at the real targets, the
//! victim process, the secret planted in yoe's own environment). Every control proves,
//! unsandboxed and against the same real targets, that its probe can succeed. Network
//! traffic goes only to 127.0.0.1 listeners this test starts.

mod controls;
mod host;
mod project;

use crate::battery_probes::{Oracle, POSITIVE, Probe, RUNS_ALONE, probes};
use host::{Victim, mkdir};
use project::{Build, PROBES_UNIT, Run, positive_unit};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use yoe::sandbox::policy;

const TEST_USER: &str = "yoe-battery";

/// The token of the last `RESULT <TOKEN>` line.
fn token(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("RESULT "))
        .and_then(|r| r.split_whitespace().next())
        .map(String::from)
}

/// The last lines of a log, for messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}

/// Whether the probe escaped, judged by its oracle. Removes host files it created.
fn escaped(run: &Run, p: &Probe, out: &str, secret: &str, victim: &mut Victim) -> bool {
    match p.oracle {
        Oracle::Token => token(out).as_deref() == Some("ESCAPED"),
        Oracle::HostFile(t) => {
            let (host, _) = run.target(p.name, t, false);
            let hit = std::fs::symlink_metadata(&host).is_ok();
            let _ = std::fs::remove_file(&host);
            hit
        }
        Oracle::Secret => out.contains(secret),
        Oracle::Victim => victim.dead(),
    }
}

/// Judges every unit of a sandboxed run; returns the failures.
fn judge(run: &Run, build: &Build, all: &[Probe], secret: &str, victim: &mut Victim) -> Vec<String> {
    let mut failures = Vec::new();
    let r = run.name;
    let log = |unit: &str| std::fs::read_to_string(run.unit_dir(unit).join("build.log")).unwrap_or_default();
    let outcome = |unit: &str| build.outcomes.get(unit).map(String::as_str).unwrap_or("missing");
    if outcome(PROBES_UNIT) != "built" {
        failures.push(format!(
            "[{r}] the {PROBES_UNIT} unit did not build ({}): {}",
            outcome(PROBES_UNIT),
            tail(&log(PROBES_UNIT))
        ));
    }
    for p in all {
        let text = log(p.name);
        let tok = token(&text);
        if escaped(run, p, &text, secret, victim) {
            failures.push(format!("[{r}] {} ESCAPED ({}): {}", p.name, p.proves, tail(&text)));
        } else if outcome(p.name) != "built" {
            failures.push(format!("[{r}] {} did not build ({}): {}", p.name, outcome(p.name), tail(&text)));
        } else if tok.is_none() {
            failures.push(format!("[{r}] {} did not run to a result: {}", p.name, tail(&text)));
        } else if p.oracle == Oracle::Token && !p.blocked.contains(&tok.as_deref().unwrap_or_default()) {
            failures.push(format!(
                "[{r}] {} blocked with an unexpected outcome {:?} (expected one of {:?}): {}",
                p.name,
                tok,
                p.blocked,
                tail(&text)
            ));
        }
    }
    for (name, _) in POSITIVE {
        let unit = positive_unit(name);
        let text = log(&unit);
        if outcome(&unit) != "built" || token(&text).as_deref() != Some("OK") {
            failures.push(format!("[{r}] positive check {name} failed ({}): {}", outcome(&unit), tail(&text)));
        }
    }
    // The secret must not reach any step, whatever the probe.
    for unit in build.outcomes.keys() {
        if unit != "read_yoe_secret" && log(unit).contains(secret) {
            failures.push(format!("[{r}] the secret of yoe's environment is in the log of {unit}"));
        }
    }
    if build.outcomes.len() != all.len() + POSITIVE.len() + 1 {
        failures.push(format!(
            "[{r}] yoe reported {} units, the project has {} (exit {:?}): {}",
            build.outcomes.len(),
            all.len() + POSITIVE.len() + 1,
            build.code,
            build.stderr.trim()
        ));
    }
    failures
}

#[test]
fn escape_battery() {
    if yoe_sandbox_helper::sys::euid() != 0 {
        eprintln!("escape_battery needs root (it runs yoe as root and as a created user); skipped");
        return;
    }
    let started = Instant::now();
    let all = probes();
    assert!(all.len() >= 45, "only {} probes", all.len());
    let mut names: Vec<String> = all.iter().map(|p| p.name.to_string()).collect();
    names.extend(POSITIVE.iter().map(|(n, _)| positive_unit(n)));
    names.push(PROBES_UNIT.to_string());
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "unit names must be unique");
    for n in RUNS_ALONE {
        assert!(all.iter().any(|p| p.name == *n), "RUNS_ALONE names an unknown probe {n}");
    }

    // The fixture lives beside the build outputs (not in /tmp, which the sandbox has its
    // own of), in a dir every user can traverse.
    let t = tempfile::Builder::new().prefix("battery-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let base = t.path().to_path_buf();
    mkdir(&base, 0o755);
    let c_source = host::c_source(&all);
    let probe_bin = base.join("yoe-probe");
    host::compile(&c_source, &base, &probe_bin);

    let p = policy::embedded().helper_policy();
    let limit =
        |res: i32| p.rlimits.iter().find(|r| r.resource == res as u32).map(|r| r.hard).expect("rlimit in policy");
    let mut shared = BTreeMap::from([
        ("PROBE_NPROC_LIMIT".to_string(), limit(libc::RLIMIT_NPROC as i32).to_string()),
        ("PROBE_NOFILE_LIMIT".to_string(), limit(libc::RLIMIT_NOFILE as i32).to_string()),
        ("PROBE_FSIZE_LIMIT".to_string(), limit(libc::RLIMIT_FSIZE as i32).to_string()),
        ("PROBE_HOST_INIT".to_string(), host::host_init()),
        ("PROBE_DEV".to_string(), host::block_device().to_string()),
    ]);
    let _listeners = host::start_listeners(&base, &mut shared);
    let secret = format!("s3cr3t-{}-{}", std::process::id(), started.elapsed().as_nanos());

    let mut failures: Vec<String> = Vec::new();
    let mut times: Vec<(&str, Duration)> = Vec::new();

    // 1. Sandboxed: the real yoe build, as root (steps run as the build user) and as an
    //    unprivileged user (yoe itself runs as that user).
    let build_user = yoe::sandbox::user::resolve_build_user(&Default::default()).expect("build user");
    let test_user = host::ensure_user(TEST_USER);
    let mut runs = Vec::new();
    for (name, as_user, step_user) in
        [("root", None, (build_user.uid, build_user.gid)), ("unpriv", Some(test_user), test_user)]
    {
        let dir = base.join(name);
        let mut victim = Victim::spawn(Some(step_user));
        let run = Run { name, project: dir.join("project"), cache: dir.join("cache"), victim_pid: victim.pid() };
        run.write_project(&shared, &all, &probe_bin, &c_source);
        // Writable for the step's host user, so that only the sandbox stops the probes.
        mkdir(&run.project, 0o1777);
        mkdir(&run.cache, 0o1777);
        if let Some(ids) = as_user {
            host::chown_tree(&dir, ids);
        }
        let build = run.yoe_build(&secret, as_user);
        times.push((name, build.elapsed));
        failures.extend(judge(&run, &build, &all, &secret, &mut victim));
        runs.push(run);
    }

    // 2. Controls: each probe, unsandboxed and as root, against the root run's real targets.
    let t0 = Instant::now();
    let mut victim = Victim::spawn(None);
    let control = Run { name: "control", victim_pid: victim.pid(), ..runs.remove(0) };
    let work = base.join("control");
    for p in &all {
        let out = controls::run_control(&control, &shared, p, &work, &probe_bin, &secret);
        if !escaped(&control, p, &out, &secret, &mut victim) {
            failures.push(format!(
                "control {} ({:?}) did not prove the probe works: {}",
                p.name,
                p.control,
                out.trim()
            ));
        }
    }
    times.push(("controls", t0.elapsed()));

    let times: Vec<String> = times.iter().map(|(n, d)| format!("{n} {:.1}s", d.as_secs_f64())).collect();
    eprintln!(
        "escape battery: {} probes + {} positive checks as units of a yoe project; {}; total {:.1}s",
        all.len(),
        POSITIVE.len(),
        times.join(", "),
        started.elapsed().as_secs_f64()
    );
    if std::env::var_os("YOE_BATTERY_KEEP").is_some() {
        eprintln!("escape battery: kept the projects in {}", t.keep().display());
    }
    assert!(failures.is_empty(), "{} battery failures:\n{}", failures.len(), failures.join("\n"));
}
