//! Loader scenarios recreated from Go yoe's own tests (reference/yoe-format.md §9), plus the
//! behaviours that make yoe-rs differ on purpose.
use std::sync::{Arc, Mutex};

use yoe::model::{PartitionType, Scope, Step};
use yoe::starlark::{BuildHost, RunOutput};

use crate::support::{Fixture, MACHINE};

#[test]
fn minimal_project() {
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"minimal\", version = \"0.0.1\")\n")]);
    let l = f.load_ok();
    assert_eq!(l.project.decl.name, "minimal");
    assert_eq!(l.project.version_str(), "0.0.1");
    assert!(l.project.units.is_empty());
    assert_eq!(l.project.arch, "x86_64", "default arch without a machine, as in Go yoe");
}

/// Go yoe's testdata/valid-project, minus its unsynced remote module (an error here).
#[test]
fn valid_project_with_machines_nested_units_container_and_image() {
    let f = Fixture::new(&[
        (
            "PROJECT.star",
            r#"project(
    name = "test-distro",
    version = "0.1.0",
    description = "Test distribution",
    defaults = defaults(machine = "qemu-x86_64", image = "base-image"),
    cache = cache(path = "/var/cache/yoe/build"),
)
"#,
        ),
        (
            "machines/qemu-x86_64.star",
            r#"machine(name = "qemu-x86_64", arch = "x86_64", description = "QEMU",
    kernel = kernel(unit = "linux", provides = "linux", defconfig = "x86_64_defconfig", cmdline = "console=ttyS0"),
    qemu = qemu_config(machine = "q35", cpu = "host", memory = "1G", firmware = "seabios", display = "none", ports = ["2222:22"]))
"#,
        ),
        (
            "machines/beaglebone-black.star",
            r#"machine(name = "beaglebone-black", arch = "arm64", description = "BeagleBone Black (AM3358)",
    kernel = kernel(unit = "linux-beaglebone", provides = "linux", defconfig = "bb.org_defconfig", cmdline = "console=ttyS0,115200"))
"#,
        ),
        (
            "containers/toolchain-musl.star",
            "unit(name = \"toolchain-musl\", version = \"15\", unit_class = \"container\", scope = \"noarch\")\n",
        ),
        (
            "units/base-image.star",
            r#"image(
    name = "base-image",
    version = "1.0.0",
    description = "Minimal bootable system",
    artifacts = ["openssh", "myapp"],
    container = "toolchain-musl",
    container_arch = "target",
    hostname = "yoe",
    timezone = "UTC",
    services = ["sshd", "myapp"],
    partitions = [
        partition(label="boot", type="vfat", size="64M"),
        partition(label="rootfs", type="ext4", size="fill", root=True),
    ],
)
"#,
        ),
        ("units/libs/testlib.star", "unit(name = \"testlib\", version = \"0.1\")\n"),
        ("units/zlib.star", "unit(name = \"zlib\", version = \"1.3.1\", license = \"Zlib\")\n"),
        (
            "units/openssl.star",
            "unit(name = \"openssl\", version = \"3.4.0\", deps = [\"zlib\"], release = 1, provides = [\"libcrypto3\", \"libssl3\"])\n",
        ),
        (
            "units/openssh.star",
            "unit(name = \"openssh\", version = \"9.9\", deps = [\"openssl\", \"zlib\"], runtime_deps = [\"libcrypto3\"], services = [\"sshd\"])\n",
        ),
        (
            "units/myapp.star",
            r#"unit(name = "myapp", version = "1.2.3", license = "Apache-2.0",
    source = "https://github.com/example/myapp.git", tag = "v1.2.3",
    container = "toolchain-musl", container_arch = "target",
    tasks = [task("build", steps = ["go build -o $DESTDIR/usr/bin/myapp ./cmd/myapp"])],
    services = ["myapp"], conffiles = ["/etc/myapp/config.toml"])
"#,
        ),
    ]);
    let l = f.load_ok();
    let p = &l.project;
    assert_eq!(p.units.len(), 7, "units: {:?}", p.units.keys().collect::<Vec<_>>());
    assert_eq!(p.machines.len(), 2);
    assert_eq!(p.decl.description, "Test distribution");
    assert_eq!(p.decl.cache_path, "/var/cache/yoe/build");
    let m = &p.machines["qemu-x86_64"];
    assert_eq!(m.qemu.as_ref().unwrap().ports, ["2222:22"]);
    assert_eq!(p.provides["linux"], "linux", "machine kernel seeds provides");
    assert_eq!(p.provides["libssl3"], "openssl");
    let img = &p.units["base-image"];
    assert_eq!(img.class, "image");
    assert_eq!(img.partitions.len(), 2);
    assert_eq!(img.partitions[0].kind, PartitionType::Vfat);
    assert!(img.partitions[1].root);
    assert_eq!(p.units["toolchain-musl"].class, "container");
    assert_eq!(p.units["toolchain-musl"].scope, Scope::Noarch);
    assert_eq!(p.units["testlib"].defined_at.file, f.root().join("units/libs/testlib.star"));
    assert_eq!(p.units["openssl"].release, 1);
    let g = yoe::graph::Graph::build(p).unwrap();
    let order = g.order().unwrap();
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(pos("zlib") < pos("openssl") && pos("openssl") < pos("openssh") && pos("openssh") < pos("base-image"));
    assert!(pos("toolchain-musl") < pos("myapp"), "container edge");
}

