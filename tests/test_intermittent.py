"""Tests of partsforecast.intermittent: hand-computed values, independent slow reference
implementations, input errors, distributions. (Agreement with statsforecast, which is only in
the bench extra, is checked by benchmarks/bench_intermittent.py.)"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.optimize import minimize_scalar

from partsforecast import intermittent as it
from partsforecast._panel import to_panel


def long(series: dict[str, list[float]] | list[list[float]], start="2022-01-01", freq="MS"):
    """Long frame from {uid: values}, every series starting at ``start``."""
    if not isinstance(series, dict):
        series = {f"s{i}": v for i, v in enumerate(series)}
    frames = [
        pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=len(v), freq=freq),
                      "y": np.asarray(v, dtype=float)})
        for uid, v in series.items()
    ]
    return pd.concat(frames, ignore_index=True)


def one(df, method, **params):
    out = it.forecast(df, 1, methods=[method], params={method: params} if params else None)
    return out[method].to_numpy()


# ---------------------------------------------------------------------------------------
# Slow, obviously-correct per-series references (loops are fine here)
# ---------------------------------------------------------------------------------------


def ref_croston(y, a_size=0.1, a_int=0.1):
    idx = np.flatnonzero(np.asarray(y) > 0)
    if idx.size == 0:
        return 0.0
    sizes = np.asarray(y, float)[idx]
    ints = np.diff(np.concatenate(([-1], idx))).astype(float)
    z, x = sizes[0], ints[0]
    for s, i in zip(sizes[1:], ints[1:]):
        z = a_size * s + (1 - a_size) * z
        x = a_int * i + (1 - a_int) * x
    return z / x


def ref_ses_sse(x, a):
    lvl, sse = x[0], 0.0
    for v in x[1:]:
        sse += (v - lvl) ** 2
        lvl = a * v + (1 - a) * lvl
    return sse, lvl


def ref_ses_opt(x, bounds=(0.1, 0.3)):
    """Global minimum of the SSE on a fine grid, polished by bounded Brent."""
    grid = np.linspace(*bounds, 401)
    sse = np.array([ref_ses_sse(x, a)[0] for a in grid])
    g = int(np.argmin(sse))
    lo, hi = grid[max(g - 1, 0)], grid[min(g + 1, grid.size - 1)]
    r = minimize_scalar(lambda a: ref_ses_sse(x, a)[0], bounds=(lo, hi),
                        options={"xatol": 1e-12})
    return ref_ses_sse(x, r.x)[1], (np.ptp(sse) <= 1e-12 * (1 + sse.min()))


def ref_adida_level(y, level, bounds=(0.1, 0.3)):
    y = np.asarray(y, float)
    cut = y[len(y) % level:]
    sums = cut.reshape(-1, level).sum(axis=1)
    fc, flat = ref_ses_opt(sums, bounds)
    return fc / level, flat


def ref_mean_interval(y):
    idx = np.flatnonzero(np.asarray(y) > 0)
    return (idx[-1] + 1) / idx.size


def ref_adida(y):
    if not np.any(np.asarray(y) > 0):
        return 0.0, False
    return ref_adida_level(y, int(np.rint(ref_mean_interval(y))))


def ref_imapa(y):
    if not np.any(np.asarray(y) > 0):
        return 0.0, False
    top = int(np.rint(ref_mean_interval(y)))
    res = [ref_adida_level(y, k) for k in range(1, top + 1)]
    return float(np.mean([r[0] for r in res])), any(r[1] for r in res)


def random_panel(n_series=150, max_len=50, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_series):
        n = int(rng.integers(1, max_len + 1))
        p = rng.uniform(0.05, 0.9)
        y = (rng.random(n) < p) * (rng.negative_binomial(2, 0.4, n) + 1)
        if i % 25 == 0:
            y[:] = 0
        out[f"s{i:03d}"] = y.astype(float)
    # Varying starts as well as lengths.
    frames = []
    for j, (uid, y) in enumerate(out.items()):
        start = pd.Timestamp("2020-01-01") + pd.DateOffset(months=j % 17)
        frames.append(pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=len(y),
                                    freq="MS"), "y": y}))
    return pd.concat(frames, ignore_index=True), out


# ---------------------------------------------------------------------------------------
# Hand-computed values
# ---------------------------------------------------------------------------------------

Y1 = [0, 0, 3, 0, 1, 0, 0, 0, 2, 0]  # demands 3, 1, 2 at positions 2, 4, 8


def test_croston_and_sba_hand_computed():
    # sizes 3, 1, 2 -> Z = 3, 2.8, 2.72; intervals 3 (from the start), 2, 4 -> X = 3, 2.9, 3.01
    df = long({"a": Y1})
    assert one(df, "croston")[0] == pytest.approx(2.72 / 3.01, abs=1e-12)
    assert one(df, "sba")[0] == pytest.approx(0.95 * 2.72 / 3.01, abs=1e-12)


def test_croston_custom_constants_and_sba_factor():
    df = long({"a": Y1})
    # Z = 3, 2.0, 2.0 (alpha 0.5); X = 3, 2.5, 3.25 (alpha 0.5); SBA factor 1 - 0.5/2
    got = one(df, "croston", alpha_size=0.5, alpha_interval=0.5)[0]
    assert got == pytest.approx(2.0 / 3.25, abs=1e-12)
    got = one(df, "sba", alpha_size=0.5, alpha_interval=0.5)[0]
    assert got == pytest.approx(0.75 * 2.0 / 3.25, abs=1e-12)


def test_croston_zero_and_one_demand():
    df = long({"none": [0, 0, 0, 0], "one": [0, 0, 5, 0], "first": [4]})
    out = it.forecast(df, 2, methods=["croston", "sba", "tsb", "adida", "imapa", "croston_opt"])
    got = out.groupby("unique_id").first().drop(columns="ds")
    assert (got.loc["none"] == 0).all()
    assert got.loc["one", "croston"] == pytest.approx(5 / 3)  # size / (position + 1)
    assert got.loc["one", "sba"] == pytest.approx(0.95 * 5 / 3)
    assert got.loc["first", "croston"] == pytest.approx(4.0)


def test_tsb_hand_computed():
    # P: 0 (y0 = 0), 0.2, 0.16, 0.328 with alpha_p = 0.2; Z: 2, 1.7 with alpha_d = 0.3
    df = long({"a": [0, 2, 0, 1]})
    assert one(df, "tsb", alpha_p=0.2, alpha_d=0.3)[0] == pytest.approx(0.328 * 1.7, abs=1e-12)


def test_adida_imapa_hand_computed():
    # Mean interval 2 -> buckets of 2 sum to 1 each: SES of a constant is 1 -> 1/2.
    df = long({"a": [0, 1] * 6})
    assert one(df, "adida")[0] == pytest.approx(0.5, abs=1e-12)
    # Bucket 1 (the series itself, alternating 0/1): reference SES; bucket 2: 0.5.
    lvl1, _ = ref_ses_opt(np.array([0, 1] * 6, float))
    # (both optimisers locate the constant to ~1e-9, hence the tolerance)
    assert one(df, "imapa")[0] == pytest.approx((lvl1 + 0.5) / 2, abs=1e-7)


def test_adida_drops_oldest_remainder():
    # 13 periods, mean interval 13/4 -> 3: the oldest period is dropped, sums 1, 4, 2, 3.
    y = [0, 0, 1, 0, 0, 0, 4, 0, 0, 2, 0, 0, 3]
    fc, _ = ref_ses_opt(np.array([1.0, 4, 2, 3]))
    assert one(long({"a": y}), "adida")[0] == pytest.approx(fc / 3, abs=1e-7)


def test_baselines():
    df = long({"a": [0, 3, 0, 2], "b": [1, 0]})
    out = it.forecast(df, 3, methods=["zero", "naive"])
    assert (out["zero"] == 0).all()
    assert out["naive"].tolist() == [2, 2, 2, 0, 0, 0]


# ---------------------------------------------------------------------------------------
# Against the slow references on a ragged random panel
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel():
    return random_panel()


def test_croston_family_matches_reference(panel):
    df, series = panel
    out = it.forecast(df, 1, methods=["croston", "sba", "naive"]).set_index("unique_id")
    for uid, y in series.items():
        assert out.loc[uid, "croston"] == pytest.approx(ref_croston(y), abs=1e-12)
        assert out.loc[uid, "sba"] == pytest.approx(0.95 * ref_croston(y), abs=1e-12)
        assert out.loc[uid, "naive"] == y[-1]


def test_adida_imapa_match_reference(panel):
    df, series = panel
    out = it.forecast(df, 1, methods=["adida", "imapa"]).set_index("unique_id")
    checked = 0
    for uid, y in series.items():
        ad, flat_a = ref_adida(y)
        im, flat_i = ref_imapa(y)
        if not flat_a:  # a flat SSE makes every constant optimal: no unique answer
            assert out.loc[uid, "adida"] == pytest.approx(ad, rel=1e-7, abs=1e-10)
            checked += 1
        if not flat_i:
            assert out.loc[uid, "imapa"] == pytest.approx(im, rel=1e-7, abs=1e-10)
    assert checked > 100


def test_missing_periods_are_zero_and_lengths_vary():
    full = long({"a": [0, 2, 0, 0, 1, 0, 3], "b": [1, 1]})
    gaps = full[full["y"] > 0]  # drop the zero rows between demands (not the ends)
    gaps = pd.concat([gaps, full[(full.unique_id == "a") & (full.index == 0)],
                      full[(full.unique_id == "a")].tail(1)]).drop_duplicates()
    a = it.forecast(full, 2, methods=list(it.METHODS))
    b = it.forecast(gaps.sample(frac=1, random_state=0), 2, methods=list(it.METHODS))
    pd.testing.assert_frame_equal(a, b)


def test_output_layout_dates_per_series():
    df = pd.concat([
        long({"b": [1, 0, 2]}, start="2023-01-01"),
        long({"a": [0, 1, 0, 0, 4]}, start="2022-06-01"),
    ])
    out = it.forecast(df, 3, methods=["sba", "croston"])
    assert list(out.columns) == ["unique_id", "ds", "sba", "croston"]
    assert out["unique_id"].tolist() == ["a"] * 3 + ["b"] * 3
    assert out["ds"].tolist() == list(pd.date_range("2022-11-01", periods=3, freq="MS")) + list(
        pd.date_range("2023-04-01", periods=3, freq="MS"))
    assert out.groupby("unique_id")["sba"].nunique().eq(1).all()  # flat forecasts


def test_integer_ds_and_explicit_freq():
    df = pd.DataFrame({"unique_id": [1, 1, 1, 2, 2], "ds": [10, 11, 12, 3, 5], "y": [0, 2, 1, 1, 3]})
    out = it.forecast(df, 2, methods=["croston"])
    assert out["ds"].tolist() == [13, 14, 6, 7]
    assert out["unique_id"].tolist() == [1, 1, 2, 2]
    # series 2 has a hole at ds=4 (zero demand): sizes 1, 3, intervals 1, 2
    assert out["croston"].iloc[2] == pytest.approx(ref_croston([1, 0, 3]))
    weekly = long({"a": [0, 1, 0, 2]}, start="2024-01-01", freq="W-MON")
    out = it.forecast(weekly, 1, methods=["sba"], freq="W-MON")
    assert out["ds"].iloc[0] == pd.Timestamp("2024-01-29")


def test_freq_inferred_despite_holes_in_calendar():
    df = pd.concat([long({"a": [1, 0, 2]}, start="2022-01-01"),
                    long({"b": [1, 1]}, start="2022-06-01")])
    out = it.forecast(df, 1, methods=["naive"])
    assert out["ds"].tolist() == [pd.Timestamp("2022-04-01"), pd.Timestamp("2022-08-01")]


def test_croston_opt_grid_finds_good_constants(panel):
    df, series = panel
    uids = [u for u in list(series)[:60] if (series[u] > 0).sum() >= 2][:30]
    sub = df[df.unique_id.isin(uids)]
    pnl = to_panel(sub)
    grid = np.linspace(0.05, 0.3, 26)
    for cost in ("mar", "mse"):
        fc, a_s, a_i = it._croston_opt_grid(pnl.y, pnl.start, (0.05, 0.3), cost)
        got = it.forecast(sub, 1, methods=["croston_opt"],
                          params={"croston_opt": {"cost": cost}})["croston_opt"].to_numpy()
        np.testing.assert_allclose(got, fc, rtol=1e-12)
        near_best = 0
        for j, uid in enumerate(pnl.uids):
            y = series[uid]
            assert 0.05 <= a_s[j] <= 0.3 and 0.05 <= a_i[j] <= 0.3
            assert fc[j] == pytest.approx(ref_croston(y, a_s[j], a_i[j]), rel=1e-12)
            ours = tsint_cost(y, a_s[j], a_i[j], cost)
            best = min(tsint_cost(y, a, b, cost) for a in grid for b in grid)
            near_best += ours <= best * 1.001 + 1e-12
        # Coarse-to-fine search can miss a narrow second valley; nearly never does.
        assert near_best >= 0.9 * len(uids)


def tsint_cost(y, a_size, a_int, cost):
    """tsintermittent's crost.cost with naive initialisation, one series."""
    y = np.asarray(y, float)
    n = y.size
    idx = np.flatnonzero(y > 0)
    f = np.full(n, np.nan)
    z = x = None
    prev = -1
    for t in range(n):
        if z is not None:
            f[t] = z / x
        if y[t] > 0:
            if z is None:
                z, x = y[t], t - prev
            else:
                z = z + a_size * (y[t] - z)
                x = x + a_int * (t - prev - x)
            prev = t
    del idx
    ok = ~np.isnan(f)
    if cost in ("mse", "mae"):
        e = y[ok] - f[ok]
        return np.mean(e**2) if cost == "mse" else np.mean(np.abs(e))
    rate = np.cumsum(y) / np.arange(1, n + 1)
    k = int(np.ceil(0.3 * n))
    rate[:k] = rate[k - 1]
    e = f[ok] - rate[ok]
    return np.sum(np.abs(e)) if cost == "mar" else np.sum(e**2)


