"""Comparing schemes: one tidy table of every metric with its Monte Carlo interval, and each
job's difference from a baseline with the paired interval that common random numbers allow.

    sim.compare(["4321", "2:8"], {"mc.replications": 100})            # run, then compare
    sim.compare(["outputs/multirun/2026-11-30/10-00-00"])              # a finished sweep
    python -m sim.comparison outputs/multirun/2026-11-30/10-00-00 --baseline "scenario=4321 shock=none"

A "job" is one scenario's replications: a finished run folder (`replications.csv`,
`config.yaml`, `timeseries.parquet`), a sweep's job folder, or a `Results` in memory.

Jobs that share the seed and the replication numbers start each replication from the same
random numbers (common random numbers). Their difference is then taken replication by
replication, and its standard error sd(d)/sqrt(n) is far smaller than that of the difference of
two means, sqrt(var(a)/n + var(b)/n): the table gives both, and their ratio (`narrowing`). When
seeds or replications differ, only the unpaired interval is honest, and `paired` is False.

Reads only what the jobs wrote or returned; no model code. The sweep report (`comparison.md`,
written after `python -m sim -m ...`) is built from the same table.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import FUNDS, summary_unit, wilson_interval
from .report import markdown_table

# (section, label, metric, scale, unit) of the headline rows; a unit of "%P" marks a
# probability (0/1 per replication), shown with its Wilson interval
ROWS = (
    ("credit", "all new lending", "new_lending_total", 1e-9, "bn yuan"),
    ("credit", "new lending covered by the scheme", "new_lending_scheme", 1e-9, "bn yuan"),
    ("credit", "first-time borrowers (首贷户)", "first_time_borrowers", 1e-3, "k firms"),
    ("credit", "applications rationed", "rationed_share", 100.0, "%"),
    ("who pays", "net loss: banks, direct loans", "loss_bank_direct", 1e-9, "bn yuan"),
    ("who pays", "net loss: banks, scheme loans", "loss_bank_scheme", 1e-9, "bn yuan"),
    ("who pays", "net loss: guarantors", "loss_guarantor", 1e-9, "bn yuan"),
    ("who pays", "net loss: provincial re-guarantor", "loss_reguarantor", 1e-9, "bn yuan"),
    ("who pays", "net loss: national fund", "loss_national_fund", 1e-9, "bn yuan"),
    ("who pays", "net loss: compensation funds", "loss_pool", 1e-9, "bn yuan"),
    ("who pays", "net loss: government budget", "loss_government", 1e-9, "bn yuan"),
    ("who pays", "shortfall (unpaid, to the bearer)", "shortfall", 1e-9, "bn yuan"),
    ("public money", "fiscal cost (funds, budget, subsidies, injections, rewards)", "fiscal_cost", 1e-9, "bn yuan"),
    ("public money", "fiscal leverage (scheme credit / fiscal yuan)", "fiscal_leverage", 1.0, "x"),
    ("risk", "guarantor leverage (放大倍数), mean", "guarantor_leverage_mean", 1.0, "x"),
    ("risk", "claim rate (代偿率)", "claim_rate", 100.0, "%"),
    ("risk", "P(any guarantor suspended)", "any_guarantor_suspended", 100.0, "%P"),
    ("risk", "P(any fund or guarantor ran dry)", "any_depleted", 100.0, "%P"),
    ("risk", "P(a fund's queue lasts over 12 months)", "funds_queue_over_12m", 100.0, "%P"),
    ("risk", "compensation arrival rate (到位率)", "funds_arrival_rate", 100.0, "%"),
)
HEADLINE = tuple(r[2] for r in ROWS)
# the metrics whose difference from the baseline the sweep report shows
DIFFERENCES = ("new_lending_total", "new_lending_scheme", "first_time_borrowers", "loss_bank_scheme",
               "loss_guarantor", "fiscal_cost", "claim_rate", "any_guarantor_suspended",
               "any_depleted", "funds_queue_over_12m")
# who bears the scheme's losses (a bank's direct loans are outside the scheme)
LOSS_PARTIES = ("loss_bank_scheme", "loss_guarantor", "loss_reguarantor",
                "loss_national_fund", "loss_pool", "loss_government", "shortfall")
Z95 = 1.959964
DERIVED = {"any_depleted": "1 if any fund or any guarantor ran dry within the horizon "
                           "(the largest of the *_depleted flags)"}


@dataclass
class Job:
    """One scenario's replications, as a run left them."""

    label: str
    seed: int | None
    replications: pd.DataFrame  # one row per replication, indexed by replication
    folder: Path | None = None
    timeseries: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        flags = [f"{k}_depleted" for k in FUNDS if f"{k}_depleted" in self.replications]
        if flags and "any_depleted" not in self.replications:
            self.replications = self.replications.assign(
                any_depleted=self.replications[flags].max(axis=1, skipna=True))

    def series(self, columns: list[str]) -> pd.DataFrame | None:
        """The time series columns (with replication and month), read from the folder's Parquet
        file on demand; None when the job kept none."""
        if self.timeseries is None and self.folder is not None:
            p = self.folder / "timeseries.parquet"
            if p.exists():
                import pyarrow.parquet as pq

                have = set(pq.ParquetFile(p).schema_arrow.names)
                cols = [c for c in ("replication", "month", *columns) if c in have]
                return pd.read_parquet(p, columns=cols)
        return self.timeseries


