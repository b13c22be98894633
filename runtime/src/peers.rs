//! Channels to data-plane nodes, opened lazily and reused, behind the shard
//! interface: gateways route point operations with them, primaries forward
//! writes to their replicas, recovering replicas fetch from their primary.
//! A gateway in the same process as a data-plane node (standalone) reaches
//! that node's shards by direct calls instead.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tessera_types::shard_client::ShardClient;
use tessera_types::{PeerId, TesseraError, Topology};
use tonic::transport::Channel;

use crate::internal_auth::{internal, InternalChannel};
use crate::remote_shard::RemoteShard;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;

/// Largest message between Tessera services (big upsert batches, snapshot chunks).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Default, Clone)]
pub struct DataPlanes {
    channels: Arc<RwLock<HashMap<(PeerId, String), Channel>>>,
    in_process: Option<(PeerId, Arc<dyn ShardClient>)>,
}

impl DataPlanes {
    /// Shard calls for `peer` go to `node`, a node in this process.
    pub fn with_in_process(peer: PeerId, node: Arc<dyn ShardClient>) -> Self {
        DataPlanes {
            in_process: Some((peer, node)),
            ..Default::default()
        }
    }

    /// Where to send shard calls for `peer`: its service if it runs in this
    /// process, else a gRPC client.
    pub fn shards(
        &self,
        topology: &Topology,
        peer: PeerId,
    ) -> Result<Arc<dyn ShardClient>, TesseraError> {
        match &self.in_process {
            Some((local, node)) if *local == peer => Ok(node.clone()),
            _ => Ok(Arc::new(RemoteShard::new(self.client(topology, peer)?))),
        }
    }

    fn client(
        &self,
        topology: &Topology,
        peer: PeerId,
    ) -> Result<DataPlaneClient<InternalChannel>, TesseraError> {
        let uri = topology
            .peers
            .get(&peer)
            .map(|p| p.uri.clone())
            .ok_or_else(|| {
                TesseraError::Unavailable(format!("peer {peer} is not in the topology"))
            })?;
        let key = (peer, uri);
        let cached = self
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let channel = match cached {
            Some(channel) => channel,
            None => {
                let channel = crate::tls::endpoint(&key.1)
                    .map_err(|e| TesseraError::internal(format!("data node: {e}")))?
                    .connect_timeout(Duration::from_secs(2))
                    .tcp_nodelay(true)
                    .connect_lazy();
                self.channels
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, channel.clone());
                channel
            }
        };
        Ok(DataPlaneClient::new(internal(channel))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}
