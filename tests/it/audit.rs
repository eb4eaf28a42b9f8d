//! `yoe audit`: the rule fixtures (`tests/fixtures/audit/<dir>/`, lines annotated
//! `# ruleid: <id>[, <id>]` must fire, `# ok: <id>` must not; an annotation applies to the
//! next line that is not itself an annotation), fixtures that must be binaries or special
//! files (built here), output snapshots, exit codes, SARIF schema validation and the docs.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use yoe::audit::output::{Filter, View};
use yoe::audit::{AuditOptions, Finding, Persona, Report, audit, rules};
use yoe::starlark::LocalOnly;

use crate::support::{Fixture, example, yoe_bin};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit")
}

fn options(dir: &Path) -> AuditOptions {
    AuditOptions { today: Some((2026, 6, 1)), ..AuditOptions::new(dir, std::sync::Arc::new(LocalOnly)) }
}

fn run(opts: &AuditOptions) -> Report {
    audit(opts).unwrap_or_else(|e| panic!("audit of {} failed: {e}", opts.start.display()))
}

/// Findings shown to the auditor persona: (file, line, rule).
fn shown(report: &Report) -> BTreeSet<(String, u32, String)> {
    let filter = Filter { persona: Persona::Auditor, ..Filter::default() };
    View::new(report, filter)
        .shown
        .iter()
        .map(|f| (f.primary.file.display().to_string(), f.primary.line, f.rule.to_string()))
        .collect()
}

/// Annotations of every text file under `dir`: (expected, forbidden).
type Expect = BTreeSet<(String, u32, String)>;
fn annotations(dir: &Path) -> (Expect, Expect) {
    let mut want = BTreeSet::new();
    let mut forbid = BTreeSet::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        let rel = entry.path().strip_prefix(dir).unwrap().display().to_string();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let (set, rest) = if let Some(r) = t.strip_prefix("# ruleid:") {
                (&mut want, r)
            } else if let Some(r) = t.strip_prefix("# ok:") {
                (&mut forbid, r)
            } else {
                continue;
            };
            // The target: the next line that is not an annotation.
            let target = (i + 1..lines.len())
                .find(|&j| {
                    let l = lines[j].trim_start();
                    !l.starts_with("# ruleid:") && !l.starts_with("# ok:")
                })
                .unwrap_or_else(|| panic!("{rel}:{}: annotation with no line after it", i + 1));
            for id in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                set.insert((rel.clone(), target as u32 + 1, id.to_string()));
            }
        }
    }
    (want, forbid)
}

fn check_fixture(dir: &Path) -> Vec<String> {
    let report = run(&options(dir));
    let got = shown(&report);
    let (want, forbid) = annotations(dir);
    let mut errors = Vec::new();
    for w in want.difference(&got) {
        errors.push(format!("{}: expected {} at {}:{}, not reported", dir.display(), w.2, w.0, w.1));
    }
    for g in got.difference(&want) {
        errors.push(format!("{}: unannotated finding {} at {}:{}", dir.display(), g.2, g.0, g.1));
    }
    for f in forbid.intersection(&got) {
        errors.push(format!("{}: {} reported at {}:{} despite `# ok`", dir.display(), f.2, f.0, f.1));
    }
    errors
}

#[test]
fn every_fixture_matches_its_annotations() {
    let mut errors = Vec::new();
    let mut n = 0;
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            n += 1;
            errors.extend(check_fixture(&dir));
        }
    }
    assert!(n >= 25, "only {n} fixtures");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_static_rule_has_a_fixture_that_fires_it() {
    let mut fired = BTreeSet::new();
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            fired.extend(annotations(&dir).0.into_iter().map(|(_, _, r)| r));
        }
    }
    // Rules whose inputs are binaries or special files are covered by generated fixtures below.
    let generated = [
        "module-build-dir",
        "module-binary-artifact",
        "committed-private-key",
        "setuid-in-output",
        "world-writable-output",
        "device-node-in-output",
        "host-path-in-output",
        // Needs a locked module fetched into a cache, with keys made at test time:
        // modules_sign::audit_reports_unsigned_untrusted_and_bad_signatures.
        "unsigned-module",
    ];
    for r in rules() {
        let id = r.meta().id;
        assert!(fired.contains(id) || generated.contains(&id), "no fixture fires {id}");
    }
}

