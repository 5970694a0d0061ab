//! Type-aware column compression: codec plugins and automatic selection.
//!
//! A [`Column`] (integers, timestamps, floats, text, booleans or bytes, with
//! an optional null mask) is cut into blocks of up to [`BLOCK_VALUES`] rows.
//! For each block, [`encode_column`] compresses a small sample with every
//! [`Codec`] that accepts the data and keeps the smallest (the BtrBlocks
//! approach). Codecs may hand derived streams (dictionary codes, run
//! lengths, deltas, ...) to a child chosen the same way, up to three stages.
//!
//! Every stage writes its codec's name before its payload, so
//! [`decode_column`] needs no out-of-band state; an unknown name is a
//! [`CodecError::UnknownCodec`] listing the known ones. Codecs are plugins
//! of `unidb-registry` (kind `"codec"`): a user crate registers its own with
//! [`register_codec!`], [`unidb_registry::submit!`] or
//! [`Registry::register`](unidb_registry::Registry::register), and it takes
//! part in the selection. A reader needs every codec an encoding names
//! ([`Encoded::codecs`]): a writer whose reader may lack some encodes
//! inside [`with_codecs`], which limits the selection to a [`CodecSet`].
//!
//! ```
//! use unidb_codec::{decode_column, encode_column, Column, ColumnKind, Effort, Values};
//! # fn main() -> Result<(), unidb_codec::CodecError> {
//! let ts: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + i * 1000).collect();
//! let col = Column::new(ColumnKind::Timestamp, Values::Int(ts))?;
//! let enc = encode_column(&col, Effort::Max)?;
//! assert!(enc.bytes.len() < 100); // 8000 raw bytes
//! assert_eq!(decode_column(&enc.bytes)?, col);
//! println!("{}", enc.cascades[0]); // e.g. "delta(one)"
//! # Ok(()) }
//! ```
//!
//! # Layout
//! `b"UC" version(1) kind(u8) rows(LEB128) blocks(LEB128)`, then per block
//! `rows(LEB128) has_nulls(u8) [mask node] values node`, where a node is
//! `name_len(u8) name payload` and the payload is the codec's own. Version 2
//! is followed by `padding(LEB128)` zero bytes: what the encoder appends to
//! a column that decodes to more than the [`Budget`] of its length allows.
//!
//! # Decoding bounds
//! [`decode_column`] charges every node's values and every materialised
//! string to a [`Budget`] of `1024 n + 1 MiB` for `n` input bytes before it
//! allocates them (see [`Budget`] for the accounting and the padding that
//! keeps every encoded column decodable).

mod builtin;
mod cache;
pub mod io;
mod select;
mod set;
mod text;

use std::fmt;
use std::str::FromStr;

use unidb_kernels::bitpack::BitpackError;
use unidb_kernels::varint::VarintError;
use unidb_registry::{plugin_kind, Plugin, PluginInfo, PluginKind, RegistryError};

/// Test support: an `ans` node in its version 3 layout, which the encoder
/// does not choose today (see the `ans` module).
#[doc(hidden)]
pub use builtin::int::ans::encode_version_3 as encode_ans_version_3;
pub use cache::{CacheStats, CascadeCache};
pub use io::{Budget, Reader};
pub use select::Cascade;
pub use set::{current_codecs, format_of, with_codecs, CodecSet, BUILTIN_CODECS};
pub use text::{decode_text_column, TextColumn};
/// The plugin registry, re-exported so that a crate registering a codec
/// ([`register_codec!`]) needs no dependency of its own on it.
pub use unidb_registry;

/// Most rows in one block.
pub const BLOCK_VALUES: usize = 1 << 16;

/// Most stages in one cascade.
pub const MAX_STAGES: u8 = 3;

/// Deepest nesting a decoder accepts (more than any encoder writes).
pub const MAX_DECODE_DEPTH: u8 = 8;

const MAGIC: &[u8; 2] = b"UC";
const VERSION: u8 = 1;
/// The version of a column followed by padding (see [`Budget`]).
const VERSION_PADDED: u8 = 2;

/// Columns whose values (at [`io::value_bytes`] each, plus their content)
/// take at most `Budget::ALLOWANCE / COST_MARGIN` bytes decode within the
/// allowance whatever cascade encodes them: the built-in cascades charge
/// at most a few times the values' size (checked by the tests), so the
/// encoder measures only larger columns.
pub const COST_MARGIN: usize = 16;

/// The physical data a codec works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// `i64` values (integers and timestamps).
    Int,
    /// `f64` values.
    Float,
    /// UTF-8 strings.
    Text,
    /// Booleans (also null masks).
    Bool,
    /// Byte strings.
    Bytes,
}

impl DataKind {
    /// Every kind, in declaration order.
    pub const ALL: [DataKind; 5] = [
        DataKind::Int,
        DataKind::Float,
        DataKind::Text,
        DataKind::Bool,
        DataKind::Bytes,
    ];
}

/// The logical type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// 64-bit signed integers.
    Int,
    /// Timestamps, as milliseconds since the Unix epoch.
    Timestamp,
    /// 64-bit floats.
    Float,
    /// UTF-8 text.
    Text,
    /// Booleans.
    Bool,
    /// Opaque bytes.
    Bytes,
}

impl ColumnKind {
    /// Every kind, in tag order.
    pub const ALL: [ColumnKind; 6] = [
        ColumnKind::Int,
        ColumnKind::Timestamp,
        ColumnKind::Float,
        ColumnKind::Text,
        ColumnKind::Bool,
        ColumnKind::Bytes,
    ];

