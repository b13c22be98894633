//! Gray failures, as an operator meets them: a process that is alive but
//! silent (SIGSTOP: its sockets stay open, nothing answers). A paused
//! control-plane member, leader or not, must not cost a healthy replica its
//! place nor stall the API; a paused data node must cost the writes of its
//! shards seconds, not the whole pause. Each story ends by checking every
//! acknowledged write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_tests::replicas::{contents, identical, states, wait_in_sync};
use tessera_tests::writer::{create_collection, missing, Writer, Written};
use tessera_tests::{ProcessCluster, Rest};

const C: &str = "gray";

/// What a client polling `GET /collections/{c}/cluster` saw during a fault:
/// its slowest answer and every replica it saw marked Dead.
#[derive(Debug, Default)]
struct Observed {
    slowest: Duration,
    dead: Vec<(u64, u64)>,
    polls: usize,
}

/// Polls the collection's replica states every 200 ms until `stop`.
fn observe(rest: Rest, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Observed> {
    tokio::spawn(async move {
        let mut seen = Observed::default();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let replicas = states(&rest, C).await;
            seen.slowest = seen.slowest.max(started.elapsed());
            seen.polls += 1;
            for (shard, peer, state) in replicas {
                if state == "Dead" && !seen.dead.contains(&(shard, peer)) {
                    seen.dead.push((shard, peer));
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        seen
    })
}

/// Every acknowledged write is readable and the replicas agree.
async fn check_writes(cluster: &ProcessCluster, rest: &Rest, written: &[Written]) {
    wait_in_sync(cluster, C, 2).await;
    let acked: Vec<u64> = written.iter().flat_map(|w| w.acked.clone()).collect();
    assert!(!acked.is_empty(), "no write was acknowledged");
    let lost = missing(rest, C, &acked).await;
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    identical(&contents(cluster, C).await).unwrap_or_else(|e| panic!("{e}"));
}

/// Pauses control-plane member `member` for `pause` while writers and an
/// observer run; returns what they saw.
async fn pause_member(
    cluster: &mut ProcessCluster,
    member: usize,
    pause: Duration,
) -> (Observed, Vec<Written>) {
    let rest = cluster.rest();
    let first_id = 1_000_000 * (member as u64 + 1);
    let writers: Vec<_> = (0..2)
        .map(|w| Writer::start(rest.clone(), C, first_id + w * 100_000, 5))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let observer = observe(rest.clone(), stop.clone());
    cluster.pause_control_plane(member);
    tokio::time::sleep(pause).await;
    stop.store(true, Ordering::Relaxed);
    let observed = observer.await.expect("the observer does not panic");
    cluster.resume_control_plane(member);
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.stop().await);
    }
    (observed, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_control_plane_member_takes_no_healthy_replica_down() {
    let mut cluster = ProcessCluster::builder()
        .control_planes(3)
        .data_nodes(3)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 3, 2).await;
    wait_in_sync(&cluster, C, 2).await;

    // The first member every service lists, in the role it has, then in the
    // other one: each paused for three times the failure detector's 2 s.
    let mut all_written = Vec::new();
    let mut roles_seen = Vec::new();
    for _ in 0..2 {
        let leader = cluster.control_plane_leader().await;
        // Member 0 again once it has led (leadership moved while it was
        // paused), else the leader.
        let member = match roles_seen.first() {
            None | Some(&"leader") => 0,
            Some(_) => leader,
        };
        let role = if member == leader {
            "leader"
        } else {
            "follower"
        };
        let (observed, written) = pause_member(&mut cluster, member, Duration::from_secs(6)).await;
        let slowest_write = written.iter().map(|w| w.slowest).max().unwrap_or_default();
        println!(
            "control-plane member {member} ({role}) paused 6 s: slowest cluster-info answer {:?} ({} polls), slowest write {slowest_write:?}, replicas marked Dead {:?}",
            observed.slowest, observed.polls, observed.dead
        );
        assert!(
            observed.dead.is_empty(),
            "member {member} ({role}) paused: healthy replicas marked Dead: {:?}",
            observed.dead
        );
        assert!(
            observed.polls >= 3,
            "cluster info answered {} times",
            observed.polls
        );
        for w in &written {
            assert_eq!(
                w.failed, 0,
                "writes failed while member {member} was paused: {:?}",
                w.errors
            );
        }
        all_written.extend(written);
        roles_seen.push(role);
        // The member catches up before the next one is paused.
        wait_in_sync(&cluster, C, 2).await;
    }
    roles_seen.sort();
    println!("roles paused: {roles_seen:?}");
    check_writes(&cluster, &rest, &all_written).await;
    cluster.stop().await;
}

/// What a reader saw: answers by status, and the slowest one.
#[derive(Debug, Default)]
struct Reads {
    statuses: std::collections::BTreeMap<u16, usize>,
    slowest: Duration,
}

/// Searches and retrieves, one after another, until `stop`.
fn read_on(rest: Rest, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Reads> {
    tokio::spawn(async move {
        let mut reads = Reads::default();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let (path, body) = if n % 2 == 0 {
                (
                    format!("/collections/{C}/points/search"),
                    serde_json::json!({ "vector": [1.0, 1.0, 0.0, 0.5], "limit": 3 }),
                )
            } else {
                (
                    format!("/collections/{C}/points"),
                    serde_json::json!({ "ids": [n % 500, 1_000 + n % 500] }),
                )
            };
            let started = Instant::now();
            let status = match rest.send(reqwest::Method::POST, &path, Some(&body)).await {
                Ok(reply) => reply.status.as_u16(),
                Err(_) => 0,
            };
            reads.slowest = reads.slowest.max(started.elapsed());
            *reads.statuses.entry(status).or_default() += 1;
        }
        reads
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_data_node_costs_its_shards_seconds_not_the_whole_pause() {
    let mut cluster = ProcessCluster::builder()
        .control_planes(1)
        .data_nodes(3)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 3, 2).await;
    wait_in_sync(&cluster, C, 2).await;
    let pause = Duration::from_secs(10);

    let writers: Vec<_> = (0..2)
        .map(|w| Writer::start(rest.clone(), C, w * 100_000, 5))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = read_on(rest.clone(), stop.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Every node leads one of the three shards and follows in another.
    cluster.pause_data_node(1);
    tokio::time::sleep(pause).await;
    cluster.resume_data_node(1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.stop().await);
    }
    let reads = reader.await.expect("the reader does not panic");
    let slowest_write = written.iter().map(|w| w.slowest).max().unwrap_or_default();
    let failed: usize = written.iter().map(|w| w.failed).sum();
    println!(
        "data node paused {pause:?}: slowest write {slowest_write:?} ({failed} batches failed: {:?}); reads by status {:?}, slowest read {:?}",
        written.iter().flat_map(|w| w.errors.clone()).collect::<Vec<_>>(),
        reads.statuses,
        reads.slowest
    );
    assert!(
        slowest_write < pause,
        "a write waited out the whole pause: {slowest_write:?}"
    );
    assert!(
        !reads.statuses.contains_key(&500),
        "reads answered 500: {:?}",
        reads.statuses
    );
    check_writes(&cluster, &rest, &written).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_never_answer_500_for_a_data_node_killed_under_them() {
    let mut cluster = ProcessCluster::builder()
        .control_planes(1)
        .data_nodes(3)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 3, 2).await;
    let writer = Writer::start(rest.clone(), C, 0, 20);
    tessera_tests::writer::wait_for_points(&rest, C, 200).await;
    let written = writer.stop().await;

    // Several readers, so some read is in flight at the instant of each kill.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| read_on(rest.clone(), stop.clone()))
        .collect();
    for node in [0, 1, 2, 0] {
        tokio::time::sleep(Duration::from_millis(700)).await;
        cluster.kill_data_node(node);
        tokio::time::sleep(Duration::from_millis(700)).await;
        cluster.restart_data_node(node).await;
        wait_in_sync(&cluster, C, 2).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut statuses = std::collections::BTreeMap::new();
    for reader in readers {
        for (status, n) in reader.await.expect("the reader does not panic").statuses {
            *statuses.entry(status).or_insert(0) += n;
        }
    }
    println!("reads by status across 4 kills: {statuses:?}");
    assert!(statuses.get(&200).copied().unwrap_or_default() > 0);
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 503),
        "reads answered other than 200 or 503: {statuses:?}"
    );
    check_writes(&cluster, &rest, &[written]).await;
    cluster.stop().await;
}

/// The answer to one retrieve of point 1 through the gateway.
async fn read_status(rest: &Rest) -> u16 {
    let body = serde_json::json!({ "ids": [1] });
    match rest
        .send(
            reqwest::Method::POST,
            &format!("/collections/{C}/points"),
            Some(&body),
        )
        .await
    {
        Ok(reply) => reply.status.as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_data_node_that_cannot_hear_the_control_plane_stops_answering_reads() {
    let mut cluster = ProcessCluster::builder()
        .control_planes(1)
        .data_nodes(2)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 1, 2).await;
    let writer = Writer::start(rest.clone(), C, 0, 10);
    tessera_tests::writer::wait_for_points(&rest, C, 50).await;
    let written = writer.stop().await;
    assert_eq!(read_status(&rest).await, 200);

    // A silent control plane may be marking the nodes dead where they cannot
    // see it: once their lease runs out, they answer no reads.
    cluster.pause_control_plane(0);
    let refused = tessera_tests::wait::until(
        "reads refused while the control plane is silent",
        Duration::from_secs(30),
        || async {
            let status = read_status(&rest).await;
            (status == 503)
                .then_some(())
                .ok_or_else(|| format!("answered {status}"))
        },
    )
    .await;
    cluster.resume_control_plane(0);
    refused.unwrap_or_else(|e| panic!("{e}"));
    tessera_tests::wait::until("reads again", Duration::from_secs(30), || async {
        let status = read_status(&rest).await;
        (status == 200)
            .then_some(())
            .ok_or_else(|| format!("answered {status}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    // A control plane that is down (its port refuses connections) can change
    // nothing: reads go on, as writes do.
    cluster.kill_control_plane(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(read_status(&rest).await);
    }
    cluster.restart_control_plane(0).await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "reads with the control plane down: {statuses:?}"
    );
    check_writes(&cluster, &rest, &[written]).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_primary_opens_its_epoch_on_every_replica_at_once() {
    let mut cluster = ProcessCluster::builder()
        .control_planes(1)
        .data_nodes(3)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 1, 3).await;
    let writer = Writer::start(rest.clone(), C, 0, 10);
    tessera_tests::writer::wait_for_points(&rest, C, 50).await;
    let written = writer.stop().await;
    let before = tessera_tests::replicas::topology(&cluster).await;
    let primary = before.collections[C].shards[0].primary;
    let node = cluster.data_node_of(&before, primary);

    // The primary dies; no client writes after. The two replicas left agree
    // on the new epoch without waiting for the next write.
    cluster.kill_data_node(node);
    tessera_tests::wait::until(
        "the survivors at the new primary's epoch",
        Duration::from_secs(30),
        || async {
            let now = tessera_tests::replicas::topology(&cluster).await;
            let shard = &now.collections[C].shards[0];
            if shard.primary == primary {
                return Err("no failover yet".to_string());
            }
            let replicas = contents(&cluster, C).await;
            let epochs: Vec<u64> = replicas.iter().map(|r| r.applied_epoch).collect();
            (replicas.len() == 2 && epochs.iter().all(|e| *e == shard.epoch))
                .then_some(())
                .ok_or_else(|| format!("shard at epoch {}, replicas at {epochs:?}", shard.epoch))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    cluster.restart_data_node(node).await;
    wait_in_sync(&cluster, C, 3).await;
    let acked: Vec<u64> = written.acked.clone();
    assert!(missing(&rest, C, &acked).await.is_empty());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_that_restarts_leads_in_a_new_epoch() {
    // No failover can happen here: the restarted node is still the primary,
    // so only its restart can have moved the epoch.
    let mut cluster = ProcessCluster::builder()
        .control_planes(1)
        .data_nodes(2)
        .cluster_setting("CLUSTER__REPLICATION__DEAD_AFTER_MS", 60_000)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 1, 2).await;
    let writer = Writer::start(rest.clone(), C, 0, 10);
    tessera_tests::writer::wait_for_points(&rest, C, 50).await;
    let mut written = vec![writer.stop().await];
    let before = tessera_tests::replicas::topology(&cluster).await;
    let shard = before.collections[C].shards[0].clone();
    let node = cluster.data_node_of(&before, shard.primary);

    // It crashes and comes back: its log may have lost an unsynced tail, so
    // the operation ids it hands out next must not repeat any it gave before.
    cluster.kill_data_node(node);
    cluster.restart_data_node(node).await;
    tessera_tests::wait::until(
        "the restarted primary in a new epoch on every replica",
        Duration::from_secs(30),
        || async {
            let now = tessera_tests::replicas::topology(&cluster).await;
            let placement = &now.collections[C].shards[0];
            let epochs: Vec<u64> = contents(&cluster, C)
                .await
                .iter()
                .map(|r| r.applied_epoch)
                .collect();
            (placement.primary == shard.primary
                && placement.epoch > shard.epoch
                && epochs.len() == 2
                && epochs.iter().all(|e| *e == placement.epoch))
            .then_some(())
            .ok_or_else(|| {
                format!(
                    "primary {} at epoch {} (was {} at {}), replicas at {epochs:?}",
                    placement.primary, placement.epoch, shard.primary, shard.epoch
                )
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let writer = Writer::start(rest.clone(), C, 1_000_000, 10);
    tessera_tests::writer::wait_for_points(&rest, C, written[0].acked.len() as u64 + 50).await;
    written.push(writer.stop().await);
    check_writes(&cluster, &rest, &written).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_data_node_restarted_against_a_lagging_member_keeps_its_replicas() {
    let mut cluster = ProcessCluster::builder()
        .control_planes(3)
        .data_nodes(1)
        .start()
        .await;
    let rest = cluster.rest();

    // One member falls behind: it is down while the collection is created
    // and written to. It has seen the data node register, nothing after.
    let leader = cluster.control_plane_leader().await;
    let lagging = (0..3).find(|&i| i != leader).expect("three members");
    tessera_tests::wait::until(
        "the member that will lag to have the leader's log",
        Duration::from_secs(30),
        || async {
            let lead = cluster.control_plane_status(leader).await?.commit;
            let behind = cluster.control_plane_status(lagging).await?.commit;
            (behind >= lead)
                .then_some(())
                .ok_or_else(|| format!("commit {behind} of {lead}"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    cluster.kill_control_plane(lagging);
    create_collection(&rest, C, 1, 1).await;
    let writer = Writer::start(rest.clone(), C, 0, 10);
    tessera_tests::writer::wait_for_points(&rest, C, 50).await;
    let written = writer.stop().await;

    // The data node restarts while only the lagging member answers: it
    // registers there and is sent a topology without the collection.
    cluster.kill_data_node(0);
    let up_to_date: Vec<usize> = (0..3).filter(|&i| i != lagging).collect();
    for &i in &up_to_date {
        cluster.kill_control_plane(i);
    }
    cluster.restart_control_plane(lagging).await;
    cluster.restart_data_node_unready(0).await;
    tessera_tests::wait::until(
        "the data node to register with the lagging member and weigh its topology",
        Duration::from_secs(60),
        || async {
            let log = cluster.data_node_log(0);
            let run = log.rsplit("$ tessera").next().unwrap_or_default();
            (run.contains("registered with the control plane")
                && (run.contains("ignoring an older topology")
                    || run.contains("removing data of a deleted collection")))
            .then_some(())
            .ok_or_else(|| "not yet".to_string())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let collections = cluster.data_node_dir(0).join("collections");
    let kept = std::fs::read_dir(&collections)
        .map(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{C}-"))
            })
        })
        .unwrap_or(false);
    assert!(
        kept,
        "the replica's data was removed on the word of a lagging member"
    );

    // The cluster comes back: every acknowledged write is still there.
    for &i in &up_to_date {
        cluster.restart_control_plane(i).await;
    }
    wait_in_sync(&cluster, C, 1).await;
    let lost = missing(&rest, C, &written.acked).await;
    assert!(!written.acked.is_empty(), "no write was acknowledged");
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_that_rejoins_under_a_burst_of_writes_turns_active_once() {
    let mut cluster = ProcessCluster::builder()
        .control_planes(1)
        .data_nodes(2)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 1, 2).await;
    wait_in_sync(&cluster, C, 2).await;
    let topology = tessera_tests::replicas::topology(&cluster).await;
    let secondary = 1 - cluster.data_node_of(&topology, topology.collections[C].shards[0].primary);

    // Many writers at once: when the replica comes back, each of their
    // forwards finds the same gap in its log.
    let writers: Vec<_> = (0..8)
        .map(|w| Writer::start(rest.clone(), C, w * 1_000_000, 5))
        .collect();
    tessera_tests::writer::wait_for_points(&rest, C, 200).await;
    cluster.kill_data_node(secondary);
    tessera_tests::writer::wait_for_points(&rest, C, 2_000).await;
    cluster.restart_data_node(secondary).await;

    // Once Active it stays Active while the burst goes on.
    let mut turned_active = None;
    let mut after = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while turned_active.is_none_or(|at: Instant| at.elapsed() < Duration::from_secs(5)) {
        assert!(
            Instant::now() < deadline,
            "the replica never turned Active: {after:?}"
        );
        let now = states(&rest, C).await;
        let all_active = now.len() == 2 && now.iter().all(|s| s.2 == "Active");
        match turned_active {
            None if all_active => turned_active = Some(Instant::now()),
            Some(_) if !all_active => after.push(now),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.stop().await);
    }
    assert!(
        after.is_empty(),
        "the replica left Active under the burst: {after:?}"
    );
    check_writes(&cluster, &rest, &written).await;
    cluster.stop().await;
}
