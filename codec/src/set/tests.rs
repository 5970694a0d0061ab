use super::*;
use crate::{
    decode_column, encode_column, encode_with, CascadeCache, Column, ColumnKind, Cost, DataKind,
    Effort, Values,
};

/// The value only the test codec `z` takes: a run of it encodes to the
/// name alone (two bytes), smaller than any built-in cascade.
const MAGIC_VALUE: i64 = 7_777_777_777;

unidb_registry::submit!(Codec {
    info: unidb_registry::plugin_info!("z", "test: runs of one magic value"),
    accepts: &[DataKind::Int],
    cost: Cost::Fast,
    encode: |v, _, _| Ok(matches!(v, Values::Int(x) if x.iter().all(|&x| x == MAGIC_VALUE))),
    decode: |_, _, count, _| Ok(Values::Int(vec![MAGIC_VALUE; count])),
});

fn magic_column(n: usize) -> Column {
    Column::new(ColumnKind::Int, Values::Int(vec![MAGIC_VALUE; n])).unwrap()
}

/// Columns of every kind, with nulls, several blocks for one.
fn columns() -> Vec<Column> {
    let ints: Vec<i64> = (0..200_000).map(|i| (i * 7) % 1000 + i / 3).collect();
    let floats: Vec<f64> = (0..5000).map(|i| f64::from(i) * 0.25).collect();
    let text: Vec<String> = (0..3000).map(|i| format!("user-{}", i % 40)).collect();
    let mask: Vec<bool> = (0..3000).map(|i| i % 5 != 0).collect();
    let present: Vec<String> = text
        .iter()
        .zip(&mask)
        .filter(|(_, m)| **m)
        .map(|(t, _)| t.clone())
        .collect();
    vec![
        Column::new(ColumnKind::Int, Values::Int(ints)).unwrap(),
        Column::new(ColumnKind::Float, Values::Float(floats)).unwrap(),
        Column::with_validity(ColumnKind::Text, Values::Text(present), Some(mask)).unwrap(),
        magic_column(5000),
    ]
}

/// The built-in list names exactly the codecs this crate registers (a
/// codec added without listing it would be assumed missing from peers
/// that have it, never the reverse).
#[test]
fn builtin_list_is_what_the_crate_registers() {
    let mut ours: Vec<&str> = Codec::registry()
        .list()
        .into_iter()
        .filter(|c| c.info.crate_name == "unidb-codec" && !c.info.module.contains("::tests"))
        .map(|c| c.info.name)
        .collect();
    ours.sort_unstable();
    assert_eq!(ours, BUILTIN_CODECS);
    assert!(CodecSet::builtin().contains("PLAIN"));
    assert!(!CodecSet::builtin().contains("z"));
}

#[test]
fn sets_hold_plain_and_intersect() {
    let a = CodecSet::of(["For", "delta", "q"]);
    assert!(a.contains("for") && a.contains("FOR") && a.contains("plain"));
    assert!(!a.contains("dict"));
    assert_eq!(a.names(), ["delta", "for", "plain", "q"]);
    let b = CodecSet::of(["delta", "q", "rle"]);
    assert_eq!(a.intersection(&b).names(), ["delta", "plain", "q"]);
    // `all` intersected with a set: the registered codecs of the set.
    assert_eq!(
        CodecSet::all().intersection(&a).names(),
        ["delta", "for", "plain"]
    );
    assert!(CodecSet::all().intersection(&CodecSet::all()).is_all());
    assert_eq!(a.missing(["q", "x", "plain", "x"]), ["x"]);
    let no_z = CodecSet::all_except(["Z"]);
    assert!(!no_z.contains("z") && no_z.contains("for") && no_z.contains("plain"));
}

/// The test codec wins its column when allowed; inside a scope without
/// it the selection never chooses it, and the column still decodes.
#[test]
fn the_scope_keeps_a_codec_out_of_the_selection() {
    let col = magic_column(5000);
    let free = encode_column(&col, Effort::Max).unwrap();
    assert_eq!(free.codecs, ["z"], "{:?}", free.cascades);
    for set in [CodecSet::builtin(), CodecSet::all_except(["z"])] {
        let enc = with_codecs(&set, || encode_column(&col, Effort::Max)).unwrap();
        assert!(!enc.codecs.contains(&"z"), "{:?}", enc.cascades);
        assert_eq!(decode_column(&enc.bytes).unwrap(), col);
        // Remembered cascades are filtered too: a cache that learned `z`
        // outside the scope does not replay it inside.
        let mut cache = CascadeCache::new(4);
        let learned = cache.encode_column("k", &col, Effort::Max).unwrap();
        assert_eq!(learned.codecs, ["z"]);
        let replayed = with_codecs(&set, || cache.encode_column("k", &col, Effort::Max)).unwrap();
        assert!(!replayed.codecs.contains(&"z"), "{:?}", replayed.cascades);
        assert_eq!(decode_column(&replayed.bytes).unwrap(), col);
    }
    // Naming it explicitly inside the scope is refused as well.
    let refused = with_codecs(&CodecSet::builtin(), || {
        encode_with("z", col.values(), Effort::Max)
    });
    assert!(matches!(refused, Err(CodecError::UnknownCodec { .. })));
    // The scope ends with the closure.
    assert!(current_codecs().is_all());
}

