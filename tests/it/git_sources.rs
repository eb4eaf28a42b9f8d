//! Units whose `source` is a git repository pinned by commit: built from the objects the
//! commit names (re-hashed on every use), a tampered cache repaired by fetching again or
//! refused naming the object and path, file:// repositories confined to the project, git
//! over http from a server on 127.0.0.1, and `yoe source fetch|verify`.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::sources::{out, yoe};
use crate::support::Fixture;
use crate::support::git::{Origin, git, serve_dir};

fn unit_star(url: &str, commit: &str) -> String {
    format!(
        "unit(name = \"hello\", version = \"1.0\", source = {url:?}, commit = {commit:?}, tag = \"v1\",\n    \
         tasks = [task(\"build\", steps = [\"cp hello.txt $DESTDIR/ && cp -r sub $DESTDIR/\"])])\n"
    )
}

/// A project with an upstream repository inside it and a unit pinned to its commit.
fn setup() -> (Fixture, Origin, String) {
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    let o = Origin::new(f.root().join("upstream/hello.git"));
    o.write("hello.txt", "hello from git\n").write("sub/data", "d\n");
    let commit = o.commit("one");
    o.tag("v1");
    // A later commit that the pin must not pick up.
    o.write("hello.txt", "moved on\n");
    o.commit("two");
    f.write("units/hello.star", &unit_star(&o.url(), &commit));
    (f, o, commit)
}

/// [`setup`] with the upstream served over http from 127.0.0.1: the served dir (the server
/// answers 404 once it is dropped) and the URL.
fn setup_http() -> (Fixture, String, tempfile::TempDir, String) {
    let (f, o, commit) = setup();
    let served = tempfile::tempdir().unwrap();
    let bare = served.path().join("hello.git");
    git(served.path(), &["clone", "-q", "--bare", &o.url(), bare.to_str().unwrap()]);
    git(&bare, &["update-server-info"]);
    let url = format!("{}/hello.git", serve_dir(served.path().to_path_buf()));
    f.write("units/hello.star", &unit_star(&url, &commit));
    (f, commit, served, url)
}

fn built(f: &Fixture) -> PathBuf {
    f.root().join("build/hello.x86_64/destdir/hello.txt")
}

/// The loose object file of `hello.txt` at `commit` in the cached bare repository.
fn cached_blob(cache: &Path, origin: &Origin, commit: &str) -> PathBuf {
    let id = git(&origin.dir, &["rev-parse", &format!("{commit}:hello.txt")]);
    let repos: Vec<PathBuf> = fs::read_dir(cache.join("git"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("repo.git"))
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(repos.len(), 1, "{repos:?}");
    let p = repos[0].join("objects").join(&id[..2]).join(&id[2..]);
    assert!(p.is_file(), "a small fetch is kept as loose objects: {}", p.display());
    p
}

/// Replace a loose object with a well-formed one of other content (git itself would serve it).
fn forge(object: &Path, content: &[u8]) {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(format!("blob {}\0", content.len()).as_bytes()).unwrap();
    z.write_all(content).unwrap();
    let _ = fs::set_permissions(object, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    fs::write(object, z.finish().unwrap()).unwrap();
}

#[test]
fn builds_the_pinned_commit_and_repairs_or_refuses_a_tampered_cache() {
    let (f, o, commit) = setup();
    let cache = tempfile::tempdir().unwrap();
    let (code, so, se) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 0, "{so}\n{se}");
    assert_eq!(fs::read_to_string(built(&f)).unwrap(), "hello from git\n", "the pinned commit, not the branch tip");
    assert_eq!(fs::read_to_string(f.root().join("build/hello.x86_64/destdir/sub/data")).unwrap(), "d\n");
    assert!(se.contains(&format!("fetched {} @ {commit}", o.url())), "{se}");
    assert!(!f.root().join("build/hello.x86_64/src/.git").exists(), "no .git in src");

    // Forge the cached blob: the next build re-reads the objects, sees the forgery, and
    // fetches the repository again.
    forge(&cached_blob(cache.path(), &o, &commit), b"pwned\n");
    fs::remove_dir_all(f.root().join("build")).unwrap();
    let (code, so, se) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 0, "{so}\n{se}");
    assert_eq!(fs::read_to_string(built(&f)).unwrap(), "hello from git\n");
    assert!(se.contains("does not hash to its id") && se.contains("fetching the repository again"), "{se}");

    // `yoe source verify` re-hashes without fetching.
    let (code, so, _) = out(yoe(&f.root(), cache.path()).args(["source", "verify"]));
    assert_eq!(code, 0, "{so}");
    assert!(so.contains(&format!("ok       hello                    {commit}")), "{so}");

    // Forged again, and the origin is gone: the build fails naming the object and the
    // path, and leaves no half-written src behind.
    forge(&cached_blob(cache.path(), &o, &commit), b"pwned\n");
    let (code, so, _) = out(yoe(&f.root(), cache.path()).args(["source", "verify"]));
    assert_eq!(code, 1, "{so}");
    assert!(so.contains("corrupt  hello") && so.contains("(for hello.txt)"), "{so}");
    fs::rename(&o.dir, f.root().join("upstream/gone")).unwrap();
    fs::remove_dir_all(f.root().join("build")).unwrap();
    let (code, so, se) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 1, "{so}\n{se}");
    assert!(se.contains("unit \"hello\": git source") && se.contains(&commit), "{se}");
    assert!(se.contains("(for hello.txt) in the cached repository does not hash to its id"), "{se}");
    assert!(se.contains("fetching the repository again failed"), "{se}");
    let src = f.root().join("build/hello.x86_64/src");
    assert!(!src.exists() || fs::read_dir(&src).unwrap().next().is_none(), "src is left empty");
    assert!(!built(&f).exists());
}

