"""The ``partsforecast`` command.

Exit codes: 0 success, 2 bad input or a bad setting (the problem list goes to stderr), 3
infeasible plan, 4 plan written but it misses a service target (the warnings are on stdout,
in run.json and in the report), 1 anything else. No traceback reaches the user unless
``--debug`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from partsforecast import __version__
from partsforecast.data import TABLES, Fleet, InputError, Problem, read_fleet

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_WARNINGS = 0, 1, 2, 3, 4

log = logging.getLogger("partsforecast")


def _cmd_validate(args: argparse.Namespace) -> int:
    fleet = read_fleet(args.path, as_of=args.as_of)
    print(f"OK: {args.path} is a valid fleet (as of {fleet.as_of.date()})")
    with pd.option_context("display.max_colwidth", 120, "display.width", 200):
        print(fleet.summary().to_string(index=False))
    return EXIT_OK


def _cmd_sample(args: argparse.Namespace) -> int:
    from partsforecast.samples import load_sample, make_fleet

    check_out(args.out, folder=True)
    if all(v is None for v in (args.machines, args.seed, args.dealers, args.years, args.parts)):
        fleet = load_sample()
        what = "the bundled sample fleet"
    else:
        kwargs = {k: v for k, v in (("n_machines", args.machines), ("n_dealers", args.dealers),
                                    ("n_parts", args.parts), ("years", args.years), ("seed", args.seed))
                  if v is not None}
        try:
            fleet = make_fleet(**kwargs)
        except ValueError as exc:  # the generator names the setting it refuses
            flag = {"n_machines": "--machines", "n_dealers": "--dealers", "n_parts": "--parts",
                    "years": "--years"}.get(
                str(exc).split(" ")[0], "sample")
            raise _setting_error(flag, None, str(exc)) from None
        what = "a generated fleet (" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
    fleet.to_dir(args.out, format=args.format)
    print(f"wrote {what} to {args.out}: {len(fleet.machines)} machines, "
          f"{len(fleet.tickets)} ticket lines, {len(fleet.dealers)} dealers")
    return EXIT_OK


def _output_options(p: argparse.ArgumentParser, default) -> None:
    """-v / -q / --debug: accepted before and after the sub-command."""
    p.add_argument("-v", "--verbose", action="count", default=default,
                   help="more log output (-vv: debug, with library warnings)")
    p.add_argument("-q", "--quiet", action="store_true", default=default, help="only errors")
    p.add_argument("--debug", action="store_true", default=default,
                   help="show tracebacks of unexpected errors")


class _SubParsers:
    """The sub-command registry; every sub-command also takes the output options."""

    def __init__(self, action: argparse._SubParsersAction) -> None:
        self.action = action

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        p = self.action.add_parser(name, **kwargs)
        # SUPPRESS: a sub-command's own -v/-q only counts when given there.
        _output_options(p, argparse.SUPPRESS)
        return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``partsforecast`` command."""
    parser = argparse.ArgumentParser(
        prog="partsforecast",
        description="Failure models, parts demand forecasts and stocking plans for a "
                    "machinery dealer network.",
    )
    parser.add_argument("--version", action="version", version=f"partsforecast {__version__}")
    _output_options(parser, argparse.SUPPRESS)
    parser.set_defaults(verbose=0, quiet=False, debug=False)
    action = parser.add_subparsers(dest="command", metavar="COMMAND")
    action.required = True
    sub = _SubParsers(action)

    p = sub.add_parser("validate", help="check a folder of input tables against the data contract",
                       description="Check a folder of input tables; print a summary, or the "
                                   "problem list (exit code 2).")
    p.add_argument("path", type=Path, help="folder with machines.csv, tickets.csv, parts.csv, "
                                            "bom.csv, locations.csv[, lanes.csv, stock.csv]")
    p.add_argument("--as-of", dest="as_of", default=None, help="the date the data end (YYYY-MM-DD)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("sample", help="write the bundled sample fleet, or a generated one, to a folder",
                       description="Write the bundled sample fleet to OUT; with any size option, "
                                   "generate a synthetic fleet with known truth instead.")
    p.add_argument("out", type=Path, help="folder to write")
    p.add_argument("--machines", type=int, default=None, help="number of machines to generate")
    p.add_argument("--dealers", type=int, default=None, help="number of dealers to generate")
    p.add_argument("--parts", type=int, default=None,
                   help="number of part numbers to generate (default: the natural catalogue)")
    p.add_argument("--years", type=float, default=None, help="years of history to generate")
    p.add_argument("--seed", type=int, default=None, help="random seed of the generator")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv",
                   help="file format of the tables (default csv)")
    p.set_defaults(func=_cmd_sample)

    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


def _setting_error(name: str, value, rule: str) -> InputError:
    return InputError([Problem.setting(name, value, rule)])


