//! `load()` labels (`//path`, `@module//path`, relative) and path containment: whatever a
//! label, `local=` or `install_file` source names must stay, after `..` and symlinks are
//! resolved, inside the module or project root it belongs to. Trusts no path it is given.
use std::path::{Component, Path, PathBuf};

/// Roots that files may belong to: the project root and every resolved module directory.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    pub project: PathBuf,
    /// (module name, canonical directory holding its MODULE.star)
    pub modules: Vec<(String, PathBuf)>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    #[error("load({label:?}): malformed label: {why}")]
    Malformed { label: String, why: String },
    #[error("load({label:?}): unknown module {module:?} (known: {known})")]
    UnknownModule { label: String, module: String, known: String },
    #[error("load({label:?}): {path} does not exist")]
    Missing { label: String, path: PathBuf },
    #[error("{what} resolves to {path}, outside its {root_kind} root {root}")]
    Escapes { what: String, path: PathBuf, root_kind: &'static str, root: PathBuf },
}

impl Roots {
    /// The root a file belongs to: the deepest module directory containing it, else the
    /// project root. Returns the root and the module name (`None` for the project).
    pub fn root_of(&self, file: &Path) -> (&Path, Option<&str>) {
        self.modules
            .iter()
            .filter(|(_, dir)| file.starts_with(dir))
            .max_by_key(|(_, dir)| dir.components().count())
            .map(|(n, d)| (d.as_path(), Some(n.as_str())))
            .unwrap_or((self.project.as_path(), None))
    }

    /// Resolve a `load()` label used in `from_file` to a canonical path inside its root.
    pub fn resolve(&self, label: &str, from_file: &Path) -> Result<PathBuf, LabelError> {
        let malformed = |why: &str| LabelError::Malformed { label: label.to_string(), why: why.to_string() };
        let (base, rel, root, kind): (PathBuf, &str, PathBuf, &'static str) =
            if let Some(rest) = label.strip_prefix('@') {
                let (name, rel) = rest.split_once("//").ok_or_else(|| malformed("expected @module//path"))?;
                let dir = self.modules.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone()).ok_or_else(|| {
                    LabelError::UnknownModule {
                        label: label.to_string(),
                        module: name.to_string(),
                        known: self.modules.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                    }
                })?;
                (dir.clone(), rel, dir, "module")
            } else if let Some(rel) = label.strip_prefix("//") {
                let (root, module) = self.root_of(from_file);
                (root.to_path_buf(), rel, root.to_path_buf(), if module.is_some() { "module" } else { "project" })
            } else {
                let (root, module) = self.root_of(from_file);
                let dir = from_file.parent().unwrap_or(root).to_path_buf();
                (dir, label, root.to_path_buf(), if module.is_some() { "module" } else { "project" })
            };
        if rel.is_empty() || Path::new(rel).is_absolute() {
            return Err(malformed("the path part must be relative and non-empty"));
        }
        if rel.contains('\0') {
            return Err(malformed("contains a NUL byte"));
        }
        let joined = base.join(rel);
        let what = format!("load({label:?})");
        // Lexically first (so a path that escapes is named even if it does not exist),
        // then again after symlinks.
        contained(&what, &normalize(&joined), &root, kind)?;
        let canonical = joined
            .canonicalize()
            .map_err(|_| LabelError::Missing { label: label.to_string(), path: joined.clone() })?;
        contained(&what, &canonical, &root, kind)?;
        Ok(canonical)
    }
}

/// Check that `path` (canonical) lies inside `root`.
pub fn contained(what: &str, path: &Path, root: &Path, root_kind: &'static str) -> Result<(), LabelError> {
    if path.starts_with(root) {
        Ok(())
    } else {
        Err(LabelError::Escapes {
            what: what.to_string(),
            path: path.to_path_buf(),
            root_kind,
            root: root.to_path_buf(),
        })
    }
}

