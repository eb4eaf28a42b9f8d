//! Property: any valid tree (dirs, files, symlinks that stay inside, hard links), packed
//! by the tar or zip crate in any format, extracts to exactly that tree.

use std::collections::BTreeMap;

use proptest::prelude::*;
use yoe_extract::{ExtractOptions, extract};

use crate::fixtures::{Scratch, TAR_KINDS, compress, ext, read_tree};
use crate::roundtrip::{Node, build_tar, build_zip, expected};

const NAMES: [&str; 6] = ["a", "b", "c d", "ü", "long-name-for-depth", "x.y"];
const FILE_MODES: [u32; 6] = [0o644, 0o755, 0o600, 0o444, 0o700, 0o640];
const DIR_MODES: [u32; 4] = [0o755, 0o700, 0o555, 0o750];

#[derive(Debug, Clone)]
enum Want {
    Dir(usize),
    File(usize, Vec<u8>),
    Symlink(usize, Vec<usize>),
    Hardlink(usize),
}

fn want() -> impl Strategy<Value = (Vec<usize>, Want)> {
    let path = prop::collection::vec(0..NAMES.len(), 1..4);
    let what = prop_oneof![
        (0..DIR_MODES.len()).prop_map(Want::Dir),
        (0..FILE_MODES.len(), prop::collection::vec(any::<u8>(), 0..3000)).prop_map(|(m, d)| Want::File(m, d)),
        (0usize..4, prop::collection::vec(0..NAMES.len(), 0..3)).prop_map(|(ups, names)| Want::Symlink(ups, names)),
        (0usize..64).prop_map(Want::Hardlink),
    ];
    (path, what)
}

/// Turn random wishes into a valid tree: parents are directories listed first, no path
/// twice, symlinks climb at most to the top, hard links point at earlier files.
fn build(wants: Vec<(Vec<usize>, Want)>) -> Vec<(String, Node)> {
    let mut tree: Vec<(String, Node)> = Vec::new();
    let mut kinds: BTreeMap<String, bool> = BTreeMap::new(); // path -> is_dir
    let mut files: Vec<String> = Vec::new();
    'next: for (path, w) in wants {
        let comps: Vec<&str> = path.iter().map(|i| NAMES[*i]).collect();
        for depth in 1..comps.len() {
            let prefix = comps[..depth].join("/");
            match kinds.get(&prefix) {
                Some(true) => {}
                Some(false) => continue 'next,
                None => {
                    kinds.insert(prefix.clone(), true);
                    tree.push((prefix, Node::Dir(0o755)));
                }
            }
        }
        let p = comps.join("/");
        if kinds.contains_key(&p) {
            continue;
        }
        let node = match w {
            Want::Dir(m) => Node::Dir(DIR_MODES[m]),
            Want::File(m, d) => {
                files.push(p.clone());
                Node::File(FILE_MODES[m], d)
            }
            Want::Symlink(ups, names) => {
                let ups = ups.min(comps.len() - 1);
                let mut t: Vec<&str> = vec![".."; ups];
                t.extend(names.iter().map(|i| NAMES[*i]));
                if t.is_empty() {
                    t.push(".");
                }
                Node::Symlink(t.join("/"))
            }
            Want::Hardlink(i) => match files.get(i % files.len().max(1)) {
                Some(target) => Node::Hardlink(target.clone()),
                None => continue,
            },
        };
        kinds.insert(p.clone(), matches!(node, Node::Dir(_)));
        tree.push((p, node));
    }
    tree
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_valid_trees_round_trip(
        wants in prop::collection::vec(want(), 0..25),
        kind_index in 0..TAR_KINDS.len(),
    ) {
        let tree = build(wants);
        let kind = TAR_KINDS[kind_index];
        let s = Scratch::new();
        let a = s.write(&format!("in.{}", ext(kind)), &compress(kind, &build_tar(&tree, Some("top"))));
        let summary = extract(&a, &s.dest(), &ExtractOptions::default()).unwrap();
        prop_assert_eq!(summary.entries, tree.len() as u64);
        prop_assert_eq!(read_tree(&s.dest()), expected(&tree, false));

        let s = Scratch::new();
        let a = s.write("in.zip", &build_zip(&tree, "top"));
        extract(&a, &s.dest(), &ExtractOptions::default()).unwrap();
        prop_assert_eq!(read_tree(&s.dest()), expected(&tree, true));
    }
}
