"""Calibrate a province to its report: fit the free parameters to the report's figures by the
simulated method of moments, under common random numbers, and store them in the preset.

    python -m sim.calibrate province=hunan          # fit, print, write the preset's block
    python -m sim.calibrate province=jiangxi        # not fitted: Hunan's values, compared
    python -m sim.calibrate province=hunan --check  # no fit: the preset as it stands

**Method.** Each free parameter moves one figure through a named mechanism (`PARAMETERS`).
For a trial vector the model runs `--replications` replications of the province's own scheme
(`province.scenario`) at a fixed sample of firms and a fixed seed, so every trial sees the
same random numbers (common random numbers: the objective changes with the parameters, not
with the draws). The residuals are the relative gaps (simulated − reported) / reported of the
fitted figures (`TARGETS`), measured as the report states them (`sim/metrics.py`: year-end
stocks and a year's flows after the first year). `scipy.optimize.least_squares` (trust region,
bounds, forward differences on the log of each parameter) minimises their sum of squares; the
integer loan term is searched outside it (one fit per term, the best kept). The fit is
deterministic: rerunning the command gives the same values.

**Then.** The fitted values are run again at the province's own resolution (`firms.n=auto`)
with more replications, and every figure of the province's report is printed beside the
model's with its standard error, the tolerance and hit or miss. The table goes to the run
folder (`outputs/calibrate/...`: calibration.md, calibration.csv, fit_log.csv) and, for a fit,
the values with the date and the command go into `conf/province/<name>.yaml`
(`calibration:`), which every run of the province then uses. Provinces whose report is not
fitted (`calibration_from: hunan`) are only compared: that is the out-of-sample check.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import yaml

from .config import ConfigError, SimConfig, files, load_config
from .points import RowLog, cli_value, positive_int, run_point, with_values

TOLERANCE = 0.20  # relative: see docs/calibration.md for why


@dataclass(frozen=True)
class Target:
    """A figure of a province's report and the summary metric that measures it the same way."""

    metric: str  # a summary metric (sim/metrics.py SUMMARY_DOC), per replication
    label: str
    value: float  # the report's figure, in the metric's unit
    unit: str  # "%" (the metric is a fraction), "bn" (yuan / 1e9) or "x"
    source: str  # docs/sources.md anchor and the quote's gist
    fitted: bool = True  # a calibration target (else compared only)
    tolerance: float = TOLERANCE


@dataclass(frozen=True)
class Parameter:
    """A free parameter: its config keys (set from one number), bounds and mechanism."""

    name: str
    keys: Callable[[float], dict]
    low: float
    high: float
    start: float
    mechanism: str
    moves: str  # the figure it mainly moves


H = "docs/sources.md#hunan-report-h"
J = "docs/sources.md#jiangxi-report-j"
A = "docs/sources.md#anhui-report-a"
B = "docs/sources.md#hebei-report-hb"

