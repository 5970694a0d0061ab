//! FAISS `index_factory` strings and search-parameter strings, parsed into
//! typed descriptions, so a FAISS user describes a collection the way they
//! already do.
//!
//! A factory string is a comma-separated list: optional transforms, the
//! index, its encoding (how vectors are stored), and an optional exact
//! rerank. [`FactorySpec`] parses it ([`str::parse`]) and writes it back in
//! canonical form ([`Display`](fmt::Display)); parsing the canonical form
//! gives the same spec. The grammar is FAISS's (`faiss/index_factory.cpp`)
//! for the parts listed in [`FORMS`]:
//!
//! | part | forms | notes |
//! |------|-------|-------|
//! | transform | `PCA{d}`, `PCAW{d}`, `PCAR{d}`, `PCAWR{d}` | `W` whitens, `R` adds a random rotation after the projection |
//! | transform | `OPQ{M}`, `OPQ{M}_{d}` | rotation learned for a PQ of `M` sub-quantizers, output dimension `d` (default: unchanged) |
//! | index | `Flat` | exact search; a bare encoding (`SQ8`, `PQ16`, `RaBitQ`) is an exact scan over that encoding |
//! | index | `HNSW{M}`, `HNSW` | graph with `M` links (default 32); no encoding means `Flat`; `HNSW32_SQ8` is FAISS's older spelling of `HNSW32,SQ8` |
//! | index | `IVF{n}`, `IVF{n}k`, `IVF{n}M` | `n` lists (`k` = ×1024, `M` = ×1024²); an encoding is required |
//! | encoding | `Flat`, `SQ8`, `SQ4`, `SQfp16` | f32 rows; 8-bit, 4-bit scalar quantization; IEEE half |
//! | encoding | `PQ{M}`, `PQ{M}x{nbits}`, `PQ{M}x4fs` | product quantization (`nbits` default 8; `x4fs`: 4-bit fast scan) |
//! | encoding | `RaBitQ` | one bit per dimension with the RaBitQ estimator |
//! | rerank | `,RFlat` (last) | keep the original rows and re-score candidates exactly |
//!
//! As in FAISS, HNSW takes `Flat`, `SQ…` and `PQ{M}[x{nbits}]` (not the
//! fast-scan layout nor RaBitQ); IVF and a bare encoding take every
//! encoding. Numbers are decimal, at least 1 and at most 2³¹ − 1 (FAISS's
//! `int`); `nbits` is 1 to 16. A string that does not parse is a
//! [`FactoryError`] naming the offending token, its byte position, and the
//! accepted forms. [`FactorySpec::validate`] checks a spec against the
//! input dimension (a PQ's `M` must divide the dimension it sees).
//!
//! Search parameters are FAISS `ParameterSpace` strings:
//! `"nprobe=16,efSearch=64,k_factor_rf=4"` ([`SearchParams`]), mapped onto
//! the index's typed search parameters by [`FactorySpec::search`].
//!
//! ```
//! use unidb_vectordb::factory::{Encoding, FactorySpec, IndexKind};
//! # fn main() -> Result<(), unidb_vectordb::factory::FactoryError> {
//! let spec: FactorySpec = "IVF4k,PQ16".parse()?;
//! assert_eq!(spec.index, IndexKind::Ivf { nlist: 4096 });
//! assert_eq!(spec.encoding, Encoding::Pq { m: 16, nbits: 8 });
//! assert_eq!(spec.to_string(), "IVF4096,PQ16x8");
//! assert_eq!(spec.validate(128)?, 128);
//! assert!(spec.validate(100).is_err()); // 16 does not divide 100
//! let err = "HNSW32,PQ16x4fs".parse::<FactorySpec>().unwrap_err();
//! assert!(err.to_string().contains("PQ16x4fs"));
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Result, VectorError};
use crate::hnsw::{HnswConfig, HnswSearch};
use crate::ivf::{IvfConfig, IvfSearch};
use crate::params::Params;
use crate::quant::pq::PqConfig;
use crate::storage::Storage;
use crate::CollectionConfig;

/// The accepted forms, as listed in every parse error.
pub const FORMS: &str = "[PCA{d}|PCAW{d}|PCAR{d}|PCAWR{d}|OPQ{M}|OPQ{M}_{d},]... \
     then Flat | HNSW[{M}][,Flat|,SQ8|,SQ4|,SQfp16|,PQ{M}[x{nbits}]] | \
     IVF{n}[k|M],(Flat|SQ8|SQ4|SQfp16|PQ{M}[x{nbits}]|PQ{M}x4fs|RaBitQ) | \
     SQ8 | SQ4 | SQfp16 | PQ{M}[x{nbits}] | PQ{M}x4fs | RaBitQ, \
     then optionally ,RFlat";