def test_croston_opt_direct_cost_value():
    # Check the vectorised cost against the per-series one for one pair of constants.
    y = np.array([0, 3, 0, 0, 1, 2, 0, 0, 0, 4, 0, 1], float)
    panel = to_panel(long({"a": y}))
    for cost in ("mar", "msr", "mse", "mae"):
        target = it._rate_target(panel.y, panel.start) if cost in ("mar", "msr") else None
        got = it._croston_grid_cost(panel.y, panel.start, np.array([[0.07]]), np.array([[0.21]]),
                                    cost, target)[0, 0, 0]
        want = tsint_cost(y, 0.07, 0.21, cost)
        n_f = np.isfinite(np.r_[np.nan, np.nan, np.ones(10)]).sum()  # forecasts after t=1
        if cost in ("mse", "mae"):
            want *= n_f  # the vectorised cost is a sum; the mean only rescales it
        assert got == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------


def test_classify_hand_computed():
    df = long({
        "interm": Y1,                      # ADI 9/3 = 3; sizes 3,1,2: CV2 = 1/4
        "smooth": [1, 2, 1, 2],            # ADI 1; CV2 = (1/3) / 2.25
        "erratic": [1, 10, 1, 10],         # ADI 1; CV2 = 27 / 30.25
        "lumpy": [0, 0, 1, 0, 0, 10],      # ADI 3; CV2 = 40.5 / 30.25
        "single": [0, 0, 0, 5],            # ADI 4; CV2 undefined -> intermittent
        "none": [0, 0],
    })
    c = it.classify(df).set_index("unique_id")
    assert c.loc["interm", "adi"] == pytest.approx(3.0)
    assert c.loc["interm", "cv2"] == pytest.approx(0.25)
    assert c.loc["smooth", "cv2"] == pytest.approx((1 / 3) / 2.25)
    assert c.loc["erratic", "cv2"] == pytest.approx(27 / 30.25)
    assert c.loc["lumpy", "cv2"] == pytest.approx(40.5 / 30.25)
    assert np.isnan(c.loc["single", "cv2"]) and np.isinf(c.loc["none", "adi"])
    assert c["category"].to_dict() == {
        "erratic": "erratic", "interm": "intermittent", "lumpy": "lumpy", "none": "no_demand",
        "single": "intermittent", "smooth": "smooth",
    }
    assert c.loc["lumpy", "n_demands"] == 2 and c.loc["lumpy", "n_periods"] == 6


