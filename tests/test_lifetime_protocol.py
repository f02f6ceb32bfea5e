"""The hand-off from lifetime models to the demand forecast: the LifetimeModel protocol,
FailureModel.from_params, the fleet's cached lives and the errors for wrong arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import partsforecast.lives
from partsforecast import FailureModel, forecast_demand
from partsforecast.demand import recent_sales
from partsforecast.reliability import expected_failures
from partsforecast.reliability import LifetimeModel, NotFittedError, WeibullLifetimeModel

KEYS = ["machine_model", "component"]


@pytest.fixture(scope="module")
def truth(sample_fleet):
    return FailureModel.from_params(sample_fleet.truth["lifetimes"])


class _Weibull:
    """A bare Weibull model: the protocol's three methods and nothing else."""

    def __init__(self, table):
        self.table = table[[*KEYS, "shape", "scale"]].reset_index(drop=True)

    def lifetime_groups(self):
        return self.table[KEYS]

    def weibull_params(self):
        return self.table

    def expected_renewals(self, group, age, hours):
        raise AssertionError("a Weibull model takes the fast path")


class _Renewals:
    """A model of the general protocol only (no weibull_params): Weibull laws computed per
    call, so the forecast takes the general path."""

    def __init__(self, table):
        self.table = table[[*KEYS, "shape", "scale"]].reset_index(drop=True)
        self.calls = 0

    def lifetime_groups(self):
        return self.table[KEYS]

    def expected_renewals(self, group, age, hours):
        self.calls += 1
        k = self.table["shape"].to_numpy()[group]
        eta = self.table["scale"].to_numpy()[group]
        return expected_failures(age, hours, k, eta)


class _ConstantRate:
    """Not a Weibull: failures at a constant rate per operating hour (a Poisson process, as a
    count GLM gives), so the expected renewals are rate × hours whatever the age."""

    def __init__(self, groups, rate):
        self.groups = groups.reset_index(drop=True)
        self.rate = np.asarray(rate, float)

    def lifetime_groups(self):
        return self.groups

    def expected_renewals(self, group, age, hours):
        return self.rate[group][:, None] * hours


def _cells(fc, keys):
    return fc.astype({k: str for k in keys}).set_index([*keys, "period"])


# --- the protocol ---------------------------------------------------------------------------

def test_failure_model_implements_the_protocol(truth, sample_fleet):
    assert isinstance(truth, LifetimeModel) and isinstance(truth, WeibullLifetimeModel)
    assert isinstance(FailureModel(), WeibullLifetimeModel)  # (a method raises until fitted)
    assert not isinstance(sample_fleet, LifetimeModel)
    groups = truth.lifetime_groups()
    assert list(groups.columns) == KEYS and not groups.duplicated().any()
    wp = truth.weibull_params()
    pd.testing.assert_frame_equal(wp[KEYS], groups)
    # expected_renewals is the delayed renewal function of each row's group
    rows = np.array([0, 5, 5])
    hours = np.array([[100.0, 2000.0], [0.0, 500.0], [10.0, 40_000.0]])
    age = np.array([0.0, 300.0, 9000.0])
    want = expected_failures(age, hours, wp["shape"].to_numpy()[rows], wp["scale"].to_numpy()[rows])
    np.testing.assert_array_equal(truth.expected_renewals(rows, age, hours), want)


def test_from_params_forecast_is_the_bare_weibull_model_bit_for_bit(truth, sample_fleet):
    table = sample_fleet.truth["lifetimes"]
    for kw in ({"horizon": 6}, {"horizon": 3, "by": "component"},
               {"horizon": 4, "new_machines": recent_sales(sample_fleet), "usage_factor": {4: 1.2}}):
        a = forecast_demand(truth, sample_fleet, **kw)
        b = forecast_demand(_Weibull(table.sample(frac=1.0, random_state=1)), sample_fleet, **kw)
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_an_object_with_only_params_is_refused_with_the_way_out(sample_fleet):
    class Old:
        params_ = sample_fleet.truth["lifetimes"]

    with pytest.raises(TypeError, match=r"FailureModel\.from_params"):
        forecast_demand(Old(), sample_fleet, horizon=3)


