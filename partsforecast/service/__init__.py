"""After-sales service analytics from the repair tickets.

- :func:`dealer_kpis`: response, parts wait, time to close, local-stock share, repeat
  failures and tickets waiting unseen, by dealer and tier, per period and overall, each with
  the tickets it rests on and the tickets left out and why (``kpis``);
- :func:`stockouts`: the stock-out register, the weekly list of ticket lines that waited for
  a part the dealer did not hold, with its downtime and follow-up status (``stockouts``);
- :func:`part_classes`: ABC by demand value, the Syntetos–Boylan–Croston demand pattern, a
  suggested method and fill-rate target per part; :func:`combine_targets` combines class
  and tier targets (``classes``);
- :func:`abnormal_machines`: the (machine, component) pairs that fail more often than their
  model's law (``abnormal``);
- :func:`run_service`: all of it written into a folder, with ``service.html`` (``report``);
  ``partsforecast service --out DIR`` runs it (``command``).
"""

from partsforecast.service.abnormal import (
    AbnormalMachines,
    abnormal_machines,
    fit_excluding,
    machine_card,
)
from partsforecast.service.classes import (
    DEFAULT_CLASS_TARGETS,
    PART_CLASS_COLUMNS,
    PATTERN_METHODS,
    abc_classes,
    combine_targets,
    demand_patterns,
    part_classes,
)
from partsforecast.service.kpis import (
    KPI_COLUMNS,
    KPI_EXCLUSIONS,
    LOCAL_STOCK_HOURS,
    dealer_kpis,
)
from partsforecast.service.report import (
    ServiceResult,
    ServiceSettings,
    run_service,
    write_service_report,
)
from partsforecast.service.stockouts import (
    STOCKOUT_COLUMNS,
    read_plan_transfers,
    stockouts,
)

__all__ = [
    "DEFAULT_CLASS_TARGETS",
    "KPI_COLUMNS",
    "KPI_EXCLUSIONS",
    "LOCAL_STOCK_HOURS",
    "PART_CLASS_COLUMNS",
    "PATTERN_METHODS",
    "STOCKOUT_COLUMNS",
    "AbnormalMachines",
    "ServiceResult",
    "ServiceSettings",
    "abc_classes",
    "abnormal_machines",
    "combine_targets",
    "dealer_kpis",
    "demand_patterns",
    "fit_excluding",
    "machine_card",
    "part_classes",
    "read_plan_transfers",
    "run_service",
    "stockouts",
    "write_service_report",
]
