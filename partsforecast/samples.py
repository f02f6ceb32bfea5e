"""Synthetic dealer networks with known truth.

:func:`generate_tables` builds the input tables of the data contract
for an invented construction-machinery maker: machine models, their components and parts,
a dealer network with a factory warehouse, a fleet of machines sold over the last few
years, the repair tickets their component failures produced, and today's stock. Every
failure comes from a Weibull lifetime per (machine_model, component) in operating hours, so
the parameters returned in ``truth`` are exactly what generated the data: fitting code can
be checked against them. :func:`make_fleet` wraps the tables into a validated
:class:`partsforecast.data.Fleet`.

The generator is vectorised throughout (the failure process loops over renewal rounds,
never over machines), so a fleet of 200,000 machines with over a million ticket lines takes
seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from partsforecast.data import (
    COST_PER_UNIT_BASE,
    COST_PER_UNIT_PER_KM,
    HANDLING_DAYS,
    KM_PER_DAY,
    ROAD_CIRCUITY,
    SCHEMA,
    Fleet,
    great_circle_km,
    read_fleet,
)

__all__ = ["SAMPLE_SETTINGS", "WAREHOUSE_ID", "generate_tables", "load_sample", "make_fleet", "write_sample"]

#: The settings that generated the bundled sample fleet (``partsforecast/sample_data``).
SAMPLE_SETTINGS = {"n_machines": 3000, "n_dealers": 30, "years": 4.0, "seed": 2026, "as_of": "2026-07-01"}
#: Truth tables kept with the bundled sample (``censored`` is left out: it is large and
#: follows from the others).
_SAMPLE_TRUTH = ("lifetimes", "machines", "failures")
#: Generated ticket columns the bundled sample leaves out (it was made before them; read
#: back, arrived_at is blank and every ticket a repair).
_NOT_IN_SAMPLE = ("arrived_at", "ticket_type")

#: Location id of the factory warehouse in generated fleets.
WAREHOUSE_ID = "WH"

_NS_PER_DAY = 86_400 * 10**9
_NS_PER_HOUR = 3_600 * 10**9
_NS_PER_MIN = 60 * 10**9
_NAT = np.iinfo(np.int64).min  # the int64 behind NaT

# ---------------------------------------------------------------------------------------
# The catalogue: machine platforms, component families, part roles
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Role:
    """One part line used when a component is replaced (the pump, its seal kit...)."""

    suffix: str  # part-number infix, distinguishes roles of one family
    description: str
    cost: float  # unit cost for a 20 t machine
    qty: int  # parts per replacement for a 20 t machine
    scales: bool = False  # quantity grows with machine size (teeth, bolts, injectors)
    common: bool = False  # one part number for every model (commodity o-rings, connectors)


@dataclass(frozen=True)
class _Family:
    """A component family: the same component on every model that has it."""

    name: str
    code: str  # part-number prefix
    shape: float  # Weibull shape of the family; models scatter around it
    scale: float  # Weibull scale in operating hours for the family
    repair_hours: float  # typical workshop time once the parts are there
    kinds: str  # machine kinds with this component: m(ini) e(xcavator) l(oader)
    roles: tuple[_Role, ...]
    bulky: bool = False  # big assemblies: longer parts wait and factory lead time


# Shapes run from ~0.7 (electronics: early failures dominate) to 3+ (wear parts). Scales
# are chosen so that a 3,000-machine fleet sold over 4 years gives a few thousand tickets:
# a typical machine runs ~2,400 h a year, and across its ~20 components sees about one
# failure a year.
_FAMILIES: tuple[_Family, ...] = (
    _Family("hydraulic_pump", "HPU", 2.4, 20_000, 10, "mel",
            (_Role("P", "main hydraulic pump assembly", 5200, 1),
             _Role("K", "pump seal kit", 140, 1),
             _Role("C", "pump drive coupling", 260, 1)), bulky=True),
    _Family("swing_motor", "SWM", 2.2, 22_000, 8, "me",
            (_Role("M", "swing motor", 3600, 1),
             _Role("K", "swing motor seal kit", 110, 1)), bulky=True),
    _Family("travel_motor", "TRM", 2.1, 19_000, 8, "me",
            (_Role("M", "travel motor with reduction gear", 4100, 1),
             _Role("K", "travel motor seal kit", 120, 1)), bulky=True),
    _Family("boom_cylinder_seal", "BCS", 1.8, 15_000, 5, "mel",
            (_Role("K", "boom cylinder seal kit", 95, 1),
             _Role("W", "rod wiper ring", 18, 2))),
    _Family("bucket_teeth", "BKT", 3.2, 6_000, 1.5, "mel",
            (_Role("T", "bucket tooth point", 28, 5, scales=True),
             _Role("N", "tooth retainer pin", 4, 5, scales=True),
             _Role("L", "tooth lock washer", 1.5, 5, scales=True))),
    _Family("track_chain", "TRC", 3.0, 11_000, 8, "me",
            (_Role("A", "track chain assembly", 2400, 2),
             _Role("B", "track shoe bolt", 3, 40, scales=True))),
    _Family("engine_turbo", "TRB", 1.7, 20_000, 6, "mel",
            (_Role("T", "turbocharger", 1250, 1),
             _Role("G", "turbo gasket kit", 45, 1)), bulky=True),
    _Family("injector", "INJ", 1.5, 18_000, 4, "mel",
            (_Role("I", "fuel injector", 380, 4, scales=True),
             _Role("O", "injector o-ring kit", 12, 1, common=True))),
    _Family("alternator", "ALT", 1.3, 24_000, 2, "mel",
            (_Role("A", "alternator 24 V", 420, 1),)),
    _Family("starter", "STR", 1.2, 27_000, 2, "mel",
            (_Role("S", "starter motor 24 V", 520, 1),)),
    _Family("ecu", "ECU", 0.7, 110_000, 2, "mel",
            (_Role("E", "engine control unit", 1800, 1),), bulky=True),
    _Family("monitor", "MON", 0.8, 90_000, 1, "mel",
            (_Role("D", "cab monitor display", 950, 1),)),
    _Family("pressure_sensor", "PSN", 0.9, 45_000, 1, "mel",
            (_Role("S", "hydraulic pressure sensor", 85, 1),
             _Role("C", "sensor connector", 9, 1, common=True))),
    _Family("hydraulic_hose", "HOS", 1.4, 15_000, 2, "mel",
            (_Role("H", "high-pressure hose", 140, 1),
             _Role("O", "hose o-ring kit", 12, 1, common=True))),
    _Family("hydraulic_filter", "HFL", 2.5, 10_500, 1, "mel",
            (_Role("R", "hydraulic return filter", 45, 1),
             _Role("P", "pilot line filter", 22, 1),
             _Role("O", "filter housing o-ring", 3, 1, common=True))),
    _Family("fuel_filter", "FFL", 2.5, 10_500, 0.5, "mel",
            (_Role("F", "fuel filter element", 28, 1),
             _Role("W", "water separator element", 35, 1))),
    _Family("radiator", "RAD", 1.6, 30_000, 6, "mel",
            (_Role("R", "radiator core", 980, 1),
             _Role("H", "radiator hose kit", 60, 1))),
    _Family("water_pump", "WPU", 1.8, 25_000, 3, "mel",
            (_Role("W", "coolant pump", 310, 1),
             _Role("G", "coolant pump gasket", 9, 1))),
    _Family("fan_belt", "BLT", 2.6, 12_500, 1, "mel",
            (_Role("B", "fan belt", 35, 1),
             _Role("T", "belt tensioner", 85, 1))),
    _Family("ac_compressor", "ACC", 1.1, 30_000, 3, "mel",
            (_Role("C", "A/C compressor", 640, 1),)),
    _Family("tire", "TIR", 2.8, 9_000, 3, "l",
            (_Role("T", "tyre 23.5R25 L3", 1900, 2),)),
    _Family("transmission", "TRN", 2.2, 25_000, 14, "l",
            (_Role("T", "powershift transmission assembly", 9500, 1),
             _Role("C", "clutch pack", 850, 1)), bulky=True),
    _Family("axle_seal", "AXS", 1.9, 18_000, 5, "l",
            (_Role("K", "axle seal kit", 160, 1),)),
)


@dataclass(frozen=True)
class _Platform:
    """A machine platform: the root model and, for large catalogues, its variants."""

    model: str
    kind: str  # "m" mini excavator, "e" excavator, "l" wheel loader
    tonnes: float
    sales_share: float
    usage: float  # multiplies hours per day (big machines run longer shifts)


_PLATFORMS: tuple[_Platform, ...] = (
    _Platform("EX20-mini", "m", 2.0, 0.22, 0.75),
    _Platform("EX60", "e", 6.0, 0.11, 0.9),
    _Platform("EX200", "e", 20.0, 0.30, 1.0),
    _Platform("EX350", "e", 35.0, 0.12, 1.15),
    _Platform("WL30", "l", 10.0, 0.08, 1.0),
    _Platform("WL50", "l", 17.0, 0.17, 1.1),
)
# The long-undercarriage EX200 is in every catalogue; more variants are added on demand.
_DEFAULT_VARIANTS = (("EX200LC", 2),)
# When a small n_parts is asked for, platforms are dropped from the end of this order.
_PLATFORM_KEEP_ORDER = (2, 5, 0, 3, 1, 4)

# Market tiers: 1 = provincial capital ... 4 = county/township.
_TIER_SHARE = np.array([0.10, 0.20, 0.35, 0.35])
_TIER_DEALER_SIZE = np.array([3.0, 2.0, 1.0, 0.6])  # relative machines served
_TIER_HOURS = np.array([5.0, 6.0, 7.2, 8.4])  # median operating hours per calendar day
_TIER_WAIT_DAYS = np.array([0.4, 0.8, 2.0, 3.5])  # median wait for parts at the dealer
# Median hours from a ticket's opening to the technician on site (a township site is far
# from the dealer's workshop), with a lognormal spread; never later than the parts.
_TIER_RESPONSE_HOURS = np.array([3.0, 6.0, 14.0, 30.0])
_RESPONSE_SIGMA = 0.6

#: Lemons: (machine, component) pairs whose component wears out several times faster than
#: its model's norm (a bad batch, a poor fit, an abusive site): the Weibull scale is divided
#: by a factor drawn uniformly from this range, the shape is kept.
LEMON_FACTOR_RANGE = (3.0, 6.0)
#: The largest share of lemon (machine, component) pairs the generator makes.
MAX_LEMON_SHARE = 0.5

# Regions of a China-sized market: name, centre lat, centre lon, share of dealers.
_REGIONS = (
    ("North", 39.0, 116.0, 0.15),
    ("Northeast", 42.5, 121.0, 0.10),
    ("East", 31.5, 119.0, 0.22),
    ("South", 23.8, 113.0, 0.15),
    ("Central", 30.0, 112.5, 0.16),
    ("Southwest", 28.5, 104.5, 0.12),
    ("Northwest", 36.0, 105.0, 0.10),
)
_LAT_RANGE = (22.0, 45.0)
_LON_RANGE = (100.0, 122.0)
_FACTORY = ("Factory central warehouse, Xuzhou", "East", 34.26, 117.19)

# Transport lanes, in line with partsforecast.data.derive_lanes.
_DEALER_LANE_REGION_KM = 600.0  # same-region dealers this close trade parts
_DEALER_LANE_ANY_KM = 250.0  # any dealers this close trade parts

_APPLICATIONS = np.array(["general construction", "road works", "quarry", "agriculture",
                          "municipal", "demolition"], dtype=object)
_NOTES = np.array(["customer reports loss of power", "leak found at inspection",
                   "warranty claim", "urgent - machine down on site", "repeat repair",
                   "parts sent by courier", "customer waiting", "noise reported by operator"],
                  dtype=object)

_P_HOURS_MISSING = 0.20
_P_RETIRED = 0.02
_P_METER_MISSING = 0.15
_P_READY_MISSING = 0.02
_P_NOTE = 0.12
_P_SUPERSEDES = 0.03
_TECHNICIANS = 6  # per dealer
_WORKDAY_START_NS = 7 * _NS_PER_HOUR  # working window 07:00-19:00
_WORKDAY_NS = 12 * _NS_PER_HOUR


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def generate_tables(
    n_machines: int = 3000,
    n_dealers: int = 30,
    n_parts: int | None = None,
    years: float = 4.0,
    seed: int = 0,
    as_of: Any = "2026-07-01",
    lemon_share: float = 0.0,
    lifetime_law: str = "weibull",
    seasonality: float = 0.0,
    heavy_use: float = 0.0,
    maintenance: bool = False,
    service_compliance: tuple[float, float] = (0.6, 0.9),
    supersession: bool = False,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], pd.Timestamp]:
    """Generate the input tables of a synthetic dealer network, with the truth.

    The generating model, which ``truth`` describes exactly:

    - Machines are sold over the ``years`` before ``as_of`` (growing sales, spring peak)
      and serviced by one dealer each. A machine runs a constant ``hours_per_day`` (true
      value in ``truth["machines"]``; ~20 % are blank in ``machines``), higher at tier 3–4
      dealers. About 2 % are retired; observation ends at retirement or ``as_of``.
    - Every (machine, component) is a renewal process: lives in operating hours are iid
      Weibull(shape, scale) of its (machine_model, component) group
      (``truth["lifetimes"]``); a failure replaces the component, which starts a new life.
      The life running at the end of observation is right-censored
      (``truth["censored"]``).
    - A failure at ``h`` operating hours falls on day ``floor(h / hours_per_day)`` after
      the in-service date, in the 07:00–19:00 working window; it is one ticket
      (``ticket_id``) with one line per BOM part of the component and ``quantity =
      qty_per_replacement``. ``meter_hours`` is ``h`` rounded to 0.1 h, blank for ~15 %
      of tickets (the whole ticket). Parts wait longer at tier 3–4 dealers and for big
      assemblies; times after ``as_of`` are blank (the repair is still open).
    - ``arrived_at`` (technician on site) follows ``opened_at`` by a lognormal response
      time: median 3, 6, 14 and 30 hours at tier 1, 2, 3 and 4 dealers, log-sd 0.6
      (``truth["response_hours"]``), but never after the parts are ready (a draw that would
      come later is set to the parts-ready time, the technician's diagnosis being what
      orders the parts). It is blank when it falls after ``as_of``. It is drawn from a
      random stream of its own, so every other column is what it was before the column
      existed.
    - With ``lemon_share > 0``, that share of the (machine, component) pairs (rounded to a
      whole number, chosen at random) are *lemons*: their lives are Weibull with the
      group's shape and the group's scale divided by a factor drawn uniformly from
      [3, 6] (``truth["lemons"]``), so they fail several times more often than their
      model's norm for the same hours. ``lemon_share = 0`` (the default) gives the tables of
      a fleet without lemons, value for value.
    - ``lifetime_law`` sets the law of the lives: ``"weibull"`` (the default, as above),
      ``"lognormal"`` or ``"gamma"``, each group's law having the mean and variance of the
      Weibull it replaces. ``truth["lifetimes"]`` then says ``law`` and gives that law's
      ``shape`` and ``scale`` (lognormal: the sd of log life and the median; gamma: the
      shape and the scale), the parameters :meth:`FailureModel.from_params` reads.
    - ``seasonality = a > 0`` makes use follow the building season: a machine runs
      ``hours_per_day · (1 + a_tier · cos(2π (t − t_peak) / 365.25))`` hours on day ``t``,
      the peak in mid-July, ``a_tier`` = ``a`` × (0.8, 0.9, 1.1, 1.2) at tier 1–4 (country
      markets are more seasonal). ``hours_per_day`` stays the yearly mean; failures fall on
      the day their operating hours are reached. ``truth["usage_profile"]`` gives the
      factor per tier and calendar month.
    - ``heavy_use = v > 0`` makes some machines much harder worked than others of their
      model: every component of a machine ages ``severity`` times faster (its lives are
      divided by it), ``severity`` gamma-distributed with mean 1 and variance ``v``
      (``truth["machines"]["severity"]``).
    - ``maintenance=True`` adds the maker's service schedule (the ``maintenance`` table:
      filters every 500–1,000 hours or 6–12 months, belts every 2,000 hours) and the service
      visits done at the dealers (``ticket_type = "service"``): services fall due at every
      multiple of a model's base interval (or of its months, whichever comes first), each
      done at the dealer with the machine's own probability (its owner's habit, uniform
      over ``service_compliance`` — others are done elsewhere or skipped), a few days late.
      The failures are simulated as without it (a filter may clog between services);
      ``truth["services"]`` lists every due service and whether it was done at the dealer.
    - ``supersession=True`` gives the superseded numbers a past: their own parts rows, the
      ticket lines before each switch date, a few units still on dealers' shelves, a few
      two-link chains, ~85% interchangeable
      (:func:`partsforecast._sample_supersession.add_superseded_history`;
      ``truth["supersession"]``).

    Each option draws from a random stream of its own: with every option at its default
    the tables are what they were before the options existed, value for value.

    Parameters
    ----------
    n_machines : int, default 3000
        Machines sold (including the few already retired).
    n_dealers : int, default 30
        Dealers, across market tiers 1–4 (fewer tier 1, more tier 3–4).
    n_parts : int, optional
        Exact number of part numbers. More parts bring more model variants (``EX200-5``,
        ...). ``None`` gives the natural catalogue of a few hundred parts.
    years : float, default 4.0
        Length of the sales (and ticket) history before ``as_of``.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives identical tables.
    as_of : date-like, default "2026-07-01"
        End of the data; normalised to midnight.
    lemon_share : float, default 0.0
        Share of (machine, component) pairs that are lemons, from 0 to 0.5.
    lifetime_law : {"weibull", "lognormal", "gamma"}
        Law of the component lives.
    seasonality : float, default 0.0
        Amplitude of the yearly use profile, from 0 to 0.6.
    heavy_use : float, default 0.0
        Variance of the machines' severity factor (mean 1), from 0 to 2.
    maintenance : bool, default False
        Add service schedules and service visits.
    service_compliance : (float, float), default (0.6, 0.9)
        Range of the machines' probabilities of having a due service done at the dealer.
    supersession : bool, default False
        Give superseded part numbers a history and stock.

    Returns
    -------
    tables : dict of DataFrame
        ``machines``, ``tickets``, ``parts``, ``bom``, ``locations``, ``lanes``, ``stock``,
        ``maintenance`` (empty without ``maintenance=True``)
        with the contract's columns first (identifiers ``str``, dates ``datetime64[ns]``,
        floats ``float64``, counts ``int64``; ``locations.tier`` is nullable ``Int64``,
        missing for the warehouse) and a few realistic extra columns.
    truth : dict of DataFrame
        ``lifetimes`` (machine_model, component, law, shape, scale in hours, mean_hours),
        ``machines`` (serial, true hours_per_day, observation end, total hours...),
        ``failures`` (one row per failure: ticket_id, serial, machine_model, component,
        life number, start_hours and failure_hours in machine hours, life_hours,
        failure_time unrounded), ``censored`` (one row per machine ×
        component: failures seen and the running life's age in hours at the end of
        observation, i.e. the right-censored ages), ``lemons`` (serial, machine_model,
        component, factor, scale: one row per lemon pair, empty without lemons) and
        ``response_hours`` (tier, median_hours, sigma_log: the law of the technician's
        response time).
    as_of : Timestamp
        The as-of date used.

    Raises
    ------
    ValueError
        For settings outside their allowed range; the message says what is allowed.

    Examples
    --------
    >>> tables, truth, as_of = generate_tables(n_machines=500, n_dealers=8, seed=1)
    >>> sorted(tables)
    ['bom', 'lanes', 'locations', 'machines', 'maintenance', 'parts', 'stock', 'tickets']
    """
    n_machines, n_dealers, years, as_of_ts = _check_settings(n_machines, n_dealers, years,
                                                             as_of)
    lemon_share = _check_share(lemon_share)
    opts = _check_options(lifetime_law, seasonality, heavy_use, maintenance, service_compliance)
    rng = np.random.default_rng(seed)
    # Lemons, response times and each option draw from streams of their own: the main
    # stream, and so every table of a fleet without them, is what it was before they existed.
    lemon_rng, response_rng, severity_rng, service_rng, supersession_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5))
    cat = _build_catalogue(rng, n_parts)
    cat.lifetimes = _with_law(cat.lifetimes, opts["lifetime_law"])
    loc = _build_locations(rng, n_dealers)
    lanes = _build_lanes(rng, loc)
    season = _Season(opts["seasonality"] * _TIER_SEASON)
    mach = _build_machines(rng, n_machines, years, as_of_ts, cat, loc, season)
    severity = _draw_severity(severity_rng, len(mach.serial), opts["heavy_use"])
    fail = _simulate_failures(rng, mach, cat, lemon_rng, lemon_share, severity)
    tickets, failures_truth = _build_tickets(rng, fail, mach, cat, loc, as_of_ts, response_rng, season)
    stock = _build_stock(rng, tickets, cat, loc, as_of_ts)
    schedule = _service_schedule(cat) if opts["maintenance"] else _empty_schedule()
    services_truth = None
    if opts["maintenance"]:
        from partsforecast._sample_service import service_visits

        service_tickets, services_truth = service_visits(
            service_rng, schedule, cat.parts, mach, loc, season, as_of_ts, opts["service_compliance"],
            first_ticket=len(failures_truth) + 1)
        tickets = pd.concat([tickets, service_tickets], ignore_index=True)
        tickets = tickets.sort_values(["opened_at", "ticket_id"], kind="stable", ignore_index=True)
    if opts["heavy_use"] > 0:
        mach.truth["severity"] = severity

    tables = {
        "machines": mach.table,
        "tickets": tickets,
        "parts": cat.parts,
        "bom": cat.bom,
        "locations": loc.table,
        "lanes": lanes,
        "stock": stock,
        "maintenance": schedule,
    }
    truth = {
        "lifetimes": cat.lifetimes,
        "machines": mach.truth,
        "failures": failures_truth,
        "censored": _censored_truth(fail, mach, cat),
        "lemons": _lemons_truth(fail, mach, cat),
        "response_hours": pd.DataFrame({"tier": np.arange(1, 5, dtype=np.int64),
                                        "median_hours": _TIER_RESPONSE_HOURS.copy(),
                                        "sigma_log": np.full(4, _RESPONSE_SIGMA)}),
    }
    if opts["seasonality"] > 0:
        truth["usage_profile"] = season.monthly_profile()
    if services_truth is not None:
        truth["services"] = services_truth
    if supersession:
        from partsforecast._sample_supersession import add_superseded_history

        tables, truth["supersession"] = add_superseded_history(tables, supersession_rng, as_of_ts)
    return tables, truth, as_of_ts


def make_fleet(
    n_machines: int = 3000,
    n_dealers: int = 30,
    n_parts: int | None = None,
    years: float = 4.0,
    seed: int = 0,
    as_of: Any = "2026-07-01",
    lemon_share: float = 0.0,
    lifetime_law: str = "weibull",
    seasonality: float = 0.0,
    heavy_use: float = 0.0,
    maintenance: bool = False,
    service_compliance: tuple[float, float] = (0.6, 0.9),
    supersession: bool = False,
) -> Fleet:
    """A validated synthetic :class:`~partsforecast.data.Fleet` with its truth attached.

    The generating model is described in :func:`generate_tables`; ``fleet.truth`` holds
    the truth tables (``fleet.truth["lifetimes"]`` gives the Weibull parameters that
    generated the tickets).

    Parameters
    ----------
    n_machines : int, default 3000
        Machines sold (including the few already retired), at most 5,000,000.
    n_dealers : int, default 30
        Dealers, across market tiers 1–4.
    n_parts : int, optional
        Exact number of part numbers; ``None`` gives the natural catalogue.
    years : float, default 4.0
        Length of the sales and ticket history before ``as_of``.
    seed : int, default 0
        The same seed gives identical tables.
    as_of : date-like, default "2026-07-01"
        End of the data.
    lemon_share : float, default 0.0
        Share of (machine, component) pairs that fail several times faster than their
        model's norm (``fleet.truth["lemons"]``); see :func:`generate_tables`.
    lifetime_law : {"weibull", "lognormal", "gamma"}
        Law of the component lives (same mean and variance per group whatever the law).
    seasonality : float, default 0.0
        Amplitude of the yearly use profile (0 to 0.6; ``truth["usage_profile"]``).
    heavy_use : float, default 0.0
        Variance of the machines' severity (0 to 2): how much harder some machines are
        worked than others of their model (``truth["machines"]["severity"]``).
    maintenance : bool, default False
        Add the service schedule and service visits (``truth["services"]``).
    service_compliance : (float, float), default (0.6, 0.9)
        Range of the owners' probabilities of having a due service done at the dealer.
    supersession : bool, default False
        Give superseded part numbers a history, stock and parts rows of their own
        (``truth["supersession"]``).

    Returns
    -------
    Fleet

    Examples
    --------
    >>> fleet = make_fleet(n_machines=500, n_dealers=8, seed=1)  # doctest: +SKIP
    >>> fleet.truth["lifetimes"].head()  # doctest: +SKIP
    """
    tables, truth, as_of_ts = generate_tables(n_machines=n_machines, n_dealers=n_dealers,
                                              n_parts=n_parts, years=years, seed=seed,
                                              as_of=as_of, lemon_share=lemon_share,
                                              lifetime_law=lifetime_law, seasonality=seasonality,
                                              heavy_use=heavy_use, maintenance=maintenance,
                                              service_compliance=service_compliance,
                                              supersession=supersession)
    return Fleet(**tables, as_of=as_of_ts, truth=truth)


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------


#: The largest fleet the generator makes (a national network is 200,000 machines).
MAX_MACHINES = 5_000_000
MAX_DEALERS = 10_000


def _check_settings(n_machines, n_dealers, years, as_of):
    def whole(name, value, low, high):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")
        return int(value)

    n_machines = whole("n_machines", n_machines, 1, MAX_MACHINES)
    n_dealers = whole("n_dealers", n_dealers, 1, MAX_DEALERS)
    if not isinstance(years, (int, float, np.integer, np.floating)) or not (
            1 / 12 <= float(years) <= 50):
        raise ValueError(f"years must be a number of years between 1/12 and 50, got {years!r}")
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        raise ValueError(f"as_of must be a date such as '2026-07-01', got {as_of!r}") from None
    if pd.isna(ts):
        raise ValueError(f"as_of must be a date such as '2026-07-01', got {as_of!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return n_machines, n_dealers, float(years), ts.normalize().as_unit("ns")


#: Laws the generator can draw lives from.
LIFETIME_LAWS = ("weibull", "lognormal", "gamma")


def _check_options(lifetime_law, seasonality, heavy_use, maintenance, compliance) -> dict:
    if lifetime_law not in LIFETIME_LAWS:
        raise ValueError(f"lifetime_law must be one of {', '.join(LIFETIME_LAWS)}, got {lifetime_law!r}")

    def number(name, value, high):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or not 0 <= value <= high:
            raise ValueError(f"{name} must be a number from 0 to {high}, got {value!r}")
        return float(value)

    if not isinstance(maintenance, (bool, np.bool_)):
        raise ValueError(f"maintenance must be True or False, got {maintenance!r}")
    try:
        low, high = (float(c) for c in compliance)
    except (TypeError, ValueError):
        raise ValueError(f"service_compliance must be two numbers (low, high), got {compliance!r}") from None
    if not (0 < low <= high <= 1):
        raise ValueError(f"service_compliance must satisfy 0 < low <= high <= 1, got {compliance!r}")
    return {"lifetime_law": lifetime_law, "seasonality": number("seasonality", seasonality, 0.6),
            "heavy_use": number("heavy_use", heavy_use, 2.0), "maintenance": bool(maintenance),
            "service_compliance": (low, high)}


def _check_share(share) -> float:
    if isinstance(share, bool) or not isinstance(share, (int, float, np.integer, np.floating)) or not (
            0.0 <= float(share) <= MAX_LEMON_SHARE):
        raise ValueError(f"lemon_share must be a number from 0 to {MAX_LEMON_SHARE}, got {share!r}")
    return float(share)


# ---------------------------------------------------------------------------------------
# Catalogue: models, lifetimes, parts, BOM
# ---------------------------------------------------------------------------------------


@dataclass
class _Catalogue:
    models: pd.DataFrame  # machine_model, platform, kind, tonnes, usage, sales_weight
    lifetimes: pd.DataFrame  # one row per group = (machine_model, component)
    group_model: np.ndarray  # group -> model index
    group_family: np.ndarray  # group -> family index
    group_start: np.ndarray  # model -> first group index (groups are sorted by model)
    group_count: np.ndarray  # model -> number of groups
    bom: pd.DataFrame  # rows sorted by group
    bom_start: np.ndarray  # group -> first BOM row
    bom_count: np.ndarray  # group -> BOM rows
    parts: pd.DataFrame


def _model_list(n_variants: int, platforms: list[int]) -> list[tuple[str, int]]:
    """(model name, platform index) of the roots, then ``n_variants`` generated variants."""
    models = [(_PLATFORMS[p].model, p) for p in platforms]
    variants = [v for v in _DEFAULT_VARIANTS if v[1] in platforms]
    gen = 5
    while len(variants) < n_variants:
        variants += [(f"{_PLATFORMS[p].model}-{gen}", p) for p in platforms]
        gen += 1
    return models + variants[:n_variants]


def _slots(models: list[tuple[str, int]]) -> pd.DataFrame:
    """Every (model, family, role) part slot of a catalogue, with who owns its part.

    A root model owns its parts; a variant either reuses its root's part for the slot or
    gets its own (``optional``); commodity roles share one part number across all models.
    ``forced`` slots must be a part of their own.
    """
    rows = [(mi, p, fi, ri)
            for mi, (_, p) in enumerate(models)
            for fi, fam in enumerate(_FAMILIES) if _PLATFORMS[p].kind in fam.kinds
            for ri in range(len(fam.roles))]
    s = pd.DataFrame(rows, columns=["model", "platform", "family", "role"])
    roles = [_FAMILIES[f].roles[r] for f, r in zip(s["family"], s["role"])]
    s["common"] = [r.common for r in roles]
    s["scales"] = [r.scales for r in roles]
    s["qty"] = np.array([r.qty for r in roles], dtype=np.int64)
    s["cost"] = [r.cost for r in roles]
    s["code"] = pd.array([_FAMILIES[f].code + "-" + r.suffix
                          for f, r in zip(s["family"], roles)], dtype="str")
    s["description"] = pd.array([r.description for r in roles], dtype="str")
    # Roots come first in the model list, so the first slot of a key is the owner.
    row = pd.Series(np.arange(len(s)))
    by_platform = row.groupby([s["platform"], s["family"], s["role"]]).transform("min")
    by_role = row.groupby([s["family"], s["role"]]).transform("min")
    s["owner"] = np.where(s["common"], by_role, by_platform)
    s["forced"] = s["owner"].to_numpy() == row.to_numpy()
    s["optional"] = ~s["forced"] & ~s["common"]
    return s


def _slot_counts(models: list[tuple[str, int]]) -> tuple[int, int]:
    """(forced, optional) slot counts of :func:`_slots`, by arithmetic (it is called often)."""
    kinds = [_PLATFORMS[p].kind for _, p in models]
    n_roots = len({p for _, p in models})

    def own(kind):  # non-commodity part slots of one model of this kind
        return sum(not r.common for f in _FAMILIES if kind in f.kinds for r in f.roles)

    common = {(f.name, r.suffix) for f in _FAMILIES if set(f.kinds) & set(kinds)
              for r in f.roles if r.common}
    forced = sum(own(k) for k in kinds[:n_roots]) + len(common)
    return forced, sum(own(k) for k in kinds[n_roots:])


def _choose_models(n_parts: int | None) -> list[tuple[str, int]]:
    """The model list for a catalogue of ``n_parts`` parts (None: the natural one)."""
    n_all = len(_PLATFORMS)
    if n_parts is None:
        return _model_list(len(_DEFAULT_VARIANTS), list(range(n_all)))
    # Too few parts for every platform: drop the default variant, then keep only the
    # best-selling platforms.
    options = [(n_all, len(_DEFAULT_VARIANTS))] + [(k, 0) for k in range(n_all, 0, -1)]
    for keep, n_variants in options:
        platforms = sorted(_PLATFORM_KEEP_ORDER[:keep])
        n_forced, _ = _slot_counts(_model_list(n_variants, platforms))
        if n_forced <= n_parts:
            break
    else:
        raise ValueError(
            f"n_parts must be at least {n_forced} (the parts of one model), got {n_parts}; "
            "ask for more parts or pass None for the natural catalogue")
    # Too many: add variants until at most ~80% of their slots need a part of their own,
    # so that variants keep sharing parts with their root as real model ranges do.
    while True:
        models = _model_list(n_variants, platforms)
        n_forced, n_optional = _slot_counts(models)
        if n_forced + 0.8 * n_optional >= n_parts:
            return models
        n_variants += len(platforms)


def _build_catalogue(rng: np.random.Generator, n_parts: int | None) -> _Catalogue:
    if n_parts is not None and (isinstance(n_parts, bool)
                                or not isinstance(n_parts, (int, np.integer))):
        raise ValueError(f"n_parts must be a whole number or None, got {n_parts!r}")
    models = _choose_models(None if n_parts is None else int(n_parts))
    n_roots = len({p for _, p in models})
    slots = _slots(models)
    forced, optional = slots["forced"].to_numpy(), slots["optional"].to_numpy()
    n_forced, n_optional = int(forced.sum()), int(optional.sum())
    assert (n_forced, n_optional) == _slot_counts(models)
    if n_parts is None:
        n_parts = n_forced + round(0.3 * n_optional)
    n_parts = min(int(n_parts), n_forced + n_optional)

    # Which variant slots get a part of their own: main parts first, as a new model
    # generation changes its pump before its seal kit.
    opt_idx = np.flatnonzero(optional)
    score = rng.random(opt_idx.size) + 0.5 * (slots["role"].to_numpy()[opt_idx] == 0)
    chosen = opt_idx[np.argsort(-score, kind="stable")[: n_parts - n_forced]]
    new = forced.copy()
    new[chosen] = True
    # Part index of every slot: its own if new, else its owner's (always new).
    part_of = np.cumsum(new) - 1
    part_of = np.where(new, part_of, part_of[slots["owner"].to_numpy()])

    # Models; a platform's sales are split among its variants.
    mdf = pd.DataFrame({"machine_model": pd.array([m for m, _ in models], dtype="str"),
                        "platform": [p for _, p in models]})
    plat = [_PLATFORMS[p] for p in mdf["platform"]]
    mdf["kind"] = pd.array([q.kind for q in plat], dtype="str")
    mdf["tonnes"] = [q.tonnes for q in plat]
    mdf["usage"] = [q.usage for q in plat]
    popularity = pd.Series(np.exp(rng.normal(0.0, 0.5, len(mdf))))
    weight = (np.array([q.sales_share for q in plat]) * popularity
              / popularity.groupby(mdf["platform"]).transform("sum"))
    mdf["sales_weight"] = (weight / weight.sum()).to_numpy()

    # Groups (model, component) and their true Weibull parameters: the family's value,
    # a platform deviation and a small variant deviation, rounded to the values that are
    # then used to simulate (so truth is exact).
    grp = slots.drop_duplicates(["model", "family"])[["model", "platform", "family"]]
    grp = grp.reset_index(drop=True)
    gm, gp, gf = (grp[c].to_numpy() for c in ("model", "platform", "family"))
    n_plat, n_fam = len(_PLATFORMS), len(_FAMILIES)
    plat_shape = np.exp(rng.normal(0.0, 0.07, (n_plat, n_fam)))
    plat_scale = np.exp(rng.normal(0.0, 0.15, (n_plat, n_fam)))
    is_variant = gm >= n_roots
    var_shape = np.where(is_variant, np.exp(rng.normal(0.0, 0.03, len(grp))), 1.0)
    var_scale = np.where(is_variant, np.exp(rng.normal(0.0, 0.06, len(grp))), 1.0)
    fam_shape = np.array([f.shape for f in _FAMILIES])
    fam_scale = np.array([f.scale for f in _FAMILIES])
    shape = np.round(fam_shape[gf] * plat_shape[gp, gf] * var_shape, 2)
    scale = np.round(fam_scale[gf] * plat_scale[gp, gf] * var_scale, 0)
    component_names = pd.array([f.name for f in _FAMILIES], dtype="str")
    lifetimes = pd.DataFrame({
        "machine_model": mdf["machine_model"].array.take(gm),
        "component": component_names.take(gf),
        "shape": shape,
        "scale": scale,
        "mean_hours": scale * np.exp(gammaln(1.0 + 1.0 / shape)),
    })
    group_count = np.bincount(gm, minlength=len(mdf))
    group_start = np.cumsum(group_count) - group_count

    # Parts: one per new slot. Cost grows with machine size (commodities excepted).
    n_new = int(new.sum())
    ps = slots[new].reset_index(drop=True)
    tonnes = mdf["tonnes"].to_numpy()[ps["model"].to_numpy()]
    size = np.where(ps["common"], 1.0, (tonnes / 20.0) ** 0.4)
    cost = np.maximum(np.round(ps["cost"] * size * np.exp(rng.normal(0.0, 0.15, n_new)), 2),
                      0.5)
    # Factory lead time: big assemblies come from suppliers abroad, small parts from stock.
    bulky = np.array([f.bulky for f in _FAMILIES])[ps["family"].to_numpy()]
    main = ps["role"].to_numpy() == 0
    lead_median = np.where(bulky & main, 30.0, np.where(main, 14.0, 9.0))
    lead = np.clip(np.round(lead_median * np.exp(rng.normal(0.0, 0.35, n_new))), 5, 60)
    # Numbers are drawn at random so they say nothing about model or age; the second
    # half of the draw numbers the old parts that some current parts supersede.
    width = max(5, len(str(10_000 + 2 * n_new)))
    numbers = pd.Series(10_000 + rng.permutation(2 * n_new)).astype("str").str.zfill(width)
    code = pd.Series(ps["code"].array)
    part_number = code + numbers[:n_new].to_numpy()
    supersedes = (code + numbers[n_new:].to_numpy()).where(rng.random(n_new) < _P_SUPERSEDES)
    parts = pd.DataFrame({
        "part_number": part_number.array,
        "component": component_names.take(ps["family"].to_numpy()),
        "unit_cost": cost.astype("float64"),
        "lead_time_days": lead.astype("float64"),
        "supersedes": supersedes.array,
        "interchangeable": np.ones(n_new, dtype=bool),
        "description": ps["description"].array,
    })
    order = np.argsort(parts["part_number"].to_numpy(), kind="stable")
    parts = parts.iloc[order].reset_index(drop=True)
    rank = np.empty(n_new, dtype=np.int64)
    rank[order] = np.arange(n_new)
    part_of = rank[part_of]  # part indices into the sorted table

    # BOM: one row per slot, sorted by group so a group's lines are contiguous. Bigger
    # machines take more teeth, bolts and injectors (roughly tonnes^0.2).
    gid = pd.MultiIndex.from_frame(grp[["model", "family"]]).get_indexer(
        pd.MultiIndex.from_frame(slots[["model", "family"]]))
    slot_tonnes = mdf["tonnes"].to_numpy()[slots["model"].to_numpy()]
    qty = np.where(slots["scales"],
                   np.maximum(1, np.round(slots["qty"] * (slot_tonnes / 20.0) ** 0.2)),
                   slots["qty"]).astype(np.int64)
    bom = pd.DataFrame({
        "machine_model": mdf["machine_model"].array.take(slots["model"].to_numpy()),
        "component": component_names.take(slots["family"].to_numpy()),
        "part_number": parts["part_number"].array.take(part_of),
        "qty_per_replacement": qty,
    })
    order = np.lexsort((slots["role"].to_numpy(), gid))
    bom = bom.iloc[order].reset_index(drop=True)
    bom_count = np.bincount(gid, minlength=len(grp))
    return _Catalogue(models=mdf, lifetimes=lifetimes, group_model=gm, group_family=gf,
                      group_start=group_start, group_count=group_count, bom=bom,
                      bom_start=np.cumsum(bom_count) - bom_count, bom_count=bom_count,
                      parts=parts)


def _with_law(lifetimes: pd.DataFrame, law: str) -> pd.DataFrame:
    """The groups' lifetimes under ``law``, each with the mean and variance of its Weibull.

    Parameters are rounded to the values then used to simulate, so the truth is exact.
    """
    out = lifetimes.copy()
    k = out["shape"].to_numpy(float)
    mean = out["mean_hours"].to_numpy(float)
    cv2 = np.expm1(gammaln(1.0 + 2.0 / k) - 2.0 * gammaln(1.0 + 1.0 / k))
    if law == "lognormal":
        out["shape"] = np.round(np.sqrt(np.log1p(cv2)), 4)  # sd of log life
        out["scale"] = np.round(mean / np.sqrt(1.0 + cv2), 0)  # median
        out["mean_hours"] = out["scale"] * np.exp(out["shape"] ** 2 / 2.0)
    elif law == "gamma":
        out["shape"] = np.round(1.0 / cv2, 4)
        out["scale"] = np.round(mean * cv2, 0)
        out["mean_hours"] = out["shape"] * out["scale"]
    out.insert(2, "law", pd.array(np.full(len(out), law, dtype=object), dtype="str"))
    return out


def _draw_lives(rng: np.random.Generator, law: str, shape: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """One life per row, from the group's law (``scale`` in operating hours)."""
    if law == "lognormal":
        return scale * np.exp(shape * rng.standard_normal(shape.size))
    if law == "gamma":
        return rng.gamma(shape, scale)
    return scale * rng.weibull(shape)


