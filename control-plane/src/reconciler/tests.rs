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
    let commands = plan(&t, &alive(&[1], &[1, 2]), true);
    assert_eq!(states(&commands), vec![(2, Active, Dead)]);
    // Both silent: one of them must stay Active, so neither is marked.
    let t = topology(&[(1, Normal), (2, Normal)], 2, &[(1, Active), (2, Dead)]);
    assert!(plan(&t, &alive(&[], &[1, 2]), true).is_empty());
    // Until the leader has listened for a while, nobody is called down.
    let t = topology(&[(1, Normal), (2, Normal)], 2, &[(1, Active), (2, Active)]);
    assert!(plan(&t, &alive(&[1, 2], &[1, 2]), false).is_empty());
}

#[test]
fn a_dead_replica_whose_peer_is_back_recovers() {
    let t = topology(&[(1, Normal), (2, Normal)], 2, &[(1, Active), (2, Dead)]);
    let commands = plan(&t, &alive(&[1, 2], &[1, 2]), true);
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
    let commands = plan(&t, &alive(&[1, 2, 3, 9], &[1, 2, 3, 9]), true);
    let added: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            TopologyCommand::AddReplica { peer_id, state, .. } => Some((*peer_id, *state)),
            _ => None,
        })
        .collect();
    assert_eq!(added, vec![(9, Recovery), (2, Recovery)]);

    let t = topology(&peers, 1, &[(1, Active), (2, Active), (3, Dead)]);
    let commands = plan(&t, &alive(&[1, 2, 3], &[1, 2, 3]), true);
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
    let commands = plan(&t, &alive(&[1, 2, 3, 4], &[1, 2, 3, 4]), true);
    assert!(commands.is_empty(), "{commands:?}");
}
