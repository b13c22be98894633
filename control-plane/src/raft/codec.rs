//! How everything Raft keeps or sends is encoded: log entries, the vote and
//! purge markers, the state machine and its snapshots, and the RPCs between
//! members. Each value starts with a byte naming its format, so a format can
//! change while what was written before still reads:
//!
//! * `0x01`: MessagePack with field names, in serde's human-readable mode (a
//!   UUID is a string, as in the domain types' JSON).
//! * no tag, a JSON text (a printable first byte): what Tessera wrote before
//!   formats were tagged. Read, never written.
//!
//! Tags are control bytes (below 0x20), which no JSON text starts with.

use serde::de::DeserializeOwned;
use serde::Serialize;

const MSGPACK_V1: u8 = 0x01;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("cannot decode MessagePack: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error("cannot decode legacy JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown format {0:#04x}: written by a newer version")]
    UnknownFormat(u8),
    #[error("empty value")]
    Empty,
}

pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut bytes = vec![MSGPACK_V1];
    let mut encoder = rmp_serde::Serializer::new(&mut bytes)
        .with_struct_map()
        .with_human_readable();
    value.serialize(&mut encoder)?;
    Ok(bytes)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.first() {
        None => Err(CodecError::Empty),
        Some(&MSGPACK_V1) => {
            let mut decoder =
                rmp_serde::Deserializer::from_read_ref(&bytes[1..]).with_human_readable();
            Ok(T::deserialize(&mut decoder)?)
        }
        Some(0x20..=0x7e) => Ok(serde_json::from_slice(bytes)?),
        Some(&other) => Err(CodecError::UnknownFormat(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::TypeConfig;
    use crate::topology::TopologyCommand;
    use openraft::{Entry, EntryPayload, LogId};

    fn entry(index: u64, command: TopologyCommand) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(3, 7), index),
            payload: EntryPayload::Normal(command),
        }
    }

    #[test]
    fn entries_round_trip_and_legacy_json_still_reads() {
        let commands: Vec<TopologyCommand> =
            serde_json::from_str(include_str!("../../tests/fixtures/raft_commands_v0.json"))
                .unwrap();
        assert!(
            commands.len() >= 10,
            "the fixture covers every kind of command"
        );
        for (i, command) in commands.into_iter().enumerate() {
            let entry = entry(i as u64 + 1, command);
            let encoded = encode(&entry).unwrap();
            assert_eq!(encoded[0], MSGPACK_V1);
            let back: Entry<TypeConfig> = decode(&encoded).unwrap();
            assert_eq!(back.payload, entry.payload);
            let legacy = serde_json::to_vec(&entry).unwrap();
            let back: Entry<TypeConfig> = decode(&legacy).unwrap();
            assert_eq!(back.payload, entry.payload);
        }
        assert!(matches!(
            decode::<u64>(&[0x02, 1]),
            Err(CodecError::UnknownFormat(0x02))
        ));
        // A purge marker or commit point written before formats were tagged.
        assert_eq!(decode::<Option<u64>>(b"null").unwrap(), None);
        assert_eq!(decode::<u64>(b"42").unwrap(), 42);
    }
}
