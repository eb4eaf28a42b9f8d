//! Fuzzes the helper's policy decoder: any bytes either decode or are refused, and what
//! decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use yoe_sandbox_helper::wire::HelperPolicy;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = HelperPolicy::decode(data) {
        assert_eq!(p.encode(), data);
    }
    let _ = HelperPolicy::read_framed(&mut &data[..]);
});
