"""Installed-base demand forecast: from component lifetimes to parts per dealer and period.

For every machine in service at ``fleet.as_of`` and every component its model carries, the
expected number of failures in each future period is the increment of the *delayed renewal
function* of that component: the first failure comes from the Weibull life conditional on
the component's current age, and every replacement starts a fresh life. Failures become
parts through the BOM and are summed per servicing location.

Count distribution
------------------
Failures of one component on one machine in one period are (almost always) 0 or 1 with a
small probability; their sum over the machines at a dealer is Poisson-binomial, which the
Poisson law with the same mean approximates with total-variation error at most Σ pᵢ² (Le Cam,
1960; Barbour & Hall, 1984 give min(1, 1/λ)·Σ pᵢ²). So failures per (location, model,
component, period) are taken as independent Poissons, and the demand for a part, which is
``qty_per_replacement`` units per failure of every group that uses it, is *compound* Poisson.
Its distribution is computed exactly by Panjer's recursion (Panjer, 1981), which gives the
quantiles. The approximation is conservative for stocking: the Poisson variance is at least
the Poisson-binomial one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from partsforecast.lives import component_lives

__all__ = [
    "forecast_demand",
    "lead_time_demand",
    "forecast_span_days",
    "renewal_function",
    "expected_failures",
    "compound_poisson_quantiles",
    "compound_poisson_cdf",
    "DEFAULT_QUANTILES",
]

DEFAULT_QUANTILES = (0.5, 0.8, 0.9, 0.95, 0.99)

# Renewal-function table: grid points over [0, X_MAX] in units of the Weibull scale. Beyond
# X_MAX the asymptote x/μ + (σ²−μ²)/(2μ²) (Smith's theorem) is used; at 30 scales it is
# accurate to better than 1e-6 for every shape ≥ 0.5.
_GRID_POINTS = 600
_X_MAX = 30.0
# First-failure time is integrated over this many sub-steps per forecast period.
_SUBSTEPS = 2
# A machine-component whose renewal function over the whole horizon stays below this adds
# less than this to any period's mean; its second and later failures are skipped.
_RENEWAL_TOL = 1e-7
# Rows of machine-components handled at once in the renewal integral.
_CHUNK_ROWS = 100_000


def _weibull_cdf(x: np.ndarray, shape: np.ndarray | float) -> np.ndarray:
    return -np.expm1(-np.power(np.maximum(x, 0.0), shape))


def renewal_function(x: np.ndarray, shape: float | np.ndarray) -> np.ndarray:
    """Ordinary renewal function M(x) of a Weibull life with unit scale.

    M(x) is the expected number of failures in [0, x] of a component that is new at 0 and
    replaced at every failure. Computed by the Riemann–Stieltjes scheme of Xie (1989),
    "On the solution of renewal-type integral equations", *Commun. Statist. Simul.*
    18(1), on a 600-point grid up to 30 scales, and by Smith's asymptote beyond.

    Parameters
    ----------
    x : array_like
        Operating time in units of the scale (hours / scale).
    shape : float or array_like
        Weibull shape, broadcast against ``x``.

    Returns
    -------
    ndarray
        M(x), same shape as the broadcast inputs.
    """
    x, shape = np.broadcast_arrays(np.asarray(x, float), np.asarray(shape, float))
    uniq, inv = np.unique(shape.ravel(), return_inverse=True)
    table, dx = _renewal_tables(uniq, float(min(_X_MAX, max(np.max(x, initial=0.0), 1e-9))))
    return _lookup(table, dx, inv.reshape(x.shape), x, uniq)


def _renewal_tables(shapes: np.ndarray, x_max: float) -> tuple[np.ndarray, float]:
    """M on a uniform grid for every shape at once (rows) — a loop over grid steps only."""
    n = _GRID_POINTS
    dx = x_max / n
    grid = np.arange(n + 1) * dx
    F = _weibull_cdf(grid[None, :], shapes[:, None])  # (U, n+1)
    dF = np.diff(F, axis=1)  # dF[:, j-1] = F(x_j) − F(x_{j−1})
    M = np.zeros_like(F)
    half = np.zeros_like(F)  # half[:, m] = (M_m + M_{m+1}) / 2, filled as M grows
    for i in range(1, n + 1):
        # M_i = F_i + Σ_{j=1..i} dF_j · M(x_i − x_{j−½}); the j = 1 term holds M_i itself.
        acc = F[:, i] + 0.5 * dF[:, 0] * M[:, i - 1]
        if i >= 2:
            acc += np.einsum("uj,uj->u", dF[:, 1:i], half[:, i - 2::-1][:, : i - 1])
        M[:, i] = acc / (1.0 - 0.5 * dF[:, 0])
        half[:, i - 1] = 0.5 * (M[:, i - 1] + M[:, i])
    return M, dx


def _lookup(table: np.ndarray, dx: float, row: np.ndarray, x: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Linear interpolation in the per-shape tables; Smith's asymptote past the grid."""
    from scipy.special import gamma

    n = table.shape[1] - 1
    pos = np.clip(x / dx, 0.0, n)
    lo = np.minimum(pos.astype(np.int64), n - 1)
    frac = pos - lo
    flat = table.ravel()
    base = row * (n + 1) + lo
    out = flat[base] * (1 - frac) + flat[base + 1] * frac
    beyond = x > n * dx * (1 + 1e-12)
    if np.any(beyond):
        k = shapes[row[beyond]]
        mu = gamma(1 + 1 / k)
        var = gamma(1 + 2 / k) - mu**2
        out[beyond] = x[beyond] / mu + (var - mu**2) / (2 * mu**2)
    return out


