//! Every deliberate difference from Go yoe and every bad input fails the load with a
//! message that names the file, the line, the call and field, and what was expected.
use crate::support::Fixture;

const PROJECT: &str = "project(name = \"t\", version = \"0.1.0\")\n";

fn err_with(files: &[(&str, &str)]) -> String {
    let mut all = vec![("PROJECT.star", PROJECT)];
    all.extend_from_slice(files);
    Fixture::new(&all).load_err()
}

fn assert_has(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "missing {p:?} in:\n{err}");
    }
}

#[test]
fn literal_host_true_in_a_class_is_refused_with_location() {
    let err = err_with(&[
        (
            "classes/container.star",
            "def container(name):\n    def build():\n        run(\"docker build .\", host = True)\n    unit(name = name, tasks = [task(\"b\", fn = build)])\n",
        ),
        ("units/u.star", "load(\"//classes/container.star\", \"container\")\ncontainer(\"c\")\n"),
    ]);
    assert_has(
        &err,
        &["run(host=True) is refused", "classes/container.star:3:31", "run(\"docker build .\", host = True)", "^^^^"],
    );
}

#[test]
fn literal_privileged_true_anywhere_is_refused_even_if_never_called() {
    let err = err_with(&[("units/u.star", "def never():\n    run(\"mkfs.ext4 x\", privileged=True)\n")]);
    assert_has(&err, &["run(privileged=True) is refused", "units/u.star:2:24"]);
}

#[test]
fn commands_star_is_refused_in_project_and_modules() {
    let err =
        err_with(&[("commands/deploy.star", "command(name = \"deploy\")\ndef run(ctx):\n    ctx.shell(\"scp\")\n")]);
    assert_has(&err, &["commands/deploy.star", "custom commands (commands/*.star) are refused", "ctx.shell()"]);

    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"0.1.0\", modules = [module(\"u\", local = \"m\")])\n"),
        ("m/MODULE.star", "module_info(name = \"m\")\n"),
        ("m/commands/x.star", "command(name = \"x\")\n"),
    ]);
    assert_has(&f.load_err(), &["m/commands/x.star", "refused"]);
}

#[test]
fn external_container_image_is_refused() {
    let err = err_with(&[("units/g.star", "\nunit(name = \"g\", version = \"1\", container = \"golang:1.26\")\n")]);
    assert_has(
        &err,
        &["units/g.star:2:1", "unit(\"g\"): field `container` names the external container image \"golang:1.26\""],
    );
    let err = err_with(&[(
        "units/g.star",
        "unit(name = \"g\", tasks = [task(\"b\", container = \"docker.io/x\", steps = [\"true\"])])\n",
    )]);
    assert_has(&err, &["units/g.star:1:1", "tasks[\"b\"].container", "docker.io/x"]);
}

#[test]
fn unknown_kwarg_on_project() {
    let f = Fixture::new(&[("PROJECT.star", "project(\n    name = \"t\",\n    verison = \"0.1\",\n)\n")]);
    assert_has(
        &f.load_err(),
        &["PROJECT.star:1:1", "project(\"t\"): unknown field `verison` (did you mean `version`?)"],
    );
}

#[test]
fn description_is_a_known_project_field() {
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"0.1\", description = \"d\")\n")]);
    assert_eq!(f.load_ok().project.decl.description, "d");
}

#[test]
fn unknown_kwarg_on_machine() {
    let err =
        err_with(&[("machines/m.star", "\n\nmachine(name = \"m\", arch = \"arm64\", bootloader = \"u-boot\")\n")]);
    assert_has(&err, &["machines/m.star:3:1", "machine(\"m\"): unknown field `bootloader`"]);
}

#[test]
fn unknown_kwarg_on_module() {
    let f = Fixture::new(&[(
        "PROJECT.star",
        "project(name = \"t\", version = \"0.1\",\n    modules = [module(\"https://x/m.git\", refs = \"main\")])\n",
    )]);
    assert_has(
        &f.load_err(),
        &["PROJECT.star:2:16", "module(\"https://x/m.git\"): unknown field `refs` (did you mean `ref`?)"],
    );
}

