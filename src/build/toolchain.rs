//! Identity of the host toolchain used when no toolchain unit is named: content hashes of
//! the compiler driver, the assembler/linker and the C library, so a host upgrade changes
//! every cache key. Reads a fixed list of host files; runs nothing.
use std::path::Path;

const FILES: &[&str] =
    &["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/ld", "/usr/bin/as", "/usr/bin/make", "/usr/bin/sh", "/usr/bin/bash"];
const LIBC_GLOBS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/aarch64-linux-gnu/libc.so.6",
    "/usr/lib/riscv64-linux-gnu/libc.so.6",
];

/// sha256 over (path, resolved path, content hash) of each existing toolchain file.
pub fn host_identity() -> String {
    let mut lines = String::from("host-toolchain-v1\n");
    for f in FILES.iter().chain(LIBC_GLOBS) {
        let p = Path::new(f);
        let Ok(real) = p.canonicalize() else { continue };
        let sha = crate::treehash::file_sha256(&real).unwrap_or_default();
        lines.push_str(&format!("{f} {} {sha}\n", real.display()));
    }
    crate::treehash::sha256_hex(lines.as_bytes())
}
