//! Automatic codec selection: try the candidates on a sample, keep the
//! smallest, then encode the whole stream with it.

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use unidb_registry::PluginKind;

use super::set::{admits, current_codecs};
use super::{Codec, CodecError, Cost, DataKind, Effort, EncodeCtx, Values};

#[cfg(test)]
mod tests;

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
/// one to be chosen, but that share is capped at half a bit per value (of
/// the `n` values encoded), so that an entropy stage that wins bits on
/// every value of a well-compressed stream is not thrown away for a 12%
/// it mostly does not cost; one with a [`Cost::Slow`] stage must be more
/// than 25% smaller. Judging the whole cascade keeps a slow stage nested
/// under fast ones from slipping under the floor.
fn weighted(size: usize, cost: Cost, n: usize) -> usize {
    match cost {
        Cost::Fast => size,
        Cost::Medium => size + (size * 12 / 100).min(n.div_ceil(16)),
        Cost::Slow => size + size / 4,
    }
}

/// Whether `cascade` has a stage that writes a table in its header (an
/// entropy coder): its size on a small probe overstates its size per
/// value (see [`extrapolated`]).
fn has_table(cascade: &Cascade) -> bool {
    matches!(cascade.codec.info.name, "ans" | "huff") || cascade.children.iter().any(has_table)
}

/// The size of the probe's encoding with its fixed part (headers, tables)
/// scaled down to the share of the whole stream the probe stands for:
/// `full` is the size on the probe, `half` the size on its first half, so
/// `2 half - full` is the fixed part and the rest grows with the values.
/// A table of a few hundred bytes would otherwise outweigh what an entropy
/// coder saves on a few hundred sampled values, though the whole stream
/// pays it once.
fn extrapolated(full: usize, half: usize, scale: f64) -> usize {
    let fixed = (2 * half).saturating_sub(full).min(full);
    full - fixed + (fixed as f64 / scale.max(1.0)).round() as usize
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

/// Whether `values` are integers whose deltas are nearly all one value
/// but not all (a regular series with a few gaps, long runs with a few
/// steps). A sample of [`WHOLE`] values rarely sees the exceptions, which
/// decide between cascades (deltas or second differences, bit-packed or
/// entropy-coded exceptions): on the sample the candidates come out
/// nearly equal, so for such a stream the best [`MAX_FULL_ENCODINGS`] are
/// all encoded in full and judged by their real sizes. The test is two
/// passes over the values, no allocation.
fn regular_with_gaps(values: &Values) -> bool {
    let Values::Int(x) = values else {
        return false;
    };
    if x.len() <= WHOLE {
        return false;
    }
    // The majority delta, if any (Boyer-Moore vote), then its count.
    let (mut cand, mut votes) = (0i64, 0usize);
    for w in x.windows(2) {
        let d = w[1].wrapping_sub(w[0]);
        if votes == 0 {
            (cand, votes) = (d, 1);
        } else if d == cand {
            votes += 1;
        } else {
            votes -= 1;
        }
    }
    let deltas = x.len() - 1;
    let hits = x
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) == cand)
        .count();
    hits < deltas && hits * 10 >= deltas * 9
}

/// A codec cascade: the codec of a node and the cascades of the child
/// streams it wrote, in the order it wrote them. The selection returns it
/// with every node it encodes; a [`CascadeCache`](super::CascadeCache)
/// keeps it to encode the next values of the same stream without
/// searching again.
#[derive(Debug, Clone)]
pub struct Cascade {
    pub(super) codec: &'static Codec,
    pub(super) children: Vec<Cascade>,
}

impl Cascade {
    /// The codec of the top node.
    pub fn codec(&self) -> &'static Codec {
        self.codec
    }

    /// The cascades of the child streams, in the order they were written.
    pub fn children(&self) -> &[Cascade] {
        &self.children
    }

    /// Appends the name of every codec in the cascade (this node's and
    /// its children's, in pre-order; repeats included).
    pub fn codec_names(&self, out: &mut Vec<&'static str>) {
        out.push(self.codec.info.name);
        for c in &self.children {
            c.codec_names(out);
        }
    }

    fn leaf(codec: &'static Codec) -> Cascade {
        Cascade {
            codec,
            children: Vec::new(),
        }
    }
}

