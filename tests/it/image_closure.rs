//! An image waits for its whole runtime closure: the graph gives it an edge to every unit
//! its rootfs copies, and its cache key covers their keys and the partitions it writes.
use crate::support::Fixture;
use yoe::graph::{EdgeKind, Graph};

const PROJECT: &str = "project(name = \"t\", version = \"1\", defaults = defaults(machine = \"m\"))\n";

fn machine(size: &str) -> String {
    format!(
        "machine(name = \"m\", arch = \"x86_64\", partitions = [partition(label = \"rootfs\", type = \"ext4\", size = \"{size}\", root = True)])\n"
    )
}

const UNITS: &str = r#"
unit(name = "app", runtime_deps = ["libfoo"])
unit(name = "libfoo", runtime_deps = ["libbar"], version = "1")
unit(name = "libbar")
image(name = "img", artifacts = ["app"])
"#;

#[test]
fn an_image_depends_on_the_runtime_closure_of_its_artifacts() {
    let m = machine("64M");
    let f = Fixture::new(&[("PROJECT.star", PROJECT), ("machines/m.star", &m), ("units/u.star", UNITS)]);
    let l = f.load_ok();
    let g = Graph::build(&l.project).expect("graph");
    let deps = g.deps_of("img");
    for (name, kind) in
        [("app", EdgeKind::Artifact), ("libfoo", EdgeKind::RuntimeOfArtifact), ("libbar", EdgeKind::RuntimeOfArtifact)]
    {
        assert!(deps.contains(&(name.to_string(), kind)), "img → {name} ({kind:?}) missing: {deps:?}");
    }
    let plan = g.plan(&["img".to_string()]).expect("plan");
    assert_eq!(plan.last().map(String::as_str), Some("img"), "the image is built last: {plan:?}");
}

#[test]
fn a_missing_runtime_dep_of_an_artifact_is_a_graph_error() {
    let m = machine("64M");
    let units = "unit(name = \"app\", runtime_deps = [\"gone\"])\nimage(name = \"img\", artifacts = [\"app\"])\n";
    let f = Fixture::new(&[("PROJECT.star", PROJECT), ("machines/m.star", &m), ("units/u.star", units)]);
    let l = f.load_ok();
    let e = Graph::build(&l.project).expect_err("missing runtime dep").to_string();
    assert!(e.contains("\"app\" depends on \"gone\""), "{e}");
}

/// The key `yoe build --dry-run --json` would not show; `yoe build` prints it per unit.
fn keys(f: &Fixture) -> std::collections::BTreeMap<String, String> {
    let l = f.load_ok();
    let g = Graph::build(&l.project).expect("graph");
    let sandbox = crate::common::sandbox();
    let progress = Quiet;
    let opts = yoe::build::executor::BuildOptions { jobs: 1, keep_going: false, force: false, source_date_epoch: 0 };
    let exec = yoe::build::executor::Executor::new(&l, &g, sandbox, opts, &progress);
    let plan = g.plan(&["img".to_string()]).expect("plan");
    exec.keys(&plan).expect("keys")
}

struct Quiet;
impl yoe::build::executor::Progress for Quiet {
    fn started(&self, _: &str, _: usize, _: usize) {}
    fn finished(&self, _: &str, _: &yoe::build::scheduler::Outcome, _: f64) {}
    fn note(&self, _: &str) {}
}

#[test]
fn the_image_key_covers_runtime_deps_and_partitions() {
    let m = machine("64M");
    let f = Fixture::new(&[("PROJECT.star", PROJECT), ("machines/m.star", &m), ("units/u.star", UNITS)]);
    let before = keys(&f);
    // A fix to a runtime dep two levels down changes the image key.
    f.write("units/u.star", &UNITS.replace("unit(name = \"libbar\")", "unit(name = \"libbar\", version = \"2\")"));
    let fixed = keys(&f);
    assert_eq!(before["app"], fixed["app"], "app itself does not depend on libbar at build time");
    assert_ne!(before["img"], fixed["img"], "a fixed runtime dep must rebuild the image");
    // So does a changed partition size of the machine.
    f.write("machines/m.star", &machine("128M"));
    let resized = keys(&f);
    assert_ne!(fixed["img"], resized["img"], "a resized partition must rebuild the image");
}