def _draw_severity(rng: np.random.Generator, n: int, variance: float) -> np.ndarray:
    """How many times faster each machine's components age: gamma, mean 1 (1 without)."""
    if variance <= 0:
        return np.ones(n)
    return np.round(rng.gamma(1.0 / variance, variance, n), 3).clip(0.05)


# ---------------------------------------------------------------------------------------
# The service schedule
# ---------------------------------------------------------------------------------------

#: Components replaced at services: (interval in operating hours, interval in months,
#: only the first part line of the component — the belt, not its tensioner).
_SERVICE_PLAN = {"fuel_filter": (500.0, 6.0, False),
                 "hydraulic_filter": (1000.0, 12.0, False),
                 "fan_belt": (2000.0, 24.0, True)}


def _service_schedule(cat: _Catalogue) -> pd.DataFrame:
    """The maker's schedule: every model's lines of the serviced components."""
    bom = cat.bom
    comp = bom["component"]
    first = ~bom.duplicated(["machine_model", "component"]).to_numpy()
    rows = []
    for component, (hours, months, first_only) in _SERVICE_PLAN.items():
        take = (comp == component).to_numpy() & (first if first_only else True)
        part = bom.loc[take, ["machine_model", "part_number", "qty_per_replacement"]]
        rows.append(part.assign(interval_hours=hours, interval_months=months))
    out = pd.concat(rows, ignore_index=True).rename(columns={"qty_per_replacement": "quantity"})
    out = out.sort_values(["machine_model", "interval_hours", "part_number"], ignore_index=True)
    return out[[c.name for c in SCHEMA["maintenance"]]]


