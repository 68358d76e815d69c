"""Shocks: floods, droughts, pandemics, sector crashes and downturns (DESIGN §4 "Shocks").

Plain functions turn the `shock` config into effects for each month and each firm:

- an additive uplift on the monthly probability that a performing loan falls overdue, and
  the part of it that ends in default. The copula thresholds move to PhiInv(p') and
  PhiInv(q'), so the marginal probabilities are exactly p' and q' (sim/firms.py);
- a PD multiplier (downturns);
- a loan-demand multiplier (emergency loans after a flood; fewer applications in a
  pandemic);
- at an event's first month, a collateral haircut (LGD up) and a recovery delay for the
  defaults recognised in its window (the event months plus the overdue months after).

A firm's *intensity* in an event is  magnitude x place weight (its prefecture) x sector
weight; magnitude = severity, times the Gumbel ratio of the return period if one is given.
Every effect scales with it. `ShockEngine` holds one replication's events and occurrences;
the model calls it in its first phase each month ("shocks"). The plain-words description,
every parameter and its source, and the calibration to the 2024 Dongting Lake flood are in
docs/shocks.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import ndtri

from .config import (HazardConfig, ProvinceConfig, ShockEventConfig, SimConfig, shock_events,
                     uninsured_uplift)
from .risk.copula import monthly_pd

MAX_MONTHLY = 0.999  # cap on a monthly probability after shocks (same as sim.firms)
STREAM_COPULA, STREAM_EVENTS = 0, 1  # per-replication random streams owned by the engine


# ----------------------------------------------------------------------------- magnitude
def gumbel_variate(return_period: float) -> float:
    """Reduced variate of the Gumbel (annual-maximum) law for a return period T > 1:
    y(T) = -ln(-ln(1 - 1/T)). y(10) = 2.25, y(20) = 2.97, y(50) = 3.90, y(100) = 4.60."""
    return -math.log(-math.log(1.0 - 1.0 / return_period))


def event_magnitude(severity: float, return_period: float | None, reference_return_period: float) -> float:
    """severity, or severity x y(T) / y(T_ref) for a 1-in-T-year event.

    The kind's parameters describe its reference event (the 2024 Dongting Lake flood,
    taken as 1-in-20), so a 1-in-100 flood is y(100)/y(20) = 1.55 times as intense and a
    1-in-10 flood 0.76 times: damage grows linearly with the Gumbel variate (assumption).
    """
    if return_period is None:
        return float(severity)
    return float(severity) * gumbel_variate(return_period) / gumbel_variate(reference_return_period)


# ----------------------------------------------------------------------------- where, who
def region_indices(names: list[str], province: ProvinceConfig) -> np.ndarray:
    """Indices of the named prefectures; an area name stands for all its prefectures."""
    out = []
    for i, r in enumerate(province.regions):
        if r.name in names or (r.area and r.area in names):
            out.append(i)
    return np.array(out, np.intp)


def sector_share_by_region(province: ProvinceConfig, sector: str) -> np.ndarray:
    base = {s.name: s.firm_share for s in province.sectors}
    return np.array([(r.sector_mix or base).get(sector, 0.0) for r in province.regions])


def place_weights(ev: ShockEventConfig, province: ProvinceConfig) -> np.ndarray:
    """Weight of each prefecture in the event, in [0, 1].

    Named prefectures (or areas): 1. Otherwise a flood or a drought follows flood_exposure
    (floods) or hits everywhere (drought), a sector crash hits the prefecture where its
    first sector is most concentrated, and a pandemic or downturn hits everywhere.
    """
    n = len(province.regions)
    w = np.zeros(n)
    if ev.prefectures:
        w[region_indices(list(ev.prefectures), province)] = 1.0
    elif ev.kind == "flood":
        w[:] = [r.flood_exposure for r in province.regions]
    elif ev.kind == "sector_crash":
        w[int(np.argmax(sector_share_by_region(province, ev.sectors[0])))] = 1.0
    else:
        w[:] = 1.0
    return w


def sector_weights(ev: ShockEventConfig, hazard: HazardConfig, province: ProvinceConfig) -> np.ndarray:
    """Relative intensity of each sector: the kind's sector_weight (other_sector_weight for
    sectors it does not list); sectors outside the event's `sectors` list get 0."""
    names = [s.name for s in province.sectors]
    w = np.array([hazard.sector_weight.get(s, hazard.other_sector_weight) for s in names], float)
    if ev.sectors:
        w[[i for i, s in enumerate(names) if s not in ev.sectors]] = 0.0
    return w


