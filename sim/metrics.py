"""Every metric the simulator reports, each defined once, with its formula.

Three levels:
- `monthly_row`: one row per month of one replication (the time series);
- `summarise`: one row per replication, from its time series and final state;
- `aggregate`: one table over replications (means, quantiles, VaR/ES, probabilities).

All money is province-scale yuan (see `sim.config`). "Scheme loans" are the loans covered
by the risk-sharing scheme (the guaranteed, or pool-backed, channel).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .config import PAYERS
from .firms import OVERDUE

# ---------------------------------------------------------------------------- monthly
MONTHLY_DOC = {
    "month": "month number, 1-based",
    "new_direct": "new direct bank lending this month (yuan)",
    "new_scheme": "new lending covered by the scheme this month (yuan)",
    "outstanding_direct": "direct loans outstanding at month end (yuan)",
    "outstanding_scheme": "scheme loans outstanding at month end (yuan)",
    "firms_with_loan": "firms with a loan at month end",
    "applicants": "firms that applied this month",
    "first_time": "first-time borrowers (首贷户) served this month: new loans to firms never lent to",
    "rationed_bank_risk": "applicants the bank refused, with or without the scheme's cover",
    "rationed_guarantor_risk": "applicants the guarantor refused on risk",
    "rationed_capacity": "applicants the guarantor refused for lack of capacity (leverage cap, suspension)",
    "rationed_scheme_closed": "applicants refused because the pool is empty and the scheme stopped",
    "informal_credit": "amount refused applicants borrow informally instead (yuan)",
    "informal_interest": "interest they pay on it at firms.informal_rate over the loan term (yuan)",
    "exits": "firms closing without a loan running (survival hazard)",
    "exits_refused": "of which firms whose last application was refused",
    "defaults": "firms defaulting this month",
    "default_direct": "exposure at default of direct loans (yuan)",
    "default_scheme": "exposure at default of scheme loans (yuan)",
    "loss_direct_bank": "bank's gross loss on direct loans (yuan)",
    **{f"scheme_loss_{p}": (f"{p}'s payments on defaulted scheme loans at default (yuan): its tranche, "
                            "any tranche it takes over, any pool share it fronts") for p in PAYERS},
    "shortfall": "part of scheme losses no payer could pay, booked to the shortfall bearer (yuan)",
    "claims": "claim payments (代偿) by the guarantee system: guarantor + re-guarantor + national fund (yuan)",
    "released_scheme": "guarantees released: scheme loans repaid or defaulted this month (yuan)",
    "recoveries": "recoveries (追偿) received this month, all payers (yuan)",
    "fees": "guarantee fees earned this month (yuan)",
    "reguarantee_fees": "fees guarantors paid the re-guarantor and national fund (yuan)",
    "subsidies": "fee and interest subsidies paid by the government (yuan)",
    "capital_injections": "government recapitalisation of suspended guarantors (yuan)",
    "pool_owed": "pool compensation falling due later for this month's defaults, before efficiency (yuan)",
    "pool_compensation": "delayed pool compensation paid to the claimant this month (yuan)",
    "pool_unpaid": "delayed compensation due this month that the empty pool could not pay (yuan)",
    "dynamic_share_loans": "defaulted loans whose public share was raised by the dynamic rule",
    **{f"paid_{p}": f"{p}: gross payments this month, incl. shortfall it bears and direct-loan losses (yuan)"
       for p in PAYERS},
    **{f"recovered_{p}": f"{p}: recoveries received this month (yuan)" for p in PAYERS},
    **{f"compensated_{p}": f"{p}: pool compensation received (+) or paid (-) this month (yuan)"
       for p in PAYERS},
    "guarantor_net_assets": "net assets of all guarantors (yuan)",
    "guarantor_outstanding": "outstanding guarantees (在保余额) of all guarantors (yuan)",
    "guarantor_leverage": "system leverage multiple (放大倍数) = guarantor_outstanding / guarantor_net_assets",
    "guarantor_leverage_max": "highest leverage multiple of any single guarantor",
    "guarantor_leverage_cap": "the leverage cap",
    "guarantors_suspended": "guarantors that have stopped new business",
    "guarantor_min_net_assets": "lowest net assets of any single guarantor (yuan)",
    "reguarantor_capital": "provincial re-guarantor capital (yuan)",
    "national_fund_capital": "national fund capital for the province (yuan)",
    "pool_balance": "compensation pool balance (yuan)",
    "pool_appropriated": "fiscal money put into the pool so far, beyond its initial size (yuan)",
    "fiscal_spent": ("fiscal money behind the scheme so far: pool endowment and appropriations (if the "
                     "pool pays a tranche), government tranche, subsidies, capital injections (yuan)"),
    "bank_capital": "bank capital (yuan)",
    "npl_ratio": "NPL ratio (不良率) = EAD defaulted in the last `recovery_lag` months / (outstanding + that EAD)",
    "overdue_new": "loans that fell overdue (逾期) this month (firms)",
    "overdue_cured": "overdue loans that cured this month (firms)",
    "overdue_loans": "loans overdue at month end (firms)",
    "overdue_ratio": "overdue ratio (逾期率) = balance of overdue loans / outstanding balance, at month end",
    "shock_active": "shock events active this month (0 = none)",
}
MONTHLY = tuple(MONTHLY_DOC)
# Plus one column per guarantor: its net assets at month end, named AGENCY_PREFIX + prefecture.
AGENCY_PREFIX = "net_assets_guarantor_"

# The MONTHLY columns the model's phases add up during the month (the others are read from
# the state at month end).
FLOWS = (
    "new_direct", "new_scheme", "applicants", "first_time", "rationed_bank_risk",
    "rationed_guarantor_risk", "rationed_capacity", "rationed_scheme_closed", "informal_credit",
    "informal_interest", "exits", "exits_refused", "defaults", "default_direct", "default_scheme",
    "loss_direct_bank", *(f"scheme_loss_{p}" for p in PAYERS), "shortfall", "claims",
    "released_scheme", "recoveries", "fees", "reguarantee_fees", "subsidies", "capital_injections",
    "pool_owed", "pool_compensation", "pool_unpaid", "dynamic_share_loans", "overdue_new",
    "overdue_cured",
)
assert set(FLOWS) <= set(MONTHLY), sorted(set(FLOWS) - set(MONTHLY))


def agency_column(region_name: str) -> str:
    """The column of one guarantor's net assets."""
    return f"{AGENCY_PREFIX}{region_name}"


