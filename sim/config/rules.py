"""Validation: each field's own rule (declared on the field in `schema`), then the rules that
tie fields together. Runs before any work; the first value that is not allowed raises
ConfigError with one line naming the key, the value and what is allowed."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
from typing import Any, Collection, Dict, List

import numpy as np
from scipy.special import ndtri

from .schema import (PAYERS, RULE, Count, HazardConfig, ProvinceConfig, ShockConfig, ShockEventConfig,
                     SimConfig, TrancheConfig, fail, tranche_payer)


def check_fields(obj: Any, prefix: str = "") -> None:
    """Apply every field's rule, depth first in field order. Lists and dicts of sections are
    walked item by item (`province.regions[3].pd`, `scheme.tranches.bank.share`); a rule on a
    dict of numbers applies to each value; None is "not set" on the Optional fields that allow it."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        rule = f.metadata.get(RULE)
        if dataclasses.is_dataclass(value):
            check_fields(value, key + ".")
        elif isinstance(value, (list, dict)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                sub = f"{key}.{k}" if isinstance(value, dict) else f"{key}[{k}]"
                if dataclasses.is_dataclass(v):
                    check_fields(v, sub + ".")
                elif rule is not None:
                    rule.check(sub, v)
        elif rule is not None and (value is not None or isinstance(rule, Count)):
            rule.check(key, value)  # a Count field (typed Any) never means "not set" by None


def rule_of(cls: type, name: str):
    """The rule declared on field `name` of dataclass `cls`."""
    return next(f.metadata[RULE] for f in dataclasses.fields(cls) if f.name == name)


def validate(cfg: SimConfig, typed: Collection[str] = (), idle_keys: bool = True) -> None:
    """Check every value; raise ConfigError on the first one that is not allowed.

    typed: the keys the user set (overrides); a rule between two keys names the typed one
    first. idle_keys: refuse shock keys set while there is no shock (off for the no-shock
    jobs of a sweep that also runs shocks, where those keys matter to the other jobs)."""
    check_fields(cfg)
    _check_scheme(cfg)
    _check_province(cfg.province)
    _check_firms(cfg, set(typed))
    c = cfg.copula
    rsum = c.rho_macro + c.rho_region + c.rho_sector
    if rsum >= 1.0:
        fail("copula", {"rho_macro": c.rho_macro, "rho_region": c.rho_region,
                        "rho_sector": c.rho_sector}, f"loadings must sum below 1 (sum {rsum:g})")
    if idle_keys:
        check_idle_shock_keys(cfg.shock)
    validate_shock(cfg)
    _check_engine(cfg, set(typed))


def _check_scheme(cfg: SimConfig) -> None:
    s = cfg.scheme
    if not s.tranches:
        fail("scheme.tranches", {}, "must name at least one tranche (e.g. bank: {share: 1.0})")
    for name, t in s.tranches.items():
        payer = tranche_payer(name, t)
        if payer not in PAYERS:
            fail(f"scheme.tranches.{name}.payer", payer, f"must be one of {', '.join(PAYERS)}")
    total = sum(t.share for t in s.tranches.values())
    if abs(total - 1.0) > 1e-9:
        fail("scheme.tranches", {n: t.share for n, t in s.tranches.items()},
             f"shares must sum to 1 (they sum to {total:.6g})")
    payers = [tranche_payer(n, t) for n, t in s.tranches.items()]
    dup = sorted({p for p in payers if payers.count(p) > 1})
    if dup:
        fail("scheme.tranches", payers, f"each payer may hold one tranche; repeated: {', '.join(dup)}")
    if s.performance_split.enabled and not split_fits(payers):
        fail("scheme.performance_split.enabled", True,
             f"moves shares between the fiscal payers and the guarantor; scheme {s.name or '?'} "
             f"has payers {', '.join(payers)} (needs guarantor and pool or government)")
    check_places("scheme.performance_split.places", s.performance_split.places, cfg.province, "place")


def split_fits(payers: Collection[str]) -> bool:
    """Whether Hunan's dynamic split (scheme.performance_split) has shares to move under a
    scheme with these payers: a guarantor's and a fiscal payer's (pool or government)."""
    return bool({"pool", "government"} & set(payers)) and "guarantor" in payers


def _check_province(p: ProvinceConfig) -> None:
    if not p.regions:
        fail("province.regions", [], "must list at least one region")
    if not p.sectors:
        fail("province.sectors", [], "must list at least one sector")
    for kind, items in (("regions", p.regions), ("sectors", p.sectors)):
        names = [r.name for r in items]
        if len(set(names)) != len(names) or not all(names):
            fail(f"province.{kind}", names, "names must be non-empty and distinct")
        tot = sum(r.firm_share for r in items)
        if abs(tot - 1.0) > 1e-6:
            fail(f"province.{kind}", {r.name: r.firm_share for r in items},
                 f"firm_share must sum to 1 (they sum to {tot:.6g})")
    sectors = [x.name for x in p.sectors]
    top = max(r.pd for r in p.regions) * p.pd_scale
    if top >= 1.0:
        fail("province.pd_scale", p.pd_scale,
             f"scales the highest prefecture PD to {top:.3g}; must keep every PD below 1")
    region_names = {r.name for r in p.regions}
    for i, r in enumerate(p.regions):
        key = f"province.regions[{i}]"
        if r.area in region_names and r.area != r.name:
            fail(f"{key}.area", r.area, "must not be the name of another prefecture")
        if r.sector_mix:
            _check_shares(f"{key}.sector_mix", r.sector_mix, sectors, must_sum_to_one=True)


def ordered(lo_key: str, lo, hi_key: str, hi, typed: set) -> None:
    """Refuse lo > hi, naming first the key the user typed (lo's when both or neither)."""
    if hi >= lo:
        return
    if hi_key in typed and lo_key not in typed:
        fail(hi_key, hi, f"must be >= {lo_key} ({lo:g})")
    fail(lo_key, lo, f"must be <= {hi_key} ({hi:g})")


def _check_firms(cfg: SimConfig, typed: set) -> None:
    f, p = cfg.firms, cfg.province
    if "firms.n_from" in typed:
        fail("firms.n_from", f.n_from, "is set by the program (the word firms.n was resolved "
             "from); set firms.n instead")
    if isinstance(f.n, int) and f.n > p.firms_total:
        fail("firms.n", f.n, f"must be <= province.firms_total ({p.firms_total}); "
             "firms.n=all simulates every firm")
    ordered("firms.loan_min", f.loan_min, "firms.loan_max", f.loan_max, typed)
    ordered("firms.term_min", f.term_min, "firms.term_max", f.term_max, typed)
    _check_shares("firms.bi_insurance", f.bi_insurance, [x.name for x in p.sectors],
                  must_sum_to_one=False)


def _check_engine(cfg: SimConfig, typed: set) -> None:
    m = cfg.mc
    if "mc.n_jobs_from" in typed:
        fail("mc.n_jobs_from", m.n_jobs_from, "is set by the program (auto when mc.n_jobs was "
             "resolved from it); set mc.n_jobs instead")
    if m.dask_address:
        if m.engine != "dask":
            fail("mc.dask_address", m.dask_address, "is used only with mc.engine=dask")
        if not re.fullmatch(r"(tcp|tls|ucx|inproc|ws|wss)://\S+|[^\s:/]+:\d+", m.dask_address):
            fail("mc.dask_address", m.dask_address,
                 "must be a scheduler address like tcp://HOST:8786 (or HOST:8786)")
    if m.engine == "dask" and importlib.util.find_spec("distributed") is None:
        fail("mc.engine", m.engine, "needs the Dask distributed package: pip install 'zyd-sim[distributed]'")


def prepare(cfg: SimConfig, typed: Collection[str] = (), idle_keys: bool = True) -> SimConfig:
    """Apply derived settings (scheme.bank_share; Hunan's dynamic split off for a scheme it
    cannot apply to unless typed), validate (see `validate` for typed and
    idle_keys), then turn the words of firms.n and mc.n_jobs (auto, all) into the numbers
    they stand for (`resolve_counts`). Idempotent: a resolved config stays as it is."""
    s = cfg.scheme
    if s.bank_share is not None:
        rule_of(type(s), "bank_share").check("scheme.bank_share", s.bank_share)
        bank = [n for n, t in s.tranches.items() if tranche_payer(n, t) == "bank"]
        others = [n for n in s.tranches if n not in bank]
        rest = sum(s.tranches[n].share for n in others)
        if s.bank_share < 1.0 and rest <= 0.0:
            fail("scheme.bank_share", s.bank_share,
                 "the scheme has no other tranche to take the rest (bank_only?)")
        if not bank:
            s.tranches["bank"] = TrancheConfig(share=0.0)
            bank = ["bank"]
        s.tranches[bank[0]].share = s.bank_share
        for n in others:
            s.tranches[n].share = s.tranches[n].share * (1.0 - s.bank_share) / rest if rest else 0.0
    ps = s.performance_split
    if ps.enabled and "scheme.performance_split.enabled" not in set(typed) and not split_fits(
            [tranche_payer(n, t) for n, t in s.tranches.items()]):
        # A province file's switch (Hunan's) holds for the schemes the split can apply to; on
        # one without a guarantor or a fiscal payer there is nothing to move, and it is off.
        # Typed, it is refused (validate).
        ps.enabled = False
    _counts_from_text(cfg)
    validate(cfg, typed, idle_keys)
    resolve_counts(cfg)
    return cfg


COUNT_FIELDS = (("firms", "n"), ("mc", "n_jobs"))  # the fields whose rule is a Count


def _counts_from_text(cfg: SimConfig) -> None:
    """A count given as the text of an integer ('1500': the Python API quotes strings, a YAML
    file may too) is that integer, as OmegaConf reads text for a field typed int."""
    for section, name in COUNT_FIELDS:
        obj = getattr(cfg, section)
        value = getattr(obj, name)
        if isinstance(value, str) and value not in rule_of(type(obj), name).words:
            try:
                setattr(obj, name, int(value))
            except ValueError:
                pass  # refused by the field's rule, with the text as given


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system has one (Linux:
    what taskset, cgroups cpusets or SLURM allow), else every core of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_n(cfg: SimConfig) -> int:
    """firms.n=auto: the fewest simulated firms that pass the grain check, at most every firm
    of the province. Reads the province, guarantor and firms settings as they are now."""
    return min(cfg.province.firms_total, needed_n(cfg))


def auto_jobs(cfg: SimConfig) -> int:
    """mc.n_jobs=auto: every available core, within the field's bound (256)."""
    return min(available_cores(), rule_of(type(cfg.mc), "n_jobs").hi)


def resolve_counts(cfg: SimConfig) -> None:
    """Replace firms.n = auto | all and mc.n_jobs = auto by integers (after validation: the
    grain needs valid guarantor and province settings), and record the word in firms.n_from /
    mc.n_jobs_from. A number stays as given; a recorded word that no longer matches its number
    (the number was changed since) is cleared, so the report never names a rule that did not
    give the number."""
    f, m = cfg.firms, cfg.mc
    if isinstance(f.n, str):
        word = f.n
        n = auto_n(cfg) if word == "auto" else cfg.province.firms_total
        hi = rule_of(type(f), "n").hi
        if n > hi:
            fail("firms.n", word, f"would be {n:,} firms, above the most firms.n allows "
                 f"({hi:,}); give a number")
        f.n, f.n_from = n, word
    elif f.n_from and f.n != (auto_n(cfg) if f.n_from == "auto" else cfg.province.firms_total):
        f.n_from = ""
    if isinstance(m.n_jobs, str):
        m.n_jobs, m.n_jobs_from = auto_jobs(cfg), m.n_jobs
    elif m.n_jobs_from and m.n_jobs != auto_jobs(cfg):
        m.n_jobs_from = ""


def guarantors(cfg: SimConfig) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The province's government guarantors: (names, region index, capital in yuan).

    Each region has `guarantors` of them, numbered in region order, each serving an equal part
    of the region's firms. Capitals are lognormal quantiles (sd of log `capital_dispersion`),
    scaled to mean `capital_mean`; the largest go to the guarantors serving most firms (ties
    in region order), so the allocation is fixed for a province, not drawn per replication."""
    p, g = cfg.province, cfg.guarantor
    names, region, firms = [], [], []
    for i, r in enumerate(p.regions):
        for k in range(r.guarantors):
            names.append(r.name if r.guarantors == 1 else f"{r.name}_{k + 1}")
            region.append(i)
            firms.append(r.firm_share / r.guarantors)
    n = len(names)
    z = ndtri((np.arange(n) + 0.5) / n)[::-1]  # largest first
    cap = np.exp(g.capital_dispersion * z)
    cap *= g.capital_mean / cap.mean()
    order = np.argsort(-np.asarray(firms), kind="stable")
    capital = np.empty(n)
    capital[order] = cap
    return names, np.asarray(region, np.intp), capital


def grain(cfg: SimConfig) -> float:
    """The largest simulated loan (province-scale: weight x loan_max) as a share of the
    smallest guarantor's capacity (leverage_cap x capital)."""
    weight = cfg.province.firms_total / cfg.firms.n
    smallest = guarantors(cfg)[2].min() * cfg.guarantor.leverage_cap
    return weight * cfg.firms.loan_max / smallest


def needed_n(cfg: SimConfig) -> int:
    """The fewest simulated firms at which the grain is within firms.max_grain."""
    smallest = guarantors(cfg)[2].min() * cfg.guarantor.leverage_cap
    return int(math.ceil(cfg.province.firms_total * cfg.firms.loan_max
                         / (cfg.firms.max_grain * smallest)))


def _check_shares(key: str, shares: Dict[str, float], known: List[str], must_sum_to_one: bool) -> None:
    for name in shares:
        if name not in known:
            fail(key, dict(shares), f"unknown sector {name!r}; known: {', '.join(known)}")
    if must_sum_to_one and abs(sum(shares.values()) - 1.0) > 1e-6:
        fail(key, dict(shares), f"shares must sum to 1 (they sum to {sum(shares.values()):.6g})")


# ----------------------------------------------------------------------------- shocks
def _place_names(p: ProvinceConfig) -> tuple[list[str], list[str]]:
    names = [r.name for r in p.regions]
    areas = sorted({r.area for r in p.regions if r.area and r.area not in names})
    return names, areas


def check_places(key: str, places: Collection[str], p: ProvinceConfig, noun: str) -> None:
    """Refuse a list of places (prefecture or area names, as shocks and Hunan's dynamic split
    take them) that names one the province does not have."""
    names, areas = _place_names(p)
    bad = [x for x in places if x not in names and x not in areas]
    if bad:
        known = ", ".join(names) + (f"; areas: {', '.join(areas)}" if areas else "")
        fail(key, list(places), f"unknown {noun}{'s' if len(bad) > 1 else ''} "
             f"{', '.join(map(repr, bad))}; known ({p.name}): {known}")


def uninsured_uplift(h: HazardConfig) -> float:
    """Overdue uplift of uninsured firms, from the average and the insured one:
    u_all = q u_ins + (1 - q) u_unins  =>  u_unins = (u_all - q u_ins) / (1 - q)."""
    if h.insured_overdue_uplift is None:
        return h.overdue_uplift
    q = h.calibration_take_up
    return (h.overdue_uplift - q * h.insured_overdue_uplift) / (1.0 - q)


def _check_hazard(key: str, h: HazardConfig, sectors: List[str]) -> None:
    u = uninsured_uplift(h)
    if not 0.0 <= u <= 1.0:
        fail(f"{key}.overdue_uplift", h.overdue_uplift,
             f"with insured_overdue_uplift {h.insured_overdue_uplift} and calibration_take_up "
             f"{h.calibration_take_up} the uninsured uplift would be {u:.4g}; it must be in [0, 1]")
    for name in h.sector_weight:
        if name not in sectors:
            fail(f"{key}.sector_weight", dict(h.sector_weight),
                 f"unknown sector {name!r}; known: {', '.join(sectors)}")


def _check_event(key: str, ev: ShockEventConfig, cfg: SimConfig) -> None:
    """Check one event's cross-field rules; `key` is its prefix ("shock" or "shock.also.NAME")."""
    if ev.kind == "none":
        return
    if ev.timing == "scheduled":
        if not (isinstance(ev.month, int) and not isinstance(ev.month, bool)
                and 1 <= ev.month <= cfg.horizon):
            fail(f"{key}.month", ev.month,
                 f"must be an integer in [1, {cfg.horizon}] (a month of the horizon, 1 = "
                 f"January {cfg.start_year})")
    elif ev.return_period is None:
        fail(f"{key}.return_period", None, "timing=drawn needs a return period in years (> 1)")
    check_places(f"{key}.prefectures", ev.prefectures, cfg.province, "prefecture")
    sectors = [x.name for x in cfg.province.sectors]
    bad = [x for x in ev.sectors if x not in sectors]
    if bad:
        fail(f"{key}.sectors", list(ev.sectors),
             f"unknown sector {', '.join(map(repr, bad))}; known: {', '.join(sectors)}")
    if ev.kind == "sector_crash" and not ev.sectors:
        fail(f"{key}.sectors", [], f"a sector crash needs a sector; known: {', '.join(sectors)}")
    _check_hazard(f"shock.{ev.kind}", getattr(cfg.shock, ev.kind), sectors)


def shock_events(shock: ShockConfig) -> list[tuple[str, ShockEventConfig]]:
    """(key, event) for every event that is not 'none': the main one, then `also`."""
    out = [("shock", shock)] if shock.kind != "none" else []
    out += [(f"shock.also.{n}", e) for n, e in shock.also.items() if e.kind != "none"]
    return out


# The main event's fields that only a shock reads: set with no shock, they would be ignored.
EVENT_FIELDS = ("timing", "month", "season", "duration", "prefectures", "sectors", "severity",
                "return_period")


def check_idle_shock_keys(shock: ShockConfig) -> None:
    """With no shock (kind none, as `shock=none`, the default) a value set on an event field
    would do nothing; refuse it instead of running without it. Only a value that differs
    from the schema default counts (conf/shock/none.yaml sets none)."""
    if shock.kind != "none":
        return
    default = ShockEventConfig()
    for name in EVENT_FIELDS:
        value = getattr(shock, name)
        if value != getattr(default, name):
            fail(f"shock.{name}", value, "has no effect without a shock; choose one, e.g. "
                 "shock=flood (python -m sim --help lists them)")


def validate_shock(cfg: SimConfig) -> None:
    _check_event("shock", cfg.shock, cfg)
    for name, ev in cfg.shock.also.items():
        _check_event(f"shock.also.{name}", ev, cfg)
