//! Collection aliases: another name for a collection, accepted wherever a
//! collection name is. Kept in the topology and changed through Raft, every
//! action of one request at once or none.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TesseraError};
use crate::topology::{CollectionState, Topology};

/// One action of `POST /collections/aliases`, in Qdrant's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AliasOperation {
    CreateAlias {
        collection_name: String,
        alias_name: String,
    },
    DeleteAlias {
        alias_name: String,
    },
    RenameAlias {
        old_alias_name: String,
        new_alias_name: String,
    },
}

/// Body of `POST /collections/aliases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeAliases {
    pub actions: Vec<AliasOperation>,
}

/// One alias as `GET /aliases` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasDescription {
    pub alias_name: String,
    pub collection_name: String,
}

/// An alias may not take a collection's name (409, in Qdrant's words).
fn alias_is_collection(alias: &str) -> TesseraError {
    TesseraError::AlreadyExists(format!("Collection `{alias}` already exists!"))
}

fn alias_not_found(alias: &str) -> TesseraError {
    TesseraError::not_found(format!("Alias {alias} does not exist"))
}

impl Topology {
    /// The collection `name` names, directly or through an alias.
    pub fn resolve(&self, name: &str) -> Option<&CollectionState> {
        self.collections.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|collection| self.collections.get(collection))
        })
    }

    /// Applies every action in order, or none when one fails. Creating an
    /// alias that exists points it at the new collection, so a switch can be
    /// one action.
    pub fn change_aliases(&mut self, actions: &[AliasOperation]) -> Result<()> {
        let mut aliases = self.aliases.clone();
        for action in actions {
            match action {
                AliasOperation::CreateAlias {
                    collection_name,
                    alias_name,
                } => {
                    if alias_name.is_empty() {
                        return Err(TesseraError::bad_input("alias_name must not be empty"));
                    }
                    if !self.collections.contains_key(collection_name) {
                        return Err(TesseraError::collection_not_found(collection_name));
                    }
                    if self.collections.contains_key(alias_name) {
                        return Err(alias_is_collection(alias_name));
                    }
                    aliases.insert(alias_name.clone(), collection_name.clone());
                }
                AliasOperation::DeleteAlias { alias_name } => {
                    aliases
                        .remove(alias_name)
                        .ok_or_else(|| alias_not_found(alias_name))?;
                }
                AliasOperation::RenameAlias {
                    old_alias_name,
                    new_alias_name,
                } => {
                    if self.collections.contains_key(new_alias_name) {
                        return Err(alias_is_collection(new_alias_name));
                    }
                    let collection = aliases
                        .remove(old_alias_name)
                        .ok_or_else(|| alias_not_found(old_alias_name))?;
                    aliases.insert(new_alias_name.clone(), collection);
                }
            }
        }
        self.aliases = aliases;
        Ok(())
    }

    /// Aliases of `collection`, or of every collection, by alias name.
    pub fn aliases_of(&self, collection: Option<&str>) -> Vec<AliasDescription> {
        self.aliases
            .iter()
            .filter(|(_, c)| collection.is_none_or(|wanted| wanted == c.as_str()))
            .map(|(alias, c)| AliasDescription {
                alias_name: alias.clone(),
                collection_name: c.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(collections: &[&str]) -> Topology {
        let mut topology = Topology::default();
        for name in collections {
            let request: crate::CreateCollection = serde_json::from_value(
                serde_json::json!({"vectors": {"size": 4, "distance": "Dot"}}),
            )
            .unwrap();
            let state = CollectionState {
                name: name.to_string(),
                incarnation: 1,
                config: request.into_config(1).unwrap(),
                shards: Vec::new(),
                payload_schema: Default::default(),
                transfers: Vec::new(),
                routing: Default::default(),
            };
            topology.collections.insert(name.to_string(), state);
        }
        topology
    }

    fn create(alias: &str, collection: &str) -> AliasOperation {
        AliasOperation::CreateAlias {
            collection_name: collection.into(),
            alias_name: alias.into(),
        }
    }

    #[test]
    fn a_switch_is_atomic_and_a_failed_request_changes_nothing() {
        let mut t = topology(&["v1", "v2"]);
        t.change_aliases(&[create("prod", "v1")]).unwrap();
        assert_eq!(t.resolve("prod").unwrap().name, "v1");
        t.change_aliases(&[
            AliasOperation::DeleteAlias {
                alias_name: "prod".into(),
            },
            create("prod", "v2"),
        ])
        .unwrap();
        assert_eq!(t.resolve("prod").unwrap().name, "v2");

        let before = t.aliases.clone();
        let failed = t.change_aliases(&[
            AliasOperation::RenameAlias {
                old_alias_name: "prod".into(),
                new_alias_name: "live".into(),
            },
            create("x", "missing"),
        ]);
        assert!(matches!(failed, Err(TesseraError::NotFound(_))));
        assert_eq!(t.aliases, before);
        assert!(t.change_aliases(&[create("v1", "v2")]).is_err());
        assert_eq!(t.aliases_of(Some("v2")).len(), 1);
    }
}
