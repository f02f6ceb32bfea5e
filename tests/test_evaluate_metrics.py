"""Tests of the metrics and backtests in partsforecast.evaluate: hand-computed values on
small arrays, the long-format evaluate(), and rolling-origin backtests without peeking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partsforecast import evaluate as ev
from partsforecast import intermittent as it
from partsforecast._panel import to_panel

Y = [1, 2, 3]
YHAT = [2, 2, 2]
TRAIN = [1, 3, 2, 4]  # naive abs diffs 2, 1, 2 (mean 5/3); squared 4, 1, 4 (mean 3)


# ---------------------------------------------------------------------------------------
# Array metrics, hand-computed
# ---------------------------------------------------------------------------------------


def test_mase_hand_computed():
    # mean |e| = 2/3 over the naive scale 5/3 (Hyndman & Koehler 2006)
    assert ev.mase(Y, YHAT, TRAIN) == pytest.approx(0.4)
    # seasonal naive (m = 2): diffs |2 - 1|, |4 - 3| -> scale 1
    assert ev.mase(Y, YHAT, TRAIN, seasonality=2) == pytest.approx(2 / 3)


def test_rmsse_hand_computed():
    # mean e^2 = 2/3 over the squared naive scale 3 (M5 guidelines)
    assert ev.rmsse(Y, YHAT, TRAIN) == pytest.approx(np.sqrt(2 / 9))


def test_scaled_metrics_zero_scale_and_ragged_training():
    assert ev.mase([1, 0], [0, 0], [2, 2, 2]) == np.inf
    assert np.isnan(ev.mase([0, 0], [0, 0], [2, 2, 2]))
    # Two series as rows; the second's history is shorter (NaN padding is ignored).
    train = np.array([[1, 3, 2, 4], [np.nan, 0, 2, 0]], dtype=float)
    got = ev.mase(np.array([Y, [0, 1, 0]]), np.array([YHAT, [1, 1, 1]]), train)
    np.testing.assert_allclose(got, [0.4, (2 / 3) / 2])
    with pytest.raises(ValueError, match="more than seasonality"):
        ev.mase(Y, YHAT, [1], seasonality=1)


def test_mae_rmse():
    assert ev.mae(Y, YHAT) == pytest.approx(2 / 3)
    assert ev.rmse(Y, YHAT) == pytest.approx(np.sqrt(2 / 3))


def test_bias_sign_and_relative():
    y, yhat = [0, 2, 4], [1, 1, 1]  # yhat - y = 1, -1, -3
    assert ev.bias(y, yhat) == pytest.approx(-1.0)  # under-forecast -> negative
    assert ev.bias(y, yhat, relative=True) == pytest.approx(-0.5)  # -3 / 6
    assert ev.bias([1, 1], [2, 2]) == pytest.approx(1.0)


def test_weighted_quantile_loss_hand_computed():
    y = [0, 2, 4]
    q = {0.5: [1, 1, 1], 0.9: [2, 2, 2]}
    # tau 0.5: pinball 0.5, 0.5, 1.5 = 2.5 -> 2 * 2.5 / 6; tau 0.9: 0.2, 0, 1.8 = 2 -> 4/6
    per = ev.weighted_quantile_loss(y, q, per_level=True)
    assert per[0.5] == pytest.approx(5 / 6)
    assert per[0.9] == pytest.approx(4 / 6)
    assert ev.weighted_quantile_loss(y, q) == pytest.approx(0.75)
    # A perfect median forecast has zero loss at 0.5.
    assert ev.weighted_quantile_loss(y, {0.5: y}) == 0.0
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        ev.weighted_quantile_loss(y, {90: y})


def test_interval_coverage_inclusive():
    assert ev.interval_coverage([0, 2, 4], [0, 0, 0], [1, 2, 3]) == pytest.approx(2 / 3)


def test_pit_coverage_hand_computed():
    # Czado, Gneiting & Held (2009): the PIT of y is uniform on [F(y-1), F(y)].
    # F(y-1) = 0.05, F(y) = 0.6, 80% band [0.1, 0.9]: F̄(0.9) = 1,
    # F̄(0.1) = (0.1 - 0.05) / (0.6 - 0.05) = 1/11 -> coverage 10/11.
    assert ev.pit_coverage([0.05], [0.6], level=0.8) == pytest.approx(10 / 11)
    # F(y-1) = 0.2, F(y) = 0.6 lies wholly inside [0.1, 0.9]: coverage 1; inside the 50%
    # band [0.25, 0.75] only [0.25, 0.6]: (0.6 - 0.25) / 0.4 = 0.875.
    assert ev.pit_coverage([0.2], [0.6], level=0.8) == pytest.approx(1.0)
    assert ev.pit_coverage([0.2], [0.6], level=0.5) == pytest.approx(0.875)
    # y = 0 under Poisson(0.3): F(-1) = 0, F(0) = exp(-0.3) = 0.740818; 95% band
    # [0.025, 0.975]: 1 - 0.025 / 0.740818 = 0.966253.
    assert ev.pit_coverage([0.0], [np.exp(-0.3)], level=0.95) == pytest.approx(0.966253, abs=1e-6)
    # Mean over the last axis, one value per series (rows), like interval_coverage:
    # row 0: (10/11 + 1) / 2; row 1: PIT mass [0.9, 1] wholly above the band -> 0, and
    # [0, 0.1] wholly below -> 0.
    got = ev.pit_coverage([[0.05, 0.2], [0.9, 0.0]], [[0.6, 0.6], [1.0, 0.1]])
    np.testing.assert_allclose(got, [(10 / 11 + 1) / 2, 0.0], atol=1e-12)


def test_pit_coverage_continuous_case_is_the_indicator():
    # F(y-1) = F(y) = p (a continuous forecast): coverage = share of 0.1 < p <= 0.9.
    p = np.array([0.05, 0.1001, 0.5, 0.8999, 0.95, 0.3])
    assert ev.pit_coverage(p, p, level=0.8) == pytest.approx(4 / 6)
    assert ev.pit_coverage(p, p, level=0.95) == pytest.approx(1.0)


def test_pit_coverage_calibrated_poisson_is_nominal():
    from scipy import stats

    rng = np.random.default_rng(20090101)
    y = rng.poisson(0.3, 200_000)
    # Scored with the true law: expected coverage is the nominal level exactly.
    lo, hi = stats.poisson.cdf(y - 1, 0.3), stats.poisson.cdf(y, 0.3)
    assert ev.pit_coverage(lo, hi, level=0.8) == pytest.approx(0.8, abs=0.01)
    assert ev.pit_coverage(lo, hi, level=0.95) == pytest.approx(0.95, abs=0.01)
    # The naive interval [q0.1, q0.9] = [0, 1] covers 96% of the same draws.
    q = stats.poisson.ppf([0.1, 0.9], 0.3)
    assert ev.interval_coverage(y, np.full(y.size, q[0]), np.full(y.size, q[1])) > 0.95
    # A forecast too low (Poisson(0.1)): every y >= 1 has its PIT above F(0) = 0.905, out
    # of the 80% band; coverage = P(Y=0) * (0.9 - 0.1) / 0.905 = 0.655 in expectation.
    lo_b, hi_b = stats.poisson.cdf(y - 1, 0.1), stats.poisson.cdf(y, 0.1)
    expected = np.exp(-0.3) * 0.8 / np.exp(-0.1)
    assert ev.pit_coverage(lo_b, hi_b, level=0.8) == pytest.approx(expected, abs=0.005)
    assert ev.pit_coverage(lo_b, hi_b, level=0.8) < 0.7
    # 95% band [0.025, 0.975]: y = 0 (prob 0.7408) has PIT on [0, 0.9048], (0.9048 -
    # 0.025) / 0.9048 = 0.9724 inside; y = 1 (0.2222) on [0.9048, 0.9953], (0.975 -
    # 0.9048) / 0.0905 = 0.7752 inside; y >= 2 none: 0.7408 * 0.9724 + 0.2222 * 0.7752 = 0.892.
    assert ev.pit_coverage(lo_b, hi_b, level=0.95) == pytest.approx(0.892, abs=0.005)
    # The PIT histogram: flat for the true law, piled in the top bin for the low one.
    hist = ev.pit_histogram(lo, hi, bins=10)
    assert hist.shape == (10,)
    assert hist.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(hist, 0.1, atol=0.005)
    hist_b = ev.pit_histogram(lo_b, hi_b, bins=10)
    assert hist_b[-1] > 0.2


def test_pit_histogram_hand_computed():
    # PIT uniform on [0.2, 0.6]: a quarter of the mass in each of the bins 3..6 (of 10);
    # a point PIT at 0.95 puts all of its mass in the last bin; F(y) = 0 in the first.
    np.testing.assert_allclose(ev.pit_histogram([0.2], [0.6]), [0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0])
    # Bins of 0.25: [0.2, 0.6] puts 0.05/0.4, 0.25/0.4, 0.1/0.4 in bins 1-3.
    np.testing.assert_allclose(ev.pit_histogram([0.2, 0.95, 0.0], [0.6, 0.95, 0.0], bins=4),
                               [(0.125 + 1) / 3, 0.625 / 3, 0.25 / 3, 1 / 3])


def test_pit_input_errors():
    with pytest.raises(ValueError, match=r"same shape.*\(2,\) and \(3,\)"):
        ev.pit_coverage([0.1, 0.2], [0.3, 0.4, 0.5])
    with pytest.raises(ValueError, match=r"cdf_below=0.7, cdf_at=0.4"):
        ev.pit_coverage([0.1, 0.7], [0.3, 0.4])
    with pytest.raises(ValueError, match=r"cdf_at=1.5"):
        ev.pit_histogram([0.1], [1.5])
    with pytest.raises(ValueError, match=r"cdf_below=-0.1"):
        ev.pit_coverage([-0.1], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        ev.pit_coverage([np.nan], [0.5])
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\).*got 80"):
        ev.pit_coverage([0.1], [0.5], level=80)
    with pytest.raises(ValueError, match="bins must be a positive integer; got 0"):
        ev.pit_histogram([0.1], [0.5], bins=0)
    with pytest.raises(ValueError, match="time axis"):
        ev.pit_coverage(0.1, 0.5)
    # Round-off (F(y) a hair above 1, or below F(y-1)) is accepted.
    assert ev.pit_coverage([0.5], [1.0 + 1e-12]) == pytest.approx(0.4 / 0.5)


def test_periods_in_stock_hand_computed():
    # yhat - y = 1, -1, -3; stock after each period 1, 0, -3 -> PIS = -2 (shortage)
    assert ev.periods_in_stock([0, 2, 4], [1, 1, 1]) == pytest.approx(-2.0)
    # One unit too many in period 1 of 4 is carried for 4 periods.
    assert ev.periods_in_stock([0, 0, 0, 0], [1, 0, 0, 0]) == pytest.approx(4.0)
    assert ev.periods_in_stock([0, 0, 0, 0], [0, 0, 0, 1]) == pytest.approx(1.0)
    assert ev.periods_in_stock([0, 2, 4], [1, 1, 1], scale=2.0) == pytest.approx(-1.0)
    got = ev.periods_in_stock(np.array([[0, 2, 4], [0, 0, 0]]), np.array([[1, 1, 1], [1, 0, 0]]))
    np.testing.assert_allclose(got, [-2.0, 3.0])


# ---------------------------------------------------------------------------------------
# Long format
# ---------------------------------------------------------------------------------------


def _dates(n, start="2024-01-01"):
    return pd.date_range(start, periods=n, freq="MS")


@pytest.fixture
def frames():
    train = pd.DataFrame({
        "unique_id": ["a"] * 4 + ["b"] * 3,
        "ds": list(_dates(4)) + [_dates(4)[0], _dates(4)[2], _dates(4)[3]],  # b skips Feb
        "y": [1, 3, 2, 4, 2, 0, 1],
    })
    test = pd.DataFrame({
        "unique_id": ["a"] * 3 + ["b"] * 3,
        "ds": list(_dates(3, "2024-05-01")) * 2,
        "y": [1, 2, 3, 0, 2, 4],
        "m1": [2, 2, 2, 1, 1, 1],
        "m2": [1, 2, 3, 0, 0, 0],
    })
    return train, test


def test_evaluate_matches_array_metrics(frames):
    train, test = frames
    shuffled = test.sample(frac=1, random_state=1)  # order must not matter (PIS)
    out = ev.evaluate(shuffled, train, metrics=["mase", "rmsse", "bias", "relative_bias",
                                                "pis", "spis", "mae", "rmse"])
    assert list(out.columns) == ["unique_id", "metric", "m1", "m2"]
    got = out.set_index(["unique_id", "metric"])
    # b's history with the missing Feb as zero: 2, 0, 0, 1 -> naive diffs 2, 0, 1
    hist = {"a": [1, 3, 2, 4], "b": [2, 0, 0, 1]}
    for uid, g in test.groupby("unique_id"):
        for m in ("m1", "m2"):
            y, f = g["y"].to_numpy(), g[m].to_numpy()
            want = {
                "mase": ev.mase(y, f, hist[uid]), "rmsse": ev.rmsse(y, f, hist[uid]),
                "bias": ev.bias(y, f), "relative_bias": ev.bias(y, f, relative=True),
                "pis": ev.periods_in_stock(y, f),
                "spis": ev.periods_in_stock(y, f, scale=np.mean(hist[uid])),
                "mae": ev.mae(y, f), "rmse": ev.rmse(y, f),
            }
            for metric, v in want.items():
                assert got.loc[(uid, metric), m] == pytest.approx(v), (uid, m, metric)
    assert got.loc[("a", "mase"), "m1"] == pytest.approx(0.4)


def test_evaluate_distribution_columns(frames):
    _, test = frames
    dist = test[["unique_id", "ds", "y"]].assign(
        mean=[1, 1, 1, 1, 1, 1], **{"q0.5": [1, 1, 1, 1, 1, 1], "q0.9": [2, 2, 2, 2, 2, 2],
                                   "m1-lo-80": [0] * 6, "m1-hi-80": [1, 2, 2, 1, 1, 1]},
        m1=test["m1"])
    out = ev.evaluate(dist, metrics=["wql", "qcov", "coverage", "bias"])
    got = out.set_index(["unique_id", "metric"])
    yb = [0, 2, 4]
    assert got.loc[("b", "wql"), "mean"] == pytest.approx(
        ev.weighted_quantile_loss(yb, {0.5: [1, 1, 1], 0.9: [2, 2, 2]}))
    assert got.loc[("b", "qcov-0.9"), "mean"] == pytest.approx(2 / 3)
    assert got.loc[("a", "qcov-0.5"), "mean"] == pytest.approx(1 / 3)
    assert got.loc[("a", "coverage-80"), "m1"] == pytest.approx(2 / 3)  # 1, 2 in; 3 out
    assert np.isnan(got.loc[("a", "coverage-80"), "mean"])
    assert got.loc[("a", "bias"), "mean"] == pytest.approx(-1.0)
    assert set(out.columns) == {"unique_id", "metric", "mean", "m1"}


def test_evaluate_on_forecast_distribution_output():
    hist = pd.DataFrame({"unique_id": "p", "ds": _dates(12), "y": [0, 2, 0, 1, 0, 0, 3, 0, 1, 0,
                                                                     0, 2]})
    fd = it.forecast_distribution(hist, 3, method="sba", quantiles=(0.5, 0.9))
    fd["y"] = [0, 1, 4]
    out = ev.evaluate(fd, hist, metrics=["mase", "wql", "qcov"])
    assert list(out.columns) == ["unique_id", "metric", "mean"]
    assert out["metric"].tolist() == ["mase", "wql", "qcov-0.5", "qcov-0.9"]
    # The values, by hand. The distribution's mean is the SBA point forecast m (< 1) and its
    # quantiles are q0.5 = 1, q0.9 = 2 in every period.
    m = it.forecast(hist, 3, methods=["sba"])["sba"].iloc[0]
    np.testing.assert_allclose(fd["mean"], m, rtol=1e-12)
    assert 0 < m < 1
    assert fd["q0.5"].tolist() == [1, 1, 1] and fd["q0.9"].tolist() == [2, 2, 2]
    got = out.set_index("metric")["mean"]
    # MASE: mean |y - m| = (m + (1 - m) + (4 - m)) / 3 over the naive scale of the history:
    # |diffs| of 0 2 0 1 0 0 3 0 1 0 0 2 sum to 16 over 11 steps.
    assert got["mase"] == pytest.approx(((5 - m) / 3) / (16 / 11), rel=1e-12)
    # wQL: pinball 0.5 on y - q = -1, 0, 3 -> 0.5 + 0 + 1.5 = 2; pinball 0.9 on -2, -1, 2 ->
    # 0.2 + 0.1 + 1.8 = 2.1; each times 2 / sum|y| = 2 / 5 -> 0.8 and 0.84, mean 0.82.
    assert got["wql"] == pytest.approx(0.82, rel=1e-12)
    # coverage of the quantiles: y <= 1 in 2 of 3 periods, y <= 2 in 2 of 3.
    assert got["qcov-0.5"] == pytest.approx(2 / 3, rel=1e-12)
    assert got["qcov-0.9"] == pytest.approx(2 / 3, rel=1e-12)


def test_evaluate_by_cutoff_and_errors(frames):
    train, test = frames
    bt = pd.concat([test.assign(cutoff=1), test.assign(cutoff=2, m1=test["m1"] + 1)])
    out = ev.evaluate(bt, metrics=["bias"], by=["unique_id", "cutoff"])
    assert len(out) == 4
    assert out.set_index(["unique_id", "cutoff"]).loc[("a", 2), "m1"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pass train_df"):
        ev.evaluate(test, metrics=["mase"])
    with pytest.raises(ValueError, match="include 'unique_id' in by"):
        ev.evaluate(bt, train, metrics=["rmsse"], by="cutoff")
    with pytest.raises(ValueError, match="unknown metric 'mape'"):
        ev.evaluate(test, metrics=["mape"])
    with pytest.raises(ValueError, match="missing column 'y'"):
        ev.evaluate(test.drop(columns="y"))
    with pytest.raises(ValueError, match="'c' is in df but not in train_df"):
        ev.evaluate(test.replace({"unique_id": {"b": "c"}}), train, metrics=["mase"])


# ---------------------------------------------------------------------------------------
# Backtests
# ---------------------------------------------------------------------------------------


@pytest.fixture
def history():
    rng = np.random.default_rng(5)
    frames = []
    for i, (start, n) in enumerate([("2021-01-01", 36), ("2021-07-01", 30), ("2022-06-01", 12)]):
        y = (rng.random(n) < 0.4) * rng.integers(1, 6, n)
        frames.append(pd.DataFrame({"unique_id": f"p{i}", "ds": _dates(n, start), "y": y.astype(float)}))
    df = pd.concat(frames, ignore_index=True)
    return df[(df["y"] > 0) | (df.index % 7 == 0) | df["ds"].eq(df["ds"].max())]  # holes = zeros


def _dense(df):
    """Every series on its full monthly span, holes as zero demand."""
    parts = []
    for uid, g in df.groupby("unique_id"):
        span = pd.date_range(g["ds"].min(), g["ds"].max(), freq="MS")
        s = g.set_index("ds")["y"].reindex(span, fill_value=0.0)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": span, "y": s.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def test_backtest_no_peeking(history):
    dense = _dense(history)
    calls = []
    # data end 2023-12; h=3, step=3, 3 windows -> origins 2023-03, 2023-06, 2023-09
    expected_cutoffs = list(pd.date_range("2023-03-01", periods=3, freq="3MS"))

    def spy(train, h):
        cutoff = expected_cutoffs[len(calls)]
        if (train["ds"] > cutoff).any():
            raise AssertionError(f"forecaster saw data after the origin {cutoff}")
        # ... and everything up to it, holes filled with zeros
        want = dense[dense["ds"] <= cutoff].reset_index(drop=True)
        pd.testing.assert_frame_equal(train[["unique_id", "ds", "y"]], want, check_dtype=False)
        calls.append(cutoff)
        return it.forecast(train, h, methods=["sba", "naive"])

    out = ev.backtest(history, h=3, n_windows=3, step=3, forecaster=spy)
    assert calls == expected_cutoffs
    assert list(out.columns) == ["cutoff", "unique_id", "ds", "y", "sba", "naive"]
    assert (out["ds"] > out["cutoff"]).all()
    assert (out["ds"] <= out["cutoff"] + pd.DateOffset(months=3)).all()
    assert sorted(out["cutoff"].unique()) == expected_cutoffs


def test_backtest_actuals_and_refit(history):
    out = ev.backtest(history, h=2, n_windows=2, step=1, forecaster=["croston"])
    dense = to_panel(history)
    # actuals: the row's y, or 0 for a hole inside the series
    lookup = history.set_index(["unique_id", "ds"])["y"]
    for r in out.itertuples():
        assert r.y == lookup.get((r.unique_id, r.ds), 0.0)
    # each window's forecast equals a fresh fit on the (dense) data up to its cutoff
    full = _dense(history)
    for cutoff, g in out.groupby("cutoff"):
        fit = it.forecast(full[full["ds"] <= cutoff], 2, methods=["croston"])
        merged = g.merge(fit, on=["unique_id", "ds"], suffixes=("", "_ref"))
        assert len(merged) == len(g)
        np.testing.assert_allclose(merged["croston"], merged["croston_ref"])
    # windows overlap with step=1: origins 2023-09 and 2023-10 (data end 2023-12, h=2)
    assert sorted(out["cutoff"].unique()) == [pd.Timestamp("2023-09-01"), pd.Timestamp("2023-10-01")]
    # p2 ended 2023-05: no actuals in these windows, so no rows
    assert set(out["unique_id"]) == {"p0", "p1"}
    assert dense.y.shape[1] == 3
    metr = ev.evaluate(out, history, metrics=["mase", "bias"], by=["unique_id", "cutoff"])
    assert set(metr["metric"]) == {"mase", "bias"}
    # ... with each (series, window)'s values: the array metrics on its rows, MASE scaled by
    # the naive errors of the series' whole (dense) training history.
    got = metr.set_index(["unique_id", "cutoff", "metric"])["croston"]
    assert len(got) == 2 * out.groupby(["unique_id", "cutoff"]).ngroups == 8
    for (uid, cutoff), g in out.groupby(["unique_id", "cutoff"]):
        train = full.loc[full["unique_id"] == uid, "y"].to_numpy()
        y, f = g["y"].to_numpy(), g["croston"].to_numpy()
        assert got[(uid, cutoff, "bias")] == pytest.approx(np.mean(f - y), rel=1e-12)
        scale = np.mean(np.abs(np.diff(train)))
        assert got[(uid, cutoff, "mase")] == pytest.approx(np.mean(np.abs(y - f)) / scale, rel=1e-12)


def test_backtest_errors(history):
    with pytest.raises(ValueError, match="reduce n_windows, step or h"):
        ev.backtest(history, h=12, n_windows=10)
    with pytest.raises(ValueError, match="h must be a positive integer"):
        ev.backtest(history, h=0)
    with pytest.raises(ValueError, match="unknown method"):
        ev.backtest(history, h=1, forecaster="arima")
    with pytest.raises(ValueError, match="must return a DataFrame"):
        ev.backtest(history, h=1, forecaster=lambda tr, h: None)
