//! Remote modules end to end with git repositories made here and served over file://:
//! locking, loading from the verified cache, every tamper case (each naming its path),
//! moved refs, lock/project disagreements, transitive modules, `yoe module sync` repairs,
//! and two processes syncing one cache at once.
use std::fs;
use std::os::unix::fs::PermissionsExt;

use yoe::module::{Lockfile, UpdateScope};

use crate::support::git::{Origin, Workspace, git, serve_dir, text, yoe};

const HELLO: &str = "unit(name = \"hello\", version = \"1.0\")\n";

/// A workspace with one module `core` (tag v1) used by the project at ref v1.
fn setup() -> (Workspace, Origin) {
    let ws = Workspace::new();
    let o = ws.origin("core");
    o.write("MODULE.star", "module_info(name = \"core\", description = \"the core\")\n")
        .write("units/hello.star", HELLO)
        .write("units/sub/lib.star", "unit(name = \"lib\", version = \"2\")\n")
        .write("classes/c.star", "C = 1\n");
    o.commit("one");
    o.tag("v1");
    ws.write("PROJECT.star", &format!("project(name = \"p\", modules = [module({:?}, ref = \"v1\")])\n", o.url()));
    (ws, o)
}

fn units(ws: &Workspace) -> Vec<String> {
    let l = ws.load(false).unwrap_or_else(|e| panic!("load failed:\n{e}"));
    l.project.units.keys().cloned().collect()
}

#[test]
fn lock_records_the_pin_and_the_load_uses_the_verified_cache() {
    let (ws, o) = setup();
    let lock = ws.lock();
    assert_eq!(lock.modules.len(), 1);
    let m = &lock.modules[0];
    assert_eq!((m.name.as_str(), m.git_ref.as_str(), m.path.as_str()), ("core", "v1", ""));
    assert_eq!(m.commit, o.head());
    assert!(m.tree.starts_with("sha256:") && m.tree.len() == 71, "{}", m.tree);
    // The tree hash is the hash of the files, as `yoe module hash` computes it on a checkout.
    assert_eq!(m.tree, yoe::module::Manifest::from_dir(&o.dir).unwrap().tree_hash());
    assert_eq!(Lockfile::read(&ws.proj()).unwrap().unwrap(), lock, "written to yoe.lock");

    let l = ws.load(false).unwrap();
    assert_eq!(l.project.units.keys().collect::<Vec<_>>(), ["hello", "lib"]);
    let dir = &l.project.modules[0].dir;
    assert!(dir.starts_with(ws.store().root()), "{} is in the cache", dir.display());
    assert!(!dir.join(".git").exists(), "no checkout: no .git in the module");

    // A new mtime is not a change; verification reads contents.
    let f = fs::File::options().write(true).open(ws.entry_tree(&lock, "core").join("units/hello.star")).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    ws.load(false).unwrap();
}

#[test]
fn an_edited_file_is_named_even_at_the_same_size() {
    let (ws, _o) = setup();
    let lock = ws.lock();
    let tree = ws.entry_tree(&lock, "core");
    fs::write(tree.join("units/hello.star"), HELLO.replace("1.0", "6.6")).unwrap();
    let err = ws.load_err();
    assert!(err.contains("modified: units/hello.star"), "{err}");
    assert!(err.contains("yoe module sync"), "says how to fix it: {err}");
    assert!(err.contains("nothing from it was evaluated"), "{err}");
}

#[test]
fn an_added_file_is_named_and_not_evaluated() {
    let (ws, _o) = setup();
    let lock = ws.lock();
    let tree = ws.entry_tree(&lock, "core");
    fs::write(tree.join("units/evil.star"), "fail(\"evaluated\")\n").unwrap();
    let err = ws.load_err();
    assert!(err.contains("added: units/evil.star"), "{err}");
    assert!(!err.contains("evaluated\")"), "the added file did not run: {err}");
}

#[test]
fn a_removed_file_is_named() {
    let (ws, _o) = setup();
    let lock = ws.lock();
    fs::remove_file(ws.entry_tree(&lock, "core").join("units/sub/lib.star")).unwrap();
    let err = ws.load_err();
    assert!(err.contains("removed: units/sub/lib.star"), "{err}");
}

#[test]
fn a_changed_executable_bit_is_named() {
    let (ws, _o) = setup();
    let lock = ws.lock();
    let p = ws.entry_tree(&lock, "core").join("classes/c.star");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(ws.load_err().contains("executable bit changed: classes/c.star"));
}

