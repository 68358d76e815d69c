"""The app's controls, as the model's own config keys, and how they become a validated config.

Every slider or choice in the page is one key of `sim/config/schema.py` (docs/levers.md); the
page holds their values in a `Levers`, and `Levers.configs()` turns them into overrides and
validates them through `sim.load_config`, as the command line does, so a value the model would
refuse is refused here with the same one-line message (`sim.ConfigError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from urllib.parse import parse_qsl

from .. import instruments as instr
from ..config import ConfigError, SimConfig, load_config, tranche_payer
from ..config.rules import split_fits

# The scheme the side-by-side mode puts beside a preset when the page turns it on (issue 15:
# 4321 against 2:8); any other preset can be chosen instead.
PAIR = {"4321": "2:8", "2:8": "4321", "3:7": "2:8", "full_guarantee": "2:8", "bank_only": "4321"}
# Scheme presets offered in the app: scenario name as typed -> (English, Chinese).
PRESETS = {
    "4321": ("4321: guarantor 40 / re-guarantor 30 / bank 20 / local government 10",
             "4321模式:担保40/再担保30/银行20/地方政府10"),
    "2:8": ("2:8: bank 20 / guarantor 80", "二八分担:银行20/担保80"),
    "3:7": ("3:7: bank 30 / guarantor 70", "三七分担:银行30/担保70"),
    "full_guarantee": ("guarantor 100 (before 2015)", "担保全额承担"),
    "bank_only": ("bank 100: no guarantee", "银行独担(无担保)"),
}
REPLENISH = ("annual", "top_up", "performance", "none")
RETURN_PERIODS = (None, 10, 20, 50, 100)  # None: the severity alone (1 = the 2024 flood)


@dataclass(frozen=True)
class Control:
    """One slider of the page: a config key, its labels and its range in the page's unit
    (`scale` converts: config value = page value x scale)."""

    key: str
    label: str
    zh: str
    lo: float
    hi: float
    step: float
    scale: float = 1.0
    unit: str = ""
    integer: bool = False  # the key takes a whole number


# The numeric levers (the scheme, the tranches, the replenishment rule and the flood are
# handled apart). Ranges are the workshop's, inside what the schema allows. Each default must
# lie on its slider's steps (2.67 bn, 38.6%): the browser's slider snaps a value off its steps
# and reports the snapped value back, which would quietly change the lever.
CONTROLS = (
    Control("scheme.guarantee_fee", "guarantee fee", "担保费率", 0.0, 3.0, 0.1, 0.01, "% a year"),
    Control("guarantor.leverage_cap", "leverage cap", "放大倍数上限", 0.5, 30.0, 0.5, 1.0, "x net assets"),
    Control("pool.size", "provincial pool", "省级风险补偿资金池", 0.0, 5.0, 0.1, 1e9, "bn yuan"),
    Control("pool.city_size", "prefecture funds, together", "市级风险补偿资金", 0.0, 6.0, 0.01, 1e9, "bn yuan"),
    Control("pool.annual_amount", "provincial pool, yearly appropriation", "省级资金年度补充", 0.0, 2.0, 0.05,
            1e9, "bn yuan"),
    Control("pool.payout_delay", "funds' payout delay", "补偿时滞", 0, 24, 1, 1.0, "months", integer=True),
    Control("pool.payout_efficiency", "claims passing the funds' review", "补偿审核通过率", 0.0, 100.0, 5.0,
            0.01, "%"),
    Control("bank.data_coverage", "firms on the credit-data platform", "征信平台覆盖率", 0.0, 100.0, 0.1,
            0.01, "%"),
)
CONTROL = {c.key: c for c in CONTROLS}


def rebalance(shares: dict[str, float], name: str, value: float) -> dict[str, float]:
    """Set tranche `name` to `value` (a fraction, clipped to [0, 1]) and rescale the others pro
    rata to fill the rest, so the shares always sum to 1; when the others are all 0 the rest is
    split evenly among them."""
    value = min(max(float(value), 0.0), 1.0)
    others = [k for k in shares if k != name]
    if not others:
        return {name: 1.0}
    rest = 1.0 - value
    total = sum(shares[k] for k in others)
    out = {name: value}
    for k in others:
        out[k] = rest * (shares[k] / total if total > 0 else 1.0 / len(others))
    # rounding: give the last tranche whatever makes the sum exactly 1
    last = others[-1]
    out[last] = max(0.0, 1.0 - sum(v for k, v in out.items() if k != last))
    return {k: out[k] for k in shares}


@lru_cache(maxsize=None)
def preset(scenario: str) -> SimConfig:
    """The preset's config with every other key at its default (read only: shared)."""
    return load_config(scenario)


