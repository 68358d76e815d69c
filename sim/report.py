"""Everything a run shows: the headline table, the shock tables, the plots, the Markdown report.

The files are written by `sim.run.writer.FolderWriter`. Folder layout (a Hydra run folder under
``outputs/``, or any folder given to `sim.run`):

    status.json            "running" with a live `done` count while it runs; "complete" only once
                           every file is written; "interrupted" with done/replications and wanted
    config.yaml            the resolved configuration
    timeseries.parquet|csv per-replication, per-month time series
    replications.parquet|csv per-replication summaries
    summary.csv            every summary metric aggregated over replications
    summary.txt            the headline table printed on the terminal
    report.md              short report with the headline table and the plots; with a shock,
                           the shock vs its counterfactual (same seeds without it)
    plots/*.png            outstanding credit, leverage vs cap, pool balance, losses by party,
                           and with a shock the shock vs counterfactual; shock windows shaded
    counterfactual_*.csv   with a shock: the counterfactual's replications and summary (and its
                           time series in counterfactual_timeseries.parquet)
    replications/          one file per replication while the run is going, rep_NNNNN.parquet
                           (cf_NNNNN.parquet: its counterfactual); removed once complete
"""

from __future__ import annotations

import math
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import incentives, metrics
from .i18n import cjk_font, tr
from .instruments import in_force
from .config import SimConfig, shock_events, tranche_payer

if TYPE_CHECKING:  # pragma: no cover
    from .run.results import Results

PAYER_LABEL = {
    "bank": "bank", "guarantor": "guarantors", "reguarantor": "provincial re-guarantor",
    "national_fund": "national fund", "pool": "compensation pool", "government": "government budget",
    "borrower": "firms' counter-guarantee",
}


# Summary metrics that are 0/1 per replication: the table shows their Wilson interval.
PROBABILITIES = ("any_guarantor_suspended", "funds_queue_over_12m")


def net_loss_paths(ts: pd.DataFrame, payers) -> dict[str, pd.Series]:
    """Cumulative net loss by party over the months (yuan; cumulated within each replication
    when `ts` has several): paid, less recoveries, less reimbursements received (plus those
    paid out). Keys: "bank direct" (the banks' own direct loans), then each payer; the bank's
    entry is its share of scheme losses, apart from its direct loans."""
    def cum(x: pd.Series) -> pd.Series:
        return x.groupby(ts.replication).cumsum() if "replication" in ts else x.cumsum()

    direct = cum(ts.loss_direct_bank - ts.recoveries_direct)
    out = {"bank direct": direct}
    for p in ["bank"] + [p for p in payers if p != "bank"]:
        net = cum(ts[f"paid_{p}"] - ts[f"recovered_{p}"] - ts[f"compensated_{p}"])
        out[p] = net - direct if p == "bank" else net
    return out


