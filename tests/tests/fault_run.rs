//! A randomized fault run: writers upload with `wait=true` while data nodes are
//! SIGKILLed and restarted and the control-plane leader is killed, at random
//! from a printed seed. At the end every acknowledged write must be readable
//! with `consistency=all` and every shard's replicas identical.
//!
//! CI runs a short run; a long one: `TESSERA_FAULTS=60 TESSERA_FAULT_SEED=7
//! cargo test -p tessera-tests --test fault_run -- --nocapture`.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use tessera_tests::replicas::{contents, identical, wait_in_sync};
use tessera_tests::writer::{create_collection, missing, Writer};
use tessera_tests::ProcessCluster;

const C: &str = "faults";
const WRITERS: u64 = 2;
const DATA_NODES: usize = 3;

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_random_crashes() {
    let seed = env_or("TESSERA_FAULT_SEED", rand::random::<u16>() as u64);
    let faults = env_or("TESSERA_FAULTS", 6);
    println!("fault run: seed {seed}, {faults} faults");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut cluster = ProcessCluster::builder()
        .control_planes(3)
        .data_nodes(DATA_NODES)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 3, 2).await;

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| Writer::start(rest.clone(), C, w * 1_000_000, 5))
        .collect();
    let mut log = Vec::new();
    for n in 0..faults {
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..2_000))).await;
        if rng.random_bool(0.7) {
            let node = rng.random_range(0..DATA_NODES);
            log.push(format!("{n}: SIGKILL data node {node}"));
            cluster.kill_data_node(node);
            tokio::time::sleep(Duration::from_millis(rng.random_range(200..3_000))).await;
            cluster.restart_data_node(node).await;
        } else {
            let leader = cluster.control_plane_leader().await;
            log.push(format!("{n}: SIGKILL control-plane leader {leader}"));
            cluster.kill_control_plane(leader);
            tokio::time::sleep(Duration::from_millis(rng.random_range(200..2_000))).await;
            cluster.restart_control_plane(leader).await;
        }
    }
    let (mut acked, mut failed) = (Vec::new(), 0);
    for writer in writers {
        let written = writer.stop().await;
        acked.extend(written.acked);
        failed += written.failed;
    }
    wait_in_sync(&cluster, C, 2).await;

    let lost = missing(&rest, C, &acked).await;
    let same = identical(&contents(&cluster, C).await);
    println!("faults: {}", log.join("; "));
    println!(
        "faults injected: {faults}, writes acknowledged: {}, failed batches: {failed}, lost: {}, replicas identical: {}",
        acked.len(),
        lost.len(),
        same.is_ok()
    );
    assert!(
        lost.is_empty(),
        "acknowledged writes lost (seed {seed}): {lost:?}"
    );
    same.unwrap_or_else(|e| panic!("replicas differ (seed {seed}): {e}"));
    assert!(!acked.is_empty());
    cluster.stop().await;
}
