//! `insecure-source-url`: a source or mirror fetched over `http://`, `ftp://` or `git://`.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Severity};
use super::{is_git_url, is_insecure_url, rule};

rule!(
    "insecure-source-url",
    Sources,
    High,
    High,
    Regular,
    Static,
    "a source or mirror uses http://, ftp:// or git:// (high without a hash, low with one)"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let f = &u.fields;
            let pinned = if is_git_url(&f.source) {
                !f.commit.is_empty()
            } else {
                !f.sha256.is_empty() || !f.apk_checksum.is_empty()
            };
            let urls = std::iter::once(("source", f.source.as_str()))
                .chain(f.mirrors.iter().map(|m| ("mirrors", m.as_str())))
                .enumerate()
                .filter(|(_, (_, url))| is_insecure_url(url));
            for (i, (field, url)) in urls {
                let route = if field == "source" {
                    format!("{}.source", u.route())
                } else {
                    format!("{}.mirrors[{}]", u.route(), i - 1)
                };
                let mut finding = cx.finding(
                    &META,
                    u.field_span(&cx.inputs, field, "no transport security"),
                    route,
                    format!(
                        "unit {:?} fetches {url} without transport security{}",
                        u.name,
                        if pinned {
                            " (the pin still detects tampering)"
                        } else {
                            " and without a pin: anyone on the path decides what is built"
                        }
                    ),
                    "use https://, and pin the source (sha256 for archives, commit for git)",
                );
                if pinned {
                    finding = finding.severity(Severity::Low);
                }
                out.push(finding);
            }
        }
    }
}
