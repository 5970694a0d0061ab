//! [`CodecSet`]: which codecs a reader decodes, and so which ones an
//! encoder writing for that reader may choose.
//!
//! Every encoding names its codecs, so a reader without one of them (an
//! older build, a process that did not register a user's codec) cannot
//! decode it. A writer that knows what its reader decodes encodes inside
//! [`with_codecs`]: the selection then considers only the codecs of the
//! set (`plain`, which every reader has, always), and decoding inside the
//! scope refuses any other codec with [`CodecError::UnknownCodec`], as a
//! reader without it would.
//!
//! ```
//! use unidb_codec::{decode_column, encode_column, with_codecs, Column, ColumnKind, CodecSet, Effort, Values};
//! # fn main() -> Result<(), unidb_codec::CodecError> {
//! let col = Column::new(ColumnKind::Int, Values::Int((0..1000).map(|i| i * 3).collect()))?;
//! let only_for = CodecSet::of(["for"]);
//! let enc = with_codecs(&only_for, || encode_column(&col, Effort::Max))?;
//! assert!(enc.codecs.iter().all(|c| ["for", "plain"].contains(c)));
//! // A reader declaring only `plain` refuses it; any other reader decodes it.
//! assert!(with_codecs(&CodecSet::of(["plain"]), || decode_column(&enc.bytes)).is_err());
//! assert_eq!(decode_column(&enc.bytes)?, col);
//! # Ok(()) }
//! ```
//!
//! Formats: a built-in codec whose stream layout changes keeps its name
//! and gets a higher format number ([`format_of`]); its decoder still reads
//! every older format, but an older reader cannot read the new one. A set
//! therefore holds, per name, the newest format its reader decodes, and
//! admits a codec only when that is at least the format this process
//! writes. Between processes a set travels as [`CodecSet::wire_names`]:
//! `name` for format 1, `name@N` for a later one ([`CodecSet::from_wire`]
//! reads them back). A user's codec that changes its layout takes a new
//! name instead.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use unidb_registry::{PluginKind, RegistryError};

use super::{Codec, CodecError};

/// The codecs built into this version of the crate, sorted by name.
///
/// A peer or file format that names the built-in set of a version (an old
/// peer that did not say what it decodes) keeps its own copy of this list
/// as it was then: codecs are only ever added.
pub const BUILTIN_CODECS: &[&str] = &[
    "ans",
    "bss",
    "decimal",
    "decimal_ulp",
    "delta",
    "dict",
    "dod",
    "f32",
    "fbits",
    "for",
    "front",
    "fsst",
    "gcd",
    "gorilla",
    "huff",
    "linear",
    "lz4",
    "one",
    "plain",
    "rle",
    "svb",
    "varint",
];

/// Built-in codecs whose stream layout changed since format 1, with the
/// format this version writes (and the newest it decodes).
const FORMATS: &[(&str, u32)] = &[
    // 2: four interleaved lanes, each with its own bit stream. Version 3
    // (16 rANS states over one word stream, the kernels' SIMD decoder)
    // decodes but is not written, so it is not announced either: a peer
    // that reads only `ans@2` still gets `ans`.
    ("ans", 2),
];

/// The stream format this process writes for the codec `name` (and the
/// newest it decodes): 1 unless the layout of a built-in changed.
pub fn format_of(name: &str) -> u32 {
    FORMATS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(1, |&(_, f)| f)
}

/// `name` as it travels between processes: `name` for format 1,
/// `name@N` for format N.
fn wire_name(name: &str, format: u32) -> String {
    if format <= 1 {
        name.to_owned()
    } else {
        format!("{name}@{format}")
    }
}

