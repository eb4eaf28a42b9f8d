//! One battery run as a real yoe project: a `probes` unit that installs the probe binary
//! (so every probe unit, which depends on it, finds it at `/build/sysroot/usr/bin`), one
//! unit per probe and per positive check whose single step runs it, with the probe's
//! variables in the unit's `environment`. Knows the real targets of the write and read
//! probes (the project dir, another unit's build dirs, yoe's cache), and runs the real
//! `yoe build` on the project, as root or as another user.

use crate::battery_probes::{Kind, Oracle, POSITIVE, Probe, RUNS_ALONE, Target};
use crate::support::yoe_bin;
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The scope token of the build dirs (the default arch, no machine).
pub const SCOPE: &str = "x86_64";
/// The unit that installs the probe binary.
pub const PROBES_UNIT: &str = "probes";
/// Where the probe binary is, below the `probes` unit's destdir and every sysroot.
pub const PROBE_BIN: &str = "usr/bin/yoe-probe";
/// The variable of yoe's own environment that holds the planted secret.
pub const SECRET_VAR: &str = "YOE_BATTERY_SECRET";

/// One run of the battery: who, in which project, with which cache and victim.
pub struct Run {
    pub name: &'static str,
    pub project: PathBuf,
    /// `$YOE_CACHE` of the yoe process.
    pub cache: PathBuf,
    pub victim_pid: u32,
}

/// The unit of a positive check.
pub fn positive_unit(name: &str) -> String {
    format!("positive_{name}")
}

/// How a probe is started: the probe binary at `bin` with its name, or its script.
pub fn command_line(p: &Probe, bin: &str) -> String {
    match p.kind {
        Kind::C(_) => format!("{bin} {}", p.name),
        Kind::Sh(s) => s.to_string(),
    }
}

impl Run {
    /// `build/<unit>.x86_64` of this run's project.
    pub fn unit_dir(&self, unit: &str) -> PathBuf {
        self.project.join("build").join(format!("{unit}.{SCOPE}"))
    }

    /// A file of another unit's build dirs that no probe unit may see: the `probes` unit's
    /// `src` (its files dir, copied), which is in no sysroot.
    pub fn other_unit_file(&self) -> PathBuf {
        self.unit_dir(PROBES_UNIT).join("src/probes.c")
    }

    /// Host path of a write target, and its path as the probe names it.
    pub fn target(&self, probe: &str, t: Target, sandboxed: bool) -> (PathBuf, String) {
        let tag = format!("{}-{}-{probe}", std::process::id(), self.name);
        let host = match t {
            Target::Usr => PathBuf::from(format!("/usr/yoe-battery-{tag}")),
            Target::Etc => PathBuf::from(format!("/etc/yoe-battery-{tag}")),
            Target::Project => self.project.join(format!("pwned-{tag}")),
            // A dependency's output: the files every dependent's sysroot is linked from.
            Target::OtherUnit => self.unit_dir(PROBES_UNIT).join("destdir").join(format!("pwned-{tag}")),
            Target::Cache => self.cache.join(format!("pwned-{tag}")),
            Target::HostTmp => PathBuf::from(format!("/tmp/yoe-battery-{tag}")),
            Target::HostShm => PathBuf::from(format!("/dev/shm/yoe-battery-{tag}")),
            Target::Sysroot => self.unit_dir(probe).join("sysroot").join(format!("pwned-{tag}")),
            Target::UnitDir => self.unit_dir(probe).join(format!("pwned-{tag}")),
        };
        let named = if t == Target::Sysroot && sandboxed {
            format!("/build/sysroot/pwned-{tag}")
        } else {
            host.display().to_string()
        };
        (host, named)
    }

    /// The probe's variables: the shared ones, the victim, the other unit's file, and the
    /// target of a write probe.
    pub fn probe_vars(
        &self,
        shared: &BTreeMap<String, String>,
        p: &Probe,
        sandboxed: bool,
    ) -> BTreeMap<String, String> {
        let mut vars = shared.clone();
        vars.insert("PROBE_VICTIM_PID".into(), self.victim_pid.to_string());
        vars.insert("PROBE_OTHER_FILE".into(), self.other_unit_file().display().to_string());
        if let Oracle::HostFile(t) = p.oracle {
            vars.insert("PROBE_TARGET".into(), self.target(p.name, t, sandboxed).1);
        }
        vars
    }

