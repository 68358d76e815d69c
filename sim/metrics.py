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

from . import incentives
from .config import PAYERS

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
    "new_borrowers": "firms given a new loan this month, every channel (direct, platform, scheme)",
    "listed_firms": ("firms on the first-loan list (首贷培植) this month: no loan for first_loan.months_without_loan "
                     "months and tax-credit grade B or better (0 unless first_loan.enabled)"),
    "new_platform": "new loans made through platform lenders this month, part of new_direct (yuan; platform.enabled)",
    "platform_borrowers": "firms given a platform loan this month",
    "platform_first_time": "of which first-time borrowers",
    "scheme_applicants": ("applicants the banks put forward for the scheme's cover this month (the guarantor "
                          "accepted or refused them on risk), after any platform took the ones it lends to"),
    "scheme_applicants_pd": "Σ of their true annual PDs (scheme_applicants_pd / scheme_applicants: their mean PD)",
    "rationed_bank_risk": "applicants the bank refused, with or without the scheme's cover",
    "rationed_guarantor_risk": "applicants the guarantor refused on risk",
    "rationed_capacity": "applicants the guarantor refused for lack of capacity (leverage cap, suspension)",
    "rationed_scheme_closed": "applicants refused because the pool is empty and the scheme stopped",
    "rationed_model_suspended": "applicants refused because their bank's scoring model is suspended (circuit-breaker)",
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
    "claims": ("claim payments (代偿): what the guarantors paid banks on defaulted guaranteed loans, before "
               "any reimbursement (yuan)"),
    "released_scheme": "guarantees released: scheme loans repaid or defaulted this month (yuan)",
    "recoveries": "recoveries (追偿) received this month, all payers (yuan)",
    "recoveries_direct": "of which on direct bank loans (yuan)",
    "fees": "guarantee fees earned this month (yuan)",
    "reguarantee_fees": "fees guarantors paid the re-guarantor and national fund (yuan)",
    "subsidies": "fee and interest subsidies paid by the government (yuan)",
    "capital_injections": "government recapitalisation of suspended guarantors (yuan)",
    "rewards": ("performance rewards the government paid claimants with scheme NPL below "
                "pool.priority.npl_threshold, at a year's end (yuan; pool.priority.enabled)"),
    "receivables_booked": ("reimbursements claimants are owed for this month's claims: the re-guarantors' "
                           "and the funds' shares of the net loss (yuan)"),
    "reimbursed_reguarantors": "re-guarantor and national fund reimbursements paid this month (yuan)",
    "reimbursed_funds": "compensation the funds paid out of their queues this month (yuan)",
    "receivables_written_off": ("receivables the claimants will not get: refused (claim rate above a "
                                "re-guarantor's ceiling, reimburser out of cash), ineligible at the "
                                "funds' review, or abandoned in a queue (yuan)"),
    "funds_due": "the funds' share of this month's claims, net of recoveries, before review (yuan)",
    "funds_filed": ("claims filed with the compensation funds this month: funds_due within the funds' "
                    "caps (max_share, max_loan) that passed review (yuan)"),
    "funds_abandoned": "queued fund claims the claimants gave up this month (yuan)",
    "guarantor_income": "guarantors' investment income on net assets (yuan)",
    "guarantor_costs": "guarantors' operating costs (yuan)",
    "interest_income": "interest on this month's new loans over their terms, booked to the banks (yuan)",
    "dynamic_share_loans": "defaulted scheme loans whose public share was raised by Anhui's health rule (real loans)",
    "dynamic_share_loss": "exposure at default of those loans (yuan)",
    "dynamic_triggers": "scheme loans the operating-health rule flagged this month (real loans)",
    "model_trips": "scoring models whose lending authority the circuit-breaker suspended this month",
    "model_trip_outstanding": "their loans outstanding when suspended (yuan)",
    "model_advances": "expected losses the provincial pool advanced to the banks on them (yuan)",
    "model_advance_absorbed": "banks' net losses on suspended models' loans set against the advances (yuan)",
    "model_advance_returned": "unused advances the banks paid back to the pool when suspensions ended (yuan)",
    "model_suspended_loss": "net loss (EAD x LGD, all parties) on loans of suspended models that defaulted this month (yuan)",
    "model_advance_outstanding": "advances the banks still owe the pool at month end (yuan)",
    "models_suspended": "scoring models suspended at month end",
    "dynamic_trigger_amount": "their outstanding amount when flagged (yuan)",
    **{f"paid_{p}": f"{p}: gross payments this month, incl. shortfall it bears and direct-loan losses (yuan)"
       for p in PAYERS},
    **{f"recovered_{p}": f"{p}: recoveries received this month (yuan)" for p in PAYERS},
    **{f"compensated_{p}": f"{p}: reimbursements received (+) or paid (-) this month (yuan)"
       for p in PAYERS},
    "guarantor_net_assets": "net assets of all guarantors (yuan)",
    "guarantor_outstanding": "outstanding guarantees (在保余额) of all guarantors (yuan)",
    "guarantor_liability": ("liability balance (融资担保责任余额) = outstanding x the share guaranteed "
                            "and not ceded to re-guarantors (yuan)"),
    "guarantor_leverage": "system leverage multiple (放大倍数) = guarantor_liability / guarantor_net_assets",
    "guarantor_leverage_max": "highest leverage multiple of any single guarantor (liability / net assets)",
    "guarantor_leverage_cap": "the leverage cap",
    "guarantors_suspended": "guarantors that have stopped new business",
    "guarantors_halted": "guarantors that have stopped new business at least once so far (cumulative, each counted once)",
    "guarantor_min_net_assets": "lowest net assets of any single guarantor (yuan)",
    "guarantor_claims_outstanding": ("outstanding claims (代偿余额) of all guarantors: paid and not yet "
                                     "recovered or reimbursed (yuan)"),
    "guarantor_claims_ratio_max": "highest outstanding claims / net assets of any guarantor (H suspends at 1.8)",
    "guarantor_receivables": "reimbursements owed to the guarantors (yuan)",
    "bank_receivables": "reimbursements owed to the banks (when no guarantor fronts) (yuan)",
    "guarantor_kept_share": "mean share of a loss the guarantors expect to keep on a new loan",
    "bank_kept_share": "share of a loss the banks expect to keep on a new scheme loan",
    "banks_in_scheme": "share of banks that use the scheme (signed risk-sharing agreements)",
    "priority_claimants": ("claimants (guarantors, or the banks) with priority in the provincial pool's queue "
                           "this month (performance-linked payouts; 0 when off)"),
    "reguarantor_capital": "provincial re-guarantor capital (yuan)",
    "national_fund_capital": "national fund capital for the province (yuan)",
    "pool_balance": "provincial compensation pool balance (yuan)",
    "city_funds_balance": "prefecture compensation funds' balance, all together (yuan)",
    "city_funds_min_balance": "lowest balance of any prefecture fund (yuan)",
    "pool_appropriated": "fiscal money put into the funds so far, beyond their initial sizes (yuan)",
    "funds_queue": "claims waiting in the funds' queues (yuan)",
    "funds_queue_claims": "claims waiting in the funds' queues (real loans)",
    "funds_oldest_wait": "months the oldest queued claim of any fund has waited",
    "fiscal_spent": ("fiscal money behind the scheme so far: pool endowment and appropriations (if the "
                     "pool pays a tranche), government tranche, subsidies, capital injections (yuan)"),
    "bank_capital": "bank capital (yuan)",
    "npl_ratio": ("NPL ratio (不良率) = NPL stock / (outstanding + NPL stock); NPL stock = loans 90+ days "
                  "overdue that defaulted and are not yet written off (at their recovery date)"),
    "npl_ratio_scheme": "npl_ratio of scheme loans alone: their NPL stock / (outstanding_scheme + it)",
    "npl_ratio_direct": "npl_ratio of direct loans alone: their NPL stock / (outstanding_direct + it)",
    "overdue_new": "loans that fell overdue (逾期) this month (firms)",
    "overdue_cured": "overdue loans that cured this month (firms)",
    "overdue_loans": "loans overdue at month end (firms)",
    "overdue_ratio": "overdue ratio (逾期率) = balance of overdue loans / outstanding balance, at month end",
    "shock_active": "shock events active this month (0 = none)",
}
MONTHLY = tuple(MONTHLY_DOC)
# Plus two columns per prefecture: its guarantors' net assets at month end, AGENCY_PREFIX +
# prefecture, and how many of them have halted new business so far, HALTED_PREFIX + prefecture.
AGENCY_PREFIX = "net_assets_guarantor_"
HALTED_PREFIX = "halted_guarantors_"

