"""The service run: its settings, its result, the outputs it writes, and ``service.html``.

:func:`run_service` computes the dealer KPIs, the stock-out register and the part classes
of a fleet and the abnormal machines (:mod:`partsforecast.service.abnormal`), then writes them
into one folder, whole or not at all: ``dealer_kpis.csv``, ``stockouts.csv``,
``part_classes.csv``, ``data_findings.csv``, ``abnormal_machines.csv`` and
``service.html``, a self-contained page (inline PNG charts, no script, every text from the
input escaped).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from partsforecast._display import html_card, text_card
from partsforecast._io import atomic_dir, frame_to_csv_bytes, round_for_people
from partsforecast._page import CSS as _CSS
from partsforecast._page import escape as _e
from partsforecast._page import table
from partsforecast._page import tile as _tile
from partsforecast.data import TICKET_TIME_FINDINGS, Fleet, InputError, Problem, settings_from_mapping
from partsforecast.plot import TIER_COLOURS
from partsforecast.service.classes import (
    A_SHARE,
    B_SHARE,
    DEFAULT_CLASS_TARGETS,
    MAX_TARGET,
    part_classes,
)
from partsforecast.service.kpis import (
    LOCAL_STOCK_HOURS,
    UNSEEN_AFTER_HOURS,
    check_freq,
    dealer_kpis,
)
from partsforecast.service.stockouts import FOLLOWUP_DAYS, LOOKBACK_DAYS, stockouts

__all__ = ["SERVICE_FILES", "ServiceResult", "ServiceSettings", "monthly_wait_chart", "run_service",
           "tier_gap_chart", "write_service_report"]

#: The files :func:`run_service` writes (``abnormal_machines.csv`` unless the setting ``abnormal`` is off).
SERVICE_FILES = ("dealer_kpis.csv", "stockouts.csv", "part_classes.csv", "data_findings.csv",
                 "abnormal_machines.csv", "service.html")
_TOP = 12  # rows of the page's lists


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

#: Settings that are numbers: name → (low, high, low is exclusive, whole number).
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "local_stock_hours": (0, 8_760, True, False),
    "unseen_after_hours": (0, 8_760, True, False),
    "followup_days": (0, 3_650, False, False),
    "stockout_lookback_days": (0, 36_500, True, False),
    "downtime_cost_per_day": (0, 1e9, False, False),
    "a_share": (0, 1, True, False),
    "b_share": (0, 1, True, False),
    "demand_window_days": (0, 36_500, True, False),
    "history_periods": (1, 600, True, True),
    "abnormal_fdr": (0, 1, True, False),
}


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and bool(np.isfinite(value)))


@dataclass
class ServiceSettings:
    """Settings of a service run (the ``[service]`` table of a TOML file; every one has a default).

    Attributes
    ----------
    freq : str
        Periods of the KPIs (``"MS"``: months).
    local_stock_hours : float
        Parts ready within this many hours of the call came from the dealer's own stock;
        a line that waited longer is a stock-out.
    unseen_after_hours : float
        An open ticket with no technician on site this long after the call is waiting unseen.
    followup_days : float
        A stock-out still open this many days after the call is overdue.
    stockout_lookback_days : float
        The stock-out register covers the calls of this many days before the as-of date.
    downtime_cost_per_day : float or None
        What a machine down costs per day: prices the stock-outs' downtime when given.
    currency : str
        The currency of the inputs' money (letters, at most 8).
    a_share, b_share : float
        ABC cut-offs on the cumulative share of the annual demand value.
    class_targets : dict or None
        Fill-rate target per ABC class; ``None`` means
        :data:`partsforecast.service.classes.DEFAULT_CLASS_TARGETS`.
    demand_window_days : float
        The days of tickets that give a part's annual demand value.
    history_periods : int
        The periods of demand that give a part's pattern (ADI, CV²).
    abnormal : bool
        Test every (machine, component) for failing more often than its model's law
        (:mod:`partsforecast.service.abnormal`) and write ``abnormal_machines.csv``.
    abnormal_fdr : float
        The false-discovery rate of that test, in (0, 1).
    """

    freq: str = "MS"
    local_stock_hours: float = LOCAL_STOCK_HOURS
    unseen_after_hours: float = UNSEEN_AFTER_HOURS
    followup_days: float = FOLLOWUP_DAYS
    stockout_lookback_days: float = LOOKBACK_DAYS
    downtime_cost_per_day: float | None = None
    currency: str = "CNY"
    a_share: float = A_SHARE
    b_share: float = B_SHARE
    class_targets: dict | None = None
    demand_window_days: float = 365.0
    history_periods: int = 24
    abnormal: bool = True
    abnormal_fdr: float = 0.05

    def __post_init__(self) -> None:
        problems: list[Problem] = []

        def bad(name: str, rule: str) -> None:
            problems.append(Problem.setting(name, getattr(self, name), rule))

        for name, (low, high, open_low, whole) in _RANGES.items():
            value = getattr(self, name)
            if value is None and name == "downtime_cost_per_day":
                continue
            ok = _is_number(value) and (not whole or float(value).is_integer())
            if ok:
                ok = (float(value) > low if open_low else float(value) >= low) and float(value) <= high
            if not ok:
                lo = f"> {low:g}" if open_low else f"≥ {low:g}"
                bad(name, f"must be {'a whole number' if whole else 'a number'} {lo} and at most {high:,g}")
            elif whole:
                object.__setattr__(self, name, int(value))
        if _is_number(self.abnormal_fdr) and not self.abnormal_fdr < 1:
            bad("abnormal_fdr", "must be a rate > 0 and below 1")
        if not isinstance(self.abnormal, bool):
            bad("abnormal", "must be true or false")
        if _is_number(self.a_share) and _is_number(self.b_share) and not self.a_share < self.b_share:
            bad("b_share", "must be above a_share")
        try:
            check_freq(self.freq)
        except ValueError:
            bad("freq", "must be a pandas frequency such as 'MS' (months) or 'W-MON' (weeks)")
        if not (isinstance(self.currency, str) and 1 <= len(self.currency) <= 8 and self.currency.isalpha()):
            bad("currency", "must be a currency code of letters only, at most 8 (e.g. 'CNY', 'EUR')")
        targets = self.class_targets
        if targets is not None:
            ok = isinstance(targets, Mapping) and set(map(str, targets)) == {"A", "B", "C"} and all(
                _is_number(v) and 0 < v <= MAX_TARGET for v in targets.values())
            if ok:
                self.class_targets = {str(k): float(v) for k, v in targets.items()}
            else:
                bad("class_targets", f"must be a fill rate > 0 and at most {MAX_TARGET} for each of the classes "
                                     "A, B and C, e.g. {A = 0.97, B = 0.93, C = 0.85}")
        if problems:
            raise InputError(problems)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ServiceSettings:
        """Settings from a mapping (the ``[service]`` table of a TOML file).

        Raises
        ------
        InputError
            For unknown keys and for values of the wrong type or out of range, each named.
        """
        return settings_from_mapping(cls, values, "service setting")


# ---------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------

#: Columns of :meth:`ServiceResult.by_tier`.
_TIER_VIEW = ["tier", "tickets", "response_n", "response_hours_median", "parts_wait_n", "parts_wait_days_median",
              "parts_wait_days_mean", "local_stock_share", "close_days_median", "repeat_30d_share", "open",
              "waiting_unseen"]


@dataclass(repr=False)
class ServiceResult:
    """What a service run found (:func:`run_service`).

    Attributes
    ----------
    as_of : Timestamp
    settings : ServiceSettings
    kpis : DataFrame
        :func:`partsforecast.service.dealer_kpis`.
    stockouts : DataFrame
        :func:`partsforecast.service.stockouts`, the weekly list.
    part_classes : DataFrame
        :func:`partsforecast.service.part_classes`.
    findings : DataFrame
        :meth:`partsforecast.Fleet.findings`: the ticket lines with times out of order or
        incomplete.
    abnormal : DataFrame or None
        The flagged (machine, component) pairs of
        :func:`partsforecast.service.abnormal.abnormal_machines`; ``None`` with the setting
        ``abnormal`` off.
    path : Path or None
        The folder written.
    dealer_names : Series
        Dealer names by location_id (the ``dealer_name`` column of locations, when present).
    """

    as_of: pd.Timestamp
    settings: ServiceSettings
    kpis: pd.DataFrame
    stockouts: pd.DataFrame
    part_classes: pd.DataFrame
    findings: pd.DataFrame
    abnormal: pd.DataFrame | None = None
    path: Path | None = None
    dealer_names: pd.Series = field(default_factory=lambda: pd.Series(dtype="str"))

    def by_tier(self) -> pd.DataFrame:
        """The main KPIs of every dealer tier over the whole window, one row per tier."""
        k = self.kpis
        rows = k[(k["level"] == "tier") & k["period"].isna()]
        return rows[_TIER_VIEW].reset_index(drop=True)

    def headline(self) -> dict[str, Any]:
        """The figures the page and the displays lead with."""
        k = self.kpis
        whole = k[(k["level"] == "all") & k["period"].isna()]
        tiers = self.by_tier().set_index("tier")
        so = self.stockouts

        def tier_wait(t: int) -> float:
            return float(tiers.loc[t, "parts_wait_days_median"]) if t in tiers.index else float("nan")

        unseen = whole["waiting_unseen"].iloc[0] if len(whole) else pd.NA
        return {
            "tickets": int(whole["tickets"].iloc[0]) if len(whole) else 0,
            "parts_wait_days_tier1": tier_wait(1),
            "parts_wait_days_tier4": tier_wait(4),
            "local_stock_share": float(whole["local_stock_share"].iloc[0]) if len(whole) else float("nan"),
            "stockouts": len(so),
            "stockouts_open": int((so["status"] == "open").sum()),
            "stockouts_overdue": int(so["overdue"].sum()),
            "machine_days_down": float(so["machine_days_down"].sum()),
            "waiting_unseen": None if pd.isna(unseen) else int(unseen),
            "a_parts": int((self.part_classes["abc"] == "A").sum()),
            "findings": len(self.findings),
            "abnormal_machines": None if self.abnormal is None else len(self.abnormal),
        }

    def _facts(self) -> dict[str, Any]:
        h = self.headline()
        facts = {"as_of": self.as_of, "tickets": h["tickets"],
                 "parts_wait_days_tier1": h["parts_wait_days_tier1"],
                 "parts_wait_days_tier4": h["parts_wait_days_tier4"],
                 "stockouts_open": h["stockouts_open"], "overdue": h["stockouts_overdue"],
                 "a_parts": h["a_parts"], "findings": h["findings"]}
        if self.path is not None:
            facts["path"] = str(self.path)
        return facts

    def __repr__(self) -> str:
        return text_card("ServiceResult", self._facts())

    def _repr_html_(self) -> str:
        return html_card("ServiceResult", self._facts(), self.by_tier())


# ---------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------

def _axes(ncols: int = 1, size=(7.5, 3.6)):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=size, squeeze=False)
    return fig, axes[0]


def _overall_tiers(kpis: pd.DataFrame) -> pd.DataFrame:
    rows = kpis[(kpis["level"] == "tier") & kpis["period"].isna()]
    return rows.set_index(rows["tier"].astype(int)).sort_index()


def tier_gap_chart(kpis: pd.DataFrame):
    """Parts wait (median and mean, days) and the local-stock share per dealer tier, and the
    response (median hours) when the tickets record arrivals: the gap of tiers 3–4.

    Parameters
    ----------
    kpis : DataFrame
        :func:`partsforecast.service.dealer_kpis`.

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib

    t = _overall_tiers(kpis)
    has_response = bool(len(t)) and bool((t["response_n"] > 0).any())
    with matplotlib.rc_context({"text.parse_math": False}):
        fig, axes = _axes(3 if has_response else 2, size=(10.5 if has_response else 7.5, 3.6))
        x = np.arange(len(t))
        colours = [TIER_COLOURS.get(int(i), "#444") for i in t.index]
        labels = [f"tier {i}\nn={n:,}" for i, n in zip(t.index, t["parts_wait_n"])]
        ax = axes[0]
        ax.bar(x - 0.2, t["parts_wait_days_median"], width=0.4, color=colours, label="median")
        ax.bar(x + 0.2, t["parts_wait_days_mean"], width=0.4, color=colours, alpha=0.45, label="mean")
        ax.set_xticks(x, labels, fontsize="small")
        ax.set_ylabel("days from the call")
        ax.set_title("Parts wait by dealer tier")
        ax.legend(fontsize="small")
        ax = axes[1]
        ax.bar(x, t["local_stock_share"], color=colours)
        ax.set_xticks(x, labels, fontsize="small")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of tickets")
        ax.set_title("Parts from the dealer's own stock")
        if has_response:
            ax = axes[2]
            ax.bar(x, t["response_hours_median"], color=colours)
            ax.set_xticks(x, [f"tier {i}\nn={n:,}" for i, n in zip(t.index, t["response_n"])], fontsize="small")
            ax.set_ylabel("hours from the call (median)")
            ax.set_title("Technician on site")
        for ax in axes:
            ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
    return fig


