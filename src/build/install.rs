//! `install_file` / `install_template` steps, done by yoe (not a shell, often as root): the
//! source must be a regular file inside its declared base directory, the destination must
//! resolve inside `$DESTDIR`, and nothing is followed through symlinks: parents and the file
//! are made beneath the destdir's fd with [`crate::fsx`], so a step that swaps a directory of
//! its `$DESTDIR` for a symlink meanwhile cannot make yoe write elsewhere. Trusts neither path.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::fsx::{Dir, FsError, RelPath, RelPathBuf};
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
/// `${VAR}` in the destination; only `$DESTDIR`-relative results are accepted. Parents are
/// created and the file is written beneath the destdir's fd ([`crate::fsx::Dir`]): no
/// symlink a step planted is followed at any point, and an existing file or symlink at the
/// destination is replaced atomically, never written through.
pub fn install(
    step: &InstallStep,
    destdir: &Path,
    vars: &BTreeMap<String, String>,
    template_ctx: &BTreeMap<String, String>,
) -> Result<PathBuf, InstallError> {
    let what = describe(step);
    let (src, data) =
        read_source(step).map_err(|(path, message)| InstallError::Source { step: what.clone(), path, message })?;
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
    let dest_err =
        |e: FsError| InstallError::Dest { step: what.clone(), dest: step.dest.clone(), message: e.to_string() };
    let rel = RelPathBuf::new(rel).map_err(dest_err)?;
    let dd = Dir::open(destdir).map_err(dest_err)?;
    // Parents one name at a time beneath the destdir fd, refusing symlinks and files that a
    // previous step may have planted in $DESTDIR.
    if let Some((parent, _)) = rel.as_rel().split_last()
        && !parent.is_root()
    {
        dd.create_dir_all(parent, 0o755).map_err(dest_err)?;
    }
    // setuid/setgid bits are refused here as they are in the sandbox.
    dd.write_atomic(rel.as_rel(), &data, step.mode & 0o1777).map_err(dest_err)?;
    Ok(target)
}

/// The base directory (canonical) and the source file (canonical, inside it), checked as a
/// relative path without `..` that stays inside the base after resolving symlinks.
fn resolve_source(step: &InstallStep) -> Result<(PathBuf, PathBuf), String> {
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
    Ok((base, canonical))
}

/// The source file, checked to be a regular file inside the step's base directory.
pub fn source_path(step: &InstallStep) -> Result<PathBuf, String> {
    let (_, canonical) = resolve_source(step)?;
    if !canonical.symlink_metadata().is_ok_and(|m| m.is_file()) {
        return Err("is not a regular file".into());
    }
    Ok(canonical)
}

/// The source's path and contents, read through a file opened beneath the canonical base
/// directory with no symlink followed (the canonical path has none; one swapped in since is
/// refused), and checked regular on the open fd (a fifo is never read).
fn read_source(step: &InstallStep) -> Result<(PathBuf, Vec<u8>), (PathBuf, String)> {
    let (base, canonical) = resolve_source(step).map_err(|m| (step.base_dir.join(&step.src), m))?;
    let fail = |e: FsError| (canonical.clone(), e.to_string());
    let inside = canonical.strip_prefix(&base).map_err(|e| (canonical.clone(), e.to_string()))?;
    let mut f =
        Dir::open(&base).map_err(fail)?.open_file(RelPath::new(inside).map_err(fail)?).map_err(|e| match e {
            FsError::Kind { found, .. } => (canonical.clone(), format!("is a {found}, not a regular file")),
            e => fail(e),
        })?;
    let mut data = Vec::new();
    f.read_to_end(&mut data).map_err(|e| (canonical.clone(), e.to_string()))?;
    Ok((canonical, data))
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
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

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

    #[test]
    fn refuses_special_sources_and_directories_at_the_destination() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("files");
        let dd = t.path().join("destdir");
        fs::create_dir_all(&base).unwrap();
        fs::create_dir_all(dd.join("etc/motd")).unwrap();
        crate::fsx::testutil::mkfifo(&base.join("fifo"));
        fs::write(base.join("motd"), "hi").unwrap();
        let ctx = BTreeMap::new();
        let e = install(&step(&base, "fifo", "$DESTDIR/x", InstallKind::File), &dd, &vars(), &ctx).unwrap_err();
        assert!(e.to_string().contains("is not a regular file") || e.to_string().contains("fifo"), "{e}");
        let e = install(&step(&base, "motd", "$DESTDIR/etc/motd", InstallKind::File), &dd, &vars(), &ctx).unwrap_err();
        assert!(e.to_string().contains("etc/motd is a directory"), "{e}");
        // A symlink inside the base that stays inside is fine (containment as before).
        std::os::unix::fs::symlink("motd", base.join("alias")).unwrap();
        install(&step(&base, "alias", "$DESTDIR/alias", InstallKind::File), &dd, &vars(), &ctx).unwrap();
        assert_eq!(fs::read_to_string(dd.join("alias")).unwrap(), "hi");
        std::os::unix::fs::symlink("/etc/hostname", base.join("out")).unwrap();
        let e = install(&step(&base, "out", "$DESTDIR/out", InstallKind::File), &dd, &vars(), &ctx).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
    }

    #[test]
    fn a_step_swapping_a_destdir_dir_for_a_symlink_cannot_redirect_the_install() {
        use crate::fsx::testutil::{Canary, RACE_ATTEMPTS, Swapper};
        let mut swaps = 0;
        for attempt in 0..RACE_ATTEMPTS {
            let t = tempfile::tempdir().unwrap();
            let canary = Canary::new(t.path());
            let base = t.path().join("files");
            let dd = t.path().join("destdir");
            fs::create_dir_all(&base).unwrap();
            fs::create_dir_all(dd.join("etc/sub")).unwrap();
            fs::write(base.join("motd"), "installed").unwrap();
            std::os::unix::fs::symlink(&canary.dir, dd.join("evil")).unwrap();
            let s = Swapper::start(&dd, "etc", "evil");
            for i in 0..20 {
                let dest = format!("$DESTDIR/etc/sub/motd{i}");
                let _ = install(&step(&base, "motd", &dest, InstallKind::File), &dd, &vars(), &BTreeMap::new());
                let dest = format!("$DESTDIR/etc/secret{i}");
                let _ = install(&step(&base, "motd", &dest, InstallKind::File), &dd, &vars(), &BTreeMap::new());
            }
            swaps += s.stop();
            canary.assert_intact(&format!("install with a swap, attempt {attempt}"));
        }
        assert!(swaps > 0, "the swapper never swapped; the test proves nothing");
    }
}
