//! `install_file` / `install_template` steps, done by yoe (not a shell): the source must be
//! a regular file inside its declared base directory, the destination must resolve inside
//! `$DESTDIR`, and nothing is followed through symlinks. Trusts neither path.
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::model::{InstallKind, InstallStep};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{step}: source {}: {message}", path.display())]
    Source { step: String, path: PathBuf, message: String },
    #[error("{step}: destination {dest:?} must be inside $DESTDIR (it expands to {expanded:?})")]
    OutsideDestdir { step: String, dest: String, expanded: String },
    #[error("{step}: destination {dest:?}: {message}")]
    Dest { step: String, dest: String, message: String },
    #[error("{step}: template {}: {source}", path.display())]
    Template { step: String, path: PathBuf, source: super::template::TemplateError },
}

/// Carry out one install step into `destdir` (a host path). `vars` expands `$VAR` and
/// `${VAR}` in the destination; only `$DESTDIR`-relative results are accepted.
pub fn install(
    step: &InstallStep,
    destdir: &Path,
    vars: &BTreeMap<String, String>,
    template_ctx: &BTreeMap<String, String>,
) -> Result<PathBuf, InstallError> {
    let what = describe(step);
    let src = source_path(step).map_err(|m| InstallError::Source {
        step: what.clone(),
        path: step.base_dir.join(&step.src),
        message: m,
    })?;
    let data = fs::read(&src).map_err(|e| InstallError::Source {
        step: what.clone(),
        path: src.clone(),
        message: e.to_string(),
    })?;
    let data = match step.kind {
        InstallKind::File => data,
        InstallKind::Template => {
            let text = String::from_utf8(data).map_err(|_| InstallError::Source {
                step: what.clone(),
                path: src.clone(),
                message: "a template must be UTF-8 text".into(),
            })?;
            super::template::render(&text, template_ctx)
                .map_err(|source| InstallError::Template { step: what.clone(), path: src.clone(), source })?
                .into_bytes()
        }
    };
    let rel = dest_relative(&step.dest, vars).map_err(|expanded| InstallError::OutsideDestdir {
        step: what.clone(),
        dest: step.dest.clone(),
        expanded,
    })?;
    let target = destdir.join(&rel);
    let dest_err = |m: String| InstallError::Dest { step: what.clone(), dest: step.dest.clone(), message: m };
    // Create parents one component at a time, refusing to pass through symlinks that a
    // previous step may have planted in $DESTDIR.
    let mut cur = destdir.to_path_buf();
    let parent_components: Vec<_> = rel.parent().map(|p| p.components().collect()).unwrap_or_default();
    for c in parent_components {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => return Err(dest_err(format!("{} is a symlink", cur.display()))),
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(dest_err(format!("{} is not a directory", cur.display()))),
            Err(_) => fs::create_dir(&cur).map_err(|e| dest_err(format!("creating {}: {e}", cur.display())))?,
        }
    }
    if let Ok(m) = fs::symlink_metadata(&target) {
        if m.is_dir() {
            return Err(dest_err(format!("{} is a directory", target.display())));
        }
        fs::remove_file(&target).map_err(|e| dest_err(format!("replacing {}: {e}", target.display())))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc_nofollow())
        .open(&target)
        .map_err(|e| dest_err(format!("creating {}: {e}", target.display())))?;
    f.write_all(&data).map_err(|e| dest_err(e.to_string()))?;
    // setuid/setgid bits are refused here as they are in the sandbox.
    let mode = step.mode & 0o1777;
    fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(|e| dest_err(e.to_string()))?;
    Ok(target)
}

fn libc_nofollow() -> i32 {
    // O_NOFOLLOW on Linux (all architectures yoe supports).
    0o400000
}

/// The source file, checked to be a regular file inside the step's base directory.
pub fn source_path(step: &InstallStep) -> Result<PathBuf, String> {
    let rel = Path::new(&step.src);
    if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err("must be a relative path without `..`".into());
    }
    let path = step.base_dir.join(rel);
    let base = step.base_dir.canonicalize().map_err(|e| format!("base directory {}: {e}", step.base_dir.display()))?;
    let canonical = path.canonicalize().map_err(|e| e.to_string())?;
    if !canonical.starts_with(&base) {
        return Err(format!("resolves to {}, outside {}", canonical.display(), base.display()));
    }
    if !canonical.is_file() {
        return Err("is not a regular file".into());
    }
    Ok(canonical)
}

