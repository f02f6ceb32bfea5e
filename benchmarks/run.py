"""The whole job at one of three sizes: every stage in a fresh process, with its peer.

Run: python benchmarks/run.py --scale small|medium|national [--repeat N] [--keep DIR]
     [--stages read,fit,...] [--json FILE]

The fleet of the scale (``make_fleet(n_machines, n_dealers, n_parts=..., maintenance=True)``)
is generated in a child process and written as a Parquet folder into a temporary folder, or
into ``--keep DIR``, where it is reused when it already holds that scale's fleet. Each stage
then runs in a fresh Python process (the same interpreter) that does the stage's prerequisite
work untimed, times the stage, and prints its figures as JSON: the timed seconds, the seconds
of the whole process, and the peak resident memory of the process
(``getrusage(RUSAGE_SELF).ru_maxrss``, read by the child itself, so the prerequisites count).

Stages (timed part in brackets):

* ``read``: [``read_fleet(folder)``];
* ``fit``: read; [``FailureModel(covariates=None).fit(fleet)``];
* ``forecast``: read, fit; [``forecast_demand(model, fleet, horizon=12)``];
* ``intermittent``: read, the monthly demand of every (dealer, part) from the tickets, zeros
  filled from each series' first demand to the last month of the data; [Croston's method,
  ``intermittent.forecast(panel, 12, methods="croston")``];
* ``transfers``: read, fit, forecast and ``plan_stock`` as ``run_plan`` does them; [the
  plan's own transfer model build and solve seconds, from its ``TransferReport``];
* ``plan``: [``python -m partsforecast plan --data FOLDER --out OUT``], the batch job as a
  planner runs it; wall time and peak memory of that process (``os.wait4``), and the
  per-stage seconds it writes into ``run.json`` (``timings_seconds``).

Peers, each in its own fresh process, where the package is importable (else a note):
``fit`` against lifelines' ``WeibullFitter`` fitted group by group to the same
(machine model, component) lives on a random subsample of groups, its seconds scaled up to
every group; ``intermittent`` against statsforecast's ``CrostonClassic`` on the same panel;
``transfers`` against HiGHS (``highspy``) reading the MPS file of the very LP the plan
solved (written by pulp) and solving it. ``ratio`` is the peer's seconds over ours (above 1:
ours is faster).

Results: one table (median seconds of ``--repeat`` runs, largest peak), the machine, the
date and the package version; ``--json FILE`` saves them. This process imports neither
pandas nor the package, so its own memory does not leak into the children's figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: machines, dealers, part numbers (None: the generator's natural catalogue).
SCALES: dict[str, tuple[int, int, int | None]] = {
    "tiny": (300, 5, None),  # for the tests; not offered in --help
    "small": (3_000, 30, None),
    "medium": (20_000, 100, 2_000),
    "national": (200_000, 300, 5_000),
}
STAGES = ("read", "fit", "forecast", "intermittent", "transfers", "plan")
PEERS = {"fit": "lifelines WeibullFitter", "intermittent": "statsforecast CrostonClassic",
         "transfers": "highspy on the MPS file"}
#: Groups fitted by the lifelines peer (its per-group time is scaled up to every group).
PEER_GROUPS = 200
_MARKER = "benchmark_scale.json"
_GIB = 2**20  # ru_maxrss is in KiB on Linux


# ---------------------------------------------------------------------------------------
# Children: each prints one JSON line (the last line of its stdout)
# ---------------------------------------------------------------------------------------


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _GIB


def _emit(started: float, **figures) -> None:
    figures.update(total_seconds=time.perf_counter() - started, peak_gib=_peak_gib())
    print(json.dumps(figures, default=float))


def _plan_inputs(folder: str):
    """Read, fit and forecast exactly as ``run_plan`` does before ``plan_stock``."""
    import partsforecast as pf

    s = pf.PlanSettings()
    fleet = pf.current_fleet(pf.read_fleet(folder))
    model = pf.FailureModel(distribution=s.lifetime_law, pooling=s.pooling).fit(fleet)
    service = pf.ServiceModel().fit(fleet) if len(fleet.maintenance) else None
    fc = pf.forecast_demand(model, fleet, horizon=s.horizon, freq=s.freq, maintenance=service)
    return s, fleet, fc


def _monthly_panel(fleet):
    """Monthly units per (dealer, part) from the tickets: a complete long frame, zeros filled
    from each series' first demand to the data's last month."""
    import numpy as np
    import pandas as pd

    t = fleet.tickets
    month = t["opened_at"].dt.to_period("M")
    key = t["location_id"].astype("str") + "|" + t["part_number"].astype("str")
    sid, ids = pd.factorize(key, sort=True)
    first, last = month.min(), month.max()
    col = (month.dt.year - first.year) * 12 + (month.dt.month - first.month)
    n_months = (last.year - first.year) * 12 + (last.month - first.month) + 1
    y = np.zeros((len(ids), n_months))
    np.add.at(y, (sid, col.to_numpy()), t["quantity"].to_numpy(float))
    start = np.full(len(ids), n_months)
    np.minimum.at(start, sid, col.to_numpy())
    keep = np.arange(n_months)[None, :] >= start[:, None]
    rows, cols = np.nonzero(keep)
    ds = pd.period_range(first, periods=n_months, freq="M").to_timestamp()
    return pd.DataFrame({"unique_id": np.asarray(ids, dtype=object)[rows], "ds": ds[cols],
                         "y": y[rows, cols]})


def _child(stage: str, folder: str, work: str) -> None:
    started = time.perf_counter()
    if stage == "generate":
        import partsforecast as pf

        n_machines, n_dealers, n_parts = json.loads(work)
        pf.make_fleet(n_machines, n_dealers, n_parts=n_parts, maintenance=True).to_dir(folder, "parquet")
        return _emit(started, seconds=time.perf_counter() - started, version=pf.__version__)

    import partsforecast as pf

    extra: dict = {"version": pf.__version__}
    if stage == "read":
        t = time.perf_counter()
        fleet = pf.read_fleet(folder)
        seconds = time.perf_counter() - t
        extra.update(machines=len(fleet.machines), ticket_lines=len(fleet.tickets))
    elif stage == "fit":
        fleet = pf.read_fleet(folder)
        t = time.perf_counter()
        model = pf.FailureModel(covariates=None).fit(fleet)
        seconds = time.perf_counter() - t
        extra.update(groups=len(model.params_))
    elif stage == "fit-peer":
        import numpy as np
        from lifelines import WeibullFitter  # ImportError: the parent notes it

        lives = pf.read_fleet(folder).component_lives().lives
        lives = lives[lives["duration"] > 0]
        groups = lives.groupby(["machine_model", "component"], observed=True, sort=True)
        blocks = [(g["duration"].to_numpy(float), g["failed"].to_numpy(bool))
                  for _, g in groups if g["failed"].any()]
        pick = np.random.default_rng(0).choice(len(blocks), min(PEER_GROUPS, len(blocks)), replace=False)
        t = time.perf_counter()
        for i in pick:
            WeibullFitter().fit(blocks[i][0], event_observed=blocks[i][1])
        per_group = (time.perf_counter() - t) / len(pick)
        seconds = per_group * len(blocks)
        extra.update(groups=len(blocks), groups_timed=len(pick),
                     note=f"{len(pick)} of {len(blocks)} groups timed, scaled up")
    elif stage == "forecast":
        fleet = pf.read_fleet(folder)
        model = pf.FailureModel(covariates=None).fit(fleet)
        t = time.perf_counter()
        fc = pf.forecast_demand(model, fleet, horizon=12)
        seconds = time.perf_counter() - t
        extra.update(rows=len(fc))
    elif stage == "intermittent":
        panel = _monthly_panel(pf.read_fleet(folder))
        t = time.perf_counter()
        out = pf.intermittent.forecast(panel, 12, methods="croston", freq="MS")
        seconds = time.perf_counter() - t
        extra.update(series=int(panel["unique_id"].nunique()), panel_rows=len(panel), rows=len(out))
    elif stage == "intermittent-peer":
        from statsforecast import StatsForecast  # ImportError: the parent notes it
        from statsforecast.models import CrostonClassic

        panel = _monthly_panel(pf.read_fleet(folder))
        t = time.perf_counter()
        StatsForecast(models=[CrostonClassic()], freq="MS", n_jobs=1).forecast(df=panel, h=12)
        seconds = time.perf_counter() - t
        extra.update(series=int(panel["unique_id"].nunique()))
    elif stage == "transfers":
        import partsforecast.plan as plan_module

        captured: dict = {}
        original = plan_module.plan_transfers

        def keep(*args, **kwargs):
            t = time.perf_counter()
            captured["plan"] = original(*args, **kwargs)
            captured["wall"] = time.perf_counter() - t
            return captured["plan"]

        s, fleet, fc = _plan_inputs(folder)
        plan_module.plan_transfers = keep
        try:
            pf.plan_stock(fc, fleet, settings=s)
        finally:
            plan_module.plan_transfers = original
        tp = captured["plan"]
        report = tp.report
        seconds = report.build_seconds + report.solve_seconds
        extra.update(build_seconds=report.build_seconds, solve_seconds=report.solve_seconds,
                     plan_transfers_seconds=captured["wall"], status=report.status,
                     moves=len(tp.transfers))
        if tp.problem is not None and tp.problem.numConstraints():
            tp.problem.writeMPS(str(Path(work) / "transfers.mps"))
            objective = tp.problem.objective
            extra.update(columns=len(tp.problem.variables()), rows_lp=tp.problem.numConstraints(),
                         # the MPS file has no objective constant: compare without it
                         lp_objective=objective.value() - objective.constant)
    elif stage == "transfers-peer":
        import highspy

        mps = Path(work) / "transfers.mps"
        if not mps.exists():
            raise FileNotFoundError("the transfers stage wrote no model (nothing to move)")
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        t = time.perf_counter()
        h.readModel(str(mps))
        h.run()
        seconds = time.perf_counter() - t
        extra.update(status=h.modelStatusToString(h.getModelStatus()),
                     objective=h.getInfo().objective_function_value)
    else:
        raise ValueError(f"unknown stage {stage!r}")
    _emit(started, seconds=seconds, **extra)


# ---------------------------------------------------------------------------------------
# The parent
# ---------------------------------------------------------------------------------------


def _spawn(cmd: list[str], cwd: str | None = None) -> tuple[int, str, str, float, float]:
    """Run ``cmd``; its exit code, stdout, stderr, wall seconds and own peak memory (GiB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the sum
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), wall, usage.ru_maxrss / _GIB


