//! The sync engine (`unidb-syncdb`) against Automerge on one row workload:
//! rows of `{name: text, qty: i64, price: f64, done: bool}` inserted in
//! commits of 1000 rows, then random single-column updates (commits of
//! 1000); then two replicas holding the same rows make concurrent edits
//! each and are merged both ways.
//!
//! First prints a full-size report (100k rows, 100k updates, merge of 50k
//! concurrent edits per replica) with local write throughput (column writes
//! per second), merge time and bytes per column write (syncdb: its encoded
//! change batches, the full sync snapshot, and its stored snapshot;
//! Automerge: `save()`), then times
//! smaller sizes with criterion. Both sides apply the same pre-generated
//! writes, and each side's final state is checked against an independent
//! model of the expected rows before anything is timed.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ROOT};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::{ColumnDef, ColumnType, Database, Migration, TableDef, Value, VersionVector};

use unidb_benches::Rng;

const BATCH: usize = 1000;

/// One single-column update.
#[derive(Clone)]
enum Upd {
    Name(String),
    Qty(i64),
    Price(f64),
    Done(bool),
}

/// `n` random single-column updates of rows `0..rows`.
fn updates(rows: usize, n: usize, seed: u64) -> Vec<(usize, Upd)> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let key = r.below(rows as u32) as usize;
            let u = match r.below(4) {
                0 => Upd::Name(format!("renamed {}", r.below(1000))),
                1 => Upd::Qty(r.below(1000) as i64),
                2 => Upd::Price(r.below(10_000) as f64 / 4.0),
                _ => Upd::Done(r.below(2) == 1),
            };
            (key, u)
        })
        .collect()
}

/// The initial row `i`.
fn row(i: usize) -> (String, i64, f64, bool) {
    (
        format!("item {i}"),
        (i % 100) as i64,
        i as f64 * 0.25,
        i % 3 == 0,
    )
}

/// The model: the expected rows after the inserts and `upds` in order.
fn model(rows: usize, upds: &[(usize, Upd)]) -> Vec<(String, i64, f64, bool)> {
    let mut m: Vec<_> = (0..rows).map(row).collect();
    for (k, u) in upds {
        match u {
            Upd::Name(s) => m[*k].0 = s.clone(),
            Upd::Qty(q) => m[*k].1 = *q,
            Upd::Price(p) => m[*k].2 = *p,
            Upd::Done(d) => m[*k].3 = *d,
        }
    }
    m
}

// ---------------------------------------------------------------- syncdb

fn udb_open(id: u64) -> Database {
    let schema = [Migration::AddTable(
        TableDef::new("items", "id", ColumnType::I64)
            .column(ColumnDef::new("name", ColumnType::Text))
            .column(ColumnDef::new("qty", ColumnType::I64))
            .column(ColumnDef::new("price", ColumnType::F64))
            .column(ColumnDef::new("done", ColumnType::Bool)),
    )];
    Database::open(
        ReplicaId::from_u64(id),
        Arc::new(ManualClock::new(1_700_000_000_000)),
        &schema,
    )
    .unwrap()
}

fn udb_insert(db: &Database, rows: usize) {
    for start in (0..rows).step_by(BATCH) {
        let mut tx = db.transaction();
        for i in start..(start + BATCH).min(rows) {
            let (name, qty, price, done) = row(i);
            tx.insert(
                "items",
                [
                    ("id", Value::I64(i as i64)),
                    ("name", Value::Text(name)),
                    ("qty", Value::I64(qty)),
                    ("price", Value::F64(price)),
                    ("done", Value::Bool(done)),
                ],
            );
        }
        tx.commit().unwrap();
    }
}