#[test]
fn a_git_dir_planted_in_the_module_is_named() {
    let (ws, _o) = setup();
    let lock = ws.lock();
    let tree = ws.entry_tree(&lock, "core");
    fs::create_dir_all(tree.join(".git/hooks")).unwrap();
    fs::write(tree.join(".git/config"), "[core]\n\tfsmonitor = evil\n").unwrap();
    let err = ws.load_err();
    assert!(err.contains("added: .git"), "{err}");
}

#[test]
fn a_module_dir_swapped_for_a_symlink_is_named() {
    let (ws, _o) = setup();
    let lock = ws.lock();
    let tree = ws.entry_tree(&lock, "core");
    let entry = tree.parent().unwrap().to_path_buf();
    // An identical copy elsewhere, linked in place of the entry: refused all the same.
    let copy = ws.path().join("copy");
    fs::rename(&entry, &copy).unwrap();
    std::os::unix::fs::symlink(&copy, &entry).unwrap();
    let err = ws.load_err();
    assert!(err.contains(&entry.display().to_string()) && err.contains("found a symlink"), "{err}");
    // The tree directory inside a real entry, likewise.
    fs::remove_file(&entry).unwrap();
    fs::create_dir(&entry).unwrap();
    fs::rename(copy.join("manifest"), entry.join("manifest")).unwrap();
    std::os::unix::fs::symlink(copy.join("tree"), entry.join("tree")).unwrap();
    let err = ws.load_err();
    assert!(err.contains("tree") && err.contains("found a symlink"), "{err}");
}

#[test]
fn a_replaced_manifest_is_caught() {
    let (ws, _o) = setup();
    let lock = ws.lock();
    let entry = ws.entry_tree(&lock, "core").parent().unwrap().to_path_buf();
    // Add a file and a matching manifest line: the manifest no longer hashes to the lock.
    fs::write(entry.join("tree/units/evil.star"), "x").unwrap();
    let mut m = fs::read_to_string(entry.join("manifest")).unwrap();
    m.push_str(&format!("f 644 1 {} units/zz.star\n", yoe::treehash::sha256_hex(b"x")));
    fs::write(entry.join("manifest"), m).unwrap();
    let err = ws.load_err();
    assert!(err.contains("manifest") && err.contains("does not hash to the tree yoe.lock records"), "{err}");
}

#[test]
fn a_forged_object_in_the_cached_repository_is_caught_and_refetched() {
    let (ws, o) = setup();
    let lock = ws.lock();
    let m = &lock.modules[0];
    let store = ws.store();
    let repo = store.slug_dir(&m.url).join("repo.git");
    let id = git(&repo, &["rev-parse", &format!("{}:units/hello.star", m.commit)]);
    let entry = ws.entry_tree(&lock, "core").parent().unwrap().to_path_buf();
    // Forge the blob of units/hello.star: a loose object file holding other content under
    // the original id (git does not re-hash the objects it reads), and drop the entry.
    let forge = || {
        let evil = ws.path().join("evil.star");
        fs::write(&evil, "unit(name = \"pwned\")\n").unwrap();
        let evil_id = git(&repo, &["hash-object", "-w", evil.to_str().unwrap()]);
        let obj = |id: &str| repo.join("objects").join(&id[..2]).join(&id[2..]);
        fs::create_dir_all(obj(&id).parent().unwrap()).unwrap();
        let _ = fs::remove_file(obj(&id));
        fs::copy(obj(&evil_id), obj(&id)).unwrap();
        assert_eq!(git(&repo, &["cat-file", "-p", &id]), "unit(name = \"pwned\")", "git serves the forged blob");
        fs::remove_dir_all(&entry).unwrap();
    };

    // With the origin reachable, sync throws the repository away, fetches it again, and
    // writes the pinned content.
    forge();
    let (_, action) = store.sync(&m.into()).unwrap();
    assert_eq!(action, yoe::module::SyncAction::Fetched);
    assert_eq!(fs::read_to_string(ws.entry_tree(&lock, "core").join("units/hello.star")).unwrap(), HELLO);
    assert_eq!(git(&repo, &["cat-file", "-p", &id]), HELLO.trim_end(), "the forged object is gone");
    assert_eq!(units(&ws), ["hello", "lib"]);

    // With the origin gone, the error names the forged object and the file it is for.
    forge();
    fs::rename(&o.dir, ws.path().join("away")).unwrap();
    let err = store.sync(&m.into()).unwrap_err().to_string();
    assert!(err.contains(&id) && err.contains("(for units/hello.star)") && err.contains("does not hash"), "{err}");
    assert!(err.contains("fetching it again failed"), "{err}");
}

