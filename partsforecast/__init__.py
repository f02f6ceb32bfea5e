"""partsforecast: spare-parts failure models, demand forecasts and stocking plans.

The public API, stage by stage (see ``docs/architecture.md``):

- data: :class:`Fleet`, :func:`read_fleet`, :class:`InputError`
- samples: :func:`make_fleet`, :func:`load_sample`
- reliability: :class:`FailureModel` (and the single-group fits in ``partsforecast.reliability``)
- demand: :func:`forecast_demand`, :func:`lead_time_demand`
- intermittent baselines and evaluation: the ``partsforecast.intermittent`` and
  ``partsforecast.evaluate`` modules
"""

from partsforecast.data import Fleet, InputError, read_fleet, read_fleet_sql
from partsforecast.samples import load_sample, make_fleet
from partsforecast.reliability import FailureModel
from partsforecast.demand import forecast_demand, lead_time_demand
from partsforecast import intermittent, evaluate

__version__ = "0.1.0"

__all__ = [
    "Fleet",
    "InputError",
    "read_fleet",
    "read_fleet_sql",
    "make_fleet",
    "load_sample",
    "FailureModel",
    "forecast_demand",
    "lead_time_demand",
    "intermittent",
    "evaluate",
    "__version__",
]