fn udb_update(db: &Database, upds: &[(usize, Upd)]) {
    for chunk in upds.chunks(BATCH) {
        let mut tx = db.transaction();
        for (k, u) in chunk {
            let (col, v) = match u {
                Upd::Name(s) => ("name", Value::Text(s.clone())),
                Upd::Qty(q) => ("qty", Value::I64(*q)),
                Upd::Price(p) => ("price", Value::F64(*p)),
                Upd::Done(d) => ("done", Value::Bool(*d)),
            };
            tx.update("items", *k as i64, [(col, v)]);
        }
        tx.commit().unwrap();
    }
}

fn udb_bytes(db: &Database) -> usize {
    let all = db.changes_since(&VersionVector::new());
    unidb_syncdb::wire::batches(db.replica(), db.schema_version(), all, 1 << 20)
        .iter()
        .map(|m| m.encode().len())
        .sum()
}

/// Checks every row of `db` against the model.
fn udb_check(db: &Database, want: &[(String, i64, f64, bool)]) {
    let read = db.read();
    assert_eq!(read.count("items").unwrap(), want.len(), "syncdb row count");
    for (i, (name, qty, price, done)) in want.iter().enumerate() {
        let r = read.get("items", &Value::I64(i as i64)).unwrap().unwrap();
        assert_eq!(r["name"], Value::Text(name.clone()), "syncdb row {i}");
        assert_eq!(r["qty"], Value::I64(*qty), "syncdb row {i}");
        assert_eq!(r["price"], Value::F64(*price), "syncdb row {i}");
        assert_eq!(r["done"], Value::Bool(*done), "syncdb row {i}");
    }
}

/// Two replicas holding `rows` rows, each with its half of `upds` made
/// concurrently, and the changes each must receive from the other.
struct UdbMerge {
    a: Database,
    b: Database,
    from_a: Vec<unidb_syncdb::Change>,
    from_b: Vec<unidb_syncdb::Change>,
}

fn udb_merge_setup(rows: usize, upds: &[(usize, Upd)]) -> UdbMerge {
    let a = udb_open(1);
    udb_insert(&a, rows);
    let b = udb_open(2);
    b.apply_changes(a.schema_version(), &a.changes_since(&VersionVector::new()))
        .unwrap();
    let base = a.version_vector();
    let (ua, ub) = upds.split_at(upds.len() / 2);
    udb_update(&a, ua);
    udb_update(&b, ub);
    let from_a = a.changes_since(&base);
    let from_b = b.changes_since(&base);
    UdbMerge {
        a,
        b,
        from_a,
        from_b,
    }
}

fn udb_merge(m: &UdbMerge) {
    m.a.apply_changes(m.a.schema_version(), &m.from_b).unwrap();
    m.b.apply_changes(m.b.schema_version(), &m.from_a).unwrap();
}

// ------------------------------------------------------------- automerge

/// A document with the map `items` of row maps keyed by id, and the row
/// objects (so updates pay no key lookup on this side).
fn am_insert(rows: usize) -> (AutoCommit, Vec<ObjId>) {
    let mut doc = AutoCommit::new();
    let items = doc.put_object(ROOT, "items", ObjType::Map).unwrap();
    let mut objs = Vec::with_capacity(rows);
    for start in (0..rows).step_by(BATCH) {
        for i in start..(start + BATCH).min(rows) {
            let (name, qty, price, done) = row(i);
            let o = doc.put_object(&items, i.to_string(), ObjType::Map).unwrap();
            doc.put(&o, "name", name).unwrap();
            doc.put(&o, "qty", qty).unwrap();
            doc.put(&o, "price", price).unwrap();
            doc.put(&o, "done", done).unwrap();
            objs.push(o);
        }
        doc.commit();
    }
    (doc, objs)
}

fn am_update(doc: &mut AutoCommit, objs: &[ObjId], upds: &[(usize, Upd)]) {
    for chunk in upds.chunks(BATCH) {
        for (k, u) in chunk {
            let o = &objs[*k];
            match u {
                Upd::Name(s) => doc.put(o, "name", s.as_str()),
                Upd::Qty(q) => doc.put(o, "qty", *q),
                Upd::Price(p) => doc.put(o, "price", *p),
                Upd::Done(d) => doc.put(o, "done", *d),
            }
            .unwrap();
        }
        doc.commit();
    }
}