#[test]
fn a_replaced_cached_repository_cannot_change_the_module() {
    let (ws, _o) = setup();
    let lock = ws.lock();
    let m = &lock.modules[0];
    let store = ws.store();
    // Another repository whose branches and tags carry the same names.
    let other = ws.origin("other");
    other.write("MODULE.star", "module_info(name = \"core\")\n").write("units/x.star", "unit(name = \"x\")\n");
    other.commit("evil");
    other.tag("v1");
    let repo = store.slug_dir(&m.url).join("repo.git");
    fs::remove_dir_all(&repo).unwrap();
    git(&ws.path(), &["clone", "-q", "--bare", &other.url(), repo.to_str().unwrap()]);
    fs::remove_dir_all(ws.entry_tree(&lock, "core").parent().unwrap()).unwrap();
    store.sync(&m.into()).unwrap();
    assert_eq!(units(&ws), ["hello", "lib"], "the pinned commit, not what the repository's refs say");
}

#[test]
fn a_moved_tag_is_reported_and_the_pinned_commit_kept() {
    let (ws, o) = setup();
    let lock = ws.lock();
    let pinned = o.head();
    o.write("units/bye.star", "unit(name = \"bye\")\n");
    let moved = o.commit("two");
    o.tag("v1");
    // Loads keep using the pin (no network, no ref lookup).
    assert_eq!(units(&ws), ["hello", "lib"]);
    // `verify` reports the moved tag and fails; `lock` reports it and keeps the pin.
    let a = yoe(&ws).args(["module", "verify"]).assert().code(1);
    let (out, _) = text(&a);
    assert!(out.contains("MOVED TAG") && out.contains(&moved[..12]) && out.contains(&pinned[..12]), "{out}");
    let a = yoe(&ws).args(["module", "lock"]).assert().success();
    let (out, err) = text(&a);
    assert!(out.contains("MOVED TAG: tag \"v1\""), "{out}");
    assert!(err.contains("up to date"), "{err}");
    assert_eq!(Lockfile::read(&ws.proj()).unwrap().unwrap(), lock);
    // `update` moves it.
    let new = ws.lock_scoped(UpdateScope::Named(vec!["core".into()])).unwrap();
    assert_eq!(new.modules[0].commit, moved);
    assert_eq!(units(&ws), ["bye", "hello", "lib"]);
}

#[test]
fn an_advanced_branch_is_reported_but_not_an_error() {
    let ws = Workspace::new();
    let o = ws.origin("core");
    o.write("MODULE.star", "module_info(name = \"core\")\n").write("units/hello.star", HELLO);
    o.commit("one");
    ws.write("PROJECT.star", &format!("project(name = \"p\", modules = [module({:?}, ref = \"main\")])\n", o.url()));
    ws.lock();
    o.write("units/bye.star", "unit(name = \"bye\")\n");
    o.commit("two");
    let a = yoe(&ws).args(["module", "verify"]).assert().success();
    assert!(text(&a).0.contains("ref moved: branch \"main\""), "{}", text(&a).0);
    assert_eq!(units(&ws), ["hello"]);
    ws.lock_scoped(UpdateScope::All).unwrap();
    assert_eq!(units(&ws), ["bye", "hello"]);
}

#[test]
fn the_lock_must_agree_with_the_project() {
    let (ws, o) = setup();
    let decl = |extra: &str| format!("project(name = \"p\", modules = [module({:?}{extra})])\n", o.url());
    // No lock at all.
    assert!(ws.load_err().contains("has no yoe.lock; run `yoe module lock`"));
    ws.lock();
    // Another ref.
    ws.write("PROJECT.star", &decl(", ref = \"main\""));
    let err = ws.load_err();
    assert!(err.contains("ref \"main\" (yoe.lock: \"v1\")") && err.contains("yoe module lock"), "{err}");
    // Another commit.
    let other = o.commit("empty");
    ws.write("PROJECT.star", &decl(&format!(", ref = \"v1\", commit = {other:?}")));
    let err = ws.load_err();
    assert!(err.contains(&format!("commit {other}")) && err.contains("yoe module lock"), "{err}");
    // Another path: not in the lock.
    ws.write("PROJECT.star", &decl(", ref = \"v1\", path = \"units\""));
    let err = ws.load_err();
    assert!(err.contains("is not in yoe.lock; run `yoe module lock`"), "{err}");
    // A lock entry nobody declares.
    ws.write("PROJECT.star", "project(name = \"p\")\n");
    let err = ws.load_err();
    assert!(err.contains("no longer declares: \"core\"") && err.contains("yoe module lock"), "{err}");
    // `yoe module lock` fixes it, and shows the change.
    let a = yoe(&ws).args(["module", "lock"]).assert().success();
    assert!(text(&a).0.contains("- core"), "{}", text(&a).0);
    ws.load(false).unwrap();
}

