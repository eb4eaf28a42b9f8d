//! Pinned sources end to end, against a local HTTP server and files the tests create: good
//! and bad bytes, truncation, redirects, stalls, retries, mirrors, the store's re-hashing,
//! unpinned sources, safe extraction into builds, patches, and two processes sharing a store.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use yoe::model::Unit;
use yoe::source::{FetchOptions, Sources};

use crate::support::Fixture;
use crate::support::http::{Reply, Server};

fn sha(b: &[u8]) -> String {
    yoe::treehash::sha256_hex(b)
}

/// A gzipped tarball with one top directory `pkg-1.0/` holding `files`.
fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (p, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1);
        h.set_cksum();
        b.append_data(&mut h, format!("pkg-1.0/{p}"), text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn unit(project: &Fixture, body: &str) -> Unit {
    project.write("units/u.star", body);
    let l = project.load_ok();
    l.project.units.values().next().expect("one unit").clone()
}

fn quick() -> FetchOptions {
    FetchOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(700),
        attempts: 3,
        backoff: Duration::from_millis(20),
        max_bytes: 1 << 20,
        ca_certs: None,
    }
}

fn sources(cache: &Path, root: &Path) -> Sources {
    let mut s = Sources::new(cache, root);
    s.options = quick();
    s
}

fn no_notes(_: &str) {}

#[test]
fn fetches_verifies_and_reuses_then_refetches_a_corrupt_object() {
    let srv = Server::start();
    let data = tarball(&[("configure", "echo hi")]);
    let url = srv.route("/pkg-1.0.tar.gz", Reply::Bytes(data.clone()));
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    let u = unit(&f, &format!("unit(name = \"u\", source = \"{url}\", sha256 = \"{}\")\n", sha(&data)));
    let cache = tempfile::tempdir().unwrap();
    let s = sources(cache.path(), &f.root());
    let got = s.ensure(&u, &no_notes).unwrap().unwrap();
    assert!(!got.reused);
    assert_eq!(std::fs::read(&got.object).unwrap(), data);
    let again = s.ensure(&u, &no_notes).unwrap().unwrap();
    assert!(again.reused);
    assert_eq!(srv.hits("/pkg-1.0.tar.gz"), 1, "reuse does not refetch");

    // Corrupt the stored object: the next use re-hashes it, says so, deletes and refetches.
    let mut perms = std::fs::metadata(&got.object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&got.object, perms).unwrap();
    std::fs::write(&got.object, "tampered").unwrap();
    let notes = std::sync::Mutex::new(Vec::new());
    let note = |m: &str| notes.lock().unwrap().push(m.to_string());
    let fixed = s.ensure(&u, &note).unwrap().unwrap();
    assert!(!fixed.reused);
    assert_eq!(std::fs::read(&fixed.object).unwrap(), data);
    assert_eq!(srv.hits("/pkg-1.0.tar.gz"), 2);
    let notes = notes.into_inner().unwrap();
    assert!(notes.iter().any(|n| n.contains("hashed to") && n.contains("fetched again")), "{notes:?}");
}