# ------------------------------------------------------------------------ loading jobs
def _seed(folder: Path) -> int | None:
    cfg = folder / "config.yaml"
    if not cfg.exists():
        return None
    import yaml

    return (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("mc", {}).get("seed")


def job_folders(root: Path) -> list[Path]:
    """A sweep folder's finished job folders in job order (Hydra numbers them 0_, 1_, ...)."""
    def order(p: Path):
        head = p.name.split("_")[0]
        return (int(head) if head.isdigit() else math.inf, p.name)

    return sorted((p for p in root.iterdir() if (p / "replications.csv").exists()), key=order)


def job_labels(folders: list[Path]) -> dict[str, str]:
    """{folder name: label}: each job labelled by the overrides that differ between the jobs
    (`scenario=4321 shock=flood`), or by its folder name."""
    from omegaconf import OmegaConf

    raw = {}
    for d in folders:
        ov = d / ".hydra" / "overrides.yaml"
        raw[d.name] = [str(o) for o in OmegaConf.load(ov)] if ov.exists() else [d.name]
    if len(raw) < 2:
        return {k: " ".join(v) for k, v in raw.items()}
    common = set.intersection(*(set(v) for v in raw.values()))
    return {k: " ".join(o for o in v if o not in common).replace("'", "") or k for k, v in raw.items()}


def _job(folder: Path, label: str) -> Job:
    reps = pd.read_csv(folder / "replications.csv").set_index("replication")
    return Job(label, _seed(folder), reps, folder=folder)


def load(root: Path, labels: dict[str, str]) -> list[Job]:
    """The finished jobs of a sweep folder, in the order of `labels` (folder name -> label)."""
    return [_job(root / name, label) for name, label in labels.items()
            if (root / name / "replications.csv").exists()]


def load_folders(paths) -> list[Job]:
    """Jobs from run folders and sweep folders (a sweep folder stands for all its finished
    jobs). Raises ValueError naming a path that holds no finished run."""
    folders = []
    for p in map(Path, paths):
        found = [p] if (p / "replications.csv").exists() else (job_folders(p) if p.is_dir() else [])
        if not found:
            raise ValueError(f"{p}: not a finished run folder (no replications.csv) nor a sweep "
                             "folder holding any")
        folders.extend(found)
    names = [f.name for f in folders]
    if len(set(names)) < len(names):  # two sweeps with the same job names: label by path
        return [_job(f, str(f)) for f in folders]
    labels = job_labels(folders)
    return [_job(f, labels[f.name]) for f in folders]


def from_results(results, labels=None) -> list[Job]:
    """Jobs from `Results` in memory, labelled by `labels`, else by scenario (and shock, if
    any: `4321 flood`); a shocked run's counterfactual is `Results.counterfactual`."""
    results = list(results)
    if labels is None:
        labels = [r.scenario + (f" {r.config.shock.name}" if r.config.shock.kind != "none" else "")
                  for r in results]
    labels = list(labels)
    if len(labels) != len(results):
        raise ValueError(f"{len(labels)} labels for {len(results)} jobs")
    if len(set(labels)) < len(labels):
        raise ValueError(f"two jobs share a label ({', '.join(labels)}): give labels=")
    return [Job(lab, r.config.mc.seed, r.replications.set_index("replication")
                if "replication" in r.replications else r.replications,
                folder=r.out_dir, timeseries=r.timeseries if r.out_dir is None else None)
            for lab, r in zip(labels, results)]


# ------------------------------------------------------------------------ the table
def level(x: pd.Series, probability: bool) -> dict:
    """Mean over replications and its 95% interval: Wilson for a probability, mean ± 1.96 SE
    otherwise."""
    x = x.dropna().astype(float)
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0,
                "method": ""}
    m = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    if probability:
        lo, hi = wilson_interval(float(x.sum()), n)
        return {"mean": m, "se": se, "ci_low": lo, "ci_high": hi, "n": n, "method": "wilson"}
    return {"mean": m, "se": se, "ci_low": m - Z95 * se, "ci_high": m + Z95 * se, "n": n,
            "method": "normal"}