def test_classify_cutoffs_are_inclusive_below():
    # ADI exactly 1.32 is not above the cut-off: 33 periods, 25 demands, last in period 33.
    y = np.zeros(33)
    y[np.r_[0:24, 32]] = 1
    c = it.classify(long({"a": y}))
    assert c["adi"].iloc[0] == pytest.approx(1.32)
    assert c["category"].iloc[0] == "smooth"


# ---------------------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------------------


def test_forecast_distribution_nb_and_poisson():
    df = long({"over": [0, 6, 0, 0, 9, 0, 1, 0, 0, 12, 0, 0], "flat": [1] * 12})
    qs = (0.5, 0.9, 0.99)
    out = it.forecast_distribution(df, 2, method="sba", quantiles=qs, shrinkage=0)
    assert list(out.columns) == ["unique_id", "ds", "mean", "var", "dispersion", "q0.5",
                                 "q0.9", "q0.99"]
    point = it.forecast(df, 2, methods=["sba"])
    np.testing.assert_allclose(out["mean"], point["sba"])
    np.testing.assert_allclose(out["var"], out["mean"] * out["dispersion"])
    flat = out[out.unique_id == "flat"].iloc[0]
    assert flat["dispersion"] == 1.0  # no error at all -> floored to Poisson
    for q in qs:
        assert flat[f"q{q:g}"] == stats.poisson.ppf(q, flat["mean"])
    over = out[out.unique_id == "over"].iloc[0]
    assert over["dispersion"] > 1
    r, p = over["mean"] / (over["dispersion"] - 1), 1 / over["dispersion"]
    for q in qs:
        assert over[f"q{q:g}"] == stats.nbinom.ppf(q, r, p)
    assert stats.nbinom.mean(r, p) == pytest.approx(over["mean"])
    assert stats.nbinom.var(r, p) == pytest.approx(over["var"])