def test_general_path_matches_the_weibull_fast_path(truth, sample_fleet):
    # The same Weibull laws through expected_renewals only: the renewal tables are built per
    # call instead of once per forecast, on grids of their own, so the means agree to the
    # schemes' accuracy, not to the bit.
    model = _Renewals(sample_fleet.truth["lifetimes"])
    assert isinstance(model, LifetimeModel) and not isinstance(model, WeibullLifetimeModel)
    kw = {"horizon": 4, "by": "component", "new_machines": recent_sales(sample_fleet)}
    fast = _cells(forecast_demand(truth, sample_fleet, **kw), ["location_id", *KEYS])
    general = _cells(forecast_demand(model, sample_fleet, **kw), ["location_id", *KEYS])
    assert model.calls >= 2  # the installed base and the new machines
    assert fast.index.equals(general.index)
    np.testing.assert_allclose(general["mean"], fast["mean"], rtol=1e-4, atol=1e-9)


def test_a_non_weibull_law_plugs_in(sample_fleet):
    # A constant failure rate per operating hour is the Weibull of shape 1: the general path
    # with rate × hours (exact) gives the fast path's shape-1 forecast, to the accuracy of its
    # numerical renewal function (~1e-4 relative).
    groups = sample_fleet.truth["lifetimes"][KEYS]
    scale = np.linspace(3000.0, 20_000.0, len(groups))
    expo = FailureModel.from_params(groups.assign(shape=1.0, scale=scale))
    rate = _ConstantRate(groups, 1.0 / scale)
    new = recent_sales(sample_fleet)
    a = forecast_demand(expo, sample_fleet, horizon=4, new_machines=new)
    b = forecast_demand(rate, sample_fleet, horizon=4, new_machines=new)
    pd.testing.assert_frame_equal(a.drop(columns=["mean", "var"]), b.drop(columns=["mean", "var"]))
    np.testing.assert_allclose(b["mean"], a["mean"], rtol=3e-4)


def test_a_model_with_bad_renewals_is_named(sample_fleet):
    class Bad(_ConstantRate):
        def expected_renewals(self, group, age, hours):
            return np.zeros(len(group))

    groups = sample_fleet.truth["lifetimes"][KEYS]
    with pytest.raises(ValueError, match=r"Bad.expected_renewals returned an array of shape"):
        forecast_demand(Bad(groups, np.ones(len(groups))), sample_fleet, horizon=2)


# --- FailureModel.from_params -------------------------------------------------------------

def test_from_params_is_a_usable_model(truth, sample_fleet):
    table = sample_fleet.truth["lifetimes"]
    p = truth.params_
    assert len(p) == len(table) and (p["method"] == "given").all() and not p["borrowed"].any()
    assert list(p.columns) == ["machine_model", "component", "law", "shape", "scale", "shape_lower", "shape_upper",
                               "scale_lower", "scale_upper", "n_failures", "n_censored", "method",
                               "borrowed", "loglik", "ks_distance"]
    assert p[KEYS].equals(p[KEYS].sort_values(KEYS, ignore_index=True))
    row = table.iloc[3]
    assert truth.survival(row["scale"], row["machine_model"], row["component"]) == pytest.approx(np.exp(-1))
    assert repr(truth) == f"FailureModel(groups={len(table)}, parameters=given)"
    assert "given" in truth._repr_html_()
    with pytest.raises(NotFittedError, match="from_params"):
        truth.group_lives(row["machine_model"], row["component"])
    # intervals given are kept, other columns ignored
    extra = table.assign(scale_lower=table["scale"] / 2, note="x")
    q = FailureModel.from_params(extra).params_
    assert (q["scale_lower"] < q["scale"]).all() and "note" not in q.columns


