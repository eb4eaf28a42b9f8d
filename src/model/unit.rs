//! Units (and images, which are units of class `image`), validated from `unit()` kwargs.
//! Typed fields are checked here; unknown kwargs become `extra` exactly as in Go yoe.
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::fields::{FieldError, Kwargs};
use super::ident::{Ident, NameKind};
use super::location::Location;
use super::machine::Partition;
use super::raw::RawValue;
use super::step::Task;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Unset in the declaration: per-architecture, like Go yoe.
    #[default]
    Arch,
    Machine,
    Noarch,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Arch => "arch",
            Scope::Machine => "machine",
            Scope::Noarch => "noarch",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Shell {
    #[default]
    Sh,
    Bash,
}

impl Shell {
    pub fn as_str(self) -> &'static str {
        match self {
            Shell::Sh => "sh",
            Shell::Bash => "bash",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerArch {
    Target,
    Host,
}

/// A validated unit. `class` is `unit`, `image`, `container`, or whatever `unit_class=` said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unit {
    pub name: Ident,
    pub class: Ident,
    pub version: Option<Ident>,
    pub release: i64,
    pub scope: Scope,
    pub description: String,
    pub license: String,
    pub distro: Option<Ident>,
    pub source: String,
    pub mirrors: Vec<String>,
    pub sha256: String,
    pub apk_checksum: String,
    pub passthrough_apk: String,
    pub tag: String,
    pub branch: String,
    /// Full commit id for git sources (a yoe-rs field; Go yoe had no commit pin).
    pub commit: String,
    pub patches: Vec<String>,
    pub deps: Vec<Ident>,
    pub runtime_deps: Vec<Ident>,
    pub distro_deps: BTreeMap<Ident, Vec<Ident>>,
    pub distro_runtime_deps: BTreeMap<Ident, Vec<Ident>>,
    /// A unit name or virtual whose output is the root filesystem for this unit's steps.
    pub container: String,
    pub container_arch: Option<ContainerArch>,
    /// As declared; every step is sandboxed regardless (see docs/differences.md).
    pub sandbox: Option<bool>,
    pub shell: Shell,
    pub provides: Vec<Ident>,
    pub replaces: Vec<Ident>,
    pub services: Vec<Ident>,
    pub conffiles: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub cache_dirs: BTreeMap<String, String>,
    pub artifacts: Vec<Ident>,
    pub artifacts_explicit: Vec<Ident>,
    pub exclude: Vec<Ident>,
    pub hostname: String,
    pub timezone: String,
    pub locale: String,
    pub partitions: Vec<Partition>,
    pub unbuildable_machine: Option<Ident>,
    pub machine_kernel_distros: Vec<Ident>,
    pub tasks: Vec<Task>,
    /// Every other kwarg: template context and cache-key input.
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Module that registered the unit (`""` for the project root).
    pub module: String,
    /// Priority: modules 1..N in declaration order, the project N+1.
    pub priority: i32,
    /// Directory of the `.star` file being evaluated when the unit was registered.
    pub defined_in: PathBuf,
    /// The call in that file (outermost frame there), e.g. `autotools(...)` in units/x.star.
    pub defined_at: Location,
    /// Every frame of the registering call, outermost first (classes show up here).
    pub call_stack: Vec<Location>,
}

/// What to do with a `container=` that names an external registry image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerImages {
    /// Refuse it (every load that may lead to a build).
    Refuse,
    /// Keep the value as declared (audit only: the unit is reported, never built).
    Keep,
}

/// Whether a `container=` value names an external registry image (`golang:1.26`,
/// `docker.io/x/y`) rather than a unit.
pub fn is_external_image(value: &str) -> bool {
    value.contains(':') || value.contains('/')
}

/// Where a declaration was made; filled in by the loader.
#[derive(Debug, Clone)]
pub struct DeclSite {
    pub module: String,
    pub priority: i32,
    pub defined_in: PathBuf,
    pub defined_at: Location,
    pub call_stack: Vec<Location>,
}

