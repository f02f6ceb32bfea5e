"""Classic intermittent-demand forecasting, vectorised over series.

Methods: Croston (classic and optimised), SBA, TSB, ADIDA, IMAPA and the ``zero`` and
``naive`` baselines; a ``combination`` of them and ``auto`` (IMAPA recalibrated on the
data's own last year); the Syntetos-Boylan-Croston demand classification; and count
distributions (negative binomial / Poisson) around the point forecasts of every method for
the stocking stage.

Data layout
-----------
Input is the long format of the field: one row per (``unique_id``, ``ds``) with the demand
``y`` (a count >= 0). ``ds`` is a datetime on a regular calendar (``freq`` is inferred
from the dates or given) or an integer period number.

* A series starts at its first row and ends at its last row. Periods between the two that
  have no row are demand-free periods (``y = 0``); rows for demand-free periods may also be
  given explicitly. Nothing is assumed before the first row or after the last: if a part's
  history runs to the end of your data but its last months had no demand, add those months
  as ``y = 0`` rows, else its forecast starts right after its last demand.
* Every series is forecast for the ``h`` periods after its own last ``ds``.

Internally the panel is a 2-D array of shape (time, series), *right-aligned*: column ``i``
holds series ``i`` with its last period in the last row and zeros before its start row
``start[i]``. Every smoothing recursion is a loop over the ~36-60 time steps with array
operations across all series at once; there is no Python loop over series.

Method definitions
------------------
The definitions follow statsforecast (``CrostonClassic``, ``CrostonSBA``, ``TSB``, ``ADIDA``,
``IMAPA``; checked against statsforecast by ``benchmarks/bench_intermittent.py
--check-only``, to 1e-9 for the fixed-constant methods). With ``k`` demands at positions ``t_1 < ... < t_k`` (0-based from the series
start), sizes ``z_j = y[t_j]`` and intervals ``x_1 = t_1 + 1`` (the first interval counts
from the series start) and ``x_j = t_j - t_{j-1}``:

``croston``
    SES with constant ``alpha_size`` (default 0.1) on the sizes, initialised at the first
    size (``Z_1 = z_1``, ``Z_j = Z_{j-1} + alpha (z_j - Z_{j-1})``), and SES with
    ``alpha_interval`` (0.1) on the intervals, initialised at the first interval. The
    forecast is ``Z_k / X_k`` for every future period. A series with one demand gets
    ``z_1 / (t_1 + 1)``; a series with no demand gets 0.
``sba``
    Syntetos-Boylan approximation: ``(1 - alpha_interval / 2) * croston`` (0.95 at 0.1).
``tsb``
    Teunter-Syntetos-Babai: the demand probability ``P`` is smoothed every period with
    ``alpha_p`` (default 0.1) from ``P_0 = 1{y_0 > 0}`` (the first period of the series);
    the size ``Z`` is smoothed at demand periods with ``alpha_d`` (default 0.1) from the first
    size. Forecast ``P * Z`` (0 without demand). statsforecast's ``TSB(alpha_d, alpha_p)``
    uses the same names.
``adida``
    Aggregate-disaggregate intermittent demand approach (Nikolopoulos et al. 2011): bucket
    size ``m = round(mean interval)`` (round half to even), non-overlapping buckets counted
    back from the last period (the oldest ``n mod m`` periods are dropped), SES on the
    bucket sums (level initialised at the first sum) with its constant minimising the
    in-sample one-step SSE within ``bounds`` (0.1, 0.3), forecast divided by ``m``.
    The SSE is minimised globally (an 11-point grid for all series, then golden-section
    search to 1e-9). statsforecast uses scipy's bounded Brent search (xatol 1e-5), so the
    two agree to ~1e-5 relative except where the SSE has two minima (Brent may stop in
    the worse one) or is flat -- the SSE does not depend on the constant when all bucket
    sums but the last are equal; there we take the upper bound, where Brent ends up too
    unless round-off sends it elsewhere.
``imapa``
    Petropoulos & Kourentzes (2015): the ADIDA forecast at every bucket size ``1..m`` (same
    ``m`` as ADIDA), averaged with equal weights.
``croston_opt``
    Croston with the two smoothing constants chosen per series, as in tsintermittent's
    ``crost`` (Kourentzes 2014): separate constants for sizes and intervals within
    ``bounds`` (default 0.05, 0.3), minimising a cost of the in-sample one-step demand-rate
    forecasts ``f_t`` (``f_t`` = the Croston ratio after the demands before ``t``; defined
    after the first demand): ``"mar"`` (default) ``sum |f_t - r_t|`` with ``r_t`` the
    cumulative mean demand, its first ``ceil(0.3 n)`` values held at the value of period
    ``ceil(0.3 n)``; ``"msr"`` the same squared; ``"mse"`` mean ``(y_t - f_t)^2``; ``"mae"``
    mean ``|y_t - f_t|``. Initial values are the first size and interval (tsintermittent's
    ``init="naive"``; they are not optimised). The search evaluates a 6 x 6 grid for all
    series at once, then refines a 3 x 3 grid around each series' best point, halving its
    step 6 times (resolution ~0.0008). ``cost="ses_sse"`` instead gives statsforecast's
    ``CrostonOptimized``: each constant minimises the SSE of its own SES fit (sizes and
    intervals separately).
``zero``, ``naive``
    0, and the last observed value.
``combination``
    The median (``how="median"``, default) or mean (``how="mean"``) of the forecasts of
    ``members`` (default SBA, TSB, ADIDA and IMAPA, each with its default settings), series
    by series: the equal-weight combinations of Petropoulos & Kourentzes (2015), "Forecast
    combinations for intermittent demand", JORS 66(6).
``auto``
    The ``base`` method (default IMAPA) with its level recalibrated on the data itself.
    Each series falls in an *activity group* by its number of periods with demand in its
    last ``window`` periods (default 12): with the default ``cuts=(3,)``, fewer than 3 (a
    part that sold in one or two of the last twelve months) or 3 and more; ``cuts=(3, 12)``
    would make three groups. The base method is refitted on every series without its last ``holdout``
    periods (default 12) and forecasts them; for each group, the factor ``c`` within
    ``factor_bounds`` (default 0.25 to 4) that minimises the group's mean RMSSE of
    ``c * forecast`` on those periods is found (golden-section search: the RMSSE of one
    series is a norm of an affine function of ``c``, so the mean is convex in ``c``). The
    forecast is the base method fitted on the whole history times its group's factor.
    RMSSE scales each series' error by the mean squared one-step change of its history
    before the held-out periods, from its first demand on (as in the M5). A group with
    fewer than ``min_series`` (default 20) series that can be scored (a demand and a
    non-zero scale before the held-out periods) keeps the factor 1, as does every group
    when the history is too short to hold ``holdout`` periods out. The factors correct
    what smoothing a series' own past cannot see: the level shared by similar series
    moving between years (a fleet growing and ageing, parts going obsolete) and the
    regression towards zero of series that happened to sell in the past. They are
    fitted per call, on the data passed, and never on the periods being forecast.

    Mind what the default objective rewards. A part that sold nothing in the held-out
    periods pulls its group's factor down in proportion to its forecast, and the square
    root in RMSSE lets such parts outweigh the ones that sold more than forecast: the
    factor that minimises mean RMSSE forecasts *fewer units in total* than the mean. On the
    car-parts data (a catalogue going obsolete) ``auto`` forecasts 46% fewer units than
    were sold in the held-out year, against IMAPA's 9% too many; on a growing generated
    fleet it corrects IMAPA's -48% to -6%. ``objective="mse"`` instead minimises the
    group's pooled scaled squared error, ``c = sum(f y) / sum(f^2)`` over the series and
    held-out periods (each term divided by the series' scale): a level correction without
    that pull towards zero (and without most of the RMSSE gain on the car parts). Use the
    default to rank by mean RMSSE; check the bias before feeding ``auto`` to stock levels.

The two new methods were designed by measurement (``benchmarks/bench_intermittent_auto.py``
and ``docs/forecast-accuracy.md``): on the public car-parts data and generated fleets, a
choice of method by demand class (the SBC rule: 11% to 15% worse than IMAPA on mean RMSSE
on the car parts and the large fleets; the best method per class on the year before: within
0.1% of IMAPA, or 2% to 3% worse) and the combinations (0.3% to 2.2% worse) did not beat
IMAPA; recalibrating the level per activity group did. The defaults of ``auto``
(``window``, ``cuts``) were chosen on the year before the held-out one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from partsforecast._panel import Panel, check_h, to_panel
from partsforecast.counts import count_law
from partsforecast.demand import lead_time_demand as demand_over_lead_time

__all__ = [
    "METHODS",
    "check_methods",
    "classify",
    "forecast",
    "forecast_distribution",
    "lead_time_demand",
]

#: Method names accepted by :func:`forecast`.
METHODS: tuple[str, ...] = (
    "croston",
    "croston_opt",
    "sba",
    "tsb",
    "adida",
    "imapa",
    "zero",
    "naive",
    "combination",
    "auto",
)

#: The methods a ``combination`` (``members``) or ``auto`` (``base``) can be built on.
_SIMPLE_METHODS: tuple[str, ...] = (
    "croston", "croston_opt", "sba", "tsb", "adida", "imapa", "zero", "naive",
)

_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "croston": {"alpha_size": 0.1, "alpha_interval": 0.1},
    "sba": {"alpha_size": 0.1, "alpha_interval": 0.1},
    "tsb": {"alpha_p": 0.1, "alpha_d": 0.1},
    "croston_opt": {"cost": "mar", "bounds": (0.05, 0.3)},
    "adida": {"bounds": (0.1, 0.3)},
    "imapa": {"bounds": (0.1, 0.3)},
    "zero": {},
    "naive": {},
    "combination": {"members": ("sba", "tsb", "adida", "imapa"), "how": "median"},
    "auto": {
        "base": "imapa",
        "holdout": 12,
        "window": 12,
        "cuts": (3,),
        "factor_bounds": (0.25, 4.0),
        "min_series": 20,
        "objective": "rmsse",
    },
}
_CROSTON_COSTS = ("mar", "msr", "mse", "mae", "ses_sse")

# Syntetos, Boylan & Croston (2005) cut-offs.
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49

# Series are processed in blocks of this many columns: keeps the temporaries of the grid
# searches (series x grid x grid) in a few tens of MB and cache-friendly.
_BLOCK = 8192


# ----------------------------------------------------------------------------------------
# Validation of the arguments (the long frame and its panel: partsforecast._panel)
# ----------------------------------------------------------------------------------------


def check_methods(methods: str | Iterable[str]) -> list[str]:
    """Validate method names for :func:`forecast`.

    Parameters
    ----------
    methods : str or iterable of str
        One name or several, each among :data:`METHODS`, none twice.

    Returns
    -------
    list of str
        The names as a list.

    Raises
    ------
    ValueError
        If the list is empty, a name is unknown or listed twice.
    """
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods)
    if not methods:
        raise ValueError(f"methods is empty: pass at least one of {list(METHODS)}.")
    for m in methods:
        if m not in METHODS:
            raise ValueError(
                f"unknown method {m!r}: choose from {list(METHODS)} "
                f"(names are lower case, e.g. 'sba')."
            )
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods {methods} lists a method twice: list each once.")
    return methods


def _method_params(method: str, params: Mapping[str, Mapping[str, Any]] | None) -> dict:
    """Merge the user's settings for ``method`` over the defaults and validate them."""
    out = dict(_DEFAULT_PARAMS[method])
    given = dict((params or {}).get(method, {}))
    unknown = set(given) - set(out)
    if unknown:
        raise ValueError(
            f"unknown setting(s) {sorted(unknown)} for method {method!r}: "
            f"allowed are {sorted(out) or 'none'}."
        )
    out.update(given)
    for key in ("alpha_size", "alpha_interval", "alpha_p", "alpha_d"):
        if key in out:
            a = out[key]
            if not (isinstance(a, (int, float, np.floating)) and 0 < a <= 1):
                raise ValueError(
                    f"{method}: {key} must be a number in (0, 1]; got {a!r}."
                )
    if "bounds" in out:
        out["bounds"] = _number_pair(method, "bounds", out["bounds"], lambda lo, hi: 0 < lo <= hi <= 1,
                                     "0 < low <= high <= 1")
    if "cost" in out:
        _one_of(method, "cost", out["cost"], _CROSTON_COSTS)
    if method == "combination":
        _check_combination(out)
    if method == "auto":
        _check_auto(out)
    return out