def columns(region_names) -> tuple[str, ...]:
    """The time series' columns in order: MONTHLY, then each guarantor's net assets."""
    return MONTHLY + tuple(agency_column(name) for name in region_names)


class Tally:
    """One month's flows, by FLOWS name: `tally["defaults"] += n` or `tally.defaults += n`.

    A name that is not a flow is an error, not a new entry: a misspelt tally would otherwise
    vanish from the time series without a trace.
    """

    __slots__ = FLOWS

    def __init__(self) -> None:
        for name in FLOWS:
            setattr(self, name, 0.0)

    def _check(self, name: str) -> None:
        if name not in FLOWS:
            raise KeyError(f"{name!r} is not a tallied flow (metrics.FLOWS: {', '.join(FLOWS)})")

    def __getitem__(self, name: str) -> float:
        self._check(name)
        return getattr(self, name)

    def __setitem__(self, name: str, value: float) -> None:
        self._check(name)
        setattr(self, name, value)

    def items(self):
        return ((name, getattr(self, name)) for name in FLOWS)


class MonthState(Protocol):
    """What `monthly_row` reads of a model (sim.model.GuaranteeModel), all public."""

    month: int  # months completed before this one
    weight: float  # real firms per simulated firm
    tally: Tally  # this month's flows
    book: np.ndarray  # loan amounts by guarantor (scheme loans), last entry the direct loans
    firms: Any  # sim.firms.FirmPopulation
    accounts: list  # every payer's ledger (sim.agents.Account)
    agencies: Any  # mesa.AgentSet of the GuaranteeAgency agents, one per region
    bank: Any
    reguarantor: Any
    national_fund: Any
    pool: Any
    government: Any
    shocks: Any
    cfg: Any
    uses_pool: bool

    def npl_exposure(self) -> float: ...


