"""Global sensitivity of the headline outputs to the uncertain inputs (SALib).

    python -m sim.sensitivity morris --out outputs/sensitivity            # screen every input
    python -m sim.sensitivity sobol --inputs pd_scale bank.max_expected_loss \\
        guarantor.loss_tolerance --n 32 --out outputs/sensitivity         # indices for a few
    sim.sensitivity.morris(scenario="4321", trajectories=8)               # -> (ranking, points)

Two steps, as usual for a model that costs a Monte Carlo run per point:

1. **Morris screening** (elementary effects): `trajectories` one-at-a-time paths through
   the input box, (k + 1) points each for k inputs. mu* (the mean absolute effect of moving
   an input across its range, in the output's unit) ranks the inputs; sigma (the spread of
   the effects) says whether an input's effect depends on the others (non-linear or
   interacting). Cheap and coarse: enough to drop the inputs that do not matter.
2. **Sobol indices** on the few that do (Saltelli sampling, N (k + 2) points): S1, the share
   of an output's variance due to an input alone, and ST, including its interactions.

Every point is run through the project's runner (`sim.points.run_point`, workers per --jobs)
on the same seeds (`mc.seed`) and the same firms (firms.n pinned to a number): common random
numbers, so a difference between points is the inputs' doing plus the Monte Carlo noise of a
mean over `replications`, not different draws. That noise still enters the indices: an
input whose mu* is within its bootstrap interval of 0 is not distinguishable from inert.

The inputs (`INPUTS`) are the config keys docs/levers.md marks "assumption" (or calibrated
without a measurement), each with a range and why; `pd_scale` multiplies every prefecture's
PD. Every bound is checked by the config validator before anything runs.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import ConfigError
from .config import load_config
from .report import markdown_table
from .points import DEFAULT_OVERRIDES, RowLog, base_config, cli_value, positive_int, run_point, with_values


@dataclass(frozen=True)
class Input:
    """An uncertain input: a dotted config key (or a name in sim.points.DERIVED), its range
    and why that range."""

    key: str
    low: float
    high: float
    why: str


# The default input box. Ranges bracket the default by what the sources leave open; none is
# a measured distribution, so the box is uniform (what Morris and Sobol assume).
INPUTS = (
    Input("bank.max_expected_loss", 0.006, 0.024,
          "default 1.2% is an assumption; half to double it"),
    Input("bank.moral_hazard", 0.0, 4.0,
          "direction sourced (Saito & Tsuruta 2014), size assumed: from none to twice the default 2"),
    Input("bank.appetite_dispersion", 0.1, 0.6, "default 0.3 assumed; a third to double"),
    Input("guarantor.loss_tolerance", 0.005, 0.04,
          "default 2%/yr assumed ('break-even, small profit'); a quarter to double"),
    Input("guarantor.capital_dispersion", 0.2, 0.8,
          "sources give only the mean capital; 0.5 spans Hunan's 0.09-0.86 bn, 0.2-0.8 brackets it"),
    Input("guarantor.noise", 0.8, 2.4,
          "default 1.4 (AUC 0.81) assumed; from nearly the platform's data (0.55, AUC 0.86) to "
          "a credit file only (2.45, AUC 0.74)"),
    Input("pool.patience", 2.0, 12.0,
          "default 6 months assumed; from impatient claimants to the 11-month recover-first wait"),
    Input("pool.city_reliability", 0.5, 1.0,
          "default 0.8 assumed from H's 'some counties paid nothing two years running'"),
    Input("copula.rho_macro", 0.01, 0.08,
          "macro loading 0.04 is calibrated to the Basel range, not measured; a quarter to double"),
    Input("pd_scale", 0.7, 1.5,
          "every prefecture's PD x this: region PDs are the reported NPLs x 1.5, the 1.5 an "
          "assumption (banks lend to the safer part); 0.7-1.5 takes that factor from ~1 to ~2.25"),
    Input("firms.apply_rate", 0.05, 0.15, "default 10%/month assumed; half to one and a half"),
)

# The headline outputs (sim/metrics.py SUMMARY_DOC), each the mean over replications.
OUTPUTS = ("new_lending_scheme", "claim_rate", "any_guarantor_suspended", "fiscal_cost")
OUTPUT_UNITS = {"new_lending_scheme": ("bn yuan", 1e-9), "claim_rate": ("pp", 100.0),
                "any_guarantor_suspended": ("pp", 100.0), "fiscal_cost": ("bn yuan", 1e-9)}


Progress = Callable[[int, int, float], None]  # (points done, points in all, seconds so far)


def inputs_named(names: Iterable[str] | None = None) -> list[Input]:
    """Inputs by name from INPUTS; 'key=lo:hi' gives a range (for any config key).
    ConfigError (one line) for an unknown name without a range or an unreadable range."""
    if names is None:
        return list(INPUTS)
    known = {i.key: i for i in INPUTS}
    out = []
    for n in names:
        if "=" in n:
            key, rng = n.split("=", 1)
            try:
                lo, hi = (float(x) for x in rng.split(":"))
            except ValueError:
                raise ConfigError(f"--inputs {n!r}: a range is key=low:high, e.g. "
                                  f"bank.moral_hazard=0:4") from None
            out.append(Input(key, lo, hi, "given on the command line"))
        elif n in known:
            out.append(known[n])
        else:
            raise ConfigError(f"--inputs {n!r}: not a known input (known: {', '.join(known)}); "
                              f"for another key give a range, {n}=low:high")
    keys = [i.key for i in out]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--inputs {keys}: an input is named twice")
    return out


def problem(inputs: Sequence[Input], scenario: str = "4321", overrides: Mapping | None = None,
            shock: str | None = None, province: str | None = None) -> dict:
    """The SALib problem for `inputs`, after checking each bound with the config validator
    (each bound alone, the other inputs at their defaults): ConfigError naming the first key
    and value that are not allowed, or a range that is empty."""
    if len(inputs) < 2:
        raise ConfigError(f"inputs = {[i.key for i in inputs]}: give at least 2 inputs")
    base = load_config(scenario, overrides, shock=shock, province=province)
    for i in inputs:
        if not (math.isfinite(i.low) and math.isfinite(i.high) and i.low < i.high):
            raise ConfigError(f"{i.key} range = [{i.low:g}, {i.high:g}]: low must be below high")
        for v in (i.low, i.high):
            with_values(base, {i.key: float(v)})
    return {"num_vars": len(inputs), "names": [i.key for i in inputs],
            "bounds": [[i.low, i.high] for i in inputs]}


def evaluate(points: pd.DataFrame, scenario: str = "4321", overrides: Mapping | None = None,
             shock: str | None = None, province: str | None = None, jobs: int | None = 1,
             outputs: Sequence[str] = OUTPUTS, progress: Progress | None = None,
             out_csv: str | Path | None = None) -> pd.DataFrame:
    """Run every row of `points` (columns: input names) and return it with the outputs' means
    over replications and `n` (replications). Every point uses the same seed and firms.

    out_csv: each finished point is appended there at once, so an interrupted run leaves
    the finished points readable. After Ctrl-C the result holds the finished points only,
    with attrs["complete"] False (a point cut short is dropped: its replications would not
    be the same set as the others')."""
    base = base_config(scenario, overrides, shock, province)
    log = RowLog(out_csv)
    t0 = time.perf_counter()
    complete = True
    try:
        for i, values in enumerate(points.to_dict("records")):
            res = run_point(with_values(base, values), jobs)
            if not res.complete:
                complete = False
                break
            reps = res.replications
            row = {"point": i, **values, **{o: float(reps[o].mean()) for o in outputs},
                   **{f"{o}_sd": float(reps[o].std(ddof=1)) for o in outputs}, "n": len(reps)}
            log.add(row)
            if progress is not None:
                progress(i + 1, len(points), time.perf_counter() - t0)
    except KeyboardInterrupt:  # wherever it lands: in a run, between runs, while writing
        complete = False
    table = log.finish(complete)
    table.attrs.update(complete=complete, firms_n=int(base.firms.n))
    return table


def morris_points(prob: dict, trajectories: int = 8, levels: int = 4, seed: int = 1) -> pd.DataFrame:
    """Morris trajectories ((k + 1) x trajectories points), as a DataFrame of input values."""
    from SALib.sample import morris as sample

    x = sample.sample(prob, trajectories, num_levels=levels, seed=seed)
    return pd.DataFrame(x, columns=prob["names"])


def morris_indices(prob: dict, points: pd.DataFrame, outputs: Sequence[str] = OUTPUTS,
                   levels: int = 4, seed: int = 1) -> pd.DataFrame:
    """Morris mu*, its 95% bootstrap interval half-width, mu and sigma for each (output, input).
    An elementary effect is SALib's: the change in the output (in its unit, OUTPUT_UNITS) over
    a step of levels / (2 (levels - 1)) of the input's range (2/3 of it at 4 levels), divided
    by that step as a fraction of the range: about the change across the whole range."""
    from SALib.analyze import morris as analyze

    x = points[prob["names"]].to_numpy(dtype=float)
    rows = []
    for o in outputs:
        unit, scale = OUTPUT_UNITS.get(o, ("", 1.0))
        y = points[o].to_numpy(dtype=float) * scale
        si = analyze.analyze(prob, x, y, num_levels=levels, seed=seed, num_resamples=1000)
        for j, name in enumerate(prob["names"]):
            rows.append({"output": o, "unit": unit, "input": name, "mu_star": si["mu_star"][j],
                         "mu_star_conf": si["mu_star_conf"][j], "mu": si["mu"][j],
                         "sigma": si["sigma"][j]})
    return pd.DataFrame(rows)


def ranking(indices: pd.DataFrame) -> pd.DataFrame:
    """One row per input: its rank and mu* / (largest mu* of that output) for each output, and
    the overall score (the mean of those shares), best first. `resolved` counts the outputs
    whose mu* is above its bootstrap interval (mu* > mu*_conf): below, the input's effect is
    not told apart from the Monte Carlo noise."""
    t = indices.copy()
    top = t.groupby("output").mu_star.transform("max")
    t["share"] = np.where(top > 0, t.mu_star / top.where(top > 0, 1.0), 0.0)
    t["rank"] = t.groupby("output").mu_star.rank(ascending=False, method="min").astype(int)
    t["resolved"] = t.mu_star > t.mu_star_conf
    wide = t.pivot(index="input", columns="output", values="share")
    ranks = t.pivot(index="input", columns="output", values="rank").add_prefix("rank ")
    out = pd.concat([wide.add_prefix("share "), ranks], axis=1)
    out["score"] = wide.mean(axis=1)
    out["resolved"] = t.groupby("input").resolved.sum()
    out = out.sort_values("score", ascending=False)
    out.insert(0, "overall rank", range(1, len(out) + 1))
    return out


def morris(scenario: str = "4321", inputs: Sequence[Input] | None = None,
           overrides: Mapping | None = None, shock: str | None = None,
           province: str | None = None, trajectories: int = 8, levels: int = 4, seed: int = 1,
           jobs: int | None = 1, progress: Progress | None = None,
           out_csv: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Morris screening: (ranking, indices, points). Overrides default to DEFAULT_OVERRIDES.
    After Ctrl-C ranking and indices are empty and points.attrs["complete"] is False."""
    inputs = list(INPUTS if inputs is None else inputs)
    over = {**DEFAULT_OVERRIDES, **dict(overrides or {})}
    prob = problem(inputs, scenario, over, shock, province)
    pts = morris_points(prob, trajectories, levels, seed)
    done = evaluate(pts, scenario, over, shock, province, jobs, progress=progress, out_csv=out_csv)
    if not done.attrs["complete"]:
        return pd.DataFrame(), pd.DataFrame(), done
    idx = morris_indices(prob, done, levels=levels, seed=seed)
    return ranking(idx), idx, done


def sobol(scenario: str = "4321", inputs: Sequence[Input] | None = None,
          overrides: Mapping | None = None, shock: str | None = None,
          province: str | None = None, n: int = 32, seed: int = 1, jobs: int | None = 1,
          progress: Progress | None = None,
          out_csv: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First-order and total Sobol indices (Saltelli sampling, n (k + 2) points, n a power of 2):
    (indices, points); indices has S1, S1_conf, ST, ST_conf per (output, input), the _conf
    columns being 95% bootstrap half-widths. Empty after Ctrl-C."""
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    if n < 2 or n & (n - 1):
        raise ConfigError(f"--n {n}: must be a power of 2 (Saltelli sampling), e.g. 16, 32, 64")
    inputs = list(inputs or [])
    over = {**DEFAULT_OVERRIDES, **dict(overrides or {})}
    prob = problem(inputs, scenario, over, shock, province)
    pts = pd.DataFrame(sample.sample(prob, n, calc_second_order=False, seed=seed),
                       columns=prob["names"])
    done = evaluate(pts, scenario, over, shock, province, jobs, progress=progress, out_csv=out_csv)
    if not done.attrs["complete"]:
        return pd.DataFrame(), done
    rows = []
    for o in OUTPUTS:
        y = done[o].to_numpy(dtype=float)
        if np.ptp(y) == 0:  # the output does not move in this box: no variance to share out
            si = {k: np.zeros(len(inputs)) for k in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            si = analyze.analyze(prob, y, calc_second_order=False, seed=seed, num_resamples=1000)
        for j, name in enumerate(prob["names"]):
            rows.append({"output": o, "input": name, **{k: float(si[k][j])
                                                        for k in ("S1", "S1_conf", "ST", "ST_conf")}})
    return pd.DataFrame(rows), done


# ----------------------------------------------------------------------------- plots and text
def plot_morris(indices: pd.DataFrame, path: str | Path | None = None):
    """One panel per output: mu* per input with its 95% interval. Every panel lists the inputs
    in one order, the overall ranking's (best on top), so a row is one input across panels."""
    import matplotlib.pyplot as plt

    outs = list(dict.fromkeys(indices.output))
    order = list(ranking(indices).index[::-1])  # barh draws from the bottom up
    fig, axes = plt.subplots(1, len(outs), figsize=(3.6 * len(outs), 0.35 * len(order) + 1.5),
                             squeeze=False, sharey=True)
    for ax, o in zip(axes[0], outs):
        t = indices[indices.output == o].set_index("input").loc[order]
        ax.barh(range(len(order)), t.mu_star, xerr=t.mu_star_conf, color="tab:blue", alpha=0.8)
        ax.set_title(o, fontsize=9)
        ax.set_xlabel(f"Morris mu* ({t.unit.iloc[0]})", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_yticks(range(len(order)), order)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_sobol(indices: pd.DataFrame, path: str | Path | None = None):
    """One panel per output: S1 and ST per input with 95% intervals."""
    import matplotlib.pyplot as plt

    outs = list(dict.fromkeys(indices.output))
    fig, axes = plt.subplots(1, len(outs), figsize=(3.4 * len(outs), 3.2), squeeze=False, sharey=True)
    for ax, o in zip(axes[0], outs):
        t = indices[indices.output == o]
        x = np.arange(len(t))
        ax.bar(x - 0.2, t.S1, 0.4, yerr=t.S1_conf, label="S1 (alone)")
        ax.bar(x + 0.2, t.ST, 0.4, yerr=t.ST_conf, label="ST (with interactions)")
        ax.set_xticks(x, t.input, rotation=60, ha="right", fontsize=7)
        ax.set_title(o, fontsize=9)
        ax.axhline(0, color="grey", lw=0.5)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def ranking_markdown(rank: pd.DataFrame, indices: pd.DataFrame) -> str:
    """The ranking as a Markdown table: overall rank, then mu* ± interval per output."""
    outs = list(dict.fromkeys(indices.output))
    units = dict(zip(indices.output, indices.unit))
    head = ["rank", "input", *[f"{o} mu* ({units[o]})" for o in outs], "score", "resolved"]
    body = []
    by = indices.set_index(["input", "output"])
    for name, r in rank.iterrows():
        cells = [str(int(r["overall rank"])), f"`{name}`"]
        for o in outs:
            m, c = by.loc[(name, o), "mu_star"], by.loc[(name, o), "mu_star_conf"]
            cells.append(f"{m:.3g} ± {c:.2g}")
        cells += [f"{r['score']:.2f}", f"{int(r['resolved'])}/{len(outs)}"]
        body.append(cells)
    return markdown_table(head, body)


def sobol_markdown(indices: pd.DataFrame) -> str:
    """Sobol S1 and ST ± interval, one row per input, one column pair per output."""
    outs = list(dict.fromkeys(indices.output))
    head = ["input", *[f"{o} S1 / ST" for o in outs]]
    body = []
    by = indices.set_index(["input", "output"])
    for name in dict.fromkeys(indices.input):
        cells = [f"`{name}`"]
        for o in outs:
            r = by.loc[(name, o)]
            cells.append(f"{r.S1:.2f} ± {r.S1_conf:.2f} / {r.ST:.2f} ± {r.ST_conf:.2f}")
        body.append(cells)
    return markdown_table(head, body)


# ----------------------------------------------------------------------------- command line
def _print_progress(done: int, total: int, seconds: float) -> None:
    eta = seconds / done * (total - done)
    print(f"point {done}/{total}  {seconds:.0f}s elapsed, ~{eta:.0f}s left", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.getLogger("MESA").setLevel(logging.WARNING)
    ap = argparse.ArgumentParser(prog="python -m sim.sensitivity", description=__doc__.split("\n\n")[0],
                                 epilog="Any key=value argument without a leading dash is a config "
                                        "override, e.g. horizon=36 mc.replications=20 "
                                        f"(defaults {DEFAULT_OVERRIDES}).")
    ap.add_argument("method", choices=["morris", "sobol"])
    ap.add_argument("--scenario", default="4321")
    ap.add_argument("--shock", default=None, help="a shock file (conf/shock/), e.g. flood")
    ap.add_argument("--province", default=None)
    ap.add_argument("--inputs", nargs="+", default=None,
                    help="input names (default for morris: all of INPUTS; sobol needs them); "
                         "key=low:high for a range of your own")
    ap.add_argument("--trajectories", type=positive_int("--trajectories"), default=8,
                    help="Morris trajectories r ((k+1) r points)")
    ap.add_argument("--n", type=positive_int("--n"), default=32, help="Sobol base sample (power of 2)")
    ap.add_argument("--seed", type=int, default=1, help="sampling seed (not mc.seed)")
    ap.add_argument("--jobs", type=positive_int("--jobs"), default=1,
                    help="worker processes for each point's replications")
    ap.add_argument("--out", default="outputs/sensitivity", help="folder for the tables and the plot")
    args = list(sys.argv[1:] if argv is None else argv)
    # config overrides are key=value words that are not values of --inputs (those start with a
    # known input's key, or are ranges key=lo:hi)
    overrides = [x for x in args if "=" in x and not x.startswith("-") and ":" not in x.split("=", 1)[1]]
    a = ap.parse_args([x for x in args if x not in overrides])
    over = {k: cli_value(v) for k, v in (o.split("=", 1) for o in overrides)}
    out = Path(a.out)
    try:
        inputs = inputs_named(a.inputs)
        if a.method == "sobol" and a.inputs is None:
            raise ConfigError("--inputs: sobol needs the few inputs Morris found to matter, e.g. "
                              "--inputs pd_scale bank.max_expected_loss")
        t0 = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        if a.method == "morris":
            rank, idx, pts = morris(a.scenario, inputs, over, a.shock, a.province, a.trajectories,
                                    seed=a.seed, jobs=a.jobs, progress=_print_progress,
                                    out_csv=out / "morris_points.csv")
        else:
            idx, pts = sobol(a.scenario, inputs, over, a.shock, a.province, a.n, a.seed, a.jobs,
                             progress=_print_progress, out_csv=out / "sobol_points.csv")
    except ConfigError as e:
        print(f"sim.sensitivity: error: {e}", file=sys.stderr)
        return 2
    name = a.method
    if not pts.attrs.get("complete", True):
        print(f"sim.sensitivity: interrupted: {len(pts)} finished points are in "
              f"{out / (name + '_points.csv')}; no indices (they need every point)", file=sys.stderr)
        return 130
    secs = time.perf_counter() - t0
    cmd = "python -m sim.sensitivity " + " ".join(args)
    run_over = {**DEFAULT_OVERRIDES, **over}
    note = (f"{len(pts)} points x {int(pts.n.iloc[0])} replications of {pts.attrs['firms_n']:,} "
            f"firms, {a.scenario}, "
            f"shock {a.shock or 'none'}, overrides {run_over}, {secs:.0f} s")
    if name == "morris":
        idx.to_csv(out / "morris_indices.csv", index=False)
        rank.to_csv(out / "morris_ranking.csv")
        plot_morris(idx, out / "morris.png")
        md = ranking_markdown(rank, idx)
    else:
        idx.to_csv(out / "sobol_indices.csv", index=False)
        plot_sobol(idx, out / "sobol.png")
        md = sobol_markdown(idx)
    text = f"`{cmd}`\n\n{note}\n\n{md}\n"
    (out / f"{name}.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out}/{name}.md, {name}.png and the csv files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
