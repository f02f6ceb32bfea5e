"""Part supersession: old part numbers replaced by new ones, resolved to the current number.

A maker renumbers parts: ``B`` supersedes ``A`` (the parts row of ``B`` says
``supersedes = A``), later ``C`` supersedes ``B``. Every number then has a *current*
number, the end of its chain (``A → B → C``: the current number of ``A`` and of ``B`` is
``C``). Dealers keep years of history and some stock under the old numbers;
:func:`current_fleet` expresses a fleet in current numbers, once, at the start of the plan
and the backtests:

- the ticket lines of old numbers are demand for the current number;
- a BOM or service-schedule row naming an old number forecasts the current one;
- stock of an old number counts as the current part where every link of its chain is
  interchangeable (``parts.interchangeable`` on the newer part's row), and is listed as
  stranded where not;
- the old numbers leave the parts table, so no plan, order or transfer names them.

The chains are resolved by pointer jumping over arrays (``log2`` of the longest chain
passes), so a 10,000-long chain or a large cycle is resolved or refused at once. A cycle
(``A → B → A``, or a part superseding itself) or a fork (two parts superseding the same old
number) is an :class:`~partsforecast.data.InputError` naming the parts; :class:`Fleet
<partsforecast.data.Fleet>` validation applies the same rules (:func:`supersession_rules`).
The failure models read component lives by component, not part number: they do not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from partsforecast._display import html_card, text_card
from partsforecast._lookup import positions
from partsforecast.data import Fleet, InputError, Problem

__all__ = ["MERGED_COLUMNS", "STRANDED_COLUMNS", "Supersession", "current_fleet", "current_forecast",
           "current_numbers", "supersession_chains", "supersession_rules"]

#: Cycles or forks spelled out one by one in the messages; the rest share one rule.
_MAX_NAMED = 20
#: Part numbers shown for one cycle or fork.
_MAX_SHOWN = 6
_SELF_RULE = "a part cannot supersede itself: clear supersedes, or give the old number this part replaces"
_CYCLE_RULE = "a part number cannot come back to itself through the parts that supersede it"
_FORK_RULE = ("an old number has one successor: keep supersedes on the part that replaced it (a later "
              "replacement supersedes that part, making a chain)")

#: Columns of :attr:`Supersession.merged` and :attr:`Supersession.stranded`.
MERGED_COLUMNS = ["part_number", "current", "links", "interchangeable", "ticket_lines", "units_demanded",
                  "on_hand", "on_order"]
STRANDED_COLUMNS = ["location_id", "part_number", "current", "on_hand", "on_order"]


# ---------------------------------------------------------------------------------------
# The graph: one node per number, an arrow from each old number to the part superseding it
# ---------------------------------------------------------------------------------------

@dataclass
class _Graph:
    nodes: pd.Index  # every number: the parts' own, then the old numbers not in parts
    succ: np.ndarray  # node → the node superseding it, -1 at the end of a chain
    link_ok: np.ndarray  # the link node → succ[node] is interchangeable (True at an end)
    problems: list  # (row positions in parts, rule) per rule broken
    own: np.ndarray  # the node of every parts row (-1 where part_number is missing)


def _text(values: pd.Series) -> np.ndarray:
    """Text values as an object array, missing as None."""
    out = values.astype("object").to_numpy()
    return np.where(pd.isna(values).to_numpy(), None, out)


def _graph(parts: pd.DataFrame) -> _Graph:
    if "part_number" not in parts.columns:
        raise InputError([Problem("parts", None, "part_number", None,
                                  "column is missing; every part needs its part_number")])
    n_rows = len(parts)
    pn = _text(parts["part_number"])
    sup = _text(parts["supersedes"]) if "supersedes" in parts.columns else np.full(n_rows, None, object)
    if "interchangeable" in parts.columns:
        flag = parts["interchangeable"]
        if not (pd.api.types.is_bool_dtype(flag) or pd.api.types.is_numeric_dtype(flag)):
            raise TypeError("parts.interchangeable must be true/false (booleans, or 1/0); a table read "
                            "through Fleet or read_fleet has it so")
        inter = flag.astype("float64").fillna(1.0).to_numpy() != 0.0
    else:
        inter = np.ones(n_rows, dtype=bool)
    # A repeated part_number is reported by the key check; only its first row claims an
    # old number here. One factorisation numbers every node: the parts' own numbers first.
    codes, uniques = pd.factorize(np.concatenate([pn, sup]), use_na_sentinel=True)
    pn_code, sup_code = codes[:n_rows], codes[n_rows:]
    nodes = pd.Index(uniques.astype(object), dtype="str")
    n = len(nodes)
    first = (pn_code >= 0) & ~pd.Series(pn_code).duplicated().to_numpy()
    claim = np.flatnonzero(first & (sup_code >= 0))  # parts rows that supersede an old number
    new, old = pn_code[claim], sup_code[claim]
    problems: list[tuple[np.ndarray, str]] = []

    # A part superseding itself.
    self_ = old == new
    if self_.any():
        problems.append((claim[self_], _SELF_RULE))
    claim, new, old = claim[~self_], new[~self_], old[~self_]

    # Forks: two parts superseding the same old number.
    dup = pd.Series(old).duplicated(keep=False).to_numpy()
    if dup.any():
        problems += _forks(claim[dup], old[dup], nodes, pn)
    keep = ~pd.Series(old).duplicated(keep="first").to_numpy()
    claim, new, old = claim[keep], new[keep], old[keep]

    succ = np.full(n, -1, dtype=np.int64)
    succ[old] = new
    link_ok = np.ones(n, dtype=bool)
    link_ok[old] = inter[claim]

    # Cycles: with one arrow out of and at most one into every node, a node that does not
    # reach an end within n steps lies on a cycle.
    end = _jump(succ)
    cyc = succ[end] >= 0
    if cyc.any():
        label = _cycle_labels(succ, cyc)
        at = new  # the row's own node (the newer part)
        on = cyc[at]
        problems += _cycles(claim[on], label[at[on]], succ, nodes)
    return _Graph(nodes=nodes, succ=succ, link_ok=link_ok, problems=problems, own=pn_code)


def _steps(n: int) -> int:
    """Pointer-jumping passes that cover any path among ``n`` nodes (2**steps ≥ n)."""
    return max(1, int(np.ceil(np.log2(max(n, 2)))) + 1)


def _jump(succ: np.ndarray) -> np.ndarray:
    """Where every node's chain ends: ``succ`` applied 2**steps times (an end maps to itself)."""
    nxt = np.where(succ >= 0, succ, np.arange(succ.size))
    for _ in range(_steps(succ.size)):
        nxt = nxt[nxt]
    return nxt


