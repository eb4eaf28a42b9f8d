//! Conversion of Starlark values into [`RawValue`], the plain data the model validates.
//! Callables are handed to a callback (the loader keeps them alive for build time). The
//! conversion recurses once per level of nesting, so values nested deeper than the load's
//! `max_value_depth` (or cyclic ones) are refused.
use ::starlark::values::dict::DictRef;
use ::starlark::values::float::StarlarkFloat;
use ::starlark::values::list::ListRef;
use ::starlark::values::structs::StructRef;
use ::starlark::values::tuple::TupleRef;
use ::starlark::values::{UnpackValue, Value, ValueLike};

use super::values::InstallStepValue;
use crate::model::RawValue;

/// A value nested deeper than the limit (or cyclic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub max_depth: usize,
}

/// Convert `v`, refusing values nested deeper than `max_depth`; every callable found is
/// passed to `on_fn`.
pub fn to_raw<'v>(
    v: Value<'v>,
    on_fn: &mut dyn FnMut(Value<'v>) -> RawValue,
    max_depth: usize,
) -> Result<RawValue, TooDeep> {
    convert(v, on_fn, 0, max_depth)
}

/// Convert a value that has no business holding callables (they show up as `function`).
pub fn to_raw_plain(v: Value, max_depth: usize) -> Result<RawValue, TooDeep> {
    to_raw(v, &mut |_| RawValue::Other("function".into()), max_depth)
}

fn convert<'v>(
    v: Value<'v>,
    on_fn: &mut dyn FnMut(Value<'v>) -> RawValue,
    depth: usize,
    max_depth: usize,
) -> Result<RawValue, TooDeep> {
    if depth > max_depth {
        return Err(TooDeep { max_depth });
    }
    if v.is_none() {
        return Ok(RawValue::None);
    }
    if let Some(b) = v.unpack_bool() {
        return Ok(RawValue::Bool(b));
    }
    if let Some(s) = v.unpack_str() {
        return Ok(RawValue::Str(s.to_string()));
    }
    if v.get_type() == "int" {
        return Ok(match i64::unpack_value(v) {
            Ok(Some(i)) => RawValue::Int(i),
            _ => RawValue::Other("int out of 64-bit range".into()),
        });
    }
    if let Some(f) = v.downcast_ref::<StarlarkFloat>() {
        return Ok(RawValue::Float(f.0));
    }
    if let Some(l) = ListRef::from_value(v) {
        let items: Vec<Value<'v>> = l.iter().collect();
        return Ok(RawValue::List(
            items.into_iter().map(|x| convert(x, on_fn, depth + 1, max_depth)).collect::<Result<_, _>>()?,
        ));
    }
    if let Some(t) = TupleRef::from_value(v) {
        return Ok(RawValue::List(
            t.iter().map(|x| convert(x, on_fn, depth + 1, max_depth)).collect::<Result<_, _>>()?,
        ));
    }
    if let Some(d) = DictRef::from_value(v) {
        let items: Vec<(Value<'v>, Value<'v>)> = d.iter().collect();
        drop(d);
        let mut out = Vec::with_capacity(items.len());
        for (k, x) in items {
            out.push((convert(k, on_fn, depth + 1, max_depth)?, convert(x, on_fn, depth + 1, max_depth)?));
        }
        return Ok(RawValue::Dict(out));
    }
    if let Some(s) = StructRef::from_value(v) {
        let fields: Vec<(String, Value<'v>)> = s.iter().map(|(k, x)| (k.as_str().to_string(), x)).collect();
        let mut out = Vec::with_capacity(fields.len());
        for (k, x) in fields {
            out.push((k, convert(x, on_fn, depth + 1, max_depth)?));
        }
        return Ok(RawValue::Struct(out));
    }
    if let Some(i) = v.downcast_ref::<InstallStepValue>() {
        return Ok(RawValue::Install(i.step.clone()));
    }
    if v.get_type() == "function" {
        return Ok(on_fn(v));
    }
    Ok(RawValue::Other(v.get_type().to_string()))
}