def _empty_schedule() -> pd.DataFrame:
    return pd.DataFrame({"machine_model": pd.array([], dtype="str"),
                         "part_number": pd.array([], dtype="str"),
                         "quantity": np.zeros(0, np.int64),
                         "interval_hours": np.zeros(0), "interval_months": np.zeros(0)})


# ---------------------------------------------------------------------------------------
# Use over the year
# ---------------------------------------------------------------------------------------

#: Seasonal amplitude by tier, relative to ``seasonality`` (country markets swing more).
_TIER_SEASON = np.array([0.8, 0.9, 1.1, 1.2])
_SEASON_PEAK_DAY = 195.0  # days after 1 January 1970: mid-July, the height of the season
_YEAR_DAYS = 365.25


class _Season:
    """Use over the year: ``1 + a_tier cos(2π (t − peak) / 365.25)`` times the mean hours."""

    def __init__(self, amplitude: np.ndarray):
        self.amplitude = np.asarray(amplitude, float)
        self.flat = not (self.amplitude > 0).any()

    def _wave(self, t: np.ndarray) -> np.ndarray:
        return np.sin(2 * np.pi * (t - _SEASON_PEAK_DAY) / _YEAR_DAYS) * _YEAR_DAYS / (2 * np.pi)

    def span(self, start_ns: np.ndarray, end_ns: np.ndarray, tier: np.ndarray) -> np.ndarray:
        """Mean-use days between two instants (the calendar days when use is flat)."""
        days = (end_ns - start_ns) / _NS_PER_DAY
        if self.flat:
            return days
        a = self.amplitude[tier - 1]
        return days + a * (self._wave(end_ns / _NS_PER_DAY) - self._wave(start_ns / _NS_PER_DAY))

    def reach(self, start_ns: np.ndarray, target: np.ndarray, tier: np.ndarray) -> np.ndarray:
        """Calendar days after ``start_ns`` at which ``target`` mean-use days are reached."""
        if self.flat:
            return target
        a = self.amplitude[tier - 1]
        t0 = start_ns / _NS_PER_DAY
        base = self._wave(t0)
        days = np.asarray(target, float).copy()
        for _ in range(30):  # Newton on a monotone function (slope ≥ 1 − a > 0)
            f = days + a * (self._wave(t0 + days) - base) - target
            slope = 1.0 + a * np.cos(2 * np.pi * (t0 + days - _SEASON_PEAK_DAY) / _YEAR_DAYS)
            step = f / slope
            days -= step
            if np.abs(step).max(initial=0.0) < 1e-9:
                break
        return days

    def monthly_profile(self) -> pd.DataFrame:
        """Mean use factor per tier and calendar month (1 = the yearly mean)."""
        day = pd.date_range("2025-01-01", "2025-12-31", freq="D")
        t = (day - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1) + 0.5
        wave = np.cos(2 * np.pi * (np.asarray(t, float) - _SEASON_PEAK_DAY) / _YEAR_DAYS)
        rows = []
        for tier in range(1, 5):
            factor = pd.Series(1.0 + self.amplitude[tier - 1] * wave).groupby(day.month).mean()
            rows.append(pd.DataFrame({"tier": tier, "month": factor.index.astype("int64"),
                                      "factor": factor.to_numpy().round(4)}))
        return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------------------
