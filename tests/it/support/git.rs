//! Git repositories made by tests (served over file://), and a workspace holding them, a
//! cache and a project. Runs git with no user or system config and a fixed identity.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use yoe::module::{Lockfile, Resolver, Store, UpdateScope};
use yoe::starlark::{LoadOptions, Loaded, load};

/// git with a fixed identity and no config but ours.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A module's origin repository.
pub struct Origin {
    pub dir: PathBuf,
}

impl Origin {
    pub fn new(dir: PathBuf) -> Origin {
        std::fs::create_dir_all(&dir).expect("mkdir origin");
        git(&dir, &["init", "-q"]);
        Origin { dir }
    }

    pub fn write(&self, rel: &str, text: &str) -> &Origin {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
        self
    }

    pub fn remove(&self, rel: &str) -> &Origin {
        std::fs::remove_file(self.dir.join(rel)).expect("rm");
        self
    }

    /// Commit everything; returns the commit id.
    pub fn commit(&self, msg: &str) -> String {
        git(&self.dir, &["add", "-A"]);
        git(&self.dir, &["commit", "-q", "--allow-empty", "-m", msg]);
        self.head()
    }

    pub fn head(&self) -> String {
        git(&self.dir, &["rev-parse", "HEAD"])
    }

    /// Create or move a lightweight tag.
    pub fn tag(&self, name: &str) {
        git(&self.dir, &["tag", "-f", name]);
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

/// A temp dir with origins, a cache and a project.
pub struct Workspace {
    pub tmp: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        let tmp = tempfile::Builder::new().prefix("yoe-mod-").tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("proj")).expect("mkdir");
        Workspace { tmp }
    }

    pub fn path(&self) -> PathBuf {
        self.tmp.path().canonicalize().expect("canonical")
    }

    pub fn origin(&self, name: &str) -> Origin {
        Origin::new(self.path().join("origins").join(name))
    }

    pub fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    pub fn store(&self) -> Store {
        Store::open(&self.cache()).expect("store")
    }

    pub fn proj(&self) -> PathBuf {
        self.path().join("proj")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.proj().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// `yoe module lock` through the library; returns the new lock (written).
    pub fn lock(&self) -> Lockfile {
        self.lock_scoped(UpdateScope::Keep).expect("lock")
    }

    pub fn lock_scoped(&self, scope: UpdateScope) -> Result<Lockfile, String> {
        let store = self.store();
        let old = Lockfile::read(&self.proj()).map_err(|e| e.to_string())?;
        let r = Arc::new(Resolver::new(store, old, scope, false));
        let res = load(&LoadOptions::new(self.proj(), r.clone()));
        let lock = r.lockfile().ok_or_else(|| res.err().map(|e| e.render(&self.proj())).unwrap_or_default())?;
        lock.write(&self.proj()).map_err(|e| e.to_string())?;
        Ok(lock)
    }

    /// A normal load (what every verb does), with verification.
    pub fn load(&self, paranoid: bool) -> Result<Loaded, String> {
        let src =
            yoe::module::LockedSource::with_store(&self.proj(), self.store(), paranoid).map_err(|e| e.to_string())?;
        load(&LoadOptions::new(self.proj(), Arc::new(src))).map_err(|e| e.render(&self.proj()))
    }

    pub fn load_err(&self) -> String {
        match self.load(false) {
            Ok(_) => panic!("load unexpectedly succeeded"),
            Err(e) => e,
        }
    }

    /// The cached checkout root of the only entry for `url`.
    pub fn entry_tree(&self, lock: &Lockfile, name: &str) -> PathBuf {
        let m = lock.modules.iter().find(|m| m.name == name).expect("module in lock");
        self.store().entry_dir(&m.url, &m.commit, &m.path).join("tree")
    }
}

/// The yoe binary with a cache of its own and no inherited yoe settings.
pub fn yoe(ws: &Workspace) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(super::yoe_bin());
    c.env_remove("YOE_PROJECT")
        .env_remove("YOE_LOG")
        .env_remove("CI")
        .env("YOE_CACHE", ws.cache())
        .env("NO_COLOR", "1")
        .arg("--project")
        .arg(ws.proj());
    c
}

/// stdout + stderr of an assert, as text.
pub fn text(a: &assert_cmd::assert::Assert) -> (String, String) {
    let o = a.get_output();
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A minimal static HTTP server on 127.0.0.1 serving `root` (GET only, query ignored):
/// git's "dumb" HTTP protocol. Returns the base URL; the thread lives as long as the test.
pub fn serve_dir(root: std::path::PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let path = request.split(' ').nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
                let file = root.join(path.trim_start_matches('/'));
                let mut s = stream;
                let ok = !path.contains("..") && file.is_file();
                let body = if ok { std::fs::read(&file).unwrap_or_default() } else { b"not found".to_vec() };
                let status = if ok { "200 OK" } else { "404 Not Found" };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
            });
        }
    });
    format!("http://{addr}")
}
