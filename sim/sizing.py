"""Fund sizing: the smallest fund that keeps a risk at or below a target.

    python -m sim.sizing                                     # 4321, 1-in-50 flood, total funds
    python -m sim.sizing --scenario 4321 --lever funds --target 0.05 \\
        --risk funds_queue_over_12m --return-period 50 --replications 200 --out outputs/sizing
    python -m sim.sizing --lever pool.annual_amount --risk pool_depleted --shock none
    s = sim.size_fund("4321", lever="funds", target=0.05)            # a Sizing (sim.sizing)
    s.answer, s.interval, s.curve, s.plot()

"What is the smallest pool (or guarantor capital, or annual appropriation) that keeps
P(a claim queue over 12 months) at or below 5% under this scheme and shock?"

The lever is any numeric config key (`pool.size`, `pool.annual_amount`,
`guarantor.capital_mean`, ...) or `funds`: the initial size of every compensation fund together
(the provincial pool and the prefecture funds, `pool.size + pool.city_size`, scaled in their
configured proportion). The risk is any 0/1 summary metric (docs/metrics.md), by default
`funds_queue_over_12m`: some fund's (provincial or prefecture) oldest queued claim waited more
than 12 months.

Method. Every size is run on the same replications (same seed: common random numbers), so
replication r meets the same firms and the same flood at every size and the estimated
probability changes with the size only, not with the draws; a bisection on that estimate
finds the smallest size meeting the target to within `tol` (relative). The answer is
therefore the same on every rerun. Its uncertainty: if replication r needs a size c_r, the
answer estimates the (1 − target) quantile of the c_r, and the distribution-free interval of a
quantile comes from the binomial: the sizes at which the estimated probability crosses
target ± 1.645 sqrt(target (1 − target) / n) (90%), each found by a bisection of its own.
`check()` runs the answer on fresh seeds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .config import ConfigError, SimConfig, load_config
from .metrics import SUMMARY_DOC, summary_unit, wilson_interval
from .points import with_values
from .run.runner import run_summaries

FUNDS_LEVER = "funds"


class SizingError(ValueError):
    """A sizing question the model cannot answer as asked (one line, for the command)."""


def lever_value(cfg: SimConfig, lever: str) -> float:
    """The lever's value in cfg (yuan for a fund)."""
    if lever == FUNDS_LEVER:
        return cfg.pool.size + cfg.pool.city_size
    obj = cfg
    for part in lever.split("."):
        if not is_dataclass(obj) or part not in {f.name for f in fields(obj)}:
            raise SizingError(f"--lever {lever}: not a config key (docs/levers.md lists them), "
                              f"nor {FUNDS_LEVER!r}")
        obj = getattr(obj, part)
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise SizingError(f"--lever {lever}: {obj!r} is not a number; a size must be one")
    if isinstance(obj, int):  # a bisection needs sizes in between (months, counts are whole)
        raise SizingError(f"--lever {lever}: a whole-number key; sizing needs a continuous one "
                          "(an amount of money)")
    return float(obj)


def lever_overrides(cfg: SimConfig, lever: str, size: float) -> dict:
    """The config overrides that set the lever to `size`."""
    if lever == FUNDS_LEVER:
        total = cfg.pool.size + cfg.pool.city_size
        share = cfg.pool.size / total if total > 0 else cfg.pool.provincial_share
        return {"pool.size": size * share, "pool.city_size": size * (1 - share)}
    return {lever: size}


def search(p_at, target: float, n: int, low: float, high: float, tol: float = 0.02,
           z: float = 1.645, expand: int = 8) -> dict:
    """The smallest size with p_at(size) <= target, and its interval; pure (no model).

    p_at(size) -> the probability estimated on the same n replications at every size.
    Returns {"answer", "bracket": (fails, meets), "interval": (lower, upper), "p": {size: p}}.

    The high end doubles until the target is met (at most `expand` times). A bisection then
    narrows the bracket to `tol` (relative). Monotone envelope: a size counts as meeting a
    level only if every larger size run meets it too.

    Interval. If replication r needs a size c_r (it fails below), the answer estimates the
    (1 - target) quantile of c_r. The distribution-free interval of a quantile is inverted
    from the binomial: the sizes at which the estimate crosses target ± z sqrt(target (1 -
    target) / n) (z = 1.645: 90%), each found by its own bisection.
    """
    known: dict[float, float] = {}

    def p(size: float) -> float:
        if size not in known:
            known[size] = float(p_at(size))
        return known[size]

    hi = float(high)
    for _ in range(expand):
        if p(hi) <= target:
            break
        low, hi = hi, hi * 2  # the target was not met: this size is a lower bound
    else:
        raise SizingError(f"even {hi:,.6g} gives P = {p(hi):.3f} > {target}: the lever cannot "
                          "bring the risk to the target here")
    p(low)
    floor = 1e-4 * hi

    def smallest(level: float) -> tuple[float, float]:
        while True:
            fails = [s for s, v in known.items() if v > level]
            if not fails:
                return math.nan, min(known)
            lo = max(fails)
            meets = [s for s, v in known.items() if s > lo and v <= level]
            if not meets:
                return lo, math.nan  # not met at any size run
            up = min(meets)
            if up - lo <= max(tol * up, floor):
                return lo, up
            p(0.5 * (lo + up))

    bracket = smallest(target)
    margin = z * math.sqrt(target * (1 - target) / n)
    interval = (smallest(target + margin)[1], smallest(max(target - margin, 0.0))[1])
    return {"answer": bracket[1], "bracket": bracket, "interval": interval, "p": dict(known)}