#[test]
fn provides_conflict_names_both_definitions() {
    let f = Fixture::new(&[
        (
            "PROJECT.star",
            "project(name = \"pc\", version = \"0.1.0\", defaults = defaults(machine = \"qemu-x86_64\"))\n",
        ),
        ("machines/qemu.star", MACHINE),
        ("units/foo.star", "unit(name = \"foo\", version = \"1.0.0\", provides = [\"virtual-pkg\"])\n"),
        ("units/bar.star", "unit(name = \"bar\", version = \"1.0.0\", provides = [\"virtual-pkg\"])\n"),
    ]);
    let err = f.load_err();
    assert!(err.contains("virtual package \"virtual-pkg\""), "{err}");
    assert!(err.contains("units/foo.star:1:1") && err.contains("units/bar.star:1:1"), "{err}");
}

fn two_modules(base_unit: &str, override_unit: &str, project_unit: Option<&str>) -> Fixture {
    let mut files = vec![
        (
            "PROJECT.star",
            r#"project(name = "m", version = "0.1.0", defaults = defaults(machine = "qemu-x86_64"),
    modules = [
        module("https://example.com/base.git", local = "modules/base"),
        module("https://example.com/override.git", local = "modules/override"),
    ])
"#,
        ),
        ("machines/qemu.star", MACHINE),
        ("modules/base/MODULE.star", "module_info(name = \"base\")\n"),
        ("modules/base/units/u.star", base_unit),
        ("modules/override/MODULE.star", "module_info(name = \"override\")\n"),
        ("modules/override/units/u.star", override_unit),
    ];
    if let Some(u) = project_unit {
        files.push(("units/u.star", u));
    }
    Fixture::new(&files)
}

#[test]
fn provides_override_across_module_priorities() {
    let f = two_modules(
        "unit(name = \"base-files\", version = \"1.0.0\")\n",
        "unit(name = \"base-files-custom\", version = \"1.0.0\", provides = [\"base-files\"])\n",
        None,
    );
    let p = f.load_ok().project;
    assert!(p.units.contains_key("base-files") && p.units.contains_key("base-files-custom"));
    assert!(p.units["base-files-custom"].priority > p.units["base-files"].priority);
    assert_eq!(p.provides["base-files"], "base-files-custom");
    assert_eq!(p.unit("base-files").unwrap().name, "base-files-custom", "the virtual wins over the real name");
}

#[test]
fn name_shadowing_later_module_wins() {
    let f = two_modules(
        "unit(name = \"musl\", version = \"1.0.0-base\")\n",
        "unit(name = \"musl\", version = \"2.0.0-override\")\n",
        None,
    );
    let p = f.load_ok().project;
    assert_eq!(p.units["musl"].version_str(), "2.0.0-override");
    assert_eq!(p.units["musl"].module, "override");
    assert_eq!(p.shadows.len(), 1);
    assert_eq!(p.shadows[0].loser_module, "base");
}

#[test]
fn project_units_shadow_module_units() {
    let f = two_modules(
        "unit(name = \"musl\", version = \"1.0.0-base\")\n",
        "unit(name = \"musl\", version = \"2.0.0-override\")\n",
        Some("unit(name = \"musl\", version = \"3.0.0-project\")\n"),
    );
    let p = f.load_ok().project;
    assert_eq!(p.units["musl"].version_str(), "3.0.0-project");
    assert_eq!(p.units["musl"].module, "");
}

