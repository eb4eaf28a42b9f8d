//! Shared test plumbing: finds (and if needed builds) the sandbox helper binary, makes
//! per-step unit dirs. Trusts cargo's layout of the target dir.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use yoe::sandbox::{Sandbox, SandboxConfig, StepDirs};

/// The target profile dir of this test binary (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/it-HASH
    exe.parent().and_then(Path::parent).expect("target profile dir").to_path_buf()
}

/// The helper binary, built once per test run with the same cargo.
pub fn helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--quiet", "-p", "yoe-sandbox-helper", "--bin", "yoe-sandbox-helper"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build for the helper");
        assert!(status.success(), "building the helper failed");
        let p = profile_dir().join("yoe-sandbox-helper");
        assert!(p.is_file(), "{} missing", p.display());
        p
    })
}

/// A sandbox with the default policy and the test helper.
pub fn sandbox() -> &'static Sandbox {
    static SB: OnceLock<Sandbox> = OnceLock::new();
    SB.get_or_init(|| {
        Sandbox::detect(&SandboxConfig { helper: Some(helper().to_path_buf()), ..SandboxConfig::default() })
            .expect("sandbox detect")
    })
}

/// Creates `base/{src,destdir,sysroot,home}` and hands them to the build user.
pub fn unit_dirs(sb: &Sandbox, base: &Path) -> StepDirs {
    let dirs = StepDirs {
        src: base.join("src"),
        destdir: base.join("destdir"),
        sysroot: base.join("sysroot"),
        home: base.join("home"),
    };
    for d in [&dirs.src, &dirs.destdir, &dirs.sysroot, &dirs.home] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    sb.hand_over(base).expect("hand over");
    dirs
}

/// A temp dir every user can traverse (the build user must reach the unit dirs).
pub fn tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::Builder::new().prefix("yoe-it-").tempdir().expect("tempdir");
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    t
}