TARGETS: dict[str, list[Target]] = {
    "hunan": [
        Target("claim_rate_annual", "claim rate (代偿率)", 0.065, "%", f"{H} 「代償率高達6.5%」"),
        Target("npl_ratio_year_end", "SME NPL ratio (不良率), year end", 0.0387, "%",
               f"{H} 「小微企業貸款不良率為3.87%」 (of 3.87 / 4.8 / 3.8%: docs/provinces.md)"),
        Target("guarantee_balance_year_end", "guarantees in force (在保余额), year end", 42.0, "bn",
               f"{H} 「在保余額為420億元」"),
        Target("scheme_credit_share_year_end", "scheme loans' share of small-firm credit, year end", 0.044,
               "%", f"{H} 「普惠型小微企業貸款余額為9,620億元」 with the 42 bn in force: 42 / 962 = 4.4%, "
               "as the channel table's 「政府性融資擔保支持貸款4.4」 (not the stated 8.7%: docs/provinces.md)"),
        Target("guarantor_leverage_in_force", "guarantor leverage (放大倍数), in force / net assets", 4.3,
               "x", f"{H} 「放大倍數由2020年的2.1倍提升至2025年的4.3倍」 (not 5.8x: docs/provinces.md)"),
        Target("fiscal_leverage_pool_annual", "fiscal leverage, a year's scheme lending / provincial pool",
               31.7, "x", f"{H} 「省級風險補償資金規模達12億元,累計撬動銀行信貸投放超380億元,"
               "財政資金杠桿效應達1:31.7」 (read as a year's lending: docs/provinces.md)"),
        Target("funds_arrival_rate", "compensation arrival rate (到位率)", 0.463, "%",
               f"{H} 「46.3%」", fitted=False),
        Target("banks_in_scheme_mean", "banks in the scheme", 0.31, "%",
               f"{H} 「全省僅有31%的銀行與政府性擔保機構簽訂風險分擔協議」 (set by bank.share_tolerance_max)",
               fitted=False),
    ],
    "jiangxi": [
        Target("npl_ratio_scheme_year_end", "NPL of scheme loans", 0.0167, "%",
               f"{J} 「平均不良率僅為1.67%,顯著低于未納入」", fitted=False),
        Target("npl_ratio_direct_year_end", "NPL of loans outside the scheme", 0.0283, "%",
               f"{J} 「同類業務(2.83%)」", fitted=False),
        Target("npl_ratio_year_end", "SME NPL ratio, year end", 0.0154, "%",
               f"{J} 「不良率控制在1.47%—1.61%區間」 (middle of the range)", fitted=False),
        Target("guarantee_balance_year_end", "government guarantees in force", 32.6, "bn",
               f"{J} 「2024年全省政府性擔保余額達326億元」", fitted=False),
    ],
    "anhui": [
        Target("npl_ratio_year_end", "SME NPL ratio, year end", 0.0121, "%",
               f"{A} 「全省小微信貸平均1.21%」", fitted=False),
        Target("fiscal_leverage", "fiscal leverage, scheme lending / all fiscal money", 38.6, "x",
               f"{A} 「累計撬動銀行信貸投放超1200億元,財政資金杠桿效應達1:38.6」 (definition not given)",
               fitted=False),
    ],
    "hebei": [
        Target("guarantee_balance_year_end", "government guarantees in force", 98.6, "bn",
               f"{B} 「在保余額達986億元」", fitted=False),
        Target("guarantor_leverage_in_force", "guarantor leverage (放大倍数)", 5.8, "x",
               f"{B} 「放大倍數達5.8倍」", fitted=False),
        Target("npl_ratio_year_end", "small-loan NPL, industry average", 0.029, "%",
               f"{B} 「行業平均水平(2.9%)」", fitted=False),
    ],
}

SCALE = {"%": 100.0, "bn": 1e-9, "x": 1.0}

PARAMETERS = [
    Parameter("pd_scale", lambda v: {"province.pd_scale": v}, 0.5, 8.0, 1.5,
              "firms' PD before screening, as a multiple of the books' NPL the prefecture PDs are "
              "written from: more defaults among applicants, so more among the loans banks make",
              "NPL ratio"),
    Parameter("bank_appetite", lambda v: {"bank.max_expected_loss": v}, 0.003, 0.2, 0.04,
              "the banks' risk appetite: the expected loss on the share of a loan they keep that "
              "they accept (the regulator's NPL tolerance); a wider appetite lends to riskier firms, "
              "directly and through the scheme", "claim rate and NPL, with pd_scale"),
    Parameter("loan_size", lambda v: {"firms.loan_max": v, "firms.loan_min": v / 10.0}, 2e5, 1e7, 1.5e6,
              "the largest loan a firm asks for (the smallest is a tenth of it): the size of each "
              "guaranteed loan", "guarantees in force"),
    Parameter("capital_mean", lambda v: {"guarantor.capital_mean": v}, 0.05e9, 1.0e9, 0.25e9,
              "the guarantors' mean net assets at the start (the report's 0.32 bn is paid-in "
              "capital, 资本金): the base that guarantees in force are a multiple of",
              "guarantor leverage"),
]
TERM = Parameter("term_max", lambda v: {"firms.term_max": int(round(v))}, 6, 60, 15,
                 "the longest loan term in months (the shortest stays 3): longer loans stay in force "
                 "longer, so a year lends less per yuan in force", "fiscal leverage (a year's lending)")

# Fit size (every trial): a fixed sample and seed for common random numbers.
FIT_FIRMS = 100_000
FIT_REPLICATIONS = 16
CHECK_REPLICATIONS = 100
STEP = 0.05  # finite-difference step in the log of each parameter
MAX_STEPS = 12  # least-squares steps per loan term tried


def fitted_targets(province: str) -> list[Target]:
    return [t for t in TARGETS.get(province, []) if t.fitted]


def values_of(x: dict) -> dict:
    """Config keys for a parameter vector {name: value}."""
    out: dict = {}
    for p in [*PARAMETERS, TERM]:
        if p.name in x:
            out.update(p.keys(x[p.name]))
    return out


