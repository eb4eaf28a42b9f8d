//! Block allocation: a bump allocator over the data area that steps over the reserved
//! metadata ranges. Every block below the high-water mark is in use, which makes the block
//! bitmaps a function of the geometry and one number.

use crate::layout::Geometry;

/// The image is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

pub struct Allocator {
    reserved: Vec<(u64, u64)>,
    idx: usize,
    next: u64,
    end: u64,
}

impl Allocator {
    pub fn new(g: &Geometry) -> Allocator {
        Allocator { reserved: g.reserved.clone(), idx: 0, next: g.first_data_block, end: g.blocks_count }
    }

    /// Move `next` past any reserved range it sits in.
    fn skip_reserved(&mut self) {
        while let Some(&(s, e)) = self.reserved.get(self.idx) {
            if self.next < s {
                break;
            }
            if self.next < e {
                self.next = e;
            }
            self.idx += 1;
        }
    }

    /// One block.
    pub fn one(&mut self) -> Result<u64, Full> {
        self.skip_reserved();
        if self.next >= self.end {
            return Err(Full);
        }
        let b = self.next;
        self.next += 1;
        Ok(b)
    }

    /// `n` blocks as `(start, len)` runs, contiguous where the metadata allows.
    pub fn run(&mut self, mut n: u64) -> Result<Vec<(u64, u64)>, Full> {
        let mut runs = Vec::new();
        while n > 0 {
            self.skip_reserved();
            let stop = self.reserved.get(self.idx).map_or(self.end, |r| r.0.min(self.end));
            if self.next >= stop {
                return Err(Full);
            }
            let take = n.min(stop - self.next);
            runs.push((self.next, take));
            self.next += take;
            n -= take;
        }
        Ok(runs)
    }

    /// One past the highest block handed out (or the first data block).
    pub fn high_water(&self) -> u64 {
        self.next
    }

    /// Data blocks still free.
    #[cfg(test)]
    pub fn free(&self) -> u64 {
        let mut free = self.end.saturating_sub(self.next);
        for &(s, e) in &self.reserved[self.idx..] {
            let (s, e) = (s.max(self.next).min(self.end), e.min(self.end));
            free = free.saturating_sub(e.saturating_sub(s));
        }
        free
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Features, FsType};

    #[test]
    fn runs_skip_metadata_and_stop_at_the_end() {
        let g = Geometry::new(1024, 3 * 8192, 100, &Features::for_type(FsType::Ext2)).unwrap();
        let mut a = Allocator::new(&g);
        let total = a.free();
        let runs = a.run(total).unwrap();
        let got: u64 = runs.iter().map(|r| r.1).sum();
        assert_eq!(got, total);
        for (s, l) in &runs {
            for (rs, re) in &g.reserved {
                assert!(s + l <= *rs || *s >= *re);
            }
        }
        assert_eq!(a.one(), Err(Full));
        assert_eq!(total + g.overhead(), g.blocks_count);
    }
}