def _cycle_labels(succ: np.ndarray, cyc: np.ndarray) -> np.ndarray:
    """The smallest node of each node's cycle (pointer jumping with a running minimum)."""
    idx = np.arange(succ.size)
    nxt = np.where(cyc, succ, idx)
    label = idx.copy()
    for _ in range(_steps(succ.size)):
        label = np.minimum(label, label[nxt])
        nxt = nxt[nxt]
    return label


def _shown(numbers: list[str], total: int, close: str | None = None) -> str:
    out = " → ".join(numbers[:_MAX_SHOWN])
    if total > _MAX_SHOWN:
        return out + f" → … ({total:,} parts in all)"
    return out + (f" → {close}" if close is not None else "")


def _cycles(rows: np.ndarray, label: np.ndarray, succ: np.ndarray, nodes: pd.Index) -> list:
    out = []
    labels, first, size = np.unique(label, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # cycles in the order their first row appears
    named = order[:_MAX_NAMED]
    for k in named:
        start = int(labels[k])
        path, node = [], start
        for _ in range(min(int(size[k]), _MAX_SHOWN)):  # at most a few steps per named cycle
            path.append(str(nodes[node]))
            node = int(succ[node])
        rule = f"supersession cycle {_shown(path, int(size[k]), path[0])}: {_CYCLE_RULE}"
        out.append((rows[label == start], rule + "; clear one of these supersedes values"))
    rest = np.isin(label, labels[order[_MAX_NAMED:]])
    if rest.any():
        out.append((rows[rest], f"supersession cycle: {_CYCLE_RULE}; clear one supersedes value in each cycle"))
    return out


def _forks(rows: np.ndarray, old: np.ndarray, nodes: pd.Index, pn: np.ndarray) -> list:
    out = []
    keys, first = np.unique(old, return_index=True)
    order = keys[np.argsort(first, kind="stable")]
    for key in order[:_MAX_NAMED]:
        mine = rows[old == key]
        names = [str(pn[r]) for r in mine[:_MAX_SHOWN]]
        more = f" and {mine.size - _MAX_SHOWN:,} more" if mine.size > _MAX_SHOWN else ""
        out.append((mine, f"fork: parts {', '.join(names)}{more} all supersede {nodes[key]}; {_FORK_RULE}"))
    rest = np.isin(old, order[_MAX_NAMED:])
    if rest.any():
        out.append((rows[rest], "fork: another part supersedes the same old number; an old number has one successor"))
    return out


def supersession_rules(parts: pd.DataFrame) -> list[tuple[np.ndarray, str]]:
    """The rows of a parts table that break the supersession rules, and the rule each breaks.

    The rules: no part supersedes itself; no two parts supersede the same old number (a
    fork); no chain of supersessions comes back to where it started (a cycle). An old
    number that is not itself in ``parts`` is allowed. Used by :class:`~partsforecast.data.Fleet`
    validation, which turns each into an :class:`~partsforecast.data.InputError` problem
    (table ``parts``, row, column ``supersedes``, value, rule).

    Parameters
    ----------
    parts : DataFrame
        A parts table with ``part_number`` and (optionally) ``supersedes``.

    Returns
    -------
    list of (ndarray of bool, str)
        One entry per rule broken (a cycle or fork named with its parts): a mask over the
        rows of ``parts`` and the rule, phrased so that it says how to fix it. Empty when the
        table is sound.
    """
    graph = _graph(parts)
    out = []
    for rows, rule in graph.problems:
        mask = np.zeros(len(parts), dtype=bool)
        mask[rows] = True
        out.append((mask, rule))
    return out


def _raise_problems(parts: pd.DataFrame, graph: _Graph) -> None:
    problems, n = [], 0
    sup = parts["supersedes"] if "supersedes" in parts.columns else None
    for rows, rule in graph.problems:
        n += rows.size
        for r in np.sort(rows)[:200]:
            value = None if sup is None else sup.iloc[r]
            problems.append(Problem("parts", parts.index[r], "supersedes",
                                    None if pd.isna(value) else str(value), rule))
    if n:
        raise InputError(problems, n)


# ---------------------------------------------------------------------------------------
# The chains
# ---------------------------------------------------------------------------------------

def _parts_of(parts: Any) -> pd.DataFrame:
    if isinstance(parts, Fleet):
        return parts.parts
    if not isinstance(parts, pd.DataFrame):
        raise TypeError(f"parts must be a parts table (a DataFrame) or a Fleet; got {type(parts).__name__}")
    return parts


def supersession_chains(parts: pd.DataFrame | Fleet) -> pd.DataFrame:
    """Every part number with its current number, its links to it and whether its stock counts.

    Parameters
    ----------
    parts : DataFrame or Fleet
        The parts table (``part_number``, optional ``supersedes`` and ``interchangeable``),
        or a fleet (its ``parts``).

    Returns
    -------
    DataFrame
        One row per number (the parts' own, in table order, then the old numbers that are
        not in the table): ``part_number``, ``current`` (the end of its chain; itself when
        nothing supersedes it), ``links`` (supersessions between it and ``current``; 0 for
        a current number), ``interchangeable`` (its stock can be fitted in place of
        ``current``: every link of the chain is interchangeable; true for a current number)
        and ``in_parts`` (it has a row in ``parts``).

    Raises
    ------
    InputError
        For a part superseding itself, two parts superseding the same old number, or a
        cycle, naming the parts (table ``parts``, row, column ``supersedes``, value, rule).

    Examples
    --------
    >>> parts = pd.DataFrame({"part_number": ["B", "C"], "supersedes": ["A", "B"],
    ...                       "interchangeable": [True, False]})
    >>> supersession_chains(parts)[["part_number", "current", "links", "interchangeable"]]
      part_number current  links  interchangeable
    0           B       C      1            False
    1           C       C      0             True
    2           A       C      2            False
    """
    table = _parts_of(parts)
    graph = _graph(table)
    _raise_problems(table, graph)
    succ, n = graph.succ, graph.succ.size
    nxt = np.where(succ >= 0, succ, np.arange(n))
    links = (succ >= 0).astype(np.int64)
    ok = graph.link_ok.copy()
    for _ in range(_steps(n)):  # sums and conjunctions over 2**k links at pass k
        links = links + links[nxt]
        ok = ok & ok[nxt]
        nxt = nxt[nxt]
    in_parts = np.zeros(n, dtype=bool)
    in_parts[graph.own[graph.own >= 0]] = True
    return pd.DataFrame({"part_number": pd.array(graph.nodes, dtype="str"),
                         "current": pd.array(graph.nodes.take(nxt), dtype="str"),
                         "links": links, "interchangeable": ok, "in_parts": in_parts})


def current_numbers(parts: pd.DataFrame | Fleet) -> pd.Series:
    """The current part number of every number: the end of its supersession chain.

    Parameters
    ----------
    parts : DataFrame or Fleet
        The parts table (``part_number``, optional ``supersedes``), or a fleet.

    Returns
    -------
    Series
        Indexed by ``part_number`` (every number in ``parts`` and every old number it
        supersedes), the current number (``current``); a number nothing supersedes maps to
        itself.

    Raises
    ------
    InputError
        For a self-supersession, a fork or a cycle (see :func:`supersession_chains`).

    Examples
    --------
    >>> parts = pd.DataFrame({"part_number": ["B", "C", "X"], "supersedes": ["A", "B", None]})
    >>> current_numbers(parts).to_dict()
    {'B': 'C', 'C': 'C', 'X': 'X', 'A': 'C'}
    """
    chains = supersession_chains(parts)
    return pd.Series(chains["current"].array, index=pd.Index(chains["part_number"].array, name="part_number"),
                     name="current")


# ---------------------------------------------------------------------------------------
# A fleet in current numbers
# ---------------------------------------------------------------------------------------

@dataclass(repr=False)
class Supersession:
    """What :func:`current_fleet` merged: old numbers into current ones, and stock left out.

    Attributes
    ----------
    numbers : Series
        Every old number of the parts table (index ``part_number``) and its current number
        (``current``), whether or not any table names it.
    merged : DataFrame
        One row per old number found in the tickets, BOM, service schedule or stock
        (:data:`MERGED_COLUMNS`): ``part_number`` (old), ``current``, ``links``,
        ``interchangeable`` (its stock counted as the current part), ``ticket_lines`` and
        ``units_demanded`` (its history, now the current number's), ``on_hand`` and
        ``on_order`` (its stock, everywhere).
    stranded : DataFrame
        The stock of old numbers that is not interchangeable (:data:`STRANDED_COLUMNS`):
        ``location_id``, ``part_number`` (old), ``current``, ``on_hand``, ``on_order``. It is
        not counted as stock of the current part.
    """

    numbers: pd.Series = field(default_factory=lambda: pd.Series(dtype="str", name="current"))
    merged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MERGED_COLUMNS))
    stranded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=STRANDED_COLUMNS))

    def summary(self, max_listed: int = 200) -> dict[str, Any]:
        """The figures a run records (``run.json``): counts, and which old number went where.

        Parameters
        ----------
        max_listed : int
            The most old → current pairs listed (the largest histories first); the count
            says how many there are in all.

        Returns
        -------
        dict
            ``numbers_merged``, ``ticket_lines_merged``, ``units_demanded_merged``,
            ``stock_units_counted`` (old stock on hand counted as the current part),
            ``not_interchangeable`` (``units_on_hand``, ``units_on_order``, ``locations``,
            ``numbers``: the stranded stock) and ``merged`` ({old: current}).
        """
        m, s = self.merged, self.stranded
        counted = m.loc[m["interchangeable"].astype(bool), "on_hand"] if len(m) else pd.Series(dtype="int64")
        top = m.sort_values(["ticket_lines", "part_number"], ascending=[False, True], kind="stable").head(max_listed)
        return {
            "numbers_merged": len(m),
            "ticket_lines_merged": int(m["ticket_lines"].sum()) if len(m) else 0,
            "units_demanded_merged": int(m["units_demanded"].sum()) if len(m) else 0,
            "stock_units_counted": int(counted.sum()),
            "not_interchangeable": {"units_on_hand": int(s["on_hand"].sum()) if len(s) else 0,
                                    "units_on_order": int(s["on_order"].sum()) if len(s) else 0,
                                    "locations": int(s["location_id"].nunique()),
                                    "numbers": int(s["part_number"].nunique())},
            "merged": {str(a): str(b) for a, b in sorted(zip(top["part_number"], top["current"]))},
        }

    def _facts(self) -> dict[str, Any]:
        s = self.summary(max_listed=0)
        return {"numbers merged": s["numbers_merged"], "ticket lines": s["ticket_lines_merged"],
                "stock counted": s["stock_units_counted"],
                "stranded units": s["not_interchangeable"]["units_on_hand"]}

    def __repr__(self) -> str:
        return text_card("Supersession", self._facts())

    def _repr_html_(self) -> str:
        return html_card("Supersession", self._facts(), self.merged)


