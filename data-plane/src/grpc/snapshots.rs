//! The snapshot RPCs' chunk messages, to and from the domain's byte streams.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tessera_proto::convert::{error_to_status, status_to_error};
use tessera_proto::data_plane::SnapshotChunk;
use tessera_types::shard_client::ByteStream;
use tessera_types::{OpId, TesseraError};
use tonic::{Status, Streaming};

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<SnapshotChunk, Status>> + Send>>;

/// `bytes` as chunk messages: a first one telling the size and, for a
/// transfer, the last operation `id` the file holds (its `total_bytes` is at
/// least 1, so a receiver can tell it from the rest), then one per chunk.
pub fn chunks(size: u64, id: OpId, bytes: ByteStream) -> ChunkStream {
    let header = SnapshotChunk {
        data: Vec::new(),
        seq: id.seq,
        epoch: id.epoch,
        total_bytes: size.max(1),
    };
    let data = bytes.map(|chunk| {
        chunk
            .map(|data| SnapshotChunk {
                data,
                ..Default::default()
            })
            .map_err(error_to_status)
    });
    Box::pin(futures::stream::once(async move { Ok(header) }).chain(data))
}

/// The data of an incoming upload, from its `first` message on; `parts`
/// gives a message's data and whether it is the last. An upload that ends
/// before its last message broke off: the stream then ends in an error, so
/// nothing of it is kept.
pub fn incoming<M: Send + 'static>(
    first: M,
    rest: Streaming<M>,
    parts: fn(M) -> (Vec<u8>, bool),
) -> ByteStream {
    let messages = futures::stream::once(async move { Ok(first) }).chain(rest);
    let data = futures::stream::unfold(
        (Box::pin(messages), false),
        move |(mut messages, ended)| async move {
            if ended {
                return None;
            }
            let item = match messages.next().await {
                Some(Ok(message)) => match parts(message) {
                    (_, true) => return None,
                    (data, false) => Ok(data),
                },
                Some(Err(status)) => Err(status_to_error(status)),
                None => Err(TesseraError::Unavailable(
                    "the upload broke off before its last chunk".into(),
                )),
            };
            let ended = item.is_err();
            Some((item, (messages, ended)))
        },
    );
    Box::pin(data)
}