/// Splits `name@N` into the name and N (a bare name is format 1; a
/// suffix that is not a positive number keeps the whole token as a name,
/// which no codec has).
fn parse_wire(token: &str) -> (String, u32) {
    match token.rsplit_once('@') {
        Some((name, f)) => match f.parse::<u32>() {
            Ok(f) if f >= 1 => (name.to_ascii_lowercase(), f),
            _ => (token.to_ascii_lowercase(), 1),
        },
        None => (token.to_ascii_lowercase(), 1),
    }
}

/// The codec every reader decodes, so every set holds it: the selection's
/// fallback for any stream.
pub const PLAIN: &str = "plain";

/// A set of codec names (case-insensitive, like the registry): every
/// registered codec ([`CodecSet::all`], the default), or the named ones,
/// each with the newest stream format its reader decodes (see the module
/// docs). `plain` is in every set. Cloning is cheap.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CodecSet {
    /// Lower-case names with their newest decoded format, `plain`
    /// included; `None` for every registered codec (in this process's
    /// formats).
    names: Option<Arc<BTreeMap<String, u32>>>,
}

impl CodecSet {
    /// Every codec registered in this process (looked up when used, so a
    /// codec registered later is included).
    pub fn all() -> Self {
        CodecSet { names: None }
    }

    /// The codecs built into this crate ([`BUILTIN_CODECS`]).
    pub fn builtin() -> Self {
        CodecSet::of(BUILTIN_CODECS.iter().copied())
    }

    /// The named codecs (and `plain`), each in the format this process
    /// writes ([`format_of`]); `name@N` names format N. Names need not be
    /// registered: a set may describe what another process decodes.
    pub fn of<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::parse(names, format_of)
    }

    /// A set as another process declared it ([`CodecSet::wire_names`]):
    /// `name@N` is format N and a bare name format 1, the format of every
    /// codec before formats were numbered.
    pub fn from_wire<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::parse(names, |_| 1)
    }

    fn parse<I, S>(names: I, bare: impl Fn(&str) -> u32) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeMap::new();
        for token in names {
            let token = token.as_ref();
            let (name, format) = if token.contains('@') {
                parse_wire(token)
            } else {
                (token.to_ascii_lowercase(), bare(token))
            };
            let f = set.entry(name).or_insert(format);
            *f = (*f).max(format);
        }
        set.insert(PLAIN.to_owned(), 1);
        CodecSet {
            names: Some(Arc::new(set)),
        }
    }

    /// Every registered codec except the named ones (`plain` stays).
    pub fn all_except<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let out: BTreeSet<String> = names
            .into_iter()
            .map(|n| n.as_ref().to_ascii_lowercase())
            .collect();
        CodecSet::of(
            Codec::registry()
                .names()
                .into_iter()
                .filter(|n| !out.contains(&n.to_ascii_lowercase())),
        )
    }

    /// Whether this is [`CodecSet::all`].
    pub fn is_all(&self) -> bool {
        self.names.is_none()
    }

    /// Whether the set holds the codec `name` (case-insensitive), in any
    /// format. For [`CodecSet::all`], whether it is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.format(name).is_some()
    }

    /// The newest format of the codec `name` the set's reader decodes, if
    /// it holds the codec.
    pub fn format(&self, name: &str) -> Option<u32> {
        match &self.names {
            None => Codec::registry().contains(name).then(|| format_of(name)),
            Some(set) if name.bytes().any(|b| b.is_ascii_uppercase()) => {
                set.get(&name.to_ascii_lowercase()).copied()
            }
            Some(set) => set.get(name).copied(),
        }
    }

    /// Whether the set's reader decodes the codec `name` in format
    /// `format`.
    pub fn decodes(&self, name: &str, format: u32) -> bool {
        self.format(name).is_some_and(|f| f >= format)
    }

    /// The set as it travels to another process: each name with its
    /// format (`name`, or `name@N` from format 2 on), sorted.
    pub fn wire_names(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .map(|n| {
                let f = self.format(&n).unwrap_or(1);
                wire_name(&n, f)
            })
            .collect()
    }

    /// The names in the set, sorted, lower case (for [`CodecSet::all`],
    /// the registered codecs now).
    pub fn names(&self) -> Vec<String> {
        match &self.names {
            None => Codec::registry()
                .names()
                .into_iter()
                .map(str::to_ascii_lowercase)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            Some(set) => set.keys().cloned().collect(),
        }
    }

    /// The codecs in both sets, each in the older of the two formats
    /// (what a writer for `other` may use when it decodes `self` itself).
    pub fn intersection(&self, other: &CodecSet) -> CodecSet {
        match (&self.names, &other.names) {
            (None, None) => CodecSet::all(),
            (Some(_), None) => self.intersection(&CodecSet::of(other.names())),
            (None, Some(_)) => other.intersection(self),
            (Some(a), Some(b)) => CodecSet {
                names: Some(Arc::new(
                    a.iter()
                        .filter_map(|(n, &fa)| b.get(n).map(|&fb| (n.clone(), fa.min(fb))))
                        .collect(),
                )),
            },
        }
    }

    /// The codecs of `names` (as [`CodecSet::wire_names`] writes them: a
    /// bare name is format 1) that the set's reader cannot decode, sorted,
    /// each once.
    pub fn missing<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Vec<&'n str> {
        let mut out: Vec<&str> = names
            .into_iter()
            .filter(|n| {
                let (name, format) = parse_wire(n);
                !self.decodes(&name, format)
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The error a reader restricted to this set gives for the codec
    /// `name` at `offset`: [`CodecError::UnknownCodec`] listing the
    /// registered codecs of the set.
    pub(crate) fn refuse(&self, name: &str, offset: usize) -> CodecError {
        let known = Codec::registry()
            .names()
            .into_iter()
            .filter(|n| self.contains(n))
            .collect();
        CodecError::UnknownCodec {
            offset,
            source: RegistryError::Unknown {
                kind: <Codec as PluginKind>::KIND,
                name: name.to_owned(),
                known,
            },
        }
    }
}

impl fmt::Debug for CodecSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.names {
            None => f.write_str("CodecSet::all()"),
            Some(_) => f.debug_set().entries(self.wire_names()).finish(),
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for CodecSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        CodecSet::of(iter)
    }
}