def difference(a: pd.Series, b: pd.Series, paired: bool) -> dict:
    """b − a: the paired mean difference over the replications both have (when `paired`),
    else the difference of means. Both standard errors, and unpaired/paired (`narrowing`)."""
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    m = float(b.mean() - a.mean()) if len(a) and len(b) else math.nan
    se_u = (math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
            if min(len(a), len(b)) > 1 else math.nan)
    out = {"unpaired_se": se_u, "narrowing": math.nan}
    if paired:
        d = (b - a).dropna()
        m = float(d.mean()) if len(d) else math.nan
        se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
        n = len(d)
        if se > 0:
            out["narrowing"] = se_u / se
        elif se == 0 and se_u > 0:
            out["narrowing"] = math.inf
    else:
        se, n = se_u, min(len(a), len(b))
    out.update({"mean": m, "se": se, "ci_low": m - Z95 * se, "ci_high": m + Z95 * se, "n": n,
                "method": "paired" if paired else "unpaired"})
    return out


def can_pair(a: Job, b: Job) -> bool:
    """Common random numbers hold when both jobs used the same seed and replication numbers."""
    return (a.seed is not None and a.seed == b.seed
            and a.replications.index.equals(b.replications.index))


def _baseline(jobs: list[Job], baseline) -> Job:
    if baseline is None:
        return jobs[0]
    if isinstance(baseline, int):
        return jobs[baseline]
    for j in jobs:
        if j.label == baseline:
            return j
    raise ValueError(f"baseline {baseline!r} is not one of the jobs: "
                     + ", ".join(repr(j.label) for j in jobs))


def table(jobs: list[Job], baseline=None, metrics=None) -> pd.DataFrame:
    """The tidy comparison: one row per (job, metric, kind).

    kind "level": the job's mean with its 95% interval (Wilson for a probability); kind
    "difference": the job minus the baseline, with the paired interval when common random
    numbers hold (`paired` True), its unpaired standard error beside it and `narrowing` =
    unpaired SE / paired SE. Values in the metric's own unit (yuan, fraction, x), see `unit`.
    metrics: summary metric names (default: the headline ones the jobs have).
    """
    if not jobs:
        raise ValueError("nothing to compare: no finished job")
    base = _baseline(jobs, baseline)
    if metrics is None:
        metrics = [m for m in HEADLINE if any(m in j.replications for j in jobs)]
    else:
        metrics = list(metrics)
        missing = [m for m in metrics if not any(m in j.replications for j in jobs)]
        if missing:
            raise ValueError(f"unknown metric(s) {', '.join(missing)}: a column of replications.csv "
                             "is needed (definitions: docs/metrics.md)")
    rows = []
    for m in metrics:
        unit = "probability" if m in DERIVED else summary_unit(m)
        prob = unit == "probability"
        for j in jobs:
            if m not in j.replications:
                continue
            rows.append({"job": j.label, "metric": m, "unit": unit, "kind": "level",
                         "baseline": base.label, "paired": False,
                         **level(j.replications[m], prob)})
            if j is base or m not in base.replications:
                continue
            pair = can_pair(base, j)
            rows.append({"job": j.label, "metric": m, "unit": unit, "kind": "difference",
                         "baseline": base.label, "paired": pair,
                         **difference(base.replications[m], j.replications[m], pair)})
    cols = ["job", "metric", "unit", "kind", "baseline", "mean", "ci_low", "ci_high", "se", "n",
            "method", "paired", "unpaired_se", "narrowing"]
    return pd.DataFrame(rows).reindex(columns=cols)