/// Checks every row of `doc` (looked up by key, not by the kept objects)
/// against the model.
fn am_check(doc: &AutoCommit, want: &[(String, i64, f64, bool)]) {
    let (_, items) = doc.get(ROOT, "items").unwrap().unwrap();
    assert_eq!(doc.length(&items), want.len(), "automerge row count");
    for (i, (name, qty, price, done)) in want.iter().enumerate() {
        let (_, o) = doc.get(&items, i.to_string()).unwrap().unwrap();
        let get = |c: &str| doc.get(&o, c).unwrap().unwrap().0;
        assert_eq!(
            get("name").as_str(),
            Some(name.as_str()),
            "automerge row {i}"
        );
        assert_eq!(get("qty").as_i64(), Some(*qty), "automerge row {i}");
        assert_eq!(get("price").as_f64(), Some(*price), "automerge row {i}");
        assert_eq!(get("done").as_bool(), Some(*done), "automerge row {i}");
    }
}

fn am_merge_setup(rows: usize, upds: &[(usize, Upd)]) -> (AutoCommit, AutoCommit) {
    let (mut a, objs) = am_insert(rows);
    let mut b = a.fork();
    let (ua, ub) = upds.split_at(upds.len() / 2);
    am_update(&mut a, &objs, ua);
    am_update(&mut b, &objs, ub);
    (a, b)
}

fn am_merge(a: &mut AutoCommit, b: &mut AutoCommit) {
    a.merge(b).unwrap();
    b.merge(a).unwrap();
}

// ---------------------------------------------------------------- report

