//! Fuzz zip extraction into a temp dir.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yoe_extract::ArchiveKind;

#[path = "extract_check.rs"]
mod extract_check;

fuzz_target!(|data: &[u8]| {
    extract_check::run(ArchiveKind::Zip, data);
});
