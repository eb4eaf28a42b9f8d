//! Fuzz the ext4 manifest parsers (JSON and line format) and the tree validation behind
//! them: any input must give a manifest or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yoe_ext4::format::Timestamp;
use yoe_ext4::manifest::{Format, Manifest};
use yoe_ext4::tree::{Defaults, Tree};

fuzz_target!(|data: &[u8]| {
    for format in [Format::Json, Format::Lines] {
        if let Ok(m) = Manifest::parse(data, format) {
            for block_size in [1024, 4096] {
                let _ = Tree::build(&m, &Defaults { time: Timestamp::default(), block_size, dir_nlink: block_size == 4096 });
            }
        }
    }
});