def test_dispersion_hand_computed():
    # naive: fitted 1, 3, 0 for actuals 3, 0, 2 -> sum e^2 = 17, sum f = 4 -> 4.25
    df = long({"a": [1, 3, 0, 2]})
    out = it.forecast_distribution(df, 1, method="naive", shrinkage=0)
    assert out["dispersion"].iloc[0] == pytest.approx(17 / 4)
    assert out["var"].iloc[0] == pytest.approx(2 * 17 / 4)
    # history VMR: [0, 2, 0, 4] mean 1.5, var (ddof=1) 11/3
    out = it.forecast_distribution(long({"a": [0, 2, 0, 4]}), 1, method="adida",
                                   dispersion="vmr", shrinkage=0)
    assert out["dispersion"].iloc[0] == pytest.approx((11 / 3) / 1.5)


def test_dispersion_shrinks_toward_pooled_median():
    df = long({"a": [0, 2, 0, 4], "b": [0, 0, 0, 6, 0, 0, 0, 6], "c": [1, 2, 1, 2, 1, 2]})
    raw = it.forecast_distribution(df, 1, method="sba", dispersion="vmr", shrinkage=0)
    raw = raw.set_index("unique_id")["dispersion"]
    # raw VMRs: a 2.444, b 36/7*... compute from the definition
    vmr = {k: np.var(v, ddof=1) / np.mean(v) for k, v in
           {"a": [0, 2, 0, 4], "b": [0, 0, 0, 6, 0, 0, 0, 6], "c": [1, 2, 1, 2, 1, 2]}.items()}
    pooled = np.median(list(vmr.values()))
    shr = it.forecast_distribution(df, 1, method="sba", dispersion="vmr", shrinkage=6)
    shr = shr.set_index("unique_id")["dispersion"]
    n = {"a": 4, "b": 8, "c": 6}
    for k in vmr:
        assert raw[k] == pytest.approx(max(vmr[k], 1.0))
        assert shr[k] == pytest.approx(max((n[k] * vmr[k] + 6 * pooled) / (n[k] + 6), 1.0))


