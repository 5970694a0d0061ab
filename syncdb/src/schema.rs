//! Schemas, their versions and migrations.
//!
//! A schema is built by applying [`Migration`]s in order; its version is the
//! number of migrations applied. Because every replica applies the same
//! history, table and column ids (assigned in order of creation, never
//! reused) agree everywhere, and changes refer to ids, not names: renaming
//! a column is a label change, and writes made before a rename still land in
//! the right column. Dropped columns keep their id (writes to them are
//! ignored). Migrations must be authored in one place (an administrator or
//! the server) and travel with sync; two replicas holding different
//! migrations at one version is a [`SyncError::SchemaConflict`].

use std::collections::HashMap;
use std::fmt;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};
use unidb_registry::PluginKind;

use crate::error::{Result, SyncError};
use crate::resolver::{Resolver, DEFAULT_RESOLVER};
use unidb_common::value::{ColumnType, Value};

/// Id of a table (its position in creation order).
pub type TableId = u32;
/// Id of a column within its table (position in creation order; the
/// primary key is column 0).
pub type ColumnId = u32;

/// The definition of a column.
///
/// Serialized (with the `serde` feature) with every field; when
/// deserializing, all but `name` and `ty` may be left out (not nullable,
/// no default, `lww`, not indexed).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ColumnDef {
    /// The column name.
    pub name: String,
    /// The column type.
    pub ty: ColumnType,
    /// Whether `null` is allowed.
    #[cfg_attr(feature = "serde", serde(default))]
    pub nullable: bool,
    /// The value of the column when an insert leaves it out, and for rows
    /// that existed before the column was added.
    #[cfg_attr(feature = "serde", serde(default))]
    pub default: Option<Value>,
    /// Name of the conflict [`Resolver`] (default `lww`).
    #[cfg_attr(feature = "serde", serde(default = "default_resolver"))]
    pub resolver: String,
    /// Whether to keep a secondary index on the column.
    #[cfg_attr(feature = "serde", serde(default))]
    pub indexed: bool,
}

impl ColumnDef {
    /// A non-nullable column without default, resolved by `lww`, not indexed.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        ColumnDef {
            name: name.into(),
            ty,
            nullable: false,
            default: None,
            resolver: DEFAULT_RESOLVER.to_owned(),
            indexed: false,
        }
    }

    /// Allows `null`.
    pub fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }

    /// Sets the default value.
    pub fn default_value(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(v.into());
        self
    }

    /// Sets the conflict resolver by registered name.
    pub fn resolver(mut self, name: impl Into<String>) -> Self {
        self.resolver = name.into();
        self
    }

    /// Keeps a secondary index on the column.
    pub fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }

    /// The value a row has in this column when nothing was written to it.
    pub fn fallback(&self) -> Value {
        match &self.default {
            Some(v) => v.clone(),
            None if self.ty == ColumnType::I64 && !self.nullable => Value::I64(0),
            None => Value::Null,
        }
    }
}

#[cfg(feature = "serde")]
fn default_resolver() -> String {
    DEFAULT_RESOLVER.to_owned()
}

/// The definition of a table: a primary key column and other columns.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct TableDef {
    /// The table name.
    pub name: String,
    /// The primary key column (never null, never updated).
    pub primary_key: ColumnDef,
    /// The other columns.
    #[cfg_attr(feature = "serde", serde(default))]
    pub columns: Vec<ColumnDef>,
}

impl TableDef {
    /// A table with primary key column `key` of type `key_type`.
    pub fn new(name: impl Into<String>, key: impl Into<String>, key_type: ColumnType) -> Self {
        TableDef {
            name: name.into(),
            primary_key: ColumnDef::new(key, key_type),
            columns: Vec::new(),
        }
    }

    /// Adds a column.
    pub fn column(mut self, column: ColumnDef) -> Self {
        self.columns.push(column);
        self
    }
}

/// One step of schema evolution.
///
/// Serialized (with the `serde` feature) tagged by the variant's name in
/// snake case: `{"add_table": {...}}`, `{"add_column": {"table": ..,
/// "column": {..}}}`, `{"drop_column": ..}`, `{"rename_column": ..}`, so a
/// schema history can live in a JSON file.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
pub enum Migration {
    /// Creates a table.
    AddTable(TableDef),
    /// Adds a column, which must be nullable or have a default (the value of
    /// existing rows).
    AddColumn {
        /// The table.
        table: String,
        /// The new column.
        column: ColumnDef,
    },
    /// Drops a column (not the primary key). Its id is never reused.
    DropColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// Renames a column.
    RenameColumn {
        /// The table.
        table: String,
        /// The current name.
        from: String,
        /// The new name.
        to: String,
    },
}

