"""Points of an experiment: one config per point of an input space, run on the same seeds.

Sensitivity analysis (`sim.sensitivity`) and the scheme design search (`sim.design`) both ask
the same thing many times: "set these inputs to these values, run the Monte Carlo, give me
the mean of a few headline metrics". This module answers it once:

- `base_config(...)` composes the base config once; its `firms.n` is then a number.
  `firms.n=auto` follows guarantor.capital_dispersion and the other grain settings, so
  composed again per point it would give points different firm counts and so different
  random numbers; set on the one base config, every point runs the same firms under the
  same `mc.seed` (common random numbers: only the inputs differ).
- `with_values(base, values)` is the point's config: a copy of the composed base config with
  `values` set and everything validated again (`prepare`). Every value is a dotted config
  key, except the derived inputs in `DERIVED` (`pd_scale`: every prefecture's PD times a
  factor, which no single key expresses). Setting the fields of a composed config gives the
  same config as composing with the values as overrides (tests/test_sensitivity.py) in
  milliseconds, where a Hydra composition costs about half a second; that matters over
  hundreds of points. `build(scenario, values, overrides, ...)` does both steps.
- `run_point(cfg, jobs)` runs it through the project's runner (`run_replications`, workers
  per `jobs`) keeping only the per-replication summaries, as `sim.stress` does.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .config import ConfigError, SimConfig, load_config, prepare
from .run.results import Results
from .run.runner import run_summaries


# Run size of a sensitivity point or a design trial unless told otherwise, affordable on a
# shared 2-core machine: 48 months and 16 replications a point; firms.n=auto (Hunan: 49,601
# firms), pinned for every point at the base config's number. Not fewer: a guarantor's halt
# must come from its losses, not from the sample's grain. At 20,000 firms (grain 5% of the
# smallest guarantor's capacity, above firms.max_grain's 2%) 4321 halted a guarantor in 12% of
# runs against none at 49,601 (16 replications each, 2026-11-30).
DEFAULT_OVERRIDES = {"firms.n": "auto", "horizon": 48, "mc.replications": 16}


def scale_pd(cfg: SimConfig, factor: float) -> SimConfig:
    """Every prefecture's mean annual PD times `factor` (the level of default risk, keeping its
    pattern across prefectures and sectors). Validated: a PD pushed to 1 or above is refused."""
    regions = [replace(r, pd=r.pd * factor) for r in cfg.province.regions]
    out = replace(cfg, province=replace(cfg.province, regions=regions))
    try:
        return prepare(out)
    except ConfigError as e:
        raise ConfigError(f"pd_scale = {factor!r}: {e}") from None


# Inputs that are not one config key: name -> function(cfg, value) -> validated cfg.
DERIVED = {"pd_scale": scale_pd}


def base_config(scenario: str, overrides: Mapping[str, Any] | None = None,
                shock: str | None = None, province: str | None = None) -> SimConfig:
    """The composed, validated base config (ConfigError if not allowed), with `firms.n`
    resolved to a number: every point set on it (`with_values`) runs the same firms."""
    return load_config(scenario, dict(overrides or {}), shock=shock, province=province)


def _set(cfg: SimConfig, key: str, value: Any) -> None:
    """Set a dotted key (`bank.moral_hazard`, `scheme.tranches.bank.share`) on cfg in place;
    ConfigError naming the key if there is no such key. An integral float for an integer
    field (as a sampler gives) is stored as an int; the field's rule judges the rest."""
    *path, last = key.split(".")
    node: Any = cfg
    for part in path:
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
        if node is None or not (dataclasses.is_dataclass(node) or isinstance(node, dict)):
            raise ConfigError(f"unknown key '{key}' (see `python -m sim --help` for the keys)")
    if isinstance(node, dict) or not any(f.name == last for f in dataclasses.fields(node)):
        raise ConfigError(f"unknown key '{key}' (see `python -m sim --help` for the keys)")
    old = getattr(node, last)
    if isinstance(old, int) and not isinstance(old, bool) and isinstance(value, float) \
            and value.is_integer():
        value = int(value)
    setattr(node, last, value)


def with_values(base: SimConfig, values: Mapping[str, Any]) -> SimConfig:
    """A validated copy of `base` with `values` set (dotted keys, or names in DERIVED);
    ConfigError (one line naming the key and the value) if the result is not allowed."""
    cfg = copy.deepcopy(base)
    keys = {k: v for k, v in values.items() if k not in DERIVED}
    if any(k.startswith("scheme.tranches.") for k in keys):
        # the base's scheme.bank_share is already applied to its tranches; left set, prepare
        # would apply it again over the shares given here
        cfg.scheme.bank_share = None
    for k, v in keys.items():
        _set(cfg, k, v)
    cfg = prepare(cfg, set(keys))
    for name, fn in DERIVED.items():
        if name in values:
            cfg = fn(cfg, float(values[name]))
    return cfg


def build(scenario: str, values: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
          shock: str | None = None, province: str | None = None) -> SimConfig:
    """The validated config of one point: the scenario and the overrides composed as
    `load_config` does, then `values` set (`with_values`)."""
    return with_values(load_config(scenario, overrides, shock=shock, province=province), values)


def run_point(cfg: SimConfig, jobs: int | None = None) -> Results:
    """Run cfg's replications (without a counterfactual), keeping only the summaries.
    jobs: worker processes, None = cfg's mc.n_jobs. After Ctrl-C Results.complete is False
    (KeyboardInterrupt if no replication finished)."""
    return run_summaries(cfg, None if jobs is None else int(jobs))


def positive_int(flag: str) -> Callable[[str], int]:
    """An argparse type for a whole number >= 1 whose error names the flag (the sensitivity
    and design commands share it)."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {s!r}: must be a whole number >= 1") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{flag} {s!r}: must be a whole number >= 1")
        return v
    return parse


def cli_value(v: str) -> Any:
    """A command-line value as the config expects it: int, float or the text."""
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


class RowLog:
    """Finished points streamed to a CSV as they come (`out_csv` None: kept in memory only), so
    an interrupted study leaves them readable. `rows` holds them; `finish(complete=False)`
    rewrites the file with exactly those rows, even if Ctrl-C cut the last append short."""

    def __init__(self, out_csv: str | Path | None):
        self.path = Path(out_csv) if out_csv is not None else None
        self.rows: list[dict] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.unlink(missing_ok=True)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if self.path is not None:
            pd.DataFrame([row]).to_csv(self.path, mode="a", header=len(self.rows) == 1, index=False)

    def finish(self, complete: bool) -> pd.DataFrame:
        table = pd.DataFrame(self.rows)
        if not complete and self.path is not None:
            table.to_csv(self.path, index=False)
        return table