# ------------------------------------------------------------------------ plots
def _axes(ax, size=(6.5, 4.0)):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=size)


def plot_credit_vs_risk(jobs: list[Job], risk: str = "any_depleted", ax=None):
    """Scheme credit against a depletion probability, one point per job, with the 95%
    interval of each (normal for credit, Wilson for the probability)."""
    fig, ax = _axes(ax)
    for j in jobs:
        if risk not in j.replications or "new_lending_scheme" not in j.replications:
            continue
        c = level(j.replications["new_lending_scheme"], False)
        p = level(j.replications[risk], True)
        if not (np.isfinite(p["mean"]) and np.isfinite(c["mean"])):
            continue  # e.g. no fund or guarantor in the scheme, so none can run dry
        x, y = 100 * p["mean"], 1e-9 * c["mean"]
        ax.errorbar([x], [y], xerr=[[x - 100 * p["ci_low"]], [100 * p["ci_high"] - x]],
                    yerr=[[y - 1e-9 * c["ci_low"]], [1e-9 * c["ci_high"] - y]],
                    fmt="o", capsize=3, label=j.label)
    name = dict((r[2], r[1]) for r in ROWS).get(risk, risk)
    ax.set(xlabel=f"{name}, % (95% Wilson)", ylabel="scheme credit over the horizon, bn yuan",
           title="Credit against risk (95% intervals)")
    ax.legend(fontsize=8, frameon=False, loc="best")
    fig.tight_layout()
    return fig


def plot_loss_shares(jobs: list[Job], ax=None):
    """Who pays for the scheme: each party's share of the net loss on scheme loans (means over
    replications), stacked to 100% per job; a bank's direct loans are left out, as is a party
    with a net gain (recoveries above payments). A job without scheme losses has no bar."""
    fig, ax = _axes(ax, (max(6.5, 1.2 * len(jobs) + 3), 4.0))
    labels = dict((r[2], r[1].replace("net loss: ", "")) for r in ROWS)
    x = np.arange(len(jobs))
    means = pd.DataFrame({j.label: {p: max(0.0, float(j.replications[p].mean()))
                                    for p in LOSS_PARTIES if p in j.replications} for j in jobs}).fillna(0)
    shares = means / means.sum().replace(0, np.nan) * 100
    bottom = np.zeros(len(jobs))
    for p in shares.index:
        v = shares.loc[p].fillna(0).to_numpy()
        if v.sum() == 0:
            continue
        ax.bar(x, v, bottom=bottom, label=labels.get(p, p))
        bottom += v
    ax.set_xticks(x, [j.label for j in jobs], rotation=20, ha="right")
    ax.set(ylabel="% of the net loss on scheme loans", ylim=(0, 100),
           title="Who pays for the scheme: loss shares by party")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_leverage(jobs: list[Job], ax=None):
    """Guarantor leverage (放大倍数) month by month: median over replications with the 5–95%
    band, per job; the cap dashed."""
    fig, ax = _axes(ax)
    cap = None
    for j in jobs:
        ts = j.series(["guarantor_leverage", "guarantor_leverage_cap"])
        if ts is None or "guarantor_leverage" not in ts:
            continue
        b = (ts.replace([np.inf, -np.inf], np.nan).groupby("month")["guarantor_leverage"]
             .quantile([0.05, 0.5, 0.95]).unstack())
        (line,) = ax.plot(b.index, b[0.5], lw=1.6, label=j.label)
        ax.fill_between(b.index, b[0.05], b[0.95], color=line.get_color(), alpha=0.15, lw=0)
        if "guarantor_leverage_cap" in ts:
            cap = float(ts["guarantor_leverage_cap"].iloc[0])
    if cap is not None:
        ax.axhline(cap, color="k", ls="--", lw=1, label=f"cap {cap:g}x")
    ax.set(xlabel="month", ylabel="liability balance / net assets (x)",
           title="Guarantor leverage: median and 5–95% band over replications")
    ax.legend(fontsize=8, frameon=False, loc="best")
    fig.tight_layout()
    return fig