def _renumber(values: pd.Series, pos: np.ndarray, current: np.ndarray) -> pd.Series:
    """``values`` with every old number (``pos >= 0``) replaced by its current one."""
    hit = pos >= 0
    out = values.to_numpy(dtype=object).copy()
    out[hit] = current[pos[hit]]
    return pd.Series(pd.array(out, dtype=values.dtype), index=values.index, name=values.name)


def _newest_first(frame: pd.DataFrame, links: np.ndarray, keys: list[str]) -> pd.DataFrame:
    """Rows made duplicates by renumbering: keep the one that named the newest number (a
    BOM listing both the old and the current number takes one part, not two)."""
    order = np.lexsort((np.arange(len(frame)), links))
    kept = frame.iloc[order].duplicated(keys, keep="first").to_numpy()
    drop = np.zeros(len(frame), dtype=bool)
    drop[order[kept]] = True
    return frame[~drop].reset_index(drop=True) if drop.any() else frame


def current_fleet(fleet: Fleet) -> Fleet:
    """The fleet in current part numbers: history, BOM, service schedule and stock renumbered.

    The one place where supersession is applied; :func:`~partsforecast.run_plan`,
    :func:`~partsforecast.plan_stock` and :func:`~partsforecast.backtest_forecast` call it
    first. Every old number (``parts.supersedes``, along its chain) becomes its current
    number (:func:`current_numbers`):

    - ticket lines: their demand is the current number's (lines of one ticket and component
      that now name the same number are merged, their quantities added);
    - BOM and service-schedule rows: they forecast the current number (where a row names
      the current number too, that row is kept and the old one dropped);
    - stock: counted as the current part at the same location (on hand and on order
      added) when every link of the chain is interchangeable, otherwise left out and
      listed in ``supersession.stranded``;
    - parts: the rows of old numbers are dropped.

    The failure models are unaffected: component lives are read by component.

    Parameters
    ----------
    fleet : Fleet

    Returns
    -------
    Fleet
        A new fleet (the one given is not changed) whose attribute ``supersession``
        (:class:`Supersession`) says what was merged and what stock was left out. A fleet
        this function made is returned as it is; one without any old number in its tables
        has the same table objects.

    Raises
    ------
    TypeError
        If ``fleet`` is not a :class:`~partsforecast.Fleet`.
    """
    if not isinstance(fleet, Fleet):
        raise TypeError(f"current_fleet(fleet): fleet must be a Fleet, got {type(fleet).__name__}")
    if isinstance(fleet.__dict__.get("supersession"), Supersession):
        return fleet
    chains = supersession_chains(fleet.parts)
    is_old = chains["links"].to_numpy() > 0
    old = pd.Index(chains["part_number"].array[is_old])
    current = chains["current"].to_numpy(dtype=object)[is_old]
    links = chains["links"].to_numpy()[is_old]
    fits = chains["interchangeable"].to_numpy()[is_old]
    new = object.__new__(Fleet)
    new.__dict__.update(fleet.__dict__)

    tk = fleet.tickets
    pos_t = positions(old, tk["part_number"])
    if (pos_t >= 0).any():
        tk = tk.assign(part_number=_renumber(tk["part_number"], pos_t, current))
        keys = ["ticket_id", "part_number", "component"]
        dup = tk.duplicated(keys, keep=False).to_numpy()
        if dup.any():  # one ticket named the old and the new number of one component
            qty = tk.groupby(keys, sort=False, observed=True, dropna=False)["quantity"].transform("sum")
            keep = ~tk.duplicated(keys, keep="first").to_numpy()
            tk = tk.assign(quantity=qty.astype("int64"))[keep].reset_index(drop=True)
            rows = fleet.__dict__.get("_ticket_rows")
            new.__dict__["_ticket_rows"] = rows[keep] if rows is not None and len(rows) == keep.size else None
        new.tickets = tk

    for name, keys in (("bom", ["machine_model", "component", "part_number"]),
                       ("maintenance", ["machine_model", "part_number"])):
        table = getattr(fleet, name, None)
        if table is None:
            continue
        pos = positions(old, table["part_number"])
        if (pos >= 0).any():
            depth = np.where(pos >= 0, links[np.maximum(pos, 0)], 0)
            renumbered = table.assign(part_number=_renumber(table["part_number"], pos, current))
            setattr(new, name, _newest_first(renumbered, depth, keys))

    st = fleet.stock
    pos_s = positions(old, st["part_number"])
    stranded = pd.DataFrame({"location_id": pd.Series(dtype="str"), "part_number": pd.Series(dtype="str"),
                             "current": pd.Series(dtype="str"), "on_hand": pd.Series(dtype="int64"),
                             "on_order": pd.Series(dtype="int64")})
    if (pos_s >= 0).any():
        out = (pos_s >= 0) & ~fits[np.maximum(pos_s, 0)]
        lost = st[out]
        stranded = pd.DataFrame({"location_id": lost["location_id"].array, "part_number": lost["part_number"].array,
                                 "current": pd.array(current[pos_s[out]], dtype="str"),
                                 "on_hand": lost["on_hand"].to_numpy(np.int64),
                                 "on_order": lost["on_order"].to_numpy(np.int64)})
        kept = st[~out]
        kept = kept.assign(part_number=_renumber(kept["part_number"], pos_s[~out], current))
        keys = ["location_id", "part_number"]
        sums = kept.groupby(keys, sort=False, observed=True)[["on_hand", "on_order"]].transform("sum")
        first = ~kept.duplicated(keys, keep="first").to_numpy()
        new.stock = kept.assign(on_hand=sums["on_hand"].astype("int64"),
                                on_order=sums["on_order"].astype("int64"))[first].reset_index(drop=True)

    in_old = positions(old, fleet.parts["part_number"]) >= 0
    if in_old.any():
        new.parts = fleet.parts[~in_old].reset_index(drop=True)

    numbers = pd.Series(pd.array(current, dtype="str"), index=old.rename("part_number"), name="current")
    new.supersession = Supersession(numbers=numbers, merged=_merged(fleet, old, current, links, fits, pos_t, pos_s),
                                    stranded=stranded)
    return new


