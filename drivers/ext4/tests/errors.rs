//! Bad input fails with an error that names the entry, and leaves no image (and no temporary
//! file) behind; an existing output file is left as it was.

mod support;

use std::fs;
use std::path::Path;

use support::{Case, build_at, opts};
use yoe_ext4::manifest::{Format, Manifest};
use yoe_ext4::{Inodes, Options, Size};

/// Run a case that must fail; check the message names `must_name`, and that the output
/// directory holds nothing but the untouched previous output.
fn fails(case: &Case, must_name: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fs.img");
    fs::write(&out, b"previous image").unwrap();
    let err = build_at(case, &out).expect_err("the build must fail").to_string();
    for s in must_name {
        assert!(err.contains(s), "error {err:?} does not mention {s:?}");
    }
    assert_eq!(fs::read(&out).unwrap(), b"previous image", "output was touched");
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
    err
}

fn lines(text: &str) -> Case {
    Case {
        manifest: Manifest::parse(text.as_bytes(), Format::Lines).unwrap(),
        opts: opts(),
        staging: None,
        store: None,
    }
}

#[test]
fn duplicate_path() {
    fails(
        &lines("dir /a\nfile /a/x content=text:1\nfile /a/x content=text:2\n"),
        &["line 3", "/a/x", "duplicate", "line 2"],
    );
    // The same path written differently is still the same path.
    fails(&lines("dir /a\ndir a\n"), &["line 2", "duplicate"]);
}

#[test]
fn missing_or_wrong_parent() {
    fails(
        &lines("file /no/such/dir content=text:x\n"),
        &["line 1", "/no/such/dir", "`/no/such` is not in the manifest"],
    );
    fails(
        &lines("file /f content=text:x\nfile /f/g content=text:y\n"),
        &["line 2", "/f/g", "is a file, not a directory"],
    );
}

#[test]
fn hard_link_targets() {
    fails(&lines("hardlink /h target=/missing\n"), &["line 1", "/h", "/missing", "not in the manifest"]);
    fails(&lines("dir /d\nhardlink /h target=/d\n"), &["line 2", "/h", "directory"]);
    fails(&lines("hardlink /a target=/b\nhardlink /b target=/a\n"), &["line 2 `/b`", "cycle"]);
    // Hard links take no metadata of their own.
    let e = Manifest::parse(b"file /f content=text:x\nhardlink /h target=/f mode=0600\n", Format::Lines).unwrap_err();
    assert!(e.to_string().contains("line 2 `/h`"), "{e}");
}

#[test]
fn bad_names() {
    let long = "x".repeat(256);
    fails(&lines(&format!("file /{long} content=text:x\n")), &["line 1", "256 bytes", "255"]);
    fails(&lines("file /a\\x00b content=text:x\n"), &["line 1", "NUL"]);
    fails(&lines("dir /a\nfile /a//b content=text:x\n"), &["line 2", "empty, `.` or `..` component"]);
    fails(&lines("dir /a\nfile /a/../b content=text:x\n"), &["line 2", "component"]);
    fails(&lines("dir /a\nfile /a/./b content=text:x\n"), &["line 2", "component"]);
    let json = br#"{"entries":[{"type":"file","path":"/a\u0000b","content":"text:x"}]}"#;
    let case =
        Case { manifest: Manifest::parse(json, Format::Json).unwrap(), opts: opts(), staging: None, store: None };
    fails(&case, &["entry 0", "NUL"]);
}

#[test]
fn bad_symlinks() {
    fails(&lines(&format!("symlink /l target={}\n", "t".repeat(4096))), &["line 1", "/l", "4096 bytes", "4095"]);
    fails(&lines("symlink /l target=a\\x00b\n"), &["line 1", "NUL"]);
    let e = Manifest::parse(b"symlink /l\n", Format::Lines).unwrap_err();
    assert!(e.to_string().contains("needs `target`"), "{e}");
    fails(&lines("symlink /l target=\n"), &["line 1", "empty"]);
}

#[test]
fn bad_xattrs() {
    fails(&lines("file /f content=text:x xattr.system.data=text:x\n"), &["line 1", "/f", "system.data", "prefix"]);
    fails(
        &lines(&format!("file /f content=text:x xattr.user.big=hex:{}\n", "00".repeat(5000))),
        &["line 1", "/f", "do not fit"],
    );
    fails(&lines("file /f content=text:x xattr.user.a=text:1 xattr.user.a=text:2\n"), &["line 1", "user.a", "twice"]);
    fails(&lines("dir /d xattr.system.posix_acl_access=hex:0100\n"), &["line 1", "POSIX ACL"]);
    fails(&lines("symlink /l target=x xattr.user.a=text:1\n"), &["line 1", "/l", "files and directories only"]);
}

#[test]
fn content_that_does_not_fit() {
    let text = format!("file /small content=text:x\nfile /big content=hex:{}\n", "ab".repeat(5 << 20));
    let mut case = lines(&text);
    case.opts = Options { size: Size::Fixed(8 << 20), ..opts() };
    fails(&case, &["line 2", "/big", "does not fit"]);
    // Too few inodes.
    let many: String = (0..100).map(|i| format!("file /f{i} size=0\n")).collect();
    let mut case = lines(&many);
    case.opts = Options { inodes: Inodes::Count(50), ..opts() };
    fails(&case, &["inodes"]);
}

fn staging_case(text: &str, staging: &Path) -> Case {
    Case {
        manifest: Manifest::parse(text.as_bytes(), Format::Lines).unwrap(),
        opts: opts(),
        staging: Some(staging.to_owned()),
        store: None,
    }
}

#[test]
fn content_sources_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    fs::create_dir_all(staging.join("sub")).unwrap();
    fs::write(dir.path().join("outside"), b"secret").unwrap();
    fs::write(staging.join("real"), b"data").unwrap();
    std::os::unix::fs::symlink("/outside", staging.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("real", staging.join("rel-link")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        staging.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();

    fails(&staging_case("file /f src=missing\n", &staging), &["line 1", "/f", "missing"]);
    fails(&staging_case("file /f\n", &staging), &["line 1", "/f", "cannot open"]);
    fails(&staging_case("file /f src=sub\n", &staging), &["line 1", "not a regular file"]);
    fails(&staging_case("file /f src=fifo\n", &staging), &["line 1", "not a regular file"]);
    // A symlink as the source is refused rather than followed.
    fails(&staging_case("file /f src=rel-link\n", &staging), &["line 1", "rel-link"]);
    // Nothing outside the staging tree is reachable, by `..` or through symlinks.
    fails(&staging_case("file /f src=../outside\n", &staging), &["line 1", "outside"]);
    fails(&staging_case("file /f src=abs-link/x\n", &staging), &["line 1", "abs-link"]);
    fails(&staging_case("file /f src=real size=5\n", &staging), &["line 1", "4 bytes", "says 5"]);
    let wrong = "00".repeat(32);
    fails(&staging_case(&format!("file /f src=real sha256={wrong}\n"), &staging), &["line 1", "SHA-256"]);
    let none = lines(&format!("file /f sha256={wrong}\n"));
    fails(&none, &["line 1", "no store"]);
    fails(&lines("file /f\n"), &["line 1", "no staging directory"]);
}
