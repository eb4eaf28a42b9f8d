//! Entry names and symlink targets: from the archive's raw bytes to validated relative paths.
//! Trusts none of the bytes; this is where absolute paths, `..`, NUL and overlong names are
//! refused, and where leading components are stripped.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::error::Refusal;

/// Longest entry name or symlink target accepted, in bytes (`PATH_MAX` minus the NUL).
pub(crate) const MAX_PATH_BYTES: usize = 4095;
/// Longest single path component accepted, in bytes (`NAME_MAX`).
pub(crate) const MAX_COMPONENT_BYTES: usize = 255;
/// Most components an entry name may have. Real trees stay far below; the bound keeps the
/// cost of creating an entry's parents (each `mkdir` walks its whole path) in check.
pub(crate) const MAX_DEPTH: usize = 256;

/// A validated path relative to the destination: at least one component, and no component
/// is empty, `.`, `..`, or contains `/` or NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RelPath(Vec<OsString>);

impl RelPath {
    pub(crate) fn components(&self) -> &[OsString] {
        &self.0
    }

    pub(crate) fn display(&self) -> String {
        display_components(&self.0)
    }

    /// Build from components already validated by this module's rules.
    pub(crate) fn from_valid(components: Vec<OsString>) -> Option<RelPath> {
        if components.is_empty() { None } else { Some(RelPath(components)) }
    }
}

pub(crate) fn display_components(c: &[OsString]) -> String {
    let parts: Vec<String> = c.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    parts.join("/")
}

/// The outcome of mapping an archive name to a destination path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mapped {
    /// Write the entry here.
    Path(RelPath),
    /// The name has no components left after stripping (the top directory itself, or a
    /// shallower entry): nothing to write.
    Nothing,
}

/// Which archive format a name comes from; zip names are also refused for backslashes and
/// drive letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Tar,
    Zip,
}

/// Validate `raw` and strip its first `strip` components (GNU `--strip-components`: `.`
/// counts as a component there, as in `./configure`). `..` is refused wherever it is, even
/// in the stripped part.
pub(crate) fn map_entry_name(raw: &[u8], strip: usize, flavor: Flavor) -> Result<Mapped, Refusal> {
    check_bytes(raw)?;
    if flavor == Flavor::Zip {
        if raw.contains(&b'\\') {
            return Err(Refusal::Backslash);
        }
        if raw.len() >= 2 && raw[0].is_ascii_alphabetic() && raw[1] == b':' {
            return Err(Refusal::AbsolutePath);
        }
    }
    if raw.first() == Some(&b'/') {
        return Err(Refusal::AbsolutePath);
    }
    let mut comps: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
        if c == b".." {
            return Err(Refusal::ParentComponent);
        }
        if c.len() > MAX_COMPONENT_BYTES {
            return Err(Refusal::ComponentTooLong { len: c.len(), limit: MAX_COMPONENT_BYTES });
        }
        comps.push(c);
    }
    if comps.len() > MAX_DEPTH {
        return Err(Refusal::TooDeep { depth: comps.len(), limit: MAX_DEPTH });
    }
    let kept: Vec<OsString> =
        comps.into_iter().skip(strip).filter(|c| *c != b".").map(|c| OsString::from_vec(c.to_vec())).collect();
    Ok(RelPath::from_valid(kept).map_or(Mapped::Nothing, Mapped::Path))
}

fn check_bytes(raw: &[u8]) -> Result<(), Refusal> {
    if raw.contains(&0) {
        return Err(Refusal::NulInName);
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(Refusal::NameTooLong { len: raw.len(), limit: MAX_PATH_BYTES });
    }
    Ok(())
}

/// The leading components shared by every name (split on `/`, empty and `.` parts
/// dropped), if there are `n` of them and every name is either deeper or a directory
/// (trailing `/`) of exactly that depth. This is the Go yoe's rule for zips, generalised
/// to `n`: a flat zip is not stripped.
pub(crate) fn common_prefix_len<'a>(names: impl Iterator<Item = &'a [u8]>, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let mut prefix: Option<Vec<&[u8]>> = None;
    let mut any = false;
    for name in names {
        any = true;
        let comps: Vec<&[u8]> = name.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
        let is_dir = name.last() == Some(&b'/');
        if comps.len() < n || (comps.len() == n && !is_dir) {
            return 0;
        }
        match &prefix {
            None => prefix = Some(comps[..n].to_vec()),
            Some(p) if p[..] == comps[..n] => {}
            Some(_) => return 0,
        }
    }
    if any { n } else { 0 }
}

/// One component of a symlink target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetComp {
    Parent,
    Name(OsString),
}

/// A symlink target split for checking: `ups` leading `..` components, then names only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SymlinkTarget {
    pub(crate) ups: usize,
    pub(crate) names: Vec<OsString>,
}

impl SymlinkTarget {
    pub(crate) fn comps(&self) -> impl Iterator<Item = TargetComp> + '_ {
        std::iter::repeat_n(TargetComp::Parent, self.ups).chain(self.names.iter().cloned().map(TargetComp::Name))
    }
}

