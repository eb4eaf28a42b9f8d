//! Fuzz the ext4 manifest parsers (JSON and line format), the manifest writer and the tree
//! validation behind them: any input must give a manifest or an error, never a panic, and a
//! parsed manifest written as lines must parse back to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yoe_ext4::format::Timestamp;
use yoe_ext4::manifest::{Format, Location, Manifest};
use yoe_ext4::tree::{Defaults, Tree};

fn strip(mut m: Manifest) -> Manifest {
    for e in &mut m.entries {
        e.at = Location::Implicit;
    }
    m
}

fuzz_target!(|data: &[u8]| {
    for format in [Format::Json, Format::Lines] {
        if let Ok(m) = Manifest::parse(data, format) {
            let text = m.to_lines();
            let back = Manifest::parse(text.as_bytes(), Format::Lines).expect("written manifest parses");
            assert_eq!(strip(back), strip(m.clone()), "line format round trip");
            let _ = m.to_json();
            for block_size in [1024, 4096] {
                let _ = Tree::build(&m, &Defaults { time: Timestamp::default(), block_size, dir_nlink: block_size == 4096 });
            }
        }
    }
});
