"""The policy instruments in force in a run, named for the report and the teaching app: each
as (English name with the Chinese term, its source). Read from the validated config only."""

from __future__ import annotations

from .config import SimConfig


def in_force(cfg: SimConfig) -> list[tuple[str, str]]:
    """(name, source) of every instrument switched on in `cfg`, in the order of issue 16."""
    out = []
    if cfg.pool.priority.enabled:
        out.append(("Performance-linked payouts (绩效挂钩优先兑付): priority in the provincial pool's "
                    "queue and a reward for claimants with scheme NPL below "
                    f"{cfg.pool.priority.npl_threshold:.1%}",
                    "Jiangxi report (docs/sources.md#jiangxi-report-j)"))
    if cfg.first_loan.enabled:
        out.append(("First-loan programme (首贷培植): banks reach out to firms with no loan for "
                    f"{cfg.first_loan.months_without_loan} months and tax-credit grade B or better",
                    "Hunan report (docs/sources.md#hunan-report-h)"))
    if cfg.platform.enabled:
        out.append(("Platform lenders (数字平台助贷): sharper screening, cheaper loans, churn",
                    "Hunan report (docs/sources.md#hunan-report-h)"))
    return out