def _merged(fleet: Fleet, old: pd.Index, current: np.ndarray, links: np.ndarray, fits: np.ndarray,
            pos_t: np.ndarray, pos_s: np.ndarray) -> pd.DataFrame:
    """One row per old number found in the tables, with its history and stock."""
    n = len(old)
    seen = np.zeros(n, dtype=bool)
    lines = np.bincount(pos_t[pos_t >= 0], minlength=n)
    units = np.bincount(pos_t[pos_t >= 0], weights=fleet.tickets["quantity"].to_numpy(float)[pos_t >= 0],
                        minlength=n)
    on_hand = np.bincount(pos_s[pos_s >= 0], weights=fleet.stock["on_hand"].to_numpy(float)[pos_s >= 0],
                          minlength=n)
    on_order = np.bincount(pos_s[pos_s >= 0], weights=fleet.stock["on_order"].to_numpy(float)[pos_s >= 0],
                           minlength=n)
    seen |= (lines > 0) | np.bincount(pos_s[pos_s >= 0], minlength=n).astype(bool)
    for name in ("bom", "maintenance"):
        table = getattr(fleet, name, None)
        if table is not None and len(table):
            pos = positions(old, table["part_number"])
            seen[pos[pos >= 0]] = True
    i = np.flatnonzero(seen)
    return pd.DataFrame({"part_number": pd.array(old.take(i), dtype="str"),
                         "current": pd.array(current[i], dtype="str"), "links": links[i].astype(np.int64),
                         "interchangeable": fits[i], "ticket_lines": lines[i].astype(np.int64),
                         "units_demanded": units[i].round().astype(np.int64),
                         "on_hand": on_hand[i].round().astype(np.int64),
                         "on_order": on_order[i].round().astype(np.int64)})


