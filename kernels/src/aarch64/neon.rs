//! The NEON path.

use crate::dispatch::Table;

pub(crate) const TABLE: Table = crate::scalar::TABLE;
