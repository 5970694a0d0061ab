//! A collection shared between threads: many readers search while a writer
//! inserts.
//!
//! # Consistency
//! [`SharedCollection`] wraps a [`Collection`] in a reader–writer lock. Each
//! operation is atomic and linearizable: a search runs against the state
//! left by every write that finished before it started, and sees nothing of
//! a write still in progress (an insert, including its index update, is
//! one write). Searches run in parallel with each other; a write waits for
//! running searches and holds new ones back only for the duration of one
//! insert (an HNSW insert links one node, well under a millisecond at
//! typical sizes). Batch loads that want readers to keep going should
//! insert in small batches through [`SharedCollection::write`].

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::collection::{Collection, Hit, Metadata, SearchOptions};
use crate::error::Result;
use crate::stats::CollectionMetrics;
use unidb_common::id::Id;

/// A cheaply clonable, thread-safe handle to a collection.
#[derive(Debug, Clone)]
pub struct SharedCollection(Arc<RwLock<Collection>>);

impl SharedCollection {
    /// Shares a collection.
    pub fn new(collection: Collection) -> Self {
        SharedCollection(Arc::new(RwLock::new(collection)))
    }

    /// Shared access for several reads against one consistent state.
    pub fn read(&self) -> RwLockReadGuard<'_, Collection> {
        // A panicking writer leaves a structurally valid collection (every
        // mutation is completed before the lock is released or is a push).
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive access for several writes applied at once.
    pub fn write(&self) -> RwLockWriteGuard<'_, Collection> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// See [`Collection::search`].
    ///
    /// # Errors
    /// As [`Collection::search`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.read().search(query, k)
    }

    /// See [`Collection::search_with`].
    ///
    /// # Errors
    /// As [`Collection::search_with`].
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Hit>> {
        self.read().search_with(query, k, options)
    }

    /// See [`Collection::insert`].
    ///
    /// # Errors
    /// As [`Collection::insert`].
    pub fn insert(
        &self,
        id: impl Into<Id>,
        vector: &[f32],
        metadata: Option<Metadata>,
    ) -> Result<()> {
        self.write().insert(id, vector, metadata)
    }

    /// See [`Collection::upsert`].
    ///
    /// # Errors
    /// As [`Collection::upsert`].
    pub fn upsert(
        &self,
        id: impl Into<Id>,
        vector: &[f32],
        metadata: Option<Metadata>,
    ) -> Result<()> {
        self.write().upsert(id, vector, metadata)
    }

    /// See [`Collection::delete`].
    ///
    /// # Errors
    /// As [`Collection::delete`].
    pub fn delete(&self, id: impl Into<Id>) -> Result<()> {
        self.write().delete(id)
    }

    /// See [`Collection::metrics`].
    pub fn metrics(&self) -> CollectionMetrics {
        self.read().metrics()
    }

    /// Number of live vectors.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
}
