//! `obfuscated-step`: a step that hides what it runs: decoded data piped into an
//! interpreter (`base64 -d | sh`), `eval "$(...)"`, `printf '\x..' | sh`, or long runs of
//! `\x` escapes.
use super::super::registry::{Rule, RuleMeta};
use super::super::shell::{Cmd, Script};
use super::super::{Context, Finding};
use super::{is_interpreter, reads_stdin, rule};

rule!(
    "obfuscated-step",
    Steps,
    Medium,
    Low,
    Pedantic,
    Static,
    "a step decodes data into an interpreter, evals a substitution, or hides text in \\x escapes"
);

/// `\x` escapes in one word from which the word counts as hidden text.
const HEX_RUN: usize = 8;

fn is_decoder(c: &Cmd) -> bool {
    let Some(n) = c.name() else { return false };
    let args: Vec<&str> = c.args().iter().map(|a| a.value.as_str()).collect();
    match n.as_str() {
        "base64" | "base32" | "basenc" => args.iter().any(|a| matches!(*a, "-d" | "--decode" | "-D")),
        "xxd" => args.contains(&"-r"),
        "openssl" => args.iter().any(|a| *a == "-d" || a.starts_with("base64")),
        "uudecode" | "gunzip" | "zcat" | "xzcat" | "rev" => true,
        "printf" => true,
        "echo" => args.contains(&"-e"),
        _ => false,
    }
}

pub fn find(s: &Script) -> Option<String> {
    for p in &s.pipelines {
        if let Some(d) = p.iter().position(is_decoder)
            && let Some(i) =
                p[d + 1..].iter().find(|c| c.name().is_some_and(|n| is_interpreter(&n)) && reads_stdin(c.args()))
        {
            return Some(format!(
                "pipes the output of {} into {}",
                p[d].name().unwrap_or_default(),
                i.name().unwrap_or_default()
            ));
        }
    }
    for c in s.all_commands() {
        let name = c.name().unwrap_or_default();
        if name == "eval" && !c.cmd_substs.is_empty() {
            return Some("evals the output of a command substitution".into());
        }
        if let Some(w) = c.all_words().find(|w| w.hex_escapes >= HEX_RUN) {
            return Some(format!("hides text in {} \\x escapes", w.hex_escapes));
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
            let Some(what) = find(&site.script) else { continue };
            out.push(cx.site_finding(
                &META,
                site,
                "obfuscated",
                format!("this step {what}: a reviewer cannot see what runs"),
                "write the command in plain text",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let fires = |s: &str| find(&Script::parse(s)).is_some();
        assert!(fires("echo ZWNobyBoaQ== | base64 -d | sh"));
        assert!(fires("eval \"$(cat payload)\""));
        assert!(fires("printf 'echo hi' | bash"));
        assert!(fires("X=$'\\x63\\x75\\x72\\x6c\\x20\\x2d\\x73\\x20'; $X"));
        assert!(!fires("base64 -d key.b64 > key.bin"));
        assert!(!fires("printf '%s\\n' done"));
    }
}
