"""Keyed random draws: the same firm row gets the same number in the same month for the
same purpose, whatever else differs between two runs (common random numbers).

Why: a shocked run is compared with its no-shock counterfactual of the same seed, and the
paired difference is only as precise as the two runs are alike. With one sequential
generator, a single extra default shifts every later draw (who applies, the bank's and
the guarantor's signals, loan sizes, who exits, the entrants), so after a shock the two
runs draw independently and the paired differences are noisy. Keying each draw by
(replication key, month, purpose, firm row) instead of by its place in a sequence keeps
every draw that the shock did not touch identical in both runs.

Every draw is a counter-based hash (the SplitMix64 finaliser in uint64 arithmetic) of
(key, month, purpose, row): the top 53 bits give a float64 uniform, normals are its exact
inverse CDF. The hash is compiled once, in sim/kernel.py (`bits64`): the firm kernel computes
it inline for the per-row draws of a month (arrears, exits, applications, entrants, loan
requests, the banks' and guarantors' signals) from the month's per-purpose `base`, and the
functions here give the same numbers as arrays for the rest (the guarantors' capacity order,
fund appropriations, the instruments' draws). The initial population and loan book are
month -1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from .. import kernel

# Purposes. Entrants (respawn) take ENTRANT_* + one of the call sites below, so a row that
# is refilled twice in a month (defaulted, then closed) gets two different entrants.
# NO_LOAN_TESTS: one hash per firm without a loan, its high 32 bits the exit test, its low 32
# bits the application test. LATENT: the idiosyncratic part of a performing loan's latent value.
NO_LOAN_TESTS, _UNUSED, LOAN_AMOUNT, LOAN_TERM, BANK_SIGNAL, BANK_EXTRA, GUARANTOR_SIGNAL, \
    CAPACITY_ORDER = range(1, 9)
FUND_APPROPRIATION = 9  # whether a prefecture fund's yearly appropriation arrives (row = fund)
LATENT = 10
# The policy instruments' own draws (sim/instruments.py), so that switching one on leaves every
# other draw as it was: a firm's tax-credit grade signal (row = firm, month = its entry), the
# months without a loan of the initial population, whether an applicant also tries a
# platform, and the platform's signal.
TAX_GRADE, FIRST_LOAN_HISTORY, PLATFORM_REACH, PLATFORM_SIGNAL = range(11, 15)
HEALTH_READING = 15  # the platform's error in reading a scheme loan's operating health (Anhui)
ENTRANT_REGION, ENTRANT_SECTOR, ENTRANT_PD, ENTRANT_LGD, ENTRANT_FILE, ENTRANT_PLATFORM, \
    ENTRANT_INSURED = range(7)  # (the guarantor and the bank come from the region's number)
RESPAWN_DEFAULT, RESPAWN_EXIT, RESPAWN_INIT = 0x100, 0x200, 0x300  # call sites of respawn

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64 increment (golden ratio)
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix_int(z: int) -> int:
    """SplitMix64 finaliser on a Python int (mod 2^64)."""
    z &= _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _base(key: int, month: int, purpose: int) -> int:
    s = _mix_int(int(key) + _GAMMA)
    s = _mix_int(s ^ (int(month) + _GAMMA))
    return _mix_int(s ^ (int(purpose) + 2 * _GAMMA))


def base(key: int, month: int, purpose: int) -> np.uint64:
    """The hash state of (key, month, purpose): row r's bits are the SplitMix64 finaliser of
    base + (r+1) gamma (`kernel.bits64`)."""
    return np.uint64(_base(key, month, purpose))


def bases(key: int, month: int, purposes: list[int]) -> np.ndarray:
    """base(key, month, p) for each purpose p (the (key, month) state hashed once)."""
    s = _mix_int(_mix_int(int(key) + _GAMMA) ^ (int(month) + _GAMMA))
    return np.array([_mix_int(s ^ (int(p) + 2 * _GAMMA)) for p in purposes], np.uint64)


def _rows(rows: np.ndarray) -> np.ndarray:
    """Row numbers as the compiled loops take them: one contiguous int64 array."""
    return np.ascontiguousarray(rows, np.int64).reshape(-1)


def counter_bits64(key: int, month: int, purpose: int, rows: np.ndarray) -> np.ndarray:
    """64 hashed bits per row: SplitMix64 output number row + 1 from a state set by
    (key, month, purpose), i.e. the finaliser of base + (row + 1) x gamma (mod 2^64)."""
    return kernel.keyed_bits(base(key, month, purpose), _rows(rows))


def counter_bits53(key: int, month: int, purpose: int, rows: np.ndarray) -> np.ndarray:
    """Top 53 hashed bits per row, as int64 in [0, 2^53)."""
    return (counter_bits64(key, month, purpose, rows) >> np.uint64(11)).astype(np.int64)


def counter_uniform(key: int, month: int, purpose: int, rows: np.ndarray) -> np.ndarray:
    """float64 uniforms in [0, 1), multiples of 2^-53 (like Generator.random): the top 53
    bits x 2^-53."""
    return kernel.keyed_uniform(base(key, month, purpose), _rows(rows))


def counter_normal(key: int, month: int, purpose: int, rows: np.ndarray) -> np.ndarray:
    """Standard normals: ndtri of a uniform in the middle of its 2^-52 cell (the top 52 bits;
    exact in float64, so never 0 or 1: finite, |z| < 8.2)."""
    return ndtri(kernel.keyed_open_uniform(base(key, month, purpose), _rows(rows)))
