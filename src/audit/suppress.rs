//! Suppressions: inline `# yoe: ignore[rule-a,rule-b] reason` comments (on the finding's
//! line, anywhere in its call, or alone on the line just above either) and `[[ignore]]`
//! entries of the project's `yoe-audit.toml`. A comment inside a module never applies: a
//! module cannot suppress findings about itself. Unused, expired, module-owned and (with
//! `--paranoid`) reasonless suppressions become `unused-suppression` findings.
use std::path::PathBuf;

use super::config::{Config, Date, expiry};
use super::finding::{Finding, Origin, Span, Suppressed};
use super::inputs::Inputs;

/// Why a suppression did not apply (each becomes an `unused-suppression` finding).
#[derive(Debug, Clone)]
pub struct Unapplied {
    pub span: Span,
    pub route: String,
    pub message: String,
    pub origin: Origin,
}

struct Inline {
    file: usize,
    line: u32,
    /// The comment is alone on its line (then it also covers the next line).
    alone: bool,
    rules: Vec<String>,
    reason: String,
    span: Span,
    used: bool,
}

/// Parse `yoe: ignore[a, b] reason` out of a comment's text (with or without the `#`).
pub fn parse_comment(text: &str) -> Option<(Vec<String>, String)> {
    let t = text.trim_start_matches('#').trim();
    let rest = t.strip_prefix("yoe:")?.trim_start().strip_prefix("ignore[")?;
    let (ids, reason) = rest.split_once(']')?;
    let rules: Vec<String> = ids.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    (!rules.is_empty()).then(|| (rules, reason.trim().to_string()))
}