/// The search parameter names [`SearchParams`] accepts.
pub const SEARCH_PARAMS: &str = "nprobe={n}, efSearch={n}, k_factor_rf={x}";

/// The largest number a factory string may hold (FAISS parses them as
/// `int`).
pub const MAX_NUMBER: usize = i32::MAX as usize;

/// A transform applied to vectors before they are indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// PCA to `d_out` dimensions (`PCA{d}`), optionally whitened (`W`)
    /// and followed by a random rotation (`R`).
    Pca {
        /// Output dimension.
        d_out: usize,
        /// Scale each component to unit variance.
        whiten: bool,
        /// Apply a random rotation after the projection.
        rotate: bool,
    },
    /// The OPQ rotation learned jointly with a PQ of `m` sub-quantizers
    /// (`OPQ{M}` or `OPQ{M}_{d}`).
    Opq {
        /// Sub-quantizers the rotation is learned for.
        m: usize,
        /// Output dimension; `None` keeps the input dimension.
        d_out: Option<usize>,
    },
}

/// The index structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// Exact search over every stored vector (`Flat`, or a bare encoding).
    Flat,
    /// HNSW graph with `m` links per node (`HNSW{M}`).
    Hnsw {
        /// Links per node.
        m: usize,
    },
    /// Inverted file with `nlist` lists (`IVF{n}`).
    Ivf {
        /// Number of lists.
        nlist: usize,
    },
}

/// How vectors are encoded in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// f32 rows (`Flat`).
    Flat,
    /// 8-bit scalar quantization (`SQ8`).
    Sq8,
    /// 4-bit scalar quantization (`SQ4`).
    Sq4,
    /// IEEE half rows (`SQfp16`).
    SqFp16,
    /// Product quantization: `m` sub-quantizers of `nbits` bits
    /// (`PQ{M}x{nbits}`).
    Pq {
        /// Sub-quantizers.
        m: usize,
        /// Bits per sub-quantizer code.
        nbits: u32,
    },
    /// 4-bit product quantization in the fast-scan layout (`PQ{M}x4fs`).
    PqFastScan {
        /// Sub-quantizers.
        m: usize,
    },
    /// One bit per dimension with the RaBitQ estimator (`RaBitQ`).
    RaBitQ,
}

/// A parsed FAISS `index_factory` string (see the [module](self) for the
/// grammar).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FactorySpec {
    /// Transforms, applied in order.
    pub transforms: Vec<Transform>,
    /// The index.
    pub index: IndexKind,
    /// The encoding of the indexed vectors.
    pub encoding: Encoding,
    /// Keep the original rows and re-score candidates exactly (`,RFlat`).
    pub rerank: bool,
}

/// Why a factory or search-parameter string was refused, or a spec cannot
/// be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FactoryError {
    /// A token that is not one of the accepted forms where it stands.
    #[error(
        "factory string {input:?}: {problem}: {token:?} at position {position}; accepted forms: {FORMS}"
    )]
    Syntax {
        /// The whole string.
        input: String,
        /// The offending token (empty when one is missing).
        token: String,
        /// Its byte offset in `input`.
        position: usize,
        /// What is wrong.
        problem: String,
    },
    /// A number in a token is zero or too large.
    #[error(
        "factory string {input:?}: {problem} in {token:?} at position {position}; accepted forms: {FORMS}"
    )]
    Number {
        /// The whole string.
        input: String,
        /// The token holding the number.
        token: String,
        /// Its byte offset in `input`.
        position: usize,
        /// What is wrong with the number.
        problem: String,
    },
    /// A spec does not fit the dimension of the vectors
    /// ([`FactorySpec::validate`]).
    #[error("{spec} on dimension {dim}: {part}: {problem}")]
    Dimension {
        /// The spec (canonical string).
        spec: String,
        /// The input dimension.
        dim: usize,
        /// The part that does not fit.
        part: String,
        /// Why.
        problem: String,
    },
    /// A search-parameter string that does not parse, or a parameter the
    /// spec's index does not have.
    #[error(
        "search parameters {input:?}: {problem}: {token:?} at position {position}; accepted: {SEARCH_PARAMS}"
    )]
    SearchParam {
        /// The whole string (or the spec, for a parameter it lacks).
        input: String,
        /// The offending `name=value` item.
        token: String,
        /// Its byte offset in `input`.
        position: usize,
        /// What is wrong.
        problem: String,
    },
    /// A valid spec holding parts this build cannot construct yet.
    #[error("{spec}: not supported yet: {}", .parts.join(", "))]
    Unsupported {
        /// The spec (canonical string).
        spec: String,
        /// The parts that cannot be built, as written in the spec.
        parts: Vec<String>,
    },
}

