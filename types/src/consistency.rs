//! How many replicas a read asks (`consistency`), as Qdrant's clients send it.

use serde::{Deserialize, Serialize};

use crate::error::TesseraError;

/// A read's `consistency`: a number of replicas or a named level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadConsistency {
    /// One readable replica, spread across replicas from read to read.
    #[default]
    One,
    /// Exactly this many readable replicas (at least 1).
    Factor(u32),
    /// More than half of the shard's replicas.
    Majority,
    /// More than half of the shard's replicas (Qdrant's `quorum` is the same count).
    Quorum,
    /// Every replica of the shard.
    All,
}

impl ReadConsistency {
    /// Parses the REST query parameter (`2`, `majority`, `quorum`, `all`).
    pub fn parse(value: &str) -> Result<ReadConsistency, TesseraError> {
        match value {
            "majority" => Ok(ReadConsistency::Majority),
            "quorum" => Ok(ReadConsistency::Quorum),
            "all" => Ok(ReadConsistency::All),
            number => match number.parse::<u64>() {
                Ok(n) => ReadConsistency::factor(n),
                Err(_) => Err(TesseraError::bad_input(format!(
                    "Query parameter `consistency` must be a positive integer, majority, \
                     quorum or all, not `{number}`"
                ))),
            },
        }
    }

    /// A numeric consistency factor, which must be at least 1.
    pub fn factor(n: u64) -> Result<ReadConsistency, TesseraError> {
        match n {
            0 => Err(TesseraError::bad_input(
                "consistency factor must be at least 1",
            )),
            1 => Ok(ReadConsistency::One),
            n => u32::try_from(n).map(ReadConsistency::Factor).map_err(|_| {
                TesseraError::bad_input(format!("consistency factor {n} is too large"))
            }),
        }
    }

    /// How many replicas must answer for a shard with `replicas` replicas
    /// (listeners excluded). A factor above the replica count is bad input.
    pub fn required(self, replicas: usize) -> Result<usize, TesseraError> {
        let replicas = replicas.max(1);
        match self {
            ReadConsistency::One => Ok(1),
            ReadConsistency::Factor(n) if n as usize > replicas => Err(TesseraError::bad_input(
                format!("consistency factor {n} exceeds the shard's {replicas} replicas"),
            )),
            ReadConsistency::Factor(n) => Ok(n as usize),
            ReadConsistency::Majority | ReadConsistency::Quorum => Ok(replicas / 2 + 1),
            ReadConsistency::All => Ok(replicas),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qdrant_values_and_rejects_the_rest() {
        assert_eq!(ReadConsistency::parse("1").unwrap(), ReadConsistency::One);
        assert_eq!(
            ReadConsistency::parse("2").unwrap(),
            ReadConsistency::Factor(2)
        );
        assert_eq!(ReadConsistency::parse("all").unwrap(), ReadConsistency::All);
        for bad in ["banana", "0", "-1", ""] {
            assert!(ReadConsistency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn required_counts() {
        assert_eq!(ReadConsistency::Majority.required(3).unwrap(), 2);
        assert_eq!(ReadConsistency::Quorum.required(2).unwrap(), 2);
        assert_eq!(ReadConsistency::All.required(3).unwrap(), 3);
        assert!(ReadConsistency::Factor(4).required(3).is_err());
    }
}
