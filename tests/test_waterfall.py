"""The loss waterfall, property-based: any scheme, caps and balances."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.risk.waterfall import split_losses

FEN = 0.01


@st.composite
def batches(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 6))
    m = draw(st.integers(1, 5))  # payers (accounts)
    loss = draw(arrays(float, n, elements=st.floats(0, 5e7)))
    raw = draw(arrays(float, k, elements=st.floats(0.01, 1.0)))
    shares = raw / raw.sum()
    payer = draw(arrays(np.intp, (n, k), elements=st.integers(0, m - 1)))
    budget = draw(arrays(float, m, elements=st.one_of(st.just(np.inf), st.floats(0, 1e8))))
    caps = draw(arrays(float, k, elements=st.one_of(st.just(np.inf), st.floats(0, 1e7))))
    return loss, shares, payer, budget, caps


@settings(max_examples=300, deadline=None)
@given(batches())
def test_money_is_conserved_to_the_fen(b):
    loss, shares, payer, budget, caps = b
    s = split_losses(loss, shares, payer, budget, caps)
    assert np.all(np.abs(s.paid.sum(axis=1) + s.shortfall - loss) < FEN)
    assert np.all(s.paid >= 0) and np.all(s.shortfall >= 0)


@settings(max_examples=300, deadline=None)
@given(batches())
def test_no_payer_exceeds_its_budget_share_or_cap(b):
    loss, shares, payer, budget, caps = b
    s = split_losses(loss, shares, payer, budget, caps)
    assert np.all(s.by_payer <= budget * (1 + 1e-12) + 1e-6)
    assert np.all(s.paid <= shares[None, :] * loss[:, None] * (1 + 1e-12) + 1e-9)
    assert np.all(s.paid <= caps[None, :] * (1 + 1e-12) + 1e-9)
    np.testing.assert_allclose(s.by_payer, np.bincount(payer.ravel(), s.paid.ravel(),
                                                       minlength=budget.shape[0]), rtol=1e-9, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(batches())
def test_unconstrained_split_is_exactly_the_shares(b):
    loss, shares, payer, _, _ = b
    budget = np.full(payer.max() + 1, np.inf)
    s = split_losses(loss, shares, payer, budget)
    np.testing.assert_allclose(s.paid, loss[:, None] * shares[None, :], rtol=1e-12)
    assert np.all(s.shortfall == 0)


@settings(max_examples=200, deadline=None)
@given(batches())
def test_shortfall_appears_only_when_a_limit_binds(b):
    loss, shares, payer, budget, caps = b
    s = split_losses(loss, shares, payer, budget, caps)
    desired = np.minimum(loss[:, None] * shares[None, :], caps[None, :])
    demand = np.bincount(payer.ravel(), desired.ravel(), minlength=budget.shape[0])
    capped = np.any(caps[None, :] < loss[:, None] * shares[None, :], axis=1)
    if np.all(demand <= budget) and not capped.any():
        assert np.all(s.shortfall == 0)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.05, 0.95), st.floats(1e3, 1e6), st.sampled_from([0.5, 0.9, 0.95, 0.99]),
       st.integers(0, 2**31))
def test_split_identity_quantile_of_capped_share(s_share, cap, alpha, seed):
    """validation.md: q_a(min(sL, c)) = min(s q_a(L), c), exactly, for the engine's payments."""
    rng = np.random.default_rng(seed)
    L = rng.lognormal(12, 1.5, 5000)
    shares = np.array([s_share, 1 - s_share])
    s = split_losses(L, shares, np.array([0, 1]), np.array([np.inf, np.inf]), np.array([cap, np.inf]))
    lhs = np.quantile(s.paid[:, 0], alpha, method="inverted_cdf")
    rhs = min(s_share * np.quantile(L, alpha, method="inverted_cdf"), cap)
    assert lhs == rhs or abs(lhs - rhs) <= 1e-9 * rhs
    # expected loss of an uncapped payer is its share of the expected loss
    np.testing.assert_allclose(s.paid[:, 1].mean(), (1 - s_share) * L.mean(), rtol=1e-12)
    # payers + shortfall = L, always
    np.testing.assert_allclose(s.paid.sum(axis=1) + s.shortfall, L, atol=FEN)


def test_pro_rata_when_a_payer_runs_dry():
    """A payer with half the cash it owes pays half of every claim on it, none first."""
    loss = np.array([100.0, 300.0])
    s = split_losses(loss, np.array([0.5, 0.5]), np.array([0, 1]), np.array([100.0, np.inf]))
    np.testing.assert_allclose(s.paid[:, 0], [25.0, 75.0])
    np.testing.assert_allclose(s.shortfall, [25.0, 75.0])
    np.testing.assert_allclose(s.by_payer, [100.0, 200.0])
