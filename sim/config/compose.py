"""One way to build a configuration: Hydra's compose API, for the Python API and the CLI alike.

The schema (`SimConfig`) and the scenario files go into Hydra's ConfigStore; the primary
config `conf/config.yaml` lists the defaults (province hunan, shock none, scenario 4321); the
overrides come last. `python -m sim` validates every job of a sweep this way before Hydra runs
any, and `sim.load_config` returns the same config the command line would run.

Before Hydra sees the arguments, `normalise` maps scenario names as users type them
(`scenario=4321`, `scenario=2:8`; plain Hydra reads 4321 as an integer and refuses ':') to the
scenario files (`'4321'`, `'2_8'`), and checks the chosen group files (safe, data only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import files
from .rules import prepare
from .schema import CalibrationConfig, ConfigError, SimConfig

GROUP_ARG = re.compile(r"^(\+{0,2})(scenario|shock|province)=(.*)$")
Overrides = Mapping[str, Any] | Iterable[str] | None


def register() -> None:
    """Put the schema and the scenario files (checked, as data) into Hydra's ConfigStore."""
    cs = ConfigStore.instance()
    cs.store(name="sim_schema", node=SimConfig)
    for stem in files.available("scenario"):
        try:
            cs.store(group="scenario", name=stem, node=files.checked("scenario", stem),
                     package="_global_")
        except ConfigError:
            pass  # a broken file is reported when someone asks for it, not when others run


def normalise(argv: list[str]) -> list[str]:
    """Rewrite `scenario=` values to quoted file stems and check every group choice (each
    value of a sweep too); ConfigError for an unknown name or a file that is not plain data."""
    out = []
    for a in argv:
        m = GROUP_ARG.match(a)
        if m:
            plus, group, value = m.groups()
            names = value.split(",")
            if not all(n.strip() for n in names):
                raise ConfigError(f"{group} = {value!r}: give a {group} name, e.g. {group}="
                                  + {"scenario": "4321", "shock": "flood", "province": "hunan"}[group])
            stems = [files.resolve(group, n) for n in names]
            for s in stems:
                files.checked(group, s)
            a = f"{plus}{group}=" + ",".join(f"'{s}'" for s in stems)
        out.append(a)
    return out


def describe(e: BaseException) -> str:
    """One line from a Hydra / OmegaConf composition error."""
    seen = e
    while seen is not None:
        if isinstance(seen, OmegaConfBaseException):
            return files.describe_omegaconf_error(seen)
        seen = seen.__cause__ or seen.__context__
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    m = re.search(r"Could not override '([^']+)'|Key '([^']+)' is not in struct", msg)
    if m:
        return f"unknown key '{m.group(1) or m.group(2)}' (see `python -m sim --help` for the keys)"
    return msg


def typed_keys(overrides: Iterable[str]) -> set[str]:
    """The keys a list of overrides sets (`firms.loan_min=6e5` -> firms.loan_min)."""
    return {o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o}


