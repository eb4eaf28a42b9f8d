//! Test helpers: projects written from (path, text) pairs into a temp dir, and loading.
#![allow(dead_code)]
pub mod git;
pub mod http;
use std::path::{Path, PathBuf};

use yoe::starlark::{LoadError, LoadOptions, Loaded, LocalOnly, load};

/// A project on disk, removed when dropped.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(files: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = Fixture { dir };
        for (p, text) in files {
            f.write(p, text);
        }
        f
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().expect("canonical root")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    pub fn load(&self) -> Result<Loaded, LoadError> {
        load(&LoadOptions::new(self.root(), std::sync::Arc::new(LocalOnly)))
    }

    pub fn load_ok(&self) -> Loaded {
        match self.load() {
            Ok(l) => l,
            Err(e) => panic!("load failed:\n{}", e.render(&self.root())),
        }
    }

    /// The rendered error of a load that must fail.
    pub fn load_err(&self) -> String {
        match self.load() {
            Ok(_) => panic!("load unexpectedly succeeded"),
            Err(e) => e.render(&self.root()),
        }
    }
}

/// Run `yoe --project <fixture> ARGS` with the cache inside the fixture: (exit code, stdout,
/// stderr).
pub fn yoe_in(f: &Fixture, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(yoe_bin())
        .args(["--project".as_ref(), f.root().as_os_str()])
        .args(args)
        .env("YOE_CACHE", f.root().join(".cache"))
        .output()
        .expect("run yoe");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The `yoe` binary built for these tests.
pub fn yoe_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_yoe"))
}

/// The example project shipped in the repository.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

pub const MACHINE: &str = r#"machine(name = "qemu-x86_64", arch = "x86_64")
"#;