def monthly_row(model: MonthState) -> dict:
    f, w = model.firms, model.weight
    book = model.book
    row = {k: 0.0 for k in MONTHLY}
    row.update(model.tally.items())
    row["month"] = model.month + 1
    row["outstanding_direct"] = w * book[-1]
    row["outstanding_scheme"] = w * book[:-1].sum()
    row["firms_with_loan"] = w * np.count_nonzero(f.channel)
    by_payer = {p: [] for p in PAYERS}
    for acc in model.accounts:
        by_payer[acc.payer].append(acc)
    for p, accs in by_payer.items():
        row[f"paid_{p}"] = sum(a.paid_month for a in accs)
        row[f"recovered_{p}"] = sum(a.recovered_month for a in accs)
        row[f"compensated_{p}"] = sum(a.compensated_month for a in accs)
    ags = model.agencies
    na = ags.agg("net_assets", sum)
    out = ags.agg("outstanding", sum)
    row["guarantor_net_assets"] = na
    row["guarantor_outstanding"] = out
    row["guarantor_leverage"] = out / na if na > 0 else (math.inf if out > 0 else 0.0)
    row["guarantor_leverage_max"] = ags.agg("leverage", max)
    row["guarantor_leverage_cap"] = model.cfg.guarantor.leverage_cap
    row["guarantors_suspended"] = ags.agg("suspended", sum)
    row["guarantor_min_net_assets"] = ags.agg("net_assets", min)
    row["reguarantor_capital"] = model.reguarantor.capital
    row["national_fund_capital"] = model.national_fund.capital
    row["pool_balance"] = model.pool.balance
    row["pool_appropriated"] = model.pool.appropriated_total
    pool_money = model.pool.cfg.size + model.pool.appropriated_total
    row["fiscal_spent"] = model.government.fiscal_spent - (0.0 if model.uses_pool else pool_money)
    row["bank_capital"] = model.bank.capital
    npl = model.npl_exposure()
    outstanding = row["outstanding_direct"] + row["outstanding_scheme"]
    row["npl_ratio"] = npl / (outstanding + npl) if outstanding + npl > 0 else 0.0
    overdue = (f.status == OVERDUE) & (f.channel != 0)
    row["overdue_loans"] = w * np.count_nonzero(overdue)
    row["overdue_ratio"] = w * f.amount[overdue].sum() / outstanding if outstanding > 0 else 0.0
    row["shock_active"] = len(model.shocks.active)
    for ag in ags:  # each guarantor's own net assets (not in MONTHLY: one column per prefecture)
        row[agency_column(ag.region_name)] = ag.net_assets
    return row


# ---------------------------------------------------------------------------- per replication
FUNDS = {
    # fund -> the time-series column holding its balance (for guarantors: the lowest one)
    "pool": "pool_balance",
    "guarantor": "guarantor_min_net_assets",
    "reguarantor": "reguarantor_capital",
    "national_fund": "national_fund_capital",
}

