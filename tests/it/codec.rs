//! syncdb codecs: a codec registered from this (user) crate takes part in
//! the automatic selection and is chosen when it is the best.

use unidb_codec::{
    decode_column, decode_values, encode_column, encode_with, Codec, CodecError, Column,
    ColumnKind, Cost, DataKind, DecodeCtx, Effort, EncodeCtx, Reader, Values,
};
use unidb_registry::{plugin_info, submit, PluginKind};

/// Columns of perfect squares `start², (start+1)², ...`: only `start` is
/// stored. Delta-of-delta would need a constant child stream; this is
/// smaller still.
fn squares_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Result<bool, CodecError> {
    let Values::Int(x) = v else { return Ok(false) };
    let Some(&first) = x.first() else {
        return Ok(false);
    };
    let start = (first as f64).sqrt() as i64;
    let fits = x.iter().enumerate().all(|(i, &v)| {
        let k = start + i as i64;
        k.checked_mul(k) == Some(v)
    });
    if !fits {
        return Ok(false);
    }
    out.push(start as u8);
    Ok(start < 256)
}

fn squares_dec(
    r: &mut Reader<'_>,
    _: DataKind,
    count: usize,
    _: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    let start = i64::from(r.u8("squares start")?);
    Ok(Values::Int(
        (0..count as i64)
            .map(|i| (start + i) * (start + i))
            .collect(),
    ))
}

submit!(Codec {
    info: plugin_info!("it-squares", "consecutive perfect squares (test codec)"),
    accepts: &[DataKind::Int],
    cost: Cost::Fast,
    encode: squares_enc,
    decode: squares_dec,
});

#[test]
fn user_codec_is_registered_and_selected_when_best() {
    assert!(Codec::registry().contains("it-squares"));
    // 600 values: the selection's sample is the whole stream (longer
    // streams are sampled in runs of 64, which a codec relying on the
    // global order of values would not fit).
    let squares: Vec<i64> = (3..603i64).map(|k| k * k).collect();
    let col = Column::new(ColumnKind::Int, Values::Int(squares.clone())).unwrap();
    for effort in [Effort::Fast, Effort::Max] {
        let enc = encode_column(&col, effort).unwrap();
        assert_eq!(enc.cascades, vec!["it-squares".to_owned()]);
        assert_eq!(decode_column(&enc.bytes).unwrap(), col);
        // It is chosen because it is smaller than the best built-in cascade.
        let mine = encode_with("it-squares", col.values(), effort)
            .unwrap()
            .unwrap();
        let dod = encode_with("dod", col.values(), effort).unwrap().unwrap();
        assert!(
            mine.len() < dod.len(),
            "{} vs dod {}",
            mine.len(),
            dod.len()
        );
    }
    // Where it does not fit, the built-ins are chosen.
    let other = Column::new(ColumnKind::Int, Values::Int((0..3000).collect())).unwrap();
    let enc = encode_column(&other, Effort::Max).unwrap();
    assert!(
        !enc.cascades[0].contains("it-squares"),
        "{:?}",
        enc.cascades
    );
    assert_eq!(decode_column(&enc.bytes).unwrap(), other);
    // The decoder finds the user codec by the name in the stream.
    let bytes = encode_with(
        "it-squares",
        &Values::Int(squares[..10].to_vec()),
        Effort::Max,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        decode_values(&bytes, DataKind::Int, 10).unwrap(),
        Values::Int(squares[..10].to_vec())
    );
}
