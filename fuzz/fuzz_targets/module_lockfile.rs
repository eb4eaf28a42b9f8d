//! yoe.lock is read strictly: parsing arbitrary text must never panic, and a lock that
//! parses must survive a write/read round trip unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use yoe::module::Lockfile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(lock) = Lockfile::parse(text) {
        let again = Lockfile::parse(&lock.to_text()).expect("a written lock parses");
        assert_eq!(again, lock);
    }
});
