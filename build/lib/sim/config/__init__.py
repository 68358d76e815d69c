"""Configuration: the schema with each field's rule (`schema`), the rules across fields
(`rules`), the files and how they are read (`files`), and one composition path through
Hydra for the Python API and the command line (`compose`)."""

from .compose import load_config
from .rules import prepare, shock_events, uninsured_uplift, validate
from .schema import *  # noqa: F401,F403  (the dataclasses and the names of the choices)
from .schema import ConfigError, SimConfig, tranche_payer  # noqa: F401  (named for readers)
