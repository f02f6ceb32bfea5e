"""The plan: stock levels and transfers from a demand forecast, and the weekly batch pipeline.

:func:`plan_stock` turns a forecast into a :class:`StockPlan` (two-echelon base-stock
levels, then the transfers that close today's gaps); :func:`run_plan` is the whole job the
``partsforecast plan`` command runs: validate → fit → forecast → optimise → write, with the
outputs assembled in a temporary folder and moved into place only on success.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from partsforecast.data import Fleet, InputError, Problem, settings_from_mapping
from partsforecast._display import html_card, text_card
from partsforecast._io import (
    atomic_dir,
    frame_to_csv_bytes,
    release_unused_memory,
    round_for_people,
    safe_file_names,
    write_frame,
)
from partsforecast.demand import forecast_demand, forecast_span_days, lead_time_demand
from partsforecast.maintenance import ServiceModel
from partsforecast.reliability import FailureModel
from partsforecast.report import borrowed_groups, forecast_by_part, read_previous_run, write_report
from partsforecast.stocking import StockingResult, optimize_stock
from partsforecast.supersession import Supersession, current_fleet, current_forecast
from partsforecast.transfers import (
    DEFAULT_BACKORDER_COST_PER_DAY,
    MAX_MILP_INTEGERS,
    dealer_transfer_files,
    plan_transfers,
)

__all__ = ["PlanSettings", "StockPlan", "plan_stock", "run_plan", "STOCK_PLAN_COLUMNS", "ORDER_COLUMNS"]

#: Columns of ``stock_plan.csv``, in order.
STOCK_PLAN_COLUMNS = ["location_id", "part_number", "base_stock", "on_hand", "on_order", "order_qty",
                      "expected_fill_rate", "expected_backorders", "inventory_value"]

#: Columns of ``orders.csv`` (the purchase orders to the factory's supply), in order.
ORDER_COLUMNS = ["part_number", "description", "quantity", "unit_cost", "value", "currency",
                 "order_by", "need_by", "lead_time_days", "expedite", "reason"]

#: Fill-rate targets per dealer tier used when none are given.
DEFAULT_TARGETS = {1: 0.95, 2: 0.93, 3: 0.90, 4: 0.90}


@dataclass
class PlanSettings:
    """Settings of a planning run (the ``plan.toml`` keys; every one has a default).

    Attributes
    ----------
    horizon : int
        Forecast periods (months with ``freq="MS"``).
    freq : str
        Period frequency.
    planning_window_days : float
        Demand rates for stocking are the forecast's mean over this many days from the
        as-of date (near-term demand drives today's stock), or over the whole forecast
        when it is shorter.
    fill_rate_targets : dict or None
        Fill-rate target per dealer tier, e.g. ``{1: 0.95, 4: 0.90}``; ``None`` means
        :data:`DEFAULT_TARGETS`, unless a budget is given (then the best service for it).
    budget : float or None
        Total inventory investment; with targets it is a cap, alone it buys the best service.
    holding_rate : float or None
        Overrides every location's ``holding_rate`` when given.
    pooling : str
        FailureModel pooling.
    lifetime_law : str
        FailureModel distribution: ``"weibull"`` (default), ``"lognormal"``, ``"gamma"``,
        ``"exponential"``, or ``"auto"`` (the law of smallest AIC per component family).
    method : str
        ``"vari-metric"`` or ``"metric"``.
    use_fixed_costs : bool
        Charge lanes' fixed shipment cost in the transfer model (a MILP).
    solver : str
        ``"highs"`` or ``"cbc"``.
    time_limit : float
        Seconds the transfer solver may run.
    forecast_format : str
        How the run writes the forecast: ``"auto"`` (default), ``"csv"`` or ``"parquet"``
        (``forecast.csv`` / ``forecast.parquet``). ``"auto"`` writes CSV up to
        :data:`FORECAST_CSV_MAX_ROWS` rows, the most a spreadsheet opens, and Parquet above:
        a national forecast (14.6 million rows) is 0.8 GB of CSV written in over a minute,
        against about 0.2 GB of Parquet written in a few seconds, and no spreadsheet could
        open the CSV. The dealers' files are CSV whatever the size; ``run.json`` names the
        file written (``outputs.forecast``).
    max_milp_integers : int
        The largest fixed-cost transfer MILP handed to the solver; above it the freight LP
        is solved and the shipment costs of the lanes used are added (see
        :func:`partsforecast.transfers.plan_transfers`).
    seed : int
        Seed of anything random in the run (recorded in run.json).
    currency : str
        The currency of every amount in the inputs (unit costs, freight) and so of every
        amount in the outputs: a code such as ``"CNY"`` or ``"EUR"`` (letters only, at most
        8), printed beside money in the report, ``orders.csv`` and the dealer files.
    backorder_cost_per_day : dict or None
        What one repair waiting one day for a part costs, per dealer tier (e.g. ``{1: 200, 4:
        100}``); ``None`` means :data:`partsforecast.transfers.DEFAULT_BACKORDER_COST_PER_DAY`.
        A transfer is proposed only when the backorder-days it avoids over the planning
        window are worth more than its freight.
    freight_paid_by : str
        Who pays a transfer's freight, as the dealer files say: ``"factory"`` (default),
        ``"receiver"`` or ``"sender"``.
    class_fill_rate_targets : dict or None
        Fill-rate target per ABC class of part (``{"A": 0.97, "B": 0.93, "C": 0.85}``; classes
        by annual demand value, :func:`partsforecast.service.part_classes`), combined with the
        tier targets by ``class_target_rule``; the parts of each class then meet their own
        targets in every tier. ``None`` (default): the tier targets alone.
    class_target_rule : str
        ``"max"`` (default): a part's target in a tier is the higher of the tier's and its
        class's; ``"scale"``: the tier's shortfall scaled by the class's against class B's
        (C parts may fall below the tier's target). See
        :func:`partsforecast.service.combine_targets`.
    """

    horizon: int = 12
    freq: str = "MS"
    planning_window_days: float = 90.0
    fill_rate_targets: dict | None = None
    budget: float | None = None
    holding_rate: float | None = None
    pooling: str = "shrink"
    lifetime_law: str = "weibull"
    method: str = "vari-metric"
    use_fixed_costs: bool = True
    solver: str = "highs"
    time_limit: float = 60.0
    max_milp_integers: int = MAX_MILP_INTEGERS
    forecast_format: str = "auto"
    seed: int = 0
    currency: str = "CNY"
    backorder_cost_per_day: dict | None = None
    freight_paid_by: str = "factory"
    class_fill_rate_targets: dict | None = None
    class_target_rule: str = "max"

    def __post_init__(self):
        problems: list[Problem] = []

        def bad(name: str, rule: str) -> None:
            problems.append(Problem.setting(name, getattr(self, name), rule))

        for name, (low, high, open_low, whole) in _SETTING_RANGES.items():
            value = getattr(self, name)
            if value is None and name in ("budget", "holding_rate"):
                continue
            ok = _is_number(value) and (not whole or float(value).is_integer())
            if ok:
                v = float(value)
                ok = (v > low if open_low else v >= low) and v <= high
            if not ok:
                kind = "a whole number" if whole else "a number"
                lo = f"> {_num(low)}" if open_low else f"≥ {_num(low)}"
                bad(name, f"must be {kind} {lo} and at most {_num(high)}")
            elif whole:
                object.__setattr__(self, name, int(value))
        for name, choices in _SETTING_CHOICES.items():
            if getattr(self, name) not in choices:
                bad(name, "must be one of " + ", ".join(map(repr, choices)))
        if not isinstance(self.use_fixed_costs, bool):
            bad("use_fixed_costs", "must be true or false")
        try:
            from pandas.tseries.frequencies import to_offset

            to_offset(self.freq)
            if not isinstance(self.freq, str):
                raise TypeError
        except (TypeError, ValueError):
            bad("freq", "must be a pandas frequency such as 'MS' (months) or 'W-MON' (weeks)")
        targets, rule = _parse_targets(self.fill_rate_targets)
        if rule:
            bad("fill_rate_targets", rule)
        else:
            self.fill_rate_targets = targets
        costs, rule = _parse_tier_costs(self.backorder_cost_per_day)
        if rule:
            bad("backorder_cost_per_day", rule)
        else:
            self.backorder_cost_per_day = costs
        classes, rule = _parse_class_targets(self.class_fill_rate_targets)
        if rule:
            bad("class_fill_rate_targets", rule)
        else:
            self.class_fill_rate_targets = classes
        if not (isinstance(self.currency, str) and 1 <= len(self.currency) <= 8
                and self.currency.isalpha()):
            bad("currency", "must be a currency code of letters only, at most 8 (e.g. 'CNY', 'EUR')")
        if problems:
            raise InputError(problems)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PlanSettings:
        """Settings from a mapping (a parsed TOML file).

        Raises
        ------
        InputError
            For unknown keys and for values of the wrong type or out of range, each named.
        """
        return settings_from_mapping(cls, values, "setting")


#: Settings that are numbers: name → (low, high, low is exclusive, whole number).
_SETTING_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "horizon": (0, 120, True, True),
    "planning_window_days": (0, 3650, True, False),
    "budget": (0, 1e13, True, False),
    "holding_rate": (0, 5, False, False),
    "time_limit": (0, 86_400, True, False),
    "max_milp_integers": (0, 100_000_000, False, True),
    "seed": (0, 2**32 - 1, False, True),
}
_SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "pooling": ("shrink", "shape", "none"),
    "lifetime_law": ("weibull", "lognormal", "gamma", "exponential", "auto"),
    "method": ("vari-metric", "metric"),
    "solver": ("highs", "cbc"),
    "forecast_format": ("auto", "csv", "parquet"),
    "freight_paid_by": ("factory", "receiver", "sender"),
    "class_target_rule": ("max", "scale"),
}
#: The most forecast rows written as CSV when ``forecast_format`` is ``"auto"``: a spreadsheet
#: opens at most 1,048,576 rows (the header included).
FORECAST_CSV_MAX_ROWS = 1_048_575


def forecast_file_format(setting: str, rows: int) -> str:
    """The format a run writes its forecast in: the setting, or for ``"auto"`` CSV up to
    :data:`FORECAST_CSV_MAX_ROWS` rows and Parquet above."""
    if setting != "auto":
        return setting
    return "csv" if rows <= FORECAST_CSV_MAX_ROWS else "parquet"


#: The highest backorder cost per unit-day accepted (money per day).
MAX_BACKORDER_COST_PER_DAY = 1e7
#: The highest fill-rate target accepted: 1.0 would need unbounded stock.
MAX_FILL_RATE_TARGET = 0.999


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and bool(np.isfinite(value)))


def _parse_tier_table(value: Any, rule: str, low: float, high: float,
                      open_low: bool) -> tuple[dict[int, float] | None, str | None]:
    """A number per dealer tier as {tier: value}: from None, one number for every tier, or a
    mapping of tiers 1-4; the error ``rule`` when a key or value is out of place."""
    if value is None:
        return None, None
    if _is_number(value):
        value = {tier: value for tier in (1, 2, 3, 4)}
    if not isinstance(value, Mapping) or not value:
        return None, rule
    out: dict[int, float] = {}
    for key, x in value.items():
        try:
            tier = int(str(key).strip())
        except ValueError:
            tier = 0
        if tier not in (1, 2, 3, 4):
            return None, f"tier {key!r} is not a dealer tier 1-4; " + rule
        if not _is_number(x) or not ((x > low) if open_low else (x >= low)) or not x <= high:
            return None, f"value {x!r} of tier {key!r}: " + rule
        out[tier] = float(x)
    return out, None


def _parse_class_targets(value: Any) -> tuple[dict[str, float] | None, str | None]:
    """Fill-rate targets per ABC class as {"A": rate, "B": rate, "C": rate}."""
    rule = (f'must give a fill rate in (0, {MAX_FILL_RATE_TARGET}] to each ABC class, '
            'e.g. {"A": 0.97, "B": 0.93, "C": 0.85}')
    if value is None:
        return None, None
    if not isinstance(value, Mapping) or {str(k).strip().upper() for k in value} != {"A", "B", "C"} \
            or len(value) != 3:
        return None, rule
    out = {}
    for key, x in value.items():
        if not _is_number(x) or not 0 < x <= MAX_FILL_RATE_TARGET:
            return None, f"value {x!r} of class {key!r}: " + rule
        out[str(key).strip().upper()] = float(x)
    return out, None


def _parse_targets(value: Any) -> tuple[dict[int, float] | None, str | None]:
    """Fill-rate targets as {tier: rate}: from None, one number for every tier, or a mapping."""
    return _parse_tier_table(
        value, f"must be a fill rate > 0 and at most {MAX_FILL_RATE_TARGET}, or a table of them per "
               "dealer tier 1-4, e.g. {1 = 0.95, 4 = 0.90}", 0.0, MAX_FILL_RATE_TARGET, True)


def _parse_tier_costs(value: Any) -> tuple[dict[int, float] | None, str | None]:
    """Backorder costs per unit-day as {tier: cost}."""
    return _parse_tier_table(
        value, f"must be a cost per backorder-day ≥ 0 and at most {MAX_BACKORDER_COST_PER_DAY:,.0f}, or a "
               "table of them per dealer tier 1-4, e.g. {1 = 200, 4 = 100}", 0.0,
        MAX_BACKORDER_COST_PER_DAY, False)


@dataclass(repr=False)
class StockPlan:
    """A stocking plan: levels per (location, part), transfers, and how they were found.

    Attributes
    ----------
    levels : DataFrame
        :data:`STOCK_PLAN_COLUMNS` plus tier, demand_per_day, ready_rate.
    transfers : DataFrame
        One row per move (:data:`partsforecast.transfers.TRANSFER_COLUMNS`).
    curve : DataFrame
        The efficient curve of inventory investment against service.
    stocking : StockingResult
        The optimiser's full result.
    transfer_report : TransferReport
        Solver status (optimal / feasible with gap), costs and timings of the transfer model.
    warehouse_id : str
    warnings : list of str
        One line per dealer tier whose expected fill rate misses its target (the targets
        given, or the default ones for a budget-only plan), and one when class targets were
        set on a budget-only plan (they are not applied); empty when every target is met.
    orders : DataFrame
        The purchase orders of the warehouse to its supply (:data:`ORDER_COLUMNS`), what
        ``orders.csv`` holds.
    targets : dict
        The fill-rate target per dealer tier the plan is held against (with class targets,
        what the classes promise each tier: the demand-weighted mean of its parts' targets).
    currency : str
        The currency of every amount.
    window_days : float
        The planning window: the days of demand the stock levels and transfers look at.
    as_of : Timestamp or None
        The planning date.
    budget : float or None
        The investment cap the plan was made under.
    supersession : Supersession or None
        The old part numbers merged into current ones before planning, and the stock of
        old numbers not counted (not interchangeable); see
        :func:`partsforecast.supersession.current_fleet`.
    """

    levels: pd.DataFrame
    transfers: pd.DataFrame
    curve: pd.DataFrame
    stocking: StockingResult
    transfer_report: Any
    warehouse_id: str
    warnings: list = field(default_factory=list)
    orders: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ORDER_COLUMNS))
    targets: dict = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    currency: str = "CNY"
    window_days: float = 90.0
    as_of: pd.Timestamp | None = None
    budget: float | None = None
    supersession: Supersession | None = None

    def headline(self) -> dict[str, Any]:
        """What the plan asks of this week, as numbers: the purchase orders, the transfers
        and what they buy, the dealers' shortage before and after them, the investment.

        Returns
        -------
        dict
            ``purchase_order_lines``, ``purchase_order_units``, ``purchase_order_value``,
            ``transfers``, ``transfer_units``, ``freight``, ``backorder_days_avoided``,
            ``backorder_value_avoided``, ``dealer_units_short_before`` and ``_after``
            (units below base stock at the dealers, before and after the transfers),
            ``investment``, ``warehouse_investment``, ``dealer_fill_rate`` (expected,
            demand-weighted) and ``currency``. Money is in ``currency``.
        """
        lv, t = self.levels, self.transfers
        dealer = (lv["location_id"] != self.warehouse_id).to_numpy()
        base = lv["base_stock"].to_numpy()
        before = np.maximum(base - lv["on_hand"].to_numpy() - lv["on_order"].to_numpy(), 0)
        after = np.maximum(base - lv["position_after"].to_numpy(), 0) if "position_after" in lv else before

        def col(name: str) -> float:
            return float(t[name].sum()) if name in t and len(t) else 0.0

        rate = lv["demand_per_day"].fillna(0).to_numpy() if "demand_per_day" in lv else np.ones(len(lv))
        fill = (float(np.average(lv["expected_fill_rate"].to_numpy()[dealer],
                                 weights=np.maximum(rate[dealer], 1e-12))) if dealer.any() else float("nan"))
        return {
            "purchase_order_lines": len(self.orders),
            "purchase_order_units": int(self.orders["quantity"].sum()) if len(self.orders) else 0,
            "purchase_order_value": float(self.orders["value"].sum()) if len(self.orders) else 0.0,
            "transfers": len(t),
            "transfer_units": int(col("quantity")),
            "freight": col("cost"),
            "backorder_days_avoided": col("backorder_days_avoided"),
            "backorder_value_avoided": col("value_avoided"),
            "dealer_units_short_before": int(before[dealer].sum()),
            "dealer_units_short_after": int(after[dealer].sum()),
            "investment": float(lv["inventory_value"].sum()),
            "warehouse_investment": float(lv.loc[~dealer, "inventory_value"].sum()),
            "dealer_fill_rate": fill,
            "currency": self.currency,
        }

    def service(self) -> pd.DataFrame:
        """Service per dealer tier against its target.

        Returns
        -------
        DataFrame
            Indexed by tier: ``dealers``, ``target``, ``expected_fill_rate``, ``met``
            (within half a thousandth), ``units_short_after_transfers`` (units below base
            stock today, once the transfers are made) and ``investment``.
        """
        summ = self.stocking.summary()
        lv = self.levels[self.levels["tier"].notna()]
        short = (lv["base_stock"] - lv.get("position_after", lv["on_hand"] + lv["on_order"])).clip(lower=0)
        short = short.groupby(lv["tier"].astype(int)).sum()
        out = pd.DataFrame({"dealers": summ["dealers"],
                            "target": pd.Series(self.targets, dtype=float).reindex(summ.index),
                            "expected_fill_rate": summ["fill_rate"]})
        out["met"] = ~(out["expected_fill_rate"] < out["target"] - 5e-4)
        out["units_short_after_transfers"] = short.reindex(summ.index).fillna(0).astype("int64")
        out["investment"] = summ["investment"]
        out.index.name = "tier"
        return out

    def dealer_files(self) -> dict[str, pd.DataFrame]:
        """Each dealer's transfer table (send and receive rows), by location_id."""
        return dealer_transfer_files(self.transfers, self.warehouse_id)

    def write(self, path: str | Path) -> Path:
        """Write ``stock_plan.csv``, ``orders.csv`` and ``transfers/<dealer>.csv`` (plus an
        index) atomically.

        The folder is replaced whole on success and left untouched on any failure. A
        dealer's file is named after its location_id when the id is a plain file name,
        otherwise after a safe form of it with a hash (``transfers/index.csv`` maps every
        location_id to its file); text cells never start a spreadsheet formula.
        """
        with atomic_dir(path) as tmp:
            self._write_into(tmp)
        return Path(path)

    def _write_into(self, folder: Path) -> None:
        (folder / "stock_plan.csv").write_bytes(
            frame_to_csv_bytes(round_for_people(self.levels[STOCK_PLAN_COLUMNS])))
        (folder / "orders.csv").write_bytes(frame_to_csv_bytes(round_for_people(self.orders[ORDER_COLUMNS])))
        tdir = folder / "transfers"
        tdir.mkdir()
        index = []
        files = self.dealer_files()
        # An id never chooses a path: names are derived, unique, and the index maps them.
        names = safe_file_names(files)
        for loc, frame in sorted(files.items()):
            (tdir / names[loc]).write_bytes(frame_to_csv_bytes(round_for_people(frame)))
            index.append({"location_id": loc, "file": names[loc],
                          "send": int((frame["direction"] == "send").sum()),
                          "receive": int((frame["direction"] == "receive").sum()),
                          "units_in": int(frame.loc[frame["direction"] == "receive", "quantity"].sum()),
                          "units_out": int(frame.loc[frame["direction"] == "send", "quantity"].sum())})
        cols = ["location_id", "file", "send", "receive", "units_in", "units_out"]
        (tdir / "index.csv").write_bytes(frame_to_csv_bytes(pd.DataFrame(index, columns=cols)))

    def summary(self) -> pd.DataFrame:
        """Service and money per tier (the optimiser's tier summary)."""
        return self.stocking.summary()

    def _facts(self) -> dict[str, Any]:
        dealers = self.levels["location_id"] != self.warehouse_id
        return {"locations": int(self.levels["location_id"].nunique()),
                "parts": int(self.levels["part_number"].nunique()),
                "investment": float(self.levels["inventory_value"].sum()),
                "units_to_order": int(self.levels["order_qty"].sum()),
                "transfers": len(self.transfers),
                "transfer_cost": float(self.transfers["cost"].sum()) if len(self.transfers) else 0.0,
                "transfer_solver": str(self.transfer_report.status),
                "dealer_fill_rate": float(np.average(
                    self.levels.loc[dealers, "expected_fill_rate"],
                    weights=np.maximum(self.levels.loc[dealers, "demand_per_day"].fillna(0), 1e-12)))
                if "demand_per_day" in self.levels and dealers.any() else float("nan")}

    def __repr__(self) -> str:
        return text_card("StockPlan", self._facts())

    def _repr_html_(self) -> str:
        return html_card("Stock plan", self._facts(), self.summary().reset_index())


def plan_stock(
    forecast: pd.DataFrame,
    fleet,
    targets: Mapping[int, float] | float | None = None,
    budget: float | None = None,
    *,
    settings: PlanSettings | None = None,
    engine: Any = None,
) -> StockPlan:
    """Stock levels for the warehouse and every dealer, and the transfers to reach them.

    Parameters
    ----------
    forecast : DataFrame
        :func:`partsforecast.forecast_demand` output (location_id, part_number, period,
        mean, var).
    fleet : Fleet
        Parts (unit cost, factory lead time), locations (tiers, holding rates), lanes
        (warehouse → dealer lead times) and stock on hand / on order.
    targets : mapping tier → fill rate, float, optional
        Fill-rate targets per dealer tier (default :data:`DEFAULT_TARGETS`, or the
        settings'). Pass ``None`` with a ``budget`` for the best service within it.
    budget : float, optional
        Total inventory investment (at unit cost).
    settings : PlanSettings, optional
    engine : dask.distributed.Client, optional
        Scan the stock levels' (part, warehouse level, dealer) slots and solve the
        transfer model's parts on the cluster (see
        :func:`partsforecast.stocking.optimize_stock` and
        :func:`partsforecast.transfers.plan_transfers`); the multipliers that couple the
        parts are set here. ``None`` (default): everything here. The plan is the same either
        way.

    Returns
    -------
    StockPlan

    Raises
    ------
    partsforecast.stocking.InfeasiblePlanError
        When the targets cannot be met (within the budget); the message says what can.
    """
    _check_plan_args(forecast, fleet)
    # Plan current part numbers only: old numbers' history and stock count as theirs.
    fleet = current_fleet(fleet)
    forecast = current_forecast(forecast, fleet)
    s = settings or PlanSettings()
    budget = s.budget if budget is None else budget
    if targets is None:
        targets = s.fill_rate_targets
    if targets is None and budget is None:
        targets = dict(DEFAULT_TARGETS)
    dealers = fleet.dealers
    dealer_ids = dealers["location_id"].to_numpy(dtype=object)
    wh = fleet.warehouse_id

    # Demand rate per (part, dealer) over the planning window, and its variance-to-mean.
    # The window cannot reach past the forecast: a short forecast plans on what it has.
    window = min(float(s.planning_window_days), forecast_span_days(forecast) or float(s.planning_window_days))
    ltd = lead_time_demand(forecast, window)
    ltd = ltd[ltd["location_id"].isin(dealer_ids)]
    part_ids = np.array(sorted(set(ltd["part_number"]) | set(fleet.stock["part_number"])), dtype=object)
    J = dealer_ids.size
    rate, var, vmr = planning_rates(ltd, part_ids, dealer_ids, window)

    parts = fleet.parts.set_index("part_number").loc[part_ids]
    lanes = fleet.lanes[fleet.lanes["from_id"] == wh].set_index("to_id")
    missing = [d for d in dealer_ids if d not in lanes.index]
    if missing:
        raise ValueError(f"lanes: no lane from the warehouse {wh} to dealer(s) {missing[:5]}; add them")
    hr = fleet.locations.set_index("location_id")["holding_rate"]
    holding = np.concatenate([[hr.loc[wh]], hr.loc[dealer_ids].to_numpy()])
    if s.holding_rate is not None:
        holding = np.full(J + 1, float(s.holding_rate))
    tier = dealers["tier"].to_numpy(int)
    if s.class_fill_rate_targets is not None and targets is not None:
        targets = _targets_by_class(fleet, part_ids, tier, targets, s)
    result = optimize_stock(
        parts["unit_cost"].to_numpy(float), rate, lanes.loc[dealer_ids, "lead_time_days"].to_numpy(float),
        parts["lead_time_days"].to_numpy(float),
        dealer_tier=tier, fill_rate_targets=targets, budget=budget,
        demand_vmr=vmr, method=s.method, holding_rate=holding, part_ids=part_ids,
        dealer_ids=dealer_ids, warehouse_id=wh, engine=engine)

    levels = result.to_frame()
    stock = fleet.stock[["location_id", "part_number", "on_hand", "on_order"]]
    levels = levels.merge(stock, on=["location_id", "part_number"], how="outer")
    levels["base_stock"] = levels["base_stock"].fillna(0).astype("int64")
    levels[["on_hand", "on_order"]] = levels[["on_hand", "on_order"]].fillna(0).astype("int64")
    # A pair with stock but no demand needs nothing: full service, no backorders.
    levels["expected_fill_rate"] = levels["expected_fill_rate"].fillna(1.0)
    levels["expected_backorders"] = levels["expected_backorders"].fillna(0.0)
    cost = parts["unit_cost"]
    levels["inventory_value"] = levels["base_stock"] * levels["part_number"].map(cost).to_numpy(float)

    levels["demand_vmr"] = _demand_vmr(levels, pd.Index(part_ids), pd.Index(dealer_ids), rate, var, vmr, wh)
    info = fleet.parts.set_index("part_number")
    tplan = plan_transfers(
        levels.rename(columns={"base_stock": "target"}), fleet.lanes, wh, fleet.as_of,
        tiers=fleet.locations.set_index("location_id")["tier"].dropna().astype(int),
        unit_cost=info["unit_cost"], backorder_cost_per_day=s.backorder_cost_per_day,
        window_days=window, warehouse_lead_time=info["lead_time_days"],
        part_names=info["description"] if "description" in info else None,
        location_names=fleet.locations.set_index("location_id").get("dealer_name"),
        currency=s.currency, freight_paid_by=s.freight_paid_by,
        use_fixed_costs=s.use_fixed_costs, solver=s.solver, time_limit=s.time_limit,
        max_milp_integers=s.max_milp_integers, engine=engine)
    levels["position_after"] = _positions_after(levels, tplan.transfers).round().astype("int64")
    levels["order_qty"] = _order_quantities(levels, wh)
    levels = levels.sort_values(["location_id", "part_number"], ignore_index=True)
    checked = dict(result.targets) if np.ndim(targets) == 2 else _targets_checked(targets)
    return StockPlan(levels=levels, transfers=tplan.transfers, curve=result.curve, stocking=result,
                     transfer_report=tplan.report, warehouse_id=wh,
                     warnings=_missed_targets(result, checked, budget) + _ignored_class_targets(s, targets),
                     orders=_purchase_orders(levels, fleet.parts, wh, fleet.as_of, s.currency),
                     targets=checked, currency=s.currency, window_days=window, as_of=fleet.as_of,
                     budget=budget, supersession=getattr(fleet, "supersession", None))


def planning_rates(ltd: pd.DataFrame, part_ids: np.ndarray, dealer_ids: np.ndarray,
                   window: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand rate per day, its variance per day and the variance-to-mean ratio (at least 1)
    per (part, dealer) from the demand over ``window`` days (:func:`lead_time_demand`), in
    the order of ``part_ids`` x ``dealer_ids`` (cells outside them are dropped)."""
    pi = pd.Index(part_ids).get_indexer(ltd["part_number"])
    dj = pd.Index(dealer_ids).get_indexer(ltd["location_id"])
    inside = (pi >= 0) & (dj >= 0)
    rate = np.zeros((len(part_ids), len(dealer_ids)))
    var = np.zeros_like(rate)
    rate[pi[inside], dj[inside]] = ltd["mean"].to_numpy()[inside] / window
    var[pi[inside], dj[inside]] = ltd["var"].to_numpy()[inside] / window
    with np.errstate(invalid="ignore", divide="ignore"):
        vmr = np.where(rate > 0, np.maximum(var / rate, 1.0), 1.0)
    return rate, var, vmr


def _targets_by_class(fleet, part_ids: np.ndarray, tier: np.ndarray, targets, s: PlanSettings) -> np.ndarray:
    """Fill-rate targets per (part, tier present) from the tier targets and the parts' ABC
    classes (:func:`partsforecast.service.combine_targets`)."""
    from partsforecast.service import combine_targets, part_classes

    by_tier = _targets_checked(targets)
    present = sorted(int(t) for t in np.unique(tier))
    missing = [t for t in present if t not in by_tier]
    if missing:
        raise ValueError(f"fill_rate_targets has no target for dealer tier(s) {missing}")
    abc = part_classes(fleet, class_targets=s.class_fill_rate_targets).set_index("part_number")["abc"]
    cls = abc.reindex(pd.Index(part_ids)).fillna("C").to_numpy(object)  # no demand on record: class C
    return combine_targets({t: by_tier[t] for t in present}, s.class_fill_rate_targets, cls,
                           rule=s.class_target_rule)


def _ignored_class_targets(s: PlanSettings, targets) -> list[str]:
    """A budget alone buys the best service for its money: class targets have nothing to
    raise; say so rather than drop them unseen."""
    if s.class_fill_rate_targets is None or targets is not None:
        return []
    return ["class_fill_rate_targets were not applied: a plan with a budget and no tier targets buys the best "
            "service for its money; give fill_rate_targets as well to hold each class to its target"]


def _targets_checked(targets) -> dict[int, float]:
    """The targets a plan is held against: the ones given, or :data:`DEFAULT_TARGETS` for a
    plan that only had a budget (the best service it buys is still held against them)."""
    if targets is None:
        return dict(DEFAULT_TARGETS)
    if np.isscalar(targets):
        return {t: float(targets) for t in DEFAULT_TARGETS}
    return {int(t): float(v) for t, v in dict(targets).items()}


def _missed_targets(result: StockingResult, checked: Mapping[int, float], budget) -> list[str]:
    """One line per dealer tier whose expected fill rate is below the planner's target."""
    achieved = result.summary()["fill_rate"]
    out = []
    for tier, target in sorted(checked.items()):
        if tier in achieved.index and achieved[tier] < target - 5e-4:
            why = (f"; the budget of {budget:,.2f} binds: the targets need more stock"
                   if budget is not None else "")
            out.append(f"tier {tier}: expected fill rate {achieved[tier]:.3f} is below its target "
                       f"{target:.2f}{why}")
    return out


def _check_plan_args(forecast: Any, fleet: Any) -> None:
    """Clear errors for arguments in the wrong order or of the wrong kind."""
    if isinstance(forecast, Fleet) or not isinstance(fleet, Fleet):
        raise TypeError("plan_stock(forecast, fleet, ...): pass the forecast (a DataFrame from "
                        f"forecast_demand) first and the Fleet second; got {type(forecast).__name__} "
                        f"and {type(fleet).__name__}")
    need = {"location_id", "part_number", "period", "mean", "var"}
    if not isinstance(forecast, pd.DataFrame) or not need <= set(forecast.columns):
        have = sorted(map(str, forecast.columns)) if isinstance(forecast, pd.DataFrame) else type(forecast).__name__
        raise ValueError(f"plan_stock: the forecast needs columns {sorted(need)} (as forecast_demand "
                         f"returns them); got {have}")


def _demand_vmr(levels: pd.DataFrame, parts: pd.Index, dealers: pd.Index, rate: np.ndarray,
                var: np.ndarray, dealer: np.ndarray, warehouse_id: str) -> np.ndarray:
    """Variance-to-mean ratio of demand (≥ 1) per levels row: a dealer's own (``dealer``, from
    :func:`planning_rates`), the warehouse's that of the dealers' demand it serves (their
    variances over their means)."""
    pi = parts.get_indexer(levels["part_number"])
    dj = dealers.get_indexer(levels["location_id"])
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(rate.sum(1) > 0, var.sum(1) / rate.sum(1), 1.0)
    ok = (pi >= 0) & (dj >= 0)
    out = np.where(levels["location_id"].to_numpy() == warehouse_id, total[np.maximum(pi, 0)], 1.0)
    out[ok] = dealer[pi[ok], dj[ok]]
    return np.maximum(np.where(pi >= 0, out, 1.0), 1.0)


def _positions_after(levels: pd.DataFrame, transfers: pd.DataFrame) -> np.ndarray:
    """Each row's inventory position once the transfers are made: on hand + on order, plus
    the units transfers bring in, minus those it sends."""
    key = pd.MultiIndex.from_frame(levels[["location_id", "part_number"]])
    net = pd.Series(0.0, index=key)
    if len(transfers):
        t_in = transfers.groupby(["to_id", "part_number"])["quantity"].sum()
        t_out = transfers.groupby(["from_id", "part_number"])["quantity"].sum()
        net = net.add(t_in.rename_axis(["location_id", "part_number"]), fill_value=0)
        net = net.sub(t_out.rename_axis(["location_id", "part_number"]), fill_value=0)
    net = net.reindex(key).fillna(0).to_numpy()
    return levels["on_hand"].to_numpy() + levels["on_order"].to_numpy() + net


def _order_quantities(levels: pd.DataFrame, warehouse_id: str) -> np.ndarray:
    """Units each location still needs after the transfers.

    A dealer's is its base stock minus its position after the transfers: units it still
    lacks, which the warehouse ships once it has them. The warehouse's is what it orders
    from supply: its own base stock plus what the dealers still lack, minus its position
    after what it ships.
    """
    gap = levels["base_stock"].to_numpy() - levels["position_after"].to_numpy()
    is_wh = (levels["location_id"] == warehouse_id).to_numpy()
    lacking = pd.Series(np.where(is_wh, 0.0, np.maximum(gap, 0)), index=levels["part_number"].to_numpy())
    owed = lacking.groupby(level=0).sum().reindex(levels["part_number"]).fillna(0).to_numpy()
    return np.maximum(np.where(is_wh, gap + owed, gap), 0).round().astype("int64")


def _purchase_orders(levels: pd.DataFrame, parts: pd.DataFrame, warehouse_id: str, as_of: pd.Timestamp,
                     currency: str) -> pd.DataFrame:
    """``orders.csv``: one line per part the warehouse orders from supply (:data:`ORDER_COLUMNS`).

    A base-stock policy orders a shortfall at once, so every line is to be ordered by the
    planning date, and is needed by that date plus the part's supply lead time (whole days,
    rounded up): the date the plan counts on receiving it. A line is to be expedited when
    dealers lack more units of the part than the warehouse has left on its shelf.
    """
    is_wh = levels["location_id"] == warehouse_id
    wh = levels[is_wh & (levels["order_qty"] > 0)]
    dealers = levels[~is_wh]
    lacking = dealers["base_stock"] - dealers["position_after"]
    lacking = lacking.clip(lower=0).groupby(dealers["part_number"]).sum()
    info = parts.set_index("part_number")
    part = wh["part_number"].to_numpy(dtype=object)
    qty = wh["order_qty"].to_numpy(np.int64)
    cost = info["unit_cost"].reindex(part).to_numpy(float)
    lead = np.ceil(info["lead_time_days"].reindex(part).to_numpy(float) - 1e-9).astype(np.int64)
    owed = lacking.reindex(part).fillna(0).to_numpy().round().astype(np.int64)
    # what the warehouse still has on its shelf after shipping (its position less what is on order)
    shelf = np.maximum(wh["position_after"].to_numpy() - wh["on_order"].to_numpy(), 0)
    expedite = owed > shelf
    desc = (info["description"].reindex(part) if "description" in info else pd.Series("", index=part))
    target = wh["base_stock"].to_numpy()
    reason = np.where(
        expedite,
        [f"dealers lack {o:,} now and the warehouse has {h:,} on the shelf; it restocks to its target of {t:,}"
         for o, h, t in zip(owed, shelf, target)],
        [f"restocks the warehouse to its target of {t:,}" + (f" and covers {o:,} dealers lack" if o else "")
         for o, t in zip(owed, target)])
    out = pd.DataFrame({
        "part_number": part, "description": desc.fillna("").to_numpy(dtype=object), "quantity": qty,
        "unit_cost": cost, "value": np.round(qty * cost, 2), "currency": currency,
        "order_by": as_of.normalize(), "need_by": as_of.normalize() + pd.to_timedelta(lead, unit="D"),
        "lead_time_days": lead, "expedite": np.where(expedite, "yes", "no"), "reason": reason})
    out = out.sort_values(["expedite", "value"], ascending=[False, False], kind="stable", ignore_index=True)
    return out[ORDER_COLUMNS]


# ---------------------------------------------------------------------------------------
# The batch pipeline
# ---------------------------------------------------------------------------------------

def _checksums(source: Path | None) -> dict[str, str]:
    if source is None or not Path(source).is_dir():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(source).iterdir()) if p.is_file()}


def run_plan(fleet, out: str | Path, settings: PlanSettings | None = None, *,
             source: str | Path | None = None, log=None, report: bool = True,
             progress: bool | None = None, engine=None) -> StockPlan:
    """Fit, forecast, optimise and write every output of a planning run into ``out``.

    Outputs: ``stock_plan.csv``, ``orders.csv`` (the purchase orders),
    ``transfers/<location_id>.csv`` and ``transfers/index.csv``, ``forecast.csv`` (or
    ``.parquet``, see ``forecast_format``), ``forecast_by_part.csv``,
    ``failure_models.csv``, ``report.html`` (with ``report=True``; the planner's page,
    compared with the previous run found in ``out``) and ``run.json`` (the headline
    figures, input checksums, settings as applied, warnings, package versions, stage
    timings, solver status). They are assembled in a temporary folder and moved into place only when all
    are written, so a failure or an interrupt leaves the previous outputs untouched.

    Parameters
    ----------
    fleet : Fleet
    out : path-like
    settings : PlanSettings, optional
    source : path-like, optional
        The input folder, for the checksums in run.json.
    log : logging.Logger, optional
    report : bool
        Write ``report.html``.
    progress : bool, optional
        Draw a progress bar of the stages on stderr; by default only when stderr is a
        terminal (silent in cron and pipes).
    engine : dask.distributed.Client, optional
        Fit the failure models, forecast, scan the stock levels' slots and solve the
        transfer model's parts on this Dask cluster (see :mod:`partsforecast.engine`; the
        same numbers as here). The stock levels' multipliers are set here.

    Returns
    -------
    StockPlan
    """
    import logging

    if not isinstance(fleet, Fleet):
        raise TypeError(f"run_plan(fleet, out, ...): fleet must be a Fleet, got {type(fleet).__name__}")
    s = settings or PlanSettings()
    log = log or logging.getLogger("partsforecast")
    timings: dict[str, float] = {}
    # The one renumbering: history, BOM and stock of old part numbers count as the current ones.
    fleet = current_fleet(fleet)

    stage = _Stages(["fit", "forecast", "optimise", "write"], timings, log, progress)

    with stage("fit"):
        model = FailureModel(distribution=s.lifetime_law, pooling=s.pooling).fit(fleet, engine=engine)
    with stage("forecast"):
        service = ServiceModel().fit(fleet) if len(fleet.maintenance) else None
        fc = forecast_demand(model, fleet, horizon=s.horizon, freq=s.freq, maintenance=service, engine=engine)
        # the lives and the id lookups have served: their memory goes to the optimisation
        fleet._forget_derived()
        model.lives_ = None
        release_unused_memory()
    with stage("optimise"):
        plan = plan_stock(fc, fleet, settings=s, engine=engine)
    previous, previous_note = read_previous_run(out)
    by_part = forecast_by_part(fleet, fc)
    with atomic_dir(out) as tmp:
        with stage("write"):
            plan._write_into(tmp)
            forecast_file = f"forecast.{forecast_file_format(s.forecast_format, len(fc))}"
            write_frame(round_for_people(fc), tmp / forecast_file)
            (tmp / "forecast_by_part.csv").write_bytes(frame_to_csv_bytes(round_for_people(by_part)))
            (tmp / "failure_models.csv").write_bytes(frame_to_csv_bytes(round_for_people(model.params_)))
            if report:
                write_report(tmp / "report.html", fleet, model, fc, plan, previous=previous,
                             previous_note=previous_note, by_part=by_part)
        run = {
            "summary": _run_summary(plan),
            "as_of": fleet.as_of.isoformat(),
            "inputs": _checksums(source),
            "settings": _applied_settings(s, plan.targets),
            "warnings": list(plan.warnings),
            "versions": _versions(),
            "timings_seconds": timings,
            "outputs": {"forecast": forecast_file, "forecast_rows": int(len(fc))},
            "stocking": {"status": str(plan.stocking.status),
                         "investment": round(float(plan.stocking.investment), 2),
                         **_certificate(plan.stocking)},
            "transfers": {"status": plan.transfer_report.status,
                          "gap": _finite(plan.transfer_report.gap, 6),
                          "objective": _finite(plan.transfer_report.objective, 2),
                          "n_transfers": int(len(plan.transfers)),
                          "solver_status": plan.transfer_report.solver_status,
                          "message": plan.transfer_report.message},
            "supersession": plan.supersession.summary() if plan.supersession is not None else None,
            "failure_models": {**borrowed_groups(model.params_),
                               "borrowed_for_new_models": list(fc.attrs.get("borrowed_groups", []))[:200]},
            "service_demand": _service_summary(service),
        }
        (tmp / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True, default=str) + "\n",
                                      encoding="utf-8")
    return plan


def _service_summary(service: ServiceModel | None) -> dict | None:
    """The scheduled-service demand's basis for run.json: the owners' compliance by tier."""
    if service is None:
        return None
    c = service.compliance_
    return {"machines": int(len(service.machines_)), "prior_weight": round(service.prior_weight_, 2),
            "compliance_by_tier": {str(int(t)): {"due": int(d), "done": int(n), "share": round(float(x), 4)}
                                   for t, d, n, x in c[["tier", "due", "done", "share"]].itertuples(index=False)}}


def _certificate(result: StockingResult) -> dict:
    """The stocking plan's bound and gap, rounded for people (None where not given)."""
    cert = result.certificate()
    digits = {"investment_lower_bound": 2, "backorders_lower_bound": 4, "fill_rate_upper_bound": 6, "gap": 6}
    return {k: (_finite(v, digits[k]) if k in digits and v is not None else v) for k, v in cert.items()}


class _Stages:
    """Times each stage, logs it, and (on a terminal) draws a live progress bar on stderr.

    The bar shows the stages done, the one running and its elapsed seconds, redrawn twice
    a second by a background thread so that a long stage visibly advances.
    """

    def __init__(self, names, timings: dict, log, progress: bool | None) -> None:
        import sys

        self.names, self.timings, self.log = list(names), timings, log
        self.stream = sys.stderr
        self.enabled = self.stream.isatty() if progress is None else bool(progress)

    def __call__(self, name: str):
        return _Stage(self, name)

    def draw(self, name: str, started: float, final: bool = False) -> None:
        done = self.names.index(name) + (1 if final else 0)
        width = 24
        fill = int(width * done / len(self.names))
        bar = "#" * fill + "-" * (width - fill)
        elapsed = time.perf_counter() - started
        self.stream.write(f"\r[{bar}] {done}/{len(self.names)} {name:<9} {elapsed:6.1f} s")
        if final and name == self.names[-1]:
            self.stream.write("\n")
        self.stream.flush()


class _Stage:
    def __init__(self, owner: _Stages, name: str) -> None:
        self.owner, self.name = owner, name

    def __enter__(self):
        import threading

        self.owner.log.info("%s …", self.name)
        self.t = time.perf_counter()
        self.stop = threading.Event()
        if self.owner.enabled:
            def tick():
                while not self.stop.wait(0.5):
                    self.owner.draw(self.name, self.t)
            self.owner.draw(self.name, self.t)
            self.thread = threading.Thread(target=tick, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.owner.enabled:
            self.thread.join()
            self.owner.draw(self.name, self.t, final=exc[0] is None)
            if exc[0] is not None:
                self.owner.stream.write("\n")
        self.owner.timings[self.name] = round(time.perf_counter() - self.t, 3)
        if exc[0] is None:
            self.owner.log.info("%s done in %.1f s", self.name, self.owner.timings[self.name])


def _finite(x, decimals: int) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return round(x, decimals) if np.isfinite(x) else None


def _applied_settings(s: PlanSettings, checked: Mapping[int, float] | None = None) -> dict[str, Any]:
    """The settings as the run applied them: defaults filled in (the fill-rate targets the
    optimiser used, or those a budget-only plan is checked against; with class targets, what
    the classes promise each tier)."""
    out = asdict(s)
    if s.fill_rate_targets is None and s.budget is None:
        out["fill_rate_targets"] = dict(DEFAULT_TARGETS)
    if checked is not None:
        out["targets_checked"] = {int(t): round(float(v), 6) for t, v in checked.items()}
    else:
        out["targets_checked"] = dict(DEFAULT_TARGETS if out["fill_rate_targets"] is None
                                      else out["fill_rate_targets"])
    out["backorder_cost_per_day"] = {**DEFAULT_BACKORDER_COST_PER_DAY, **(s.backorder_cost_per_day or {})}
    return out


def _run_summary(plan: StockPlan) -> dict[str, Any]:
    """What the next run compares with: the headline figures and the service per tier, at
    the precision people read (money in cents)."""
    head = {k: (_finite(v, 2 if k in ("purchase_order_value", "freight", "backorder_value_avoided", "investment",
                                       "warehouse_investment", "backorder_days_avoided") else 6)
                if isinstance(v, float) else v) for k, v in plan.headline().items()}
    svc = plan.service().reset_index()
    return {"headline": head,
            "service": [{"tier": int(r.tier), "target": _finite(r.target, 6),
                         "expected_fill_rate": _finite(r.expected_fill_rate, 6)} for r in svc.itertuples()]}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("partsforecast", "pandas", "numpy", "scipy", "statsmodels", "pulp", "highspy", "matplotlib"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out
