//! Identifiers: the one validated type for every declared name that becomes a path
//! component, a key, a log line or an output name (unit, image, class, machine, module,
//! distro, version, task, partition label, feed, project, virtual). Trusts nothing: every
//! `Ident` was checked against one bounded grammar when it was made.
//!
//! The grammar: 1 to [`MAX_LEN`] bytes of ASCII letters, digits and `._+-`, not starting
//! with `.` or `-`. It admits every name of the Go yoe's core module and testdata (see
//! `tests/fixtures/go-yoe-names.txt`), and excludes everything that could change the
//! meaning of a path (`/`, `..`, a leading `.`), a command line (a leading `-`), a line of
//! output or a terminal (spaces, control characters, anything non-ASCII). Since a name is
//! already in its only spelling, two names that differ only by normalisation (`./x`, `x/`)
//! cannot both exist: the second is not a name at all.
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::Serialize;

/// The longest identifier, in bytes.
pub const MAX_LEN: usize = 128;

/// What a name names, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Unit,
    Class,
    Machine,
    Module,
    Distro,
    Version,
    Task,
    PartitionLabel,
    Feed,
    Project,
    /// A name a unit refers to: a dependency, a provided virtual, an image artifact.
    Reference,
    Service,
    Locale,
}

impl NameKind {
    pub fn describe(self) -> &'static str {
        match self {
            NameKind::Unit => "unit name",
            NameKind::Class => "unit class",
            NameKind::Machine => "machine name",
            NameKind::Module => "module name",
            NameKind::Distro => "distro name",
            NameKind::Version => "version",
            NameKind::Task => "task name",
            NameKind::PartitionLabel => "partition label",
            NameKind::Feed => "feed name",
            NameKind::Project => "project name",
            NameKind::Reference => "unit or virtual name",
            NameKind::Service => "service name",
            NameKind::Locale => "locale",
        }
    }
}

/// Why a string is not an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {} is not a valid name: {why}; {GRAMMAR}", kind.describe(), shown(value))]
pub struct NameError {
    pub kind: NameKind,
    pub value: String,
    pub why: String,
}

/// The grammar, as error messages state it.
pub const GRAMMAR: &str = "names are 1 to 128 ASCII letters, digits and `._+-`, and do not start with `.` or `-`";

/// A checked identifier. Derefs to `str`; it is deliberately not `AsRef<Path>`: paths are
/// made from identifiers by `crate::layout` only.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Ident(String);

/// Shown like a string (`"zlib"`), so `{:?}` quotes a name the same way everywhere.
impl fmt::Debug for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Ident {
    /// Check `value` as a `kind` name.
    pub fn new(kind: NameKind, value: &str) -> Result<Ident, NameError> {
        check(value).map_err(|why| NameError { kind, value: value.to_string(), why })?;
        Ok(Ident(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Why `value` breaks the grammar, or `Ok` when it is a name.
fn check(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".into());
    }
    if value.len() > MAX_LEN {
        return Err(format!("it is {} bytes long, more than {MAX_LEN}", value.len()));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || "._+-".contains(*c))) {
        let what = match c {
            '/' => "`/` (a name is one path component)".to_string(),
            c if c.is_control() => format!("the control character {}", c.escape_default()),
            ' ' => "a space".to_string(),
            c if !c.is_ascii() => format!("the non-ASCII character {}", c.escape_unicode()),
            c => format!("`{c}`"),
        };
        return Err(format!("it contains {what}"));
    }
    match value.as_bytes()[0] {
        b'.' => Err("it starts with `.`".into()),
        b'-' => Err("it starts with `-`".into()),
        _ => Ok(()),
    }
}

/// Whether `value` is an identifier.
pub fn is_ident(value: &str) -> bool {
    check(value).is_ok()
}

/// A value for messages: quoted and escaped, cut to a readable length.
fn shown(value: &str) -> String {
    const SHOW: usize = 80;
    if value.chars().count() <= SHOW {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(SHOW).collect();
        format!("{head:?}… ({} bytes)", value.len())
    }
}

impl Deref for Ident {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Ident {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Ident {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Ident {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Ident {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Ident {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Ident> for String {
    fn eq(&self, other: &Ident) -> bool {
        *self == other.0
    }
}

impl PartialEq<Ident> for str {
    fn eq(&self, other: &Ident) -> bool {
        self == other.0
    }
}

impl From<Ident> for String {
    fn from(i: Ident) -> String {
        i.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_yoe_style_names_are_valid() {
        for n in ["zlib", "qemu-x86_64", "base-files", "u-boot-beagleplay-r5", "libcom_err", "9.9p1", "1.0.0-base"] {
            assert!(is_ident(n), "{n}");
        }
        assert!(is_ident(&"a".repeat(MAX_LEN)));
    }

    #[test]
    fn paths_options_and_controls_are_not_names() {
        for (n, why) in [
            ("", "empty"),
            ("..", "starts with `.`"),
            (".", "starts with `.`"),
            ("./x", "`/`"),
            ("x/", "`/`"),
            ("../units/helper", "`/`"),
            ("/etc", "`/`"),
            ("-rf", "starts with `-`"),
            (".hidden", "starts with `.`"),
            ("a b", "a space"),
            ("a\nresult ok", "control character \\n"),
            ("a\u{1b}]52;c;x\u{7}", "control character \\u{1b}"),
            ("zlib\u{202e}", "non-ASCII"),
            ("a:b", "`:`"),
        ] {
            let e = Ident::new(NameKind::Unit, n).unwrap_err();
            assert!(e.why.contains(why), "{n:?}: {}", e.why);
            assert!(e.to_string().starts_with("unit name "), "{e}");
        }
        let e = Ident::new(NameKind::Unit, &"a".repeat(MAX_LEN + 1)).unwrap_err();
        assert!(e.why.contains("129 bytes"), "{}", e.why);
    }

    #[test]
    fn messages_escape_the_value() {
        let e = Ident::new(NameKind::Machine, "evil\u{1b}[2J").unwrap_err().to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
        assert!(e.contains("machine name \"evil\\u{1b}[2J\""), "{e}");
    }
}
