"""The service analytics (partsforecast.service): dealer KPIs against hand-computed values on a
tiny ticket table with bad times, and against the generator's truth within the sampling
error; the SBC and ABC classes on hand-made series; the stock-out register; the outputs
(hostile text escaped and neutralised, written whole or not at all), the command and the
notebook."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from _notebooks import run_notebook
from _spreadsheet import formula_cells
from scipy import optimize, stats

from partsforecast import Fleet, InputError
from partsforecast.service import (
    KPI_COLUMNS,
    PART_CLASS_COLUMNS,
    STOCKOUT_COLUMNS,
    ServiceSettings,
    abc_classes,
    combine_targets,
    dealer_kpis,
    demand_patterns,
    part_classes,
    read_plan_transfers,
    run_service,
    stockouts,
)
from partsforecast.service.report import tier_gap_chart

AS_OF = pd.Timestamp("2026-03-01")
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "service.ipynb"

# ---------------------------------------------------------------------------------------
# A tiny network, by hand: dealer D1 (tier 1) and D4 (tier 4), four machines, ten tickets
# ---------------------------------------------------------------------------------------

# ticket, serial, dealer, opened, arrived, parts ready, closed, component, part
_LINES = [
    ("T0", "M2", "D1", "2025-11-01 08:00", "2025-11-01 09:00", "2025-11-01 11:00", "2025-11-01 14:00", "filter", "P3"),
    ("T1", "M1", "D1", "2026-01-05 08:00", "2026-01-05 10:00", "2026-01-07 08:00", "2026-01-07 12:00", "pump", "P1"),
    ("T1", "M1", "D1", "2026-01-05 08:00", "2026-01-05 10:00", "2026-01-05 12:00", "2026-01-07 12:00", "pump", "P2"),
    ("T2", "M2", "D1", "2026-01-10 09:00", "2026-01-10 09:30", "2026-01-10 15:00", "2026-01-10 17:00", "filter", "P3"),
    # parts ready and closed before the call
    ("T3", "M1", "D1", "2026-01-20 08:00", None, "2026-01-19 08:00", "2026-01-19 18:00", "filter", "P3"),
    # technician on site before the call; parts ready exactly 24 h after it
    ("T4", "M1", "D1", "2026-01-25 08:00", "2026-01-25 07:00", "2026-01-26 08:00", "2026-01-26 12:00", "pump", "P1"),
    ("T4", "M1", "D1", "2026-01-25 08:00", "2026-01-25 07:00", "2026-01-26 08:00", "2026-01-26 12:00", "pump", "P2"),
    ("T5", "M3", "D4", "2026-02-01 08:00", "2026-02-02 08:00", "2026-02-05 08:00", "2026-02-05 20:00", "pump", "P1"),
    ("T5", "M3", "D4", "2026-02-01 08:00", "2026-02-02 08:00", "2026-02-05 08:00", "2026-02-05 20:00", "pump", "P2"),
    # closed without a parts-ready time
    ("T6", "M4", "D4", "2026-02-10 08:00", "2026-02-10 20:00", None, "2026-02-11 08:00", "filter", "P3"),
    # open, no technician for 2 days 16 h, no parts: waiting unseen, and a stock-out
    ("T7", "M4", "D4", "2026-02-26 08:00", None, None, None, "filter", "P3"),
    # open for 4 hours only
    ("T8", "M3", "D4", "2026-02-28 20:00", None, None, None, "filter", "P3"),
    # technician on site after the close
    ("T9", "M3", "D4", "2026-02-15 08:00", "2026-02-16 08:00", "2026-02-15 20:00", "2026-02-15 22:00", "filter", "P3"),
]


def tiny_tables(ids: dict[str, str] | None = None, description: str = "pump") -> dict[str, pd.DataFrame]:
    """The tables of the tiny network; ``ids`` renames ids (hostile-text tests)."""
    ids = ids or {}

    def r(x):
        return ids.get(x, x)

    cols = ["ticket_id", "serial", "location_id", "opened_at", "arrived_at", "parts_ready_at", "closed_at",
            "component", "part_number"]
    tickets = pd.DataFrame(_LINES, columns=cols)
    for c in ("serial", "location_id", "part_number", "ticket_id"):
        tickets[c] = tickets[c].map(r)
    tickets["quantity"] = 1
    machines = pd.DataFrame({"serial": [r(m) for m in ("M1", "M2", "M3", "M4")], "machine_model": "EX",
                             "location_id": [r(d) for d in ("D1", "D1", "D4", "D4")],
                             "in_service_date": "2024-01-01"})
    parts = pd.DataFrame({"part_number": [r(p) for p in ("P1", "P2", "P3", "P4")],
                          "component": ["pump", "pump", "filter", "filter"],
                          "unit_cost": [1000.0, 50.0, 20.0, 5.0], "lead_time_days": 10.0,
                          "description": [description, "seal kit", "filter", "housing"]})
    bom = pd.DataFrame({"machine_model": "EX", "component": ["pump", "pump", "filter", "filter"],
                        "part_number": [r(p) for p in ("P1", "P2", "P3", "P4")], "qty_per_replacement": 1})
    locations = pd.DataFrame({"location_id": ["WH", r("D1"), r("D4")], "kind": ["warehouse", "dealer", "dealer"],
                              "tier": [None, 1, 4], "lat": [34.0, 34.5, 30.0], "lon": [117.0, 117.5, 110.0],
                              "dealer_name": ["factory", "<b>City</b> dealer", "Township dealer"]})
    stock = pd.DataFrame({"location_id": [r("D1"), r("D4"), "WH"], "part_number": [r("P1"), r("P2"), r("P1")],
                          "on_hand": [2, 0, 5]})
    return {"machines": machines, "tickets": tickets, "parts": parts, "bom": bom, "locations": locations,
            "stock": stock}


@pytest.fixture(scope="module")
def tiny():
    return Fleet(**tiny_tables(), as_of=AS_OF)


def _row(kpis, level, key=None, period=None):
    k = kpis[kpis["level"] == level]
    if level == "dealer":
        k = k[k["location_id"] == key]
    elif level == "tier":
        k = k[k["tier"] == key]
    k = k[k["period"].isna()] if period is None else k[k["period"] == pd.Timestamp(period)]
    assert len(k) == 1, (level, key, period)
    return k.iloc[0]


def test_tiny_fleet_is_valid_with_its_bad_times(tiny):
    """Times out of order no longer fail the input: six findings, each on its line."""
    found = tiny.findings()
    assert sorted(zip(found["ticket_id"], found["part_number"], found["finding"])) == [
        ("T3", "P3", "closed_before_opened"), ("T3", "P3", "ready_before_opened"),
        ("T4", "P1", "arrived_before_opened"), ("T4", "P2", "arrived_before_opened"),
        ("T6", "P3", "ready_missing"), ("T9", "P3", "arrived_after_closed")]
    assert list(found["row"]) == [4, 4, 5, 6, 9, 12]  # the DataFrame's index labels


def test_kpis_by_hand_dealer_d1(tiny):
    k = dealer_kpis(tiny)
    assert list(k.columns) == KPI_COLUMNS
    d1 = _row(k, "dealer", "D1")
    assert d1["tier"] == 1 and d1["tickets"] == 5
    # response: T0 1 h, T1 2 h, T2 0.5 h; T3 has no arrival; T4 arrived before the call
    assert d1["response_n"] == 3 and d1["response_hours_median"] == pytest.approx(1.0)
    assert d1["response_hours_mean"] == pytest.approx(3.5 / 3)
    assert d1["excluded_arrived_before_opened"] == 1
    # parts wait (days): T0 0.125, T1 2 (its last line), T2 0.25, T4 1; T3 ready before the call
    assert d1["parts_wait_n"] == 4 and d1["parts_wait_days_median"] == pytest.approx(0.625)
    assert d1["parts_wait_days_mean"] == pytest.approx(3.375 / 4)
    assert d1["excluded_ready_before_opened"] == 1
    # local stock: within 24 h (T4's exactly 24 h counts): T0, T2, T4 of 4
    assert d1["local_stock_n"] == 4 and d1["local_stock_share"] == pytest.approx(0.75)
    # close (days): T0 0.25, T1 2 1/6, T2 1/3, T4 1 1/6; T3 closed before the call
    assert d1["close_n"] == 4 and d1["close_days_median"] == pytest.approx((1 / 3 + 7 / 6) / 2)
    assert d1["close_days_mean"] == pytest.approx((0.25 + 13 / 6 + 1 / 3 + 7 / 6) / 4)
    assert d1["excluded_closed_before_opened"] == 1
    # repeats: T1's pump failed again on T4 20 days later; T0's filter on T2 70 days later.
    # 30-day windows ended by 2026-03-01 for the 5 failures opened by 2026-01-30; the 90-day
    # window only for T0.
    assert (d1["repeat_30d_n"], d1["repeat_30d"], d1["repeat_30d_share"]) == (5, 1, pytest.approx(0.2))
    assert (d1["repeat_90d_n"], d1["repeat_90d"], d1["repeat_90d_share"]) == (1, 1, pytest.approx(1.0))
    assert (d1["open"], d1["waiting_for_parts"], d1["waiting_unseen"]) == (0, 0, 0)
    assert d1["excluded_ready_missing"] == d1["excluded_arrived_after_closed"] == 0


def test_kpis_by_hand_dealer_d4_and_tiers(tiny):
    k = dealer_kpis(tiny)
    d4 = _row(k, "dealer", "D4")
    assert d4["tier"] == 4 and d4["tickets"] == 5
    # response: T5 24 h, T6 12 h; T7, T8 not seen yet; T9 arrived after the close
    assert d4["response_n"] == 2 and d4["response_hours_median"] == pytest.approx(18.0)
    assert d4["excluded_arrived_after_closed"] == 1
    # parts wait: T5 4 days, T9 0.5; T6 closed without a ready time; T7, T8 still waiting
    assert d4["parts_wait_n"] == 2 and d4["parts_wait_days_median"] == pytest.approx(2.25)
    assert d4["excluded_ready_missing"] == 1 and d4["waiting_for_parts"] == 2
    assert d4["local_stock_share"] == pytest.approx(0.5)
    # close: T5 4.5, T6 1, T9 7/12; T7, T8 open
    assert d4["close_n"] == 3 and d4["close_days_median"] == pytest.approx(1.0)
    assert d4["close_days_mean"] == pytest.approx((4.5 + 1 + 7 / 12) / 3)
    assert d4["open"] == 2 and d4["waiting_unseen"] == 1  # T7 (2 d 16 h); T8 is 4 h old
    assert d4["repeat_30d_n"] == 0 and np.isnan(d4["repeat_30d_share"])  # no window has ended
    # Every ticket is in a KPI's n or counted out of it, with why.
    for row in (d4, _row(k, "dealer", "D1")):
        parts_out = row["excluded_ready_missing"] + row["excluded_ready_before_opened"]
        assert row["parts_wait_n"] + parts_out + row["waiting_for_parts"] == row["tickets"]
        assert row["close_n"] + row["excluded_closed_before_opened"] + row["open"] == row["tickets"]
    # One dealer per tier: the tier rows are the dealers'; the network pools both.
    t4 = _row(k, "tier", 4)
    pd.testing.assert_series_equal(t4.drop(["level", "location_id"]), d4.drop(["level", "location_id"]),
                                   check_names=False)
    net = _row(k, "all")
    assert net["tickets"] == 10 and net["response_n"] == 5
    assert net["response_hours_median"] == pytest.approx(2.0)  # 0.5, 1, 2, 12, 24
    assert net["parts_wait_days_median"] == pytest.approx(0.75)  # 0.125, 0.25, 0.5, 1, 2, 4
    assert net["parts_wait_days_mean"] == pytest.approx(7.875 / 6)


def test_kpis_by_period(tiny):
    k = dealer_kpis(tiny)
    jan = _row(k, "dealer", "D1", "2026-01-01")
    assert jan["tickets"] == 4 and jan["parts_wait_n"] == 3
    assert jan["parts_wait_days_median"] == pytest.approx(1.0)  # 0.25, 1, 2
    nov = _row(k, "dealer", "D1", "2025-11-01")
    assert nov["tickets"] == 1 and nov["repeat_90d"] == 1
    # No row for a dealer's period without tickets; periods add up to the whole.
    d1 = k[(k["location_id"] == "D1") & k["period"].notna()]
    assert sorted(d1["period"].dt.strftime("%Y-%m")) == ["2025-11", "2026-01"]
    whole = k[k["period"].isna()].set_index(["level", "location_id", "tier"])
    for col in ("tickets", "response_n", "parts_wait_n", "close_n", "open", "excluded_ready_missing"):
        per = k[k["period"].notna()].groupby(["level", "location_id", "tier"], dropna=False)[col].sum()
        assert per.to_dict() == whole[col].to_dict(), col
    # Weekly periods start on Mondays; a window keeps only its tickets.
    weeks = dealer_kpis(tiny, freq="W-MON")
    assert (weeks["period"].dropna().dt.day_of_week == 0).all()
    feb = dealer_kpis(tiny, start="2026-02-01", end="2026-03-01")
    assert _row(feb, "all")["tickets"] == 5 and set(feb["location_id"].dropna()) == {"D4"}


def test_waiting_unseen_needs_arrival_times(tiny):
    t = tiny_tables()
    t["tickets"] = t["tickets"].drop(columns="arrived_at")
    k = dealer_kpis(Fleet(**t, as_of=AS_OF))
    assert k["waiting_unseen"].isna().all() and (k["response_n"] == 0).all()
    # A dealer that records no arrival at all has none waiting unseen; the others do.
    t = tiny_tables()
    t["tickets"].loc[t["tickets"]["location_id"] == "D4", "arrived_at"] = None
    k = dealer_kpis(Fleet(**t, as_of=AS_OF))
    assert pd.isna(_row(k, "dealer", "D4")["waiting_unseen"]) and _row(k, "dealer", "D1")["waiting_unseen"] == 0
    assert _row(k, "all")["waiting_unseen"] == 0
    # The threshold: T7 has waited 64 hours.
    k = dealer_kpis(tiny, unseen_after_hours=65)
    assert _row(k, "dealer", "D4")["waiting_unseen"] == 0


@pytest.mark.parametrize("kwargs, match", [({"freq": "fortnightly"}, "freq"), ({"local_stock_hours": 0}, "hours"),
                                           ({"unseen_after_hours": float("nan")}, "hours"),
                                           ({"repeat_days": (0,)}, "repeat_days")])
def test_kpi_arguments_are_checked(tiny, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dealer_kpis(tiny, **kwargs)
    with pytest.raises(TypeError, match="Fleet"):
        dealer_kpis(tiny.tickets)


# ---------------------------------------------------------------------------------------
# The generator's truth, within the sampling error
# ---------------------------------------------------------------------------------------

# The generator's parts wait (partsforecast/samples.py, _build_tickets): lognormal with median
# _TIER_WAIT_DAYS[tier] days, times 1.8 for the bulky families, log-sd 0.7; parts-ready
# stamps are floored to the minute (a wait is read up to one minute short).
WAIT_SIGMA, BULKY_FACTOR, ONE_MINUTE = 0.7, 1.8, 1 / 1440
Z = 4.0  # standard errors allowed: a fixed seed, and P(|N(0,1)| > 4) = 6e-5 per figure


@pytest.fixture(scope="module")
def truth_fleet():
    from partsforecast.samples import make_fleet

    return make_fleet(n_machines=20_000, n_dealers=40, years=3, seed=11)


def _tier_mix(fleet, end):
    """Per tier: the tickets opened before ``end`` and their share of bulky components."""
    from partsforecast.samples import _FAMILIES

    bulky = {f.name for f in _FAMILIES if f.bulky}
    tk = fleet.tickets.drop_duplicates("ticket_id")
    tk = tk[tk["opened_at"] < end]
    tier = tk["location_id"].map(fleet.locations.set_index("location_id")["tier"]).astype(int)
    return tk["component"].isin(bulky).groupby(tier).mean()


def _wait_law(tier: int, bulky_share: float):
    """The parts wait's mixture (weights, medians in days)."""
    from partsforecast.samples import _TIER_WAIT_DAYS

    m = _TIER_WAIT_DAYS[tier - 1] * np.array([1.0, BULKY_FACTOR])
    return np.array([1 - bulky_share, bulky_share]), m