def _run_child(stage: str, folder: Path, work: Path | str) -> dict:
    code, out, err, wall, peak = _spawn([sys.executable, str(Path(__file__).resolve()), "--child", stage,
                                         "--folder", str(folder), "--work", str(work)])
    if code != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit code {code}: {last}"}
    r = json.loads(out.strip().splitlines()[-1])
    r.update(wall_seconds=wall, peak_gib_wait4=peak)
    return r


def _run_plan(folder: Path, out: Path) -> dict:
    code, _, err, wall, peak = _spawn([sys.executable, "-m", "partsforecast", "-q", "plan",
                                            "--data", str(folder), "--out", str(out)])
    if code not in (0, 4):  # 4: written, a service target missed
        last = (err.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit code {code}: {last}"}
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {"seconds": wall, "total_seconds": wall, "peak_gib": peak, "exit_code": code,
            "stage_seconds": run["timings_seconds"], "version": run.get("versions", {}).get("partsforecast"),
            "outputs": sorted(p.name for p in out.iterdir())}


def _sizes(scale: str, parts: int | None = None) -> list:
    """Machines, dealers and part numbers of ``scale``, with ``parts`` overriding the last."""
    n_machines, n_dealers, n_parts = SCALES[scale]
    return [n_machines, n_dealers, n_parts if parts is None else int(parts)]


def _fleet(scale: str, folder: Path, parts: int | None = None) -> dict:
    """The scale's fleet in ``folder``: reused when its marker says so, else generated."""
    sizes = _sizes(scale, parts)
    marker = folder / _MARKER
    if marker.exists() and json.loads(marker.read_text())["sizes"] == sizes:
        return {"reused": True}
    if marker.exists():
        marker.unlink()
    r = _run_child("generate", folder, json.dumps(sizes))
    if "error" in r:
        raise SystemExit(f"generating the {scale} fleet failed: {r['error']}")
    marker.write_text(json.dumps({"scale": scale, "sizes": sizes}))
    return {"reused": False, "seconds": r["seconds"], "peak_gib": r["peak_gib"]}


def _summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0]["error"]}
    out = dict(ok[-1])
    for key in ("seconds", "total_seconds"):
        out[key] = statistics.median(r[key] for r in ok)
    out["peak_gib"] = max(r["peak_gib"] for r in ok)
    if "stage_seconds" in out:
        names = out["stage_seconds"].keys()
        out["stage_seconds"] = {k: statistics.median(r["stage_seconds"][k] for r in ok) for k in names}
    out["runs"] = len(ok)
    return out


