"""How machines are used over the year, and which ones are worked harder than their model.

Two departures from "one flat rate of hours per day per machine, one lifetime law per
model":

:class:`UsageProfile`
    Machines work more in the building season. The profile is a factor per market tier and
    calendar month (day-weighted mean 1 over the year), so that a machine of yearly mean
    rate ``u`` runs ``u · factor(tier, month)`` hours a day in that month. It is estimated
    from meter readings (the hours run between two readings of the same machine, spread
    over the calendar months they cover) and from the timing of repair tickets, and shrunk
    towards flat where the data are thin. :func:`partsforecast.forecast_demand` uses it to
    turn calendar periods into operating hours, and the component lives
    (:mod:`partsforecast.lives`) count the hours between two dates on it.
:class:`MachineFrailty`
    Some machines fail more often than their model says (harder work, a rough site). Each
    machine gets a gamma-frailty posterior mean ``(α + O) / (α + E)``: ``O`` failures seen
    on it, ``E`` what the lifetime model expects for its observed lives, ``α`` estimated
    from the fleet (Clayton & Kaldor 1987). The forecast multiplies the machine's expected
    renewals by it.

The rules, the shrinkage and the measured figures are in ``docs/concepts/installed-base.md``
(*Use over the year and heavy users*); the benchmark is ``benchmarks/bench_usage.py``.

References
----------
- Clayton, D. & Kaldor, J. (1987). Empirical Bayes estimates of age-standardized relative
  risks for use in disease mapping. *Biometrics* 43, 671–681.
- Kaufman, L. (1975). A variable projection method for solving separable nonlinear least
  squares problems. *BIT* 15, 49–57.
- Self, S. G. & Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood estimators
  and likelihood ratio tests under nonstandard conditions. *JASA* 82, 605–610.
- Morris, C. N. (1983). Parametric empirical Bayes inference: theory and applications.
  *JASA* 78, 47–55.
"""

from partsforecast.usage.frailty import MachineFrailty, frailty_posterior
from partsforecast.usage.profile import UsageProfile, fleet_usage_profile

__all__ = ["MachineFrailty", "UsageProfile", "fleet_usage_profile", "frailty_posterior"]
