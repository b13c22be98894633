use tessera_types::quantization::{
    BinaryEncoding, BinaryQuantization, BinaryQueryEncoding, CompressionRatio, ProductQuantization,
    ScalarQuantization, ScalarType,
};

use super::*;
use crate::index::kernels;

/// Clustered unit vectors from a small deterministic generator.
fn dataset(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    spread_dataset(n, dim, seed, 0.4)
}

/// Unit vectors around 16 centres, `spread` apart from them.
fn spread_dataset(n: usize, dim: usize, seed: u64, spread: f32) -> Vec<Vec<f32>> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 20_000) as f32 / 10_000.0 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..16)
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    (0..n)
        .map(|i| {
            let mut v: Vec<f32> = centres[i % 16]
                .iter()
                .map(|c| c + spread * next())
                .collect();
            kernels::normalize(&mut v);
            v
        })
        .collect()
}

fn scalar() -> QuantizationConfig {
    QuantizationConfig::Scalar(ScalarQuantization {
        kind: ScalarType::Int8,
        quantile: Some(0.99),
        always_ram: Some(true),
    })
}

fn binary(encoding: BinaryEncoding, query: BinaryQueryEncoding) -> QuantizationConfig {
    QuantizationConfig::Binary(BinaryQuantization {
        always_ram: None,
        encoding: Some(encoding),
        query_encoding: Some(query),
    })
}

fn product(compression: CompressionRatio) -> QuantizationConfig {
    QuantizationConfig::Product(ProductQuantization {
        compression,
        always_ram: None,
    })
}

fn build(config: &QuantizationConfig, points: &[Vec<f32>], distance: Distance) -> QuantizedVectors {
    let dim = points[0].len();
    QuantizedVectors::build(
        config,
        distance,
        dim,
        points.len(),
        &|row| points.get(row).map(Vec::as_slice),
        &|| false,
    )
    .expect("not cancelled")
}

