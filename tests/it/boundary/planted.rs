//! Symlinks and special files a step plants in the directories yoe works on after the step:
//! the destdir (install steps, the output digest, the copies into sysroots and rootfs), the
//! home and src (reset on the next build), and a dependency's output copied into an image
//! whose hostname yoe writes. yoe must copy links as links, never write, read, chmod or
//! delete through them, and refuse special files in outputs without opening them.
use super::{PROJECT, World, identities, machine};

#[test]
fn planted_links_in_outputs_are_copied_as_links_never_followed() {
    let units = r#"
unit(name = "plant", tasks = [task("build", steps = [
    "mkdir -p $DESTDIR/usr/lib && echo real > $DESTDIR/usr/lib/real && ln -s @SECRET@ $DESTDIR/usr/lib/secret && ln -s @CANARY@ $DESTDIR/usr/share && ln -s @CANARY@/keep $DESTDIR/keep",
    "echo x > $DESTDIR/hard && ln $DESTDIR/hard $DESTDIR/hard2",
])])
unit(name = "user", deps = ["plant"], tasks = [task("build", steps = [
    "test -L /build/sysroot/usr/lib/secret && test -L /build/sysroot/usr/share && cat /build/sysroot/usr/lib/real > $DESTDIR/seen",
])])
image(name = "img", artifacts = ["plant", "user"])
"#;
    for who in identities() {
        let w = World::new(
            who,
            &[("PROJECT.star", PROJECT), ("machines/m.star", &machine("64M")), ("units/u.star", units)],
        );
        let r = w.yoe(&["--json", "build", "-j", "2"]);
        for u in ["plant", "user", "img"] {
            assert_eq!(r.outcome(u).as_deref(), Some("built"), "[{}] {u}: {}", who.label(), r.stderr());
        }
        let rootfs = w.unit_dir("img").join("destdir/rootfs");
        for l in ["usr/lib/secret", "usr/share", "keep"] {
            let m = std::fs::symlink_metadata(rootfs.join(l)).expect("in the rootfs");
            assert!(m.file_type().is_symlink(), "[{}] {l} must stay a symlink in the rootfs", who.label());
        }
        assert_eq!(std::fs::read_to_string(rootfs.join("hard2")).unwrap(), "x\n", "hard links are copied as files");
        w.assert_intact("after a build with planted links");
        // A forced rebuild resets every build dir: the links are removed, not followed.
        let r = w.yoe(&["--json", "build", "--force", "-j", "2"]);
        assert_eq!(r.outcome("img").as_deref(), Some("built"), "[{}] {}", who.label(), r.stderr());
        w.assert_intact("after a forced rebuild");
    }
}

#[test]
fn an_install_step_never_writes_through_a_planted_link() {
    let units = r#"
unit(name = "inst", tasks = [task("build", steps = [
    "ln -s @CANARY@ $DESTDIR/etc && mkdir -p $DESTDIR/usr && ln -s @CANARY@/keep $DESTDIR/usr/motd",
    install_file("motd", "$DESTDIR/etc/motd"),
])])
unit(name = "inst2", tasks = [task("build", steps = [
    "mkdir -p $DESTDIR/usr && ln -s @CANARY@/keep $DESTDIR/usr/motd && ln -s @CANARY@/sub $DESTDIR/usr/sub",
    install_file("motd", "$DESTDIR/usr/motd"),
    install_file("motd", "$DESTDIR/usr/sub/deeper/motd"),
])])
"#;
    for who in identities() {
        let w = World::new(
            who,
            &[
                ("PROJECT.star", PROJECT),
                ("machines/m.star", &machine("64M")),
                ("units/u.star", units),
                ("units/u/motd", "hello\n"),
            ],
        );
        let r = w.yoe(&["--json", "build", "--keep-going", "-j", "1", "inst", "inst2"]);
        assert_eq!(r.outcome("inst").as_deref(), Some("failed"), "[{}] {}", who.label(), r.stderr());
        assert!(r.stderr().contains("symlink"), "[{}] the error names the link: {}", who.label(), r.stderr());
        // A link in the final component is replaced, not written through; a link in a parent
        // fails the step.
        assert_eq!(r.outcome("inst2").as_deref(), Some("failed"), "[{}] {}", who.label(), r.stderr());
        let motd = w.unit_dir("inst2").join("destdir/usr/motd");
        assert_eq!(std::fs::read_to_string(&motd).unwrap(), "hello\n");
        assert!(!motd.symlink_metadata().unwrap().file_type().is_symlink());
        w.assert_intact("after install steps aimed through planted links");
    }
}