/// kwargs that are typed fields (everything else goes to `extra`).
pub const UNIT_FIELDS: &[&str] = &[
    "name",
    "unit_class",
    "version",
    "release",
    "scope",
    "description",
    "license",
    "distro",
    "source",
    "mirrors",
    "sha256",
    "apk_checksum",
    "passthrough_apk",
    "tag",
    "branch",
    "commit",
    "patches",
    "deps",
    "runtime_deps",
    "distro_deps",
    "distro_runtime_deps",
    "container",
    "container_arch",
    "sandbox",
    "shell",
    "provides",
    "replaces",
    "services",
    "conffiles",
    "environment",
    "cache_dirs",
    "artifacts",
    "artifacts_explicit",
    "exclude",
    "hostname",
    "timezone",
    "locale",
    "partitions",
    "unbuildable_machine",
    "machine_kernel_distros",
    "tasks",
];

impl Unit {
    /// Validate the kwargs of `unit()` / `image()`; `class` is the builtin's default class.
    pub fn from_kwargs(items: Vec<(String, RawValue)>, class: &str, site: DeclSite) -> Result<Unit, FieldError> {
        Self::from_kwargs_with(items, class, site, ContainerImages::Refuse)
    }

    /// [`Unit::from_kwargs`] with a choice about external container images: `Keep` leaves
    /// `container="golang:1.26"` in the unit (for `yoe audit`, which reports it) instead of
    /// refusing it. Nothing that builds may use `Keep`.
    pub fn from_kwargs_with(
        items: Vec<(String, RawValue)>,
        class: &str,
        site: DeclSite,
        images: ContainerImages,
    ) -> Result<Unit, FieldError> {
        let mut kw = Kwargs::new(format!("{class}()"), items);
        let name = kw.required_ident("name", NameKind::Unit)?;
        let call = format!("{class}({:?})", name.as_str());
        kw.set_call(call.clone());
        let class = match kw.ident("unit_class", NameKind::Class)? {
            Some(c) => c,
            None => kw.name("unit_class", NameKind::Class, class)?,
        };
        let scope = match kw.str("scope")?.as_deref() {
            None | Some("") | Some("arch") => Scope::Arch,
            Some("machine") => Scope::Machine,
            Some("noarch") => Scope::Noarch,
            Some(other) => {
                return Err(kw.invalid(
                    "scope",
                    format!("must be \"arch\", \"machine\" or \"noarch\" (unset means arch), got {other:?}"),
                ));
            }
        };
        let container = kw.str("container")?.unwrap_or_default();
        check_container(&kw, "container", &container, images)?;
        let container_arch = match kw.str("container_arch")?.as_deref() {
            None | Some("") => None,
            Some("target") => Some(ContainerArch::Target),
            Some("host") => Some(ContainerArch::Host),
            Some(other) => {
                return Err(kw.invalid("container_arch", format!("must be \"target\" or \"host\", got {other:?}")));
            }
        };
        let shell = match kw.str("shell")?.as_deref() {
            None | Some("") | Some("sh") => Shell::Sh,
            Some("bash") => Shell::Bash,
            Some(other) => {
                return Err(kw.invalid("shell", format!("must be \"sh\" or \"bash\", got {other:?}")));
            }
        };
        let commit = kw.str("commit")?.unwrap_or_default();
        if !commit.is_empty() && !super::module::is_full_commit(&commit) {
            return Err(
                kw.invalid("commit", format!("must be a full 40-character lowercase hex commit id, got {commit:?}"))
            );
        }
        let partitions = kw
            .struct_list("partitions", "partition")?
            .into_iter()
            .map(|f| Partition::from_struct(f, &call))
            .collect::<Result<_, _>>()?;
        let tasks: Vec<Task> = kw
            .struct_list("tasks", "task")?
            .into_iter()
            .map(|f| Task::from_struct(f, &call))
            .collect::<Result<_, _>>()?;
        for t in &tasks {
            if let Some(c) = &t.container {
                check_container(&kw, &format!("tasks[{:?}].container", t.name.as_str()), c, images)?;
            }
        }
        let hostname = kw.str("hostname")?.unwrap_or_default();
        if !hostname.is_empty() && !is_hostname(&hostname) {
            return Err(kw.invalid(
                "hostname",
                format!(
                    "must be a host name (labels of ASCII letters, digits and `-`, separated by `.`, at most 253 bytes), got {hostname:?}"
                ),
            ));
        }
        let timezone = kw.str("timezone")?.unwrap_or_default();
        if !timezone.is_empty() && !is_timezone(&timezone) {
            return Err(kw.invalid(
                "timezone",
                format!(
                    "must be a tz database name like \"Europe/Berlin\" (names of ASCII letters, digits and `_+-` separated by `/`), got {timezone:?}"
                ),
            ));
        }
        let unit = Unit {
            version: kw.ident("version", NameKind::Version)?,
            release: kw.int("release")?.unwrap_or(0),
            scope,
            description: kw.str("description")?.unwrap_or_default(),
            license: kw.str("license")?.unwrap_or_default(),
            distro: kw.ident("distro", NameKind::Distro)?,
            source: kw.str("source")?.unwrap_or_default(),
            mirrors: kw.str_list("mirrors")?,
            sha256: kw.str("sha256")?.unwrap_or_default(),
            apk_checksum: kw.str("apk_checksum")?.unwrap_or_default(),
            passthrough_apk: kw.str("passthrough_apk")?.unwrap_or_default(),
            tag: kw.str("tag")?.unwrap_or_default(),
            branch: kw.str("branch")?.unwrap_or_default(),
            commit,
            patches: kw.str_list("patches")?,
            deps: kw.ident_list("deps", NameKind::Reference)?,
            runtime_deps: kw.ident_list("runtime_deps", NameKind::Reference)?,
            distro_deps: kw.ident_list_map("distro_deps", NameKind::Distro, NameKind::Reference)?,
            distro_runtime_deps: kw.ident_list_map("distro_runtime_deps", NameKind::Distro, NameKind::Reference)?,
            container,
            container_arch,
            sandbox: kw.bool("sandbox")?,
            shell,
            provides: kw.ident_list("provides", NameKind::Reference)?,
            replaces: kw.ident_list("replaces", NameKind::Reference)?,
            services: kw.ident_list("services", NameKind::Service)?,
            conffiles: kw.str_list("conffiles")?,
            environment: kw.str_map("environment")?,
            cache_dirs: kw.str_map("cache_dirs")?,
            artifacts: kw.ident_list("artifacts", NameKind::Reference)?,
            artifacts_explicit: kw.ident_list("artifacts_explicit", NameKind::Reference)?,
            exclude: kw.ident_list("exclude", NameKind::Reference)?,
            hostname,
            timezone,
            locale: kw.ident("locale", NameKind::Locale)?.map(Ident::into_string).unwrap_or_default(),
            partitions,
            unbuildable_machine: kw.ident("unbuildable_machine", NameKind::Machine)?,
            machine_kernel_distros: kw.ident_list("machine_kernel_distros", NameKind::Distro)?,
            tasks,
            extra: BTreeMap::new(),
            name,
            class,
            module: site.module,
            priority: site.priority,
            defined_in: site.defined_in,
            defined_at: site.defined_at,
            call_stack: site.call_stack,
        };
        let extra = extra_values(&call, kw.into_rest())?;
        Ok(Unit { extra, ..unit })
    }

