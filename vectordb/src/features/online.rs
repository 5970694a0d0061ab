//! Online serving: the latest values of a batch of entities in several
//! views, with the TTL applied by the same [lookup rule](crate::features)
//! as the offline join; each call's latency goes to the store's
//! [`ONLINE_LATENCY`](super::ONLINE_LATENCY) histogram.

use unidb_common::metrics::HistogramSnapshot;
use unidb_common::value::Value;

use super::error::FeatureResult;
use super::lookup::{lookup_range, Hit, Lookup};
use super::store::{FeatureStore, ViewData};

/// The answer of [`FeatureStore::online`]: a [`Lookup`] per entity and
/// view.
#[derive(Debug)]
pub struct OnlineResult<'a> {
    views: Vec<&'a ViewData>,
    /// Entity-major: `hits[e * views + v]`.
    hits: Vec<Hit>,
}

impl<'a> OnlineResult<'a> {
    /// Number of entities asked for.
    pub fn entities(&self) -> usize {
        self.hits.len().checked_div(self.views.len()).unwrap_or(0)
    }

    /// The lookup of entity `e` (in the order asked) in view `v` (in the
    /// order asked); [`Lookup::Missing`] out of range.
    pub fn get(&self, e: usize, v: usize) -> Lookup<'a> {
        match (self.views.get(v), self.hits.get(e * self.views.len() + v)) {
            (Some(view), Some(hit)) if v < self.views.len() => Lookup::new(view, *hit),
            _ => Lookup::Missing,
        }
    }
}

impl FeatureStore {
    /// The values of each entity of `keys` in each view of `views` at
    /// `at` (the serving time, UTC ns): exactly
    /// [`get`](FeatureStore::get)`(view, key, at, None)` for each pair,
    /// with keys looked up once per entity. The call's latency is recorded
    /// in the [`ONLINE_LATENCY`](super::ONLINE_LATENCY) histogram.
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`](super::FeatureError::UnknownView), or a
    /// key of the wrong arity or types.
    pub fn online(
        &self,
        views: &[&str],
        keys: &[Vec<Value>],
        at: i64,
    ) -> FeatureResult<OnlineResult<'_>> {
        let timer = self.online_ns.start_timer();
        let vs: Vec<&ViewData> = views
            .iter()
            .map(|name| self.view_index(name).map(|v| &self.views[v]))
            .collect::<FeatureResult<_>>()?;
        // Three passes, each over independent memory reads so the CPU
        // overlaps their cache misses: key codes once per entity
        // definition, each view's row range (prefetching its event
        // times), then the lookup rule.
        let mut entity_of: Vec<usize> = vs.iter().map(|v| v.entity).collect();
        entity_of.sort_unstable();
        entity_of.dedup();
        let mut codes: Vec<Vec<Option<u32>>> = Vec::with_capacity(entity_of.len());
        for &e in &entity_of {
            codes.push(
                keys.iter()
                    .map(|k| self.code_of(e, k))
                    .collect::<FeatureResult<_>>()?,
            );
        }
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::with_capacity(keys.len());
        let mut hits = vec![Hit::Missing; keys.len() * vs.len()];
        for (j, v) in vs.iter().enumerate() {
            let group = entity_of.iter().position(|&e| e == v.entity).unwrap_or(0);
            ranges.clear();
            for code in &codes[group] {
                let r = code.map_or(0..0, |c| v.range(c));
                unidb_kernels::prefetch(&v.event[r.clone()]);
                ranges.push(r);
            }
            for (i, r) in ranges.iter().enumerate() {
                hits[i * vs.len() + j] = lookup_range(v, r.clone(), at, None);
            }
        }
        drop(timer);
        Ok(OnlineResult { views: vs, hits })
    }

    /// The online latency so far (ns per [`online`](FeatureStore::online)
    /// call): count, percentiles.
    pub fn online_latency(&self) -> HistogramSnapshot {
        self.online_ns.snapshot()
    }
}
