//! Cache keys: a sha256 over everything that can change a unit's output. Its own fields
//! (all of them, `extra` included), step texts and `fn` source digests, installed files,
//! the unit's files directory, source pins, the keys of its deps, the toolchain identity,
//! the sandbox policy hash and the yoe version. Pure: the caller supplies file digests.
use sha2::{Digest, Sha256};

use crate::model::{Project, Scope, Step, Unit};

/// Inputs of every key that are not the unit itself.
#[derive(Debug, Clone)]
pub struct KeyContext {
    pub yoe_version: String,
    pub policy_sha256: String,
    pub toolchain_id: String,
    pub arch: String,
    pub machine: String,
    pub distro: String,
    pub project_version: String,
    /// Canonical JSON of the active machine (captured by `ctx.machine_config`).
    pub machine_json: String,
    /// Canonical JSON of the provides table (captured by `ctx.provides`).
    pub provides_json: String,
}

impl KeyContext {
    pub fn new(project: &Project, policy_sha256: &str, toolchain_id: &str) -> KeyContext {
        let machine_json = project.active_machine().map(machine_json).unwrap_or_default();
        KeyContext {
            yoe_version: env!("CARGO_PKG_VERSION").to_string(),
            policy_sha256: policy_sha256.to_string(),
            toolchain_id: toolchain_id.to_string(),
            arch: project.arch.clone(),
            machine: project.machine.as_ref().map(|m| m.to_string()).unwrap_or_default(),
            distro: project.distro.clone(),
            project_version: project.version_str().to_string(),
            machine_json,
            provides_json: serde_json::to_string(&project.provides).unwrap_or_default(),
        }
    }
}

fn machine_json(m: &crate::model::Machine) -> String {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("defined_at");
        o.remove("module");
    }
    v.to_string()
}

/// The unit's declaration as canonical JSON, without where it was declared (moving a file
/// or the project does not change what it builds).
pub fn unit_json(unit: &Unit, project_root: &std::path::Path) -> String {
    let mut v = serde_json::to_value(unit).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        for k in ["defined_at", "call_stack", "defined_in", "module", "priority"] {
            o.remove(k);
        }
        if let Some(tasks) = o.get_mut("tasks").and_then(|t| t.as_array_mut()) {
            for step in tasks.iter_mut().filter_map(|t| t.get_mut("steps")).filter_map(|s| s.as_array_mut()).flatten() {
                if let Some(base) = step.get_mut("base_dir") {
                    let rel = base.as_str().map(|b| {
                        std::path::Path::new(b)
                            .strip_prefix(project_root)
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    });
                    *base = serde_json::Value::String(rel.unwrap_or_default());
                }
            }
        }
    }
    v.to_string()
}

/// Compute a unit's key.
/// `files_sha256`: tree hash of the unit's files directory (empty if none);
/// `install_sources`: (src, sha256) of every install step's source, in step order;
/// `dep_keys`: (name, key) of its direct graph deps, sorted by name.
pub fn unit_key(
    unit: &Unit,
    ctx: &KeyContext,
    project_root: &std::path::Path,
    files_sha256: &str,
    install_sources: &[(String, String)],
    dep_keys: &[(String, String)],
) -> String {
    let mut h = Sha256::new();
    let mut line = |k: &str, v: &str| {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.len().to_le_bytes());
        h.update(v.as_bytes());
        h.update(b"\n");
    };
    line("format", "yoe-unit-key-v1");
    line("yoe", &ctx.yoe_version);
    line("policy", &ctx.policy_sha256);
    line("toolchain", &ctx.toolchain_id);
    line("arch", &ctx.arch);
    line("distro", &ctx.distro);
    line("project_version", &ctx.project_version);
    if unit.scope == Scope::Machine {
        line("machine", &ctx.machine);
    }
    let has_fn = unit.tasks.iter().flat_map(|t| &t.steps).any(|s| matches!(s, Step::Fn(_)));
    if has_fn || unit.scope == Scope::Machine || unit.is_image() {
        // `fn` bodies may read ctx; hash what ctx shows. An image without partitions of
        // its own writes the machine's.
        line("machine_config", &ctx.machine_json);
        line("provides", &ctx.provides_json);
    }
    line("unit", &unit_json(unit, project_root));
    line("files", files_sha256);
    for (src, sha) in install_sources {
        line("install", &format!("{src}:{sha}"));
    }
    for (name, key) in dep_keys {
        line("dep", &format!("{name}:{key}"));
    }
    crate::treehash::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Location;
    use crate::model::unit::DeclSite;

    fn unit(extra: &str, at: &str) -> Unit {
        let kw = vec![
            ("name".to_string(), crate::model::RawValue::Str("u".into())),
            ("opt".to_string(), crate::model::RawValue::Str(extra.into())),
        ];
        let site = DeclSite {
            module: String::new(),
            priority: 1,
            defined_in: at.into(),
            defined_at: Location::file_only(format!("{at}/u.star")),
            call_stack: vec![],
        };
        Unit::from_kwargs(kw, "unit", site).unwrap()
    }

    fn ctx() -> KeyContext {
        KeyContext {
            yoe_version: "1".into(),
            policy_sha256: "p".into(),
            toolchain_id: "t".into(),
            arch: "x86_64".into(),
            machine: "m".into(),
            distro: String::new(),
            project_version: "0".into(),
            machine_json: String::new(),
            provides_json: String::new(),
        }
    }

    #[test]
    fn key_covers_extra_deps_files_policy_but_not_location() {
        let root = std::path::Path::new("/p");
        let base = unit_key(&unit("a", "/p/units"), &ctx(), root, "f", &[], &[]);
        assert_eq!(
            base,
            unit_key(&unit("a", "/p/units/moved"), &ctx(), root, "f", &[], &[]),
            "location is not an input"
        );
        assert_ne!(base, unit_key(&unit("b", "/p/units"), &ctx(), root, "f", &[], &[]), "extra kwargs are inputs");
        assert_ne!(base, unit_key(&unit("a", "/p/units"), &ctx(), root, "g", &[], &[]), "files are inputs");
        assert_ne!(base, unit_key(&unit("a", "/p/units"), &ctx(), root, "f", &[], &[("d".into(), "k".into())]));
        let mut c = ctx();
        c.policy_sha256 = "q".into();
        assert_ne!(base, unit_key(&unit("a", "/p/units"), &c, root, "f", &[], &[]), "the policy is an input");
    }
}