def nested(keys: dict) -> dict:
    """Dotted keys as the nested mapping a province file stores."""
    out: dict = {}
    for k, v in keys.items():
        node = out
        *path, last = k.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = float(v) if isinstance(v, (float, np.floating)) else int(v) if isinstance(v, (int, np.integer)) else v
    return out


def measure(summaries: pd.DataFrame, targets: list[Target]) -> pd.DataFrame:
    """Mean and standard error over replications of each target's metric, in the report's unit."""
    rows = []
    for t in targets:
        x = summaries[t.metric].replace([np.inf, -np.inf], np.nan).dropna().to_numpy(float)
        mean = float(x.mean()) if x.size else math.nan
        se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
        sc = SCALE[t.unit]
        report = t.value * 100.0 if t.unit == "%" else t.value  # fractions shown as percent
        rel = (mean * sc - report) / report
        rows.append({"figure": t.label, "metric": t.metric, "unit": t.unit, "model": mean * sc,
                     "se": se * sc, "report": report, "gap": rel, "tolerance": t.tolerance,
                     "hit": bool(abs(rel) <= t.tolerance), "fitted": t.fitted, "source": t.source})
    return pd.DataFrame(rows)


class Fit:
    """One least-squares fit of the continuous parameters, at each loan term tried."""

    def __init__(self, base: SimConfig, targets: list[Target], log: RowLog, jobs: int | None):
        self.base, self.targets, self.log, self.jobs = base, targets, log, jobs
        self.cache: dict[tuple, np.ndarray] = {}
        self.trials = 0

    def residuals(self, x: dict) -> np.ndarray:
        key = tuple(sorted((k, round(float(v), 10)) for k, v in x.items()))
        if key in self.cache:
            return self.cache[key]
        cfg = with_values(self.base, values_of(x))
        t0 = time.time()
        res = run_point(cfg, self.jobs)
        if not res.complete:
            raise KeyboardInterrupt
        m = measure(res.replications, self.targets)
        r = m.gap.to_numpy(float)
        r = np.where(np.isfinite(r), r, 10.0)  # a figure the trial cannot measure: far off
        self.trials += 1
        row = {"trial": self.trials, **{k: float(v) for k, v in x.items()},
               **{t.metric: float(v) for t, v in zip(self.targets, m.model)},
               "objective": float((r ** 2).sum()), "seconds": round(time.time() - t0, 2)}
        self.log.add(row)
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in x.items())
        gaps = " ".join(f"{g:+.0%}" for g in r)
        print(f"  trial {self.trials:3d}: {shown} -> gaps {gaps}  (sum of squares {row['objective']:.4f})",
              flush=True)
        self.cache[key] = r
        return r

    def at_term(self, term: int, start: dict) -> tuple[dict, float]:
        from scipy.optimize import least_squares

        names = [p.name for p in PARAMETERS]
        lo = np.log([p.low for p in PARAMETERS])
        hi = np.log([p.high for p in PARAMETERS])
        z0 = np.clip(np.log([max(start[n], p.low * 1.0001) for n, p in zip(names, PARAMETERS)]),
                     lo + 1e-6, hi - 1e-6)

        def f(z):
            return self.residuals({**dict(zip(names, np.exp(z))), "term_max": term})

        def jac(z):
            # Forward differences of 5% in each parameter (0.05 in its log), away from the
            # upper bound: finer steps would see the sample's grain (a handful of loans more
            # or less), not the slope.
            r0 = f(z)
            J = np.empty((r0.size, z.size))
            for i in range(z.size):
                h = STEP if z[i] + STEP <= hi[i] else -STEP
                zi = z.copy()
                zi[i] += h
                J[:, i] = (f(zi) - r0) / h
            return J

        sol = least_squares(f, z0, jac=jac, bounds=(lo, hi), x_scale=1.0, method="trf",
                            xtol=1e-3, ftol=1e-3, gtol=1e-4, max_nfev=MAX_STEPS)
        x = {**dict(zip(names, np.exp(sol.x))), "term_max": term}
        return x, float((f(sol.x) ** 2).sum())


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"


