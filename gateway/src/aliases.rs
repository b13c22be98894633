//! Collection aliases (`POST /collections/aliases`, `GET /aliases`,
//! `GET /collections/{c}/aliases`): control-plane state, changed through Raft.

use tessera_proto::control_plane as cp;
use tessera_proto::convert::to_msgpack;
use tessera_types::{AliasDescription, AliasOperation};

use crate::service::{Gateway, Result};

impl Gateway {
    /// Applies every action, or none; returns once this gateway sees the result.
    pub async fn update_aliases(&self, actions: Vec<AliasOperation>) -> Result<bool> {
        let request = cp::UpdateAliasesRequest {
            actions: to_msgpack(&actions),
        };
        self.change(request, |mut c, r| async move { c.update_aliases(r).await })
            .await?;
        Ok(true)
    }

    pub fn list_aliases(&self) -> Vec<AliasDescription> {
        self.topology().current().aliases_of(None)
    }

    /// The aliases of a collection (named directly, not through an alias).
    pub fn list_collection_aliases(&self, collection: &str) -> Result<Vec<AliasDescription>> {
        let (topology, state) = self.collection(collection)?;
        Ok(topology.aliases_of(Some(&state.name)))
    }
}
