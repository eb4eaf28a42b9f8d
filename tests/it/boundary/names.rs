//! Names that would be host paths under Go yoe's `build/<name>.<scope>/` and
//! `<dir>/<name>/`: an absolute unit name, one that climbs out of `build/` onto the canary,
//! a machine name that does the same for machine-scoped units, and a module's unit that
//! would land in the project's `units/`. Each is refused at load; nothing is written.
use super::{World, identities};

const PROJECT: &str = "project(name = \"n\", version = \"1\")\n";

#[test]
fn names_that_are_paths_touch_nothing() {
    let cases: &[&[(&str, &str)]] = &[
        &[("PROJECT.star", PROJECT), ("units/u.star", "unit(name = \"@CANARY@\")\n")],
        &[("PROJECT.star", PROJECT), ("units/u.star", "unit(name = \"../../canary/sub\")\n")],
        &[
            (
                "PROJECT.star",
                "project(name = \"n\", version = \"1\", defaults = defaults(machine = \"../../canary\"))\n",
            ),
            ("units/u.star", "unit(name = \"x\", scope = \"machine\")\n"),
        ],
        &[
            ("PROJECT.star", PROJECT),
            ("machines/m.star", "machine(name = \"../../canary\", arch = \"x86_64\")\n"),
            ("units/u.star", "unit(name = \"x\", scope = \"machine\")\n"),
        ],
        &[
            ("PROJECT.star", "project(name = \"n\", version = \"1\", modules = [module(local = \"mods/m\")])\n"),
            ("mods/m/MODULE.star", "module_info(name = \"m\")\n"),
            (
                "mods/m/units/u.star",
                "unit(name = \"../units/helper\", tasks = [task(\"b\", steps = [\"echo 'unit(name=\\\"evil\\\")' > $DESTDIR/x\"])])\n",
            ),
        ],
    ];
    for who in identities() {
        for files in cases {
            let text = files.last().map(|f| f.1).unwrap_or_default();
            let w = World::new(who, files);
            for args in [&["build", "-j", "1"][..], &["graph"], &["audit"]] {
                let r = w.yoe(args);
                assert_ne!(r.code(), Some(0), "[{}] {text} / {args:?} must fail: {}", who.label(), r.stderr());
                assert!(
                    r.stderr().contains("is not a valid name") || r.stdout().contains("is not a valid name"),
                    "[{}] {text} / {args:?}: {}{}",
                    who.label(),
                    r.stdout(),
                    r.stderr()
                );
                assert!(!w.project.join("build").exists(), "[{}] {text}: a build dir appeared", who.label());
                w.assert_intact(&format!("{text} / {args:?}"));
            }
            assert!(!w.project.join("units/helper").exists() && !w.project.join("mods/m/units/helper").exists());
        }
    }
}

#[test]
fn a_files_dir_that_is_a_symlink_is_refused_not_copied() {
    for who in identities() {
        let w = World::new(
            who,
            &[
                ("PROJECT.star", PROJECT),
                ("units/foo.star", "unit(name = \"foo\", tasks = [task(\"b\", steps = [\"cp -r . $DESTDIR/\"])])\n"),
            ],
        );
        std::os::unix::fs::symlink(&w.canary, w.project.join("units/foo")).expect("symlink");
        let r = w.yoe(&["build", "-j", "1"]);
        assert_ne!(r.code(), Some(0), "[{}] {}", who.label(), r.stderr());
        assert!(r.stderr().contains("files directory must be a real directory"), "[{}] {}", who.label(), r.stderr());
        assert!(!w.unit_dir("foo").join("src/keep").exists() && !w.unit_dir("foo").join("destdir/keep").exists());
        w.assert_intact("a symlinked files dir");
    }
}
