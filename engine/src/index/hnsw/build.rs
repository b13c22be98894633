//! Building an HNSW graph (Malkov and Yashunin's algorithm) by inserting nodes in
//! parallel on the rayon pool, each node's links on each layer behind its own lock.
//!
//! The builder reads the segment's vectors in place and writes the link lists the
//! compact file layout is made from: no copy of the vectors, no second graph. Search
//! scratch (the visited marks) is kept per worker and reset by bumping an epoch rather
//! than by clearing it.

use std::collections::BinaryHeap;

use parking_lot::RwLock;
use rayon::prelude::*;
use tessera_types::Distance;

use super::{graph_distance, Node, MAX_LAYERS};
use crate::index::kernels;

/// Nodes inserted one at a time before the parallel phase: concurrent insertions into
/// a graph of a few nodes would each see too few of the others to link to.
const SERIAL_PREFIX: usize = 512;

/// After a build, one in this many inserted nodes (at least `REPAIR_MIN_SAMPLE`)
/// is searched for, up to `REPAIR_PASSES` times (see `repair`).
const REPAIR_STEP: usize = 16;
const REPAIR_MIN_SAMPLE: usize = 512;
const REPAIR_PASSES: usize = 8;
/// Searches between two looks at whether the build is cancelled.
const REPAIR_CHUNK: usize = 64;

/// Insertions a rayon task takes at a time.
const TASK_NODES: usize = 32;

/// The links of a built graph, by node (the position of its vector in the input).
pub(super) struct Links {
    /// Layer-0 links of every node.
    pub layer0: Vec<Vec<u32>>,
    /// Links on layers 1 and up: (layer, node, links).
    pub upper: Vec<(usize, u32, Vec<u32>)>,
    /// The node the searches start from, and its (the top) layer.
    pub entry: Option<(u32, usize)>,
}

/// Marks of the nodes one search has visited; reset by starting a new epoch.
struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn new(nodes: usize) -> Self {
        Self {
            marks: vec![0; nodes],
            epoch: 0,
        }
    }

    fn reset(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// True the first time `node` is seen in this epoch.
    fn insert(&mut self, node: u32) -> bool {
        let mark = &mut self.marks[node as usize];
        let fresh = *mark != self.epoch;
        *mark = self.epoch;
        fresh
    }
}

/// A worker's scratch space, reused across its insertions.
struct Scratch {
    visited: Visited,
    links: Vec<u32>,
}

/// Links to start a build from, taken from an existing graph over some of the nodes.
pub(super) struct Seed {
    /// Seeded nodes and their links on each layer from 0 to their level.
    pub nodes: Vec<(u32, Vec<Vec<u32>>)>,
    /// The seeded node searches start from, and its (the top) layer.
    pub entry: (u32, usize),
}

pub(super) struct Builder<'a> {
    distance: Distance,
    vectors: &'a [&'a [f32]],
    /// Nodes whose links came from a seed: they are not inserted again.
    seeded: Vec<bool>,
    /// Links kept per node on layers 1 and up, and on layer 0.
    m: usize,
    m0: usize,
    ef_construct: usize,
    /// `links[node][layer]`, for layers 0 to the node's level.
    links: Vec<Box<[RwLock<Vec<u32>>]>>,
    entry: RwLock<Option<(u32, usize)>>,
}