/// The example project is clean: no finding at all.
#[test]
fn the_example_project_has_no_findings() {
    let report = run(&options(&example("demo")));
    assert_eq!(shown(&report), BTreeSet::new(), "{:?}", report.diagnostics);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    assert_eq!(report.units, 4);
}

// ---- generated fixtures (binaries, keys, special files) ----

fn kinds(report: &Report) -> BTreeSet<(String, String)> {
    let filter = Filter { persona: Persona::Auditor, ..Filter::default() };
    View::new(report, filter).shown.iter().map(|f| (f.rule.to_string(), f.primary.file.display().to_string())).collect()
}

const PROJECT: &str = "project(name = \"p\", modules = [module(\"https://example.org/m.git\", commit = \"0123456789abcdef0123456789abcdef01234567\", local = \"vendor/m\")])\n";

fn pair(rule: &str, file: &str) -> (String, String) {
    (rule.to_string(), file.to_string())
}

#[test]
fn binaries_build_dirs_and_keys_in_module_trees() {
    let f = Fixture::new(&[("PROJECT.star", PROJECT), ("vendor/m/MODULE.star", "module_info(name = \"m\")\n")]);
    let root = f.root();
    let elf: Vec<u8> = [b"\x7fELF\x02\x01\x01\0".as_slice(), &[0u8; 56]].concat();
    std::fs::create_dir_all(root.join("vendor/m/bin")).unwrap();
    std::fs::write(root.join("vendor/m/bin/tool"), &elf).unwrap();
    std::fs::write(root.join("vendor/m/bin/allowed"), &elf).unwrap();
    std::fs::write(root.join("vendor/m/bin/wrong-hash"), &elf).unwrap();
    std::fs::create_dir_all(root.join("vendor/m/build")).unwrap();
    std::fs::write(root.join("vendor/m/build/notes.txt"), "left over\n").unwrap();
    let pem = ["-----BEGIN ", "OPENSSH PRIVATE KEY-----\nAAAA\n-----END ", "OPENSSH PRIVATE KEY-----\n"].concat();
    std::fs::create_dir_all(root.join("keys")).unwrap();
    std::fs::write(root.join("keys/signing.pem"), pem).unwrap();
    std::fs::write(root.join("keys/signing.rsa.pub"), "public\n").unwrap();
    std::fs::write(root.join("README"), "MZ is not a PE header\n").unwrap();
    let sha = yoe::treehash::sha256_hex(&elf);
    f.write(
        "yoe-audit.toml",
        &format!(
            "[[allow-binary]]\nmodule = \"m\"\npath = \"bin/allowed\"\nsha256 = \"{sha}\"\n\n[[allow-binary]]\nmodule = \"m\"\npath = \"bin/wrong-hash\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        ),
    );
    let report = run(&options(&root));
    assert_eq!(
        kinds(&report),
        BTreeSet::from([
            pair("module-binary-artifact", "vendor/m/bin/tool"),
            pair("module-binary-artifact", "vendor/m/bin/wrong-hash"),
            pair("module-build-dir", "vendor/m/build"),
            pair("committed-private-key", "keys/signing.pem"),
        ])
    );
    let origin = &report.findings.iter().find(|f| f.rule == "module-build-dir").unwrap().origin;
    assert_eq!(origin, &yoe::audit::Origin::Module("m".into()));
}

#[test]
fn output_rules_on_a_built_tree() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"p\")\n"),
        (
            "units/a.star",
            "unit(name = \"busybox\", version = \"1\")\nunit(name = \"img\", version = \"1\", unit_class = \"image\")\n",
        ),
    ]);
    let root = f.root();
    let dest = root.join("build/busybox.x86_64/destdir");
    std::fs::create_dir_all(dest.join("bin")).unwrap();
    std::fs::create_dir_all(dest.join("tmp")).unwrap();
    std::fs::create_dir_all(dest.join("var/spool")).unwrap();
    let set = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::write(dest.join("bin/su"), "suid").unwrap();
    set(&dest.join("bin/su"), 0o4755);
    std::fs::write(dest.join("bin/busybox"), "allow-listed suid").unwrap();
    set(&dest.join("bin/busybox"), 0o4755);
    std::fs::write(dest.join("bin/ok"), "plain").unwrap();
    set(&dest.join("bin/ok"), 0o755);
    set(&dest.join("tmp"), 0o1777);
    set(&dest.join("var/spool"), 0o777);
    std::fs::write(dest.join("bin/config.h"), format!("#define SRC \"{}/units\"\n", root.display())).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(dest.join("bin/sock")).unwrap();
    // An image may hold special files.
    let img = root.join("build/img.x86_64/destdir");
    std::fs::create_dir_all(&img).unwrap();
    let _l2 = std::os::unix::net::UnixListener::bind(img.join("sock")).unwrap();
    let sha = yoe::treehash::sha256_hex(b"allow-listed suid");
    f.write(
        "yoe-audit.toml",
        &format!("[[allow-setuid]]\nunit = \"busybox\"\npath = \"/bin/busybox\"\nsha256 = \"{sha}\"\n"),
    );
    let mut opts = options(&root);
    opts.outputs = Some(root.join("build"));
    let report = run(&opts);
    let d = "build/busybox.x86_64/destdir";
    assert_eq!(
        kinds(&report),
        BTreeSet::from([
            pair("setuid-in-output", &format!("{d}/bin/su")),
            pair("world-writable-output", &format!("{d}/var/spool")),
            pair("device-node-in-output", &format!("{d}/bin/sock")),
            pair("host-path-in-output", &format!("{d}/bin/config.h")),
        ])
    );
    assert!(report.findings.iter().all(|f| f.origin == yoe::audit::Origin::Output));
}

