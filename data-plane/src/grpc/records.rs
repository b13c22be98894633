//! The source side of the `stream_records` transfer: a still view of the
//! shard sent as batches of points with their versions.

use std::pin::Pin;

use futures::Stream;
use tessera_proto::data_plane::{EpochStart, RecordBatch, VersionedPoint};
use tonic::Status;

use crate::replica_set::RecordsView;

/// Points per batch: about a megabyte for 512-dimension vectors.
const RECORDS_PER_BATCH: usize = 500;

pub type RecordStream = Pin<Box<dyn Stream<Item = Result<RecordBatch, Status>> + Send>>;

/// Streams every point of `view`; `guard` (a transfer slot) is held until
/// the last batch is sent.
pub fn stream<G: Send + 'static>(view: RecordsView, guard: G) -> RecordStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let total = view.shard.stats().points_count;
        let mut header = Some(RecordBatch {
            seq: view.at.seq,
            epoch: view.at.epoch,
            epochs: view
                .shard
                .epochs()
                .into_iter()
                .map(|(first_seq, epoch)| EpochStart { first_seq, epoch })
                .collect(),
            total,
            ..Default::default()
        });
        let mut from = None;
        loop {
            let (page, next) = view.shard.records_page(from, RECORDS_PER_BATCH);
            let mut batch = header.take().unwrap_or_default();
            batch.points = page
                .into_iter()
                .map(|(version, point)| VersionedPoint {
                    point: Some(point.into()),
                    version,
                })
                .collect();
            if tx.blocking_send(Ok(batch)).is_err() {
                return;
            }
            match next {
                Some(id) => from = Some(id),
                None => break,
            }
        }
        tracing::info!(
            records = total,
            seq = view.at.seq,
            "streamed a shard's records"
        );
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