/// A column of a table in a schema.
#[derive(Clone)]
pub struct Column {
    /// The column's id within its table.
    pub id: ColumnId,
    /// The column's definition (with its current name).
    pub def: ColumnDef,
    /// Whether the column was dropped.
    pub dropped: bool,
    pub(crate) resolver: &'static Resolver,
}

impl fmt::Debug for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Column")
            .field("id", &self.id)
            .field("def", &self.def)
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl Column {
    /// The column's resolver.
    pub fn resolver(&self) -> &'static Resolver {
        self.resolver
    }
}

/// A table of a schema.
#[derive(Debug, Clone)]
pub struct Table {
    /// The table's id.
    pub id: TableId,
    /// The table's name.
    pub name: String,
    columns: Vec<Column>,
    by_name: HashMap<String, ColumnId>,
}

impl Table {
    /// The primary key column.
    pub fn primary_key(&self) -> &Column {
        &self.columns[0]
    }

    /// Every column ever defined, dropped ones included, by id.
    pub fn all_columns(&self) -> &[Column] {
        &self.columns
    }

    /// The live columns (key first), in id order.
    pub fn columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !c.dropped)
    }

    /// A live column by name.
    ///
    /// # Errors
    /// [`SyncError::UnknownColumn`].
    pub fn column(&self, name: &str) -> Result<&Column> {
        self.by_name
            .get(name)
            .map(|id| &self.columns[*id as usize])
            .ok_or_else(|| SyncError::UnknownColumn {
                table: self.name.clone(),
                column: name.to_owned(),
            })
    }

    /// A column (live or dropped) by id.
    ///
    /// # Errors
    /// [`SyncError::UnknownColumn`].
    pub fn column_by_id(&self, id: ColumnId) -> Result<&Column> {
        self.columns
            .get(id as usize)
            .ok_or_else(|| SyncError::UnknownColumn {
                table: self.name.clone(),
                column: format!("#{id}"),
            })
    }

    /// Checks that `value` may be stored in `column`.
    ///
    /// # Errors
    /// [`SyncError::NullNotAllowed`] or [`SyncError::TypeMismatch`].
    pub fn check_value(&self, column: &Column, value: &Value) -> Result<()> {
        match value.column_type() {
            None if column.def.nullable => Ok(()),
            None => Err(SyncError::NullNotAllowed {
                table: self.name.clone(),
                column: column.def.name.clone(),
            }),
            Some(t) if t == column.def.ty => Ok(()),
            Some(_) => Err(SyncError::TypeMismatch {
                table: self.name.clone(),
                column: column.def.name.clone(),
                expected: column.def.ty,
                value: value.describe(),
            }),
        }
    }

    fn push_column(&mut self, def: ColumnDef) -> Result<()> {
        let invalid = |reason: String| SyncError::InvalidSchema { reason };
        if def.name.is_empty() {
            return Err(invalid(format!("table {:?}: empty column name", self.name)));
        }
        if self.by_name.contains_key(&def.name) {
            return Err(invalid(format!(
                "table {:?} already has a column {:?}",
                self.name, def.name
            )));
        }
        let resolver = Resolver::registry().get(&def.resolver).map_err(|source| {
            SyncError::UnknownResolver {
                table: self.name.clone(),
                column: def.name.clone(),
                source: Box::new(source),
            }
        })?;
        if resolver.is_counter() && (def.ty != ColumnType::I64 || def.nullable) {
            return Err(invalid(format!(
                "table {:?} column {:?}: the counter resolver needs a non-nullable i64 column",
                self.name, def.name
            )));
        }
        let id = u32::try_from(self.columns.len())
            .map_err(|_| invalid(format!("table {:?}: too many columns", self.name)))?;
        let column = Column {
            id,
            def,
            dropped: false,
            resolver,
        };
        if let Some(d) = &column.def.default {
            self.check_value(&column, d)?;
        }
        self.by_name.insert(column.def.name.clone(), id);
        self.columns.push(column);
        Ok(())
    }
}

/// A schema: tables by name and id, at a version.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    tables: Vec<Table>,
    by_name: HashMap<String, TableId>,
    history: Vec<Migration>,
}

impl Schema {
    /// The empty schema (version 0).
    pub fn new() -> Self {
        Schema::default()
    }

    /// A schema built from `migrations`.
    ///
    /// # Errors
    /// The first invalid migration's error.
    pub fn from_migrations(migrations: &[Migration]) -> Result<Self> {
        let mut s = Schema::new();
        for m in migrations {
            s.apply(m.clone())?;
        }
        Ok(s)
    }