SUMMARY_DOC = {
    "new_lending_direct": "Σ new_direct over the horizon (yuan)",
    "new_lending_scheme": "Σ new_scheme over the horizon: credit the scheme brings out (yuan)",
    "new_lending_total": "new_lending_direct + new_lending_scheme (yuan)",
    "outstanding_mean": "mean over months of outstanding_direct + outstanding_scheme (yuan)",
    "outstanding_scheme_mean": "mean over months of outstanding_scheme (yuan)",
    "first_time_borrowers": "Σ first_time (firms)",
    "applicants": "Σ applicants (applications)",
    "rationed": "Σ of the rationed_* columns (applications refused)",
    "rationed_share": "rationed / applicants",
    "guarantor_leverage_mean": "mean over months of the system leverage multiple 放大倍数",
    "guarantor_leverage_peak": "max over months of the highest single-guarantor leverage multiple",
    "pool_leverage": "mean over months of outstanding_scheme / pool_balance, if the pool is a payer",
    "fiscal_leverage": ("fiscal leverage (财政资金杠杆): new_lending_scheme / fiscal_spent at the end; "
                        "NaN when neither the pool nor the government pays a tranche"),
    **{f"{k}_depleted": f"1 if the {k} ran dry (balance <= 0, or for guarantors: any one) within the horizon"
       for k in FUNDS},
    **{f"{k}_months_to_depletion": f"first month the {k} ran dry (NaN if it did not)" for k in FUNDS},
    **{f"{k}_min_balance": f"lowest {k} balance over the horizon (yuan)" for k in FUNDS},
    **{f"loss_{p}": (f"{p}'s net loss: gross payments - recoveries - pool compensation received "
                     "within the horizon (yuan)") for p in PAYERS},
    "loss_total": "Σ loss_* over payers (yuan)",
    "loss_scheme_total": "gross loss on defaulted scheme loans = Σ tranche payments + shortfall (yuan)",
    **{f"scheme_share_{p}": f"{p}'s share of gross scheme losses (tranche payments / loss_scheme_total)"
       for p in PAYERS},
    "bank_share_scheme": "bank's share of gross scheme losses incl. shortfall it bears",
    "shortfall": "Σ shortfall (yuan)",
    "shortfall_share": "shortfall / loss_scheme_total",
    "claim_rate": "claim rate (代偿率) = Σ claims / Σ released_scheme",
    "npl_ratio_mean": "mean over months of npl_ratio",
    "overdue_ratio_mean": "mean over months of overdue_ratio",
    "default_rate_scheme": "Σ default_scheme / Σ new_scheme (cumulative, by amount)",
    "default_rate_direct": "Σ default_direct / Σ new_direct (cumulative, by amount)",
    "guarantors_suspended_end": "guarantors suspended at the end",
    "capital_injections": "Σ capital_injections (yuan)",
    "subsidies": "Σ subsidies (yuan)",
    "informal_credit": "Σ informal_credit (yuan)",
    "firm_exits": "Σ exits (firms)",
    "exit_share_refused": "Σ exits_refused / Σ exits",
    "pool_unpaid": "Σ pool_unpaid (yuan)",
}


def _depletion(balance: np.ndarray) -> tuple[int, float, float]:
    dry = np.flatnonzero(balance <= 1e-6)
    first = float(dry[0] + 1) if dry.shape[0] else math.nan
    return int(dry.shape[0] > 0), first, float(balance.min())


