//! The bwrap command line, as a pure function of the step's host dirs, the read-only root,
//! the helper path, the policy's mount sizes, the environment and the command. Spawns
//! nothing and reads no file. Trusts its inputs to be validated by the caller except
//! for the checks it does itself (absolute host paths, no NUL anywhere).
//!
//! Sandbox-side layout (the executor and the policy's Landlock rules rely on it):
//! `/build/src` rw (cwd), `/build/destdir` rw, `/build/sysroot` ro, `/build/home` rw with
//! `HOME=/build/home` and `TMPDIR=/build/home/tmp`, `/usr` ro (+ `/bin`, `/lib`,
//! `/lib64`, `/sbin` symlinks), `/etc/alternatives` and `/etc/ld.so.cache` ro when the
//! root has them, private `/proc`, minimal `/dev`, private sized `/tmp`, the helper at
//! [`HELPER_PATH`].

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where the helper is bound inside the sandbox.
pub const HELPER_PATH: &str = "/sbx/helper";
/// Sandbox-side paths of the unit's dirs.
pub const SRC: &str = "/build/src";
pub const DESTDIR: &str = "/build/destdir";
pub const SYSROOT: &str = "/build/sysroot";
pub const HOME: &str = "/build/home";
pub const TMPDIR: &str = "/build/home/tmp";
/// The sandbox's host name (the host's is not revealed, and builds that embed it stay
/// reproducible).
pub const HOSTNAME: &str = "yoe";

/// Host dirs of one unit, bound into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDirs {
    /// Source and build tree, rw, the step's cwd.
    pub src: PathBuf,
    /// Install root, rw.
    pub destdir: PathBuf,
    /// Read-only view of the deps' outputs.
    pub sysroot: PathBuf,
    /// Scratch home, rw (TMPDIR is created inside it).
    pub home: PathBuf,
}

/// The read-only root of the sandbox: the host's `/usr` for now, or a toolchain rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootFs {
    pub usr: PathBuf,
    pub etc_alternatives: Option<PathBuf>,
    pub ld_so_cache: Option<PathBuf>,
}

impl RootFs {
    /// The host's `/usr` (a non-hermetic build).
    pub fn host() -> Self {
        RootFs {
            usr: PathBuf::from("/usr"),
            etc_alternatives: Some(PathBuf::from("/etc/alternatives")),
            ld_so_cache: Some(PathBuf::from("/etc/ld.so.cache")),
        }
    }
}

/// The shell that runs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    #[default]
    Sh,
    Bash,
}

impl Shell {
    /// The shell's path inside the sandbox.
    pub fn path(self) -> &'static str {
        match self {
            Shell::Sh => "/bin/sh",
            Shell::Bash => "/bin/bash",
        }
    }
}

/// Whether the helper runs inside. Only the benchmark and the escape battery's controls
/// use [`Layers::BareBwrap`]; `Sandbox::run` always uses [`Layers::Full`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    /// bwrap, then the helper (caps, Landlock, no_new_privs, seccomp, rlimits).
    Full,
    /// bwrap only, exec'ing the shell directly (no helper layers).
    BareBwrap,
}

/// Everything the argv depends on.
#[derive(Debug, Clone)]
pub struct ArgvInputs<'a> {
    pub dirs: &'a StepDirs,
    pub root: &'a RootFs,
    /// Host path of the helper binary.
    pub helper: &'a Path,
    /// Size of the private `/tmp` in bytes.
    pub tmp_size: u64,
    /// The whole step environment (already rendered).
    pub env: &'a [(String, String)],
    pub shell: Shell,
    pub script: &'a str,
    pub layers: Layers,
}

/// Why no argv could be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgvError {
    #[error("host path {0:?} must be absolute")]
    RelativePath(PathBuf),
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error("environment variable name {0:?} is not valid")]
    EnvName(String),
}

fn host(p: &Path) -> Result<OsString, ArgvError> {
    if !p.is_absolute() {
        return Err(ArgvError::RelativePath(p.to_path_buf()));
    }
    if p.as_os_str().as_bytes().contains(&0) {
        return Err(ArgvError::Nul(p.display().to_string()));
    }
    Ok(p.as_os_str().to_owned())
}

fn text(what: &str, s: &str) -> Result<OsString, ArgvError> {
    if s.contains('\0') {
        return Err(ArgvError::Nul(what.to_string()));
    }
    Ok(OsString::from(s))
}

