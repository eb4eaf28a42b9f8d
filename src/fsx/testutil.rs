//! Test helpers for the hostile cases: a canary directory outside the tree under test that
//! must never change, a thread that swaps a directory with a symlink to it
//! (`renameat2(RENAME_EXCHANGE)`) while an operation runs, deep trees, fifos and sockets.
//! Trusts the test's own temporary directory.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use rustix::fs::{CWD, Mode, OFlags, RenameFlags};

/// Whether the tests run as root (chown tests need it).
pub(crate) fn is_root() -> bool {
    super::euid() == 0
}

/// Attempts per race test.
pub(crate) const RACE_ATTEMPTS: usize = 24;

pub(crate) const CANARY_CONTENT: &[u8] = b"canary: must never change";

/// A directory outside the tree under test, with a file and a subdirectory, whose entries,
/// modes, owners and contents must stay as they were.
pub(crate) struct Canary {
    pub dir: PathBuf,
    before: Vec<(PathBuf, u32, u32, u32, Vec<u8>)>,
}

impl Canary {
    pub(crate) fn new(base: &Path) -> Canary {
        let dir = base.join("canary");
        std::fs::create_dir_all(dir.join("sub")).expect("canary dir");
        std::fs::write(dir.join("secret"), CANARY_CONTENT).expect("canary file");
        std::fs::write(dir.join("sub/inner"), CANARY_CONTENT).expect("canary file");
        let before = snapshot(&dir);
        Canary { dir, before }
    }

    pub(crate) fn assert_intact(&self, what: &str) {
        assert_eq!(snapshot(&self.dir), self.before, "{what}: the canary outside the tree changed");
    }
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, u32, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).expect("canary metadata");
        let data = if m.is_file() { std::fs::read(&p).expect("canary read") } else { Vec::new() };
        if m.is_dir() {
            for e in std::fs::read_dir(&p).expect("canary list") {
                todo.push(e.expect("canary entry").path());
            }
        }
        out.push((p, m.mode(), m.uid(), m.gid(), data));
    }
    out.sort();
    out
}

/// Swaps the entries `a` and `b` of `parent` as fast as it can until stopped.
pub(crate) struct Swapper {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Swapper {
    pub(crate) fn start(parent: &Path, a: &str, b: &str) -> Swapper {
        let fd = rustix::fs::openat(CWD, parent, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .expect("swapper parent");
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let (s, n, a, b) = (stop.clone(), swaps.clone(), a.to_string(), b.to_string());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if rustix::fs::renameat_with(&fd, a.as_str(), &fd, b.as_str(), RenameFlags::EXCHANGE).is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        // Return only once the race is on (the first swap made), so an operation that is
        // fast does not finish before the swapper has started.
        let t0 = std::time::Instant::now();
        while swaps.load(Ordering::Relaxed) == 0 && t0.elapsed() < std::time::Duration::from_secs(2) {
            std::thread::yield_now();
        }
        Swapper { stop, swaps, handle: Some(handle) }
    }

    /// Stops the thread; returns how many swaps it made.
    pub(crate) fn stop(mut self) -> u64 {
        self.halt();
        self.swaps.load(Ordering::Relaxed)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("swapper thread");
        }
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A directory `a` with `n` files and a few subdirectories, and `evil`, a symlink to the
/// canary, side by side in `parent`: what a [`Swapper`] exchanges.
pub(crate) fn swap_pair(parent: &Path, canary: &Canary, n: usize) {
    let a = parent.join("a");
    std::fs::create_dir_all(a.join("sub/deeper")).expect("mkdir");
    for i in 0..n {
        std::fs::write(a.join(format!("f{i:03}")), format!("file {i}")).expect("write");
    }
    std::fs::write(a.join("sub/deeper/secret"), "tree").expect("write");
    std::os::unix::fs::symlink(&canary.dir, parent.join("evil")).expect("symlink");
}

/// `dir/d/d/.../d`, `depth` levels, made one level at a time through fds (the full path is
/// far longer than PATH_MAX).
pub(crate) fn deep_tree(dir: &Path, depth: usize) {
    let mut cur = rustix::fs::openat(CWD, dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .expect("open root");
    for _ in 0..depth {
        rustix::fs::mkdirat(&cur, "d", Mode::from_raw_mode(0o755)).expect("mkdir");
        cur = rustix::fs::openat(&cur, "d", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .expect("open level");
    }
    let f =
        rustix::fs::openat(&cur, "leaf", OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))
            .expect("leaf");
    drop(f);
}

pub(crate) fn mkfifo(p: &Path) {
    rustix::fs::mkfifoat(CWD, p, Mode::from_raw_mode(0o644)).expect("mkfifo");
}

/// A listening unix socket at `p` (keep the listener alive while it matters).
pub(crate) fn socket(p: &Path) -> std::os::unix::net::UnixListener {
    std::os::unix::net::UnixListener::bind(p).expect("bind")
}

/// A `size`-byte file that is a hole but for `data` at each offset of `at`.
pub(crate) fn sparse_file(p: &Path, size: u64, at: &[u64], data: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(p).expect("create");
    f.set_len(size).expect("set_len");
    for o in at {
        f.write_all_at(data, *o).expect("write");
    }
}
