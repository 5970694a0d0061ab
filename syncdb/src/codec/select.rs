//! Automatic codec selection: try the candidates on a sample, keep the
//! smallest, then encode the whole stream with it.

use unidb_registry::PluginKind;

use super::{Codec, CodecError, Cost, Effort, EncodeCtx, Values};

/// Values per sampled run.
const RUN: usize = 64;
/// Streams up to this size are their own sample.
const WHOLE: usize = 10 * RUN;

/// Bytes per window of a sample of long byte strings.
const WINDOW: usize = 1024;
/// Windows in such a sample.
const WINDOWS: usize = 16;

/// About 1% of a full block (or all of a small one): ten runs of 64
/// consecutive values spread evenly, so runs and deltas stay visible. A
/// few long byte strings (a byte-stream split's planes, blobs) are sampled
/// as sixteen 1 KiB windows spread over their bytes.
fn sample(values: &Values) -> Option<Values> {
    let n = values.len();
    if n <= WHOLE {
        return match values {
            Values::Bytes(b) => byte_windows(b),
            _ => None,
        };
    }
    let runs = 10;
    let step = (n - RUN) / (runs - 1);
    let mut out: Option<Values> = None;
    for i in 0..runs {
        let start = i * step;
        let part = values.slice(start..start + RUN);
        match &mut out {
            None => out = Some(part),
            Some(v) => v.extend(part),
        }
    }
    out
}

/// Sixteen windows of [`WINDOW`] bytes spread evenly over the bytes of
/// `items` (a window ends early at the end of its item); `None` when they
/// hold fewer than four times that.
pub(super) fn byte_windows(items: &[Vec<u8>]) -> Option<Values> {
    let total: usize = items.iter().map(Vec::len).sum();
    if total < 4 * WINDOWS * WINDOW {
        return None;
    }
    let step = (total - WINDOW) / (WINDOWS - 1);
    let mut out = Vec::with_capacity(WINDOWS);
    // Walk the items once: `skipped` bytes lie before item `i`.
    let (mut i, mut skipped) = (0usize, 0usize);
    for k in 0..WINDOWS {
        let at = k * step;
        while at >= skipped + items[i].len() {
            skipped += items[i].len();
            i += 1;
        }
        let item = &items[i][at - skipped..];
        out.push(item[..item.len().min(WINDOW)].to_vec());
    }
    Some(Values::Bytes(out))
}

/// The size a cascade is ranked by: its encoded size, plus a share for the
/// slowest decode class among its stages. This is the selection's speed
/// floor: a cascade with a [`Cost::Medium`] stage (byte- or
/// table-at-a-time) must be more than 12% smaller than an all-[`Cost::Fast`]
/// one to be chosen, one with a [`Cost::Slow`] stage more than 25%. Judging
/// the whole cascade keeps a slow stage nested under fast ones from
/// slipping under the floor.
fn weighted(size: usize, cost: Cost) -> usize {
    match cost {
        Cost::Fast => size,
        Cost::Medium => size + size * 12 / 100,
        Cost::Slow => size + size / 4,
    }
}

/// One contiguous run of the sample's size from the middle of the stream:
/// codecs that model the position of a value (a line through the values)
/// cannot be judged on concatenated runs.
fn contiguous(values: &Values) -> Option<Values> {
    let n = values.len();
    if n <= WHOLE || values.kind() != super::DataKind::Int {
        return None;
    }
    let start = (n - WHOLE) / 2;
    Some(values.slice(start..start + WHOLE))
}