def monthly_wait_chart(kpis: pd.DataFrame):
    """The median parts wait of every tier, period by period.

    Parameters
    ----------
    kpis : DataFrame
        :func:`partsforecast.service.dealer_kpis`.

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib

    rows = kpis[(kpis["level"] == "tier") & kpis["period"].notna()]
    with matplotlib.rc_context({"text.parse_math": False}):
        fig, (ax,) = _axes()
        for tier, grp in rows.groupby(rows["tier"].astype(int)):
            grp = grp[grp["parts_wait_n"] > 0]
            ax.plot(grp["period"], grp["parts_wait_days_median"], "-", lw=1.4,
                    color=TIER_COLOURS.get(int(tier), "#444"), label=f"tier {tier}")
        ax.set_ylabel("median parts wait (days)")
        ax.set_title("Parts wait per period and tier")
        ax.grid(alpha=0.3)
        if len(rows):
            ax.legend(fontsize="small", ncols=4)
        fig.tight_layout()
    return fig


def _png(fig) -> str:
    import base64
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

def _fmt(value: Any, decimals: int = 2) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.{decimals}f}"
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _table(frame: pd.DataFrame, decimals: Mapping[str, int] | None = None, empty: str = "None.") -> str:
    """An HTML table of ``frame``, every cell escaped, numbers with ``decimals`` (2 by default)."""
    decimals = decimals or {}
    return table(frame, {c: functools.partial(_fmt, decimals=decimals.get(c, 2)) for c in frame.columns}, empty)


def _tiles(result: ServiceResult) -> str:
    h, s = result.headline(), result.settings
    cur = s.currency
    cost = float(result.stockouts["downtime_cost"].sum()) if s.downtime_cost_per_day is not None else None
    unseen = h["waiting_unseen"]
    tiles = [
        _tile("Stock-outs to follow up", f"{h['stockouts_open']:,} open",
              [f"{h['stockouts_overdue']:,} open more than {s.followup_days:g} days",
               f"{h['stockouts']:,} in the last {s.stockout_lookback_days:g} days"],
              alert=h["stockouts_overdue"] > 0),
        _tile("Machine-days down for parts", f"{h['machine_days_down']:,.0f}",
              [f"the stock-outs of the last {s.stockout_lookback_days:g} days"]
              + ([f"{cost:,.2f} {cur}"] if cost is not None else [])),
        _tile("Parts wait, tier 1 → tier 4", f"{_fmt(h['parts_wait_days_tier1'])} → {_fmt(h['parts_wait_days_tier4'])} d",
              ["median days from the call", f"{_fmt(h['local_stock_share'] * 100, 0)} % from local stock"]),
        _tile("Waiting unseen", "–" if unseen is None else f"{unseen:,}",
              [f"open, no technician after {s.unseen_after_hours:g} h"
               if unseen is not None else "no arrival times in the tickets"], alert=bool(unseen)),
        _tile("Ticket times to check", f"{h['findings']:,}",
              ["lines out of order or incomplete", "data_findings.csv"], alert=h["findings"] > 0),
    ]
    return f"<div class='tiles'>{''.join(tiles)}</div>"


def _tier_section(result: ServiceResult) -> str:
    t = result.by_tier()
    figs = [("Tier gap", _png(tier_gap_chart(result.kpis))),
            ("Parts wait per period", _png(monthly_wait_chart(result.kpis)))]
    imgs = "".join(f"<div><img alt='{_e(title)}' src='data:image/png;base64,{png}'></div>" for title, png in figs)
    return ("<section id='tiers'><h2>Service by dealer tier</h2>"
            + _table(t, {"repeat_30d_share": 4, "local_stock_share": 3}) + imgs + "</section>")


def _dealer_section(result: ServiceResult) -> str:
    k = result.kpis
    d = k[(k["level"] == "dealer") & k["period"].isna() & (k["parts_wait_n"] > 0)]
    d = d.sort_values(["parts_wait_days_median", "location_id"], ascending=[False, True]).head(_TOP)
    cols = ["location_id", "tier", "tickets", "parts_wait_n", "parts_wait_days_median", "local_stock_share",
            "response_hours_median", "repeat_30d_share", "open", "waiting_unseen"]
    view = d[cols].copy()
    if len(result.dealer_names):
        view.insert(1, "name", result.dealer_names.reindex(view["location_id"]).fillna("").to_numpy(dtype=object))
    return ("<section id='dealers'><h2>Dealers with the longest parts wait</h2>"
            + _table(view, {"local_stock_share": 3, "repeat_30d_share": 4}, "No dealer has a parts wait.")
            + "</section>")


def _stockout_section(result: ServiceResult) -> str:
    so = result.stockouts
    s = result.settings
    cols = ["status", "overdue", "location_id", "ticket_id", "serial", "part_number", "opened_at", "wait_days",
            "machine_days_down", "on_hand", "transfer_qty"]
    lead = (f"<p>{len(so):,} ticket lines waited more than {s.local_stock_hours:g} h for a part in the last "
            f"{s.stockout_lookback_days:g} days; open ones first, oldest first (all in stockouts.csv):</p>")
    return ("<section id='stockouts'><h2>Stock-outs this week</h2>" + lead
            + _table(so[cols].head(3 * _TOP), {"transfer_qty": 0}, "No stock-out.") + "</section>")


def _class_section(result: ServiceResult) -> str:
    pc = result.part_classes
    grid = pd.crosstab(pc["abc"], pc["pattern"]).reset_index()
    targets = result.settings.class_targets or DEFAULT_CLASS_TARGETS
    grid.insert(1, "fill_rate_target", grid["abc"].map(targets).to_numpy(dtype=float))
    top = pc[pc["abc"] == "A"].head(_TOP)[["part_number", "description", "annual_units", "annual_value",
                                            "cumulative_share", "pattern", "method"]]
    return ("<section id='classes'><h2>Part classes</h2><h3>Parts by ABC class and demand pattern</h3>"
            + _table(grid, {"fill_rate_target": 2})
            + f"<h3>The A parts with the most demand value ({_e(result.settings.currency)} a year)</h3>"
            + _table(top, {"annual_units": 1, "cumulative_share": 3}) + "</section>")


def _abnormal_section(result: ServiceResult) -> str:
    if result.abnormal is None:
        return ""
    ab = result.abnormal
    cols = [c for c in ("serial", "machine_model", "location_id", "component", "observed", "expected", "ratio",
                        "q_value", "in_service") if c in ab.columns]
    lead = (f"<p>{len(ab):,} machine components ({ab['serial'].nunique() if 'serial' in ab else 0:,} machines) fail "
            f"more often than their model's law, at a false-discovery rate of {result.settings.abnormal_fdr:g}; "
            "the most urgent first (all in abnormal_machines.csv):</p>" if len(ab) else "")
    return ("<section id='abnormal'><h2>Abnormal machines</h2>" + lead
            + _table(ab[cols].head(_TOP), {"q_value": 4},
                     "No machine component fails more often than its model's law.") + "</section>")


def _findings_section(result: ServiceResult) -> str:
    f = result.findings
    counts = f["finding"].value_counts()
    table = pd.DataFrame({"finding": list(TICKET_TIME_FINDINGS),
                          "column": [c for c, _ in TICKET_TIME_FINDINGS.values()],
                          "what is wrong": [r for _, r in TICKET_TIME_FINDINGS.values()],
                          "lines": [int(counts.get(c, 0)) for c in TICKET_TIME_FINDINGS]})
    return ("<section id='findings'><h2>Ticket times to check</h2><p>Kept in the data and left out of the "
            "times they affect; every line is in data_findings.csv.</p>" + _table(table) + "</section>")


def write_service_report(path: str | Path, result: ServiceResult, fleet: Fleet) -> Path:
    """Write ``service.html``: the after-sales page of a service run.

    Parameters
    ----------
    path : path-like
        The HTML file to write.
    result : ServiceResult
    fleet : Fleet
        The fleet it was computed from (for the page's header).

    Returns
    -------
    Path
    """
    as_of = result.as_of.date()
    n_dealers = int((fleet.locations["kind"] == "dealer").sum())
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Dealer service {as_of}</title><style>{_CSS}</style></head><body>",
        f"<h1>Dealer service as of {as_of}</h1>",
        (f"<div class='sub'>{fleet.tickets['ticket_id'].nunique():,} tickets · {n_dealers:,} dealers · "
         f"{len(fleet.parts):,} parts · periods {_e(result.settings.freq)} · amounts in "
         f"{_e(result.settings.currency)}</div>"),
        _tiles(result),
        _stockout_section(result),
        _tier_section(result),
        _dealer_section(result),
        _class_section(result),
        _abnormal_section(result),
        _findings_section(result),
        "</body></html>",
    ]
    path = Path(path)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------

def _abnormal_machines(fleet: Fleet, settings: ServiceSettings, model: Any = None) -> pd.DataFrame | None:
    """The flagged (machine, component) pairs of :func:`partsforecast.service.abnormal.abnormal_machines`
    (``None`` when the setting ``abnormal`` is off). ``model``: a fitted lifetime model;
    by default a :class:`~partsforecast.FailureModel` is fitted on ``fleet``."""
    if not settings.abnormal:
        return None
    from partsforecast.reliability import FailureModel
    from partsforecast.service.abnormal import abnormal_machines

    model = FailureModel().fit(fleet) if model is None else model
    return abnormal_machines(fleet, model, fdr=settings.abnormal_fdr)


def _csv(frame: pd.DataFrame, money: tuple[str, ...] = ()) -> bytes:
    rounded = frame.assign(**{c: frame[c].round(2) for c in money if c in frame.columns})
    return frame_to_csv_bytes(round_for_people(rounded))


def run_service(fleet: Fleet, out: str | Path, settings: ServiceSettings | None = None, *,
                transfers: pd.DataFrame | None = None, model: Any = None) -> ServiceResult:
    """The service analysis of a fleet, written into a folder whole or not at all.

    Parameters
    ----------
    fleet : Fleet
    out : path-like
        The folder to write; replaced only when every output is ready (a failure leaves the
        previous one as it was).
    settings : ServiceSettings, optional
        Defaults when omitted.
    transfers : DataFrame, optional
        A plan's transfers: the stock-outs they cover are ``transferred``.
    model : LifetimeModel, optional
        The fitted failure model the abnormal-machine test compares every machine with
        (e.g. the plan's); a :class:`~partsforecast.FailureModel` is fitted on ``fleet``
        when omitted. Unused with the setting ``abnormal`` off.

    Returns
    -------
    ServiceResult
        With ``path`` set to the folder, which holds :data:`SERVICE_FILES`:
        ``dealer_kpis.csv`` (:func:`~partsforecast.service.dealer_kpis`),
        ``stockouts.csv`` (:func:`~partsforecast.service.stockouts`), ``part_classes.csv``
        (:func:`~partsforecast.service.part_classes`), ``data_findings.csv``
        (:meth:`Fleet.findings`), ``abnormal_machines.csv``
        (:func:`partsforecast.service.abnormal.abnormal_machines`; not with the setting
        ``abnormal`` off) and ``service.html``.
    """
    if not isinstance(fleet, Fleet):
        raise TypeError(f"fleet must be a Fleet, got {type(fleet).__name__}")
    s = ServiceSettings() if settings is None else settings
    if not isinstance(s, ServiceSettings):
        raise TypeError(f"settings must be ServiceSettings, got {type(s).__name__}")
    kpis = dealer_kpis(fleet, freq=s.freq, unseen_after_hours=s.unseen_after_hours,
                       local_stock_hours=s.local_stock_hours)
    register = stockouts(fleet, transfers=transfers, local_stock_hours=s.local_stock_hours,
                         followup_days=s.followup_days, lookback_days=s.stockout_lookback_days,
                         downtime_cost_per_day=s.downtime_cost_per_day)
    classes = part_classes(fleet, a_share=s.a_share, b_share=s.b_share, window_days=s.demand_window_days,
                           history_periods=s.history_periods, class_targets=s.class_targets)
    names = (fleet.locations.set_index("location_id")["dealer_name"].astype("str")
             if "dealer_name" in fleet.locations.columns else pd.Series(dtype="str"))
    result = ServiceResult(as_of=fleet.as_of, settings=s, kpis=kpis, stockouts=register, part_classes=classes,
                           findings=fleet.findings(), abnormal=_abnormal_machines(fleet, s, model),
                           dealer_names=names)
    with atomic_dir(out) as tmp:
        (tmp / "dealer_kpis.csv").write_bytes(_csv(kpis))
        (tmp / "stockouts.csv").write_bytes(_csv(register, ("downtime_cost",)))
        (tmp / "part_classes.csv").write_bytes(_csv(classes, ("annual_value",)))
        (tmp / "data_findings.csv").write_bytes(_csv(result.findings))
        if result.abnormal is not None:
            (tmp / "abnormal_machines.csv").write_bytes(_csv(result.abnormal))
        write_service_report(tmp / "service.html", result, fleet)
    result.path = Path(out)
    return result
