"""The `scenario` group: named schemes kept as YAML files in ``scenarios/``.

Scenario files are data shared between offices. They are read with a safe YAML loader,
checked key by key against the schema (an unknown key, ``_target_`` included, is an
error), and never instantiated: no file can make the program call code.

Names: a scenario is called by its file stem (``4321``, ``2_8``) or by its scheme's
name (``2:8``, ``3:7``); ``:`` is not valid in a file name on every OS, so it maps to
``_``.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .config import ConfigError, SimConfig

ROOT = Path(__file__).resolve().parent.parent


def scenario_dir() -> Path:
    """Folder of scenario files: $SIM_SCENARIOS if set, else ``scenarios/`` of the project."""
    return Path(os.environ.get("SIM_SCENARIOS", ROOT / "scenarios"))


def load_mapping(path: Path, label: str) -> DictConfig:
    """A YAML file of config keys, safely loaded; ConfigError (one line) if it is not one."""
    try:
        node = OmegaConf.load(path)
    except Exception as e:  # YAML syntax errors
        raise ConfigError(f"{label}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{label}: must be a mapping of config keys")
    return node


@lru_cache(maxsize=None)
def _read(path: Path, mtime: float) -> DictConfig:
    return load_mapping(path, f"scenario file {path.name}")


def read(stem: str) -> DictConfig:
    path = scenario_dir() / f"{stem}.yaml"
    return _read(path, path.stat().st_mtime)


def available() -> dict[str, str]:
    """{file stem: 'scheme name - description'} for every scenario file."""
    d = scenario_dir()
    if not d.is_dir():
        raise ConfigError(f"scenario folder {d} not found (set SIM_SCENARIOS or run from the project)")
    out = {}
    for p in sorted(d.glob("*.yaml")):
        node = read(p.stem)
        scheme = node.get("scheme", {}) or {}
        out[p.stem] = str(scheme.get("description", "") or "")
    return out


def _aliases() -> dict[str, str]:
    out = {}
    for stem in available():
        name = (read(stem).get("scheme", {}) or {}).get("name")
        if name:
            out[str(name)] = stem
    return out


def resolve(name: str) -> str:
    """File stem for a scenario name as a user types it; ConfigError listing the choices."""
    name = str(name).strip().strip("'\"")
    names = available()
    if name in names:
        return name
    if name.replace(":", "_") in names:
        return name.replace(":", "_")
    aliases = _aliases()
    if name in aliases:
        return aliases[name]
    alias_of = {stem: a for a, stem in aliases.items() if a != stem}
    shown = ", ".join(f"{s} ({alias_of[s]})" if s in alias_of else s for s in names)
    raise ConfigError(f"scenario = {name!r}: unknown scenario; available: {shown}")


def checked(stem: str) -> DictConfig:
    """The scenario file merged onto the schema: unknown keys and wrong types are errors."""
    node = read(stem)
    try:
        OmegaConf.merge(OmegaConf.structured(SimConfig), node)
    except OmegaConfBaseException as e:
        raise ConfigError(f"scenario file {stem}.yaml: {describe_omegaconf_error(e)}") from None
    return node


def describe_omegaconf_error(e: BaseException) -> str:
    """One line from an OmegaConf error: the key, the value and what is allowed."""
    key = getattr(e, "full_key", None) or ""
    msg = str(getattr(e, "msg", None) or e).splitlines()[0].strip()
    kind = type(e).__name__
    if kind in ("ConfigKeyError", "ConfigAttributeError") and ("not in struct" in msg or " not in " in msg):
        return f"unknown key '{key}' (see `python -m sim --help` for the keys)"
    m = re.match(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", msg)
    if m:
        kind = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}.get(
            m.group(2), m.group(2))
        return f"{key} = {m.group(1)!r}: must be {kind}"
    m = re.match(r"Invalid value '(.*)', expected one of \[(.*)\]", msg)
    if m:
        return f"{key} = {m.group(1)!r}: must be one of {m.group(2)}"
    return f"{key}: {msg}" if key else msg