def _lognormal_mix(x, w, m, sigma):
    """CDF and density at ``x`` of a mixture of lognormal laws (weights, medians, log-sd)."""
    z = np.log(x / m) / sigma
    return float(w @ stats.norm.cdf(z)), float(w @ (stats.norm.pdf(z) / (x * sigma)))


def _response_law(x, w, m_h, r_med, r_sig):
    """CDF and density at ``x`` hours of min(R, W): R lognormal (r_med, r_sig), W the parts
    wait's mixture in hours (the technician arrives at the latest when the parts are ready)."""
    zr, zw = np.log(x / r_med) / r_sig, np.log(x / m_h) / WAIT_SIGMA
    fr, fw = stats.norm.cdf(zr), stats.norm.cdf(zw)
    dr, dw = stats.norm.pdf(zr) / (x * r_sig), stats.norm.pdf(zw) / (x * WAIT_SIGMA)
    return float(w @ (1 - (1 - fr) * (1 - fw))), float(w @ (dr * (1 - fw) + dw * (1 - fr)))


def _median_and_se(law, n):
    """The median of a law (``law(x) -> (cdf, pdf)``) and the standard error of a sample
    median of n: 1 / (2 f(median) √n)."""
    m = optimize.brentq(lambda x: law(x)[0] - 0.5, 1e-9, 1e4)
    return m, 1.0 / (2.0 * law(m)[1] * np.sqrt(n))