// ---- suppression ----

const SUPPRESS_PROJECT: &str = "project(name = \"p\", modules = [module(local = \"vendor/m\")])\n";

#[test]
fn suppressions_inline_config_modules_and_paranoid() {
    let f = Fixture::new(&[
        ("PROJECT.star", SUPPRESS_PROJECT),
        (
            "units/a.star",
            "# yoe: ignore[source-without-hash] vendored tarball, checked by hand\nunit(name = \"a\", source = \"https://x.example/a.tgz\")\nunit(\n    name = \"b\",  # yoe: ignore[source-without-hash]\n    source = \"https://x.example/b.tgz\",\n)\nunit(name = \"c\", source = \"https://x.example/c.tgz\")\nunit(name = \"d\", source = \"https://x.example/d.tgz\")\n# yoe: ignore[sandbox-disabled] nothing here\nunit(name = \"e\")\n",
        ),
        ("vendor/m/MODULE.star", "module_info(name = \"m\")\n"),
        (
            "vendor/m/units/m.star",
            "unit(name = \"m1\", source = \"https://x.example/m.tgz\")  # yoe: ignore[source-without-hash] trust me\n",
        ),
        (
            "yoe-audit.toml",
            "[[ignore]]\nrule = \"source-without-hash\"\npath = \"units/a.star\"\nline = 7\nreason = \"mirror of a vendor drop\"\n\n[[ignore]]\nrule = \"source-without-hash\"\npath = \"units/a.star\"\nline = 8\nreason = \"old\"\nexpires = 2026-01-01\n\n[[ignore]]\nrule = \"git-source-without-commit\"\npath = \"units/none.star\"\nreason = \"stale\"\n",
        ),
    ]);
    let root = f.root();
    let report = run(&options(&root));
    let active: BTreeSet<(String, String, u32)> = report
        .findings
        .iter()
        .filter(|f| f.suppressed.is_none())
        .map(|f| (f.rule.to_string(), f.primary.file.display().to_string(), f.primary.line))
        .collect();
    let p = |r: &str, f: &str, l: u32| (r.to_string(), f.to_string(), l);
    assert_eq!(
        active,
        BTreeSet::from([
            p("source-without-hash", "units/a.star", 8),          // its ignore expired
            p("source-without-hash", "vendor/m/units/m.star", 1), // a module cannot suppress
            p("unused-suppression", "units/a.star", 9),           // matched nothing
            p("unused-suppression", "vendor/m/units/m.star", 1),  // module-owned
            p("unused-suppression", "yoe-audit.toml", 7),         // expired
            p("unused-suppression", "yoe-audit.toml", 14),        // matched nothing
        ])
    );
    let suppressed: Vec<(&str, u32)> =
        report.findings.iter().filter_map(|f| f.suppressed.as_ref().map(|s| (s.by, f.primary.line))).collect();
    assert_eq!(suppressed, [("inline", 2), ("inline", 5), ("config", 7)]);

    // --paranoid: the reasonless inline comment on `b` no longer applies.
    let mut opts = options(&root);
    opts.paranoid = true;
    let report = run(&opts);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "source-without-hash" && f.primary.line == 5 && f.suppressed.is_none())
    );
    assert!(report.findings.iter().any(|f| f.rule == "unused-suppression" && f.message.contains("no reason")));

    // --no-ignores: nothing applies and nothing is reported about suppressions.
    let mut opts = options(&root);
    opts.no_ignores = true;
    let report = run(&opts);
    assert!(report.findings.iter().all(|f| f.suppressed.is_none() && f.rule != "unused-suppression"));
    assert_eq!(report.findings.iter().filter(|f| f.rule == "source-without-hash").count(), 5);
}

