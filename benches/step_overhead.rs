//! Per-step overhead of the sandbox: median wall time (spawn → exit) of `true` run
//! directly, under bare bwrap with the same namespaces, and as a full yoe step (bwrap +
//! helper + every layer), measured round-robin in one run. Prints the three medians and
//! the ratio full/bare (target <= 1.3). Two more variants split the difference: bwrap
//! with the helper's bind mount but no helper, and the full argv with the helper driven
//! by hand (policy in, `ready`, go-ahead) without yoe's own bookkeeping around it. Run
//! with `benches/step_overhead.sh`.

// The report on stdout is this benchmark's result.
#![allow(clippy::print_stdout)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use yoe::sandbox::bwrap::{ArgvInputs, Layers, bwrap_argv};
use yoe::sandbox::{Sandbox, SandboxConfig, Shell, StepDirs, StepOutput, StepSpec, policy};

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let sandbox = Sandbox::detect(&SandboxConfig::default()).expect("sandbox (set YOE_SANDBOX_HELPER)");
    let base = std::env::temp_dir().join(format!("yoe-bench-{}", std::process::id()));
    let dirs = StepDirs {
        src: base.join("src"),
        destdir: base.join("destdir"),
        sysroot: base.join("sysroot"),
        home: base.join("home"),
    };
    for d in [&dirs.src, &dirs.destdir, &dirs.sysroot, &dirs.home] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    sandbox.hand_over(&base).expect("hand over");
    let env = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
    let script = "/usr/bin/true";
    let step = StepSpec { dirs: dirs.clone(), env: env.clone(), shell: Shell::Sh, script: script.into() };
    let bare = bwrap_argv(&ArgvInputs {
        dirs: &dirs,
        root: &yoe::sandbox::RootFs::host(),
        helper: sandbox.helper_path(),
        tmp_size: policy::embedded().tmp_size,
        env: &env,
        shell: Shell::Sh,
        script,
        layers: Layers::BareBwrap,
    })
    .expect("argv");
    // The full argv minus the helper's exec: the extra bind mount alone.
    let full_argv = sandbox.argv(&step).expect("full argv");
    let helper_at = full_argv.iter().position(|a| a == yoe::sandbox::bwrap::HELPER_PATH).expect("helper in argv");
    let mut mount_only = full_argv.clone();
    let exec_at = mount_only.iter().rposition(|a| a == yoe::sandbox::bwrap::HELPER_PATH).expect("helper exec");
    assert!(exec_at > helper_at);
    mount_only.drain(exec_at..exec_at + 2);
    let framed = sandbox.policy().helper_policy().encode_framed();
    let log = base.join("bench.log");
    let run_as = sandbox.build_user();

    let spawn_wait = |mut c: Command| {
        c.env_clear().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let t = Instant::now();
        let out = c.output().expect("spawn");
        let d = t.elapsed();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        d
    };
    let by_hand = |argv: &[std::ffi::OsString]| {
        use std::io::{Read, Write};
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let t = Instant::now();
        ours.write_all(&framed).expect("policy");
        let mut c = Command::new(sandbox.bwrap_path());
        c.args(argv).env_clear().stdin(std::os::fd::OwnedFd::from(theirs)).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(u) = run_as {
            c.uid(u.uid).gid(u.gid);
        }
        let mut child = c.spawn().expect("spawn");
        drop(c);
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.ends_with(b"ready\n") {
            let n = ours.read(&mut buf).expect("status");
            assert!(n > 0, "no ready: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        ours.write_all(&[yoe_sandbox_helper::status::GO]).expect("go");
        assert!(child.wait().expect("wait").success());
        t.elapsed()
    };
    let (mut direct, mut direct_sh, mut bare_t, mut full) = (vec![], vec![], vec![], vec![]);
    let (mut mount_t, mut hand_t) = (vec![], vec![]);
    for i in 0..n + 10 {
        let d1 = spawn_wait(Command::new("/usr/bin/true"));
        let mut sh = Command::new("/bin/sh");
        sh.args(["-c", script]);
        let d2 = spawn_wait(sh);
        let mut b = Command::new(sandbox.bwrap_path());
        b.args(&bare);
        if let Some(u) = run_as {
            b.uid(u.uid).gid(u.gid);
        }
        let d3 = spawn_wait(b);
        let mut m = Command::new(sandbox.bwrap_path());
        m.args(&mount_only);
        if let Some(u) = run_as {
            m.uid(u.uid).gid(u.gid);
        }
        let d5 = spawn_wait(m);
        let d6 = by_hand(&full_argv);
        let t = Instant::now();
        let o = sandbox.run(&step, StepOutput::Log(log.clone())).expect("full step");
        let d4 = t.elapsed();
        assert!(o.exit.success());
        if i >= 10 {
            direct.push(d1);
            direct_sh.push(d2);
            bare_t.push(d3);
            full.push(d4);
            mount_t.push(d5);
            hand_t.push(d6);
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    let (md, ms_, mb, mf) = (median(&mut direct), median(&mut direct_sh), median(&mut bare_t), median(&mut full));
    println!(
        "step overhead, {n} runs each, round-robin, as {}:",
        if run_as.is_some() { "root (bwrap as the build user)" } else { "unprivileged user" }
    );
    println!("  direct /usr/bin/true          median {:7.3} ms", ms(md));
    println!("  direct sh -c /usr/bin/true    median {:7.3} ms", ms(ms_));
    println!("  bare bwrap (same namespaces)  median {:7.3} ms  p90 {:7.3} ms", ms(mb), ms(pct(&bare_t, 0.9)));
    let (mm, mh) = (median(&mut mount_t), median(&mut hand_t));
    println!("  + helper bind mount, no helper median {:7.3} ms", ms(mm));
    println!("  + helper and layers, by hand  median {:7.3} ms", ms(mh));
    println!("  full yoe step (all layers)    median {:7.3} ms  p90 {:7.3} ms", ms(mf), ms(pct(&full, 0.9)));
    println!("  ratio full/bare               {:.3} (target <= 1.3)", mf.as_secs_f64() / mb.as_secs_f64());
    println!("  layers add                    {:7.3} ms per step", ms(mf.saturating_sub(mb)));
}