def expected_failures(age: np.ndarray, hours: np.ndarray, shape: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Expected cumulative failures of running components at future operating hours.

    The delayed renewal function: the first failure follows the Weibull life conditional on
    survival to ``age``; each replacement starts a fresh life.

    Parameters
    ----------
    age : (R,) array
        Operating hours since the last replacement (or since new).
    hours : (R, P) array
        Operating hours from now at which to evaluate, increasing along each row.
    shape, scale : (R,) arrays
        Weibull parameters of each row's component.

    Returns
    -------
    (R, P) ndarray
        Expected number of failures in (0, hours].
    """
    age = np.asarray(age, float)
    hours = np.atleast_2d(np.asarray(hours, float))
    k = np.asarray(shape, float)[:, None]
    eta = np.asarray(scale, float)[:, None]
    a = (age[:, None] / eta) ** k
    first = -np.expm1(-(((age[:, None] + hours) / eta) ** k - a))  # F1 at each boundary
    out = first.copy()
    horizon = hours[:, -1]
    # Rows whose later renewals can matter: M(horizon/η) above the tolerance.
    x_end = horizon / eta[:, 0]
    uniq, inv = np.unique(k[:, 0], return_inverse=True)
    x_max = float(min(_X_MAX, max(np.max(x_end, initial=0.0), 1e-9)))
    table, dx = _renewal_tables(uniq, x_max)
    m_end = _lookup(table, dx, inv, x_end, uniq)
    rows_all = np.flatnonzero(m_end * first[:, -1] > _RENEWAL_TOL)
    # In blocks of rows, so that the (rows × sub-steps) work arrays stay a few hundred MB.
    for lo in range(0, rows_all.size, _CHUNK_ROWS):
        rows = rows_all[lo: lo + _CHUNK_ROWS]
        out[rows] += _later_renewals(rows, age, hours, k, eta, a, inv, table, dx, uniq)
    return out


def _later_renewals(rows, age, hours, k, eta, a, inv, table, dx, uniq) -> np.ndarray:
    """Second and later failures: Σ over first-failure sub-steps of ΔF1 · M(h − t)."""
    out = np.zeros((rows.size, hours.shape[1]))
    # Sub-step edges of the first-failure time within each period, from 0.
    P = hours.shape[1]
    h = hours[rows]
    starts = np.concatenate([np.zeros((rows.size, 1)), h[:, :-1]], axis=1)
    frac = (np.arange(_SUBSTEPS) + 0.5) / _SUBSTEPS
    edges_frac = np.arange(_SUBSTEPS + 1) / _SUBSTEPS
    widths = h - starts
    edges = (starts[:, :, None] + widths[:, :, None] * edges_frac).reshape(rows.size, P, _SUBSTEPS + 1)
    mids = (starts[:, :, None] + widths[:, :, None] * frac).reshape(rows.size, P * _SUBSTEPS)
    kk, ee, aa = k[rows], eta[rows], a[rows]
    F1e = -np.expm1(-(((age[rows, None, None] + edges) / ee[:, :, None]) ** kk[:, :, None] - aa[:, :, None]))
    dF1 = np.diff(F1e, axis=2).reshape(rows.size, P * _SUBSTEPS)
    rrow = np.repeat(inv[rows][:, None], P * _SUBSTEPS, axis=1)
    for p in range(P):
        nb = (p + 1) * _SUBSTEPS
        x = (h[:, p][:, None] - mids[:, :nb]) / ee
        out[:, p] = np.sum(dF1[:, :nb] * _lookup(table, dx, rrow[:, :nb], x, uniq), axis=1)
    return out


def _panjer_start(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Set up Panjer's recursion: the weights j·λⱼ, P(D = 0) and the buffer of past pₙ."""
    rates = np.atleast_2d(np.asarray(rates, float))
    C, J = rates.shape
    j_lam = rates * np.arange(1, J + 1)
    p0 = np.exp(-rates.sum(axis=1))
    buf = np.zeros((C, J))  # buf[:, 0] is p_{n-1}, buf[:, 1] p_{n-2} ...
    buf[:, 0] = p0
    return j_lam, p0, buf


def _panjer_step(j_lam: np.ndarray, buf: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """pₙ = (1/n) Σⱼ j λⱼ pₙ₋ⱼ for the rows given, and their buffer shifted by one."""
    m = min(n, j_lam.shape[1])
    pn = np.einsum("cj,cj->c", j_lam[:, :m], buf[:, :m]) / n
    buf = np.roll(buf, 1, axis=1)
    buf[:, 0] = pn
    return pn, buf


def compound_poisson_quantiles(rates: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of Σⱼ j·Nⱼ with independent Nⱼ ~ Poisson(rates[:, j−1]), per row.

    Panjer's recursion (Panjer, 1981, *ASTIN Bulletin* 12(1)): with λ = Σ λⱼ,
    p₀ = e^{−λ} and pₙ = (1/n) Σⱼ j λⱼ pₙ₋ⱼ. Vectorised over rows; rows leave the loop as
    soon as their distribution function passes the highest level.

    Parameters
    ----------
    rates : (C, J) array
        Poisson rate of failures that take j = 1..J units each, for C cells.
    levels : sequence of float in (0, 1)

    Returns
    -------
    (C, L) ndarray of int64
        The smallest n with P(D ≤ n) ≥ level.
    """
    levels = np.asarray(levels, float)
    j_lam, cdf, buf = _panjer_start(rates)
    C = j_lam.shape[0]
    out = np.zeros((C, levels.size), dtype=np.int64)
    done = cdf[:, None] >= levels[None, :]  # quantile 0
    active = np.flatnonzero(~done.all(axis=1))
    n = 0
    while active.size:
        n += 1
        pn, buf[active] = _panjer_step(j_lam[active], buf[active], n)
        cdf[active] += pn
        newly = (cdf[active, None] >= levels[None, :] - 1e-12) & ~done[active]
        if newly.any():
            r, c = np.nonzero(newly)
            out[active[r], c] = n
            done[active[r], c] = True
        still = ~done[active].all(axis=1)
        # Numerical floor: a cell whose remaining mass is below 1e-13 is finished.
        active = active[still & (1.0 - cdf[active] > 1e-13)]
    # Any level not reached because of round-off sits at the last n computed.
    out[~done] = n
    return out


def compound_poisson_cdf(rates: np.ndarray, values: np.ndarray) -> np.ndarray:
    """P(D ≤ value) for D = Σⱼ j·Nⱼ with independent Nⱼ ~ Poisson(rates[:, j−1]), per row.

    The distribution function behind :func:`compound_poisson_quantiles` (same recursion),
    for scoring forecasts against observed counts (e.g. the randomised PIT of count data,
    which needs P(D ≤ y) and P(D ≤ y − 1)).

    Parameters
    ----------
    rates : (C, J) array
        Poisson rate of failures that take j = 1..J units each, for C cells.
    values : (C,) array of int
        The count at which to evaluate each row's distribution function; negative values
        give 0.

    Returns
    -------
    (C,) ndarray
        P(D ≤ values[c]) per row.
    """
    values = np.asarray(values)
    if values.size and not np.array_equal(values, np.round(values)):
        raise ValueError("values must be whole counts")
    values = values.astype(np.int64)
    j_lam, p0, buf = _panjer_start(rates)
    if values.shape != (j_lam.shape[0],):
        raise ValueError(f"values must hold one count per row of rates ({j_lam.shape[0]}), "
                         f"got shape {values.shape}")
    cdf = np.where(values >= 0, p0, 0.0)
    active = np.flatnonzero(values >= 1)
    n = 0
    while active.size:
        n += 1
        pn, buf[active] = _panjer_step(j_lam[active], buf[active], n)
        cdf[active] += pn
        active = active[values[active] > n]
    return np.minimum(cdf, 1.0)


def _period_edges(as_of: pd.Timestamp, horizon: int, freq: str) -> tuple[pd.DatetimeIndex, pd.Timestamp]:
    """Start of each of the ``horizon`` full periods after ``as_of``, and the end of the last.

    If ``as_of`` falls inside a period, the stub up to the next period start is part of the
    simulated time (components age through it) but not of the output.
    """
    grid = pd.date_range(as_of.normalize(), periods=horizon + 2, freq=freq)
    if grid[0] < as_of:
        grid = grid[1:]
    grid = grid[: horizon + 1]
    return grid[:-1], grid[-1]


def forecast_demand(
    model,
    fleet,
    horizon: int = 12,
    freq: str = "MS",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    *,
    new_machines: pd.DataFrame | None = None,
    retirements: pd.DataFrame | None = None,
    usage_factor: float | Mapping | pd.Series | None = None,
    by: str = "part",
) -> pd.DataFrame:
    """Forecast parts demand per servicing location and period from the installed base.

    Parameters
    ----------
    model : FailureModel
        A fitted failure model (``params_`` with machine_model, component, shape, scale).
    fleet : Fleet
        The installed base and history; the forecast starts at ``fleet.as_of``.
    horizon : int
        Number of future periods.
    freq : str
        pandas frequency of the periods (``"MS"`` months, ``"W-MON"`` weeks, ...).
    quantiles : sequence of float
        Levels of the count quantiles to report, each in (0, 1).
    new_machines : DataFrame, optional
        Machines expected to enter service: columns machine_model, location_id,
        per_period (expected new machines per period, may be fractional) and optionally
        hours_per_day (else the model's median usage at that location's tier). Each
        period's cohort enters service evenly through the period.
    retirements : DataFrame, optional
        Planned retirements: serial, retired_date. A machine stops needing parts then.
    usage_factor : float, mapping or Series, optional
        Multiplies usage rates: one number for all, a mapping tier → factor, or a Series
        indexed by location_id.
    by : {"part", "component"}
        Report parts (through the BOM) or component failures.

    Returns
    -------
    DataFrame
        One row per (location_id, part_number, period) with any demand: location_id,
        part_number (or machine_model and component with ``by="component"``), period
        (period start), mean, var, and one column per quantile named ``q0.5`` etc.
        Rows are sorted by location, part, period.
    """
    _check_forecast_args(horizon, quantiles, by)
    params = _model_params(model)
    starts, end = _period_edges(fleet.as_of, horizon, freq)
    boundaries = list(starts[1:]) + [end]
    days_to = np.array([(b - fleet.as_of) / pd.Timedelta(days=1) for b in boundaries])
    stub_days = (starts[0] - fleet.as_of) / pd.Timedelta(days=1)

    lives = model.lives_ if getattr(model, "_fleet_ref", None) is fleet else component_lives(fleet)
    ages = lives.ages.merge(params, on=["machine_model", "component"], how="inner")
    rate = ages["hours_per_day"].to_numpy(float) * _usage_multiplier(fleet, ages["location_id"], usage_factor)

    # Planned retirements cut a machine's horizon: it ages no further after that date.
    stop_days = np.full(len(ages), np.inf)
    if retirements is not None:
        ret = retirements.assign(retired_date=pd.to_datetime(retirements["retired_date"]))
        when = ages["serial"].map(ret.set_index("serial")["retired_date"])
        stop_days = np.where(when.notna(), ((when - fleet.as_of) / pd.Timedelta(days=1)).to_numpy(float), np.inf)
    eff_days = np.minimum(np.concatenate([[stub_days], days_to])[None, :], stop_days[:, None])
    eff_days = np.maximum(eff_days, 0.0)
    cum = expected_failures(ages["age_hours"].to_numpy(float), eff_days * rate[:, None],
                            ages["shape"].to_numpy(float), ages["scale"].to_numpy(float))
    per_period = np.diff(cum, axis=1)  # drop the stub: first column is stub → period 1
    groups = ages[["location_id", "machine_model", "component"]]

    frames = [_sum_cells(groups, per_period)]
    if new_machines is not None and len(new_machines):
        frames.append(_new_machine_failures(new_machines, params, fleet, lives, starts, end, usage_factor))
    failures = pd.concat(frames, ignore_index=True)
    failures = failures.groupby(["location_id", "machine_model", "component", "period_idx"],
                                as_index=False, sort=False)["mean"].sum()
    failures = failures[failures["mean"] > 0]

    if by == "component":
        cells = failures.assign(qty=1)
        keys = ["location_id", "machine_model", "component"]
    else:
        bom = fleet.bom[["machine_model", "component", "part_number", "qty_per_replacement"]]
        cells = failures.merge(bom, on=["machine_model", "component"]).rename(columns={"qty_per_replacement": "qty"})
        keys = ["location_id", "part_number"]
    out = _distribution(cells, keys, quantiles)
    out.insert(len(keys), "period", starts[out.pop("period_idx").to_numpy()])
    return out.sort_values(keys + ["period"], ignore_index=True)


def _check_forecast_args(horizon, quantiles, by) -> None:
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of periods ≥ 1, got {horizon!r}")
    bad = [q for q in quantiles if not 0 < q < 1]
    if bad:
        raise ValueError(f"quantiles must lie strictly between 0 and 1, got {bad}")
    if by not in ("part", "component"):
        raise ValueError(f"by must be 'part' or 'component', got {by!r}")


def _model_params(model) -> pd.DataFrame:
    params = getattr(model, "params_", None)
    if params is None:
        raise ValueError("the failure model is not fitted: call FailureModel(...).fit(fleet) first")
    p = params[["machine_model", "component", "shape", "scale"]]
    ok = np.isfinite(p["shape"]) & np.isfinite(p["scale"]) & (p["shape"] > 0) & (p["scale"] > 0)
    return p[ok.to_numpy()]


def _usage_multiplier(fleet, location_id: pd.Series, usage_factor) -> np.ndarray:
    if usage_factor is None:
        return np.ones(len(location_id))
    if np.isscalar(usage_factor):
        return np.full(len(location_id), float(usage_factor))
    if isinstance(usage_factor, pd.Series):
        return location_id.map(usage_factor).fillna(1.0).to_numpy(float)
    tier = location_id.map(fleet.locations.set_index("location_id")["tier"])
    return tier.map(dict(usage_factor)).fillna(1.0).to_numpy(float)


def _factorize_rows(frame: pd.DataFrame) -> tuple[np.ndarray, pd.MultiIndex]:
    """Codes of the distinct rows of ``frame`` and those rows, in first-seen order.

    Each column is factorised on its own (fast for categoricals and strings alike) and the
    codes are combined into one integer key, which avoids building a MultiIndex of tuples.
    """
    col_codes, col_uniques = zip(*(pd.factorize(frame[c]) for c in frame.columns))
    key = np.zeros(len(frame), dtype=np.int64)
    for c, u in zip(col_codes, col_uniques):
        key = key * max(len(u), 1) + c
    first, codes = np.unique(key, return_index=True, return_inverse=True)[1:]
    order = np.argsort(first, kind="stable")  # first-seen order, as pd.factorize gives
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    codes = rank[codes]
    rows = first[order]
    uniq = pd.MultiIndex.from_arrays([u.take(c[rows]) for c, u in zip(col_codes, col_uniques)],
                                     names=list(frame.columns))
    return codes, uniq


def _sum_cells(groups: pd.DataFrame, per_period: np.ndarray) -> pd.DataFrame:
    """Sum machine-level period means into (location, model, component, period) cells."""
    codes, uniq = _factorize_rows(groups)
    P = per_period.shape[1]
    sums = np.zeros((len(uniq), P))
    for p in range(P):  # a loop over periods (≤ a few dozen), each a bincount over machines
        sums[:, p] = np.bincount(codes, weights=per_period[:, p], minlength=len(uniq))
    frame = uniq.to_frame(index=False, name=list(groups.columns))
    out = frame.loc[np.repeat(np.arange(len(uniq)), P)].reset_index(drop=True)
    out["period_idx"] = np.tile(np.arange(P), len(uniq))
    out["mean"] = sums.ravel()
    return out


def _new_machine_failures(new: pd.DataFrame, params, fleet, lives, starts, end, usage_factor) -> pd.DataFrame:
    """Expected failures of machines entering service during the horizon.

    Each period's cohort enters evenly through the period, approximated by entry at the
    period's midpoint (new components fail rarely in their first months, so the error is
    second order).
    """
    missing = {"machine_model", "location_id", "per_period"} - set(new.columns)
    if missing:
        raise ValueError(f"new_machines lacks column(s) {sorted(missing)}; it needs machine_model, "
                         "location_id, per_period and optionally hours_per_day")
    new = new.reset_index(drop=True)
    if "hours_per_day" in new.columns and new["hours_per_day"].notna().all():
        rate = new["hours_per_day"].to_numpy(float)
    else:
        r = lives.rates
        med = r.groupby(["machine_model", "tier"])["hours_per_day"].median()
        tier = new["location_id"].map(fleet.locations.set_index("location_id")["tier"]).astype("float64")
        keyed = pd.MultiIndex.from_arrays([new["machine_model"], tier])
        guess = pd.Series(med.reindex(keyed).to_numpy(), index=new.index)
        guess = guess.fillna(new["machine_model"].map(r.groupby("machine_model")["hours_per_day"].median()))
        guess = guess.fillna(r["hours_per_day"].median())
        if "hours_per_day" in new.columns:
            guess = new["hours_per_day"].fillna(guess)
        rate = guess.to_numpy(float)
    rate = rate * _usage_multiplier(fleet, new["location_id"], usage_factor)
    new = new.assign(_rate=rate)
    comp = new.merge(fleet.bom[["machine_model", "component"]].drop_duplicates(), on="machine_model")
    comp = comp.merge(params, on=["machine_model", "component"], how="inner")
    P = len(starts)
    edges = list(starts) + [end]
    day = pd.Timedelta(days=1)
    mid_days = np.array([((edges[c] - fleet.as_of) + (edges[c + 1] - edges[c]) / 2) / day for c in range(P)])
    end_days = np.array([(e - fleet.as_of) / day for e in edges[1:]])
    # One pseudo-machine per (row, cohort period): hours since entry at each boundary.
    R = len(comp)
    rep = np.repeat(np.arange(R), P)
    cohort = np.tile(np.arange(P), R)
    since = np.maximum(end_days[None, :] - mid_days[cohort][:, None], 0.0)
    hours = since * comp["_rate"].to_numpy(float)[rep][:, None]
    cum = expected_failures(np.zeros(R * P), hours, comp["shape"].to_numpy(float)[rep],
                            comp["scale"].to_numpy(float)[rep])
    per = np.diff(np.concatenate([np.zeros((R * P, 1)), cum], axis=1), axis=1)
    per *= comp["per_period"].to_numpy(float)[rep][:, None]
    return _sum_cells(comp[["location_id", "machine_model", "component"]].iloc[rep].reset_index(drop=True), per)


def _distribution(cells: pd.DataFrame, keys: list[str], quantiles: Sequence[float]) -> pd.DataFrame:
    """Mean, variance and compound-Poisson quantiles per (keys, period)."""
    cells = cells.assign(q_mean=cells["mean"] * cells["qty"], q_var=cells["mean"] * cells["qty"] ** 2)
    codes, uniq = _factorize_rows(cells[keys + ["period_idx"]])
    n = len(uniq)
    out = uniq.to_frame(index=False, name=keys + ["period_idx"])
    out["mean"] = np.bincount(codes, weights=cells["q_mean"].to_numpy(), minlength=n)
    out["var"] = np.bincount(codes, weights=cells["q_var"].to_numpy(), minlength=n)
    qty = cells["qty"].to_numpy(np.int64)
    lam = cells["mean"].to_numpy()
    # Most cells draw on one quantity per failure: D = q·Poisson(λ), whose quantiles are q
    # times the Poisson's. Only cells mixing quantities need the full Panjer recursion.
    q_min = np.full(n, np.iinfo(np.int64).max)
    q_max = np.zeros(n, dtype=np.int64)
    np.minimum.at(q_min, codes, qty)
    np.maximum.at(q_max, codes, qty)
    single = q_min == q_max
    qs = np.zeros((n, len(quantiles)), dtype=np.int64)
    lam_cell = np.bincount(codes, weights=lam, minlength=n)
    idx = np.flatnonzero(single)
    qs[idx] = q_min[idx, None] * compound_poisson_quantiles(lam_cell[idx, None], quantiles)
    mixed = np.flatnonzero(~single)
    if mixed.size:
        sub = np.full(n, -1)
        sub[mixed] = np.arange(mixed.size)
        rows = sub[codes] >= 0
        rates = np.zeros((mixed.size, int(q_max[mixed].max())))
        np.add.at(rates, (sub[codes][rows], qty[rows] - 1), lam[rows])
        qs[mixed] = compound_poisson_quantiles(rates, quantiles)
    for i, level in enumerate(quantiles):
        out[f"q{level:g}"] = qs[:, i]
    return out


def _period_bounds(forecast: pd.DataFrame) -> tuple[pd.DatetimeIndex, list]:
    """Start and end of each forecast period; the last lasts as long as the first."""
    periods = pd.DatetimeIndex(sorted(forecast["period"].unique()))
    if len(periods) == 0:
        return periods, []
    step = periods[1] - periods[0] if len(periods) > 1 else pd.Timedelta(days=30)
    return periods, list(periods[1:]) + [periods[-1] + step]


def forecast_span_days(forecast: pd.DataFrame) -> float:
    """Days a forecast covers from its first period start: the longest usable lead time."""
    periods, ends = _period_bounds(forecast)
    return float((ends[-1] - periods[0]) / pd.Timedelta(days=1)) if len(periods) else 0.0


def lead_time_demand(forecast: pd.DataFrame, lead_time_days: float | pd.Series | pd.DataFrame,
                     keys: Sequence[str] = ("location_id", "part_number")) -> pd.DataFrame:
    """Mean and variance of demand over a lead time starting at the forecast origin.

    The forecast's periods are summed in order, the last one pro rata for a lead time that
    ends inside it (demand spread evenly within a period). Means and variances add because
    the per-period demands are independent compound Poissons.

    Parameters
    ----------
    forecast : DataFrame
        Output of :func:`forecast_demand` (columns keys, period, mean, var).
    lead_time_days : float, Series or DataFrame
        One lead time for all; a Series indexed by the first key (e.g. location_id); or a
        DataFrame with the key columns and ``lead_time_days``.
    keys : sequence of str

    Returns
    -------
    DataFrame
        keys, lead_time_days, mean, var.
    """
    keys = list(keys)
    f = forecast[keys + ["period", "mean", "var"]].sort_values(keys + ["period"])
    periods, ends = _period_bounds(f)
    if len(periods) == 0:
        return pd.DataFrame(columns=keys + ["lead_time_days", "mean", "var"])
    origin = periods[0]
    start_d = np.array([(p - origin) / pd.Timedelta(days=1) for p in periods])
    end_d = np.array([(e - origin) / pd.Timedelta(days=1) for e in ends])
    pidx = periods.get_indexer(f["period"])
    if isinstance(lead_time_days, pd.DataFrame):
        lt = f[keys].merge(lead_time_days[keys + ["lead_time_days"]], on=keys, how="left")["lead_time_days"]
        L = lt.to_numpy(float)
    elif isinstance(lead_time_days, pd.Series):
        L = f[keys[0]].map(lead_time_days).to_numpy(float)
    else:
        L = np.full(len(f), float(lead_time_days))
    if np.isnan(L).any() or (L < 0).any():
        raise ValueError("lead_time_days must be given (≥ 0) for every row of the forecast")
    share = np.clip((L - start_d[pidx]) / (end_d[pidx] - start_d[pidx]), 0.0, 1.0)
    if (L > end_d[-1] + 1e-9).any():
        raise ValueError(f"a lead time of {L.max():.0f} days is longer than the forecast horizon "
                         f"({end_d[-1]:.0f} days): forecast more periods")
    g = f.assign(mean=f["mean"] * share, var=f["var"] * share, lead_time_days=L)
    return g.groupby(keys, as_index=False, sort=True).agg(lead_time_days=("lead_time_days", "first"),
                                                          mean=("mean", "sum"), var=("var", "sum"))