def month_profile(hazard: HazardConfig, duration: int) -> np.ndarray:
    """Share of the event's overdue uplift in each month of its window (sums to 1):
    `onset_share` in the first month and the rest evenly after, or even if onset_share is None."""
    if hazard.onset_share is None or duration == 1:
        return np.full(duration, 1.0 / duration)
    rest = (1.0 - hazard.onset_share) / (duration - 1)
    return np.array([hazard.onset_share] + [rest] * (duration - 1))


# ----------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Event:
    """A shock event with its names resolved to arrays."""

    key: str  # config key: "shock" or "shock.also.NAME"
    kind: str
    hazard: HazardConfig
    timing: str
    month: int  # 0-based month index of a scheduled event
    season: int  # 1-12, for drawn events
    duration: int
    return_period: float | None
    magnitude: float
    place: np.ndarray = field(repr=False)  # (regions,)
    sector: np.ndarray = field(repr=False)  # (sectors,)
    profile: np.ndarray = field(repr=False)  # (duration,)
    uplift_uninsured: float = 0.0
    uplift_insured: float = 0.0

    @property
    def exact_onset(self) -> bool:
        """All of the uplift lands in the first month (the flood): the engine then scales it
        so that the overdue share at the end of the window rises by exactly the uplift."""
        return self.duration > 1 and self.profile[0] == 1.0


def resolve_events(cfg: SimConfig) -> list[Event]:
    """Every configured event (main, then `also`), names resolved. cfg must be validated."""
    out = []
    for key, ev in shock_events(cfg.shock):
        h: HazardConfig = getattr(cfg.shock, ev.kind)
        u_un = uninsured_uplift(h)
        u_in = u_un if h.insured_overdue_uplift is None else h.insured_overdue_uplift
        out.append(Event(
            key=key, kind=ev.kind, hazard=h, timing=ev.timing, month=ev.month - 1,
            season=ev.season, duration=ev.duration, return_period=ev.return_period,
            magnitude=event_magnitude(ev.severity, ev.return_period, h.reference_return_period),
            place=place_weights(ev, cfg.province), sector=sector_weights(ev, h, cfg.province),
            profile=month_profile(h, ev.duration), uplift_uninsured=u_un, uplift_insured=u_in))
    return out


@dataclass(frozen=True)
class Occurrence:
    """An event striking in month `start` (0-based) for `event.duration` months."""

    event: Event
    start: int

    @property
    def end(self) -> int:  # exclusive
        return self.start + self.event.duration

    def active(self, t: int) -> bool:
        return self.start <= t < self.end


def schedule(events: list[Event], horizon: int, key: int) -> list[Occurrence]:
    """When each event strikes. Scheduled: its month. Drawn: in each year of the horizon,
    in calendar month `season`, with probability 1/return_period, from the engine's own
    stream (so the no-shock counterfactual draws nothing else differently)."""
    out = []
    for i, ev in enumerate(events):
        if ev.timing == "scheduled":
            out.append(Occurrence(ev, ev.month))
            continue
        rng = np.random.default_rng([key, STREAM_EVENTS, i])
        years = math.ceil(horizon / 12)
        u = rng.random(years)
        for y in range(years):
            start = 12 * y + ev.season - 1
            if start < horizon and u[y] < 1.0 / ev.return_period:
                out.append(Occurrence(ev, start))
    return sorted(out, key=lambda o: o.start)


