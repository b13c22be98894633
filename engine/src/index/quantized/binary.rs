//! Binary quantization: one bit per dimension (its sign), or two (a thermometer code
//! over three levels cut at the sample's thirds, so the bits that differ count how
//! many levels apart two values are). `one_and_half_bits` is stored as two bits.
//!
//! Codes compare by counting differing bits; a query may instead keep its floats
//! (`query_encoding: scalar4bits | scalar8bits`) and be compared with the codes'
//! signs, which is slower and closer for inner products.

use tessera_types::quantization::{BinaryEncoding, BinaryQuantization, BinaryQueryEncoding};
use tessera_types::{Distance, QuantizationConfig};

use super::CodecHeader;

pub struct Binary {
    dim: usize,
    bits_per_dim: usize,
    /// The query keeps its floats.
    asymmetric: bool,
    /// Two-bit codes: the lower cuts of every dimension, then the upper ones.
    cuts: Vec<f32>,
}

pub enum Query {
    Bits(Vec<u64>),
    /// One weight per code bit, and what the unset bits subtract.
    Weights {
        weights: Vec<f32>,
        offset: f32,
    },
}

impl Binary {
    pub fn new(
        config: &QuantizationConfig,
        dim: usize,
        bits_per_dim: usize,
        cuts: Vec<f32>,
    ) -> Self {
        let asymmetric = matches!(
            config,
            QuantizationConfig::Binary(BinaryQuantization {
                query_encoding: Some(
                    BinaryQueryEncoding::Scalar4bits | BinaryQueryEncoding::Scalar8bits
                ),
                ..
            })
        );
        Binary {
            dim,
            bits_per_dim,
            asymmetric,
            cuts,
        }
    }

    pub fn train(sample: &[&[f32]], dim: usize, config: &BinaryQuantization) -> Self {
        let two_bits = config.encoding.unwrap_or_default() != BinaryEncoding::OneBit;
        let cuts = if two_bits {
            let mut lower = Vec::with_capacity(dim);
            let mut upper = Vec::with_capacity(dim);
            for d in 0..dim {
                let mut values: Vec<f32> = sample.iter().map(|v| v[d]).collect();
                values.sort_unstable_by(f32::total_cmp);
                let at = |share: usize| values.get(values.len() * share / 3).copied();
                lower.push(at(1).unwrap_or(0.0));
                upper.push(at(2).unwrap_or(0.0));
            }
            lower.into_iter().chain(upper).collect()
        } else {
            Vec::new()
        };
        Self::new(
            &QuantizationConfig::Binary(*config),
            dim,
            if two_bits { 2 } else { 1 },
            cuts,
        )
    }

    pub fn header(&self) -> CodecHeader {
        CodecHeader::Binary {
            bits_per_dim: self.bits_per_dim,
        }
    }

    pub fn floats(&self) -> Vec<f32> {
        self.cuts.clone()
    }

    pub fn code_len(&self, dim: usize) -> usize {
        (dim * self.bits_per_dim).div_ceil(64) * 8
    }

    /// Bit `i` of a one-bit code is dimension `i`'s sign; a two-bit code holds the
    /// lower cuts' bits, then the upper cuts'.
    fn bits(&self, v: &[f32]) -> Vec<u64> {
        let dim = v.len();
        let mut words = vec![0u64; (dim * self.bits_per_dim).div_ceil(64)];
        let mut set = |bit: usize| words[bit / 64] |= 1 << (bit % 64);
        for (d, x) in v.iter().enumerate() {
            if self.bits_per_dim == 1 {
                if *x > 0.0 {
                    set(d);
                }
            } else {
                if *x > self.cuts[d] {
                    set(d);
                }
                if *x > self.cuts[dim + d] {
                    set(dim + d);
                }
            }
        }
        words
    }

    pub fn encode(&self, v: &[f32], code: &mut [u8]) {
        for (chunk, word) in code.chunks_exact_mut(8).zip(self.bits(v)) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
    }

    pub fn prepare(&self, query: &[f32], distance: Distance) -> Query {
        if !self.asymmetric || !distance.higher_is_better() {
            return Query::Bits(self.bits(query));
        }
        // A dimension's level is +1/-1 (one bit) or -1/0/+1 (two bits: the sum of its
        // bits minus one), so q·levels = scale * (sum of set bits' weights) - offset.
        let scale = 2.0 / self.bits_per_dim as f32;
        let weights: Vec<f32> = std::iter::repeat_n(query, self.bits_per_dim)
            .flatten()
            .map(|x| x * scale)
            .collect();
        Query::Weights {
            weights,
            offset: query.iter().sum(),
        }
    }

    /// Inner products: the angle's estimate from differing bits, cos(pi * d / bits), or
    /// the query's product with the levels over the root of the dimension. Distances:
    /// the differing bits.
    pub fn estimate(&self, query: &Query, code: &[u8], distance: Distance) -> f32 {
        let words = code
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
        match query {
            Query::Bits(bits) => {
                let differing: u32 = words.zip(bits).map(|(a, b)| (a ^ b).count_ones()).sum();
                if distance.higher_is_better() {
                    let total = (self.dim * self.bits_per_dim).max(1) as f32;
                    (std::f32::consts::PI * differing as f32 / total).cos()
                } else {
                    differing as f32
                }
            }
            Query::Weights { weights, offset } => {
                let mut sum = 0.0;
                for (i, mut word) in words.enumerate() {
                    while word != 0 {
                        let bit = i * 64 + word.trailing_zeros() as usize;
                        sum += weights.get(bit).copied().unwrap_or(0.0);
                        word &= word - 1;
                    }
                }
                (sum - offset) / (self.dim.max(1) as f32).sqrt()
            }
        }
    }
}
