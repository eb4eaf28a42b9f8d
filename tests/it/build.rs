//! `yoe build` end to end: the example project, caching and re-verification, failures,
//! `fn` steps, install confinement, the environment, an unprivileged run, and killing yoe.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Fixture, example, yoe_bin};

/// A `yoe` command with a clean environment (plus a planted secret), the test helper next
/// to it, and the project given.
fn yoe(project: &Path) -> Command {
    crate::common::helper();
    let mut c = Command::new(yoe_bin());
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("YOE_TEST_SECRET", "hunter2-do-not-leak")
        .arg("--project")
        .arg(project)
        .stdin(Stdio::null());
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let out = c.output().expect("run yoe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A copy of an example project in a temp dir (builds write into the project).
fn copy_example(name: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = example(name);
    for e in walkdir::WalkDir::new(&src).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&src).unwrap();
        if rel.starts_with("build") {
            continue;
        }
        let dst = t.path().join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
    t
}

#[test]
fn builds_the_example_then_reuses_and_reverifies_the_cache() {
    let t = copy_example("demo");
    let p = t.path();
    let (code, out, err) = run(yoe(p).args(["build", "-j", "2"]));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for u in ["libgreet", "hello", "base-files", "demo-image"] {
        assert!(out.lines().any(|l| l.starts_with("built") && l.contains(u)), "{u} not built:\n{out}");
    }
    assert!(p.join("build/hello.x86_64/destdir/usr/bin/hello").is_file());
    assert!(p.join("build/libgreet.x86_64/destdir/usr/include/greet.h").is_file());
    // The program was linked against the library from the sysroot and run.
    let log = std::fs::read_to_string(p.join("build/hello.x86_64/build.log")).unwrap();
    assert!(log.contains("hello, yoe"), "{log}");
    let os_release = std::fs::read_to_string(p.join("build/base-files.qemu-x86_64/destdir/etc/os-release")).unwrap();
    assert!(os_release.contains("NAME=\"yoe demo\"") && os_release.contains("VERSION=\"0.1.0\""), "{os_release}");

    // The image unit is assembled by the ext4 driver: the rootfs holds every artifact and
    // its runtime deps, owned by root, and the filesystem passes e2fsck.
    let img = p.join("build/demo-image.x86_64/destdir/demo-image.rootfs.ext4");
    let fsck = Command::new("/usr/sbin/e2fsck").arg("-fn").arg(&img).output().unwrap();
    assert!(fsck.status.success(), "e2fsck: {}", String::from_utf8_lossy(&fsck.stdout));
    let ls = Command::new("/usr/sbin/debugfs").args(["-R", "ls -p /usr/bin"]).arg(&img).output().unwrap();
    let ls = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.contains("/100755/0/0/hello/"), "{ls}");
    let cat = Command::new("/usr/sbin/debugfs").args(["-R", "cat /etc/hostname"]).arg(&img).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "demo\n");
    let cat = Command::new("/usr/sbin/debugfs").args(["-R", "stat /usr/lib/libgreet.so.1"]).arg(&img).output().unwrap();
    assert!(String::from_utf8_lossy(&cat.stdout).contains("User:     0"), "runtime dep in the rootfs");

    let (code, out, _) = run(yoe(p).arg("build"));
    assert_eq!(code, 0);
    assert!(out.lines().all(|l| l.starts_with("cached")), "{out}");

    // Tamper with a cached output: it is detected, said, and rebuilt.
    std::fs::write(p.join("build/libgreet.x86_64/destdir/usr/include/greet.h"), "tampered").unwrap();
    let (code, out, err) = run(yoe(p).arg("build"));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("libgreet: the cached output in") && err.contains("changed since it was built"), "{err}");
    assert!(out.lines().any(|l| l.starts_with("built") && l.contains("libgreet")), "{out}");
    let h = std::fs::read_to_string(p.join("build/libgreet.x86_64/destdir/usr/include/greet.h")).unwrap();
    assert!(h.contains("GREET_H"), "rebuilt output restored");

    // Changing an input (a source file) changes the key: the unit and its dependents rebuild.
    std::fs::write(p.join("units/apps/hello/hello.c"), "#include <stdio.h>\nint main(){puts(\"hi 2\");return 0;}\n")
        .unwrap();
    let (code, out, err) = run(yoe(p).args(["build", "hello"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("built") && l.contains("hello")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("cached") && l.contains("libgreet")), "{out}");
}

