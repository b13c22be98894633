//! A Jepsen-style fault run. Clients each own their keys and write each key's
//! versions in order through one gateway, reading the key back through the
//! other after every write, while a seeded nemesis kills, pauses (SIGSTOP),
//! cuts off (network namespaces) or silences one way (it hears but cannot
//! answer) data nodes, kills, pauses and cuts off control-plane members and
//! the leader, and pauses and cuts off a gateway, one fault at a time. At the
//! end the history is checked against Tessera's promises (`history`): no
//! acknowledged write lost, no update lost or reordered, read-your-writes
//! through another gateway, monotonic reads; and every shard's replicas are
//! identical. For each fault kind the slowest write and read, and the failed
//! ones, that started during it or in its aftermath are printed.
//!
//! CI runs a short run; a long one: `TESSERA_FAULTS=200 TESSERA_FAULT_SEED=7
//! cargo test -p tessera-tests --test fault_run -- --nocapture`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_tests::history::{History, ReadEvent, WriteEvent};
use tessera_tests::replicas::{contents, identical, wait_in_sync};
use tessera_tests::writer::create_collection;
use tessera_tests::{ProcessCluster, Rest};

const C: &str = "faults";
const CLIENTS: usize = 4;
const KEYS_PER_CLIENT: u64 = 16;
const DATA_NODES: usize = 3;
const CONTROL_PLANES: usize = 3;

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One client: writes a random key of its own at its next version through a
/// random gateway, then reads the key through the other, until `stop`.
fn client(
    id: usize,
    gateways: [Rest; 2],
    seed: u64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<History> {
    tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(id as u64));
        let mut history = History::default();
        let mut version = 0u64;
        let write_path = format!("/collections/{C}/points?wait=true");
        let read_path = format!("/collections/{C}/points");
        while !stop.load(Ordering::Relaxed) {
            let key = id as u64 * 1_000 + rng.random_range(0..KEYS_PER_CLIENT);
            version += 1;
            let through = rng.random_range(0..2usize);
            let body = json!({ "points": [{
                "id": key,
                "vector": [1.0, key as f32, 0.0, 0.5],
                "payload": { "v": version },
            }] });
            let started = Instant::now();
            let reply = gateways[through]
                .send(Method::PUT, &write_path, Some(&body))
                .await;
            let acknowledged = matches!(&reply, Ok(r) if r.status == StatusCode::OK);
            if !acknowledged {
                history
                    .failures
                    .push((started, format!("write: {}", why(&reply))));
            }
            history.writes.push(WriteEvent {
                client: id,
                key,
                version,
                acknowledged,
                started,
                ended: Instant::now(),
            });
            let started = Instant::now();
            let body = json!({ "ids": [key], "with_payload": true });
            let reply = gateways[1 - through]
                .send(Method::POST, &read_path, Some(&body))
                .await;
            match reply {
                Ok(r) if r.status == StatusCode::OK => history.reads.push(ReadEvent {
                    client: id,
                    key,
                    seen: r.body["result"][0]["payload"]["v"].as_u64(),
                    started,
                    ended: Instant::now(),
                }),
                _ => {
                    history
                        .failures
                        .push((started, format!("read: {}", why(&reply))));
                    history.failed_reads.push(started);
                }
            }
        }
        history
    })
}

/// Why a call failed: its status and error text, or the transport error.
fn why<E: std::fmt::Display>(reply: &Result<tessera_tests::Reply, E>) -> String {
    match reply {
        Ok(r) => format!("{} {}", r.status, r.body["status"]["error"]),
        Err(e) => e.to_string(),
    }
}

/// One fault the nemesis injects, and undoes before the next.
#[derive(Debug, Clone, Copy)]
enum Fault {
    KillDataNode(usize),
    PauseDataNode(usize),
    CutOffDataNode(usize),
    SilenceDataNode(usize),
    KillLeader,
    PauseLeader,
    CutOffLeader,
    PauseMember,
    CutOffMember,
    PauseGateway,
    CutOffGateway,
}