def fit(base: SimConfig, province: str, log: RowLog, jobs: int | None, start: dict) -> dict:
    """The fitted parameter vector: least squares at each loan term, terms searched from
    the start outwards while the sum of squares falls."""
    f = Fit(base, fitted_targets(province), log, jobs)
    term = int(start["term_max"])
    best_x, best = f.at_term(term, start)
    print(f"term_max={term}: sum of squares {best:.4f}")
    for step in (+3, -3):
        t, x0 = term, best_x
        while TERM.low <= t + step <= TERM.high:
            t += step
            x, obj = f.at_term(t, x0)
            print(f"term_max={t}: sum of squares {obj:.4f}")
            if obj >= best:
                break
            best_x, best, x0 = x, obj, x
        if best_x["term_max"] != term:
            break  # improved going this way: no need to try the other
    # refine to the month around the best step
    t_best = int(best_x["term_max"])
    for t in (t_best - 1, t_best + 1, t_best - 2, t_best + 2):
        if TERM.low <= t <= TERM.high:
            x, obj = f.at_term(t, best_x)
            print(f"term_max={t}: sum of squares {obj:.4f}")
            if obj < best:
                best_x, best = x, obj
    return best_x


def start_values() -> dict:
    """Where every fit starts: fixed values (`Parameter.start`), whatever the preset holds now,
    so that rerunning the command gives the same values. They are not the schema's defaults
    (the model before calibration, 60-75% below every Hunan figure), where the slopes are
    too flat for a first step to go anywhere useful, but a point of a first coarse look
    (docs/calibration.md)."""
    return {p.name: p.start for p in [*PARAMETERS, TERM]}


# ----------------------------------------------------------------------------- the preset
MARKER = "# --- calibration: written by `python -m sim.calibrate`; rerun it rather than edit ---"


