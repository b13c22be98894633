//! `--wrk`: REST search throughput measured by `wrk` (Debian's package), the
//! load generator people compare HTTP databases with, so the client is neither
//! Rust nor Python and costs the server nothing it would not cost in production.
//!
//! Every query of the run becomes one `points/query` body; a Lua script hands
//! them out in turn on every connection. wrk runs for `--wrk-seconds` at each
//! level of `--wrk-connections` and its own QPS, p50 and p99 are printed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

/// One level's figures, as wrk reports them.
pub struct WrkFigures {
    pub connections: usize,
    pub qps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The `points/query` requests wrk sends: one per query, each asking for
/// `limit` hits with `hnsw_ef` when given (the server's default otherwise).
pub struct Requests<'a> {
    pub queries: &'a [Vec<f32>],
    pub limit: u64,
    pub hnsw_ef: Option<u64>,
}

/// A Lua script that sends the bodies of `requests`, in turn.
fn script(requests: &Requests) -> String {
    let mut lua = String::from("local bodies = {\n");
    for query in requests.queries {
        let mut body = serde_json::json!({ "query": query, "limit": requests.limit });
        if let Some(ef) = requests.hnsw_ef {
            body["params"] = serde_json::json!({ "hnsw_ef": ef });
        }
        writeln!(lua, "  [[{body}]],").expect("writing to a String");
    }
    lua.push_str(
        "}\n\
         local next_body = 0\n\
         request = function()\n\
         \x20 next_body = next_body % #bodies + 1\n\
         \x20 return wrk.format(\"POST\", nil, {[\"Content-Type\"] = \"application/json\"}, bodies[next_body])\n\
         end\n",
    );
    lua
}

/// Milliseconds of a wrk duration such as `812.00us`, `1.23ms` or `2.01s`.
fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().ok()?;
    Some(match unit {
        "us" => value / 1e3,
        "ms" => value,
        "s" => value * 1e3,
        "m" => value * 60e3,
        _ => return None,
    })
}

/// The figures of one wrk run's `--latency` output.
fn parse(output: &str, connections: usize) -> anyhow::Result<WrkFigures> {
    let field = |prefix: &str| {
        output.lines().find_map(|line| {
            let rest = line.trim().strip_prefix(prefix)?;
            Some(rest.trim().to_string())
        })
    };
    if let Some(errors) = field("Non-2xx or 3xx responses:") {
        anyhow::bail!("wrk saw {errors} failed responses:\n{output}");
    }
    let qps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{output}"))?;
    let percentile = |p: &str| {
        field(p)
            .and_then(|v| millis(&v))
            .with_context(|| format!("no {p} latency in wrk's output:\n{output}"))
    };
    Ok(WrkFigures {
        connections,
        qps,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
    })
}

/// Runs wrk at each level of `connections` against the collection's
/// `points/query`, with two threads (this machine's cores) or fewer.
pub fn run(
    rest_url: &str,
    collection: &str,
    requests: &Requests,
    connections: &[usize],
    seconds: u64,
    work_dir: &Path,
) -> anyhow::Result<Vec<WrkFigures>> {
    let script_path = work_dir.join("tessera-bench-query.lua");
    std::fs::write(&script_path, script(requests))
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    let url = format!("{rest_url}/collections/{collection}/points/query");
    connections
        .iter()
        .map(|&connections| {
            let threads = connections.min(2);
            let output = Command::new("wrk")
                .arg(format!("-t{threads}"))
                .arg(format!("-c{connections}"))
                .arg(format!("-d{seconds}s"))
                .arg("--latency")
                .arg("-s")
                .arg(&script_path)
                .arg(&url)
                .output()
                .context("cannot run wrk (Debian: apt-get install wrk)")?;
            anyhow::ensure!(
                output.status.success(),
                "wrk failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            parse(&String::from_utf8_lossy(&output.stdout), connections)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_latency_output() {
        let output = "Running 5s test @ http://127.0.0.1:6333/x\n\
            \x20 Latency Distribution\n\
            \x20    50%  812.00us\n\
            \x20    75%    1.01ms\n\
            \x20    90%    1.50ms\n\
            \x20    99%    3.20ms\n\
            \x20 8000 requests in 5.00s, 1.00MB read\n\
            Requests/sec:   1600.25\n\
            Transfer/sec:    200.00KB\n";
        let figures = parse(output, 8).unwrap();
        assert_eq!(figures.qps, 1600.25);
        assert!((figures.p50_ms - 0.812).abs() < 1e-9);
        assert_eq!(figures.p99_ms, 3.2);
        assert!(parse("Non-2xx or 3xx responses: 3\nRequests/sec: 1", 1).is_err());
    }
}