def summarise(ts: pd.DataFrame, payers_in_scheme: list[str], bearer: str = "bank") -> dict:
    """One replication's summary from its monthly time series."""
    s = {}
    s["new_lending_direct"] = ts.new_direct.sum()
    s["new_lending_scheme"] = ts.new_scheme.sum()
    s["new_lending_total"] = s["new_lending_direct"] + s["new_lending_scheme"]
    s["outstanding_mean"] = (ts.outstanding_direct + ts.outstanding_scheme).mean()
    s["outstanding_scheme_mean"] = ts.outstanding_scheme.mean()
    s["first_time_borrowers"] = ts.first_time.sum()
    s["applicants"] = ts.applicants.sum()
    s["rationed"] = (ts.rationed_bank_risk + ts.rationed_guarantor_risk + ts.rationed_capacity
                     + ts.rationed_scheme_closed).sum()
    s["rationed_share"] = s["rationed"] / s["applicants"] if s["applicants"] else 0.0
    s["guarantor_leverage_mean"] = ts.guarantor_leverage.replace(np.inf, np.nan).mean()
    s["guarantor_leverage_peak"] = ts.guarantor_leverage_max.max()
    if "pool" in payers_in_scheme:
        with np.errstate(divide="ignore", invalid="ignore"):
            pl = np.where(ts.pool_balance > 0, ts.outstanding_scheme / ts.pool_balance, np.nan)
        s["pool_leverage"] = float(np.nanmean(pl)) if np.isfinite(pl).any() else math.nan
    else:
        s["pool_leverage"] = math.nan
    # Fiscal money backs the scheme only through the pool and the government tranche.
    fiscal = ts.fiscal_spent.iloc[-1] if {"pool", "government"} & set(payers_in_scheme) else 0.0
    s["fiscal_leverage"] = s["new_lending_scheme"] / fiscal if fiscal > 0 else math.nan
    for k, col in FUNDS.items():
        if k in payers_in_scheme:
            flag, first, low = _depletion(ts[col].to_numpy())
        else:  # a fund the scheme does not use cannot run dry because of it
            flag, first, low = math.nan, math.nan, math.nan
        s[f"{k}_depleted"], s[f"{k}_months_to_depletion"], s[f"{k}_min_balance"] = flag, first, low
    for p in PAYERS:
        s[f"loss_{p}"] = (ts[f"paid_{p}"].sum() - ts[f"recovered_{p}"].sum()
                          - ts[f"compensated_{p}"].sum())
    s["loss_total"] = sum(s[f"loss_{p}"] for p in PAYERS)
    s["loss_scheme_total"] = ts.default_scheme.sum()
    for p in PAYERS:
        s[f"scheme_share_{p}"] = (ts[f"scheme_loss_{p}"].sum() / s["loss_scheme_total"]
                                  if s["loss_scheme_total"] else math.nan)
    s["shortfall"] = ts.shortfall.sum()
    s["bank_share_scheme"] = ((ts.scheme_loss_bank.sum() + (s["shortfall"] if bearer == "bank" else 0.0))
                              / s["loss_scheme_total"] if s["loss_scheme_total"] else math.nan)
    s["shortfall_share"] = s["shortfall"] / s["loss_scheme_total"] if s["loss_scheme_total"] else 0.0
    rel = ts.released_scheme.sum()
    s["claim_rate"] = ts.claims.sum() / rel if rel else math.nan
    s["npl_ratio_mean"] = ts.npl_ratio.mean()
    s["overdue_ratio_mean"] = ts.overdue_ratio.mean()
    s["default_rate_scheme"] = (ts.default_scheme.sum() / s["new_lending_scheme"]
                                if s["new_lending_scheme"] else math.nan)
    s["default_rate_direct"] = (ts.default_direct.sum() / s["new_lending_direct"]
                                if s["new_lending_direct"] else math.nan)
    s["guarantors_suspended_end"] = ts.guarantors_suspended.iloc[-1]
    s["capital_injections"] = ts.capital_injections.sum()
    s["subsidies"] = ts.subsidies.sum()
    s["informal_credit"] = ts.informal_credit.sum()
    s["firm_exits"] = ts.exits.sum()
    s["exit_share_refused"] = ts.exits_refused.sum() / s["firm_exits"] if s["firm_exits"] else math.nan
    s["pool_unpaid"] = ts.pool_unpaid.sum()
    return s


# ---------------------------------------------------------------------------- over replications
def var(x: np.ndarray, alpha: float = 0.99) -> float:
    """Value at risk: the alpha-quantile of the loss distribution over replications."""
    return float(np.quantile(x, alpha))


def expected_shortfall(x: np.ndarray, alpha: float = 0.99) -> float:
    """Expected shortfall ES_alpha: mean of losses at or above VaR_alpha."""
    q = np.quantile(x, alpha)
    return float(x[x >= q].mean())


