//! The directory hash against debugfs's `dx_hash` (e2fsprogs' implementation): names of
//! every length up to 255 bytes (several rounds of the hash), bytes above 0x7f (where the
//! signed variant differs), and different seeds, including the all-zero default seed.

use std::fmt::Write as _;
use std::process::Command;

use proptest::prelude::*;
use yoe_ext4::format::hash::half_md4_signed;
use yoe_ext4::options::format_uuid;

fn check(cases: &[(Vec<u8>, [u8; 16])]) {
    let dir = tempfile::tempdir().unwrap();
    let cmds = dir.path().join("cmds");
    let mut script = Vec::new();
    for (name, seed) in cases {
        script.extend_from_slice(format!("dx_hash -h half_md4 -s {} ", format_uuid(seed)).as_bytes());
        script.extend_from_slice(name);
        script.push(b'\n');
    }
    std::fs::write(&cmds, script).unwrap();
    let out = Command::new("debugfs").arg("-f").arg(&cmds).output().expect("run debugfs");
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = text.lines().filter(|l| l.starts_with("Hash of ")).collect();
    assert_eq!(got.len(), cases.len(), "{text}");
    for ((name, seed), line) in cases.iter().zip(got) {
        let words: [u32; 4] = std::array::from_fn(|i| u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().unwrap()));
        let (h, minor) = half_md4_signed(name, &words);
        let mut want = String::new();
        write!(want, " is 0x{h:x} (minor 0x{minor:x})").unwrap();
        assert!(
            line.ends_with(&want),
            "{:?} seed {}: debugfs says {line:?}, we say {want:?}",
            String::from_utf8_lossy(name),
            format_uuid(seed)
        );
    }
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![b'a'..=b'z', b'0'..=b'9', Just(b'.'), Just(b'_'), 0x80u8..=0xff], 1..=255)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn half_md4_matches_e2fsprogs(batch in proptest::collection::vec((name(), prop_oneof![Just([0u8; 16]), any::<[u8; 16]>()]), 1..60)) {
        check(&batch);
    }
}
