//! Module tree manifests come from the cache, which yoe does not trust: parsing must never
//! panic, and whatever parses must be canonical (serialises back to the same bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use yoe::module::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        assert_eq!(m.to_bytes(), data, "a parsed manifest is canonical");
        for e in &m.entries {
            assert!(yoe::module::manifest::check_path(&e.path).is_ok(), "{:?}", e.path);
        }
    }
});
