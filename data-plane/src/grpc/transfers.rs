//! A transfer's records as the `FetchRecords` stream: a first message with
//! where the records stand (operation, epochs, total), then one per batch.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tessera_proto::convert::error_to_status;
use tessera_proto::data_plane::{EpochStart, RecordBatch, VersionedPoint};
use tessera_types::shard_client::TransferRecords;
use tonic::Status;

pub type RecordStream = Pin<Box<dyn Stream<Item = Result<RecordBatch, Status>> + Send>>;

pub fn record_batches(records: TransferRecords) -> RecordStream {
    let header = RecordBatch {
        seq: records.at.seq,
        epoch: records.at.epoch,
        epochs: records
            .epochs
            .into_iter()
            .map(|(first_seq, epoch)| EpochStart { first_seq, epoch })
            .collect(),
        total: records.total,
        points: Vec::new(),
    };
    let batches = records.batches.map(|batch| {
        batch
            .map(|points| RecordBatch {
                points: points
                    .into_iter()
                    .map(|(version, point)| VersionedPoint {
                        point: Some(point.into()),
                        version,
                    })
                    .collect(),
                ..Default::default()
            })
            .map_err(error_to_status)
    });
    Box::pin(futures::stream::once(async move { Ok(header) }).chain(batches))
}