# The MONTHLY columns the model's phases add up during the month (the others are read from
# the state at month end).
FLOWS = (
    "new_direct", "new_scheme", "applicants", "first_time", "new_borrowers", "listed_firms",
    "new_platform", "platform_borrowers", "platform_first_time", "scheme_applicants",
    "scheme_applicants_pd", "rewards", "rationed_bank_risk",
    "rationed_guarantor_risk", "rationed_capacity", "rationed_scheme_closed", "rationed_model_suspended",
    "informal_credit",
    "informal_interest", "exits", "exits_refused", "defaults", "default_direct", "default_scheme",
    "loss_direct_bank", *(f"scheme_loss_{p}" for p in PAYERS), "shortfall", "claims",
    "released_scheme", "recoveries", "recoveries_direct", "fees", "reguarantee_fees", "subsidies", "capital_injections",
    "receivables_booked", "reimbursed_reguarantors", "reimbursed_funds", "receivables_written_off",
    "funds_due", "funds_filed", "funds_abandoned", "guarantor_income", "guarantor_costs", "interest_income",
    "dynamic_share_loans", "dynamic_share_loss", "dynamic_triggers", "dynamic_trigger_amount",
    "overdue_new", "overdue_cured", "model_trips", "model_trip_outstanding", "model_advances",
    "model_advance_absorbed", "model_advance_returned", "model_suspended_loss",
)
assert set(FLOWS) <= set(MONTHLY), sorted(set(FLOWS) - set(MONTHLY))


