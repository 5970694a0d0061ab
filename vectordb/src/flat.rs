//! Exact search: one-to-many kernels over blocks of rows, bounded top-k.
//!
//! Works on every storage: each query is encoded once and scored against
//! the encoded rows (see [`Storage`](crate::Storage)), so results are exact for the
//! stored (decoded) vectors.

use rayon::prelude::*;

use crate::error::Result;
use crate::index::{VectorData, VectorIndex};
use crate::params::{NoParams, Params};
use crate::storage::{with_space, Space};
use crate::topk::{Neighbor, TopK};

/// Rows per block: about 64 KiB of vectors, so a block stays in L2 while
/// every query of a batch group is scored against it.
fn block_rows(dim: usize) -> usize {
    (16 * 1024 / dim.max(1)).clamp(16, 4096)
}

/// Queries per group in batch search (each row block is read once per group).
const QUERY_GROUP: usize = 16;

/// The `k` nearest live slots accepted by `filter`, exactly; ties by slot.
pub fn knn(
    data: &VectorData<'_>,
    query: &[f32],
    k: usize,
    filter: Option<&dyn Fn(u32) -> bool>,
) -> Vec<Neighbor> {
    let mut top = TopK::new(k);
    scan(data, query, filter, |n| top.push(n), &mut Vec::new());
    top.into_sorted()
}

/// Every live slot accepted by `filter` within `radius` (inclusive),
/// closest first.
pub fn range(
    data: &VectorData<'_>,
    query: &[f32],
    radius: f32,
    filter: Option<&dyn Fn(u32) -> bool>,
) -> Vec<Neighbor> {
    let mut out = Vec::new();
    scan(
        data,
        query,
        filter,
        |n| {
            if n.distance <= radius {
                out.push(n);
            }
        },
        &mut Vec::new(),
    );
    out.sort_unstable();
    out
}

/// Exact k-NN restricted to `slots` (used by filtered searches that are
/// too selective for a graph walk).
pub fn knn_slots(data: &VectorData<'_>, query: &[f32], k: usize, slots: &[u32]) -> Vec<Neighbor> {
    with_space!(*data, |s| knn_slots_in(&s, &s.prepare(query), k, slots))
}

pub(crate) fn knn_slots_in<S: Space>(
    s: &S,
    q: &S::Query<'_>,
    k: usize,
    slots: &[u32],
) -> Vec<Neighbor> {
    let mut top = TopK::new(k);
    for &slot in slots {
        top.push(Neighbor {
            distance: s.dist(q, slot),
            slot,
        });
    }
    top.into_sorted()
}

fn scan(
    data: &VectorData<'_>,
    query: &[f32],
    filter: Option<&dyn Fn(u32) -> bool>,
    sink: impl FnMut(Neighbor),
    buf: &mut Vec<f32>,
) {
    with_space!(*data, |s| scan_in(
        data,
        &s,
        &s.prepare(query),
        filter,
        sink,
        buf
    ))
}

/// Exact scan in blocks of rows with the one-to-many form of the space.
pub(crate) fn scan_in<S: Space>(
    data: &VectorData<'_>,
    s: &S,
    q: &S::Query<'_>,
    filter: Option<&dyn Fn(u32) -> bool>,
    mut sink: impl FnMut(Neighbor),
    buf: &mut Vec<f32>,
) {
    let n = data.slots();
    let br = block_rows(data.dim);
    buf.resize(br, 0.0);
    let mut start = 0;
    while start < n {
        let end = (start + br).min(n);
        let out = &mut buf[..end - start];
        s.dist_many(q, start, out);
        for (i, &d) in out.iter().enumerate() {
            let slot = (start + i) as u32;
            if data.accepts(slot, filter) {
                sink(Neighbor { distance: d, slot });
            }
        }
        start = end;
    }
}

/// Exact k-NN for a batch of row-major `queries`: groups of queries run in
/// parallel (rayon), and within a group each block of rows is read once and
/// scored against every query of the group.
pub fn knn_batch(
    data: &VectorData<'_>,
    queries: &[f32],
    k: usize,
    filter: Option<&(dyn Fn(u32) -> bool + Sync)>,
) -> Vec<Vec<Neighbor>> {
    with_space!(*data, |s| knn_batch_in(data, &s, queries, k, filter))
}

fn knn_batch_in<S: Space>(
    data: &VectorData<'_>,
    s: &S,
    queries: &[f32],
    k: usize,
    filter: Option<&(dyn Fn(u32) -> bool + Sync)>,
) -> Vec<Vec<Neighbor>> {
    let dim = data.dim.max(1);
    let nq = queries.len() / dim;
    let n = data.slots();
    let br = block_rows(dim);
    let groups: Vec<Vec<Vec<Neighbor>>> = queries[..nq * dim]
        .par_chunks(QUERY_GROUP * dim)
        .map(|group| {
            // Each query of the group is encoded once.
            let prepared: Vec<S::Query<'_>> =
                group.chunks_exact(dim).map(|q| s.prepare(q)).collect();
            let mut tops: Vec<TopK> = prepared.iter().map(|_| TopK::new(k)).collect();
            let mut buf = vec![0.0f32; br];
            let mut start = 0;
            while start < n {
                let end = (start + br).min(n);
                for (q, top) in prepared.iter().zip(&mut tops) {
                    let out = &mut buf[..end - start];
                    s.dist_many(q, start, out);
                    for (i, &d) in out.iter().enumerate() {
                        if d <= top.worst() {
                            let slot = (start + i) as u32;
                            if data.live[slot as usize] && filter.map(|f| f(slot)).unwrap_or(true) {
                                top.push(Neighbor { distance: d, slot });
                            }
                        }
                    }
                }
                start = end;
            }
            tops.into_iter().map(TopK::into_sorted).collect()
        })
        .collect();
    groups.into_iter().flatten().collect()
}

/// The `flat` index: nothing to build; every search is exact. It has no
/// build or search parameters ([`NoParams`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct FlatIndex;

impl VectorIndex for FlatIndex {
    fn kind(&self) -> &'static str {
        "flat"
    }

    fn build(&mut self, _data: &VectorData<'_>) -> Result<()> {
        Ok(())
    }

    fn insert(&mut self, _data: &VectorData<'_>, _slot: u32) -> Result<()> {
        Ok(())
    }

    fn search(
        &self,
        data: &VectorData<'_>,
        query: &[f32],
        k: usize,
        params: Params<'_>,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Neighbor>> {
        params.get::<NoParams>("flat")?;
        Ok(knn(data, query, k, filter))
    }

    fn save(&self, _out: &mut Vec<u8>) {}
}

pub(crate) fn create(params: Params<'_>) -> Result<Box<dyn VectorIndex>> {
    params.get::<NoParams>("flat")?;
    Ok(Box::new(FlatIndex))
}

pub(crate) fn load(_bytes: &[u8], _slots: usize) -> Result<Box<dyn VectorIndex>> {
    Ok(Box::new(FlatIndex))
}
