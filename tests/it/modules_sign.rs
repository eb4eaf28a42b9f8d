//! Module signatures (good, bad, untrusted, missing; keys made here) and `--paranoid`'s
//! module rules: a trusted signature for every remote module, a `commit=` on every
//! declaration, and a clean project git tree.
use std::fs;
use std::path::{Path, PathBuf};

use yoe::module::SIGNATURE_PATH;

use crate::support::git::{Origin, Workspace, git, text, yoe};

struct Key {
    secret: PathBuf,
    public: String,
}

fn key(dir: &Path, name: &str) -> Key {
    let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let secret = dir.join(format!("{name}.key"));
    fs::write(&secret, kp.sk.to_box(None).unwrap().to_string()).unwrap();
    Key { secret, public: kp.pk.to_base64() }
}

/// A module `core` signed by `signer` (through `yoe module sign`), pinned by commit.
fn signed_setup(signer: Option<&Key>, trusted: &[&str]) -> (Workspace, Origin) {
    let ws = Workspace::new();
    let o = ws.origin("core");
    o.write("MODULE.star", "module_info(name = \"core\")\n").write("units/hello.star", "unit(name = \"hello\")\n");
    if let Some(k) = signer {
        let a = assert_cmd::Command::new(crate::support::yoe_bin())
            .args(["module", "sign", "--key"])
            .arg(&k.secret)
            .arg(&o.dir)
            .assert()
            .success();
        assert!(text(&a).0.starts_with("signed sha256:"), "{}", text(&a).0);
    }
    let commit = o.commit("signed");
    let keys: Vec<String> = trusted.iter().map(|k| format!("{k:?}")).collect();
    ws.write(
        "PROJECT.star",
        &format!(
            "project(name = \"p\", trusted_keys = [{}], modules = [module({:?}, ref = \"main\", commit = {commit:?})])\n",
            keys.join(", "),
            o.url()
        ),
    );
    ws.lock();
    (ws, o)
}

fn verify_out(ws: &Workspace, paranoid: bool, code: i32) -> String {
    let mut c = yoe(ws);
    if paranoid {
        c.arg("--paranoid");
    }
    let a = c.args(["module", "verify", "--offline"]).assert().code(code);
    text(&a).0
}

#[test]
fn good_signature_passes_paranoid() {
    let t = tempfile::tempdir().unwrap();
    let alice = key(t.path(), "alice");
    let (ws, o) = signed_setup(Some(&alice), &[&alice.public]);
    assert!(o.dir.join(SIGNATURE_PATH).is_file());
    let out = verify_out(&ws, true, 0);
    assert!(out.contains("cache ok, signed by trusted key"), "{out}");
    ws.load(true).unwrap_or_else(|e| panic!("{e}"));
    yoe(&ws).args(["--paranoid", "build", "--dry-run"]).assert().success();
    // The tree hash `yoe module hash` prints is the one the lock records.
    let a = assert_cmd::Command::new(crate::support::yoe_bin()).args(["module", "hash"]).arg(&o.dir).assert().success();
    let lock = yoe::module::Lockfile::read(&ws.proj()).unwrap().unwrap();
    assert_eq!(text(&a).0.trim(), lock.modules[0].tree);
}

