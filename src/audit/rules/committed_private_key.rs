//! `committed-private-key`: a private key in the project or a module tree (a PEM `PRIVATE
//! KEY` block, or a `*.rsa` file), or `signing_key=` pointing inside the repository.
use std::path::Path;

use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Span};
use super::rule;

rule!(
    "committed-private-key",
    ProjectAndMeta,
    High,
    High,
    Regular,
    Static,
    "a private key is in the project or a module, or signing_key= points inside the repository"
);

fn is_private_key(name: &str, head: &[u8]) -> bool {
    let pem = head.windows(11).any(|w| w == b"-----BEGIN ") && head.windows(16).any(|w| w == b"PRIVATE KEY-----");
    pem || (name.ends_with(".rsa") && !name.ends_with(".rsa.pub"))
}

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for tf in cx.tree_files().iter() {
            let name = tf.rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !is_private_key(&name, &tf.head) {
                continue;
            }
            let shown = cx.inputs.rel(&tf.abs);
            out.push(cx.finding(
                &META,
                Span::file(shown.clone(), "private key"),
                format!("{}.file({})", super::module_binary_artifact::origin_route(&tf.origin), tf.rel.display()),
                format!(
                    "{} looks like a private key committed to the {}: anyone with the repository can sign as you",
                    shown.display(),
                    tf.origin
                ),
                "remove it from the repository (and its history), rotate the key, and keep only *.pub files",
            ));
        }
        // signing_key = "keys/x.rsa" inside the project.
        for f in &cx.inputs.files {
            for (_, c) in f.tree.calls_named("project") {
                let Some(key) = c.kwarg_str("signing_key") else { continue };
                let p = Path::new(key);
                let abs = if p.is_absolute() { p.to_path_buf() } else { cx.inputs.root.join(p) };
                if !crate::starlark::labels::normalize(&abs).starts_with(&cx.inputs.root) {
                    continue;
                }
                out.push(cx.finding(
                    &META,
                    f.arg_span(c, "signing_key", "inside the repository"),
                    "project.signing_key",
                    format!("signing_key {key:?} lies inside the project: the private signing key travels with the repository"),
                    "keep the signing key outside the project (e.g. ~/.config/yoe/keys/) and point signing_key there",
                ));
            }
        }
    }
}