#[test]
fn unknown_kwarg_on_defaults() {
    let f = Fixture::new(&[(
        "PROJECT.star",
        "project(name = \"t\", version = \"0.1\", defaults = defaults(machnie = \"x\"))\n",
    )]);
    assert_has(&f.load_err(), &["PROJECT.star:1:49", "defaults(): unknown field `machnie` (did you mean `machine`?)"]);
}

#[test]
fn unknown_kwarg_on_partition() {
    let err = err_with(&[(
        "machines/m.star",
        "machine(name = \"m\", arch = \"arm64\",\n    partitions = [partition(label = \"boot\", type = \"vfat\", size = \"64M\", bootable = True)])\n",
    )]);
    assert_has(&err, &["machines/m.star:2:19", "partition(\"boot\"): unknown field `bootable`"]);
}

#[test]
fn unknown_kwarg_on_kernel() {
    let err = err_with(&[(
        "machines/m.star",
        "machine(name = \"m\", arch = \"arm64\", kernel = kernel(unit = \"linux\", dtb = \"x.dtb\"))\n",
    )]);
    assert_has(&err, &["machines/m.star:1:46", "kernel(): unknown field `dtb`"]);
}

#[test]
fn wrong_type_for_typed_unit_fields() {
    let cases = [
        ("deps = \"zlib\"", "field `deps` expected a list of strings, got string \"zlib\""),
        ("version = 3", "field `version` expected a string, got int 3"),
        ("release = \"1\"", "field `release` expected an int, got string \"1\""),
        ("environment = {\"A\": 1}", "field `environment` expected a dict of string to string, got int 1"),
        ("sandbox = \"yes\"", "field `sandbox` expected a bool (True or False)"),
        ("tasks = [\"make\"]", "field `tasks` expected a list of task(...) values, got string \"make\""),
        ("scope = \"board\"", "field `scope` must be \"arch\", \"machine\" or \"noarch\""),
        ("commit = \"abc\"", "field `commit` must be a full 40-character"),
    ];
    for (kw, expected) in cases {
        let text = format!("\nunit(name = \"x\", {kw})\n");
        let err = err_with(&[("units/x.star", &text)]);
        assert_has(&err, &["units/x.star:2:1", "unit(\"x\")", expected]);
    }
}

#[test]
fn invalid_machine_arch() {
    let err = err_with(&[("machines/bad.star", "machine(name = \"bad\", arch = \"mips\")\n")]);
    assert_has(
        &err,
        &[
            "machines/bad.star:1:1",
            "machine(\"bad\"): field `arch` must be one of arm64, riscv64, x86_64, got \"mips\"",
        ],
    );
}

#[test]
fn load_label_escaping_the_project_is_refused() {
    let err = err_with(&[("units/u.star", "\nload(\"../../../etc/passwd.star\", \"x\")\n")]);
    assert_has(&err, &["units/u.star:2:1", "outside its project root"]);
}

#[test]
fn load_label_escaping_a_module_is_refused() {
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"0.1\", modules = [module(\"u\", local = \"mods/a\")])\n"),
        ("classes/p.star", "X = 1\n"),
        ("mods/a/MODULE.star", "module_info(name = \"a\")\n"),
        ("mods/a/units/u.star", "load(\"../../../classes/p.star\", \"X\")\n"),
    ]);
    assert_has(&f.load_err(), &["mods/a/units/u.star:1:1", "outside its module root"]);
}

#[test]
fn symlinked_load_target_outside_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.star"), "X = 1\n").unwrap();
    let f = Fixture::new(&[("PROJECT.star", PROJECT), ("units/u.star", "load(\"//classes/evil.star\", \"X\")\n")]);
    std::fs::create_dir_all(f.root().join("classes")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("evil.star"), f.root().join("classes/evil.star")).unwrap();
    assert_has(&f.load_err(), &["units/u.star:1:1", "outside its project root"]);
}

