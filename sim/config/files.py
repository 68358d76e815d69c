"""Where the config files are, and how a file is read: safely, as data.

Users see and edit `conf/` (the primary config and the `province` and `shock` groups) and
`scenarios/` (the `scenario` group) at the top of the project. The same folders ship inside
the installed package as `sim._conf` and `sim._scenarios` (a package-dir mapping in
pyproject.toml), so a wheel or a plain `pip install .` finds them too; an editable install or
a checkout reads them in place. `SIM_SCENARIOS=/folder` points at another scenario folder.

Config files are data shared between offices. They are read with a safe YAML loader and
scanned before Hydra sees them: no key may start with `_` (`_target_`, `_args_`, ...), and no
`defaults` list or `hydra` section may appear, so no file can make the program call code.
Scenario names: a file's stem (`4321`, `2_8`) or its scheme's name (`2:8`, `3:7`); `:` is not
valid in a file name on every OS, so it maps to `_`.
"""

from __future__ import annotations

import importlib.util
import os
import re
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .schema import ConfigError, ProvinceConfig, ShockConfig, SimConfig

GROUPS = {"province": ProvinceConfig, "shock": ShockConfig}  # groups kept in conf/
_CHECKOUT = Path(__file__).resolve().parents[2]  # the project folder, in a checkout


def _data_dir(package: str, folder: str) -> Path:
    """The installed package-data folder, else the checkout's folder of the same files."""
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    path = _CHECKOUT / folder
    if not path.is_dir():
        raise ConfigError(f"{folder}/ not found: reinstall the package (pip install .)")
    return path


def conf_dir() -> Path:
    """The primary config and the province/shock groups."""
    return _data_dir("sim._conf", "conf")


def scenario_dir() -> Path:
    """Folder of scenario files: $SIM_SCENARIOS if set, else the shipped `scenarios/`."""
    env = os.environ.get("SIM_SCENARIOS")
    return Path(env) if env else _data_dir("sim._scenarios", "scenarios")


def group_dir(group: str) -> Path:
    return scenario_dir() if group == "scenario" else conf_dir() / group


# ------------------------------------------------------------------------- reading
def _scan(node, path: str, label: str) -> None:
    """Refuse keys starting with '_' anywhere, and a top-level `defaults` or `hydra`."""
    if isinstance(node, DictConfig):
        for k in node.keys():
            key = f"{path}.{k}" if path else str(k)
            if str(k).startswith("_") or (not path and k in ("defaults", "hydra")):
                raise ConfigError(f"{label}: key '{key}' is not allowed (config files are data, "
                                  "never code or Hydra directives)")
            _scan(node._get_node(k), key, label)
    elif isinstance(node, ListConfig):
        for i, v in enumerate(node._iter_ex(resolve=False)):
            _scan(v, f"{path}[{i}]", label)


@lru_cache(maxsize=None)
def _load(path: Path, mtime: float, label: str) -> DictConfig:
    try:
        node = OmegaConf.load(path)
    except Exception as e:  # YAML syntax errors
        raise ConfigError(f"{label}: not valid YAML ({yaml_problem(e)})") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{label}: must be a mapping of config keys")
    _scan(node, "", label)
    return node


def yaml_problem(e: BaseException) -> str:
    """'line N: problem' from a YAML error (PyYAML's marks are 0-based), else its first line."""
    for err in (e, e.__cause__, e.__context__):
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        if mark is not None:
            problem = getattr(err, "problem", None) or getattr(err, "context", None) or ""
            return f"line {mark.line + 1}: {problem}".rstrip(": ")
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def read(group: str, stem: str) -> DictConfig:
    """A group file (stem as resolved), safely loaded and scanned; a fresh copy."""
    path = group_dir(group) / f"{stem}.yaml"
    label = f"{group} file {stem}.yaml"
    return OmegaConf.create(_load(path, path.stat().st_mtime, label))


def checked(group: str, stem: str) -> DictConfig:
    """A group file merged onto its section of the schema: unknown keys and wrong types are
    errors here, naming the file. Checked once per version of the file."""
    path = group_dir(group) / f"{stem}.yaml"
    return OmegaConf.create(_checked(group, stem, path, path.stat().st_mtime))


@lru_cache(maxsize=None)
def _structured(schema: type) -> DictConfig:
    """The schema as a config, built once: building it is most of checking a file (29 of 36 ms
    for a scenario), and `OmegaConf.merge` copies it rather than change it."""
    return OmegaConf.structured(schema)


@lru_cache(maxsize=None)
def _checked(group: str, stem: str, path: Path, mtime: float) -> DictConfig:
    node = read(group, stem)
    schema = SimConfig if group == "scenario" else GROUPS[group]
    try:
        OmegaConf.merge(_structured(schema), node)
    except OmegaConfBaseException as e:
        raise ConfigError(f"{group} file {stem}.yaml: {describe_omegaconf_error(e)}") from None
    return node


def available(group: str) -> dict[str, str]:
    """{file stem: description} of a group's files (scenarios: the scheme's description)."""
    d = group_dir(group)
    if not d.is_dir():
        raise ConfigError(f"{group} folder {d} not found (set SIM_SCENARIOS or reinstall)")
    out = {}
    for p in sorted(d.glob("*.yaml")):
        try:  # a broken file is named when someone asks for it; it does not hide the others
            node = read(group, p.stem)
        except ConfigError as e:
            out[p.stem] = f"(not usable: {e})"
            continue
        if group == "scenario":
            node = node.get("scheme", {}) or {}
        out[p.stem] = str(node.get("description", "") or node.get("basin", "") or "")
    if not out:
        raise ConfigError(f"no {group} files (*.yaml) found in {d}"
                          + (" (set by SIM_SCENARIOS)" if group == "scenario"
                             and os.environ.get("SIM_SCENARIOS") else ""))
    return out


def aliases() -> dict[str, str]:
    """{scheme name: file stem} where a scenario's scheme has a name."""
    out = {}
    for stem in available("scenario"):
        try:
            name = (read("scenario", stem).get("scheme", {}) or {}).get("name")
        except ConfigError:
            continue
        if name:
            out[str(name)] = stem
    return out


def resolve(group: str, name) -> str:
    """The file stem for a choice as a user types it; ConfigError listing the choices."""
    name = str(name).strip().strip("'\"")
    names = available(group)
    if name in names:
        return name
    if group != "scenario":
        raise ConfigError(f"{group} = {name!r}: unknown {group}; available: {', '.join(names)}")
    if name.replace(":", "_") in names:
        return name.replace(":", "_")
    named = aliases()
    if name in named:
        return named[name]
    alias_of = {stem: a for a, stem in named.items() if a != stem}
    shown = ", ".join(f"{s} ({alias_of[s]})" if s in alias_of else s for s in names)
    raise ConfigError(f"scenario = {name!r}: unknown scenario; available: {shown}")


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