#[test]
fn wrong_truncated_stalled_and_missing_urls_fail_over_to_a_good_mirror() {
    let srv = Server::start();
    let data = b"the real bytes".to_vec();
    let wrong = srv.route("/wrong", Reply::Bytes(b"evil bytes".to_vec()));
    let trunc = srv.route("/trunc", Reply::Truncated { body: data[..4].to_vec(), len: data.len() });
    let stall = srv.route("/stall", Reply::Stall(Duration::from_secs(5)));
    let gone = srv.route("/gone", Reply::Status(404));
    let redirect = srv.route("/redirect", Reply::Redirect(format!("{}/good", srv.base)));
    srv.route("/good", Reply::Bytes(data.clone()));
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    let u = unit(
        &f,
        &format!(
            "unit(name = \"u\", source = \"{wrong}\", mirrors = [\"{trunc}\", \"{stall}\", \"{gone}\", \"{redirect}\"], sha256 = \"{}\")\n",
            sha(&data)
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let notes = std::sync::Mutex::new(Vec::new());
    let note = |m: &str| notes.lock().unwrap().push(m.to_string());
    let got = sources(cache.path(), &f.root()).ensure(&u, &note).unwrap().unwrap();
    assert_eq!(std::fs::read(got.object).unwrap(), data);
    let notes = notes.into_inner().unwrap().join("\n");
    assert!(notes.contains("/wrong: got sha256"), "{notes}");
    assert!(notes.contains("/trunc"), "{notes}");
    assert!(notes.contains("/stall"), "{notes}");
    assert!(notes.contains("/gone: HTTP status 404"), "{notes}");
    assert_eq!(srv.hits("/gone"), 1, "a 404 is not retried");
    assert_eq!(srv.hits("/wrong"), 1, "wrong bytes are not retried from the same URL");
}

#[test]
fn transient_errors_are_retried_and_all_failures_are_listed() {
    let srv = Server::start();
    let data = b"flaky".to_vec();
    let flaky = srv.route("/flaky", Reply::FlakyThen(2, data.clone()));
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    let u = unit(&f, &format!("unit(name = \"u\", source = \"{flaky}\", sha256 = \"{}\")\n", sha(&data)));
    let cache = tempfile::tempdir().unwrap();
    sources(cache.path(), &f.root()).ensure(&u, &no_notes).unwrap().unwrap();
    assert_eq!(srv.hits("/flaky"), 3);

    let bad = srv.route("/always-503", Reply::Status(503));
    let u = unit(&f, &format!("unit(name = \"u\", source = \"{bad}\", sha256 = \"{}\")\n", sha(b"x")));
    let err = sources(cache.path(), &f.root()).ensure(&u, &no_notes).unwrap_err().to_string();
    assert!(err.contains("unit \"u\": no URL gave bytes with sha256") && err.contains("HTTP status 503"), "{err}");
    assert_eq!(srv.hits("/always-503"), 3, "retried up to the attempt limit");
}

#[test]
fn size_limit_is_enforced() {
    let srv = Server::start();
    let big = vec![7u8; 2 << 20];
    let url = srv.route("/big", Reply::Bytes(big.clone()));
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    let u = unit(&f, &format!("unit(name = \"u\", source = \"{url}\", sha256 = \"{}\")\n", sha(&big)));
    let cache = tempfile::tempdir().unwrap();
    let err = sources(cache.path(), &f.root()).ensure(&u, &no_notes).unwrap_err().to_string();
    assert!(err.contains("larger than the limit"), "{err}");
}

#[test]
fn missing_pins_name_unit_and_field_and_allow_unpinned_prints_the_hash() {
    let srv = Server::start();
    let url = srv.route("/x.tar.gz", Reply::Bytes(b"abc".to_vec()));
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    let u = unit(&f, &format!("unit(name = \"nohash\", source = \"{url}\")\n"));
    let cache = tempfile::tempdir().unwrap();
    let err = sources(cache.path(), &f.root()).ensure(&u, &no_notes).unwrap_err().to_string();
    assert!(err.contains("unit \"nohash\": field `sha256` is missing"), "{err}");
    let mut s = sources(cache.path(), &f.root());
    s.allow_unpinned = true;
    let notes = std::sync::Mutex::new(Vec::new());
    let note = |m: &str| notes.lock().unwrap().push(m.to_string());
    s.ensure(&u, &note).unwrap();
    let notes = notes.into_inner().unwrap().join("\n");
    assert!(notes.contains(&format!("pin it with sha256 = \"{}\"", sha(b"abc"))), "{notes}");

    let u = unit(&f, "unit(name = \"g\", source = \"https://github.com/madler/zlib.git\", tag = \"v1.3.1\")\n");
    let err = sources(cache.path(), &f.root()).ensure(&u, &no_notes).unwrap_err().to_string();
    assert!(err.contains("unit \"g\": field `commit` is missing"), "{err}");
}

#[test]
fn file_sources_must_live_in_the_project() {
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n"), ("dl/a.txt", "inside")]);
    let inside = f.root().join("dl/a.txt");
    let u = unit(
        &f,
        &format!("unit(name = \"u\", source = \"file://{}\", sha256 = \"{}\")\n", inside.display(), sha(b"inside")),
    );
    let cache = tempfile::tempdir().unwrap();
    sources(cache.path(), &f.root()).ensure(&u, &no_notes).unwrap().unwrap();
    let u = unit(&f, &format!("unit(name = \"u\", source = \"file:///etc/hostname\", sha256 = \"{}\")\n", sha(b"x")));
    let err = sources(cache.path(), &f.root()).ensure(&u, &no_notes).unwrap_err().to_string();
    assert!(err.contains("outside the project"), "{err}");
}

/// The yoe binary for `project`, with `cache` as its cache and an empty environment.
pub fn yoe(project: &Path, cache: &Path) -> Command {
    crate::common::helper();
    let mut c = Command::new(crate::support::yoe_bin());
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("YOE_CACHE", cache)
        .arg("--project")
        .arg(project)
        .stdin(Stdio::null());
    c
}

/// Exit code, stdout and stderr.
pub fn out(c: &mut Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn build_extracts_the_pinned_tarball_applies_patches_and_reports_a_bad_one() {
    let srv = Server::start();
    let data = tarball(&[("hello.txt", "hello\nworld\n"), ("sub/readme", "r")]);
    let url = srv.route("/pkg-1.0.tar.gz", Reply::Bytes(data.clone()));
    let unit_text = format!(
        "unit(name = \"pkg\", version = \"1.0\", source = \"{url}\", sha256 = \"{}\", patches = [\"pkg/0001-fix.patch\"],\n    tasks = [task(\"build\", steps = [\"cp hello.txt sub/readme $DESTDIR/\"])])\n",
        sha(&data)
    );
    let good = "--- a/hello.txt\n+++ b/hello.txt\n@@ -1,2 +1,2 @@\n hello\n-world\n+patched\n";
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"1\")\n"),
        ("units/pkg.star", &unit_text),
        ("units/pkg/0001-fix.patch", good),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let (code, o, e) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 0, "{o}\n{e}");
    assert_eq!(
        std::fs::read_to_string(f.root().join("build/pkg.x86_64/destdir/hello.txt")).unwrap(),
        "hello\npatched\n"
    );
    assert!(f.root().join("build/pkg.x86_64/destdir/readme").exists(), "first component stripped");

    // A patch that does not apply names the patch and the failed hunk.
    let bad = "--- a/hello.txt\n+++ b/hello.txt\n@@ -1,2 +1,2 @@\n hello\n-nothere\n+x\n";
    f.write("units/pkg/0001-fix.patch", bad);
    let (code, _, e) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 1);
    assert!(e.contains("unit \"pkg\" failed at patch pkg/0001-fix.patch"), "{e}");
    assert!(e.contains("Hunk #1 FAILED"), "{e}");

    // source verify / fetch report the store.
    let (code, o, _) = out(yoe(&f.root(), cache.path()).args(["source", "verify"]));
    assert_eq!(code, 0);
    assert!(o.contains(&format!("ok       pkg                      {}", sha(&data))), "{o}");
}

