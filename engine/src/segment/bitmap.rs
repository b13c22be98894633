//! A fixed-size bitmap whose bits can be set through `&self`, so readers never wait for
//! the writer marking points deleted.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub(crate) struct AtomicBitmap {
    words: Vec<AtomicU64>,
    len: usize,
    ones: AtomicUsize,
}

impl AtomicBitmap {
    pub fn new(len: usize) -> Self {
        Self {
            words: (0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            len,
            ones: AtomicUsize::new(0),
        }
    }

    /// A bitmap of `len` bits from the little-endian words `bytes` (as [`to_bytes`] writes).
    pub fn from_bytes(len: usize, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != len.div_ceil(64) * 8 {
            return None;
        }
        let words: Vec<AtomicU64> = bytes
            .chunks_exact(8)
            .map(|c| AtomicU64::new(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect();
        // Bits past `len` would count as phantom deletions.
        if !len.is_multiple_of(64)
            && words
                .last()
                .is_some_and(|w| w.load(Ordering::Relaxed) >> (len % 64) != 0)
        {
            return None;
        }
        let ones = words
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as usize)
            .sum();
        Some(Self {
            words,
            len,
            ones: AtomicUsize::new(ones),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.words
            .iter()
            .flat_map(|w| w.load(Ordering::Acquire).to_le_bytes())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0
    }

    /// Sets bit `i`; returns whether it was clear.
    pub fn set(&self, i: usize) -> bool {
        let bit = 1u64 << (i % 64);
        let was = self.words[i / 64].fetch_or(bit, Ordering::AcqRel);
        let newly = was & bit == 0;
        if newly {
            self.ones.fetch_add(1, Ordering::AcqRel);
        }
        newly
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        self.ones.load(Ordering::Acquire)
    }

    /// Indices of bits set here but not in `earlier` (a copy of this bitmap taken before).
    pub fn set_since(&self, earlier: &AtomicBitmap) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, (now, then)) in self.words.iter().zip(&earlier.words).enumerate() {
            let mut fresh = now.load(Ordering::Acquire) & !then.load(Ordering::Acquire);
            while fresh != 0 {
                out.push(i * 64 + fresh.trailing_zeros() as usize);
                fresh &= fresh - 1;
            }
        }
        out
    }

    pub fn copy(&self) -> AtomicBitmap {
        Self::from_bytes(self.len, &self.to_bytes()).expect("same length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_count_round_trip_and_difference() {
        let b = AtomicBitmap::new(130);
        assert!(b.set(0) && b.set(129) && !b.set(0));
        assert_eq!(b.count(), 2);
        let before = b.copy();
        b.set(64);
        b.set(5);
        assert_eq!(b.set_since(&before), vec![5, 64]);
        let back = AtomicBitmap::from_bytes(130, &b.to_bytes()).unwrap();
        assert_eq!(back.count(), 4);
        assert!(back.get(129) && back.get(64) && !back.get(1));
        assert!(AtomicBitmap::from_bytes(131, &b.to_bytes()).is_some());
        assert!(AtomicBitmap::from_bytes(200, &b.to_bytes()).is_none());
        let mut bytes = b.to_bytes();
        bytes[16] |= 0x80;
        assert!(AtomicBitmap::from_bytes(130, &bytes).is_none());
    }
}
