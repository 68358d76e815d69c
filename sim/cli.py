"""`python -m sim`: the Hydra command line.

Before Hydra sees the arguments this module
- maps scenario names as users type them (`scenario=4321`, `scenario=2:8`) to the
  scenario files (`4321.yaml`, `2_8.yaml`); plain Hydra would read 4321 as an integer;
- checks `shock=` and `province=` choices against conf/shock/ and conf/province/;
- composes and validates the config of every job a `-m` sweep would run (the same compose
  call as `sim.load_config`, sim/config/compose.py), so a bad value stops everything with one
  line (key, value, what is allowed), exit code 2, no traceback and no output folder.
Then Hydra runs each job in its own folder under `outputs/`.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from . import comparison, report
from .run import writer
from .config import ConfigError, SimConfig, files, prepare
from .config.rules import check_idle_shock_keys, grain, needed_n
from .metrics import summary_unit
from .config.compose import (apply_presets, compose_config, job_overrides, normalise, register,
                             typed_keys)
from .run.runner import EngineError, run_monte_carlo


def preflight(argv: list[str]) -> int:
    """Compose and validate every job's config, as `sim.load_config` does; return the number
    of jobs. Shock keys set with no shock are refused unless another job of the sweep has a
    shock (`-m shock=none,flood shock.month=31`: the month is for the flood job)."""
    jobs = job_overrides(argv)
    cfgs = [compose_config(ov, idle_keys=False) for ov in jobs]
    if all(c.shock.kind == "none" for c in cfgs):
        for c in cfgs:
            check_idle_shock_keys(c.shock)
    return len(jobs)


# ------------------------------------------------------------------ help
PROGRAM_SET = {"firms": ("n_from",), "mc": ("n_jobs_from",)}  # recorded by the program, not typed
COUNT_HELP = {"firms.n": "auto: fewest firms within firms.max_grain; all: every firm; or a number",
              "mc.n_jobs": "auto: every available core; or a number"}


def help_text() -> str:
    from .config import PAYERS

    lines = [
        "python -m sim [-m] [scenario=NAME[,NAME...]] [key=value ...]",
        "",
        "Simulates a government-bank-guarantor (政银担) risk-sharing scheme month by month over",
        "Monte Carlo replications and writes a report folder under outputs/.",
        "",
        "Examples:",
        "  python -m sim scenario=4321",
        "  python -m sim scenario=2:8 mc.replications=200 pool.size=2e9",
        "  python -m sim -m scenario=4321,2:8,bank_only      (one job per scenario)",
        "  python -m sim scenario=4321 shock=flood shock.month=31 shock.prefectures=[changde]",
        "  python -m sim -m scenario=4321,2:8 shock=none,flood",
        "",
        "Scenarios (scenario=NAME; names with ':' may be typed as is):",
    ]
    try:
        scenarios = files.available("scenario")
    except ConfigError as e:  # an empty or missing SIM_SCENARIOS folder: say so, list the rest
        scenarios = {"(none)": str(e)}
    for stem, desc in scenarios.items():
        lines.append(f"  {stem:<16} {desc}")
    lines += ["", "Shocks (shock=NAME; docs/shocks.md):"]
    for stem, desc in files.available("shock").items():
        lines.append(f"  {stem:<18} {desc}")
    lines += ["  shock.month, .duration, .prefectures=[..], .sectors=[..], .severity,",
              "  shock.return_period, .timing=scheduled|drawn, .season; effects: shock.flood.* etc.",
              "", "Provinces (province=NAME, with their prefectures and main flood basin):"]
    for stem, desc in files.available("province").items():
        lines.append(f"  {stem:<18} {desc}")
    lines += ["", "Main keys (defaults in sim/config/schema.py):"]
    cfg = OmegaConf.structured(SimConfig)
    for section in ("horizon", "firms", "bank", "guarantor", "reguarantor", "national_fund", "pool",
                    "government", "copula", "shock", "mc"):
        node = cfg[section]
        if isinstance(node, DictConfig):
            for k, v in node.items():
                if k in PROGRAM_SET.get(section, ()):
                    continue
                if not isinstance(v, (DictConfig, list)) and not OmegaConf.is_list(v):
                    words = COUNT_HELP.get(f"{section}.{k}")
                    lines.append(f"  {section}.{k} = {v}" + (f"  ({words})" if words else ""))
        else:
            lines.append(f"  {section} = {node}")
    lines += [
        "  scheme.tranches.<name>.share / .payer / .cap_per_loan / .cap_rate",
        f"      payers: {', '.join(PAYERS)}",
        "  scheme.guarantee_fee, scheme.max_loan, scheme.shortfall_bearer",
        "  scheme.bank_share (set the bank's share, rescale the others), scheme.dynamic.enabled",
        "",
        "Every lever with its source: docs/levers.md",
        "",
        "Hydra's own options: python -m sim --hydra-help",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ the job
SWEEP_TABLE = {  # metric -> (label, scale)
    "new_lending_total": ("new lending, bn", 1e-9),
    "new_lending_scheme": ("scheme lending, bn", 1e-9),
    "default_rate_scheme": ("scheme default rate %", 100),
    "claim_rate": ("claim rate %", 100),
    "guarantor_leverage_mean": ("leverage x", 1),
    "loss_bank": ("bank loss, bn", 1e-9),
    "shortfall": ("shortfall, bn", 1e-9),
}


class SweepComparison(Callback):
    """After a -m sweep: every job's mean metrics side by side (comparison.csv), and the
    headline ones printed, one row per job labelled by its overrides."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        import pandas as pd

        root = Path(config.hydra.sweep.dir)
        folders = [d for d in comparison.job_folders(root) if (d / "summary.csv").exists()]
        if len(folders) < 2:
            return
        cols = {d.name: pd.read_csv(d / "summary.csv", index_col="metric")["mean"] for d in folders}
        labels = comparison.job_labels(folders)
        table = pd.DataFrame(cols)
        # machine-readable: raw values, each metric's unit in its name
        table.rename(index=lambda m: f"{m} ({summary_unit(m)})").to_csv(root / "comparison.csv")
        rows = pd.DataFrame({lab: table.loc[m] * k for m, (lab, k) in SWEEP_TABLE.items()})
        rows.index = [labels[c] for c in rows.index]
        with pd.option_context("display.width", 250, "display.max_columns", None,
                               "display.float_format", "{:,.2f}".format):
            print(f"\nsweep of {len(cols)} jobs (means over replications):\n{rows}")
        rows.to_csv(root / "sweep_table.csv")
        report = comparison.write(root, labels)
        print(f"all metrics: {root / 'comparison.csv'}")
        if report:
            print(f"comparison report: {report}")