# Locations and lanes
# ---------------------------------------------------------------------------------------


@dataclass
class _Locations:
    table: pd.DataFrame
    dealer_ids: pd.Series  # str, dealer index -> location_id
    tier: np.ndarray  # dealer index -> tier 1..4
    size: np.ndarray  # dealer index -> relative share of machines
    usage: np.ndarray  # dealer index -> local usage multiplier


def _build_locations(rng: np.random.Generator, n_dealers: int) -> _Locations:
    # Tier counts in fixed proportions (at least one of each once there are 4 dealers),
    # shuffled so that ids say nothing about tier.
    counts = np.floor(_TIER_SHARE * n_dealers).astype(int)
    if n_dealers >= 4:
        counts = np.maximum(counts, 1)
    while counts.sum() < n_dealers:  # fill remainders, township dealers first
        counts[np.argmax(_TIER_SHARE * n_dealers - counts + (np.arange(4) == 3) * 1e-9)] += 1
    while counts.sum() > n_dealers:
        counts[np.argmax(counts)] -= 1
    tier = rng.permutation(np.repeat(np.arange(1, 5), counts))

    shares = np.array([r[3] for r in _REGIONS])
    region = rng.choice(len(_REGIONS), size=n_dealers, p=shares / shares.sum())
    centre = np.array([[r[1], r[2]] for r in _REGIONS])[region]
    lat = np.clip(centre[:, 0] + rng.normal(0.0, 1.6, n_dealers), *_LAT_RANGE)
    lon = np.clip(centre[:, 1] + rng.normal(0.0, 2.0, n_dealers), *_LON_RANGE)
    holding = np.round(rng.uniform(0.20, 0.30, n_dealers), 3)
    size = _TIER_DEALER_SIZE[tier - 1] * np.exp(rng.normal(0.0, 0.4, n_dealers))
    usage = np.exp(rng.normal(0.0, 0.10, n_dealers))

    width = max(3, len(str(n_dealers)))
    ids = "D" + pd.Series(np.arange(1, n_dealers + 1)).astype("str").str.zfill(width)
    region_names = pd.Series(np.array([r[0] for r in _REGIONS], dtype=object)[region],
                             dtype="str")
    tier_words = pd.Series(np.array(["City", "Prefecture", "County", "Township"],
                                    dtype=object)[tier - 1], dtype="str")
    names = region_names + " " + tier_words + " Machinery Service " + ids.str[1:]
    table = pd.DataFrame({
        "location_id": pd.concat([pd.Series([WAREHOUSE_ID], dtype="str"), ids],
                                 ignore_index=True),
        "kind": pd.Series(["warehouse"] + ["dealer"] * n_dealers, dtype="str"),
        # The warehouse has no market tier: nullable Int64 keeps dealer tiers integers,
        # as partsforecast.data parses them.
        "tier": pd.arrays.IntegerArray(np.concatenate([[0], tier]).astype("int64"),
                                       np.arange(n_dealers + 1) == 0),
        "lat": np.concatenate([[_FACTORY[2]], np.round(lat, 4)]),
        "lon": np.concatenate([[_FACTORY[3]], np.round(lon, 4)]),
        "holding_rate": np.concatenate([[0.18], holding]),
        "dealer_name": pd.concat([pd.Series([_FACTORY[0]], dtype="str"), names],
                                 ignore_index=True),
        "region": pd.concat([pd.Series([_FACTORY[1]], dtype="str"), region_names],
                            ignore_index=True),
    })
    return _Locations(table=table, dealer_ids=ids, tier=tier, size=size, usage=usage)


