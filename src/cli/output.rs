//! The only writer of stdout (results) and of the final error paragraph on stderr, and the
//! writer behind the log. Everything printed passes [`escape_controls`]: names are
//! identifiers, but messages quote step output, `fail()` texts and paths from `.star`
//! files, and a raw escape sequence there would reach the user's terminal (OSC 52 writes the
//! clipboard, CSI moves the cursor) or rewrite a line with `\r`.
#![allow(clippy::print_stdout)]
use std::borrow::Cow;
use std::io::Write;

/// `s` with every control character but newline and tab shown as an escape (`\x1b`,
/// `\r`, `\u{9b}`), as cargo and git do, and with the characters that reorder or hide text
/// (bidirectional overrides, zero-width marks) shown as `\u{…}` too.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if c == '\r' {
            out.push_str("\\r");
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Print one line of results.
pub fn line(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth reporting.
    let _ = writeln!(out, "{}", escape_controls(s));
}

/// Print text as it is (it carries its own newlines).
pub fn text(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", escape_controls(s));
}

/// Print a serializable value as pretty JSON (serde escapes control characters itself).
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
    let text = escape_controls(&text);
    if text.starts_with("error") {
        let _ = writeln!(err, "{text}");
    } else {
        let _ = writeln!(err, "error: {text}");
    }
}

/// A progress or status line on stderr.
pub fn status(s: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", escape_controls(s));
}

/// stderr for the log (`tracing`), escaping what a log line quotes (e.g. Starlark
/// `print()`).
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().lock().write_all(escape_controls(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_newlines_kept() {
        assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(escape_controls("a\u{1b}]52;c;eA==\u{7}b"), "a\\x1b]52;c;eA==\\x07b");
        assert_eq!(escape_controls("done\rbuilt   x"), "done\\rbuilt   x");
        assert_eq!(escape_controls("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(escape_controls("zlib\u{202e}txt.exe"), "zlib\\u{202e}txt.exe");
        assert_eq!(escape_controls("\u{7f}"), "\\x7f");
        assert!(matches!(escape_controls("ünïcödé ok"), Cow::Borrowed(_)));
    }
}
