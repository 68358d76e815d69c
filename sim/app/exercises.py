"""python -m sim.app.exercises: the numbers quoted in docs/workshop.md, from the app's own code.

Each exercise of the guide moves the app's levers (sim.app.levers) and runs the app's session
(sim.app.session) to the end of the horizon, for the app's default seed and two more, and
prints one Markdown table per exercise. The guide's tables are this output, pasted.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import pandas as pd

from ..report import markdown_table
from .charts import net_losses
from .levers import Levers
from .session import Session

SEEDS = (20260101, 1, 2)  # the app's default seed first
BN = 1e9


def run(lv: Levers) -> tuple[pd.DataFrame, Session]:
    s = Session(lv)
    s.step(s.horizon)
    return s.timeseries()[0], s


def with_values(lv: Levers, **values: float) -> Levers:
    return replace(lv, values={**lv.values, **{k.replace("__", "."): v for k, v in values.items()}})


def fund_sizing() -> pd.DataFrame:
    """Exercise 1: the funds' queue after a 1-in-50 flood under 4321, by fund size (and the
    smallest funds without the flood, to see what the flood adds)."""
    rows = []
    base = replace(Levers.for_scheme("4321"), flood=True, flood_month=19, flood_return_period=50.0)
    cases = [(True, 0.0, 0.0), (True, 0.0, 0.1), (True, 0.1, 0.0), (True, 0.1, 0.1), (False, 0.1, 0.1),
             (True, 1.2, 2.67)]
    for flood, pool, city in cases:
        for seed in SEEDS:
            ts, _ = run(replace(with_values(base, pool__size=pool, pool__city_size=city), seed=seed,
                                flood=flood, flood_return_period=50.0 if flood else None))
            rows.append({"flood": "1-in-50" if flood else "none", "pool (bn)": pool,
                         "prefecture funds (bn)": city, "seed": seed,
                         "queue, peak (m yuan)": round(ts.funds_queue.max() / 1e6, 1),
                         "longest wait (months)": int(ts.funds_oldest_wait.max()),
                         "months with a queue": int((ts.funds_queue > 0).sum()),
                         "lowest prefecture fund (m yuan)": round(ts.city_funds_min_balance.min() / 1e6, 2),
                         "claims filed, 5 years (m yuan)": round(ts.funds_filed.sum() / 1e6, 1)})
    return pd.DataFrame(rows)


def bank_share() -> pd.DataFrame:
    """Exercise 2: 2:8 against 0:10 (the bank's tranche at 0)."""
    rows = []
    for seed in SEEDS:
        two = replace(Levers.for_scheme("2:8"), seed=seed)
        for name, lv in (("2:8", two), ("0:10", replace(two, tranches={"bank": 0.0, "guarantor": 1.0}))):
            ts, s = run(lv)
            released = ts.released_scheme.sum()
            rows.append({"scheme": name, "seed": seed,
                         "banks in the scheme, end": f"{100 * ts.banks_in_scheme.iloc[-1]:.0f}%",
                         "scheme lending, 5 years (bn)": round(ts.new_scheme.sum() / BN, 1),
                         "claims (bn)": round(ts.claims.sum() / BN, 2),
                         "claim rate (代偿率)": f"{100 * ts.claims.sum() / released:.2f}%",
                         "guarantors' net loss (bn)": round(net_losses(ts, s.configs[0])["guarantors"].iloc[-1] / BN, 2),
                         "highest single leverage": round(ts.guarantor_leverage_max.max(), 1)})
    return pd.DataFrame(rows)


def leverage_cap() -> pd.DataFrame:
    """Exercise 3: the leverage cap under 4321."""
    rows = []
    for cap in (0.5, 1.0, 10.0, 20.0, 30.0):
        for seed in SEEDS:
            ts, s = run(replace(with_values(Levers.for_scheme("4321"), guarantor__leverage_cap=cap), seed=seed))
            rows.append({"cap (x)": cap, "seed": seed,
                         "refused for capacity (k firms)": round(ts.rationed_capacity.sum() / 1e3, 1),
                         "scheme lending, 5 years (bn)": round(ts.new_scheme.sum() / BN, 1),
                         "system leverage, mean": round(ts.guarantor_leverage.mean(), 2),
                         "highest single leverage": round(ts.guarantor_leverage_max.max(), 2),
                         "highest claims / net assets": round(ts.guarantor_claims_ratio_max.max(), 2),
                         "guarantors' net loss (bn)": round(net_losses(ts, s.configs[0])["guarantors"].iloc[-1] / BN, 2)})
    return pd.DataFrame(rows)


def data_sharing() -> pd.DataFrame:
    """Exercise 4: the credit-data platform's coverage and rationing under 4321."""
    rows = []
    for cov in (0.0, 38.6, 60.0, 90.0):
        for seed in SEEDS:
            ts, s = run(replace(with_values(Levers.for_scheme("4321"), bank__data_coverage=cov), seed=seed))
            refused = ts.rationed_bank_risk.sum() + ts.rationed_guarantor_risk.sum() + ts.rationed_capacity.sum()
            rows.append({"coverage": f"{cov:g}%", "seed": seed,
                         "applications refused": f"{100 * refused / ts.applicants.sum():.1f}%",
                         "informal credit (bn)": round(ts.informal_credit.sum() / BN),
                         "bank lending, direct (bn)": round(ts.new_direct.sum() / BN),
                         "scheme lending (bn)": round(ts.new_scheme.sum() / BN, 1),
                         "NPL ratio, mean": f"{100 * ts.npl_ratio.mean():.2f}%",
                         "banks' loss on direct loans (bn)": round(
                             net_losses(ts, s.configs[0])["banks, direct loans"].iloc[-1] / BN, 2),
                         "refused firms that closed (k)": round(ts.exits_refused.sum() / 1e3)})
    return pd.DataFrame(rows)


def markdown(t: pd.DataFrame) -> str:
    return markdown_table(list(t.columns), t.itertuples(index=False))


def main() -> int:
    for title, f in (("1. Fund sizing after a 1-in-50 flood (4321)", fund_sizing),
                     ("2. 2:8 against 0:10", bank_share), ("3. The leverage cap (4321)", leverage_cap),
                     ("4. Data sharing and rationing (4321)", data_sharing)):
        print(f"### {title}\n")
        print(markdown(f()))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