def test_lead_time_demand_moments_and_quantiles():
    df = long({"a": [0, 6, 0, 0, 9, 0, 1, 0, 0, 12, 0, 0], "b": [0, 1, 0, 0, 2, 0]})
    per = it.forecast_distribution(df, 1, method="sba").set_index("unique_id")
    lt = it.lead_time_demand(df, {"a": 2, "b": 0.5}, method="sba", quantiles=(0.9,))
    lt = lt.set_index("unique_id")
    assert lt.loc["a", "mean"] == pytest.approx(2 * per.loc["a", "mean"])
    assert lt.loc["a", "var"] == pytest.approx(2 * per.loc["a", "var"])
    assert lt.loc["b", "mean"] == pytest.approx(0.5 * per.loc["b", "mean"])
    assert lt.loc["b", "var"] == pytest.approx(0.5 * per.loc["b", "var"])
    # Two periods: the 0.9-quantile of the convolution of two per-period pmfs.
    phi, mu = per.loc["a", "dispersion"], per.loc["a", "mean"]
    k = np.arange(400)
    pmf = stats.nbinom.pmf(k, mu / (phi - 1), 1 / phi)
    conv = np.convolve(pmf, pmf)[:400]
    assert lt.loc["a", "q0.9"] == np.searchsorted(np.cumsum(conv), 0.9 - 1e-12)
    scalar = it.lead_time_demand(df, 3.0, method="croston")
    assert (scalar["lead_time"] == 3.0).all()
    with pytest.raises(ValueError, match="no value for 1 series, first 'b'"):
        it.lead_time_demand(df, {"a": 2}, method="sba")
    with pytest.raises(ValueError, match="finite and >= 0"):
        it.lead_time_demand(df, -1.0)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.fixture
def good():
    return long({"a": [0, 1, 2], "b": [3, 0, 1]})


def test_error_missing_column(good):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['y'\].*rename"):
        it.forecast(good.drop(columns="y"), 1)


def test_error_negative_y(good):
    good.loc[4, "y"] = -2
    with pytest.raises(ValueError, match=r"negative value.*-2\.0.*row index 4.*'b'.*clip"):
        it.forecast(good, 1)


def test_error_nan_y(good):
    good.loc[1, "y"] = np.nan
    with pytest.raises(ValueError, match=r"missing or infinite.*row index 1.*fillna\(0\)"):
        it.forecast(good, 1)


