"""FailureModel.fit and forecast_demand on a real two-process Dask cluster give the local
numbers (to the order of floating-point sums) and really run on both workers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import partsforecast as pf
from partsforecast.demand import recent_sales
from partsforecast.engine import check_engine, split_balanced

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def fleet():
    return pf.make_fleet(n_machines=1500, n_dealers=12, seed=3, maintenance=True)


@pytest.fixture(scope="module")
def model(fleet):
    return pf.FailureModel().fit(fleet)


@pytest.mark.parametrize("distribution", ["weibull", "auto"])
def test_fit_on_cluster_equals_local_fit(client, fleet, distribution):
    local = pf.FailureModel(distribution=distribution).fit(fleet)
    with distributed.get_task_stream(client) as tasks:
        remote = pf.FailureModel(distribution=distribution).fit(fleet, engine=client)
    pd.testing.assert_frame_equal(remote.params_, local.params_, rtol=1e-9)
    pd.testing.assert_frame_equal(remote.families_, local.families_, rtol=1e-9)
    # the one fleet-wide number (the spread of log shapes) is the whole fleet's, not a partition's
    assert remote.families_["tau_log_shape"].nunique() == 1
    if distribution == "auto":
        pd.testing.assert_frame_equal(remote.law_comparison_, local.law_comparison_, rtol=1e-9)
        for name, table in local.candidates_.items():
            pd.testing.assert_frame_equal(remote.candidates_[name], table, rtol=1e-9)
    assert remote.lives_ is local.lives_  # the lives stay the client's (cached by the fleet)
    pd.testing.assert_frame_equal(remote.comparison_, local.comparison_, rtol=1e-9)  # GLM run here
    # (3) the partitions ran on both worker processes
    assert len({t["worker"] for t in tasks.data}) == 2


@pytest.mark.parametrize("by", ["part", "component"])
@pytest.mark.parametrize("with_new", [False, True])
def test_forecast_on_cluster_equals_local_frame(client, fleet, model, by, with_new):
    new = recent_sales(fleet) if with_new else None
    if with_new:
        assert len(new) > 0
    local = pf.forecast_demand(model, fleet, by=by, new_machines=new, horizon=6)
    with distributed.get_task_stream(client) as tasks:
        remote = pf.forecast_demand(model, fleet, by=by, new_machines=new, horizon=6, engine=client)
    pd.testing.assert_frame_equal(remote, local, rtol=1e-9)  # also the categories of the identifiers
    assert remote["location_id"].cat.categories.equals(local["location_id"].cat.categories)
    q = [c for c in local.columns if c.startswith("q")]
    np.testing.assert_array_equal(remote[q].to_numpy(), local[q].to_numpy())  # identical integers
    assert remote.attrs["borrowed_groups"] == local.attrs["borrowed_groups"]
    assert len({t["worker"] for t in tasks.data}) == 2


def test_forecast_with_retirements_on_cluster(client, fleet, model):
    serials = fleet.machines["serial"].astype(str).iloc[::7]
    ret = pd.DataFrame({"serial": serials, "retired_date": fleet.as_of + pd.Timedelta(days=60)})
    local = pf.forecast_demand(model, fleet, horizon=4, retirements=ret)
    remote = pf.forecast_demand(model, fleet, horizon=4, retirements=ret, engine=client)
    pd.testing.assert_frame_equal(remote, local, rtol=1e-9)
    assert local["mean"].sum() < pf.forecast_demand(model, fleet, horizon=4)["mean"].sum()


def test_unknown_new_machine_location_is_reported_as_locally(client, fleet, model):
    new = pd.DataFrame({"machine_model": [fleet.machines["machine_model"].iloc[0]],
                        "location_id": ["NOWHERE"], "per_period": [1.0]})
    with pytest.raises(ValueError, match="NOWHERE"):
        pf.forecast_demand(model, fleet, horizon=2, new_machines=new, engine=client)


@pytest.mark.parametrize("bad", ["dask", 2, object()])
def test_bad_engine_is_a_type_error_naming_the_parameter(fleet, model, bad):
    with pytest.raises(TypeError, match="engine must be None"):
        pf.FailureModel().fit(fleet, engine=bad)
    with pytest.raises(TypeError, match="forecast_demand: engine"):
        pf.forecast_demand(model, fleet, horizon=2, engine=bad)
    assert check_engine(None) is None


def test_split_balanced_worked_examples():
    # longest processing time first: 7 | 5 | 4, then 2 to the 4 (lightest), 1 to the 5 -> 7, 6, 6
    w = np.array([4.0, 7.0, 1.0, 5.0, 2.0])
    part = split_balanced(w, 3)
    assert sorted(np.bincount(part, weights=w)) == [6.0, 6.0, 7.0]
    assert part[0] == part[4] and part[3] == part[2] and len(set(part)) == 3
    # contiguous runs in order, cut at the running total: [3, 3] [3, 3] [3, 3]
    np.testing.assert_array_equal(split_balanced(np.full(6, 3.0), 3, contiguous=True), [0, 0, 1, 1, 2, 2])
    # more partitions than items: one item each, no empty partition
    np.testing.assert_array_equal(np.sort(split_balanced(np.array([1.0, 2.0]), 8)), [0, 1])


def test_plan_on_cluster_equals_local_plan(client, tmp_path):
    # run_plan's fit and forecast on the cluster: the same plan, file for file
    from partsforecast.plan import PlanSettings, run_plan

    f = pf.make_fleet(n_machines=600, n_dealers=6, seed=5, maintenance=True)
    s = PlanSettings(horizon=3, use_fixed_costs=False)
    local = run_plan(f, tmp_path / "local", s, report=False)
    remote = run_plan(f, tmp_path / "remote", s, report=False, engine=client)
    pd.testing.assert_frame_equal(remote.levels, local.levels)
    pd.testing.assert_frame_equal(remote.transfers, local.transfers)
    for name in ("stock_plan.csv", "orders.csv", "forecast.csv"):
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


def test_cli_scheduler_runs_the_plan_on_the_cluster_and_names_an_unreachable_one(client, tmp_path):
    import subprocess
    import sys

    address = client.scheduler.address
    r = subprocess.run([sys.executable, "-m", "partsforecast", "plan", "--out", str(tmp_path / "p"), "--horizon",
                        "2", "--no-report", "--scheduler", address], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "p" / "stock_plan.csv").exists()
    r = subprocess.run([sys.executable, "-m", "partsforecast", "plan", "--out", str(tmp_path / "q"), "--horizon",
                        "2", "--no-report", "--scheduler", "tcp://127.0.0.1:9"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "scheduler" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "q").exists()


def test_transfer_parts_solved_on_the_cluster_give_the_local_plan(client, monkeypatch):
    # the transfer LP's parts are independent blocks: solved on the workers, the same plan
    from partsforecast import solvers
    from partsforecast.transfers import plan_transfers
    from test_transfers import AS_OF, random_instance

    levels, lanes, tiers, unit_cost = random_instance(n_dealers=10, n_parts=24, seed=2)
    monkeypatch.setattr(solvers, "BLOCK_COLUMNS", 20)  # a few parts per block
    kw = dict(tiers=tiers, unit_cost=unit_cost, use_fixed_costs=False, time_limit=60)
    local = plan_transfers(levels, lanes, "WH", AS_OF, **kw)
    with distributed.get_task_stream(client) as tasks:
        remote = plan_transfers(levels, lanes, "WH", AS_OF, engine=client, **kw)
    assert "independent blocks" in remote.report.solver_status
    assert remote.report.status == local.report.status == "optimal"
    pd.testing.assert_frame_equal(remote.transfers, local.transfers)
    assert remote.report.objective == pytest.approx(local.report.objective, rel=1e-12)
    assert len({t["worker"] for t in tasks.data}) == 2
    with pytest.raises(TypeError, match="engine"):
        plan_transfers(levels, lanes, "WH", AS_OF, engine="local", **kw)


def test_stock_levels_scanned_on_the_cluster_give_the_local_levels(client, fleet, model, monkeypatch):
    # the slots' scans (warehouse search and frontier) run on the workers, a few dozen slots
    # per task here; the multipliers are set on the client: the same levels and figures
    from partsforecast.plan import PlanSettings, plan_stock
    from partsforecast.stocking import frontier

    fc = pf.forecast_demand(model, fleet, horizon=6)
    s = PlanSettings(use_fixed_costs=False)
    local = plan_stock(fc, fleet, settings=s)
    monkeypatch.setattr(frontier, "REMOTE_SLOTS", 64)
    with distributed.get_task_stream(client) as tasks:
        remote = plan_stock(fc, fleet, settings=s, engine=client)
    pd.testing.assert_frame_equal(remote.levels, local.levels)
    assert remote.stocking.investment == local.stocking.investment
    assert remote.stocking.investment_lower_bound == pytest.approx(local.stocking.investment_lower_bound, rel=1e-12)
    names = {t["key"][0].split("-")[0] if isinstance(t["key"], tuple) else str(t["key"]).split("-")[0]
             for t in tasks.data}
    assert "_slot_entries" in names, names  # a small system: complete frontiers, no search
    assert len({t["worker"] for t in tasks.data}) == 2
    from partsforecast.stocking import optimize_stock

    with pytest.raises(TypeError, match="engine"):
        optimize_stock([1.0], [[0.1]], 5.0, engine="local", fill_rate_targets=0.9)


def test_warehouse_search_on_the_cluster_gives_the_local_levels(client, monkeypatch):
    # the search's values of every (part, warehouse level) row, scanned on the workers
    from partsforecast.engine import RemoteBlocks
    from partsforecast.stocking import frontier
    from partsforecast.stocking.problem import prepare_problem

    rng = np.random.default_rng(4)
    P, J = 40, 9
    prob = prepare_problem(rng.uniform(5, 500, P), rng.gamma(0.5, 0.4, (P, J)), rng.uniform(1, 6, J),
                           rng.uniform(20, 90, P), rng.uniform(1, 3, (P, J)), rng.integers(1, 4, J), "vari-metric")
    sat = frontier.saturation_levels(prob)
    theta = np.array([40.0, 400.0, 4000.0])
    here = frontier.search_warehouse(prob, "fill", theta, sat)
    monkeypatch.setattr(frontier, "REMOTE_SLOTS", 256)
    blocks = RemoteBlocks(client)
    there = frontier.search_warehouse(prob, "fill", theta, sat, pool=blocks)
    np.testing.assert_array_equal(there, here)
    assert blocks.tasks > 1 and (sat > frontier.FULL_RANGE).any()


def test_forecast_tasks_receive_the_fleet_without_its_tickets(fleet):
    # what the workers are sent: the as-of date, the BOM, the locations and the usage rates
    # (the equality tests above show it is all the tasks read); the fleet itself is untouched
    import pickle

    from partsforecast.engine import _fleet_for_tasks, _rates_only

    lives = fleet.component_lives()
    slim, rates = _fleet_for_tasks(fleet), _rates_only(lives)
    assert len(slim.tickets) == 0 and len(slim.machines) == 0 and not slim.truth
    assert list(slim.tickets.columns) == list(fleet.tickets.columns)
    assert slim.as_of == fleet.as_of and slim.bom is fleet.bom and slim.locations is fleet.locations
    assert rates.rates is lives.rates and len(rates.lives) == len(rates.ages) == 0
    assert len(fleet.tickets) > 0 and fleet.component_lives() is lives  # the fleet keeps its lives
    sent = len(pickle.dumps(slim)) + len(pickle.dumps(rates))
    assert sent < 0.1 * (len(pickle.dumps(fleet)) + len(pickle.dumps(lives)))