@dataclass
class Sizing:
    """The answer and how it was found."""

    scenario: str
    lever: str
    risk: str
    target: float
    answer: float  # smallest size run that meets the target (NaN if none did)
    interval: tuple[float, float]  # 90% interval of the answer (binomial band, see search)
    bracket: tuple[float, float]  # the bisection's last bracket: (fails, meets)
    curve: pd.DataFrame  # size, p, ci_low, ci_high (Wilson 95%), n, seconds
    config: SimConfig = field(repr=False)  # the configuration at the answer
    hits: pd.DataFrame = field(repr=False)  # rows: sizes; columns: replications; 0/1
    configured: float = math.nan  # the lever's value in the scenario as configured
    config_at: Callable[[float], SimConfig] | None = field(default=None, repr=False)
    # config_at(size): the run's configuration with the lever at `size`

    def plot(self, ax=None):
        """P(risk) against the size, with Wilson 95% bands, the target and the answer."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 4.0))
        c = self.curve
        scale, unit = (1e-9, "bn yuan") if self.lever == FUNDS_LEVER or c["size"].max() > 1e6 else (1, "")
        x = c["size"] * scale
        ax.plot(x, 100 * c.p, "o-", lw=1.4, ms=4, label=f"P({self.risk})")
        ax.fill_between(x, 100 * c.ci_low, 100 * c.ci_high, alpha=0.2, lw=0, label="95% Wilson")
        ax.axhline(100 * self.target, color="k", ls="--", lw=1, label=f"target {100 * self.target:g}%")
        if np.isfinite(self.answer):
            ax.axvline(self.answer * scale, color="C3", lw=1.2,
                       label=f"answer {self.answer * scale:,.3g} {unit}")
            lo, hi = self.interval
            if np.isfinite(lo) and np.isfinite(hi):
                ax.axvspan(lo * scale, hi * scale, color="C3", alpha=0.12, lw=0,
                           label="90% interval")
        if np.isfinite(self.answer) and self.answer > 0:  # the region that decides the answer
            ax.set_xlim(c["size"].min() * scale, min(c["size"].max(), 3 * self.answer) * scale * 1.02)
        ax.set(xlabel=f"{self.lever} ({unit})" if unit else self.lever, ylabel="probability, %",
               title=f"{self.scenario}: P({self.risk}) against {self.lever}")
        ax.legend(fontsize=8, frameon=False)
        ax.figure.tight_layout()
        return ax.figure

    def markdown(self, command: str = "") -> str:
        scale = 1e-9 if self.lever == FUNDS_LEVER or self.curve["size"].max() > 1e6 else 1.0
        unit = " bn yuan" if scale != 1.0 else ""
        c = self.config
        lo, hi = self.interval
        lines = [f"# Sizing `{self.lever}` for {self.scenario}", ""]
        if command:
            lines += [f"Command: `{command}`", ""]
        lines += [
            f"Question: the smallest `{self.lever}` with P(`{self.risk}`) ≤ {self.target:.1%}: "
            f"{SUMMARY_DOC.get(self.risk, self.risk)}.",
            f"Run: {c.mc.replications} replications of {c.firms.n:,} firms over {c.horizon} months "
            f"(seed {c.mc.seed}), shock {c.shock.name}"
            + (f" (1-in-{c.shock.return_period:g} magnitude in month {c.shock.month})"
               if c.shock.kind != "none" and c.shock.return_period else "") + ".",
            "",
            f"**Answer: {self.answer * scale:,.4g}{unit}** (90% interval "
            f"{lo * scale:,.4g}–{hi * scale:,.4g}{unit}; last bisection bracket "
            f"{self.bracket[0] * scale:,.4g}–{self.bracket[1] * scale:,.4g}{unit}; configured value "
            f"{self.configured * scale:,.4g}{unit}).",
            "",
            f"| {self.lever}{unit and ' (' + unit.strip() + ')'} | P(risk) % | 95% Wilson | replications |",
            "|---|---|---|---|",
        ]
        for _, r in self.curve.iterrows():
            lines.append(f"| {r['size'] * scale:,.4g} | {100 * r.p:.1f} | "
                         f"{100 * r.ci_low:.1f}–{100 * r.ci_high:.1f} | {int(r.n)} |")
        return "\n".join(lines) + "\n"


def run_hits(cfg: SimConfig, risk: str, jobs: int | None) -> pd.Series:
    """0/1 per replication of cfg's run (indexed by replication)."""
    res = run_summaries(cfg, jobs)
    if not res.complete:
        raise KeyboardInterrupt
    reps = res.replications.set_index("replication")
    if risk not in reps:
        raise SizingError(f"--risk {risk}: the run has no such summary metric")
    return reps[risk].astype(float)