def markdown_table(head, rows) -> str:
    """A Markdown table: a header row and one row per sequence of cells (any values)."""
    lines = ["| " + " | ".join(map(str, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------ headline table
def scheme_payers(cfg: SimConfig) -> list[str]:
    return [tranche_payer(n, t) for n, t in cfg.scheme.tranches.items()]


WILSON_UNIT = "% (95% Wilson CI)"  # depletion rows: the p5 and p95 columns hold the interval


def headline(res: "Results") -> pd.DataFrame:
    """The table policy staff read: credit, leverage, depletion, losses by party. For the
    depletion probabilities the p5/p95 columns hold the 95% Wilson interval of the
    probability (unit WILSON_UNIT): the p5/p95 of a 0/1 outcome says nothing."""
    s, cfg = res.summary, res.config
    payers = scheme_payers(cfg)
    bn, pct, x, k = 1e-9, 100.0, 1.0, 1e-3
    rows: list[tuple] = []

    def add(section, label, metric, scale, unit, tails=False):
        if metric not in s.index or not s.loc[metric, "n"]:
            rows.append((section, label, unit, math.nan, math.nan, math.nan, math.nan, math.nan))
            return
        r = s.loc[metric]
        if metric.endswith("_depleted") or metric in PROBABILITIES:
            # a probability: its 95% Wilson interval, not p5/p95 of 0/1
            lo, hi = metrics.wilson_interval(round(r["mean"] * r["n"]), r["n"])
            rows.append((section, label, WILSON_UNIT, r["mean"] * scale, lo * scale, hi * scale,
                         math.nan, math.nan))
            return
        t = (r.get("var99", math.nan) * scale, r.get("es99", math.nan) * scale) if tails else (math.nan,) * 2
        rows.append((section, label, unit, r["mean"] * scale, r["p5"] * scale, r["p95"] * scale, *t))

    add("credit", "new lending covered by the scheme", "new_lending_scheme", bn, "bn yuan")
    add("credit", "new direct bank lending", "new_lending_direct", bn, "bn yuan")
    add("credit", "outstanding credit, monthly mean", "outstanding_mean", bn, "bn yuan")
    add("credit", "first-time borrowers (首贷户)", "first_time_borrowers", k, "k firms")
    add("credit", "applications rationed", "rationed_share", pct, "%")
    add("leverage", "guarantor leverage (放大倍数), mean", "guarantor_leverage_mean", x, "x")
    add("leverage", "guarantor leverage, peak single agency", "guarantor_leverage_peak", x, "x")
    add("leverage", "pool leverage (scheme loans / pool)", "pool_leverage", x, "x")
    add("leverage", "fiscal leverage (credit / fiscal yuan)", "fiscal_leverage", x, "x")
    for fund, label in (("guarantor", "any guarantor"), ("pool", "compensation pool"),
                        ("city_funds", "any prefecture fund"),
                        ("reguarantor", "provincial re-guarantor"), ("national_fund", "national fund")):
        if (fund if fund != "city_funds" else "pool") in payers:
            add("depletion", f"P({label} runs dry)", f"{fund}_depleted", pct, "%")
    if "guarantor" in payers:
        add("depletion", "P(any guarantor suspended)", "any_guarantor_suspended", pct, "%")
    if "pool" in payers:
        add("funds", "compensation arrival rate (到位率)", "funds_arrival_rate", pct, "%")
        add("funds", "P(a fund's queue lasts over 12 months)", "funds_queue_over_12m", pct, "%")
        add("funds", "fund queue, peak", "funds_queue_peak", bn, "bn yuan")
        add("funds", "claims abandoned", "funds_abandoned", bn, "bn yuan")
        add("funds", "wait for compensation, median", "funds_delay_median", x, "months")
        add("funds", "wait for compensation, 90th percentile", "funds_delay_p90", x, "months")
        add("funds", "prefecture funds unpaid two years running", "counties_unpaid_two_years", x, "count")
    for p in ["bank"] + [p for p in payers if p != "bank"]:
        add("losses", f"net loss: {PAYER_LABEL[p]}", f"loss_{p}", bn, "bn yuan", tails=True)
    add("losses", "shortfall (unpaid, to the bearer)", "shortfall", bn, "bn yuan", tails=True)
    add("losses", "bank share of scheme losses", "bank_share_scheme", pct, "%")
    add("losses", "claim rate (代偿率)", "claim_rate", pct, "%")
    add("losses", "NPL ratio (不良率), monthly mean", "npl_ratio_mean", pct, "%")
    add("losses", "fiscal cost (funds, budget, subsidies, injections, rewards)", "fiscal_cost", bn, "bn yuan")
    return pd.DataFrame(rows, columns=["section", "metric", "unit", "mean", "p5", "p95", "VaR99", "ES99"])


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if math.isinf(v):
        return "inf"
    a = abs(v)
    return f"{v:,.0f}" if a >= 1000 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 0.1 else f"{v:.3f}"


def _width(text: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def _pad(text: str, width: int, left: bool) -> str:
    fill = " " * max(width - _width(text), 0)
    return f"{text}{fill}" if left else f"{fill}{text}"


def format_table(h: pd.DataFrame, title: str | None = None, lang: str = "en") -> str:
    """The headline table as text; row labels, units and sections in `lang` (en | zh | both)."""
    cols = ["mean", "p5", "p95", "VaR99", "ES99"]
    body = [[tr(r.metric, lang), tr(r.unit, lang), *(_fmt(getattr(r, c)) for c in cols)]
            for r in h.itertuples()]
    head = ["metric", "unit", *cols]
    w = [max(_width(x[i]) for x in body + [head]) for i in range(len(head))]

    def line(cells):
        return "  ".join(_pad(str(c), w[i], i < 2) for i, c in enumerate(cells))

    out = [title] if title else []
    out.append(line(head))
    sec = None
    for r, cells in zip(h.itertuples(), body):
        if r.section != sec:
            sec = r.section
            out.append(f"-- {tr(sec, lang)}")
        out.append(line(cells))
    return "\n".join(out)


def title(res: "Results") -> str:
    c = res.config
    return (f"Scenario {c.scheme.name}: {_description(c)}\n"
            f"{len(res.replications)} replications x {c.horizon} months, {firms_text(c)} "
            f"standing for {c.province.firms_total:,} ({c.province.name}); seed {c.mc.seed}. "
            f"Mean [5%, 95%] over replications; VaR/ES at 99%.")


# ------------------------------------------------------------------------ plots
def _band(ts: pd.DataFrame, col: str, q=(0.05, 0.25, 0.5, 0.75, 0.95)) -> pd.DataFrame:
    return ts.groupby("month")[col].quantile(list(q)).unstack()


def _fan(ax, ts, col, color, label, scale=1.0):
    b = _band(ts.replace([np.inf, -np.inf], np.nan), col) * scale
    m = b.index.to_numpy()
    ax.fill_between(m, b[0.05], b[0.95], color=color, alpha=0.15, lw=0)
    ax.fill_between(m, b[0.25], b[0.75], color=color, alpha=0.3, lw=0)
    ax.plot(m, b[0.5], color=color, lw=1.8, label=label)


def shock_share(ts: pd.DataFrame) -> pd.Series:
    """Per month: share of replications in which a shock is active (1 on the months of a
    scheduled shock; between 0 and 1 for shocks drawn from a return period)."""
    if "shock_active" not in ts:
        return pd.Series(dtype=float)
    return (ts.shock_active > 0).groupby(ts.month).mean()


def _shade(ax, ts: pd.DataFrame, after: int = 0) -> None:
    """Mark shock windows: a grey band over each month with an active shock, darker the
    more replications have one; a light band over the `after` months that follow (overdue
    loans the shock caused resolve then; the report's window tables include them)."""
    share = shock_share(ts)
    if share.empty or not (share > 0).any():
        return
    mask = metrics.shock_window(ts, after)
    tail = pd.Series(mask & ~(ts.shock_active.to_numpy() > 0)).groupby(ts.month.to_numpy()).mean()
    first = [True, True]
    for month, v in share.items():
        if v > 0:
            ax.axvspan(month - 0.5, month + 0.5, color="0.45", alpha=0.1 + 0.25 * v, lw=0,
                       label="shock window" if first[0] else None)
            first[0] = False
        elif tail.get(month, 0) > 0:
            ax.axvspan(month - 0.5, month + 0.5, color="0.45", alpha=0.08 * tail[month] + 0.02, lw=0,
                       label="overdue loans resolve" if first[1] else None)
            first[1] = False


BANDS = "line: median over replications; bands: middle 50% and 90%"


def _calendar(ax, cfg: SimConfig) -> None:
    """Label the month axis (1 = January of start_year) with calendar dates: a tick each
    January, minor ticks each quarter."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    years = range(0, (cfg.horizon + 11) // 12 + 1)
    ax.xaxis.set_major_locator(FixedLocator([1 + 12 * y for y in years]))
    ax.xaxis.set_minor_locator(FixedLocator(range(1, cfg.horizon + 2, 3)))
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda m, _: f"{cfg.start_year + int(round(m) - 1) // 12}-{(int(round(m)) - 1) % 12 + 1:02d}"))
    ax.set_xlim(0.5, cfg.horizon + 0.5)
    ax.set_xlabel("")
    for label in ax.get_xticklabels():  # slanted: several years fit a narrow panel
        label.set_rotation(30)
        label.set_ha("right")


def write_plots(res: "Results", d: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d.mkdir(parents=True, exist_ok=True)
    ts, cfg = res.timeseries, res.config
    name = cfg.scheme.name
    payers = scheme_payers(cfg)
    lang = cfg.report.lang
    if lang != "en":
        cjk_font()
    files = []

    def T(text):  # noqa: N802  (the one translation call of this function)
        return tr(text, lang)

    def save(fig, fname, caption=BANDS):
        for ax in fig.axes:
            _shade(ax, ts, cfg.firms.overdue_months)
            _calendar(ax, cfg)
            ax.set_title(" - ".join(T(p) for p in ax.get_title().split(" - ")))
            ax.set_ylabel(T(ax.get_ylabel()))
            handles, labels = ax.get_legend_handles_labels()
            if handles:  # beside the plot, never on the data
                ax.legend(handles, [T(x) for x in labels], frameon=False, fontsize=8,
                          loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if caption:
            fig.text(0.01, 0.01, T(caption), fontsize=8, color="0.3")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        fig.savefig(d / fname, dpi=110)
        plt.close(fig)
        files.append(f"plots/{fname}")

    fig, ax = plt.subplots(figsize=(8.5, 4))
    _fan(ax, ts, "outstanding_direct", "tab:blue", "direct bank loans", 1e-9)
    _fan(ax, ts, "outstanding_scheme", "tab:orange", "covered by the scheme", 1e-9)
    ax.set(title=f"Outstanding credit by channel - {name}", ylabel="bn yuan")
    ax.set_ylim(bottom=0)
    ax.legend()
    save(fig, "outstanding_credit.png")

    if "guarantor" in payers:
        fig, ax = plt.subplots(figsize=(8.5, 4))
        _fan(ax, ts, "guarantor_leverage", "tab:green", "all guarantors")
        _fan(ax, ts, "guarantor_leverage_max", "tab:red", "highest single guarantor")
        ax.axhline(cfg.guarantor.leverage_cap, color="k", ls="--", lw=1, label="leverage cap")
        ax.set(title=f"Guarantor leverage (liability balance / net assets) vs cap - {name}",
               ylabel="x net assets")
        ax.set_ylim(bottom=0)
        ax.legend()
        save(fig, "guarantor_leverage.png")

    if "pool" in payers:  # only the funds the scheme has
        fig, ax = plt.subplots(figsize=(8.5, 4))
        _fan(ax, ts, "pool_balance", "tab:purple", "provincial pool", 1e-9)
        _fan(ax, ts, "city_funds_balance", "tab:brown", "prefecture funds, together", 1e-9)
        _fan(ax, ts, "funds_queue", "tab:red", "claims waiting in the queues", 1e-9)
        ax.set(title=f"Compensation funds: balances and queue - {name}", ylabel="bn yuan")
        ax.set_ylim(bottom=0)
        ax.legend()
        save(fig, "pool_balance.png")

    fig, ax = plt.subplots(figsize=(8.5, 4))
    colors = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for p, net in net_loss_paths(ts, payers).items():
        label = {"bank direct": "banks, direct loans", "bank": "banks, scheme loans"}.get(p) \
            or PAYER_LABEL[p]
        _fan(ax, ts.assign(_net=net), "_net", next(colors), label, 1e-9)
    sf = ts.shortfall.groupby(ts.replication).cumsum()
    if sf.abs().max() > 0:
        _fan(ax, ts.assign(_sf=sf), "_sf", "k", "of which shortfall", 1e-9)
    ax.set(title=f"Cumulative net losses by party - {name}", ylabel="bn yuan")
    ax.legend()
    save(fig, "losses_by_party.png")

    cf = res.counterfactual
    if cf is not None:
        c = cf.timeseries
        fig, axes = plt.subplots(2, 2, figsize=(13, 7.5))
        for ax, col, scale, unit, title in (
                (axes[0, 0], "overdue_ratio", 100.0, "%", "Overdue ratio"),
                (axes[0, 1], "claims", 1e-9, "bn yuan / month", "Claims paid by the guarantee system"),
                (axes[1, 0], "pool_balance", 1e-9, "bn yuan", "Provincial pool balance"),
                (axes[1, 1], "footprint", 1e-9, "bn yuan",
                 "Net assets of the guarantors where the shock hits")):
            c_ts, s_ts = c, ts
            if col == "pool_balance" and "pool" not in payers:
                ax.set_visible(False)
                continue
            if col == "footprint":
                fp = footprint_columns(res)
                if not fp:
                    ax.set_visible(False)
                    continue
                c_ts, s_ts = c.assign(footprint=c[fp].sum(axis=1)), ts.assign(footprint=ts[fp].sum(axis=1))
            _fan(ax, c_ts, col, "tab:blue", "without the shock", scale)
            _fan(ax, s_ts, col, "tab:red", T("with the shock") + f" ({cfg.shock.name})", scale)
            ax.set(title=title, ylabel=unit)
            ax.set_ylim(bottom=0)  # from zero: a small difference is not blown up
            ax.legend()
        fig.suptitle(f"{name}, {cfg.shock.name}: " + T("vs the same seeds without it"))
        save(fig, "shock_vs_counterfactual.png")
    return files


# ------------------------------------------------------------------------ shocks
def _event_line(key: str, ev, cfg: SimConfig) -> str:
    from .shocks import event_magnitude, place_weights

    h = getattr(cfg.shock, ev.kind)
    w = place_weights(ev, cfg.province)
    where = ", ".join(f"{r.name}" + (f" ({w[i]:.1f})" if w[i] != 1 else "")
                      for i, r in enumerate(cfg.province.regions) if w[i] > 0) or "nowhere"
    when = (f"month {ev.month}" if ev.timing == "scheduled"
            else f"each year in calendar month {ev.season} with probability 1/{ev.return_period:g}")
    mag = event_magnitude(ev.severity, ev.return_period, h.reference_return_period)
    rp = f", a 1-in-{ev.return_period:g}-year event" if ev.return_period else ""
    sec = f"; sectors {', '.join(ev.sectors)}" if ev.sectors else ""
    return (f"- `{key}`: {ev.kind}, {when}, {ev.duration} months; severity {ev.severity:g}{rp} "
            f"-> magnitude {mag:.2f}; where (weight): {where}{sec}")


# (label, metric, scale, unit) of the whole-horizon comparison
_SHOCK_ROWS = [
    ("claim rate (代偿率)", "claim_rate", 100.0, "%"),
    ("NPL ratio (不良率), monthly mean", "npl_ratio_mean", 100.0, "%"),
    ("overdue ratio (逾期率), monthly mean", "overdue_ratio_mean", 100.0, "%"),
    ("new lending, all channels", "new_lending_total", 1e-9, "bn yuan"),
    ("new lending covered by the scheme", "new_lending_scheme", 1e-9, "bn yuan"),
    ("shortfall", "shortfall", 1e-9, "bn yuan"),
]
_WINDOW_ROWS = [
    ("new lending", "new_lending", 1e-9, "bn yuan"),
    ("applications", "applicants", 1e-3, "k"),
    ("loans falling overdue", "overdue_new", 1e-3, "k firms"),
    ("overdue ratio (逾期率), mean", "overdue_ratio", 100.0, "%"),
    ("defaults", "defaults", 1e-3, "k firms"),
    ("claims paid (代偿)", "claims", 1e-9, "bn yuan"),
    ("claim rate (代偿率)", "claim_rate", 100.0, "%"),
    ("NPL ratio (不良率), mean", "npl_ratio", 100.0, "%"),
    ("recoveries", "recoveries", 1e-9, "bn yuan"),
    ("pool balance at the window's end", "pool_balance_end", 1e-9, "bn yuan"),
    ("guarantor net assets at the window's end", "guarantor_net_assets_end", 1e-9, "bn yuan"),
]
_FUND_LABEL = {"guarantor": "any guarantor", "pool": "compensation pool",
               "reguarantor": "provincial re-guarantor", "national_fund": "national fund"}


def footprint_columns(res: "Results") -> list[str]:
    """Time-series columns of the guarantors of the prefectures any shock event reaches."""
    from .shocks import place_weights

    cfg = res.config
    w = sum(place_weights(ev, cfg.province) for _, ev in shock_events(cfg.shock))
    if isinstance(w, int):
        return []
    cols = [f"{metrics.AGENCY_PREFIX}{r.name}" for i, r in enumerate(cfg.province.regions) if w[i] > 0]
    return [c for c in cols if c in res.timeseries]


def shock_tables(res: "Results") -> tuple[pd.DataFrame, pd.DataFrame, tuple[int, int]] | None:
    """(whole-horizon comparison, window comparison, (first, last) window month) of a shocked
    run against its counterfactual; None without a counterfactual."""
    cf = res.counterfactual
    if cf is None:
        return None
    payers = scheme_payers(res.config)
    rows = list(_SHOCK_ROWS)
    for fund, label in _FUND_LABEL.items():
        if fund in payers:
            rows.insert(0, (f"P({label} runs dry)", f"{fund}_depleted", 100.0, "%"))
            rows.append((f"lowest balance: {label}", f"{fund}_min_balance", 1e-9, "bn yuan"))
    for p in ["bank"] + [p for p in payers if p != "bank"]:
        rows.append((f"net loss: {PAYER_LABEL[p]}", f"loss_{p}", 1e-9, "bn yuan"))
    # copies, whole: columns are added below (a frame built column by column is fragmented)
    a = res.replications.set_index("replication").copy()
    b = cf.replications.set_index("replication").copy()
    cols = footprint_columns(res)
    if cols and "guarantor" in payers:
        for t, src in ((a, res.timeseries), (b, cf.timeseries)):
            low = src.groupby("replication")[cols].min()
            t["footprint_guarantor_depleted"] = (low <= 1e-6).any(axis=1).astype(float)
            t["footprint_guarantor_min"] = src[cols].sum(axis=1).groupby(src.replication).min()
        rows.insert(0, ("P(a guarantor where the shock hits runs dry)", "footprint_guarantor_depleted",
                        100.0, "%"))
        rows.append(("lowest net assets: guarantors where the shock hits", "footprint_guarantor_min",
                     1e-9, "bn yuan"))
    whole = metrics.paired_difference(a, b, [m for _, m, _, _ in rows])
    whole = _label(whole, rows)
    after = res.config.firms.overdue_months
    mask = metrics.shock_window(res.timeseries, after)
    if not mask.any():
        return whole, pd.DataFrame(), (0, 0)
    months = res.timeseries.month.to_numpy()[mask]
    cfm = cf.timeseries.set_index(["replication", "month"]).index.isin(
        res.timeseries[mask].set_index(["replication", "month"]).index)
    wa = metrics.window_metrics(res.timeseries, mask)
    wb = metrics.window_metrics(cf.timeseries, cfm)
    window = _label(metrics.paired_difference(wa, wb, [m for _, m, _, _ in _WINDOW_ROWS]), _WINDOW_ROWS)
    return whole, window, (int(months.min()), int(months.max()))


def _label(t: pd.DataFrame, rows) -> pd.DataFrame:
    out = []
    for label, m, scale, unit in rows:
        r = t.loc[m]
        out.append((label, unit, r.with_shock * scale, r.without * scale, r.difference * scale,
                    r.se * scale))
    return pd.DataFrame(out, columns=["metric", "unit", "with shock", "without", "difference", "se"])


def _plain_table(t: pd.DataFrame) -> str:
    cols = ["with shock", "without", "difference", "se"]
    body = [[r.metric, r.unit, *(_fmt(getattr(r, c.replace(" ", "_")) if " " in c else getattr(r, c))
                                 for c in cols)] for r in t.rename(columns=lambda c: c.replace(" ", "_")).itertuples()]
    head = ["metric", "unit", *cols]
    w = [max(_width(x[i]) for x in body + [head]) for i in range(len(head))]
    return "\n".join("  ".join(_pad(str(c), w[i], i < 2) for i, c in enumerate(cells)) for cells in [head] + body)


def depletion_reading(whole: pd.DataFrame) -> list[str]:
    """One plain sentence per fund on its depletion probability with vs without the shock.

    A probability of 0 in both runs says nothing about how close the fund came, so then the
    sentence gives its lowest balance in both; otherwise it says whether the paired change is
    larger than two standard errors.
    """
    t = whole.set_index("metric")
    out = []
    for label in t.index:
        if not (label.startswith("P(") and label.endswith(" runs dry)")):
            continue
        fund = label[2:-len(" runs dry)")]
        r = t.loc[label]
        key = ("lowest net assets: guarantors where the shock hits"
               if fund == "a guarantor where the shock hits" else f"lowest balance: {fund}")
        low = t.loc[key] if key in t.index else None
        if r["with shock"] == 0 and r["without"] == 0:
            s = f"- {fund}: ran dry in no replication, with or without the shock"
            if low is not None:
                what = ("their combined net assets at their lowest were" if key.startswith("lowest net")
                        else "its lowest balance was")
                s += (f"; {what} {_fmt(low['with shock'])} bn yuan with the shock and "
                      f"{_fmt(low['without'])} without (means over replications)")
            out.append(s + ".")
            continue
        d, se = r["difference"], r["se"]
        verdict = ("higher with the shock" if d > 2 * se else "lower with the shock" if d < -2 * se
                   else "no clear change (within two standard errors)")
        out.append(f"- {fund}: ran dry in {_fmt(r['with shock'])}% of replications with the shock and "
                   f"{_fmt(r['without'])}% without, a paired change of {_fmt(d)} ± {_fmt(se)} points: "
                   f"{verdict}.")
    return out


def format_shock(res: "Results") -> str:
    """The shock section as plain text (terminal, summary.txt, report.md); '' without a shock."""
    cfg = res.config
    events = shock_events(cfg.shock)
    if not events:
        return ""
    lines = [f"Shock {cfg.shock.name}: {cfg.shock.description}"]
    lines += [_event_line(k, ev, cfg) for k, ev in events]
    tabs = shock_tables(res)
    if tabs is None:
        lines.append("(no counterfactual run: shock.counterfactual=false)")
        return "\n".join(lines)
    whole, window, (a, b) = tabs
    n = len(res.replications)
    lines += ["", f"Whole horizon, with vs without the shock (same {n} seeds, common random numbers); "
              "difference = mean paired difference, se = its standard error:", _plain_table(whole)]
    reading = depletion_reading(whole)
    if reading:
        lines += ["", "Fund depletion, read:", *reading]
    if len(window):
        lines += ["", f"Inside the shock window (months {a}-{b}: the shock months and the "
                  f"{cfg.firms.overdue_months} after, when its overdue loans resolve) vs the same months "
                  "without the shock:", _plain_table(window)]
    else:
        lines += ["", "No shock struck in any replication (drawn events), so there is no window."]
    return "\n".join(lines)


def firms_text(c: SimConfig) -> str:
    """'49,601 simulated firms (firms.n=auto)': the number, and the word it came from if any."""
    how = f" (firms.n={c.firms.n_from})" if c.firms.n_from else ""
    return f"{c.firms.n:,} simulated firms{how}"


def _description(c: SimConfig) -> str:
    """The scheme's plain-words description in the report's language (English when the
    scenario file gives no Chinese one)."""
    en, zh = c.scheme.description, c.scheme.description_zh
    if c.report.lang == "zh" and zh:
        return zh
    if c.report.lang == "both" and zh:
        return f"{en} / {zh}"
    return en


def instruments_line(c: SimConfig) -> str:
    """The policy instruments in force (sim/instruments.py), with their sources."""
    force = in_force(c)
    named = "; ".join(f"{name} ({src})" for name, src in force) if force else "none beyond the scheme"
    return f"- Instruments in force (政策工具): {named}."


def first_loan_line(res: "Results") -> str:
    """Whether the run meets Hunan's first-time-borrower target (sim/incentives.py), over its
    replications: H's share (首贷户占比) rising at least 2 points a year to 30% by 2030."""
    s = res.summary
    if "first_loan_target_met" not in s.index or not s.loc["first_loan_target_met", "n"]:
        return ("- First-loan target (首贷户占比 +2 points a year to 30% by 2030, Hunan): not judged, fewer than "
                "two whole years from 2026 after the first simulated year (`start_year=2021 horizon=120` "
                "judges 2026-2030 on a settled population).")
    met, n = s.loc["first_loan_target_met", "mean"], int(s.loc["first_loan_target_met", "n"])
    last, rise = s.loc["first_time_share_last_year"], s.loc["first_time_share_rise_min"]
    year = res.config.start_year + res.config.horizon // 12 - 1
    return (f"- First-loan target (首贷户占比 +{100 * incentives.TARGET_RISE:g} points a year to "
            f"{incentives.TARGET_SHARE:.0%} by {incentives.TARGET_YEAR}, Hunan): "
            f"met in {met:.0%} of {n} replications; "
            f"share in {year} {last['mean']:.1%} [{last['p5']:.1%}, {last['p95']:.1%}], smallest yearly "
            f"change {100 * rise['mean']:+.1f} points (years judged: 2026 on, after the first simulated year).")


def _band_text(x: pd.Series, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    x = x.dropna() * scale
    if x.empty:
        return "n/a"
    return f"{fmt.format(x.mean())} [{fmt.format(x.quantile(0.05))}, {fmt.format(x.quantile(0.95))}]"


def instrument_lines(res: "Results") -> list[str]:
    """The report's section on the policy instruments in force (sim/instruments.py), with
    the outcomes the Anhui report gives beside the model's where an instrument has them
    (docs/instruments.md): compared with, not fitted to."""
    c, r = res.config, res.replications
    # the header's instruments_line names every instrument in force; this section adds the
    # outcomes of those the reports give figures for
    if not (c.scheme.dynamic.enabled or c.bank.circuit_breaker.enabled):
        return []
    lines = ["", f"## {tr('Instruments in force', c.report.lang)}", ""]
    years = c.horizon / 12.0
    if c.scheme.dynamic.enabled:
        lines += ["", "Anhui platform, realised loss split on scheme loans once booked claims and recoveries "
                  "settle (mean [5%, 95%] over replications, %) beside the Anhui report's 2025 split:", "",
                  markdown_table(["party", "model", "Anhui report"], [
                      [k, _band_text(r[f"realised_share_{k}"], 100), v] for k, v in
                      (("fiscal", "38.2"), ("bank", "32.7"), ("guarantor", "18.5"), ("other", "10.6 (tech firm)"))]),
                  "", f"Loans flagged a year: {_band_text(r.dynamic_triggers / years, fmt='{:,.0f}')} on "
                  f"{_band_text(r.dynamic_trigger_amount / years, 1e-9, '{:.2f}')} bn yuan (report: 2,147 on "
                  f"9.86 bn); share of scheme losses on flagged loans {_band_text(r.dynamic_flagged_loss_share, 100)}%."]
    if c.bank.circuit_breaker.enabled:
        lines += ["", f"Circuit-breaker trips a year: {_band_text(r.model_trips / years, fmt='{:.1f}')} on "
                  f"{_band_text(r.model_trip_outstanding / years, 1e-9, '{:.2f}')} bn yuan of the models' loans; "
                  f"realised loss rate on them while suspended {_band_text(r.model_trip_loss_rate, 100, '{:.2f}')}% "
                  "(report: 17 trips on 1.24 bn, 0.9%)."]
    lines.append("")
    return [x for k, x in enumerate(lines) if x or k == 0 or lines[k - 1]]  # one blank line apart


def markdown_report(res: "Results", table: str, plots: list[str], shock_text: str = "") -> str:
    c = res.config
    guarantor = "guarantor" in scheme_payers(c)

    def who(n, t):
        # the re-guarantors' and the funds' shares are paid first by the guarantor and claimed back
        p = tranche_payer(n, t)
        if guarantor and p in ("reguarantor", "national_fund", "pool"):
            return f"{p}, paid first by the guarantor"
        return f"paid by {p}"

    tranche_text = ", ".join(f"{n} {t.share:.0%} ({who(n, t)})" for n, t in c.scheme.tranches.items())
    lines = [
        f"# {tr('Scenario', c.report.lang)} {c.scheme.name}",
        "",
        f"{_description(c)}. Source: {c.scheme.source or 'not given'}.",
        "",
        f"- Tranches: {tranche_text}; shortfall borne by {c.scheme.shortfall_bearer}.",
        f"- Guarantee fee {c.scheme.guarantee_fee:.2%} a year; {sum(r.guarantors for r in c.province.regions)} "
        f"government guarantors, mean capital {c.guarantor.capital_mean / 1e9:.2f} bn yuan, leverage cap "
        f"{c.guarantor.leverage_cap:g}x on the liability balance; {c.bank.count} banks.",
        f"- Compensation funds {(c.pool.size + c.pool.city_size) / 1e9:.2f} bn yuan: provincial pool "
        f"{c.pool.size / 1e9:.2f} bn (replenishment `{c.pool.replenish}`) and prefecture funds "
        f"{c.pool.city_size / 1e9:.2f} bn; payout delay {c.pool.payout_delay} months"
        + (f"; special pool {c.pool.special_size / 1e9:.2f} bn" if c.pool.special_size else "") + ".",
        instruments_line(c),
        first_loan_line(res),
        f"- {len(res.replications)} replications x {c.horizon} months; {firms_text(c)} "
        f"standing for {c.province.firms_total:,} in {c.province.name}; seed {c.mc.seed}; "
        f"wall time {res.wall_seconds:.1f} s.",
    ]
    if not res.complete:
        lines.append(f"- **Incomplete**: interrupted after {len(res.replications)} of {c.mc.replications} replications.")
    lines += instrument_lines(res)
    lines += ["", f"## {tr('Headline table', c.report.lang)}", "", "Mean and [5%, 95%] over replications; VaR and ES at 99% "
              "over replications. Definitions of every metric are in `sim/metrics.py`.", "",
              "```", table, "```", ""]
    if shock_text:
        lines += ["## Shock vs counterfactual", "",
                  "The counterfactual is the same replications (same seeds, so the same copula draws "
                  "for the same firm in the same month) without the shock. Shaded bands on every plot "
                  "mark the shock window. Definitions: `sim/metrics.py` (WINDOW_DOC, SUMMARY_DOC); "
                  "the shock model: `docs/shocks.md`.", "", "```", shock_text, "```", ""]
    lines += [f"## {tr('Plots', c.report.lang)}", ""]
    lines += [f"![{Path(p).stem}]({p})" for p in plots]
    lines += ["", "## Files", "", "`timeseries.*` one row per replication and month; `replications.*` one "
              "row per replication; `summary.csv` every metric over replications; `config.yaml` the "
              "resolved configuration.", ""]
    return "\n".join(lines)