LARGE_OUTPUT_BYTES = 200e6  # above this a run says, before it starts, how much it will write


def grain_note(cfg: SimConfig) -> str:
    """What to tell the user when the sample is coarser than firms.max_grain (a number given
    as firms.n, or a province whose every firm is still too coarse); empty when it is not."""
    g, f = grain(cfg), cfg.firms
    if g <= f.max_grain * (1 + 1e-9):  # auto's own n sits at the bound, up to rounding
        return ""
    need = needed_n(cfg)
    head = (f"a simulated loan is up to {g:.1%} of the smallest guarantor's capacity "
            f"(firms.n={f.n:,}); above firms.max_grain={f.max_grain:g} a guarantor's failure "
            "can be a sampling artefact: ")
    if need > cfg.province.firms_total:
        return head + (f"even every firm of the province ({cfg.province.firms_total:,}) is "
                       "too coarse; read guarantor failures with care")
    return head + f"use firms.n=auto ({need:,} firms here) or a larger number"


@hydra.main(version_base="1.3", config_path=str(files.conf_dir()), config_name="config")
def _task(dcfg: DictConfig) -> None:
    # Mesa logs every step at INFO; Hydra's logging setup would print them all.
    logging.getLogger("MESA").setLevel(logging.WARNING)
    apply_presets(dcfg, typed_keys(HydraConfig.get().overrides.task))
    cfg: SimConfig = OmegaConf.to_object(dcfg)
    prepare(cfg, idle_keys=False)  # main() checked every job already, the sweep as a whole
    out = Path(HydraConfig.get().runtime.output_dir)
    size = writer.estimate_bytes(cfg)
    if size > LARGE_OUTPUT_BYTES:
        mb = f"{size / 1e6:,.0f}" if size >= 1e7 else f"{size / 1e6:.2g}"
        print(f"sim: note: this run will write about {mb} MB to {out} (timeseries.csv "
              "is the largest; fewer mc.replications or a shorter horizon write less)",
              file=sys.stderr)
    note = grain_note(cfg)
    if note:
        print(f"sim: note: {note}", file=sys.stderr)
    try:
        res = run_monte_carlo(cfg, out, progress=not cfg.quiet)
    except KeyboardInterrupt:
        print(f"interrupted before any replication finished; {out} is marked so", file=sys.stderr)
        raise SystemExit(130)
    except EngineError as e:
        writer.mark(out, "failed", cfg, error=str(e))
        print(f"sim: error: {e}", file=sys.stderr)
        raise SystemExit(1)
    except BaseException:
        writer.mark(out, "failed", cfg)
        raise
    # summary.txt holds the headline table and the shock section, already computed from the
    # report's columns: formatting them again here would read every time series back.
    print(report.title(res) + "\n" + (out / "summary.txt").read_text().rstrip("\n"))
    state = "" if res.complete else " (INCOMPLETE: interrupted)"
    print(f"\nreport: {out / 'report.md'}{state}  ({res.wall_seconds:.1f} s)")
    if not res.complete:
        raise SystemExit(130)


def output_root(argv: list[str]) -> Path:
    """The folder the run (or sweep) writes under, as far as it is known before Hydra runs:
    `hydra.run.dir=` / `hydra.sweep.dir=` up to its first ${...}, else outputs/ here."""
    key = "hydra.sweep.dir=" if any(a in ("-m", "--multirun") for a in argv) else "hydra.run.dir="
    for a in reversed(argv):
        if a.lstrip("+").startswith(key):
            literal = a.split("=", 1)[1].strip("'\"").split("${", 1)[0]
            return Path(literal or ".")
    return Path("outputs")


def check_writable(folder: Path) -> None:
    """ConfigError (one line) if `folder` cannot be created or written; creates nothing that
    stays: the nearest existing parent must be a folder we can make a folder in."""
    parent = folder.absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write the output folder {folder}: {parent} is a file, not a folder")
    try:
        with tempfile.TemporaryDirectory(dir=parent, prefix=".sim-write-check-"):
            pass
    except OSError as e:
        raise ConfigError(f"cannot write the output folder {folder}: cannot create a folder in "
                          f"{parent} ({e.strerror or e})") from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        try:
            print(help_text())
        except BrokenPipeError:  # `python -m sim --help | head`
            pass
        return 0
    try:
        argv = normalise(argv)
        preflight(argv)
        register()
        check_writable(output_root(argv))
    except ConfigError as e:
        print(f"sim: error: {e}", file=sys.stderr)
        return 2
    sys.argv = [sys.argv[0] if sys.argv else "sim"] + argv
    _task()
    return 0