    /// The data its values are stored as.
    pub fn data(self) -> DataKind {
        match self {
            ColumnKind::Int | ColumnKind::Timestamp => DataKind::Int,
            ColumnKind::Float => DataKind::Float,
            ColumnKind::Text => DataKind::Text,
            ColumnKind::Bool => DataKind::Bool,
            ColumnKind::Bytes => DataKind::Bytes,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::Int => "int",
            ColumnKind::Timestamp => "timestamp",
            ColumnKind::Float => "float",
            ColumnKind::Text => "text",
            ColumnKind::Bool => "bool",
            ColumnKind::Bytes => "bytes",
        }
    }

    fn tag(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The values of a column or stream, one variant per [`DataKind`].
///
/// Equality compares floats bit for bit (NaN payloads and signed zeros).
#[derive(Debug, Clone)]
pub enum Values {
    /// Integers.
    Int(Vec<i64>),
    /// Floats.
    Float(Vec<f64>),
    /// Strings.
    Text(Vec<String>),
    /// Booleans.
    Bool(Vec<bool>),
    /// Byte strings.
    Bytes(Vec<Vec<u8>>),
}

impl PartialEq for Values {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Values::Int(a), Values::Int(b)) => a == b,
            (Values::Float(a), Values::Float(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (Values::Text(a), Values::Text(b)) => a == b,
            (Values::Bool(a), Values::Bool(b)) => a == b,
            (Values::Bytes(a), Values::Bytes(b)) => a == b,
            _ => false,
        }
    }
}

impl Values {
    /// The data kind.
    pub fn kind(&self) -> DataKind {
        match self {
            Values::Int(_) => DataKind::Int,
            Values::Float(_) => DataKind::Float,
            Values::Text(_) => DataKind::Text,
            Values::Bool(_) => DataKind::Bool,
            Values::Bytes(_) => DataKind::Bytes,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Bytes(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raw size: 8 bytes per number, 1 per boolean, the byte length of
    /// strings. The reference for compression ratios.
    pub fn raw_bytes(&self) -> usize {
        match self {
            Values::Int(v) => v.len() * 8,
            Values::Float(v) => v.len() * 8,
            Values::Bool(v) => v.len(),
            Values::Text(v) => v.iter().map(String::len).sum(),
            Values::Bytes(v) => v.iter().map(Vec::len).sum(),
        }
    }

    /// The values at `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Values {
        match self {
            Values::Int(v) => Values::Int(v[range].to_vec()),
            Values::Float(v) => Values::Float(v[range].to_vec()),
            Values::Text(v) => Values::Text(v[range].to_vec()),
            Values::Bool(v) => Values::Bool(v[range].to_vec()),
            Values::Bytes(v) => Values::Bytes(v[range].to_vec()),
        }
    }

    fn empty(kind: DataKind) -> Values {
        match kind {
            DataKind::Int => Values::Int(Vec::new()),
            DataKind::Float => Values::Float(Vec::new()),
            DataKind::Text => Values::Text(Vec::new()),
            DataKind::Bool => Values::Bool(Vec::new()),
            DataKind::Bytes => Values::Bytes(Vec::new()),
        }
    }

    /// Reserves room for `n` more numbers or booleans (not text or bytes,
    /// whose size is unknown).
    fn reserve_numbers(&mut self, n: usize) {
        match self {
            Values::Int(v) => v.reserve(n),
            Values::Float(v) => v.reserve(n),
            Values::Bool(v) => v.reserve(n),
            Values::Text(_) | Values::Bytes(_) => {}
        }
    }

    fn extend(&mut self, other: Values) {
        match (self, other) {
            (Values::Int(a), Values::Int(b)) => a.extend(b),
            (Values::Float(a), Values::Float(b)) => a.extend(b),
            (Values::Text(a), Values::Text(b)) => a.extend(b),
            (Values::Bool(a), Values::Bool(b)) => a.extend(b),
            (Values::Bytes(a), Values::Bytes(b)) => a.extend(b),
            _ => unreachable!("extend is only called with values of the column's kind"),
        }
    }
}

/// A column: a logical kind, the non-null values in row order, and an
/// optional validity mask (`true` = present) with one entry per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    kind: ColumnKind,
    validity: Option<Vec<bool>>,
    values: Values,
}

impl Column {
    /// A column without nulls.
    ///
    /// # Errors
    /// [`CodecError::Shape`] when the values do not match the kind.
    pub fn new(kind: ColumnKind, values: Values) -> Result<Self, CodecError> {
        Column::with_validity(kind, values, None)
    }

    /// A column with a validity mask; `values` holds only the present rows.
    /// A mask with no `false` is dropped.
    ///
    /// # Errors
    /// [`CodecError::Shape`] when the values do not match the kind or the
    /// number of `true` entries in the mask.
    pub fn with_validity(
        kind: ColumnKind,
        values: Values,
        validity: Option<Vec<bool>>,
    ) -> Result<Self, CodecError> {
        if values.kind() != kind.data() {
            return Err(CodecError::Shape(format!(
                "a {kind} column needs {:?} values, got {:?}",
                kind.data(),
                values.kind()
            )));
        }
        if let Some(mask) = &validity {
            let present = mask.iter().filter(|&&b| b).count();
            if present != values.len() {
                return Err(CodecError::Shape(format!(
                    "the mask marks {present} of {} rows present but there are {} values",
                    mask.len(),
                    values.len()
                )));
            }
        }
        let validity = validity.filter(|m| m.iter().any(|&b| !b));
        Ok(Column {
            kind,
            validity,
            values,
        })
    }

    /// The logical kind.
    pub fn kind(&self) -> ColumnKind {
        self.kind
    }

    /// The non-null values.
    pub fn values(&self) -> &Values {
        &self.values
    }