impl PartialEq for Cascade {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.codec, other.codec) && self.children == other.children
    }
}

impl Eq for Cascade {}

impl fmt::Display for Cascade {
    /// `name` or `name(child,child)`, e.g. `dict(front(for,lz4),for)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.codec.info.name)?;
        if let Some((first, rest)) = self.children.split_first() {
            write!(f, "({first}")?;
            for c in rest {
                write!(f, ",{c}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Writes one node (name, then payload) with `codec`; `Ok(None)` when the
/// codec does not fit the values. `hints` are cascades to try first for
/// the node's child streams, the first child's last (a remembered cascade
/// being replayed; empty for a search). Returns the node's cascade and
/// the slowest decode class among its stages.
pub(super) fn try_codec(
    codec: &'static Codec,
    values: &Values,
    stages: u8,
    effort: Effort,
    hints: Vec<Cascade>,
    out: &mut Vec<u8>,
) -> Result<Option<(Cascade, Cost)>, CodecError> {
    let start = out.len();
    let name = codec.info.name;
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    let mut ctx = EncodeCtx::new(stages, effort);
    ctx.hints = hints;
    match (codec.encode)(values, &mut ctx, out) {
        Ok(true) => Ok(Some((
            Cascade {
                codec,
                children: ctx.children,
            },
            codec.cost.max(ctx.slowest),
        ))),
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

/// The codecs the selection tries, per data kind and effort, for one
/// state of the registry.
struct Candidates {
    /// Names registered when the lists were made (names are only added).
    registered: usize,
    /// Per [`DataKind`] (in declaration order), per effort (fast, max).
    lists: Vec<[Vec<&'static Codec>; 2]>,
}

fn kind_index(kind: DataKind) -> usize {
    match kind {
        DataKind::Int => 0,
        DataKind::Float => 1,
        DataKind::Text => 2,
        DataKind::Bool => 3,
        DataKind::Bytes => 4,
    }
}

static CANDIDATES: RwLock<Option<Arc<Candidates>>> = RwLock::new(None);

/// The registry's codecs that accept `kind` at `effort`, sorted by name
/// (plain included). Listing the registry sorts every plugin, which cost
/// more than some encodings it served: the lists are made once per state
/// of the registry and shared.
fn candidate_lists() -> Arc<Candidates> {
    let registered = Codec::registry().len();
    if let Some(c) = CANDIDATES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        if c.registered == registered {
            return c.clone();
        }
    }
    // Count first: a codec registered while listing makes the next call
    // list again rather than miss it.
    let all = Codec::registry().list();
    let lists = DataKind::ALL
        .iter()
        .map(|&kind| {
            [Effort::Fast, Effort::Max].map(|effort| {
                all.iter()
                    .copied()
                    .filter(|c| {
                        c.accepts(kind) && effort.allows(c.cost) && c.info.name.len() <= 255
                    })
                    .collect()
            })
        })
        .collect();
    let made = Arc::new(Candidates { registered, lists });
    *CANDIDATES.write().unwrap_or_else(|e| e.into_inner()) = Some(made.clone());
    made
}

fn candidates(kind: DataKind, effort: Effort) -> (Arc<Candidates>, usize, usize) {
    let lists = candidate_lists();
    let e = usize::from(effort == Effort::Max);
    (lists, kind_index(kind), e)
}

pub(super) fn plain() -> &'static Codec {
    static PLAIN: OnceLock<&'static Codec> = OnceLock::new();
    PLAIN.get_or_init(|| {
        Codec::registry()
            .get("plain")
            .expect("the built-in plain codec is registered")
    })
}

fn one() -> Option<&'static Codec> {
    static ONE: OnceLock<Option<&'static Codec>> = OnceLock::new();
    *ONE.get_or_init(|| Codec::registry().get("one").ok())
}

fn frame_of_reference() -> Option<&'static Codec> {
    static FOR: OnceLock<Option<&'static Codec>> = OnceLock::new();
    *FOR.get_or_init(|| Codec::registry().get("for").ok())
}

/// Encodes a stream too small for a search to pay: the smallest of
/// `plain`, `one` (all values equal) and, for integers, `for` as a single
/// stage (its exceptions, if any, stored plain). Other kinds are written
/// `one` when all values are equal (never larger than `plain` then), else
/// `plain`, each tried once.
pub(super) fn encode_tiny(
    values: &Values,
    effort: Effort,
    out: &mut Vec<u8>,
) -> Result<(Cascade, Cost), CodecError> {
    let start = out.len();
    let usable = |c: Option<&'static Codec>| {
        c.filter(|c| c.accepts(values.kind()) && effort.allows(c.cost) && admits(c))
    };
    let one = usable(one());
    if let (Values::Int(x), Some(fr)) = (values, usable(frame_of_reference())) {
        if let Some(mut best) = try_codec(fr, values, 1, effort, Vec::new(), out)? {
            if let Some(one) = one {
                let mut scratch = Vec::new();
                if let Some(r) = try_codec(one, values, 1, effort, Vec::new(), &mut scratch)? {
                    if scratch.len() < out.len() - start {
                        out.truncate(start);
                        out.extend_from_slice(&scratch);
                        best = r;
                    }
                }
            }
            // A plain node: name length, name, 8 bytes per value.
            if out.len() - start <= 1 + plain().info.name.len() + 8 * x.len() {
                return Ok(best);
            }
            out.truncate(start);
        }
    } else if let Some(one) = one {
        if let Some(r) = try_codec(one, values, 1, effort, Vec::new(), out)? {
            return Ok(r);
        }
    }
    Ok(
        try_codec(plain(), values, 1, effort, Vec::new(), out)?
            .expect("plain encodes every stream"),
    )
}

/// Encodes `values` with the codecs of a remembered cascade, each stage
/// whose codec no longer fits chosen afresh; `Ok(None)` when the top
/// codec does not fit (nothing is written then).
pub(super) fn replay(
    cascade: Cascade,
    values: &Values,
    stages: u8,
    effort: Effort,
    out: &mut Vec<u8>,
) -> Result<Option<(Cascade, Cost)>, CodecError> {
    let Cascade {
        codec,
        mut children,
    } = cascade;
    if !codec.accepts(values.kind()) || !effort.allows(codec.cost) || !admits(codec) {
        return Ok(None);
    }
    children.reverse();
    try_codec(codec, values, stages, effort, children, out)
}

/// Candidates encoded in full at most per node: the two the sample ranked
/// best, plus those the sample misjudged (see [`encode_node`]).
const MAX_FULL_ENCODINGS: usize = 4;

/// Encodes `values` as one node with at most `stages` stages, choosing the
/// codec automatically (after trying `hint`, a remembered cascade, when
/// given). Returns the cascade and its slowest decode class.
pub(super) fn encode_node(
    values: &Values,
    stages: u8,
    effort: Effort,
    hint: Option<Cascade>,
    out: &mut Vec<u8>,
) -> Result<(Cascade, Cost), CodecError> {
    let plain = plain();
    if values.is_empty() {
        try_codec(plain, values, 1, effort, Vec::new(), out)?;
        return Ok((Cascade::leaf(plain), plain.cost));
    }
    if let Some(h) = hint {
        if let Some(done) = replay(h, values, stages, effort, out)? {
            return Ok(done);
        }
    }
    let mut plain_node = Vec::new();
    try_codec(plain, values, 1, effort, Vec::new(), &mut plain_node)?;
    // A regular series with gaps: the sample cannot rank the candidates,
    // so the best few by the sample are all encoded in full.
    let regular = regular_with_gaps(values);
    let sample = sample(values);
    let probe = sample.as_ref().unwrap_or(values);
    let contiguous = contiguous(values);
    // (size on the probe, codec, the full encoding when the probe was the
    // whole stream)
    type Ranked = (usize, &'static Codec, Option<(Vec<u8>, Cascade, Cost)>);
    let mut ranked: Vec<Ranked> = Vec::new();
    // One scratch buffer for the trials whose bytes are only measured.
    let mut scratch = Vec::new();
    let (lists, k, e) = candidates(values.kind(), effort);
    // Values in the stream per value in the probe, to scale a probe size.
    let scale = values.len() as f64 / probe.len().max(1) as f64;
    // Only the codecs the reader decodes (see `with_codecs`).
    let everything = current_codecs().is_all();
    for &codec in &lists.lists[k][e] {
        if std::ptr::eq(codec, plain) || !(everything || admits(codec)) {
            continue;
        }
        let mut buf = Vec::new();
        if let Some((casc, cost)) = try_codec(codec, probe, stages, effort, Vec::new(), &mut buf)? {
            let mut size = buf.len();
            // A table-coded cascade on a sample: its table amortised over
            // the whole stream, measured on the sample's first half.
            if sample.is_some() && has_table(&casc) {
                let half = probe.slice(0..probe.len() / 2);
                scratch.clear();
                if try_codec(codec, &half, stages, effort, Vec::new(), &mut scratch)?.is_some() {
                    size = extrapolated(size, scratch.len(), scale);
                }
            }
            let mut rank = weighted(size, cost, probe.len());
            // Integers: the better of the spread runs and one contiguous run.
            if let Some(c) = &contiguous {
                scratch.clear();
                if let Some((_, cost)) =
                    try_codec(codec, c, stages, effort, Vec::new(), &mut scratch)?
                {
                    rank = rank.min(weighted(scratch.len(), cost, c.len()));
                }
            }
            ranked.push((rank, codec, sample.is_none().then_some((buf, casc, cost))));
        } else if let Some(c) = &contiguous {
            scratch.clear();
            if let Some((_, cost)) = try_codec(codec, c, stages, effort, Vec::new(), &mut scratch)?
            {
                ranked.push((weighted(scratch.len(), cost, c.len()), codec, None));
            }
        }
    }
    ranked.sort_by_key(|(size, c, _)| (*size, c.info.name));
    // A codec that fit the sample may not fit the whole stream (one value,
    // dictionary size), and a sample misjudges some data: the two best
    // candidates that fit are encoded in full and the smaller kept.
    let mut best: Option<(usize, Vec<u8>, Cascade, Cost)> = None;
    let mut tried = 0;
    let lead = ranked.first().map_or(0, |r| r.0);
    // Full encodings are the costly part: a bounded number of them.
    for (size, codec, done) in ranked.into_iter().take(MAX_FULL_ENCODINGS) {
        // A runner-up is worth a full encoding only when the sample saw it
        // within a quarter of the leader.
        if tried == 1 && size > lead + lead / 4 && !regular {
            break;
        }
        let (buf, casc, cost) = match done {
            Some(d) => d,
            None => {
                let mut buf = Vec::new();
                match try_codec(codec, values, stages, effort, Vec::new(), &mut buf)? {
                    Some((casc, cost)) => (buf, casc, cost),
                    None => continue,
                }
            }
        };
        let w = weighted(buf.len(), cost, values.len());
        // The sample misjudged this codec when its full encoding is far
        // larger than the sample predicted (values the sample did not see,
        // such as a few floats off their decimal grid): it does not count
        // as a finalist, so the next candidate is encoded in full too.
        let misjudged = sample.is_some() && w as f64 > 2.0 * size as f64 * scale + 64.0;
        if best.as_ref().is_none_or(|(b, _, _, _)| w < *b) {
            best = Some((w, buf, casc, cost));
        }
        if !misjudged {
            tried += 1;
        }
        if (tried == 2 && !regular) || sample.is_none() {
            break;
        }
    }
    match best {
        Some((w, buf, casc, cost)) if w < plain_node.len() => {
            out.extend_from_slice(&buf);
            Ok((casc, cost))
        }
        _ => {
            out.extend_from_slice(&plain_node);
            Ok((Cascade::leaf(plain), plain.cost))
        }
    }
}
