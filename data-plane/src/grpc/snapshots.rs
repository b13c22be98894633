//! The snapshot RPCs' chunk messages, to and from the domain's byte streams.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tessera_proto::convert::{error_to_status, status_to_error};
use tessera_proto::data_plane::SnapshotChunk;
use tessera_types::shard_client::ByteStream;
use tessera_types::OpId;
use tonic::{Status, Streaming};

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<SnapshotChunk, Status>> + Send>>;

/// `bytes` as chunk messages: a first one telling the size and the last
/// operation `id` the file holds (its `total_bytes` is at least 1, so a
/// receiver can tell it from the rest), then one per chunk of data.
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

/// The data of an incoming stream, from its `first` message on; `data` says
/// where a message keeps it.
pub fn incoming<M: Send + 'static>(
    first: Vec<u8>,
    rest: Streaming<M>,
    data: fn(M) -> Vec<u8>,
) -> ByteStream {
    let rest = rest.map(move |message| message.map(data).map_err(status_to_error));
    Box::pin(futures::stream::once(async move { Ok(first) }).chain(rest))
}