def _one_of(method: str, key: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        listed = (f"'{choices[0]}' or '{choices[1]}'" if len(choices) == 2
                  else f"one of {list(choices)}")
        raise ValueError(f"{method}: {key} must be {listed}; got {value!r}.")


def _number_pair(method: str, key: str, value: Any, ok, rule: str) -> tuple[float, float]:
    """A (low, high) pair of finite numbers satisfying ``ok(low, high)``, as floats."""
    fine = (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (int, float, np.floating)) and np.isfinite(v) for v in value)
            and ok(*value))
    if not fine:
        raise ValueError(f"{method}: {key} must be (low, high) with {rule}; got {value!r}.")
    return float(value[0]), float(value[1])


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_combination(prm: dict) -> None:
    members = prm["members"]
    if isinstance(members, str) or not isinstance(members, (tuple, list)) or not members:
        raise ValueError(
            f"combination: members must be a non-empty list of method names among "
            f"{list(_SIMPLE_METHODS)}; got {members!r}."
        )
    for m in members:
        if m not in _SIMPLE_METHODS:
            raise ValueError(
                f"combination: member {m!r} is not a method that can be combined: choose "
                f"members among {list(_SIMPLE_METHODS)}."
            )
    if len(set(members)) != len(members):
        raise ValueError(f"combination: members {list(members)} lists a method twice: list each once.")
    prm["members"] = tuple(members)
    _one_of("combination", "how", prm["how"], ("median", "mean"))