// ---- the binary: formats, snapshots, exit codes ----

fn yoe() -> Command {
    let mut c = Command::new(yoe_bin());
    c.env_remove("YOE_PROJECT").env_remove("YOE_LOG").env("NO_COLOR", "1");
    c
}

fn go_fixture() -> PathBuf {
    fixtures_dir().join("go-yoe-core")
}

fn scrub(text: &str, root: &Path) -> String {
    text.replace(&root.canonicalize().unwrap().display().to_string(), "@@PROJECT@@")
}

#[test]
fn go_style_module_end_to_end_through_the_binary() {
    let a = yoe().arg("audit").arg(go_fixture()).args(["--format", "json"]).assert().code(14);
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(v["version"], "json-v1");
    let got: BTreeSet<(String, String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["primary"]["file"].as_str().unwrap().to_string(),
                f["primary"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let c = "modules/module-core";
    let e = |r: &str, f: &str, l: u64| (r.to_string(), f.to_string(), l);
    for want in [
        e("removed-escalation-kwarg", &format!("{c}/classes/image.star"), 4),
        e("removed-escalation-kwarg", &format!("{c}/classes/container.star"), 3),
        e("git-source-without-commit", &format!("{c}/units/libs/zlib.star"), 6),
        e("source-without-hash", &format!("{c}/units/bootloaders/syslinux.star"), 7),
        e("unpinned-module", "PROJECT.star", 11),
        e("unpinned-container-image", &format!("{c}/units/net/simpleiot.star"), 4),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }
    // The class frame is a secondary span of the class-made finding.
    let image = v["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "unpinned-container-image").unwrap();
    assert_eq!(image["secondary"][0]["file"], format!("{c}/classes/go.star"));
    assert_eq!(image["route"], "unit(simpleiot).container");
}

#[test]
fn snapshot_plain() {
    let a = yoe().arg("audit").arg(go_fixture()).assert().code(14);
    let text = scrub(&String::from_utf8_lossy(&a.get_output().stdout), &go_fixture());
    insta::assert_snapshot!("plain", text);
}

#[test]
fn snapshot_json() {
    let a = yoe().arg("audit").arg(go_fixture()).args(["--format", "json-v1"]).assert().code(14);
    let text = scrub(&String::from_utf8_lossy(&a.get_output().stdout), &go_fixture());
    insta::assert_snapshot!("json", text);
}

#[test]
fn snapshot_sarif_and_github() {
    let a = yoe().arg("audit").arg(go_fixture()).args(["--format", "sarif"]).assert().code(0);
    let text = scrub(&String::from_utf8_lossy(&a.get_output().stdout), &go_fixture());
    // The rules table is long and covered by the schema test: snapshot the results.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    insta::assert_snapshot!("sarif_results", serde_json::to_string_pretty(&v["runs"][0]["results"]).unwrap());
    let a =
        yoe().arg("audit").arg(go_fixture()).args(["--format", "github", "--min-severity", "medium"]).assert().code(14);
    insta::assert_snapshot!("github", String::from_utf8_lossy(&a.get_output().stdout));
}

#[test]
fn exit_0_clean() {
    yoe().arg("audit").arg(example("demo")).assert().code(0);
}

#[test]
fn exit_0_with_no_exit_codes() {
    yoe().arg("audit").arg(go_fixture()).arg("--no-exit-codes").assert().code(0);
}

#[test]
fn exit_1_on_a_malformed_config() {
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"p\")\n"), ("yoe-audit.toml", "[[ignore]]\nrule = 3\n")]);
    let a = yoe().arg("audit").arg(f.root()).assert().code(1);
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("yoe-audit.toml"));
}

#[test]
fn exit_2_on_usage_error() {
    yoe().args(["audit", "--format", "xml"]).assert().code(2);
}

