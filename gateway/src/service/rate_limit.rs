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
    /// `per_minute` operations a minute), or refuses the operation with a 429 in
    /// Qdrant's words.
    pub(super) fn charge(
        &self,
        collection: &str,
        access: Access,
        per_minute: usize,
        cost: usize,
    ) -> Result<()> {
        let kind = match access {
            Access::Read => "Read",
            Access::Write => "Write",
        };
        if cost > per_minute {
            // No wait makes it fit, so no retry is suggested.
            return Err(TesseraError::RateLimited {
                description: format!(
                    "{kind} rate limit exceeded, request larger than rate limiter capacity, please try to split your request"
                ),
                retry_after: None,
            });
        }
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
        let per_second = per_minute as f64 / 60.0;
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(per_minute as f64);
        bucket.refilled = now;
        if bucket.tokens >= cost as f64 {
            bucket.tokens -= cost as f64;
            return Ok(());
        }
        // Rounded up, so a client waiting that long does find the tokens.
        let wait = ((cost as f64 - bucket.tokens) / per_second).ceil() as u64;
        Err(TesseraError::RateLimited {
            description: format!(
                "{kind} rate limit exceeded: Operation requires {cost} tokens but only {:.1} were available. Retry after {wait}s",
                bucket.tokens
            ),
            retry_after: Some(wait),
        })
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
        let TesseraError::RateLimited {
            description,
            retry_after,
        } = limits.charge("c", Access::Read, 2, 1).unwrap_err()
        else {
            panic!("not a rate limit");
        };
        assert!(
            description.starts_with(
                "Read rate limit exceeded: Operation requires 1 tokens but only 0.0 were available. Retry after "
            ),
            "{description}"
        );
        // A token comes back every 30 s.
        assert!(matches!(retry_after, Some(29 | 30)), "{retry_after:?}");
        // Writes and other collections have their own buckets.
        assert!(limits.charge("c", Access::Write, 2, 2).is_ok());
        assert!(limits.charge("d", Access::Read, 2, 1).is_ok());
        // A new limit starts full.
        assert!(limits.charge("c", Access::Read, 3, 3).is_ok());
    }

    #[test]
    fn a_cost_above_the_capacity_never_passes() {
        let limits = RateLimits::default();
        let err = limits.charge("c", Access::Write, 10, 11).unwrap_err();
        assert_eq!(
            err,
            TesseraError::RateLimited {
                description: "Write rate limit exceeded, request larger than rate limiter capacity, please try to split your request".into(),
                retry_after: None,
            }
        );
        assert_eq!(
            err.to_string(),
            "Rate limiting exceeded: Write rate limit exceeded, request larger than rate limiter capacity, please try to split your request"
        );
        // It took no tokens.
        assert!(limits.charge("c", Access::Write, 10, 10).is_ok());
    }
}
