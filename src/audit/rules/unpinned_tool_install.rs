//! `unpinned-tool-install`: `pip install x`, `npm i x`, `go install x@latest`, `cargo install
//! x` or `gem install x` in a step, with no exact version or hash.
use super::super::registry::{Rule, RuleMeta};
use super::super::shell::{Cmd, Script, Word};
use super::super::{Context, Finding};
use super::rule;

rule!(
    "unpinned-tool-install",
    Steps,
    Medium,
    Medium,
    Regular,
    Static,
    "a step installs a package (pip, npm, go, cargo, gem) with no exact version or hash"
);

/// Options of each tool that take a value (so the value is not a package).
const PIP_VALUED: &[&str] = &[
    "-r",
    "-c",
    "-e",
    "-i",
    "-t",
    "--index-url",
    "--extra-index-url",
    "--target",
    "--prefix",
    "--root",
    "--requirement",
    "--constraint",
    "-f",
    "--find-links",
    "--platform",
    "--python-version",
];
const NPM_VALUED: &[&str] = &["--prefix", "--registry", "-w", "--workspace"];
const CARGO_VALUED: &[&str] = &[
    "--root",
    "--target",
    "--git",
    "--branch",
    "--tag",
    "--rev",
    "--path",
    "--index",
    "--registry",
    "-j",
    "--jobs",
    "--profile",
    "--features",
    "-F",
];

fn operands<'a>(args: &'a [Word], valued: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let v = a.value.as_str();
        if valued.contains(&v) {
            i += 2;
            continue;
        }
        if !v.starts_with('-') {
            out.push(v);
        }
        i += 1;
    }
    out
}

fn is_local(p: &str) -> bool {
    p.starts_with('.') || p.starts_with('/') || p.starts_with('$')
}

fn exact_version(v: &str) -> bool {
    !v.is_empty()
        && v.chars().all(|c| c.is_ascii_digit() || c == '.' || c.is_ascii_alphanumeric() || c == '-')
        && v.chars().next().is_some_and(|c| c.is_ascii_digit() || c == 'v')
}

/// What is installed unpinned by one command, if anything.
pub fn unpinned(c: &Cmd) -> Option<String> {
    let name = c.name()?;
    let args = c.args();
    let (tool, rest): (&str, &[Word]) = match name.as_str() {
        "pip" | "pip3" | "pipx" => ("pip", args),
        n if n.starts_with("python")
            && args.first().is_some_and(|a| a.value == "-m")
            && args.get(1).is_some_and(|a| a.value.starts_with("pip")) =>
        {
            ("pip", args.get(2..).unwrap_or_default())
        }
        "npm" | "yarn" | "pnpm" | "bun" => ("npm", args),
        "go" => ("go", args),
        "cargo" => ("cargo", args),
        "gem" => ("gem", args),
        _ => return None,
    };
    let sub = rest.first()?.value.as_str();
    let rest = rest.get(1..).unwrap_or_default();
    let has = |f: &str| rest.iter().any(|a| a.value == f || a.value.starts_with(&format!("{f}=")));
    match tool {
        "pip" if sub == "install" => {
            if has("--require-hashes") {
                return None;
            }
            if has("-r") || has("--requirement") {
                return Some("pip install -r without --require-hashes".into());
            }
            operands(rest, PIP_VALUED)
                .into_iter()
                .find(|p| !is_local(p) && !p.contains("==") && !p.contains("#sha256="))
                .map(|p| format!("pip install {p} (no ==version and no hash)"))
        }
        "npm" if matches!(sub, "install" | "i" | "add") => operands(rest, NPM_VALUED)
            .into_iter()
            .find(|p| {
                let spec = p
                    .strip_prefix('@')
                    .map(|s| s.split_once('@').map(|(_, v)| v))
                    .unwrap_or_else(|| p.split_once('@').map(|(_, v)| v));
                !is_local(p) && !spec.is_some_and(exact_version)
            })
            .map(|p| format!("{name} {sub} {p} (no exact version)")),
        "go" if matches!(sub, "install" | "get") => operands(rest, &[])
            .into_iter()
            .find(|p| !is_local(p) && p.split_once('@').is_none_or(|(_, v)| !exact_version(v)))
            .map(|p| format!("go {sub} {p} (not at an exact version)")),
        "cargo" if sub == "install" => {
            if has("--version") || has("--vers") || has("--path") {
                return None;
            }
            operands(rest, CARGO_VALUED)
                .into_iter()
                .find(|p| !is_local(p) && p.split_once('@').is_none_or(|(_, v)| !exact_version(v)))
                .map(|p| format!("cargo install {p} (no --version)"))
        }
        "gem" if sub == "install" => {
            if has("-v") || has("--version") {
                return None;
            }
            operands(rest, &["-i", "--install-dir", "-n", "--bindir", "--source"])
                .into_iter()
                .find(|p| !is_local(p) && !p.contains(':'))
                .map(|p| format!("gem install {p} (no -v)"))
        }
        _ => None,
    }
}

pub fn find(s: &Script) -> Option<String> {
    s.all_commands().into_iter().find_map(unpinned)
}

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for site in cx.shell_sites().iter() {
            let Some(what) = find(&site.script) else { continue };
            out.push(cx.site_finding(
                &META,
                site,
                "unpinned install",
                format!("this step runs {what}: what it installs changes with the registry"),
                "pin exact versions with hashes (pip --require-hashes, npm ci with a lockfile, go install x@v1.2.3, cargo install --locked --version), or vendor the tool as a unit",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fires(s: &str) -> bool {
        find(&Script::parse(s)).is_some()
    }

    #[test]
    fn pins() {
        assert!(fires("pip install requests"));
        assert!(fires("python3 -m pip install -r requirements.txt"));
        assert!(!fires("pip install requests==2.31.0 --require-hashes"));
        assert!(!fires("pip install -r requirements.txt --require-hashes"));
        assert!(!fires("pip install ."));
        assert!(fires("npm i left-pad"));
        assert!(fires("npm install -g @scope/tool@^1.2"));
        assert!(!fires("npm install -g @scope/tool@1.2.3"));
        assert!(!fires("npm ci"));
        assert!(fires("go install golang.org/x/tools/gopls@latest"));
        assert!(!fires("go install golang.org/x/tools/gopls@v0.15.3"));
        assert!(fires("cargo install ripgrep"));
        assert!(!fires("cargo install --locked --version 14.1.0 ripgrep"));
        assert!(fires("gem install bundler"));
        assert!(!fires("gem install bundler -v 2.5.6"));
    }
}