    /// Writes the project: `PROJECT.star`, `units/probes.star` with its files dir (the
    /// probe binary and its source), and one `units/<name>.star` per probe and positive check.
    pub fn write_project(&self, shared: &BTreeMap<String, String>, all: &[Probe], probe_bin: &Path, c_source: &str) {
        let p = &self.project;
        let files = p.join("units").join(PROBES_UNIT);
        std::fs::create_dir_all(&files).expect("mkdir units/probes");
        std::fs::write(p.join("PROJECT.star"), "project(name = \"battery\", version = \"1\")\n").expect("write");
        std::fs::copy(probe_bin, files.join("yoe-probe")).expect("copy probe binary");
        std::fs::write(files.join("probes.c"), c_source).expect("write probes.c");
        let install = format!("install -D -m 0755 yoe-probe $DESTDIR/{PROBE_BIN}");
        let text = unit_star(PROBES_UNIT, "installs the probe binary", &[], &BTreeMap::new(), &install);
        std::fs::write(p.join(format!("units/{PROBES_UNIT}.star")), text).expect("write");

        let mut everyone: Vec<String> = vec![PROBES_UNIT.to_string()];
        everyone.extend(all.iter().filter(|p| !RUNS_ALONE.contains(&p.name)).map(|p| p.name.to_string()));
        everyone.extend(POSITIVE.iter().map(|(n, _)| positive_unit(n)));
        let bin = format!("/build/sysroot/{PROBE_BIN}");
        for probe in all {
            // The step always ends with exit 0, so the unit builds whenever the probe ran to
            // its end; the verdict is in the log (and on the host), not in the outcome.
            let step = format!("( {} ); echo \"probe exit status $?\"", command_line(probe, &bin));
            let deps: Vec<String> =
                if RUNS_ALONE.contains(&probe.name) { everyone.clone() } else { vec![PROBES_UNIT.to_string()] };
            let text = unit_star(probe.name, probe.proves, &deps, &self.probe_vars(shared, probe, true), &step);
            std::fs::write(p.join(format!("units/{}.star", probe.name)), text).expect("write");
        }
        for (name, script) in POSITIVE {
            let unit = positive_unit(name);
            let text = unit_star(&unit, "a step must still be able to do this", &[], &BTreeMap::new(), script);
            std::fs::write(p.join(format!("units/{unit}.star")), text).expect("write");
        }
    }

    /// Runs `yoe --json build --keep-going -j 2` on the project, with the secret planted in
    /// yoe's environment, as `as_user` (else as the caller, root).
    pub fn yoe_build(&self, secret: &str, as_user: Option<(u32, u32)>) -> Build {
        let mut c = Command::new(yoe_bin());
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/nonexistent")
            .env("YOE_CACHE", &self.cache)
            .env("YOE_SANDBOX_HELPER", crate::common::helper())
            .env(SECRET_VAR, secret)
            .arg("--json")
            .arg("--project")
            .arg(&self.project)
            .args(["build", "--keep-going", "-j", "2"])
            .stdin(Stdio::null());
        if let Some((u, g)) = as_user {
            c.uid(u).gid(g);
        }
        let t0 = Instant::now();
        let out = c.output().expect("run yoe");
        let elapsed = t0.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut outcomes = BTreeMap::new();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&stdout) {
            for r in v["results"].as_array().into_iter().flatten() {
                if let (Some(u), Some(res)) = (r["unit"].as_str(), r["result"].as_str()) {
                    outcomes.insert(u.to_string(), res.to_string());
                }
            }
        }
        Build { outcomes, code: out.status.code(), stderr, elapsed }
    }
}

/// What `yoe build` said.
pub struct Build {
    /// unit -> `built`, `cached`, `failed`, `blocked` or `skipped`.
    pub outcomes: BTreeMap<String, String>,
    pub code: Option<i32>,
    pub stderr: String,
    pub elapsed: Duration,
}

/// A Starlark string literal.
fn star(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() => panic!("control character {c:?} in a generated Starlark string"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn unit_star(name: &str, description: &str, deps: &[String], env: &BTreeMap<String, String>, step: &str) -> String {
    let mut t =
        format!("unit(\n    name = {},\n    version = \"1\",\n    description = {},\n", star(name), star(description));
    if !deps.is_empty() {
        let list: Vec<String> = deps.iter().map(|d| star(d)).collect();
        t.push_str(&format!("    deps = [{}],\n", list.join(", ")));
    }
    if !env.is_empty() {
        t.push_str("    environment = {\n");
        for (k, v) in env {
            t.push_str(&format!("        {}: {},\n", star(k), star(v)));
        }
        t.push_str("    },\n");
    }
    t.push_str(&format!("    tasks = [task(\"probe\", steps = [{}])],\n)\n", star(step)));
    t
}

#[test]
fn starlark_strings_are_quoted() {
    assert_eq!(star("a\"b\\c\nd\te$"), "\"a\\\"b\\\\c\\nd\\te$\"");
}
