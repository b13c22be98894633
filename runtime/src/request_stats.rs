//! Per-operation response statistics, kept the way Qdrant keeps them for its
//! telemetry and its `rest_responses_*` / `grpc_responses_*` metrics: a count,
//! a smoothed average of the latest responses, the minimum, maximum and total
//! duration, when the last one was sent, and a duration histogram.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

/// How many of the latest durations the average is taken over.
const AVERAGE_WINDOW: usize = 128;
/// The average is a moving average of moving averages over this many.
const SMOOTHING_WINDOW: usize = 8;

/// Histogram bucket bounds in microseconds (Qdrant's).
pub const BUCKET_BOUNDS_MICROS: [f32; 11] = [
    1_000.0,
    5_000.0,
    10_000.0,
    20_000.0,
    50_000.0,
    100_000.0,
    500_000.0,
    1_000_000.0,
    5_000_000.0,
    10_000_000.0,
    50_000_000.0,
];

/// What one operation answered with one status, so far.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseStats {
    pub count: u64,
    pub avg_micros: f32,
    pub min_micros: f32,
    pub max_micros: f32,
    pub total_micros: u64,
    pub last_responded: SystemTime,
    /// Cumulative counts at each of [`BUCKET_BOUNDS_MICROS`].
    pub buckets: [u64; BUCKET_BOUNDS_MICROS.len()],
}

struct Aggregator {
    count: u64,
    latest: Vec<f32>,
    next: usize,
    min: f32,
    max: f32,
    total_micros: u64,
    last_responded: SystemTime,
    buckets: [u64; BUCKET_BOUNDS_MICROS.len()],
}

impl Aggregator {
    fn new(now: SystemTime) -> Self {
        Aggregator {
            count: 0,
            latest: Vec::with_capacity(AVERAGE_WINDOW),
            next: 0,
            min: f32::INFINITY,
            max: 0.0,
            total_micros: 0,
            last_responded: now,
            buckets: [0; BUCKET_BOUNDS_MICROS.len()],
        }
    }

    fn add(&mut self, elapsed: Duration, now: SystemTime) {
        let micros = elapsed.as_nanos() as f32 / 1_000.0;
        self.count += 1;
        if self.latest.len() < AVERAGE_WINDOW {
            self.latest.push(micros);
        } else {
            self.latest[self.next] = micros;
        }
        self.next = (self.next + 1) % AVERAGE_WINDOW;
        self.min = self.min.min(micros);
        self.max = self.max.max(micros);
        self.total_micros += elapsed.as_micros() as u64;
        self.last_responded = now;
        if let Some(bucket) = BUCKET_BOUNDS_MICROS.iter().position(|&le| micros <= le) {
            self.buckets[bucket] += 1;
        }
    }

    /// The latest durations, oldest first, smoothed over `SMOOTHING_WINDOW`,
    /// then averaged: one slow response moves it less than a plain mean.
    fn average(&self) -> f32 {
        let full = self.latest.len() == AVERAGE_WINDOW;
        let ordered: Vec<f32> = if full {
            [&self.latest[self.next..], &self.latest[..self.next]].concat()
        } else {
            self.latest.clone()
        };
        let mean = |xs: &[f32]| xs.iter().sum::<f32>() / xs.len() as f32;
        let smoothed: Vec<f32> = (0..ordered.len())
            .map(|i| mean(&ordered[i.saturating_sub(SMOOTHING_WINDOW)..=i]))
            .collect();
        mean(&smoothed)
    }

    fn stats(&self) -> ResponseStats {
        let mut buckets = self.buckets;
        for i in 1..buckets.len() {
            buckets[i] += buckets[i - 1];
        }
        ResponseStats {
            count: self.count,
            avg_micros: self.average(),
            min_micros: self.min,
            max_micros: self.max,
            total_micros: self.total_micros,
            last_responded: self.last_responded,
            buckets,
        }
    }
}

/// Statistics by operation, then by status.
pub type Responses = HashMap<String, HashMap<String, ResponseStats>>;

/// The responses one API has sent; clones share them.
#[derive(Clone, Default)]
pub struct RequestStats(Arc<Mutex<HashMap<(String, String), Aggregator>>>);

impl RequestStats {
    pub fn observe(&self, operation: &str, status: &str, elapsed: Duration) {
        let now = SystemTime::now();
        let mut map = self.0.lock();
        let key = (operation.to_owned(), status.to_owned());
        map.entry(key)
            .or_insert_with(|| Aggregator::new(now))
            .add(elapsed, now);
    }

    pub fn responses(&self) -> Responses {
        let mut out = Responses::new();
        for ((operation, status), aggregator) in self.0.lock().iter() {
            out.entry(operation.clone())
                .or_default()
                .insert(status.clone(), aggregator.stats());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_counted_by_operation_and_status() {
        let stats = RequestStats::default();
        stats.observe("GET /", "200", Duration::from_millis(2));
        stats.observe("GET /", "200", Duration::from_millis(4));
        stats.observe("GET /", "404", Duration::from_millis(1));
        let responses = stats.responses();
        let ok = &responses["GET /"]["200"];
        assert_eq!(ok.count, 2);
        assert_eq!(ok.min_micros, 2000.0);
        assert_eq!(ok.max_micros, 4000.0);
        assert_eq!(ok.total_micros, 6000);
        // Smoothed: mean(2000, mean(2000, 4000)) = 2500.
        assert_eq!(ok.avg_micros, 2500.0);
        assert_eq!(ok.buckets[0], 0);
        assert_eq!(ok.buckets[1], 2);
        assert_eq!(*ok.buckets.last().unwrap(), 2);
        assert_eq!(responses["GET /"]["404"].count, 1);
    }
}
