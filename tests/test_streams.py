"""Keyed random draws (sim/risk/streams.py): pure functions of (key, month, purpose, row)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.risk import streams as st

KEY = 123456789012345


def test_counter_draws_depend_only_on_key_month_purpose_and_row():
    rows = np.array([5, 17, 99_999, 3, 0])
    u = st.counter_uniform(KEY, 7, st.APPLY, rows)
    # the same rows drawn among others, in another order, give the same numbers
    more = np.array([0, 1, 2, 3, 4, 5, 17, 40, 99_999])
    v = st.counter_uniform(KEY, 7, st.APPLY, more)
    np.testing.assert_array_equal(u, v[[5, 6, 8, 3, 0]])
    np.testing.assert_array_equal(st.counter_normal(KEY, 7, st.BANK_SIGNAL, rows)[1:],
                                  st.counter_normal(KEY, 7, st.BANK_SIGNAL, rows[1:]))
    # any other key, month or purpose gives other numbers
    for other in (st.counter_uniform(KEY + 1, 7, st.APPLY, rows), st.counter_uniform(KEY, 8, st.APPLY, rows),
                  st.counter_uniform(KEY, 7, st.EXIT, rows)):
        assert not np.any(other == u)
    assert st.counter_uniform(KEY, 7, st.APPLY, np.array([], np.intp)).shape == (0,)


def test_month_stream_is_indexed_by_row_and_keyed():
    a = st.KeyedDraws(KEY, 4, 1000)
    rows = np.array([999, 3, 500])
    np.testing.assert_array_equal(a.uniform32_rows(st.EXIT, rows),
                                  st.month_uniform32(KEY, 4, st.EXIT, 1000)[rows])
    assert a.uniform32_rows(st.EXIT, rows).dtype == np.float32
    assert not np.array_equal(st.month_uniform32(KEY, 4, st.EXIT, 1000),
                              st.month_uniform32(KEY, 4, st.APPLY, 1000))
    assert not np.array_equal(st.month_uniform32(KEY, 4, st.EXIT, 1000),
                              st.month_uniform32(KEY, 5, st.EXIT, 1000))


def test_splitmix64_matches_the_reference_finaliser():
    # SplitMix64 from state 0: the first outputs of the reference generator (Vigna)
    gamma = 0x9E3779B97F4A7C15
    out = st.splitmix64(np.array([gamma, 2 * gamma % 2**64], np.uint64))
    assert [int(x) for x in out] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
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


def test_keyed_integers_and_ranges():
    d = st.KeyedDraws(KEY, 2, 10)
    rows = np.arange(200_000)
    k = d.integers(st.LOAN_TERM, rows, 6, 37)
    assert k.min() == 6 and k.max() == 36
    counts = np.bincount(k - 6, minlength=31)
    expected = rows.shape[0] / 31
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    x = d.uniform(st.LOAN_AMOUNT, rows, 2.0, 5.0)
    assert 2.0 <= x.min() and x.max() < 5.0
    assert abs(x.mean() - 3.5) < 4 * 3 * np.sqrt(1 / 12 / rows.shape[0])


@pytest.mark.parametrize("method", ["uniform", "normal", "bits53"])
def test_rng_draws_take_numbers_in_call_order(method):
    rows = np.arange(50)
    a = getattr(st.RngDraws(np.random.default_rng(3)), method)(st.APPLY, rows)
    g = np.random.default_rng(3)
    want = {"uniform": lambda: g.random(50), "normal": lambda: g.standard_normal(50),
            "bits53": lambda: (g.random(50) * 2.0**53).astype(np.int64)}[method]()
    np.testing.assert_array_equal(a, want)


def test_block_of_purposes_equals_one_call_per_purpose():
    rows = np.array([7, 0, 123_456, 42])
    purposes = [st.RESPAWN_EXIT + p for p in range(st.ENTRANT_INSURED + 1)]
    block = st.counter_bits53_block(KEY, 9, purposes, rows)
    for j, p in enumerate(purposes):
        np.testing.assert_array_equal(block[j], st.counter_bits53(KEY, 9, p, rows))