impl FactoryError {
    /// The project-wide category: [`Unsupported`](unidb_common::ErrorKind::Unsupported)
    /// for a spec this build cannot construct, otherwise
    /// [`Configuration`](unidb_common::ErrorKind::Configuration).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        match self {
            FactoryError::Unsupported { .. } => unidb_common::ErrorKind::Unsupported,
            _ => unidb_common::ErrorKind::Configuration,
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Transform::Pca {
                d_out,
                whiten,
                rotate,
            } => {
                let w = if whiten { "W" } else { "" };
                let r = if rotate { "R" } else { "" };
                write!(f, "PCA{w}{r}{d_out}")
            }
            Transform::Opq { m, d_out: None } => write!(f, "OPQ{m}"),
            Transform::Opq { m, d_out: Some(d) } => write!(f, "OPQ{m}_{d}"),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Encoding::Flat => f.write_str("Flat"),
            Encoding::Sq8 => f.write_str("SQ8"),
            Encoding::Sq4 => f.write_str("SQ4"),
            Encoding::SqFp16 => f.write_str("SQfp16"),
            Encoding::Pq { m, nbits } => write!(f, "PQ{m}x{nbits}"),
            Encoding::PqFastScan { m } => write!(f, "PQ{m}x4fs"),
            Encoding::RaBitQ => f.write_str("RaBitQ"),
        }
    }
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IndexKind::Flat => f.write_str("Flat"),
            IndexKind::Hnsw { m } => write!(f, "HNSW{m}"),
            IndexKind::Ivf { nlist } => write!(f, "IVF{nlist}"),
        }
    }
}

impl fmt::Display for FactorySpec {
    /// The canonical string: transforms, then the index and its encoding
    /// (`HNSW32,Flat`, `IVF1024,PQ16x8`; a flat index is its encoding
    /// alone: `Flat`, `SQ8`), then `,RFlat`. Parsing it gives `self` back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.transforms {
            write!(f, "{t},")?;
        }
        match self.index {
            IndexKind::Flat => write!(f, "{}", self.encoding)?,
            index => write!(f, "{index},{}", self.encoding)?,
        }
        if self.rerank {
            f.write_str(",RFlat")?;
        }
        Ok(())
    }
}

/// One comma-separated token and its byte offset.
#[derive(Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    position: usize,
}

/// Parses factory strings, reporting errors against the whole input.
struct Parser<'a> {
    input: &'a str,
}

impl<'a> Parser<'a> {
    fn syntax(&self, token: Token<'_>, problem: impl Into<String>) -> FactoryError {
        FactoryError::Syntax {
            input: self.input.to_owned(),
            token: token.text.to_owned(),
            position: token.position,
            problem: problem.into(),
        }
    }

    fn number_error(&self, token: Token<'_>, problem: String) -> FactoryError {
        FactoryError::Number {
            input: self.input.to_owned(),
            token: token.text.to_owned(),
            position: token.position,
            problem,
        }
    }

