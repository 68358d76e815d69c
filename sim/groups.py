"""Config groups other than `scenario`: `conf/province/*.yaml` and `conf/shock/*.yaml`.

Hydra composes them for the command line; the Python API (`sim.load_config`) reads the
same files here, the same safe way as scenario files: a safe YAML loader, every key checked
against the schema (an unknown key, `_target_` included, is an error), nothing
instantiated. A group file holds the keys of its section (`province:` or `shock:`), without
the section name and without a `defaults:` list.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .config import ConfigError, ProvinceConfig, ShockConfig

CONF = Path(__file__).resolve().parent.parent / "conf"
GROUPS = {"province": ProvinceConfig, "shock": ShockConfig}
DEFAULTS = {"province": "hunan", "shock": "none"}


def group_dir(group: str) -> Path:
    return CONF / group


def available(group: str) -> dict[str, str]:
    """{file stem: description} of a group's files."""
    d = group_dir(group)
    out = {}
    for p in sorted(d.glob("*.yaml")):
        try:
            node = OmegaConf.load(p)
            desc = str(node.get("description", "") or node.get("basin", "") or "")
        except Exception:
            desc = "(unreadable)"
        out[p.stem] = desc
    return out


def resolve(group: str, name: str) -> str:
    """The file stem for a choice as typed; ConfigError listing the choices."""
    name = str(name).strip().strip("'\"")
    names = available(group)
    if name in names:
        return name
    raise ConfigError(f"{group} = {name!r}: unknown {group}; available: {', '.join(names)}")


def _scan(node, path: str, fname: str) -> None:
    """Reject `_target_` (and any key starting with '_') and `defaults` anywhere."""
    if isinstance(node, DictConfig):
        for k in node.keys():
            key = f"{path}.{k}" if path else str(k)
            if str(k).startswith("_") or (not path and k == "defaults"):
                raise ConfigError(f"{fname}: key '{key}' is not allowed (config files are data, "
                                  "never code or Hydra directives)")
            _scan(node._get_node(k), key, fname)
    elif isinstance(node, ListConfig):
        for i, v in enumerate(node._iter_ex(resolve=False)):
            _scan(v, f"{path}[{i}]", fname)


def read(group: str, name: str) -> DictConfig:
    """A group file, safely loaded and checked against its section of the schema."""
    from .scenarios import describe_omegaconf_error, load_mapping

    stem = resolve(group, name)
    fname = f"{group} file {stem}.yaml"
    node = load_mapping(group_dir(group) / f"{stem}.yaml", fname)
    _scan(node, "", fname)
    try:
        OmegaConf.merge(OmegaConf.structured(GROUPS[group]), node)
    except OmegaConfBaseException as e:
        raise ConfigError(f"{fname}: {describe_omegaconf_error(e)}") from None
    return node
