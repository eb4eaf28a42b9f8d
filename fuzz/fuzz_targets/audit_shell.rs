//! Fuzz the audit's shell reader: any text as a step, then every shell rule over it.
//! Nothing may panic, however the text is malformed or nested.
#![no_main]
use libfuzzer_sys::fuzz_target;
use yoe::audit::rules::{curl_pipe_shell, host_env_passthrough, host_path_write, obfuscated_step, unpinned_tool_install};
use yoe::audit::shell::Script;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let s = Script::parse(text);
    let _ = curl_pipe_shell::runs_download(&s, &mut Vec::new());
    let _ = unpinned_tool_install::find(&s);
    let _ = host_path_write::find(&s);
    let _ = host_env_passthrough::find(&s, false);
    let _ = obfuscated_step::find(&s);
    let _ = host_path_write::escapes(text);
});