    /// A decimal number (`digits`, non-empty ASCII digits) of the token,
    /// times `multiplier`, checked to be in `1..=max`.
    fn number(
        &self,
        token: Token<'_>,
        what: &str,
        digits: &str,
        multiplier: usize,
        max: usize,
    ) -> Result<usize, FactoryError> {
        let too_large = || self.number_error(token, format!("{what} is larger than {max}"));
        let mut v: usize = 0;
        for b in digits.bytes() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(usize::from(b - b'0')))
                .filter(|&v| v <= MAX_NUMBER)
                .ok_or_else(too_large)?;
        }
        let v = v.checked_mul(multiplier).ok_or_else(too_large)?;
        if v == 0 {
            return Err(self.number_error(token, format!("{what} must be at least 1")));
        }
        if v > max {
            return Err(too_large());
        }
        Ok(v)
    }

    /// A transform token, or `None` when the token is not one.
    fn transform(&self, token: Token<'_>) -> Result<Option<Transform>, FactoryError> {
        let t = token.text;
        if let Some(rest) = t.strip_prefix("PCA") {
            let (whiten, rest) = match rest.strip_prefix('W') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let (rotate, rest) = match rest.strip_prefix('R') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            if !is_digits(rest) {
                return Err(self.syntax(
                    token,
                    "a PCA is PCA{d}, PCAW{d}, PCAR{d} or PCAWR{d} (FAISS puts W and R before the dimension)",
                ));
            }
            let d_out = self.number(token, "the PCA dimension", rest, 1, MAX_NUMBER)?;
            return Ok(Some(Transform::Pca {
                d_out,
                whiten,
                rotate,
            }));
        }
        if let Some(rest) = t.strip_prefix("OPQ") {
            let (m, d) = match rest.split_once('_') {
                Some((m, d)) => (m, Some(d)),
                None => (rest, None),
            };
            if !is_digits(m) || d.is_some_and(|d| !is_digits(d)) {
                return Err(self.syntax(token, "an OPQ is OPQ{M} or OPQ{M}_{d}"));
            }
            let m = self.number(token, "the OPQ M", m, 1, MAX_NUMBER)?;
            let d_out = d
                .map(|d| self.number(token, "the OPQ dimension", d, 1, MAX_NUMBER))
                .transpose()?;
            return Ok(Some(Transform::Opq { m, d_out }));
        }
        Ok(None)
    }

    /// An encoding token (`Flat`, `SQ…`, `PQ…`, `RaBitQ`), or `None` when
    /// the token does not start like one.
    fn encoding(&self, token: Token<'_>) -> Result<Option<Encoding>, FactoryError> {
        let t = token.text;
        let simple = match t {
            "Flat" => Some(Encoding::Flat),
            "SQ8" => Some(Encoding::Sq8),
            "SQ4" => Some(Encoding::Sq4),
            "SQfp16" => Some(Encoding::SqFp16),
            "RaBitQ" => Some(Encoding::RaBitQ),
            _ => None,
        };
        if simple.is_some() {
            return Ok(simple);
        }
        if t.starts_with("SQ") {
            return Err(self.syntax(
                token,
                "the scalar quantizers supported are SQ8, SQ4 and SQfp16",
            ));
        }
        let Some(rest) = t.strip_prefix("PQ") else {
            return Ok(None);
        };
        let bad = || self.syntax(token, "a PQ is PQ{M}, PQ{M}x{nbits} or PQ{M}x4fs");
        if let Some(m) = rest.strip_suffix("x4fs") {
            if !is_digits(m) {
                return Err(bad());
            }
            let m = self.number(token, "the PQ M", m, 1, MAX_NUMBER)?;
            return Ok(Some(Encoding::PqFastScan { m }));
        }
        let (m, nbits) = match rest.split_once('x') {
            Some((m, n)) => (m, Some(n)),
            None => (rest, None),
        };
        if !is_digits(m) || nbits.is_some_and(|n| !is_digits(n)) {
            return Err(bad());
        }
        let m = self.number(token, "the PQ M", m, 1, MAX_NUMBER)?;
        let nbits = match nbits {
            Some(n) => self.number(token, "the PQ nbits", n, 1, 16)? as u32,
            None => 8,
        };
        Ok(Some(Encoding::Pq { m, nbits }))
    }

    /// `HNSW[{M}]` with an optional `_{encoding}` suffix (FAISS's older
    /// separator), or `None` when the token is not an HNSW.
    fn hnsw(&self, token: Token<'a>) -> Result<Option<(usize, Option<Token<'a>>)>, FactoryError> {
        let Some(rest) = token.text.strip_prefix("HNSW") else {
            return Ok(None);
        };
        let (m, code) = match rest.split_once('_') {
            Some((m, code)) => {
                let at = token.position + 4 + m.len() + 1;
                (
                    m,
                    Some(Token {
                        text: code,
                        position: at,
                    }),
                )
            }
            None => (rest, None),
        };
        if !m.is_empty() && !is_digits(m) {
            return Err(self.syntax(token, "an HNSW index is HNSW or HNSW{M}"));
        }
        let m = if m.is_empty() {
            32
        } else {
            self.number(token, "the HNSW M", m, 1, MAX_NUMBER)?
        };
        Ok(Some((m, code)))
    }

    /// `IVF{n}[k|M]`, or `None` when the token is not an IVF.
    fn ivf(&self, token: Token<'_>) -> Result<Option<usize>, FactoryError> {
        let Some(rest) = token.text.strip_prefix("IVF") else {
            return Ok(None);
        };
        let (digits, multiplier) = if let Some(d) = rest.strip_suffix('k') {
            (d, 1024)
        } else if let Some(d) = rest.strip_suffix('M') {
            (d, 1024 * 1024)
        } else {
            (rest, 1)
        };
        if !is_digits(digits) {
            return Err(self.syntax(
                token,
                "an IVF index is IVF{n}, IVF{n}k or IVF{n}M (other coarse quantizers are not supported)",
            ));
        }
        let nlist = self.number(token, "the IVF list count", digits, multiplier, MAX_NUMBER)?;
        Ok(Some(nlist))
    }

    /// The encoding after an index: an error naming the token when it is
    /// not one `allowed` accepts.
    fn encoding_for(
        &self,
        token: Token<'_>,
        index: &str,
        allowed: fn(Encoding) -> bool,
    ) -> Result<Encoding, FactoryError> {
        match self.encoding(token)? {
            Some(e) if allowed(e) => Ok(e),
            Some(_) => Err(self.syntax(token, format!("{index} does not take this encoding"))),
            None => Err(self.syntax(token, format!("expected an encoding after {index}"))),
        }
    }

    fn parse(&self) -> Result<FactorySpec, FactoryError> {
        let mut tokens = Vec::new();
        let mut position = 0;
        for text in self.input.split(',') {
            tokens.push(Token { text, position });
            position += text.len() + 1;
        }
        if let Some(empty) = tokens.iter().find(|t| t.text.is_empty()) {
            return Err(self.syntax(*empty, "empty component"));
        }
        let mut rerank = false;
        if tokens.len() > 1 && tokens.last().is_some_and(|t| t.text == "RFlat") {
            rerank = true;
            tokens.pop();
        }
        let mut transforms = Vec::new();
        let mut rest = &tokens[..];
        while let [first, more @ ..] = rest {
            match self.transform(*first)? {
                Some(_) if more.is_empty() => {
                    return Err(self.syntax(*first, "a transform must be followed by an index"));
                }
                Some(t) => {
                    transforms.push(t);
                    rest = more;
                }
                None => break,
            }
        }
        let (index, encoding, used) = self.core(rest)?;
        if let Some(extra) = rest.get(used) {
            let problem = if extra.text == "RFlat" {
                "RFlat must come last"
            } else {
                "unexpected component after the encoding"
            };
            return Err(self.syntax(*extra, problem));
        }
        Ok(FactorySpec {
            transforms,
            index,
            encoding,
            rerank,
        })
    }

    /// The index and encoding at the start of `tokens` (non-empty), and
    /// how many tokens they took.
    fn core(&self, tokens: &[Token<'a>]) -> Result<(IndexKind, Encoding, usize), FactoryError> {
        let first = tokens[0];
        let next = tokens.get(1).copied();
        if let Some((m, code)) = self.hnsw(first)? {
            let hnsw_takes = |e| {
                matches!(
                    e,
                    Encoding::Flat
                        | Encoding::Sq8
                        | Encoding::Sq4
                        | Encoding::SqFp16
                        | Encoding::Pq { .. }
                )
            };
            let index = IndexKind::Hnsw { m };
            return match (code, next) {
                (Some(code), _) => Ok((index, self.encoding_for(code, "HNSW", hnsw_takes)?, 1)),
                (None, Some(next)) => Ok((index, self.encoding_for(next, "HNSW", hnsw_takes)?, 2)),
                (None, _) => Ok((index, Encoding::Flat, 1)),
            };
        }
        if let Some(nlist) = self.ivf(first)? {
            let index = IndexKind::Ivf { nlist };
            let Some(next) = next else {
                let end = Token {
                    text: "",
                    position: self.input.len(),
                };
                return Err(self.syntax(end, "IVF needs an encoding after it (e.g. IVF{n},Flat)"));
            };
            return Ok((index, self.encoding_for(next, "IVF", |_| true)?, 2));
        }
        match self.encoding(first)? {
            Some(e) => Ok((IndexKind::Flat, e, 1)),
            None => Err(self.syntax(first, "unknown component")),
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl FromStr for FactorySpec {
    type Err = FactoryError;

    /// Parses a FAISS `index_factory` string (see the [module](self)).
    fn from_str(s: &str) -> Result<Self, FactoryError> {
        Parser { input: s }.parse()
    }
}

impl FactorySpec {
    /// Parses a FAISS `index_factory` string (as [`str::parse`]).
    ///
    /// # Errors
    /// [`FactoryError::Syntax`] or [`FactoryError::Number`] naming the
    /// offending token and its position.
    pub fn parse(s: &str) -> Result<Self, FactoryError> {
        s.parse()
    }

    /// Checks the spec against the dimension of the input vectors and
    /// returns the dimension the index sees (after the transforms): a PCA
    /// cannot raise the dimension; an OPQ's `M` must divide its output
    /// dimension; a PQ's `M` must divide the dimension it encodes.
    ///
    /// # Errors
    /// [`FactoryError::Dimension`] naming the part that does not fit.
    pub fn validate(&self, dim: usize) -> Result<usize, FactoryError> {
        let fail = |part: String, problem: String| FactoryError::Dimension {
            spec: self.to_string(),
            dim,
            part,
            problem,
        };
        if dim == 0 {
            return Err(fail("dimension".into(), "must be at least 1".into()));
        }
        let mut d = dim;
        for t in &self.transforms {
            match *t {
                Transform::Pca { d_out, .. } => {
                    if d_out > d {
                        return Err(fail(
                            t.to_string(),
                            format!("cannot raise dimension {d} to {d_out}"),
                        ));
                    }
                    d = d_out;
                }
                Transform::Opq { m, d_out } => {
                    let out = d_out.unwrap_or(d);
                    if !out.is_multiple_of(m) {
                        return Err(fail(
                            t.to_string(),
                            format!("M = {m} does not divide the output dimension {out}"),
                        ));
                    }
                    d = out;
                }
            }
        }
        if let Encoding::Pq { m, .. } | Encoding::PqFastScan { m } = self.encoding {
            if !d.is_multiple_of(m) {
                return Err(fail(
                    self.encoding.to_string(),
                    format!("M = {m} does not divide the dimension {d}"),
                ));
            }
        }
        Ok(d)
    }

    /// The parts of the spec this build cannot construct yet, as written
    /// in the canonical string (empty when [`FactorySpec::build`] can
    /// build it): `OPQ` and RaBitQ, and in a build without the
    /// `linalg` feature `PCA…`, written `PCA64 (needs the linalg
    /// feature)`.
    pub fn unsupported_parts(&self) -> Vec<String> {
        let mut parts: Vec<String> = self
            .transforms
            .iter()
            .filter_map(|t| match t {
                Transform::Pca { .. } if cfg!(feature = "linalg") => None,
                Transform::Pca { .. } => Some(format!("{t} (needs the linalg feature)")),
                Transform::Opq { .. } => Some(t.to_string()),
            })
            .collect();
        if self.storage().is_none() {
            parts.push(self.encoding.to_string());
        }
        parts
    }

    /// The collection storage of the encoding, when there is one:
    /// `Flat` is f32, `SQfp16` f16, `SQ8` the i8 scalar quantizer (a
    /// range per dimension, as FAISS's `SQ8`; see [`Storage`]), `SQ4`
    /// the 4-bit one ([`Storage::Sq4`]), and
    /// `PQ{M}x{nbits}` / `PQ{M}x4fs` pq storage (4-bit codes are stored
    /// two per byte; an IVF index scans them in FAISS's 32-vector
    /// fast-scan blocks, flat and HNSW per row through the table).
    pub fn storage(&self) -> Option<Storage> {
        match self.encoding {
            Encoding::Flat => Some(Storage::F32),
            Encoding::SqFp16 => Some(Storage::F16),
            Encoding::Sq8 => Some(Storage::I8),
            Encoding::Sq4 => Some(Storage::Sq4),
            Encoding::Pq { nbits: 4 | 8, .. } | Encoding::PqFastScan { .. } => Some(Storage::Pq),
            _ => None,
        }
    }

    /// The product quantizer's configuration of a PQ encoding (FAISS's
    /// training defaults otherwise: 25 iterations, `256 · 2^nbits`
    /// training vectors).
    pub fn pq_config(&self) -> Option<PqConfig> {
        let (m, nbits) = match self.encoding {
            Encoding::Pq { m, nbits } => (m, nbits),
            Encoding::PqFastScan { m } => (m, 4),
            _ => return None,
        };
        Some(PqConfig {
            m,
            nbits,
            iterations: 25,
            max_train: 256 << nbits,
            ..PqConfig::default()
        })
    }

    /// The spec of a collection this build makes: `index` (`flat`, `hnsw`
    /// or `ivf`), with `m` (HNSW links) and `nlist` (IVF lists), over
    /// `storage`. `None` for an index plugin with no factory name.
    pub fn of_index(index: &str, storage: Storage, m: usize, nlist: usize) -> Option<Self> {
        let index = match index.to_ascii_lowercase().as_str() {
            "flat" => IndexKind::Flat,
            "hnsw" => IndexKind::Hnsw { m },
            "ivf" => IndexKind::Ivf { nlist },
            _ => return None,
        };
        let encoding = match storage {
            Storage::F32 => Encoding::Flat,
            Storage::F16 => Encoding::SqFp16,
            Storage::I8 => Encoding::Sq8,
            Storage::Sq4 => Encoding::Sq4,
            // The shape of the codes is not a storage's.
            Storage::Pq => return None,
        };
        Some(FactorySpec {
            transforms: Vec::new(),
            index,
            encoding,
            rerank: false,
        })
    }

    fn unsupported_error(&self) -> Option<FactoryError> {
        let parts = self.unsupported_parts();
        (!parts.is_empty()).then(|| FactoryError::Unsupported {
            spec: self.to_string(),
            parts,
        })
    }

    /// What this build constructs for the spec: the collection
    /// configuration (dimension, metric, storage) and the index to attach.
    ///
    /// # Errors
    /// [`FactoryError::Dimension`] (see [`FactorySpec::validate`]) or
    /// [`FactoryError::Unsupported`] naming the parts this build cannot
    /// construct yet.
    pub fn build(
        &self,
        dim: usize,
        metric: &str,
    ) -> Result<(CollectionConfig, IndexBuild), FactoryError> {
        self.validate(dim)?;
        if let Some(e) = self.unsupported_error() {
            return Err(e);
        }
        let storage = self.storage().expect("unsupported encodings refused above");
        let mut config = CollectionConfig::new(dim, metric)
            .with_storage(storage)
            .with_refine(self.rerank)
            .with_transforms(self.transform_steps());
        config.pq = self.pq_config();
        let index = match self.index {
            IndexKind::Flat => IndexBuild::Flat,
            IndexKind::Hnsw { m } => IndexBuild::Hnsw(HnswConfig {
                m,
                ..HnswConfig::default()
            }),
            IndexKind::Ivf { nlist } => IndexBuild::Ivf(IvfConfig {
                nlist,
                ..IvfConfig::default()
            }),
        };
        Ok((config, index))
    }

    /// The collection transforms of the spec's transforms: `PCA{d}` is
    /// the `pca` transform keeping `d` components (whitened with `W`),
    /// followed with `R` by a random `rotation` (FAISS's `PCAR`).
    pub fn transform_steps(&self) -> Vec<crate::TransformStep> {
        let mut steps = Vec::new();
        for t in &self.transforms {
            match *t {
                Transform::Pca {
                    d_out,
                    whiten,
                    rotate,
                } => {
                    steps.push(crate::TransformStep::new(
                        "pca",
                        serde_json::json!({ "dim_out": d_out, "whiten": whiten }),
                    ));
                    if rotate {
                        steps.push(crate::TransformStep::new("rotation", serde_json::json!({})));
                    }
                }
                Transform::Opq { .. } => {}
            }
        }
        steps
    }

    /// Maps FAISS search parameters onto this spec's index: `nprobe` onto
    /// [`IvfSearch`], `efSearch` onto [`HnswSearch`]; a parameter the
    /// index does not have is an error, as in FAISS.
    ///
    /// ```
    /// use unidb_vectordb::factory::{FactorySpec, IndexSearch, SearchParams};
    /// use unidb_vectordb::ivf::IvfSearch;
    /// # fn main() -> Result<(), unidb_vectordb::factory::FactoryError> {
    /// let spec: FactorySpec = "IVF256,Flat".parse()?;
    /// let params: SearchParams = "nprobe=16".parse()?;
    /// assert_eq!(spec.search(&params)?, IndexSearch::Ivf(IvfSearch { nprobe: Some(16) }));
    /// assert!(spec.search(&"efSearch=64".parse()?).is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// `k_factor_rf` belongs to the rerank stage, not the index: it is
    /// accepted with `RFlat` (and goes into
    /// [`SearchOptions::k_factor`](crate::SearchOptions::k_factor)).
    ///
    /// # Errors
    /// [`FactoryError::SearchParam`] naming a parameter the spec does
    /// not have (`k_factor_rf` without `RFlat`).
    pub fn search(&self, params: &SearchParams) -> Result<IndexSearch, FactoryError> {
        let lacks = |name: &str, value: String| FactoryError::SearchParam {
            input: params.to_string(),
            token: format!("{name}={value}"),
            position: params.position_of(name),
            problem: format!("{self} has no parameter {name}"),
        };
        if let (Some(v), false) = (params.nprobe, matches!(self.index, IndexKind::Ivf { .. })) {
            return Err(lacks("nprobe", v.to_string()));
        }
        if let (Some(v), false) = (
            params.ef_search,
            matches!(self.index, IndexKind::Hnsw { .. }),
        ) {
            return Err(lacks("efSearch", v.to_string()));
        }
        if let (Some(v), false) = (params.k_factor_rf, self.rerank) {
            return Err(lacks("k_factor_rf", v.to_string()));
        }
        Ok(match self.index {
            IndexKind::Flat => IndexSearch::Exact,
            IndexKind::Hnsw { .. } => IndexSearch::Hnsw(HnswSearch {
                ef: params.ef_search,
            }),
            IndexKind::Ivf { .. } => IndexSearch::Ivf(IvfSearch {
                nprobe: params.nprobe,
            }),
        })
    }
}

/// The index [`FactorySpec::build`] attaches, with its build parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum IndexBuild {
    /// The `flat` index (exact search).
    Flat,
    /// The `hnsw` index.
    Hnsw(HnswConfig),
    /// The `ivf` index.
    Ivf(IvfConfig),
}

impl IndexBuild {
    /// The index plugin's name (`flat`, `hnsw`, `ivf`).
    pub fn plugin(&self) -> &'static str {
        match self {
            IndexBuild::Flat => "flat",
            IndexBuild::Hnsw(_) => "hnsw",
            IndexBuild::Ivf(_) => "ivf",
        }
    }

    /// The build parameters, as the plugin takes them.
    pub fn params(&self) -> Params<'_> {
        match self {
            IndexBuild::Flat => Params::defaults(),
            IndexBuild::Hnsw(c) => Params::typed(c),
            IndexBuild::Ivf(c) => Params::typed(c),
        }
    }
}

