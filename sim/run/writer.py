"""Writers: where the runner (`sim.run.runner.run_replications`) puts finished replications.

- `FolderWriter(out_dir)`: the output folder (layout in `sim.report`'s docstring). Each
  replication's time series is written to replications/rep_NNNNN.parquet (and its
  counterfactual's to replications/cf_NNNNN.parquet) as soon as it finishes; only the
  per-replication summaries stay in memory. `status.json` says "running" with a live `done`
  count. At the end the per-replication files are merged, in replication order and a
  bounded batch at a time, into timeseries.parquet / .csv (counterfactual_timeseries.parquet
  with a shock); the report's tables and plots read back only the columns they need.
  "complete" is written last, once every file is there; after Ctrl-C the state is
  "interrupted" and replications/ stays (every rep_*.parquet in it is a finished one).
- `MemoryWriter(keep_timeseries=True)`: keeps everything in memory (API runs without a
  folder); with keep_timeseries=False only the summaries (`sim.stress`).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import OmegaConf

from .. import metrics, report
from ..config import SimConfig
from .results import Results

# Rows per batch when merging the per-replication files (one Parquet row group per batch), and
# files per batch: each small Arrow table read costs a few hundred bytes per column whatever
# its rows, so thousands of them at once cost hundreds of MB.
MERGE_ROWS = 50_000
MERGE_FILES = 64
# Bytes one replication-month costs on disk, roughly: ~100 columns x 8 bytes, twice (the
# Parquet and the CSV time series). Measured: 2,320 replications x 60 months wrote 422 MB.
BYTES_PER_ROW = 100 * 8 * 2


def estimate_bytes(cfg: SimConfig) -> int:
    """About how many bytes a FolderWriter run of cfg writes: replications x horizon rows,
    twice with a shock whose counterfactual is run too. An estimate, for a warning."""
    from ..shocks import has_shocks

    rows = cfg.mc.replications * cfg.horizon
    if has_shocks(cfg) and cfg.shock.counterfactual:
        rows *= 2
    return rows * BYTES_PER_ROW


def mark(out_dir: Path, state: str, cfg: SimConfig, **extra) -> None:
    """Write status.json (to a temporary name, then renamed: readers never see half a file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    body = {"state": state, "scenario": cfg.scheme.name,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra}
    tmp = out_dir / ".status.json.tmp"
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, out_dir / "status.json")


def write_replication(out_dir: Path, r: int, ts: pd.DataFrame, prefix: str = "rep") -> None:
    """Stream one finished replication to replications/<prefix>_NNNNN.parquet.

    Written to a temporary name and renamed, so an interruption never leaves a half-written
    file under the final name: every rep_*.parquet present is a finished replication.
    """
    d = out_dir / "replications"
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"{prefix}_{r:05d}.parquet"
    tmp = d / f".{prefix}_{r:05d}.parquet.tmp"
    # pyarrow directly: the same file as DataFrame.to_parquet, at half its fixed cost, which
    # matters when thousands of small replications stream through one process.
    try:
        pq.write_table(pa.Table.from_pandas(ts, preserve_index=False), tmp)
        os.replace(tmp, final)
    except BaseException:  # Ctrl-C in the middle of a write leaves no half file behind
        tmp.unlink(missing_ok=True)
        raise