#[test]
fn transitive_chain_of_local_modules() {
    let f = Fixture::new(&[
        (
            "PROJECT.star",
            "project(name = \"t\", version = \"0.1.0\", defaults = defaults(machine = \"qemu-x86_64\"),\n    modules = [module(\"https://example.com/a.git\", local = \"modules/a\")])\n",
        ),
        ("machines/qemu.star", MACHINE),
        (
            "modules/a/MODULE.star",
            "module_info(name = \"a\", deps = [module(\"https://example.com/b.git\", local = \"modules/b\")])\n",
        ),
        (
            "modules/b/MODULE.star",
            "module_info(name = \"b\", deps = [module(\"https://example.com/c.git\", local = \"modules/c\")])\n",
        ),
        ("modules/c/MODULE.star", "module_info(name = \"c\")\n"),
        ("modules/c/units/leaf.star", "unit(name = \"leaf\", version = \"1\")\n"),
        ("modules/c/classes/k.star", "def k(name):\n    unit(name = name, version = \"2\")\n"),
        ("modules/a/units/top.star", "load(\"@c//classes/k.star\", \"k\")\nk(\"top\")\n"),
    ]);
    let p = f.load_ok().project;
    let names: Vec<_> = p.modules.iter().map(|m| (m.name.as_str(), m.priority, m.transitive)).collect();
    assert_eq!(names, [("a", 1, false), ("b", 2, true), ("c", 3, true)]);
    assert_eq!(p.units["leaf"].module, "c");
    assert_eq!(p.units["top"].module, "a", "a unit belongs to the module whose file registered it");
}

#[test]
fn module_dependency_cycle_is_printed() {
    let f = Fixture::new(&[
        (
            "PROJECT.star",
            "project(name = \"t\", version = \"0.1.0\", modules = [module(\"https://x/a.git\", local = \"modules/a\")])\n",
        ),
        (
            "modules/a/MODULE.star",
            "module_info(name = \"a\", deps = [module(\"https://x/b.git\", local = \"modules/b\")])\n",
        ),
        (
            "modules/b/MODULE.star",
            "module_info(name = \"b\", deps = [module(\"https://x/a.git\", local = \"modules/a\")])\n",
        ),
    ]);
    let err = f.load_err();
    assert!(err.contains("module dependency cycle: a → b → a"), "{err}");
}

#[test]
fn load_cache_evaluates_a_file_once() {
    // units/b.star loads units/a.star before the walker reaches it: Go yoe evaluated it
    // twice ("already defined"); yoe-rs evaluates each file once.
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"0.1.0\")\n"),
        ("units/a.star", "unit(name = \"late\", version = \"1\")\nVERSION = \"9\"\n"),
        ("units/0first.star", "load(\"a.star\", \"VERSION\")\nunit(name = \"early\", version = VERSION)\n"),
    ]);
    let p = f.load_ok().project;
    assert_eq!(p.units["early"].version_str(), "9");
    assert!(p.units.contains_key("late"));
}

#[test]
fn unit_extra_kwargs_and_class_call_stack() {
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"0.1.0\")\n"),
        (
            "classes/auto.star",
            "def autotools(name, version, configure_args = [], **kw):\n    unit(name = name, version = version, configure_args = configure_args, **kw)\n",
        ),
        (
            "units/zlib.star",
            "load(\"//classes/auto.star\", \"autotools\")\n\nautotools(\"zlib\", \"1.3\", configure_args = [\"--static\"], homepage = \"https://zlib.net\")\n",
        ),
    ]);
    let p = f.load_ok().project;
    let u = &p.units["zlib"];
    assert_eq!(u.extra["configure_args"], serde_json::json!(["--static"]));
    assert_eq!(u.extra["homepage"], serde_json::json!("https://zlib.net"));
    assert_eq!((u.defined_at.line, u.defined_at.file.clone()), (3, f.root().join("units/zlib.star")));
    assert_eq!(u.call_stack.last().unwrap().file, f.root().join("classes/auto.star"));
}