#[test]
fn exit_3_without_inputs() {
    let t = tempfile::tempdir().unwrap();
    yoe().arg("audit").arg(t.path()).assert().code(3);
}

fn one_unit(body: &str) -> Fixture {
    Fixture::new(&[("PROJECT.star", "project(name = \"p\")\n"), ("units/u.star", body)])
}

#[test]
fn exit_11_informational_to_14_high_by_highest_severity() {
    // low: insecure source URL with a hash.
    let low = one_unit("unit(name = \"u\", source = \"http://x.example/u.tgz\", sha256 = \"00\")\n");
    yoe().arg("audit").arg(low.root()).assert().code(12);
    // medium: a network class.
    let medium = one_unit(
        "def go_binary(name, **kw):\n    unit(name = name, **kw)\n\ngo_binary(name = \"u\", version = \"1\")\n",
    );
    yoe().arg("audit").arg(medium.root()).assert().code(13);
    // high: a source without hash; --min-severity filters down to nothing → 0.
    let high = one_unit("unit(name = \"u\", source = \"https://x.example/u.tgz\")\n");
    yoe().arg("audit").arg(high.root()).assert().code(14);
    yoe().arg("audit").arg(high.root()).args(["--min-severity", "high"]).assert().code(14);
    yoe().arg("audit").arg(low.root()).args(["--min-severity", "medium"]).assert().code(0);
    // informational: no rule has that default; an unused suppression is low. Check the
    // mapping through the library instead.
    let report = run(&options(&high.root()));
    let mut r = report;
    for f in &mut r.findings {
        f.severity = yoe::audit::Severity::Informational;
    }
    assert_eq!(View::new(&r, Filter::default()).highest(), Some(yoe::audit::Severity::Informational));
}

#[test]
fn a_module_directory_is_audited_alone() {
    let dir = go_fixture().join("modules/module-core");
    let a = yoe().arg("audit").arg(&dir).args(["--format", "json"]).assert().code(14);
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let rules: BTreeSet<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(rules.contains("removed-escalation-kwarg") && rules.contains("git-source-without-commit"), "{rules:?}");
}

// ---- SARIF validation ----

/// The SARIF 2.1.0 JSON schema as shipped in the serde-sarif crate's package (a
/// dev-dependency, so cargo has downloaded it, checked its checksum against Cargo.lock and
/// unpacked it to build this test): found in cargo's registry sources at the version
/// Cargo.lock pins, or else through `cargo metadata --offline`. Nothing is fetched.
fn sarif_schema() -> serde_json::Value {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(manifest_dir.join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"serde-sarif\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"').map(str::to_string)))
        .expect("serde-sarif in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"));
    let in_registry = std::fs::read_dir(cargo_home.join("registry/src")).into_iter().flatten().find_map(|e| {
        let p = e.ok()?.path().join(format!("serde-sarif-{version}/src/schema.json"));
        p.is_file().then_some(p)
    });
    let path = in_registry.unwrap_or_else(|| {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--offline", "--manifest-path"])
            .arg(manifest_dir.join("Cargo.toml"))
            .output()
            .expect("cargo metadata");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let pkg =
            meta["packages"].as_array().unwrap().iter().find(|p| p["name"] == "serde-sarif").expect("serde-sarif");
        PathBuf::from(pkg["manifest_path"].as_str().unwrap()).parent().unwrap().join("src/schema.json")
    });
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let schema = sarif_schema();
    assert_eq!(schema["title"], "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema");
    // One change to the published schema: its two `language` patterns (run, toolComponent)
    // have a stray `]` (`^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`), which the draft-7
    // meta-schema rejects as a regex. yoe emits no `language`; they get the pattern meant.
    let mut schema = schema;
    for def in ["run", "toolComponent"] {
        let lang = &mut schema["definitions"][def]["properties"]["language"]["pattern"];
        assert_eq!(lang, "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$", "{def}");
        *lang = serde_json::json!("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    let a = yoe().arg("audit").arg(go_fixture()).args(["--format", "sarif"]).assert().code(0);
    let doc: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The validator is not vacuous: a broken document fails.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));
    // And the typed model generated from the same schema reads it back.
    let typed: serde_sarif::sarif::Sarif = serde_json::from_value(doc.clone()).expect("typed SARIF");
    assert_eq!(typed.runs[0].results.as_ref().map(Vec::len), doc["runs"][0]["results"].as_array().map(Vec::len));
    // GitHub's requirements: security-severity on rules, stable fingerprints on results.
    for r in doc["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap() {
        assert!(r["properties"]["security-severity"].as_str().unwrap().parse::<f64>().is_ok());
    }
    for r in doc["runs"][0]["results"].as_array().unwrap() {
        assert_eq!(r["partialFingerprints"]["yoe/v1"].as_str().unwrap().len(), 64);
    }
}

