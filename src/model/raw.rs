//! Raw declaration values: what a Starlark call passed, converted to plain Rust data by
//! `crate::starlark` before the Starlark heap goes away. Nothing here is validated yet.
use super::step::FnRef;

/// A kwarg value as it came out of Starlark, with no meaning attached yet.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<RawValue>),
    /// Dict entries in insertion order (keys may be of any type; validation decides).
    Dict(Vec<(RawValue, RawValue)>),
    /// A `struct` (as returned by `task()`, `partition()`, `module()`, ...), fields in order.
    Struct(Vec<(String, RawValue)>),
    /// A Starlark callable kept alive by the loader for build time.
    Callable(FnRef),
    /// The value returned by `install_file()` / `install_template()`.
    Install(super::step::InstallStep),
    /// Any other Starlark value; only its type name survives, for error messages.
    Other(String),
}

impl RawValue {
    /// The Starlark type name, as users see it in error messages.
    pub fn type_name(&self) -> &str {
        match self {
            RawValue::None => "NoneType",
            RawValue::Bool(_) => "bool",
            RawValue::Int(_) => "int",
            RawValue::Float(_) => "float",
            RawValue::Str(_) => "string",
            RawValue::List(_) => "list",
            RawValue::Dict(_) => "dict",
            RawValue::Struct(_) => "struct",
            RawValue::Callable(_) => "function",
            RawValue::Install(_) => "InstallStep",
            RawValue::Other(t) => t,
        }
    }

    /// Field of a struct value, if this is a struct and has it.
    pub fn field(&self, name: &str) -> Option<&RawValue> {
        match self {
            RawValue::Struct(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}
