//! The loaded project: `project()` settings, `local.star` overrides, and everything the
//! phases registered (modules, machines, units, provides), ready for graph and build.
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::fields::{FieldError, Kwargs};
use super::ident::{Ident, NameKind};
use super::location::Location;
use super::machine::Machine;
use super::module::{Feed, ModuleRef, ResolvedModule};
use super::raw::RawValue;
use super::unit::Unit;

pub const PROJECT_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "defaults",
    "cache",
    "modules",
    "signing_key",
    "prefer_modules",
    "trusted_keys",
];
pub const DEFAULTS_FIELDS: &[&str] = &["machine", "image", "distro"];
pub const CACHE_FIELDS: &[&str] = &["path"];
pub const LOCAL_FIELDS: &[&str] = &[
    "machine",
    "image",
    "deploy_host",
    "flash_device",
    "query",
    "default_distro_override",
    "qemu_memory",
    "qemu_display",
    "qemu_ports",
    "parallel_builds",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Defaults {
    pub machine: Option<Ident>,
    pub image: Option<Ident>,
    pub distro: Option<Ident>,
}

/// Developer-local settings from `local.star` (never committed in practice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct LocalOverrides {
    pub machine: Option<Ident>,
    pub image: Option<Ident>,
    pub deploy_host: String,
    pub flash_device: String,
    pub query: String,
    pub default_distro_override: Option<Ident>,
    pub qemu_memory: String,
    pub qemu_display: String,
    pub qemu_ports: Vec<String>,
    pub parallel_builds: Option<u32>,
}

/// A unit name defined by two sources of different priority: the higher one won.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowEvent {
    pub unit: String,
    pub winner_module: String,
    pub winner_at: Location,
    pub loser_module: String,
    pub loser_at: Location,
}

/// The settings of `project()` itself.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ProjectDecl {
    pub name: String,
    pub version: Option<Ident>,
    pub description: String,
    pub defaults: Defaults,
    pub cache_path: String,
    pub modules: Vec<ModuleRef>,
    pub signing_key: String,
    /// distro → unit → module (or `<module>.<feed>`).
    pub prefer_modules: BTreeMap<Ident, BTreeMap<Ident, Ident>>,
    /// minisign public keys (base64 lines) trusted to sign modules.
    pub trusted_keys: Vec<String>,
}

/// A whole loaded project.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub root: PathBuf,
    pub decl: ProjectDecl,
    pub local: LocalOverrides,
    /// The distro selected for this load (`local.star`/`--distro` override, else defaults);
    /// empty when none is set (every unit is visible).
    pub distro: String,
    /// The machine selected for this load (`--machine`, `local.star`, else defaults).
    pub machine: Option<Ident>,
    pub arch: String,
    pub modules: Vec<ResolvedModule>,
    pub machines: BTreeMap<String, Machine>,
    /// The winning unit for each name (highest priority; distro-visible).
    pub units: BTreeMap<String, Unit>,
    /// Virtual name → unit name.
    pub provides: BTreeMap<String, String>,
    pub shadows: Vec<ShadowEvent>,
    pub feeds: Vec<Feed>,
    /// `command()` declarations seen (never executed).
    pub commands: Vec<String>,
    /// Every `.star` file evaluated, in evaluation order.
    pub files: Vec<PathBuf>,
}