impl Fault {
    fn kind(self) -> &'static str {
        match self {
            Fault::KillDataNode(_) => "SIGKILL data node",
            Fault::PauseDataNode(_) => "SIGSTOP data node",
            Fault::CutOffDataNode(_) => "cut off data node",
            Fault::SilenceDataNode(_) => "one-way cut-off of data node",
            Fault::KillLeader => "SIGKILL control-plane leader",
            Fault::PauseLeader => "SIGSTOP control-plane leader",
            Fault::CutOffLeader => "cut off control-plane leader",
            Fault::PauseMember => "SIGSTOP control-plane follower",
            Fault::CutOffMember => "cut off control-plane follower",
            Fault::PauseGateway => "SIGSTOP gateway",
            Fault::CutOffGateway => "cut off gateway",
        }
    }

    fn pick(rng: &mut StdRng) -> Fault {
        let node = rng.random_range(0..DATA_NODES);
        match rng.random_range(0..11) {
            0 => Fault::KillDataNode(node),
            1 => Fault::PauseDataNode(node),
            2 => Fault::CutOffDataNode(node),
            3 => Fault::SilenceDataNode(node),
            4 => Fault::KillLeader,
            5 => Fault::PauseLeader,
            6 => Fault::CutOffLeader,
            7 => Fault::PauseMember,
            8 => Fault::CutOffMember,
            9 => Fault::PauseGateway,
            _ => Fault::CutOffGateway,
        }
    }

    /// Injects the fault, lets it last `length`, and undoes it.
    async fn run(self, cluster: &mut ProcessCluster, length: Duration) -> String {
        match self {
            Fault::KillDataNode(i) => {
                cluster.kill_data_node(i);
                tokio::time::sleep(length).await;
                cluster.restart_data_node(i).await;
                format!("SIGKILL data node {i}")
            }
            Fault::PauseDataNode(i) => {
                cluster.pause_data_node(i);
                tokio::time::sleep(length).await;
                cluster.resume_data_node(i);
                format!("SIGSTOP data node {i}")
            }
            Fault::CutOffDataNode(i) => {
                cluster.partition_data_node(i);
                tokio::time::sleep(length).await;
                cluster.heal_data_node(i);
                format!("cut off data node {i}")
            }
            Fault::SilenceDataNode(i) => {
                cluster.silence_data_node(i);
                tokio::time::sleep(length).await;
                cluster.unsilence_data_node(i);
                format!("one-way cut-off of data node {i}")
            }
            Fault::CutOffLeader => {
                let leader = cluster.control_plane_leader().await;
                cluster.partition_control_plane(leader);
                tokio::time::sleep(length).await;
                cluster.heal_control_plane(leader);
                format!("cut off control-plane leader {leader}")
            }
            Fault::CutOffMember => {
                let leader = cluster.control_plane_leader().await;
                let member = (leader + 1) % CONTROL_PLANES;
                cluster.partition_control_plane(member);
                tokio::time::sleep(length).await;
                cluster.heal_control_plane(member);
                format!("cut off control-plane follower {member}")
            }
            Fault::CutOffGateway => {
                cluster.partition_gateway(1);
                tokio::time::sleep(length).await;
                cluster.heal_gateway(1);
                "cut off gateway 1".to_string()
            }
            Fault::KillLeader => {
                let leader = cluster.control_plane_leader().await;
                cluster.kill_control_plane(leader);
                tokio::time::sleep(length).await;
                cluster.restart_control_plane(leader).await;
                format!("SIGKILL control-plane leader {leader}")
            }
            Fault::PauseLeader => {
                let leader = cluster.control_plane_leader().await;
                cluster.pause_control_plane(leader);
                tokio::time::sleep(length).await;
                cluster.resume_control_plane(leader);
                format!("SIGSTOP control-plane leader {leader}")
            }
            Fault::PauseMember => {
                let leader = cluster.control_plane_leader().await;
                let member = (leader + 1) % CONTROL_PLANES;
                cluster.pause_control_plane(member);
                tokio::time::sleep(length).await;
                cluster.resume_control_plane(member);
                format!("SIGSTOP control-plane follower {member}")
            }
            Fault::PauseGateway => {
                cluster.pause_gateway(1);
                tokio::time::sleep(length).await;
                cluster.resume_gateway(1);
                "SIGSTOP gateway 1".to_string()
            }
        }
    }
}

/// What the clients met during each kind of fault.
#[derive(Default)]
struct Met {
    faults: usize,
    slowest_write: Duration,
    slowest_read: Duration,
    failed_writes: usize,
    failed_reads: usize,
    /// Each distinct failure text (digits blanked, so one error with other
    /// ids counts once) and how often it was met.
    failures: BTreeMap<String, usize>,
}