def _build_lanes(rng: np.random.Generator, loc: _Locations) -> pd.DataFrame:
    t = loc.table
    lat, lon = t["lat"].to_numpy(), t["lon"].to_numpy()
    region = t["region"].to_numpy(dtype=object)
    km = great_circle_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    n = len(t)
    dealer = np.arange(n) > 0
    pair = dealer[:, None] & dealer[None, :] & (
        ((region[:, None] == region[None, :]) & (km <= _DEALER_LANE_REGION_KM))
        | (km <= _DEALER_LANE_ANY_KM))
    pair[0, 1:] = True  # the factory supplies every dealer
    np.fill_diagonal(pair, False)
    i, j = np.nonzero(pair)
    road = km[i, j] * ROAD_CIRCUITY
    from_wh = i == 0
    ship = np.round(40.0 + 0.05 * road, 2)
    # Some dealer-to-dealer lanes have no agreed fixed fee (optional in the contract).
    ship[~from_wh & (rng.random(i.size) < 0.05)] = np.nan
    ids = t["location_id"].array
    return pd.DataFrame({
        "from_id": ids.take(i),
        "to_id": ids.take(j),
        "lead_time_days": np.round(HANDLING_DAYS + road / KM_PER_DAY, 2),
        "cost_per_unit": np.round(COST_PER_UNIT_BASE + COST_PER_UNIT_PER_KM * road, 2),
        "cost_per_shipment": ship,
        "distance_km": np.round(road, 1),
    })


