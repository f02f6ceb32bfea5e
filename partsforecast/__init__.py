"""partsforecast: spare-parts failure models, demand forecasts and stocking plans.

The public API, stage by stage (see ``docs/architecture.md``):

- data: :class:`Fleet`, :func:`read_fleet`, :class:`InputError`
- samples: :func:`make_fleet`, :func:`load_sample`
- reliability: :class:`FailureModel` (and the single-group fits in ``partsforecast.reliability``);
  :class:`LifetimeModel`, what a forecast needs from any lifetime law
- demand: :func:`forecast_demand`, :func:`lead_time_demand`; :class:`ServiceModel`, the
  scheduled-service demand it adds; :class:`UsageProfile` (use over the year) and
  :class:`MachineFrailty` (heavy users), what it can take into account
- supersession: :func:`current_numbers` (old part numbers → current ones),
  :func:`current_fleet` (history, BOM and stock in current numbers; :class:`Supersession`)
- the plan: :class:`PlanSettings`, :func:`plan_stock` → :class:`StockPlan`, :func:`run_plan`
  (the weekly job), :func:`simulate_plan`
- evaluation: :func:`backtest_forecast` (the installed-base forecast against held-out tickets)
- intermittent baselines and evaluation: the ``partsforecast.intermittent`` and
  ``partsforecast.evaluate`` modules
"""

from partsforecast.data import Fleet, InputError, read_fleet, read_fleet_sql
from partsforecast.samples import load_sample, make_fleet
from partsforecast.reliability import FailureModel, LifetimeModel
from partsforecast.demand import forecast_demand, lead_time_demand
from partsforecast.maintenance import ServiceModel
from partsforecast.usage import MachineFrailty, UsageProfile
from partsforecast.plan import PlanSettings, StockPlan, plan_stock, run_plan
from partsforecast.supersession import Supersession, current_fleet, current_numbers
from partsforecast.evaluate import backtest_forecast, simulate_plan
from partsforecast import intermittent, evaluate, service

__version__ = "0.1.0"

__all__ = [
    "Fleet",
    "InputError",
    "read_fleet",
    "read_fleet_sql",
    "make_fleet",
    "load_sample",
    "FailureModel",
    "LifetimeModel",
    "forecast_demand",
    "lead_time_demand",
    "ServiceModel",
    "UsageProfile",
    "MachineFrailty",
    "PlanSettings",
    "StockPlan",
    "plan_stock",
    "run_plan",
    "current_numbers",
    "current_fleet",
    "Supersession",
    "simulate_plan",
    "backtest_forecast",
    "intermittent",
    "evaluate",
    "service",
    "__version__",
]