def control_values(cfg: SimConfig) -> dict[str, float]:
    """The page values of every control in a config."""
    out = {}
    for c in CONTROLS:
        section, key = c.key.split(".")
        out[c.key] = getattr(getattr(cfg, section), key) / c.scale
    return out


# The policy instruments the page can switch on (docs/instruments.md): query name -> (config
# key, label). The scheme panel names those in force (sim/instruments.py).
_LABELS = {
    "dynamic": "Anhui dynamic sharing 动态风险分担",
    "circuit_breaker": "model circuit-breaker 熔断—回滚—补偿",
    "performance_split": "Hunan dynamic split 分险比例动态调整",
    "priority": "performance-linked payouts 绩效挂钩优先兑付",
    "first_loan": "first-loan programme 首贷培植",
    "platform": "platform lenders 数字平台助贷",
}
INSTRUMENTS = {name: (key, _LABELS[name]) for name, key in instr.KEYS.items()}


@dataclass(frozen=True)
class Levers:
    """Everything the page sets. `values` are page values (see Control.scale); `tranches` the
    scheme's shares (fractions); `compare`, a preset to run beside it ("" for none)."""

    scenario: str = "4321"
    tranches: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    replenish: str = "annual"
    flood: bool = False
    flood_month: int = 19  # 1-based month of the horizon (19 = July 2027)
    flood_severity: float = 1.0  # 1 = the 2024 Dongting Lake flood
    flood_return_period: float | None = None
    seed: int = 20260101
    compare: str = ""
    instruments: tuple = ()  # names of INSTRUMENTS switched on; the others are off
    # any other config overrides, passed on as they are (the tests use a small firms.n)
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_scheme(cls, scenario: str, base: "Levers | None" = None) -> "Levers":
        """Levers for a preset: its tranches and fee; every other lever kept from `base` (or the
        model's defaults)."""
        cfg = preset(scenario)
        values = control_values(cfg)
        if base is not None:
            values = {**base.values, "scheme.guarantee_fee": values["scheme.guarantee_fee"]}
        tranches = {k: t.share for k, t in cfg.scheme.tranches.items()}
        kept = {} if base is None else {f: getattr(base, f) for f in (
            "replenish", "flood", "flood_month", "flood_severity", "flood_return_period", "seed",
            "compare", "instruments", "extra")}
        return replace(cls(scenario=scenario, tranches=tranches, values=values,
                           replenish=cfg.pool.replenish, instruments=instr.switched_on(cfg)), **kept)

    def overrides(self, scheme: bool = True, scenario: str = "") -> dict:
        """The config overrides these levers stand for. scheme=False leaves out the scheme's
        own keys (tranches and fee): the paired model runs its preset as written. `scenario`:
        the preset they are for (this one's unless given: the side-by-side preset's)."""
        out: dict = {}
        for key, v in self.values.items():
            if not scheme and key.startswith("scheme."):
                continue
            c = CONTROL[key]
            out[key] = int(round(v)) if c.integer else round(v * c.scale, 10)
        if scheme:
            for name, share in self.tranches.items():
                out[f"scheme.tranches.{name}.share"] = share
        out["pool.replenish"] = self.replenish
        out["mc.seed"] = int(self.seed)
        for name, (key, _) in INSTRUMENTS.items():  # the page's checkboxes, on or off
            out[key] = name in self.instruments
        # Hunan's dynamic split (checked where the province runs it) has no shares to move in
        # a scheme without a guarantor and a fiscal payer: that scheme runs without it, as the
        # province's preset does (the scheme panel names the instruments in force)
        split = INSTRUMENTS["performance_split"][0]
        if out[split] and not split_fits([tranche_payer(n, t) for n, t in
                                          preset(scenario or self.scenario).scheme.tranches.items()]):
            out[split] = False
        if self.flood:
            out["shock"] = "flood"
            out["shock.month"] = int(self.flood_month)
            out["shock.severity"] = float(self.flood_severity)
            out["shock.return_period"] = self.flood_return_period
        return {**out, **self.extra}

    def edited(self) -> bool:
        """The tranches differ from the preset's."""
        base = {k: t.share for k, t in preset(self.scenario).scheme.tranches.items()}
        return any(abs(base[k] - v) > 1e-9 for k, v in self.tranches.items())

    def configs(self) -> list[SimConfig]:
        """One validated config, or two side by side (this scheme, then the `compare` preset as
        written, with every other lever the same). Raises ConfigError."""
        cfgs = [load_config(self.scenario, self.overrides())]
        if self.compare:
            if self.compare not in PRESETS:
                raise ConfigError(f"side by side with {self.compare!r}: not a preset of the app; "
                                  f"choose one of {', '.join(PRESETS)}")
            cfgs.append(load_config(self.compare, self.overrides(scheme=False, scenario=self.compare)))
        return cfgs


