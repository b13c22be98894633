//! Bounds on the transfer work a node does at once: recovery steps it runs as
//! a target (a snapshot install, a batch of operations) and snapshots it
//! streams as a primary. Work beyond the bound waits its turn (queued).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone)]
pub struct TransferSlots {
    incoming: Arc<Semaphore>,
    outgoing: Arc<Semaphore>,
}

impl TransferSlots {
    pub fn new(incoming: usize, outgoing: usize) -> Self {
        TransferSlots {
            incoming: Arc::new(Semaphore::new(incoming.max(1))),
            outgoing: Arc::new(Semaphore::new(outgoing.max(1))),
        }
    }

    /// A slot for one recovery step here; `on_wait` runs first when none is free.
    pub async fn incoming(&self, on_wait: impl FnOnce()) -> OwnedSemaphorePermit {
        take(&self.incoming, on_wait).await
    }

    /// A slot for streaming one snapshot to another node.
    pub async fn outgoing(&self) -> OwnedSemaphorePermit {
        take(&self.outgoing, || {}).await
    }
}

async fn take(slots: &Arc<Semaphore>, on_wait: impl FnOnce()) -> OwnedSemaphorePermit {
    if let Ok(permit) = slots.clone().try_acquire_owned() {
        return permit;
    }
    on_wait();
    slots
        .clone()
        .acquire_owned()
        .await
        .expect("transfer slots are never closed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn work_beyond_the_bound_is_queued_until_a_slot_frees() {
        let slots = TransferSlots::new(1, 1);
        let first = slots
            .incoming(|| panic!("the first step waits for nothing"))
            .await;
        let queued = Arc::new(AtomicBool::new(false));
        let second = tokio::spawn({
            let (slots, queued) = (slots.clone(), queued.clone());
            async move {
                slots
                    .incoming(|| queued.store(true, Ordering::SeqCst))
                    .await
            }
        });
        // The second step says it is queued, and stays waiting.
        while !queued.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!second.is_finished(), "a second step ran beside the first");
        drop(first);
        let _second = second.await.unwrap();
        // Outgoing slots are counted apart from incoming ones.
        let _out = slots.outgoing().await;
    }
}