def _check_auto(prm: dict) -> None:
    _one_of("auto", "base", prm["base"], _SIMPLE_METHODS + ("combination",))
    for key in ("holdout", "window", "min_series"):
        v = prm[key]
        if not _is_int(v) or v < 1:
            raise ValueError(f"auto: {key} must be a positive integer (periods or series); got {v!r}.")
    cuts = prm["cuts"]
    ok = isinstance(cuts, (tuple, list)) and all(_is_int(c) and c >= 1 for c in cuts) and all(
        a < b for a, b in itertools.pairwise(cuts)
    )
    if not ok:
        raise ValueError(
            f"auto: cuts must be increasing positive integers (numbers of periods with demand "
            f"that separate the activity groups), e.g. (3, 12); got {cuts!r}."
        )
    prm["cuts"] = tuple(int(c) for c in cuts)
    prm["factor_bounds"] = _number_pair("auto", "factor_bounds", prm["factor_bounds"],
                                        lambda lo, hi: 0 < lo <= 1 <= hi, "0 < low <= 1 <= high")
    _one_of("auto", "objective", prm["objective"], ("rmsse", "mse"))


def _check_params_keys(params: Mapping[str, Any] | None, methods: Sequence[str]) -> None:
    for key in params or {}:
        if key not in METHODS:
            raise ValueError(
                f"params has settings for unknown method {key!r}: keys must be among "
                f"{list(METHODS)}."
            )
        if key not in methods:
            raise ValueError(
                f"params has settings for {key!r}, which is not in methods={list(methods)}: "
                f"add it to methods or drop its settings."
            )


# ----------------------------------------------------------------------------------------
# Recursions on the panel (loops over time, arrays across series)
# ----------------------------------------------------------------------------------------


def _blocks(n_series: int, block: int = _BLOCK) -> list[slice]:
    return [slice(i, min(i + block, n_series)) for i in range(0, n_series, block)]