/// Typed search parameters of an index, from [`FactorySpec::search`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexSearch {
    /// Exact search takes none.
    Exact,
    /// HNSW's.
    Hnsw(HnswSearch),
    /// IVF's.
    Ivf(IvfSearch),
}

impl IndexSearch {
    /// The parameters as [`SearchOptions::params`](crate::SearchOptions::params)
    /// takes them.
    pub fn params(&self) -> Params<'_> {
        match self {
            IndexSearch::Exact => Params::defaults(),
            IndexSearch::Hnsw(s) => Params::typed(s),
            IndexSearch::Ivf(s) => Params::typed(s),
        }
    }
}

/// FAISS search parameters as a `ParameterSpace` string:
/// comma-separated `name=value` items, each name at most once: `nprobe`
/// (IVF lists probed), `efSearch` (HNSW candidate list), `k_factor_rf`
/// (rerank depth factor of `RFlat`, at least 1). The empty string sets
/// none. [`Display`](fmt::Display) writes the canonical string back.
///
/// ```
/// use unidb_vectordb::factory::SearchParams;
/// # fn main() -> Result<(), unidb_vectordb::factory::FactoryError> {
/// let p: SearchParams = "nprobe=16,efSearch=64".parse()?;
/// assert_eq!((p.nprobe, p.ef_search, p.k_factor_rf), (Some(16), Some(64), None));
/// assert!("nprobes=16".parse::<SearchParams>().is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SearchParams {
    /// `nprobe`.
    pub nprobe: Option<usize>,
    /// `efSearch`.
    pub ef_search: Option<usize>,
    /// `k_factor_rf`.
    pub k_factor_rf: Option<f32>,
}

