//! Scalar quantization: each dimension as one byte on a range learnt from the data
//! (`lo + step * code`), clipped to the `quantile` of values when given. The query is
//! coded the same way, so comparisons are integer sums; a code ends with the sum of
//! its bytes, which the inner product needs.

use tessera_types::Distance;

use super::CodecHeader;

pub struct Scalar {
    lo: f32,
    step: f32,
}

pub struct Query {
    code: Vec<u8>,
}

impl Scalar {
    pub fn new(lo: f32, step: f32) -> Self {
        Scalar { lo, step }
    }

    /// The range holding `quantile` of the sample's values (all of them at 1.0).
    pub fn train(sample: &[&[f32]], dim: usize, quantile: f32) -> Self {
        let mut values: Vec<f32> = sample
            .iter()
            .flat_map(|v| v.iter().copied())
            .filter(|x| x.is_finite())
            .collect();
        let (lo, hi) = if values.is_empty() {
            (0.0, 0.0)
        } else if quantile >= 1.0 {
            values
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)))
        } else {
            let n = values.len();
            let cut = ((1.0 - quantile as f64) / 2.0 * n as f64) as usize;
            let lo = *values.select_nth_unstable_by(cut, f32::total_cmp).1;
            let hi = *values
                .select_nth_unstable_by(n - 1 - cut.min(n - 1), f32::total_cmp)
                .1;
            (lo, hi)
        };
        let step = (hi - lo) / 255.0;
        debug_assert!(dim > 0 || values.is_empty());
        Scalar {
            lo,
            step: if step > 0.0 && step.is_finite() {
                step
            } else {
                1.0
            },
        }
    }

    pub fn header(&self) -> CodecHeader {
        CodecHeader::Scalar {
            lo: self.lo,
            step: self.step,
        }
    }

    pub fn code_len(dim: usize) -> usize {
        dim + 4
    }

    pub fn encode(&self, v: &[f32], code: &mut [u8]) {
        let (bytes, sum) = code.split_at_mut(v.len());
        let mut total = 0u32;
        for (b, x) in bytes.iter_mut().zip(v) {
            *b = ((x - self.lo) / self.step).round().clamp(0.0, 255.0) as u8;
            total += *b as u32;
        }
        sum.copy_from_slice(&total.to_le_bytes());
    }

    pub fn prepare(&self, query: &[f32]) -> Query {
        let mut code = vec![0u8; Self::code_len(query.len())];
        self.encode(query, &mut code);
        Query { code }
    }

    pub fn estimate(&self, query: &Query, code: &[u8], distance: Distance) -> f32 {
        let dim = code.len() - 4;
        let (a, b) = (&query.code[..dim], &code[..dim]);
        match distance {
            Distance::Cosine | Distance::Dot => {
                let sum = |c: &[u8]| u32::from_le_bytes(c[dim..].try_into().expect("4 bytes"));
                let (sa, sb) = (sum(&query.code) as f32, sum(code) as f32);
                dim as f32 * self.lo * self.lo
                    + self.lo * self.step * (sa + sb)
                    + self.step * self.step * kernels::dot(a, b) as f32
            }
            Distance::Euclid => self.step * (kernels::l2_squared(a, b) as f32).sqrt(),
            Distance::Manhattan => self.step * kernels::l1(a, b) as f32,
        }
    }
}

/// Integer sums over byte codes; each fits `u32` for any dimension a collection allows
/// (65,536 x 255 x 255 < 2^32). Compiled twice like the float kernels: plain, and for
/// AVX2 chosen at run time.
mod kernels {
    const LANES: usize = 16;

    macro_rules! byte_kernel {
        ($name:ident, |$x:ident, $y:ident| $term:expr) => {
            #[inline(always)]
            fn $name(a: &[u8], b: &[u8]) -> u32 {
                let mut acc = [0u32; LANES];
                let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
                let tail: u32 = ca
                    .remainder()
                    .iter()
                    .zip(cb.remainder())
                    .map(|(x, y)| {
                        let ($x, $y) = (*x as i32, *y as i32);
                        $term as u32
                    })
                    .sum();
                for (xa, xb) in ca.zip(cb) {
                    for ((s, x), y) in acc.iter_mut().zip(xa).zip(xb) {
                        let ($x, $y) = (*x as i32, *y as i32);
                        *s += $term as u32;
                    }
                }
                acc.iter().sum::<u32>() + tail
            }
        };
    }

    mod portable {
        use super::LANES;
        byte_kernel!(dot_inner, |x, y| x * y);
        byte_kernel!(l2_inner, |x, y| (x - y) * (x - y));
        byte_kernel!(l1_inner, |x, y| (x - y).unsigned_abs());
        #[inline(always)]
        pub fn dot(a: &[u8], b: &[u8]) -> u32 {
            dot_inner(a, b)
        }
        #[inline(always)]
        pub fn l2_squared(a: &[u8], b: &[u8]) -> u32 {
            l2_inner(a, b)
        }
        #[inline(always)]
        pub fn l1(a: &[u8], b: &[u8]) -> u32 {
            l1_inner(a, b)
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        #[target_feature(enable = "avx2")]
        pub unsafe fn dot(a: &[u8], b: &[u8]) -> u32 {
            super::portable::dot(a, b)
        }
        #[target_feature(enable = "avx2")]
        pub unsafe fn l2_squared(a: &[u8], b: &[u8]) -> u32 {
            super::portable::l2_squared(a, b)
        }
        #[target_feature(enable = "avx2")]
        pub unsafe fn l1(a: &[u8], b: &[u8]) -> u32 {
            super::portable::l1(a, b)
        }
    }

    macro_rules! dispatch {
        ($name:ident) => {
            #[inline]
            pub fn $name(a: &[u8], b: &[u8]) -> u32 {
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2::$name(a, b) };
                }
                portable::$name(a, b)
            }
        };
    }

    dispatch!(dot);
    dispatch!(l2_squared);
    dispatch!(l1);
}
