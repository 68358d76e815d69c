"""Scheme design search: the split, fee and fund size that bring out the most credit within
a risk limit and a fiscal budget (Optuna, TPE with constraints).

    python -m sim.design --trials 60 --max-halt 0.1 --fiscal-budget 1.5e8 --out outputs/design
    python -m sim.design --shock flood --objective first_time_borrowers ...
    sim.design.search(trials=40, max_halt=0.1, fiscal_budget=1.5e8)   # -> DataFrame of trials

The decision (`Space`): the bank's, the re-guarantor's and the funds' (the `pool` payer's)
shares of each loss, the guarantor taking the rest; the guarantee fee; and the provincial
pool's initial size (`pool.size`; the prefecture funds stay as configured). Shares move on a
grid of `share_step` so that the four always sum to exactly 1 (the config's rule); a draw
that leaves the guarantor outside its range is infeasible and is not run.

Maximise the mean over replications of `objective` (new_lending_scheme, or
first_time_borrowers) subject to

- P(any guarantor halted) = mean of any_guarantor_suspended <= max_halt, and
- mean fiscal_cost (public money spent within the horizon) <= fiscal_budget,

under the chosen shock. Every trial runs the same replications (same mc.seed, same firms):
common random numbers, so two designs are compared on the same draws. The sampler's seed is
fixed: the same command gives the same trials and the same answer.

What the search can and cannot guarantee (docs/research.md says it again with numbers):

- It finds the best of the designs it tried, not the best design: TPE is a heuristic over a
  finite number of trials, with no proof of global optimality; a rerun with another sampler
  seed may stop at a different, near-equal design.
- The objective and the constraints are Monte Carlo means over a few replications, measured
  on one set of seeds. The search maximises over noise, so the best trial's numbers are
  optimistic (the winner's curse), and a design chosen at P(halt) just under the limit may be
  above it on other seeds. `recheck` runs the chosen design on fresh seeds (another mc.seed)
  and reports P(halt) with its 95% interval and whether the limit still holds.
- P(halt) from n replications moves in steps of 1/n: a limit below 1/n means "none halted".
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import ConfigError, SimConfig, tranche_payer
from .metrics import wilson_interval
from .report import markdown_table
from .points import (DEFAULT_OVERRIDES, RowLog, base_config, cli_value, positive_int, run_point,
                     with_values)

OBJECTIVES = ("new_lending_scheme", "first_time_borrowers")
HALT = "any_guarantor_suspended"
PAYERS = ("guarantor", "reguarantor", "bank", "pool")  # the four tranches the search splits


@dataclass(frozen=True)
class Space:
    """The box the search explores: share ranges (the guarantor takes 1 - the others and must
    land in its range), the fee (yearly, on the guaranteed amount) and the pool size (yuan).
    The defaults keep to policy: banks bear in principle at least 20% (the national fund's
    rules, 2019) and the average fee stays within 1% (国办发〔2019〕6号; docs/sources.md).
    Widen them with `--space bank=0.1:0.5 fee=0.005:0.02` to see what the rules cost."""

    bank: tuple[float, float] = (0.20, 0.50)
    reguarantor: tuple[float, float] = (0.0, 0.40)
    pool: tuple[float, float] = (0.0, 0.40)  # the funds pay at most pool.max_share (40%) anyway
    guarantor: tuple[float, float] = (0.10, 0.80)
    fee: tuple[float, float] = (0.005, 0.01)
    pool_size: tuple[float, float] = (0.2e9, 3.0e9)
    share_step: float = 0.05
    fee_step: float = 0.001
    pool_size_step: float = 0.1e9


SPACE = Space()


def space_from(items: list[str], base: Space = SPACE) -> Space:
    """`base` with ranges changed by 'name=lo:hi' items; ConfigError (one line) for an unknown
    name, an unreadable or empty range, or a share range outside [0, 1]."""
    names = ("bank", "reguarantor", "pool", "guarantor", "fee", "pool_size")
    changes = {}
    for item in items:
        name, _, rng = item.partition("=")
        if name not in names:
            raise ConfigError(f"--space {item!r}: name must be one of {', '.join(names)}")
        try:
            lo, hi = (float(x) for x in rng.split(":"))
        except ValueError:
            raise ConfigError(f"--space {item!r}: give a range as name=low:high, e.g. bank=0.1:0.5") from None
        if not lo < hi or lo < 0 or (name not in ("pool_size",) and hi > (0.2 if name == "fee" else 1)):
            raise ConfigError(f"--space {item!r}: need 0 <= low < high"
                              + ("" if name == "pool_size" else
                                 f" <= {0.2 if name == 'fee' else 1} (the config's bound)"))
        changes[name] = (lo, hi)
    return replace(base, **changes)


def shares(bank: float, reguarantor: float, pool: float, step: float = 0.05) -> dict[str, float]:
    """The four shares on the grid of `step`, the guarantor taking the rest: computed in whole
    steps so that they sum to exactly 1 whatever the floating point of the inputs."""
    units = round(1 / step)
    b, r, p = (round(x / step) for x in (bank, reguarantor, pool))
    return {"guarantor": (units - b - r - p) / units, "reguarantor": r / units,
            "bank": b / units, "pool": p / units}


def tranche_names(cfg: SimConfig, scenario: str) -> dict[str, str]:
    """{payer: tranche name} of the config's tranches; ConfigError (naming the scenario)
    unless it has a tranche for each of PAYERS (the search splits those four, e.g. 4321)."""
    names = {tranche_payer(n, t): n for n, t in cfg.scheme.tranches.items()}
    missing = [p for p in PAYERS if p not in names]
    if missing or len(names) != len(PAYERS):
        raise ConfigError(f"--scenario {scenario!r}: its tranches are paid by {sorted(names)}; the "
                          f"design search needs exactly {', '.join(PAYERS)} (e.g. 4321)")
    return names


def design_values(split: Mapping[str, float], fee: float, pool_size: float,
                  names: Mapping[str, str]) -> dict[str, float]:
    """The config overrides of one design."""
    out = {f"scheme.tranches.{names[p]}.share": float(split[p]) for p in PAYERS}
    out["scheme.guarantee_fee"] = float(fee)
    out["pool.size"] = float(pool_size)
    return out


def _propose(trial, space: Space) -> tuple[dict[str, float], float, float]:
    b = trial.suggest_float("bank", *space.bank, step=space.share_step)
    r = trial.suggest_float("reguarantor", *space.reguarantor, step=space.share_step)
    p = trial.suggest_float("pool", *space.pool, step=space.share_step)
    fee = trial.suggest_float("fee", *space.fee, step=space.fee_step)
    size = trial.suggest_float("pool_size", *space.pool_size, step=space.pool_size_step)
    return shares(b, r, p, space.share_step), fee, size


def search(scenario: str = "4321", trials: int = 40, max_halt: float = 0.10,
           fiscal_budget: float = 1.5e8, objective: str = "new_lending_scheme",
           shock: str | None = None, province: str | None = None,
           overrides: Mapping | None = None, seed: int = 1, jobs: int | None = 1,
           space: Space = SPACE, startup_trials: int | None = None,
           progress: Callable[[int, int, float, dict], None] | None = None,
           out_csv: str | Path | None = None) -> pd.DataFrame:
    """Run the constrained search; one row per finished trial: the design (shares, fee, pool
    size), the objective, P(halt), fiscal cost, their standard errors over replications, and
    `feasible` (every constraint met on these seeds). attrs: "complete" (False after Ctrl-C,
    with the trials that finished), "max_halt", "fiscal_budget", "objective"."""
    import optuna

    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: must be one of {', '.join(OBJECTIVES)}")
    if not 0 <= max_halt <= 1:
        raise ConfigError(f"--max-halt {max_halt!r}: must be a probability in [0, 1]")
    if not fiscal_budget >= 0:
        raise ConfigError(f"--fiscal-budget {fiscal_budget!r}: must be yuan >= 0")
    base = base_config(scenario, {**DEFAULT_OVERRIDES, **dict(overrides or {})}, shock, province)
    names = tranche_names(base, scenario)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Constraints are set on each trial (trial.set_constraint, Optuna 5); TPE ranks every
    # infeasible trial below the feasible ones, by its total violation.
    sampler = optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=startup_trials if startup_trials is not None else max(5, trials // 4))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    log = RowLog(out_csv)
    t0 = time.perf_counter()

    def evaluate(trial) -> float:
        split, fee, size = _propose(trial, space)
        row = {"trial": trial.number, **{f"{p}_share": split[p] for p in PAYERS},
               "fee": fee, "pool_size": size}
        g_lo, g_hi = space.guarantor
        # outside the guarantor's range: infeasible by construction, not worth a run
        off = max(g_lo - split["guarantor"], split["guarantor"] - g_hi, 0.0)
        if off > 1e-12:
            row.update({objective: 0.0, HALT: math.nan, "fiscal_cost": math.nan, "ran": False})
            cons = {"guarantor_share": off, "halt": off, "fiscal": off}
            value = 0.0
        else:
            cfg = with_values(base, design_values(split, fee, size, names))
            res = run_point(cfg, jobs)
            if not res.complete:
                raise KeyboardInterrupt  # a trial cut short is not kept: its seeds would differ
            reps = res.replications
            n = len(reps)
            row.update({m: float(reps[m].mean()) for m in (objective, HALT, "fiscal_cost")})
            row.update({f"{m}_se": float(reps[m].std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
                        for m in (objective, HALT, "fiscal_cost")})
            row.update({"n": n, "ran": True})
            cons = {"guarantor_share": 0.0, "halt": row[HALT] - max_halt,
                    "fiscal": (row["fiscal_cost"] - fiscal_budget) / 1e9}  # in bn: comparable sizes
            value = row[objective]
        for k, v in cons.items():
            trial.set_constraint(k, v)
        row["feasible"] = all(v <= 0 for v in cons.values())
        log.add(row)
        if progress is not None:
            progress(len(log.rows), trials, time.perf_counter() - t0, row)
        return value

    complete = True
    try:
        study.optimize(evaluate, n_trials=trials, catch=())
    except KeyboardInterrupt:  # wherever it lands: in a run, in the sampler, while writing
        complete = False
    table = log.finish(complete)
    table.attrs.update(complete=complete, max_halt=max_halt, fiscal_budget=fiscal_budget,
                       objective=objective, firms_n=int(base.firms.n))
    return table


def best(table: pd.DataFrame) -> pd.Series | None:
    """The feasible trial with the largest objective (the first of equals), or None."""
    ok = table[table.feasible]
    if ok.empty:
        return None
    return ok.loc[ok[table.attrs["objective"]].idxmax()]


def pareto(table: pd.DataFrame, risk: str = HALT) -> pd.DataFrame:
    """The frontier of credit against a risk: `risk` is P(halt) (HALT) or "fiscal_cost".
    Among the trials that ran and met the other constraint (the fiscal budget for P(halt),
    the P(halt) limit for fiscal cost), those no other such trial beats on both (objective
    at least as high and risk at least as low, one strictly). Sorted by risk."""
    obj = table.attrs["objective"]
    ran = table[table.ran]
    if risk == HALT:
        ran = ran[ran.fiscal_cost <= table.attrs["fiscal_budget"]]
    elif risk == "fiscal_cost":
        ran = ran[ran[HALT] <= table.attrs["max_halt"]]
    else:
        raise ValueError(f"risk = {risk!r}: must be {HALT} or fiscal_cost")
    y, h = ran[obj].to_numpy(), ran[risk].to_numpy()
    # a boolean array, not a list: an empty list would select no columns instead of no rows
    keep = np.array([not np.any((y >= y[i]) & (h <= h[i]) & ((y > y[i]) | (h < h[i])))
                     for i in range(len(ran))], bool)
    front = ran[keep].sort_values([risk, obj], ascending=[True, False])
    # designs tied on both numbers are one point of the frontier: keep the first tried
    return front.drop_duplicates([risk, obj])


def recheck(design: Mapping[str, Any], scenario: str = "4321", max_halt: float = 0.10,
            fiscal_budget: float = 1.5e8, objective: str = "new_lending_scheme",
            shock: str | None = None, province: str | None = None,
            overrides: Mapping | None = None, seed: int = 1, replications: int = 40,
            jobs: int | None = 1) -> dict:
    """Run one design (a row of `search`) on fresh seeds: mc.seed + 1 + seed, which the search
    never used. Returns P(halt) with its Wilson 95% interval, the fiscal cost and the objective
    with 95% intervals, and whether each constraint holds on the point estimate and on the
    interval's upper end."""
    base = base_config(scenario, {**DEFAULT_OVERRIDES, **dict(overrides or {})}, shock, province)
    names = tranche_names(base, scenario)
    fresh = {"mc.seed": base.mc.seed + 1 + seed, "mc.replications": replications}
    split = {p: float(design[f"{p}_share"]) for p in PAYERS}
    cfg = with_values(base, {**design_values(split, design["fee"], design["pool_size"], names),
                             **fresh})
    reps = run_point(cfg, jobs).replications
    n = len(reps)
    k = float(reps[HALT].sum())
    lo, hi = wilson_interval(k, n)
    fc, fse = reps.fiscal_cost.mean(), reps.fiscal_cost.std(ddof=1) / math.sqrt(n)
    ob, ose = reps[objective].mean(), reps[objective].std(ddof=1) / math.sqrt(n)
    return {"mc.seed": fresh["mc.seed"], "replications": n, "P(halt)": k / n, "P(halt) low": lo,
            "P(halt) high": hi, "halt limit": max_halt, "halt holds": k / n <= max_halt,
            "halt holds at upper end": hi <= max_halt, "fiscal_cost": fc,
            "fiscal_cost high": fc + 1.96 * fse, "fiscal budget": fiscal_budget,
            "fiscal holds": fc <= fiscal_budget, objective: ob, f"{objective} low": ob - 1.96 * ose,
            f"{objective} high": ob + 1.96 * ose}