/// recall@10 of taking `oversampling * 10` rows by estimate and re-scoring them exactly.
fn recall(
    q: &QuantizedVectors,
    points: &[Vec<f32>],
    distance: Distance,
    oversampling: usize,
) -> f64 {
    let queries: Vec<Vec<f32>> = points
        .iter()
        .step_by(points.len() / 50)
        .take(50)
        .map(|p| p.iter().map(|x| x * 0.9 + 0.01).collect())
        .collect();
    let order = |scores: &mut Vec<(f32, usize)>| {
        if distance.higher_is_better() {
            scores.sort_by(|a, b| b.0.total_cmp(&a.0));
        } else {
            scores.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    };
    let mut found = 0;
    for query in &queries {
        let mut exact: Vec<(f32, usize)> = points
            .iter()
            .enumerate()
            .map(|(row, v)| (kernels::score(distance, query, v), row))
            .collect();
        order(&mut exact);
        let prepared = q.prepare(query);
        let mut estimated: Vec<(f32, usize)> = (0..points.len())
            .map(|row| (q.estimate(&prepared, row), row))
            .collect();
        order(&mut estimated);
        let mut rescored: Vec<(f32, usize)> = estimated[..10 * oversampling]
            .iter()
            .map(|(_, row)| (kernels::score(distance, query, &points[*row]), *row))
            .collect();
        order(&mut rescored);
        let truth: Vec<usize> = exact[..10].iter().map(|(_, r)| *r).collect();
        found += rescored[..10]
            .iter()
            .filter(|(_, r)| truth.contains(r))
            .count();
    }
    found as f64 / (queries.len() * 10) as f64
}

#[test]
fn every_codec_finds_the_true_neighbours_after_rescoring() {
    let points = dataset(800, 32, 7);
    let cases = [
        (scalar(), Distance::Cosine, 2, 0.97),
        (scalar(), Distance::Euclid, 2, 0.97),
        (scalar(), Distance::Manhattan, 2, 0.95),
        (product(CompressionRatio::X8), Distance::Cosine, 2, 0.9),
        (product(CompressionRatio::X16), Distance::Euclid, 4, 0.75),
    ];
    for (config, distance, oversampling, floor) in cases {
        let q = build(&config, &points, distance);
        let r = recall(&q, &points, distance, oversampling);
        assert!(r >= floor, "{config:?} {distance:?}: recall {r}");
    }
}

#[test]
fn binary_codes_find_the_true_neighbours_of_wide_vectors_after_rescoring() {
    // Binary codes suit wide embeddings whose points differ in many signs: a bit or two
    // per dimension needs many of them (tight clusters would share one code).
    let points = spread_dataset(1000, 512, 13, 1.5);
    let cases = [
        (
            BinaryEncoding::OneBit,
            BinaryQueryEncoding::Default,
            Distance::Cosine,
            0.85,
        ),
        (
            BinaryEncoding::TwoBits,
            BinaryQueryEncoding::Default,
            Distance::Dot,
            0.85,
        ),
        (
            BinaryEncoding::OneBit,
            BinaryQueryEncoding::Scalar8bits,
            Distance::Cosine,
            0.9,
        ),
        (
            BinaryEncoding::OneAndHalfBits,
            BinaryQueryEncoding::Scalar4bits,
            Distance::Cosine,
            0.9,
        ),
        (
            BinaryEncoding::OneBit,
            BinaryQueryEncoding::Default,
            Distance::Euclid,
            0.85,
        ),
    ];
    for (encoding, query, distance, floor) in cases {
        let config = binary(encoding, query);
        let q = build(&config, &points, distance);
        let r = recall(&q, &points, distance, 3);
        assert!(r >= floor, "{config:?} {distance:?}: recall {r}");
    }
}

#[test]
fn scalar_estimates_are_close_to_the_true_scores() {
    let points = dataset(500, 32, 3);
    let q = build(&scalar(), &points, Distance::Dot);
    let query = &points[0];
    let prepared = q.prepare(query);
    for (row, v) in points.iter().enumerate() {
        let exact = kernels::score(Distance::Dot, query, v);
        let estimate = q.estimate(&prepared, row);
        assert!((exact - estimate).abs() < 0.05, "{exact} vs {estimate}");
    }
}

#[test]
fn codes_are_a_fraction_of_the_vectors() {
    let points = dataset(300, 128, 5);
    let full = 300 * 128 * 4;
    assert_eq!(
        build(&scalar(), &points, Distance::Cosine).code_bytes(),
        300 * 132
    );
    let one_bit = binary(BinaryEncoding::OneBit, BinaryQueryEncoding::Default);
    assert_eq!(
        build(&one_bit, &points, Distance::Cosine).code_bytes(),
        full / 32
    );
    let pq = build(&product(CompressionRatio::X32), &points, Distance::Cosine);
    assert_eq!(pq.code_bytes(), full / 32);
}

#[test]
fn saved_codes_reopen_in_memory_or_mapped_and_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let points = dataset(300, 16, 11);
    for config in [
        scalar(),
        product(CompressionRatio::X8),
        binary(BinaryEncoding::TwoBits, BinaryQueryEncoding::Default),
    ] {
        let q = build(&config, &points, Distance::Cosine);
        let path = dir.path().join("quant-0.bin");
        q.save(&path, &scratch).unwrap();
        let prepared = q.prepare(&points[1]);
        for mapped in [false, true] {
            let reopened = QuantizedVectors::open(&path, Distance::Cosine, mapped)
                .unwrap()
                .unwrap();
            assert_eq!(reopened.config(), &config);
            let again = reopened.prepare(&points[1]);
            for row in 0..points.len() {
                assert_eq!(q.estimate(&prepared, row), reopened.estimate(&again, row));
            }
        }
        assert!(QuantizedVectors::open(&path, Distance::Euclid, false).is_err());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(QuantizedVectors::open(&path, Distance::Cosine, false).is_err());
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(QuantizedVectors::open(&path, Distance::Cosine, true).is_err());
    }
    assert!(
        QuantizedVectors::open(&dir.path().join("none.bin"), Distance::Cosine, false)
            .unwrap()
            .is_none()
    );
}

#[test]
fn rows_without_the_vector_and_cancelled_builds() {
    let points = dataset(100, 8, 1);
    let q = QuantizedVectors::build(
        &scalar(),
        Distance::Cosine,
        8,
        200,
        &|row| points.get(row).map(Vec::as_slice),
        &|| false,
    )
    .unwrap();
    assert_eq!(q.code_bytes(), 200 * 12);
    assert!(QuantizedVectors::build(
        &scalar(),
        Distance::Cosine,
        8,
        100,
        &|row| points.get(row).map(Vec::as_slice),
        &|| true,
    )
    .is_none());
}