def test_parts_wait_recovers_the_generators_tier_waits(truth_fleet):
    fleet = truth_fleet
    end = fleet.as_of - pd.Timedelta(days=180)  # every wait of these tickets is known by as_of
    k = dealer_kpis(fleet, end=end)
    mix = _tier_mix(fleet, end)
    for tier in (1, 2, 3, 4):
        row = _row(k, "tier", tier)
        w, m = _wait_law(tier, float(mix[tier]))
        n = int(row["parts_wait_n"])
        assert n > 1500
        median, se = _median_and_se(lambda x, w=w, m=m: _lognormal_mix(x, w, m, WAIT_SIGMA), n)
        got = row["parts_wait_days_median"]
        assert abs(got - median) <= Z * se + ONE_MINUTE, (tier, got, median, se)
        # mean: e^{σ²/2} per component; its standard error from the mixture's variance
        mean = float(w @ m) * np.exp(WAIT_SIGMA**2 / 2)
        second = float(w @ m**2) * np.exp(2 * WAIT_SIGMA**2)
        se_mean = np.sqrt((second - mean**2) / n)
        assert abs(row["parts_wait_days_mean"] - mean) <= Z * se_mean + ONE_MINUTE, (tier, row["parts_wait_days_mean"], mean)
        # local stock: P(wait <= 1 day), binomial standard error
        share, density = _lognormal_mix(1.0, w, m, WAIT_SIGMA)
        se_share = np.sqrt(share * (1 - share) / n)
        assert abs(row["local_stock_share"] - share) <= Z * se_share + density * ONE_MINUTE, (tier, share)
    # The tier 3-4 gap: a township dealer's parts wait several times a city dealer's.
    waits = [_row(k, "tier", t)["parts_wait_days_median"] for t in (1, 2, 3, 4)]
    assert waits == sorted(waits) and waits[3] > 4 * waits[1]


