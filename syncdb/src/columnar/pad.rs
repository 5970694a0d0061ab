//! Padding: what decoding a batch will charge, and the zero bytes that
//! make its length's decode budget cover that, so every batch written
//! decodes.

use unidb_codec::{self as codec, BLOCK_VALUES};
use unidb_kernels::varint;

use crate::change::{Change, ChangeOp};
use unidb_common::value::Value;

use super::decode::decode_changes_in;
use super::{CHANGE_COST, MAX_CHANGES_PER_BYTE};

/// Least body length (before padding) that lets a decoder accept `n` changes.
fn min_len(n: usize) -> usize {
    n.saturating_sub(BLOCK_VALUES)
        .div_ceil(MAX_CHANGES_PER_BYTE)
}

/// Bytes `v` takes in a value column at most, before a codec's
/// intermediate streams: its type tag, a slot and its content.
fn value_raw(v: &Value) -> usize {
    9 + match v {
        Value::Text(s) => codec::io::value_bytes(codec::DataKind::Text) + s.len(),
        Value::Bytes(b) => codec::io::value_bytes(codec::DataKind::Bytes) + b.len(),
        _ => 8,
    }
}

/// An upper bound of what decoding a batch of `changes` charges: per
/// change [`CHANGE_COST`], and its columns (four integers, the key, the
/// value or counts, the order) at most [`codec::COST_MARGIN`] times their
/// size.
fn cost_bound(changes: &[Change]) -> usize {
    changes
        .iter()
        .map(|c| {
            let op = match &c.op {
                ChangeOp::Set { value, .. } => value_raw(value),
                _ => 18,
            };
            CHANGE_COST + codec::COST_MARGIN * (5 * 9 + value_raw(&c.key) + op)
        })
        .fold(0usize, usize::saturating_add)
}

/// Closes a batch body with its padding: enough that a decoder accepts
/// its change count ([`MAX_CHANGES_PER_BYTE`]) and that decoding it stays
/// within the decode [`Budget`](codec::Budget) of its length (measured by
/// decoding it when the cheap bound does not show that already).
pub(super) fn finish(body: Vec<u8>, changes: &[Change]) -> Vec<u8> {
    let n = changes.len();
    let pad_to = |mut body: Vec<u8>, need: usize| {
        // The padding's length varint takes at least one byte.
        let mut pad = need.saturating_sub(body.len() + 1);
        while body.len() + varint_len(pad as u64) + pad < need {
            pad += 1;
        }
        varint::encode_u64(pad as u64, &mut body);
        body.resize(body.len() + pad, 0);
        body
    };
    let body_len = body.len();
    let out = pad_to(body, min_len(n));
    if cost_bound(changes) <= codec::Budget::limit_for(out.len()) {
        return out;
    }
    let mut budget = codec::Budget::unlimited();
    let cost = match decode_changes_in(&out, 0, &mut budget) {
        Ok(_) => budget.used(),
        // Unreachable for the built-in codecs; the decoder reports it.
        Err(_) => return out,
    };
    let need = codec::Budget::input_for(cost).max(min_len(n));
    if out.len() >= need {
        return out;
    }
    let mut body = out;
    body.truncate(body_len);
    pad_to(body, need)
}

pub(super) fn varint_len(v: u64) -> usize {
    varint::encoded_len_u64(v)
}
