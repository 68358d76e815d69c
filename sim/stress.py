"""Fund depletion by flood return period: the table policy staff ask for before the next flood.

    python -m sim.stress                                  # 4321 and 2:8, Hunan, 200 replications
    python -m sim.stress --scenarios 4321 2:8 --return-periods 10 20 50 100 200 \\
        --replications 200 --jobs 2 --out docs/flood-depletion.md
    sim.stress.depletion_by_return_period(["4321", "2:8"], [10, 50, 100])   # a DataFrame

For each scheme and each return period T it runs the same replications (same seeds) twice:

- `stress`: a flood of the 1-in-T-year magnitude strikes in shock.month (July 2027) — "if
  the T-year flood comes, how likely is each fund to run dry within the horizon?";
- `drawn`: in each July a flood of that magnitude strikes with probability 1/T — the same
  question averaged over whether it comes at all;

plus once without any flood (T = none). Everything else is the `shock=flood` preset
(every flood-exposed prefecture at its exposure) and the scenario's defaults. A fund "runs
dry" when its balance reaches 0 within the horizon (metrics.SUMMARY_DOC); standard errors
are binomial, sqrt(p (1 - p) / n). Every row with a flood also gives the change against the
no-flood row, replication by replication (same seed), with the standard error of that paired
difference, sd(d) / sqrt(n): this is the number that says whether the flood made a difference.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from . import metrics
from .api import load_config
from .config import SimConfig, tranche_payer
from .report import markdown_table
from .run.runner import run_summaries

EXPOSED = 0.5  # prefectures with flood_exposure >= this count as "exposed" in the table


def exposed_extra(cfg: SimConfig, ts: pd.DataFrame) -> dict:
    """Summary hook (runs in the worker): whether a guarantor of a flood-exposed prefecture ran
    dry, from the time series columns net_assets_guarantor_<prefecture>, and the number of
    floods (onsets of an active shock)."""
    payers = {tranche_payer(n, t) for n, t in cfg.scheme.tranches.items()}
    cols = [f"{metrics.AGENCY_PREFIX}{reg.name}" for reg in cfg.province.regions
            if reg.flood_exposure >= EXPOSED]
    cols = [c for c in cols if c in ts]
    low = ts[cols].to_numpy().min() if cols else math.inf
    ts = ts.sort_values("month")
    active = ts.shock_active.to_numpy()
    onsets = np.diff(np.concatenate([[0], active])).clip(min=0).sum()
    last = ts.iloc[-1]
    halted = {f"halted_in_{reg.name}": float(last.get(metrics.halted_column(reg.name), 0.0) > 0)
              for reg in cfg.province.regions}
    return {"exposed_guarantor_depleted": float(low <= 1e-6) if "guarantor" in payers and cols
            else math.nan, "floods": int(onsets), **halted}


FUNDS = [("pool", "pool_depleted", "P(pool dry)"),
         ("guarantor", "guarantor_depleted", "P(any guarantor dry)"),
         ("guarantor", "exposed_guarantor_depleted", "P(exposed-prefecture guarantor dry)"),
         ("reguarantor", "reguarantor_depleted", "P(re-guarantor dry)"),
         ("national_fund", "national_fund_depleted", "P(national fund dry)"),
         ("guarantor", "any_guarantor_suspended", "P(any guarantor halted)")]
# Means with their paired change: (payer the scheme must use, summary column, label, scale).
MEANS = [("guarantor", "guarantors_halted", "guarantors halted", 1.0),
         ("pool", "funds_queue_peak", "peak funds queue bn", 1e-9),
         ("pool", "funds_arrival_rate", "arrival rate %", 100.0)]


def _paired(reps: pd.DataFrame, base_reps: pd.DataFrame, col: str, scale: float) -> tuple[float, float]:
    """The mean change of col against the no-flood row, replication by replication (after
    Ctrl-C a row may hold only some of them), and its standard error sd(d) / sqrt(n)."""
    d = (reps.set_index("replication")[col] - base_reps.set_index("replication")[col]
         ).dropna().to_numpy(dtype=float) * scale
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.nan


def depletion_by_return_period(scenarios=("4321", "2:8"), return_periods=(10, 20, 50, 100, 200),
                               province: str = "hunan", replications: int = 200,
                               overrides=None, jobs: int | None = None, modes=("stress", "drawn"),
                               progress: bool = False) -> pd.DataFrame:
    """One row per (scenario, mode, return period): each fund's depletion probability (%)
    and its standard error, the claim rate and the lowest pool balance. T = None: no flood.
    jobs: worker processes; None = mc.n_jobs (auto, every available core, unless overridden)."""
    rows = []
    for sc in scenarios:
        base = load_config(sc, {"mc.replications": replications, **dict(overrides or {})},
                           shock="flood", province=province)
        payers = {tranche_payer(n, t) for n, t in base.scheme.tranches.items()}
        cases = [("none", None)] + [(m, t) for m in modes for t in return_periods]
        base_reps = None
        for mode, t in cases:
            t0 = time.perf_counter()
            if mode == "none":
                cfg = replace(base, shock=replace(base.shock, kind="none", name="none"))
            else:
                timing = "scheduled" if mode == "stress" else "drawn"
                cfg = replace(base, shock=replace(base.shock, timing=timing, return_period=float(t)))
            try:
                res = run_summaries(cfg, jobs, extra=exposed_extra)
            except KeyboardInterrupt:  # Ctrl-C before any replication of this row finished
                return _interrupted(rows)
            reps = res.replications
            if mode == "none":
                base_reps = reps
            n = len(reps)
            row = {"scenario": base.scheme.name, "mode": mode, "return_period": t,
                   "floods_per_run": reps.floods.mean()}
            for fund, col, label in FUNDS:
                if fund not in payers:
                    continue
                p = reps[col].mean()
                row[label] = 100 * p
                row[label + " se"] = 100 * math.sqrt(p * (1 - p) / n)
                row[label + " change"], row[label + " change se"] = _paired(reps, base_reps, col, 100.0)
            for fund, col, label, scale in MEANS:
                if fund not in payers:
                    continue
                x = reps[col].dropna().to_numpy(dtype=float) * scale  # NaN: nothing was due
                row["mean " + label] = float(x.mean()) if x.size else math.nan
                row["mean " + label + " se"] = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
                row["mean " + label + " change"], row["mean " + label + " change se"] = \
                    _paired(reps, base_reps, col, scale)
            if "guarantor" in payers:
                shares = {reg.name: reps[f"halted_in_{reg.name}"].mean() for reg in cfg.province.regions}
                row["halted in (share of runs)"] = ", ".join(
                    f"{k} {100 * v:.0f}%" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v > 0) or "none"
            row["claim rate %"] = 100 * reps.claim_rate.mean()
            if "pool" in payers:
                row["lowest pool balance bn"] = reps.pool_min_balance.mean() / 1e9
            row["n"] = n
            rows.append(row)
            if progress:
                print(f"{sc} {mode} T={t}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
            if not res.complete:  # Ctrl-C: this row holds the replications that finished
                return _interrupted(rows)
    return pd.DataFrame(rows)


def _interrupted(rows: list[dict]) -> pd.DataFrame:
    """The rows so far, marked incomplete (attrs["complete"] is False; column n says how many
    replications each row has)."""
    table = pd.DataFrame(rows)
    table.attrs["complete"] = False
    return table


def to_markdown(table: pd.DataFrame, command: str, cfg_note: str, title: str | None = None,
                header: bool = True) -> str:
    """The table as Markdown: one block per scenario, P(dry) as 'p ± se'. `header`: the
    page title and the legend; otherwise only a section titled `title`."""
    out = ["# Fund depletion by flood return period", ""] if header else []
    if title:
        out += [f"## {title}", ""]
    out += [f"Produced by `{command}` ({cfg_note}).", ""]
    if header:
        out += [
           "- `stress`: a flood of the 1-in-T-year magnitude strikes in July 2027 (shock.month 19).",
           "- `drawn`: each July a flood of that magnitude strikes with probability 1/T "
           "(`floods/run` = mean number over the 5 years).",
           "- `none`: no flood. Same seeds in every row (common random numbers: every draw is "
           "keyed by month, purpose and firm row, sim/risk/streams.py).",
           "- Flood magnitude: y(T) / y(20) with y the Gumbel reduced variate (the 2024 Dongting "
           "Lake flood is taken as 1-in-20); every flood-exposed prefecture is hit at its exposure "
           "(docs/shocks.md).",
           f"- P(... dry): probability the fund's balance reaches 0 within the horizon, % ± binomial "
           f"standard error; in brackets the change against `none`, replication by replication "
           f"(same seed), ± the standard error of that paired difference. \"Exposed-prefecture "
           f"guarantor\": the guarantor of any prefecture with flood_exposure >= {EXPOSED} (Hunan: "
           f"Yueyang, Changde, Yiyang).",
           "- P(any guarantor halted): a guarantor stopped new business at least once (its outstanding "
           "claims reached guarantor.suspend_claims_multiple x net assets, or another trigger); "
           "`guarantors halted`: how many did, each counted once, mean ± its standard error (in "
           "brackets the paired change); `halted in`: the prefectures whose guarantors halted, with "
           "the share of runs (the reports name no county guarantor, so a prefecture is the finest "
           "place). `peak funds queue`: the largest amount waiting in the funds' queues; `arrival "
           "rate`: compensation paid / due (到位率).",
           "- Defaults, lending, screening, exits and new entrants share random numbers with the "
           "no-flood row firm by firm; a change still carries the noise of the firms the flood "
           "reached and their knock-on effects: read it against its se.", ""]
    level = "###" if title else "##"
    for sc, t in table.groupby("scenario", sort=False):
        probs = [c for c in t.columns if c.startswith("P(") and c.endswith(")") and t[c].notna().any()]
        means = [c for c in t.columns if c.startswith("mean ") and not c.endswith(
            (" se", " change")) and t[c].notna().any()]
        extra = [c for c in ("claim rate %", "lowest pool balance bn") if c in t and t[c].notna().any()]
        where = ["halted in (share of runs)"] if "halted in (share of runs)" in t else []
        head = ["mode", "T (years)", "floods/run", *probs, *(c[5:] for c in means), *extra, *where]
        body = []
        for r in t.itertuples(index=False):
            d = dict(zip(t.columns, r))
            cells = [d["mode"], "-" if d["return_period"] is None or pd.isna(d["return_period"])
                     else f"{d['return_period']:g}", f"{d['floods_per_run']:.2f}"]
            cells += [f"{d[c]:.1f} ± {d[c + ' se']:.1f}" + (
                "" if d["mode"] == "none" else f" ({d[c + ' change']:+.1f} ± {d[c + ' change se']:.1f})")
                for c in probs]
            cells += [f"{d[c]:.2f} ± {d[c + ' se']:.2f}" + (
                "" if d["mode"] == "none" else f" ({d[c + ' change']:+.2f} ± {d[c + ' change se']:.2f})")
                for c in means]
            cells += [f"{d[c]:.2f}" for c in extra]
            cells += [d[c] for c in where]
            body.append(cells)
        out += [f"{level} {sc}", "", markdown_table(head, body), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.getLogger("MESA").setLevel(logging.WARNING)
    ap = argparse.ArgumentParser(prog="python -m sim.stress", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", nargs="+", default=["4321", "2:8"])
    ap.add_argument("--return-periods", nargs="+", type=float, default=[10, 20, 50, 100, 200])
    ap.add_argument("--province", default="hunan")
    ap.add_argument("--replications", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes (default: mc.n_jobs, auto = every available core)")
    ap.add_argument("--modes", nargs="+", default=["stress", "drawn"], choices=["stress", "drawn"])
    ap.add_argument("--out", default=None, help="write the Markdown table here (else print it)")
    ap.add_argument("--append", action="store_true", help="append a section to --out instead of a new page")
    ap.add_argument("--title", default=None, help="section title")
    ap.epilog = "Any key=value argument is a config override, e.g. pool.size=3e8 guarantor.capital_mean=1.6e8."
    args = list(sys.argv[1:] if argv is None else argv)
    overrides = [x for x in args if "=" in x and not x.startswith("-")]
    a = ap.parse_args([x for x in args if x not in overrides])
    from .config import ConfigError

    over = dict(o.split("=", 1) for o in overrides)
    try:
        table = depletion_by_return_period(a.scenarios, a.return_periods, a.province, a.replications,
                                           over, a.jobs, tuple(a.modes), progress=True)
    except ConfigError as e:
        print(f"sim.stress: error: {e}", file=sys.stderr)
        return 2
    cmd = "python -m sim.stress " + " ".join(f"'{x}'" if " " in x else x for x in args)
    ran = load_config(a.scenarios[0], over, shock="flood", province=a.province)  # as the rows ran
    note = (f"province {a.province}, {ran.firms.n:,} simulated firms"
            + (f" (firms.n={ran.firms.n_from})" if ran.firms.n_from else "")
            + f", {a.replications} replications per row, seed {ran.mc.seed}"
            + (f", overrides {over}" if over else ""))
    complete = table.attrs.get("complete", True)
    if not complete:
        print("sim.stress: interrupted; the table below holds the rows that finished (column n: "
              "replications per row)", file=sys.stderr)
        if table.empty:
            return 130
        note += "; INTERRUPTED: incomplete table"
    md = to_markdown(table, cmd.strip(), note, a.title, header=not a.append)
    if a.out:
        with open(a.out, "a" if a.append else "w", encoding="utf-8") as fh:
            fh.write(("\n" if a.append else "") + md + "\n")
        print(f"wrote {a.out}")
    print(md)
    return 0 if complete else 130


if __name__ == "__main__":
    sys.exit(main())
