//! The escape battery: every probe of `battery_probes` must be blocked in the sandbox, as
//! root (steps then run as the build user) and as an unprivileged user, and every control
//! must prove its probe works unsandboxed. Network traffic goes only to 127.0.0.1
//! listeners this test starts; nothing is sent to any other address.
//!
//! The sandboxed runs happen in a child process (this test binary, re-run with
//! `--ignored --exact sandbox_battery::battery_child`), so that a secret can be planted
//! in "yoe's" environment and the unprivileged run can switch user with std's
//! `Command::uid`.

use crate::battery_probes::{Control, Kind, Oracle, POSITIVE, Probe, Target, probes};
use crate::common::{helper, profile_dir};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use yoe::sandbox::bwrap::{ArgvInputs, Layers, bwrap_argv};
use yoe::sandbox::{
    EnvInputs, RootFs, Sandbox, SandboxConfig, Shell, StepDirs, StepOutput, StepSpec, policy, render_env,
};

const SPEC_ENV: &str = "YOE_BATTERY_SPEC";
const SECRET_VAR: &str = "YOE_BATTERY_SECRET";
const TEST_USER: &str = "yoe-battery";

/// Everything a run needs to know about the fixture.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Spec {
    base: PathBuf,
    probes_dir: PathBuf,
    helper: PathBuf,
    run: String,
    work: PathBuf,
    results: PathBuf,
    vars: BTreeMap<String, String>,
    victim: u32,
}

#[derive(Serialize, Deserialize, Debug)]
struct Outcome {
    name: String,
    stdout: String,
    exit: String,
}

fn tag(spec_run: &str, probe: &str) -> String {
    format!("{}-{spec_run}-{probe}", std::process::id())
}

/// Host path of a write target, and its path as the probe should name it.
fn target_paths(base: &Path, run: &str, probe: &str, t: Target, sandboxed: bool) -> (PathBuf, String) {
    let tag = tag(run, probe);
    let host = match t {
        Target::Usr => PathBuf::from(format!("/usr/yoe-battery-{tag}")),
        Target::Etc => PathBuf::from(format!("/etc/yoe-battery-{tag}")),
        Target::Project => base.join("project").join(format!("pwned-{tag}")),
        Target::OtherUnit => base.join("build/other.x86_64/destdir").join(format!("pwned-{tag}")),
        Target::Cache => base.join("cache").join(format!("pwned-{tag}")),
        Target::HostTmp => PathBuf::from(format!("/tmp/yoe-battery-{tag}")),
        Target::HostShm => PathBuf::from(format!("/dev/shm/yoe-battery-{tag}")),
        Target::Sysroot => base.join("probes").join(format!("pwned-{tag}")),
    };
    let named = if t == Target::Sysroot && sandboxed {
        format!("/build/sysroot/pwned-{tag}")
    } else {
        host.display().to_string()
    };
    (host, named)
}

fn token(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("RESULT "))
        .and_then(|r| r.split_whitespace().next())
        .map(String::from)
}

fn command_line(p: &Probe, probe_bin: &str) -> String {
    match p.kind {
        Kind::C(_) => format!("{probe_bin} {}", p.name),
        Kind::Sh(s) => s.to_string(),
    }
}

fn probe_vars(spec: &Spec, p: &Probe, sandboxed: bool) -> BTreeMap<String, String> {
    let mut vars = spec.vars.clone();
    vars.remove("SECRET");
    vars.insert("PROBE_VICTIM_PID".into(), spec.victim.to_string());
    if let Oracle::HostFile(t) = p.oracle {
        vars.insert("PROBE_TARGET".into(), target_paths(&spec.base, &spec.run, p.name, t, sandboxed).1);
    }
    vars
}

// ---- fixture ------------------------------------------------------------------------------