/// Each operation counts for the fault that began last before it started:
/// the fault itself, or its aftermath until the next one.
fn met_by_kind(
    history: &History,
    windows: &[(&'static str, Instant, Instant)],
) -> BTreeMap<&'static str, Met> {
    let kind_at = |at: Instant| {
        windows
            .iter()
            .rev()
            .find(|(_, from, _)| *from <= at)
            .map(|(kind, _, _)| *kind)
    };
    let mut by_kind: BTreeMap<&'static str, Met> = BTreeMap::new();
    for (kind, _, _) in windows {
        by_kind.entry(kind).or_default().faults += 1;
    }
    for write in &history.writes {
        if let Some(met) = kind_at(write.started).and_then(|k| by_kind.get_mut(k)) {
            met.slowest_write = met.slowest_write.max(write.ended - write.started);
            met.failed_writes += usize::from(!write.acknowledged);
        }
    }
    for read in &history.reads {
        if let Some(met) = kind_at(read.started).and_then(|k| by_kind.get_mut(k)) {
            met.slowest_read = met.slowest_read.max(read.ended - read.started);
        }
    }
    for started in &history.failed_reads {
        if let Some(met) = kind_at(*started).and_then(|k| by_kind.get_mut(k)) {
            met.failed_reads += 1;
        }
    }
    for (started, text) in &history.failures {
        if let Some(met) = kind_at(*started).and_then(|k| by_kind.get_mut(k)) {
            let shape: String = text
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect();
            *met.failures.entry(shape).or_default() += 1;
        }
    }
    by_kind
}

/// Each key's version at the end, read with `consistency=all`.
async fn final_versions(rest: &Rest) -> BTreeMap<u64, Option<u64>> {
    let ids: Vec<u64> = (0..CLIENTS as u64)
        .flat_map(|c| (0..KEYS_PER_CLIENT).map(move |k| c * 1_000 + k))
        .collect();
    let reply = rest
        .post(
            &format!("/collections/{C}/points?consistency=all"),
            &json!({ "ids": ids, "with_payload": true }),
        )
        .await;
    let mut finals: BTreeMap<u64, Option<u64>> = ids.iter().map(|id| (*id, None)).collect();
    for point in reply.result().as_array().expect("a list of points") {
        let id = point["id"].as_u64().expect("numeric ids");
        finals.insert(id, point["payload"]["v"].as_u64());
    }
    finals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_history_keeps_every_promise_under_random_faults() {
    let seed = env_or("TESSERA_FAULT_SEED", rand::random::<u16>() as u64);
    let faults = env_or("TESSERA_FAULTS", 7);
    println!("fault run: seed {seed}, {faults} faults");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cluster = ProcessCluster::builder()
        .control_planes(CONTROL_PLANES)
        .data_nodes(DATA_NODES)
        .partitionable()
        .start()
        .await;
    let first = cluster.rest();
    let second = cluster.add_gateway().await;
    create_collection(&first, C, 3, 2).await;
    wait_in_sync(&cluster, C, 2).await;

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| client(id, [first.clone(), second.clone()], seed, stop.clone()))
        .collect();
    let mut log = Vec::new();
    let mut windows = Vec::new();
    for n in 0..faults {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1_500))).await;
        let fault = Fault::pick(&mut rng);
        let length = Duration::from_millis(rng.random_range(1_000..4_000));
        let from = Instant::now();
        let what = fault.run(&mut cluster, length).await;
        windows.push((fault.kind(), from, Instant::now()));
        log.push(format!("{n}: {what} for {length:?}"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut history = History::default();
    for client in clients {
        history.merge(client.await.expect("a client does not panic"));
    }
    wait_in_sync(&cluster, C, 2).await;
    let finals = final_versions(&first).await;
    let violations = history.violations(&finals);
    let same = identical(&contents(&cluster, C).await);

    println!("faults: {}", log.join("; "));
    for (kind, met) in met_by_kind(&history, &windows) {
        println!(
            "{kind} x{}: slowest write {:?}, slowest read {:?}, failed writes {}, failed reads {}",
            met.faults, met.slowest_write, met.slowest_read, met.failed_writes, met.failed_reads
        );
        for (text, count) in &met.failures {
            println!("    {count} x {text}");
        }
    }
    println!(
        "faults injected: {faults}, writes: {} ({} acknowledged), reads: {} ({} failed), violations: {}, replicas identical: {}",
        history.writes.len(),
        history.acknowledged(),
        history.reads.len() + history.failed_reads.len(),
        history.failed_reads.len(),
        violations.len(),
        same.is_ok()
    );
    assert!(
        violations.is_empty(),
        "seed {seed}: {} violations, first: {:#?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    same.unwrap_or_else(|e| panic!("replicas differ (seed {seed}): {e}"));
    assert!(history.acknowledged() > 0);
    cluster.stop().await;
}
