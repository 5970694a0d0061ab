//! Schema migrations: stable column ids, and invalid migrations change
//! nothing.

use unidb_syncdb::schema::*;
use unidb_syncdb::{ColumnType, SyncError};

fn items() -> TableDef {
    TableDef::new("items", "id", ColumnType::I64)
        .column(ColumnDef::new("name", ColumnType::Text))
        .column(ColumnDef::new("qty", ColumnType::I64).resolver("counter"))
}

#[test]
fn migrations_assign_stable_ids() {
    let mut s = Schema::new();
    s.apply(Migration::AddTable(items())).unwrap();
    s.apply(Migration::AddColumn {
        table: "items".into(),
        column: ColumnDef::new("note", ColumnType::Text).nullable(),
    })
    .unwrap();
    s.apply(Migration::RenameColumn {
        table: "items".into(),
        from: "name".into(),
        to: "title".into(),
    })
    .unwrap();
    s.apply(Migration::DropColumn {
        table: "items".into(),
        column: "qty".into(),
    })
    .unwrap();
    assert_eq!(s.version(), 4);
    let t = s.table("items").unwrap();
    assert_eq!(t.column("title").unwrap().id, 1);
    assert_eq!(t.column("note").unwrap().id, 3);
    assert!(t.column("qty").is_err());
    assert!(t.column_by_id(2).unwrap().dropped);
    let names: Vec<_> = t.columns().map(|c| c.def.name.as_str()).collect();
    assert_eq!(names, ["id", "title", "note"]);
    // Replaying the history gives the same schema.
    let again = Schema::from_migrations(s.history()).unwrap();
    assert_eq!(again.history(), s.history());
    assert_eq!(again.table("items").unwrap().column("note").unwrap().id, 3);
}

#[test]
fn invalid_migrations_change_nothing() {
    let mut s = Schema::from_migrations(&[Migration::AddTable(items())]).unwrap();
    let bad = [
        Migration::AddTable(items()),
        Migration::AddColumn {
            table: "items".into(),
            column: ColumnDef::new("x", ColumnType::I64),
        },
        Migration::AddColumn {
            table: "items".into(),
            column: ColumnDef::new("x", ColumnType::I64).default_value("text"),
        },
        Migration::AddColumn {
            table: "items".into(),
            column: ColumnDef::new("x", ColumnType::Text)
                .nullable()
                .resolver("nope"),
        },
        Migration::AddColumn {
            table: "items".into(),
            column: ColumnDef::new("x", ColumnType::Text)
                .nullable()
                .resolver("counter"),
        },
        Migration::DropColumn {
            table: "items".into(),
            column: "id".into(),
        },
        Migration::RenameColumn {
            table: "items".into(),
            from: "name".into(),
            to: "qty".into(),
        },
        Migration::DropColumn {
            table: "nope".into(),
            column: "id".into(),
        },
    ];
    for m in bad {
        let err = s.apply(m.clone()).unwrap_err();
        assert_eq!(s.version(), 1, "{m:?} -> {err}");
    }
    let err = s
        .apply(Migration::AddColumn {
            table: "items".into(),
            column: ColumnDef::new("x", ColumnType::I64).default_value("text"),
        })
        .unwrap_err();
    assert!(
        matches!(err, SyncError::TypeMismatch { ref column, .. } if column == "x"),
        "{err}"
    );
}
