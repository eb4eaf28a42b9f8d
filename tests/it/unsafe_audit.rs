//! No hand-written `unsafe` outside drivers/sandbox-helper. The root crate denies
//! `unsafe_code` but allows it in one file, src/starlark/marker.rs, only because starlark's
//! `derive(ProvidesStaticType)` emits an unsafe marker impl; that file must stay free of the
//! keyword, and no other file may allow the lint.
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_unsafe_outside_the_sandbox_helper() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    if root.join("drivers").is_dir() {
        for d in std::fs::read_dir(root.join("drivers")).unwrap() {
            let d = d.unwrap().path();
            if d.file_name().is_some_and(|n| n != "sandbox-helper") && d.join("src").is_dir() {
                rust_files(&d.join("src"), &mut files);
            }
        }
    }
    assert!(files.len() > 10);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let allowed_file = f.ends_with("src/starlark/marker.rs");
        assert!(!code.contains("unsafe "), "{} contains unsafe code", f.display());
        assert!(!code.contains("unsafe{"), "{} contains unsafe code", f.display());
        if !allowed_file {
            assert!(!code.contains("allow(unsafe_code)"), "{} allows unsafe_code", f.display());
        }
    }
}
