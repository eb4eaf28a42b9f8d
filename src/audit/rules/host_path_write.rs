//! `host-path-write`: a step or an `install_file`/`install_template` destination that writes
//! outside `$DESTDIR`, `$SRCDIR` and the unit's own directories (an absolute host path, or
//! `..` climbing out). Go yoe ran such writes on the host.
use super::super::registry::{Rule, RuleMeta};
use super::super::shell::{RedirKind, Script, Word};
use super::super::units::StepKind;
use super::super::{Context, Finding};
use super::rule;
use crate::starlark::labels::normalize;

rule!(
    "host-path-write",
    Steps,
    High,
    Medium,
    Regular,
    Static,
    "a step or install destination writes outside $DESTDIR/$SRCDIR (absolute host path or ..)"
);

/// Variables naming the unit's own writable directories.
const OWN: &[&str] = &["DESTDIR", "SRCDIR", "HOME", "TMPDIR", "PWD", "OLDPWD", "BUILDDIR", "B", "S"];
/// Absolute paths that are not host files (or are private to the sandbox).
const HARMLESS: &[&str] = &["/tmp", "/var/tmp", "/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd", "/proc/self/fd"];

/// Why writing to `path` escapes, if it does.
pub fn escapes(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    if let Some(rest) = path.strip_prefix('$') {
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let var: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let tail = rest[var.len()..].trim_start_matches('}');
        if !OWN.contains(&var.as_str()) {
            return None; // unknown variable: cannot tell
        }
        // `$DESTDIR$PREFIX/..` keeps the prefix; only `..` above the variable escapes.
        let tail = tail.trim_start_matches("$PREFIX").trim_start_matches("${PREFIX}");
        let norm = normalize(&std::path::Path::new("/base").join(tail.trim_start_matches('/')));
        return (!norm.starts_with("/base")).then(|| format!("{path} climbs out of ${var} with .."));
    }
    if path.starts_with('/') {
        let norm = normalize(std::path::Path::new(path));
        if HARMLESS.iter().any(|h| norm.starts_with(h)) {
            return None;
        }
        return Some(format!("{path} is an absolute host path"));
    }
    // Relative to the source directory: `..` is the unit's build dir, `../..` other units.
    let norm = normalize(&std::path::Path::new("/b/u/src").join(path));
    (!norm.starts_with("/b/u")).then(|| format!("{path} climbs out of the unit's build directory"))
}

/// Destinations written by one command.
fn written(c: &super::super::shell::Cmd) -> Vec<&Word> {
    let mut out: Vec<&Word> = c
        .redirects
        .iter()
        .filter(|r| matches!(r.kind, RedirKind::Write | RedirKind::Append))
        .map(|r| &r.target)
        .collect();
    let Some(name) = c.name() else { return out };
    let args = c.args();
    let operands: Vec<&Word> = args.iter().filter(|a| !a.value.starts_with('-')).collect();
    let t_dir =
        args.iter().position(|a| a.value == "-t" || a.value == "--target-directory").and_then(|i| args.get(i + 1));
    match name.as_str() {
        "cp" | "mv" | "install" | "ln" | "rsync" => {
            if let Some(t) = t_dir {
                out.push(t);
            } else if operands.len() >= 2 || (name == "install" && args.iter().any(|a| a.value == "-d")) {
                out.extend(operands.last());
            }
        }
        "tee" | "touch" | "mkdir" | "rm" | "chmod" | "chown" => {
            let skip = usize::from(matches!(name.as_str(), "chmod" | "chown"));
            out.extend(operands.into_iter().skip(skip));
        }
        "dd" => out.extend(args.iter().filter(|a| a.value.starts_with("of="))),
        _ => {}
    }
    out
}

pub fn find(s: &Script) -> Option<String> {
    for c in s.all_commands() {
        for w in written(c) {
            let value = w.value.strip_prefix("of=").unwrap_or(&w.value);
            if let Some(why) = escapes(value) {
                return Some(format!("{} writes {why}", c.name().unwrap_or_else(|| "a redirection".into())));
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
            let Some(what) = find(&site.script) else { continue };
            out.push(cx.site_finding(
                &META,
                site,
                "writes outside the unit",
                format!("this step: {what}"),
                "write into $DESTDIR (what gets packaged) or the source tree; never into host paths",
            ));
        }
        for u in &cx.units {
            for step in &u.fields.steps {
                let StepKind::Install { dest, template } = &step.kind else { continue };
                let Some(why) = escapes(dest) else { continue };
                let (primary, secondary) = u.step_spans(&cx.inputs, step, "install destination");
                let mut f = cx.finding(
                    &META,
                    primary,
                    format!("{}.tasks[{}].steps[{}].dest", u.route(), step.task, step.index),
                    format!(
                        "{} of unit {:?}: {why} (Go yoe wrote it on the host)",
                        if *template { "install_template" } else { "install_file" },
                        u.name
                    ),
                    "start the destination with $DESTDIR, e.g. \"$DESTDIR/etc/x\"",
                );
                f.secondary = secondary;
                out.push(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert!(escapes("/etc/passwd").is_some());
        assert!(escapes("$DESTDIR/etc/x").is_none());
        assert!(escapes("${DESTDIR}$PREFIX/lib").is_none());
        assert!(escapes("$DESTDIR/../../x").is_some());
        assert!(escapes("/tmp/x").is_none());
        assert!(escapes("out/x").is_none());
        assert!(escapes("../../other.arch/destdir/x").is_some());
        assert!(escapes("$SOMEVAR/x").is_none());
    }

    #[test]
    fn commands() {
        let fires = |s: &str| find(&Script::parse(s)).is_some();
        assert!(fires("echo x > /etc/profile.d/a.sh"));
        assert!(fires("cp build/tool /usr/local/bin/"));
        assert!(fires("install -m 0755 tool -t /usr/bin"));
        assert!(!fires("install -D -m 0755 tool $DESTDIR/usr/bin/tool"));
        assert!(!fires("make 2>/dev/null > build.log"));
        assert!(fires("echo k | tee -a /root/.ssh/authorized_keys"));
        assert!(!fires("cp /usr/share/misc/config.guess ."));
    }
}
