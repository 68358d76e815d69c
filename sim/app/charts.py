"""The app's four live charts, drawn from the models' DataCollector rows (one figure).

Credit by channel, guarantor leverage against its cap, the compensation funds' balances and
queue, and cumulative net losses by party: the same columns and formulas as the report's plots
(sim/report.py), for one replication as it runs. Side by side, the second scheme is dashed.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # drawn to an image for the page, never to a window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..config import SimConfig  # noqa: E402
from ..i18n import cjk_font, tr  # noqa: E402
from ..report import net_loss_paths, scheme_payers  # noqa: E402

PARTY = {"bank": "banks, scheme loans", "guarantor": "guarantors", "reguarantor": "provincial re-guarantor",
         "national_fund": "national fund", "pool": "compensation pool", "government": "government budget",
         "borrower": "firms' counter-guarantee"}
COLOR = {"banks, direct loans": "tab:blue", "banks, scheme loans": "tab:cyan", "guarantors": "tab:green",
         "provincial re-guarantor": "tab:olive", "national fund": "tab:gray", "compensation pool": "tab:purple",
         "government budget": "tab:brown", "firms' counter-guarantee": "tab:pink"}
STYLES = ("-", "--")


def net_losses(ts: pd.DataFrame, cfg: SimConfig) -> dict[str, pd.Series]:
    """Cumulative net loss by party (yuan): paid, less recoveries, less reimbursements received;
    the banks' direct loans apart from their share of scheme loans (as sim/report.py)."""
    payers = sorted(set(scheme_payers(cfg)))
    return {("banks, direct loans" if p == "bank direct" else PARTY[p]): net
            for p, net in net_loss_paths(ts, payers).items()}


def fonts() -> dict:
    """matplotlib settings with Noto Sans CJK (from mplfonts) after the default font, for a
    `rc_context`: set per drawing, because the Solara server configures matplotlib's inline
    backend after `cjk_font()` has set the global default, and the Chinese came out as boxes."""
    path = cjk_font()
    if path is None:
        return {}
    from matplotlib import font_manager

    return {"font.family": ["DejaVu Sans", font_manager.FontProperties(fname=str(path)).get_name()]}


def figure(runs: list[tuple[str, pd.DataFrame, SimConfig]], horizon: int) -> Figure:
    """Four panels; `runs` is (scheme name, monthly rows, config) per model. Draw it (savefig)
    inside `matplotlib.rc_context(fonts())` too, as `png` does."""
    T = lambda s: tr(s, "both")  # noqa: E731  English with the Chinese beside it
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.6), dpi=80)
    (credit, lev), (funds, loss) = axes
    # The queue is millions where the balances are billions: on its own axis (right) so that a
    # queue shows at all.
    queue = funds.twinx()
    for (name, ts, cfg), ls in zip(runs, STYLES):
        # side by side, the colours name each series once (a label starting with "_" stays
        # out of the legend) and the line style names the scheme (the figure's title)
        def lab(ax, text):
            return "_" + text if T(text) in ax.get_legend_handles_labels()[1] else T(text)
        lev.axhline(cfg.guarantor.leverage_cap, color="k", ls=ls, lw=1, label=lab(lev, "leverage cap"))
        if cfg.shock.kind != "none":
            for ax in axes.flat:
                ax.axvline(cfg.shock.month, color="tab:blue", lw=6, alpha=0.15)
        if len(ts) == 0:  # month 0: empty axes
            continue
        m = ts["month"]
        credit.plot(m, ts["outstanding_direct"] / 1e9, ls, color="tab:blue", label=lab(credit, "direct bank loans"))
        credit.plot(m, ts["outstanding_scheme"] / 1e9, ls, color="tab:orange",
                    label=lab(credit, "covered by the scheme"))
        lev.plot(m, ts["guarantor_leverage"], ls, color="tab:green", label=lab(lev, "all guarantors"))
        lev.plot(m, ts["guarantor_leverage_max"], ls, color="tab:red",
                 label=lab(lev, "highest single guarantor"))
        if "pool" in scheme_payers(cfg):
            # only a scheme the funds pay into (as the report's plots): others leave them idle
            funds.plot(m, ts["pool_balance"] / 1e9, ls, color="tab:purple", label=lab(funds, "provincial pool"))
            funds.plot(m, ts["city_funds_balance"] / 1e9, ls, color="tab:brown",
                       label=lab(funds, "prefecture funds, together"))
            queue.plot(m, ts["funds_queue"] / 1e6, ls, color="tab:red",
                       label=lab(queue, "claims waiting in the queues") + (" (m yuan, right)" if ls == "-" else ""))
        for party, net in net_losses(ts, cfg).items():
            loss.plot(m, net / 1e9, ls, color=COLOR[party], label=lab(loss, party))
    for ax, title, unit in ((credit, "Outstanding credit by channel", "bn yuan"),
                            (lev, "Guarantor leverage vs cap", "x net assets"),
                            (funds, "Compensation funds: balances and queue", "bn yuan"),
                            (loss, "Cumulative net losses by party", "bn yuan")):
        ax.set_title(T(title), fontsize=9)
        ax.set_ylabel(T(unit), fontsize=8)
        ax.set_xlim(0, horizon)
        ax.set_xlabel("month 月", fontsize=8)
        ax.tick_params(labelsize=7)
        if ax is not loss:
            ax.set_ylim(bottom=0)
        handles, labels = ax.get_legend_handles_labels()
        if ax is funds:  # and the queue's, from its own axis
            more = queue.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        if handles:
            ax.legend(handles, labels, fontsize=6, frameon=False, loc="upper left")
    if not any("pool" in scheme_payers(c) for _, _, c in runs):
        funds.text(0.5, 0.5, "no compensation-fund tranche in this scheme\n该模式无风险补偿资金分担",
                   transform=funds.transAxes, ha="center", va="center", fontsize=9, color="0.4")
    queue.set_ylim(bottom=0, top=max(1.0, queue.get_ylim()[1]))
    queue.set_ylabel("m yuan 百万元", fontsize=8, color="tab:red")
    queue.tick_params(labelsize=7, colors="tab:red")
    if len(runs) > 1:
        fig.suptitle("   ".join(f"{'solid 实线' if ls == '-' else 'dashed 虚线'}: {name}"
                                for (name, _, _), ls in zip(runs, STYLES)), fontsize=10)
    # fixed margins: tight_layout would draw the figure an extra time, every month
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.08, top=0.9 if len(runs) > 1 else 0.95,
                        hspace=0.35, wspace=0.24)
    return fig


def png(runs: list[tuple[str, pd.DataFrame, SimConfig]], horizon: int) -> bytes:
    """The figure as PNG bytes (closed after drawing: a page redraws it every month)."""
    import io

    with matplotlib.rc_context(fonts()):
        fig = figure(runs, horizon)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
