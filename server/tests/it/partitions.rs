//! Rows in partitions: each token reads exactly the rows of the
//! partitions it is granted, and a write of a row outside its rights
//! (or outside its connection's partition) is refused and changes
//! nothing. The oracle is a naive filter over every attempted write.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use unidb_common::id::ReplicaId;
use unidb_common::rng::SplitMix64;
use unidb_common::time::SystemClock;
use unidb_server::auth::{now_s, AuthFile, Rights};
use unidb_server::partition::{PartitionRules, TableRule};
use unidb_server::{ServerError, ServerOptions};
use unidb_syncdb::{ColumnDef, ColumnType, Database, Message, Migration, TableDef, Value};

use crate::peer::{start, temp_dir, Peer};

fn schema() -> Vec<Migration> {
    vec![
        Migration::AddTable(
            TableDef::new("todos", "id", ColumnType::I64)
                .column(ColumnDef::new("owner", ColumnType::Text))
                .column(ColumnDef::new("title", ColumnType::Text)),
        ),
        Migration::AddTable(
            TableDef::new("public_items", "id", ColumnType::I64)
                .column(ColumnDef::new("body", ColumnType::Text)),
        ),
    ]
}

fn rules() -> PartitionRules {
    let mut r = PartitionRules::default();
    r.tables
        .insert("todos".into(), TableRule::Column("owner".into()));
    r.tables
        .insert("public_items".into(), TableRule::Fixed("public".into()));
    r
}

const PARTITIONS: [&str; 4] = ["alice", "bob", "team", "public"];
const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// alice and bob hold disjoint own partitions and overlap on `team`
/// (bob read-only) and `public` (alice writes, everyone reads); carol
/// reads alice's partition.
fn auth() -> AuthFile {
    let mut a = AuthFile::generate().unwrap();
    a.grant("alice", "alice", Rights::ReadWrite).unwrap();
    a.grant("alice", "team", Rights::ReadWrite).unwrap();
    a.grant("alice", "public", Rights::ReadWrite).unwrap();
    a.grant("bob", "bob", Rights::ReadWrite).unwrap();
    a.grant("bob", "team", Rights::Read).unwrap();
    a.grant("bob", "public", Rights::Read).unwrap();
    a.grant("carol", "alice", Rights::Read).unwrap();
    a.grant("carol", "public", Rights::Read).unwrap();
    a
}

fn rights(user: &str, partition: &str) -> Option<Rights> {
    match (user, partition) {
        ("alice", "alice" | "team" | "public") | ("bob", "bob") => Some(Rights::ReadWrite),
        ("bob", "team" | "public") | ("carol", "alice" | "public") => Some(Rights::Read),
        _ => None,
    }
}

fn replica(id: u64) -> Arc<Database> {
    Arc::new(Database::open(ReplicaId::from_u64(id), Arc::new(SystemClock), &schema()).unwrap())
}

/// One attempted write: `user` connects to `conn` and writes row `key`
/// of `table` (in `todos`, with `owner`).
#[derive(Debug, Clone)]
struct Attempt {
    user: &'static str,
    conn: &'static str,
    table: &'static str,
    key: i64,
    owner: &'static str,
    replica: u64,
}

impl Attempt {
    /// The partition the row belongs to by the rules.
    fn row_partition(&self) -> &'static str {
        if self.table == "public_items" {
            "public"
        } else {
            self.owner
        }
    }

    /// The naive oracle: allowed iff the user may write the connection's
    /// partition and the row is in it.
    fn allowed(&self) -> bool {
        rights(self.user, self.conn).is_some_and(Rights::can_write)
            && self.row_partition() == self.conn
    }
}

/// Connects `user` to `partition` as a fresh replica `id`.
async fn connect(
    server: &crate::peer::Running,
    tokens: &BTreeMap<&str, String>,
    user: &str,
    partition: &str,
    id: u64,
) -> Result<Peer, ServerError> {
    Peer::connect_db(&server.url(partition), Some(&tokens[user]), replica(id)).await
}

/// The rows of both tables: (table, key) -> (owner or body, title).
fn rows(db: &Database) -> BTreeSet<(String, i64, String)> {
    let mut out = BTreeSet::new();
    for (table, rows) in db.read().dump() {
        for (key, row) in rows {
            let tag = row
                .value("owner")
                .or_else(|| row.value("body"))
                .and_then(Value::as_text)
                .unwrap_or_default()
                .to_owned();
            out.insert((table.clone(), key.as_i64().unwrap(), tag));
        }
    }
    out
}

