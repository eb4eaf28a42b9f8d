//! Fuzz tar extraction (plain, and through each decompressor) into a temp dir.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yoe_extract::ArchiveKind;

#[path = "extract_check.rs"]
mod extract_check;

fuzz_target!(|data: &[u8]| {
    // The third byte picks the compression; most inputs go to the tar parser itself.
    let kind = match data.get(2).copied().unwrap_or(0) % 8 {
        4 => ArchiveKind::TarGz,
        5 => ArchiveKind::TarXz,
        6 => ArchiveKind::TarBz2,
        7 => ArchiveKind::TarZst,
        _ => ArchiveKind::Tar,
    };
    extract_check::run(kind, data);
});