    /// The validity mask, if any row is null.
    pub fn validity(&self) -> Option<&[bool]> {
        self.validity.as_deref()
    }

    /// Number of rows (null or not).
    pub fn rows(&self) -> usize {
        self.validity
            .as_ref()
            .map_or(self.values.len(), |m| m.len())
    }
}

/// How hard the selection tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Effort {
    /// Only codecs of [`Cost::Fast`] and [`Cost::Medium`] decode cost, at
    /// most two stages.
    Fast,
    /// Every codec, up to three stages: the best ratio.
    #[default]
    Max,
}

impl FromStr for Effort {
    type Err = CodecError;
    fn from_str(s: &str) -> Result<Self, CodecError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fast" => Ok(Effort::Fast),
            "max" => Ok(Effort::Max),
            _ => Err(CodecError::Shape(format!(
                "unknown effort {s:?}; known: fast, max"
            ))),
        }
    }
}

impl Effort {
    fn stages(self) -> u8 {
        match self {
            Effort::Fast => 2,
            Effort::Max => MAX_STAGES,
        }
    }

    fn allows(self, cost: Cost) -> bool {
        match self {
            Effort::Fast => cost != Cost::Slow,
            Effort::Max => true,
        }
    }
}

/// A codec's decode speed class; [`Effort::Fast`] skips [`Cost::Slow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cost {
    /// Word-at-a-time or SIMD decoding (bit-unpacking, runs, copies).
    Fast,
    /// Byte-at-a-time decoding (varints, LZ4, prefix rebuilding).
    Medium,
    /// Bit-at-a-time decoding (Gorilla).
    Slow,
}

/// Encodes `values` into `out`; returns `Ok(false)` (the caller discards
/// whatever was written) when the codec does not fit these values.
pub type EncodeFn = fn(&Values, &mut EncodeCtx, &mut Vec<u8>) -> Result<bool, CodecError>;

