"""The stock levels an optimiser chose, with their closed-form METRIC figures.

:class:`StockingResult` is what :func:`~partsforecast.stocking.optimize_stock` and
:func:`~partsforecast.stocking.optimize_stock_milp` return; :func:`finish_result` builds it
from levels (evaluating them in closed form), :func:`plan_row` gives the plan's own row of
the efficient curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from partsforecast.stocking.formulas import check_nonneg
from partsforecast.stocking.metric import MetricEvaluation, metric_evaluate
from partsforecast.stocking.problem import StockingProblem

__all__ = ["StockingResult", "finish_result", "holding_rates", "plan_row"]


@dataclass
class StockingResult:
    """Stock levels chosen by :func:`optimize_stock` / :func:`optimize_stock_milp`.

    Attributes
    ----------
    s_wh : ndarray (parts,) of int, or None
        Warehouse base-stock levels (``None`` for a single-echelon problem).
    s_dealer : ndarray (parts, dealers) of int
        Dealer base-stock levels.
    evaluation : MetricEvaluation
        Closed-form METRIC / VARI-METRIC figures of these levels.
    investment, wh_investment, dealer_investment : float
        Value of the base stock, sum unit_cost x level.
    tier_fill_rate, tier_wait : dict
        Demand-weighted fill rate and expected customer wait (days) per dealer tier.
    system_fill_rate, total_backorders, expected_wait : float
        Over all dealers: demand-weighted fill rate, expected backorders, mean wait (days).
    annual_holding_cost : float
        sum holding_rate x unit_cost x expected on hand (reporting only).
    multipliers : dict
        Lagrange multipliers (value of one unit of the service measure) per tier at the plan.
    curve : pandas.DataFrame
        Efficient curve: ``investment``, ``wh_investment``, ``dealer_investment``,
        ``total_backorders``, ``expected_wait``, ``system_fill_rate``,
        ``fill_rate_tier_<t>`` per tier, ``is_plan`` (the chosen point).
    status : str
        What was achieved: "targets met" or "best service within budget" (greedy), or the MILP
        solver's verdict, "optimal" or "feasible" (see :mod:`partsforecast.solvers`).
    solver_info : dict
        Solver details for the MILP (status, gap, bound, timings); the algorithm's log and
        timings otherwise.
    algorithm : str
        ``"frontier"``, ``"greedy"`` or ``"milp"``.
    investment_lower_bound : float or None
        Target-driven plans: no plan meeting the targets costs less (the Lagrangian bound over
        the per-part frontiers).
    backorders_lower_bound : float or None
        Budget plans for fewest backorders: no plan within the budget has fewer expected
        backorders.
    fill_rate_upper_bound : float or None
        Budget plans for the highest fill rate: no plan within the budget has a higher
        system fill rate.
    gap : float or None
        The plan's relative distance to its bound, ``|plan - bound| / |plan|`` (like a MIP
        gap): an upper limit on how far from optimal the plan can be.
    bound_exact : bool or None
        True when every warehouse level of every part entered the bound (small systems):
        the bound is then proved within the model; otherwise it holds over the warehouse
        levels searched.
    """

    s_wh: np.ndarray | None
    s_dealer: np.ndarray
    evaluation: MetricEvaluation
    unit_cost: np.ndarray
    dealer_tier: np.ndarray
    investment: float
    wh_investment: float
    dealer_investment: float
    tier_fill_rate: dict
    tier_wait: dict
    system_fill_rate: float
    total_backorders: float
    expected_wait: float
    annual_holding_cost: float
    multipliers: dict
    curve: pd.DataFrame
    status: str
    targets: dict = field(default_factory=dict)
    solver_info: dict = field(default_factory=dict)
    holding_rate: np.ndarray | None = None
    part_ids: np.ndarray | None = None
    dealer_ids: np.ndarray | None = None
    warehouse_id: str = "WH"
    algorithm: str = "greedy"
    investment_lower_bound: float | None = None
    backorders_lower_bound: float | None = None
    fill_rate_upper_bound: float | None = None
    gap: float | None = None
    bound_exact: bool | None = None

    def certificate(self) -> dict:
        """The bound that goes with the plan and the relative gap to it (plain numbers)."""
        return {"algorithm": self.algorithm, "investment_lower_bound": self.investment_lower_bound,
                "backorders_lower_bound": self.backorders_lower_bound,
                "fill_rate_upper_bound": self.fill_rate_upper_bound, "gap": self.gap,
                "bound_exact": self.bound_exact}

    def bound_statement(self, money=lambda x: f"{x:,.2f}") -> str:
        """The certificate in words: what no plan can beat, and where the bound holds
        ("" without a bound).  ``money`` formats amounts."""
        if self.gap is None:
            return ""
        if self.investment_lower_bound is not None:
            what = f"no plan meeting the targets costs less than {money(self.investment_lower_bound)}"
        elif self.backorders_lower_bound is not None:
            what = f"no plan within the budget has fewer than {self.backorders_lower_bound:,.4g} expected backorders"
        else:
            what = f"no plan within the budget has a system fill rate above {self.fill_rate_upper_bound:.4f}"
        return what + ("" if self.bound_exact else " (over the warehouse levels searched)")

    def _bound_line(self) -> str:
        if self.gap is None:
            return ""
        return f"\n  bound                {self.bound_statement()}; gap {self.gap:.3%}"

    def summary(self) -> pd.DataFrame:
        """One row per dealer tier: dealers, demand, target, fill rate, wait, investment.

        ``attrs["certificate"]`` holds :meth:`certificate` (the bound and the gap)."""
        ev = self.evaluation
        rows = []
        for t in np.unique(self.dealer_tier):
            cols = self.dealer_tier == t
            rows.append({
                "tier": int(t),
                "dealers": int(cols.sum()),
                "demand_per_day": float(ev.demand_rate[:, cols].sum()),
                "target": self.targets.get(int(t), np.nan),
                "fill_rate": self.tier_fill_rate.get(int(t), np.nan),
                "expected_wait_days": self.tier_wait.get(int(t), np.nan),
                "investment": float((self.unit_cost[:, None] * self.s_dealer[:, cols]).sum()),
            })
        out = pd.DataFrame(rows).set_index("tier")
        out.attrs["certificate"] = self.certificate()
        return out

    def to_frame(self, include_zero: bool = False) -> pd.DataFrame:
        """Long table, one row per (location, part): the stock_plan columns this stage owns.

        Columns: ``location_id``, ``part_number``, ``site`` (0 = warehouse, 1..J dealers),
        ``tier`` (0 for the warehouse), ``base_stock``, ``demand_per_day``,
        ``expected_backorders``, ``expected_fill_rate``, ``ready_rate``,
        ``effective_lead_time_days``, ``expected_on_hand``, ``inventory_value``,
        ``annual_holding_cost``.  Rows with neither demand nor stock are left out unless
        ``include_zero``.
        """
        ev = self.evaluation
        P, J = self.s_dealer.shape
        parts = self.part_ids if self.part_ids is not None else np.array([f"P{i}" for i in range(P)], dtype=object)
        dealers = self.dealer_ids if self.dealer_ids is not None else np.array([f"D{j + 1}" for j in range(J)], dtype=object)
        hr = self.holding_rate if self.holding_rate is not None else np.zeros(J + 1)
        frames = []
        if self.s_wh is not None:
            wh = pd.DataFrame({
                "location_id": self.warehouse_id, "part_number": parts, "site": 0, "tier": 0,
                "base_stock": self.s_wh, "demand_per_day": ev.demand_rate.sum(axis=1),
                "expected_backorders": ev.wh_backorders, "expected_fill_rate": ev.wh_fill_rate,
                "ready_rate": ev.wh_ready_rate, "effective_lead_time_days": np.nan,
                "expected_on_hand": ev.wh_on_hand, "inventory_value": self.unit_cost * self.s_wh,
                "annual_holding_cost": hr[0] * self.unit_cost * ev.wh_on_hand,
            })
            if not include_zero:
                wh = wh[(wh["base_stock"] > 0) | (wh["demand_per_day"] > 0)]
            frames.append(wh)
        keep = np.ones((P, J), dtype=bool) if include_zero else (self.s_dealer > 0) | (ev.demand_rate > 0)
        pi, dj = np.nonzero(keep)
        frames.append(pd.DataFrame({
            "location_id": dealers[dj], "part_number": parts[pi], "site": dj + 1,
            "tier": self.dealer_tier[dj], "base_stock": self.s_dealer[pi, dj],
            "demand_per_day": ev.demand_rate[pi, dj], "expected_backorders": ev.backorders[pi, dj],
            "expected_fill_rate": ev.fill_rate[pi, dj], "ready_rate": ev.ready_rate[pi, dj],
            "effective_lead_time_days": ev.effective_lead_time[pi, dj],
            "expected_on_hand": ev.on_hand[pi, dj],
            "inventory_value": self.unit_cost[pi] * self.s_dealer[pi, dj],
            "annual_holding_cost": hr[dj + 1] * self.unit_cost[pi] * ev.on_hand[pi, dj],
        }))
        return pd.concat(frames, ignore_index=True)

    def __repr__(self) -> str:
        P, J = self.s_dealer.shape
        tiers = ", ".join(f"{t}: {fr:.4f}" for t, fr in self.tier_fill_rate.items())
        return (
            f"StockingResult({P} parts x {J} dealers, status={self.status!r})\n"
            f"  investment           {self.investment:,.2f} (warehouse {self.wh_investment:,.2f}, "
            f"dealers {self.dealer_investment:,.2f})\n"
            f"  system fill rate     {self.system_fill_rate:.4f}\n"
            f"  fill rate by tier    {tiers}\n"
            f"  expected backorders  {self.total_backorders:.4f} (mean wait {self.expected_wait:.3f} days)\n"
            f"  annual holding cost  {self.annual_holding_cost:,.2f}"
            + self._bound_line()
        )


def holding_rates(holding_rate: Any, J: int) -> np.ndarray:
    """Annual holding cost rate per site (index 0 = warehouse), ``J + 1`` entries."""
    hr = check_nonneg(0.0 if holding_rate is None else holding_rate, "holding_rate")
    if hr.ndim == 0:
        return np.full(J + 1, float(hr))
    if hr.shape != (J + 1,):
        raise ValueError(f"holding_rate must be a scalar or have J+1 = {J + 1} entries (index 0 = warehouse); got {hr.shape}")
    return hr


def finish_result(prob: StockingProblem, s_wh, s_dealer, *, status, targets, multipliers, curve, solver_info,
                  holding_rate, part_ids, dealer_ids, warehouse_id) -> StockingResult:
    """The result of levels ``s_wh`` / ``s_dealer``, every figure evaluated in closed form."""
    ev = metric_evaluate(s_wh, s_dealer, prob.lam, prob.T0, prob.T, demand_vmr=prob.vmr, method=prob.method)
    c = prob.c
    wh_inv = float((c * s_wh).sum()) if s_wh is not None else 0.0
    d_inv = float((c[:, None] * s_dealer).sum())
    tier_fr, tier_wait = {}, {}
    for t in np.unique(prob.tier):
        cols = prob.tier == t
        L = prob.lam[:, cols].sum()
        tier_fr[int(t)] = float((prob.lam[:, cols] * ev.fill_rate[:, cols]).sum() / L) if L > 0 else 1.0
        tier_wait[int(t)] = float(ev.backorders[:, cols].sum() / L) if L > 0 else 0.0
    hr = holding_rates(holding_rate, prob.J)
    hold = float((hr[1:][None, :] * c[:, None] * ev.on_hand).sum())
    if s_wh is not None:
        hold += float((hr[0] * c * ev.wh_on_hand).sum())
    Ltot = prob.lam.sum()
    return StockingResult(
        s_wh=None if s_wh is None else np.asarray(s_wh, dtype=np.int64),
        s_dealer=np.asarray(s_dealer, dtype=np.int64),
        evaluation=ev, unit_cost=c, dealer_tier=prob.tier,
        investment=wh_inv + d_inv, wh_investment=wh_inv, dealer_investment=d_inv,
        tier_fill_rate=tier_fr, tier_wait=tier_wait, system_fill_rate=ev.system_fill_rate,
        total_backorders=ev.total_backorders,
        expected_wait=float(ev.backorders.sum() / Ltot) if Ltot > 0 else 0.0,
        annual_holding_cost=hold, multipliers=multipliers, curve=curve, status=status,
        targets=targets, solver_info=solver_info, holding_rate=hr,
        part_ids=None if part_ids is None else np.asarray(part_ids, dtype=object),
        dealer_ids=None if dealer_ids is None else np.asarray(dealer_ids, dtype=object),
        warehouse_id=warehouse_id,
    )


def plan_row(res: StockingResult) -> dict:
    """The plan's own row of the efficient curve (``is_plan`` True), in the result's figures."""
    return {"investment": res.investment, "wh_investment": res.wh_investment,
            "dealer_investment": res.dealer_investment, "total_backorders": res.total_backorders,
            "expected_wait": res.expected_wait, "system_fill_rate": res.system_fill_rate,
            **{f"fill_rate_tier_{t}": v for t, v in res.tier_fill_rate.items()}, "is_plan": True}