def test_response_recovers_the_generators_response_times(truth_fleet):
    fleet = truth_fleet
    if "response_hours" not in fleet.truth or fleet.tickets["arrived_at"].isna().all():
        pytest.skip("this generator has no technician arrival times")
    law = fleet.truth["response_hours"].set_index("tier")
    end = fleet.as_of - pd.Timedelta(days=180)
    k = dealer_kpis(fleet, end=end)
    mix = _tier_mix(fleet, end)
    for tier in (1, 2, 3, 4):
        row = _row(k, "tier", tier)
        r_med, r_sig = float(law.loc[tier, "median_hours"]), float(law.loc[tier, "sigma_log"])
        w, m = _wait_law(tier, float(mix[tier]))
        n = int(row["response_n"])
        assert n > 1500
        median, se = _median_and_se(lambda x, w=w, m=m, a=r_med, b=r_sig: _response_law(x, w, 24 * m, a, b), n)
        got = row["response_hours_median"]
        assert abs(got - median) <= Z * se + 1 / 60, (tier, got, median, se)


def test_the_tier_gap_chart_shows_the_kpis(truth_fleet):
    k = dealer_kpis(truth_fleet)
    fig = tier_gap_chart(k)
    try:
        ax = fig.axes[0]
        medians = [p.get_height() for p in ax.patches[:4]]
        want = [_row(k, "tier", t)["parts_wait_days_median"] for t in (1, 2, 3, 4)]
        assert medians == pytest.approx(want)
        assert "tier 4" in ax.get_xticklabels()[3].get_text()
        shares = [p.get_height() for p in fig.axes[1].patches]
        assert shares == pytest.approx([_row(k, "tier", t)["local_stock_share"] for t in (1, 2, 3, 4)])
        assert len(fig.axes) == (3 if (k["response_n"] > 0).any() else 2)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