def plots(jobs: list[Job], out: Path) -> list[Path]:
    """The three comparison figures as PNG files in `out`."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .i18n import cjk_font

    cjk_font()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fn in (("comparison_credit_vs_risk", plot_credit_vs_risk),
                     ("comparison_loss_shares", plot_loss_shares),
                     ("comparison_leverage", plot_leverage)):
        fig = fn(jobs)
        p = out / f"{name}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


# ------------------------------------------------------------------------ the Markdown report
def _num(v: float, digits: int | None = None) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    if digits is None:
        digits = 2 if abs(v) < 100 else 1
    return f"{v:,.{digits}f}"


def _digits(halfwidth: float) -> int:
    """Decimals that show an interval's half-width to two significant figures (at least 2), so
    a small but clear difference does not print as 0.00 ± 0.00."""
    if not np.isfinite(halfwidth) or halfwidth <= 0:
        return 2
    return int(min(6, max(2, 1 - math.floor(math.log10(halfwidth)))))


def _display(t: pd.DataFrame) -> pd.DataFrame:
    """The tidy table with headline labels and display units (bn yuan, %, k firms)."""
    info = {r[2]: r for r in ROWS}
    t = t[t.metric.isin(info)].copy()
    t["section"] = t.metric.map(lambda m: info[m][0])
    t["label"] = t.metric.map(lambda m: info[m][1])
    scale = t.metric.map(lambda m: info[m][3])
    for c in ("mean", "ci_low", "ci_high", "se", "unpaired_se"):
        t[c] = t[c] * scale
    t["shown_unit"] = t.metric.map(lambda m: info[m][4])
    return t


def markdown(t: pd.DataFrame) -> tuple[str, str]:
    """The report's two Markdown tables: each job's level, and its difference from the baseline."""
    d = _display(t)
    jobs = list(dict.fromkeys(t.job))
    lv = d[d.kind == "level"]
    lines_a = []
    for (section, label, metric), g in lv.groupby(["section", "label", "metric"], sort=False):
        u = g.shown_unit.iloc[0]
        if section == "who pays" and (g["mean"].abs() < 5e-3).all():
            continue  # a party no job involves
        cells = {}
        for _, r in g.iterrows():
            if not np.isfinite(r["mean"]):
                cells[r.job] = "–"
            elif u == "%P":
                cells[r.job] = f"{_num(r['mean'])} [{_num(r.ci_low)}, {_num(r.ci_high)}]"
            elif r.n > 1:
                k = _digits(Z95 * r.se) if abs(r["mean"]) < 100 else 1
                cells[r.job] = f"{_num(r['mean'], k)} ± {_num(Z95 * r.se, k)}"
            else:
                cells[r.job] = _num(r["mean"])
        unit = "% [95% Wilson]" if u == "%P" else ("% (± 95%)" if u == "%" else f"{u} (± 95%)")
        lines_a.append([section, label, unit, *[cells.get(j, "–") for j in jobs]])
    df = d[(d.kind == "difference") & d.metric.isin(DIFFERENCES)]
    others = [j for j in jobs if j in set(df.job)]
    lines_b = []
    for (label, metric), g in df.groupby(["label", "metric"], sort=False):
        u = g.shown_unit.iloc[0]
        cells = {}
        for _, r in g.iterrows():
            if not np.isfinite(r["mean"]):
                cells[r.job] = "–"
                continue
            k = _digits(Z95 * r.se)
            s = f"{r['mean']:+,.{k}f}"
            if np.isfinite(r.se):
                s += f" ± {Z95 * r.se:,.{k}f}"
            if r.paired and np.isfinite(r.narrowing):
                s += f" ({r.narrowing:.1f}x narrower)"
            cells[r.job] = s
        lines_b.append([label, "points" if u in ("%", "%P") else u, *[cells.get(j, "–") for j in others]])

    return (markdown_table(["section", "metric", "unit", *jobs], lines_a),
            markdown_table(["metric", "unit", *others], lines_b))


def write(root: Path, labels: dict[str, str], baseline=None) -> Path | None:
    """Write `comparison.md`, the tidy `comparison_table.csv` and the plots (under `plots/`)
    for the jobs in `root`; None when fewer than two jobs finished."""
    jobs = load(root, labels)
    if len(jobs) < 2:
        return None
    return report(jobs, root, baseline)


def report(jobs: list[Job], out: Path, baseline=None) -> Path:
    t = table(jobs, baseline)
    out.mkdir(parents=True, exist_ok=True)
    t.to_csv(out / "comparison_table.csv", index=False)
    figs = plots(jobs, out / "plots")
    levels, diffs = markdown(t)
    base = _baseline(jobs, baseline)
    paired = t[t.kind == "difference"].paired
    same = bool(len(paired)) and bool(paired.all())
    n = {len(j.replications) for j in jobs}
    nar = t[(t.kind == "difference") & t.paired & np.isfinite(t.narrowing)].narrowing
    lines = [
        f"# Comparison: {len(jobs)} jobs",
        "",
        "Jobs: " + "; ".join(f"`{j.label}`" + (f" ({j.folder.name}/)" if j.folder else "") for j in jobs) + ".",
        f"Replications per job: {', '.join(str(k) for k in sorted(n))}. Every number below, with its "
        "interval, is in `comparison_table.csv` (one row per job, metric and kind).",
        "",
        "## Each job",
        "",
        "Mean over replications with the 95% interval of the mean (± 1.96 standard errors); for a "
        "probability, the share of replications and its 95% Wilson interval. Money in bn yuan at "
        "province scale. Definitions: docs/metrics.md.",
        "",
        levels,
        "",
        f"## Difference from `{base.label}`",
        "",
        ("Each job minus the baseline, replication by replication (same seed: common random "
         "numbers): mean and 95% interval, and how many times narrower that interval is than the "
         "unpaired one (difference of two means)"
         + (f"; median narrowing {nar.median():.1f}x." if len(nar) else ".")
         if same else
         "Some jobs do not share the baseline's seed or replications, so those rows are differences "
         "of means with their unpaired 95% intervals."),
        "",
        diffs,
        "",
        "## Plots",
        "",
        *[f"![{p.stem}](plots/{p.name})" for p in figs],
        "",
    ]
    path = out / "comparison.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ------------------------------------------------------------------------ the command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sim.comparison",
        description="Compare finished runs: each metric with its 95%% interval, and each job's "
                    "difference from a baseline (paired when the jobs share the seed).")
    ap.add_argument("folders", nargs="+", help="run folders, or sweep folders (all their jobs)")
    ap.add_argument("--baseline", default=None, help="the baseline job's label (default: the first)")
    ap.add_argument("--metrics", nargs="+", default=None,
                    help="summary metrics (default: the headline ones)")
    ap.add_argument("--out", default=None,
                    help="write comparison.md, comparison_table.csv and plots/ here "
                         "(default: the sweep folder, if one was given)")
    a = ap.parse_args(argv)
    try:
        jobs = load_folders(a.folders)
        t = table(jobs, a.baseline, a.metrics)
    except ValueError as e:
        print(f"sim.comparison: error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out) if a.out else (Path(a.folders[0]) if len(a.folders) == 1
                                      and not (Path(a.folders[0]) / "replications.csv").exists() else None)
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.max_rows", 500, "display.float_format", "{:,.4g}".format):
        show = t[["job", "metric", "kind", "mean", "ci_low", "ci_high", "paired", "narrowing"]]
        print(show.to_string(index=False))
    if out is not None:
        if a.metrics is None:
            path = report(jobs, out, a.baseline)
            print(f"comparison report: {path}")
        else:
            out.mkdir(parents=True, exist_ok=True)
            t.to_csv(out / "comparison_table.csv", index=False)
            print(f"table: {out / 'comparison_table.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
