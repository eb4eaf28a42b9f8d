//! Declared names are identifiers: every name of the Go yoe's core module and testdata
//! stays valid, and every name that could become another path, an option or a line of
//! output is refused at load with file:line:col, in every verb that loads.
use crate::support::{Fixture, yoe_bin, yoe_in};
use yoe::model::{Ident, NameKind};

fn kind(k: &str) -> NameKind {
    match k {
        "unit" => NameKind::Unit,
        "class" => NameKind::Class,
        "version" => NameKind::Version,
        "distro" => NameKind::Distro,
        "label" => NameKind::PartitionLabel,
        "machine" => NameKind::Machine,
        "task" => NameKind::Task,
        "service" => NameKind::Service,
        "reference" => NameKind::Reference,
        other => panic!("unknown kind {other} in go-yoe-names.txt"),
    }
}

#[test]
fn every_name_of_the_go_yoe_core_module_and_testdata_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/go-yoe-names.txt"))
        .expect("names fixture");
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (k, v) = line.split_once(' ').expect("kind value");
        if let Err(e) = Ident::new(kind(k), v) {
            panic!("{line}: {e}");
        }
        n += 1;
    }
    assert!(n >= 200, "only {n} names");
}

const PROJECT: &str = "project(name = \"t\", version = \"0.1.0\")\n";

/// A hostile declaration and the text the error must show.
struct Case {
    what: &'static str,
    file: &'static str,
    text: &'static str,
    /// `file:line:col` of the refused value.
    at: &'static str,
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        what: "parent dir in a unit name",
        file: "units/a.star",
        text: "unit(name = \"../../victim\")\n",
        at: "units/a.star:1:13",
        message: "unit name \"../../victim\" is not a valid name",
    },
    Case {
        what: "absolute unit name",
        file: "units/a.star",
        text: "\nunit(\n    name = \"/root\",\n)\n",
        at: "units/a.star:3:12",
        message: "unit name \"/root\" is not a valid name",
    },
    Case {
        what: "newline forging a result line",
        file: "units/a.star",
        text: "unit(name = \"a\\nbuilt    zlib                     build/zlib.x86_64/destdir\")\n",
        at: "units/a.star:1:13",
        message: "control character \\n",
    },
    Case {
        what: "terminal escape",
        file: "units/a.star",
        text: "unit(name = \"a\\x1b]52;c;cHduZWQ=\\x07\")\n",
        at: "units/a.star:1:13",
        message: "control character \\u{1b}",
    },
    Case {
        what: "./ prefix (same dir as another name)",
        file: "units/a.star",
        text: "unit(name = \"a\")\nunit(name = \"./a\")\n",
        at: "units/a.star:2:13",
        message: "unit name \"./a\" is not a valid name",
    },
    Case {
        what: "machine name with a slash",
        file: "machines/m.star",
        text: "machine(name = \"../../m\", arch = \"x86_64\")\n",
        at: "machines/m.star:1:16",
        message: "machine name \"../../m\" is not a valid name",
    },
    Case {
        what: "partition label with a slash",
        file: "machines/m.star",
        text: "machine(name = \"m\", arch = \"x86_64\", partitions = [partition(label = \"../../x\", type = \"ext4\")])\n",
        at: "machines/m.star:1:70",
        message: "partition label \"../../x\" is not a valid name",
    },
    Case {
        what: "task name starting with -",
        file: "units/a.star",
        text: "unit(name = \"a\", tasks = [task(\"-rf\", steps = [\"true\"])])\n",
        at: "units/a.star:1:1",
        message: "task name \"-rf\" is not a valid name",
    },
    Case {
        what: "a dep with a slash",
        file: "units/a.star",
        text: "unit(name = \"a\", deps = [\"b\", \"../b\"])\n",
        at: "units/a.star:1:31",
        message: "field `deps[1]`",
    },
    Case {
        what: "a name through a class",
        file: "units/a.star",
        text: "load(\"//classes/c.star\", \"c\")\nc(name = \"../units/helper\")\n",
        at: "units/a.star:2:10",
        message: "unit name \"../units/helper\" is not a valid name",
    },
    Case {
        what: "an overlong name",
        file: "units/a.star",
        text: "unit(name = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\")\n",
        at: "units/a.star:1:13",
        message: "more than 128",
    },
];

fn fixture(c: &Case) -> Fixture {
    Fixture::new(&[
        ("PROJECT.star", PROJECT),
        ("classes/c.star", "def c(name, **kw):\n    unit(name = name, **kw)\n"),
        (c.file, c.text),
    ])
}

#[test]
fn hostile_names_are_refused_at_load_with_their_location() {
    for c in CASES {
        let err = fixture(c).load_err();
        assert!(err.contains(c.at), "{}: no location {} in:\n{err}", c.what, c.at);
        assert!(err.contains(c.message), "{}: no {:?} in:\n{err}", c.what, c.message);
        assert!(!err.contains('\u{1b}'), "{}: a raw escape reached the message", c.what);
    }
}

#[test]
fn every_verb_that_loads_refuses_them_and_writes_nothing() {
    for c in CASES {
        let f = fixture(c);
        for args in [&["graph"][..], &["build", "--dry-run"], &["build", "-j", "1"], &["desc", "a"]] {
            let (code, stdout, stderr) = yoe_in(&f, args);
            assert_eq!(code, Some(1), "{} / {args:?}: {stderr}", c.what);
            assert!(stderr.contains(c.at), "{} / {args:?}: no {} in {stderr}", c.what, c.at);
            assert!(!stderr.contains('\u{1b}') && !stdout.contains('\u{1b}'));
            assert!(!f.root().join("build").exists(), "{} / {args:?}: a build dir was made", c.what);
        }
    }
}

#[test]
fn command_line_names_are_checked_too() {
    let f =
        Fixture::new(&[("PROJECT.star", PROJECT), ("machines/m.star", "machine(name = \"m\", arch = \"x86_64\")\n")]);
    let out = std::process::Command::new(yoe_bin())
        .args(["--project".as_ref(), f.root().as_os_str()])
        .args(["--machine", "../../etc", "graph"])
        .output()
        .expect("run yoe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--machine: machine name \"../../etc\" is not a valid name"), "{stderr}");
}

#[test]
fn a_module_without_a_valid_name_is_refused() {
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"1\", modules = [module(local = \"mods/.hidden\")])\n"),
        ("mods/.hidden/units/u.star", "unit(name = \"u\")\n"),
    ]);
    let err = f.load_err();
    assert!(err.contains("module name \".hidden\" is not a valid name"), "{err}");
    assert!(err.contains("module_info(name=...)"), "{err}");
}
