//! Fuzzes the parser of the helper's status records (read by the outer yoe): any bytes
//! parse or are ignored, and a parsed record survives encode → parse unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use yoe_sandbox_helper::status::Record;

fuzz_target!(|data: &[u8]| {
    if let Some(r) = Record::last_in(data) {
        let once = r.encode();
        let again = Record::last_in(&once).map(|r| r.encode());
        assert_eq!(again, Some(once));
    }
});