const PROJECT: &str = "project(name = \"t\", version = \"1.0\")\n";

#[test]
fn a_failing_step_names_step_status_tail_log_and_blocked_dependents() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/u.star",
            r#"unit(name = "bad", tasks = [task("build", steps = ["echo preparing", "for i in 1 2 3; do echo line $i; done; echo oops >&2; exit 3"])])
unit(name = "after-bad", deps = ["bad"], tasks = [task("build", steps = ["true"])])
unit(name = "independent", tasks = [task("build", steps = ["touch $DESTDIR/ok"])])
"#,
        ),
    ]);
    let (code, out, err) = run(yoe(&f.root()).args(["build", "-j", "1"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("unit \"bad\" failed at task \"build\", step 2: for i in 1 2 3"), "{err}");
    assert!(err.contains("exit status 3"), "{err}");
    assert!(err.contains("| line 3") && err.contains("| oops"), "{err}");
    assert!(err.contains("full log: build/bad.x86_64/build.log"), "{err}");
    assert!(err.contains("not built because of it: after-bad"), "{err}");
    assert!(out.contains("blocked  after-bad"), "{out}");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.root().join("build/bad.x86_64/build.json")).unwrap()).unwrap();
    assert_eq!(rec["status"], "failed");

    // --keep-going still builds what does not depend on the failure.
    let (code, out, _) = run(yoe(&f.root()).args(["build", "-j", "1", "--keep-going"]));
    assert_eq!(code, 1);
    assert!(
        out.lines().any(|l| l.contains("independent") && (l.starts_with("built") || l.starts_with("cached"))),
        "{out}"
    );
    assert!(f.root().join("build/independent.x86_64/destdir/ok").exists());
}

#[test]
fn fn_steps_run_sandboxed_commands_and_see_their_output() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/u.star",
            r#"def _build():
    r = run("echo from-sandbox; id -u")
    lines = r.stdout.strip().split("\n")
    run("echo '%s' > $DESTDIR/out.txt" % lines[0])
    bad = run("exit 7", check = False)
    run("echo %d > $DESTDIR/code.txt" % bad.exit_code)
    mb = dir_size_mb(".")
    run("echo %d > $DESTDIR/mb.txt" % mb)

unit(name = "f", tasks = [task("build", fn = _build)])
unit(name = "g", tasks = [task("build", fn = lambda: run("exit 4"))])
"#,
        ),
    ]);
    let (code, out, err) = run(yoe(&f.root()).args(["build", "-j", "1", "--keep-going"]));
    assert_eq!(code, 1, "{out}\n{err}");
    let d = f.root().join("build/f.x86_64/destdir");
    assert_eq!(std::fs::read_to_string(d.join("out.txt")).unwrap(), "from-sandbox\n");
    assert_eq!(std::fs::read_to_string(d.join("code.txt")).unwrap(), "7\n");
    assert_eq!(std::fs::read_to_string(d.join("mb.txt")).unwrap(), "0\n");
    assert!(err.contains("unit \"g\" failed at task \"build\", step 1: fn units/u.star.lambda"), "{err}");
    assert!(err.contains("run(): command exited with status 4: exit 4"), "{err}");
    assert!(err.contains("units/u.star"), "traceback names the file: {err}");
}

