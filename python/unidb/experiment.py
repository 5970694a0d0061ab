"""A/B experiments: GrowthBook-compatible assignment and the tests analysts
check results with, on NumPy arrays or mergeable sufficient statistics.

    >>> import numpy as np
    >>> from unidb import experiment
    >>> rng = np.random.default_rng(0)
    >>> res = experiment.analyze({"control": rng.normal(0, 1, 500),
    ...                           "treatment": rng.normal(0.5, 1, 500)})
    >>> res[0].p < 0.05
    True
"""

import json
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _native
from ._native import SufficientStats


def _table(header, rows):
    cells = [header] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


@dataclass(frozen=True)
class Estimate:
    """An effect with its standard error, interval and p-value."""

    est: float
    se: float
    ci_low: float
    ci_high: float
    p: float


@dataclass(frozen=True)
class Comparison:
    """One treatment against the control."""

    variant: str
    abs: Estimate
    rel: Optional[Estimate]
    t: Optional[float] = None
    df: Optional[float] = None
    z: Optional[float] = None
    theta: Optional[float] = None
    chance_to_win: Optional[float] = None
    p_adj: Optional[float] = None

    @property
    def p(self) -> float:
        """The absolute effect's p-value."""
        return self.abs.p

    def __repr__(self) -> str:
        return _table(*_comparison_rows([self]))


class Comparisons(list):
    """The comparisons of an analysis; prints as one table."""

    def __repr__(self) -> str:
        return _table(*_comparison_rows(self))


def _comparison_rows(cs):
    header = ["variant", "lift", "ci_low", "ci_high", "p", "rel_lift", "rel_p", "chance_to_win", "p_adj"]
    rows = [
        [
            c.variant,
            c.abs.est,
            c.abs.ci_low,
            c.abs.ci_high,
            c.abs.p,
            c.rel.est if c.rel else None,
            c.rel.p if c.rel else None,
            c.chance_to_win,
            c.p_adj,
        ]
        for c in cs
    ]
    return header, rows


@dataclass(frozen=True)
class Srm:
    """A sample-ratio-mismatch check."""

    chi2: float
    p: float
    mismatch: bool

    def __repr__(self) -> str:
        return _table(["chi2", "p", "mismatch"], [[self.chi2, self.p, self.mismatch]])


@dataclass(frozen=True)
class Exposure:
    """One assignment, as logged."""

    experiment: str
    id: str
    variant: Optional[int]
    bucket: Optional[float]
    forced: bool
    hash_version: int


def _estimate(d):
    if d is None:
        return None
    return Estimate(d["est"], d["se"], d["ci95"][0], d["ci95"][1], d["p"])


ArmData = Union[SufficientStats, np.ndarray, Sequence[float], tuple]


def _stats(data) -> SufficientStats:
    if isinstance(data, SufficientStats):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return SufficientStats.from_values(data[0], data[1])
    return SufficientStats.from_values(data)


def analyze(
    arms: Mapping[str, ArmData],
    metric: str = "mean",
    test: str = "welch",
    alpha: float = 0.05,
    sequential_tuning: Optional[float] = None,
    cuped: bool = False,
    pooled: bool = True,
    correction: Optional[str] = None,
) -> List[Comparison]:
    """Each treatment against the control (the first arm).

    `arms` maps a variant's name to its `SufficientStats`, its values (a
    1-D array) or a pair `(x, y)` (CUPED covariate or ratio denominator).
    `metric`: "mean", "proportion" or "ratio"; `test`: "welch",
    "student", "ztest" or "gbstats"; `correction`: "bonferroni", "holm"
    or "bh" across treatments.
    """
    names = list(arms)
    stats = [_stats(arms[n]) for n in names]
    text = _native.exp_analyze(
        names, stats, metric, test, alpha, sequential_tuning, cuped, pooled, correction
    )
    out = Comparisons()
    for d in json.loads(text):
        out.append(
            Comparison(
                variant=d["variant"],
                abs=_estimate(d["abs"]),
                rel=_estimate(d.get("rel")),
                t=d.get("t"),
                df=d.get("df"),
                z=d.get("z"),
                theta=d.get("theta"),
                chance_to_win=d.get("chance_to_win"),
                p_adj=d.get("p_adj"),
            )
        )
    return out


def srm(counts: Sequence[int], weights: Optional[Sequence[float]] = None) -> Srm:
    """Pearson's chi-square test of the observed counts per variant against
    the expected weights (equal by default)."""
    chi2, p, mismatch = _native.exp_srm([int(c) for c in counts], None if weights is None else [float(w) for w in weights])
    return Srm(chi2, p, mismatch)


def adjust(p, method: str = "holm") -> np.ndarray:
    """Adjusted p-values: "bonferroni", "holm" or "bh" (Benjamini–Hochberg)."""
    return _native.exp_adjust(p, method)


def assign(ids, key: str, **config) -> Union[np.ndarray, Exposure]:
    """Variants of `ids` (an int64 array, -1 for units outside the
    experiment) or, for one id (a str), its `Exposure`.

    `config`: `weights`, `coverage`, `seed`, `hash_version`,
    `namespace`, `forced`, `units` as in GrowthBook.
    """
    out = _native.exp_assign(ids, key=key, **config)
    if isinstance(out, str):
        return Exposure(**json.loads(out))
    return out


__all__ = [
    "Comparison",
    "Comparisons",
    "Estimate",
    "Exposure",
    "Srm",
    "SufficientStats",
    "adjust",
    "analyze",
    "assign",
    "srm",
]
