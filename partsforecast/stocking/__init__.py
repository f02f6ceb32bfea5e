"""Base-stock levels for a factory warehouse and its dealers (METRIC / VARI-METRIC).

The package has three layers, each usable on its own:

1. **Building blocks** -- plain, vectorised functions named after the textbook quantity of a
   base-stock (``S-1, S``) policy whose lead-time demand ("pipeline") is Poisson, or negative
   binomial when its variance exceeds its mean: :func:`expected_backorders`,
   :func:`backorder_variance`, :func:`fill_rate`, :func:`ready_rate`,
   :func:`expected_on_hand`, :func:`base_stock_level`, :func:`newsvendor_quantity`.
2. **Two-echelon evaluation** -- :func:`metric_evaluate` turns warehouse and dealer stock levels
   into backorders, fill rates and effective lead times per (part, dealer), following METRIC
   (Sherbrooke 1968) with the VARI-METRIC variance correction (Graves 1985; Sherbrooke 1986).
3. **Optimisation** -- :func:`optimize_stock` (per-part frontiers over warehouse levels,
   Lagrange multipliers across parts and an exact finishing step, with a certificate: the
   Lagrangian bound and the gap to it; or, for comparison, greedy marginal analysis with a
   warehouse step through the METRIC delay; plus the whole cost-versus-service curve) and
   :func:`optimize_stock_milp` (a pulp MILP for constraints that break separability: shelf
   capacity, budgets per tier).

Modules
-------
* :mod:`.formulas` -- the single-location building blocks and input checks;
* :mod:`.metric` -- the METRIC / VARI-METRIC evaluation;
* :mod:`.problem` -- validated optimiser inputs (pairs with demand, dealer pipelines);
* :mod:`.scan` -- fast per-pair marginal-analysis scans (Panjer recursion);
* :mod:`.frontier` -- per-part frontiers: (part, warehouse level) rows with their dealers'
  hull steps, the warehouse search, the Lagrangian value of rows;
* :mod:`.multipliers` -- tier multipliers across parts and the Lagrangian bound;
* :mod:`.finish` -- the finishing MILP over the choices the bound leaves open;
* :mod:`.allocation` -- the frontier algorithm end to end;
* :mod:`.groups` -- targets per (part, tier): service groups as virtual dealers;
* :mod:`.greedy` -- the greedy dealer walk, its trim and the efficient curve;
* :mod:`.optimiser` -- :func:`optimize_stock` (the frontier algorithm, or the dealer walk
  alternated with the warehouse step);
* :mod:`.result` -- :class:`StockingResult`;
* :mod:`.milp` -- :func:`optimize_stock_milp` (solved through :mod:`partsforecast.solvers`).

Conventions
-----------
* Time is in days: demand rates are per day, lead times in days, waits in days.
* Arrays are ``(parts,)`` for part attributes and the warehouse, ``(parts, dealers)`` for
  (part, dealer) quantities.  Site index 0 is the factory warehouse wherever sites are
  numbered together (holding rates, the long output table); dealers are sites ``1..J``.
* Replenishment is one-for-one (base stock), lead times are deterministic, unmet demand is
  backordered, the warehouse serves dealer orders first come first served.
* The package takes plain arrays, so it does not depend on the data layer.

Design choices
--------------
* **Service per tier is the system measure**: a tier's fill rate is the demand-weighted fill
  rate over all parts at all its dealers (Sherbrooke's system approach), not a per-part
  floor.  Wait targets bound sum EBO / sum lambda per tier (Little's law).
* **Fill-rate targets are optimised on the fill rate itself**, through the concave hull of
  each pair's fill-rate curve (the fill rate is S-shaped below the mode), and wait targets
  and budgets on expected backorders (convex).  Along either sequence every greedy prefix
  is optimal for its cost.
* **Two echelons**: for a fixed warehouse level a part's dealers decouple, so each part's
  frontier is exact level by level; the parts are priced together by one multiplier per
  tier (or for the budget), and a finishing MILP chooses among what the bound leaves open.
  On small systems (every warehouse level of every part in the frontiers) the plans equal
  the brute-force optimum of the model in the tests, and the bound is proved.  The greedy
  (``algorithm="greedy"``) alternates dealer marginal analysis with a local warehouse
  search and is a heuristic (0.5-7% more backorders than the optimum on small systems).
* **The MILP holds the warehouse levels fixed** and re-optimises dealer levels in a window
  around a greedy plan: exact within that window for the coupling constraints.
* **Fast path vs closed forms**: the optimiser walks each pair's levels by the Panjer
  recursion (cheap, ~1e-13 agreement); every reported figure is recomputed in closed form.
* Negative or non-finite numbers raise :class:`InfeasiblePlanError` (a ``ValueError``);
  wrong shapes, types or missing settings raise a plain ``ValueError``.

Sources
-------
* Sherbrooke, C. C. (2004). *Optimal Inventory Modeling of Systems: Multi-Echelon
  Techniques*, 2nd ed. Kluwer.  Ch. 2 (single-site backorders, marginal analysis),
  Ch. 4-5 (METRIC, VARI-METRIC).
* Sherbrooke, C. C. (1968). METRIC: A multi-echelon technique for recoverable item control.
  *Operations Research* 16, 122-141.
* Graves, S. C. (1985). A multi-echelon inventory model for a repairable item with
  one-for-one replenishment. *Management Science* 31, 1247-1256.
* Sherbrooke, C. C. (1986). VARI-METRIC: Improved approximations for multi-indenture,
  multi-echelon availability models. *Operations Research* 34, 311-319.
* Muckstadt, J. A. (2005). *Analysis and Algorithms for Service Parts Supply Chains*.
  Springer.  (Lagrangian / marginal-analysis allocation across items and sites.)
* Snyder, L. V. & Shen, Z.-J. M. (2019). *Fundamentals of Supply Chain Theory*, 2nd ed.
  Wiley.  Ch. 4 (newsvendor, base-stock).
* Axsäter, S. (2015). *Inventory Control*, 3rd ed. Springer.  Ch. 5 (one-for-one
  replenishment, METRIC).
"""

from partsforecast.solvers import highs_solver_class  # noqa: F401 (re-exported, see below)
from partsforecast.stocking.formulas import (
    InfeasiblePlanError,
    backorder_variance,
    base_stock_level,
    expected_backorders,
    expected_on_hand,
    fill_rate,
    newsvendor_quantity,
    ready_rate,
)
from partsforecast.stocking.metric import MetricEvaluation, metric_evaluate
from partsforecast.stocking.milp import optimize_stock_milp
from partsforecast.stocking.optimiser import optimize_stock
from partsforecast.stocking.result import StockingResult

__all__ = [
    "InfeasiblePlanError",
    "MetricEvaluation",
    "StockingResult",
    "backorder_variance",
    "base_stock_level",
    "expected_backorders",
    "expected_on_hand",
    "fill_rate",
    "metric_evaluate",
    "newsvendor_quantity",
    "optimize_stock",
    "optimize_stock_milp",
    "ready_rate",
]


# ``highs_solver_class`` lives in partsforecast.solvers now; it stays importable from here.