/// `Encoded::codecs` is exactly what a reader needs: a reader holding
/// those decodes the column, a reader lacking any one of them refuses it
/// with an error naming that codec.
#[test]
fn encoded_codecs_are_what_decoding_needs() {
    for set in [
        CodecSet::all(),
        CodecSet::of(["for", "delta", "dict", "rle"]),
    ] {
        for col in columns() {
            let enc = with_codecs(&set, || encode_column(&col, Effort::Max)).unwrap();
            assert!(
                enc.codecs.iter().all(|c| set.contains(c)),
                "{:?}",
                enc.codecs
            );
            let exact = CodecSet::of(enc.codecs.iter().copied());
            assert_eq!(
                with_codecs(&exact, || decode_column(&enc.bytes)).unwrap(),
                col
            );
            for &gone in enc.codecs.iter().filter(|&&c| c != PLAIN) {
                let lacking = CodecSet::of(enc.codecs.iter().copied().filter(|&c| c != gone));
                match with_codecs(&lacking, || decode_column(&enc.bytes)) {
                    Err(CodecError::UnknownCodec {
                        source: RegistryError::Unknown { name, known, .. },
                        ..
                    }) => {
                        assert_eq!(name, gone);
                        assert!(!known.contains(&gone));
                    }
                    other => panic!("decoding without {gone}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn scopes_nest_and_restore_after_a_panic() {
    let outer = CodecSet::of(["for"]);
    with_codecs(&outer, || {
        with_codecs(&CodecSet::of(["rle"]), || {
            assert!(current_codecs().contains("rle") && !current_codecs().contains("for"));
        });
        assert_eq!(current_codecs(), outer);
        let caught = std::panic::catch_unwind(|| {
            with_codecs(&CodecSet::builtin(), || panic!("inside"));
        });
        assert!(caught.is_err());
        assert_eq!(current_codecs(), outer);
    });
    assert!(current_codecs().is_all());
}

/// Integers whose deltas are geometric (mostly tiny, now and then large):
/// the entropy stage wins on them.
fn skewed_column() -> Column {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let v: Vec<i64> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Geometric, with a few values far out: bins + entropy coding.
            let tz = i64::from((x | (1 << 40)).trailing_zeros() as u8);
            if x.is_multiple_of(97) {
                1000 + (x >> 50) as i64
            } else {
                tz
            }
        })
        .collect();
    Column::new(ColumnKind::Int, Values::Int(v)).unwrap()
}

/// A set travels as names with formats; a reader of an older format of
/// `ans` is never sent the newer one, and refuses it if it gets it.
#[test]
fn formats_travel_with_names_and_older_readers_get_older_formats() {
    assert_eq!(format_of("ans"), 2);
    assert_eq!(format_of("ANS"), 2);
    assert_eq!(format_of("for"), 1);
    let wire = CodecSet::builtin().wire_names();
    assert!(wire.contains(&"ans@2".to_owned()), "{wire:?}");
    assert!(wire.contains(&"for".to_owned()), "{wire:?}");
    assert_eq!(CodecSet::from_wire(&wire), CodecSet::builtin());
    assert_eq!(
        CodecSet::from_wire(CodecSet::all().wire_names()).format("ans"),
        Some(2)
    );
    // A bare name on the wire is format 1; locally, this process's format.
    let old = CodecSet::from_wire(BUILTIN_CODECS);
    assert_eq!(old.format("ans"), Some(1));
    assert_eq!(CodecSet::of(["ans"]).format("ans"), Some(2));
    assert!(old.decodes("ans", 1) && !old.decodes("ans", 2));
    assert_eq!(
        old.intersection(&CodecSet::builtin()).format("ans"),
        Some(1)
    );
    assert_eq!(old.missing(["ans@2", "ans", "for", "q"]), ["ans@2", "q"]);
    // A suffix that is no format keeps the token whole (no codec has it).
    assert_eq!(
        CodecSet::from_wire(["for@x", "for@0"]).names(),
        ["for@0", "for@x", "plain"]
    );

    let col = skewed_column();
    let enc = encode_column(&col, Effort::Max).unwrap();
    assert!(
        enc.codecs.contains(&"ans"),
        "precondition: {:?}",
        enc.codecs
    );
    // An older reader refuses the newer format, naming the codec...
    let err = with_codecs(&old, || decode_column(&enc.bytes)).unwrap_err();
    assert!(err.to_string().contains("ans"), "{err}");
    // ...and a writer for it does without `ans`; both readers decode that.
    let for_old = with_codecs(&old, || encode_column(&col, Effort::Max)).unwrap();
    assert!(!for_old.codecs.contains(&"ans"), "{:?}", for_old.codecs);
    assert_eq!(
        with_codecs(&old, || decode_column(&for_old.bytes)).unwrap(),
        col
    );
    assert_eq!(decode_column(&for_old.bytes).unwrap(), col);
    let current = CodecSet::from_wire(&wire);
    assert_eq!(
        with_codecs(&current, || decode_column(&enc.bytes)).unwrap(),
        col
    );
}