#[test]
fn local_module_outside_the_project_is_refused() {
    let f = Fixture::new(&[(
        "PROJECT.star",
        "project(name = \"t\", version = \"0.1\",\n    modules = [module(\"u\", local = \"../elsewhere\")])\n",
    )]);
    assert_has(&f.load_err(), &["PROJECT.star:1:1", "local=\"../elsewhere\"", "outside its project root"]);
}

#[test]
fn install_file_source_escaping_by_symlink_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/u.star",
            "unit(name = \"u\", tasks = [task(\"i\", steps = [install_file(\"link\", \"$DESTDIR/etc/x\")])])\n",
        ),
    ]);
    std::fs::create_dir_all(f.root().join("units/u")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), f.root().join("units/u/link")).unwrap();
    assert_has(&f.load_err(), &["units/u.star:1:", "install_file(\"link\", ...)", "outside its project root"]);
    let err = err_with(&[("units/u.star", "install_file(\"../../etc/shadow\", \"$DESTDIR/x\")\n")]);
    assert_has(&err, &["units/u.star:1:1", "relative path inside"]);
}

#[test]
fn remote_module_not_available_names_it_and_how_to_get_it() {
    let f = Fixture::new(&[(
        "PROJECT.star",
        "project(name = \"t\", version = \"0.1\",\n    modules = [module(\"https://github.com/yoebuild/module-alpine.git\", ref = \"3.21\")])\n",
    )]);
    assert_has(
        &f.load_err(),
        &["PROJECT.star:1:1", "module \"module-alpine\"", "not available locally", "yoe module sync"],
    );
}

#[test]
fn load_cycle_is_printed() {
    let err = err_with(&[
        ("classes/a.star", "load(\"b.star\", \"B\")\nA = 1\n"),
        ("classes/b.star", "load(\"a.star\", \"A\")\nB = 1\n"),
        ("units/u.star", "load(\"//classes/a.star\", \"A\")\n"),
    ]);
    assert_has(&err, &["load cycle: units/u.star → classes/a.star → classes/b.star → classes/a.star"]);
}

#[test]
fn project_must_be_called_once() {
    let f = Fixture::new(&[("PROJECT.star", "x = 1\n")]);
    assert_has(&f.load_err(), &["PROJECT.star did not call project()"]);
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"a\")\nproject(name = \"b\")\n")]);
    assert_has(&f.load_err(), &["PROJECT.star:2:1", "project() called more than once"]);
}

#[test]
fn duplicate_unit_in_one_source_names_the_first_definition() {
    let err = err_with(&[("units/a.star", "unit(name = \"x\")\n"), ("units/b.star", "\nunit(name = \"x\")\n")]);
    assert_has(&err, &["units/b.star:2:1", "unit \"x\" is already defined at units/a.star:1:1"]);
}

#[test]
fn syntax_error_names_file_and_line() {
    let err = err_with(&[("units/a.star", "unit(name = \"x\"\n")]);
    assert_has(&err, &["units/a.star:"]);
}

#[test]
fn top_level_if_is_rejected_like_go_yoe() {
    let err = err_with(&[("units/a.star", "if True:\n    unit(name = \"x\")\n")]);
    assert_has(&err, &["units/a.star:1"]);
}

#[test]
fn graph_cycle_and_missing_dep() {
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        (
            "units/a.star",
            "unit(name = \"a\", deps = [\"b\"])\nunit(name = \"b\", deps = [\"c\"])\nunit(name = \"c\", deps = [\"a\"])\n",
        ),
    ]);
    let p = f.load_ok().project;
    let e = yoe::graph::Graph::build(&p).unwrap_err().to_string();
    assert_eq!(e, "dependency cycle: a → b → c → a");
    let f = Fixture::new(&[
        ("PROJECT.star", PROJECT),
        ("units/a.star", "unit(name = \"app\", deps = [\"libgret\"])\nunit(name = \"libgreet\")\n"),
    ]);
    let e = yoe::graph::Graph::build(&f.load_ok().project).unwrap_err().to_string();
    assert_eq!(
        e,
        "unit \"app\" depends on \"libgret\", which does not exist (no unit or provider of that name; did you mean \"libgreet\"?)"
    );
}