/// Decodes `count` values of the given kind from the reader.
pub type DecodeFn =
    fn(&mut Reader<'_>, DataKind, usize, &mut DecodeCtx) -> Result<Values, CodecError>;

/// A codec plugin.
///
/// ```
/// use unidb_registry::{plugin_info, submit};
/// use unidb_codec::{Codec, Cost, DataKind, Values};
///
/// // A codec for columns that are all zero: nothing but the name is stored.
/// submit!(Codec {
///     info: plugin_info!("doc-zeros", "all-zero integers"),
///     accepts: &[DataKind::Int],
///     cost: Cost::Fast,
///     encode: |v, _, _| Ok(matches!(v, Values::Int(x) if x.iter().all(|&x| x == 0))),
///     decode: |_, _, count, _| Ok(Values::Int(vec![0; count])),
/// });
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct Codec {
    /// Name (written into encodings), description and origin.
    pub info: PluginInfo,
    /// The data kinds it encodes.
    pub accepts: &'static [DataKind],
    /// Its decode speed class.
    pub cost: Cost,
    /// The encoder.
    pub encode: EncodeFn,
    /// The decoder. It must validate all input (typed errors, no panics)
    /// and bound allocations by the input (children are bounded by
    /// [`DecodeCtx::child`]).
    pub decode: DecodeFn,
}

impl Plugin for Codec {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
}

plugin_kind!(Codec, "codec");

/// Registers a codec plugin statically from any crate (no dependency on
/// `unidb-registry` or `inventory` needed):
/// `register_codec!(name, description, accepts: [kinds], cost: Cost, encode: fn, decode: fn)`,
/// the fields of [`Codec`].
///
/// A registered codec takes part in every selection, and its name is
/// written into what it encodes: a reader needs it too. A writer whose
/// reader may lack it encodes inside [`with_codecs`] (syncdb's sessions
/// negotiate this with their peer).
///
/// ```
/// use unidb_codec::{register_codec, Codec, Cost, DataKind, Values};
/// use unidb_codec::unidb_registry::PluginKind;
///
/// // Columns that are all zero: nothing but the name is stored.
/// register_codec!(
///     "doc-zeros-macro",
///     "all-zero integers",
///     accepts: &[DataKind::Int],
///     cost: Cost::Fast,
///     encode: |v, _, _| Ok(matches!(v, Values::Int(x) if x.iter().all(|&x| x == 0))),
///     decode: |_, _, count, _| Ok(Values::Int(vec![0; count])),
/// );
///
/// assert!(Codec::registry().get("doc-zeros-macro").is_ok());
/// ```
#[macro_export]
macro_rules! register_codec {
    (
        $name:expr, $description:expr,
        accepts: $accepts:expr,
        cost: $cost:expr,
        encode: $encode:expr,
        decode: $decode:expr $(,)?
    ) => {
        $crate::unidb_registry::submit!($crate::Codec {
            info: $crate::unidb_registry::plugin_info!($name, $description),
            accepts: $accepts,
            cost: $cost,
            encode: $encode,
            decode: $decode,
        });
    };
}

impl Codec {
    /// Whether it encodes `kind`.
    pub fn accepts(&self, kind: DataKind) -> bool {
        self.accepts.contains(&kind)
    }
}

/// State passed to encoders: lets them encode derived streams with an
/// automatically chosen child codec.
#[derive(Debug)]
pub struct EncodeCtx {
    stages_left: u8,
    effort: Effort,
    children: Vec<Cascade>,
    /// The slowest decode class among the children's cascades.
    slowest: Cost,
    /// Cascades to try first for the next child streams, the next one
    /// last (a remembered cascade being replayed; empty in a search).
    hints: Vec<Cascade>,
}

impl EncodeCtx {
    fn new(stages_left: u8, effort: Effort) -> Self {
        EncodeCtx {
            stages_left,
            effort,
            children: Vec::new(),
            slowest: Cost::Fast,
            hints: Vec::new(),
        }
    }

    /// The effort of this encoding.
    pub fn effort(&self) -> Effort {
        self.effort
    }

    /// Encodes a derived stream as a child node (its codec chosen
    /// automatically). The decoder reads it with [`DecodeCtx::child`].
    ///
    /// # Errors
    /// [`CodecError::NoStagesLeft`] when this codec is already the last
    /// stage allowed (the selection then skips it).
    pub fn child(&mut self, values: &Values, out: &mut Vec<u8>) -> Result<(), CodecError> {
        if self.stages_left <= 1 {
            return Err(CodecError::NoStagesLeft);
        }
        let hint = self.hints.pop();
        let (cascade, cost) =
            select::encode_node(values, self.stages_left - 1, self.effort, hint, out)?;
        self.children.push(cascade);
        self.slowest = self.slowest.max(cost);
        Ok(())
    }

    /// Whether [`child`](Self::child) can still nest a stage under this
    /// codec.
    pub fn can_nest(&self) -> bool {
        self.stages_left > 1
    }

    /// Encodes a small auxiliary stream (exception positions and patches)
    /// as a child node: chosen automatically while stages remain, else
    /// with `plain`, so a codec that patches exceptions still works as the
    /// last stage of a cascade. The decoder reads it with
    /// [`DecodeCtx::child`] either way.
    ///
    /// # Errors
    /// Only a user codec's error (from the automatic choice).
    pub fn aux_child(&mut self, values: &Values, out: &mut Vec<u8>) -> Result<(), CodecError> {
        if self.can_nest() {
            return self.child(values, out);
        }
        // Keep a replayed cascade's hints in step with the children.
        self.hints.pop();
        let plain = select::plain();
        let (cascade, _) = select::try_codec(plain, values, 1, self.effort, Vec::new(), out)?
            .expect("plain encodes every stream");
        self.children.push(cascade);
        Ok(())
    }
}

/// State passed to decoders: nesting depth and output budget.
#[derive(Debug)]
pub struct DecodeCtx {
    depth: u8,
    budget: Budget,
    /// Room the column will need after this block (numbers only).
    spare: usize,
    /// The column's integers so far, offered to the top node of the next
    /// block (at depth `prefix_depth`) to append its values to.
    prefix: Option<Vec<i64>>,
    prefix_depth: u8,
    /// The prefix's length when the top node took it.
    prefix_base: Option<usize>,
    /// One-to-one stages offered by a node to its child at the depth
    /// given (see [`offer_post`](Self::offer_post)).
    post: Option<(u8, builtin::int::post::Post)>,
    /// The stages a child applied, in their final state.
    posted: Option<builtin::int::post::Post>,
}

impl DecodeCtx {
    /// The capacity to allocate for an output buffer of `count` numbers:
    /// `count`, or more once per block when the column decoder will append
    /// later blocks to this buffer (so it need not grow then). Decoders
    /// whose output buffer becomes the stream's values may call it.
    pub fn capacity(&mut self, count: usize) -> usize {
        // Two slots more: a parent that turns its child's buffer into its
        // own values (`delta`, `dod`) appends one or two.
        count
            .saturating_add(std::mem::take(&mut self.spare))
            .saturating_add(2)
    }

    /// Offers the one-to-one stages `post` (`delta`, `dod`, `gcd`) to the
    /// child node about to be decoded: a child that can apply them to its
    /// values as it writes them (while they are in cache) takes them with
    /// [`take_post`](Self::take_post); the caller asks
    /// [`end_post`](Self::end_post) after the child returns whether it
    /// did.
    pub(crate) fn offer_post(&mut self, post: builtin::int::post::Post) {
        self.post = Some((self.depth + 1, post));
        self.posted = None;
    }

    /// The stages offered to this node by its parent, if any.
    pub(crate) fn take_post(&mut self) -> Option<builtin::int::post::Post> {
        match self.post {
            Some((depth, post)) if depth == self.depth => {
                self.post = None;
                Some(post)
            }
            _ => None,
        }
    }

    /// Reports that this node applied the stages it took, ending in
    /// `post`.
    pub(crate) fn applied_post(&mut self, post: builtin::int::post::Post) {
        self.posted = Some(post);
    }

    /// Withdraws the offer of [`offer_post`](Self::offer_post); the
    /// stages in their final state when the child applied them.
    pub(crate) fn end_post(&mut self) -> Option<builtin::int::post::Post> {
        self.post = None;
        self.posted.take()
    }

    /// A vector to push a node's `count` output integers onto. For the top
    /// node of a column block after the first it holds the column's values
    /// so far (with room for the rest), so the block is decoded in place at
    /// the column's end instead of into a buffer that is copied there;
    /// otherwise it is empty with [`capacity`](Self::capacity)`(count)`.
    /// A decoder that calls it must push exactly `count` values onto it,
    /// leave what it held untouched, and return it as its values.
    pub fn int_output(&mut self, count: usize) -> Vec<i64> {
        self.prefix()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity(count)))
    }

    /// The column's values so far when this node is the top node of a
    /// column block after the first (see [`int_output`](Self::int_output)):
    /// the decoder must push its values onto it and return it. `None`
    /// otherwise: the decoder may then return any vector, such as a
    /// child's values transformed in place (no second buffer).
    pub(crate) fn prefix(&mut self) -> Option<Vec<i64>> {
        if self.depth == self.prefix_depth {
            if let Some(v) = self.prefix.take() {
                self.prefix_base = Some(v.len());
                return Some(v);
            }
        }
        None
    }

    fn new(budget: Budget) -> Self {
        DecodeCtx {
            depth: 0,
            budget,
            spare: 0,
            prefix: None,
            prefix_depth: 0,
            prefix_base: None,
            post: None,
            posted: None,
        }
    }

    /// The output budget (charge expanded text and bytes to it).
    pub fn budget(&mut self) -> &mut Budget {
        &mut self.budget
    }

    /// Decodes a child node of `count` values of `kind`.
    ///
    /// # Errors
    /// [`CodecError::CountTooLarge`] when `count` exceeds [`BLOCK_VALUES`],
    /// [`CodecError::TooDeep`], and every error of the child's codec.
    pub fn child(
        &mut self,
        r: &mut Reader<'_>,
        kind: DataKind,
        count: usize,
    ) -> Result<Values, CodecError> {
        self.enter(r, kind, count)?;
        let res = decode_node(r, kind, count, self);
        self.depth -= 1;
        res
    }

    /// Checks the count and depth of a child node about to be read,
    /// charges its values to the budget and enters it (the caller lowers
    /// `depth` again when done).
    fn enter(&mut self, r: &Reader<'_>, kind: DataKind, count: usize) -> Result<(), CodecError> {
        if count > BLOCK_VALUES {
            return Err(CodecError::CountTooLarge {
                what: "child stream",
                offset: r.offset(),
                count: count as u64,
                max: BLOCK_VALUES,
            });
        }
        if self.depth >= MAX_DECODE_DEPTH {
            return Err(CodecError::TooDeep {
                offset: r.offset(),
                max: MAX_DECODE_DEPTH,
            });
        }
        // Every node's values are paid for before its codec allocates them.
        self.budget.charge_values(count, io::value_bytes(kind))?;
        self.depth += 1;
        Ok(())
    }
}

