//! `yoe doctor`'s sandbox report: one line per layer with its state and what to do. Reads
//! kernel and system state; changes nothing, except that a self-test runs a trivial step
//! through the full sandbox (as root this may create the build user, as a build would).

use super::policy;
use super::spawn::{self, Sandbox, SandboxConfig};
use std::fmt;
use std::path::Path;
use yoe_sandbox_helper::sys;

/// The state of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Ok,
    Missing,
    /// Reported for information; nothing depends on it.
    Info,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DoctorLine {
    pub layer: &'static str,
    pub state: State,
    /// Whether builds refuse to start when this is missing.
    pub required: bool,
    pub detail: String,
    /// What to do when missing.
    pub fix: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DoctorReport {
    pub lines: Vec<DoctorLine>,
}

impl DoctorReport {
    /// Whether a required layer is missing (then `yoe doctor` exits non-zero and builds
    /// refuse to start).
    pub fn missing_required(&self) -> bool {
        self.lines.iter().any(|l| l.required && l.state == State::Missing)
    }
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            let state = match l.state {
                State::Ok => "OK",
                State::Missing if l.required => "MISSING",
                State::Missing => "missing",
                State::Info => "info",
            };
            write!(f, "{state:<8} {:<18} {}", l.layer, l.detail)?;
            if let (State::Missing, Some(fix)) = (l.state, &l.fix) {
                write!(f, " -> {fix}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

fn line(layer: &'static str, ok: bool, required: bool, detail: String, fix: &str) -> DoctorLine {
    DoctorLine {
        layer,
        state: if ok { State::Ok } else { State::Missing },
        required,
        detail,
        fix: (!ok).then(|| fix.to_string()),
    }
}

fn find_in_path(name: &str) -> Option<std::path::PathBuf> {
    ["/usr/bin", "/bin", "/usr/local/bin"].iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Builds the report with the default sandbox configuration.
pub fn doctor_report() -> DoctorReport {
    doctor_report_with(&SandboxConfig::default())
}

/// Builds the report for a given configuration.
pub fn doctor_report_with(config: &SandboxConfig) -> DoctorReport {
    let policy = policy::embedded();
    let mut lines = Vec::new();

    let bwrap = spawn::bwrap_version(&config.bwrap);
    lines.push(match &bwrap {
        Ok(v) => line(
            "bwrap",
            *v >= spawn::MIN_BWRAP,
            true,
            format!("{} {}.{}.{}", config.bwrap.display(), v.0, v.1, v.2),
            "install bubblewrap >= 0.8.0 (apt-get install bubblewrap)",
        ),
        Err(e) => line("bwrap", false, true, e.to_string(), "install bubblewrap >= 0.8.0 (apt-get install bubblewrap)"),
    });

    let helper = spawn::locate_helper(config.helper.as_deref());
    lines.push(line(
        "helper",
        helper.is_ok(),
        true,
        match &helper {
            Ok(p) => p.display().to_string(),
            Err(e) => e.to_string(),
        },
        "install yoe-sandbox-helper next to yoe",
    ));

    let max_ns = spawn::read_sysctl("/proc/sys/user/max_user_namespaces");
    let clone_knob = spawn::read_sysctl("/proc/sys/kernel/unprivileged_userns_clone");
    let userns_ok = max_ns != Some(0) && clone_knob != Some(0);
    lines.push(line(
        "user namespaces",
        userns_ok,
        true,
        format!(
            "user.max_user_namespaces={}{}",
            max_ns.map_or("?".into(), |n| n.to_string()),
            clone_knob.map_or(String::new(), |n| format!(", kernel.unprivileged_userns_clone={n}"))
        ),
        "enable unprivileged user namespaces (sysctl user.max_user_namespaces, \
         kernel.unprivileged_userns_clone)",
    ));

    let abi = sys::landlock_abi();
    lines.push(line(
        "landlock",
        abi >= policy.landlock_min_abi,
        true,
        format!("ABI {abi} (policy needs >= {})", policy.landlock_min_abi),
        "boot a kernel with Landlock enabled (lsm=landlock,...) and ABI >= 6 (Linux 6.12+)",
    ));

    let seccomp = sys::seccomp_filter_available();
    lines.push(line(
        "seccomp",
        seccomp,
        true,
        if seccomp { "filter mode".into() } else { "no filter mode".into() },
        "boot a kernel with CONFIG_SECCOMP_FILTER",
    ));

    let cgroup2 = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "cgroup v2 (unified)"
    } else if Path::new("/sys/fs/cgroup/unified").exists() {
        "cgroup v1 hybrid (limits come from rlimits)"
    } else {
        "cgroup v1 (limits come from rlimits)"
    };
    lines.push(DoctorLine { layer: "cgroups", state: State::Info, required: false, detail: cgroup2.into(), fix: None });

    if sys::euid() == 0 {
        lines.push(DoctorLine {
            layer: "build user",
            state: State::Info,
            required: false,
            detail: format!(
                "yoe runs as root: steps run as {} (a named user is created if missing)",
                config.build_user
            ),
            fix: None,
        });
    }

    for tool in ["gcc", "cc", "make"] {
        let p = find_in_path(tool);
        lines.push(line(
            match tool {
                "gcc" => "toolchain gcc",
                "cc" => "toolchain cc",
                _ => "toolchain make",
            },
            p.is_some(),
            false,
            p.map_or("not found in /usr/bin".into(), |p| p.display().to_string()),
            "apt-get install build-essential (steps use the host /usr for now)",
        ));
    }

    lines.push(DoctorLine {
        layer: "policy",
        state: State::Info,
        required: false,
        detail: format!("policies/step.toml sha256 {}", policy.hash_hex()),
        fix: None,
    });

    let required_ok = lines.iter().all(|l| !l.required || l.state != State::Missing);
    if required_ok {
        let cfg = SandboxConfig { self_test: true, ..config.clone() };
        let st = Sandbox::detect(&cfg);
        lines.push(line(
            "self-test",
            st.is_ok(),
            true,
            match &st {
                Ok(_) => "a step ran through bwrap + helper with every layer".into(),
                Err(e) => e.to_string(),
            },
            "see the message; every layer above must be OK",
        ));
    }
    DoctorReport { lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_and_display() {
        let r = DoctorReport {
            lines: vec![
                line("bwrap", true, true, "/usr/bin/bwrap 0.8.0".into(), "x"),
                line("toolchain gcc", false, false, "not found".into(), "install it"),
            ],
        };
        assert!(!r.missing_required());
        let s = r.to_string();
        assert!(s.contains("OK       bwrap"));
        assert!(s.contains("missing  toolchain gcc      not found -> install it"));
        let r = DoctorReport { lines: vec![line("landlock", false, true, "ABI 0".into(), "boot")] };
        assert!(r.missing_required());
        assert!(r.to_string().starts_with("MISSING  landlock"));
    }
}