#[test]
fn a_planted_etc_link_stops_the_image_not_the_host() {
    let units = r#"
unit(name = "etc-link", tasks = [task("build", steps = ["ln -s @CANARY@ $DESTDIR/etc"])])
image(name = "img", artifacts = ["etc-link"], hostname = "pwned", timezone = "UTC")
"#;
    for who in identities() {
        let w = World::new(
            who,
            &[("PROJECT.star", PROJECT), ("machines/m.star", &machine("64M")), ("units/u.star", units)],
        );
        let r = w.yoe(&["--json", "build", "-j", "1"]);
        assert_eq!(r.outcome("img").as_deref(), Some("failed"), "[{}] {}", who.label(), r.stderr());
        assert!(r.stderr().contains("etc"), "[{}] {}", who.label(), r.stderr());
        assert!(!w.canary.join("hostname").exists() && !w.canary.join("timezone").exists());
        w.assert_intact("after an image over a planted etc link");
    }
}

#[test]
fn special_files_in_an_output_fail_the_unit_without_being_opened() {
    let units = r#"
unit(name = "fifo", tasks = [task("build", steps = ["mkdir -p $DESTDIR/run && mkfifo $DESTDIR/run/pipe"])])
unit(name = "sock", tasks = [task("build", steps = ["python3 -c 'import socket,os; s=socket.socket(socket.AF_UNIX); s.bind(os.environ[\"DESTDIR\"]+\"/sock\")'"])])
unit(name = "elsewhere", tasks = [task("build", steps = ["mkfifo $HOME/pipe && mkfifo ./pipe && echo ok > $DESTDIR/ok"])])
"#;
    for who in identities() {
        let w = World::new(
            who,
            &[("PROJECT.star", PROJECT), ("machines/m.star", &machine("64M")), ("units/u.star", units)],
        );
        let r = w.yoe(&["--json", "build", "--keep-going", "-j", "2"]);
        assert_eq!(r.outcome("fifo").as_deref(), Some("failed"), "[{}] {}", who.label(), r.stderr());
        assert!(r.stderr().contains("run/pipe") && r.stderr().contains("fifo"), "[{}] {}", who.label(), r.stderr());
        if std::path::Path::new("/usr/bin/python3").exists() {
            assert_eq!(r.outcome("sock").as_deref(), Some("failed"), "[{}] {}", who.label(), r.stderr());
            assert!(r.stderr().contains("socket"), "[{}] {}", who.label(), r.stderr());
        }
        // Fifos in home and src are not outputs: the unit builds, and the next build's
        // reset removes them.
        assert_eq!(r.outcome("elsewhere").as_deref(), Some("built"), "[{}] {}", who.label(), r.stderr());
        let r = w.yoe(&["--json", "build", "--force", "--keep-going", "-j", "2", "elsewhere"]);
        assert_eq!(r.outcome("elsewhere").as_deref(), Some("built"), "[{}] {}", who.label(), r.stderr());
        // `yoe audit --outputs` reads the same trees and must not block on the fifo either.
        let build = w.project.join("build");
        let r = w.yoe(&["audit", "--outputs", build.to_str().unwrap()]);
        assert!(r.code().is_some(), "audit ended");
        w.assert_intact("after special files in outputs");
    }
}

#[test]
fn read_only_and_unreadable_build_dirs_are_reset() {
    let units = r#"
unit(name = "ro", tasks = [task("build", steps = [
    "mkdir -p $DESTDIR/ro/x $DESTDIR/none/y && echo a > $DESTDIR/ro/x/f && chmod 0500 $DESTDIR/ro/x && chmod 0 $DESTDIR/none && chmod 0555 $HOME",
])])
"#;
    for who in identities() {
        let w = World::new(
            who,
            &[("PROJECT.star", PROJECT), ("machines/m.star", &machine("64M")), ("units/u.star", units)],
        );
        let r = w.yoe(&["--json", "build", "-j", "1"]);
        assert!(r.outcome("ro").is_some(), "[{}] {}", who.label(), r.stderr());
        let r = w.yoe(&["--json", "build", "--force", "-j", "1"]);
        assert!(
            matches!(r.outcome("ro").as_deref(), Some("built") | Some("failed")),
            "[{}] a second build must get past the reset: {}",
            who.label(),
            r.stderr()
        );
        assert!(!r.stderr().contains("Permission denied"), "[{}] {}", who.label(), r.stderr());
        w.assert_intact("after read-only trees");
    }
}
