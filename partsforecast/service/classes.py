"""Part classes: ABC by annual demand value, the demand pattern by ADI and CV², a suggested
forecast method per pattern and a fill-rate target per class; and the rule that combines
class targets with the plan's tier targets.

ABC (the Pareto classification of inventory texts such as Silver, Pyke & Thomas): parts
ranked by the value of their demand over the last year; A are the first parts, that
together reach :data:`A_SHARE` (80 %) of the value; B the next, up to :data:`B_SHARE`
(95 %); C the rest, with every part without demand.

Demand pattern (Syntetos, Boylan & Croston 2005): ADI, the average number of periods per
period with demand, and CV², the squared coefficient of variation of the non-zero demand
sizes, against the cut-offs 1.32 and 0.49: ``smooth`` (ADI ≤ 1.32, CV² ≤ 0.49),
``erratic`` (ADI ≤ 1.32, CV² > 0.49), ``intermittent`` (ADI > 1.32, CV² ≤ 0.49),
``lumpy`` (both above). SBC derived the cut-offs by comparing the theoretical mean squared
error of Croston's method and its bias-corrected form (SBA): SBA wins when either figure is
above its cut-off, Croston in the smooth quadrant; :data:`PATTERN_METHODS` follows that,
with the method names of :mod:`partsforecast.intermittent`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from partsforecast.data import Fleet
from partsforecast.service.kpis import check_freq

__all__ = [
    "ADI_CUTOFF",
    "A_SHARE",
    "B_SHARE",
    "COMBINE_RULES",
    "CV2_CUTOFF",
    "DEFAULT_CLASS_TARGETS",
    "MAX_TARGET",
    "PART_CLASS_COLUMNS",
    "PATTERN_METHODS",
    "abc_classes",
    "combine_targets",
    "demand_patterns",
    "part_classes",
]

#: A parts reach this share of the annual demand value…
A_SHARE = 0.80
#: … and A and B parts together this share; C parts hold the rest.
B_SHARE = 0.95
#: Syntetos, Boylan & Croston (2005) cut-offs (as :mod:`partsforecast.intermittent`).
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
#: Suggested forecast method per pattern (names of :data:`partsforecast.intermittent.METHODS`):
#: SBC's result, Croston in the smooth quadrant and SBA elsewhere; nothing to forecast
#: without demand.
PATTERN_METHODS: dict[str, str] = {"smooth": "croston", "erratic": "sba", "intermittent": "sba",
                                   "lumpy": "sba", "no_demand": "zero"}
#: Suggested fill-rate target per ABC class: the parts that carry the value get the most
#: service for the money; C parts are cheap to hold, but many.
DEFAULT_CLASS_TARGETS: dict[str, float] = {"A": 0.97, "B": 0.93, "C": 0.85}
#: Rules of :func:`combine_targets`.
COMBINE_RULES = ("max", "scale")
#: The highest fill-rate target a plan accepts (as ``partsforecast.plan.MAX_FILL_RATE_TARGET``).
MAX_TARGET = 0.999

#: Columns of :func:`part_classes` (and ``part_classes.csv``).
PART_CLASS_COLUMNS = ["part_number", "description", "component", "unit_cost", "annual_units", "annual_value",
                      "value_share", "cumulative_share", "abc", "n_periods", "n_demands", "adi", "cv2",
                      "pattern", "method", "fill_rate_target"]


def _check_share(name: str, value: Any) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not 0 < float(value) <= 1:
        raise ValueError(f"{name} must be a share in (0, 1], got {value!r}")
    return float(value)


def abc_classes(values: pd.Series | np.ndarray, a_share: float = A_SHARE,
                b_share: float = B_SHARE) -> pd.DataFrame:
    """ABC classes of items by value.

    Items are ranked by value, largest first (ties in the order given). An item is A when
    the items ranked above it hold less than ``a_share`` of the total (so A reaches at least
    that share), B when they hold less than ``b_share``, C otherwise; items with no value
    are C.

    Parameters
    ----------
    values : Series or array
        Value per item (≥ 0), e.g. annual demand value.
    a_share, b_share : float
        The cumulative shares, ``0 < a_share < b_share <= 1``.

    Returns
    -------
    DataFrame
        Aligned with ``values``: ``value_share``, ``cumulative_share`` (the share of the
        items ranked above it and itself), ``abc``.
    """
    a_share, b_share = _check_share("a_share", a_share), _check_share("b_share", b_share)
    if not a_share < b_share:
        raise ValueError(f"a_share must be below b_share, got {a_share} and {b_share}")
    index = values.index if isinstance(values, pd.Series) else None
    v = np.asarray(values, dtype=float)
    if v.size and (not np.isfinite(v).all() or (v < 0).any()):
        raise ValueError("values must be finite and ≥ 0")
    total = v.sum()
    order = np.argsort(-v, kind="stable")
    before = np.empty_like(v)
    before[order] = np.cumsum(v[order]) - v[order]
    share = v / total if total > 0 else np.zeros_like(v)
    above = before / total if total > 0 else np.ones_like(v)
    abc = np.where(v <= 0, "C", np.where(above < a_share, "A", np.where(above < b_share, "B", "C")))
    return pd.DataFrame({"value_share": share, "cumulative_share": above + share,
                         "abc": pd.array(abc, dtype="str")}, index=index)


def demand_patterns(demand: np.ndarray) -> pd.DataFrame:
    """ADI, CV² and the Syntetos–Boylan–Croston pattern of demand series.

    Parameters
    ----------
    demand : array, shape (periods, series)
        Demand per period (≥ 0), every column one series over the same window.

    Returns
    -------
    DataFrame
        One row per series: ``n_periods``, ``n_demands`` (periods with demand), ``adi`` =
        n_periods / n_demands (inf without demand), ``cv2`` = (sample standard deviation /
        mean)² of the non-zero demands (ddof = 1; NaN with fewer than two), ``pattern``
        (``smooth``, ``erratic``, ``intermittent``, ``lumpy``, ``no_demand``; one demand
        counts as CV² = 0, as in :func:`partsforecast.intermittent.classify`).

    Notes
    -----
    ADI counts the whole window, leading and trailing periods without demand included:
    a part demanded once in two years has ADI 24 (monthly), whatever the month.
    :func:`partsforecast.intermittent.classify` counts Croston's intervals instead, from the
    series start to its last demand.
    """
    y = np.asarray(demand, dtype=float)
    if y.ndim != 2:
        raise ValueError("demand must be a 2-D array (periods, series)")
    n = y.shape[0]
    k = (y > 0).sum(axis=0)
    s1, s2 = y.sum(axis=0), (y * y).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(k > 0, n / k, np.inf)
        mean = s1 / k
        var = (s2 - k * mean * mean) / (k - 1)
        cv2 = np.where(k >= 2, np.maximum(var, 0.0) / (mean * mean), np.nan)
    high_adi = adi > ADI_CUTOFF
    high_cv = np.nan_to_num(cv2, nan=0.0) > CV2_CUTOFF
    pattern = np.where(high_adi, np.where(high_cv, "lumpy", "intermittent"),
                       np.where(high_cv, "erratic", "smooth")).astype(object)
    pattern[k == 0] = "no_demand"
    return pd.DataFrame({"n_periods": np.full(y.shape[1], n, dtype=np.int64), "n_demands": k.astype(np.int64),
                         "adi": adi, "cv2": cv2, "pattern": pd.array(pattern, dtype="str")})


def _check_targets(name: str, targets: Mapping, keys=None) -> dict:
    if not isinstance(targets, Mapping) or not targets:
        raise ValueError(f"{name} must be a mapping of fill-rate targets, got {targets!r}")
    out = {}
    for key, value in targets.items():
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not ok or not 0 < float(value) <= MAX_TARGET:
            raise ValueError(f"{name}[{key!r}] must be a fill rate > 0 and at most {MAX_TARGET}, got {value!r}")
        out[key] = float(value)
    return out


def part_classes(
    fleet: Fleet,
    *,
    a_share: float = A_SHARE,
    b_share: float = B_SHARE,
    window_days: float = 365.0,
    history_periods: int = 24,
    freq: str = "MS",
    class_targets: Mapping[str, float] | None = None,
    methods: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """ABC class, demand pattern, suggested method and fill-rate target of every part.

    Parameters
    ----------
    fleet : Fleet
    a_share, b_share : float, default 0.80, 0.95
        ABC cut-offs on the cumulative share of the annual demand value (:func:`abc_classes`).
    window_days : float, default 365
        Demand value: units demanded in the tickets of this many days before the as-of date
        × unit cost, scaled to a year.
    history_periods : int, default 24
        The pattern is read from the network's demand (units) of every part over this many
        whole periods before the as-of date (:func:`demand_patterns`).
    freq : str, default "MS"
        The periods of the pattern (monthly).
    class_targets : mapping, optional
        Fill-rate target per ABC class; default :data:`DEFAULT_CLASS_TARGETS`.
    methods : mapping, optional
        Forecast method per pattern; default :data:`PATTERN_METHODS`.

    Returns
    -------
    DataFrame
        :data:`PART_CLASS_COLUMNS`, one row per part of the catalogue, by annual value
        (largest first): ``annual_units``, ``annual_value`` (money a year),
        ``value_share``, ``cumulative_share``, ``abc``, ``n_periods``, ``n_demands``,
        ``adi``, ``cv2``, ``pattern``, ``method``, ``fill_rate_target``.
    """
    if not isinstance(fleet, Fleet):
        raise TypeError(f"fleet must be a Fleet, got {type(fleet).__name__}")
    freq = check_freq(freq)
    if isinstance(history_periods, bool) or not isinstance(history_periods, (int, np.integer)) \
            or not 2 <= history_periods <= 600:
        raise ValueError(f"history_periods must be a whole number from 2 to 600, got {history_periods!r}")
    if not isinstance(window_days, (int, float, np.integer, np.floating)) or not 0 < window_days <= 36_500:
        raise ValueError(f"window_days must be a number of days > 0, got {window_days!r}")
    targets = _check_targets("class_targets", DEFAULT_CLASS_TARGETS if class_targets is None else class_targets)
    methods = dict(PATTERN_METHODS if methods is None else methods)
    missing = [c for c in ("A", "B", "C") if c not in targets]
    if missing:
        raise ValueError(f"class_targets needs a target for every class; missing {', '.join(missing)}")

    parts, tk, as_of = fleet.parts, fleet.tickets, fleet.as_of
    part_ids = pd.Index(parts["part_number"])
    line_part = part_ids.get_indexer(tk["part_number"])
    qty = tk["quantity"].to_numpy(dtype=float)
    opened = tk["opened_at"].to_numpy("datetime64[ns]")
    recent = opened >= (as_of - pd.Timedelta(days=float(window_days))).asm8
    units = np.bincount(line_part[recent], weights=qty[recent], minlength=len(parts)) * 365.0 / window_days
    value = units * parts["unit_cost"].to_numpy(dtype=float)
    abc = abc_classes(value, a_share, b_share)

    # Demand per whole period over the last history_periods periods before as_of.
    end = to_offset(freq).rollback(as_of.normalize())  # the current period is not whole
    starts = pd.date_range(end=end, periods=history_periods + 1, freq=freq)
    bins = starts.as_unit("ns").asi8
    pos = np.searchsorted(bins, opened.astype(np.int64), side="right") - 1
    inside = (pos >= 0) & (pos < history_periods)
    demand = np.zeros((history_periods, len(parts)))
    np.add.at(demand, (pos[inside], line_part[inside]), qty[inside])
    pat = demand_patterns(demand)

    unknown = sorted(set(pat["pattern"]) - set(methods))
    if unknown:
        raise ValueError(f"methods needs a method for every pattern; missing {', '.join(unknown)}")
    desc = parts["description"].astype("str") if "description" in parts.columns else pd.Series("", index=parts.index, dtype="str")
    out = pd.DataFrame({
        "part_number": parts["part_number"].array,
        "description": desc.fillna("").array,
        "component": parts["component"].array,
        "unit_cost": parts["unit_cost"].to_numpy(dtype=float),
        "annual_units": units,
        "annual_value": value,
        "value_share": abc["value_share"].to_numpy(),
        "cumulative_share": abc["cumulative_share"].to_numpy(),
        "abc": abc["abc"].array,
        "n_periods": pat["n_periods"].to_numpy(),
        "n_demands": pat["n_demands"].to_numpy(),
        "adi": pat["adi"].to_numpy(),
        "cv2": pat["cv2"].to_numpy(),
        "pattern": pat["pattern"].array,
        "method": pd.array(pat["pattern"].map(methods).to_numpy(dtype=object), dtype="str"),
        "fill_rate_target": abc["abc"].map(targets).to_numpy(dtype=float),
    })
    order = np.argsort(-value, kind="stable")
    return out.iloc[order].reset_index(drop=True)[PART_CLASS_COLUMNS]


def combine_targets(
    tier_targets: Mapping[int, float],
    class_targets: Mapping[str, float],
    part_class: Any,
    *,
    rule: str = "max",
    reference: str = "B",
) -> np.ndarray:
    """Fill-rate targets per (part, dealer tier) from the plan's tier targets and the parts' classes.

    Parameters
    ----------
    tier_targets : mapping
        The plan's target per dealer tier, e.g. ``{1: 0.95, 2: 0.93, 3: 0.90, 4: 0.90}``.
    class_targets : mapping
        Target per class, e.g. :data:`DEFAULT_CLASS_TARGETS`.
    part_class : array-like of str
        Every part's class (``part_classes(...)["abc"]``).
    rule : {"max", "scale"}, default "max"
        ``"max"``: the higher of the tier's and the class's target; a class raises the
        service of the parts that need it and never takes a dealer below its tier's
        commitment. ``"scale"``: the tier's target with its shortfall scaled by the class,
        ``1 - (1 - tier) × (1 - class) / (1 - class_targets[reference])``: the reference
        class gets the tier's target, a class with half its shortfall half the tier's
        shortfall; C parts may fall below the tier's target.
    reference : str, default "B"
        The class that gets the tier's own target under ``"scale"``.

    Returns
    -------
    ndarray, shape (n_parts, n_tiers)
        Row ``i`` for ``part_class[i]``, columns in ascending tier order
        (``sorted(tier_targets)``); capped at :data:`MAX_TARGET`.

    Examples
    --------
    >>> combine_targets({1: 0.95, 4: 0.90}, {"A": 0.97, "B": 0.93, "C": 0.85}, ["A", "C"])
    array([[0.97, 0.97],
           [0.95, 0.9 ]])
    """
    tiers = _check_targets("tier_targets", tier_targets)
    classes = _check_targets("class_targets", class_targets)
    if rule not in COMBINE_RULES:
        raise ValueError(f"rule must be one of {', '.join(map(repr, COMBINE_RULES))}, got {rule!r}")
    labels = np.asarray(pd.Series(part_class, dtype="object"), dtype=object)
    unknown = sorted({str(x) for x in labels} - {str(c) for c in classes})
    if unknown:
        raise ValueError(f"part_class holds classes without a target: {', '.join(unknown)}")
    keys = list(classes)
    idx = pd.Index([str(k) for k in keys]).get_indexer(labels.astype(str))
    cls = np.array([classes[k] for k in keys])[idx]
    tier = np.array([tiers[t] for t in sorted(tiers)])
    if rule == "max":
        out = np.maximum(tier[None, :], cls[:, None])
    else:
        if reference not in classes:
            raise ValueError(f"reference {reference!r} is not one of the classes {', '.join(map(str, keys))}")
        out = 1.0 - (1.0 - tier[None, :]) * (1.0 - cls[:, None]) / (1.0 - classes[reference])
    return np.clip(out, 0.0, MAX_TARGET)
