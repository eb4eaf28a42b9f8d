//! Typed extraction of kwargs from raw declarations, with errors that name the call, the
//! field and what was expected. Used by every validated model type.
use std::collections::BTreeMap;

use super::ident::{Ident, NameError, NameKind};
use super::raw::RawValue;

/// A declaration whose fields do not have the expected shape.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FieldError {
    #[error("{call}: field `{field}` expected {expected}, got {got}")]
    WrongType { call: String, field: String, expected: String, got: String },
    #[error("{call}: unknown field `{field}`{hint}; known fields: {known}")]
    Unknown { call: String, field: String, hint: String, known: String },
    #[error("{call}: missing required field `{field}` ({expected})")]
    Missing { call: String, field: String, expected: String },
    #[error("{call}: field `{field}` {message}")]
    Invalid { call: String, field: String, message: String },
    /// A name that is not an identifier (`crate::model::ident`).
    #[error("{call}: field `{field}`: {source}")]
    Name { call: String, field: String, source: NameError },
}

impl FieldError {
    /// The field the error is about (`deps[2]` for an element of a list).
    pub fn field(&self) -> &str {
        match self {
            FieldError::WrongType { field, .. }
            | FieldError::Unknown { field, .. }
            | FieldError::Missing { field, .. }
            | FieldError::Invalid { field, .. }
            | FieldError::Name { field, .. } => field,
        }
    }
}

/// The kwargs of one call, consumed field by field. Whatever is not taken is either an
/// error ([`Kwargs::deny_unknown`]) or kept as `extra` ([`Kwargs::into_rest`]).
pub struct Kwargs {
    call: String,
    items: Vec<(String, RawValue)>,
}

impl Kwargs {
    pub fn new(call: impl Into<String>, items: Vec<(String, RawValue)>) -> Self {
        Kwargs { call: call.into(), items }
    }

    /// The call's display name, e.g. `unit("zlib")`.
    pub fn call(&self) -> &str {
        &self.call
    }

    pub fn set_call(&mut self, call: impl Into<String>) {
        self.call = call.into();
    }

    /// Remove and return a field's raw value. `None` values count as unset.
    pub fn take(&mut self, field: &str) -> Option<RawValue> {
        let i = self.items.iter().position(|(k, _)| k == field)?;
        match self.items.remove(i).1 {
            RawValue::None => None,
            v => Some(v),
        }
    }

    /// Peek at a field without consuming it.
    pub fn peek(&self, field: &str) -> Option<&RawValue> {
        self.items.iter().find(|(k, _)| k == field).map(|(_, v)| v)
    }

    pub fn wrong(&self, field: &str, expected: &str, got: &RawValue) -> FieldError {
        FieldError::WrongType {
            call: self.call.clone(),
            field: field.to_string(),
            expected: expected.to_string(),
            got: describe(got),
        }
    }

    pub fn invalid(&self, field: &str, message: impl Into<String>) -> FieldError {
        FieldError::Invalid { call: self.call.clone(), field: field.into(), message: message.into() }
    }

    pub fn missing(&self, field: &str, expected: &str) -> FieldError {
        FieldError::Missing { call: self.call.clone(), field: field.into(), expected: expected.into() }
    }