/// Resolve `.` and `..` without touching the filesystem.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Canonicalize `base.join(rel)` and require it inside `root`. Missing paths are an error.
pub fn resolve_within(
    what: &str,
    base: &Path,
    rel: &str,
    root: &Path,
    root_kind: &'static str,
) -> Result<PathBuf, String> {
    let joined = base.join(rel);
    contained(what, &normalize(&joined), root, root_kind).map_err(|e| e.to_string())?;
    let canonical = joined.canonicalize().map_err(|e| format!("{what}: {}: {e}", joined.display()))?;
    contained(what, &canonical, root, root_kind).map_err(|e| e.to_string())?;
    Ok(canonical)
}

/// `install_file` sources: relative, no `..`, and (when they exist at load time) inside the
/// root of the file that declared them even after resolving symlinks.
pub fn check_install_source(roots: &Roots, base_dir: &Path, src: &str) -> Result<(), String> {
    if Path::new(src).components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err("the source must be a relative path without `..`".into());
    }
    let path = base_dir.join(src);
    if path.symlink_metadata().is_err() {
        return Ok(()); // a missing source is reported when the step runs
    }
    let (root, module) = roots.root_of(base_dir);
    let canonical = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
    contained(&format!("install source {src:?}"), &canonical, root, if module.is_some() { "module" } else { "project" })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Roots) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().canonicalize().unwrap();
        for d in ["classes", "units/sub", "modules/core/classes", "outside"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        for f in ["classes/a.star", "units/sub/x.star", "modules/core/classes/c.star", "outside/o.star"] {
            std::fs::write(p.join(f), "").unwrap();
        }
        let roots = Roots { project: p.clone(), modules: vec![("core".into(), p.join("modules/core"))] };
        (t, roots)
    }

    #[test]
    fn label_forms() {
        let (_t, r) = setup();
        let p = r.project.clone();
        assert_eq!(r.resolve("//classes/a.star", &p.join("units/sub/x.star")).unwrap(), p.join("classes/a.star"));
        assert_eq!(
            r.resolve("@core//classes/c.star", &p.join("units/sub/x.star")).unwrap(),
            p.join("modules/core/classes/c.star")
        );
        assert_eq!(r.resolve("../../classes/a.star", &p.join("units/sub/x.star")).unwrap(), p.join("classes/a.star"));
        // `//` inside a module means the module root.
        assert_eq!(
            r.resolve("//classes/c.star", &p.join("modules/core/classes/c.star")).unwrap(),
            p.join("modules/core/classes/c.star")
        );
    }

    #[test]
    fn escaping_the_module_is_refused() {
        let (_t, r) = setup();
        let p = r.project.clone();
        let err = r.resolve("../../../classes/a.star", &p.join("modules/core/classes/c.star")).unwrap_err();
        assert!(matches!(err, LabelError::Escapes { root_kind: "module", .. }), "{err}");
    }

    #[test]
    fn lexical_escape_is_named_even_when_missing() {
        let (_t, r) = setup();
        let p = r.project.clone();
        let err = r.resolve("../../../etc/x.star", &p.join("units/sub/x.star")).unwrap_err();
        assert!(matches!(err, LabelError::Escapes { root_kind: "project", .. }), "{err}");
    }

    #[test]
    fn symlink_escape_is_refused() {
        let (_t, r) = setup();
        let p = r.project.clone();
        std::os::unix::fs::symlink(p.join("outside/o.star"), p.join("modules/core/classes/link.star")).unwrap();
        let err = r.resolve("//classes/link.star", &p.join("modules/core/classes/c.star")).unwrap_err();
        assert!(err.to_string().contains("outside its module root"), "{err}");
    }

    #[test]
    fn unknown_module_and_missing_file() {
        let (_t, r) = setup();
        let p = r.project.clone();
        assert!(matches!(r.resolve("@nope//x.star", &p.join("classes/a.star")), Err(LabelError::UnknownModule { .. })));
        assert!(matches!(
            r.resolve("//classes/missing.star", &p.join("classes/a.star")),
            Err(LabelError::Missing { .. })
        ));
    }
}
