//! A history of what clients did and saw, and the checker of the promises
//! Tessera makes about it (the README's list). Each client owns its keys and
//! writes each key's versions in increasing order, one write at a time, so
//! every promise can be checked from the history alone:
//!
//! * **no acknowledged write is lost**: a key ends at its last acknowledged
//!   version or at a later one whose write had no answer;
//! * **no update is lost or reordered**: a key never ends at, nor is read at,
//!   a version older than one acknowledged before;
//! * **read-your-writes, through another gateway**: a read started after a
//!   write was acknowledged sees it or a later version;
//! * **monotonic reads**: a client's reads of a key never go back;
//! * **no phantom**: every version read or kept was written.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// One write of `version` to `key`: acknowledged, or without a clear answer
/// (an error or no answer; it may still have been applied).
#[derive(Debug, Clone)]
pub struct WriteEvent {
    pub client: usize,
    pub key: u64,
    pub version: u64,
    pub acknowledged: bool,
    pub started: Instant,
    pub ended: Instant,
}

/// One successful read of `key` by `client`: the version seen (none: the
/// key was not found).
#[derive(Debug, Clone)]
pub struct ReadEvent {
    pub client: usize,
    pub key: u64,
    pub seen: Option<u64>,
    pub started: Instant,
    pub ended: Instant,
}

/// Everything the clients did, in the order each client did it.
#[derive(Debug, Default, Clone)]
pub struct History {
    pub writes: Vec<WriteEvent>,
    pub reads: Vec<ReadEvent>,
    /// When each read that got no answer or an error started (unavailability,
    /// not a violation).
    pub failed_reads: Vec<Instant>,
    /// Why each write or read that failed did (its status and error, or the
    /// transport error), with when it started.
    pub failures: Vec<(Instant, String)>,
}

impl History {
    pub fn merge(&mut self, other: History) {
        self.writes.extend(other.writes);
        self.reads.extend(other.reads);
        self.failed_reads.extend(other.failed_reads);
        self.failures.extend(other.failures);
    }

    pub fn acknowledged(&self) -> usize {
        self.writes.iter().filter(|w| w.acknowledged).count()
    }

    /// Every promise `finals` (each key's version at the end, read with
    /// `consistency=all`) or a read breaks, described.
    pub fn violations(&self, finals: &BTreeMap<u64, Option<u64>>) -> Vec<String> {
        let mut found = Vec::new();
        let written: BTreeSet<(u64, u64)> =
            self.writes.iter().map(|w| (w.key, w.version)).collect();
        let mut acks: BTreeMap<u64, Vec<&WriteEvent>> = BTreeMap::new();
        for write in self.writes.iter().filter(|w| w.acknowledged) {
            acks.entry(write.key).or_default().push(write);
        }
        for read in &self.reads {
            // Read-your-writes: every acknowledgement that came before the read started.
            let floor = acks
                .get(&read.key)
                .into_iter()
                .flatten()
                .filter(|w| w.ended <= read.started)
                .map(|w| w.version)
                .max();
            match (floor, read.seen) {
                (Some(floor), Some(seen)) if seen < floor => found.push(format!(
                    "client {} read key {} at version {seen} after version {floor} was acknowledged",
                    read.client, read.key
                )),
                (Some(floor), None) => found.push(format!(
                    "client {} found no key {} after version {floor} was acknowledged",
                    read.client, read.key
                )),
                _ => {}
            }
            if let Some(seen) = read.seen {
                if !written.contains(&(read.key, seen)) {
                    found.push(format!(
                        "client {} read key {} at version {seen}, never written",
                        read.client, read.key
                    ));
                }
            }
        }
        // Monotonic reads: per client and key, in the order the client read.
        let mut last_seen: BTreeMap<(usize, u64), u64> = BTreeMap::new();
        for read in &self.reads {
            let Some(seen) = read.seen else { continue };
            let last = last_seen.entry((read.client, read.key)).or_insert(seen);
            if seen < *last {
                found.push(format!(
                    "client {} read key {} at version {seen} after reading version {}",
                    read.client, read.key, last
                ));
            }
            *last = (*last).max(seen);
        }
        // The end state: the last acknowledged version, or a later unanswered one.
        let mut keys: BTreeMap<u64, Vec<&WriteEvent>> = BTreeMap::new();
        for write in &self.writes {
            keys.entry(write.key).or_default().push(write);
        }
        for (key, writes) in keys {
            let last_ack = writes
                .iter()
                .filter(|w| w.acknowledged)
                .map(|w| w.version)
                .max();
            let end = finals.get(&key).copied().flatten();
            let allowed =
                |v: u64| writes.iter().any(|w| w.version == v) && last_ack.is_none_or(|a| v >= a);
            match (last_ack, end) {
                (Some(a), None) => {
                    found.push(format!("key {key} is gone; version {a} was acknowledged"))
                }
                (_, Some(v)) if !allowed(v) => found.push(format!(
                    "key {key} ends at version {v}; last acknowledged {last_ack:?}"
                )),
                _ => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn write(key: u64, version: u64, acknowledged: bool, at: Instant) -> WriteEvent {
        WriteEvent {
            client: 0,
            key,
            version,
            acknowledged,
            started: at,
            ended: at + Duration::from_millis(1),
        }
    }

    fn read(key: u64, seen: Option<u64>, at: Instant) -> ReadEvent {
        ReadEvent {
            client: 0,
            key,
            seen,
            started: at,
            ended: at + Duration::from_millis(1),
        }
    }

    #[test]
    fn each_broken_promise_is_reported() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let history = History {
            writes: vec![
                write(1, 1, true, ms(0)),
                write(1, 2, true, ms(10)),
                write(1, 3, false, ms(20)),
                write(2, 4, true, ms(0)),
            ],
            reads: vec![
                read(1, Some(2), ms(15)),
                read(1, Some(1), ms(30)),
                read(1, Some(9), ms(40)),
            ],
            failed_reads: Vec::new(),
            failures: Vec::new(),
        };
        let fine: BTreeMap<u64, Option<u64>> = [(1, Some(3)), (2, Some(4))].into();
        let found = history.violations(&fine);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].contains("at version 1 after version 2 was acknowledged"));
        assert!(found[1].contains("never written"));
        assert!(found[2].contains("after reading version 2"));

        let lost: BTreeMap<u64, Option<u64>> = [(1, Some(1)), (2, None)].into();
        let clean = History {
            reads: Vec::new(),
            ..history
        };
        let found = clean.violations(&lost);
        assert_eq!(found.len(), 2, "{found:#?}");
    }
}
