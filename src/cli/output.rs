//! The only writer of stdout (results) and of the final error paragraph on stderr.
#![allow(clippy::print_stdout)]
use std::io::Write;

/// Print one line of results.
pub fn line(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth reporting.
    let _ = writeln!(out, "{s}");
}

/// Print text as it is (it carries its own newlines).
pub fn text(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{s}");
}

/// Print a serializable value as pretty JSON.
pub fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let s = serde_json::to_string_pretty(v)?;
    line(&s);
    Ok(())
}

/// Print the error as one clear paragraph on stderr (with its causes).
pub fn error(e: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    let mut text = format!("{e}");
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(&format!("\n  caused by: {c}"));
        }
    }
    if text.starts_with("error") {
        let _ = writeln!(err, "{text}");
    } else {
        let _ = writeln!(err, "error: {text}");
    }
}

/// A progress or status line on stderr.
pub fn status(s: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{s}");
}