/// Expand `$VAR`/`${VAR}` in `dest` and return the path relative to `$DESTDIR`, or the
/// expanded text when it is not inside `$DESTDIR`.
pub fn dest_relative(dest: &str, vars: &BTreeMap<String, String>) -> Result<PathBuf, String> {
    const MARK: &str = "\u{0}DESTDIR\u{0}";
    let mut v = vars.clone();
    v.insert("DESTDIR".into(), MARK.into());
    let expanded = expand(dest, &v);
    let Some(rest) = expanded.strip_prefix(MARK) else { return Err(expanded.replace(MARK, "$DESTDIR")) };
    if rest.contains('\0') {
        return Err(expanded.replace(MARK, "$DESTDIR"));
    }
    let rel = Path::new(rest.trim_start_matches('/'));
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return Err(expanded.replace(MARK, "$DESTDIR")),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(expanded.replace(MARK, "$DESTDIR"));
    }
    Ok(out)
}

/// Shell-like `$VAR` / `${VAR}` expansion (unknown variables expand to nothing).
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek().is_some_and(|(_, c)| *c == '{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if braced && chars.peek().is_some_and(|(_, c)| *c == '}') {
            chars.next();
        }
        if name.is_empty() {
            out.push('$');
        } else if let Some(v) = vars.get(&name) {
            out.push_str(v);
        }
    }
    out
}

fn describe(step: &InstallStep) -> String {
    let f = match step.kind {
        InstallKind::File => "install_file",
        InstallKind::Template => "install_template",
    };
    format!("{f}({:?}, {:?})", step.src, step.dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("PREFIX", "/usr"), ("SRCDIR", "/build/src")].into_iter().map(|(a, b)| (a.into(), b.into())).collect()
    }

    #[test]
    fn dest_must_stay_in_destdir() {
        assert_eq!(dest_relative("$DESTDIR/etc/motd", &vars()).unwrap(), PathBuf::from("etc/motd"));
        assert_eq!(dest_relative("${DESTDIR}$PREFIX/bin/x", &vars()).unwrap(), PathBuf::from("usr/bin/x"));
        assert_eq!(dest_relative("/etc/passwd", &vars()).unwrap_err(), "/etc/passwd");
        assert!(dest_relative("$DESTDIR/../x", &vars()).is_err());
        assert!(dest_relative("$SRCDIR/x", &vars()).is_err());
        assert!(dest_relative("$DESTDIR", &vars()).is_err());
    }

    fn step(base: &Path, src: &str, dest: &str, kind: InstallKind) -> InstallStep {
        InstallStep { kind, src: src.into(), dest: dest.into(), mode: 0o4755, base_dir: base.to_path_buf() }
    }

    #[test]
    fn installs_files_and_templates_without_setuid_and_refuses_symlinked_parents() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("files");
        let dd = t.path().join("destdir");
        fs::create_dir_all(&base).unwrap();
        fs::create_dir_all(&dd).unwrap();
        fs::write(base.join("motd"), "hi").unwrap();
        fs::write(base.join("os.tmpl"), "V={{.version}}").unwrap();
        let ctx: BTreeMap<String, String> = [("version".to_string(), "3".to_string())].into();
        let p = install(&step(&base, "motd", "$DESTDIR/etc/motd", InstallKind::File), &dd, &vars(), &ctx).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "hi");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o7777, 0o755);
        let p = install(&step(&base, "os.tmpl", "$DESTDIR/etc/os", InstallKind::Template), &dd, &vars(), &ctx).unwrap();
        assert_eq!(fs::read_to_string(p).unwrap(), "V=3");
        // A symlink planted in $DESTDIR (e.g. by a shell step) is not followed.
        std::os::unix::fs::symlink("/tmp", dd.join("evil")).unwrap();
        let e = install(&step(&base, "motd", "$DESTDIR/evil/x", InstallKind::File), &dd, &vars(), &ctx).unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
        std::os::unix::fs::symlink("/etc/passwd", dd.join("etc/link")).unwrap();
        let p = install(&step(&base, "motd", "$DESTDIR/etc/link", InstallKind::File), &dd, &vars(), &ctx).unwrap();
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink(), "the link is replaced, not followed");
        let e = install(&step(&base, "../x", "$DESTDIR/y", InstallKind::File), &dd, &vars(), &ctx).unwrap_err();
        assert!(e.to_string().contains("without `..`"), "{e}");
    }
}