fn refusal(e: ServerError) -> (String, String) {
    match e {
        ServerError::Refused { code, message } => (code, message),
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_sees_exactly_the_rows_of_its_partitions() {
    let dir = temp_dir("partitions");
    let a = auth();
    let now = now_s();
    let tokens: BTreeMap<&str, String> = USERS
        .iter()
        .map(|u| (*u, a.mint(u, 600, now).unwrap()))
        .collect();
    let options = ServerOptions {
        auth: Some(a),
        schema: schema(),
        rules: rules(),
        ..ServerOptions::default()
    };
    let server = start(&dir, options).await;

    // A bounded, seeded list of attempts over every combination kind.
    let mut rng = SplitMix64::new(18);
    let mut attempts = Vec::new();
    for i in 0..60u64 {
        let user = ["alice", "bob", "alice", "bob", "carol"][rng.index(5)];
        // Mostly partitions the user may write, some others.
        let writable: Vec<&'static str> = PARTITIONS
            .iter()
            .copied()
            .filter(|p| rights(user, p).is_some_and(Rights::can_write))
            .collect();
        let conn = if !writable.is_empty() && rng.chance(0.7) {
            writable[rng.index(writable.len())]
        } else {
            PARTITIONS[rng.index(PARTITIONS.len())]
        };
        let public = if conn == "public" {
            rng.chance(0.8)
        } else {
            rng.chance(0.1)
        };
        attempts.push(Attempt {
            user,
            conn,
            table: if public { "public_items" } else { "todos" },
            key: 1000 + i as i64,
            // Mostly rows of the connection's partition, some outside.
            owner: if rng.chance(0.7) {
                conn
            } else {
                ["alice", "bob", "team"][rng.index(3)]
            },
            replica: 100 + i,
        });
    }
    let (mut accepted, mut refused) = (0, 0);
    for at in &attempts {
        let peer = connect(&server, &tokens, at.user, at.conn, at.replica).await;
        let mut peer = match peer {
            Ok(p) => p,
            Err(e) => {
                // Only a partition not granted is refused at connect.
                assert!(rights(at.user, at.conn).is_none(), "{at:?}: {e}");
                assert_eq!(refusal(e).0, "forbidden");
                refused += 1;
                continue;
            }
        };
        assert!(rights(at.user, at.conn).is_some(), "{at:?} connected");
        let cols: Vec<(&str, Value)> = if at.table == "todos" {
            vec![
                ("id", Value::I64(at.key)),
                ("owner", Value::from(at.owner)),
                ("title", Value::from(format!("t{}", at.key))),
            ]
        } else {
            vec![("id", Value::I64(at.key)), ("body", Value::from("public"))]
        };
        peer.db.insert(at.table, cols).unwrap();
        let me = peer.db.replica();
        let seq = peer.db.version_vector().get(me);
        peer.flush().await.unwrap();
        let mut outcome = Ok(());
        while peer.session.acked().get(me) < seq {
            if let Err(e) = peer.pump().await {
                outcome = Err(e);
                break;
            }
        }
        match outcome {
            Ok(()) => {
                assert!(at.allowed(), "{at:?} was accepted");
                accepted += 1;
            }
            Err(e) => {
                assert!(!at.allowed(), "{at:?} was refused: {e}");
                let (code, message) = refusal(e);
                assert_eq!(code, "forbidden", "{message}");
                // About the client's own write, and no one else's.
                let foreign: Vec<&str> = PARTITIONS
                    .iter()
                    .copied()
                    .filter(|p| *p != at.conn && *p != at.owner && *p != at.row_partition())
                    .collect();
                for p in foreign {
                    assert!(!message.contains(&format!("partition {p}")), "{message}");
                }
                refused += 1;
            }
        }
    }
    assert!(
        accepted >= 10 && refused >= 10,
        "{accepted} accepted, {refused} refused"
    );

    // What each user reads, partition by partition, against the oracle.
    let mut id = 10_000;
    for user in USERS {
        for partition in PARTITIONS {
            id += 1;
            let expected: BTreeSet<(String, i64, String)> = attempts
                .iter()
                .filter(|at| at.allowed() && at.row_partition() == partition)
                .map(|at| {
                    let tag = if at.table == "todos" {
                        at.owner
                    } else {
                        "public"
                    };
                    (at.table.to_owned(), at.key, tag.to_owned())
                })
                .collect();
            let writers: BTreeSet<ReplicaId> = attempts
                .iter()
                .filter(|at| at.allowed() && at.row_partition() == partition)
                .map(|at| ReplicaId::from_u64(at.replica))
                .collect();
            match connect(&server, &tokens, user, partition, id).await {
                Err(e) => {
                    assert!(rights(user, partition).is_none(), "{user} {partition}: {e}");
                    assert_eq!(refusal(e).0, "forbidden");
                }
                Ok(mut reader) => {
                    assert!(rights(user, partition).is_some());
                    // The server's Hello: the partition's version vector,
                    // all a reader learns of the partition's activity.
                    let server_vv = reader.session.acked().clone();
                    reader
                        .until(|db| db.version_vector() == server_vv)
                        .await
                        .unwrap();
                    assert_eq!(rows(&reader.db), expected, "{user} reading {partition}");
                    // It names only the writers of this partition.
                    let origins: BTreeSet<ReplicaId> = server_vv.iter().map(|(r, _)| r).collect();
                    assert_eq!(origins, writers, "{user} reading {partition}");
                }
            }
        }
    }
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A batch with the changes of `db` to row `key` of `todos`, less the
/// write of its `owner`.
fn without_owner(db: &Database, key: i64) -> Vec<u8> {
    db.insert(
        "todos",
        [
            ("id", Value::I64(key)),
            ("owner", Value::from("alice")),
            ("title", Value::from("x")),
        ],
    )
    .unwrap();
    let owner = db
        .schema()
        .table("todos")
        .unwrap()
        .column("owner")
        .unwrap()
        .id;
    let changes: Vec<_> = db
        .changes_since(&unidb_syncdb::VersionVector::new())
        .into_iter()
        .filter(|c| c.key == Value::I64(key))
        .filter(|c| !matches!(c.op, unidb_syncdb::ChangeOp::Set { column, .. } if column == owner))
        .collect();
    Message::Changes {
        sender: db.replica(),
        schema_version: db.schema_version(),
        changes,
        collected: Vec::new(),
    }
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_changes_nothing_and_tells_nothing_of_other_partitions() {
    let dir = temp_dir("partitions-refused");
    let a = auth();
    let now = now_s();
    let tokens: BTreeMap<&str, String> = USERS
        .iter()
        .map(|u| (*u, a.mint(u, 600, now).unwrap()))
        .collect();
    let options = ServerOptions {
        auth: Some(a),
        schema: schema(),
        rules: rules(),
        ..ServerOptions::default()
    };
    let server = start(&dir, options).await;
    // Bob has row 7 in his partition.
    let mut bob = connect(&server, &tokens, "bob", "bob", 1).await.unwrap();
    bob.db
        .insert(
            "todos",
            [
                ("id", Value::I64(7)),
                ("owner", Value::from("bob")),
                ("title", Value::from("secret")),
            ],
        )
        .unwrap();
    let me = bob.db.replica();
    let seq = bob.db.version_vector().get(me);
    bob.flush().await.unwrap();
    while bob.session.acked().get(me) < seq {
        bob.pump().await.unwrap();
    }
    // Alice, in her partition, writes rows 7 (bob's) and 8 (nobody's)
    // without setting their owner: the same refusal, the key aside.
    let mut messages = Vec::new();
    for (key, id) in [(7, 2), (8, 3)] {
        let mut alice = connect(&server, &tokens, "alice", "alice", id)
            .await
            .unwrap();
        let scratch = replica(id + 50);
        alice.conn.send(without_owner(&scratch, key)).await.unwrap();
        let (code, message) = refusal(alice.pump().await.unwrap_err());
        assert_eq!(code, "forbidden");
        messages.push(message.replace(&format!("row {key} "), "row K "));
    }
    assert_eq!(messages[0], messages[1]);
    assert!(!messages[0].contains("bob") && !messages[0].contains("secret"));
    // Nothing changed: alice's partition is empty, bob's holds row 7 alone.
    let check = connect(&server, &tokens, "alice", "alice", 20)
        .await
        .unwrap();
    assert!(
        check.session.acked().is_empty(),
        "{:?}",
        check.session.acked()
    );
    assert!(rows(&check.db).is_empty());
    let mut check = connect(&server, &tokens, "bob", "bob", 21).await.unwrap();
    check.until(|db| !rows(db).is_empty()).await.unwrap();
    assert_eq!(
        rows(&check.db),
        BTreeSet::from([("todos".to_owned(), 7, "bob".to_owned())])
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
