"""Government-bank-guarantor (政银担) risk-sharing simulator.

Public API:
    run(scenario, overrides)      -> Results (summary, replications, timeseries DataFrames)
    compare(scenarios or folders, overrides, baseline=) -> tidy DataFrame: intervals, paired differences
    load_config(scenario, overrides, shock=, province=) -> SimConfig (validated)
    size_fund(scenario, lever=, target=, risk=) -> Sizing: smallest fund meeting a risk target
    list_scenarios(), list_shocks(), list_provinces() -> {name: description}
    GuaranteeModel                -> the mesa.Model of one replication
    SimConfig, ConfigError, Results
    sensitivity.morris(...), sensitivity.sobol(...) -> which inputs matter (SALib; extra "research")
    design.search(...), design.pareto(...), design.recheck(...) -> scheme design search (Optuna)
"""

from .api import compare, list_provinces, list_scenarios, list_shocks, load_config, run, size_fund
from .config import ConfigError, SimConfig
from .model import GuaranteeModel
from .run.results import Results


def __getattr__(name: str):
    """`sim.sensitivity` and `sim.design` are imported on first use: SALib and Optuna load only
    then, and `python -m sim.sensitivity` (or sim.design) does not find its module imported by
    the package before it runs."""
    if name in ("sensitivity", "design"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["run", "compare", "size_fund", "load_config", "list_scenarios", "list_shocks",
           "list_provinces", "GuaranteeModel", "SimConfig", "ConfigError", "Results", "sensitivity",
           "design"]
__version__ = "0.1.0"