fn decode_node(
    r: &mut Reader<'_>,
    kind: DataKind,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    let at = r.offset();
    let len = r.u8("codec name length")? as usize;
    let raw = r.take(len, "codec name")?;
    let name = std::str::from_utf8(raw).map_err(|_| CodecError::BadName { offset: at })?;
    let codec = Codec::registry()
        .get(name)
        .map_err(|source| CodecError::UnknownCodec { offset: at, source })?;
    // Inside `with_codecs`, a codec outside the set is as unknown as one
    // this process lacks.
    if !set::admits(codec) {
        return Err(current_codecs().refuse(name, at));
    }
    if !codec.accepts(kind) {
        return Err(CodecError::WrongKind {
            codec: codec.info.name,
            kind,
            offset: at,
        });
    }
    let values = (codec.decode)(r, kind, count, ctx)?;
    // A block's top node may have appended to the column's values so far.
    let base = if ctx.depth == ctx.prefix_depth {
        ctx.prefix_base.take().unwrap_or(0)
    } else {
        0
    };
    if values.kind() != kind || values.len() != base.saturating_add(count) {
        return Err(CodecError::Corrupt {
            offset: at,
            reason: format!(
                "codec {} produced {} {:?} values, expected {count} {kind:?}",
                codec.info.name,
                values.len() - base.min(values.len()),
                values.kind()
            ),
        });
    }
    Ok(values)
}

/// Errors of encoding and decoding columns. Offsets are byte offsets into
/// the encoded column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The kernels cannot run as configured: `UNIDB_ISA` names an unknown
    /// path or one this CPU lacks (checked by the column and stream entry
    /// points, so the setting is never silently ignored).
    #[error(transparent)]
    Kernels(#[from] unidb_kernels::KernelError),
    /// The input ends early.
    #[error("truncated input: {what} at byte {offset} needs {needed} bytes, {available} left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A malformed varint.
    #[error("bad varint for {what} at byte {offset}: {source}")]
    Varint {
        /// What was being read.
        what: &'static str,
        /// Where the varint starts.
        offset: usize,
        /// The varint error (offsets relative to `offset`).
        source: VarintError,
    },
    /// Malformed bit-packed data.
    #[error("bad bit-packed data at byte {offset}: {source}")]
    Bitpack {
        /// Where the run starts.
        offset: usize,
        /// The kernel's error.
        source: BitpackError,
    },
    /// A count larger than allowed.
    #[error("{what} at byte {offset} claims {count} values, more than {max}")]
    CountTooLarge {
        /// What was counted.
        what: &'static str,
        /// Where.
        offset: usize,
        /// The claimed count.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// A codec name that no plugin has.
    #[error("at byte {offset}: {source}")]
    UnknownCodec {
        /// Where the name starts.
        offset: usize,
        /// The registry's error (lists the known codecs).
        source: RegistryError,
    },
    /// A codec name that is not UTF-8.
    #[error("codec name at byte {offset} is not UTF-8")]
    BadName {
        /// Where the name starts.
        offset: usize,
    },
    /// A codec applied to data it does not accept.
    #[error("codec {codec} at byte {offset} does not encode {kind:?} data")]
    WrongKind {
        /// The codec.
        codec: &'static str,
        /// The data kind.
        kind: DataKind,
        /// Where its node starts.
        offset: usize,
    },
    /// Nesting deeper than [`MAX_DECODE_DEPTH`].
    #[error("codec nesting at byte {offset} is deeper than {max}")]
    TooDeep {
        /// Where.
        offset: usize,
        /// The limit.
        max: u8,
    },
    /// Text that is not UTF-8.
    #[error(
        "text value {index} (stream ending at byte {offset}) is not UTF-8 after byte {valid_up_to}"
    )]
    InvalidUtf8 {
        /// Index of the value in its stream.
        index: usize,
        /// Offset in the input near the stream.
        offset: usize,
        /// Valid prefix length of the value.
        valid_up_to: usize,
    },
    /// Decoded output would exceed the budget for this input size.
    #[error("decoded output exceeds {limit} bytes, the limit for this input size")]
    OutputTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Inconsistent content.
    #[error("corrupt input at byte {offset}: {reason}")]
    Corrupt {
        /// Where.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// Bad magic or version.
    #[error("not an encoded column: {0}")]
    NotAColumn(String),
    /// A column whose parts do not agree (encoding side).
    #[error("invalid column: {0}")]
    Shape(String),
    /// An encoder asked for a child stream at the last allowed stage.
    #[error("no cascade stages left for a child stream")]
    NoStagesLeft,
}