def test_error_duplicates(good):
    bad = pd.concat([good, good.iloc[[2]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"share a \(unique_id, ds\).*'a'.*groupby"):
        it.forecast(bad, 1)


def test_error_unknown_method_h_params_and_types(good):
    with pytest.raises(ValueError, match=r"unknown method 'crostn'.*choose from"):
        it.forecast(good, 1, methods=["crostn"])
    for h in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="h must be a positive integer"):
            it.forecast(good, h)
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['alpha'\] for method 'tsb'"):
        it.forecast(good, 1, methods=["tsb"], params={"tsb": {"alpha": 0.1}})
    with pytest.raises(ValueError, match="alpha_p must be a number in"):
        it.forecast(good, 1, methods=["tsb"], params={"tsb": {"alpha_p": 1.5}})
    with pytest.raises(ValueError, match="cost must be one of"):
        it.forecast(good, 1, methods=["croston_opt"], params={"croston_opt": {"cost": "x"}})
    with pytest.raises(ValueError, match="not in methods"):
        it.forecast(good, 1, methods=["sba"], params={"tsb": {"alpha_p": 0.1}})
    with pytest.raises(ValueError, match="y must be numeric"):
        it.forecast(good.assign(y=good["y"].astype(str)), 1)
    with pytest.raises(ValueError, match=r"pd\.to_datetime"):
        it.forecast(good.assign(ds=good["ds"].astype(str)), 1)
    off = good.copy()
    off.loc[5, "ds"] = pd.Timestamp("2022-03-15")
    with pytest.raises(ValueError, match=r"2022-03-15.*not lie on the 'MS' calendar.*row index 5"):
        it.forecast(off, 1, freq="MS")
    with pytest.raises(ValueError, match="could not infer the frequency"):
        it.forecast(long({"a": [1, 2]}), 1)


# ---------------------------------------------------------------------------------------
# Scale
# ---------------------------------------------------------------------------------------


def test_vectorised_speed_smoke():
    rng = np.random.default_rng(3)
    S, T = 20_000, 48
    y = (rng.random((S, T)) < 0.3) * rng.integers(1, 5, (S, T))
    df = pd.DataFrame({
        "unique_id": np.repeat(np.arange(S), T),
        "ds": np.tile(np.arange(T), S),
        "y": y.ravel().astype(float),
    })
    t0 = time.perf_counter()
    out = it.forecast(df, 6, methods=["croston", "sba", "tsb", "naive"])
    elapsed = time.perf_counter() - t0
    assert len(out) == S * 6
    # A per-series Python loop would take many seconds; the vectorised path well under 1 s.
    assert elapsed < 5.0
    ref = np.array([ref_croston(y[i]) for i in range(0, S, 997)])
    np.testing.assert_allclose(out["croston"].to_numpy()[::6][::997], ref, rtol=1e-12, atol=1e-14)


def test_check_methods_is_the_validation_forecast_uses():
    assert it.check_methods("sba") == ["sba"]
    assert it.check_methods(("croston", "tsb")) == ["croston", "tsb"]
    for bad, msg in (([], "methods is empty"), (["SBA"], "unknown method 'SBA'"),
                     (["sba", "sba"], "lists a method twice")):
        with pytest.raises(ValueError, match=msg):
            it.check_methods(bad)
        with pytest.raises(ValueError, match=msg):
            it.forecast(long({"a": [1.0, 0.0, 2.0]}), 1, methods=bad)


# ---------------------------------------------------------------------------------------
# combination and auto
# ---------------------------------------------------------------------------------------


def test_combination_is_the_median_or_mean_of_its_members(panel):
    df, _ = panel
    members = ["sba", "tsb", "adida", "imapa"]
    out = it.forecast(df, 2, methods=["combination"] + members)
    np.testing.assert_allclose(out["combination"], np.median(out[members].to_numpy(), axis=1),
                               rtol=1e-12, atol=1e-15)
    mean = it.forecast(df, 1, methods=["combination"], params={"combination": {"how": "mean"}})
    single = it.forecast(df, 1, methods=members)
    np.testing.assert_allclose(mean["combination"], single[members].to_numpy().mean(axis=1),
                               rtol=1e-12, atol=1e-15)
    # Two members: the median is their midpoint.
    two = it.forecast(df, 1, methods=["combination", "croston", "naive"],
                      params={"combination": {"members": ["croston", "naive"]}})
    np.testing.assert_allclose(two["combination"], (two["croston"] + two["naive"]) / 2, rtol=1e-12)


def _monthly_panel(y):
    """Long frame of a (series, month) array, every series over the same months."""
    n, T = y.shape
    return pd.DataFrame({"unique_id": np.repeat([f"p{i:04d}" for i in range(n)], T),
                         "ds": np.tile(np.arange(T), n), "y": y.ravel().astype(float)})


def _brute_force_factor(y, group_of, g, holdout=12, objective="rmsse"):
    """The factor of group ``g`` by exhaustive search, from the definition in the docs."""
    grid = np.linspace(0.25, 4.0, 37501)
    n, T = y.shape
    cut = T - holdout
    f_in = it.forecast(_monthly_panel(y[:, :cut]), 1, methods=["imapa"], freq=1)["imapa"].to_numpy()
    rows = []
    for i in range(n):
        hist = y[i, :cut]
        nz = np.flatnonzero(hist > 0)
        if nz.size == 0 or group_of(hist) != g:
            continue
        d = np.diff(hist[nz[0]:])
        scale = np.mean(d ** 2) if d.size else 0.0
        if scale > 0:
            rows.append((y[i, cut:], f_in[i], scale))
    loss = np.zeros_like(grid)
    for test, f, scale in rows:
        mse = np.mean((test[None, :] - grid[:, None] * f) ** 2, axis=1) / scale
        loss += np.sqrt(mse) if objective == "rmsse" else mse
    best = grid[np.argmin(loss)]
    return best, len(rows)


def test_auto_factors_match_a_brute_force_search():
    # 300 parts; demand halves in the last year for the busy ones, doubles for the rare ones.
    rng = np.random.default_rng(7)
    n, T = 300, 48
    rate = np.where(np.arange(n) < 150, rng.uniform(0.8, 3.0, n), rng.uniform(0.03, 0.15, n))
    level = np.ones((n, T))
    level[:150, -12:] = 0.5
    level[150:, -12:] = 2.0
    y = rng.poisson(rate[:, None] * level)
    out = it.forecast(_monthly_panel(y), 1, methods=["auto", "imapa"], freq=1)
    imapa = out["imapa"].to_numpy()
    ratio = np.where(imapa > 0, out["auto"].to_numpy() / np.where(imapa > 0, imapa, 1.0), np.nan)

    def group_of(hist):  # the default grouping: < 3 or >= 3 demand months in the last 12
        return int((hist[-12:] > 0).sum() >= 3)

    groups = np.array([group_of(r) for r in y])  # groups of the final forecast
    for g in (0, 1):
        expected, scored = _brute_force_factor(y, group_of, g)
        assert scored >= 20
        got = ratio[(groups == g) & np.isfinite(ratio)]
        assert got.size > 0
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-4)
    # The busy parts' level fell: their factor is below 1 (the rare parts' grew: above).
    assert ratio[groups == 1][0] < 0.8
    # objective="mse": the pooled scaled squared error, also against the brute force.
    mse = it.forecast(_monthly_panel(y), 1, methods=["auto"], freq=1,
                      params={"auto": {"objective": "mse"}})["auto"].to_numpy()
    ratio_mse = np.where(imapa > 0, mse / np.where(imapa > 0, imapa, 1.0), np.nan)
    for g in (0, 1):
        expected, _ = _brute_force_factor(y, group_of, g, objective="mse")
        got = ratio_mse[(groups == g) & np.isfinite(ratio_mse)]
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-4)