fn c_source() -> String {
    let mut src = crate::battery_probes::C_PRELUDE.to_string();
    let all = probes();
    for p in &all {
        if let Kind::C(body) = p.kind {
            src.push_str(&format!("static int p_{}(void) {{ {body} }}\n", p.name));
        }
    }
    src.push_str("int main(int argc, char **argv) {\n  setvbuf(stdout, 0, _IONBF, 0);\n  if (argc < 2) return 2;\n");
    for p in &all {
        if let Kind::C(_) = p.kind {
            src.push_str(&format!("  if (!strcmp(argv[1], \"{0}\")) return p_{0}();\n", p.name));
        }
    }
    src.push_str("  return 2;\n}\n");
    src
}

fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).expect("mkdir");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

struct Listeners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts the host services the network probes try to reach (127.0.0.1 only, bounded).
fn start_listeners(base: &Path, vars: &mut BTreeMap<String, String>) -> Listeners {
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut threads = Vec::new();

    let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp bind");
    tcp.set_nonblocking(true).expect("nonblocking");
    vars.insert("PROBE_TCP_PORT".into(), tcp.local_addr().expect("addr").port().to_string());
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
            match tcp.accept() {
                Ok((mut c, _)) => {
                    let _ = c.write_all(b"yoe-banner\n");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }));

    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    udp.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    vars.insert("PROBE_UDP_PORT".into(), udp.local_addr().expect("addr").port().to_string());
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
            if let Ok((n, from)) = udp.recv_from(&mut buf)
                && &buf[..n] == b"ping"
                && from.ip().is_loopback()
            {
                let _ = udp.send_to(b"pong", from);
            }
        }
    }));

    let name = format!("yoe-battery-{}", std::process::id());
    let abs = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract"))
        .expect("abstract bind");
    vars.insert("PROBE_ABSTRACT".into(), name);
    let path = base.join("host.sock");
    let pathl = UnixListener::bind(&path).expect("unix bind");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod sock");
    vars.insert("PROBE_UNIX_PATH".into(), path.display().to_string());
    for l in [abs, pathl] {
        l.set_nonblocking(true).expect("nonblocking");
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.write_all(b"yoe-banner\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }
    Listeners { stop, threads }
}

fn ensure_user(name: &str) -> (u32, u32) {
    let read = || std::fs::read_to_string("/etc/passwd").expect("passwd");
    if let Some(ids) = yoe::sandbox::user::lookup_passwd(&read(), name) {
        return ids;
    }
    let st = Command::new("/usr/sbin/useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ])
        .status()
        .expect("useradd");
    assert!(st.success() || st.code() == Some(9), "useradd {name}");
    yoe::sandbox::user::lookup_passwd(&read(), name).expect("user exists")
}

fn spawn_victim(ids: Option<(u32, u32)>) -> Child {
    let mut c = Command::new("/usr/bin/sleep");
    c.arg("600").env_clear().stdin(Stdio::null());
    if let Some((u, g)) = ids {
        c.uid(u).gid(g);
    }
    c.spawn().expect("victim")
}

// ---- the child: runs every probe in the sandbox -----------------------------------------------

/// Entry point of the child process (ignored unless the parent runs it).
#[test]
#[ignore = "run by escape_battery in a child process"]
fn battery_child() {
    let Some(spec_path) = std::env::var_os(SPEC_ENV) else {
        return;
    };
    let spec: Spec = serde_json::from_slice(&std::fs::read(spec_path).expect("spec")).expect("spec json");
    let sb = Sandbox::detect(&SandboxConfig { helper: Some(spec.helper.clone()), ..SandboxConfig::default() })
        .expect("sandbox detect in child");
    let mut outcomes = Vec::new();
    let all = probes();
    let mut jobs: Vec<(String, String, BTreeMap<String, String>)> = all
        .iter()
        .map(|p| (p.name.to_string(), command_line(p, "/build/sysroot/probe"), probe_vars(&spec, p, true)))
        .collect();
    for (name, script) in POSITIVE {
        jobs.push((format!("positive_{name}"), script.to_string(), spec.vars.clone()));
    }
    for (name, script, vars) in jobs {
        let base = spec.work.join(&name);
        let dirs = StepDirs {
            src: base.join("src"),
            destdir: base.join("destdir"),
            sysroot: spec.probes_dir.clone(),
            home: base.join("home"),
        };
        for d in [&dirs.src, &dirs.destdir, &dirs.home] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        sb.hand_over(&base).expect("hand over");
        let env = render_env(
            policy::embedded(),
            &EnvInputs {
                nproc: 2,
                arch: "x86_64",
                machine: "battery",
                distro: "yoe",
                source_date_epoch: 0,
                unit: &vars,
            },
        )
        .expect("env");
        let step = StepSpec { dirs, env, shell: Shell::Sh, script };
        let (stdout, exit) = match sb.run(&step, StepOutput::Capture { log: None }) {
            Ok(o) => (
                format!(
                    "{}{}",
                    String::from_utf8_lossy(o.stderr.as_deref().unwrap_or_default()),
                    String::from_utf8_lossy(o.stdout.as_deref().unwrap_or_default())
                ),
                o.exit.to_string(),
            ),
            Err(e) => (String::new(), format!("sandbox error: {e}")),
        };
        outcomes.push(Outcome { name, stdout, exit });
    }
    std::fs::write(&spec.results, serde_json::to_vec(&outcomes).expect("json")).expect("results");
}

// ---- controls (parent, as root) ------------------------------------------------------------------

fn run_control(spec: &Spec, p: &Probe) -> String {
    let bin = spec.probes_dir.join("probe").display().to_string();
    let vars = probe_vars(spec, p, p.control == Control::BareBwrap);
    let cwd = spec.base.join("control").join(p.name);
    mkdir(&cwd, 0o755);
    let out = match p.control {
        Control::Host | Control::HostTty => {
            let line = command_line(p, &bin);
            let mut c = if p.control == Control::HostTty {
                let mut c = Command::new("/usr/bin/script");
                c.args(["-qec", &line, "/dev/null"]);
                c
            } else {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", &line]);
                c
            };
            c.current_dir(&cwd).envs(&vars).env(SECRET_VAR, &spec.vars["SECRET"]).stdin(Stdio::null());
            c.output().expect("control")
        }
        Control::BareBwrap => {
            let dirs = StepDirs {
                src: cwd.join("src"),
                destdir: cwd.join("destdir"),
                sysroot: spec.probes_dir.clone(),
                home: cwd.join("home"),
            };
            for d in [&dirs.src, &dirs.destdir, &dirs.home] {
                mkdir(d, 0o755);
            }
            let env: Vec<(String, String)> =
                vars.into_iter().chain([("PATH".to_string(), "/usr/bin:/bin".to_string())]).collect();
            let script = command_line(p, "/build/sysroot/probe");
            let argv = bwrap_argv(&ArgvInputs {
                dirs: &dirs,
                root: &RootFs::host(),
                helper: &spec.helper,
                tmp_size: 1 << 26,
                env: &env,
                shell: Shell::Sh,
                script: &script,
                layers: Layers::BareBwrap,
            })
            .expect("argv");
            // Without --disable-userns: bwrap implements it with a nested user namespace
            // that does not own the mount namespace, which alone already stops mounts.
            let argv: Vec<_> = argv.into_iter().filter(|a| a != "--disable-userns").collect();
            Command::new("/usr/bin/bwrap").args(argv).env_clear().stdin(Stdio::null()).output().expect("bare bwrap")
        }
    };
    format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout))
}

