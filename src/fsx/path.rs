//! Validated relative paths for the `rel` arguments of [`super::Dir`]: no leading `/`, no
//! `..`, no `.` or empty components, no NUL, at most [`super::PATH_MAX`] bytes. Trusts nothing
//! it is given; a path that passes is only ever resolved beneath a directory fd.
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{FsError, PATH_MAX};

/// A checked relative path, borrowed. The empty path names the directory itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath<'a>(&'a Path);

/// A checked relative path, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPathBuf(PathBuf);

fn check(p: &Path) -> Result<(), FsError> {
    let bad = |reason: &'static str| FsError::BadPath { path: p.to_path_buf(), reason };
    let bytes = p.as_os_str().as_bytes();
    if bytes.contains(&0) {
        return Err(bad("it contains a NUL byte"));
    }
    if bytes.first() == Some(&b'/') {
        return Err(bad("it is absolute"));
    }
    if bytes.len() >= PATH_MAX {
        return Err(FsError::TooLong { path: p.to_path_buf(), limit: PATH_MAX });
    }
    if bytes.is_empty() {
        return Ok(());
    }
    for c in bytes.split(|b| *b == b'/') {
        match c {
            b"" => return Err(bad("it has an empty component")),
            b"." => return Err(bad("it has a `.` component")),
            b".." => return Err(bad("it has a `..` component")),
            _ => {}
        }
    }
    Ok(())
}

impl<'a> RelPath<'a> {
    /// The directory itself.
    pub fn root() -> RelPath<'static> {
        RelPath(Path::new(""))
    }

    /// Checks `p`: relative, no `..`, `.` or empty components, no NUL.
    pub fn new<P: AsRef<Path> + ?Sized>(p: &'a P) -> Result<RelPath<'a>, FsError> {
        let p = p.as_ref();
        check(p)?;
        Ok(RelPath(p))
    }

    pub fn as_path(&self) -> &'a Path {
        self.0
    }

    /// Whether this names the directory itself.
    pub fn is_root(&self) -> bool {
        self.0.as_os_str().is_empty()
    }

    /// The parent (the empty path for a single name) and the last name; `None` for the root.
    pub fn split_last(&self) -> Option<(RelPath<'a>, &'a OsStr)> {
        let bytes = self.0.as_os_str().as_bytes();
        if bytes.is_empty() {
            return None;
        }
        match bytes.iter().rposition(|b| *b == b'/') {
            Some(i) => Some((RelPath(Path::new(OsStr::from_bytes(&bytes[..i]))), OsStr::from_bytes(&bytes[i + 1..]))),
            None => Some((RelPath::root(), self.0.as_os_str())),
        }
    }

    /// The names, first to last.
    pub fn names(&self) -> impl Iterator<Item = &'a OsStr> + use<'a> {
        let bytes = self.0.as_os_str().as_bytes();
        bytes.split(|b| *b == b'/').filter(|c| !c.is_empty()).map(OsStr::from_bytes)
    }

    /// Number of names (0 for the root).
    pub fn depth(&self) -> usize {
        self.names().count()
    }

    pub fn to_buf(&self) -> RelPathBuf {
        RelPathBuf(self.0.to_path_buf())
    }
}

impl RelPathBuf {
    /// The directory itself.
    pub fn root() -> RelPathBuf {
        RelPathBuf(PathBuf::new())
    }

    pub fn new(p: impl Into<PathBuf>) -> Result<RelPathBuf, FsError> {
        let p = p.into();
        check(&p)?;
        Ok(RelPathBuf(p))
    }

    pub fn as_rel(&self) -> RelPath<'_> {
        RelPath(&self.0)
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// `self/name`, where `name` is one directory entry name (no `/`, not `.` or `..`).
    pub fn join(&self, name: &OsStr) -> Result<RelPathBuf, FsError> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') || bytes.contains(&0) {
            return Err(FsError::BadPath { path: self.0.join(name), reason: "a name must be one path component" });
        }
        let mut s = OsString::with_capacity(self.0.as_os_str().len() + 1 + bytes.len());
        s.push(self.0.as_os_str());
        if !self.0.as_os_str().is_empty() {
            s.push("/");
        }
        s.push(name);
        if s.len() >= PATH_MAX {
            return Err(FsError::TooLong { path: PathBuf::from(s), limit: PATH_MAX });
        }
        Ok(RelPathBuf(PathBuf::from(s)))
    }
}

impl std::fmt::Display for RelPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.display().fmt(f)
    }
}

impl std::fmt::Display for RelPathBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.display().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for p in ["a", "a/b", "usr/lib/x.so.1", "..a", "a..", ".hidden"] {
            assert!(RelPath::new(p).is_ok(), "{p}");
        }
        assert!(RelPath::new("").is_ok_and(|r| r.is_root()));
        assert_eq!(RelPath::new("a/b/c").unwrap().depth(), 3);
    }

    #[test]
    fn refuses_escapes_and_odd_components() {
        for (p, why) in [
            ("/etc", "absolute"),
            ("a/../b", "`..`"),
            ("..", "`..`"),
            ("a/./b", "`.`"),
            (".", "`.`"),
            ("a//b", "empty"),
            ("a/", "empty"),
        ] {
            let e = RelPath::new(p).unwrap_err().to_string();
            assert!(e.contains(why), "{p}: {e}");
        }
        let nul = OsStr::from_bytes(b"a\0b");
        assert!(RelPath::new(nul).unwrap_err().to_string().contains("NUL"));
        let long = "a/".repeat(PATH_MAX / 2) + "a";
        assert!(matches!(RelPath::new(&long), Err(FsError::TooLong { .. })));
    }

    #[test]
    fn split_and_join() {
        let r = RelPath::new("a/b/c").unwrap();
        let (p, n) = r.split_last().unwrap();
        assert_eq!((p.as_path(), n), (Path::new("a/b"), OsStr::new("c")));
        let (p, n) = RelPath::new("c").unwrap().split_last().unwrap();
        assert!(p.is_root());
        assert_eq!(n, "c");
        assert!(RelPath::root().split_last().is_none());
        let b = RelPathBuf::root().join(OsStr::new("x")).unwrap().join(OsStr::new("y")).unwrap();
        assert_eq!(b.as_path(), Path::new("x/y"));
        for bad in ["", ".", "..", "a/b"] {
            assert!(b.join(OsStr::new(bad)).is_err(), "{bad}");
        }
        assert_eq!(r.names().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
