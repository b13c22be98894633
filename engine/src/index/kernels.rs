//! Distance kernels over `f32` slices.
//!
//! The portable loops work on chunks of 8 lanes with independent accumulators so LLVM can
//! keep them in SIMD registers without reordering a single serial sum. On x86_64, AVX2
//! and FMA kernels written with intrinsics are picked at run time (see
//! `benches/engine.rs` for the comparison with anndists' `simdeez_f` kernels).

use tessera_types::Distance;

const LANES: usize = 8;

/// The kernels as plain Rust, vectorized by LLVM for the build's baseline target (SSE2 on
/// x86_64). Also the fallback where no wider instruction set is detected.
pub mod portable {
    use super::LANES;

    /// Inner product.
    #[inline(always)]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        let mut acc = [0.0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .map(|(x, y)| x * y)
            .sum();
        for (xa, xb) in ca.zip(cb) {
            for ((s, x), y) in acc.iter_mut().zip(xa).zip(xb) {
                *s += x * y;
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    /// Squared Euclidean distance.
    #[inline(always)]
    pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        let mut acc = [0.0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .map(|(x, y)| (x - y) * (x - y))
            .sum();
        for (xa, xb) in ca.zip(cb) {
            for ((s, x), y) in acc.iter_mut().zip(xa).zip(xb) {
                let d = x - y;
                *s += d * d;
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    /// Manhattan (L1) distance.
    #[inline(always)]
    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        let mut acc = [0.0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .map(|(x, y)| (x - y).abs())
            .sum();
        for (xa, xb) in ca.zip(cb) {
            for ((s, x), y) in acc.iter_mut().zip(xa).zip(xb) {
                *s += (x - y).abs();
            }
        }
        acc.iter().sum::<f32>() + tail
    }
}

/// AVX2 with FMA, chosen at run time. Four independent 8-lane accumulators: one
/// accumulator would make every iteration wait for the previous add (the loop was
/// latency-bound, about 3x slower at 128 dimensions).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Sums the 8 lanes of `v`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn horizontal_sum(v: __m256) -> f32 {
        let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
        let single = _mm_add_ss(pair, _mm_shuffle_ps::<0b01>(pair, pair));
        _mm_cvtss_f32(single)
    }

    /// Folds `step` over `a` and `b` 32 then 8 lanes at a time into one sum, and
    /// the last lanes through `tail`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn fold(
        a: &[f32],
        b: &[f32],
        step: impl Fn(__m256, __m256, __m256) -> __m256,
        tail: impl Fn(f32, f32) -> f32,
    ) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (all loads): i + 32 <= n, then i + 8 <= n, both slices hold n floats.
        while i + 32 <= n {
            for (lane, sum) in acc.iter_mut().enumerate() {
                let at = i + lane * 8;
                *sum = step(
                    *sum,
                    _mm256_loadu_ps(pa.add(at)),
                    _mm256_loadu_ps(pb.add(at)),
                );
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = step(
                acc[0],
                _mm256_loadu_ps(pa.add(i)),
                _mm256_loadu_ps(pb.add(i)),
            );
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let rest: f32 = a[i..n]
            .iter()
            .zip(&b[i..n])
            .map(|(x, y)| tail(*x, *y))
            .sum();
        horizontal_sum(sum) + rest
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |s, x, y| _mm256_fmadd_ps(x, y, s), |x, y| x * y)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        fold(
            a,
            b,
            |s, x, y| {
                let d = _mm256_sub_ps(x, y);
                _mm256_fmadd_ps(d, d, s)
            },
            |x, y| (x - y) * (x - y),
        )
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
        // |d| clears the sign bit.
        let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
        fold(
            a,
            b,
            |s, x, y| _mm256_add_ps(s, _mm256_and_ps(_mm256_sub_ps(x, y), magnitude)),
            |x, y| (x - y).abs(),
        )
    }
}

/// Whether the AVX2 kernels can run here (std caches the CPUID answer).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Inner product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { avx2::dot(a, b) };
    }
    portable::dot(a, b)
}

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { avx2::l2_squared(a, b) };
    }
    portable::l2_squared(a, b)
}

/// Manhattan (L1) distance.
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { avx2::l1(a, b) };
    }
    portable::l1(a, b)
}

/// Asks the CPU to start loading `v` into its caches, so a kernel that reads it
/// soon does not wait on memory. A hint: it changes no result.
#[inline]
pub fn prefetch(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in v.chunks(16) {
        // SAFETY: prefetching is a hint that never faults, for any address;
        // SSE is part of the x86_64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
}

/// Scales `v` to unit length; a zero vector stays zero (it has no direction).
pub fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The user-facing score of `stored` against `query`, as Qdrant reports it.
/// For Cosine both sides must already be normalized.
pub fn score(distance: Distance, query: &[f32], stored: &[f32]) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => dot(query, stored),
        Distance::Euclid => l2_squared(query, stored).sqrt(),
        Distance::Manhattan => l1(query, stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    fn sample(len: usize, seed: u32) -> Vec<f32> {
        // A small deterministic generator keeps the test free of extra dependencies.
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn kernels_match_naive_sums_for_every_tail_length() {
        for len in 0..80 {
            let a = sample(len, 7 + len as u32);
            let b = sample(len, 1000 + len as u32);
            let l2: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
                .sum();
            let l1_: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64 - *y as f64).abs())
                .sum();
            assert!(
                (dot(&a, &b) as f64 - naive_dot(&a, &b)).abs() < 1e-4,
                "dot {len}"
            );
            assert!((l2_squared(&a, &b) as f64 - l2).abs() < 1e-4, "l2 {len}");
            assert!((l1(&a, &b) as f64 - l1_).abs() < 1e-4, "l1 {len}");
        }
    }

    #[test]
    fn known_values() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let b = [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(dot(&a, &b), 165.0);
        assert_eq!(l2_squared(&a, &b), 240.0);
        assert_eq!(l1(&a, &b), 40.0);
        assert_eq!(score(Distance::Euclid, &[0.0, 0.0], &[3.0, 4.0]), 5.0);
        assert_eq!(score(Distance::Manhattan, &[0.0, 0.0], &[3.0, -4.0]), 7.0);
    }

    #[test]
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0; 5];
        normalize(&mut z);
        assert_eq!(z, vec![0.0; 5]);
    }
}