/// The bwrap arguments (without the bwrap program itself).
pub fn bwrap_argv(inp: &ArgvInputs<'_>) -> Result<Vec<OsString>, ArgvError> {
    let mut a: Vec<OsString> = Vec::with_capacity(96);
    let mut push = |items: &[&OsStr]| a.extend(items.iter().map(|s| s.to_os_string()));
    let o = |s: &'static str| OsStr::new(s);

    push(&[
        o("--unshare-all"),
        o("--unshare-user"),
        o("--disable-userns"),
        o("--die-with-parent"),
        o("--new-session"),
        o("--as-pid-1"),
        o("--hostname"),
        o(HOSTNAME),
    ]);
    let usr = host(&inp.root.usr)?;
    push(&[o("--ro-bind"), &usr, o("/usr")]);
    for (target, link) in [("usr/bin", "/bin"), ("usr/lib", "/lib"), ("usr/lib64", "/lib64"), ("usr/sbin", "/sbin")] {
        push(&[o("--symlink"), o(target), o(link)]);
    }
    if let Some(alt) = &inp.root.etc_alternatives {
        push(&[o("--ro-bind-try"), &host(alt)?, o("/etc/alternatives")]);
    }
    if let Some(cache) = &inp.root.ld_so_cache {
        push(&[o("--ro-bind-try"), &host(cache)?, o("/etc/ld.so.cache")]);
    }
    let size = OsString::from(inp.tmp_size.to_string());
    push(&[o("--proc"), o("/proc"), o("--dev"), o("/dev"), o("--size"), &size, o("--tmpfs"), o("/tmp")]);
    let d = inp.dirs;
    push(&[o("--bind"), &host(&d.src)?, o(SRC)]);
    push(&[o("--bind"), &host(&d.destdir)?, o(DESTDIR)]);
    push(&[o("--ro-bind"), &host(&d.sysroot)?, o(SYSROOT)]);
    push(&[o("--bind"), &host(&d.home)?, o(HOME)]);
    push(&[o("--dir"), o(TMPDIR)]);
    if inp.layers == Layers::Full {
        push(&[o("--ro-bind"), &host(inp.helper)?, o(HELPER_PATH)]);
    }
    push(&[o("--chdir"), o(SRC), o("--clearenv")]);
    for (k, v) in inp.env {
        if !super::policy::is_env_name(k) {
            return Err(ArgvError::EnvName(k.clone()));
        }
        let k = text("environment variable name", k)?;
        let v = text(&format!("environment variable {}", k.to_string_lossy()), v)?;
        push(&[o("--setenv"), &k, &v]);
    }
    push(&[o("--")]);
    if inp.layers == Layers::Full {
        push(&[o(HELPER_PATH), o("--")]);
    }
    let script = text("step script", inp.script)?;
    push(&[o(inp.shell.path()), o("-c"), &script]);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> StepDirs {
        StepDirs {
            src: "/p/build/hello.x86_64/src".into(),
            destdir: "/p/build/hello.x86_64/destdir".into(),
            sysroot: "/p/build/hello.x86_64/sysroot".into(),
            home: "/p/build/hello.x86_64/home".into(),
        }
    }

    fn inputs<'a>(d: &'a StepDirs, root: &'a RootFs, env: &'a [(String, String)], layers: Layers) -> ArgvInputs<'a> {
        ArgvInputs {
            dirs: d,
            root,
            helper: Path::new("/opt/yoe/yoe-sandbox-helper"),
            tmp_size: 1 << 30,
            env,
            shell: Shell::Sh,
            script: "make -j$NPROC && make install DESTDIR=$DESTDIR",
            layers,
        }
    }

    fn render(argv: &[OsString]) -> String {
        argv.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn full_argv_snapshot() {
        let d = dirs();
        let root = RootFs::host();
        let env =
            vec![("HOME".to_string(), "/build/home".to_string()), ("PATH".to_string(), "/usr/bin:/bin".to_string())];
        let argv = bwrap_argv(&inputs(&d, &root, &env, Layers::Full)).expect("argv");
        insta::assert_snapshot!(render(&argv));
    }

    #[test]
    fn bare_argv_has_no_helper() {
        let d = dirs();
        let root = RootFs::host();
        let argv = bwrap_argv(&inputs(&d, &root, &[], Layers::BareBwrap)).expect("argv");
        let s = render(&argv);
        assert!(!s.contains(HELPER_PATH));
        assert!(s.contains("--unshare-all\n--unshare-user\n--disable-userns"));
    }

    #[test]
    fn never_shares_the_network_and_always_clears_env() {
        let d = dirs();
        let root = RootFs::host();
        let argv = bwrap_argv(&inputs(&d, &root, &[], Layers::Full)).expect("argv");
        assert!(!argv.iter().any(|a| a == "--share-net"));
        assert!(argv.iter().any(|a| a == "--clearenv"));
        assert!(argv.iter().any(|a| a == "--unshare-all"));
    }

    #[test]
    fn rejects_relative_paths_and_nul() {
        let mut d = dirs();
        d.src = "relative/src".into();
        let root = RootFs::host();
        assert_eq!(
            bwrap_argv(&inputs(&d, &root, &[], Layers::Full)),
            Err(ArgvError::RelativePath("relative/src".into()))
        );
        let d = dirs();
        let env = vec![("X".to_string(), "a\0b".to_string())];
        assert!(bwrap_argv(&inputs(&d, &root, &env, Layers::Full)).is_err());
        let env = vec![("A=B".to_string(), "c".to_string())];
        assert_eq!(bwrap_argv(&inputs(&d, &root, &env, Layers::Full)), Err(ArgvError::EnvName("A=B".into())));
    }
}