# ---------------------------------------------------------------------------------------
# Part classes
# ---------------------------------------------------------------------------------------

def test_abc_cut_offs_on_a_value_table():
    values = pd.Series({"p": 5.0, "a": 50.0, "z": 0.0, "c": 10.0, "b": 30.0, "q": 3.0, "r": 2.0})
    got = abc_classes(values)
    # ranked 50, 30, 10, 5, 3, 2, 0: the parts above hold 0, .5, .8, .9, .95, .98, 1 of 100
    assert got["abc"].to_dict() == {"p": "B", "a": "A", "z": "C", "c": "B", "b": "A", "q": "C", "r": "C"}
    assert got.loc["c", "cumulative_share"] == pytest.approx(0.9)
    assert got.loc["a", "value_share"] == pytest.approx(0.5)
    assert abc_classes(values, a_share=0.5, b_share=0.9)["abc"].to_dict() == {
        "p": "C", "a": "A", "z": "C", "c": "B", "b": "B", "q": "C", "r": "C"}
    assert (abc_classes(np.zeros(3))["abc"] == "C").all()
    with pytest.raises(ValueError, match="below"):
        abc_classes(values, a_share=0.9, b_share=0.8)
    with pytest.raises(ValueError, match="finite"):
        abc_classes(np.array([1.0, -1.0]))


def test_demand_patterns_on_the_sbc_quadrants():
    series = {
        "smooth": [5, 6, 5, 4, 6, 5, 5, 6, 4, 5, 6, 5],
        "erratic": [1, 20, 1, 15, 2, 1, 30, 1, 2, 25, 1, 1],
        "intermittent": [0, 0, 5, 0, 0, 5, 0, 0, 6, 0, 0, 5],
        "lumpy": [0, 0, 1, 0, 0, 30, 0, 0, 2, 0, 0, 25],
        "single": [0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0],
        "none": [0] * 12,
    }
    got = demand_patterns(np.array(list(series.values()), dtype=float).T).set_index(pd.Index(list(series)))
    assert got["pattern"].to_dict() == {"smooth": "smooth", "erratic": "erratic", "intermittent": "intermittent",
                                        "lumpy": "lumpy", "single": "intermittent", "none": "no_demand"}
    # ADI = periods / periods with demand; CV² of the sizes with the sample variance
    assert got["adi"].to_dict() == {"smooth": 1.0, "erratic": 1.0, "intermittent": 3.0, "lumpy": 3.0,
                                    "single": 12.0, "none": np.inf}
    assert got.loc["intermittent", "cv2"] == pytest.approx(0.25 / 5.25**2)  # sizes 5, 5, 6, 5
    assert got.loc["lumpy", "cv2"] == pytest.approx(np.var([1, 30, 2, 25], ddof=1) / 14.5**2)
    assert got.loc["smooth", "cv2"] == pytest.approx(np.var(series["smooth"], ddof=1) / np.mean(series["smooth"]) ** 2)
    assert np.isnan(got.loc["single", "cv2"]) and got.loc["single", "n_demands"] == 1
    # The ADI cut-off itself: 25 demands in 33 periods is ADI 1.32, still smooth; 24 is not.
    edge = np.zeros((33, 2))
    edge[:25, 0] = 3
    edge[:24, 1] = 3
    assert list(demand_patterns(edge)["pattern"]) == ["smooth", "intermittent"]


def test_part_classes_of_the_tiny_fleet(tiny):
    pc = part_classes(tiny)
    assert list(pc.columns) == PART_CLASS_COLUMNS
    pc = pc.set_index("part_number")
    # a year of demand: P1 3 units x 1000, P2 3 x 50, P3 7 x 20, P4 none
    assert pc["annual_value"].to_dict() == pytest.approx({"P1": 3000.0, "P2": 150.0, "P3": 140.0, "P4": 0.0})
    assert pc["abc"].to_dict() == {"P1": "A", "P2": "B", "P3": "C", "P4": "C"}
    assert pc["fill_rate_target"].to_dict() == {"P1": 0.97, "P2": 0.93, "P3": 0.85, "P4": 0.85}
    # 24 whole months to February 2026: P3 demanded in 2025-11 (1), 2026-01 (2), 2026-02 (4)
    assert pc.loc["P3", "n_periods"] == 24 and pc.loc["P3", "n_demands"] == 3 and pc.loc["P3", "adi"] == 8.0
    assert pc.loc["P3", "cv2"] == pytest.approx(np.var([1, 2, 4], ddof=1) / (7 / 3) ** 2)
    assert pc.loc["P3", "pattern"] == "intermittent" and pc.loc["P3", "method"] == "sba"
    assert pc.loc["P4", "pattern"] == "no_demand" and pc.loc["P4", "method"] == "zero"
    assert list(pc.index) == ["P1", "P2", "P3", "P4"]  # by value
    from partsforecast.intermittent import METHODS

    assert set(pc["method"]) <= set(METHODS)