/// Validate a symlink target. It must be relative, and `..` may only lead it
/// (`../../lib/x` is fine, `a/../b` is not): where a `..` after a name lands depends on
/// whether that name is a directory or a symlink, which later entries could change.
/// `.` parts are dropped.
pub(crate) fn parse_symlink_target(raw: &[u8]) -> Result<SymlinkTarget, Refusal> {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    if raw.is_empty() {
        return Err(Refusal::EmptySymlink);
    }
    if raw.contains(&0) {
        return Err(Refusal::NulInName);
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(Refusal::SymlinkTooLong { len: raw.len() as u64, limit: MAX_PATH_BYTES });
    }
    if raw[0] == b'/' {
        return Err(Refusal::AbsoluteSymlink { target: shown() });
    }
    let mut ups = 0;
    let mut names = Vec::new();
    for c in raw.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".") {
        if c == b".." {
            if !names.is_empty() {
                return Err(Refusal::SymlinkInnerParent { target: shown() });
            }
            ups += 1;
        } else {
            if c.len() > MAX_COMPONENT_BYTES {
                return Err(Refusal::ComponentTooLong { len: c.len(), limit: MAX_COMPONENT_BYTES });
            }
            names.push(OsString::from_vec(c.to_vec()));
        }
    }
    Ok(SymlinkTarget { ups, names })
}

/// Validate a name used as a single file name (the plain-file copy).
pub(crate) fn single_component(name: &OsStr) -> Result<OsString, Refusal> {
    let raw = name.as_bytes();
    check_bytes(raw)?;
    if raw.is_empty() || raw == b"." || raw == b".." {
        return Err(Refusal::ParentComponent);
    }
    if raw.contains(&b'/') {
        return Err(Refusal::AbsolutePath);
    }
    if raw.len() > MAX_COMPONENT_BYTES {
        return Err(Refusal::ComponentTooLong { len: raw.len(), limit: MAX_COMPONENT_BYTES });
    }
    Ok(name.to_os_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(raw: &str, strip: usize) -> Result<Option<String>, Refusal> {
        map_entry_name(raw.as_bytes(), strip, Flavor::Tar).map(|m| match m {
            Mapped::Path(p) => Some(p.display()),
            Mapped::Nothing => None,
        })
    }

    #[test]
    fn strips_like_gnu_tar() {
        assert_eq!(map("foo-1.0/src/a.c", 1).unwrap().as_deref(), Some("src/a.c"));
        assert_eq!(map("foo-1.0/", 1).unwrap(), None);
        assert_eq!(map("foo-1.0", 1).unwrap(), None);
        assert_eq!(map("./configure", 1).unwrap().as_deref(), Some("configure"));
        assert_eq!(map("./", 1).unwrap(), None);
        assert_eq!(map("a//b/./c/", 0).unwrap().as_deref(), Some("a/b/c"));
        assert_eq!(map("a/b/c", 2).unwrap().as_deref(), Some("c"));
        assert_eq!(map("a/b/c", 5).unwrap(), None);
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(map("/etc/passwd", 0), Err(Refusal::AbsolutePath));
        assert_eq!(map("a/../../x", 0), Err(Refusal::ParentComponent));
        assert_eq!(map("../x/y", 1), Err(Refusal::ParentComponent));
        assert_eq!(map("top/..", 1), Err(Refusal::ParentComponent));
        assert_eq!(map_entry_name(b"a/b\0c", 0, Flavor::Tar), Err(Refusal::NulInName));
        let deep = "a/".repeat(257);
        assert_eq!(map(&deep, 0), Err(Refusal::TooDeep { depth: 257, limit: 256 }));
        assert!(map(&"a/".repeat(256), 0).is_ok());
        let long = "a/".repeat(2100);
        assert!(matches!(map(&long, 0), Err(Refusal::NameTooLong { .. })));
        let comp = "x".repeat(256);
        assert!(matches!(map(&comp, 0), Err(Refusal::ComponentTooLong { len: 256, .. })));
    }

    #[test]
    fn zip_flavor_refuses_windows_paths() {
        assert_eq!(map_entry_name(b"top\\..\\x", 0, Flavor::Zip), Err(Refusal::Backslash));
        assert_eq!(map_entry_name(b"C:/Windows/x", 0, Flavor::Zip), Err(Refusal::AbsolutePath));
        assert!(map_entry_name(b"top\\x", 0, Flavor::Tar).is_ok());
    }

    #[test]
    fn zip_prefix_rule() {
        let names: Vec<&[u8]> = vec![b"top/", b"top/a", b"top/b/c"];
        assert_eq!(common_prefix_len(names.iter().copied(), 1), 1);
        let flat: Vec<&[u8]> = vec![b"top/a", b"README"];
        assert_eq!(common_prefix_len(flat.iter().copied(), 1), 0);
        let two: Vec<&[u8]> = vec![b"a/x", b"b/x"];
        assert_eq!(common_prefix_len(two.iter().copied(), 1), 0);
        assert_eq!(common_prefix_len(std::iter::empty(), 1), 0);
        let deep: Vec<&[u8]> = vec![b"a/b/x", b"a/b/"];
        assert_eq!(common_prefix_len(deep.iter().copied(), 2), 2);
    }

    #[test]
    fn symlink_targets() {
        let t = parse_symlink_target(b"../../lib/./x").unwrap();
        assert_eq!(t.ups, 2);
        assert_eq!(t.names, vec![OsString::from("lib"), OsString::from("x")]);
        assert_eq!(parse_symlink_target(b"./").unwrap().ups, 0);
        assert!(matches!(parse_symlink_target(b"/etc/passwd"), Err(Refusal::AbsoluteSymlink { .. })));
        assert!(matches!(parse_symlink_target(b"a/../../x"), Err(Refusal::SymlinkInnerParent { .. })));
        assert_eq!(parse_symlink_target(b""), Err(Refusal::EmptySymlink));
    }

    #[test]
    fn single_names() {
        assert!(single_component(OsStr::new("kubectl")).is_ok());
        assert!(single_component(OsStr::new("..")).is_err());
        assert!(single_component(OsStr::new("a/b")).is_err());
        assert!(single_component(OsStr::new("")).is_err());
    }
}
