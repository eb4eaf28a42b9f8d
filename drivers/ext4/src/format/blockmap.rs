//! Classic ext2/ext3 block maps (direct, indirect, double- and triple-indirect blocks) for
//! filesystems without the `extent` feature. Holes are zero pointers.

use std::collections::BTreeMap;

use super::put_u32;

const NDIR: u64 = 12;

/// Position of an indirect block in the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Single,
    DoubleRoot,
    Double(u64),
    TripleRoot,
    TripleMid(u64),
    TripleLeaf(u64),
}

/// Largest number of logical blocks a block map can address.
pub fn max_blocks(block_size: u32) -> u64 {
    let per = u64::from(block_size / 4);
    NDIR + per + per * per + per * per * per
}

/// A planned block map: which indirect blocks exist and what each slot holds.
pub struct BlockMap {
    per: u64,
    direct: [u32; 12],
    nodes: BTreeMap<Node, Vec<u32>>,
}

impl BlockMap {
    /// Plan the map for `(lblk, pblk, len)` runs. Block numbers must fit in 32 bits (block maps
    /// are only used without the `64bit` feature) and `lblk` below `max_blocks`.
    pub fn plan(runs: &[(u64, u64, u64)], block_size: u32) -> BlockMap {
        let per = u64::from(block_size / 4);
        let mut map = BlockMap { per, direct: [0; 12], nodes: BTreeMap::new() };
        for &(lblk, pblk, len) in runs {
            for i in 0..len {
                map.set(lblk + i, (pblk + i) as u32);
            }
        }
        map
    }

    fn slot(&mut self, node: Node, idx: u64) -> &mut u32 {
        let per = self.per as usize;
        &mut self.nodes.entry(node).or_insert_with(|| vec![0; per])[idx as usize]
    }

    fn set(&mut self, lblk: u64, pblk: u32) {
        let per = self.per;
        if lblk < NDIR {
            self.direct[lblk as usize] = pblk;
            return;
        }
        let l = lblk - NDIR;
        if l < per {
            *self.slot(Node::Single, l) = pblk;
            return;
        }
        let l = l - per;
        if l < per * per {
            self.nodes.entry(Node::DoubleRoot).or_insert_with(|| vec![0; per as usize]);
            *self.slot(Node::Double(l / per), l % per) = pblk;
            return;
        }
        let l = l - per * per;
        self.nodes.entry(Node::TripleRoot).or_insert_with(|| vec![0; per as usize]);
        self.nodes.entry(Node::TripleMid(l / (per * per))).or_insert_with(|| vec![0; per as usize]);
        *self.slot(Node::TripleLeaf(l / per), l % per) = pblk;
    }

    /// Number of indirect blocks this map needs.
    pub fn indirect_blocks(&self) -> u64 {
        self.nodes.len() as u64
    }

    /// Fill in the indirect block numbers (`pblks`, one per indirect block) and return the
    /// `i_block` area plus the indirect blocks to write.
    pub fn encode(mut self, pblks: &[u64], block_size: u32) -> ([u8; 60], Vec<(u64, Vec<u8>)>) {
        let per = self.per;
        let keys: Vec<Node> = self.nodes.keys().copied().collect();
        let loc: BTreeMap<Node, u32> = keys.iter().copied().zip(pblks.iter().map(|&p| p as u32)).collect();
        // Link children into parents.
        for key in &keys {
            let here = loc[key];
            match *key {
                Node::Double(i) => *self.slot(Node::DoubleRoot, i) = here,
                Node::TripleMid(i) => *self.slot(Node::TripleRoot, i) = here,
                Node::TripleLeaf(j) => *self.slot(Node::TripleMid(j / per), j % per) = here,
                Node::Single | Node::DoubleRoot | Node::TripleRoot => {}
            }
        }
        let mut i_block = [0u8; 60];
        for (i, &p) in self.direct.iter().enumerate() {
            put_u32(&mut i_block, 4 * i, p);
        }
        for (node, slot) in [(Node::Single, 12), (Node::DoubleRoot, 13), (Node::TripleRoot, 14)] {
            if let Some(&p) = loc.get(&node) {
                put_u32(&mut i_block, 4 * slot, p);
            }
        }
        let mut blocks = Vec::with_capacity(keys.len());
        for (key, entries) in self.nodes {
            let mut b = vec![0u8; block_size as usize];
            for (i, &e) in entries.iter().enumerate() {
                put_u32(&mut b, 4 * i, e);
            }
            blocks.push((u64::from(loc[&key]), b));
        }
        (i_block, blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_indirect_blocks_per_level() {
        // 1 KiB blocks: 256 pointers per block.
        assert_eq!(BlockMap::plan(&[(0, 100, 12)], 1024).indirect_blocks(), 0);
        assert_eq!(BlockMap::plan(&[(0, 100, 13)], 1024).indirect_blocks(), 1);
        assert_eq!(BlockMap::plan(&[(12 + 256, 100, 1)], 1024).indirect_blocks(), 2);
        assert_eq!(BlockMap::plan(&[(12 + 256 + 65536, 100, 1)], 1024).indirect_blocks(), 3);
        assert_eq!(BlockMap::plan(&[(0, 100, 12 + 256 + 257)], 1024).indirect_blocks(), 1 + 1 + 2);
    }
}
