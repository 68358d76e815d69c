"""The policy instruments in force in a run, named as the reports name them, for the policy
report and the teaching app. Each entry: (English name with the Chinese term, its source).
Read from the validated config only. What each does and its lever: docs/instruments.md and
docs/levers.md."""

from __future__ import annotations

from .config import SimConfig

# Each instrument's on/off key, in the order of issue 16 (the app's checkboxes, the figures).
KEYS = {
    "dynamic": "scheme.dynamic.enabled",
    "circuit_breaker": "bank.circuit_breaker.enabled",
    "performance_split": "scheme.performance_split.enabled",
    "priority": "pool.priority.enabled",
    "first_loan": "first_loan.enabled",
    "platform": "platform.enabled",
}


def switched_on(cfg: SimConfig) -> tuple[str, ...]:
    """Names (KEYS) of the instruments `cfg` switches on: a preset's own (Hunan's first-loan
    programme, Anhui's platform and circuit-breaker, Jiangxi's payouts) and any typed."""
    def on(key: str) -> bool:
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)
        return bool(node)
    return tuple(name for name, key in KEYS.items() if on(key))


def in_force(cfg: SimConfig) -> list[tuple[str, str]]:
    """(name, source) of every instrument switched on in `cfg`, in the order of issue 16."""
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
        where = f" in {', '.join(ps.places)}" if ps.places else ""  # the pilot's places; else everywhere
        out.append((f"Hunan dynamic split (风险分担比例动态调整){where}: fiscal and guarantor shares by "
                    "each bank's NPL, first-time-borrower and credit-loan shares",
                    "docs/sources.md#hunan-report-h"))
    if cfg.pool.priority.enabled:
        out.append(("Performance-linked payouts (绩效挂钩优先兑付): priority in the provincial pool's "
                    "queue and a reward for claimants with scheme NPL below "
                    f"{cfg.pool.priority.npl_threshold:.1%}",
                    "docs/sources.md#jiangxi-report-j"))
    if cfg.first_loan.enabled:
        out.append(("First-loan programme (首贷培植): banks reach out to firms with no loan for "
                    f"{cfg.first_loan.months_without_loan} months and tax-credit grade B or better",
                    "docs/sources.md#hunan-report-h"))
    if cfg.platform.enabled:
        out.append(("Platform lenders (数字平台助贷): sharper screening, cheaper loans, churn",
                    "docs/sources.md#hunan-report-h"))
    return out
