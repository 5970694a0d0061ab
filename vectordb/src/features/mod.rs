//! The feature store: features of entities over time for training sets
//! and online serving, without leakage and without online/offline skew.
//!
//! * Definitions ([`EntityDef`], [`ViewDef`], [`FeatureType`]): an entity
//!   is named by key columns; a view holds typed features of one entity
//!   (integers, floats, booleans, text, timestamps, `f32` vectors of a
//!   fixed dimension), a TTL, an owner and a description. Each row has an
//!   `event_timestamp` (when its facts were true) and a
//!   `created_timestamp` (when it was recorded), UTC nanoseconds in an
//!   `i64` ([`parse_time`] reads RFC 3339 or epoch numbers).
//! * Storage ([`FeatureStore`]): in memory, by column, each view sorted by
//!   (entity, event time, created time); [`FeatureStore::append`] takes
//!   late and out-of-order rows, validating a batch whole first;
//!   [`FeatureStore::save`] / [`FeatureStore::open`] keep it in a
//!   checksummed snapshot file.
//! * One lookup rule ([`FeatureStore::get`]): the row with the latest
//!   event time `≤ at`, ties broken by the latest created time, served if
//!   `at − event ≤ ttl` (inclusive), else [`Lookup::Expired`]; no row is
//!   [`Lookup::Missing`]. Bitemporally, with `known_at`, only rows
//!   created by then count. Online serving ([`FeatureStore::online`]) and
//!   the point-in-time join ([`FeatureStore::join`]) call the same
//!   function, so they cannot disagree.
//! * The point-in-time join: an [`EntityTable`] (keys, times, labels)
//!   with many views at once, sort-merge per view, in parallel over views
//!   and chunks of entity rows, streamed chunk by chunk; output columns
//!   are `view__feature`. [`KnownAt::AtLabel`] uses `known_at` = each
//!   row's time: a correction recorded after a label's time does not leak
//!   into its training row.
//! * Vector features back a collection:
//!   [`FeatureStore::collection_as_of`] ("nearest neighbours as of t").
//! * Files: [`io`] reads CSV view and entity files and writes the join as
//!   CSV, JSON lines or, with the `parquet` cargo feature, Parquet.
//!
//! ```
//! use std::time::Duration;
//! use unidb_common::value::ColumnType;
//! use unidb_vectordb::features::*;
//!
//! let mut store = FeatureStore::new();
//! store.define_entity(EntityDef::new("user", "user_id", ColumnType::I64))?;
//! store.define_view(
//!     ViewDef::new("clicks", "user")
//!         .feature("count", FeatureType::Int)
//!         .ttl(Duration::from_nanos(100)),
//! )?;
//! // Rows: (user 1, event 10, created 10, count 3), and a correction of
//! // event 10 recorded at 50 (count 4).
//! store.append("clicks", RowBatch {
//!     keys: vec![("user_id".into(), KeyColumn::Int(vec![1, 1]))],
//!     event_timestamps: vec![10, 10],
//!     created_timestamps: vec![10, 50],
//!     features: vec![("count".into(), Column::new(ColumnData::Int(vec![3, 4])))],
//! })?;
//! let labels = EntityTable {
//!     keys: vec![("user_id".into(), KeyColumn::Int(vec![1, 1, 2]))],
//!     timestamps: vec![20, 111, 20],
//!     labels: vec![],
//! };
//! let mut out = Vec::new();
//! let opts = JoinOptions { known_at: KnownAt::AtLabel, ..JoinOptions::default() };
//! let plan = store.join(&labels, &opts, |batch| { out.push(batch); Ok(()) })?;
//! assert_eq!(plan.columns, ["clicks__count"]);
//! let col = &out[0].columns[0];
//! assert_eq!(col.get(0), FeatureValue::Int(3)); // the correction was not known at 20
//! assert_eq!(col.get(1), FeatureValue::Null); // 111 - 10 > TTL: expired
//! assert_eq!(col.get(2), FeatureValue::Null); // user 2 has no rows
//! assert_eq!(plan.counts[0].expired, 1);
//! # Ok::<(), FeatureError>(())
//! ```

pub mod bench;
mod column;
mod error;
pub mod io;
mod join;
mod lookup;
mod online;
#[cfg(feature = "parquet")]
mod parquet;
/// Arrow record batches in and out of the store, in memory (the
/// `parquet` cargo feature): what the Parquet files hold, for callers that
/// already have Arrow data (the Python package's pyarrow tables).
#[cfg(feature = "parquet")]
pub mod arrow {
    pub use super::parquet::{entities_from_batches, join_to_batches, view_from_batches};
}
mod schema;
mod snapshot;
mod store;
mod vectors;

pub use column::{Column, ColumnData, FeatureValue, KeyColumn};
pub use error::{FeatureError, FeatureResult};
pub use join::{EntityTable, JoinBatch, JoinOptions, JoinPlan, KnownAt, ViewCounts};
pub use lookup::{Lookup, RowRef};
pub use online::OnlineResult;
pub use schema::{
    format_time, parse_duration, parse_time, EntityDef, Feature, FeatureType, TimeUnit, ViewDef,
};
pub use snapshot::{MAGIC, VERSION};
pub use store::{FeatureStore, RowBatch, MAX_VIEW_ROWS, ONLINE_LATENCY};
