//! `fbits`: the IEEE bits of floats as `i64`, handed to an integer child
//! (e.g. `delta(for)`).

use unidb_registry::{plugin_info, submit};

use crate::builtin::{child_ints, Dec, Enc};
use crate::io::Reader;
use crate::{Codec, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

submit!(Codec {
    info: plugin_info!(
        "fbits",
        "float bits as integers into an integer child stage (e.g. delta then bit-packing)"
    ),
    accepts: &[DataKind::Float],
    cost: Cost::Fast,
    encode: fbits_enc,
    decode: fbits_dec,
});

fn fbits_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Float(x) = v else {
        return Ok(false);
    };
    if x.is_empty() {
        return Ok(false);
    }
    let bits = x.iter().map(|f| f.to_bits() as i64).collect();
    ctx.child(&Values::Int(bits), out)?;
    Ok(true)
}

fn fbits_dec(r: &mut Reader<'_>, _: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let bits = child_ints(r, ctx, count)?;
    // Same size and alignment: the collect reuses the allocation.
    Ok(Values::Float(
        bits.into_iter().map(|b| f64::from_bits(b as u64)).collect(),
    ))
}
