//! Every path yoe makes from model data, in one place: the build directory of a unit
//! (`build/<unit>.<scope>/`), a unit's files directory (`<dir of its .star>/<unit>/`), the
//! files an image writes (`<image>.<label>.ext4`) and the names patches get in a unit's
//! home. Each is built from validated identifiers (`crate::model::Ident`) only, so a
//! declared name can never add a path component, climb with `..` or be absolute. No other
//! code joins a name from a `.star` file onto a path. Pure: no I/O.
use std::path::{Path, PathBuf};

use crate::model::{Ident, Partition, Scope, Unit};

/// Why a path cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "unit {unit:?} has scope \"machine\" but no machine is selected (set defaults(machine=...) or pass --machine)"
    )]
    NoMachine { unit: String },
    #[error("architecture {0:?} is not a valid path component")]
    BadArch(String),
}

/// The names that select a build directory besides the unit: the target architecture and
/// the selected machine.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// One of `crate::model::machine::ARCHES` (or the `x86_64` default).
    pub arch: &'a str,
    pub machine: Option<&'a Ident>,
}

/// The scope part of a build directory name: the arch, the machine, or `noarch` (as Go yoe).
pub fn scope_token<'a>(unit: &Unit, target: Target<'a>) -> Result<&'a str, LayoutError> {
    match unit.scope {
        Scope::Arch if crate::model::ident::is_ident(target.arch) => Ok(target.arch),
        Scope::Arch => Err(LayoutError::BadArch(target.arch.to_string())),
        Scope::Machine => {
            target.machine.map(Ident::as_str).ok_or_else(|| LayoutError::NoMachine { unit: unit.name.to_string() })
        }
        Scope::Noarch => Ok("noarch"),
    }
}

/// `<unit>.<scope>`: the name of the unit's directory under `build/`. Both parts are
/// identifiers, so the result is one path component.
pub fn unit_dir_name(unit: &Unit, target: Target) -> Result<String, LayoutError> {
    Ok(format!("{}.{}", unit.name, scope_token(unit, target)?))
}

/// `<build root>/<unit>.<scope>`.
pub fn unit_dir(build_root: &Path, unit: &Unit, target: Target) -> Result<PathBuf, LayoutError> {
    Ok(build_root.join(unit_dir_name(unit, target)?))
}

/// The project's build directory.
pub fn build_root(project_root: &Path) -> PathBuf {
    project_root.join("build")
}

/// The unit's files directory: `<dir of its .star file>/<name>/`, as in Go yoe.
pub fn files_dir(unit: &Unit) -> PathBuf {
    unit.defined_in.join(unit.name.as_str())
}

/// `<image>.<label>.ext4`: the file an image unit writes for an ext4 partition.
pub fn partition_file_name(image: &Unit, partition: &Partition) -> String {
    format!("{}.{}.ext4", image.name, partition.label)
}

/// `0001-fix.patch`: the name the `i`-th patch gets in the unit's home, numbered so the
/// order survives, with only safe characters (the patch path is the user's, not an ident).
pub fn patch_file_name(i: usize, patch: &str) -> String {
    let base = Path::new(patch).file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
    let safe: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || "._-+".contains(c) { c } else { '_' }).collect();
    format!("{:04}-{safe}", i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::unit::DeclSite;
    use crate::model::{Location, NameKind, RawValue};

    fn unit(name: &str, scope: &str) -> Unit {
        let kw =
            vec![("name".to_string(), RawValue::Str(name.into())), ("scope".to_string(), RawValue::Str(scope.into()))];
        let site = DeclSite {
            module: String::new(),
            priority: 1,
            defined_in: "/p/units".into(),
            defined_at: Location::file_only("/p/units/u.star"),
            call_stack: vec![],
        };
        Unit::from_kwargs(kw, "unit", site).expect("valid unit")
    }

    #[test]
    fn dirs_are_one_component_below_build() {
        let m = Ident::new(NameKind::Machine, "qemu-x86_64").unwrap();
        let t = Target { arch: "x86_64", machine: Some(&m) };
        let root = Path::new("/p/build");
        assert_eq!(unit_dir(root, &unit("zlib", ""), t).unwrap(), Path::new("/p/build/zlib.x86_64"));
        assert_eq!(
            unit_dir(root, &unit("base-files", "machine"), t).unwrap(),
            Path::new("/p/build/base-files.qemu-x86_64")
        );
        assert_eq!(unit_dir(root, &unit("ca", "noarch"), t).unwrap(), Path::new("/p/build/ca.noarch"));
        assert_eq!(files_dir(&unit("zlib", "")), Path::new("/p/units/zlib"));
        let none = Target { arch: "x86_64", machine: None };
        assert!(matches!(unit_dir(root, &unit("b", "machine"), none), Err(LayoutError::NoMachine { .. })));
        assert!(matches!(
            scope_token(&unit("b", ""), Target { arch: "../x", machine: None }),
            Err(LayoutError::BadArch(_))
        ));
    }

    #[test]
    fn patch_names_are_flat() {
        assert_eq!(patch_file_name(0, "zlib/0001-fix.patch"), "0001-0001-fix.patch");
        assert_eq!(patch_file_name(1, "../../etc/pass wd"), "0002-pass_wd");
    }
}