def _instruments(text: str) -> tuple:
    names = tuple(n for n in text.split(",") if n)
    for n in names:
        if n not in INSTRUMENTS:
            raise ConfigError(f"query instruments = {text!r}: unknown instrument {n!r}; "
                              f"use {', '.join(INSTRUMENTS)}")
    return names


def from_query(search: str) -> tuple[Levers, int]:
    """Levers and a number of months to run from a page's query string, e.g.
    `scenario=4321&pool.size=0.5&flood=1&return_period=50&months=60`: `scenario`, `compare`
    (a preset to run beside it, or 1 for the usual pair), `seed`, `replenish`, `flood` (0/1), `flood_month`, `severity`, `return_period`,
    `instruments` (comma-separated names of INSTRUMENTS switched on, the others off; without
    it the preset's own; empty: none),
    `tranche.NAME` (percent), any slider's config key (in the slider's unit) and `months`.
    Raises ConfigError naming a key it does not know or a value it cannot read."""
    q = dict(parse_qsl(search.lstrip("?"), keep_blank_values=True))  # `instruments=`: none
    lv = Levers.for_scheme(q.pop("scenario", "4321"))
    months, values, tranches = 0, dict(lv.values), dict(lv.tranches)
    fields = {"compare": ("compare", lambda x: PAIR.get(lv.scenario, "") if x == "1" else x),
              "seed": ("seed", int),
              "replenish": ("replenish", str), "flood": ("flood", lambda x: x == "1"),
              "flood_month": ("flood_month", int), "severity": ("flood_severity", float),
              "return_period": ("flood_return_period", float),
              "instruments": ("instruments", _instruments)}
    changes = {}
    for key, text in q.items():
        try:
            if key == "months":
                months = int(text)
            elif key in fields:
                name, read = fields[key]
                changes[name] = read(text)
            elif key.startswith("tranche.") and key[8:] in tranches:
                tranches[key[8:]] = float(text) / 100
            elif key in CONTROL:
                values[key] = float(text)
            else:
                raise ConfigError(f"query {key} = {text!r}: unknown key; use scenario, compare, seed, "
                                  "replenish, flood, flood_month, severity, return_period, instruments, months, "
                                  "tranche.NAME or a slider's key (" + ", ".join(CONTROL) + ")")
        except ConfigError:
            raise
        except ValueError:
            raise ConfigError(f"query {key} = {text!r}: not a number") from None
    return replace(lv, values=values, tranches=tranches, **changes), months