def test_from_params_errors_name_the_row(sample_fleet):
    table = sample_fleet.truth["lifetimes"][[*KEYS, "shape", "scale"]].copy()
    with pytest.raises(TypeError, match="DataFrame"):
        FailureModel.from_params(table.to_dict())
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['scale'\]"):
        FailureModel.from_params(table.drop(columns="scale"))
    with pytest.raises(ValueError, match="no rows"):
        FailureModel.from_params(table.iloc[:0])
    bad = table.copy()
    bad.loc[7, "shape"] = -1.5
    with pytest.raises(ValueError, match=rf"row 7 \(machine_model='{bad.loc[7, 'machine_model']}'.*shape=-1.5"):
        FailureModel.from_params(bad)
    bad = table.copy()
    bad.loc[2, "scale"] = np.inf
    with pytest.raises(ValueError, match=r"row 2 .*scale=inf.*finite number > 0"):
        FailureModel.from_params(bad)
    bad = table.astype({"scale": object})
    bad.loc[4, "scale"] = "long"
    with pytest.raises(ValueError, match=r"row 4 .*scale='long'"):
        FailureModel.from_params(bad)
    bad = pd.concat([table, table.iloc[[5]]], ignore_index=True)
    with pytest.raises(ValueError, match=rf"given 2 times \(rows 5, {len(table)}\)"):
        FailureModel.from_params(bad)
    bad = table.copy()
    bad.loc[3, "component"] = None
    with pytest.raises(ValueError, match="row 3 .*has no component"):
        FailureModel.from_params(bad)


# --- wrong arguments --------------------------------------------------------------------------

def test_wrong_arguments_give_clear_errors(truth, sample_fleet):
    with pytest.raises(TypeError, match=r"first argument is a Fleet.*forecast_demand\(model, fleet\)"):
        forecast_demand(sample_fleet, truth)
    with pytest.raises(TypeError, match="fleet must be a Fleet"):
        forecast_demand(truth, sample_fleet.machines)
    with pytest.raises(TypeError, match=r"FailureModel.from_params\(table\)"):
        forecast_demand(sample_fleet.truth["lifetimes"], sample_fleet)
    with pytest.raises(TypeError, match="must be a lifetime model.*got str"):
        forecast_demand("weibull", sample_fleet)
    with pytest.raises(NotFittedError, match="not fitted"):
        forecast_demand(FailureModel(), sample_fleet)


# --- the lives, computed once per fleet -----------------------------------------------------

def test_lives_are_computed_once_per_fleet(sample_fleet, monkeypatch):
    calls = []
    real = partsforecast.lives.component_lives

    def counting(fleet):
        calls.append(fleet)
        return real(fleet)

    monkeypatch.setattr(partsforecast.lives, "component_lives", counting)
    fleet = sample_fleet.until(sample_fleet.as_of - pd.Timedelta(days=90))
    model = FailureModel(covariates=None).fit(fleet)
    forecast_demand(model, fleet, horizon=2)
    forecast_demand(FailureModel.from_params(sample_fleet.truth["lifetimes"]), fleet, horizon=2)
    assert len(calls) == 1 and model.lives_ is fleet.component_lives()
    # a cut fleet has lives of its own, not its parent's
    cut = fleet.until(fleet.as_of - pd.Timedelta(days=180))
    assert "_derived_cache" not in vars(cut)
    assert cut.component_lives() is not fleet.component_lives() and len(calls) == 2
    assert len(cut.component_lives().ages) < len(fleet.component_lives().ages) or (
        cut.component_lives().ages["age_hours"].sum() < fleet.component_lives().ages["age_hours"].sum())
    # lives computed afresh equal the cached ones
    fresh = real(fleet)
    pd.testing.assert_frame_equal(fresh.ages, fleet.component_lives().ages)