def _read_config(path: Path) -> dict:
    """The ``[plan]`` table of a TOML settings file (or its top level when it has none)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except OSError as exc:
        raise _setting_error("--config", path, f"cannot read the settings file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise _setting_error("--config", path, f"not a valid TOML file: {exc}") from None
    plan = values.get("plan", values)
    if not isinstance(plan, dict):
        raise _setting_error("--config", path, "[plan] must be a table of settings")
    return dict(plan)


def _settings(args: argparse.Namespace):
    from partsforecast.plan import PlanSettings

    values: dict = {}
    if getattr(args, "config", None) is not None:
        values = _read_config(args.config)
    for name in ("horizon", "budget", "solver", "time_limit", "seed", "pooling"):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    return PlanSettings.from_mapping(values)


def check_out(path: Path, folder: bool) -> None:
    """Refuse an output path that cannot be written, before any computing starts."""
    if folder and path.exists() and not path.is_dir():
        raise _setting_error("--out", path, "exists and is not a folder; give a folder to write the plan into")
    if not folder and path.is_dir():
        raise _setting_error("--out", path, "is a folder; give a file name (.csv or .parquet)")
    if not folder and path.suffix.lower() not in (".csv", ".parquet"):
        raise _setting_error("--out", path, "must end in .csv or .parquet")
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise _setting_error("--out", path, f"cannot write there ({parent} is not a writable folder)")


def load_for_run(args: argparse.Namespace) -> Fleet:
    """The fleet to plan on; with --as-of, as it was known on that date (Fleet.until)."""
    from partsforecast.samples import load_sample

    if getattr(args, "db", None) is not None:
        from partsforecast.data import read_fleet_sql

        names = {k[len("table_"):]: v for k, v in vars(args).items() if k.startswith("table_") and v}
        fleet = read_fleet_sql(args.db, tables=names)
    elif args.data is None:
        log.info("no --data given: using the bundled sample fleet")
        fleet = load_sample()
    else:
        fleet = read_fleet(args.data)
    if not args.as_of:
        return fleet
    cut = fleet.until(args.as_of)
    if cut.as_of > fleet.as_of and not getattr(args, "force_as_of", False):
        raise _setting_error("--as-of", args.as_of,
                             f"after the end of the data ({fleet.as_of.date()}): the plan would not see "
                             "the demand in between; give an earlier date, or --force-as-of to plan anyway")
    return cut


def _cmd_plan(args: argparse.Namespace) -> int:
    from partsforecast.plan import run_plan

    settings = _settings(args)
    check_out(args.out, folder=True)
    fleet = load_for_run(args)
    from partsforecast.samples import sample_path

    source = args.data if args.data is not None else (None if args.db else sample_path())
    progress = False if args.quiet else (True if args.progress else None)
    with _dask_client(args.scheduler) as engine:
        plan = run_plan(fleet, args.out, settings, source=source, log=log, report=not args.no_report,
                        progress=progress, engine=engine)
    moves = plan.transfers
    dealers = pd.unique(pd.concat([moves["from_id"], moves["to_id"]]).to_numpy())
    n_files = int((dealers != plan.warehouse_id).sum())  # one transfer file per such dealer
    h, cur = plan.headline(), plan.currency
    print(f"plan written to {args.out}: {len(plan.levels)} stock levels, {len(plan.transfers)} transfers "
          f"for {n_files} dealers (freight {h['freight']:,.2f} {cur}), {h['purchase_order_lines']} "
          f"purchase-order lines ({h['purchase_order_units']:,} units, {h['purchase_order_value']:,.2f} {cur}); "
          f"dealer units short {h['dealer_units_short_before']:,} -> {h['dealer_units_short_after']:,}; "
          f"transfer solver: {plan.transfer_report.status}")
    for line in plan.warnings:
        print(f"warning: {line}")
    return EXIT_WARNINGS if plan.warnings else EXIT_OK


@contextlib.contextmanager
def _dask_client(address: str | None):
    """A client of the Dask scheduler at ``address`` for the run (None: run here)."""
    if address is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise _setting_error("scheduler", address,
                             "running on a Dask cluster needs partsforecast[dask] installed") from None
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise _setting_error("scheduler", address, f"cannot reach the Dask scheduler: {exc}") from None
    try:
        yield client
    finally:
        client.close()


def _fitted(args: argparse.Namespace):
    """Settings, fleet and fitted failure model of a fit / forecast command."""
    from partsforecast.reliability import FailureModel

    from partsforecast.supersession import current_fleet

    settings = _settings(args)
    check_out(args.out, folder=False)
    fleet = current_fleet(load_for_run(args))  # parts forecast in current numbers
    return settings, fleet, FailureModel(distribution=settings.lifetime_law, pooling=settings.pooling).fit(fleet)


def _cmd_fit(args: argparse.Namespace) -> int:
    from partsforecast._io import round_for_people, write_frame_atomic

    _, _, model = _fitted(args)
    write_frame_atomic(round_for_people(model.params_), args.out)
    print(f"{len(model.params_)} failure models written to {args.out}")
    return EXIT_OK


def _cmd_forecast(args: argparse.Namespace) -> int:
    from partsforecast._io import round_for_people, write_frame_atomic
    from partsforecast.demand import forecast_demand

    settings, fleet, model = _fitted(args)
    fc = forecast_demand(model, fleet, horizon=settings.horizon, freq=settings.freq)
    write_frame_atomic(round_for_people(fc), args.out)
    print(f"forecast of {len(fc)} (location, part, period) rows written to {args.out}")
    return EXIT_OK


def run_options(p: argparse.ArgumentParser, out_help: str, out_default: str | None = None) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", type=Path, default=None,
                     help="folder of input tables (default: the bundled sample fleet)")
    src.add_argument("--db", default=None, help="SQLAlchemy URL of a database with the contract's tables, "
                                                "e.g. sqlite:///fleet.db")
    for table in TABLES:
        p.add_argument(f"--table-{table}", dest=f"table_{table}", default=None, metavar="NAME",
                       help=argparse.SUPPRESS if table != "tickets" else
                       "database table name for a contract table (also --table-machines, …)")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML file with a [plan] table of settings (keys and ranges: docs/data-contract.md)")
    p.add_argument("--as-of", dest="as_of", default=None,
                   help="plan as of this date (YYYY-MM-DD), with only the data known then")
    p.add_argument("--force-as-of", dest="force_as_of", action="store_true",
                   help="accept an --as-of date after the end of the data")
    p.add_argument("--out", type=Path, required=out_default is None, default=out_default, help=out_help)
    p.add_argument("--horizon", type=int, default=None, help="forecast periods (default 12)")
    p.add_argument("--pooling", choices=["shrink", "shape", "none"], default=None,
                   help="failure-model pooling of sparse groups (default shrink)")
    p.add_argument("--seed", type=int, default=None, help="seed of anything random in the run (default 0)")


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="the weekly job: validate, fit, forecast, optimise, write the plan",
                       description="Validate the inputs, fit failure models, forecast demand, optimise "
                                   "stock levels and transfers, and write stock_plan.csv, "
                                   "transfers/<dealer>.csv, forecast.csv, failure_models.csv, report.html "
                                   "and run.json into --out (replaced whole, only on success).")
    run_options(p, "output folder")
    p.add_argument("--budget", type=float, default=None, help="total inventory investment")
    p.add_argument("--solver", choices=["highs", "cbc"], default=None,
                   help="solver of the transfer model (default highs)")
    p.add_argument("--time-limit", dest="time_limit", type=float, default=None, help="transfer solver seconds")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--progress", action="store_true",
                   help="draw the progress bar even when stderr is not a terminal")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="fit and forecast on the Dask cluster of this scheduler, e.g. "
                        "tcp://scheduler:8786 (needs partsforecast[dask])")
    p.set_defaults(func=_cmd_plan)
    p = sub.add_parser("fit", help="fit the failure models and write them as CSV")
    run_options(p, "file to write: CSV, or Parquet for a .parquet name")
    p.set_defaults(func=_cmd_fit)
    p = sub.add_parser("forecast", help="fit and forecast parts demand; write the forecast as CSV or Parquet")
    run_options(p, "file to write: CSV, or Parquet for a .parquet name (compact for a national forecast)")
    p.set_defaults(func=_cmd_forecast)


def _add_service(sub: argparse._SubParsersAction) -> None:
    """``partsforecast service``, imported only when the parser is built."""
    from partsforecast.service.command import add_service_command

    add_service_command(sub)


# Stages register their sub-commands here.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_run_commands, _add_service]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    # Library warnings (numpy, pandas, statsmodels) are for developers: logged at -vv only.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.DEBUG if args.verbose >= 2 or args.debug
                                              else logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return int(args.func(args))
    except InputError as exc:
        print(f"partsforecast: bad input\n{exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("partsforecast: interrupted; earlier outputs are untouched", file=sys.stderr)
        return 130
    except Exception as exc:  # the CLI's last line of defence: one clear line, no traceback
        if args.debug:
            raise
        infeasible = type(exc).__name__ == "InfeasiblePlanError"
        print(f"partsforecast: {'infeasible plan' if infeasible else 'error'}: {exc}", file=sys.stderr)
        if not infeasible:
            print("(run again with --debug for the traceback)", file=sys.stderr)
        return EXIT_INFEASIBLE if infeasible else EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
