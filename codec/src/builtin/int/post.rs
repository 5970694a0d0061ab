//! One-to-one integer stages (`delta`, `dod`, `gcd`) applied by a child
//! node to its values as it writes them, batch by batch while they are in
//! cache, instead of in a pass of their own over the child's buffer.
//!
//! A stage node takes the stages its parent offers it (if any), puts its
//! own in front and offers the list to its child ([`child_through`]). A
//! child that can apply them (`ans`) takes the list with
//! `DecodeCtx::take_post` and reports their final states; otherwise the
//! stage node applies the list itself, in one pass. Either way the node
//! then appends what its own stage still holds (the last one or two values
//! of a running sum), passes those through the stages after its own, and
//! reports those stages' states to its parent, which owns them.

use crate::builtin::child_ints;
use crate::io::Reader;
use crate::{CodecError, DecodeCtx};

/// A running sum: each slot takes the value one (`Delta`) or two (`Dod`)
/// places before it; [`Stage::finish`] appends the last ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunningSum {
    /// `delta`: the sum so far.
    Delta {
        /// The next value.
        acc: i64,
    },
    /// `dod`: the two next values and the delta between them.
    Dod {
        /// The next value.
        v0: i64,
        /// The one after it.
        v1: i64,
        /// `v1 - v0`.
        d: i64,
    },
}

/// One one-to-one stage and its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `delta` or `dod`.
    Sum(RunningSum),
    /// `gcd`: `q -> min + q * g`, flagging a quotient above `limit`.
    Grid {
        /// The smallest value.
        min: i64,
        /// The divisor.
        g: u64,
        /// The largest quotient that does not wrap past `2^64`.
        limit: u64,
        /// Whether a quotient above `limit` was seen.
        bad: bool,
    },
}

impl Stage {
    /// Applies the stage to `xs` in place.
    #[inline]
    pub(crate) fn apply(&mut self, xs: &mut [i64]) {
        match self {
            Stage::Sum(RunningSum::Delta { acc }) => {
                let mut a = *acc;
                for x in xs {
                    (*x, a) = (a, a.wrapping_add(*x));
                }
                *acc = a;
            }
            Stage::Sum(RunningSum::Dod { v0, v1, d }) => {
                let (mut a, mut b, mut dd) = (*v0, *v1, *d);
                for x in xs {
                    dd = dd.wrapping_add(*x);
                    (*x, a, b) = (a, b, b.wrapping_add(dd));
                }
                (*v0, *v1, *d) = (a, b, dd);
            }
            Stage::Grid { min, g, limit, bad } => {
                // The flags or-ed together, no early exit.
                let (m, g, limit) = (*min, *g, *limit);
                let mut over = false;
                for x in xs {
                    over |= *x as u64 > limit;
                    *x = m.wrapping_add((*x as u64).wrapping_mul(g) as i64);
                }
                *bad |= over;
            }
        }
    }

    /// Appends the values the stage still holds (one for `delta`, two
    /// for `dod`, none for `gcd`).
    pub(crate) fn finish(self, out: &mut Vec<i64>) {
        match self {
            Stage::Sum(RunningSum::Delta { acc }) => out.push(acc),
            Stage::Sum(RunningSum::Dod { v0, v1, .. }) => out.extend([v0, v1]),
            Stage::Grid { .. } => {}
        }
    }
}

/// Most stages handed down at once.
const MAX_STAGES: usize = 4;

/// Stages to apply in order, innermost (the offering node's own) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Post {
    stages: [Option<Stage>; MAX_STAGES],
}

impl Post {
    /// Applies every stage, in order, to `xs`.
    #[inline]
    pub(crate) fn apply(&mut self, xs: &mut [i64]) {
        for s in self.stages.iter_mut().flatten() {
            s.apply(xs);
        }
    }

    /// `first` followed by the stages of `rest`; `None` when they do not
    /// fit.
    fn prepend(first: Stage, rest: Option<&Post>) -> Option<Post> {
        let mut stages = [None; MAX_STAGES];
        stages[0] = Some(first);
        if let Some(rest) = rest {
            if rest.stages[MAX_STAGES - 1].is_some() {
                return None;
            }
            stages[1..].copy_from_slice(&rest.stages[..MAX_STAGES - 1]);
        }
        Some(Post { stages })
    }

    /// The first stage and the others.
    fn split_first(self) -> (Stage, Post) {
        let mut rest = [None; MAX_STAGES];
        rest[..MAX_STAGES - 1].copy_from_slice(&self.stages[1..]);
        let first = self.stages[0].expect("a list of stages starts with one");
        (first, Post { stages: rest })
    }
}

/// Decodes the integer child of `count` values of a stage node and
/// applies `own` to them, then the stages this node's parent offered it;
/// appends what `own` still holds (passed through the parent's stages),
/// and reports the parent's stages as applied. Returns the values and
/// `own` in its final state.
pub(crate) fn child_through(
    r: &mut Reader<'_>,
    ctx: &mut DecodeCtx,
    count: usize,
    own: Stage,
) -> Result<(Vec<i64>, Stage), CodecError> {
    let outer = ctx.take_post();
    // A list too long to hand down is applied here.
    let full = Post::prepend(own, outer.as_ref());
    if let Some(list) = full {
        ctx.offer_post(list);
    }
    let child = child_ints(r, ctx, count);
    // (Only a list this node offered can have been applied.)
    let applied = ctx.end_post().filter(|_| full.is_some());
    let mut v = child?;
    let list = match applied {
        Some(done) => done,
        None => {
            // Applied here: own first, then the parent's.
            let mut own = own;
            own.apply(&mut v);
            let mut outer = outer;
            if let Some(o) = &mut outer {
                o.apply(&mut v);
            }
            return finish(ctx, v, own, outer);
        }
    };
    let (own, rest) = list.split_first();
    finish(ctx, v, own, outer.map(|_| rest))
}

/// Appends what `own` holds to `v`, passes it through the parent's
/// stages `outer` and reports those to the parent.
fn finish(
    ctx: &mut DecodeCtx,
    mut v: Vec<i64>,
    own: Stage,
    outer: Option<Post>,
) -> Result<(Vec<i64>, Stage), CodecError> {
    let start = v.len();
    own.finish(&mut v);
    if let Some(mut outer) = outer {
        outer.apply(&mut v[start..]);
        ctx.applied_post(outer);
    }
    Ok((v, own))
}

#[cfg(test)]
mod tests;