    pub fn str(&mut self, field: &str) -> Result<Option<String>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(RawValue::Str(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(field, "a string", &v)),
        }
    }

    /// A string field where the empty string means unset (as Go yoe treats them).
    pub fn str_nonempty(&mut self, field: &str) -> Result<Option<String>, FieldError> {
        Ok(self.str(field)?.filter(|s| !s.is_empty()))
    }

    pub fn required_str(&mut self, field: &str) -> Result<String, FieldError> {
        match self.str(field)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.missing(field, "a non-empty string")),
        }
    }

    /// A name field checked as an identifier (`crate::model::ident`); empty means unset.
    pub fn ident(&mut self, field: &str, kind: NameKind) -> Result<Option<Ident>, FieldError> {
        match self.str(field)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => self.name(field, kind, &s).map(Some),
        }
    }

    /// A required name field.
    pub fn required_ident(&mut self, field: &str, kind: NameKind) -> Result<Ident, FieldError> {
        let s = self.required_str(field)?;
        self.name(field, kind, &s)
    }

    /// Check `value` (of `field`) as a name.
    pub fn name(&self, field: &str, kind: NameKind, value: &str) -> Result<Ident, FieldError> {
        Ident::new(kind, value).map_err(|source| FieldError::Name {
            call: self.call.clone(),
            field: field.to_string(),
            source,
        })
    }

    /// A list of names, each checked (the error names the element: `deps[2]`).
    pub fn ident_list(&mut self, field: &str, kind: NameKind) -> Result<Vec<Ident>, FieldError> {
        let items = self.str_list(field)?;
        items.iter().enumerate().map(|(i, s)| self.name(&format!("{field}[{i}]"), kind, s)).collect()
    }

    /// A dict of names to lists of names (`distro_deps = {"alpine": ["openrc"]}`).
    pub fn ident_list_map(
        &mut self,
        field: &str,
        key: NameKind,
        value: NameKind,
    ) -> Result<BTreeMap<Ident, Vec<Ident>>, FieldError> {
        let map = self.str_list_map(field)?;
        let mut out = BTreeMap::new();
        for (k, vs) in map {
            let kid = self.name(&format!("{field}[{k:?}]"), key, &k)?;
            let vals = vs
                .iter()
                .enumerate()
                .map(|(i, v)| self.name(&format!("{field}[{k:?}][{i}]"), value, v))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert(kid, vals);
        }
        Ok(out)
    }

    pub fn bool(&mut self, field: &str) -> Result<Option<bool>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(RawValue::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(self.wrong(field, "a bool (True or False)", &v)),
        }
    }

    pub fn int(&mut self, field: &str) -> Result<Option<i64>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(RawValue::Int(i)) => Ok(Some(i)),
            Some(v) => Err(self.wrong(field, "an int", &v)),
        }
    }

    pub fn str_list(&mut self, field: &str) -> Result<Vec<String>, FieldError> {
        match self.take(field) {
            None => Ok(Vec::new()),
            Some(RawValue::List(items)) => items
                .into_iter()
                .map(|v| match v {
                    RawValue::Str(s) => Ok(s),
                    other => Err(self.wrong(field, "a list of strings", &other)),
                })
                .collect(),
            Some(v) => Err(self.wrong(field, "a list of strings", &v)),
        }
    }

    pub fn str_map(&mut self, field: &str) -> Result<BTreeMap<String, String>, FieldError> {
        match self.take(field) {
            None => Ok(BTreeMap::new()),
            Some(RawValue::Dict(items)) => items
                .into_iter()
                .map(|(k, v)| match (k, v) {
                    (RawValue::Str(k), RawValue::Str(v)) => Ok((k, v)),
                    (RawValue::Str(_), other) | (other, _) => {
                        Err(self.wrong(field, "a dict of string to string", &other))
                    }
                })
                .collect(),
            Some(v) => Err(self.wrong(field, "a dict of string to string", &v)),
        }
    }

    pub fn str_list_map(&mut self, field: &str) -> Result<BTreeMap<String, Vec<String>>, FieldError> {
        const EXPECTED: &str = "a dict of string to list of strings";
        match self.take(field) {
            None => Ok(BTreeMap::new()),
            Some(RawValue::Dict(items)) => {
                let mut out = BTreeMap::new();
                for (k, v) in items {
                    let RawValue::Str(k) = k else {
                        return Err(self.wrong(field, EXPECTED, &k));
                    };
                    let RawValue::List(list) = v else {
                        return Err(self.wrong(field, EXPECTED, &v));
                    };
                    let mut vals = Vec::with_capacity(list.len());
                    for item in list {
                        match item {
                            RawValue::Str(s) => vals.push(s),
                            other => return Err(self.wrong(field, EXPECTED, &other)),
                        }
                    }
                    out.insert(k, vals);
                }
                Ok(out)
            }
            Some(v) => Err(self.wrong(field, EXPECTED, &v)),
        }
    }

    /// A field that must be a struct (as returned by a builtin like `defaults()`).
    pub fn strukt(&mut self, field: &str, builtin: &str) -> Result<Option<Vec<(String, RawValue)>>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(RawValue::Struct(f)) => Ok(Some(f)),
            Some(v) => Err(self.wrong(field, &format!("a {builtin}(...) value"), &v)),
        }
    }

    /// A field that must be a list of structs.
    pub fn struct_list(&mut self, field: &str, builtin: &str) -> Result<Vec<Vec<(String, RawValue)>>, FieldError> {
        let expected = format!("a list of {builtin}(...) values");
        match self.take(field) {
            None => Ok(Vec::new()),
            Some(RawValue::List(items)) => items
                .into_iter()
                .map(|v| match v {
                    RawValue::Struct(f) => Ok(f),
                    other => Err(self.wrong(field, &expected, &other)),
                })
                .collect(),
            Some(v) => Err(self.wrong(field, &expected, &v)),
        }
    }

    /// Fail on any field not consumed yet: for calls whose schema is closed.
    pub fn deny_unknown(self, known: &[&str]) -> Result<(), FieldError> {
        match self.items.into_iter().next() {
            None => Ok(()),
            Some((field, _)) => {
                let hint = suggest(&field, known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                Err(FieldError::Unknown { call: self.call, field, hint, known: known.join(", ") })
            }
        }
    }

    /// The fields not consumed yet, in call order.
    pub fn into_rest(self) -> Vec<(String, RawValue)> {
        self.items
    }
}

/// A short description of a value for "got ..." in messages.
pub fn describe(v: &RawValue) -> String {
    match v {
        RawValue::Str(s) if s.len() <= 40 => format!("string {s:?}"),
        RawValue::Int(i) => format!("int {i}"),
        RawValue::Bool(b) => format!("bool {}", if *b { "True" } else { "False" }),
        other => other.type_name().to_string(),
    }
}

/// The closest known name to `word`, if any is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_type_names_call_field_and_expectation() {
        let mut kw = Kwargs::new("unit(\"zlib\")", vec![("sha256".into(), RawValue::Int(3))]);
        let err = kw.str("sha256").unwrap_err().to_string();
        assert_eq!(err, "unit(\"zlib\"): field `sha256` expected a string, got int 3");
    }

    #[test]
    fn unknown_field_suggests_the_typo_fix() {
        let kw = Kwargs::new("project()", vec![("sha265".into(), RawValue::Str("x".into()))]);
        let err = kw.deny_unknown(&["name", "sha256"]).unwrap_err().to_string();
        assert!(err.contains("unknown field `sha265` (did you mean `sha256`?)"), "{err}");
    }

    #[test]
    fn none_counts_as_unset() {
        let mut kw = Kwargs::new("unit(\"x\")", vec![("version".into(), RawValue::None)]);
        assert_eq!(kw.str("version").unwrap(), None);
    }

    #[test]
    fn suggest_does_not_match_unrelated_words() {
        assert_eq!(suggest("zzzzzz", &["name", "version"]), None);
        assert_eq!(suggest("verison", &["name", "version"]), Some("version"));
    }
}