#[test]
fn a_hand_edited_tree_hash_fails_sync_with_the_fix() {
    let (ws, _o) = setup();
    let mut lock = ws.lock();
    lock.modules[0].tree = format!("sha256:{}", "0".repeat(64));
    lock.write(&ws.proj()).unwrap();
    let err = ws.load_err();
    assert!(err.contains("does not hash to the tree yoe.lock records"), "{err}");
    let a = yoe(&ws).args(["module", "sync"]).assert().code(1);
    let (_, err) = text(&a);
    assert!(err.contains("but yoe.lock records sha256:0000") && err.contains("yoe module lock"), "{err}");
}

#[test]
fn transitive_modules_are_locked_and_verified() {
    let ws = Workspace::new();
    let base = ws.origin("base");
    base.write("MODULE.star", "module_info(name = \"base\")\n").write("units/b.star", "unit(name = \"b\")\n");
    base.commit("b");
    let top = ws.origin("top");
    top.write(
        "MODULE.star",
        &format!("module_info(name = \"top\", deps = [module({:?}, ref = \"main\")])\n", base.url()),
    )
    .write("units/t.star", "unit(name = \"t\", deps = [\"b\"])\n");
    top.commit("t");
    ws.write("PROJECT.star", &format!("project(name = \"p\", modules = [module({:?}, ref = \"main\")])\n", top.url()));
    let lock = ws.lock();
    let names: Vec<(&str, bool)> = lock.modules.iter().map(|m| (m.name.as_str(), m.transitive)).collect();
    assert_eq!(names, [("base", true), ("top", false)]);
    assert_eq!(units(&ws), ["b", "t"]);
    fs::write(ws.entry_tree(&lock, "base").join("units/b.star"), "unit(name = \"B\")\n").unwrap();
    let err = ws.load_err();
    assert!(err.contains("module \"base\"") && err.contains("modified: units/b.star"), "{err}");
}

#[test]
fn a_module_in_a_subdirectory_materialises_only_that_directory() {
    let ws = Workspace::new();
    let o = ws.origin("mono");
    o.write("README", "top\n")
        .write("modules/core/MODULE.star", "module_info(name = \"core\")\n")
        .write("modules/core/units/u.star", "unit(name = \"u\")\n")
        .write("modules/other/MODULE.star", "module_info(name = \"other\")\n");
    o.commit("mono");
    ws.write(
        "PROJECT.star",
        &format!("project(name = \"p\", modules = [module({:?}, ref = \"main\", path = \"modules/core\")])\n", o.url()),
    );
    let lock = ws.lock();
    assert_eq!(lock.modules[0].path, "modules/core");
    let tree = ws.entry_tree(&lock, "core");
    assert!(tree.join("modules/core/units/u.star").is_file());
    assert!(!tree.join("README").exists() && !tree.join("modules/other").exists());
    assert_eq!(units(&ws), ["u"]);
    fs::write(tree.join("modules/core/units/u.star"), "unit(name = \"v\")\n").unwrap();
    assert!(ws.load_err().contains("modified: units/u.star"));
}

#[test]
fn urls_other_than_https_http_file_are_refused_at_lock() {
    let ws = Workspace::new();
    ws.write(
        "PROJECT.star",
        "project(name = \"p\", modules = [module(\"ext::sh -c touch% /tmp/x\", ref = \"main\")])\n",
    );
    let err = ws.lock_scoped(UpdateScope::Keep).unwrap_err();
    assert!(err.contains("is not allowed"), "{err}");
}

