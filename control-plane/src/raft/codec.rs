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
    #[error("legacy JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown format {0:#04x}: written by a newer version")]
    UnknownFormat(u8),
    #[error("empty value")]
    Empty,
}

/// The formats values are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Untagged JSON: read, and written only to answer a member that sent it.
    LegacyJson,
    MsgpackV1,
}

impl Format {
    /// The format `bytes` were written in (the current one when unknown).
    pub fn of(bytes: &[u8]) -> Format {
        match bytes.first() {
            Some(0x20..=0x7e) => Format::LegacyJson,
            _ => Format::MsgpackV1,
        }
    }
}

/// Encodes in the current format.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    encode_as(value, Format::MsgpackV1)
}

pub fn encode_as<T: Serialize + ?Sized>(value: &T, format: Format) -> Result<Vec<u8>, CodecError> {
    if format == Format::LegacyJson {
        return Ok(serde_json::to_vec(value)?);
    }
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

    /// Every kind of topology command, as the log held them in JSON before
    /// formats were tagged.
    fn fixture_commands() -> Vec<TopologyCommand> {
        serde_json::from_str(include_str!("../../tests/fixtures/raft_commands_v0.json")).unwrap()
    }

    #[test]
    fn entries_round_trip_and_legacy_json_still_reads() {
        let commands = fixture_commands();
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
        // A reply to a member that sent JSON is JSON.
        let legacy = serde_json::to_vec(&Some(7u64)).unwrap();
        assert_eq!(Format::of(&legacy), Format::LegacyJson);
        let reply = encode_as(&Some(8u64), Format::of(&legacy)).unwrap();
        assert_eq!(
            serde_json::from_slice::<Option<u64>>(&reply).unwrap(),
            Some(8)
        );
    }

    /// The same commands in format 0x01, as written when it was introduced:
    /// a change to the domain types that stops them reading fails here, and
    /// needs a new format (with this one still read) instead.
    /// `TESSERA_WRITE_FIXTURES=1` rewrites the file, for a new format only.
    #[test]
    fn commands_written_in_format_1_still_read() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/raft_commands_v1.msgpack"
        );
        if std::env::var_os("TESSERA_WRITE_FIXTURES").is_some() {
            std::fs::write(path, encode(&fixture_commands()).unwrap()).unwrap();
        }
        let written = std::fs::read(path).unwrap();
        assert_eq!(written[0], MSGPACK_V1);
        let read: Vec<TopologyCommand> = decode(&written).unwrap();
        assert_eq!(read, fixture_commands());
    }
}
