"""Configuration: the schema with each field's rule (`schema`), the rules across fields
(`rules`), the files and how they are read (`files`), and one composition path through
Hydra for the Python API and the command line (`compose`)."""

from .compose import load_config
from .rules import prepare, shock_events, uninsured_uplift, validate
from .schema import (ENGINES, PAYERS, PUBLIC_PAYERS, RECAPITALISE, REPLENISH_RULES, SHOCK_KINDS,
                     SHOCK_TIMINGS, SHORTFALL_BEARERS, WHEN_EMPTY, BankConfig, ConfigError,
                     CopulaConfig, DynamicSharingConfig, FirmsConfig, GovernmentConfig,
                     GuarantorConfig, HazardConfig, McConfig, PoolConfig, ProvinceConfig,
                     RegionConfig, ReguarantorConfig, SchemeConfig, SectorConfig, ShockConfig,
                     ShockEventConfig, SimConfig, TrancheConfig, tranche_payer)

__all__ = [
    "load_config", "prepare", "validate", "shock_events", "uninsured_uplift", "tranche_payer",
    "ConfigError", "SimConfig", "SchemeConfig", "TrancheConfig", "DynamicSharingConfig",
    "ProvinceConfig", "RegionConfig", "SectorConfig", "FirmsConfig", "CopulaConfig", "BankConfig",
    "GuarantorConfig", "ReguarantorConfig", "PoolConfig", "GovernmentConfig", "ShockConfig",
    "ShockEventConfig", "HazardConfig", "McConfig", "PAYERS", "PUBLIC_PAYERS", "SHORTFALL_BEARERS",
    "REPLENISH_RULES", "WHEN_EMPTY", "RECAPITALISE", "ENGINES", "SHOCK_KINDS", "SHOCK_TIMINGS",
]