#[test]
fn fingerprints_survive_line_moves() {
    let f = one_unit("unit(name = \"u\", source = \"https://x.example/u.tgz\")\n");
    let before = run(&options(&f.root()));
    f.write(
        "units/u.star",
        "# a comment\n\n\nunit(\n    name = \"u\",\n    source = \"https://x.example/u.tgz\",\n)\n",
    );
    let after = run(&options(&f.root()));
    let fp = |r: &Report| r.findings.iter().map(Finding::fingerprint).collect::<Vec<_>>();
    assert_eq!(fp(&before), fp(&after));
    assert_ne!(before.findings[0].primary.line, after.findings[0].primary.line);
}

// ---- docs ----

#[test]
fn every_rule_has_its_doc_page() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit");
    let overview = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit.md")).unwrap();
    for r in rules() {
        let id = r.meta().id;
        let page = std::fs::read_to_string(docs.join(format!("{id}.md")))
            .unwrap_or_else(|_| panic!("docs/audit/{id}.md missing"));
        assert!(page.starts_with(&format!("# `{id}`")), "{id}: page must start with its id");
        for section in ["## What it detects", "## Why it matters", "## How to fix", "## Example"] {
            assert!(page.contains(section), "{id}: missing {section}");
        }
        assert!(overview.contains(&format!("[`{id}`](audit/{id}.md)")), "docs/audit.md does not list {id}");
    }
    let pages = std::fs::read_dir(&docs).unwrap().count();
    assert_eq!(pages, rules().len(), "a page without a rule in docs/audit/");
}

// ---- the loader's audit mode ----

#[test]
fn audit_load_records_refusals_where_load_refuses() {
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"p\")\n"),
        ("classes/c.star", "def f():\n    run(\"x\", host = True)\n    run(\"y\", privileged = True)\n"),
        (
            "units/a.star",
            "load(\"//classes/c.star\", \"f\")\nunit(name = \"a\", container = \"golang:1.26\", tasks = [task(\"b\", fn = f)])\n",
        ),
        ("units/broken.star", "unit(name = \"b\", deps = \"not a list\")\n"),
        ("units/ok.star", "unit(name = \"c\")\n"),
        ("commands/x.star", "command(name = \"x\")\n"),
    ]);
    // The strict load stops at the first refusal.
    assert!(f.load().is_err());
    let opts = yoe::starlark::LoadOptions::new(f.root(), std::sync::Arc::new(LocalOnly));
    let a = yoe::starlark::load_for_audit(&opts).expect("audit load");
    let rules: Vec<&str> = a.refusals.iter().map(|r| r.rule).collect();
    assert_eq!(
        rules,
        ["module-ships-commands", "removed-escalation-kwarg", "removed-escalation-kwarg", "unpinned-container-image"]
    );
    let names: BTreeSet<&str> = a.catalogue.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["a", "c"]), "the broken file is left out, the rest loads");
    assert_eq!(a.errors.len(), 1);
    assert!(a.errors[0].to_string().contains("deps"), "{}", a.errors[0]);
    assert_eq!(a.loaded.project.units["a"].container, "golang:1.26");
}

#[test]
fn personas_and_confidence_filter_what_is_shown() {
    let dir = fixtures_dir().join("github-generated-archive");
    let report = run(&options(&dir));
    let count = |f: Filter| View::new(&report, f).shown.len();
    assert_eq!(count(Filter::default()), 0, "pedantic findings are hidden from the regular persona");
    assert_eq!(count(Filter { persona: Persona::Pedantic, ..Filter::default() }), 1);
    let removed = run(&options(&fixtures_dir().join("removed-escalation-kwarg")));
    let all = View::new(&removed, Filter::default()).shown.len();
    let sure =
        View::new(&removed, Filter { min_confidence: yoe::audit::Confidence::High, ..Filter::default() }).shown.len();
    assert_eq!(all - sure, 1, "the computed host= has medium confidence");
}