/// The "Done when" flow for modules, through the binary: lock → load (build --dry-run) →
/// tamper → load fails naming the file → sync repairs → load reuses the verified cache.
#[test]
fn done_when_lock_build_tamper_sync_reuse() {
    let (ws, o) = setup();
    let a = yoe(&ws).args(["module", "lock"]).assert().success();
    assert!(text(&a).0.contains("+ core"), "{}", text(&a).0);
    let a = yoe(&ws).args(["build", "--dry-run"]).assert().success();
    assert!(text(&a).0.contains("hello"), "{}", text(&a).0);

    let lock = Lockfile::read(&ws.proj()).unwrap().unwrap();
    let file = ws.entry_tree(&lock, "core").join("units/hello.star");
    fs::write(&file, "unit(name = \"hello\", version = \"6.6.6\")\n").unwrap();
    let a = yoe(&ws).args(["build", "--dry-run"]).assert().code(1);
    let (out, err) = text(&a);
    assert!(out.is_empty(), "no plan printed: {out}");
    assert!(err.contains("modified: units/hello.star") && err.contains("yoe module sync"), "{err}");

    let a = yoe(&ws).args(["module", "sync"]).assert().success();
    assert!(text(&a).0.contains("repaired") && text(&a).0.contains("modified: units/hello.star"), "{}", text(&a).0);
    assert_eq!(fs::read_to_string(&file).unwrap(), HELLO);

    // Reuse: with the origin gone, loads still work from the verified cache, and sync
    // has nothing to fetch.
    fs::rename(&o.dir, ws.path().join("gone")).unwrap();
    yoe(&ws).args(["build", "--dry-run"]).assert().success();
    let a = yoe(&ws).args(["module", "sync"]).assert().success();
    assert!(text(&a).0.starts_with("verified"), "{}", text(&a).0);
    let a = yoe(&ws).args(["module", "list"]).assert().success();
    assert!(text(&a).0.contains("core") && !text(&a).0.contains("not in cache"), "{}", text(&a).0);
}

