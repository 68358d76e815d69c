"""The Python API: build a config from a scenario and overrides, run it, compare schemes.

    import sim
    res = sim.run("4321", {"mc.replications": 20})
    res.summary, res.replications, res.timeseries      # pandas DataFrames
    sim.compare(["4321", "2:8", "bank_only"])           # headline metrics side by side
    sim.run("4321", {"shock.month": 7}, shock="flood", province="hunan")
    res.counterfactual                                  # the same seeds without the shock
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import groups, scenarios
from .config import ConfigError, SimConfig, prepare
from .montecarlo import run_monte_carlo
from .results import Results

Overrides = Mapping[str, Any] | Iterable[str] | None


def _dotlist(overrides: Overrides) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{k}={_yaml_value(v)}" for k, v in overrides.items()]
    return list(overrides)


def _yaml_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return OmegaConf.to_yaml(v).strip() if isinstance(v, (dict, list)) else repr(v) if isinstance(v, float) else str(v)


def load_config(scenario: str = "4321", overrides: Overrides = None, shock: str | None = None,
                province: str | None = None) -> SimConfig:
    """Validated config, composed as the command line does: schema defaults, the province
    file (conf/province/), the shock file (conf/shock/), the scenario file, then overrides.

    overrides: {"firms.n": 5000} or ["firms.n=5000"]; "shock=flood" / "province=jiangxi"
    in the list choose a group file too (the keyword arguments win if both are given).
    Raises ConfigError (one line) on a bad name, unknown key or value out of range.
    """
    stem = scenarios.resolve(scenario)
    dots = _dotlist(overrides)
    choice = dict(groups.DEFAULTS)
    for d in dots:
        if "=" not in d:
            raise ConfigError(f"override {d!r}: expected key=value")
    for d in [d for d in dots if d.split("=", 1)[0] in groups.GROUPS]:
        choice[d.split("=", 1)[0]] = d.split("=", 1)[1]
        dots.remove(d)
    if shock is not None:
        choice["shock"] = shock
    if province is not None:
        choice["province"] = province
    base = OmegaConf.structured(SimConfig)
    try:
        merged = OmegaConf.merge(
            base,
            {"province": groups.read("province", choice["province"])},
            {"shock": groups.read("shock", choice["shock"])},
            scenarios.checked(stem))
        merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(dots))
        cfg: SimConfig = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        raise ConfigError(scenarios.describe_omegaconf_error(e)) from None
    prepare(cfg)
    return cfg


def run(scenario: str | SimConfig = "4321", overrides: Overrides = None,
        out_dir: str | Path | None = None, progress: bool = False, shock: str | None = None,
        province: str | None = None) -> Results:
    """Run a scenario's Monte Carlo and return its Results (DataFrames).

    With out_dir, every output file is written there too, as the CLI does. With a shock
    (and shock.counterfactual true), `Results.counterfactual` holds the same seeds run
    without it.
    """
    cfg = (prepare(scenario) if isinstance(scenario, SimConfig)
           else load_config(scenario, overrides, shock=shock, province=province))
    return run_monte_carlo(cfg, Path(out_dir) if out_dir else None, progress=progress)


def compare(scenario_names: Iterable[str], overrides: Overrides = None,
            metrics: Iterable[str] | None = None, shock: str | None = None,
            province: str | None = None) -> pd.DataFrame:
    """Run several scenarios under the same seed and overrides; one column per scenario,
    one row per summary metric (mean over replications)."""
    cols = {}
    for name in scenario_names:
        res = run(name, overrides, shock=shock, province=province)
        cols[res.scenario] = res.summary["mean"]
    table = pd.DataFrame(cols)
    return table.loc[list(metrics)] if metrics is not None else table


def list_scenarios() -> dict[str, str]:
    """{name: description} of every scenario file."""
    return scenarios.available()


def list_shocks() -> dict[str, str]:
    """{name: description} of every shock file (conf/shock/)."""
    return groups.available("shock")


def list_provinces() -> dict[str, str]:
    """{name: main flood basin} of every province file (conf/province/)."""
    return groups.available("province")