def merge_replications(files: list[Path], parquet: Path, csv: Path | None = None) -> list[str]:
    """Concatenate per-replication Parquet files (already in replication order) into one
    Parquet file (and a CSV), a batch of about MERGE_ROWS rows at a time; return the columns."""
    if not files:
        return []
    per_file = max(pq.ParquetFile(files[0]).metadata.num_rows, 1)
    step = max(1, min(MERGE_FILES, MERGE_ROWS // per_file))
    out = None
    try:
        for i in range(0, len(files), step):
            table = pa.concat_tables([pq.read_table(f) for f in files[i:i + step]])
            if out is None:
                out = pq.ParquetWriter(parquet, table.schema)
            table = table.cast(out.schema)
            out.write_table(table)
            if csv is not None:
                table.to_pandas().to_csv(csv, index=False, header=i == 0, mode="w" if i == 0 else "a")
    finally:
        if out is not None:
            out.close()
    return list(pq.read_schema(parquet).names)


# Time-series columns the report's plots and shock tables read (sim/report.py, metrics.window_metrics).
REPORT_COLUMNS = {
    "replication", "month", "outstanding_direct", "outstanding_scheme", "guarantor_leverage",
    "guarantor_leverage_max", "pool_balance", "shortfall", "shock_active", "overdue_ratio",
    "claims", "released_scheme", "new_direct", "new_scheme", "applicants", "overdue_new",
    "defaults", "npl_ratio", "recoveries", "guarantor_net_assets", "city_funds_balance",
    "funds_queue", "loss_direct_bank", "recoveries_direct",
}


def report_columns(names: list[str]) -> list[str]:
    return [c for c in names if c in REPORT_COLUMNS or c.startswith(metrics.AGENCY_PREFIX)
            or c.startswith("paid_") or c.startswith("recovered_") or c.startswith("compensated_")]


def write_all(view: Results, out: Path) -> None:
    """Tables, summary.txt, plots and report.md of `view` (whose time series may hold only the
    report's columns), then status.json: "complete" last, or "interrupted"."""
    cfg = view.config
    (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    view.replications.to_parquet(out / "replications.parquet", index=False)
    view.replications.to_csv(out / "replications.csv", index=False)
    view.summary.to_csv(out / "summary.csv")
    table = report.format_table(report.headline(view), lang=cfg.report.lang)
    shock_text = report.format_shock(view)
    (out / "summary.txt").write_text(table + "\n" + (f"\n{shock_text}\n" if shock_text else ""))
    if view.counterfactual is not None:
        view.counterfactual.replications.to_csv(out / "counterfactual_replications.csv", index=False)
        view.counterfactual.summary.to_csv(out / "counterfactual_summary.csv")
    plots = report.write_plots(view, out / "plots")
    (out / "report.md").write_text(report.markdown_report(view, table, plots, shock_text))
    if view.complete:
        shutil.rmtree(out / "replications", ignore_errors=True)
        mark(out, "complete", cfg, replications=len(view.replications),
             wall_seconds=round(view.wall_seconds, 2))
    else:
        mark(out, "interrupted", cfg, done=len(view.replications),
             replications=len(view.replications), wanted=cfg.mc.replications)


class SummaryRows:
    """Per-replication summaries, kept compactly: one float64 array per replication (a dict of
    a hundred-odd Python floats costs about 8 KB; the array about 1 KB), so memory stays small
    whatever the replication count. Integer columns come back as integers."""

    def __init__(self):
        self.keys: list[str] = []
        self.integer: set[str] = set()
        self.rows: list[np.ndarray] = []

    def append(self, summary: dict) -> None:
        if not self.keys:
            self.keys = list(summary)
            self.integer = {k for k, v in summary.items()
                            if isinstance(v, (int, np.integer)) and not isinstance(v, bool)}
        self.rows.append(np.array([summary[k] for k in self.keys], dtype=float))

    def __len__(self) -> int:
        return len(self.rows)

    def replications(self) -> list[int]:
        i = self.keys.index("replication")
        return sorted(int(row[i]) for row in self.rows)

    def table(self) -> pd.DataFrame:
        """One row per replication, in replication order."""
        df = pd.DataFrame(np.vstack(self.rows), columns=self.keys)
        df = df.sort_values("replication", kind="stable").reset_index(drop=True)
        return df.astype({k: "int64" for k in self.integer if df[k].notna().all()})


class FolderWriter:
    """Streams replications into `out_dir` and writes the whole folder at the end."""

    def __init__(self, out_dir: Path):
        self.out = Path(out_dir)
        self.summaries = SummaryRows()
        self.cf_summaries = SummaryRows()

    def start(self, cfg: SimConfig) -> None:
        self.wanted = cfg.mc.replications
        mark(self.out, "running", cfg, done=0, wanted=self.wanted)
        self.cfg = cfg

    def add(self, rep) -> None:
        write_replication(self.out, rep.r, rep.timeseries)
        if rep.cf_timeseries is not None:
            write_replication(self.out, rep.r, rep.cf_timeseries, prefix="cf")
            self.cf_summaries.append(rep.cf_summary)
        self.summaries.append(rep.summary)
        mark(self.out, "running", self.cfg, done=len(self.summaries), wanted=self.wanted)

    def _merged(self, prefix: str, parquet: Path, csv: Path | None) -> pd.DataFrame:
        """Merge replications/<prefix>_*.parquet of the kept replications; read back the
        report's columns."""
        d = self.out / "replications"
        files = [d / f"{prefix}_{r:05d}.parquet" for r in self.summaries.replications()]
        names = merge_replications(files, parquet, csv)
        return pd.read_parquet(parquet, columns=report_columns(names))

    def finish(self, cfg: SimConfig, complete: bool, wall_seconds: float, phase_seconds: dict,
               cf_phase_seconds: dict) -> Results:
        n = len(self.summaries)
        if n == 0:
            mark(self.out, "interrupted", cfg, done=0, replications=0, wanted=self.wanted)
            return Results(cfg, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), out_dir=self.out,
                           complete=False)
        reps = self.summaries.table()
        ts_path = self.out / "timeseries.parquet"
        view_ts = self._merged("rep", ts_path, self.out / "timeseries.csv")
        cf_view = cf_res = None
        if self.cf_summaries:
            from ..shocks import without_shocks

            cf_cfg = without_shocks(cfg)
            cf_reps = self.cf_summaries.table()
            cf_path = self.out / "counterfactual_timeseries.parquet"
            cf_ts = self._merged("cf", cf_path, None)
            cf_summary = metrics.aggregate(cf_reps)
            cf_view = Results(cf_cfg, cf_ts, cf_reps, cf_summary, cf_phase_seconds)
            cf_res = Results(cf_cfg, cf_path, cf_reps, cf_summary, cf_phase_seconds,
                             out_dir=self.out, complete=complete)
        summary = metrics.aggregate(reps)
        view = Results(cfg, view_ts, reps, summary, phase_seconds, wall_seconds, self.out,
                       complete, cf_view)
        write_all(view, self.out)
        return Results(cfg, ts_path, reps, summary, phase_seconds, wall_seconds, self.out,
                       complete, cf_res)


class MemoryWriter:
    """Keeps the run in memory; keep_timeseries=False keeps only the per-replication summaries."""

    def __init__(self, keep_timeseries: bool = True):
        self.keep_timeseries = keep_timeseries
        self.reps: list = []

    def start(self, cfg: SimConfig) -> None:
        self.reps = []

    def add(self, rep) -> None:
        if not self.keep_timeseries:
            rep.timeseries = rep.cf_timeseries = None
        self.reps.append(rep)

    def finish(self, cfg: SimConfig, complete: bool, wall_seconds: float, phase_seconds: dict,
               cf_phase_seconds: dict) -> Results:
        got = sorted(self.reps, key=lambda rep: rep.r)

        def ts(attr: str) -> pd.DataFrame:
            frames = [getattr(rep, attr) for rep in got if getattr(rep, attr) is not None]
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

        def summaries(attr: str) -> pd.DataFrame:
            return pd.DataFrame([getattr(rep, attr) for rep in got])

        cf_res = None
        if got and got[0].cf_summary is not None:
            from ..shocks import without_shocks

            cf_reps = summaries("cf_summary")
            cf_res = Results(without_shocks(cfg), ts("cf_timeseries"), cf_reps,
                             metrics.aggregate(cf_reps), cf_phase_seconds, complete=complete)
        reps = summaries("summary")
        return Results(cfg, ts("timeseries"), reps, metrics.aggregate(reps) if got else pd.DataFrame(),
                       phase_seconds, wall_seconds, None, complete, cf_res)
