//! The validated, typed project model. It owns no Starlark values: raw declarations from
//! `crate::starlark` arrive as [`raw::RawValue`] kwargs and become checked types here, once.
//! Everything downstream (graph, build, audit) trusts these types and nothing else.

pub mod fields;
pub mod ident;
pub mod location;
pub mod machine;
pub mod module;
pub mod project;
pub mod raw;
pub mod step;
pub mod unit;

pub use fields::FieldError;
pub use ident::{Ident, NameError, NameKind};
pub use location::Location;
pub use machine::{Kernel, Machine, Partition, PartitionType, QemuConfig};
pub use module::{Feed, ModuleRef, ResolvedModule};
pub use project::{Defaults, LocalOverrides, Project, ShadowEvent};
pub use raw::RawValue;
pub use step::{FnId, FnStep, InstallKind, InstallStep, Step, Task};
pub use unit::{ContainerArch, Scope, Shell, Unit};
