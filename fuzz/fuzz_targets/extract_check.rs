//! Shared by the extraction fuzz targets: run one extraction into a fresh temp dir and
//! check, independently of the extractor's own logic, that nothing escaped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use yoe_extract::{ArchiveKind, ExtractOptions, extract_as};

/// Small limits so that the fuzzer explores structure, not big allocations.
fn opts(data: &[u8]) -> ExtractOptions {
    let mut o = ExtractOptions::default()
        .max_total_bytes(1 << 20)
        .max_entries(1000)
        .strip_components(usize::from(data.first().copied().unwrap_or(0) % 3));
    if data.get(1).is_some_and(|b| b & 1 == 1) {
        o = o.follow_symlinks_inside();
    }
    o
}

pub fn run(kind: ArchiveKind, data: &[u8]) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let archive = tmp.path().join("in");
    fs::write(&archive, data).expect("write input");
    let dest = tmp.path().join("dest");
    let result = extract_as(&archive, &dest, kind, &opts(data));
    let mut names: Vec<String> = fs::read_dir(tmp.path())
        .expect("list temp dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    match result {
        Ok(_) => {
            assert_eq!(names, ["dest", "in"], "something was written beside dest");
            check_tree(&dest);
        }
        Err(_) => assert_eq!(names, ["in"], "a failed extraction left something behind"),
    }
}

fn check_tree(dest: &Path) {
    let root = fs::canonicalize(dest).expect("dest resolves");
    let mut stack = vec![dest.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("list") {
            let p = e.expect("entry").path();
            let m = fs::symlink_metadata(&p).expect("lstat");
            let ft = m.file_type();
            if ft.is_symlink() {
                // A symlink that resolves at all must resolve inside.
                if let Ok(real) = fs::canonicalize(&p) {
                    assert!(real.starts_with(&root), "{p:?} resolves to {real:?}");
                }
            } else if ft.is_dir() {
                assert_eq!(m.permissions().mode() & 0o7700, 0o700, "{p:?}");
                stack.push(p);
            } else {
                assert!(ft.is_file(), "{p:?} is a special file");
                assert_eq!(m.permissions().mode() & 0o7600, 0o600, "{p:?}");
            }
        }
    }
}
