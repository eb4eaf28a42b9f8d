//! The `yoe` binary: verbs, stdout/stderr discipline and exit codes.
use assert_cmd::Command;

use crate::support::{example, yoe_bin};

fn yoe() -> Command {
    let mut c = Command::new(yoe_bin());
    c.env_remove("YOE_PROJECT").env_remove("YOE_LOG").env("NO_COLOR", "1");
    c
}

#[test]
fn graph_text_dot_json_on_the_example() {
    let out =
        yoe().args(["--project"]).arg(example("demo")).arg("graph").assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("hello <- libgreet"), "{text}");
    let dot = yoe().arg("--project").arg(example("demo")).args(["graph", "--format", "dot"]).assert().success();
    assert!(String::from_utf8_lossy(&dot.get_output().stdout).contains("\"hello\" -> \"libgreet\";"));
    let json = yoe().arg("--project").arg(example("demo")).args(["--json", "graph"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v["order"].as_array().unwrap().len(), 4);
}

#[test]
fn dry_run_prints_the_plan_in_build_order() {
    let a = yoe().arg("--project").arg(example("demo")).args(["build", "--dry-run", "hello"]).assert().success();
    let text = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("libgreet") && lines[1].contains("hello"), "{text}");
}

#[test]
fn desc_and_refs() {
    let a = yoe().arg("--project").arg(example("demo")).args(["desc", "hello"]).assert().success();
    let text = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(text.contains("defined at units/apps/hello.star:3:1"), "{text}");
    assert!(text.contains("via classes/c.star:"), "{text}");
    let a = yoe().arg("--project").arg(example("demo")).args(["refs", "libgreet"]).assert().success();
    assert_eq!(String::from_utf8_lossy(&a.get_output().stdout), "demo-image\nhello\n");
    // The image depends directly on every member of its rootfs (the runtime closure of its
    // artifacts), libgreet included.
    let a = yoe().arg("--project").arg(example("demo")).args(["refs", "--direct", "libgreet"]).assert().success();
    assert_eq!(String::from_utf8_lossy(&a.get_output().stdout), "demo-image\nhello\n");
}

#[test]
fn unknown_unit_fails_with_a_suggestion_and_nothing_on_stdout() {
    let a = yoe().arg("--project").arg(example("demo")).args(["desc", "helo"]).assert().failure().code(1);
    assert!(a.get_output().stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&a.get_output().stderr).contains("unknown unit \"helo\" (did you mean \"hello\"?)")
    );
}

#[test]
fn usage_error_exits_2() {
    yoe().arg("frobnicate").assert().code(2);
}

#[test]
fn project_is_found_from_a_subdirectory_and_yoe_project_env() {
    yoe().current_dir(example("demo").join("units/apps")).arg("graph").assert().success();
    yoe().env("YOE_PROJECT", example("demo")).arg("graph").assert().success();
    let t = tempfile::tempdir().unwrap();
    let a = yoe().current_dir(t.path()).arg("graph").assert().code(1);
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("no PROJECT.star found"));
}

#[test]
fn init_writes_a_project_that_loads() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("newproj");
    yoe().arg("init").arg(&dir).assert().success();
    let a = yoe().arg("--project").arg(&dir).args(["build", "--dry-run"]).assert().success();
    let text = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(text.contains("hello") && text.contains("base-image"), "{text}");
    // A second init into a non-empty directory is refused and changes nothing.
    yoe().arg("init").arg(&dir).assert().code(1);
}

#[test]
fn load_errors_are_one_paragraph_on_stderr() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("PROJECT.star"), "project(name = \"x\", sha265 = \"abc\")\n").unwrap();
    let a = yoe().arg("--project").arg(t.path()).arg("graph").assert().code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains("PROJECT.star:1:1") && err.contains("unknown field `sha265`"), "{err}");
    assert!(a.get_output().stdout.is_empty());
}