    /// Build dependencies for a distro: `deps` plus `distro_deps[distro]`.
    pub fn deps_for(&self, distro: &str) -> Vec<Ident> {
        let mut d = self.deps.clone();
        if let Some(extra) = self.distro_deps.get(distro) {
            d.extend(extra.iter().cloned());
        }
        d
    }

    /// Runtime dependencies for a distro: `runtime_deps` plus `distro_runtime_deps[distro]`.
    pub fn runtime_deps_for(&self, distro: &str) -> Vec<Ident> {
        let mut d = self.runtime_deps.clone();
        if let Some(extra) = self.distro_runtime_deps.get(distro) {
            d.extend(extra.iter().cloned());
        }
        d
    }

    /// Whether a unit with this distro tag is visible to a build for `distro`.
    pub fn visible_to(&self, distro: &str) -> bool {
        distro.is_empty() || self.distro.as_ref().is_none_or(|d| d == distro)
    }

    /// The distro tag, or `""` when the unit has none.
    pub fn distro_str(&self) -> &str {
        self.distro.as_deref().unwrap_or("")
    }

    /// The version, or `""` when the unit has none.
    pub fn version_str(&self) -> &str {
        self.version.as_deref().unwrap_or("")
    }

    pub fn is_image(&self) -> bool {
        self.class == "image"
    }
}

