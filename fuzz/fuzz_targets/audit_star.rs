//! Fuzz what the audit reads from untrusted files without evaluating them: a `.star` text
//! turned into calls and literals, suppression comments, and `yoe-audit.toml`.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use yoe::audit::ast::Tree;
use yoe::audit::config::Config;
use yoe::audit::suppress::parse_comment;
use yoe::starlark::syntax::ParsedFile;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let _ = parse_comment(&text);
    let _ = Config::parse(Path::new("yoe-audit.toml"), &text);
    if let Ok(parsed) = ParsedFile::parse(Path::new("fuzz.star"), text) {
        let tree = Tree::of(&parsed);
        for c in &tree.calls {
            let _ = yoe::audit::inputs::call_label(c);
            let _ = tree.enclosing_call(&c.span);
        }
    }
});