# ---------------------------------------------------------------------------------------
# Machines
# ---------------------------------------------------------------------------------------


@dataclass
class _Machines:
    table: pd.DataFrame
    truth: pd.DataFrame
    model: np.ndarray  # machine -> model index
    dealer: np.ndarray  # machine -> dealer index
    hours_per_day: np.ndarray  # true usage
    start_ns: np.ndarray  # in-service date (int64 ns)
    end_ns: np.ndarray  # end of observation: retirement or as_of
    total_hours: np.ndarray  # operating hours at end of observation
    serial: pd.Series  # str


def _build_machines(rng, n, years, as_of, cat: _Catalogue, loc: _Locations, use: _Season) -> _Machines:
    as_of_ns = as_of.value
    n_days = max(2, round(years * 365.25))
    # Sales: growing ~10% a year with a spring peak (the building season).
    days_back = np.arange(1, n_days + 1)
    sale = as_of - pd.to_timedelta(days_back, unit="D")
    season = 1.0 + 0.35 * np.cos(2 * np.pi * (sale.day_of_year.to_numpy() - 100) / 365.25)
    growth = 1.10 ** (-days_back / 365.25)
    p = season * growth
    back = rng.choice(days_back, size=n, p=p / p.sum())
    start_ns = as_of_ns - back.astype(np.int64) * _NS_PER_DAY

    model = rng.choice(len(cat.models), size=n, p=cat.models["sales_weight"].to_numpy())
    dealer = rng.choice(len(loc.tier), size=n, p=loc.size / loc.size.sum())
    tier = loc.tier[dealer]
    # Usage: township machines work longer days than city ones; lognormal per machine.
    hpd = (_TIER_HOURS[tier - 1] * cat.models["usage"].to_numpy()[model] * loc.usage[dealer]
           * np.exp(rng.normal(0.0, 0.35, n)))
    hpd = np.round(np.clip(hpd, 0.5, 20.0), 2)

    # A few machines retired (scrapped, exported) between sale and as_of.
    retire = (rng.random(n) < _P_RETIRED) & (back >= 2)
    after = 1 + np.floor(rng.random(n) * (back - 1)).astype(np.int64)
    retired_ns = np.where(retire, start_ns + after * _NS_PER_DAY, _NAT)
    end_ns = np.where(retire, retired_ns, as_of_ns)
    total_hours = use.span(start_ns, end_ns, tier) * hpd

    # Serials: a kind prefix and a running number that grows with the date of sale, with
    # gaps (machines exported, or sold through other channels).
    prefixes = pd.Series({"m": "EXM", "e": "EXC", "l": "WLD"}, dtype="str")
    prefix = prefixes.reindex(cat.models["kind"]).array.take(model)
    by_date = np.argsort(start_ns, kind="stable")
    numbers = np.empty(n, dtype=np.int64)
    numbers[by_date] = 1_000_000 + np.cumsum(rng.integers(1, 4, n))
    serial = pd.Series(prefix) + pd.Series(numbers).astype("str")
    reported_hpd = np.where(rng.random(n) < _P_HOURS_MISSING, np.nan, hpd)
    application = _APPLICATIONS[rng.choice(len(_APPLICATIONS), size=n,
                                           p=[0.45, 0.15, 0.12, 0.1, 0.12, 0.06])]

    models = pd.array(cat.models["machine_model"].to_numpy(), dtype="str")
    table = pd.DataFrame({
        "serial": serial.array,
        "machine_model": models.take(model),
        "location_id": loc.dealer_ids.array.take(dealer),
        "in_service_date": start_ns.view("datetime64[ns]"),
        "hours_per_day": reported_hpd,
        "retired_date": retired_ns.view("datetime64[ns]"),
        "application": pd.array(application, dtype="str"),
    })
    truth = pd.DataFrame({
        "serial": serial.array,
        "machine_model": models.take(model),
        "location_id": loc.dealer_ids.array.take(dealer),
        "tier": tier.astype("int64"),
        "hours_per_day": hpd,
        "in_service_date": start_ns.view("datetime64[ns]"),
        "end_date": end_ns.view("datetime64[ns]"),
        "total_hours": total_hours,
    })
    # Machines listed in order of sale, as a dealer system exports them.
    o = by_date
    return _Machines(table=table.iloc[o].reset_index(drop=True),
                     truth=truth.iloc[o].reset_index(drop=True),
                     model=model[o], dealer=dealer[o], hours_per_day=hpd[o],
                     start_ns=start_ns[o], end_ns=end_ns[o], total_hours=total_hours[o],
                     serial=serial.iloc[o].reset_index(drop=True))