impl CodecError {
    /// The project-wide category: malformed input (truncated, bad varints
    /// or bit-packing, counts over their limit, bad names, nesting, text,
    /// content, a codec on data it does not take, output beyond the decode
    /// budget) is [`ErrorKind::CorruptData`](unidb_common::ErrorKind::CorruptData),
    /// a codec name no plugin has the registry's kind
    /// ([`NotFound`](unidb_common::ErrorKind::NotFound)), a column whose
    /// parts disagree [`Validation`](unidb_common::ErrorKind::Validation),
    /// a child stream past the last stage
    /// [`Unsupported`](unidb_common::ErrorKind::Unsupported).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind;
        match self {
            CodecError::UnknownCodec { source, .. } => source.kind(),
            CodecError::Shape(_) => ErrorKind::Validation,
            CodecError::NoStagesLeft => ErrorKind::Unsupported,
            CodecError::Kernels(e) => e.kind(),
            _ => ErrorKind::CorruptData,
        }
    }

    /// The byte offset of the problem in the encoded input, if it has one.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            CodecError::Truncated { offset, .. }
            | CodecError::Varint { offset, .. }
            | CodecError::Bitpack { offset, .. }
            | CodecError::CountTooLarge { offset, .. }
            | CodecError::UnknownCodec { offset, .. }
            | CodecError::BadName { offset }
            | CodecError::WrongKind { offset, .. }
            | CodecError::TooDeep { offset, .. }
            | CodecError::InvalidUtf8 { offset, .. }
            | CodecError::Corrupt { offset, .. } => Some(offset),
            _ => None,
        }
    }
}

impl From<CodecError> for unidb_common::Error {
    /// Located at the byte offset where there is one; the codec error (and
    /// through it a varint, bit-packing or registry error) is the source.
    fn from(e: CodecError) -> Self {
        let err = unidb_common::Error::new(e.kind(), e.to_string());
        match e.offset() {
            Some(offset) => err.with_location(format!("byte {offset}")),
            None => err,
        }
        .with_source(e)
    }
}

/// An encoded column and the codec cascade chosen for each block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The encoding.
    pub bytes: Vec<u8>,
    /// Per block: the values' cascade, e.g. `"dict(front,for)"`.
    pub cascades: Vec<String>,
    /// Every codec the encoding names (null masks, values and their child
    /// streams), sorted, each once: what a reader needs to decode it.
    pub codecs: Vec<&'static str>,
}

/// Encodes a column, choosing codecs per block automatically.
///
/// # Errors
/// [`CodecError::Kernels`] when `UNIDB_ISA` is invalid; otherwise only from
/// a misbehaving user codec: the built-in ones always succeed.
pub fn encode_column(col: &Column, effort: Effort) -> Result<Encoded, CodecError> {
    unidb_kernels::Kernels::try_active()?;
    encode_column_by(col, effort, true, &mut |values, stages, out| {
        Ok(select::encode_node(values, stages, effort, None, out)?.0)
    })
}

/// Encodes the values node of one block: `(values, stages, out)`.
type ValuesFn<'f> =
    dyn FnMut(&Values, u8, &mut Vec<u8>) -> Result<select::Cascade, CodecError> + 'f;

/// [`encode_column`] with the values node of each block written by
/// `values_node` (the selection, or a [`CascadeCache`]); the cascades are
/// left out unless `describe`.
fn encode_column_by(
    col: &Column,
    effort: Effort,
    describe: bool,
    values_node: &mut ValuesFn<'_>,
) -> Result<Encoded, CodecError> {
    let rows = col.rows();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(col.kind.tag());
    io::put_varint(&mut out, rows as u64);
    let blocks = rows.div_ceil(BLOCK_VALUES);
    io::put_varint(&mut out, blocks as u64);
    let mut cascades = Vec::with_capacity(blocks);
    let mut codecs = Vec::new();
    let mut next_value = 0usize;
    for b in 0..blocks {
        let start = b * BLOCK_VALUES;
        let end = rows.min(start + BLOCK_VALUES);
        io::put_varint(&mut out, (end - start) as u64);
        let present = match &col.validity {
            Some(mask) if mask[start..end].iter().any(|&x| !x) => {
                out.push(1);
                let m = Values::Bool(mask[start..end].to_vec());
                let (mask_node, _) =
                    select::encode_node(&m, effort.stages(), effort, None, &mut out)?;
                mask_node.codec_names(&mut codecs);
                mask[start..end].iter().filter(|&&x| x).count()
            }
            _ => {
                out.push(0);
                end - start
            }
        };
        // One block holding every value: no copy of them.
        let range = next_value..next_value + present;
        next_value += present;
        let sliced;
        let vals = if range.len() == col.values.len() {
            &col.values
        } else {
            sliced = col.values.slice(range);
            &sliced
        };
        let cascade = values_node(vals, effort.stages(), &mut out)?;
        cascade.codec_names(&mut codecs);
        if describe {
            cascades.push(cascade.to_string());
        }
    }
    pad_to_budget(col, &mut out)?;
    codecs.sort_unstable();
    codecs.dedup();
    Ok(Encoded {
        bytes: out,
        cascades,
        codecs,
    })
}