def size_fund(scenario: str = "4321", lever: str = FUNDS_LEVER, target: float = 0.05,
              risk: str = "funds_queue_over_12m", overrides=None, shock: str | None = "flood",
              return_period: float | None = 50, province: str | None = None,
              replications: int | None = None, low: float = 0.0, high: float | None = None,
              tol: float = 0.02, grid: int = 5, jobs: int | None = None,
              progress: bool = False) -> Sizing:
    """Find the smallest lever value with P(risk) ≤ target (see the module docstring).

    shock: a shock file (conf/shock/), or None/"none"; return_period: the flood's magnitude
    (1-in-T years, striking in shock.month), None for the file's own severity. low/high: the
    search bracket (high defaults to the configured value, doubled until the target is met,
    at most 8 times). tol: stop when the bracket is narrower than tol × its upper end. grid: extra
    evenly spaced sizes in [low, min(high, 3 × answer)] for the curve. Raises SizingError or ConfigError (one
    line each) on a question that cannot be asked.
    """
    if not 0 < target < 1:
        raise SizingError(f"--target {target}: must be a probability strictly between 0 and 1")
    if not tol > 0:
        raise SizingError(f"--tol {tol}: must be > 0")
    over = dict(overrides or {})
    if replications is not None:
        over["mc.replications"] = replications
    shock = None if shock in (None, "none") else shock
    if shock is not None:
        over.setdefault("shock.counterfactual", False)
        if return_period is not None:
            over["shock.return_period"] = return_period
    cfg = load_config(scenario, over, shock=shock, province=province)

    def config_at(size: float) -> SimConfig:
        # set on the loaded config, so every size runs the same firms (firms.n stays the number
        # the configured sizes gave; auto would follow a guarantor-capital lever)
        return with_values(cfg, lever_overrides(cfg, lever, size))
    if risk not in SUMMARY_DOC or summary_unit(risk) != "probability":
        probs = sorted(k for k in SUMMARY_DOC if summary_unit(k) == "probability")
        raise SizingError(f"--risk {risk}: not a 0/1 summary metric; one of {', '.join(probs)}")
    current = lever_value(cfg, lever)
    if low < 0:
        raise SizingError(f"--low {low}: must be >= 0")
    hi = float(high) if high is not None else current
    if not hi > low:
        raise SizingError(f"--high {hi:g}: must be above --low {low:g} (the configured {lever} is "
                          f"{current:g}; give --high)")
    evaluated: dict[float, pd.Series] = {}
    seconds: dict[float, float] = {}

    def p_at(size: float) -> float:
        if size not in evaluated:
            t0 = time.perf_counter()
            evaluated[size] = run_hits(config_at(size), risk, jobs)
            seconds[size] = time.perf_counter() - t0
            if progress:
                print(f"sizing {lever}={size:,.6g}: P({risk}) = {evaluated[size].mean():.3f} "
                      f"({seconds[size]:.0f} s)", file=sys.stderr, flush=True)
        return float(evaluated[size].mean())

    n = cfg.mc.replications
    found = search(p_at, target, n, low, hi, tol)
    answer = found["answer"]
    span = min(max(found["p"]), 3 * answer) if answer > low else max(found["p"])
    for size in np.linspace(low, span, grid) if grid > 1 else ():  # the curve around the answer
        p_at(float(size))
    sizes = np.array(sorted(evaluated))
    hits = pd.DataFrame({s: evaluated[s] for s in sizes}).T.sort_index()
    rows = []
    for s in sizes:
        h = evaluated[s]
        ci = wilson_interval(float(h.sum()), len(h))
        rows.append({"size": s, "p": h.mean(), "ci_low": ci[0], "ci_high": ci[1], "n": len(h),
                     "seconds": seconds[s]})
    return Sizing(cfg.scheme.name, lever, risk, target, answer, found["interval"],
                  found["bracket"], pd.DataFrame(rows), config_at(answer), hits, current,
                  config_at)