# ---------------------------------------------------------------------------------------
# Failures: a renewal process per machine × component
# ---------------------------------------------------------------------------------------


@dataclass
class _Failures:
    pair_machine: np.ndarray  # pair -> machine
    pair_group: np.ndarray  # pair -> (model, component) group
    pair_failures: np.ndarray  # failures per pair
    pair_age: np.ndarray  # censored age (hours) of the running life at end of observation
    lemon_pair: np.ndarray  # pairs that are lemons (sorted)
    lemon_factor: np.ndarray  # their scale divisor
    machine: np.ndarray  # failure -> machine
    group: np.ndarray  # failure -> group
    life: np.ndarray  # failure -> life number (1 = original component)
    start_hours: np.ndarray  # machine hours when this life began
    hours: np.ndarray  # machine hours at failure


def _simulate_failures(rng, mach: _Machines, cat: _Catalogue, lemon_rng: np.random.Generator,
                       lemon_share: float, severity: np.ndarray) -> _Failures:
    # Every machine × component of its model is one renewal process.
    per = cat.group_count[mach.model]
    pair_machine = np.repeat(np.arange(per.size), per)
    offset = np.arange(pair_machine.size) - np.repeat(np.cumsum(per) - per, per)
    pair_group = cat.group_start[mach.model][pair_machine] + offset
    shape = cat.lifetimes["shape"].to_numpy()[pair_group]
    scale = cat.lifetimes["scale"].to_numpy()[pair_group]
    horizon = mach.total_hours[pair_machine]
    # Lemons: a share of pairs wear out `factor` times faster (same shape, smaller scale).
    n_lemons = round(lemon_share * pair_machine.size)
    lemon_pair = np.sort(lemon_rng.choice(pair_machine.size, size=n_lemons, replace=False)) if n_lemons else (
        np.zeros(0, dtype=np.int64))
    lemon_factor = np.round(lemon_rng.uniform(*LEMON_FACTOR_RANGE, n_lemons), 2)
    if n_lemons:
        scale = scale.copy()
        scale[lemon_pair] = scale[lemon_pair] / lemon_factor

    start = np.zeros(pair_machine.size)
    count = np.zeros(pair_machine.size, dtype=np.int64)
    active = np.arange(pair_machine.size)
    out_pair, out_life, out_start, out_end = [], [], [], []
    # One pass per renewal round over the processes still running: a draw ends a life
    # when it falls before the horizon, else the life is censored and the process stops.
    law = str(cat.lifetimes["law"].iloc[0]) if len(cat.lifetimes) else "weibull"
    pair_severity = severity[pair_machine] if (severity != 1.0).any() else None
    while active.size:
        life = _draw_lives(rng, law, shape[active], scale[active])
        if pair_severity is not None:  # a harder-worked machine ages faster
            life = life / pair_severity[active]
        end = start[active] + life
        failed = end < horizon[active]
        hit = active[failed]
        count[hit] += 1
        out_pair.append(hit)
        out_life.append(count[hit])
        out_start.append(start[hit])
        out_end.append(end[failed])
        start[hit] = end[failed]
        active = hit
    pair = np.concatenate(out_pair)
    return _Failures(pair_machine=pair_machine, pair_group=pair_group, pair_failures=count,
                     pair_age=horizon - start, lemon_pair=lemon_pair, lemon_factor=lemon_factor,
                     machine=pair_machine[pair],
                     group=pair_group[pair], life=np.concatenate(out_life),
                     start_hours=np.concatenate(out_start), hours=np.concatenate(out_end))


def _censored_truth(fail: _Failures, mach: _Machines, cat: _Catalogue) -> pd.DataFrame:
    return pd.DataFrame({
        "serial": mach.serial.array.take(fail.pair_machine),
        "component": cat.lifetimes["component"].array.take(fail.pair_group),
        "n_failures": fail.pair_failures,
        "age_hours": fail.pair_age,
        "total_hours": mach.total_hours[fail.pair_machine],
    })


def _lemons_truth(fail: _Failures, mach: _Machines, cat: _Catalogue) -> pd.DataFrame:
    lp = fail.lemon_pair
    group = fail.pair_group[lp]
    return pd.DataFrame({
        "serial": mach.serial.array.take(fail.pair_machine[lp]),
        "machine_model": cat.lifetimes["machine_model"].array.take(group),
        "component": cat.lifetimes["component"].array.take(group),
        "factor": fail.lemon_factor.astype("float64"),
        "scale": cat.lifetimes["scale"].to_numpy()[group] / fail.lemon_factor,
    })


# ---------------------------------------------------------------------------------------
# Tickets
# ---------------------------------------------------------------------------------------


def _minute_floor(ns: np.ndarray) -> np.ndarray:
    return ns - ns % _NS_PER_MIN


