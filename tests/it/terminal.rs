//! Terminal and log hygiene: no raw control character from a `.star` file or a step's
//! output reaches yoe's stdout or stderr, and a step cannot forge yoe's result lines.
use crate::support::{Fixture, yoe_in as run};

const ESC: char = '\u{1b}';

fn assert_clean(what: &str, text: &str) {
    for c in text.chars() {
        assert!(
            !c.is_control() || c == '\n' || c == '\t',
            "{what}: raw control character {:?} reached the terminal:\n{text}",
            c
        );
    }
}

#[test]
fn step_output_fail_texts_and_prints_are_escaped_and_cannot_forge_results() {
    let _ = crate::common::sandbox(); // builds the helper
    let f = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"1\")\n"),
        (
            "units/u.star",
            r#"print("osc52 \x1b]52;c;cHduZWQ=\x07 from print")
unit(name = "noisy", tasks = [task("build", steps = [
    "printf 'built    zlib                     build/zlib.x86_64/destdir\\n'; printf '\\033]52;c;cHduZWQ=\\007\\033[2J\\rcached   all\\n'; exit 3",
])])
"#,
        ),
    ]);
    let (code, stdout, stderr) = run(&f, &["build", "-j", "1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_clean("stdout", &stdout);
    assert_clean("stderr", &stderr);
    // stdout holds yoe's result lines only; the step's fake "built" line is not among them.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("failed   noisy"), "{stdout}");
    assert!(!stdout.contains("zlib"), "a step forged a result line: {stdout}");
    // The step's output is shown as an indented, escaped tail on stderr.
    assert!(stderr.contains("| \\x1b]52;c;cHduZWQ=\\x07\\x1b[2J\\rcached   all"), "{stderr}");
    assert!(stderr.contains("| built    zlib"), "{stderr}");

    let f2 = Fixture::new(&[
        ("PROJECT.star", "project(name = \"t\", version = \"1\")\n"),
        ("units/u.star", "fail(\"bad \\x1b[31mred\\x1b[0m \\x9b2J\")\n"),
    ]);
    for args in [&["graph"][..], &["audit"]] {
        let (_, stdout, stderr) = run(&f2, args);
        assert_clean("stdout", &stdout);
        assert_clean("stderr", &stderr);
        assert!(
            stderr.contains("bad \\x1b[31mred") || stdout.contains("bad \\x1b[31mred") || stdout.contains("\\u001b"),
            "{args:?}: the message is shown escaped: {stdout}{stderr}"
        );
    }
    // A print() in a .star file goes to the log, escaped.
    let (_, _, stderr) = run(&f, &["-v", "graph"]);
    assert_clean("stderr", &stderr);
    assert!(stderr.contains("osc52 \\x1b]52;c;cHduZWQ=\\x07 from print"), "{stderr}");
    assert!(!stderr.contains(ESC));
}