def _flat(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested {section: {key: value}} as dotted keys (`pool.size`)."""
    if isinstance(node, Mapping) or OmegaConf.is_dict(node):
        out = []
        for k, v in node.items():
            out += _flat(v, f"{prefix}{k}.")
        return out
    return [(prefix[:-1], node)]


def apply_presets(dcfg: Any, typed: Iterable[str]) -> None:
    """Put the province file's `settings` and calibration values (its own, or those of the
    province named in `calibration_from`) onto a composed config, below the command line: a
    key the user typed keeps the user's value. ConfigError for a key that is not a config key
    or is set twice."""
    typed = set(typed)
    p = dcfg.province
    layers = [("province.settings", OmegaConf.to_container(p.settings))]
    src = str(p.calibration_from or "")
    if src:
        try:
            stem = files.resolve("province", src)
        except ConfigError:
            raise ConfigError(f"province.calibration_from = {src!r}: unknown province; "
                              f"available: {', '.join(files.available('province'))}") from None
        other = files.checked("province", stem)
        cal = other.get("calibration") or {}
        if other.get("calibration_from"):
            raise ConfigError(f"province.calibration_from = {src!r}: that province borrows its "
                              "calibration too; name the fitted province")
        # A fitted province without a calibration block yet runs at the schema's values, and
        # so does a province borrowing from it: nothing to borrow.
        # The block in force, for the report and the run's config.yaml. Merged onto a fresh
        # structured block: the file's plain mapping cannot be assigned to the typed field.
        if cal.get("values"):
            p.calibration = OmegaConf.merge(OmegaConf.structured(CalibrationConfig), cal)
            layers.append((f"province {stem}'s calibration.values", OmegaConf.to_container(cal["values"])))
    else:
        layers.append(("province.calibration.values", OmegaConf.to_container(p.calibration["values"])))
    seen: dict[str, str] = {}
    for label, values in layers:
        for key, value in _flat(values or {}):
            if key in seen:
                raise ConfigError(f"{label}: {key} = {value!r}: also set by {seen[key]}")
            seen[key] = label
            # The scenario sets the scheme; a province sets only its own instrument on it
            # (Hunan's dynamic split, which prepare turns off for a scheme it cannot apply to).
            if (key.split(".")[0] in ("province", "scheme", "mc", "shock") and key != "province.pd_scale"
                    and not key.startswith(PROVINCE_SCHEME_KEYS)):
                raise ConfigError(f"{label}: {key} = {value!r}: a province file sets institutions, "
                                  "firms, banks and funds, not this section")
            if OmegaConf.select(dcfg, key, default=_MISSING) is _MISSING:
                raise ConfigError(f"{label}: unknown key '{key}' (see `python -m sim --help` for the keys)")
            if key in typed:
                continue
            OmegaConf.update(dcfg, key, value, merge=False)


_MISSING = object()
# The scheme keys a province file may set: the province's own instrument on whatever scheme runs.
PROVINCE_SCHEME_KEYS = ("scheme.performance_split.",)


def compose_config(overrides: list[str], idle_keys: bool = True) -> SimConfig:
    """The validated config for one job's overrides (already normalised). A rule between two
    keys names first the one these overrides set; idle_keys: see rules.validate."""
    register()
    backup = get_gh_backup()  # inside a running Hydra app (a CLI job) keep its state
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(files.conf_dir()), version_base="1.3"):
            dcfg = compose(config_name="config", overrides=overrides)
            apply_presets(dcfg, typed_keys(overrides))
            cfg = OmegaConf.to_object(dcfg)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(describe(e)) from None
    finally:
        restore_gh_from_backup(backup)
    return prepare(cfg, typed_keys(overrides), idle_keys)


def job_overrides(argv: list[str]) -> list[list[str]]:
    """Every job's override list that the command line would launch (one without -m), as
    Hydra's basic sweeper expands it."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra.errors import OverrideParseException

    args = [a for a in argv if not a.startswith("-") and not a.startswith("hydra")]
    for a in args:
        if "=" not in a and a.replace(":", "_") in files.available("scenario") | files.aliases():
            raise ConfigError(f"could not read the arguments: {a!r} is not key=value; "
                              f"did you mean scenario={a}?")
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except OverrideParseException as e:
        raise ConfigError(f"could not read the arguments: {str(e).splitlines()[0]}") from None
    if any(a in ("-m", "--multirun") for a in argv):
        return BasicSweeper.split_arguments(parsed, None)[0]
    for ov in parsed:
        if ov.is_sweep_override():
            raise ConfigError(f"{ov.get_key_element()} = {ov.input_line.split('=', 1)[1]!r}: "
                              "a list of values is a sweep; add -m to run one job per value")
    return [args]


# ------------------------------------------------------------------------- the Python API
def hydra_value(v: Any) -> str:
    """A Python value in Hydra's override grammar."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, Mapping):
        return "{" + ",".join(f"{k}:{hydra_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(hydra_value(x) for x in v) + "]"
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


def load_config(scenario: str = "4321", overrides: Overrides = None, shock: str | None = None,
                province: str | None = None) -> SimConfig:
    """Validated config, composed as the command line does: schema defaults, the province
    file (conf/province/), the shock file (conf/shock/), the scenario file, then overrides.

    overrides: {"firms.n": 5000} or ["firms.n=5000"]; "shock=flood" / "province=jiangxi"
    in the list choose a group file too (the keyword arguments win if both are given).
    Raises ConfigError (one line) on a bad name, unknown key or value out of range.
    """
    if isinstance(overrides, Mapping):
        dots = [f"{k}={hydra_value(v)}" for k, v in overrides.items()]
    else:
        dots = list(overrides or [])
    for d in dots:
        if "=" not in d:
            raise ConfigError(f"override {d!r}: expected key=value")
    chosen = {"shock": shock, "province": province}
    dots = [d for d in dots if chosen.get(d.split("=", 1)[0]) is None]
    dots += [f"{g}={v}" for g, v in chosen.items() if v is not None]
    return compose_config(normalise([f"scenario={scenario}", *dots]))
