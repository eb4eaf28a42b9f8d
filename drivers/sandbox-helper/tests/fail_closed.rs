//! The helper binary fails closed: a missing or bad policy, or a layer the kernel cannot
//! provide, ends with that layer's exit code and a message naming it, and the step never
//! runs. (The full sandbox is tested from the root crate's escape battery.)

use std::io::{Seek, Write};
use std::process::{Command, Stdio};
use yoe_sandbox_helper::status::Layer;
use yoe_sandbox_helper::wire::{HelperPolicy, Landlock};

fn helper(stdin_bytes: &[u8], args: &[&str]) -> std::process::Output {
    let mut f = tempfile::tempfile().expect("temp file");
    f.write_all(stdin_bytes).expect("write policy");
    f.seek(std::io::SeekFrom::Start(0)).expect("rewind");
    Command::new(env!("CARGO_BIN_EXE_yoe-sandbox-helper"))
        .args(args)
        .env_clear()
        .stdin(Stdio::from(f))
        .output()
        .expect("run helper")
}

fn assert_layer(out: &std::process::Output, layer: Layer) {
    assert_eq!(out.status.code(), Some(i32::from(layer.exit_code())), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{layer} layer failed")), "{err}");
    assert!(out.stdout.is_empty(), "the step must not have run");
}

#[test]
fn usage_error_is_a_policy_failure() {
    let out = helper(b"", &[]);
    assert_layer(&out, Layer::Policy);
}

#[test]
fn garbage_policy_is_refused() {
    let out = helper(b"\x05\x00\x00\x00hello", &["--", "/bin/echo", "ran"]);
    assert_layer(&out, Layer::Policy);
    let out = helper(b"", &["--", "/bin/echo", "ran"]);
    assert_layer(&out, Layer::Policy);
}

#[test]
fn landlock_abi_below_the_minimum_fails_closed() {
    let policy = HelperPolicy {
        landlock: Landlock { min_abi: 60, target_abi: 60, ..Landlock::default() },
        ..HelperPolicy::default()
    };
    let out = helper(&policy.encode_framed(), &["--", "/bin/echo", "ran"]);
    assert_layer(&out, Layer::Landlock);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs at least 60"));
}

#[test]
fn a_missing_required_landlock_path_fails_closed() {
    let policy = HelperPolicy {
        landlock: Landlock {
            min_abi: 1,
            target_abi: 1,
            rules: vec![yoe_sandbox_helper::wire::FsRule {
                access: 1,
                optional: false,
                path: b"/nonexistent/yoe/path".to_vec(),
            }],
            ..Landlock::default()
        },
        ..HelperPolicy::default()
    };
    let out = helper(&policy.encode_framed(), &["--", "/bin/echo", "ran"]);
    assert_layer(&out, Layer::Landlock);
}
