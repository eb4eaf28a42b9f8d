//! Renders the step environment: the policy's contract with yoe's values filled in, then
//! the unit's own `environment` merged last (reserved layout names excluded). Pure; trusts
//! the validated policy, checks the unit's names and values.

use super::policy::{Placeholder, Policy, Segment, is_env_name};
use std::collections::BTreeMap;

/// What yoe knows about the step that the environment contract mentions.
#[derive(Debug, Clone)]
pub struct EnvInputs<'a> {
    /// Parallel jobs for the step (`NPROC`).
    pub nproc: u32,
    /// yoe's architecture token: `x86_64`, `arm64`, `riscv64`.
    pub arch: &'a str,
    pub machine: &'a str,
    pub distro: &'a str,
    /// Seconds since the epoch, for reproducible timestamps.
    pub source_date_epoch: u64,
    /// The unit's `environment`, applied last.
    pub unit: &'a BTreeMap<String, String>,
}

/// Why an environment could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("unit environment variable {0} is reserved by the sandbox layout and cannot be set")]
    Reserved(String),
    #[error("environment variable name {0:?} is not valid (letters, digits, _; not first a digit)")]
    BadName(String),
    #[error("environment variable {0} contains a NUL byte")]
    Nul(String),
}

/// The step environment, sorted by name.
pub fn render_env(policy: &Policy, inputs: &EnvInputs<'_>) -> Result<Vec<(String, String)>, EnvError> {
    for (name, value) in [("ARCH", inputs.arch), ("MACHINE", inputs.machine), ("DISTRO", inputs.distro)] {
        if value.contains('\0') {
            return Err(EnvError::Nul(name.into()));
        }
    }
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, template) in &policy.env {
        let mut v = String::new();
        for seg in &template.0 {
            match seg {
                Segment::Literal(s) => v.push_str(s),
                Segment::Placeholder(p) => match p {
                    Placeholder::Nproc => v.push_str(&inputs.nproc.max(1).to_string()),
                    Placeholder::Arch => v.push_str(inputs.arch),
                    Placeholder::Machine => v.push_str(inputs.machine),
                    Placeholder::Distro => v.push_str(inputs.distro),
                    Placeholder::SourceDateEpoch => v.push_str(&inputs.source_date_epoch.to_string()),
                },
            }
        }
        out.insert(name.clone(), v);
    }
    for (name, value) in inputs.unit {
        if !is_env_name(name) {
            return Err(EnvError::BadName(name.clone()));
        }
        if policy.reserved_env.iter().any(|r| r == name) {
            return Err(EnvError::Reserved(name.clone()));
        }
        if value.contains('\0') {
            return Err(EnvError::Nul(name.clone()));
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::policy::embedded;

    fn inputs(unit: &BTreeMap<String, String>) -> EnvInputs<'_> {
        EnvInputs {
            nproc: 3,
            arch: "x86_64",
            machine: "qemu-x86_64",
            distro: "yoe",
            source_date_epoch: 1_700_000_000,
            unit,
        }
    }

    #[test]
    fn contract_is_rendered_and_sorted() {
        let unit = BTreeMap::new();
        let env = render_env(embedded(), &inputs(&unit)).expect("renders");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("NPROC"), Some("3"));
        assert_eq!(get("ARCH"), Some("x86_64"));
        assert_eq!(get("MACHINE"), Some("qemu-x86_64"));
        assert_eq!(get("DISTRO"), Some("yoe"));
        assert_eq!(get("SOURCE_DATE_EPOCH"), Some("1700000000"));
        assert_eq!(get("DESTDIR"), Some("/build/destdir"));
        assert_eq!(get("HOME"), Some("/build/home"));
        for k in ["PREFIX", "SRCDIR", "SYSROOT", "PATH", "PKG_CONFIG_PATH", "CFLAGS", "CPPFLAGS", "LDFLAGS", "TMPDIR"] {
            assert!(get(k).is_some(), "{k} missing");
        }
        let names: Vec<&String> = env.iter().map(|(n, _)| n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn unit_environment_is_merged_last_but_not_over_reserved_names() {
        let mut unit = BTreeMap::new();
        unit.insert("CFLAGS".to_string(), "-O0".to_string());
        unit.insert("FOO".to_string(), "bar".to_string());
        let env = render_env(embedded(), &inputs(&unit)).expect("renders");
        assert!(env.contains(&("CFLAGS".into(), "-O0".into())));
        assert!(env.contains(&("FOO".into(), "bar".into())));
        for reserved in ["DESTDIR", "HOME", "TMPDIR", "SRCDIR", "SYSROOT"] {
            let mut unit = BTreeMap::new();
            unit.insert(reserved.to_string(), "/".to_string());
            assert_eq!(render_env(embedded(), &inputs(&unit)), Err(EnvError::Reserved(reserved.into())));
        }
        let mut unit = BTreeMap::new();
        unit.insert("1X".to_string(), String::new());
        assert!(render_env(embedded(), &inputs(&unit)).is_err());
        let mut unit = BTreeMap::new();
        unit.insert("X".to_string(), "a\0b".to_string());
        assert!(render_env(embedded(), &inputs(&unit)).is_err());
    }
}