/// The decoded bytes of `col` before any codec's intermediate streams:
/// its values at [`io::value_bytes`] each, their content and the mask.
fn raw_cost(col: &Column) -> usize {
    let content: usize = match &col.values {
        Values::Text(v) => v.iter().map(String::len).sum(),
        Values::Bytes(v) => v.iter().map(Vec::len).sum(),
        _ => 0,
    };
    col.rows()
        .saturating_mul(io::value_bytes(col.values.kind()) + 1)
        .saturating_add(content)
}

/// Makes the encoded column `out` decodable within its own budget: when
/// decoding it would charge more than [`Budget::for_input`] of its length
/// (highly repetitive values), switches it to the padded version and
/// appends zero bytes until the budget covers it.
///
/// # Errors
/// The decoder's error when `out` does not decode (a broken user codec).
fn pad_to_budget(col: &Column, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if raw_cost(col).saturating_mul(COST_MARGIN) <= Budget::ALLOWANCE {
        return Ok(());
    }
    let cost = decode_cost(out)?;
    let need = Budget::input_for(cost);
    if out.len() >= need {
        return Ok(());
    }
    let mut pad = need.saturating_sub(out.len() + 1);
    let varint_len = |v: usize| {
        let mut b = Vec::new();
        io::put_varint(&mut b, v as u64);
        b.len()
    };
    while out.len() + varint_len(pad) + pad < need {
        pad += 1;
    }
    out[2] = VERSION_PADDED;
    io::put_varint(out, pad as u64);
    out.resize(out.len() + pad, 0);
    Ok(())
}

/// What decoding the column `input` charges to its [`Budget`], in bytes
/// (decoded without a limit).
///
/// # Errors
/// Every error of [`decode_column`] except running out of budget.
pub fn decode_cost(input: &[u8]) -> Result<usize, CodecError> {
    let mut budget = Budget::unlimited();
    decode_column_with_budget(input, &mut budget)?;
    Ok(budget.used())
}

/// Decodes a column written by [`encode_column`].
///
/// # Errors
/// Every malformed input is a typed [`CodecError`]; allocations are
/// bounded by the input size before they are made. [`CodecError::Kernels`]
/// when `UNIDB_ISA` is invalid.
pub fn decode_column(input: &[u8]) -> Result<Column, CodecError> {
    decode_column_with_budget(input, &mut Budget::for_input(input.len()))
}

/// [`decode_column`] charging `budget` instead of one of its own: a
/// decoder of several columns (a change batch) shares one budget among
/// them, so that their decoded size together is bounded by the input.
///
/// # Errors
/// As [`decode_column`]; [`CodecError::OutputTooLarge`] when `budget`
/// runs out (what was charged stays charged).
pub fn decode_column_with_budget(input: &[u8], budget: &mut Budget) -> Result<Column, CodecError> {
    unidb_kernels::Kernels::try_active()?;
    let mut values: Option<Values> = None;
    let (kind, mask) = decode_frame(input, budget, |r, kind, present, rows_left, ctx| {
        // The first block's buffer becomes the column's (no copy), with
        // room for the rest when the budget covers it: offered to the
        // block's decoders, else reserved afterwards.
        let first = values.is_none();
        let room = rows_left.saturating_mul(8) <= ctx.budget.left();
        if first && room && matches!(kind.data(), DataKind::Int | DataKind::Float) {
            ctx.spare = rows_left;
        }
        // Later blocks of integers: offer the column so far to the block's
        // top node (one level below here) to append to.
        if let Some(Values::Int(_)) = &values {
            let Some(Values::Int(v)) = values.take() else {
                unreachable!("matched above")
            };
            ctx.prefix = Some(v);
            ctx.prefix_depth = ctx.depth + 1;
        }
        let block = ctx.child(r, kind.data(), present);
        ctx.spare = 0;
        let untaken = ctx.prefix.take();
        ctx.prefix_base = None;
        let block = block?;
        match (values.as_mut(), untaken) {
            // The block's values follow the column's in `block`.
            (None, None) if !first => values = Some(block),
            (None, Some(prev)) => {
                let mut v = Values::Int(prev);
                v.extend(block);
                values = Some(v);
            }
            (None, None) => {
                let mut v = block;
                if room {
                    v.reserve_numbers(rows_left);
                }
                values = Some(v);
            }
            (Some(v), _) => v.extend(block),
        }
        Ok(())
    })?;
    let values = values.unwrap_or_else(|| Values::empty(kind.data()));
    Column::with_validity(kind, values, mask)
}

/// Callback of [`decode_frame`] per block: `(reader, column kind, present
/// values in the block, rows after the block, context)`.
type BlockFn<'f> = dyn FnMut(&mut Reader<'_>, ColumnKind, usize, usize, &mut DecodeCtx) -> Result<(), CodecError>
    + 'f;

/// Reads the column header and the blocks' null masks, handing each
/// block's values node to `block`; returns the kind and the validity mask
/// (`None` without nulls).
fn decode_frame(
    input: &[u8],
    budget: &mut Budget,
    block: impl FnMut(
        &mut Reader<'_>,
        ColumnKind,
        usize,
        usize,
        &mut DecodeCtx,
    ) -> Result<(), CodecError>,
) -> Result<(ColumnKind, Option<Vec<bool>>), CodecError> {
    let mut ctx = DecodeCtx::new(budget.clone());
    let res = decode_frame_in(input, &mut ctx, block);
    *budget = ctx.budget;
    res
}