/// Writes `rows` rows and `n` updates on each side, checks both, merges
/// `n / 2` concurrent edits per replica, checks convergence; prints one
/// table row per figure.
fn report(rows: usize, n: usize) {
    let upds = updates(rows, n, 0x5EED);
    let want = model(rows, &upds);
    let writes = rows * 4 + n;

    let t = Instant::now();
    let db = udb_open(1);
    udb_insert(&db, rows);
    udb_update(&db, &upds);
    let udb_write_s = t.elapsed().as_secs_f64();
    udb_check(&db, &want);
    let udb_bpw = udb_bytes(&db) as f64 / writes as f64;
    let udb_snap = db.save_snapshot().len() as f64 / writes as f64;
    drop(db);

    let t = Instant::now();
    let (mut doc, objs) = am_insert(rows);
    am_update(&mut doc, &objs, &upds);
    let am_write_s = t.elapsed().as_secs_f64();
    am_check(&doc, &want);
    let am_bpw = doc.save().len() as f64 / writes as f64;
    drop(doc);

    // Merge: concurrent halves; the merged state holds both halves, and
    // where both wrote one cell the two replicas must agree.
    let m = udb_merge_setup(rows, &upds);
    let t = Instant::now();
    udb_merge(&m);
    let udb_merge_s = t.elapsed().as_secs_f64();
    assert!(
        m.a.read().dump() == m.b.read().dump(),
        "syncdb replicas diverge"
    );
    assert_eq!(m.a.read().count("items").unwrap(), rows);

    let (mut a, mut b) = am_merge_setup(rows, &upds);
    let t = Instant::now();
    am_merge(&mut a, &mut b);
    let am_merge_s = t.elapsed().as_secs_f64();
    let mut ha = a.get_heads();
    let mut hb = b.get_heads();
    ha.sort();
    hb.sort();
    assert_eq!(ha, hb, "automerge replicas diverge");
    // Cells written by one side only must hold that side's last value.
    let (ua, ub) = upds.split_at(upds.len() / 2);
    let mut last: BTreeMap<(usize, u8), (bool, Upd)> = BTreeMap::new();
    let col = |u: &Upd| match u {
        Upd::Name(_) => 0u8,
        Upd::Qty(_) => 1,
        Upd::Price(_) => 2,
        Upd::Done(_) => 3,
    };
    let mut both = std::collections::BTreeSet::new();
    for (side, half) in [(false, ua), (true, ub)] {
        for (k, u) in half {
            if let Some((s, _)) = last.get(&(*k, col(u))) {
                if *s != side {
                    both.insert((*k, col(u)));
                }
            }
            last.insert((*k, col(u)), (side, u.clone()));
        }
    }
    let (_, items) = a.get(ROOT, "items").unwrap().unwrap();
    let read = m.a.read();
    let mut checked = 0;
    for ((k, c), (_, u)) in last.iter().filter(|(kc, _)| !both.contains(kc)).step_by(97) {
        let (_, o) = a.get(&items, k.to_string()).unwrap().unwrap();
        let r = read.get("items", &Value::I64(*k as i64)).unwrap().unwrap();
        let (name, v) = ["name", "qty", "price", "done"]
            .iter()
            .map(|n| (*n, a.get(&o, *n).unwrap().unwrap().0))
            .nth(*c as usize)
            .unwrap();
        let ok = match u {
            Upd::Name(s) => v.as_str() == Some(s) && r[name] == Value::Text(s.clone()),
            Upd::Qty(q) => v.as_i64() == Some(*q) && r[name] == Value::I64(*q),
            Upd::Price(p) => v.as_f64() == Some(*p) && r[name] == Value::F64(*p),
            Upd::Done(d) => v.as_bool() == Some(*d) && r[name] == Value::Bool(*d),
        };
        assert!(ok, "merged cell ({k}, {name}) lost its only write");
        checked += 1;
    }
    assert!(checked > 0);

    let udb_wps = writes as f64 / udb_write_s;
    let am_wps = writes as f64 / am_write_s;
    println!(
        "\nsync workload: {rows} rows x 4 columns + {n} single-column updates \
         ({writes} column writes, commits of {BATCH}); merge of {} + {} concurrent edits\n",
        ua.len(),
        ub.len()
    );
    println!("| figure | unidb-syncdb | automerge | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| local writes (column writes/s) | {udb_wps:.0} | {am_wps:.0} | {:.1}x |",
        udb_wps / am_wps
    );
    println!(
        "| merge, both directions (ms) | {:.1} | {:.1} | {:.1}x |",
        udb_merge_s * 1e3,
        am_merge_s * 1e3,
        am_merge_s / udb_merge_s
    );
    println!(
        "| bytes per column write (sync batches) | {udb_bpw:.2} | {am_bpw:.2} | {:.2}x |",
        am_bpw / udb_bpw
    );
    println!(
        "| bytes per column write (stored snapshot) | {udb_snap:.2} | {am_bpw:.2} | {:.2}x |\n",
        am_bpw / udb_snap
    );
}

// ------------------------------------------------------------- criterion

fn bench(c: &mut Criterion) {
    let full = std::env::var("UNIDB_SYNC_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000usize);
    report(full, full);

    let (rows, n) = (10_000, 10_000);
    let upds = updates(rows, n, 0xBEEF);
    let mut g = c.benchmark_group("sync_write_10k");
    g.throughput(Throughput::Elements((rows * 4 + n) as u64));
    g.bench_function("unidb", |b| {
        b.iter(|| {
            let db = udb_open(1);
            udb_insert(&db, rows);
            udb_update(&db, black_box(&upds));
            db
        })
    });
    g.bench_function("automerge", |b| {
        b.iter(|| {
            let (mut doc, objs) = am_insert(rows);
            am_update(&mut doc, &objs, black_box(&upds));
            doc
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sync_merge_10k");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("unidb", |b| {
        b.iter_batched(
            || udb_merge_setup(rows, &upds),
            |m| {
                udb_merge(&m);
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("automerge", |b| {
        b.iter_batched(
            || am_merge_setup(rows, &upds),
            |(mut a, mut bb)| {
                am_merge(&mut a, &mut bb);
                (a, bb)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