# ----------------------------------------------------------------------------- per month
@dataclass
class MonthEffects:
    """This month's effects on every firm (arrays of length n)."""

    overdue_add: np.ndarray  # additive monthly probability of falling overdue
    default_add: np.ndarray  # the part of overdue_add that ends in default
    onset_overdue_add: np.ndarray  # like overdue_add, for exact-onset events (scaled at use)
    onset_default_add: np.ndarray
    onset_window: np.ndarray  # later months of the exact-onset window (for the scaling)
    pd_mult: np.ndarray  # multiplies the monthly PD and overdue probability
    apply_mult: np.ndarray  # multiplies the monthly probability of applying for a loan


def intensity(occ: Occurrence, region: np.ndarray, sector: np.ndarray) -> np.ndarray:
    """magnitude x place weight x sector weight, per firm."""
    ev = occ.event
    return ev.magnitude * ev.place[region] * ev.sector[sector]


def month_effects(active: list[Occurrence], t: int, region: np.ndarray, sector: np.ndarray,
                  insured: np.ndarray) -> MonthEffects:
    """Compose the effects of the occurrences active in month t (0-based). Uplifts add up,
    multipliers multiply."""
    n = region.shape[0]
    z = np.zeros
    eff = MonthEffects(z(n), z(n), z(n), z(n), z(n, np.int16), np.ones(n), np.ones(n))
    for occ in active:
        ev, h = occ.event, occ.event.hazard
        k = t - occ.start
        inten = intensity(occ, region, sector)
        uplift = np.where(insured, ev.uplift_insured, ev.uplift_uninsured) * inten * ev.profile[k]
        if ev.exact_onset and k == 0:
            eff.onset_overdue_add += uplift
            eff.onset_default_add += h.default_share * uplift
            eff.onset_window = np.maximum(eff.onset_window,
                                          np.where(uplift > 0, ev.duration - 1, 0)).astype(np.int16)
        else:
            eff.overdue_add += uplift
            eff.default_add += h.default_share * uplift
        if h.pd_multiplier != 1.0:
            eff.pd_mult *= np.maximum(1.0 + (h.pd_multiplier - 1.0) * inten, 0.0)
        if h.demand_multiplier != 1.0:
            eff.apply_mult *= np.maximum(1.0 + (h.demand_multiplier - 1.0) * inten, 0.0)
    return eff


