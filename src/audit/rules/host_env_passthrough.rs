//! `host-env-passthrough`: a step that reaches for host credentials: `$SSH_AUTH_SOCK`,
//! `$GITHUB_TOKEN`, `$AWS_*`, `$YOE_KEYS_DIR` (outside base-files), or dotfiles under
//! `$HOME` such as `~/.netrc` and `~/.ssh`.
use super::super::registry::{Rule, RuleMeta};
use super::super::shell::Script;
use super::super::{Context, Finding};
use super::rule;

rule!(
    "host-env-passthrough",
    Steps,
    Medium,
    Medium,
    Regular,
    Static,
    "a step references host credentials ($SSH_AUTH_SOCK, $GITHUB_TOKEN, $AWS_*, ~/.netrc, ...)"
);

const VARS: &[&str] = &[
    "SSH_AUTH_SOCK",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
    "CI_JOB_TOKEN",
    "NPM_TOKEN",
    "NODE_AUTH_TOKEN",
    "DOCKER_AUTH_CONFIG",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "NETRC",
    "YOE_KEYS_DIR",
    "YOE_KEY_NAME",
];
const PREFIXES: &[&str] = &["AWS_", "AZURE_", "ARM_CLIENT_", "GCP_"];
const DOTFILES: &[&str] = &[
    "/.netrc",
    "/.ssh",
    "/.aws",
    "/.docker",
    "/.npmrc",
    "/.pypirc",
    "/.gnupg",
    "/.git-credentials",
    "/.config/gh",
    "/.kube",
    "/.cargo/credentials",
];

/// What host credential the script reaches for, if any. `base_files` exempts the signing
/// key variables (base-files installs the public key).
pub fn find(s: &Script, base_files: bool) -> Option<String> {
    for c in s.all_commands() {
        for w in c.all_words() {
            for p in &w.params {
                let keys = p == "YOE_KEYS_DIR" || p == "YOE_KEY_NAME";
                if (VARS.contains(&p.as_str()) && !(keys && base_files)) || PREFIXES.iter().any(|x| p.starts_with(x)) {
                    return Some(format!("${p}"));
                }
            }
            if let Some(rest) = w.value.strip_prefix("$HOME").or_else(|| w.value.strip_prefix("${HOME}"))
                && let Some(d) = DOTFILES.iter().find(|d| rest.starts_with(**d))
            {
                return Some(format!("~{d}"));
            }
        }
    }
    None
}

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for site in cx.shell_sites().iter() {
            let base_files = site.unit.is_some_and(|u| cx.units[u].name == "base-files");
            let Some(what) = find(&site.script, base_files) else { continue };
            out.push(cx.site_finding(
                &META,
                site,
                "host credential",
                format!("this step uses {what}, a credential of the build host; steps get a fixed environment and no host files, so it is either empty or a leak"),
                "do not read host credentials in steps: fetch what needs them as sources, outside the build",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        assert!(find(&Script::parse("cp $HOME/.netrc ."), false).is_some());
        assert!(find(&Script::parse("cat ~/.ssh/id_rsa"), false).is_some());
        assert!(find(&Script::parse("git clone https://x:${GITHUB_TOKEN}@github.com/x"), false).is_some());
        assert!(find(&Script::parse("echo $AWS_SECRET_ACCESS_KEY"), false).is_some());
        assert!(find(&Script::parse("cp $YOE_KEYS_DIR/$YOE_KEY_NAME.pub $DESTDIR/etc/apk/keys/"), true).is_none());
        assert!(find(&Script::parse("mkdir -p $HOME/.cache && make"), false).is_none());
    }
}
