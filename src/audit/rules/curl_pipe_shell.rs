//! `curl-pipe-shell`: a step that runs downloaded code: a downloader piped into an
//! interpreter, `bash <(curl ...)`, `sh -c "$(curl ...)"`, or download-then-execute.
use super::super::registry::{Rule, RuleMeta};
use super::super::shell::{Cmd, Script, basename};
use super::super::{Context, Finding};
use super::{DOWNLOADERS, is_interpreter, reads_stdin, rule};

rule!(
    "curl-pipe-shell",
    Steps,
    High,
    High,
    Regular,
    Static,
    "a step pipes a download into an interpreter, or downloads then executes"
);

fn is_downloader(c: &Cmd) -> bool {
    c.name().is_some_and(|n| DOWNLOADERS.contains(&n.as_str()))
}

/// How a script runs downloaded code, if it does. `downloaded` carries file names fetched
/// by earlier steps of the same unit.
pub fn runs_download(s: &Script, downloaded: &mut Vec<String>) -> Option<String> {
    for p in &s.pipelines {
        // download | interpreter
        if let Some(d) = p.iter().position(is_downloader)
            && let Some(i) =
                p[d + 1..].iter().find(|c| c.name().is_some_and(|n| is_interpreter(&n)) && reads_stdin(c.args()))
        {
            return Some(format!(
                "pipes {} output into {}",
                p[d].name().unwrap_or_default(),
                i.name().unwrap_or_default()
            ));
        }
        for c in p {
            let Some(name) = c.name() else { continue };
            // bash <(curl ...), sh -c "$(curl ...)", eval "$(curl ...)"
            if (is_interpreter(&name) || name == "eval")
                && let Some(sub) =
                    c.proc_substs.iter().chain(&c.cmd_substs).find(|s| s.all_commands().into_iter().any(is_downloader))
            {
                let inner = sub
                    .all_commands()
                    .into_iter()
                    .find(|x| is_downloader(x))
                    .and_then(|x| x.name())
                    .unwrap_or_default();
                return Some(format!("runs the output of {inner} with {name}"));
            }
            // remember what downloaders save
            if is_downloader(c) {
                downloaded.extend(saved_files(c));
            }
            // ./file, sh file, chmod +x file && ./file
            let target = if is_interpreter(&name) {
                c.args().iter().find(|a| !a.value.starts_with('-')).map(|a| basename(&a.value).to_string())
            } else {
                c.words.first().filter(|w| w.value.contains('/')).map(|w| basename(&w.value).to_string())
            };
            if let Some(t) = target.filter(|t| downloaded.contains(t)) {
                return Some(format!("downloads {t} and then executes it"));
            }
        }
    }
    None
}

/// Files a downloader saves: `curl -o F`, `curl -O URL`, `wget -O F`, `wget URL`.
fn saved_files(c: &Cmd) -> Vec<String> {
    let args = c.args();
    let name = c.name().unwrap_or_default();
    let mut out = Vec::new();
    let mut explicit = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let v = a.value.as_str();
        if matches!(v, "-o" | "--output" | "-O" | "--output-document") && !(name == "curl" && v == "-O") {
            if let Some(f) = args.get(i + 1) {
                out.push(basename(&f.value).to_string());
                explicit = true;
            }
            i += 2;
            continue;
        }
        if let Some(f) = v
            .strip_prefix("--output-document=")
            .or_else(|| v.strip_prefix("-O").filter(|f| name == "wget" && !f.is_empty()))
        {
            out.push(basename(f).to_string());
            explicit = true;
        }
        i += 1;
    }
    let remote_name = name == "wget" && !explicit || args.iter().any(|a| a.value == "-O" || a.value == "--remote-name");
    if remote_name && !(name == "wget" && explicit) {
        for a in args.iter().filter(|a| a.value.contains("://")) {
            let b = basename(a.value.split(['?', '#']).next().unwrap_or(""));
            if !b.is_empty() {
                out.push(b.to_string());
            }
        }
    }
    out
}

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        let mut downloaded: Vec<String> = Vec::new();
        let mut current_unit = None;
        for site in cx.shell_sites().iter() {
            if site.unit != current_unit || site.unit.is_none() {
                downloaded.clear();
                current_unit = site.unit;
            }
            let Some(how) = runs_download(&site.script, &mut downloaded) else { continue };
            out.push(cx.site_finding(
                &META,
                site,
                "runs downloaded code",
                format!("this step {how}: code that no hash checks runs in the build"),
                "fetch the script as a unit source with a sha256 (or vendor it), then run the checked copy",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fires(s: &str) -> bool {
        runs_download(&Script::parse(s), &mut Vec::new()).is_some()
    }

    #[test]
    fn catches_the_forms_and_not_the_safe_ones() {
        assert!(fires("curl -fsSL https://x/i.sh | sh"));
        assert!(fires("wget -qO- https://x/i.sh | sudo bash -s -- -y"));
        assert!(fires("bash <(curl -s https://x/i.sh)"));
        assert!(fires("sh -c \"$(curl -fsSL https://x/i.sh)\""));
        assert!(fires("curl -o i.sh https://x/i.sh && sh i.sh"));
        assert!(fires("wget https://x/setup.run; chmod +x setup.run; ./setup.run"));
        assert!(!fires("curl -fsSL https://x/data.json | python3 -m json.tool"));
        assert!(!fires("curl -o data.tgz https://x/data.tgz && tar xf data.tgz"));
        assert!(!fires("echo 'curl x | sh' > notes.txt"));
        assert!(!fires("cat install.sh | sh"));
    }
}