def current_forecast(forecast: pd.DataFrame, parts: pd.DataFrame | Fleet) -> pd.DataFrame:
    """A part forecast in current numbers: the cells of old numbers added to the current ones.

    A forecast made on a fleet whose BOM names old numbers (``forecast_demand(model,
    fleet)`` without :func:`current_fleet`) has cells for them; here they become the
    current number's. Means and variances add (the cells are independent failures, as in
    the forecast itself); quantile columns are dropped when cells were merged, as they
    would no longer match the mean and variance.

    Parameters
    ----------
    forecast : DataFrame
        A forecast by part (location_id, part_number, period, mean, var, ...).
    parts : DataFrame or Fleet
        The parts table (or the fleet) whose supersessions apply.

    Returns
    -------
    DataFrame
        The forecast itself when it names no old number; else one row per (location_id,
        current part_number, period) with mean and var, sorted by them.
    """
    record = parts.__dict__.get("supersession") if isinstance(parts, Fleet) else None
    if isinstance(record, Supersession):  # a fleet in current numbers keeps the old ones here
        numbers = record.numbers
    else:
        chains = supersession_chains(_parts_of(parts))
        is_old = chains["links"].to_numpy() > 0
        numbers = pd.Series(chains["current"].array[is_old], index=chains["part_number"].array[is_old])
    if not len(numbers):
        return forecast
    old = pd.Index(numbers.index)
    col = forecast["part_number"]
    named = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else pd.unique(col)
    if not (old.get_indexer(pd.Index(named).astype(str)) >= 0).any():
        return forecast
    text = col.astype(str)
    part = _renumber(text, old.get_indexer(text), numbers.to_numpy(object))
    out = (forecast[["location_id", "period", "mean", "var"]].assign(part_number=part.to_numpy(object))
           .assign(location_id=lambda f: f["location_id"].astype(str))
           .groupby(["location_id", "part_number", "period"], as_index=False, sort=True)[["mean", "var"]].sum())
    return out.astype({"location_id": "str", "part_number": "str"})
