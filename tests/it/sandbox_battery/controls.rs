//! The controls: each probe run unsandboxed (on the host as root, on the host with a
//! terminal, or under bwrap with the same namespaces but without the helper's layers),
//! aimed at the same real targets as the sandboxed run, to prove it can succeed.

use super::project::{PROBE_BIN, PROBES_UNIT, Run, SECRET_VAR, command_line};
use crate::battery_probes::{Control, Probe};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use yoe::sandbox::bwrap::{ArgvInputs, Layers, bwrap_argv};
use yoe::sandbox::{RootFs, Shell, StepDirs};

/// Runs the control of `p`; its output (stderr, then stdout). `work` is a scratch dir,
/// `probe_bin` the host path of the probe binary.
pub fn run_control(
    run: &Run,
    shared: &BTreeMap<String, String>,
    p: &Probe,
    work: &Path,
    probe_bin: &Path,
    secret: &str,
) -> String {
    let vars = run.probe_vars(shared, p, p.control == Control::BareBwrap);
    let cwd = work.join(p.name);
    super::host::mkdir(&cwd, 0o755);
    let out = match p.control {
        Control::Host | Control::HostTty => {
            let line = command_line(p, &probe_bin.display().to_string());
            let mut c = if p.control == Control::HostTty {
                let mut c = Command::new("/usr/bin/script");
                c.args(["-qec", &line, "/dev/null"]);
                c
            } else {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", &line]);
                c
            };
            c.current_dir(&cwd).env_clear().env("PATH", "/usr/bin:/bin").envs(&vars).env(SECRET_VAR, secret);
            c.stdin(Stdio::null()).output().expect("control")
        }
        Control::BareBwrap => {
            let dirs = StepDirs {
                src: cwd.join("src"),
                destdir: cwd.join("destdir"),
                // The probes unit's real output, as every probe unit's sysroot holds it.
                sysroot: run.unit_dir(PROBES_UNIT).join("destdir"),
                home: cwd.join("home"),
            };
            for d in [&dirs.src, &dirs.destdir, &dirs.home] {
                super::host::mkdir(d, 0o755);
            }
            let env: Vec<(String, String)> =
                vars.into_iter().chain([("PATH".to_string(), "/usr/bin:/bin".to_string())]).collect();
            let script = command_line(p, &format!("/build/sysroot/{PROBE_BIN}"));
            let argv = bwrap_argv(&ArgvInputs {
                dirs: &dirs,
                root: &RootFs::host(),
                helper: crate::common::helper(),
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
