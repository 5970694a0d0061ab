"""Reference values for the experiments module's tests.

Computes every statistic the Rust tests check with scipy, statsmodels and
gbstats (GrowthBook's own statistics package) on seeded inputs, and writes
`reference.json` beside this script. The analyses are written in the JSON
form `unidb experiment analyze` reads, so the tests feed them unchanged.

    python -m venv venv && venv/bin/pip install numpy scipy statsmodels gbstats
    venv/bin/python make_reference.py

Versions used for the committed file are recorded in it.
"""

import importlib.metadata
import json
import os

import numpy as np
import scipy
import scipy.stats as st
from scipy.optimize import brentq
import statsmodels
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_ztest,
    test_proportions_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

ALPHA = 0.05


def est(e, se, lo, hi, p):
    return {"est": float(e), "se": float(se), "ci95": [float(lo), float(hi)], "p": float(p)}


def t_effect(e, var, df, alpha=ALPHA):
    """An effect tested against Student's t with df (delta-method lifts)."""
    se = np.sqrt(var)
    q = st.t.ppf(1 - alpha / 2, df)
    return est(e, se, e - q * se, e + q * se, 2 * st.t.sf(abs(e / se), df))


def z_effect(e, var, alpha=ALPHA):
    se = np.sqrt(var)
    q = st.norm.ppf(1 - alpha / 2)
    return est(e, se, e - q * se, e + q * se, 2 * st.norm.sf(abs(e / se)))


def rel_var(va, ma, na, vb, mb, nb):
    return vb / (ma**2 * nb) + va * mb**2 / (ma**4 * na)


def welch_case(name, arms):
    """Welch's t: scipy's ttest_ind(equal_var=False) for the difference."""
    a = arms[0][1]
    out = []
    for vname, b in arms[1:]:
        r = st.ttest_ind(b, a, equal_var=False)
        ci = r.confidence_interval(1 - ALPHA)
        va, vb = a.var(ddof=1), b.var(ddof=1)
        se = np.sqrt(va / len(a) + vb / len(b))
        df = r.df
        rel = t_effect(
            (b.mean() - a.mean()) / a.mean(),
            rel_var(va, a.mean(), len(a), vb, b.mean(), len(b)),
            df,
        )
        out.append({
            "variant": vname,
            "abs": est(b.mean() - a.mean(), se, ci.low, ci.high, r.pvalue),
            "rel": rel,
            "t": float(r.statistic),
            "df": float(df),
        })
    return out


def student_case(arms):
    a = arms[0][1]
    out = []
    for vname, b in arms[1:]:
        r = st.ttest_ind(b, a, equal_var=True)
        ci = r.confidence_interval(1 - ALPHA)
        na, nb = len(a), len(b)
        sp = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
        se = np.sqrt(sp / na + sp / nb)
        rel = t_effect(
            (b.mean() - a.mean()) / a.mean(),
            rel_var(sp, a.mean(), na, sp, b.mean(), nb),
            na + nb - 2,
        )
        out.append({
            "variant": vname,
            "abs": est(b.mean() - a.mean(), se, ci.low, ci.high, r.pvalue),
            "rel": rel,
            "t": float(r.statistic),
            "df": float(r.df),
        })
    return out


def ztest_means_case(arms):
    """statsmodels' two-sample z-test with unequal variances."""
    a = arms[0][1]
    out = []
    for vname, b in arms[1:]:
        cm = CompareMeans(DescrStatsW(b), DescrStatsW(a))
        z, p = cm.ztest_ind(usevar="unequal")
        lo, hi = cm.zconfint_diff(alpha=ALPHA, usevar="unequal")
        se = cm.std_meandiff_separatevar
        va, vb = a.var(ddof=1), b.var(ddof=1)
        rel = z_effect(
            (b.mean() - a.mean()) / a.mean(),
            rel_var(va, a.mean(), len(a), vb, b.mean(), len(b)),
        )
        out.append({
            "variant": vname,
            "abs": est(b.mean() - a.mean(), se, lo, hi, p),
            "rel": rel,
            "z": float(z),
        })
    return out


def gb_result(test):
    r = test.compute_result()
    assert r.error_message is None, r.error_message
    return r


