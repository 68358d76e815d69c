"""The comparison report of a `-m` sweep: one Markdown file (`comparison.md`) and its plots,
beside the job folders, answering "which scheme, at what cost, with what risk".

For each job: credit, who pays (each party's net loss), fiscal cost and leverage, guarantor
leverage and claim rate, and the risk probabilities with their 95% Wilson intervals; then each
job's difference from the first job, replication by replication. Jobs of one sweep share the
seed, so replication r of every job starts from the same random numbers (common random
numbers) and the paired difference is far more precise than the two means' difference; when
the seeds or replication counts differ the report says so and compares means instead.

Reads only what the jobs wrote (`summary.csv`, `replications.csv`); no model code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import wilson_interval

# (section, label, metric, scale, unit); a unit of "%P" marks a probability (0/1 per replication)
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
    ("public money", "fiscal cost (funds, budget, subsidies, injections)", "fiscal_cost", 1e-9, "bn yuan"),
    ("public money", "fiscal leverage (scheme credit / fiscal yuan)", "fiscal_leverage", 1.0, "x"),
    ("risk", "guarantor leverage (放大倍数), mean", "guarantor_leverage_mean", 1.0, "x"),
    ("risk", "claim rate (代偿率)", "claim_rate", 100.0, "%"),
    ("risk", "P(any guarantor suspended)", "any_guarantor_suspended", 100.0, "%P"),
    ("risk", "P(a fund's queue lasts over 12 months)", "funds_queue_over_12m", 100.0, "%P"),
    ("risk", "compensation arrival rate (到位率)", "funds_arrival_rate", 100.0, "%"),
)
# the metrics whose paired difference from the first job is shown
DIFFERENCES = ("new_lending_total", "new_lending_scheme", "first_time_borrowers", "loss_bank_scheme",
               "loss_guarantor", "fiscal_cost", "claim_rate", "any_guarantor_suspended")
Z95 = 1.959964


@dataclass
class Job:
    folder: Path
    label: str
    seed: int | None
    replications: pd.DataFrame  # one row per replication, indexed by replication


def load(root: Path, labels: dict[str, str]) -> list[Job]:
    """The finished jobs of a sweep folder, in job order; `labels`: folder name -> label."""
    jobs = []
    for name, label in labels.items():
        d = root / name
        if not (d / "replications.csv").exists():
            continue
        seed = None
        cfg = d / "config.yaml"
        if cfg.exists():
            import yaml

            seed = (yaml.safe_load(cfg.read_text()) or {}).get("mc", {}).get("seed")
        reps = pd.read_csv(d / "replications.csv").set_index("replication")
        jobs.append(Job(d, label, seed, reps))
    return jobs


def _num(v: float, unit: str) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    if unit in ("%", "%P") or abs(v) < 10:
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.1f}"
    return f"{v:,.1f}"


def _cell(x: pd.Series, scale: float, unit: str) -> str:
    """Mean and its 95% interval: Wilson for a probability, mean ± 1.96 SE otherwise."""
    x = x.dropna().astype(float)
    if x.empty:
        return "–"
    if unit == "%P":
        lo, hi = wilson_interval(float(x.sum()), len(x))
        return f"{_num(100 * x.mean(), unit)} [{_num(100 * lo, unit)}, {_num(100 * hi, unit)}]"
    m = x.mean() * scale
    if len(x) < 2:
        return _num(m, unit)
    h = Z95 * x.std(ddof=1) / math.sqrt(len(x)) * abs(scale)
    return f"{_num(m, unit)} ± {_num(h, unit)}"


def headline(jobs: list[Job]) -> pd.DataFrame:
    """Rows = metrics (with section and unit), columns = jobs: mean with its 95% interval."""
    out = []
    for section, label, metric, scale, unit in ROWS:
        cells = [(_cell(j.replications[metric], scale, unit) if metric in j.replications else "–")
                 for j in jobs]
        if all(c in ("–", "0.00 ± 0.00", "0.00") for c in cells) and section == "who pays":
            continue  # a party no job involves
        out.append({"section": section, "metric": label,
                    "unit": "% [95% Wilson]" if unit == "%P" else (unit + " (± 95%)" if unit != "%" else "% (± 95%)"),
                    **{j.label: c for j, c in zip(jobs, cells)}})
    return pd.DataFrame(out)


def paired(jobs: list[Job]) -> tuple[pd.DataFrame, bool]:
    """Each later job minus the first, per metric: mean difference and its 95% interval,
    replication by replication when the jobs share the seed (else difference of means)."""
    first = jobs[0]
    same = all(j.seed == first.seed for j in jobs)
    rows = []
    for section, label, metric, scale, unit in ROWS:
        if metric not in DIFFERENCES:
            continue
        row = {"metric": label, "unit": "points" if unit in ("%", "%P") else unit}
        for j in jobs[1:]:
            a, b = first.replications.get(metric), j.replications.get(metric)
            if a is None or b is None:
                row[j.label] = "–"
                continue
            if same:
                d = (b - a).dropna().astype(float)
                m, se = d.mean(), (d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else math.nan)
            else:
                a, b = a.dropna().astype(float), b.dropna().astype(float)
                m = b.mean() - a.mean()
                se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) if min(len(a), len(b)) > 1 else math.nan
            k = scale
            row[j.label] = "–" if not np.isfinite(m) else (
                f"{m * k:+,.2f} ± {Z95 * se * abs(k):,.2f}" if np.isfinite(se) else f"{m * k:+,.2f}")
        rows.append(row)
    return pd.DataFrame(rows), same


def _markdown_table(df: pd.DataFrame, cols: list[str]) -> str:
    head = "| " + " | ".join(cols) + " |"
    rule = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(str(r[c]) for c in cols) + " |" for _, r in df.iterrows()]
    return "\n".join([head, rule, *body])


def plots(jobs: list[Job], out: Path) -> list[Path]:
    """Two figures: credit by job (scheme and other lending, 95% intervals of the means) and
    net losses by party (stacked means)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    labels = [j.label for j in jobs]
    x = np.arange(len(jobs))
    paths = []

    def ci(col, scale):
        m = np.array([j.replications[col].mean() * scale for j in jobs])
        h = np.array([Z95 * j.replications[col].std(ddof=1) / math.sqrt(len(j.replications)) * scale
                      if len(j.replications) > 1 else 0.0 for j in jobs])
        return m, h

    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(jobs) + 2), 4.0))
    scheme, hs = ci("new_lending_scheme", 1e-9)
    total, ht = ci("new_lending_total", 1e-9)
    ax.bar(x, total - scheme, color="#9bb7d4", label="direct bank lending")
    ax.bar(x, scheme, bottom=total - scheme, color="#2f6db3", label="covered by the scheme")
    ax.errorbar(x, total, yerr=ht, fmt="none", ecolor="k", capsize=4, lw=1)
    ax.set_xticks(x, labels, rotation=20, ha="right")
    ax.set(ylabel="new lending over the horizon, bn yuan",
           title="Credit by job (bars: means; whisker: 95% interval of the total's mean)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    p = out / "comparison_credit.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    parties = [(m, lab.replace("net loss: ", "")) for _, lab, m, _, u in ROWS
               if m.startswith("loss_") and any(j.replications[m].abs().sum() > 0 for j in jobs)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(jobs) + 2), 4.0))
    bottom = np.zeros(len(jobs))
    for m, lab in parties:
        v = np.array([j.replications[m].mean() * 1e-9 for j in jobs])
        ax.bar(x, v, bottom=bottom, label=lab)
        bottom += v
    ax.set_xticks(x, labels, rotation=20, ha="right")
    ax.set(ylabel="net loss over the horizon, bn yuan",
           title="Who pays: net losses by party (means over replications)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    fig.tight_layout()
    p = out / "comparison_losses.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


def write(root: Path, labels: dict[str, str]) -> Path | None:
    """Write `comparison.md` (and its plots under `plots/`) for the sweep in `root`;
    None when fewer than two jobs finished."""
    jobs = load(root, labels)
    if len(jobs) < 2:
        return None
    n = {len(j.replications) for j in jobs}
    table = headline(jobs)
    diff, same = paired(jobs)
    figs = plots(jobs, root / "plots")
    cols = [j.label for j in jobs]
    lines = [
        f"# Sweep comparison: {len(jobs)} jobs",
        "",
        "Jobs: " + "; ".join(f"`{j.label}` ({j.folder.name}/)" for j in jobs) + ".",
        f"Replications per job: {', '.join(str(k) for k in sorted(n))}. Each job's own report is in its folder.",
        "",
        "## Each job",
        "",
        "Mean over replications with the 95% interval of the mean (± 1.96 standard errors); for a "
        "probability, the share of replications and its 95% Wilson interval. Money in bn yuan at "
        "province scale. Definitions: `sim/metrics.py`, docs/metrics.md.",
        "",
        _markdown_table(table, ["section", "metric", "unit", *cols]),
        "",
        f"## Difference from `{jobs[0].label}`",
        "",
        ("Each job minus the first, replication by replication (same seed: common random numbers), "
         "mean and 95% interval." if same else
         "The jobs do not share a seed, so these are differences of means with their 95% intervals "
         "(not paired)."),
        "",
        _markdown_table(diff, ["metric", "unit", *cols[1:]]),
        "",
        "## Plots",
        "",
        *[f"![{p.stem}](plots/{p.name})" for p in figs],
        "",
    ]
    path = root / "comparison.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