/// A well-spread 64-bit hash (splitmix64's finalizer).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A node's layer: geometric with ratio 1/m, from a hash of its position so a
/// build is repeatable.
fn level_of(node: usize, m: usize) -> usize {
    let z = mix(node as u64);
    // Uniform in (0, 1]: the top 53 bits, plus one so ln never sees zero.
    let uniform = ((z >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let level = -uniform.ln() / (m as f64).ln();
    (level as usize).min(MAX_LAYERS - 1)
}

impl<'a> Builder<'a> {
    /// A builder over `vectors`, starting from the links of `seed` when given.
    pub(super) fn new(
        distance: Distance,
        m: usize,
        ef_construct: usize,
        vectors: &'a [&'a [f32]],
        seed: Option<Seed>,
    ) -> Self {
        let mut links: Vec<Option<Vec<Vec<u32>>>> = vec![None; vectors.len()];
        let mut entry = None;
        if let Some(seed) = seed {
            for (node, layers) in seed.nodes {
                links[node as usize] = Some(layers);
            }
            entry = Some(seed.entry);
        }
        let seeded = links.iter().map(Option::is_some).collect();
        let links: Vec<Box<[RwLock<Vec<u32>>]>> = links
            .into_iter()
            .enumerate()
            .map(|(node, layers)| {
                let layers = layers.unwrap_or_else(|| vec![Vec::new(); level_of(node, m) + 1]);
                layers
                    .into_iter()
                    .enumerate()
                    .map(|(layer, mut links)| {
                        let cap = if layer == 0 { 2 * m } else { m };
                        links.reserve(cap.saturating_sub(links.len()));
                        RwLock::new(links)
                    })
                    .collect()
            })
            .collect();
        Self {
            distance,
            vectors,
            seeded,
            m,
            m0: 2 * m,
            ef_construct,
            links,
            entry: RwLock::new(entry),
        }
    }

    /// Inserts every node not seeded: without a seed the first ones one at a time,
    /// then in parallel chunks of `chunk`. Returns None when `cancelled` turns true
    /// between chunks; `progress` is told the nodes in the graph so far, also
    /// between the steps that connect and repair the finished graph.
    pub(super) fn run(
        self,
        chunk: usize,
        cancelled: &dyn Fn() -> bool,
        progress: &dyn Fn(usize),
    ) -> Option<Links> {
        let nodes = self.vectors.len();
        let mut todo: Vec<u32> = (0..nodes as u32)
            .filter(|node| !self.seeded[*node as usize])
            .collect();
        // Rows often arrive grouped by region (a batch of new data far from the
        // rest): inserted in row order, a region's first nodes go in concurrently
        // with none of their own kind to link to, and its links to the rest of the
        // graph come out thin. Runs of 8 rows in a hashed order spread every region
        // over the build while keeping most of row order's cache locality (a full
        // shuffle cost 20 % more build time, runs of 8 cost 8 %).
        todo.sort_by_key(|node| (mix(u64::from(*node / 8)), *node));
        let scratch = || Scratch {
            visited: Visited::new(nodes),
            links: Vec::new(),
        };
        if cancelled() {
            return None;
        }
        let serial = if self.entry.read().is_some() {
            0
        } else {
            todo.len().min(SERIAL_PREFIX)
        };
        let mut own = scratch();
        for node in &todo[..serial] {
            self.insert(*node, &mut own);
        }
        let mut done = serial;
        let seeded = nodes - todo.len();
        while done < todo.len() {
            if cancelled() {
                return None;
            }
            let end = (done + chunk).min(todo.len());
            todo[done..end]
                .par_iter()
                .with_min_len(TASK_NODES)
                .for_each_init(scratch, |scratch, node| self.insert(*node, scratch));
            done = end;
            progress(seeded + done);
        }
        // Connecting and repairing take a while on a large graph: they too
        // report (`progress` also lets the caller act between steps).
        let step = || {
            progress(nodes);
            cancelled()
        };
        self.connect(&mut own, &step)?;
        self.repair(&todo, scratch, &step)?;
        Some(self.into_links())
    }

    /// Links every node a walk from the entry cannot reach on layer 0 from the
    /// nearest node it can. Pruning can drop a node from every list that held it
    /// (measured: about one node in 4,000 of random 32-d data), and no search could
    /// return it, not even for its own vector. Links are only added (see `adopt`),
    /// so nothing else is cut off by them.
    ///
    /// A node linking to a copy of its own vector is left alone (see
    /// `links_to_a_copy`). None when `cancelled` turns true.
    fn connect(&self, scratch: &mut Scratch, cancelled: &dyn Fn() -> bool) -> Option<()> {
        let Some((entry, top)) = *self.entry.read() else {
            return Some(());
        };
        let mut reached = vec![false; self.links.len()];
        let mut unvisited = Vec::new();
        self.flood(entry, &mut reached, &mut unvisited);
        let mut searched = 0usize;
        let connect_budget = 16 + self.links.len() / 1024;
        for node in 0..self.links.len() as u32 {
            if reached[node as usize] {
                continue;
            }
            if self.links_to_a_copy(node) {
                continue;
            }
            // Normally a handful; far more means data this cannot help (nodes of
            // nearly equal vectors), and each search would cost a walk through them.
            if searched == connect_budget {
                break;
            }
            searched += 1;
            if cancelled() {
                return None;
            }
            let query = self.vectors[node as usize];
            let mut from = self.to_query(query, entry);
            for layer in (1..=top).rev() {
                from = self.greedy(query, from, layer, scratch);
            }
            if !reached[from.row as usize] {
                from = self.to_query(query, entry);
            }
            // A walk started among reached nodes stays among them.
            let found = self.search_layer(query, from, 0, scratch);
            let candidates = found
                .iter()
                .map(|other| other.row)
                .filter(|other| reached[*other as usize])
                .chain([entry]);
            if self.adopt(node, candidates) {
                self.flood(node, &mut reached, &mut unvisited);
            }
        }
        Some(())
    }

    /// Searches for inserted nodes as a query would, and links each one its own
    /// search misses from the nearest node that search found (see `adopt`). A
    /// sample is checked
    /// (every 16th node, at least 512 nodes), then another while more than 1 in
    /// 1,000 missed. Parts of a graph reachable but not from one another's
    /// neighbourhood (measured: 1,000 new points in a region of their own, merged
    /// into a graph built in parallel, came out in two halves, and no search for the
    /// points of one half reached it) are joined by the first few such links; a
    /// graph without them costs one sample's searches.
    /// None when `cancelled` turns true between samples.
    fn repair(
        &self,
        inserted: &[u32],
        scratch: impl Fn() -> Scratch + Sync + Send,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<()> {
        let step = (inserted.len() / REPAIR_MIN_SAMPLE).clamp(1, REPAIR_STEP);
        for pass in 0..REPAIR_PASSES {
            let sample: Vec<u32> = inserted
                .iter()
                .skip(pass % step)
                .step_by(step)
                .copied()
                .collect();
            let mut missed: Vec<(u32, Vec<u32>)> = Vec::new();
            for part in sample.chunks(REPAIR_CHUNK) {
                if cancelled() {
                    return None;
                }
                missed.extend(
                    part.par_iter()
                        .with_min_len(TASK_NODES)
                        .map_init(&scratch, |scratch, &node| {
                            self.find_missing(node, scratch).map(|found| (node, found))
                        })
                        .flatten()
                        .collect::<Vec<_>>(),
                );
            }
            for (node, found) in &missed {
                self.adopt(*node, found.iter().copied());
            }
            if missed.len() * 1000 <= sample.len() {
                break;
            }
        }
        Some(())
    }

    /// The nodes a search for `node`'s vector finds, nearest first, if that search
    /// finds neither `node` nor a copy of its vector (copies answer for each other).
    fn find_missing(&self, node: u32, scratch: &mut Scratch) -> Option<Vec<u32>> {
        let (entry, top) = (*self.entry.read())?;
        if self.links_to_a_copy(node) {
            return None;
        }
        let query = self.vectors[node as usize];
        let mut from = self.to_query(query, entry);
        for layer in (1..=top).rev() {
            from = self.greedy(query, from, layer, scratch);
        }
        let found = self.search_layer(query, from, 0, scratch);
        let own = self.to_query(query, node).dist;
        let answered = found
            .first()
            .is_none_or(|nearest| nearest.row == node || nearest.dist <= own);
        (!answered).then(|| found.iter().map(|other| other.row).collect())
    }

    /// Whether `node` links on layer 0 to a copy of its own vector. Copies answer for
    /// each other, and a search for a vector of many copies walks all of them (none
    /// is farther than the rest), so the checks above skip such nodes.
    fn links_to_a_copy(&self, node: u32) -> bool {
        let query = self.vectors[node as usize];
        let own = self.to_query(query, node).dist;
        self.links[node as usize][0]
            .read()
            .iter()
            .any(|&other| self.to_query(query, other).dist <= own)
    }

    /// Adds a layer-0 link to `node` from the first of `candidates` (nearest first)
    /// with room: up to twice the cap, so that many nodes needing a way in (copies of
    /// one vector, say) do not pile onto one list that every walk through it reads.
    /// False when none had room.
    fn adopt(&self, node: u32, candidates: impl IntoIterator<Item = u32>) -> bool {
        for candidate in candidates {
            if candidate == node {
                continue;
            }
            let mut links = self.links[candidate as usize][0].write();
            if links.contains(&node) {
                return true;
            }
            if links.len() < 2 * self.m0 {
                links.push(node);
                return true;
            }
        }
        false
    }

    /// Marks every node reachable on layer 0 from `start`.
    fn flood(&self, start: u32, reached: &mut [bool], unvisited: &mut Vec<u32>) {
        reached[start as usize] = true;
        unvisited.push(start);
        while let Some(node) = unvisited.pop() {
            for &next in self.links[node as usize][0].read().iter() {
                if !reached[next as usize] {
                    reached[next as usize] = true;
                    unvisited.push(next);
                }
            }
        }
    }

    fn into_links(self) -> Links {
        let entry = *self.entry.read();
        let mut layer0 = Vec::with_capacity(self.links.len());
        let mut upper = Vec::new();
        for (node, layers) in self.links.into_iter().enumerate() {
            for (layer, links) in layers.into_vec().into_iter().enumerate() {
                let links = links.into_inner();
                if layer == 0 {
                    layer0.push(links);
                } else {
                    upper.push((layer, node as u32, links));
                }
            }
        }
        Links {
            layer0,
            upper,
            entry,
        }
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        graph_distance(
            self.distance,
            self.vectors[a as usize],
            self.vectors[b as usize],
        )
    }

    fn to_query(&self, query: &[f32], node: u32) -> Node {
        Node {
            dist: graph_distance(self.distance, query, self.vectors[node as usize]),
            row: node,
        }
    }

    /// Copies `node`'s links on `layer` into `out`, so no lock is held while they are
    /// measured.
    fn read_links(&self, node: u32, layer: usize, out: &mut Vec<u32>) {
        out.clear();
        if let Some(links) = self.links[node as usize].get(layer) {
            out.extend_from_slice(&links.read());
        }
    }

    /// The closest node to `query` on `layer` reached greedily from `from`.
    fn greedy(&self, query: &[f32], mut from: Node, layer: usize, scratch: &mut Scratch) -> Node {
        loop {
            let mut moved = false;
            self.read_links(from.row, layer, &mut scratch.links);
            for &next in &scratch.links {
                let candidate = self.to_query(query, next);
                if candidate.dist < from.dist {
                    from = candidate;
                    moved = true;
                }
            }
            if !moved {
                return from;
            }
        }
    }

    /// The `ef` nearest nodes to `query` on `layer` found by a beam search from
    /// `from`, nearest first.
    fn search_layer(
        &self,
        query: &[f32],
        from: Node,
        layer: usize,
        scratch: &mut Scratch,
    ) -> Vec<Node> {
        let ef = self.ef_construct;
        scratch.visited.reset();
        scratch.visited.insert(from.row);
        let mut candidates = BinaryHeap::from([std::cmp::Reverse(from)]);
        let mut results = BinaryHeap::from([from]);
        while let Some(std::cmp::Reverse(current)) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| current.dist > w.dist) {
                break;
            }
            self.read_links(current.row, layer, &mut scratch.links);
            let visited = &mut scratch.visited;
            scratch.links.retain(|&next| visited.insert(next));
            for &next in &scratch.links {
                kernels::prefetch(self.vectors[next as usize]);
            }
            for &next in &scratch.links {
                let node = self.to_query(query, next);
                if results.len() < ef || results.peek().is_some_and(|w| node.dist < w.dist) {
                    candidates.push(std::cmp::Reverse(node));
                    results.push(node);
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        results.into_sorted_vec()
    }

    /// Up to `max` of `candidates` (nearest first, by distance to some base node),
    /// dropping a candidate that is closer to one kept so far than to the base: links
    /// then spread in all directions instead of into one cluster. Of several copies of
    /// one vector only the first is kept: many copies would otherwise fill every
    /// link of their nodes, and a search that reached them could not leave.
    fn select(&self, candidates: &[Node], max: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(max);
        for candidate in candidates {
            if kept.len() >= max {
                break;
            }
            if kept.iter().all(|&other| {
                let apart = self.between(candidate.row, other);
                apart >= candidate.dist && apart > 0.0
            }) {
                kept.push(candidate.row);
            }
        }
        kept
    }

    /// Adds a link from `node` to `new` on `layer`, pruning `node`'s links with the
    /// same rule as `select` once they are full.
    fn link_back(&self, node: u32, new: u32, layer: usize) {
        let cap = if layer == 0 { self.m0 } else { self.m };
        // A seed's node can be linked on a layer above the ones it brought; skip it.
        let Some(links) = self.links[node as usize].get(layer) else {
            return;
        };
        let mut links = links.write();
        if links.contains(&new) {
            return;
        }
        if links.len() < cap {
            links.push(new);
            return;
        }
        let mut candidates: Vec<Node> = links
            .iter()
            .chain([&new])
            .map(|&other| Node {
                dist: self.between(node, other),
                row: other,
            })
            .collect();
        candidates.sort_unstable();
        *links = self.select(&candidates, cap);
    }

    /// Gives `node` the links `chosen` on `layer`, before any of them links back: a
    /// node that finds `node` through such a back link may already have linked to it,
    /// and that link is kept (the list pruned by `select` if it overflows) rather
    /// than overwritten.
    fn set_links(&self, node: u32, layer: usize, chosen: &[u32], cap: usize) {
        let mut links = self.links[node as usize][layer].write();
        if links.is_empty() {
            links.extend_from_slice(chosen);
            return;
        }
        let mut candidates: Vec<Node> = chosen
            .iter()
            .chain(links.iter().filter(|other| !chosen.contains(other)))
            .map(|&other| Node {
                dist: self.between(node, other),
                row: other,
            })
            .collect();
        candidates.sort_unstable();
        *links = self.select(&candidates, cap);
    }

    fn insert(&self, node: u32, scratch: &mut Scratch) {
        let level = self.links[node as usize].len() - 1;
        let query = self.vectors[node as usize];
        let Some((entry, top)) = *self.entry.read() else {
            let mut entry = self.entry.write();
            if entry.is_none() {
                *entry = Some((node, level));
                return;
            }
            drop(entry);
            return self.insert(node, scratch);
        };
        let mut from = self.to_query(query, entry);
        for layer in (level + 1..=top).rev() {
            from = self.greedy(query, from, layer, scratch);
        }
        for layer in (0..=level.min(top)).rev() {
            let mut found = self.search_layer(query, from, layer, scratch);
            found.retain(|other| other.row != node);
            let Some(&nearest) = found.first() else {
                continue;
            };
            let cap = if layer == 0 { self.m0 } else { self.m };
            let chosen = self.select(&found, cap);
            self.set_links(node, layer, &chosen, cap);
            for &other in &chosen {
                self.link_back(other, node, layer);
            }
            from = nearest;
        }
        if level > top {
            let mut entry = self.entry.write();
            if entry.is_none_or(|(_, top)| level > top) {
                *entry = Some((node, level));
            }
        }
    }
}