impl ProjectDecl {
    pub fn from_kwargs(items: Vec<(String, RawValue)>, at: &Location) -> Result<ProjectDecl, FieldError> {
        let mut kw = Kwargs::new("project()", items);
        let name = kw.required_ident("name", NameKind::Project)?.into_string();
        kw.set_call(format!("project({name:?})"));
        let defaults = match kw.strukt("defaults", "defaults")? {
            None => Defaults::default(),
            Some(fields) => {
                let mut d = Kwargs::new("project(): defaults()", fields);
                let out = Defaults {
                    machine: d.ident("machine", NameKind::Machine)?,
                    image: d.ident("image", NameKind::Unit)?,
                    distro: d.ident("distro", NameKind::Distro)?,
                };
                d.deny_unknown(DEFAULTS_FIELDS)?;
                out
            }
        };
        let cache_path = match kw.strukt("cache", "cache")? {
            None => String::new(),
            Some(fields) => {
                let mut c = Kwargs::new("project(): cache()", fields);
                let p = c.str("path")?.unwrap_or_default();
                c.deny_unknown(CACHE_FIELDS)?;
                p
            }
        };
        let modules = kw
            .struct_list("modules", "module")?
            .into_iter()
            .map(|f| ModuleRef::from_struct(f, Some(at.clone())))
            .collect::<Result<_, _>>()?;
        let mut prefer_modules = BTreeMap::new();
        if let Some(v) = kw.take("prefer_modules") {
            const EXPECTED: &str = "a dict {distro: {unit: module}}";
            let RawValue::Dict(outer) = v else {
                return Err(kw.wrong("prefer_modules", EXPECTED, &v));
            };
            for (dk, dv) in outer {
                let (RawValue::Str(distro), RawValue::Dict(inner)) = (&dk, &dv) else {
                    return Err(kw.wrong("prefer_modules", EXPECTED, &dv));
                };
                let distro = kw.name(&format!("prefer_modules[{distro:?}]"), NameKind::Distro, distro)?;
                let mut pins = BTreeMap::new();
                for (uk, uv) in inner {
                    let (RawValue::Str(u), RawValue::Str(m)) = (uk, uv) else {
                        return Err(kw.wrong("prefer_modules", EXPECTED, uv));
                    };
                    let field = format!("prefer_modules[{:?}][{u:?}]", distro.as_str());
                    let u = kw.name(&field, NameKind::Reference, u)?;
                    if m.is_empty() {
                        continue; // as in Go yoe: no pin
                    }
                    pins.insert(u, kw.name(&field, NameKind::Module, m)?);
                }
                prefer_modules.insert(distro, pins);
            }
        }
        let decl = ProjectDecl {
            version: kw.ident("version", NameKind::Version)?,
            description: kw.str("description")?.unwrap_or_default(),
            signing_key: kw.str("signing_key")?.unwrap_or_default(),
            trusted_keys: kw.str_list("trusted_keys")?,
            name,
            defaults,
            cache_path,
            modules,
            prefer_modules,
        };
        kw.deny_unknown(PROJECT_FIELDS)?;
        Ok(decl)
    }
}

impl LocalOverrides {
    pub fn from_kwargs(items: Vec<(String, RawValue)>) -> Result<LocalOverrides, FieldError> {
        let mut kw = Kwargs::new("local()", items);
        let parallel_builds = match kw.int("parallel_builds")? {
            None => None,
            Some(n) if (1..=4096).contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(kw.invalid("parallel_builds", format!("must be an int >= 1, got {n}")));
            }
        };
        let qemu_display = kw.str("qemu_display")?.unwrap_or_default();
        if !matches!(qemu_display.as_str(), "" | "on" | "off") {
            return Err(kw.invalid("qemu_display", format!("must be \"on\", \"off\" or \"\", got {qemu_display:?}")));
        }
        let out = LocalOverrides {
            machine: kw.ident("machine", NameKind::Machine)?,
            image: kw.ident("image", NameKind::Unit)?,
            deploy_host: kw.str("deploy_host")?.unwrap_or_default(),
            flash_device: kw.str("flash_device")?.unwrap_or_default(),
            query: kw.str("query")?.unwrap_or_default(),
            default_distro_override: kw.ident("default_distro_override", NameKind::Distro)?,
            qemu_memory: kw.str("qemu_memory")?.unwrap_or_default(),
            qemu_display,
            qemu_ports: kw.str_list("qemu_ports")?,
            parallel_builds,
        };
        kw.deny_unknown(LOCAL_FIELDS)?;
        Ok(out)
    }
}

impl Project {
    /// Resolve a dependency name through the provides table.
    pub fn resolve_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.provides.get(name).map(String::as_str).unwrap_or(name)
    }

    /// Look up a unit by name or virtual.
    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.units.get(self.resolve_name(name))
    }

    pub fn active_machine(&self) -> Option<&Machine> {
        self.machines.get(self.machine.as_deref()?)
    }

    /// The version of `project()`, or `""`.
    pub fn version_str(&self) -> &str {
        self.decl.version.as_deref().unwrap_or("")
    }
}
