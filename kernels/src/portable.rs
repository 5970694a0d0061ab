//! The portable SIMD path, built on `wide`.

use crate::dispatch::Table;

pub(crate) const TABLE: Table = crate::scalar::TABLE;