def test_combine_targets():
    tiers = {4: 0.90, 1: 0.95, 2: 0.93, 3: 0.90}
    classes = {"A": 0.97, "B": 0.93, "C": 0.85}
    got = combine_targets(tiers, classes, ["A", "B", "C"])
    assert got.shape == (3, 4)  # columns: tiers 1, 2, 3, 4
    np.testing.assert_allclose(got, [[0.97] * 4, [0.95, 0.93, 0.93, 0.93], [0.95, 0.93, 0.90, 0.90]])
    scaled = combine_targets(tiers, classes, pd.Series(["A", "B", "C"]), rule="scale")
    np.testing.assert_allclose(scaled[1], [0.95, 0.93, 0.90, 0.90])  # the reference class: the tier's own
    np.testing.assert_allclose(scaled[0], 1 - (1 - np.array([0.95, 0.93, 0.90, 0.90])) * 0.03 / 0.07)
    np.testing.assert_allclose(scaled[2], 1 - (1 - np.array([0.95, 0.93, 0.90, 0.90])) * 0.15 / 0.07)
    assert combine_targets({1: 0.99}, {"A": 0.999, "B": 0.5}, ["A"], rule="scale")[0, 0] <= 0.999
    with pytest.raises(ValueError, match="without a target: D"):
        combine_targets(tiers, classes, ["A", "D"])
    with pytest.raises(ValueError, match="rule"):
        combine_targets(tiers, classes, ["A"], rule="min")
    with pytest.raises(ValueError, match="fill rate"):
        combine_targets({1: 1.5}, classes, ["A"])
    from partsforecast.plan import MAX_FILL_RATE_TARGET
    from partsforecast.service.classes import MAX_TARGET

    assert MAX_TARGET == MAX_FILL_RATE_TARGET


# ---------------------------------------------------------------------------------------
# The stock-out register
# ---------------------------------------------------------------------------------------

def test_stockout_register_by_hand(tiny):
    transfers = pd.DataFrame({"from_id": ["WH"], "to_id": ["D4"], "part_number": ["P1"], "quantity": [1]})
    reg = stockouts(tiny, transfers=transfers, lookback_days=None, downtime_cost_per_day=500.0)
    assert list(reg.columns) == STOCKOUT_COLUMNS
    # Waited > 24 h: T1's pump (2 d; its seal kit came in 4 h), T5's two lines (4 d), T7 still
    # waiting (2 d 16 h). T4 (exactly 24 h), T8 (4 h) did not; T3, T6 cannot be judged.
    got = list(zip(reg["status"], reg["ticket_id"], reg["part_number"], reg["overdue"]))
    assert got == [("open", "T5", "P2", True), ("open", "T7", "P3", False),  # open, oldest first
                   ("transferred", "T5", "P1", False), ("replenished", "T1", "P1", False)]
    r = reg.set_index(["ticket_id", "part_number"])
    assert r["wait_days"].to_dict() == pytest.approx({("T5", "P2"): 4.0, ("T7", "P3"): 8 / 3, ("T5", "P1"): 4.0,
                                                      ("T1", "P1"): 2.0})
    # T5's four machine-days are shared by its two lines
    assert r["machine_days_down"].to_dict() == pytest.approx({("T5", "P2"): 2.0, ("T7", "P3"): 8 / 3,
                                                              ("T5", "P1"): 2.0, ("T1", "P1"): 2.0})
    assert r["downtime_cost"].to_dict() == pytest.approx({k: 500 * v for k, v in r["machine_days_down"].items()})
    assert r.loc[("T7", "P3"), "still_waiting"] and not r.loc[("T5", "P1"), "still_waiting"]
    assert r.loc[("T5", "P2"), "age_days"] == pytest.approx(27 + 2 / 3)
    assert r.loc[("T1", "P1"), "on_hand"] == 2 and r.loc[("T5", "P1"), "transfer_qty"] == 1
    # Without the transfer, T5's pump is open too; the last 30 days only: T5 and T7.
    reg = stockouts(tiny, lookback_days=None)
    assert list(reg["status"]) == ["open", "open", "open", "replenished"] and reg["downtime_cost"].isna().all()
    assert sorted(stockouts(tiny, lookback_days=30)["ticket_id"]) == ["T5", "T5", "T7"]
    # A longer follow-up: nothing overdue; a longer threshold: only the longest waits.
    assert not stockouts(tiny, lookback_days=None, followup_days=30)["overdue"].any()
    assert sorted(stockouts(tiny, lookback_days=None, local_stock_hours=72)["ticket_id"]) == ["T5", "T5"]
    with pytest.raises(ValueError, match="transfers needs columns"):
        stockouts(tiny, transfers=pd.DataFrame({"to_id": ["D4"]}))