thread_local! {
    /// The set of the innermost [`with_codecs`] scope on this thread.
    static SCOPE: RefCell<CodecSet> = RefCell::new(CodecSet::all());
}

/// Restores the enclosing scope's set, also when `f` panics.
struct Restore(Option<CodecSet>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            SCOPE.with(|s| *s.borrow_mut() = prev);
        }
    }
}

/// Runs `f` with the codecs restricted to `codecs` on this thread: every
/// encoding inside (the [`encode_column`](super::encode_column)
/// selection, a [`CascadeCache`](super::CascadeCache)'s remembered
/// cascades, child streams a codec asks for) chooses only among them, and
/// every decoding inside refuses any other codec with
/// [`CodecError::UnknownCodec`]. An inner scope replaces an outer one for
/// its duration. Encoding and decoding are synchronous, so the scope
/// covers exactly the work `f` does on this thread.
pub fn with_codecs<R>(codecs: &CodecSet, f: impl FnOnce() -> R) -> R {
    let prev = SCOPE.with(|s| std::mem::replace(&mut *s.borrow_mut(), codecs.clone()));
    let _restore = Restore(Some(prev));
    f()
}

/// The set of the current scope ([`CodecSet::all`] outside any).
pub fn current_codecs() -> CodecSet {
    SCOPE.with(|s| s.borrow().clone())
}

/// Whether the current scope lets an encoder choose, or a decoder
/// accept, `codec` in the format this process writes (always `plain`).
pub(crate) fn admits(codec: &Codec) -> bool {
    SCOPE.with(|s| {
        let s = s.borrow();
        s.is_all() || s.decodes(codec.info.name, format_of(codec.info.name))
    })
}

#[cfg(test)]
mod tests;
