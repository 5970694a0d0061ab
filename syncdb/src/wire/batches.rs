//! Splitting a change list into size-bounded [`Message::Changes`] batches.

use unidb_common::id::ReplicaId;

use crate::change::Change;
use crate::columnar;

use super::{encode_changes_message, encoded_change_len, Message};

/// Bytes of a change batch message besides its changes in the per-change
/// form: header, sender, schema version, collected count, change count,
/// flags, padding length and checksum, at their largest.
const BATCH_OVERHEAD: usize = 4 + 10 + 5 + 1 + 10 + 1 + 1 + 4;

/// Splits `changes` into [`Message::Changes`] batches whose encodings hold
/// at most `max_bytes` each (a single change larger than that goes alone).
///
/// The columnar encoding is not additive, so the split is searched: a first
/// guess from the per-change sizes, then growing or bisecting on the
/// encoded size, keeping the largest prefix found that fits.
pub fn batches(
    sender: ReplicaId,
    schema_version: u32,
    changes: Vec<Change>,
    max_bytes: usize,
) -> Vec<Message> {
    let enc = &mut columnar::BatchEncoder::uncached();
    split(enc, sender, schema_version, changes, max_bytes, false)
        .into_iter()
        .map(|(m, _)| m)
        .collect()
}

/// [`batches`] encoded with `enc`: each message with its encoding (the
/// last trial of the size search, not encoded again).
pub fn batches_with(
    enc: &mut columnar::BatchEncoder,
    sender: ReplicaId,
    schema_version: u32,
    changes: Vec<Change>,
    max_bytes: usize,
) -> Vec<(Message, Vec<u8>)> {
    split(enc, sender, schema_version, changes, max_bytes, true)
}

/// [`batches_with`]; the encodings are left empty unless `keep`.
fn split(
    enc: &mut columnar::BatchEncoder,
    sender: ReplicaId,
    schema_version: u32,
    changes: Vec<Change>,
    max_bytes: usize,
    keep: bool,
) -> Vec<(Message, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = changes;
    let message = |changes: Vec<Change>| Message::Changes {
        sender,
        schema_version,
        changes,
        collected: Vec::new(),
    };
    let mut encode =
        |part: &[Change]| encode_changes_message(sender, schema_version, part, &[], enc);
    // Changes per batch that fitted last time.
    let mut hint: Option<usize> = None;
    while !rest.is_empty() {
        let total = rest.len();
        // A batch is never larger than its changes in the per-change form
        // plus the framing, so the prefix that fits that way needs no trial.
        let mut size = BATCH_OVERHEAD;
        let mut safe = 0;
        while safe < total && size + encoded_change_len(&rest[safe]) <= max_bytes {
            size += encoded_change_len(&rest[safe]);
            safe += 1;
        }
        if safe == total {
            let bytes = if keep { encode(&rest) } else { Vec::new() };
            out.push((message(rest), bytes));
            break;
        }
        let mut n = match hint {
            Some(h) if h > safe => h.min(total),
            _ => (safe * 2).max(safe + 1).min(total),
        };
        // Largest size known to fit, smallest known not to.
        let mut fit = safe;
        let mut fail = total + 1;
        // The encoding of the largest prefix found to fit (a session's
        // encoder may encode the same prefix differently next time).
        let mut fitting: Option<(usize, Vec<u8>)> = None;
        loop {
            let bytes = encode(&rest[..n]);
            let size = bytes.len();
            let next = if size <= max_bytes || n == 1 {
                fit = n;
                fitting = Some((n, bytes));
                if n == total {
                    break;
                }
                let grown = (n as u128 * max_bytes as u128 / size.max(1) as u128) as usize;
                grown.max(n + 1).min(fail - 1).min(total)
            } else {
                fail = n;
                let shrunk = (n as u128 * max_bytes as u128 * 15 / 16 / size as u128) as usize;
                shrunk.min(n - 1).max(fit + 1).max(1)
            };
            // Stop once the bracket is within 1/16 of the fitting size.
            if next <= fit || next >= fail || (fit > 0 && fail - fit <= (fit / 16).max(1)) {
                break;
            }
            n = if fit > 0 && fail <= total {
                // Bisect once both ends are known.
                (fit + fail) / 2
            } else {
                next
            };
        }
        let fit = fit.max(1);
        hint = Some(fit);
        let tail = rest.split_off(fit);
        let bytes = match fitting {
            Some((n, bytes)) if n == fit => bytes,
            _ if keep => encode(&rest),
            _ => Vec::new(),
        };
        out.push((message(rest), bytes));
        rest = tail;
    }
    out
}
