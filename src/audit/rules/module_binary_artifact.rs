//! `module-binary-artifact`: executables and binary packages committed to a module (or the
//! project), detected by header (ELF, PE, Mach-O, ar) or by extension, unless allow-listed
//! with their sha256 in `yoe-audit.toml` (`[[allow-binary]]`; a wrong hash still fires).
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Origin, Span};
use super::rule;

rule!(
    "module-binary-artifact",
    ModulesAndTrust,
    High,
    High,
    Regular,
    Cache,
    "an executable or binary package is committed to a module or the project"
);

const EXTENSIONS: &[&str] = &["a", "o", "so", "ko", "apk", "deb", "rpm", "exe", "dll", "dylib", "bin", "elf"];

/// What the header says the file is.
pub fn binary_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x7fELF") {
        return Some("an ELF executable or library");
    }
    if head.starts_with(b"!<arch>\n") {
        return Some("an ar archive (static library or .deb)");
    }
    for magic in
        [[0xfe, 0xed, 0xfa, 0xce], [0xfe, 0xed, 0xfa, 0xcf], [0xce, 0xfa, 0xed, 0xfe], [0xcf, 0xfa, 0xed, 0xfe]]
    {
        if head.starts_with(&magic) {
            return Some("a Mach-O executable");
        }
    }
    if head.starts_with(b"MZ") && head.len() >= 0x40 {
        let off = u32::from_le_bytes([head[0x3c], head[0x3d], head[0x3e], head[0x3f]]) as usize;
        if head.get(off..off + 4) == Some(b"PE\0\0") {
            return Some("a PE (Windows) executable");
        }
    }
    None
}

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for tf in cx.tree_files().iter() {
            let ext = tf.rel.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
            let so_version = tf.rel.file_name().is_some_and(|n| n.to_string_lossy().contains(".so."));
            let kind = match binary_kind(&tf.head) {
                Some(k) => k,
                None if EXTENSIONS.contains(&ext.as_str()) || so_version => "a binary file (by its extension)",
                None => continue,
            };
            let module = match &tf.origin {
                Origin::Module(m) => m.clone(),
                _ => String::new(),
            };
            let rel = tf.rel.to_string_lossy().into_owned();
            let allowed: Vec<_> =
                cx.config.allow_binary.iter().filter(|a| a.module == module && a.path == rel).collect();
            let mut note = String::new();
            if !allowed.is_empty() {
                let actual = crate::treehash::file_sha256(&tf.abs).unwrap_or_default();
                if allowed.iter().any(|a| a.sha256.eq_ignore_ascii_case(&actual)) {
                    continue;
                }
                note = format!(" ([[allow-binary]] lists it with a different sha256; the file's is {actual})");
            }
            let shown = cx.inputs.rel(&tf.abs);
            out.push(cx.finding(
                &META,
                Span::file(shown.clone(), "committed binary"),
                format!("{}.file({rel})", origin_route(&tf.origin)),
                format!("{} is {kind} committed to the {}: it cannot be reviewed{note}", shown.display(), tf.origin),
                "build it from source in a unit; if it must be shipped, list it in yoe-audit.toml as [[allow-binary]] module, path, sha256",
            ));
        }
    }
}

pub fn origin_route(o: &Origin) -> String {
    match o {
        Origin::Module(m) => format!("module({m})"),
        Origin::Project => "project".into(),
        Origin::Output => "output".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert!(binary_kind(b"\x7fELF\x02\x01").is_some());
        assert!(binary_kind(b"!<arch>\ndebian-binary").is_some());
        assert!(binary_kind(b"#!/bin/sh\n").is_none());
        let mut pe = vec![0u8; 0x48];
        pe[0] = b'M';
        pe[1] = b'Z';
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert!(binary_kind(&pe).is_some());
        assert!(binary_kind(b"MZ is just text here, not a PE header at all.............................").is_none());
    }
}
