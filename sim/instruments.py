"""The policy instruments in force in a run, named as the reports name them, for the policy
report and the teaching app. Each entry: (English name with the Chinese term, its source).
What each does and its lever: docs/instruments.md."""

from __future__ import annotations

from .config import SimConfig


def in_force(cfg: SimConfig) -> list[tuple[str, str]]:
    """The instruments switched on in `cfg`, in a fixed order."""
    out = []
    dyn, cb, ps = cfg.scheme.dynamic, cfg.bank.circuit_breaker, cfg.scheme.performance_split
    if dyn.enabled:
        out.append((f"Anhui dynamic risk-sharing platform (动态风险分担): public share of a flagged "
                    f"loan raised to {dyn.public_share:.0%}", "docs/sources.md#anhui-report-a"))
    if cb.enabled:
        out.append((f"Model circuit-breaker (熔断—回滚—补偿): a scoring model above {cb.npl_multiple:g}x "
                    f"the NPL {cb.months} months running is suspended {cb.suspension_months} months; "
                    "the pool advances its expected losses", "docs/sources.md#anhui-report-a"))
    if ps.enabled:
        out.append(("Hunan dynamic split (风险分担比例动态调整): fiscal and guarantor shares by each "
                    "bank's NPL, first-time-borrower and credit-loan shares",
                    "docs/sources.md#hunan-report-h"))
    return out
