//! Custom Starlark values of the yoe dialect: the live `ctx` object and the value returned
//! by `install_file()`/`install_template()`. They hold plain Rust data, never Starlark values.
use std::fmt;

use ::starlark::values::dict::AllocDict;
use ::starlark::values::list::AllocList;
use ::starlark::values::structs::AllocStruct;
use ::starlark::values::{Heap, StarlarkValue, Value, starlark_value};

pub use super::marker::{Ctx, InstallStepValue};
use crate::model::{Ident, InstallKind, Machine, Partition};

/// What `ctx` shows. Shared and updated by the loader between phases, so a class function
/// that reads `ctx.provides` at call time sees the table as it is then (as in Go yoe).
#[derive(Debug, Default, Clone)]
pub struct CtxState {
    pub arch: String,
    pub machine: String,
    pub project_version: String,
    pub default_distro: String,
    pub default_distro_override: String,
    pub machine_config: Option<Machine>,
    pub provides: std::collections::BTreeMap<String, String>,
}

impl fmt::Display for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ctx")
    }
}

const CTX_ATTRS: &[&str] =
    &["arch", "machine", "project_version", "provides", "default_distro", "default_distro_override", "machine_config"];

#[starlark_value(type = "ctx")]
impl<'v> StarlarkValue<'v> for Ctx {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Some(match attribute {
            "arch" => heap.alloc(s.arch.as_str()),
            "machine" => heap.alloc(s.machine.as_str()),
            "project_version" => heap.alloc(s.project_version.as_str()),
            "default_distro" => heap.alloc(s.default_distro.as_str()),
            "default_distro_override" => heap.alloc(s.default_distro_override.as_str()),
            "provides" => heap.alloc(AllocDict(s.provides.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            "machine_config" => machine_config(s.machine_config.as_ref()?, heap),
            _ => return None,
        })
    }

    fn has_attr(&self, attribute: &str, _heap: Heap<'v>) -> bool {
        if attribute == "machine_config" {
            return self.state.lock().map(|s| s.machine_config.is_some()).unwrap_or(false);
        }
        CTX_ATTRS.contains(&attribute)
    }

    fn dir_attr(&self) -> Vec<String> {
        CTX_ATTRS.iter().map(|s| s.to_string()).collect()
    }
}

/// `ctx.machine_config`: the same struct shape as Go yoe builds.
fn machine_config<'v>(m: &Machine, heap: Heap<'v>) -> Value<'v> {
    let mut fields: Vec<(&str, Value<'v>)> = vec![
        ("name", heap.alloc(m.name.as_str())),
        ("arch", heap.alloc(m.arch.as_str())),
        ("packages", heap.alloc(AllocList(m.packages.iter().map(Ident::as_str)))),
        ("partitions", heap.alloc(AllocList(m.partitions.iter().map(|p| partition_value(p, heap))))),
    ];
    if !m.distro_packages.is_empty() {
        let d = m.distro_packages.iter().map(|(k, v)| (k.as_str(), heap.alloc(AllocList(v.iter().map(Ident::as_str)))));
        fields.push(("distro_packages", heap.alloc(AllocDict(d))));
    }
    if let Some(k) = &m.kernel {
        let mut kf: Vec<(&str, Value<'v>)> = vec![
            ("unit", heap.alloc(k.unit.as_deref().unwrap_or(""))),
            ("provides", heap.alloc(k.provides.as_deref().unwrap_or(""))),
            ("defconfig", heap.alloc(k.defconfig.as_str())),
            ("cmdline", heap.alloc(k.cmdline.as_str())),
        ];
        if !k.distro_unit.is_empty() {
            kf.push((
                "distro_unit",
                heap.alloc(AllocDict(k.distro_unit.iter().map(|(a, b)| (a.as_str(), b.as_str())))),
            ));
        }
        fields.push(("kernel", heap.alloc(AllocStruct(kf))));
    }
    heap.alloc(AllocStruct(fields))
}

pub fn partition_value<'v>(p: &Partition, heap: Heap<'v>) -> Value<'v> {
    let mut f: Vec<(&str, Value<'v>)> = vec![
        ("label", heap.alloc(p.label.as_str())),
        ("type", heap.alloc(p.kind.as_str())),
        ("size", heap.alloc(p.size.as_str())),
        ("root", Value::new_bool(p.root)),
    ];
    if !p.contents.is_empty() {
        f.push(("contents", heap.alloc(AllocList(p.contents.iter().map(String::as_str)))));
    }
    heap.alloc(AllocStruct(f))
}

impl fmt::Display for InstallStepValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.step.kind {
            InstallKind::File => "install_file",
            InstallKind::Template => "install_template",
        };
        write!(f, "{name}({:?}, {:?}, mode=0o{:o})", self.step.src, self.step.dest, self.step.mode)
    }
}

#[starlark_value(type = "InstallStep")]
impl<'v> StarlarkValue<'v> for InstallStepValue {}