def check(sizing: Sizing, seed: int, replications: int | None = None,
          jobs: int | None = None) -> dict:
    """Run the answer on fresh seeds. `holds` when the fresh probability is not above the
    target by more than the sampling noise of the two runs allows: p_fresh <= target + 1.96
    sqrt(target (1 − target) (1/n_fresh + 1/n_search)). Also the fresh 95% Wilson interval."""
    c = sizing.config  # the configuration at the answer
    c = replace(c, mc=replace(c.mc, seed=seed, replications=replications or c.mc.replications))
    h = run_hits(c, sizing.risk, jobs)
    lo, hi = wilson_interval(float(h.sum()), len(h))
    t, n0 = sizing.target, sizing.hits.shape[1]
    allowed = t + 1.96 * math.sqrt(t * (1 - t) * (1 / len(h) + 1 / n0))
    return {"seed": seed, "n": len(h), "p": float(h.mean()), "ci_low": lo, "ci_high": hi,
            "allowed": allowed, "holds": float(h.mean()) <= allowed}


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.getLogger("MESA").setLevel(logging.WARNING)
    ap = argparse.ArgumentParser(prog="python -m sim.sizing", description=__doc__.split("\n\n")[1],
                                 epilog="Any key=value argument is a config override, e.g. "
                                        "pool.annual_amount=0 firms.n=20000.")
    ap.add_argument("--scenario", default="4321")
    ap.add_argument("--lever", default=FUNDS_LEVER,
                    help="a numeric config key, or 'funds' (pool.size + pool.city_size); default funds")
    ap.add_argument("--target", type=float, default=0.05, help="the largest acceptable probability")
    ap.add_argument("--risk", default="funds_queue_over_12m", help="a 0/1 summary metric")
    ap.add_argument("--shock", default="flood", help="a shock file, or none")
    ap.add_argument("--return-period", type=float, default=50.0,
                    help="the flood's magnitude, 1-in-T years (0: the shock file's own severity)")
    ap.add_argument("--province", default=None)
    ap.add_argument("--replications", type=int, default=None)
    ap.add_argument("--low", type=float, default=0.0)
    ap.add_argument("--high", type=float, default=None)
    ap.add_argument("--tol", type=float, default=0.02,
                    help="relative width of the last bracket (default 0.02)")
    ap.add_argument("--grid", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default mc.n_jobs)")
    ap.add_argument("--check-seed", type=int, default=None,
                    help="also run the answer on this fresh seed and report whether it holds")
    ap.add_argument("--check-replications", type=int, default=None,
                    help="replications of the fresh-seed run (default: as many as the search)")
    ap.add_argument("--out", default=None, help="write sizing.md, sizing_curve.csv, sizing.png here")
    args = list(sys.argv[1:] if argv is None else argv)
    overrides = [x for x in args if "=" in x and not x.startswith("-")]
    a = ap.parse_args([x for x in args if x not in overrides])
    over = dict(o.split("=", 1) for o in overrides)
    try:
        s = size_fund(a.scenario, a.lever, a.target, a.risk, over, a.shock,
                      a.return_period or None, a.province, a.replications, a.low, a.high, a.tol,
                      a.grid, jobs=a.jobs, progress=True)
        fresh = (check(s, a.check_seed, a.check_replications, jobs=a.jobs)
                 if a.check_seed is not None else None)
    except (SizingError, ConfigError) as e:
        print(f"sim.sizing: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sim.sizing: interrupted; no answer (each size needs all its replications); the "
              "sizes finished so far are in the lines above", file=sys.stderr)
        return 130
    cmd = "python -m sim.sizing " + " ".join(args)
    md = s.markdown(cmd.strip())
    if fresh is not None:
        md += (f"\nFresh seed {fresh['seed']}: P = {100 * fresh['p']:.1f}% (95% Wilson "
               f"{100 * fresh['ci_low']:.1f}–{100 * fresh['ci_high']:.1f}%, {fresh['n']} replications): "
               + (f"within the target plus the two runs' sampling noise ({100 * fresh['allowed']:.1f}%): "
                  "the answer holds.\n" if fresh["holds"] else
                  f"above the target plus the two runs' sampling noise ({100 * fresh['allowed']:.1f}%): "
                  "the answer does NOT hold on fresh seeds.\n"))
    if a.out:
        import matplotlib

        matplotlib.use("Agg")
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "sizing.md").write_text(md, encoding="utf-8")
        s.curve.to_csv(out / "sizing_curve.csv", index=False)
        s.plot().savefig(out / "sizing.png", dpi=110)
        print(f"wrote {out / 'sizing.md'}, sizing_curve.csv, sizing.png", file=sys.stderr)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