/// Apply suppressions to `findings` in place; return the ones that did not apply.
pub fn apply(
    inputs: &Inputs,
    config: &Config,
    findings: &mut [Finding],
    paranoid: bool,
    no_ignores: bool,
    today: Date,
) -> Vec<Unapplied> {
    if no_ignores {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut inline = Vec::new();
    for (fi, f) in inputs.files.iter().enumerate() {
        let Some(parsed) = &f.parsed else { continue };
        for r in parsed.comments() {
            let text = f.text_of(&r);
            let Some((rules, reason)) = parse_comment(text) else { continue };
            let (line, _) = f.line_col(r.start);
            let line_start = f.lines[line as usize - 1];
            let alone = f.text.get(line_start..r.start).is_some_and(|s| s.trim().is_empty());
            let span = f.span(r.clone(), "this suppression");
            let route = format!("ignore({})@{}", rules.join(","), f.rel.display());
            if let Origin::Module(m) = &f.origin {
                out.push(Unapplied {
                    span,
                    route,
                    message: format!(
                        "this suppression is inside module {m:?} and is not applied: a module cannot suppress findings about itself"
                    ),
                    origin: f.origin.clone(),
                });
                continue;
            }
            if paranoid && reason.is_empty() {
                out.push(Unapplied {
                    span,
                    route,
                    message: "this suppression has no reason and is not applied (--paranoid requires one)".into(),
                    origin: f.origin.clone(),
                });
                continue;
            }
            inline.push(Inline { file: fi, line, alone, rules, reason, span, used: false });
        }
    }
    let mut entries: Vec<(usize, bool)> = Vec::new(); // (index, usable)
    for (i, ig) in config.ignore.iter().enumerate() {
        let line = config.ignore_lines.get(i).copied().unwrap_or(0);
        let span = Span {
            line,
            column: 1,
            end_line: line,
            end_column: 11,
            ..Span::file(rel_config(inputs, config), "this [[ignore]] entry")
        };
        let route = format!("config.ignore({},{})", ig.rule, ig.path);
        if let Some(date) = ig.expires.as_ref().and_then(expiry)
            && date < today
        {
            out.push(Unapplied {
                span,
                route,
                message: format!(
                    "this [[ignore]] entry for {} in {} expired on {:04}-{:02}-{:02}",
                    ig.rule, ig.path, date.0, date.1, date.2
                ),
                origin: Origin::Project,
            });
            entries.push((i, false));
            continue;
        }
        if paranoid && ig.reason.trim().is_empty() {
            out.push(Unapplied {
                span,
                route,
                message: "this [[ignore]] entry has no reason and is not applied (--paranoid requires one)".into(),
                origin: Origin::Project,
            });
            entries.push((i, false));
            continue;
        }
        entries.push((i, true));
    }
    let mut config_used = vec![false; config.ignore.len()];

    for f in findings.iter_mut() {
        if f.rule == "unused-suppression" {
            continue;
        }
        // Inline first.
        if let Some(s) = inline.iter_mut().find(|s| covers(inputs, s, f)) {
            s.used = true;
            f.suppressed = Some(Suppressed {
                by: "inline",
                reason: s.reason.clone(),
                at: format!("{}:{}", s.span.file.display(), s.line),
            });
            continue;
        }
        for &(i, usable) in &entries {
            let ig = &config.ignore[i];
            if !usable || ig.rule != f.rule || std::path::Path::new(&ig.path) != f.primary.file {
                continue;
            }
            if ig.line.is_some_and(|l| l != f.primary.line) {
                continue;
            }
            config_used[i] = true;
            f.suppressed = Some(Suppressed {
                by: "config",
                reason: ig.reason.clone(),
                at: format!(
                    "{}:{}",
                    rel_config(inputs, config).display(),
                    config.ignore_lines.get(i).copied().unwrap_or(0)
                ),
            });
            break;
        }
    }
    for s in inline.into_iter().filter(|s| !s.used) {
        out.push(Unapplied {
            route: format!("ignore({})@{}", s.rules.join(","), s.span.file.display()),
            message: format!("this suppression of {} matches no finding{}", s.rules.join(", "), unknown_ids(&s.rules)),
            span: s.span,
            origin: Origin::Project,
        });
    }
    for (i, usable) in entries {
        if usable && !config_used[i] {
            let ig = &config.ignore[i];
            let line = config.ignore_lines.get(i).copied().unwrap_or(0);
            out.push(Unapplied {
                span: Span {
                    line,
                    column: 1,
                    end_line: line,
                    end_column: 11,
                    ..Span::file(rel_config(inputs, config), "this [[ignore]] entry")
                },
                route: format!("config.ignore({},{})", ig.rule, ig.path),
                message: format!(
                    "this [[ignore]] entry for {} in {} matches no finding{}",
                    ig.rule,
                    ig.path,
                    unknown_ids(std::slice::from_ref(&ig.rule))
                ),
                origin: Origin::Project,
            });
        }
    }
    out
}

/// ` (... is not a rule id)` for ids no rule has, else nothing.
fn unknown_ids(ids: &[String]) -> String {
    let unknown: Vec<&str> = ids.iter().map(String::as_str).filter(|id| super::registry::meta(id).is_none()).collect();
    if unknown.is_empty() { String::new() } else { format!(" ({} is not a rule id)", unknown.join(", ")) }
}

fn rel_config(inputs: &Inputs, config: &Config) -> PathBuf {
    inputs.rel(&config.path)
}

/// Whether an inline suppression covers a finding's primary span.
fn covers(inputs: &Inputs, s: &Inline, f: &Finding) -> bool {
    if !s.rules.iter().any(|r| r == f.rule) || inputs.files[s.file].rel != f.primary.file || f.primary.line == 0 {
        return false;
    }
    let lines = |l: u32| s.line == l || (s.alone && s.line + 1 == l);
    if lines(f.primary.line) {
        return true;
    }
    match f.primary.call_lines {
        Some((start, end)) => (start..=end).contains(&s.line) || lines(start),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_syntax() {
        assert_eq!(
            parse_comment("# yoe: ignore[source-without-hash, sandbox-disabled] vendored, checked by hand"),
            Some((vec!["source-without-hash".into(), "sandbox-disabled".into()], "vendored, checked by hand".into()))
        );
        assert_eq!(parse_comment("#yoe:ignore[x]"), Some((vec!["x".into()], String::new())));
        assert_eq!(parse_comment("# yoe: ignore[] nothing"), None);
        assert_eq!(parse_comment("# an ordinary comment"), None);
    }
}