#[test]
fn trusted_key_from_a_pub_file() {
    let t = tempfile::tempdir().unwrap();
    let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let secret = t.path().join("k.key");
    fs::write(&secret, kp.sk.to_box(None).unwrap().to_string()).unwrap();
    let k = Key { secret, public: "keys/alice.pub".into() };
    let (ws, _o) = signed_setup(Some(&k), &["keys/alice.pub"]);
    ws.write("keys/alice.pub", &kp.pk.to_box().unwrap().to_string());
    ws.load(true).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn untrusted_signer_is_reported_and_refused_by_paranoid() {
    let t = tempfile::tempdir().unwrap();
    let (alice, bob) = (key(t.path(), "alice"), key(t.path(), "bob"));
    let (ws, _o) = signed_setup(Some(&bob), &[&alice.public]);
    let out = verify_out(&ws, false, 0);
    assert!(out.contains("which is not in project(trusted_keys=)"), "{out}");
    verify_out(&ws, true, 1);
    let err = ws.load(true).err().expect("paranoid refuses");
    assert!(err.contains("[rule: paranoid-unsigned-module]") && err.contains("not in project(trusted_keys=)"), "{err}");
    ws.load(false).unwrap();
}

#[test]
fn missing_signature_is_reported_and_refused_by_paranoid() {
    let t = tempfile::tempdir().unwrap();
    let alice = key(t.path(), "alice");
    let (ws, _o) = signed_setup(None, &[&alice.public]);
    let out = verify_out(&ws, false, 0);
    assert!(out.contains("unsigned (no .yoe/module.minisig)"), "{out}");
    let err = ws.load(true).err().expect("paranoid refuses");
    assert!(err.contains("[rule: paranoid-unsigned-module]") && err.contains("unsigned"), "{err}");
    let a = yoe(&ws).args(["--paranoid", "build", "--dry-run"]).assert().code(1);
    assert!(text(&a).1.contains("[rule: paranoid-unsigned-module]"), "{}", text(&a).1);
}

#[test]
fn bad_signatures_are_reported() {
    let t = tempfile::tempdir().unwrap();
    let alice = key(t.path(), "alice");
    // Signed, then changed and committed without signing again.
    let ws = Workspace::new();
    let o = ws.origin("core");
    o.write("MODULE.star", "module_info(name = \"core\")\n");
    yoe::module::signature::sign(&o.dir, &alice.secret, None).unwrap();
    o.write("units/late.star", "unit(name = \"late\")\n");
    let commit = o.commit("changed after signing");
    ws.write(
        "PROJECT.star",
        &format!(
            "project(name = \"p\", trusted_keys = [{:?}], modules = [module({:?}, ref = \"main\", commit = {commit:?})])\n",
            alice.public,
            o.url()
        ),
    );
    ws.lock();
    let out = verify_out(&ws, false, 1);
    assert!(out.contains("bad signature") && out.contains("changed after signing"), "{out}");
    let err = ws.load(true).err().expect("paranoid refuses");
    assert!(err.contains("[rule: paranoid-unsigned-module]") && err.contains("bad signature"), "{err}");

    // A good signature altered in the cache: still bad (the signature is checked, not trusted).
    let (ws, _o) = signed_setup(Some(&alice), &[&alice.public]);
    let lock = yoe::module::Lockfile::read(&ws.proj()).unwrap().unwrap();
    let sig = ws.entry_tree(&lock, "core").join(SIGNATURE_PATH);
    let mut text = fs::read_to_string(&sig).unwrap();
    assert!(text.contains("\ntrusted comment: yoe module tree sha256:"), "{text}");
    text = text.replacen("\ntrusted comment: ", "\ntrusted comment: x", 1);
    fs::write(&sig, text).unwrap();
    let out = verify_out(&ws, false, 1);
    assert!(out.contains("bad signature"), "{out}");
}

#[test]
fn paranoid_refuses_unpinned_modules_and_says_which_commit() {
    let t = tempfile::tempdir().unwrap();
    let alice = key(t.path(), "alice");
    let (ws, o) = signed_setup(Some(&alice), &[&alice.public]);
    ws.write(
        "PROJECT.star",
        &format!(
            "project(name = \"p\", trusted_keys = [{:?}], modules = [module({:?}, ref = \"main\")])\n",
            alice.public,
            o.url()
        ),
    );
    ws.lock();
    let err = ws.load(true).err().expect("paranoid refuses");
    assert!(
        err.contains("[rule: paranoid-unpinned-module]") && err.contains(&format!("commit = \"{}\"", o.head())),
        "{err}"
    );
    ws.load(false).unwrap();
    // And never writes the lock.
    let a = yoe(&ws).args(["--paranoid", "module", "lock"]).assert();
    assert!(text(&a).1.contains("up to date") || text(&a).1.contains("nothing written"), "{}", text(&a).1);
}

#[test]
fn paranoid_refuses_a_dirty_project_tree_except_build() {
    let t = tempfile::tempdir().unwrap();
    let alice = key(t.path(), "alice");
    let (ws, _o) = signed_setup(Some(&alice), &[&alice.public]);
    let p = ws.proj();
    git(&p, &["init", "-q"]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "project"]);
    yoe(&ws).args(["--paranoid", "graph"]).assert().success();
    fs::create_dir_all(p.join("build/hello.x86_64")).unwrap();
    fs::write(p.join("build/hello.x86_64/build.json"), "{}").unwrap();
    yoe(&ws).args(["--paranoid", "graph"]).assert().success();
    ws.write("units/extra.star", "unit(name = \"extra\")\n");
    let a = yoe(&ws).args(["--paranoid", "graph"]).assert().code(1);
    let err = text(&a).1;
    assert!(err.contains("[rule: paranoid-dirty-project]") && err.contains("units/extra.star"), "{err}");
    fs::remove_file(p.join("units/extra.star")).unwrap();
    fs::write(p.join("PROJECT.star"), fs::read_to_string(p.join("PROJECT.star")).unwrap() + "# edit\n").unwrap();
    let a = yoe(&ws).args(["--paranoid", "graph"]).assert().code(1);
    assert!(text(&a).1.contains("PROJECT.star"), "{}", text(&a).1);
    yoe(&ws).args(["graph"]).assert().success();
}