#[test]
fn a_commit_the_remote_does_not_have_is_named() {
    let (f, o, _) = setup();
    let bogus = "0123456789abcdef0123456789abcdef01234567";
    f.write("units/hello.star", &unit_star(&o.url(), bogus));
    let cache = tempfile::tempdir().unwrap();
    let (code, so, se) = out(yoe(&f.root(), cache.path()).args(["source", "fetch"]));
    assert_eq!(code, 1, "{so}\n{se}");
    assert!(se.contains(&format!("unit \"hello\": git source {} @ {bogus}", o.url())), "{se}");
    // Not cached: verify says so and fetches nothing.
    let (code, so, _) = out(yoe(&f.root(), cache.path()).args(["source", "verify"]));
    assert_eq!(code, 1);
    assert!(so.contains(&format!("missing  hello                    {bogus}")), "{so}");
}

#[test]
fn a_tag_alone_is_not_a_pin() {
    let (f, o, _) = setup();
    f.write(
        "units/hello.star",
        &format!("unit(name = \"hello\", version = \"1.0\", source = {:?}, tag = \"v1\")\n", o.url()),
    );
    let cache = tempfile::tempdir().unwrap();
    let (code, _, se) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 1);
    assert!(se.contains("field `commit` is missing") && se.contains("`tag`/`branch` alone can move"), "{se}");
}

#[test]
fn file_repositories_must_live_in_the_project() {
    let outside = tempfile::tempdir().unwrap();
    let o = Origin::new(outside.path().join("secret.git"));
    o.write("hello.txt", "private\n");
    let commit = o.commit("one");
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    f.write("units/hello.star", &unit_star(&o.url(), &commit));
    let cache = tempfile::tempdir().unwrap();
    let (code, _, se) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 1);
    assert!(se.contains("outside the project") && se.contains("file:// sources must live in the project"), "{se}");
    assert!(!cache.path().join("git").exists() || fs::read_dir(cache.path().join("git")).unwrap().next().is_none());
}

#[test]
fn git_over_http_from_a_local_server() {
    let (f, commit, served, url) = setup_http();
    let cache = tempfile::tempdir().unwrap();
    let (code, so, se) = out(yoe(&f.root(), cache.path()).args(["source", "fetch"]));
    assert_eq!(code, 0, "{so}\n{se}");
    assert!(so.contains(&format!("fetched  hello                    {commit} {url}")), "{so}");
    let (code, so, se) = out(yoe(&f.root(), cache.path()).args(["source", "fetch"]));
    assert_eq!(code, 0, "{se}");
    assert!(so.contains("cached   hello"), "{so}");
    // The server is not needed to build from the cache.
    drop(served);
    let (code, so, se) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 0, "{so}\n{se}");
    assert_eq!(fs::read_to_string(built(&f)).unwrap(), "hello from git\n");
}

#[test]
fn another_project_must_reach_the_repository_itself() {
    let (f, commit, served, url) = setup_http();
    let cache = tempfile::tempdir().unwrap();
    let (code, so, se) = out(yoe(&f.root(), cache.path()).args(["source", "fetch"]));
    assert_eq!(code, 0, "{so}\n{se}");
    // The repository goes away (it was private to the first project's network, say).
    drop(served);
    let other = Fixture::new(&[("PROJECT.star", "project(name = \"other\", version = \"1\")\n")]);
    other.write("units/hello.star", &unit_star(&url, &commit));
    let (code, so, se) = out(yoe(&other.root(), cache.path()).arg("build"));
    assert_ne!(code, 0, "the other project was served a repository it cannot reach:\n{so}\n{se}");
    assert!(!other.root().join("build/hello.x86_64/destdir/hello.txt").exists());
    let (code, so, _) = out(yoe(&other.root(), cache.path()).args(["source", "verify"]));
    assert_ne!(code, 0);
    assert!(so.contains("missing  hello"), "{so}");
    // The first project still builds from the cache, offline.
    let (code, so, se) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 0, "{so}\n{se}");
}