def _importable(stage: str) -> str | None:
    """None when the peer's package imports, else why not."""
    module = {"fit": "lifelines", "intermittent": "statsforecast", "transfers": "highspy"}[stage]
    code = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, check=False).returncode
    return None if code == 0 else f"{module} is not installed"


def benchmark(scale: str, stages: list[str], repeat: int, keep: Path | None, parts: int | None = None) -> dict:
    """Every stage ``repeat`` times at ``scale`` (with ``parts`` part numbers instead of the
    scale's); the results as a dict."""
    with tempfile.TemporaryDirectory(prefix="pf-bench-") as tmp:
        folder = keep if keep is not None else Path(tmp) / "fleet"
        folder.mkdir(parents=True, exist_ok=True)
        n_machines, n_dealers, n_parts = _sizes(scale, parts)
        result: dict = {
            "scale": scale, "machines": n_machines, "dealers": n_dealers, "parts": n_parts,
            "date": dt.date.today().isoformat(), "cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(),
            "repeat": repeat, "fleet": _fleet(scale, folder, parts), "stages": {},
        }
        for stage in stages:
            work = Path(tmp) / f"work-{stage}"
            work.mkdir(exist_ok=True)
            runs = []
            for i in range(repeat):
                runs.append(_run_plan(folder, work / f"out{i}") if stage == "plan"
                            else _run_child(stage, folder, work))
            row = _summarise(runs)
            if stage in PEERS:
                why_not = _importable(stage)
                if why_not is None:
                    peer = _summarise([_run_child(f"{stage}-peer", folder, work) for _ in range(repeat)])
                else:
                    peer = {"error": why_not}
                peer["name"] = PEERS[stage]
                row["peer"] = peer
            result["stages"][stage] = row
            print(f"  {stage}: done", file=sys.stderr, flush=True)
            result.setdefault("version", row.get("version"))
        return result


