//! The `yoe-ext4` binary: manifest and directory-tree modes, SOURCE_DATE_EPOCH, JSON report,
//! and failing runs that name the entry and leave nothing behind.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use support::{Case, expected, fsck, verify_debugfs, verify_ext4_view};
use yoe_ext4::format::Timestamp;
use yoe_ext4::from_dir::{Owner, manifest_from_dir};
use yoe_ext4::manifest::{Format, Manifest};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yoe-ext4"));
    c.env_remove("SOURCE_DATE_EPOCH");
    c
}

#[test]
fn manifest_mode_with_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    fs::create_dir_all(staging.join("etc")).unwrap();
    fs::write(staging.join("etc/hostname"), b"box\n").unwrap();
    let manifest = dir.path().join("m.json");
    let json = r#"{"version": 1, "entries": [
        {"type": "dir", "path": "/etc", "mode": "0755"},
        {"type": "file", "path": "/etc/hostname", "mode": "0644", "uid": 0, "gid": 0},
        {"type": "file", "path": "/etc/shadow", "content": "text:root:*:1::::::\n", "mode": "0640", "gid": 42},
        {"type": "symlink", "path": "/etc/localtime", "target": "/usr/share/zoneinfo/UTC"}
    ]}"#;
    fs::write(&manifest, json).unwrap();
    let img = dir.path().join("out.img");
    let out = bin()
        .args(["--manifest"])
        .arg(&manifest)
        .arg("--staging")
        .arg(&staging)
        .arg("--out")
        .arg(&img)
        .args(["--label", "root", "--json"])
        .env("SOURCE_DATE_EPOCH", "1234567890")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    fsck(&img);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["files"], 2);
    assert_eq!(report["block_size"], 4096);
    // The image is private to its owner until someone decides otherwise.
    assert_eq!(fs::metadata(&img).unwrap().permissions().mode() & 0o777, 0o600);
    let case = Case {
        manifest: Manifest::parse(json.as_bytes(), Format::Json).unwrap(),
        opts: yoe_ext4::Options {
            default_time: Timestamp { secs: 1_234_567_890, nanos: 0 },
            ..yoe_ext4::Options::default()
        },
        staging: Some(staging),
        store: None,
    };
    let exp = expected(&case);
    verify_debugfs(&img, &exp, &|_| true);
    verify_ext4_view(&img, &exp, false, &|_| true);
}

#[test]
fn from_dir_mode_with_owner_override() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("a/b")).unwrap();
    fs::write(tree.join("a/b/file"), b"content").unwrap();
    fs::hard_link(tree.join("a/b/file"), tree.join("a/link")).unwrap();
    std::os::unix::fs::symlink("b/file", tree.join("a/sym")).unwrap();
    fs::set_permissions(tree.join("a/b/file"), fs::Permissions::from_mode(0o4750)).unwrap();
    let img = dir.path().join("out.img");
    let out = bin()
        .arg("--from-dir")
        .arg(&tree)
        .args(["--owner", "0:0", "--block-size", "1024", "--out"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    fsck(&img);
    let case = Case {
        manifest: manifest_from_dir(&tree, Some(Owner { uid: 0, gid: 0 })).unwrap(),
        opts: yoe_ext4::Options::default(),
        staging: Some(tree),
        store: None,
    };
    let exp = expected(&case);
    assert_eq!(exp[b"/a/link".as_slice()].nlink, 2);
    verify_debugfs(&img, &exp, &|_| true);
}

#[test]
fn failures_name_the_entry_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.txt");
    fs::write(&manifest, "dir /a\nfile /a/b/c content=text:x\n").unwrap();
    let img = dir.path().join("out.img");
    let out = bin().arg("--manifest").arg(&manifest).arg("--out").arg(&img).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2 `/a/b/c`") && err.contains("/a/b"), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "only the manifest remains");

    let out =
        bin().arg("--manifest").arg(&manifest).args(["--block-size", "8192", "--out"]).arg(&img).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("block size 8192"));

    // --owner only makes sense with --from-dir.
    let out = bin().arg("--manifest").arg(&manifest).args(["--owner", "0:0", "--out"]).arg(&img).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn same_arguments_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.txt");
    fs::write(&manifest, "dir /d mode=0700\nfile /d/f content=text:x\nsymlink /l target=d/f\n").unwrap();
    let run = |name: &str| {
        let img = dir.path().join(name);
        let out = bin()
            .arg("--manifest")
            .arg(&manifest)
            .arg("--out")
            .arg(&img)
            .env("SOURCE_DATE_EPOCH", "99")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        fsck(&img);
        fs::read(&img).unwrap()
    };
    assert!(run("a.img") == run("b.img"));
}