#[test]
fn install_steps_are_confined_to_destdir() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/u.star",
            "unit(name = \"u\", tasks = [task(\"i\", steps = [install_file(\"f\", \"/etc/yoe-test-should-not-exist\")])])\n",
        ),
        ("units/u/f", "data"),
    ]);
    let (code, _, err) = run(yoe(&f.root()).arg("build"));
    assert_eq!(code, 1);
    assert!(err.contains("destination \"/etc/yoe-test-should-not-exist\" must be inside $DESTDIR"), "{err}");
    assert!(!Path::new("/etc/yoe-test-should-not-exist").exists());
}

#[test]
fn steps_see_only_the_documented_environment() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/u.star",
            "unit(name = \"e\", environment = {\"MY_VAR\": \"x\"}, tasks = [task(\"t\", steps = [\"env | sort > $DESTDIR/env\", \"cat /proc/1/environ | tr '\\\\0' '\\\\n' > $DESTDIR/pid1 || true\"])])\n",
        ),
    ]);
    let (code, out, err) = run(yoe(&f.root()).arg("build"));
    assert_eq!(code, 0, "{out}\n{err}");
    let env = std::fs::read_to_string(f.root().join("build/e.x86_64/destdir/env")).unwrap();
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    for expected in [
        "PREFIX",
        "DESTDIR",
        "SRCDIR",
        "SYSROOT",
        "NPROC",
        "ARCH",
        "MACHINE",
        "HOME",
        "PATH",
        "SOURCE_DATE_EPOCH",
        "MY_VAR",
    ] {
        assert!(names.contains(&expected), "{expected} missing from:\n{env}");
    }
    assert!(!env.contains("hunter2") && !env.contains("YOE_TEST_SECRET"), "host env leaked:\n{env}");
    let pid1 = std::fs::read_to_string(f.root().join("build/e.x86_64/destdir/pid1")).unwrap_or_default();
    assert!(!pid1.contains("hunter2"), "secret visible in pid 1's environ:\n{pid1}");
}

#[test]
fn a_malformed_source_pin_fails_the_unit_naming_the_field() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/u.star",
            "unit(name = \"s\", source = \"https://example.invalid/x.tar.gz\", sha256 = \"00\", tasks = [task(\"t\", steps = [\"true\"])])\n",
        ),
    ]);
    let (code, _, err) = run(yoe(&f.root()).arg("build"));
    assert_eq!(code, 1);
    assert!(err.contains("unit \"s\" failed at fetching the source"), "{err}");
    assert!(err.contains("field `sha256` must be 64 lowercase hex digits, got \"00\""), "{err}");
}

fn chown_tree(p: &Path, uid: u32, gid: u32) {
    for e in walkdir::WalkDir::new(p) {
        let e = e.unwrap();
        std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid)).unwrap();
    }
}

#[test]
fn builds_the_example_as_an_unprivileged_user() {
    if yoe_sandbox_helper::sys::euid() != 0 {
        // Already unprivileged: the other tests cover this mode.
        return;
    }
    let (uid, gid) = yoe::sandbox::user::ensure_system_user("yoe-tester").expect("test user");
    let t = copy_example("demo");
    chown_tree(t.path(), uid, gid);
    let mut c = yoe(t.path());
    std::os::unix::process::CommandExt::uid(&mut c, uid);
    std::os::unix::process::CommandExt::gid(&mut c, gid);
    let (code, out, err) = run(c.env("HOME", "/nonexistent").args(["build", "-j", "2"]));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let log = std::fs::read_to_string(t.path().join("build/hello.x86_64/build.log")).unwrap();
    assert!(log.contains("hello, yoe"), "{log}");
    let meta = std::fs::metadata(t.path().join("build/hello.x86_64/destdir/usr/bin/hello")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), uid, "outputs belong to the user who ran yoe");
}

fn bwrap_pids_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(marker) {
            out.push(pid);
        }
    }
    out
}

