"""``partsforecast service --out DIR``: the after-sales analysis as a sub-command.

It takes the input options of ``plan`` (``--data`` / ``--db`` / ``--config`` / ``--as-of``),
reads its settings from the ``[service]`` table of the ``--config`` file (the currency
falls back to the ``[plan]`` table's), and writes the outputs of
:func:`partsforecast.service.run_service` into ``--out``, whole or not at all. Exit codes
are the command's: 0 written, 2 bad input or setting (nothing written), 1 anything else.
``--pooling`` sets the failure model the abnormal-machine test compares machines with;
``--horizon`` and ``--seed``, shared with ``plan``, do not change the service analysis.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from partsforecast.data import InputError, Problem

__all__ = ["add_service_command", "read_service_config"]


def _cli():
    """The command line's shared helpers: its input options, the fleet loader and the output
    check (imported here, when the command runs: ``partsforecast.cli`` registers this module)."""
    from partsforecast import cli

    run_options, load_for_run, check_out = cli.run_options, cli.load_for_run, cli.check_out
    return run_options, load_for_run, check_out


def add_service_command(sub) -> None:
    """Register ``service`` on the command's sub-parsers (an entry of ``cli._EXTRA_COMMANDS``).

    Parameters
    ----------
    sub
        The command's sub-command registry (what ``_EXTRA_COMMANDS`` entries receive).
    """
    run_options, _, _ = _cli()
    p = sub.add_parser(
        "service", help="after-sales analysis: dealer service KPIs, stock-outs, part classes",
        description="Compute the dealers' service KPIs (response, parts wait, time to close, local-stock "
                    "share, repeat failures, tickets waiting unseen) by dealer and tier, the stock-out "
                    "register, the parts' ABC classes and demand patterns, and the machines that fail more "
                    "often than their model's law; write dealer_kpis.csv, stockouts.csv, part_classes.csv, "
                    "data_findings.csv, abnormal_machines.csv and service.html into --out "
                    "(replaced whole, only on success). Settings: the [service] table of --config.")
    run_options(p, "output folder")
    p.add_argument("--plan", dest="plan_dir", type=Path, default=None, metavar="DIR",
                   help="a plan's output folder: stock-outs its transfers cover are marked transferred")
    p.set_defaults(func=_cmd_service)


def read_service_config(path: Path | None):
    """The :class:`~partsforecast.service.ServiceSettings` of a TOML file's ``[service]`` table.

    Parameters
    ----------
    path : Path or None
        The ``--config`` file; ``None`` gives the defaults.

    Returns
    -------
    ServiceSettings

    Raises
    ------
    InputError
        For an unreadable or malformed file and for every unknown or bad setting.
    """
    from partsforecast.service.report import ServiceSettings

    if path is None:
        return ServiceSettings()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    def bad(rule: str) -> InputError:
        return InputError([Problem.setting("--config", str(path), rule)])

    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except OSError as exc:
        raise bad(f"cannot read the settings file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise bad(f"not a valid TOML file: {exc}") from None
    service = values.get("service", {})
    if not isinstance(service, dict):
        raise bad("[service] must be a table of settings")
    service = dict(service)
    plan = values.get("plan")
    if "currency" not in service and isinstance(plan, dict) and "currency" in plan:
        service["currency"] = plan["currency"]
    return ServiceSettings.from_mapping(service)


def _cmd_service(args: argparse.Namespace) -> int:
    from partsforecast.service.report import run_service
    from partsforecast.service.stockouts import read_plan_transfers

    _, load_for_run, check_out = _cli()
    settings = read_service_config(getattr(args, "config", None))
    check_out(args.out, folder=True)
    transfers = read_plan_transfers(args.plan_dir) if args.plan_dir is not None else None
    from partsforecast.supersession import current_fleet

    fleet = current_fleet(load_for_run(args))  # demand and stock-outs in current numbers
    model = None
    if settings.abnormal and getattr(args, "pooling", None) is not None:
        from partsforecast.reliability import FailureModel

        model = FailureModel(pooling=args.pooling).fit(fleet)
    result = run_service(fleet, args.out, settings, transfers=transfers, model=model)
    h = result.headline()
    print(f"service analysis written to {args.out}: {h['tickets']:,} tickets; parts wait (median days) tier 1 "
          f"{h['parts_wait_days_tier1']:.2f}, tier 4 {h['parts_wait_days_tier4']:.2f}; {h['stockouts']:,} "
          f"stock-outs in the last {settings.stockout_lookback_days:g} days, {h['stockouts_open']:,} open "
          f"({h['stockouts_overdue']:,} overdue); {h['a_parts']:,} A parts; {h['findings']:,} ticket lines "
          "with times to check"
          + ("" if h["abnormal_machines"] is None else f"; {h['abnormal_machines']:,} abnormal machine components"))
    return 0
