//! Machines, kernels, partitions and QEMU settings, validated from `machine()` and its
//! helper builtins. Unknown kwargs are errors (Go yoe ignored them silently).
use std::collections::BTreeMap;

use serde::Serialize;

use super::fields::{FieldError, Kwargs};
use super::ident::{Ident, NameKind};
use super::location::Location;
use super::raw::RawValue;

pub const ARCHES: &[&str] = &["arm64", "riscv64", "x86_64"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    pub name: Ident,
    pub arch: String,
    pub description: String,
    pub kernel: Option<Kernel>,
    pub packages: Vec<Ident>,
    pub distro_packages: BTreeMap<Ident, Vec<Ident>>,
    pub partitions: Vec<Partition>,
    pub qemu: Option<QemuConfig>,
    pub module: String,
    pub defined_at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Kernel {
    pub unit: Option<Ident>,
    pub distro_unit: BTreeMap<Ident, Ident>,
    pub provides: Option<Ident>,
    pub defconfig: String,
    pub cmdline: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionType {
    Vfat,
    Ext4,
}

impl PartitionType {
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionType::Vfat => "vfat",
            PartitionType::Ext4 => "ext4",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub label: Ident,
    #[serde(rename = "type")]
    pub kind: PartitionType,
    /// `64M`, `1G`, `fill` or a number of MiB, as written.
    pub size: String,
    pub root: bool,
    pub contents: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct QemuConfig {
    pub machine: String,
    pub cpu: String,
    pub memory: String,
    pub firmware: String,
    pub display: String,
    pub ports: Vec<String>,
}

pub const MACHINE_FIELDS: &[&str] =
    &["name", "arch", "description", "kernel", "packages", "distro_packages", "partitions", "qemu"];
pub const KERNEL_FIELDS: &[&str] = &["unit", "distro_unit", "provides", "defconfig", "cmdline"];
pub const PARTITION_FIELDS: &[&str] = &["label", "type", "size", "root", "contents"];
pub const QEMU_FIELDS: &[&str] = &["machine", "cpu", "memory", "firmware", "display", "ports"];

impl Machine {
    pub fn from_kwargs(items: Vec<(String, RawValue)>, module: &str, at: Location) -> Result<Machine, FieldError> {
        let mut kw = Kwargs::new("machine()", items);
        let name = kw.required_ident("name", NameKind::Machine)?;
        kw.set_call(format!("machine({:?})", name.as_str()));
        let arch = kw.str("arch")?.unwrap_or_default();
        if !ARCHES.contains(&arch.as_str()) {
            return Err(kw.invalid("arch", format!("must be one of {}, got {arch:?}", ARCHES.join(", "))));
        }
        let description = kw.str("description")?.unwrap_or_default();
        let kernel = match kw.strukt("kernel", "kernel")? {
            Some(fields) => Some(Kernel::from_struct(fields, kw.call())?),
            None => None,
        };
        let packages = kw.ident_list("packages", NameKind::Reference)?;
        let distro_packages = kw.ident_list_map("distro_packages", NameKind::Distro, NameKind::Reference)?;
        let partitions = kw
            .struct_list("partitions", "partition")?
            .into_iter()
            .map(|f| Partition::from_struct(f, kw.call()))
            .collect::<Result<_, _>>()?;
        let qemu = match kw.strukt("qemu", "qemu_config")? {
            Some(fields) => Some(QemuConfig::from_struct(fields, kw.call())?),
            None => None,
        };
        kw.deny_unknown(MACHINE_FIELDS)?;
        Ok(Machine {
            name,
            arch,
            description,
            kernel,
            packages,
            distro_packages,
            partitions,
            qemu,
            module: module.to_string(),
            defined_at: at,
        })
    }
}

impl Kernel {
    /// Validate `kernel(...)`; `owner` is the call it appears in (`machine("m")`), or `""`.
    pub fn from_struct(fields: Vec<(String, RawValue)>, owner: &str) -> Result<Kernel, FieldError> {
        let mut kw = Kwargs::new(within(owner, "kernel()"), fields);
        let mut distro_unit = BTreeMap::new();
        for (d, u) in kw.str_map("distro_unit")? {
            let d = kw.name(&format!("distro_unit[{d:?}]"), NameKind::Distro, &d)?;
            let u = kw.name(&format!("distro_unit[{:?}]", d.as_str()), NameKind::Reference, &u)?;
            distro_unit.insert(d, u);
        }
        let k = Kernel {
            unit: kw.ident("unit", NameKind::Reference)?,
            distro_unit,
            provides: kw.ident("provides", NameKind::Reference)?,
            defconfig: kw.str("defconfig")?.unwrap_or_default(),
            cmdline: kw.str("cmdline")?.unwrap_or_default(),
        };
        if k.unit.is_some() && !k.distro_unit.is_empty() {
            return Err(kw.invalid("unit", "and `distro_unit` are both set; use one"));
        }
        kw.deny_unknown(KERNEL_FIELDS)?;
        Ok(k)
    }

    /// Whether this kernel names any unit at all.
    pub fn has_unit(&self) -> bool {
        self.unit.is_some() || !self.distro_unit.is_empty()
    }
}

impl Partition {
    /// Validate `partition(...)`; `owner` is the call it appears in, or `""`.
    pub fn from_struct(fields: Vec<(String, RawValue)>, owner: &str) -> Result<Partition, FieldError> {
        let mut kw = Kwargs::new(within(owner, "partition()"), fields);
        let label = kw.required_ident("label", NameKind::PartitionLabel)?;
        kw.set_call(within(owner, &format!("partition({:?})", label.as_str())));
        let kind = match kw.str("type")?.as_deref() {
            Some("vfat") => PartitionType::Vfat,
            Some("ext4") => PartitionType::Ext4,
            Some(other) => {
                return Err(kw.invalid("type", format!("must be \"vfat\" or \"ext4\", got {other:?}")));
            }
            None => return Err(kw.missing("type", "\"vfat\" or \"ext4\"")),
        };
        let size = match kw.take("size") {
            None => "fill".to_string(),
            Some(RawValue::Str(s)) => s,
            Some(RawValue::Int(i)) => i.to_string(),
            Some(other) => {
                return Err(kw.wrong("size", "a size like \"64M\", \"1G\" or \"fill\"", &other));
            }
        };
        if parse_size_mib(&size).is_none() {
            return Err(kw.invalid(
                "size",
                format!("must look like \"64M\", \"1G\", \"fill\" or a number of MiB, got {size:?}"),
            ));
        }
        let root = kw.bool("root")?.unwrap_or(false);
        let contents = kw.str_list("contents")?;
        kw.deny_unknown(PARTITION_FIELDS)?;
        Ok(Partition { label, kind, size, root, contents })
    }

    /// Size in MiB; `fill` (and the empty string) count as `fill_default`, as in Go yoe.
    pub fn size_mib(&self, fill_default: u64) -> u64 {
        parse_size_mib(&self.size).flatten().unwrap_or(fill_default)
    }
}

/// `owner: call`, or `call` alone when there is no owner.
fn within(owner: &str, call: &str) -> String {
    if owner.is_empty() { call.to_string() } else { format!("{owner}: {call}") }
}

/// Parse `64M`, `1G`, `fill` or a bare MiB number. `Some(None)` means "fill".
pub fn parse_size_mib(s: &str) -> Option<Option<u64>> {
    if s == "fill" || s.is_empty() {
        return Some(None);
    }
    let (num, mult) = if let Some(n) = s.strip_suffix('M') {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('G') {
        (n, 1024)
    } else {
        (s, 1)
    };
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).map(Some)
}

impl QemuConfig {
    /// Validate `qemu_config(...)`; `owner` is the call it appears in, or `""`.
    pub fn from_struct(fields: Vec<(String, RawValue)>, owner: &str) -> Result<QemuConfig, FieldError> {
        let mut kw = Kwargs::new(within(owner, "qemu_config()"), fields);
        let q = QemuConfig {
            machine: kw.str("machine")?.unwrap_or_default(),
            cpu: kw.str("cpu")?.unwrap_or_default(),
            memory: kw.str("memory")?.unwrap_or_default(),
            firmware: kw.str("firmware")?.unwrap_or_default(),
            display: kw.str("display")?.unwrap_or_default(),
            ports: kw.str_list("ports")?,
        };
        kw.deny_unknown(QEMU_FIELDS)?;
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size_mib("64M"), Some(Some(64)));
        assert_eq!(parse_size_mib("2G"), Some(Some(2048)));
        assert_eq!(parse_size_mib("fill"), Some(None));
        assert_eq!(parse_size_mib("12"), Some(Some(12)));
        assert_eq!(parse_size_mib("12K"), None);
    }

    #[test]
    fn invalid_arch_is_named() {
        let err = Machine::from_kwargs(
            vec![("name".into(), RawValue::Str("m".into())), ("arch".into(), RawValue::Str("mips".into()))],
            "",
            Location::file_only("machines/m.star"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("machine(\"m\"): field `arch` must be one of arm64, riscv64, x86_64, got \"mips\""),
            "{err}"
        );
    }
}