def write_preset(stem: str, block: dict) -> Path:
    """Replace (or append) the province file's calibration block, after MARKER."""
    path = files.group_dir("province") / f"{stem}.yaml"
    text = path.read_text(encoding="utf-8")
    head = text.split(MARKER)[0].rstrip("\n")
    body = yaml.safe_dump({"calibration": block}, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(f"{head}\n{MARKER}\n{body}", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- the table
def markdown(table: pd.DataFrame, province: str, note: str) -> str:
    lines = [f"# Calibration: {province}", "", note, "",
             "| figure | model | SE | report | gap | tolerance | hit | fitted | source |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        unit = {"%": "%", "bn": " bn", "x": "x"}[r.unit]
        lines.append(f"| {r.figure} | {r.model:.3g}{unit} | {r.se:.2g} | {r.report:g}{unit} | "
                     f"{r.gap:+.0%} | ±{r.tolerance:.0%} | {'hit' if r.hit else 'MISS'} | "
                     f"{'fitted' if r.fitted else 'not fitted'} | {r.source} |")
    return "\n".join(lines) + "\n"


def console(table: pd.DataFrame) -> str:
    head = f"{'figure':58} {'model':>9} {'SE':>7} {'report':>8} {'gap':>6}  {'':4} fitted"
    out = [head]
    for r in table.itertuples():
        out.append(f"{r.figure[:58]:58} {r.model:9.3g} {r.se:7.2g} {r.report:8.3g} {r.gap:+6.0%}  "
                   f"{'hit' if r.hit else 'MISS':4} {'yes' if r.fitted else 'no'}")
    return "\n".join(out)


# ----------------------------------------------------------------------------- command
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(
        prog="python -m sim.calibrate", description=__doc__.split("\n\n")[0],
        epilog="Key=value arguments: province=NAME (default hunan) and config overrides "
               "applied to every trial (e.g. mc.seed=7).")
    ap.add_argument("args", nargs="*", help="province=NAME and key=value overrides")
    ap.add_argument("--check", action="store_true",
                    help="no fit: compare the preset as it stands with the report")
    ap.add_argument("--replications", type=positive_int("--replications"), default=FIT_REPLICATIONS,
                    help=f"replications per fit trial (default {FIT_REPLICATIONS})")
    ap.add_argument("--firms", type=positive_int("--firms"), default=FIT_FIRMS,
                    help=f"simulated firms in each fit trial (default {FIT_FIRMS:,})")
    ap.add_argument("--check-replications", type=positive_int("--check-replications"),
                    default=CHECK_REPLICATIONS,
                    help=f"replications of the final comparison (default {CHECK_REPLICATIONS})")
    ap.add_argument("--jobs", type=positive_int("--jobs"), default=None,
                    help="worker processes (default: every core)")
    ap.add_argument("--out", default=None, help="folder for the table (default outputs/calibrate/...)")
    ap.add_argument("--no-write", action="store_true", help="do not write the fitted values to the preset")
    a = ap.parse_args(argv)
    overrides = {}
    province = "hunan"
    for item in a.args:
        if "=" not in item:
            print(f"sim.calibrate: error: {item!r}: expected key=value (e.g. province=hunan)", file=sys.stderr)
            return 2
        k, v = item.split("=", 1)
        if k == "province":
            province = v
        else:
            overrides[k] = cli_value(v)
    try:
        stem = files.resolve("province", province)
        node = files.checked("province", stem)
        scenario = str(node.get("scenario") or "")
        if not scenario:
            raise ConfigError(f"province = {stem!r}: its file names no scenario (province.scenario)")
        if stem not in TARGETS:
            raise ConfigError(f"province = {stem!r}: no report figures are listed for it in sim/calibrate.py")
        fitting = not a.check and not node.get("calibration_from") and bool(fitted_targets(stem))
        base = load_config(scenario, {**overrides, "quiet": True}, province=stem)
    except ConfigError as e:
        print(f"sim.calibrate: error: {e}", file=sys.stderr)
        return 2
    when = _dt.datetime.now()
    out = Path(a.out) if a.out else Path("outputs") / "calibrate" / when.strftime("%Y-%m-%d") / \
        f"{when.strftime('%H-%M-%S')}_{stem}"
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m sim.calibrate " + " ".join(shlex.quote(x) for x in argv)
    log = RowLog(out / "fit_log.csv")
    values = {}
    try:
        if fitting:
            fit_base = with_values(base, {"firms.n": a.firms, "mc.replications": a.replications,
                                          **({"mc.n_jobs": a.jobs} if a.jobs else {})})
            print(f"Fitting {stem} ({scenario}): {len(PARAMETERS) + 1} parameters to "
                  f"{len(fitted_targets(stem))} figures; each trial {a.replications} replications x "
                  f"{fit_base.horizon} months x {a.firms:,} firms, seed {base.mc.seed}.")
            x = fit(fit_base, stem, log, a.jobs, start_values())
            values = values_of(x)
            # six significant digits: the line can be pasted back as overrides
            print("fitted: " + " ".join(f"{k}={v:.6g}" for k, v in values.items()))
        elif node.get("calibration_from"):
            src = node.get("calibration_from")
            borrowed = base.province.calibration.values
            print(f"{stem} is not fitted: it runs with the values fitted on {src} (out of sample)"
                  if borrowed else
                  f"{stem} is not fitted, and {src} has no calibration yet: the schema's values"
                  + (" and the command line's" if overrides else "") + " (out of sample).")
        final = with_values(base, {**values, "firms.n": "auto", "mc.replications": a.check_replications,
                                   **({"mc.n_jobs": a.jobs} if a.jobs else {})})
        print(f"Comparing: {a.check_replications} replications x {final.horizon} months x "
              f"{final.firms.n:,} firms (firms.n=auto), seed {final.mc.seed} ...", flush=True)
        res = run_point(final, a.jobs)
        if not res.complete:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        log.finish(complete=False)
        print(f"sim.calibrate: interrupted; the trials so far are in {out / 'fit_log.csv'}; "
              "nothing was written to the preset", file=sys.stderr)
        return 130
    except ConfigError as e:
        print(f"sim.calibrate: error: {e}", file=sys.stderr)
        return 2
    log.finish(complete=True)
    table = measure(res.replications, TARGETS[stem])
    note = (f"{'Fitted' if fitting else 'Not fitted'}: `{command}` on {when:%Y-%m-%d} "
            f"({'scheme ' + scenario}); compared at {a.check_replications} replications x "
            f"{final.horizon} months x {final.firms.n:,} firms, seed {final.mc.seed}. "
            f"Model: mean over replications, SE its standard error; gap = model / report - 1.")
    table.to_csv(out / "calibration.csv", index=False)
    (out / "calibration.md").write_text(markdown(table, stem, note), encoding="utf-8")
    print(console(table))
    parts = [f"{int(t.hit.sum())} of {len(t)} {kind} figures within ±{TOLERANCE:.0%}"
             for kind, t in (("fitted", table[table.fitted]), ("compared", table[~table.fitted])) if len(t)]
    print("\n" + "; ".join(parts) + ".")
    if fitting and not a.no_write:
        block = {"fitted_on": stem, "date": f"{when:%Y-%m-%d}", "command": command,
                 "values": nested(values)}
        path = write_preset(stem, block)
        print(f"wrote the fitted values to {path}")
    print(f"table: {out / 'calibration.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