def wilson_interval(k: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (default 95%) for a probability seen k times in n trials, as
    fractions. Unlike the p5/p95 of a 0/1 outcome it is honest at k = 0 or k = n
    (k=0, n=200: (0, 0.0188)); (nan, nan) with no trials."""
    if not n:
        return math.nan, math.nan
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def aggregate(reps: pd.DataFrame) -> pd.DataFrame:
    """Table over replications: one row per summary metric.

    Columns: mean, sd, p5, p50, p95 for every metric; for losses also VaR99 and ES99; for
    `*_depleted` the mean is the depletion probability.
    """
    rows = []
    for col in SUMMARY_DOC:
        x = reps[col].to_numpy(dtype=float)
        fin = x[np.isfinite(x)]
        r = {"metric": col, "n": fin.shape[0]}
        if fin.shape[0]:
            r.update(mean=fin.mean(), sd=fin.std(ddof=1) if fin.shape[0] > 1 else 0.0,
                     p5=np.quantile(fin, 0.05), p50=np.quantile(fin, 0.5), p95=np.quantile(fin, 0.95))
            if col.startswith("loss_") or col == "shortfall":
                r.update(var99=var(fin), es99=expected_shortfall(fin))
        rows.append(r)
    return pd.DataFrame(rows).set_index("metric")


# ---------------------------------------------------------------------------- shocks
WINDOW_DOC = {
    "new_lending": "Σ (new_direct + new_scheme) over the window months (yuan)",
    "applicants": "Σ applicants over the window months",
    "overdue_new": "Σ overdue_new: loans that fell overdue in the window (firms)",
    "overdue_ratio": "mean overdue_ratio (逾期率) over the window months",
    "defaults": "Σ defaults over the window months (firms)",
    "claims": "Σ claims (代偿) over the window months (yuan)",
    "claim_rate": "claim rate in the window = Σ claims / Σ released_scheme over its months",
    "npl_ratio": "mean npl_ratio (不良率) over the window months",
    "recoveries": "Σ recoveries over the window months (yuan)",
    "pool_balance_end": "pool_balance in the window's last month (yuan)",
    "guarantor_net_assets_end": "guarantor_net_assets in the window's last month (yuan)",
}


def shock_window(ts: pd.DataFrame, after: int) -> np.ndarray:
    """Boolean mask over the rows of `ts` (the shocked run's time series): the months in
    which a shock is active in that replication, and the `after` months that follow one
    (overdue loans resolve then: defaults and claims land after the shock months)."""
    out = np.zeros(len(ts), bool)
    months = ts.month.to_numpy()
    for _, idx in ts.groupby("replication").indices.items():
        idx = idx[np.argsort(months[idx])]
        active = ts.shock_active.to_numpy()[idx] > 0
        mask = active.copy()
        for k in range(1, min(after, len(idx) - 1) + 1):
            mask[k:] |= active[:-k]
        out[idx] = mask
    return out


def window_metrics(ts: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """One row per replication: the WINDOW_DOC metrics over the masked months."""
    rows = []
    for r, idx in ts.groupby("replication").indices.items():
        sub = ts.iloc[idx][mask[idx]].sort_values("month")
        if sub.empty:
            continue
        rel = sub.released_scheme.sum()
        rows.append({
            "replication": r,
            "new_lending": (sub.new_direct + sub.new_scheme).sum(),
            "applicants": sub.applicants.sum(),
            "overdue_new": sub.overdue_new.sum(),
            "overdue_ratio": sub.overdue_ratio.mean(),
            "defaults": sub.defaults.sum(),
            "claims": sub.claims.sum(),
            "claim_rate": sub.claims.sum() / rel if rel else math.nan,
            "npl_ratio": sub.npl_ratio.mean(),
            "recoveries": sub.recoveries.sum(),
            "pool_balance_end": sub.pool_balance.iloc[-1],
            "guarantor_net_assets_end": sub.guarantor_net_assets.iloc[-1],
        })
    return pd.DataFrame(rows).set_index("replication") if rows else pd.DataFrame(columns=list(WINDOW_DOC))


def paired_difference(with_shock: pd.DataFrame, without: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Per metric: mean with the shock, mean without, mean paired difference (same
    replication = same seed) and its standard error sd(diff) / sqrt(n)."""
    common = with_shock.index.intersection(without.index)
    rows = []
    for c in cols:
        a = with_shock.loc[common, c].astype(float)
        b = without.loc[common, c].astype(float)
        d = (a - b)[np.isfinite(a - b)]
        se = d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else math.nan
        rows.append({"metric": c, "with_shock": a.mean(), "without": b.mean(),
                     "difference": d.mean() if len(d) else math.nan, "se": se, "n": len(d)})
    return pd.DataFrame(rows).set_index("metric")