/// Writes one node (name, then payload) with `codec`; `Ok(None)` when the
/// codec does not fit the values. Returns the node's cascade description
/// and the slowest decode class among its stages.
pub(super) fn try_codec(
    codec: &Codec,
    values: &Values,
    stages: u8,
    effort: Effort,
    out: &mut Vec<u8>,
) -> Result<Option<(String, Cost)>, CodecError> {
    let start = out.len();
    let name = codec.info.name;
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    let mut ctx = EncodeCtx::new(stages, effort);
    match (codec.encode)(values, &mut ctx, out) {
        Ok(true) => {
            let desc = if ctx.children.is_empty() {
                name.to_owned()
            } else {
                format!("{name}({})", ctx.children.join(","))
            };
            Ok(Some((desc, codec.cost.max(ctx.slowest))))
        }
        Ok(false) | Err(CodecError::NoStagesLeft) => {
            out.truncate(start);
            Ok(None)
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn candidates(values: &Values, effort: Effort) -> Vec<&'static Codec> {
    let kind = values.kind();
    Codec::registry()
        .list()
        .into_iter()
        .filter(|c| c.accepts(kind) && effort.allows(c.cost) && c.info.name.len() <= 255)
        .collect()
}

pub(super) fn plain() -> &'static Codec {
    Codec::registry()
        .get("plain")
        .expect("the built-in plain codec is registered")
}

/// Encodes `values` as one node with at most `stages` stages, choosing the
/// codec automatically. Returns the cascade description and its slowest
/// decode class.
pub(super) fn encode_node(
    values: &Values,
    stages: u8,
    effort: Effort,
    out: &mut Vec<u8>,
) -> Result<(String, Cost), CodecError> {
    let plain = plain();
    let mut plain_node = Vec::new();
    try_codec(plain, values, 1, effort, &mut plain_node)?;
    if values.is_empty() {
        out.extend_from_slice(&plain_node);
        return Ok((plain.info.name.to_owned(), plain.cost));
    }
    let sample = sample(values);
    let probe = sample.as_ref().unwrap_or(values);
    let contiguous = contiguous(values);
    // (size on the probe, codec, the full encoding when the probe was the
    // whole stream)
    type Ranked = (usize, &'static Codec, Option<(Vec<u8>, String, Cost)>);
    let mut ranked: Vec<Ranked> = Vec::new();
    for codec in candidates(values, effort) {
        if std::ptr::eq(codec, plain) {
            continue;
        }
        let mut buf = Vec::new();
        if let Some((desc, cost)) = try_codec(codec, probe, stages, effort, &mut buf)? {
            let mut rank = weighted(buf.len(), cost);
            // Integers: the better of the spread runs and one contiguous run.
            if let Some(c) = &contiguous {
                let mut other = Vec::new();
                if let Some((_, cost)) = try_codec(codec, c, stages, effort, &mut other)? {
                    rank = rank.min(weighted(other.len(), cost));
                }
            }
            ranked.push((rank, codec, sample.is_none().then_some((buf, desc, cost))));
        } else if let Some(c) = &contiguous {
            let mut other = Vec::new();
            if let Some((_, cost)) = try_codec(codec, c, stages, effort, &mut other)? {
                ranked.push((weighted(other.len(), cost), codec, None));
            }
        }
    }
    ranked.sort_by_key(|(size, c, _)| (*size, c.info.name));
    // A codec that fit the sample may not fit the whole stream (one value,
    // dictionary size), and a sample misjudges some data: the two best
    // candidates that fit are encoded in full and the smaller kept.
    let mut best: Option<(usize, Vec<u8>, String, Cost)> = None;
    let mut tried = 0;
    let lead = ranked.first().map_or(0, |r| r.0);
    for (size, codec, done) in ranked {
        // A runner-up is worth a full encoding only when the sample saw it
        // within a quarter of the leader.
        if tried == 1 && size > lead + lead / 4 {
            break;
        }
        let (buf, desc, cost) = match done {
            Some(d) => d,
            None => {
                let mut buf = Vec::new();
                match try_codec(codec, values, stages, effort, &mut buf)? {
                    Some((desc, cost)) => (buf, desc, cost),
                    None => continue,
                }
            }
        };
        let w = weighted(buf.len(), cost);
        if best.as_ref().is_none_or(|(b, _, _, _)| w < *b) {
            best = Some((w, buf, desc, cost));
        }
        tried += 1;
        if tried == 2 || sample.is_none() {
            break;
        }
    }
    match best {
        Some((w, buf, desc, cost)) if w < plain_node.len() => {
            out.extend_from_slice(&buf);
            Ok((desc, cost))
        }
        _ => {
            out.extend_from_slice(&plain_node);
            Ok((plain.info.name.to_owned(), plain.cost))
        }
    }
}