/// A `container=` naming an external registry image (has `:` or `/`) cannot be honoured:
/// yoe runs no Docker. Toolchains are units whose output is a root filesystem, so any
/// other value must be a unit name. `Keep` (audit only) lets an external image through.
fn check_container(kw: &Kwargs, field: &str, value: &str, images: ContainerImages) -> Result<(), FieldError> {
    if value.is_empty() {
        return Ok(());
    }
    if is_external_image(value) {
        if images == ContainerImages::Keep {
            return Ok(());
        }
        return Err(kw.invalid(
            field,
            format!(
                "names the external container image {value:?}; yoe runs no container engine: \
                 declare the toolchain as a unit (its output is the root filesystem for steps) and name that unit here"
            ),
        ));
    }
    kw.name(field, NameKind::Reference, value).map(|_| ())
}

/// A host name: dot-separated labels of ASCII letters, digits and `-` (not at either end
/// of a label), at most 253 bytes (RFC 1123).
pub fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A tz database name (`UTC`, `Europe/Berlin`, `Etc/GMT+1`): `/`-separated identifiers.
pub fn is_timezone(s: &str) -> bool {
    s.len() <= 128 && s.split('/').all(|p| super::ident::is_ident(p) && !p.contains(".."))
}

/// Convert leftover kwargs to `extra`: only None, bool, string, int, float, list and
/// string-keyed dict are allowed, as in Go yoe.
pub fn extra_values(
    call: &str,
    rest: Vec<(String, RawValue)>,
) -> Result<BTreeMap<String, serde_json::Value>, FieldError> {
    let mut out = BTreeMap::new();
    for (k, v) in rest {
        let json = to_json(&v).map_err(|got| FieldError::WrongType {
            call: call.to_string(),
            field: k.clone(),
            expected:
                "None, bool, string, int, float, list or a dict with string keys (unknown fields are kept as `extra`)"
                    .into(),
            got,
        })?;
        out.insert(k, json);
    }
    Ok(out)
}

fn to_json(v: &RawValue) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        RawValue::None => J::Null,
        RawValue::Bool(b) => J::Bool(*b),
        RawValue::Int(i) => J::from(*i),
        RawValue::Float(f) => {
            serde_json::Number::from_f64(*f).map(J::Number).ok_or_else(|| "a non-finite float".to_string())?
        }
        RawValue::Str(s) => J::String(s.clone()),
        RawValue::List(items) => J::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        RawValue::Dict(items) => {
            let mut m = serde_json::Map::new();
            for (k, v) in items {
                let RawValue::Str(k) = k else {
                    return Err(format!("a dict with a {} key", k.type_name()));
                };
                m.insert(k.clone(), to_json(v)?);
            }
            J::Object(m)
        }
        other => return Err(other.type_name().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> DeclSite {
        DeclSite {
            module: String::new(),
            priority: 1,
            defined_in: PathBuf::from("units"),
            defined_at: Location::file_only("units/x.star"),
            call_stack: vec![],
        }
    }

    fn kw(pairs: Vec<(&str, RawValue)>) -> Vec<(String, RawValue)> {
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn unknown_kwargs_go_to_extra() {
        let u = Unit::from_kwargs(
            kw(vec![
                ("name", RawValue::Str("x".into())),
                ("configure_args", RawValue::List(vec![RawValue::Str("--a".into())])),
            ]),
            "unit",
            site(),
        )
        .unwrap();
        assert_eq!(u.extra["configure_args"], serde_json::json!(["--a"]));
    }

    #[test]
    fn wrong_type_for_typed_field_is_an_error() {
        let err = Unit::from_kwargs(
            kw(vec![("name", RawValue::Str("x".into())), ("deps", RawValue::Str("zlib".into()))]),
            "unit",
            site(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "unit(\"x\"): field `deps` expected a list of strings, got string \"zlib\"");
    }

    #[test]
    fn external_container_image_is_refused() {
        let err = Unit::from_kwargs(
            kw(vec![("name", RawValue::Str("x".into())), ("container", RawValue::Str("golang:1.26".into()))]),
            "unit",
            site(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("field `container` names the external container image \"golang:1.26\""), "{err}");
    }

    #[test]
    fn bad_scope_is_rejected() {
        let err = Unit::from_kwargs(
            kw(vec![("name", RawValue::Str("x".into())), ("scope", RawValue::Str("board".into()))]),
            "unit",
            site(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("field `scope` must be"), "{err}");
    }

    #[test]
    fn extra_rejects_functions() {
        let err = Unit::from_kwargs(
            kw(vec![("name", RawValue::Str("x".into())), ("hook", RawValue::Other("function".into()))]),
            "unit",
            site(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("field `hook` expected None, bool"), "{err}");
    }
}