#[test]
fn two_processes_sync_one_cache_at_once() {
    let (ws, _o) = setup();
    ws.lock();
    fs::remove_dir_all(ws.cache()).unwrap();
    let spawn = || {
        std::process::Command::new(crate::support::yoe_bin())
            .env("YOE_CACHE", ws.cache())
            .env_remove("YOE_PROJECT")
            .arg("--project")
            .arg(ws.proj())
            .args(["module", "sync"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(units(&ws), ["hello", "lib"]);
    let leftovers: Vec<_> = fs::read_dir(ws.store().slug_dir(&ws.lock().modules[0].url))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-") || n.starts_with(".trash-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn fetch_over_http_from_a_local_server() {
    let ws = Workspace::new();
    let o = ws.origin("core");
    o.write("MODULE.star", "module_info(name = \"core\")\n").write("units/hello.star", HELLO);
    o.commit("one");
    o.write("units/bye.star", "unit(name = \"bye\")\n");
    o.commit("two");
    o.tag("v2");
    // A bare copy prepared for the dumb protocol, served over HTTP.
    let served = ws.path().join("served");
    fs::create_dir_all(&served).unwrap();
    git(&ws.path(), &["clone", "-q", "--bare", &o.url(), served.join("core.git").to_str().unwrap()]);
    git(&served.join("core.git"), &["update-server-info"]);
    let url = format!("{}/core.git", serve_dir(served));
    ws.write("PROJECT.star", &format!("project(name = \"p\", modules = [module({url:?}, ref = \"v2\")])\n"));
    let lock = ws.lock();
    assert_eq!(lock.modules[0].commit, o.head());
    assert_eq!(lock.modules[0].url, url);
    assert_eq!(units(&ws), ["bye", "hello"]);
    // Drop the cache: sync fetches again over HTTP.
    fs::remove_dir_all(ws.cache()).unwrap();
    let a = yoe(&ws).args(["module", "sync"]).assert().success();
    assert!(text(&a).0.starts_with("fetched"), "{}", text(&a).0);
    assert_eq!(units(&ws), ["bye", "hello"]);
}

#[test]
fn update_of_an_unknown_module_names_the_known_ones() {
    let (ws, _o) = setup();
    ws.lock();
    let a = yoe(&ws).args(["module", "update", "nope"]).assert().code(1);
    assert!(text(&a).1.contains("no module named nope (modules: core)"), "{}", text(&a).1);
}

#[test]
fn refs_resolve_to_commits_exactly() {
    let ws = Workspace::new();
    let o = ws.origin("core");
    o.write("MODULE.star", "module_info(name = \"core\")\n");
    let first = o.commit("one");
    git(&o.dir, &["tag", "-a", "-m", "annotated", "rel-1"]);
    git(&o.dir, &["branch", "feature/x"]);
    git(&o.dir, &["tag", "same"]);
    git(&o.dir, &["branch", "same"]);
    let second = o.commit("two");
    let store = ws.store();
    let r = |name: &str| store.resolve_ref("core", &o.url(), name);
    let tag = r("rel-1").unwrap();
    assert_eq!((tag.commit.as_str(), tag.kind), (first.as_str(), "tag"), "annotated tags are peeled to the commit");
    assert_eq!(r("main").unwrap().commit, second);
    assert_eq!(r("").unwrap().commit, second, "empty ref: the remote's HEAD");
    assert_eq!(r("feature/x").unwrap().commit, first);
    assert_eq!(r("refs/heads/same").unwrap().commit, first);
    assert_eq!(r(&first).unwrap().commit, first, "a full id needs no lookup");
    let err = r("same").unwrap_err().to_string();
    assert!(err.contains("names both a branch and a tag"), "{err}");
    let err = r("x").unwrap_err().to_string();
    assert!(err.contains("no branch or tag named \"x\""), "{err}");
    // `x` must not match `feature/x` by suffix.
    assert!(r("x").is_err());
}

/// The "Done when", whole: a project with a remote module (file://) whose unit has
/// an https source (a TLS server on 127.0.0.1 with a certificate made now) goes
/// `yoe module lock` → `yoe build` → tamper with the cache → `yoe build` fails naming the
/// file → `yoe module sync` repairs it → `yoe build` reuses the verified cache.
#[test]
fn done_when_with_a_real_build_and_an_https_source() {
    use crate::support::http::{Reply, Server};
    let srv = Server::start_tls();
    let tgz = {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let text = "hello from https\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1);
        h.set_cksum();
        b.append_data(&mut h, "pkg-1.0/hello.txt", text.as_bytes()).unwrap();
        b.into_inner().unwrap().finish().unwrap()
    };
    let url = srv.route("/pkg-1.0.tar.gz", Reply::Bytes(tgz.clone()));
    let ws = Workspace::new();
    fs::set_permissions(ws.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let o = ws.origin("core");
    o.write("MODULE.star", "module_info(name = \"core\")\n").write(
        "units/pkg.star",
        &format!(
            "unit(name = \"pkg\", version = \"1.0\", source = {url:?}, sha256 = {:?},\n    tasks = [task(\"build\", steps = [\"cp hello.txt $DESTDIR/\"])])\n",
            yoe::treehash::sha256_hex(&tgz)
        ),
    );
    o.commit("pkg");
    o.tag("v1");
    ws.write("PROJECT.star", &format!("project(name = \"p\", modules = [module({:?}, ref = \"v1\")])\n", o.url()));
    let ca = srv.ca_pem.clone().expect("ca");
    let run = |args: &[&str]| {
        crate::common::helper();
        let out = std::process::Command::new(crate::support::yoe_bin())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("YOE_CACHE", ws.cache())
            .env("YOE_CA_CERTS", &ca)
            .arg("--project")
            .arg(ws.proj())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), s(&out.stdout), s(&out.stderr))
    };

    let (code, out, err) = run(&["module", "lock"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = run(&["build"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("built") && out.contains("pkg"), "{out}");
    let built = ws.proj().join("build/pkg.x86_64/destdir/hello.txt");
    assert_eq!(fs::read_to_string(&built).unwrap(), "hello from https\n");

    let lock = Lockfile::read(&ws.proj()).unwrap().unwrap();
    let file = ws.entry_tree(&lock, "core").join("units/pkg.star");
    let original = fs::read_to_string(&file).unwrap();
    fs::write(&file, original.replace("cp hello.txt", "echo pwned >")).unwrap();
    let (code, out, err) = run(&["build"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("modified: units/pkg.star") && err.contains("yoe module sync"), "{err}");

    let (code, out, err) = run(&["module", "sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("repaired"), "{out}");
    assert_eq!(fs::read_to_string(&file).unwrap(), original);

    // Reuse: neither the origin nor the server is needed any more.
    fs::rename(&o.dir, ws.path().join("gone")).unwrap();
    drop(srv);
    let (code, out, err) = run(&["build"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("cached"), "{out}");
    assert_eq!(fs::read_to_string(&built).unwrap(), "hello from https\n");
}