def test_read_plan_transfers(tmp_path):
    from partsforecast._io import frame_to_csv_bytes

    tdir = tmp_path / "plan" / "transfers"
    tdir.mkdir(parents=True)
    rows = pd.DataFrame({"transfer_id": ["X1", "X1", "X2"], "direction": ["send", "receive", "receive"],
                         "part_number": ["=P1", "=P1", "P2"], "from_id": ["D1", "D1", "WH"],
                         "to_id": ["D4", "D4", "D4"], "quantity": [2, 2, 1]})
    (tdir / "D4.csv").write_bytes(frame_to_csv_bytes(rows))
    (tdir / "index.csv").write_bytes(frame_to_csv_bytes(pd.DataFrame(
        {"location_id": ["D4", "X"], "file": ["D4.csv", "../../../etc/passwd"]})))
    got = read_plan_transfers(tmp_path / "plan")
    assert list(zip(got["to_id"], got["part_number"], got["quantity"])) == [("D4", "=P1", 2), ("D4", "P2", 1)]
    with pytest.raises(InputError, match="no transfers/index.csv"):
        read_plan_transfers(tmp_path)


# ---------------------------------------------------------------------------------------
# Outputs: hostile text, atomic writes, the result's displays
# ---------------------------------------------------------------------------------------

HOSTILE = {"D4": "<script>alert(1)</script>", "M3": "=HYPERLINK(\"http://x\",\"y\")", "P2": "+SUM(A1)",
           "T5": "@cmd", "D1": "-D1 & <b>"}


