//! Where shard reads run: a rayon pool of their own, one thread per core.
//!
//! A read is CPU work (a graph walk, a scan). On this pool a search's segments
//! fan out to the other threads with no further hop, the async threads stay
//! free for I/O, and index builds, which keep the global rayon pool busy for
//! seconds at a time, never queue ahead of a search.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use tessera_types::TesseraError;

static READ_POOL: LazyLock<rayon::ThreadPool> = LazyLock::new(|| {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("shard-read-{i}"))
        .build()
        .expect("the shard read pool starts")
});

/// Reads handed to the pool and not finished yet.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Whether every thread of the pool has a read of its own. A read then searches its
/// segments one after the other: splitting it would gain nothing, and a thread waiting
/// for its other half takes up queued reads meanwhile (rayon's work-while-waiting), so
/// the split read finishes only after them; at 32 concurrent searches over several
/// segments that put 1% of them past a second.
pub fn saturated() -> bool {
    IN_FLIGHT.load(Ordering::Relaxed) >= READ_POOL.current_num_threads()
}

/// Runs `read` on the read pool and waits for it without blocking the caller's
/// thread. A panic becomes an internal error instead of aborting the process,
/// which is what rayon does with a panic in a spawned job.
pub async fn run<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, TesseraError> + Send + 'static,
) -> Result<T, TesseraError> {
    let (done, result) = tokio::sync::oneshot::channel();
    IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
    READ_POOL.spawn(move || {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(read))
            .unwrap_or_else(|_| Err(TesseraError::internal("a shard read panicked")));
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
        let _ = done.send(outcome);
    });
    result
        .await
        .map_err(|_| TesseraError::internal("a shard read was dropped"))?
}