fn kill_during_build(signal: i32) {
    let marker = format!("yoe-kill-marker-{}-{signal}", std::process::id());
    let text = format!("unit(name = \"slow\", tasks = [task(\"t\", steps = [\"echo {marker}; sleep 300\"])])\n");
    let f = Fixture::new(&[("PROJECT.star", PROJECT), ("units/u.star", &text)]);
    let mut child = yoe(&f.root()).arg("build").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while bwrap_pids_with(&marker).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the step never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = Command::new("/bin/kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    assert!(st.success());
    let _ = child.wait();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = bwrap_pids_with(&marker);
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "processes left after signal {signal}: {left:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn ctrl_c_and_kill_of_yoe_leave_no_sandbox_behind() {
    kill_during_build(2); // SIGINT, as Ctrl-C sends
    kill_during_build(15); // SIGTERM, as kill sends
}

#[test]
fn image_ext4_verb_writes_a_clean_filesystem_from_a_directory() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/issue"), "yoe\n").unwrap();
    let img = t.path().join("x.ext4");
    let (code, out, err) = run(yoe(t.path())
        .args(["image", "ext4", "--from-dir"])
        .arg(&tree)
        .args(["--owner", "0:0", "--label", "root", "--out"])
        .arg(&img));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("features") && out.contains("metadata_csum"), "{out}");
    let fsck = Command::new("/usr/sbin/e2fsck").arg("-fn").arg(&img).output().unwrap();
    assert!(fsck.status.success());
    // Bad input: a missing directory is an error and leaves nothing behind.
    let (code, _, err) = run(yoe(t.path())
        .args(["image", "ext4", "--from-dir", "/nonexistent-yoe", "--out"])
        .arg(t.path().join("y.ext4")));
    assert_eq!(code, 1, "{err}");
    assert!(!t.path().join("y.ext4").exists());
}

#[test]
fn a_container_unit_is_not_silently_replaced_by_the_host_toolchain() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/u.star",
            "unit(name = \"toolchain\", unit_class = \"container\")\nunit(name = \"app\", container = \"toolchain\", tasks = [task(\"b\", steps = [\"true\"])])\n",
        ),
    ]);
    let (code, _, err) = run(yoe(&f.root()).args(["build", "app"]));
    assert_eq!(code, 1);
    assert!(err.contains("unit \"app\" failed at choosing the toolchain: container \"toolchain\""), "{err}");
}

#[test]
fn a_special_file_in_an_output_fails_the_unit_naming_it() {
    let socket = if Path::new("/usr/bin/python3").exists() {
        r#"python3 -c 'import socket,os; socket.socket(socket.AF_UNIX).bind(os.environ["DESTDIR"] + "/run/sock")'"#
    } else {
        "mkfifo $DESTDIR/run/sock"
    };
    let units = format!(
        "unit(name = \"fifo\", tasks = [task(\"b\", steps = [\"mkdir -p $DESTDIR/run && mkfifo $DESTDIR/run/fifo\"])])\n\
         unit(name = \"sock\", tasks = [task(\"b\", steps = [\"mkdir -p $DESTDIR/run\", {socket:?}])])\n"
    );
    let f = Fixture::new(&[("PROJECT.star", PROJECT), ("units/u.star", &units)]);
    let (code, out, err) = run(yoe(&f.root()).args(["build", "-j", "1", "--keep-going"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(
            "unit \"fifo\" failed at checking the output: output build/fifo.x86_64/destdir/run/fifo is a fifo; \
             special files are not allowed in outputs"
        ),
        "{err}"
    );
    assert!(err.contains("output build/sock.x86_64/destdir/run/sock is a "), "{err}");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.root().join("build/fifo.x86_64/build.json")).unwrap()).unwrap();
    assert_eq!(rec["status"], "failed");
}