def test_hostile_text_is_escaped_and_neutralised(tmp_path):
    fleet = Fleet(**tiny_tables(HOSTILE, description="<img src=x onerror=alert(1)>"), as_of=AS_OF)
    out = tmp_path / "svc"
    result = run_service(fleet, out, ServiceSettings(stockout_lookback_days=3650))
    page = (out / "service.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<img src=x" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;City&lt;/b&gt; dealer" in page  # a dealer name from an extra column
    assert page.count("<img ") == page.count("src='data:image/png;base64,")  # only our own charts
    for name in ("dealer_kpis.csv", "stockouts.csv", "part_classes.csv", "data_findings.csv", "abnormal_machines.csv"):
        assert formula_cells(out / name) == [], name
    # The ids read back as they were (the reader undoes the escape).
    from partsforecast._io import unescape_cells

    so = pd.read_csv(out / "stockouts.csv", dtype=str, keep_default_na=False)
    assert set(unescape_cells(so["location_id"].astype("str"))) <= set(HOSTILE.values())
    assert HOSTILE["P2"] in set(unescape_cells(so["part_number"].astype("str")))
    assert len(so) == len(result.stockouts) == 4
    assert "<script" not in result._repr_html_()


def test_outputs_are_written_whole(tiny, tmp_path):
    out = tmp_path / "svc"
    result = run_service(tiny, out)
    assert sorted(p.name for p in out.iterdir()) == ["abnormal_machines.csv", "data_findings.csv", "dealer_kpis.csv",
                                                     "part_classes.csv", "service.html", "stockouts.csv"]
    back = pd.read_csv(out / "dealer_kpis.csv")
    assert list(back.columns) == KPI_COLUMNS and len(back) == len(result.kpis)
    assert back["parts_wait_days_median"].sum() == pytest.approx(result.kpis["parts_wait_days_median"].sum())
    page = (out / "service.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page
    assert page.count("data:image/png;base64,") == 2


def test_a_failure_leaves_nothing(tiny, tmp_path, monkeypatch):
    from partsforecast.service import report

    out = tmp_path / "svc"
    run_service(tiny, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(path, *args, **kwargs):
        Path(path).write_text("half a page")
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "write_service_report", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_service(tiny, out, ServiceSettings(local_stock_hours=48))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the previous outputs, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc"]  # no temporary folder left
    with pytest.raises(RuntimeError):
        run_service(tiny, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_result_displays(tiny, tmp_path):
    result = run_service(tiny, tmp_path / "svc")
    text = repr(result)
    assert text.startswith("ServiceResult(as_of=2026-03-01, tickets=10,") and len(text) < 300
    assert "stockouts_open=3" in text and "findings=6" in text
    page = result._repr_html_()
    assert page.startswith("<div>") and page.count("<table") == 2 and "parts_wait_days_median" in page
    assert list(result.by_tier()["tier"]) == [1, 4]
    h = result.headline()
    assert (h["tickets"], h["stockouts"], h["waiting_unseen"], h["a_parts"]) == (10, 4, 1, 1)
    assert h["machine_days_down"] == pytest.approx(2 + 2 + 2 + 8 / 3)


def test_abnormal_machines_are_written(tmp_path):
    """The run writes the flagged pairs of partsforecast.service.abnormal, with the model it is given."""
    from partsforecast import FailureModel, make_fleet
    from partsforecast.service import abnormal_machines

    fleet = make_fleet(n_machines=2000, n_dealers=12, years=4, lemon_share=0.02, seed=3)
    model = FailureModel().fit(fleet)
    want = abnormal_machines(fleet, model, fdr=0.1)
    assert len(want) > 10
    result = run_service(fleet, tmp_path / "svc", ServiceSettings(abnormal_fdr=0.1), model=model)
    back = pd.read_csv(tmp_path / "svc" / "abnormal_machines.csv", dtype={"serial": str})
    assert list(back["serial"]) == list(want["serial"]) and list(back.columns) == list(want.columns)
    assert result.headline()["abnormal_machines"] == len(want)
    page = (tmp_path / "svc" / "service.html").read_text(encoding="utf-8")
    assert f"{len(want):,} machine components" in page and str(want["serial"].iloc[0]) in page
    off = run_service(fleet, tmp_path / "off", ServiceSettings(abnormal=False))
    assert off.abnormal is None and not (tmp_path / "off" / "abnormal_machines.csv").exists()
    assert "Abnormal machines" not in (tmp_path / "off" / "service.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("values, needle", [({"local_stock_hours": 0}, "setting local_stock_hours"),
                                            ({"freq": "sometimes"}, "setting freq"),
                                            ({"a_share": 0.9, "b_share": 0.8}, "setting b_share"),
                                            ({"class_targets": {"A": 1.2, "B": 0.9, "C": 0.8}}, "class_targets"),
                                            ({"currency": "€"}, "setting currency"),
                                            ({"abnormal_fdr": 1.0}, "setting abnormal_fdr"),
                                            ({"abnormal": "yes"}, "setting abnormal"),
                                            ({"budget": 5}, "unknown service setting")])
def test_bad_settings(values, needle):
    with pytest.raises(InputError, match=needle):
        ServiceSettings.from_mapping(values)


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------

@pytest.fixture
def cli_with_service():
    from partsforecast import cli

    assert "service" in cli.build_parser()._subparsers._group_actions[0].choices  # registered
    return cli


def test_command_writes_the_outputs(cli_with_service, tmp_path, capsys):
    data = tmp_path / "fleet"
    Fleet(**tiny_tables(), as_of=AS_OF).to_dir(data)
    config = tmp_path / "s.toml"
    config.write_text("[plan]\ncurrency = 'EUR'\n[service]\ndowntime_cost_per_day = 800\nstockout_lookback_days = 365\n")
    code = cli_with_service.main(["service", "--data", str(data), "--config", str(config), "--out", str(tmp_path / "o")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "service analysis written to" in out.out and "4 stock-outs" in out.out
    so = pd.read_csv(tmp_path / "o" / "stockouts.csv")
    assert so["downtime_cost"].sum() == pytest.approx(800 * so["machine_days_down"].sum(), abs=0.05)
    assert "amounts in EUR" in (tmp_path / "o" / "service.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("toml, needle", [("[service]\nfollowup_days = -1\n", "setting followup_days"),
                                          ("[service]\nlemons = 1\n", "unknown service setting"),
                                          ("[service\n", "not a valid TOML file")])
def test_command_bad_settings_exit_2_and_write_nothing(cli_with_service, tmp_path, capsys, toml, needle):
    config = tmp_path / "s.toml"
    config.write_text(toml)
    code = cli_with_service.main(["service", "--config", str(config), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


def test_command_bad_input_exit_2(cli_with_service, tmp_path, capsys):
    data = tmp_path / "fleet"
    t = tiny_tables()
    t["tickets"].loc[0, "closed_at"] = "2099-01-01"  # a date in the future is still garbage
    Fleet(**tiny_tables(), as_of=AS_OF).to_dir(data)
    t["tickets"].to_csv(data / "tickets.csv", index=False)
    (tmp_path / "o").write_text("a file")
    code = cli_with_service.main(["service", "--data", str(data), "--out", str(tmp_path / "o")])
    assert code == 2 and "exists and is not a folder" in capsys.readouterr().err
    code = cli_with_service.main(["service", "--data", str(data), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and "column closed_at" in err and "in the future" in err
    assert not (tmp_path / "p").exists()


# ---------------------------------------------------------------------------------------
# The notebook
# ---------------------------------------------------------------------------------------

def test_notebook_runs_and_shows_the_service(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    ns, results = run_notebook(NOTEBOOK)
    plt.close("all")
    fleet, kpis, result = ns["fleet"], ns["kpis"], ns["result"]
    assert kpis.equals(dealer_kpis(fleet))
    tiers = results["tiers"]
    assert list(tiers["tier"]) == [1, 2, 3, 4]
    assert list(tiers["parts_wait_days_median"]) == sorted(tiers["parts_wait_days_median"])
    register = ns["register"]
    assert results["register"].equals(register.head(10)) and register["status"].iloc[0] == "open"
    assert register.equals(stockouts(fleet))
    assert list(results["classes"].index) == ["A", "B", "C"]
    assert results["classes"]["parts"].sum() == len(ns["classes"]) == len(fleet.parts)
    assert ns["targets"].shape == (len(ns["classes"]), 4)
    assert (ns["targets"] >= 0.9 - 1e-12).all()  # the max rule never goes below a tier's target
    assert sorted(p.name for p in (tmp_path / "out" / "service").iterdir()) == results["files"]
    assert result.path == Path("out/service") and results["run"] is result