def test_auto_keeps_the_level_of_stationary_series_and_of_small_groups():
    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, size=(400, 48))
    out = it.forecast(_monthly_panel(y), 1, methods=["auto", "imapa"], freq=1)
    ratio = out["auto"].to_numpy() / out["imapa"].to_numpy()
    assert np.all(np.abs(ratio - 1.0) < 0.1)  # no trend to correct: factors near 1
    # Fewer than min_series scoreable series: the factor stays exactly 1.
    few = it.forecast(_monthly_panel(y[:10] * np.r_[np.ones(36), np.full(12, 3)]), 1,
                      methods=["auto", "imapa"], freq=1)
    np.testing.assert_array_equal(few["auto"], few["imapa"])
    # A history too short to hold 12 months out: auto is its base method.
    short = it.forecast(_monthly_panel(y[:, :10]), 1, methods=["auto", "imapa"], freq=1)
    np.testing.assert_array_equal(short["auto"], short["imapa"])
    # Another base and grouping are honoured.
    cmb = it.forecast(_monthly_panel(y[:10]), 1, methods=["auto", "combination"], freq=1,
                      params={"auto": {"base": "combination", "cuts": []}})
    np.testing.assert_array_equal(cmb["auto"], cmb["combination"])


def test_quantiles_exist_and_are_monotone_for_every_method(panel):
    df, _ = panel
    qs = (0.05, 0.5, 0.8, 0.9, 0.99)
    for method in it.METHODS:
        out = it.forecast_distribution(df, 2, method=method, quantiles=qs)
        cols = [f"q{q:g}" for q in qs]
        q = out[cols].to_numpy()
        assert np.all(np.isfinite(q)) and np.all(q >= 0) and np.all(q == np.round(q)), method
        assert np.all(np.diff(q, axis=1) >= 0), method
        point = it.forecast(df, 2, methods=[method])[method].to_numpy()
        np.testing.assert_allclose(out["mean"], point, rtol=1e-12, err_msg=method)
        assert np.all(out["var"] >= out["mean"] - 1e-12), method