#[test]
fn whatever_a_previous_build_left_is_reset_without_help() {
    // A 2,500-deep tree (deeper than PATH_MAX as one path), locked dirs and links out.
    let hostile = "unit(name = \"h\", tasks = [task(\"b\", steps = [\
        \"cd $DESTDIR && mkdir -p $(printf 'd/%.0s' $(seq 2500))\", \
        \"mkdir -p $SRCDIR/locked/inner && chmod 000 $SRCDIR/locked/inner && chmod 500 $SRCDIR/locked\", \
        \"ln -s /etc $HOME/etc && ln -s / $DESTDIR/root\"])])\n";
    let f = Fixture::new(&[("PROJECT.star", PROJECT), ("units/u.star", hostile)]);
    std::fs::set_permissions(f.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out, err) = run(yoe(&f.root()).args(["build", "-j", "1"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("unit \"h\" failed at checking the output: output build/h.x86_64/destdir/"), "{err}");
    assert!(err.contains("is more than 256 directory levels deep"), "{err}");
    f.write("units/u.star", "unit(name = \"h\", tasks = [task(\"b\", steps = [\"touch $DESTDIR/ok\"])])\n");
    let (code, out, err) = run(yoe(&f.root()).args(["build", "-j", "1"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let dd = f.root().join("build/h.x86_64/destdir");
    let names: Vec<_> = std::fs::read_dir(&dd).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["ok"]);
    assert!(!f.root().join("build/h.x86_64/src/locked").exists());
    assert!(Path::new("/etc/passwd").exists());
}

#[test]
fn a_record_of_an_older_digest_is_rebuilt_not_misread() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        ("units/u.star", "unit(name = \"u\", tasks = [task(\"b\", steps = [\"touch $DESTDIR/ok\"])])\n"),
    ]);
    std::fs::set_permissions(f.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out, err) = run(yoe(&f.root()).args(["build"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let rec_path = f.root().join("build/u.x86_64/build.json");
    let mut rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec_path).unwrap()).unwrap();
    assert!(rec["output_digest"].as_str().unwrap().starts_with("yoe-output-v2:"), "{rec}");
    let (_, out, _) = run(yoe(&f.root()).args(["build"]));
    assert!(out.lines().any(|l| l.starts_with("cached") && l.contains('u')), "{out}");
    // What an older yoe wrote: the treehash of the destdir under another name.
    let o = rec.as_object_mut().unwrap();
    o.remove("output_digest");
    o.insert(
        "output_sha256".into(),
        yoe::treehash::tree_sha256(&f.root().join("build/u.x86_64/destdir"), &[]).unwrap().into(),
    );
    std::fs::write(&rec_path, serde_json::to_vec(&rec).unwrap()).unwrap();
    let (code, out, err) = run(yoe(&f.root()).args(["build"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("u: the cached output was recorded without a yoe-output-v2 digest"), "{err}");
    assert!(out.lines().any(|l| l.starts_with("built") && l.contains('u')), "{out}");
}

#[test]
fn dir_size_mb_counts_beneath_destdir_without_following() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/u.star",
            r#"def _prep():
    run("mkdir -p $DESTDIR/d && head -c 3145728 /dev/zero > $DESTDIR/d/f && truncate -s 1G $DESTDIR/d/sparse && ln -s / $DESTDIR/root && ln -s / $DESTDIR/d/root")

def _size():
    _prep()
    run("echo %d > $DESTDIR/mb.txt" % dir_size_mb("d/"))

def _link():
    _prep()
    dir_size_mb("root")

unit(name = "size", tasks = [task("build", fn = _size)])
unit(name = "link", tasks = [task("build", fn = _link)])
"#,
        ),
    ]);
    let (code, out, err) = run(yoe(&f.root()).args(["build", "-j", "1", "--keep-going"]));
    assert_eq!(code, 1, "{out}\n{err}");
    let mb = std::fs::read_to_string(f.root().join("build/size.x86_64/destdir/mb.txt")).unwrap();
    assert_eq!(
        mb, "1027\n",
        "3 MiB of data and a 1 GiB sparse file, by apparent size; the symlink to / counts nothing"
    );
    assert!(err.contains("dir_size_mb(): ") && err.contains("destdir/root is a symlink"), "{err}");
}