    /// The version: the number of migrations applied.
    pub fn version(&self) -> u32 {
        self.history.len() as u32
    }

    /// A digest of the first `version` migrations of the history (64-bit
    /// FNV-1a over their wire encoding), `None` above the current version.
    /// Two replicas at the same version whose digests differ hold different
    /// schemas under one version number (e.g. a crafted or corrupted
    /// snapshot): the sync handshake compares them and refuses to sync.
    pub fn digest(&self, version: u32) -> Option<u64> {
        let steps = self.history.get(..version as usize)?;
        let mut bytes = Vec::new();
        for m in steps {
            crate::wire::put_migration(&mut bytes, m);
        }
        Some(bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        }))
    }

    /// The migrations applied, in order.
    pub fn history(&self) -> &[Migration] {
        &self.history
    }

    /// Every table, by id.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// A table by name.
    ///
    /// # Errors
    /// [`SyncError::UnknownTable`].
    pub fn table(&self, name: &str) -> Result<&Table> {
        self.by_name
            .get(name)
            .map(|id| &self.tables[*id as usize])
            .ok_or_else(|| SyncError::UnknownTable {
                table: name.to_owned(),
            })
    }

    /// A table by id.
    ///
    /// # Errors
    /// [`SyncError::UnknownTable`].
    pub fn table_by_id(&self, id: TableId) -> Result<&Table> {
        self.tables
            .get(id as usize)
            .ok_or_else(|| SyncError::UnknownTable {
                table: format!("#{id}"),
            })
    }

    /// Applies a migration, bumping the version. On error the schema is unchanged.
    ///
    /// # Errors
    /// [`SyncError::InvalidSchema`], [`SyncError::UnknownTable`],
    /// [`SyncError::UnknownColumn`], [`SyncError::UnknownResolver`] or a
    /// type error for a default of the wrong type.
    pub fn apply(&mut self, migration: Migration) -> Result<()> {
        let mut next = self.clone();
        next.apply_in_place(&migration)?;
        next.history.push(migration);
        *self = next;
        Ok(())
    }

    fn table_mut(&mut self, name: &str) -> Result<&mut Table> {
        match self.by_name.get(name) {
            Some(id) => Ok(&mut self.tables[*id as usize]),
            None => Err(SyncError::UnknownTable {
                table: name.to_owned(),
            }),
        }
    }

    fn apply_in_place(&mut self, migration: &Migration) -> Result<()> {
        let invalid = |reason: String| SyncError::InvalidSchema { reason };
        match migration {
            Migration::AddTable(def) => {
                if def.name.is_empty() {
                    return Err(invalid("empty table name".into()));
                }
                if self.by_name.contains_key(&def.name) {
                    return Err(invalid(format!("table {:?} already exists", def.name)));
                }
                let mut pk = def.primary_key.clone();
                if pk.nullable {
                    return Err(invalid(format!(
                        "table {:?}: the primary key {:?} cannot be nullable",
                        def.name, pk.name
                    )));
                }
                pk.default = None;
                pk.indexed = false;
                let id = self.tables.len() as TableId;
                let mut table = Table {
                    id,
                    name: def.name.clone(),
                    columns: Vec::new(),
                    by_name: HashMap::new(),
                };
                table.push_column(pk)?;
                for c in &def.columns {
                    table.push_column(c.clone())?;
                }
                self.by_name.insert(def.name.clone(), id);
                self.tables.push(table);
            }
            Migration::AddColumn { table, column } => {
                let t = self.table_mut(table)?;
                if !column.nullable && column.default.is_none() {
                    return Err(invalid(format!(
                        "table {table:?}: added column {:?} needs a default or must be nullable (existing rows need a value)",
                        column.name
                    )));
                }
                t.push_column(column.clone())?;
            }
            Migration::DropColumn { table, column } => {
                let t = self.table_mut(table)?;
                let id = t.column(column)?.id;
                if id == 0 {
                    return Err(invalid(format!(
                        "table {table:?}: cannot drop the primary key {column:?}"
                    )));
                }
                t.by_name.remove(column);
                t.columns[id as usize].dropped = true;
            }
            Migration::RenameColumn { table, from, to } => {
                let t = self.table_mut(table)?;
                let id = t.column(from)?.id;
                if to.is_empty() || t.by_name.contains_key(to) {
                    return Err(invalid(format!(
                        "table {table:?}: cannot rename {from:?} to {to:?} (empty or taken)"
                    )));
                }
                t.by_name.remove(from);
                t.by_name.insert(to.clone(), id);
                t.columns[id as usize].def.name = to.clone();
            }
        }
        Ok(())
    }
}