#[test]
fn ctx_is_live_for_class_functions() {
    // The class reads ctx.provides when called from images/, after the provides table is
    // filled, although its file was first loaded from units/.
    let f = Fixture::new(&[
        (
            "PROJECT.star",
            "project(name = \"t\", version = \"0.3.0\", defaults = defaults(machine = \"qemu-x86_64\", distro = \"alpine\"))\n",
        ),
        (
            "machines/qemu.star",
            "machine(name = \"qemu-x86_64\", arch = \"x86_64\", packages = [\"board-fw\"], partitions = [partition(label = \"rootfs\", type = \"ext4\", size = \"1G\", root = True)])\n",
        ),
        (
            "classes/img.star",
            r#"def img(name, artifacts):
    resolved = [ctx.provides.get(a, a) for a in artifacts + ctx.machine_config.packages]
    closure = resolve_closure(resolved, distro = ctx.default_distro)
    unit(name = name, unit_class = "image", version = ctx.project_version, artifacts = closure,
        partitions = list(ctx.machine_config.partitions),
        tasks = [task("rootfs", fn = lambda: run("echo " + " ".join(closure)))])
"#,
        ),
        (
            "units/libs.star",
            "load(\"//classes/img.star\", \"img\")\nunit(name = \"musl\", version = \"1\")\nunit(name = \"busybox\", version = \"1\", runtime_deps = [\"libc\"])\nunit(name = \"musl-provider\", version = \"1\", provides = [\"libc\"], runtime_deps = [\"musl\"])\nunit(name = \"board-fw\", version = \"1\")\n",
        ),
        ("images/i.star", "load(\"//classes/img.star\", \"img\")\nimg(\"my-image\", [\"busybox\"])\n"),
    ]);
    let l = f.load_ok();
    let u = &l.project.units["my-image"];
    assert_eq!(u.version_str(), "0.3.0");
    assert_eq!(u.artifacts, ["board-fw", "musl", "musl-provider", "busybox"]);
    assert_eq!(u.partitions[0].label, "rootfs");

    // The fn step survives the load and runs through the build host.
    let Step::Fn(fr) = &u.tasks[0].steps[0] else { panic!("expected fn step") };
    assert_eq!(fr.source_digest.len(), 64);
    struct Rec(Mutex<Vec<String>>);
    impl BuildHost for Rec {
        fn run(&self, cmd: &str) -> Result<RunOutput, String> {
            self.0.lock().unwrap().push(cmd.to_string());
            Ok(RunOutput { exit_code: 0, stdout: "ok".into(), stderr: String::new() })
        }
        fn dir_size_mb(&self, _: &str) -> Result<u64, String> {
            Ok(0)
        }
    }
    let rec = Arc::new(Rec(Mutex::new(Vec::new())));
    l.runtime.call(fr.id, rec.clone()).unwrap();
    assert_eq!(*rec.0.lock().unwrap(), ["echo board-fw musl musl-provider busybox"]);
}

#[test]
fn run_outside_build_time_is_an_error_and_escalation_is_refused_at_run_time() {
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"0.1.0\")\n"),
        (
            "units/u.star",
            "flag = True\ndef f():\n    run(\"id\", privileged = flag)\nunit(name = \"u\", version = \"1\", tasks = [task(\"t\", fn = f)])\n",
        ),
    ]);
    let l = f.load_ok();
    let Step::Fn(fr) = &l.project.units["u"].tasks[0].steps[0] else { panic!() };
    struct Never;
    impl BuildHost for Never {
        fn run(&self, _: &str) -> Result<RunOutput, String> {
            panic!("must not run")
        }
        fn dir_size_mb(&self, _: &str) -> Result<u64, String> {
            panic!("must not run")
        }
    }
    let err = l.runtime.call(fr.id, Arc::new(Never)).unwrap_err();
    assert!(err.contains("run(privileged=True) is refused"), "{err}");

    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"0.1.0\")\n"),
        ("units/u.star", "run(\"id\")\n"),
    ]);
    let err = f.load_err();
    assert!(err.contains("run() can only be called at build time"), "{err}");
    assert!(err.contains("units/u.star:1"), "{err}");
}

#[test]
fn feeds_and_local_star_are_recorded() {
    let f = Fixture::new(&[
        (
            "PROJECT.star",
            "project(name = \"t\", version = \"0.1.0\", defaults = defaults(machine = \"a\", distro = \"alpine\"), modules = [module(\"u\", local = \"mods/alpine\")], prefer_modules = {\"alpine\": {\"xz\": \"alpine.main\"}})\n",
        ),
        ("local.star", "local(machine = \"b\", default_distro_override = \"debian\", parallel_builds = 3)\n"),
        ("machines/m.star", "machine(name = \"a\", arch = \"x86_64\")\nmachine(name = \"b\", arch = \"arm64\")\n"),
        (
            "mods/alpine/MODULE.star",
            "module_info(name = \"alpine\")\nalpine_feed(name = \"main\", url = \"https://dl-cdn.alpinelinux.org/alpine\", branch = \"v3.21\", keys = [\"k.pub\"])\n",
        ),
    ]);
    let p = f.load_ok().project;
    assert_eq!(p.machine.as_deref(), Some("b"));
    assert_eq!(p.arch, "arm64");
    assert_eq!(p.distro, "debian");
    assert_eq!(p.local.parallel_builds, Some(3));
    assert_eq!(p.feeds.len(), 1);
    assert_eq!(p.feeds[0].module, "alpine");
    assert_eq!(p.feeds[0].fields["branch"], serde_json::json!("v3.21"));
}

#[test]
fn example_project_loads() {
    let l = yoe::starlark::load(&yoe::starlark::LoadOptions::new(
        crate::support::example("demo"),
        std::sync::Arc::new(yoe::starlark::LocalOnly),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let p = &l.project;
    for u in ["libgreet", "hello", "base-files", "demo-image"] {
        assert!(p.units.contains_key(u), "{u}");
    }
    assert!(p.files.iter().any(|f| f.ends_with("classes/c.star")));
}
