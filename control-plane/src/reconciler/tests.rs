use super::*;
use crate::topology::fixtures::one_shard_collection as topology;

fn alive(up: &[PeerId], all: &[PeerId]) -> BTreeMap<PeerId, bool> {
    all.iter().map(|p| (*p, up.contains(p))).collect()
}

use NodeType::Normal;
use ReplicaState::*;

fn states(commands: &[TopologyCommand]) -> Vec<(PeerId, ReplicaState, ReplicaState)> {
    commands
        .iter()
        .filter_map(|c| match c {
            TopologyCommand::SetReplicaStates { changes, .. } => {
                Some((changes[0].peer_id, changes[0].from, changes[0].to))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn silent_peers_go_dead_except_the_last_active_copy() {
    let t = topology(&[(1, Normal), (2, Normal)], 2, &[(1, Active), (2, Active)]);
    let commands = plan(&t, &alive(&[1], &[1, 2]), true, &BTreeSet::new());
    assert_eq!(states(&commands), vec![(2, Active, Dead)]);
    // Both silent: one of them must stay Active, so neither is marked.
    let t = topology(&[(1, Normal), (2, Normal)], 2, &[(1, Active), (2, Dead)]);
    assert!(plan(&t, &alive(&[], &[1, 2]), true, &BTreeSet::new()).is_empty());
    // Until the leader has listened for a while, nobody is called down.
    let t = topology(&[(1, Normal), (2, Normal)], 2, &[(1, Active), (2, Active)]);
    assert!(plan(&t, &alive(&[1, 2], &[1, 2]), false, &BTreeSet::new()).is_empty());
}

#[test]
fn a_dead_replica_whose_peer_is_back_recovers() {
    let t = topology(&[(1, Normal), (2, Normal)], 2, &[(1, Active), (2, Dead)]);
    let commands = plan(&t, &alive(&[1, 2], &[1, 2]), true, &BTreeSet::new());
    assert_eq!(states(&commands), vec![(2, Dead, Recovery)]);
}

#[test]
fn replication_factor_and_listeners_are_met() {
    let peers = [
        (1, Normal),
        (2, Normal),
        (3, Normal),
        (9, NodeType::Listener),
    ];
    let t = topology(&peers, 2, &[(1, Active)]);
    let commands = plan(
        &t,
        &alive(&[1, 2, 3, 9], &[1, 2, 3, 9]),
        true,
        &BTreeSet::new(),
    );
    let added: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            TopologyCommand::AddReplica { peer_id, state, .. } => Some((*peer_id, *state)),
            _ => None,
        })
        .collect();
    assert_eq!(added, vec![(9, Recovery), (2, Recovery)]);

    let t = topology(&peers, 1, &[(1, Active), (2, Active), (3, Dead)]);
    let commands = plan(&t, &alive(&[1, 2, 3], &[1, 2, 3]), true, &BTreeSet::new());
    assert!(commands
        .iter()
        .any(|c| matches!(c, TopologyCommand::RemoveReplica { peer_id: 3, .. })));
}

#[test]
fn a_shard_in_a_restore_is_left_to_the_restore() {
    use NodeType::Listener as ListenerNode;
    let t = topology(
        &[(1, Normal), (2, Normal), (3, Normal), (4, ListenerNode)],
        3,
        &[(1, ManualRecovery), (2, Dead)],
    );
    // Peer 2 is back and the shard is a copy short, and a listener has no
    // copy: none of it is mended until the restore says what is in sync.
    let commands = plan(
        &t,
        &alive(&[1, 2, 3, 4], &[1, 2, 3, 4]),
        true,
        &BTreeSet::new(),
    );
    assert!(commands.is_empty(), "{commands:?}");
}

fn removed(commands: &[TopologyCommand]) -> Vec<PeerId> {
    commands
        .iter()
        .filter_map(|c| match c {
            TopologyCommand::RemoveReplica { peer_id, .. } => Some(*peer_id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_peer_lost_for_good_has_its_dead_copies_made_again_elsewhere() {
    let peers = [(1, Normal), (2, Normal), (3, Normal)];
    let lost = BTreeSet::from([2]);
    // Peer 2 has been silent past `lost_after`: its Dead copy goes first...
    let t = topology(&peers, 2, &[(1, Active), (2, Dead)]);
    let commands = plan(&t, &alive(&[1, 3], &[1, 2, 3]), true, &lost);
    assert_eq!(removed(&commands), vec![2]);
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, TopologyCommand::AddReplica { .. })),
        "{commands:?}"
    );
    // ... then the shard is a copy short, and a live peer gets one.
    let t = topology(&peers, 2, &[(1, Active)]);
    let commands = plan(&t, &alive(&[1, 3], &[1, 2, 3]), true, &lost);
    assert!(commands.iter().any(|c| matches!(
        c,
        TopologyCommand::AddReplica {
            peer_id: 3,
            state: Recovery,
            ..
        }
    )));
    // With the only in-sync copy down as well, the stale copy may be all that
    // is left of the shard: it stays.
    let t = topology(&peers, 2, &[(1, Active), (2, Dead)]);
    let commands = plan(&t, &alive(&[3], &[1, 2, 3]), true, &lost);
    assert!(removed(&commands).is_empty(), "{commands:?}");
    // Only silence past `dead_after` (not lost): the copy waits for its peer.
    let t = topology(&peers, 2, &[(1, Active), (2, Dead)]);
    let commands = plan(&t, &alive(&[1, 3], &[1, 2, 3]), true, &BTreeSet::new());
    assert!(removed(&commands).is_empty(), "{commands:?}");
}

#[test]
fn a_shard_whose_every_in_sync_copy_is_lost_is_reported_not_replaced() {
    let peers = [(1, Normal), (2, Normal), (3, Normal)];
    // The last in-sync copy stays Active on the lost peer; the Dead one on
    // peer 3 has nothing to recover from.
    let t = topology(&peers, 2, &[(2, Active), (3, Dead)]);
    let lost = BTreeSet::from([2]);
    let commands = plan(&t, &alive(&[1, 3], &[1, 2, 3]), true, &lost);
    assert!(removed(&commands).is_empty(), "{commands:?}");
    assert_eq!(stranded(&t, &lost), vec![("c".to_string(), 0)]);
    assert!(stranded(&t, &BTreeSet::from([3])).is_empty());
}
