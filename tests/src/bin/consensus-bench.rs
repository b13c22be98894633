//! `consensus-bench`: how fast Tessera's control plane fails over and how many
//! collection changes per second it commits.
//!
//! It starts its own deployment of real `tessera` processes on free loopback
//! ports (3 control-plane nodes, 1 data node, 1 gateway), then:
//!
//! * **failover**: `--kills` times, SIGKILLs the control-plane leader and
//!   measures the time from the kill to the first collection create through
//!   the gateway that succeeds (retried every 10 ms), then restarts the node
//!   and lets the group settle; prints the median, minimum and maximum;
//! * **throughput**: for each number of concurrent clients in `--clients`,
//!   runs each workload for `--seconds` through the gateway's REST API and
//!   prints changes per second and p50/p99 latency: `update` (PATCH of a
//!   collection's optimizer config) and `create+delete` (a create and a delete
//!   of a collection, two changes).
//!
//! ```text
//! cargo build --release -p tessera
//! cargo run --release -p tessera-tests --bin consensus-bench
//! ```
//!
//! A release build of this benchmark runs the release `tessera` binary
//! (`target/release/tessera`), a debug build the debug one; `TESSERA_BIN`
//! overrides either.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tessera_tests::{ProcessCluster, Rest};

#[derive(Parser, Debug)]
#[command(
    about = "Control-plane failover time and proposal throughput of a local Tessera deployment"
)]
struct Args {
    /// Leader kills to time.
    #[arg(long, default_value_t = 10)]
    kills: usize,
    /// Concurrent clients, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    clients: Vec<usize>,
    /// Duration of each throughput run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// Where a release build finds the release binary, unless TESSERA_BIN is set.
fn release_binary() -> Option<PathBuf> {
    if cfg!(debug_assertions) || std::env::var_os("TESSERA_BIN").is_some() {
        return None;
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    Some(workspace.join(target).join("release").join("tessera"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(bin) = release_binary() {
        // Set before the runtime starts any thread.
        std::env::set_var("TESSERA_BIN", bin);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    println!("binary: {}", tessera_tests::tessera_bin().display());
    let mut cluster = ProcessCluster::builder()
        .control_planes(3)
        .data_nodes(1)
        .start()
        .await;
    failover(&mut cluster, args.kills).await?;
    let rest = cluster.rest();
    for &clients in &args.clients {
        let seconds = Duration::from_secs(args.seconds);
        throughput(&rest, "update", clients, seconds).await?;
        throughput(&rest, "create+delete", clients, seconds).await?;
    }
    cluster.stop().await;
    Ok(())
}

async fn create(rest: &Rest, name: &str) -> anyhow::Result<bool> {
    let body = json!({ "vectors": { "size": 4, "distance": "Dot" } });
    let reply = rest
        .send(
            reqwest::Method::PUT,
            &format!("/collections/{name}"),
            Some(&body),
        )
        .await?;
    Ok(reply.status.is_success())
}

async fn failover(cluster: &mut ProcessCluster, kills: usize) -> anyhow::Result<()> {
    let rest = cluster.rest();
    let mut times = Vec::with_capacity(kills);
    for k in 0..kills {
        let leader = cluster.control_plane_leader().await;
        cluster.kill_control_plane(leader);
        let killed = Instant::now();
        let name = format!("failover-{k}");
        while !create(&rest, &name).await? {
            anyhow::ensure!(
                killed.elapsed() < Duration::from_secs(60),
                "no collection could be created within 60 s of killing the leader"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = killed.elapsed();
        println!("failover {}: {} ms", k + 1, took.as_millis());
        times.push(took);
        cluster.restart_control_plane(leader).await;
        cluster.wait_for_members(3).await;
        // Let the restarted node catch up, so the next kill meets a settled group.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    times.sort();
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        println!(
            "failover (SIGKILL of the leader -> first successful create), {kills} kills: \
             median {} ms, min {} ms, max {} ms",
            times[times.len() / 2].as_millis(),
            min.as_millis(),
            max.as_millis()
        );
    }
    Ok(())
}

/// One client's loop: changes until `until`, returning each change's latency.
async fn client_loop(
    rest: Rest,
    workload: &'static str,
    client: usize,
    until: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let name = format!("bench-{client}");
    let mut latencies = Vec::new();
    if workload == "update" {
        anyhow::ensure!(create(&rest, &name).await?, "cannot create {name}");
    }
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let started = Instant::now();
        let reply = if workload == "update" {
            let body = json!({ "optimizers_config": { "indexing_threshold": 10_000 + n } });
            rest.send(
                reqwest::Method::PATCH,
                &format!("/collections/{name}"),
                Some(&body),
            )
            .await?
        } else if n % 2 == 1 {
            let body = json!({ "vectors": { "size": 4, "distance": "Dot" } });
            rest.send(
                reqwest::Method::PUT,
                &format!("/collections/{name}"),
                Some(&body),
            )
            .await?
        } else {
            rest.send(
                reqwest::Method::DELETE,
                &format!("/collections/{name}"),
                None,
            )
            .await?
        };
        anyhow::ensure!(
            reply.status.is_success(),
            "{workload} by client {client}: {} {}",
            reply.status,
            reply.body
        );
        latencies.push(started.elapsed());
    }
    // Leave nothing behind for the next run.
    rest.send(
        reqwest::Method::DELETE,
        &format!("/collections/{name}"),
        None,
    )
    .await?;
    Ok(latencies)
}

async fn throughput(
    rest: &Rest,
    workload: &'static str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let until = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(client_loop(rest.clone(), workload, c, until)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or_default()
    };
    println!(
        "{workload:>13}, {clients} client(s): {:.0} changes/s ({} in {:.1} s), p50 {:.1} ms, p99 {:.1} ms",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        latencies.len(),
        elapsed.as_secs_f64(),
        percentile(0.50),
        percentile(0.99)
    );
    Ok(())
}
