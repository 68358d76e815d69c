"""Government-bank-guarantor (政银担) risk-sharing simulator.

Public API:
    run(scenario, overrides)      -> Results (summary, replications, timeseries DataFrames)
    compare(scenarios, overrides) -> DataFrame, one column per scenario
    load_config(scenario, overrides, shock=, province=) -> SimConfig (validated)
    list_scenarios(), list_shocks(), list_provinces() -> {name: description}
    GuaranteeModel                -> the mesa.Model of one replication
    SimConfig, ConfigError, Results
    sensitivity.morris(...), sensitivity.sobol(...) -> which inputs matter (SALib; extra "research")
    design.search(...), design.pareto(...), design.recheck(...) -> scheme design search (Optuna)
"""

from .api import compare, list_provinces, list_scenarios, list_shocks, load_config, run
from .config import ConfigError, SimConfig
from .model import GuaranteeModel
from .run.results import Results
from . import design, sensitivity  # SALib and Optuna are imported only when used

__all__ = ["run", "compare", "load_config", "list_scenarios", "list_shocks", "list_provinces",
           "GuaranteeModel", "SimConfig", "ConfigError", "Results", "sensitivity", "design"]
__version__ = "0.1.0"
