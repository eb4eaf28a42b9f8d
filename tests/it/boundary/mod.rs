//! The boundary battery: hostile projects that attack yoe from the *outside* of the
//! sandbox (what yoe, possibly as root, does with data a unit controls), each built by the
//! real `yoe` binary as root (steps then run as the build user) and as an unprivileged user,
//! and judged by host-side oracles: a canary directory nothing may appear in or change (owner,
//! mode, content), and a secret whose bytes must not appear in any file yoe wrote. Where it
//! can be shown safely, a control proves the attack works without the defence.
//!
//! Classes: names (see also `tests/it/names.rs`), planted symlinks and special files in
//! every directory yoe writes into, install races, entries swapped during an image copy,
//! sparse and deep outputs. Load limits, terminal escapes and cross-project store reads have
//! their own modules (`load_limits`, `terminal`, `sources`).
mod names;
mod outputs;
mod planted;
mod races;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A project whose default machine is `m` ([`machine`]).
pub const PROJECT: &str = "project(name = \"b\", version = \"1\", defaults = defaults(machine = \"m\"))\n";

/// Machine `m` with one ext4 root partition of `size`.
pub fn machine(size: &str) -> String {
    format!(
        "machine(name = \"m\", arch = \"x86_64\", partitions = [partition(label = \"rootfs\", type = \"ext4\", size = \"{size}\", root = True)])\n"
    )
}

/// Who runs yoe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Root,
    /// An unprivileged user (its uid, gid).
    User(u32, u32),
}

impl Who {
    pub fn label(self) -> &'static str {
        match self {
            Who::Root => "root",
            Who::User(..) => "unprivileged",
        }
    }

    fn ids(self) -> Option<(u32, u32)> {
        match self {
            Who::Root => None,
            Who::User(u, g) => Some((u, g)),
        }
    }
}

/// Every identity the battery runs as: root and a created user when the tests run as root
/// (as CI does), else the current user alone.
pub fn identities() -> Vec<Who> {
    if yoe_sandbox_helper::sys::euid() != 0 {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        return vec![Who::User(uid, gid)];
    }
    let (u, g) = yoe::sandbox::user::ensure_system_user("yoe-battery").expect("test user");
    vec![Who::Root, Who::User(u, g)]
}

/// One hostile world: a project, a cache, a canary directory and a secret, all owned by
/// the user who runs yoe (so only yoe's own checks stand between a unit and them).
pub struct World {
    _tmp: tempfile::TempDir,
    pub who: Who,
    pub project: PathBuf,
    pub cache: PathBuf,
    pub canary: PathBuf,
    pub secret_bytes: String,
    snapshot: BTreeMap<PathBuf, String>,
}

impl World {
    /// A world with `files` (path, text) as the project; `@CANARY@` and `@SECRET@` in a
    /// text are replaced by the paths of the canary and the secret.
    pub fn new(who: Who, files: &[(&str, &str)]) -> World {
        // Beside the build outputs (not in /tmp, which the sandbox has its own of), in a
        // dir every user can traverse.
        let tmp = tempfile::Builder::new().prefix("boundary-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
        let base = tmp.path().to_path_buf();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let (project, cache, canary) = (base.join("project"), base.join("cache"), base.join("canary"));
        for d in [&project, &cache, &canary.join("sub")] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(canary.join("keep"), "canary\n").expect("write");
        std::fs::write(canary.join("sub/keep"), "canary too\n").expect("write");
        let secret = base.join("secret");
        let secret_bytes = format!("SECRET-{}-{:x}", std::process::id(), rand_u64());
        std::fs::write(&secret, &secret_bytes).expect("write");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        for (p, text) in files {
            let text = text
                .replace("@CANARY@", &canary.display().to_string())
                .replace("@SECRET@", &secret.display().to_string());
            let path = project.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        if let Some(ids) = who.ids() {
            lchown_tree(&base, ids);
        }
        let snapshot = snapshot(&canary);
        World { _tmp: tmp, who, project, cache, canary, secret_bytes, snapshot }
    }

    /// Take the canary's current state as the one to keep (after the test added to it).
    pub fn rescan(&mut self) {
        self.snapshot = snapshot(&self.canary);
    }

    /// Run yoe in this world: `--json` results are parsed by [`Run::outcome`].
    pub fn yoe(&self, args: &[&str]) -> Run {
        let mut c = Command::new(crate::support::yoe_bin());
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/nonexistent")
            .env("YOE_CACHE", &self.cache)
            .env("YOE_SANDBOX_HELPER", crate::common::helper())
            .arg("--project")
            .arg(&self.project)
            .args(args)
            .stdin(Stdio::null());
        if let Some((u, g)) = self.who.ids() {
            c.uid(u).gid(g);
        }
        Run(run_with_timeout(c, std::time::Duration::from_secs(120)))
    }

    /// `build/<unit>.x86_64` of the project.
    pub fn unit_dir(&self, unit: &str) -> PathBuf {
        self.project.join("build").join(format!("{unit}.x86_64"))
    }

    /// The oracles: the canary is exactly as it was, and no file under the project (the
    /// build dir included) holds the secret's bytes.
    pub fn assert_intact(&self, what: &str) {
        let now = snapshot(&self.canary);
        assert_eq!(now, self.snapshot, "[{}] {what}: the canary changed", self.who.label());
        let hits = files_containing(&self.project, self.secret_bytes.as_bytes());
        assert!(hits.is_empty(), "[{}] {what}: the secret is in {hits:?}", self.who.label());
    }
}

/// The result of one yoe run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    /// The `result` of `unit` in `yoe --json build` output.
    pub fn outcome(&self, unit: &str) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.stdout()).ok()?;
        v["results"].as_array()?.iter().find(|r| r["unit"] == unit).and_then(|r| r["result"].as_str()).map(String::from)
    }
}

/// Runs `c`, killing it after `limit` (a hang is a failure, not a stuck test run).
pub fn run_with_timeout(mut c: Command, limit: std::time::Duration) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("/usr/bin/kill").args(["-9", &pid.to_string()]).status();
            panic!("yoe did not finish within {limit:?}: a hang");
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}

/// (path → owner, mode, kind and content) of every entry under `dir`, not following links.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let e = e.expect("walk canary");
        let m = e.path().symlink_metadata().expect("lstat");
        let content = if m.is_file() { std::fs::read_to_string(e.path()).unwrap_or_default() } else { String::new() };
        out.insert(
            e.path().to_path_buf(),
            format!("{}:{} {:o} {:?} {content}", m.uid(), m.gid(), m.mode(), m.file_type()),
        );
    }
    out
}

/// Regular files under `dir` whose bytes contain `needle` (links are not followed).
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false).into_iter().flatten() {
        if !e.file_type().is_file() {
            continue;
        }
        // Sparse images are large; read them in chunks.
        let Ok(mut f) = std::fs::File::open(e.path()) else { continue };
        let mut buf = vec![0u8; 1 << 20];
        let mut carry: Vec<u8> = Vec::new();
        loop {
            use std::io::Read;
            let n = match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            carry.extend_from_slice(&buf[..n]);
            if carry.windows(needle.len()).any(|w| w == needle) {
                hits.push(e.path().to_path_buf());
                break;
            }
            let keep = carry.len().saturating_sub(needle.len());
            carry.drain(..keep);
        }
    }
    hits
}

fn lchown_tree(p: &Path, (uid, gid): (u32, u32)) {
    for e in walkdir::WalkDir::new(p).follow_links(false) {
        let e = e.expect("walk");
        std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid)).expect("lchown");
    }
}