impl SearchParams {
    /// Where `name` is in the canonical string (0 when absent).
    fn position_of(&self, name: &str) -> usize {
        self.to_string().find(name).unwrap_or(0)
    }
}

impl fmt::Display for SearchParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(v) = self.nprobe {
            write!(f, "nprobe={v}")?;
            sep = ",";
        }
        if let Some(v) = self.ef_search {
            write!(f, "{sep}efSearch={v}")?;
            sep = ",";
        }
        if let Some(v) = self.k_factor_rf {
            write!(f, "{sep}k_factor_rf={v}")?;
        }
        Ok(())
    }
}

impl FromStr for SearchParams {
    type Err = FactoryError;

    fn from_str(s: &str) -> Result<Self, FactoryError> {
        let mut params = SearchParams::default();
        if s.is_empty() {
            return Ok(params);
        }
        let mut position = 0;
        for item in s.split(',') {
            let at = position;
            position += item.len() + 1;
            let fail = |problem: String| FactoryError::SearchParam {
                input: s.to_owned(),
                token: item.to_owned(),
                position: at,
                problem,
            };
            let Some((name, value)) = item.split_once('=') else {
                return Err(fail("expected name=value".into()));
            };
            let count = |what: &str| -> Result<usize, FactoryError> {
                match value.parse::<usize>() {
                    Ok(v) if is_digits(value) && (1..=MAX_NUMBER).contains(&v) => Ok(v),
                    _ => Err(fail(format!(
                        "{what} must be a whole number from 1 to {MAX_NUMBER}"
                    ))),
                }
            };
            let duplicate = || fail(format!("{name} is given twice"));
            match name {
                "nprobe" => {
                    if params.nprobe.replace(count("nprobe")?).is_some() {
                        return Err(duplicate());
                    }
                }
                "efSearch" => {
                    if params.ef_search.replace(count("efSearch")?).is_some() {
                        return Err(duplicate());
                    }
                }
                "k_factor_rf" => {
                    let v = value
                        .parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 1.0)
                        .ok_or_else(|| {
                            fail("k_factor_rf must be a finite number of at least 1".into())
                        })?;
                    if params.k_factor_rf.replace(v).is_some() {
                        return Err(duplicate());
                    }
                }
                _ => return Err(fail(format!("unknown parameter {name:?}"))),
            }
        }
        Ok(params)
    }
}

impl From<FactoryError> for VectorError {
    fn from(e: FactoryError) -> Self {
        VectorError::Factory(e)
    }
}

/// Parses and builds in one step (the body of
/// [`Collection::from_factory`](crate::Collection::from_factory)).
pub(crate) fn spec_for(
    dim: usize,
    metric: &str,
    factory: &str,
) -> Result<(CollectionConfig, IndexBuild)> {
    let spec: FactorySpec = factory.parse()?;
    Ok(spec.build(dim, metric)?)
}

#[cfg(test)]
mod tests;