#[test]
fn a_hostile_tarball_fails_the_build_naming_archive_and_entry() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "pkg/ok", &b"x"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_cksum();
    b.append_link(&mut h, "pkg/escape", "../../../../etc").unwrap();
    let data = b.into_inner().unwrap();
    let srv = Server::start();
    let url = srv.route("/evil.tar", Reply::Bytes(data.clone()));
    let text = format!(
        "unit(name = \"evil\", source = \"{url}\", sha256 = \"{}\", tasks = [task(\"b\", steps = [\"true\"])])\n",
        sha(&data)
    );
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n"), ("units/e.star", &text)]);
    let cache = tempfile::tempdir().unwrap();
    let (code, _, e) = out(yoe(&f.root(), cache.path()).arg("build"));
    assert_eq!(code, 1);
    assert!(e.contains("unit \"evil\" failed at fetching the source") && e.contains("escape"), "{e}");
    assert!(e.contains("evil.tar"), "names the archive: {e}");
    assert!(e.contains("entry #1 \"pkg/escape\" refused: symlink target"), "names the entry: {e}");
    assert!(!e.contains("malformed"), "refused for the escape, not for a broken header: {e}");
}

#[test]
fn allow_unpinned_is_refused_with_paranoid_and_under_ci() {
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    let cache = tempfile::tempdir().unwrap();
    let (code, _, e) = out(yoe(&f.root(), cache.path()).args(["--paranoid", "source", "fetch", "--allow-unpinned"]));
    assert_eq!(code, 1);
    assert!(e.contains("--allow-unpinned is refused with --paranoid"), "{e}");
    let (code, _, e) =
        out(yoe(&f.root(), cache.path()).env("CI", "true").args(["source", "fetch", "--allow-unpinned"]));
    assert_eq!(code, 1);
    assert!(e.contains("refused when CI is set"), "{e}");
}

