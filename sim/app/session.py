"""One workshop session: the model, or two models side by side, stepped together.

Plain Python, no browser: the page (sim/app/page.py) calls these methods and draws what they
return, and the tests call them directly.

Every model of a session is replication 0 of `mc.seed`, as `python -m sim` would run it
(`replication_seed`), so the app shows exactly one of the command line's replications. Because
every draw after the start is keyed by (month, purpose, firm row) (sim/risk/streams.py), two
models with the same seed see the same factors, defaults and floods wherever their decisions do
not differ: side by side, the schemes are the only difference. The same keying makes a lever
change cheap to show honestly: the session rebuilds the models with the new levers and replays
them to the month it had reached (a month takes milliseconds), so the charts show the whole
path as if the lever had been in force from the start. "Flood now" is the same move: the flood
is scheduled for the next month and the months before it replay unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..config import ConfigError, SimConfig
from ..model import GuaranteeModel
from ..run.runner import replication_seed
from .levers import Levers


def build(cfg: SimConfig) -> GuaranteeModel:
    """Replication 0 of cfg.mc.seed, as the command line builds it."""
    return GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(cfg.mc.seed, 0)))


class Session:
    """The models of one page, stepped together month by month."""

    def __init__(self, levers: Levers):
        self.levers = levers
        self.configs = levers.configs()  # validated first: a bad lever raises ConfigError here
        self.models = [build(c) for c in self.configs]

    # ------------------------------------------------------------------ stepping
    @property
    def month(self) -> int:
        """Months completed (the same for every model of the session)."""
        return self.models[0].month

    @property
    def horizon(self) -> int:
        return self.configs[0].horizon

    @property
    def finished(self) -> bool:
        return self.month >= self.horizon

    def step(self, months: int = 1) -> None:
        """Step every model the same number of months (stops at the horizon)."""
        for _ in range(min(months, self.horizon - self.month)):
            for m in self.models:
                m.step()

    def with_levers(self, levers: Levers) -> "Session":
        """A session with new levers, replayed to this session's month. Raises ConfigError and
        leaves this session as it was when the levers are refused."""
        new = Session(levers)
        new.step(self.month)
        return new

    def flood_now(self, severity: float | None = None) -> "Session":
        """The same session with a flood that strikes next month (at `severity`, or the flood
        lever's), replayed to this month: until now nothing differs."""
        if self.finished:
            raise ConfigError(f"flood now at month {self.month}: the run has ended (the horizon is "
                              f"{self.horizon} months); reset to start again")
        sev = self.levers.flood_severity if severity is None else severity
        return self.with_levers(replace(self.levers, flood=True, flood_month=self.month + 1,
                                        flood_severity=sev))

    # ------------------------------------------------------------------ what the page shows
    @property
    def names(self) -> list[str]:
        """Each model's scheme; the first says so when its tranches were moved off the preset."""
        names = [c.scheme.name for c in self.configs]
        if self.levers.edited():
            names[0] += " (" + " / ".join(f"{k} {100 * v:.0f}" for k, v in self.levers.tranches.items()) + ")"
        return names

    def timeseries(self) -> list[pd.DataFrame]:
        """Each model's monthly rows so far (its DataCollector table "monthly")."""
        return [m.timeseries() for m in self.models]

    def prefectures(self) -> list[pd.DataFrame]:
        """Each model's prefectures now: NPL ratio, flood, suspended guarantors."""
        return [m.prefectures() for m in self.models]

    @property
    def seeds(self) -> list[int]:
        """Each model's seed (mc.seed): one number for a session, whatever its mode."""
        return [c.mc.seed for c in self.configs]

    @property
    def shock_keys(self) -> list[int]:
        """Each model's replication key, from which every later draw is keyed."""
        return [m.shocks.key for m in self.models]

    def flood_months(self) -> list[list[int]]:
        """Each model's flood months (1-based): the same shocks on both sides."""
        return [[o.start + 1 for o in m.shocks.occurrences] for m in self.models]