def agency_column(region_name: str) -> str:
    """The column of one prefecture's guarantors' net assets."""
    return f"{AGENCY_PREFIX}{region_name}"


def halted_column(region_name: str) -> str:
    """The column of how many of one prefecture's guarantors have halted so far."""
    return f"{HALTED_PREFIX}{region_name}"


def columns(region_names) -> tuple[str, ...]:
    """The time series' columns in order: MONTHLY, then each prefecture's guarantors' net
    assets, then how many of them have halted so far."""
    names = list(region_names)
    return MONTHLY + tuple(agency_column(n) for n in names) + tuple(halted_column(n) for n in names)


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
    loans_running: int  # firms with a loan at month end (simulated firms)
    overdue_count: int  # loans overdue at month end (simulated firms)
    overdue_amount: float  # and their principal (unweighted yuan)
    accounts: list  # every payer's ledger (sim.agents.Account)
    agencies: Any  # mesa.AgentSet of the GuaranteeAgency agents, in guarantor order
    region_names: list  # prefecture names, in region order
    guarantor_region: np.ndarray  # prefecture of each guarantor
    receivable: np.ndarray  # owed to each claimant: guarantors, then the banks
    guarantor_kept: np.ndarray  # share of a loss each guarantor expects to keep
    bank_kept: float
    bank_in_scheme: np.ndarray  # whether each bank uses the scheme
    bank: Any
    reguarantor: Any
    national_fund: Any
    pool: Any
    government: Any
    shocks: Any
    cfg: Any
    uses_pool: bool

    def npl_exposure(self) -> float: ...

    def npl_exposure_scheme(self) -> float: ...