/// Whether the probe escaped, judged by its oracle. Cleans up host-side effects.
fn escaped(spec: &Spec, p: &Probe, stdout: &str, victim: &mut Child) -> bool {
    match p.oracle {
        Oracle::Token => token(stdout).as_deref() == Some("ESCAPED"),
        Oracle::HostFile(t) => {
            let (host, _) = target_paths(&spec.base, &spec.run, p.name, t, false);
            let hit = std::fs::symlink_metadata(&host).is_ok();
            let _ = std::fs::remove_file(&host);
            hit
        }
        Oracle::Secret => stdout.contains(&spec.vars["SECRET"]),
        Oracle::Victim => victim.try_wait().map(|s| s.is_some()).unwrap_or(true),
    }
}

fn run_mode(spec: &Spec, as_user: Option<(u32, u32)>) -> Vec<Outcome> {
    let spec_path = spec.base.join(format!("spec-{}.json", spec.run));
    std::fs::write(&spec_path, serde_json::to_vec(spec).expect("json")).expect("spec");
    let mut c = Command::new(std::env::current_exe().expect("exe"));
    c.args(["--ignored", "--exact", "sandbox_battery::battery_child", "--nocapture", "--test-threads=1"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(SPEC_ENV, &spec_path)
        .env(SECRET_VAR, &spec.vars["SECRET"])
        .stdin(Stdio::null());
    if let Some((u, g)) = as_user {
        c.uid(u).gid(g).env("HOME", "/nonexistent");
    }
    let out = c.output().expect("battery child");
    assert!(
        out.status.success(),
        "battery child ({}) failed:\n{}\n{}",
        spec.run,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&spec.results).expect("results")).expect("results json")
}

#[test]
fn escape_battery() {
    if yoe_sandbox_helper::sys::euid() != 0 {
        eprintln!("escape_battery needs root (it runs the battery as root and as a created user); skipped");
        return;
    }
    let started = Instant::now();
    let all = probes();
    assert!(all.len() >= 45, "only {} probes", all.len());
    let mut names: Vec<&str> = all.iter().map(|p| p.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "probe names must be unique");

    // Fixture: a base dir everyone can traverse, the compiled probes as the sysroot.
    let t = crate::common::tempdir();
    let base = t.path().to_path_buf();
    let probes_dir = base.join("probes");
    mkdir(&probes_dir, 0o755);
    let src = base.join("probes.c");
    std::fs::write(&src, c_source()).expect("write c");
    let gcc = Command::new("/usr/bin/gcc")
        .args(["-O1", "-w", "-o"])
        .arg(probes_dir.join("probe"))
        .arg(&src)
        .output()
        .expect("gcc");
    assert!(gcc.status.success(), "compiling probes:\n{}", String::from_utf8_lossy(&gcc.stderr));
    for d in ["project", "cache", "build/other.x86_64/destdir", "control"] {
        mkdir(&base.join(d), 0o755);
    }
    let other_file = base.join("build/other.x86_64/destdir/secret.txt");
    std::fs::write(&other_file, "other unit's output").expect("write");
    std::fs::set_permissions(&other_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let p = policy::embedded().helper_policy();
    let limit =
        |res: i32| p.rlimits.iter().find(|r| r.resource == res as u32).map(|r| r.hard).expect("rlimit in policy");
    let secret = format!("s3cr3t-{}-{}", std::process::id(), started.elapsed().as_nanos());
    let host_init: String = std::fs::read("/proc/1/cmdline")
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").chars().take(24).collect())
        .expect("host pid 1 cmdline");
    let dev = ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda", "/dev/loop0"]
        .into_iter()
        .find(|d| std::fs::File::open(d).is_ok())
        .expect("a block device on the host");
    let mut vars = BTreeMap::from([
        ("SECRET".to_string(), secret.clone()),
        ("PROBE_NPROC_LIMIT".to_string(), limit(libc::RLIMIT_NPROC as i32).to_string()),
        ("PROBE_NOFILE_LIMIT".to_string(), limit(libc::RLIMIT_NOFILE as i32).to_string()),
        ("PROBE_FSIZE_LIMIT".to_string(), limit(libc::RLIMIT_FSIZE as i32).to_string()),
        ("PROBE_OTHER_FILE".to_string(), other_file.display().to_string()),
        ("PROBE_HOST_INIT".to_string(), host_init),
        ("PROBE_DEV".to_string(), dev.to_string()),
    ]);
    let _listeners = start_listeners(&base, &mut vars);
    // The secret is only ever in the environment of yoe (the child); remove it from the
    // probes' own variables.
    let mut probe_vars_only = vars.clone();
    probe_vars_only.remove("SECRET");

    let mut failures: Vec<String> = Vec::new();

    // 1. Controls: each probe escapes when not sandboxed.
    let mut victim = spawn_victim(None);
    let control_spec = Spec {
        base: base.clone(),
        probes_dir: probes_dir.clone(),
        helper: helper().to_path_buf(),
        run: "control".into(),
        work: base.join("control"),
        results: base.join("results-control.json"),
        vars: vars.clone(),
        victim: victim.id(),
    };
    for p in &all {
        let out = run_control(&control_spec, p);
        if !escaped(&control_spec, p, &out, &mut victim) {
            failures.push(format!(
                "control {} ({:?}) did not prove the probe works: {}",
                p.name,
                p.control,
                out.trim()
            ));
        }
        if victim.try_wait().ok().flatten().is_some() {
            victim = spawn_victim(None);
        }
    }
    let _ = victim.kill();
    let _ = victim.wait();
    let control_time = started.elapsed();

    // 2. Sandboxed, as root (bwrap runs as the build user) and as an unprivileged user.
    let build_user = yoe::sandbox::user::resolve_build_user(&Default::default()).expect("build user");
    let test_user = ensure_user(TEST_USER);
    for (run, child_user, victim_user) in
        [("root", None, (build_user.uid, build_user.gid)), ("unpriv", Some(test_user), test_user)]
    {
        let work = base.join(format!("work-{run}"));
        mkdir(&work, 0o755);
        let results = base.join(format!("results-{run}"));
        mkdir(&results, 0o755);
        if let Some((u, g)) = child_user {
            std::os::unix::fs::chown(&work, Some(u), Some(g)).expect("chown work");
            std::os::unix::fs::chown(&results, Some(u), Some(g)).expect("chown results");
        }
        let mut victim = spawn_victim(Some(victim_user));
        let spec = Spec {
            base: base.clone(),
            probes_dir: probes_dir.clone(),
            helper: helper().to_path_buf(),
            run: run.into(),
            work,
            results: results.join("out.json"),
            vars: {
                let mut v = probe_vars_only.clone();
                v.insert("SECRET".into(), secret.clone());
                v
            },
            victim: victim.id(),
        };
        let outcomes = run_mode(&spec, child_user);
        let by_name: BTreeMap<&str, &Outcome> = outcomes.iter().map(|o| (o.name.as_str(), o)).collect();
        for p in &all {
            let Some(o) = by_name.get(p.name) else {
                failures.push(format!("[{run}] {} has no outcome", p.name));
                continue;
            };
            let tok = token(&o.stdout);
            if escaped(&spec, p, &o.stdout, &mut victim) {
                failures.push(format!("[{run}] {} ESCAPED ({}): {} ({})", p.name, p.proves, o.stdout.trim(), o.exit));
            } else if tok.is_none() {
                failures.push(format!("[{run}] {} did not run to a result: {} ({})", p.name, o.stdout.trim(), o.exit));
            } else if p.oracle == Oracle::Token && !p.blocked.contains(&tok.as_deref().unwrap_or_default()) {
                failures.push(format!(
                    "[{run}] {} blocked with an unexpected outcome {:?} (expected one of {:?}): {}",
                    p.name,
                    tok,
                    p.blocked,
                    o.stdout.trim()
                ));
            }
        }
        for (name, _) in POSITIVE {
            let key = format!("positive_{name}");
            match by_name.get(key.as_str()) {
                Some(o) if token(&o.stdout).as_deref() == Some("OK") => {}
                other => failures.push(format!("[{run}] positive check {name} failed: {other:?}")),
            }
        }
        let _ = victim.kill();
        let _ = victim.wait();
    }
    eprintln!(
        "escape battery: {} probes + {} positive checks, controls {:.1}s, total {:.1}s",
        all.len(),
        POSITIVE.len(),
        control_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let _ = profile_dir();
    assert!(failures.is_empty(), "{} battery failures:\n{}", failures.len(), failures.join("\n"));
}