def gbstats_case(stat_of, arms, sequential=None, theta=False):
    """gbstats' frequentist engine, absolute and relative, and its
    Bayesian chance to win (flat prior, relative)."""
    a = stat_of(arms[0])
    out = []
    for arm in arms[1:]:
        row = {"variant": arm[0]}
        for kind in ["absolute", "relative"]:
            sa, sb = stat_of(arms[0]), stat_of(arm)
            if sequential is None:
                t = TwoSidedTTest(sa, sb, FrequentistConfig(alpha=ALPHA, difference_type=kind))
            else:
                t = SequentialTwoSidedTTest(
                    sa, sb,
                    SequentialConfig(alpha=ALPHA, difference_type=kind,
                                     sequential_tuning_parameter=sequential),
                )
            r = gb_result(t)
            key = "abs" if kind == "absolute" else "rel"
            row[key] = est(r.expected, r.uplift.stddev, r.ci[0], r.ci[1], r.p_value)
            if kind == "absolute" and sequential is None:
                row["t"] = float(t.critical_value)
                row["df"] = float(t.dof)
            if theta and kind == "absolute":
                row["theta"] = float(t.stat_a.theta)
        sa, sb = stat_of(arms[0]), stat_of(arm)
        b = EffectBayesianABTest(sa, sb, EffectBayesianConfig(difference_type="relative"))
        row["chance_to_win"] = float(gb_result(b).chance_to_win)
        out.append(row)
    return out


def mean_stat(arm):
    v = arm[1]
    return SampleMeanStatistic(n=len(v), sum=float(v.sum()), sum_squares=float((v * v).sum()))