fn decode_frame_in(
    input: &[u8],
    ctx: &mut DecodeCtx,
    mut block: impl FnMut(
        &mut Reader<'_>,
        ColumnKind,
        usize,
        usize,
        &mut DecodeCtx,
    ) -> Result<(), CodecError>,
) -> Result<(ColumnKind, Option<Vec<bool>>), CodecError> {
    let block: &mut BlockFn<'_> = &mut block;
    let mut r = Reader::new(input);
    let head = r.take(4, "column header")?;
    if &head[..2] != MAGIC || !matches!(head[2], VERSION | VERSION_PADDED) {
        return Err(CodecError::NotAColumn(format!(
            "header {head:02x?}, expected \"UC\" version {VERSION} or {VERSION_PADDED}"
        )));
    }
    let padded = head[2] == VERSION_PADDED;
    let kind = *ColumnKind::ALL
        .get(head[3] as usize)
        .ok_or_else(|| CodecError::NotAColumn(format!("unknown column kind tag {}", head[3])))?;
    let rows_at = r.offset();
    let rows = r.varint("row count")?;
    // Every block takes at least 3 bytes.
    let blocks = r.count("block count", r.remaining() / 3)?;
    if rows > (blocks as u64) * BLOCK_VALUES as u64 {
        return Err(CodecError::CountTooLarge {
            what: "row count",
            offset: rows_at,
            count: rows,
            max: blocks * BLOCK_VALUES,
        });
    }
    // The validity mask is only built once a block has nulls.
    let mut mask: Option<Vec<bool>> = None;
    let mut total = 0u64;
    for _ in 0..blocks {
        let n = r.count("block rows", BLOCK_VALUES)?;
        let flag_at = r.offset();
        let present = match r.u8("null flag")? {
            0 => {
                if let Some(m) = &mut mask {
                    m.extend(std::iter::repeat_n(true, n));
                }
                n
            }
            1 => {
                let Values::Bool(m) = ctx.child(&mut r, DataKind::Bool, n)? else {
                    unreachable!("decode_node checks the kind")
                };
                let p = m.iter().filter(|&&b| b).count();
                if p < n || mask.is_some() {
                    let whole = mask.get_or_insert_with(|| vec![true; total as usize]);
                    whole.extend(m);
                }
                p
            }
            f => {
                return Err(CodecError::Corrupt {
                    offset: flag_at,
                    reason: format!("null flag {f}, expected 0 or 1"),
                })
            }
        };
        total += n as u64;
        let left = usize::try_from(rows.saturating_sub(total)).unwrap_or(usize::MAX);
        block(&mut r, kind, present, left, ctx)?;
    }
    if padded {
        let at = r.offset();
        let pad = r.count("padding length", r.remaining())?;
        if r.take(pad, "padding")?.iter().any(|&b| b != 0) {
            return Err(CodecError::Corrupt {
                offset: at,
                reason: "non-zero padding".into(),
            });
        }
    }
    if total != rows {
        return Err(CodecError::Corrupt {
            offset: rows_at,
            reason: format!("header says {rows} rows, blocks hold {total}"),
        });
    }
    if r.remaining() != 0 {
        return Err(CodecError::Corrupt {
            offset: r.offset(),
            reason: format!("{} trailing bytes", r.remaining()),
        });
    }
    Ok((kind, mask))
}

/// Encodes one stream with the named codec as its first stage (later
/// stages chosen automatically); `Ok(None)` when the codec does not fit.
/// Read it back with [`decode_values`].
///
/// # Errors
/// [`CodecError::UnknownCodec`], [`CodecError::WrongKind`], or a user
/// codec's error; [`CodecError::Kernels`] when `UNIDB_ISA` is invalid.
pub fn encode_with(
    codec: &str,
    values: &Values,
    effort: Effort,
) -> Result<Option<Vec<u8>>, CodecError> {
    unidb_kernels::Kernels::try_active()?;
    let c = Codec::registry()
        .get(codec)
        .map_err(|source| CodecError::UnknownCodec { offset: 0, source })?;
    if !set::admits(c) {
        return Err(current_codecs().refuse(codec, 0));
    }
    if !c.accepts(values.kind()) {
        return Err(CodecError::WrongKind {
            codec: c.info.name,
            kind: values.kind(),
            offset: 0,
        });
    }
    let mut out = Vec::new();
    Ok(select::try_codec(c, values, effort.stages(), effort, Vec::new(), &mut out)?.map(|_| out))
}

/// Decodes one stream of `count` values written by [`encode_with`]; the
/// input must hold exactly that stream.
///
/// # Errors
/// Every malformed input is a typed [`CodecError`]; `count` above
/// [`BLOCK_VALUES`] is refused before anything is allocated;
/// [`CodecError::Kernels`] when `UNIDB_ISA` is invalid.
pub fn decode_values(input: &[u8], kind: DataKind, count: usize) -> Result<Values, CodecError> {
    unidb_kernels::Kernels::try_active()?;
    let mut r = Reader::new(input);
    let mut ctx = DecodeCtx::new(Budget::for_input(input.len()));
    let v = ctx.child(&mut r, kind, count)?;
    if r.remaining() != 0 {
        return Err(CodecError::Corrupt {
            offset: r.offset(),
            reason: format!("{} trailing bytes", r.remaining()),
        });
    }
    Ok(v)
}

/// The names of every registered codec, sorted.
pub fn codec_names() -> Vec<&'static str> {
    Codec::registry().names()
}

#[cfg(test)]
mod tests;