def _croston_core(
    y: np.ndarray,
    start: np.ndarray,
    alpha_size: float | np.ndarray,
    alpha_interval: float | np.ndarray,
    fitted: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Croston's size and interval SES over a (T, S) panel.

    ``alpha_*`` are scalars or per-series arrays. Returns the ratio ``Z/X`` after the last
    period (0 where a series has no demand) and, if asked, the (T, S) in-sample one-step
    forecasts (NaN up to and including the first demand).
    """
    T, S = y.shape
    z = np.zeros(S)
    x = np.ones(S)  # 1, not 0: no division by zero before the first demand
    q = np.zeros(S)  # periods since the last demand (or since the series start)
    seen = np.zeros(S, dtype=bool)
    fit = np.full((T, S), np.nan) if fitted else None
    a_s = np.broadcast_to(np.asarray(alpha_size, dtype=np.float64), (S,))
    a_i = np.broadcast_to(np.asarray(alpha_interval, dtype=np.float64), (S,))
    for t in range(T):
        yt = y[t]
        q += start <= t
        d = yt > 0
        if fit is not None:
            fit[t] = np.where(seen, z / x, np.nan)
        # The first demand initialises the SES (weight 1), later ones smooth with alpha.
        ws = np.where(seen, a_s, 1.0) * d
        wi = np.where(seen, a_i, 1.0) * d
        z += ws * (yt - z)
        x += wi * (q - x)
        q *= ~d
        seen |= d
    return np.where(seen, z / x, 0.0), fit


def _tsb_core(
    y: np.ndarray, start: np.ndarray, alpha_p: float, alpha_d: float, fitted: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """TSB over a (T, S) panel: probability smoothed every period, size at demands."""
    T, S = y.shape
    p = np.zeros(S)
    z = np.zeros(S)
    seen = np.zeros(S, dtype=bool)
    fit = np.full((T, S), np.nan) if fitted else None
    for t in range(T):
        yt = y[t]
        d = yt > 0
        if fit is not None:
            fit[t] = np.where(seen, p * z, np.nan)
        # At the series' first period the probability is initialised to 1{y > 0}.
        wp = np.where(start == t, 1.0, alpha_p) * (start <= t)
        p += wp * (d - p)
        z += np.where(seen, alpha_d, 1.0) * d * (yt - z)
        seen |= d
    return p * z, fit


def _ses_sse(x: np.ndarray, start: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSE and final level of SES for candidate constants ``alpha`` (S, K).

    ``x`` is a (L, S) right-aligned panel starting at ``start``. The level starts at the
    first value; the SSE sums the one-step errors of the later values.
    """
    L, S = x.shape
    lvl = np.zeros_like(alpha)
    sse = np.zeros_like(alpha)
    for t in range(L):
        xt = x[t][:, None]
        after = (start < t)[:, None]
        err = xt - lvl
        sse += after * (err * err)
        lvl = np.where((start == t)[:, None], xt, lvl + after * alpha * err)
    return sse, lvl


_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def _ses_optimized(
    x: np.ndarray,
    start: np.ndarray,
    bounds: tuple[float, float],
    n_grid: int = 11,
    xtol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray]:
    """SES whose constant minimises the in-sample SSE within ``bounds``, per series.

    A grid of ``n_grid`` constants is evaluated for all series at once; golden-section
    search then refines each series' bracket around its best grid point down to ``xtol``.
    Series whose SSE does not depend on the constant get the upper bound. Returns the one-step forecast (final level) and the chosen constant.
    """
    L, S = x.shape
    lo, hi = bounds
    if hi - lo < xtol:
        a = np.full((S, 1), lo)
        return _ses_sse(x, start, a)[1][:, 0], a[:, 0]
    grid = np.linspace(lo, hi, n_grid)
    sse, _ = _ses_sse(x, start, np.broadcast_to(grid, (S, n_grid)).copy())
    # The SSE does not depend on the constant when the series has one or two values, or
    # when all but its last value are equal: any constant is optimal, and we take the upper
    # bound (statsforecast 1 ended there too; statsforecast 2 ends mid-range).
    flat = np.ptp(sse, axis=1) <= 1e-12 * (1.0 + sse.min(axis=1))
    g = np.argmin(sse, axis=1)
    step = grid[1] - grid[0]
    a = np.clip(grid[g] - step, lo, hi)
    b = np.clip(grid[g] + step, lo, hi)
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc = _ses_sse(x, start, c[:, None])[0][:, 0]
    fd = _ses_sse(x, start, d[:, None])[0][:, 0]
    n_iter = int(np.ceil(np.log(xtol / (2 * step)) / np.log(_GOLDEN)))
    for _ in range(max(n_iter, 0)):
        left = fc <= fd  # minimum in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        fn = _ses_sse(x, start, new[:, None])[0][:, 0]
        # Keep the surviving interior point and slot the new one on its side.
        c, d, fc, fd = (
            np.where(left, new, d),
            np.where(left, c, new),
            np.where(left, fn, fd),
            np.where(left, fc, fn),
        )
    best = (a + b) / 2
    best = np.where(flat, hi, best)
    return _ses_sse(x, start, best[:, None])[1][:, 0], best


def _demand_stats(y: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number of demands and mean inter-demand interval (first counted from the start)."""
    T = y.shape[0]
    d = y > 0
    k = d.sum(axis=0)
    last_d = T - 1 - np.argmax(d[::-1], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_int = np.where(k > 0, (last_d - start + 1) / np.maximum(k, 1), np.inf)
    return k, mean_int


def _aggregate(y: np.ndarray, start: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping bucket sums of size ``level`` (per series), counted from the end.

    Returns a right-aligned (M, S) panel of bucket sums and its start rows; the oldest
    ``n mod level`` periods of each series are dropped (as statsforecast does).
    """
    T, S = y.shape
    n = T - start
    m = n // level
    M = int(m.max())
    csum = np.zeros((T + 1, S))
    np.cumsum(y, axis=0, out=csum[1:])
    j = np.arange(M)[:, None]
    top = T - j * level[None, :]  # exclusive end row of bucket j (0 = newest)
    bot = np.maximum(top - level[None, :], 0)
    top = np.maximum(top, 0)
    sums = np.take_along_axis(csum, top, axis=0) - np.take_along_axis(csum, bot, axis=0)
    sums = np.where(j < m[None, :], sums, 0.0)
    return sums[::-1].copy(), M - m


def _aggregated_ses(y: np.ndarray, start: np.ndarray, cols: np.ndarray, level: np.ndarray,
                    bounds: tuple[float, float]) -> np.ndarray:
    """Per-period rate from SES on non-overlapping bucket sums of size ``level`` (in blocks)."""
    out = np.zeros(cols.size)
    for blk in _blocks(cols.size):
        sums, s0 = _aggregate(y[:, cols[blk]], start[cols[blk]], level[blk])
        fc, _ = _ses_optimized(sums, s0, bounds)
        out[blk] = fc / level[blk]
    return out


def _bucket_levels(y: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Series with demand, and their ADIDA bucket size: the rounded mean demand interval."""
    k, mean_int = _demand_stats(y, start)
    idx = np.flatnonzero(k > 0)
    return idx, np.rint(mean_int[idx]).astype(np.int64)


def _adida_core(y: np.ndarray, start: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    idx, level = _bucket_levels(y, start)
    out = np.zeros(y.shape[1])
    out[idx] = _aggregated_ses(y, start, idx, level, bounds)
    return out


def _imapa_core(y: np.ndarray, start: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    idx, level = _bucket_levels(y, start)
    out = np.zeros(y.shape[1])
    acc = np.zeros(idx.size)
    # Loop over aggregation levels (at most T of them), never over series.
    for lvl in range(1, int(level.max(initial=0)) + 1):
        sel = np.flatnonzero(level >= lvl)
        acc[sel] += _aggregated_ses(y, start, idx[sel], np.full(sel.size, lvl), bounds)
    out[idx] = acc / np.maximum(level, 1)
    return out


def _compress_demands(y: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-aligned (K, S) panels of demand sizes and intervals, and their start rows."""
    T, S = y.shape
    sid, t = np.nonzero((y > 0).T)  # sorted by series, then time
    k = np.bincount(sid, minlength=S)
    K = max(int(k.max()) if S else 0, 1)
    first_of = np.concatenate(([0], np.cumsum(k)[:-1]))
    rank = np.arange(sid.size) - first_of[sid]
    row = K - k[sid] + rank
    sizes = np.zeros((K, S))
    sizes[row, sid] = y[t, sid]
    prev = np.where(rank > 0, np.roll(t, 1), start[sid] - 1)
    ints = np.zeros((K, S))
    ints[row, sid] = t - prev
    return sizes, ints, K - k


def _croston_opt_sse(y: np.ndarray, start: np.ndarray, bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """statsforecast's CrostonOptimized: SSE-optimal SES on sizes and on intervals."""
    sizes, ints, s0 = _compress_demands(y, start)
    zf, a_s = _ses_optimized(sizes, s0, bounds)
    xf, a_i = _ses_optimized(ints, s0, bounds)
    has = s0 < sizes.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        fc = np.where(has, zf / np.where(has, xf, 1.0), 0.0)
    return fc, a_s, a_i


def _rate_target(y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """tsintermittent's MAR/MSR target: cumulative mean demand, held over the first 30%."""
    T, S = y.shape
    n = T - start
    cnt = np.maximum(np.arange(T)[:, None] - start[None, :] + 1, 1)
    rate = np.cumsum(y, axis=0) / cnt
    k0 = np.ceil(0.3 * n).astype(np.int64)
    ref_row = start + k0 - 1
    ref = rate[ref_row, np.arange(S)]
    return np.where(np.arange(T)[:, None] <= ref_row[None, :], ref[None, :], rate)


def _croston_grid_cost(
    y: np.ndarray,
    start: np.ndarray,
    a_size: np.ndarray,
    a_int: np.ndarray,
    cost: str,
    target: np.ndarray | None,
) -> np.ndarray:
    """Cost of every (size constant, interval constant) pair, shape (S, Gs, Gi)."""
    T, S = y.shape
    gs, gi = a_size.shape[1], a_int.shape[1]
    z = np.zeros((S, gs))
    x = np.ones((S, gi))
    q = np.zeros(S)
    seen = np.zeros(S, dtype=bool)
    err_sum = np.zeros((S, gs, gi))
    for t in range(T):
        yt = y[t]
        if seen.any():
            f = z[:, :, None] / x[:, None, :]
            ref = (target[t] if target is not None else yt)[:, None, None]
            e = f - ref
            e = e * e if cost in ("mse", "msr") else np.abs(e)
            err_sum += seen[:, None, None] * e
        q += start <= t
        d = yt > 0
        first = (d & ~seen)[:, None]
        upd = (d & seen)[:, None]
        z += (first + upd * a_size) * (yt[:, None] - z)
        x += (first + upd * a_int) * (q[:, None] - x)
        q *= ~d
        seen |= d
    return err_sum


def _croston_opt_grid(
    y: np.ndarray, start: np.ndarray, bounds: tuple[float, float], cost: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Croston with per-series constants from a coarse-to-fine grid search."""
    S = y.shape[1]
    lo, hi = bounds
    target = _rate_target(y, start) if cost in ("mar", "msr") else None
    coarse = np.linspace(lo, hi, 6)
    grid = np.broadcast_to(coarse, (S, coarse.size))
    err = _croston_grid_cost(y, start, grid, grid, cost, target)
    flat = err.reshape(S, -1).argmin(axis=1)
    best_s = coarse[flat // coarse.size]
    best_i = coarse[flat % coarse.size]
    step = (hi - lo) / 5
    offsets = np.array([-1.0, 0.0, 1.0])
    for _ in range(6):
        step /= 2
        cs = np.clip(best_s[:, None] + offsets * step, lo, hi)
        ci = np.clip(best_i[:, None] + offsets * step, lo, hi)
        err = _croston_grid_cost(y, start, cs, ci, cost, target)
        flat = err.reshape(S, -1).argmin(axis=1)
        best_s = cs[np.arange(S), flat // 3]
        best_i = ci[np.arange(S), flat % 3]
    fc, _ = _croston_core(y, start, best_s, best_i)
    return fc, best_s, best_i


# ----------------------------------------------------------------------------------------
# Combination and automatic recalibration
# ----------------------------------------------------------------------------------------


def _combination_core(y: np.ndarray, start: np.ndarray, prm: dict) -> np.ndarray:
    """Median or mean of the members' forecasts, series by series."""
    fc = np.stack([
        _point_arrays(m, y, start, _method_params(m, None))[0] for m in prm["members"]
    ])
    return np.median(fc, axis=0) if prm["how"] == "median" else fc.mean(axis=0)


def _activity_group(y: np.ndarray, start: np.ndarray, window: int, cuts: tuple[int, ...]) -> np.ndarray:
    """Group of each series: its number of periods with demand in its last ``window`` periods
    (its own periods only), binned at ``cuts`` (0 below ``cuts[0]``, 1 from it, ...)."""
    T = y.shape[0]
    rows = np.arange(T)[:, None]
    recent = (rows >= T - window) & (rows >= start[None, :])
    k = ((y > 0) & recent).sum(axis=0)
    return np.searchsorted(np.asarray(cuts, dtype=np.int64), k, side="right")


def _naive_scale_sq(y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Mean squared one-step change of each series from its first demand on (the M5 RMSSE
    scale); NaN where there is no demand or no change to average."""
    T = y.shape[0]
    d = y > 0
    has = d.any(axis=0)
    first = np.where(has, np.argmax(d, axis=0), T)
    diff2 = np.diff(y, axis=0) ** 2  # row t: change from period t to t + 1
    valid = np.arange(T - 1)[:, None] >= first[None, :]
    n = valid.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, (diff2 * valid).sum(axis=0) / n, np.nan)


def _best_factors(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, group: np.ndarray, n_groups: int,
    bounds: tuple[float, float],
) -> np.ndarray:
    """Per group ``g``, the factor ``k`` in ``bounds`` minimising the group's
    ``mean(sqrt(a - 2 k b + k^2 c))``; all groups searched at once.

    ``a - 2 k b + k^2 c`` is one series' scaled mean squared error of ``k`` times its
    forecast; its square root is a norm of an affine function of ``k``, so each group's
    mean is convex and golden-section search finds its minimum (to 1e-6). A group keeps
    the factor 1 unless moving it lowers the mean.
    """
    counts = np.maximum(np.bincount(group, minlength=n_groups), 1)

    def f(k: np.ndarray) -> np.ndarray:
        kk = k[group]
        err = np.sqrt(np.maximum(a - 2.0 * kk * b + kk * kk * c, 0.0))
        return np.bincount(group, weights=err, minlength=n_groups) / counts

    lo = np.full(n_groups, float(bounds[0]))
    hi = np.full(n_groups, float(bounds[1]))
    x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f1, f2 = f(x1), f(x2)
    n_iter = int(np.ceil(np.log(1e-6 / (bounds[1] - bounds[0])) / np.log(_GOLDEN)))
    for _ in range(max(n_iter, 0)):
        left = f1 <= f2  # minimum in [lo, x2]
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        new = np.where(left, hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo))
        fn = f(new)
        x1, x2, f1, f2 = (
            np.where(left, new, x2),
            np.where(left, x1, new),
            np.where(left, fn, f2),
            np.where(left, f1, fn),
        )
    k = (lo + hi) / 2
    return np.where(f(k) < f(np.ones(n_groups)), k, 1.0)


def _auto_factors(y: np.ndarray, start: np.ndarray, prm: dict) -> np.ndarray:
    """Level factor of each activity group, fitted on the last ``holdout`` periods."""
    T = y.shape[0]
    h = prm["holdout"]
    n_groups = len(prm["cuts"]) + 1
    factors = np.ones(n_groups)
    cut = T - h
    usable = start <= cut - 2  # at least two periods before the held-out ones
    if cut < 2 or not usable.any():
        return factors
    y_in = y[:cut][:, usable]
    s_in = start[usable]
    y_out = y[cut:][:, usable]
    base = prm["base"]
    fc, _ = _point_arrays(base, y_in, s_in, _method_params(base, None))
    scale = _naive_scale_sq(y_in, s_in)
    ok = np.isfinite(scale) & (scale > 0)
    # Scaled MSE of k * fc on the held-out periods: a - 2 k b + k^2 c.
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (np.mean(y_out ** 2, axis=0) / scale)[ok]
        b = (fc * np.mean(y_out, axis=0) / scale)[ok]
        c = (fc * fc / scale)[ok]
    group = _activity_group(y_in, s_in, prm["window"], prm["cuts"])[ok]
    if prm["objective"] == "mse":  # the pooled scaled squared error: closed form
        sb = np.bincount(group, weights=b, minlength=n_groups)
        sc = np.bincount(group, weights=c, minlength=n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            fitted = np.where(sc > 0, np.clip(sb / sc, *prm["factor_bounds"]), 1.0)
    else:
        fitted = _best_factors(a, b, c, group, n_groups, prm["factor_bounds"])
    enough = np.bincount(group, minlength=n_groups) >= prm["min_series"]
    return np.where(enough, fitted, factors)


def _auto_core(y: np.ndarray, start: np.ndarray, prm: dict) -> np.ndarray:
    base = prm["base"]
    fc, _ = _point_arrays(base, y, start, _method_params(base, None))
    factors = _auto_factors(y, start, prm)
    return fc * factors[_activity_group(y, start, prm["window"], prm["cuts"])]


# ----------------------------------------------------------------------------------------
# Point forecasts
# ----------------------------------------------------------------------------------------


def _point(method: str, panel: Panel, prm: dict, fitted: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-series one-step forecast (flat over the horizon) and optional fitted values."""
    return _point_arrays(method, panel.y, panel.start, prm, fitted)


def _point_arrays(
    method: str, y: np.ndarray, start: np.ndarray, prm: dict, fitted: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`_point` on a bare (T, S) right-aligned panel and its start rows."""
    if method == "combination":
        return _combination_core(y, start, prm), None
    if method == "auto":
        return _auto_core(y, start, prm), None
    if method in ("croston", "sba"):
        fc, fit = _croston_core(y, start, prm["alpha_size"], prm["alpha_interval"], fitted)
        if method == "sba":
            factor = 1.0 - prm["alpha_interval"] / 2.0
            fc = fc * factor
            fit = fit * factor if fit is not None else None
        return fc, fit
    if method == "tsb":
        return _tsb_core(y, start, prm["alpha_p"], prm["alpha_d"], fitted)
    if method == "croston_opt":
        out = np.zeros(y.shape[1])
        a_s = np.zeros(y.shape[1])
        a_i = np.zeros(y.shape[1])
        for blk in _blocks(y.shape[1]):
            if prm["cost"] == "ses_sse":
                out[blk], a_s[blk], a_i[blk] = _croston_opt_sse(y[:, blk], start[blk], prm["bounds"])
            else:
                out[blk], a_s[blk], a_i[blk] = _croston_opt_grid(
                    y[:, blk], start[blk], prm["bounds"], prm["cost"]
                )
        fit = _croston_core(y, start, a_s, a_i, True)[1] if fitted else None
        return out, fit
    if method == "adida":
        return _adida_core(y, start, prm["bounds"]), None
    if method == "imapa":
        return _imapa_core(y, start, prm["bounds"]), None
    if method == "zero":
        fit = np.where(np.arange(y.shape[0])[:, None] > start[None, :], 0.0, np.nan) if fitted else None
        return np.zeros(y.shape[1]), fit
    if method == "naive":
        fit = None
        if fitted:
            fit = np.full_like(y, np.nan)
            fit[1:] = np.where(np.arange(1, y.shape[0])[:, None] > start[None, :], y[:-1], np.nan)
        return y[-1].copy(), fit
    raise AssertionError(method)  # pragma: no cover - methods are validated upstream


def forecast(
    df: pd.DataFrame,
    h: int,
    methods: str | Sequence[str] = ("croston", "sba", "tsb"),
    freq: str | int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Point forecasts of intermittent demand for every series of a long frame.

    Parameters
    ----------
    df : pandas.DataFrame
        Long format with columns ``unique_id``, ``ds`` (datetime or integer period) and
        ``y`` (demand >= 0), one row per series and period. Periods missing between a
        series' first and last row count as zero demand (see the module docs).
    h : int
        Number of future periods, >= 1.
    methods : str or sequence of str
        Any of :data:`METHODS`; one output column each, named as given.
    freq : str or int, optional
        pandas frequency of ``ds`` (e.g. ``"MS"``); inferred from the dates when omitted.
        For integer ``ds`` the step between periods (default 1).
    params : dict, optional
        Per-method settings overriding the defaults, e.g.
        ``{"tsb": {"alpha_p": 0.05}, "croston_opt": {"cost": "mse"}}``. Settings:
        croston/sba ``alpha_size``, ``alpha_interval`` (0.1, 0.1); tsb ``alpha_p``,
        ``alpha_d`` (0.1, 0.1); croston_opt ``cost`` (``"mar"``; or ``"msr"``, ``"mse"``,
        ``"mae"``, ``"ses_sse"``) and ``bounds`` ((0.05, 0.3)); adida/imapa ``bounds``
        ((0.1, 0.3)); combination ``members`` (("sba", "tsb", "adida", "imapa")) and
        ``how`` (``"median"`` or ``"mean"``); auto ``base`` (``"imapa"``), ``holdout``
        (12), ``window`` (12), ``cuts`` ((3,)), ``factor_bounds`` ((0.25, 4.0)),
        ``min_series`` (20) and ``objective`` (``"rmsse"`` or ``"mse"``). The members of a
        combination and the base of ``auto`` use their default settings.

    Returns
    -------
    pandas.DataFrame
        Columns ``unique_id``, ``ds`` and one per method; ``h`` rows per series, sorted by
        ``unique_id`` then ``ds``. Forecasts are flat over the horizon (demand per period).

    Raises
    ------
    ValueError
        On missing columns, non-numeric/NaN/negative ``y``, duplicate (unique_id, ds),
        dates off a regular calendar, unknown methods or settings, or ``h < 1``; the
        message names the offending column, row or value and how to fix it.

    Examples
    --------
    >>> df = pd.DataFrame({"unique_id": "p1", "ds": pd.date_range("2024-01-01", periods=6,
    ...                    freq="MS"), "y": [0, 2, 0, 0, 1, 0]})
    >>> forecast(df, h=2, methods=["croston", "sba"]).round({"croston": 4, "sba": 4})
      unique_id         ds  croston     sba
    0        p1 2024-07-01   0.9048  0.8595
    1        p1 2024-08-01   0.9048  0.8595

    Sizes (2, 1) and intervals (2, 3) smooth to 1.9 and 2.1: 1.9 / 2.1 = 0.9048.
    """
    h = check_h(h)
    methods = check_methods(methods)
    _check_params_keys(params, methods)
    prms = {m: _method_params(m, params) for m in methods}
    panel = to_panel(df, freq)
    out = _frame_skeleton(panel, h)
    for m in methods:
        fc, _ = _point(m, panel, prms[m])
        out[m] = np.repeat(fc, h)
    return out


def _frame_skeleton(panel: Panel, h: int) -> pd.DataFrame:
    S = panel.y.shape[1]
    return pd.DataFrame(
        {
            "unique_id": panel.uids.repeat(h),
            "ds": panel.future_ds(h),
        },
        index=pd.RangeIndex(S * h),
    )


# ----------------------------------------------------------------------------------------
# Classification
# ----------------------------------------------------------------------------------------


def classify(df: pd.DataFrame, freq: str | int | None = None) -> pd.DataFrame:
    """Syntetos-Boylan-Croston demand classes.

    Parameters
    ----------
    df : pandas.DataFrame
        Long format (``unique_id``, ``ds``, ``y``) as for :func:`forecast`.
    freq : str or int, optional
        Frequency of ``ds``; inferred when omitted.

    Returns
    -------
    pandas.DataFrame
        One row per series: ``unique_id``, ``n_periods``, ``n_demands``, ``adi``, ``cv2``
        and ``category``.

        * ``adi`` -- mean inter-demand interval, the first interval counted from the series
          start (the intervals Croston smooths): ``(last demand position + 1) / n_demands``,
          as tsintermittent's ``idclass``. ``inf`` without demand.
        * ``cv2`` -- squared coefficient of variation of the non-zero sizes, sample
          standard deviation (ddof=1) as R's ``sd``. NaN with fewer than two demands.
        * ``category`` -- with the cut-offs ADI 1.32 and CV² 0.49 (Syntetos, Boylan &
          Croston 2005): ``smooth`` (ADI <= 1.32, CV² <= 0.49), ``erratic`` (ADI <= 1.32,
          CV² > 0.49), ``intermittent`` (ADI > 1.32, CV² <= 0.49), ``lumpy`` (both above);
          ``no_demand`` for series without demand. A single demand (CV² NaN) shows no size
          variability and is classed as if CV² = 0.
    """
    panel = to_panel(df, freq)
    y, start = panel.y, panel.start
    k, adi = _demand_stats(y, start)
    # Zeros add nothing to the sums, so the size moments come from whole columns.
    s1 = y.sum(axis=0)
    s2 = (y * y).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / k
        var = (s2 - k * mean * mean) / (k - 1)
        cv2 = np.where(k >= 2, np.maximum(var, 0.0) / (mean * mean), np.nan)
    high_adi = adi > ADI_CUTOFF
    high_cv = np.nan_to_num(cv2, nan=0.0) > CV2_CUTOFF
    cat = np.where(
        high_adi,
        np.where(high_cv, "lumpy", "intermittent"),
        np.where(high_cv, "erratic", "smooth"),
    ).astype(object)
    cat[k == 0] = "no_demand"
    return pd.DataFrame(
        {
            "unique_id": panel.uids,
            "n_periods": panel.n,
            "n_demands": k,
            "adi": adi,
            "cv2": cv2,
            "category": pd.array(cat, dtype="str"),
        }
    )


# ----------------------------------------------------------------------------------------
# Distributions
# ----------------------------------------------------------------------------------------

_FITTED_METHODS = ("croston", "croston_opt", "sba", "tsb", "zero", "naive")


def _dispersion(
    panel: Panel,
    fit: np.ndarray | None,
    how: str,
    shrinkage: float,
) -> np.ndarray:
    """Variance-to-mean ratio per series, shrunk toward the pooled median, floored at 1.

    ``how="errors"`` uses the in-sample one-step errors ``sum (y - f)^2 / sum f`` over the
    periods with a forecast; ``"vmr"`` the history's ``var(y) / mean(y)`` (ddof=1). The
    raw ratio of a series with ``w`` usable periods is shrunk as
    ``(w * r + shrinkage * pooled) / (w + shrinkage)``.
    """
    y, start = panel.y, panel.start
    T, S = y.shape
    if how == "errors" and fit is not None:
        ok = np.isfinite(fit)
        w = ok.sum(axis=0).astype(np.float64)
        e2 = np.where(ok, (y - np.where(ok, fit, 0.0)) ** 2, 0.0).sum(axis=0)
        fs = np.where(ok, fit, 0.0).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = np.where(fs > 0, e2 / fs, np.nan)
    else:
        n = (T - start).astype(np.float64)
        s1 = y.sum(axis=0)
        s2 = (y * y).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s1 / n
            var = (s2 - n * mean * mean) / (n - 1)
            raw = np.where((mean > 0) & (n >= 2), np.maximum(var, 0.0) / mean, np.nan)
        w = n
    finite = np.isfinite(raw)
    pooled = float(np.median(raw[finite])) if finite.any() else 1.0
    w = np.where(finite, w, 0.0)
    raw = np.where(finite, raw, 0.0)
    phi = (w * raw + shrinkage * pooled) / (w + shrinkage)
    return np.maximum(phi, 1.0)


def _check_quantiles(quantiles: Iterable[float]) -> list[float]:
    qs = list(quantiles)
    for q in qs:
        if not (isinstance(q, (int, float, np.floating)) and 0 < q < 1):
            raise ValueError(f"quantiles must be numbers strictly between 0 and 1; got {q!r}.")
    return qs


def _qname(q: float) -> str:
    return f"q{q:g}"


def _dist_inputs(
    df: pd.DataFrame,
    method: str,
    freq: Any,
    params: Mapping[str, Mapping[str, Any]] | None,
    dispersion: str,
    shrinkage: float,
) -> tuple[Panel, np.ndarray, np.ndarray]:
    check_methods([method])
    _check_params_keys(params, [method])
    if dispersion not in ("errors", "vmr"):
        raise ValueError(f"dispersion must be 'errors' or 'vmr'; got {dispersion!r}.")
    if not (isinstance(shrinkage, (int, float, np.floating)) and shrinkage >= 0):
        raise ValueError(f"shrinkage must be a number >= 0 (periods); got {shrinkage!r}.")
    prm = _method_params(method, params)
    panel = to_panel(df, freq)
    use_fit = dispersion == "errors" and method in _FITTED_METHODS
    mean, fit = _point(method, panel, prm, fitted=use_fit)
    phi = _dispersion(panel, fit, "errors" if use_fit else "vmr", float(shrinkage))
    return panel, mean, phi


def forecast_distribution(
    df: pd.DataFrame,
    h: int,
    method: str = "sba",
    quantiles: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99),
    freq: str | int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    dispersion: str = "errors",
    shrinkage: float = 12.0,
) -> pd.DataFrame:
    """Per-period demand distributions around a point forecast.

    The demand of each future period has mean ``mu`` (the point forecast of ``method``) and
    variance ``phi * mu``, and the package's count law for them
    (:func:`partsforecast.counts.count_law`): negative binomial, Poisson where ``phi = 1``
    (no overdispersion), and ``phi * Poisson(mu / phi)`` in the rare case of a whole-number
    ``phi >= 2``. ``phi`` is a per-series variance-to-mean ratio:

    * ``dispersion="errors"`` (default): ``sum (y_t - f_t)^2 / sum f_t`` over the in-sample
      one-step forecasts ``f_t`` of the method (periods after the first demand). For
      ``adida``, ``imapa``, ``combination`` and ``auto``, which have no cheap in-sample
      forecasts, ``"vmr"`` is used.
    * ``dispersion="vmr"``: ``var(y) / mean(y)`` of the history (ddof=1).

    Short series are shrunk toward the pooled value (the median ratio over all series):
    ``phi = (w * r + shrinkage * pooled) / (w + shrinkage)``, ``w`` the number of periods
    behind ``r``; then ``phi = max(phi, 1)``. Periods are treated as independent given the
    forecast (parameter uncertainty is not added).

    Parameters
    ----------
    df, h, freq, params
        As for :func:`forecast`.
    method : str
        One of :data:`METHODS` (default ``"sba"``).
    quantiles : sequence of float
        Probability levels in (0, 1) for the quantile columns.
    dispersion : {"errors", "vmr"}
        How ``phi`` is estimated (see above).
    shrinkage : float
        Weight of the pooled ratio, in periods (default 12).

    Returns
    -------
    pandas.DataFrame
        ``unique_id``, ``ds``, ``mean``, ``var``, ``dispersion`` (``phi``) and one column
        per quantile named ``q{level}`` (e.g. ``q0.9``); ``h`` rows per series.
    """
    h = check_h(h)
    qs = _check_quantiles(quantiles)
    panel, mean, phi = _dist_inputs(df, method, freq, params, dispersion, shrinkage)
    out = _frame_skeleton(panel, h)
    out["mean"] = np.repeat(mean, h)
    out["var"] = np.repeat(phi * mean, h)
    out["dispersion"] = np.repeat(phi, h)
    qv = count_law(mean, phi * mean).quantiles(qs)
    for j, q in enumerate(qs):
        out[_qname(q)] = np.repeat(qv[:, j], h)
    return out


def lead_time_demand(
    df: pd.DataFrame,
    lead_time_periods: float | Mapping[Any, float] | pd.Series,
    method: str = "sba",
    quantiles: Sequence[float] | None = None,
    freq: str | int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    dispersion: str = "errors",
    shrinkage: float = 12.0,
) -> pd.DataFrame:
    """Distribution of the total demand over a lead time of ``L`` periods.

    The per-period forecasts of :func:`forecast_distribution` summed over the lead time by
    the package's one lead-time demand, :func:`partsforecast.lead_time_demand` (periods
    independent, the last one pro rata): the mean is ``mu * L`` and the variance
    ``phi * mu * L``, ``L`` may be fractional, and the distribution is the count law of that
    mean and variance (:func:`partsforecast.counts.count_law`; negative binomial, Poisson
    where ``phi = 1``).

    Parameters
    ----------
    df, method, freq, params, dispersion, shrinkage
        As for :func:`forecast_distribution`.
    lead_time_periods : float, mapping or pandas.Series
        Lead time in periods (>= 0): one number for all series, or a value per
        ``unique_id`` (a dict or a Series indexed by ``unique_id``; every series needs one).
    quantiles : sequence of float, optional
        If given, adds ``q{level}`` columns with quantiles of the lead-time demand.

    Returns
    -------
    pandas.DataFrame
        One row per series: ``unique_id``, ``lead_time``, ``mean``, ``var``,
        ``dispersion`` and the optional quantile columns.
    """
    qs = _check_quantiles(quantiles) if quantiles is not None else None
    panel, mean, phi = _dist_inputs(df, method, freq, params, dispersion, shrinkage)
    if isinstance(lead_time_periods, (Mapping, pd.Series)):
        lt_map = pd.Series(lead_time_periods, dtype=np.float64) if isinstance(
            lead_time_periods, Mapping
        ) else lead_time_periods.astype(np.float64)
        lt = lt_map.reindex(panel.uids).to_numpy(dtype=np.float64)
        missing = np.isnan(lt)
        if missing.any():
            raise ValueError(
                f"lead_time_periods has no value for {int(missing.sum())} series, first "
                f"{panel.uids[int(np.flatnonzero(missing)[0])]!r}: give a lead time for every "
                f"unique_id in df (or one number for all)."
            )
    else:
        if not isinstance(lead_time_periods, (int, float, np.integer, np.floating)):
            raise ValueError(
                f"lead_time_periods must be a number or a per-unique_id mapping/Series; got "
                f"{type(lead_time_periods).__name__}."
            )
        lt = np.full(panel.y.shape[1], float(lead_time_periods))
    bad = ~np.isfinite(lt) | (lt < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"lead_time_periods must be finite and >= 0; got {lt[i]!r} for unique_id "
            f"{panel.uids[i]!r}."
        )
    # The per-period forecasts over enough numbered periods, summed by the one lead-time
    # demand (a series' periods all have the same mean and variance).
    h = max(1, int(np.ceil(lt.max(initial=0.0))))
    uids = np.asarray(panel.uids)
    per_period = pd.DataFrame({
        "unique_id": np.repeat(uids, h),
        "period": np.tile(np.arange(h, dtype=np.float64), uids.size),
        "mean": np.repeat(mean, h),
        "var": np.repeat(phi * mean, h),
    })
    summed = demand_over_lead_time(per_period, pd.Series(lt, index=uids), keys=["unique_id"], quantiles=qs)
    out = summed.set_index("unique_id").reindex(uids)
    out = pd.DataFrame({
        "unique_id": panel.uids,
        "lead_time": lt,
        "mean": out["mean"].to_numpy(float),
        "var": out["var"].to_numpy(float),
        "dispersion": phi,
        **{_qname(q): out[_qname(q)].to_numpy(np.int64) for q in qs or ()},
    })
    return out