def main():
    rng = np.random.default_rng(20261208)
    ref = {
        "_generated_by": "make_reference.py",
        "_versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
            "gbstats": importlib.metadata.version("gbstats"),
        },
        "analyses": [],
    }

    def add(name, source, spec, expected):
        ref["analyses"].append({"name": name, "source": source, "spec": spec, "expected": expected})

    def vlist(x):
        return [float(v) for v in x]

    # Means: lognormal revenue-like values, a control and two treatments.
    means = [
        ("control", np.round(rng.lognormal(1.0, 0.8, 400), 4)),
        ("b", np.round(rng.lognormal(1.05, 0.8, 380), 4)),
        ("c", np.round(rng.lognormal(0.98, 0.9, 420), 4)),
    ]
    spec_vars = [{"name": n, "values": vlist(v)} for n, v in means]
    add("welch means", "scipy.stats.ttest_ind(equal_var=False); rel: delta method, t(df)",
        {"metric": "mean", "test": "welch", "variants": spec_vars}, welch_case("", means))
    add("student means", "scipy.stats.ttest_ind(equal_var=True); rel: delta method, pooled variance",
        {"metric": "mean", "test": "student", "variants": spec_vars}, student_case(means))
    add("ztest means", "statsmodels CompareMeans.ztest_ind/zconfint_diff(usevar='unequal')",
        {"metric": "mean", "test": "ztest", "variants": spec_vars}, ztest_means_case(means))
    add("gbstats means", "gbstats TwoSidedTTest + EffectBayesianABTest, SampleMeanStatistic",
        {"metric": "mean", "test": "gbstats", "variants": spec_vars},
        gbstats_case(mean_stat, means))
    add("gbstats sequential means", "gbstats SequentialTwoSidedTTest (tuning 5000)",
        {"metric": "mean", "test": "gbstats", "sequential_tuning": 5000, "variants": spec_vars},
        gbstats_case(mean_stat, means, sequential=5000))
    add("gbstats sequential means, tuning 200, alpha 0.1", "gbstats SequentialTwoSidedTTest",
        {"metric": "mean", "test": "gbstats", "alpha": 0.1, "sequential_tuning": 200,
         "variants": spec_vars},
        [dict(r) for r in _with_alpha(0.1, lambda: gbstats_case(mean_stat, means, sequential=200))])

    # Sufficient statistics form: scipy's ttest_ind_from_stats.
    stats_arms = [("control", 1000, 12.5, 4.0), ("b", 1100, 12.9, 4.4)]
    exp = []
    (_, na, ma, sa), (vn, nb, mb, sb) = stats_arms
    r = st.ttest_ind_from_stats(mb, sb, nb, ma, sa, na, equal_var=False)
    va, vb = sa**2, sb**2
    se = np.sqrt(va / na + vb / nb)
    df = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    q = st.t.ppf(1 - ALPHA / 2, df)
    exp.append({
        "variant": vn,
        "abs": est(mb - ma, se, mb - ma - q * se, mb - ma + q * se, r.pvalue),
        "rel": t_effect((mb - ma) / ma, rel_var(va, ma, na, vb, mb, nb), df),
        "t": float(r.statistic), "df": float(df),
    })
    add("welch from n/mean/sd", "scipy.stats.ttest_ind_from_stats(equal_var=False)",
        {"metric": "mean", "test": "welch",
         "variants": [{"name": n, "n": k, "mean": m, "sd": s} for n, k, m, s in stats_arms]},
        exp)

    # Proportions as counts.
    counts = [("control", 1180, 10000), ("b", 1290, 10050), ("c", 1215, 9900)]
    ca, na = counts[0][1], counts[0][2]
    for pooled in [True, False]:
        exp = []
        for vn, cb, nb in counts[1:]:
            pa, pb = ca / na, cb / nb
            if pooled:
                z, p = proportions_ztest([cb, ca], [nb, na])
            else:
                z, p = test_proportions_2indep(cb, nb, ca, na, method="wald", compare="diff",
                                               correction=False)
            lo, hi = confint_proportions_2indep(cb, nb, ca, na, method="wald", compare="diff",
                                                alpha=ALPHA)
            va, vb = pa * (1 - pa), pb * (1 - pb)
            exp.append({
                "variant": vn,
                "abs": est(pb - pa, np.sqrt(va / na + vb / nb), lo, hi, p),
                "rel": z_effect((pb - pa) / pa, rel_var(va, pa, na, vb, pb, nb)),
                "z": float(z),
            })
        add(f"two-proportion z, pooled={pooled}",
            "statsmodels proportions_ztest (pooled) / test_proportions_2indep wald (unpooled); "
            "confint_proportions_2indep wald",
            {"metric": "proportion", "test": "ztest", "pooled": pooled,
             "variants": [{"name": n, "count": c, "nobs": k} for n, c, k in counts]},
            exp)
    add("gbstats proportions", "gbstats TwoSidedTTest + EffectBayesianABTest, ProportionStatistic",
        {"metric": "proportion", "test": "gbstats",
         "variants": [{"name": n, "count": c, "nobs": k} for n, c, k in counts]},
        gbstats_case(lambda arm: ProportionStatistic(n=arm[2], sum=arm[1]), counts))
    # The same proportions as 0/1 values under Welch: scipy on the raw values.
    small = [("control", 118, 1000), ("b", 141, 1005), ("c", 121, 990)]
    bern = [(n, np.r_[np.ones(c), np.zeros(k - c)]) for n, c, k in small]
    add("welch 0/1 values", "scipy.stats.ttest_ind(equal_var=False) on 0/1 values",
        {"metric": "proportion", "test": "welch",
         "variants": [{"name": n, "values": vlist(v)} for n, v in bern]},
        welch_case("", bern))

    # Ratio: revenue per session, users randomised.
    def ratio_arm(name, n, rate, spend):
        sessions = rng.poisson(3.0, n) + 1
        revenue = np.array([rng.gamma(2.0, spend, s).sum() * (rng.random() < rate) for s in sessions])
        revenue = np.round(revenue, 2)
        return (name, revenue, sessions.astype(float))

    ratio = [ratio_arm("control", 500, 0.3, 5.0), ratio_arm("b", 520, 0.33, 5.2)]

    def ratio_stat(arm):
        _, m, d = arm
        return RatioStatistic(
            n=len(m),
            m_statistic=SampleMeanStatistic(n=len(m), sum=float(m.sum()), sum_squares=float((m * m).sum())),
            d_statistic=SampleMeanStatistic(n=len(d), sum=float(d.sum()), sum_squares=float((d * d).sum())),
            m_d_sum_of_products=float((m * d).sum()),
        )

    add("gbstats ratio", "gbstats TwoSidedTTest + EffectBayesianABTest, RatioStatistic",
        {"metric": "ratio", "test": "gbstats",
         "variants": [{"name": n, "num": vlist(m), "den": vlist(d)} for n, m, d in ratio]},
        gbstats_case(ratio_stat, ratio))

    # CUPED: post correlated with pre.
    def cuped_arm(name, n, lift):
        pre = rng.normal(10.0, 3.0, n)
        post = 0.8 * pre + rng.normal(2.0 + lift, 1.5, n)
        return (name, np.round(post, 4), np.round(pre, 4))

    cuped = [cuped_arm("control", 600, 0.0), cuped_arm("b", 580, 0.3), cuped_arm("c", 610, -0.1)]

    def ra_stat(arm):
        _, y, x = arm
        return RegressionAdjustedStatistic(
            n=len(y),
            post_statistic=SampleMeanStatistic(n=len(y), sum=float(y.sum()), sum_squares=float((y * y).sum())),
            pre_statistic=SampleMeanStatistic(n=len(x), sum=float(x.sum()), sum_squares=float((x * x).sum())),
            post_pre_sum_of_products=float((x * y).sum()),
            theta=0,
        )

    cuped_vars = [{"name": n, "values": vlist(y), "pre": vlist(x)} for n, y, x in cuped]
    add("gbstats cuped", "gbstats TwoSidedTTest + EffectBayesianABTest, RegressionAdjustedStatistic",
        {"metric": "mean", "test": "gbstats", "cuped": True, "variants": cuped_vars},
        gbstats_case(ra_stat, cuped, theta=True))
    add("gbstats cuped sequential", "gbstats SequentialTwoSidedTTest, RegressionAdjustedStatistic",
        {"metric": "mean", "test": "gbstats", "cuped": True, "sequential_tuning": 1000,
         "variants": cuped_vars},
        gbstats_case(ra_stat, cuped, sequential=1000, theta=True))

    # Sample-ratio mismatch.
    ref["srm"] = []
    for counts_, weights in [([5100, 4900], [0.5, 0.5]), ([5000, 5200, 4700], [0.3334, 0.3333, 0.3333]),
                             ([1000, 1100], [0.45, 0.55]), ([10321, 9679], None)]:
        w = weights or [1 / len(counts_)] * len(counts_)
        total = sum(counts_)
        chi2, p = st.chisquare(counts_, [x / sum(w) * total for x in w])
        assert abs(check_srm(counts_, w) - p) <= 1e-12 * max(p, 1e-300)
        ref["srm"].append({"counts": counts_, "weights": weights, "chi2": float(chi2), "p": float(p),
                           "source": "scipy.stats.chisquare == gbstats check_srm"})

    # Multiple comparisons.
    ref["adjust"] = []
    pvals = [0.01, 0.04, 0.03, 0.005, 0.2, 0.5, 0.049, 0.0001, 1.0, 0.03]
    for method, sm in [("bonferroni", "bonferroni"), ("holm", "holm"), ("bh", "fdr_bh")]:
        adj = multipletests(pvals, method=sm)[1]
        ref["adjust"].append({"method": method, "p": pvals, "adjusted": [float(x) for x in adj],
                              "source": f"statsmodels multipletests(method={sm!r})"})

    # Power and minimum detectable effect.
    ref["power"] = []
    for alpha, sd, ratio_, effect, n in [(0.05, 1.0, 1.0, 0.1, 1000), (0.01, 2.5, 1.5, 0.3, 800),
                                         (0.1, 10.0, 0.5, 1.0, 5000)]:
        ni = NormalIndPower()
        d = effect / sd
        power = ni.power(effect_size=d, nobs1=n, alpha=alpha, ratio=ratio_)
        # statsmodels' power function, inverted with brentq to full
        # precision (solve_power's own solver stops near 1e-6 in power).
        n80 = brentq(lambda k: ni.power(effect_size=d, nobs1=k, alpha=alpha, ratio=ratio_) - 0.8,
                     1.0, 1e9, xtol=1e-12, rtol=1e-15)
        mde = brentq(lambda e: ni.power(effect_size=e, nobs1=n, alpha=alpha, ratio=ratio_) - 0.8,
                     1e-9, 100.0, xtol=1e-15, rtol=1e-15) * sd
        ref["power"].append({"alpha": alpha, "sd": sd, "ratio": ratio_, "effect": effect, "n_control": n,
                             "power": float(power), "sample_size_80": float(n80), "mde_80": float(mde),
                             "source": "statsmodels NormalIndPower.power, inverted by scipy brentq"})

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    # One analysis or check per line: readable diffs, compact numbers.
    with open(path, "w") as f:
        f.write("{\n")
        keys = list(ref)
        for i, key in enumerate(keys):
            value = ref[key]
            f.write(f" {json.dumps(key)}: ")
            if isinstance(value, list):
                f.write("[\n" + ",\n".join("  " + json.dumps(v) for v in value) + "\n ]")
            else:
                f.write(json.dumps(value))
            f.write(",\n" if i + 1 < len(keys) else "\n")
        f.write("}\n")


def _with_alpha(alpha, fn):
    global ALPHA
    old = ALPHA
    ALPHA = alpha
    try:
        return fn()
    finally:
        ALPHA = old


if __name__ == "__main__":
    main()
