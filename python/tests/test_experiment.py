"""Experiments from Python against closed forms and the `unidb` CLI (the
Rust API through another door) on the same data."""

import json
import math

import numpy as np
import pytest

import unidb
from unidb import experiment


def test_welch_t_and_df_closed_form(rng):
    a = rng.normal(10, 2, 400)
    b = rng.normal(10.4, 3, 300)
    (r,) = experiment.analyze({"control": a, "treatment": b})
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (b.mean() - a.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    assert r.variant == "treatment"
    assert r.abs.est == pytest.approx(b.mean() - a.mean(), rel=1e-12)
    assert r.t == pytest.approx(t, rel=1e-10)
    assert r.df == pytest.approx(df, rel=1e-10)
    assert r.abs.ci_low < r.abs.est < r.abs.ci_high
    assert "treatment" in repr(r) and "ci_low" in repr(r)


def test_analyze_equals_cli_on_same_data(rng, cli, tmp_path):
    a, b, c = (rng.normal(m, 1, 200) for m in (0, 0.2, 0.5))
    spec = {"metric": "mean", "test": "gbstats", "correction": "holm",
            "variants": [{"name": n, "values": v.tolist()} for n, v in (("a", a), ("b", b), ("c", c))]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    rows = [json.loads(l) for l in cli("--json", "experiment", "analyze", path).splitlines()]
    got = experiment.analyze({"a": a, "b": b, "c": c}, test="gbstats", correction="holm")
    assert [g.variant for g in got] == [w["variant"] for w in rows]
    for g, w in zip(got, rows):
        assert g.abs.est == pytest.approx(w["abs"]["est"], rel=1e-12)
        assert g.abs.p == pytest.approx(w["abs"]["p"], rel=1e-12)
        assert g.chance_to_win == pytest.approx(w["chance_to_win"], rel=1e-12)
        assert g.p_adj == pytest.approx(w["p_adj"], rel=1e-12)


def test_sufficient_stats_equal_raw_values(rng):
    a, b = rng.normal(0, 1, 1000), rng.normal(0.1, 1, 1000)
    sa = experiment.SufficientStats.from_values(a[:500]).merge(experiment.SufficientStats.from_values(a[500:]))
    assert sa.n == 1000
    assert sa.mean_x == pytest.approx(a.mean(), rel=1e-12)
    assert sa.var_x == pytest.approx(a.var(ddof=1), rel=1e-10)
    raw = experiment.analyze({"a": a, "b": b})[0]
    by_stats = experiment.analyze({"a": sa, "b": experiment.SufficientStats.from_values(b)})[0]
    assert by_stats.abs.p == pytest.approx(raw.abs.p, rel=1e-9)
    ms = experiment.SufficientStats.from_mean_sd(1000, a.mean(), a.std(ddof=1))
    assert ms.var_x == pytest.approx(a.var(ddof=1), rel=1e-10)
    prop = experiment.analyze(
        {"a": experiment.SufficientStats.from_counts(100, 1000), "b": experiment.SufficientStats.from_counts(130, 1000)},
        metric="proportion", test="ztest")[0]
    assert prop.abs.est == pytest.approx(0.03, abs=1e-12)
    p, q = 0.115, 0.03 / math.sqrt(0.115 * 0.885 * 2 / 1000)
    assert prop.z == pytest.approx(q, rel=1e-9)


def test_srm_closed_form_and_cli(cli):
    counts = [100, 130, 90]
    s = experiment.srm(counts)
    e = sum(counts) / 3
    assert s.chi2 == pytest.approx(sum((o - e) ** 2 / e for o in counts), rel=1e-12)
    want = json.loads(cli("--json", "experiment", "srm", "--counts", "100,130,90"))
    assert (s.chi2, s.p, s.mismatch) == (pytest.approx(want["chi2"]), pytest.approx(want["p"], rel=1e-12), want["mismatch"])
    two = experiment.srm([500, 560])
    assert two.p == pytest.approx(math.erfc(math.sqrt(two.chi2 / 2)), rel=1e-9)
    assert "mismatch" in repr(s)


def test_adjust_holm_by_hand_and_cli(cli):
    p = np.array([0.01, 0.04, 0.03, 0.2])
    got = experiment.adjust(p, "holm")
    order = np.argsort(p)
    m = len(p)
    want = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        want[i] = running
    np.testing.assert_allclose(got, want, rtol=1e-12)
    lines = cli("--json", "experiment", "adjust", "--method", "bh", *p)
    cli_bh = [json.loads(l)["adjusted"] for l in lines.splitlines()]
    np.testing.assert_allclose(experiment.adjust(p, "bh"), cli_bh, rtol=1e-12)
    with pytest.raises(unidb.UnidbError):
        experiment.adjust([0.5, 1.5], "holm")


def test_assign_equals_cli(cli):
    ids = [f"user-{i}" for i in range(50)]
    got = experiment.assign(ids, key="ranker", weights=[0.2, 0.3, 0.5])
    out = cli("--json", "experiment", "assign", "--key", "ranker", "--weights", "0.2,0.3,0.5", *ids)
    want = [json.loads(l)["variant"] for l in out.splitlines()]
    assert got.tolist() == [-1 if v is None else v for v in want]
    one = experiment.assign("user-3", key="ranker", weights=[0.2, 0.3, 0.5])
    assert one.variant == got[3] and one.experiment == "ranker"
    partial = experiment.assign(ids, key="k", coverage=0.5)
    assert (partial == -1).any() and (partial >= 0).any()


def test_bad_input_is_typed():
    with pytest.raises(unidb.UnidbError):
        experiment.analyze({"a": np.array([1.0, np.nan]), "b": np.array([1.0, 2.0])})
    with pytest.raises(unidb.InvalidArgument, match="unknown test"):
        experiment.analyze({"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0]}, test="bogus")
    with pytest.raises(unidb.InvalidArgument, match="experiment configuration"):
        experiment.assign(["a"], key="k", wieghts=[0.5, 0.5])
    with pytest.raises(unidb.UnidbError):
        experiment.srm([10])
