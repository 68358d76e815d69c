"""The policy instruments in force in a run, named as the reports name them, for the policy
report and the teaching app. Each entry: (English name with the Chinese term, its source).
What each does and its lever: docs/instruments.md."""

from __future__ import annotations

from .config import SimConfig


def in_force(cfg: SimConfig) -> list[tuple[str, str]]:
    """The instruments switched on in `cfg`, in a fixed order."""
    out = []
    s = cfg.scheme
    if s.dynamic.enabled:
        out.append((f"Anhui dynamic risk-sharing platform (动态风险分担): public share of a flagged loan "
                    f"raised to {s.dynamic.public_share:.0%}",
                    "docs/sources.md#anhui-report-a"))
    return out
