//! Conversion of Starlark values into [`RawValue`], the plain data the model validates.
//! Callables are handed to a callback (the loader keeps them alive for build time).
use ::starlark::values::dict::DictRef;
use ::starlark::values::float::StarlarkFloat;
use ::starlark::values::list::ListRef;
use ::starlark::values::structs::StructRef;
use ::starlark::values::tuple::TupleRef;
use ::starlark::values::{UnpackValue, Value, ValueLike};

use super::values::InstallStepValue;
use crate::model::RawValue;

/// Deepest nesting accepted in a declaration; deeper (or cyclic) values are refused.
const MAX_DEPTH: usize = 64;

/// Convert `v`; every callable found is passed to `on_fn`.
pub fn to_raw<'v>(v: Value<'v>, on_fn: &mut dyn FnMut(Value<'v>) -> RawValue) -> RawValue {
    convert(v, on_fn, 0)
}

/// Convert a value that has no business holding callables (they show up as `function`).
pub fn to_raw_plain(v: Value) -> RawValue {
    to_raw(v, &mut |_| RawValue::Other("function".into()))
}

fn convert<'v>(v: Value<'v>, on_fn: &mut dyn FnMut(Value<'v>) -> RawValue, depth: usize) -> RawValue {
    if depth > MAX_DEPTH {
        return RawValue::Other("value nested too deeply (or cyclic)".into());
    }
    if v.is_none() {
        return RawValue::None;
    }
    if let Some(b) = v.unpack_bool() {
        return RawValue::Bool(b);
    }
    if let Some(s) = v.unpack_str() {
        return RawValue::Str(s.to_string());
    }
    if v.get_type() == "int" {
        return match i64::unpack_value(v) {
            Ok(Some(i)) => RawValue::Int(i),
            _ => RawValue::Other("int out of 64-bit range".into()),
        };
    }
    if let Some(f) = v.downcast_ref::<StarlarkFloat>() {
        return RawValue::Float(f.0);
    }
    if let Some(l) = ListRef::from_value(v) {
        let items: Vec<Value<'v>> = l.iter().collect();
        return RawValue::List(items.into_iter().map(|x| convert(x, on_fn, depth + 1)).collect());
    }
    if let Some(t) = TupleRef::from_value(v) {
        return RawValue::List(t.iter().map(|x| convert(x, on_fn, depth + 1)).collect());
    }
    if let Some(d) = DictRef::from_value(v) {
        let items: Vec<(Value<'v>, Value<'v>)> = d.iter().collect();
        drop(d);
        return RawValue::Dict(
            items.into_iter().map(|(k, x)| (convert(k, on_fn, depth + 1), convert(x, on_fn, depth + 1))).collect(),
        );
    }
    if let Some(s) = StructRef::from_value(v) {
        let fields: Vec<(String, Value<'v>)> = s.iter().map(|(k, x)| (k.as_str().to_string(), x)).collect();
        return RawValue::Struct(fields.into_iter().map(|(k, x)| (k, convert(x, on_fn, depth + 1))).collect());
    }
    if let Some(i) = v.downcast_ref::<InstallStepValue>() {
        return RawValue::Install(i.step.clone());
    }
    if v.get_type() == "function" {
        return on_fn(v);
    }
    RawValue::Other(v.get_type().to_string())
}
