"""Keyed random draws (sim/risk/streams.py): pure functions of (key, month, purpose, row)."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from sim.risk import streams as st

KEY = 123456789012345


def test_counter_draws_depend_only_on_key_month_purpose_and_row():
    rows = np.array([5, 17, 99_999, 3, 0])
    u = st.counter_uniform(KEY, 7, st.NO_LOAN_TESTS, rows)
    # the same rows drawn among others, in another order, give the same numbers
    more = np.array([0, 1, 2, 3, 4, 5, 17, 40, 99_999])
    v = st.counter_uniform(KEY, 7, st.NO_LOAN_TESTS, more)
    np.testing.assert_array_equal(u, v[[5, 6, 8, 3, 0]])
    np.testing.assert_array_equal(st.counter_normal(KEY, 7, st.BANK_SIGNAL, rows)[1:],
                                  st.counter_normal(KEY, 7, st.BANK_SIGNAL, rows[1:]))
    # any other key, month or purpose gives other numbers
    for other in (st.counter_uniform(KEY + 1, 7, st.NO_LOAN_TESTS, rows), st.counter_uniform(KEY, 8, st.NO_LOAN_TESTS, rows),
                  st.counter_uniform(KEY, 7, st.LATENT, rows)):
        assert not np.any(other == u)
    assert st.counter_uniform(KEY, 7, st.NO_LOAN_TESTS, np.array([], np.intp)).shape == (0,)


def _splitmix64_numpy(base: int, rows: np.ndarray) -> np.ndarray:
    """SplitMix64 written out in NumPy uint64 arithmetic (wrapping): output number row + 1 from
    state `base`. A reference for the compiled hash, kept here and nowhere in the package."""
    with np.errstate(over="ignore"):
        z = np.uint64(base) + (rows.astype(np.uint64) + np.uint64(1)) * np.uint64(st._GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(st._M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(st._M2)
        return z ^ (z >> np.uint64(31))


def test_keyed_numbers_are_splitmix64():
    """The compiled hash (the kernel's inline `bits64`, and the arrays of `counter_*` built on
    it) is SplitMix64 as written out in NumPy; the uniforms and normals are its top bits."""
    from sim import kernel

    rows = np.array([0, 1, 17, 99_999, 2_000_000, 2**40])
    base = st.base(KEY, 5, st.LATENT)
    ref = _splitmix64_numpy(int(base), rows)
    np.testing.assert_array_equal(st.counter_bits64(KEY, 5, st.LATENT, rows), ref)
    np.testing.assert_array_equal(np.array([kernel.bits64(base, int(r)) for r in rows], np.uint64), ref)
    np.testing.assert_array_equal(st.counter_bits53(KEY, 5, st.LATENT, rows), (ref >> np.uint64(11)).astype(np.int64))
    np.testing.assert_array_equal(st.counter_uniform(KEY, 5, st.LATENT, rows),
                                  (ref >> np.uint64(11)).astype(np.int64) * 2.0**-53)
    v = np.array([kernel.uniform_open(base, int(r)) for r in rows])
    np.testing.assert_array_equal(v, ((ref >> np.uint64(12)).astype(np.int64) + 0.5) * 2.0**-52)
    assert 0 < v.min() and v.max() < 1
    np.testing.assert_array_equal(st.counter_normal(KEY, 5, st.LATENT, rows), ndtri(v))
    np.testing.assert_allclose([kernel.ndtri(x) for x in v], st.counter_normal(KEY, 5, st.LATENT, rows),
                               rtol=1e-13)


def test_kernel_quantile_and_cdf_match_scipy():
    from scipy.special import ndtr, ndtri

    from sim import kernel

    p = np.concatenate((np.geomspace(1e-300, 0.5, 400), 1 - np.geomspace(1e-16, 0.5, 200)))
    got = np.array([kernel.ndtri(x) for x in p])
    np.testing.assert_allclose(got, ndtri(p), rtol=1e-13, atol=1e-15)
    z = np.linspace(-12, 12, 2001)
    np.testing.assert_allclose([kernel.phi(x) for x in z], ndtr(z), rtol=1e-13, atol=1e-300)


def test_table_comparison_is_exact():
    """below(v, z) is v < Phi(z) for every uniform the kernel draws (2^-53 <= v <= 1 - 2^-53)
    and every z, near the grid points and edges too."""
    from sim import kernel

    rng = np.random.default_rng(0)
    grid = kernel.Z_LO + np.arange(0, 1281, 7) / kernel.Z_STEPS
    z = np.concatenate((rng.uniform(-11, 11, 3000), grid, np.nextafter(grid, -np.inf),
                        np.nextafter(grid, np.inf)))
    for zi in z:
        ph = kernel.phi(zi)
        for v in (ph, np.nextafter(ph, 0), np.nextafter(ph, 1), rng.random(), ph * 0.999, ph * 1.001):
            if 2.0**-53 <= v <= 1 - 2.0**-53:
                assert kernel.below(v, zi, kernel.PHI) == (v < ph), (zi, v)


def test_splitmix64_matches_the_reference_finaliser():
    # SplitMix64 from state 0: the first outputs of the reference generator (Vigna)
    gamma = 0x9E3779B97F4A7C15
    from sim import kernel

    out = [kernel.mix(np.uint64(gamma)), kernel.mix(np.uint64(2 * gamma % 2**64))]
    assert [int(x) for x in out] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    assert [int(x) for x in _splitmix64_numpy(0, np.array([0, 1]))] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    assert st._mix_int(gamma) == 0xE220A8397B1DCDAF


def test_uniforms_and_normals_have_the_right_moments():
    n = 400_000
    rows = np.arange(n)
    u = st.counter_uniform(KEY, 11, st.CAPACITY_ORDER, rows)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 4 * np.sqrt(1 / 180 / n)  # var of (U - 1/2)^2 = 1/180
    # neighbouring rows are not correlated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / np.sqrt(n)
    z = st.counter_normal(KEY, 11, st.GUARANTOR_SIGNAL, rows)
    assert np.isfinite(z).all()
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 4 * np.sqrt(2 / n)
    assert abs(np.mean(z < -1.959964) - 0.025) < 4 * np.sqrt(0.025 * 0.975 / n)
    b = st.counter_bits53(KEY, 11, st.CAPACITY_ORDER, rows)
    np.testing.assert_array_equal(b * 2.0**-53, u)
    assert b.min() >= 0 and b.max() < 2**53


def test_bases_of_many_purposes_equal_one_base_each():
    purposes = [st.LATENT, st.NO_LOAN_TESTS, st.RESPAWN_EXIT + st.ENTRANT_INSURED]
    for month in (-1, 0, 59):
        assert [int(x) for x in st.bases(KEY, month, purposes)] == \
            [int(st.base(KEY, month, p)) for p in purposes]