# ----------------------------------------------------------------------------- plot and text
def plot_frontier(table: pd.DataFrame, path: str | Path | None = None):
    """Every trial that ran: the objective against P(halt) (left) and against fiscal cost
    (right); feasible trials filled, each frontier (`pareto`) as a step line, the limits as
    dotted lines."""
    import matplotlib.pyplot as plt

    obj = table.attrs["objective"]
    scale, unit = (1e-9, "bn yuan") if obj == "new_lending_scheme" else (1.0, "firms")
    ran = table[table.ran]
    ok, no = ran[ran.feasible], ran[~ran.feasible]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, risk, xs, limit, label in (
            (axes[0], HALT, 100, table.attrs["max_halt"], "P(any guarantor halted), %"),
            (axes[1], "fiscal_cost", 1e-9, table.attrs["fiscal_budget"], "fiscal cost, bn yuan")):
        front = pareto(table, risk)
        ax.scatter(no[risk] * xs, no[obj] * scale, facecolors="none", edgecolors="grey", label="infeasible")
        ax.scatter(ok[risk] * xs, ok[obj] * scale, color="tab:blue", label="feasible")
        ax.step(front[risk] * xs, front[obj] * scale, where="post", color="tab:red", label="frontier")
        ax.axvline(limit * xs, color="tab:red", ls=":", label="limit")
        ax.set_xlabel(label)
    axes[0].set_ylabel(f"{obj} ({unit})")
    axes[0].set_title("within the fiscal budget", fontsize=9)
    axes[1].set_title("within the P(halt) limit", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("Scheme designs tried: credit against risk")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def design_markdown(rows: pd.DataFrame, objective: str) -> str:
    """Designs as a Markdown table (shares in %, fee in %, pool size and money in bn)."""
    scale, unit = (1e-9, "bn") if objective == "new_lending_scheme" else (1.0, "firms")
    head = ["trial", "guarantor / re-guarantor / bank / funds %", "fee %", "pool bn",
            f"{objective} ({unit})", "P(halt) %", "fiscal cost bn", "feasible"]
    body = []
    for _, r in rows.iterrows():
        split = " / ".join(f"{100 * r[f'{p}_share']:.0f}" for p in PAYERS)
        body.append([
            str(int(r.trial)), split, f"{100 * r.fee:.1f}", f"{r.pool_size / 1e9:.1f}",
            f"{r[objective] * scale:,.1f} ± {r[objective + '_se'] * scale:,.1f}",
            f"{100 * r[HALT]:.0f} ± {100 * r[HALT + '_se']:.0f}",
            f"{r.fiscal_cost / 1e9:.3f} ± {r.fiscal_cost_se / 1e9:.3f}",
            "yes" if r.feasible else "no"])
    return markdown_table(head, body)


# ----------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    import logging

    logging.getLogger("MESA").setLevel(logging.WARNING)
    ap = argparse.ArgumentParser(prog="python -m sim.design", description=__doc__.split("\n\n")[0],
                                 epilog="Any key=value argument without a leading dash is a config "
                                        f"override (defaults {DEFAULT_OVERRIDES}).")
    ap.add_argument("--scenario", default="4321", help="a scheme with guarantor, re-guarantor, bank "
                                                       "and pool tranches")
    ap.add_argument("--shock", default=None, help="a shock file (conf/shock/), e.g. flood")
    ap.add_argument("--province", default=None)
    ap.add_argument("--objective", default="new_lending_scheme", choices=OBJECTIVES)
    ap.add_argument("--trials", type=positive_int("--trials"), default=40)
    ap.add_argument("--max-halt", type=float, default=0.10,
                    help="limit on P(any guarantor halted), a probability")
    ap.add_argument("--fiscal-budget", type=float, default=1.5e8, help="limit on mean fiscal_cost over the horizon, yuan")
    ap.add_argument("--space", nargs="+", default=[], metavar="NAME=LO:HI",
                    help="change the box: bank, reguarantor, pool, guarantor (shares), fee, "
                         "pool_size (yuan), e.g. bank=0.1:0.5 fee=0.005:0.02")
    ap.add_argument("--seed", type=int, default=1, help="the sampler's seed (not mc.seed)")
    ap.add_argument("--recheck-replications", type=int, default=40,
                    help="replications of the fresh-seed check of the best design (0: none)")
    ap.add_argument("--jobs", type=positive_int("--jobs"), default=1,
                    help="worker processes for each trial's replications")
    ap.add_argument("--out", default="outputs/design", help="folder for the tables and the plot")
    args = list(sys.argv[1:] if argv is None else argv)
    # config overrides are key=value words; name=low:high words are --space ranges
    overrides = [x for x in args if "=" in x and not x.startswith("-")
                 and ":" not in x.split("=", 1)[1]]
    a = ap.parse_args([x for x in args if x not in overrides])
    over = {k: cli_value(v) for k, v in (o.split("=", 1) for o in overrides)}
    out = Path(a.out)

    def show(done: int, total: int, secs: float, row: dict) -> None:
        tag = "feasible" if row["feasible"] else "infeasible"
        print(f"trial {done}/{total}  {secs:.0f}s  {tag}  {a.objective}={row[a.objective]:.4g}",
              file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        if a.recheck_replications < 0:
            raise ConfigError(f"--recheck-replications {a.recheck_replications}: must be >= 0")
        space = space_from(a.space)
        table = search(a.scenario, a.trials, a.max_halt, a.fiscal_budget, a.objective, a.shock,
                       a.province, over, a.seed, a.jobs, space, progress=show,
                       out_csv=out / "trials.csv")
    except ConfigError as e:
        print(f"sim.design: error: {e}", file=sys.stderr)
        return 2
    if not table.attrs["complete"]:
        print(f"sim.design: interrupted: {len(table)} finished trials are in {out / 'trials.csv'}",
              file=sys.stderr)
        if table.empty:
            return 130
    front = pareto(table) if table.ran.any() else table.iloc[:0]
    front_fiscal = pareto(table, "fiscal_cost") if table.ran.any() else table.iloc[:0]
    top = best(table)
    secs = time.perf_counter() - t0
    cmd = "python -m sim.design " + " ".join(args)
    run_over = {**DEFAULT_OVERRIDES, **over}
    parts = [f"`{cmd}`", "",
             f"{len(table)} trials ({int(table.ran.sum())} ran) of {table.attrs['firms_n']:,} firms, "
             f"{a.scenario}, shock "
             f"{a.shock or 'none'}, overrides {run_over}, sampler seed {a.seed}, "
             f"limit P(halt) <= {a.max_halt:g}, fiscal budget {a.fiscal_budget / 1e9:g} bn, "
             f"{secs:.0f} s" + ("" if table.attrs["complete"] else
                                  f"; INTERRUPTED after {len(table)} of {a.trials} trials"),
             "", f"Space: {space}", "",
             "Frontier of credit against P(halt), within the fiscal budget:", "",
             design_markdown(front, a.objective), "",
             "Frontier of credit against fiscal cost, within the P(halt) limit:", "",
             design_markdown(front_fiscal, a.objective), ""]
    if top is None:
        parts += ["No trial met every constraint.", ""]
    else:
        parts += ["Best feasible design on the search's seeds:", "",
                  design_markdown(top.to_frame().T, a.objective), ""]
        if a.recheck_replications and table.attrs["complete"]:
            chk = recheck(top, a.scenario, a.max_halt, a.fiscal_budget, a.objective, a.shock,
                          a.province, over, 0, a.recheck_replications, a.jobs)
            pd.Series(chk).to_csv(out / "recheck.csv")
            parts += [f"On fresh seeds (mc.seed {chk['mc.seed']}, {chk['replications']} "
                      f"replications): P(halt) {100 * chk['P(halt)']:.1f}% (95% "
                      f"{100 * chk['P(halt) low']:.1f}-{100 * chk['P(halt) high']:.1f}%), limit "
                      f"{100 * a.max_halt:g}%: {'holds' if chk['halt holds'] else 'DOES NOT hold'} "
                      f"on the estimate, {'holds' if chk['halt holds at upper end'] else 'not shown'}"
                      f" at the interval's upper end; fiscal cost {chk['fiscal_cost'] / 1e9:.3f} bn "
                      f"(upper 95% {chk['fiscal_cost high'] / 1e9:.3f}); {a.objective} "
                      f"{chk[a.objective] * (1e-9 if a.objective == 'new_lending_scheme' else 1):,.1f}.", ""]
    table.to_csv(out / "trials.csv", index=False)
    front.to_csv(out / "frontier_halt.csv", index=False)
    front_fiscal.to_csv(out / "frontier_fiscal.csv", index=False)
    if table.ran.any():
        plot_frontier(table, out / "frontier.png")
    text = "\n".join(parts)
    (out / "design.md").write_text(text, encoding="utf-8")
    print(text)
    return 0 if table.attrs["complete"] else 130


if __name__ == "__main__":
    sys.exit(main())
