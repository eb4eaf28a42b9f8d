//! Git tree objects come from repositories yoe does not trust (their ids are checked, their
//! layout is not): parsing must never panic, and each entry must consume its bytes exactly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use yoe::module::objects::parse_tree;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse_tree("0000000000000000000000000000000000000000", "", data) {
        let consumed: usize = entries.iter().map(|e| e.mode.len() + 1 + e.name.len() + 1 + 20).sum();
        assert_eq!(consumed, data.len());
        assert!(entries.iter().all(|e| e.id.len() == 40 && !e.name.contains('\0')));
    }
});