/// Signing with the stock `minisign` tool over `yoe module hash --statement` (skipped with a
/// note when the tool is not installed).
#[test]
fn stock_minisign_signatures_verify() {
    if std::process::Command::new("minisign").arg("-v").output().is_err() {
        eprintln!("note: minisign is not installed; stock-tool interop not tested");
        return;
    }
    let ws = Workspace::new();
    let o = ws.origin("core");
    o.write("MODULE.star", "module_info(name = \"core\")\n");
    let keys = ws.path().join("keys");
    fs::create_dir_all(&keys).unwrap();
    let st = std::process::Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(keys.join("k.pub"))
        .arg("-s")
        .arg(keys.join("k.key"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let a = assert_cmd::Command::new(crate::support::yoe_bin())
        .args(["module", "hash", "--statement"])
        .arg(&o.dir)
        .assert()
        .success();
    fs::write(keys.join("statement"), text(&a).0).unwrap();
    fs::create_dir_all(o.dir.join(".yoe")).unwrap();
    let st = std::process::Command::new("minisign")
        .args(["-S", "-s"])
        .arg(keys.join("k.key"))
        .arg("-m")
        .arg(keys.join("statement"))
        .arg("-x")
        .arg(o.dir.join(SIGNATURE_PATH))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let commit = o.commit("signed with minisign");
    ws.write(
        "PROJECT.star",
        &format!(
            "project(name = \"p\", trusted_keys = [\"../keys/k.pub\"], modules = [module({:?}, commit = {commit:?})])\n",
            o.url()
        ),
    );
    ws.lock();
    ws.load(true).unwrap_or_else(|e| panic!("{e}"));
}

/// `yoe audit`'s `unsigned-module` (cache phase) on the verified module in the cache:
/// (rule, severity, message) of its findings.
fn audit_unsigned(ws: &Workspace, paranoid: bool) -> Vec<(String, String)> {
    let mut c = yoe(ws);
    if paranoid {
        c.arg("--paranoid");
    }
    let a = c.args(["audit", "--format", "json", "--no-exit-codes"]).assert().success();
    let v: serde_json::Value = serde_json::from_str(&text(&a).0).unwrap();
    assert!(v["not_audited"].as_array().unwrap().is_empty(), "the locked module is audited: {v}");
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "unsigned-module")
        .map(|f| (f["severity"].as_str().unwrap().to_string(), f["message"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn audit_reports_unsigned_untrusted_and_bad_signatures() {
    let t = tempfile::tempdir().unwrap();
    let alice = key(t.path(), "alice");
    let bob = key(t.path(), "bob");

    let (ws, _) = signed_setup(None, &[]);
    let got = audit_unsigned(&ws, false);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "medium");
    assert!(got[0].1.contains("is unsigned") && got[0].1.contains("trusts no key"), "{got:?}");
    assert_eq!(audit_unsigned(&ws, true)[0].0, "high", "--paranoid raises it");

    let (ws, _) = signed_setup(Some(&alice), &[&bob.public]);
    let got = audit_unsigned(&ws, false);
    assert!(got.len() == 1 && got[0].1.contains("which is not in project(trusted_keys=)"), "{got:?}");

    let (ws, _) = signed_setup(Some(&alice), &[&alice.public]);
    assert_eq!(audit_unsigned(&ws, false), Vec::<(String, String)>::new(), "a trusted signature is clean");

    // The signature is not part of the tree hash; an altered one is a bad signature (high).
    let lock = yoe::module::Lockfile::read(&ws.proj()).unwrap().unwrap();
    let sig = ws.entry_tree(&lock, "core").join(SIGNATURE_PATH);
    let text = fs::read_to_string(&sig).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let line = &mut lines[1];
    let at = line.len() - 3;
    let flipped = if &line[at..at + 1] == "A" { "B" } else { "A" };
    line.replace_range(at..at + 1, flipped);
    fs::write(&sig, lines.join("\n") + "\n").unwrap();
    let got = audit_unsigned(&ws, false);
    assert!(got.len() == 1 && got[0].0 == "high" && got[0].1.contains("bad signature"), "{got:?}");
}