#[test]
fn two_processes_share_one_store() {
    let srv = Server::start();
    let data: Vec<u8> = (0..400_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut units = String::new();
    for i in 0..6 {
        let url = srv.route(&format!("/blob{i}"), Reply::Bytes(data.clone()));
        units.push_str(&format!("unit(name = \"u{i}\", source = \"{url}\", sha256 = \"{}\")\n", sha(&data)));
    }
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n"), ("units/u.star", &units)]);
    let cache = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            yoe(&f.root(), cache.path())
                .args(["source", "fetch"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (code, o, _) = out(yoe(&f.root(), cache.path()).args(["source", "verify"]));
    assert_eq!(code, 0, "{o}");
    assert_eq!(o.lines().filter(|l| l.starts_with("ok")).count(), 6, "{o}");
    let tmp = cache.path().join("objects/tmp");
    assert_eq!(std::fs::read_dir(tmp).map(|d| d.count()).unwrap_or(0), 0, "no temp files left");
}

#[test]
fn https_sources_need_a_trusted_certificate() {
    let srv = Server::start_tls();
    let data = tarball(&[("x", "y")]);
    let url = srv.route("/pkg-1.0.tar.gz", Reply::Bytes(data.clone()));
    assert!(url.starts_with("https://127.0.0.1:"));
    let f = Fixture::new(&[("PROJECT.star", "project(name = \"t\", version = \"1\")\n")]);
    let u = unit(&f, &format!("unit(name = \"u\", source = \"{url}\", sha256 = \"{}\")\n", sha(&data)));
    let cache = tempfile::tempdir().unwrap();
    // Not trusted by the built-in roots: refused.
    let err = sources(cache.path(), &f.root()).ensure(&u, &no_notes).unwrap_err().to_string();
    assert!(err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"), "{err}");
    // Trusted through YOE_CA_CERTS' option: fetched and verified.
    let mut s = sources(cache.path(), &f.root());
    s.options.ca_certs = srv.ca_pem.clone();
    let got = s.ensure(&u, &no_notes).unwrap().unwrap();
    assert_eq!(std::fs::read(got.object).unwrap(), data);
}

#[test]
fn a_project_is_served_only_the_sources_it_fetched_itself() {
    let srv = Server::start();
    let secret = tarball(&[("secret.txt", "project A's private source")]);
    let private = srv.route("/private/a-1.0.tar.gz", Reply::Bytes(secret.clone()));
    let cache = tempfile::tempdir().unwrap();
    // A fetches its private source into the shared store.
    let a = Fixture::new(&[("PROJECT.star", "project(name = \"a\", version = \"1\")\n")]);
    let ua = unit(&a, &format!("unit(name = \"a\", source = \"{private}\", sha256 = \"{}\")\n", sha(&secret)));
    assert!(!sources(cache.path(), &a.root()).ensure(&ua, &no_notes).unwrap().unwrap().reused);
    // B names the same sha256 with a URL it cannot fetch: it is not served A's bytes.
    let b = Fixture::new(&[("PROJECT.star", "project(name = \"b\", version = \"1\")\n")]);
    let nowhere = srv.route("/b/nothing.tar.gz", Reply::Status(404));
    let ub = unit(&b, &format!("unit(name = \"b\", source = \"{nowhere}\", sha256 = \"{}\")\n", sha(&secret)));
    let sb = sources(cache.path(), &b.root());
    let e = sb.ensure(&ub, &no_notes).expect_err("B must fetch for itself").to_string();
    assert!(e.contains("no URL gave bytes with sha256"), "{e}");
    assert!(sb.stored(&sha(&secret)).unwrap().is_none(), "`yoe source verify` in B does not see A's object");
    let src = b.root().join("src");
    assert!(sb.prepare(&ub, &src, &no_notes).is_err());
    assert!(!src.join("secret.txt").exists());
    // Control: with a URL that really serves those bytes, B fetches them itself and from then
    // on is served from the store like A.
    let public = srv.route("/b/a-1.0.tar.gz", Reply::Bytes(secret.clone()));
    let ub = unit(&b, &format!("unit(name = \"b\", source = \"{public}\", sha256 = \"{}\")\n", sha(&secret)));
    assert!(!sb.ensure(&ub, &no_notes).unwrap().unwrap().reused, "B downloads once");
    assert!(sb.ensure(&ub, &no_notes).unwrap().unwrap().reused);
    assert_eq!(srv.hits("/b/a-1.0.tar.gz"), 1);
    // A is unaffected: still served from the store without a fetch.
    assert!(sources(cache.path(), &a.root()).ensure(&ua, &no_notes).unwrap().unwrap().reused);
    assert_eq!(srv.hits("/private/a-1.0.tar.gz"), 1);
}
