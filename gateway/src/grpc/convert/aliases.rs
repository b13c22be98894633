//! Aliases: `ChangeAliases` in, alias listings out.

use super::*;

pub fn alias_actions_from_proto(request: q::ChangeAliases) -> Result<Vec<t::AliasOperation>> {
    use q::alias_operations::Action;
    request
        .actions
        .into_iter()
        .map(|a| match a.action {
            Some(Action::CreateAlias(c)) => Ok(t::AliasOperation::CreateAlias {
                collection_name: c.collection_name,
                alias_name: c.alias_name,
            }),
            Some(Action::DeleteAlias(d)) => Ok(t::AliasOperation::DeleteAlias {
                alias_name: d.alias_name,
            }),
            Some(Action::RenameAlias(r)) => Ok(t::AliasOperation::RenameAlias {
                old_alias_name: r.old_alias_name,
                new_alias_name: r.new_alias_name,
            }),
            None => Err(TesseraError::bad_input(
                "an alias operation without an action",
            )),
        })
        .collect()
}

pub fn aliases_to_proto(aliases: Vec<t::AliasDescription>) -> Vec<q::AliasDescription> {
    aliases
        .into_iter()
        .map(|a| q::AliasDescription {
            alias_name: a.alias_name,
            collection_name: a.collection_name,
        })
        .collect()
}
