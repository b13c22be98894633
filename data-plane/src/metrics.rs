//! What a data-plane node reports on `/metrics`, read from its replicas at each
//! scrape: points, indexed vectors, segments, WAL bytes and optimizations per
//! shard replica, and the progress of the recoveries it is the target of.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts, Registry};

use crate::registry::ReplicaKey;
use crate::replica_set::ReplicaSet;

pub struct DataNodeGauges {
    replicas: ReplicaSet,
    points: IntGaugeVec,
    indexed_vectors: IntGaugeVec,
    segments: IntGaugeVec,
    wal_bytes: IntGaugeVec,
    optimizing: IntGaugeVec,
    recovery_done: IntGaugeVec,
    recovery_total: IntGaugeVec,
    /// Scrapes reset and refill the gauges: one at a time.
    scrape: std::sync::Mutex<()>,
}

const SHARD: [&str; 2] = ["collection", "shard_id"];
const RECOVERY: [&str; 3] = ["collection", "shard_id", "method"];

fn per_shard(name: &str, help: &str) -> prometheus::Result<IntGaugeVec> {
    IntGaugeVec::new(Opts::new(name, help), &SHARD)
}

fn labels(key: &ReplicaKey) -> [String; 2] {
    [key.collection.clone(), key.shard_id.to_string()]
}

impl DataNodeGauges {
    pub fn register(registry: &Registry, replicas: ReplicaSet) -> prometheus::Result<()> {
        let collector = DataNodeGauges {
            replicas,
            points: per_shard("tessera_shard_points", "Points in a shard replica")?,
            indexed_vectors: per_shard(
                "tessera_shard_indexed_vectors",
                "Vectors of a shard replica held in a built index",
            )?,
            segments: per_shard("tessera_shard_segments", "Segments of a shard replica")?,
            wal_bytes: per_shard(
                "tessera_shard_wal_bytes",
                "Bytes of a shard replica's write-ahead log on disk",
            )?,
            optimizing: per_shard(
                "tessera_shard_optimizing",
                "1 while an optimization (index build, merge, vacuum) runs or is due",
            )?,
            recovery_done: IntGaugeVec::new(
                Opts::new(
                    "tessera_recovery_done",
                    "Operations (wal_delta) or bytes (snapshot) a recovering replica has \
                     fetched",
                ),
                &RECOVERY,
            )?,
            recovery_total: IntGaugeVec::new(
                Opts::new(
                    "tessera_recovery_total",
                    "Operations or bytes a recovering replica has to fetch",
                ),
                &RECOVERY,
            )?,
            scrape: Default::default(),
        };
        registry.register(Box::new(collector))
    }

    fn gauges(&self) -> [&IntGaugeVec; 7] {
        [
            &self.points,
            &self.indexed_vectors,
            &self.segments,
            &self.wal_bytes,
            &self.optimizing,
            &self.recovery_done,
            &self.recovery_total,
        ]
    }

    fn refresh(&self) {
        for gauge in self.gauges() {
            gauge.reset();
        }
        for (key, shard) in self.replicas.registry().open_shards() {
            let stats = shard.stats();
            let [collection, shard_id] = labels(&key);
            let at = [collection.as_str(), shard_id.as_str()];
            self.points
                .with_label_values(&at)
                .set(stats.points_count as i64);
            self.indexed_vectors
                .with_label_values(&at)
                .set(stats.indexed_vectors_count as i64);
            self.segments
                .with_label_values(&at)
                .set(stats.segments_count as i64);
            self.wal_bytes
                .with_label_values(&at)
                .set(shard.wal_bytes() as i64);
            self.optimizing
                .with_label_values(&at)
                .set(stats.optimizing.into());
        }
        for (key, progress) in self.replicas.progress().all() {
            let [collection, shard_id] = labels(&key);
            let at = [collection.as_str(), shard_id.as_str(), progress.method];
            self.recovery_done
                .with_label_values(&at)
                .set(progress.done as i64);
            self.recovery_total
                .with_label_values(&at)
                .set(progress.total as i64);
        }
    }
}

impl Collector for DataNodeGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges().into_iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _one_scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh();
        self.gauges()
            .into_iter()
            .flat_map(|c| c.collect())
            .collect()
    }
}