def monthly_row(model: MonthState) -> dict:
    w = model.weight
    book = model.book
    row = {k: 0.0 for k in MONTHLY}
    row.update(model.tally.items())
    row["month"] = model.month + 1
    row["outstanding_direct"] = w * book[-1]
    row["outstanding_scheme"] = w * book[:-1].sum()
    row["firms_with_loan"] = w * model.loans_running
    by_payer = {p: [] for p in PAYERS}
    for acc in model.accounts:
        by_payer[acc.payer].append(acc)
    for p, accs in by_payer.items():
        row[f"paid_{p}"] = sum(a.paid_month for a in accs)
        row[f"recovered_{p}"] = sum(a.recovered_month for a in accs)
        row[f"compensated_{p}"] = sum(a.compensated_month for a in accs)
    # one pass over the guarantors (AgentSet iteration goes through weak references)
    state = np.array([(a.net_assets, a.outstanding, a.liability, a.leverage, a.suspended,
                       a.suspensions > 0) for a in model.agencies], float).T
    na_each, out_each, liab_each, lev_each, susp_each, halted_each = state
    na, out, liab = float(na_each.sum()), float(out_each.sum()), float(liab_each.sum())
    row["guarantor_net_assets"] = na
    row["guarantor_outstanding"] = out
    row["guarantor_liability"] = liab
    row["guarantor_leverage"] = liab / na if na > 0 else (math.inf if liab > 0 else 0.0)
    row["guarantor_leverage_max"] = float(lev_each.max())
    row["guarantor_leverage_cap"] = model.cfg.guarantor.leverage_cap
    row["guarantors_suspended"] = float(susp_each.sum())
    row["guarantors_halted"] = float(halted_each.sum())
    row["guarantor_min_net_assets"] = float(na_each.min())
    owed = model.claims_pending + model.receivable[:-1]  # each guarantor's 代偿余额
    row["guarantor_claims_outstanding"] = float(owed.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(na_each > 1.0, owed / na_each, np.where(owed > 0, math.inf, 0.0))
    row["guarantor_claims_ratio_max"] = float(ratio.max())
    row["guarantor_receivables"] = float(model.receivable[:-1].sum())
    row["bank_receivables"] = float(model.receivable[-1])
    row["guarantor_kept_share"] = float(np.mean(model.guarantor_kept)) if len(model.guarantor_kept) else 0.0
    row["bank_kept_share"] = model.bank_kept
    row["model_advance_outstanding"] = float(model.model_advance_out.sum())
    row["models_suspended"] = float(np.count_nonzero(model.model_suspended_until > model.month))
    row["banks_in_scheme"] = float(np.mean(model.bank_in_scheme))
    row["priority_claimants"] = float(np.count_nonzero(model.pool.priority))
    row["reguarantor_capital"] = model.reguarantor.capital
    row["national_fund_capital"] = model.national_fund.capital
    row["pool_balance"] = model.pool.balance
    city = model.pool.city_balance
    row["city_funds_balance"] = float(city.sum())
    row["city_funds_min_balance"] = float(city.min())
    row["pool_appropriated"] = model.pool.appropriated_total
    led = model.pool.ledger
    row["funds_queue"] = float(led.queued_amount().sum())
    row["funds_queue_claims"] = float(led.queued_count().sum())
    row["funds_oldest_wait"] = float(led.oldest_wait(model.month).max())
    # the scheme's funds (the special pool backs direct loans, whatever the scheme)
    pool_money = (model.pool.cfg.size + model.pool.cfg.city_size + model.pool.appropriated_total
                  - model.pool.lapsed_total)
    # the special pool backs direct loans, not the scheme: not part of the scheme's fiscal money
    row["fiscal_spent"] = (model.government.fiscal_spent - model.pool.cfg.special_size
                           - (0.0 if model.uses_pool else pool_money))
    row["bank_capital"] = model.bank.capital
    npl = model.npl_exposure()
    outstanding = row["outstanding_direct"] + row["outstanding_scheme"]
    row["npl_ratio"] = npl / (outstanding + npl) if outstanding + npl > 0 else 0.0
    npl_s = model.npl_exposure_scheme()
    npl_d = max(npl - npl_s, 0.0)
    out_s, out_d = row["outstanding_scheme"], row["outstanding_direct"]
    row["npl_ratio_scheme"] = npl_s / (out_s + npl_s) if out_s + npl_s > 0 else 0.0
    row["npl_ratio_direct"] = npl_d / (out_d + npl_d) if out_d + npl_d > 0 else 0.0
    row["overdue_loans"] = w * model.overdue_count
    row["overdue_ratio"] = w * model.overdue_amount / outstanding if outstanding > 0 else 0.0
    row["shock_active"] = len(model.shocks.active)
    # each prefecture's guarantors' net assets (not in MONTHLY: one column per prefecture)
    by_region = np.bincount(model.guarantor_region, weights=na_each,
                            minlength=len(model.region_names))
    halted = np.bincount(model.guarantor_region, weights=halted_each, minlength=len(model.region_names))
    for name, v, h in zip(model.region_names, by_region, halted):
        row[agency_column(name)] = float(v)
        row[halted_column(name)] = float(h)
    return row


# ---------------------------------------------------------------------------- per replication
def _year_ends(ts):
    """The rows at the year ends after the first (months 24, 36, ...); with a horizon of two
    years or less, the last month."""
    ye = ts[(ts.month % 12 == 0) & (ts.month > 12)]
    return ye if len(ye) else ts.iloc[[-1]]


FUNDS = {
    # fund -> the time-series column holding its balance (for guarantors: the lowest one)
    "pool": "pool_balance",
    "city_funds": "city_funds_min_balance",
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
    "fiscal_leverage_pool": ("fiscal leverage as Hunan defines it (H 1:31.7): new_lending_scheme per yuan "
                             "of the provincial pool's initial size"),
    **{f"{k}_depleted": (f"1 if the {k} ran dry (balance <= 0; for guarantors and prefecture funds: "
                         "any one) within the horizon") for k in FUNDS},
    **{f"{k}_months_to_depletion": f"first month the {k} ran dry (NaN if it did not)" for k in FUNDS},
    **{f"{k}_min_balance": f"lowest {k} balance over the horizon (yuan)" for k in FUNDS},
    **{f"loss_{p}": (f"{p}'s net loss: gross payments - recoveries - pool compensation received "
                     "within the horizon (yuan)") for p in PAYERS},
    "loss_total": "Σ loss_* over payers (yuan)",
    "loss_bank_direct": "banks' net loss on direct loans: Σ loss_direct_bank - Σ recoveries_direct (yuan)",
    "loss_bank_scheme": "banks' net loss on scheme loans (incl. any shortfall they bear): loss_bank - loss_bank_direct (yuan)",
    "loss_scheme_total": "gross loss on defaulted scheme loans = Σ tranche payments + shortfall (yuan)",
    **{f"scheme_share_{p}": f"{p}'s share of gross scheme losses (tranche payments / loss_scheme_total)"
       for p in PAYERS},
    "bank_share_scheme": "bank's share of gross scheme losses incl. shortfall it bears",
    "shortfall": "Σ shortfall (yuan)",
    "shortfall_share": "shortfall / loss_scheme_total",
    "claim_rate": "claim rate (代偿率) = Σ claims / Σ released_scheme",
    "npl_ratio_mean": "mean over months of npl_ratio",
    # Measured as the reports state their figures: a year-end stock, or a year's flow, taken
    # after the first year (the seeded book starts with no NPL and no claims) and averaged over
    # the years left. See docs/metrics.md and docs/calibration.md.
    "claim_rate_annual": "claim rate (代偿率) after the first year: Σ claims / Σ released_scheme over months 13 on",
    "npl_ratio_year_end": "npl_ratio at each year end after the first (months 24, 36, ...), averaged",
    "npl_ratio_scheme_year_end": "npl_ratio_scheme at each year end after the first, averaged",
    "npl_ratio_direct_year_end": "npl_ratio_direct at each year end after the first, averaged",
    "guarantee_balance_year_end": "guarantees in force (在保余额, guarantor_outstanding) at each year end after the first, averaged (yuan)",
    "scheme_credit_share_year_end": ("scheme loans' share of small-firm credit: outstanding_scheme / (outstanding_scheme "
                                     "+ outstanding_direct) at each year end after the first, averaged"),
    "guarantor_leverage_in_force": ("放大倍数 on the balance in force: guarantor_outstanding / guarantor_net_assets, "
                                    "all guarantors, at each year end after the first, averaged"),
    "fiscal_leverage_pool_annual": ("a year's scheme lending (mean over the years after the first) / the provincial "
                                    "pool's initial size (NaN when the pool pays no tranche)"),
    "overdue_ratio_mean": "mean over months of overdue_ratio",
    "default_rate_scheme": "Σ default_scheme / Σ new_scheme (cumulative, by amount)",
    "default_rate_direct": "Σ default_direct / Σ new_direct (cumulative, by amount)",
    "guarantors_suspended_end": "guarantors suspended at the end",
    "capital_injections": "Σ capital_injections (yuan)",
    "subsidies": "Σ subsidies (yuan)",
    "informal_credit": "Σ informal_credit (yuan)",
    "firm_exits": "Σ exits (firms)",
    "exit_share_refused": "Σ exits_refused / Σ exits",
    "any_guarantor_suspended": "1 if any guarantor stopped new business in any month",
    "guarantors_halted": "guarantors that stopped new business at least once within the horizon (each counted once)",
    "guarantor_claims_ratio_peak": "max over months of the highest outstanding claims / net assets",
    "receivables_written_off": "Σ receivables_written_off (yuan)",
    "funds_filed": "Σ funds_filed (yuan)",
    "funds_arrival_rate": ("arrival rate (到位率) = Σ reimbursed_funds / Σ funds_due: of the compensation "
                           "due, the part paid within the horizon (claims still queued have not arrived)"),
    "funds_abandoned": "Σ funds_abandoned (yuan)",
    "funds_queue_peak": "max over months of funds_queue (yuan)",
    "funds_queue_end": "funds_queue in the last month (yuan)",
    "funds_queue_over_12m": "1 if a fund's oldest queued claim waited more than 12 months in some month",
    "funds_delay_median": "median months from filing to payment, by yuan paid by the funds",
    "funds_delay_p90": "90th percentile of months from filing to payment, by yuan paid",
    "counties_unpaid_two_years": ("prefecture funds that paid nothing in two calendar years running while "
                                  "claims waited"),
    "banks_in_scheme_mean": "mean over months of banks_in_scheme",
    **{f"realised_share_{k}": (f"{k}'s share of the realised (net) losses on scheme loans, once the "
                               "recoveries and claims booked by the end have settled: " + doc
                               + " (each less what is in flight to it) / their sum")
       for k, doc in (("fiscal", "loss_pool + loss_government - model_advance_absorbed"),
                      ("bank", "loss_bank_scheme + model_advance_absorbed"),
                      ("guarantor", "loss_guarantor"),
                      ("other", "loss_reguarantor + loss_national_fund + loss_borrower"))},
    "model_trips": "Σ model_trips: scoring-model suspensions by the circuit-breaker",
    "model_trip_outstanding": "Σ model_trip_outstanding: loans outstanding of the models when suspended (yuan)",
    "model_advances": "Σ model_advances: expected losses the pool advanced on them (yuan)",
    "model_trip_loss_rate": ("Σ model_suspended_loss / Σ model_trip_outstanding: realised loss rate on the "
                             "suspended models' loans while suspended (A reports 0.9%)"),
    "dynamic_triggers": "Σ dynamic_triggers: scheme loans flagged by Anhui's operating-health rule, one per firm (firms)",
    "dynamic_trigger_amount": "Σ dynamic_trigger_amount: their amount when flagged (yuan)",
    "dynamic_flagged_loss_share": ("Σ dynamic_share_loss / Σ default_scheme: share of scheme losses at "
                                   "default on loans flagged before they defaulted"),
    "fiscal_cost": ("public money spent within the horizon: loss_pool + loss_government + subsidies + "
                    "capital_injections + rewards (yuan)"),
    "rewards": "Σ rewards: performance rewards paid (yuan)",
    "priority_claimants_mean": "mean over months of priority_claimants",
    # First-time borrowers (首贷户) as the Hunan target states them, sim/incentives.py: a calendar
    # year's share = Σ first_time / Σ new_borrowers over its months; the first simulated year is a
    # burn-in (every firm starts without a credit history) and is left out.
    "borrowers": "Σ new_borrowers: firms given a new loan, every channel (firms)",
    "first_time_share_annual": ("first-time-borrower share (首贷户占比) per whole calendar year judged (2026 on, "
                                "after the first simulated year), averaged"),
    "first_time_share_last_year": "first-time-borrower share in the last whole year",
    "first_time_share_rise_min": "smallest change of the share from one year judged to the next",
    "first_loan_target_met": ("1 if the share meets H's target: up at least 2 points every year judged, and in the "
                              "last year at least 30% - 2 points x the years left to 2030"),
    "platform_lending": "Σ new_platform: loans through platform lenders (yuan)",
    "platform_first_time_share": "Σ platform_first_time / Σ platform_borrowers (H: 63.2%)",
    "scheme_applicant_pd_mean": "mean true annual PD of the scheme's applicants: Σ scheme_applicants_pd / Σ scheme_applicants",
}

def summary_unit(metric: str) -> str:
    """The unit of a summary metric, read from its definition in SUMMARY_DOC."""
    doc = SUMMARY_DOC.get(metric, "")
    for tag, unit in (("(yuan)", "yuan"), ("(firms)", "firms"), ("(applications", "applications")):
        if tag in doc:
            return unit
    if doc.startswith("1 if"):
        return "probability"
    if "month" in metric or metric.startswith("funds_delay"):
        return "months"
    if "leverage" in metric:
        return "x"
    if metric == "counties_unpaid_two_years":
        return "funds"
    return "ratio"


FINAL = ("funds_delay_median", "funds_delay_p90", "counties_unpaid_two_years", "pool_size", "start_year")


def final_state(model: Any) -> dict:
    """What the time series cannot give: read from the funds' ledger at the end of a run."""
    led = model.pool.ledger
    return {
        "funds_delay_median": float(led.delay_quantile(0.5)),
        "funds_delay_p90": float(led.delay_quantile(0.9)),
        "counties_unpaid_two_years": int(led.counties_unpaid_two_years(
            funds=np.arange(1, model.pool.special))),
        "pool_size": float(model.pool.cfg.size),
        "start_year": int(model.cfg.start_year),
        **{f"in_flight_{p}": v for p, v in model.in_flight().items()},
    }


def _depletion(balance: np.ndarray) -> tuple[int, float, float]:
    dry = np.flatnonzero(balance <= 1e-6)
    first = float(dry[0] + 1) if dry.shape[0] else math.nan
    return int(dry.shape[0] > 0), first, float(balance.min())


def summarise(ts: pd.DataFrame, payers_in_scheme: list[str], bearer: str = "bank",
              final: dict | None = None) -> dict:
    """One replication's summary from its monthly time series and `final_state`."""
    final = final or {}
    s = {}
    s["new_lending_direct"] = ts.new_direct.sum()
    s["new_lending_scheme"] = ts.new_scheme.sum()
    s["new_lending_total"] = s["new_lending_direct"] + s["new_lending_scheme"]
    s["outstanding_mean"] = (ts.outstanding_direct + ts.outstanding_scheme).mean()
    s["outstanding_scheme_mean"] = ts.outstanding_scheme.mean()
    s["first_time_borrowers"] = ts.first_time.sum()
    s["applicants"] = ts.applicants.sum()
    s["rationed"] = (ts.rationed_bank_risk + ts.rationed_guarantor_risk + ts.rationed_capacity
                     + ts.rationed_scheme_closed + ts.rationed_model_suspended).sum()
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
    pool_size = final.get("pool_size", math.nan)
    s["fiscal_leverage_pool"] = (s["new_lending_scheme"] / pool_size
                                 if "pool" in payers_in_scheme and pool_size > 0 else math.nan)
    for k, col in FUNDS.items():
        if (k if k != "city_funds" else "pool") in payers_in_scheme:
            flag, first, low = _depletion(ts[col].to_numpy())
        else:  # a fund the scheme does not use cannot run dry because of it
            flag, first, low = math.nan, math.nan, math.nan
        s[f"{k}_depleted"], s[f"{k}_months_to_depletion"], s[f"{k}_min_balance"] = flag, first, low
    for p in PAYERS:
        s[f"loss_{p}"] = (ts[f"paid_{p}"].sum() - ts[f"recovered_{p}"].sum()
                          - ts[f"compensated_{p}"].sum())
    s["loss_total"] = sum(s[f"loss_{p}"] for p in PAYERS)
    s["loss_bank_direct"] = ts.loss_direct_bank.sum() - ts.recoveries_direct.sum()
    s["loss_bank_scheme"] = s["loss_bank"] - s["loss_bank_direct"]
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
    later = ts[ts.month > 12] if ts.month.max() > 12 else ts
    rel_later = later.released_scheme.sum()
    s["claim_rate_annual"] = later.claims.sum() / rel_later if rel_later else math.nan
    ye = _year_ends(ts)
    s["npl_ratio_year_end"] = ye.npl_ratio.mean()
    s["npl_ratio_scheme_year_end"] = ye.npl_ratio_scheme.mean()
    s["npl_ratio_direct_year_end"] = ye.npl_ratio_direct.mean()
    s["guarantee_balance_year_end"] = ye.guarantor_outstanding.mean()
    credit = ye.outstanding_scheme + ye.outstanding_direct
    s["scheme_credit_share_year_end"] = float((ye.outstanding_scheme / credit.where(credit > 0)).mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        lev = np.where(ye.guarantor_net_assets > 0, ye.guarantor_outstanding / ye.guarantor_net_assets, np.inf)
    s["guarantor_leverage_in_force"] = float(np.mean(lev))
    years = len(later) / 12.0
    s["fiscal_leverage_pool_annual"] = (later.new_scheme.sum() / years / pool_size
                                        if "pool" in payers_in_scheme and pool_size > 0 else math.nan)
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
    s["any_guarantor_suspended"] = float(ts.guarantors_suspended.max() > 0)
    s["guarantors_halted"] = ts.guarantors_halted.iloc[-1]
    s["guarantor_claims_ratio_peak"] = ts.guarantor_claims_ratio_max.max()
    s["receivables_written_off"] = ts.receivables_written_off.sum()
    s["funds_filed"] = ts.funds_filed.sum()
    due = ts.funds_due.sum()
    s["funds_arrival_rate"] = ts.reimbursed_funds.sum() / due if due else math.nan
    s["funds_abandoned"] = ts.funds_abandoned.sum()
    s["funds_queue_peak"] = ts.funds_queue.max()
    s["funds_queue_end"] = ts.funds_queue.iloc[-1]
    s["funds_queue_over_12m"] = float(ts.funds_oldest_wait.max() > 12)
    for k in ("funds_delay_median", "funds_delay_p90", "counties_unpaid_two_years"):
        s[k] = final.get(k, math.nan)
    s["banks_in_scheme_mean"] = ts.banks_in_scheme.mean()
    s["rewards"] = ts.rewards.sum()
    s["fiscal_cost"] = (s["loss_pool"] + s["loss_government"] + s["subsidies"] + s["capital_injections"]
                        + s["rewards"])
    s["priority_claimants_mean"] = ts.priority_claimants.mean()
    s.update(incentives.target_verdict(incentives.first_time_shares(ts, int(final.get("start_year", 2026)))))
    s["borrowers"] = ts.new_borrowers.sum()
    s["platform_lending"] = ts.new_platform.sum()
    pb = ts.platform_borrowers.sum()
    s["platform_first_time_share"] = ts.platform_first_time.sum() / pb if pb else math.nan
    sa = ts.scheme_applicants.sum()
    s["scheme_applicant_pd_mean"] = ts.scheme_applicants_pd.sum() / sa if sa else math.nan
    # as if every recovery and claim booked had settled (metrics.final_state: in_flight_*)
    net = {p: s[f"loss_{p}"] - final.get(f"in_flight_{p}", 0.0) for p in PAYERS}
    # The circuit-breaker's advances the banks' losses used up are the pool's money against the
    # losses of a suspended model's loans, direct loans included: another instrument's transfer,
    # left out of the split of scheme losses.
    absorbed = ts.model_advance_absorbed.sum()
    realised = {"fiscal": net["pool"] + net["government"] - absorbed,
                "bank": net["bank"] - s["loss_bank_direct"] + absorbed, "guarantor": net["guarantor"],
                "other": net["reguarantor"] + net["national_fund"] + net["borrower"]}
    total = sum(realised.values())
    for k, v in realised.items():
        s[f"realised_share_{k}"] = v / total if total > 0 else math.nan
    s["model_trips"] = ts.model_trips.sum()
    s["model_trip_outstanding"] = ts.model_trip_outstanding.sum()
    s["model_advances"] = ts.model_advances.sum()
    s["model_trip_loss_rate"] = (ts.model_suspended_loss.sum() / s["model_trip_outstanding"]
                                 if s["model_trip_outstanding"] else math.nan)
    s["dynamic_triggers"] = ts.dynamic_triggers.sum()
    s["dynamic_trigger_amount"] = ts.dynamic_trigger_amount.sum()
    d = ts.default_scheme.sum()
    s["dynamic_flagged_loss_share"] = ts.dynamic_share_loss.sum() / d if d else math.nan
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
            # a ratio to net assets near zero can be finite and huge (1e300): its sd overflows
            # to inf, which is what it is (read its percentiles)
            with np.errstate(over="ignore", invalid="ignore"):
                sd = fin.std(ddof=1) if fin.shape[0] > 1 else 0.0
            r.update(mean=fin.mean(), sd=sd,
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