def _pit_at(law, y, u):
    """Mean non-randomised PIT CDF at u (Czado, Gneiting & Held 2009): the expected share of
    observations at or below the u-quantile for a calibrated forecast is u."""
    lo, hi = law.cdf(y - 1), law.cdf(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (u - lo) / (hi - lo)
    return float(np.mean(np.where(u <= lo, 0.0, np.where(u >= hi, 1.0, inside))))


@pytest.mark.parametrize("law_name", ["poisson", "negative binomial"])
def test_quantiles_are_calibrated_on_iid_series(law_name):
    from partsforecast.counts import count_law

    rng = np.random.default_rng(11)
    n, T, mu = 3000, 72, 3.0
    if law_name == "poisson":
        y = rng.poisson(mu, size=(n, T + 1))
    else:  # mean 3, variance 9
        y = rng.negative_binomial(1.5, 1.5 / (1.5 + mu), size=(n, T + 1))
    df = _monthly_panel(y[:, :T])
    nxt = y[:, T].astype(float)
    pit = {}
    runs = {
        "sba": None, "tsb": None, "imapa": None, "combination": None,
        "auto": None, "auto mse": {"auto": {"objective": "mse"}},
    }
    for name, params in runs.items():
        method = name.split()[0]
        d = it.forecast_distribution(df, 1, method=method, quantiles=(0.9,), freq=1, params=params)
        law = count_law(d["mean"].to_numpy(), d["var"].to_numpy())
        pit[name] = (_pit_at(law, nxt, 0.9), _pit_at(law, nxt, 0.5))
        if name in ("sba", "auto"):
            continue
        assert abs(pit[name][0] - 0.9) < 0.025, (law_name, name, pit[name])
        assert abs(pit[name][1] - 0.5) < 0.04, (law_name, name, pit[name])
        # The reported quantile covers about 90% (a little more, for counts).
        assert 0.88 < np.mean(nxt <= d["q0.9"].to_numpy()) < 0.95, (law_name, name)
    # SBA deflates Croston's level by 1 - alpha/2 = 0.95: right in the tail, low in the middle.
    assert abs(pit["sba"][0] - 0.9) < 0.025
    assert pit["sba"][1] < pit["imapa"][1] - 0.02
    # auto's default (mean RMSSE) factor pulls a stationary level down a little: its
    # quantiles sit a little low, as the module docstring warns.
    assert 0.86 < pit["auto"][0] < pit["imapa"][0]


def test_combination_and_auto_settings_errors(good):
    bad = [
        ({"combination": {"members": ["sba", "auto"]}}, "combination", r"member 'auto' is not a method"),
        ({"combination": {"members": []}}, "combination", "members must be a non-empty list"),
        ({"combination": {"members": "sba"}}, "combination", "members must be a non-empty list"),
        ({"combination": {"members": ["sba", "sba"]}}, "combination", "lists a method twice"),
        ({"combination": {"how": "max"}}, "combination", "how must be 'median' or 'mean'"),
        ({"auto": {"base": "auto"}}, "auto", "base must be one of"),
        ({"auto": {"holdout": 0}}, "auto", "holdout must be a positive integer"),
        ({"auto": {"window": 1.5}}, "auto", "window must be a positive integer"),
        ({"auto": {"min_series": True}}, "auto", "min_series must be a positive integer"),
        ({"auto": {"cuts": (12, 3)}}, "auto", "cuts must be increasing positive integers"),
        ({"auto": {"cuts": (0,)}}, "auto", "cuts must be increasing positive integers"),
        ({"auto": {"factor_bounds": (2.0, 4.0)}}, "auto", r"factor_bounds must be \(low, high\)"),
        ({"auto": {"factor_bounds": (0.5,)}}, "auto", r"factor_bounds must be \(low, high\)"),
        ({"auto": {"bounds": (0.1, 0.3)}}, "auto", r"unknown setting\(s\) \['bounds'\] for method 'auto'"),
        ({"auto": {"objective": "mae"}}, "auto", "objective must be 'rmsse' or 'mse'"),
    ]
    for params, method, msg in bad:
        with pytest.raises(ValueError, match=msg):
            it.forecast(good, 1, methods=[method], params=params)
    with pytest.raises(ValueError, match="unknown method 'Auto'"):
        it.forecast_distribution(good, 1, method="Auto")
