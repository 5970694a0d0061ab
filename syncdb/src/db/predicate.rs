//! Row predicates for [`ReadView::scan`](super::ReadView::scan), and their
//! binding to a table's column ids.

use crate::error::Result;
use crate::schema::{ColumnId, Table};
use unidb_common::value::Value;

/// A condition on rows for [`ReadView::scan`](super::ReadView::scan).
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Every row.
    All,
    /// `column == value` (uses the column's index if it has one).
    Eq(String, Value),
    /// `column != value`.
    Ne(String, Value),
    /// `column < value` (in [`Value`] order).
    Lt(String, Value),
    /// `column <= value`.
    Le(String, Value),
    /// `column > value`.
    Gt(String, Value),
    /// `column >= value`.
    Ge(String, Value),
    /// `column` is null.
    IsNull(String),
    /// Every predicate holds.
    And(Vec<Predicate>),
    /// At least one predicate holds.
    Or(Vec<Predicate>),
}

/// A predicate with columns resolved to ids.
pub(super) enum Bound_ {
    All,
    Cmp(ColumnId, std::cmp::Ordering, bool, Value),
    IsNull(ColumnId),
    And(Vec<Bound_>),
    Or(Vec<Bound_>),
}

impl Predicate {
    pub(super) fn bind(&self, table: &Table) -> Result<Bound_> {
        use std::cmp::Ordering::*;
        let col = |name: &str| table.column(name).map(|c| c.id);
        Ok(match self {
            Predicate::All => Bound_::All,
            Predicate::Eq(c, v) => Bound_::Cmp(col(c)?, Equal, true, v.clone()),
            Predicate::Ne(c, v) => Bound_::Cmp(col(c)?, Equal, false, v.clone()),
            Predicate::Lt(c, v) => Bound_::Cmp(col(c)?, Less, true, v.clone()),
            Predicate::Ge(c, v) => Bound_::Cmp(col(c)?, Less, false, v.clone()),
            Predicate::Gt(c, v) => Bound_::Cmp(col(c)?, Greater, true, v.clone()),
            Predicate::Le(c, v) => Bound_::Cmp(col(c)?, Greater, false, v.clone()),
            Predicate::IsNull(c) => Bound_::IsNull(col(c)?),
            Predicate::And(ps) => {
                Bound_::And(ps.iter().map(|p| p.bind(table)).collect::<Result<_>>()?)
            }
            Predicate::Or(ps) => {
                Bound_::Or(ps.iter().map(|p| p.bind(table)).collect::<Result<_>>()?)
            }
        })
    }
}

impl Bound_ {
    pub(super) fn eval(&self, value_of: &dyn Fn(ColumnId) -> Value) -> bool {
        match self {
            Bound_::All => true,
            Bound_::Cmp(c, ord, want, v) => (value_of(*c).cmp(v) == *ord) == *want,
            Bound_::IsNull(c) => value_of(*c).is_null(),
            Bound_::And(ps) => ps.iter().all(|p| p.eval(value_of)),
            Bound_::Or(ps) => ps.iter().any(|p| p.eval(value_of)),
        }
    }

    /// An equality on an indexed column usable to narrow the scan.
    pub(super) fn index_probe(&self, table: &Table) -> Option<(ColumnId, Value)> {
        match self {
            Bound_::Cmp(c, std::cmp::Ordering::Equal, true, v)
                if *c != 0 && table.all_columns()[*c as usize].def.indexed =>
            {
                Some((*c, v.clone()))
            }
            Bound_::And(ps) => ps.iter().find_map(|p| p.index_probe(table)),
            _ => None,
        }
    }
}
