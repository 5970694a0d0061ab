//! The AVX2+FMA path.

use crate::dispatch::Table;

pub(crate) const TABLE: Table = crate::scalar::TABLE;