def _fmt(x, spec: str) -> str:
    return "" if x is None else format(x, spec)


def table(result: dict) -> str:
    """The results as the text table the script prints."""
    parts = "natural catalogue" if result["parts"] is None else f"{result['parts']:,} parts"
    lines = [
        (f"partsforecast {result.get('version')} — scale {result['scale']}: {result['machines']:,} machines, "
         f"{result['dealers']} dealers, {parts}"),
        (f"{result['date']}, {result['cores']} cores, {result['platform']}, Python {result['python']}; "
         f"median of {result['repeat']} run(s), each stage in a fresh process"),
        "",
        (f"{'stage':<13} {'seconds':>8} {'process s':>9} {'peak GiB':>8}   {'peer':<29} {'peer s':>8} "
         f"{'peer GiB':>8} {'ratio':>6}"),
    ]
    notes = []
    for stage, r in result["stages"].items():
        if "error" in r:
            lines.append(f"{stage:<13} failed: {r['error']}")
            continue
        peer = r.get("peer")
        cells = ["", "", "", ""]
        if peer is not None:
            cells[0] = peer["name"]
            if "error" in peer:
                cells[1] = "skipped"
                notes.append(f"{stage} peer ({peer['name']}) skipped: {peer['error']}")
            else:
                cells[1:] = [_fmt(peer["seconds"], ".2f"), _fmt(peer["peak_gib"], ".2f"),
                             _fmt(peer["seconds"] / r["seconds"], ".2f") if r["seconds"] > 0 else ""]
                if peer.get("note"):
                    notes.append(f"{stage} peer: {peer['note']}")
        lines.append(f"{stage:<13} {r['seconds']:>8.2f} {r['total_seconds']:>9.2f} {r['peak_gib']:>8.2f}   "
                     f"{cells[0]:<29} {cells[1]:>8} {cells[2]:>8} {cells[3]:>6}")
    plan = result["stages"].get("plan")
    if plan and "error" not in plan:
        inner = ", ".join(f"{k} {v:.2f} s" for k, v in plan["stage_seconds"].items())
        lines += ["", f"plan run.json timings: {inner} (exit code {plan['exit_code']})"]
    tr = result["stages"].get("transfers")
    if tr and "error" not in tr:
        size = f"{tr['columns']:,} columns × {tr['rows_lp']:,} rows" if "columns" in tr else "empty"
        peer = tr.get("peer", {})
        lines.append(f"transfer LP: {size}, ours {tr['status']}, objective {tr.get('lp_objective', 0):.6g} "
                     f"(build {tr['build_seconds']:.2f} s + solve {tr['solve_seconds']:.2f} s; plan_transfers {tr['plan_transfers_seconds']:.2f} s in all)"
                     + (f"; highspy {peer['status']}, objective {peer['objective']:.6g}"
                        if "status" in peer else ""))
    lines += [f"note: {n}" for n in notes]
    lines += ["", ("seconds: the timed part; process s: the whole child process (prerequisites untimed "
                   "above); peak GiB: the child's peak resident memory; ratio: peer s / seconds")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="small", metavar="{small,medium,national}",
                    help="small (3,000 machines), medium (20,000) or national (200,000); default small")
    ap.add_argument("--parts", type=int, default=None,
                    help="part numbers of the fleet instead of the scale's (growth in parts at fixed machines)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per stage; the table shows the median")
    ap.add_argument("--keep", type=Path, default=None,
                    help="folder for the generated fleet, reused when it already holds the scale's fleet")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    ap.add_argument("--json", type=Path, default=None, help="also save the results to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.folder, args.work)
        return
    if args.scale not in SCALES:  # "tiny" (for the tests) is accepted but not offered
        ap.error(f"--scale: {args.scale!r} is not one of small, medium, national")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        ap.error(f"--stages: unknown stage(s) {unknown}; choose from {','.join(STAGES)}")
    if args.repeat < 1:
        ap.error("--repeat: must be at least 1")
    if args.parts is not None and not 50 <= args.parts <= 200_000:
        ap.error("--parts: must be between 50 and 200,000")
    result = benchmark(args.scale, stages, args.repeat, args.keep, args.parts)
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
