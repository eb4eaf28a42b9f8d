//! Races against yoe's own work outside the sandbox. A racer (this test process, which
//! plays a step that is still running) swaps a directory in a unit's destdir with a symlink
//! to the canary (`renameat2(RENAME_EXCHANGE)`) as fast as it can while yoe runs an install
//! step into it, copies it into an image, hashes and resets it. In ≥ 20 attempts nothing may
//! land in or change the canary and the secret must not reach any output. A control runs the
//! same racer against the check-then-use walk yoe used to do and shows that it escapes.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{CWD, RenameFlags, renameat_with};

use super::{PROJECT, World, identities, machine};

const ATTEMPTS: usize = 20;

/// Swaps `a` and `b` (each may be missing at first) until stopped; counts the swaps.
struct Racer {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Racer {
    fn start(a: PathBuf, b: PathBuf) -> Racer {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), swaps.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                } else {
                    std::thread::yield_now();
                }
            }
        });
        Racer { stop, swaps, thread: Some(thread) }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.swaps.load(Ordering::Relaxed)
    }
}

#[test]
fn install_steps_copies_and_resets_hold_against_a_swapping_racer() {
    // `a` is a real directory and `l` a symlink to the canary; the racer exchanges them,
    // so at any moment `a` may be the symlink. The step sleeps so the racer has time to
    // start on the fresh destdir; yoe then installs into `a/b/`, hashes the output and
    // copies it into the image; the next attempt resets it.
    let units = r#"
unit(name = "race", tasks = [task("build", steps = [
    "mkdir -p $DESTDIR/a/b/c && echo data > $DESTDIR/a/b/c/file && ln -s @CANARY@ $DESTDIR/l && ln -s @SECRET@ $DESTDIR/a/secret && sleep 0.2",
    install_file("motd", "$DESTDIR/a/b/motd"),
    install_file("motd", "$DESTDIR/a/b/c/deeper/motd"),
])])
image(name = "img", artifacts = ["race"], hostname = "racer")
"#;
    for who in identities() {
        let w = World::new(
            who,
            &[
                ("PROJECT.star", PROJECT),
                ("machines/m.star", &machine("64M")),
                ("units/u.star", units),
                ("units/u/motd", "motd\n"),
            ],
        );
        let destdir = w.unit_dir("race").join("destdir");
        let mut swaps = 0;
        for attempt in 0..ATTEMPTS {
            let racer = Racer::start(destdir.join("a"), destdir.join("l"));
            let r = w.yoe(&["--json", "build", "--force", "--keep-going", "-j", "1"]);
            swaps += racer.finish();
            // The build may fail (a parent was a symlink at the wrong moment); it must never
            // have written through the link.
            assert!(r.code().is_some(), "attempt {attempt}");
            w.assert_intact(&format!("install/copy race, attempt {attempt}"));
        }
        assert!(swaps > 0, "[{}] the racer never ran", who.label());
    }
}

/// The walk yoe used to do for install steps: check each parent with lstat, then open the
/// full path (which the kernel resolves again, following whatever is there now).
fn check_then_use(destdir: &Path, rel: &str, data: &[u8]) -> std::io::Result<()> {
    let mut cur = destdir.to_path_buf();
    let rel = Path::new(rel);
    for c in rel.parent().into_iter().flat_map(|p| p.components()) {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => return Err(std::io::Error::other("a symlink")),
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(std::io::Error::other("not a directory")),
            Err(_) => std::fs::create_dir(&cur)?,
        }
    }
    std::fs::write(destdir.join(rel), data)
}

#[test]
fn control_the_check_then_use_walk_escapes_under_the_same_racer() {
    let t = tempfile::tempdir().unwrap();
    let canary = t.path().join("canary");
    let destdir = t.path().join("destdir");
    std::fs::create_dir_all(&canary).unwrap();
    std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(destdir.join("a")).unwrap();
    std::os::unix::fs::symlink(&canary, destdir.join("l")).unwrap();
    let racer = Racer::start(destdir.join("a"), destdir.join("l"));
    let mut escaped = false;
    for _ in 0..200_000 {
        let _ = check_then_use(&destdir, "a/motd", b"pwned");
        if canary.join("motd").exists() {
            escaped = true;
            break;
        }
    }
    racer.finish();
    assert!(escaped, "the racer never won against the check-then-use walk; the battery's race is not a real one");
}

#[test]
fn an_image_copy_holds_against_entries_swapped_under_it() {
    // The racer swaps the dependency's `usr/lib` (real files) with a symlink to a directory
    // holding the secret while the image copies it; the image must hold the files or the
    // link, never the secret's bytes.
    let units = r#"
unit(name = "dep", tasks = [task("build", steps = [
    "mkdir -p $DESTDIR/usr/lib && for i in $(seq 200); do echo lib$i > $DESTDIR/usr/lib/f$i; done && ln -s @CANARY@ $DESTDIR/usr/evil",
])])
image(name = "img", artifacts = ["dep"])
"#;
    for who in identities() {
        let mut w = World::new(
            who,
            &[("PROJECT.star", PROJECT), ("machines/m.star", &machine("64M")), ("units/u.star", units)],
        );
        // The canary holds a copy of the secret: following the swapped link would copy it.
        let leak = w.canary.join("sub/leak");
        std::fs::write(&leak, &w.secret_bytes).unwrap();
        if let super::Who::User(u, g) = who {
            std::os::unix::fs::lchown(&leak, Some(u), Some(g)).unwrap();
        }
        w.rescan();
        let r = w.yoe(&["--json", "build", "-j", "1", "dep"]);
        assert_eq!(r.outcome("dep").as_deref(), Some("built"), "[{}] {}", who.label(), r.stderr());
        let usr = w.unit_dir("dep").join("destdir/usr");
        for attempt in 0..ATTEMPTS {
            let racer = Racer::start(usr.join("lib"), usr.join("evil"));
            let r = w.yoe(&["--json", "build", "-j", "1", "--force", "img"]);
            racer.finish();
            assert!(r.code().is_some());
            let img = w.unit_dir("img");
            let hits = super::files_containing(&img, w.secret_bytes.as_bytes());
            assert!(hits.is_empty(), "[{}] attempt {attempt}: the secret reached {hits:?}", who.label());
            w.assert_intact(&format!("image copy race, attempt {attempt}"));
        }
    }
}