def onset_effects(occ: Occurrence, region: np.ndarray, sector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At an occurrence's first month: (share of collateral value lost, extra recovery months)
    per firm. Collateral loss = min(1, collateral_loss x intensity); the recovery delay
    depends on the place only: round(recovery_delay x min(1, magnitude x place weight))."""
    ev, h = occ.event, occ.event.hazard
    loss = np.minimum(h.collateral_loss * intensity(occ, region, sector), 1.0)
    place = np.minimum(ev.magnitude * ev.place[region], 1.0)
    delay = np.rint(h.recovery_delay * place).astype(np.int16)
    return loss, delay


def shocked_probabilities(p: np.ndarray, cure_ratio: float, eff: MonthEffects | None,
                          idx: np.ndarray, later_months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monthly probabilities (default p', fall overdue q' >= p') of loans idx under shocks.

    Without shocks p' = p and q' = p (1 + cure_ratio). With them
        q' = q m + overdue_add + onset_overdue_add / (1 - q m)^L
        p' = p m + default_add + onset_default_add / (1 - q m)^L      (capped at q')
    m the PD multiplier; L the months after this one that the loan stays at risk inside an
    exact-onset event's window (`later_months`, already capped by the window). Dividing by
    (1 - q m)^L makes the share of these loans overdue at the end of the window exactly
    `uplift` higher than without the event: a hit loan cannot also fall overdue later, so
    without the scaling the rise would be uplift (1 - q m)^L.
    """
    q = np.minimum(p * (1.0 + cure_ratio), MAX_MONTHLY)
    if eff is None:
        return p, q
    m = eff.pd_mult[idx]
    pm, qm = np.minimum(p * m, MAX_MONTHLY), np.minimum(q * m, MAX_MONTHLY)
    scale = (1.0 - qm) ** (-later_months.astype(float))
    q2 = np.minimum(qm + eff.overdue_add[idx] + eff.onset_overdue_add[idx] * scale, MAX_MONTHLY)
    p2 = np.minimum(pm + eff.default_add[idx] + eff.onset_default_add[idx] * scale, q2)
    return p2, q2


# ----------------------------------------------------------------------------- the engine
class ShockEngine:
    """One replication's shocks: events, when they strike, this month's effects.

    It always takes one number from the model's generator at construction, shock or not,
    so a run and its no-shock counterfactual with the same seed stay in step, and it owns
    the per-month copula streams (common random numbers: the same firm row gets the same
    idiosyncratic draw in the same month in both runs).
    """

    def __init__(self, cfg: SimConfig, rng: np.random.Generator):
        self.key = int(rng.integers(0, 2**63 - 1))
        self.cfg = cfg
        self.events = resolve_events(cfg)
        self.occurrences = schedule(self.events, cfg.horizon, self.key)
        self.max_recovery_delay = max((e.hazard.recovery_delay for e in self.events), default=0)
        self.active: list[Occurrence] = []
        self.effects: MonthEffects | None = None

    def month_rng(self, t: int) -> np.random.Generator:
        """The copula stream of month t (0-based)."""
        return np.random.default_rng([self.key, STREAM_COPULA, t])

    def begin_month(self, t: int, firms) -> None:
        """Phase "shocks": find the active occurrences, apply onsets to firms, compute effects."""
        self.active = [o for o in self.occurrences if o.active(t)]
        if not self.active:
            self.effects = None
            return
        for occ in self.active:
            if occ.start == t:
                loss, delay = onset_effects(occ, firms.region, firms.sector)
                hit = (loss > 0) | (delay > 0)
                # Defaults recognised until the window's end plus the overdue months carry them.
                live = t < firms.shock_until
                prev_loss = np.where(live, firms.collateral_loss, 0.0)
                prev_delay = np.where(live, firms.recovery_delay, 0)
                firms.collateral_loss[:] = np.where(hit, 1.0 - (1.0 - prev_loss) * (1.0 - loss), prev_loss)
                firms.recovery_delay[:] = np.where(hit, np.maximum(prev_delay, delay), prev_delay)
                until = occ.end + self.cfg.firms.overdue_months
                firms.shock_until[:] = np.where(hit, np.maximum(np.where(live, firms.shock_until, 0), until),
                                                np.where(live, firms.shock_until, 0))
        self.effects = month_effects(self.active, t, firms.region, firms.sector, firms.insured)

    def struck(self, months: int, kind: str) -> np.ndarray:
        """Per prefecture, the strongest intensity (magnitude x place weight) of the events of
        this kind that struck in the first `months` months; 0 where none did."""
        out = np.zeros(len(self.cfg.province.regions))
        for occ in self.occurrences:
            if occ.event.kind == kind and occ.start < months:
                out = np.maximum(out, occ.event.magnitude * occ.event.place)
        return out

    def thresholds(self, firms, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Copula thresholds (default, overdue) of performing loans idx this month, read before
        the month ages them (the firm kernel ages a loan and draws it in the same step)."""
        if self.effects is None:
            return firms.threshold[idx], firms.threshold_overdue[idx]
        # months after this one the loan stays at risk: term - (age + 1) - 1
        later = np.clip(firms.term[idx].astype(np.int32) - firms.age[idx] - 2, 0,
                        self.effects.onset_window[idx])
        p, q = shocked_probabilities(monthly_pd(firms.pd[idx]), self.cfg.firms.overdue_cure_ratio,
                                     self.effects, idx, later)
        return ndtri(p), ndtri(q)

    def apply_multiplier(self, idx: np.ndarray) -> np.ndarray | None:
        return None if self.effects is None else self.effects.apply_mult[idx]


def without_shocks(cfg: SimConfig) -> SimConfig:
    """The same config with no shock: the counterfactual (same seed = common random numbers)."""
    return replace(cfg, shock=replace(cfg.shock, kind="none", name="none", also={}))


def has_shocks(cfg: SimConfig) -> bool:
    return bool(shock_events(cfg.shock))