def _build_tickets(rng, fail: _Failures, mach: _Machines, cat: _Catalogue, loc: _Locations,
                   as_of: pd.Timestamp, response_rng: np.random.Generator,
                   season: _Season) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = fail.machine
    # A failure at h operating hours falls on the day the machine reaches h hours (day
    # floor(h / hours_per_day) after the in-service date when use is flat); within that
    # day the machine's hours are spread over the working window, so failures are reported
    # in working hours and never after the end of observation (a midnight).
    days = season.reach(mach.start_ns[m], fail.hours / mach.hours_per_day[m], loc.tier[mach.dealer[m]])
    whole_days = np.floor(days)
    fail_ns = (mach.start_ns[m] + whole_days.astype(np.int64) * _NS_PER_DAY
               + _WORKDAY_START_NS
               + np.round((days - whole_days) * _WORKDAY_NS).astype(np.int64))
    order = np.lexsort((fail.group, m, fail_ns))
    m, fail_ns = m[order], fail_ns[order]
    group, life = fail.group[order], fail.life[order]
    start_h, hours = fail.start_hours[order], fail.hours[order]
    n = m.size
    width = max(7, len(str(n)))
    ticket_ids = ("T" + pd.Series(np.arange(1, n + 1)).astype("str").str.zfill(width)).array

    opened = _minute_floor(fail_ns)
    dealer = mach.dealer[m]
    tier = loc.tier[dealer]
    family = cat.group_family[group]
    bulky = np.array([f.bulky for f in _FAMILIES])[family]
    # Parts wait longer far from the factory (tier 3-4) and for big assemblies.
    wait_days = (_TIER_WAIT_DAYS[tier - 1] * np.where(bulky, 1.8, 1.0)
                 * np.exp(rng.normal(0.0, 0.7, n)))
    ready = _minute_floor(opened + np.round(wait_days * _NS_PER_DAY).astype(np.int64))
    repair_h = (np.array([f.repair_hours for f in _FAMILIES])[family]
                * np.exp(rng.normal(0.0, 0.4, n)))
    closed = _minute_floor(ready + np.round(repair_h * _NS_PER_HOUR).astype(np.int64)
                           + _NS_PER_MIN)
    as_of_ns = as_of.value
    # The technician reaches the site after a tier-dependent response time, and at the
    # latest when the parts are ready (his diagnosis orders them). Its own random stream.
    response_h = _TIER_RESPONSE_HOURS[tier - 1] * np.exp(response_rng.normal(0.0, _RESPONSE_SIGMA, n))
    arrived = np.minimum(_minute_floor(opened + np.round(response_h * _NS_PER_HOUR).astype(np.int64)), ready)
    arrived = np.where(arrived >= as_of_ns, _NAT, arrived)
    # Facts after as_of are not known yet; a few parts-ready stamps were never recorded.
    closed = np.where(closed >= as_of_ns, _NAT, closed)
    ready = np.where((ready >= as_of_ns) | (rng.random(n) < _P_READY_MISSING), _NAT, ready)
    meter = np.where(rng.random(n) < _P_METER_MISSING, np.nan, np.round(hours, 1))
    tech_k = rng.integers(0, _TECHNICIANS, n)
    note = np.where(rng.random(n) < _P_NOTE, rng.integers(0, len(_NOTES), n), -1)

    # One line per BOM part of the failed component.
    cnt = cat.bom_count[group]
    t = np.repeat(np.arange(n), cnt)
    within = np.arange(t.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    brow = cat.bom_start[group][t] + within

    # A pool of technicians per dealer, named after it.
    tech_no = pd.Series(np.tile(np.arange(1, _TECHNICIANS + 1), len(loc.tier))).astype("str")
    techs = (pd.Series(np.repeat(loc.dealer_ids.to_numpy(), _TECHNICIANS), dtype="str")
             + "-T" + tech_no).array
    notes = pd.array(np.append(_NOTES, None), dtype="str")
    serial = mach.serial.array
    tickets = pd.DataFrame({
        "ticket_id": ticket_ids.take(t),
        "serial": serial.take(m[t]),
        "location_id": loc.dealer_ids.array.take(dealer[t]),
        "opened_at": opened[t].view("datetime64[ns]"),
        "parts_ready_at": ready[t].view("datetime64[ns]"),
        "closed_at": closed[t].view("datetime64[ns]"),
        "component": cat.bom["component"].array.take(brow),
        "part_number": cat.bom["part_number"].array.take(brow),
        "quantity": cat.bom["qty_per_replacement"].to_numpy()[brow],
        "meter_hours": meter[t],
        "arrived_at": arrived[t].view("datetime64[ns]"),
        "ticket_type": pd.array(np.full(t.size, "repair", dtype=object), dtype="str"),
        "technician": techs.take((dealer * _TECHNICIANS + tech_k)[t]),
        "notes": notes.take(note[t]),
    })
    # The contract's columns first, in its order (arrived_at joins them once the contract
    # lists it), then the extra ones: the order a validated Fleet keeps.
    contract = [c.name for c in SCHEMA["tickets"]]
    tickets = tickets[contract + [c for c in tickets.columns if c not in contract]]
    truth = pd.DataFrame({
        "ticket_id": ticket_ids,
        "serial": serial.take(m),
        "machine_model": cat.lifetimes["machine_model"].array.take(group),
        "component": cat.lifetimes["component"].array.take(group),
        "life": life.astype("int64"),
        "start_hours": start_h,
        "failure_hours": hours,
        "life_hours": hours - start_h,
        "failure_time": fail_ns.view("datetime64[ns]"),
    })
    return tickets, truth


# ---------------------------------------------------------------------------------------
# Stock
# ---------------------------------------------------------------------------------------


def _build_stock(rng, tickets: pd.DataFrame, cat: _Catalogue, loc: _Locations,
                 as_of: pd.Timestamp) -> pd.DataFrame:
    n_parts, n_dealers = len(cat.parts), len(loc.tier)
    recent = (tickets["opened_at"] >= as_of - pd.Timedelta(days=365)).to_numpy()
    part = pd.Index(cat.parts["part_number"]).get_indexer(tickets["part_number"][recent])
    dealer = pd.Index(loc.dealer_ids).get_indexer(tickets["location_id"][recent])
    qty = tickets["quantity"].to_numpy()[recent]
    key = dealer.astype(np.int64) * n_parts + part
    lines = np.bincount(key, minlength=n_dealers * n_parts).reshape(n_dealers, n_parts)
    units = np.bincount(key, weights=qty, minlength=n_dealers * n_parts).reshape(
        n_dealers, n_parts)

    # Factory warehouse: most of the catalogue, roughly a few months of network demand.
    annual = units.sum(axis=0)
    wh_keep = rng.random(n_parts) < 0.9
    wh_on_hand = rng.poisson(np.where(annual > 0, annual * rng.uniform(0.1, 0.5, n_parts), 1.5))
    wh_on_order = np.where(rng.random(n_parts) < 0.25, rng.poisson(annual * 0.2) + 1, 0)

    # Dealers: the fast movers they saw last year (some sold out), a few slow ones.
    d_keep = ((lines >= 2) & (rng.random(lines.shape) < 0.85)) | (
        (lines == 1) & (rng.random(lines.shape) < 0.25))
    di, pi = np.nonzero(d_keep)
    u = units[di, pi]
    d_on_hand = rng.poisson(u * rng.uniform(0.05, 0.4, di.size))
    d_on_order = np.where(rng.random(di.size) < 0.1, rng.poisson(u * 0.1) + 1, 0)

    wp = np.flatnonzero(wh_keep)
    loc_ids = pd.concat([pd.Series([WAREHOUSE_ID] * wp.size, dtype="str"),
                         pd.Series(loc.dealer_ids.array.take(di))], ignore_index=True)
    part_ids = cat.parts["part_number"].array
    stock = pd.DataFrame({
        "location_id": loc_ids.array,
        "part_number": part_ids.take(np.concatenate([wp, pi])),
        "on_hand": np.concatenate([wh_on_hand[wp], d_on_hand]).astype("int64"),
        "on_order": np.concatenate([wh_on_order[wp], d_on_order]).astype("int64"),
    })
    return stock.sort_values(["location_id", "part_number"], kind="stable").reset_index(
        drop=True)


# ---------------------------------------------------------------------------------------
# The bundled sample
# ---------------------------------------------------------------------------------------

def sample_path() -> Path:
    """The folder of the bundled sample's CSV files, inside the installed package."""
    return Path(__file__).resolve().parent / "sample_data"


def load_sample() -> Fleet:
    """The bundled sample fleet, with its truth.

    Generated by :func:`make_fleet` with :data:`SAMPLE_SETTINGS` (3,000 machines at 30
    dealers, four years of tickets) and shipped inside the package, so this works after a
    plain ``pip install`` from any folder.

    Returns
    -------
    Fleet
        ``fleet.truth`` holds ``lifetimes``, ``machines`` and ``failures``.
    """
    return read_fleet(sample_path())


def write_sample(path: str | Path | None = None) -> Path:
    """Regenerate the bundled sample fleet (maintainers: run after changing the generator).

    Parameters
    ----------
    path : path-like, optional
        Target folder; default the package's ``sample_data``.
    """
    fleet = make_fleet(**SAMPLE_SETTINGS)
    fleet.truth = {k: v for k, v in fleet.truth.items() if k in _SAMPLE_TRUTH}
    # The bundled sample predates arrived_at and is shipped without the column (an optional
    # one: read back, it is blank); every other column is what the generator makes.
    fleet.tickets = fleet.tickets.drop(columns=list(_NOT_IN_SAMPLE))
    return fleet.to_dir(sample_path() if path is None else path)
