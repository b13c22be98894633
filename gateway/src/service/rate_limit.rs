//! Strict mode's `read_rate_limit` and `write_rate_limit`: a token bucket per
//! collection and kind of access, holding a minute's worth of operations and refilled
//! continuously. Each gateway keeps its own buckets, so a limit holds per gateway.
//! Hand-written: a bucket is a few lines, and the limits change with the collection's
//! config at any moment, which a rate-limiter crate's fixed quotas do not follow.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;
use tessera_types::TesseraError;

use super::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Access {
    Read,
    Write,
}

struct Bucket {
    per_minute: usize,
    tokens: f64,
    refilled: Instant,
}

#[derive(Default)]
pub(super) struct RateLimits {
    buckets: Mutex<HashMap<(String, Access), Bucket>>,
}

impl RateLimits {
    /// Takes `cost` tokens from the bucket of `collection` and `access` (allowing
    /// `per_minute` operations a minute), or refuses the operation with a 429.
    pub(super) fn charge(
        &self,
        collection: &str,
        access: Access,
        per_minute: usize,
        cost: usize,
    ) -> Result<()> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let bucket = buckets
            .entry((collection.to_string(), access))
            .or_insert_with(|| Bucket {
                per_minute,
                tokens: per_minute as f64,
                refilled: now,
            });
        if bucket.per_minute != per_minute {
            // A changed limit starts a full bucket of the new size.
            *bucket = Bucket {
                per_minute,
                tokens: per_minute as f64,
                refilled: now,
            };
        }
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_minute as f64 / 60.0).min(per_minute as f64);
        bucket.refilled = now;
        if bucket.tokens >= cost as f64 {
            bucket.tokens -= cost as f64;
            return Ok(());
        }
        let kind = match access {
            Access::Read => "Read",
            Access::Write => "Write",
        };
        Err(TesseraError::RateLimited(if cost > 1 {
            format!(
                "{kind} rate limit exceeded: Operation requires {cost} tokens but only {} are available",
                bucket.tokens.floor()
            )
        } else {
            format!("{kind} rate limit exceeded, retry later")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_minute_of_operations() {
        let limits = RateLimits::default();
        assert!(limits.charge("c", Access::Read, 2, 1).is_ok());
        assert!(limits.charge("c", Access::Read, 2, 1).is_ok());
        let err = limits.charge("c", Access::Read, 2, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Rate limiting exceeded: Read rate limit exceeded, retry later"
        );
        // Writes and other collections have their own buckets.
        assert!(limits.charge("c", Access::Write, 2, 2).is_ok());
        assert!(limits.charge("d", Access::Read, 2, 1).is_ok());
        let err = limits.charge("c", Access::Write, 2, 5).unwrap_err();
        assert!(err.to_string().contains("Operation requires 5 tokens"));
        // A new limit starts full.
        assert!(limits.charge("c", Access::Read, 3, 3).is_ok());
    }
}
