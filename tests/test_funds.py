"""Risk-compensation funds: conservation, the FIFO queue, delay, roll-over, abandonment,
unpaid years, lapse vs carry."""

import math

import numpy as np
import pytest

from sim.funds import CompensationFunds


def test_conservation_over_random_calls():
    rng = np.random.default_rng(20240611)
    nf, nc, span = 9, 6, 72
    cf = CompensationFunds(nf, nc, span)
    cf.endow(rng.uniform(0, 5e5, nf))
    paid_out = np.zeros((nf, nc))
    abandoned_out = np.zeros((nf, nc))
    lapsed_out = np.zeros(nf)
    for month in range(span):
        if month % 12 == 0:
            cf.appropriate(rng.uniform(0, 4e5, nf) * (rng.random(nf) < 0.8))
        if rng.random() < 0.1:
            cf.endow(rng.uniform(0, 1e5, nf))
        k = rng.integers(0, 30)
        cf.file(month, rng.integers(0, nf, k), rng.integers(0, nc, k),
                rng.lognormal(10, 1.5, k), rng.uniform(0.5, 20, k))
        paid = cf.pay(month, delay=rng.integers(0, 4, nf))
        assert paid.shape == (nf, nc) and np.all(paid >= 0)
        paid_out += paid
        patience = rng.choice([3.0, 12.0, np.inf], nc)
        abandoned_out += cf.abandon(month, rng.uniform(0, 5e4, nf) * (rng.random(nf) < 0.7),
                                    patience, rng.uniform(1, 24))
        if month % 12 == 11:
            lapsed_out += cf.close_year(month, lapse=rng.random(nf) < 0.5)
        res = cf.check(rtol=1e-9)
        assert set(res) == {"cash", "claims", "count", "claimant", "queue_total"}
        assert np.all(cf.queue >= 0) and np.all(cf.count >= 0)
        assert np.all(cf.balance > -1e-6)
    # what the calls returned is what the ledgers hold
    np.testing.assert_allclose(paid_out.sum(1), cf.paid, rtol=1e-12)
    np.testing.assert_allclose(abandoned_out, cf.abandoned_by_claimant, rtol=1e-12)
    np.testing.assert_allclose(lapsed_out, cf.lapsed, rtol=1e-12)
    np.testing.assert_allclose(cf.paid_by_wait.sum(1), cf.paid, rtol=1e-12)
    # the sequence exercised every flow
    for ledger in (cf.paid, cf.abandoned, cf.lapsed, cf.queued_amount()):
        assert ledger.sum() > 0
    # and check() can fail
    cf.balance[0] += 1e-3 * (cf.endowed[0] + cf.appropriated[0])
    with pytest.raises(AssertionError, match="cash"):
        cf.check()


def test_fifo_oldest_month_first_pro_rata_within_a_month():
    cf = CompensationFunds(1, 3, 12)
    cf.file(0, [0, 0], [0, 1], [100.0, 300.0], [1.0, 3.0])
    cf.file(1, [0, 0], [2, 0], [200.0, 100.0], [4.0, 2.0])
    cf.file(2, [0], [1], [500.0], [5.0])
    cf.endow(550.0)
    paid = cf.pay(3)
    # month 0 (400) in full, month 1 (300) gets the remaining 150 = half of each claim, month 2 nothing
    np.testing.assert_allclose(paid, [[100.0 + 50.0, 300.0, 100.0]])
    np.testing.assert_allclose(cf.queue[0, 0], 0.0)
    np.testing.assert_allclose(cf.queue[0, 1], [50.0, 0.0, 100.0])
    np.testing.assert_allclose(cf.count[0, 1], [1.0, 0.0, 2.0])
    np.testing.assert_allclose(cf.queue[0, 2], [0.0, 500.0, 0.0])
    assert cf.balance[0] == pytest.approx(0.0, abs=1e-9)
    assert cf.queued_count()[0] == pytest.approx(8.0)
    assert cf.oldest_wait(3)[0] == 2
    cf.check()


def test_cash_equal_to_the_queue_clears_it_despite_rounding():
    amounts = [606.64, 729.5, 543.62]  # the last month's share comes out 1e-13 short in floats
    cf = CompensationFunds(1, 1, 12)
    for m, a in enumerate(amounts):
        cf.file(m, [0], [0], [a])
    cf.endow(sum(amounts))
    cf.pay(2)
    assert cf.queued_amount()[0] == 0.0 and cf.queued_count()[0] == 0.0
    assert cf.oldest_wait(2)[0] == 0
    assert abs(cf.balance[0]) < 1e-9


def test_nothing_filed_within_the_delay_is_paid():
    cf = CompensationFunds(2, 1, 12)
    for m in range(6):
        cf.file(m, [0, 1], [0, 0], [10.0 * (m + 1)] * 2)
    cf.endow(1e6)
    paid = cf.pay(5, delay=[3, 0])
    # fund 0: months 0..2 only (10+20+30); fund 1: everything, this month's claim included
    assert paid[0, 0] == pytest.approx(60.0)
    assert paid[1, 0] == pytest.approx(210.0)
    np.testing.assert_allclose(cf.queue[0, 3:6, 0], [40.0, 50.0, 60.0])
    assert np.all(cf.paid_by_wait[0, :3] == 0)  # no wait shorter than the delay
    np.testing.assert_allclose(cf.paid_by_wait[0, 3:6], [30.0, 20.0, 10.0])


def test_claims_roll_over_into_later_years_and_delays_are_as_computed_by_hand():
    cf = CompensationFunds(2, 2, 36)
    cf.endow([100.0, 1000.0])
    cf.file(0, [0, 1], [0, 1], [300.0, 60.0])
    cf.file(5, [1], [0], [40.0])
    for month in range(36):
        if month in (12, 24):
            cf.appropriate([150.0 if month == 12 else 100.0, 0.0])
        cf.pay(month)
        if month == 11:
            assert cf.queued_amount()[0] == pytest.approx(200.0)  # rolls over the year end
            assert cf.oldest_wait(11)[0] == 11
        if month % 12 == 11:
            cf.close_year(month)
        if month == 23:
            assert cf.arrival_rate(funds=[0]) == pytest.approx(250.0 / 300.0)
    # fund 0 paid 100 after 0 months, 150 after 12, 50 after 24; fund 1 paid 60 after 0, 40 after 0
    np.testing.assert_allclose(cf.paid_by_wait[0, [0, 12, 24]], [100.0, 150.0, 50.0])
    per_fund = cf.delay_quantile(0.5, by_fund=True)
    np.testing.assert_array_equal(per_fund, [12.0, 0.0])  # cumulative share 1/3 at 0, 5/6 at 12
    np.testing.assert_array_equal(cf.delay_quantile(0.9, by_fund=True), [24.0, 0.0])
    assert cf.delay_quantile(0.3, funds=[0]) == 0.0
    # pooled: 200 at 0 months, 150 at 12, 50 at 24 -> half reached at 0, 90% at 24
    assert cf.delay_quantile(0.5) == 0.0
    assert cf.delay_quantile(0.6) == 12.0
    assert cf.delay_quantile(0.9) == 24.0
    assert cf.arrival_rate() == 1.0 and cf.queued_amount().sum() == 0.0
    assert cf.balance[0] == pytest.approx(50.0)
    assert np.all(cf.oldest_wait(35) == 0)
    cf.check()


def test_delay_and_arrival_rate_are_nan_when_nothing_is_paid_or_filed():
    cf = CompensationFunds(2, 1, 12)
    cf.file(0, [0], [0], [10.0])
    assert math.isnan(cf.delay_quantile(0.5))
    assert cf.arrival_rate() == 0.0
    assert math.isnan(cf.arrival_rate(by_fund=True)[1])


def _queued(amounts, balance=0.0):
    """One fund per amount, each with that many yuan queued at month 0 by claimant 0."""
    cf = CompensationFunds(len(amounts), 2, 24)
    cf.file(0, np.arange(len(amounts)), 0, amounts)
    cf.endow(balance)
    return cf


def test_abandonment_follows_the_formula_and_grows_with_the_expected_wait():
    cf = _queued([1000.0, 3000.0, 1000.0])
    gone = cf.abandon(1, inflow_per_month=[100.0, 100.0, 50.0], patience=5.0, scale=10.0)
    a = gone[:, 0] / np.array([1000.0, 3000.0, 1000.0])
    # W = 10, 30, 20 months
    np.testing.assert_allclose(a, 1 - np.exp(-np.array([5.0, 25.0, 15.0]) / 10.0))
    assert a[1] > a[0] and a[2] > a[0]  # a longer queue, a smaller inflow
    assert np.all(gone[:, 1] == 0)
    np.testing.assert_allclose(cf.queued_amount(), np.array([1000.0, 3000.0, 1000.0]) * (1 - a))
    np.testing.assert_allclose(cf.queued_count(), 1 - a)  # the count shrinks with the yuan
    cf.check()


def test_newer_claims_wait_behind_older_ones_and_abandon_more():
    cf = CompensationFunds(1, 1, 24)
    cf.file(0, [0], [0], [600.0])
    cf.file(1, [0], [0], [600.0])
    gone = cf.abandon(2, [100.0], patience=3.0, scale=6.0)
    # W = 6 for month 0, 12 for month 1
    expected = 600.0 * (1 - np.exp(-3.0 / 6.0)) + 600.0 * (1 - np.exp(-9.0 / 6.0))
    assert gone[0, 0] == pytest.approx(expected)
    assert cf.queue[0, 1, 0] < cf.queue[0, 0, 0]


def test_patience_per_claimant_and_cash_on_hand():
    cf = CompensationFunds(2, 2, 24)
    cf.file(0, [0, 0, 1], [0, 1, 1], [500.0, 500.0, 500.0])
    cf.endow([0.0, 500.0])
    gone = cf.abandon(1, [0.0, 0.0], patience=[np.inf, 12.0], scale=3.0)
    # fund 0, no inflow: the patient claimant keeps waiting, the other drops the claim at once
    np.testing.assert_array_equal(gone[0], [0.0, 500.0])
    # fund 1 holds the cash for its queue: no expected wait, nothing abandoned
    np.testing.assert_array_equal(gone[1], [0.0, 0.0])


def test_a_claim_abandoned_down_to_dust_leaves_the_queue():
    cf = _queued([1000.0])
    # W = 100 months, a = 1 - exp(-35): about 6e-13 yuan would be left
    gone = cf.abandon(3, [10.0], patience=0.0, scale=100.0 / 35.0)
    assert gone[0, 0] == pytest.approx(1000.0, rel=1e-15)
    assert cf.queued_amount()[0] == 0.0 and cf.queued_count()[0] == 0.0
    assert cf.oldest_wait(3)[0] == 0
    cf.check()


def test_infinite_patience_abandons_nothing():
    cf = _queued([1e9, 5.0])
    for month in range(1, 24):
        assert np.all(cf.abandon(month, [0.0, 1e-3], patience=np.inf, scale=1.0) == 0)
    assert cf.abandoned.sum() == 0
    np.testing.assert_allclose(cf.queued_amount(), [1e9, 5.0])


def test_counties_unpaid_two_years_running():
    # fund 0: claims, no cash for 30 months; fund 1: a small appropriation pays something each
    # year; fund 2: no claims; fund 3: claims not due within the 30 months (delay) -> not unpaid
    cf = CompensationFunds(4, 1, 36)
    cf.file(0, [0, 1, 3], [0, 0, 0], [1e6, 1e6, 1e6])
    for month in range(30):
        if month % 12 == 0:
            cf.appropriate([0.0, 10.0, 0.0, 0.0])
        cf.pay(month, delay=[1, 1, 1, 31])
        if month % 12 == 11:
            cf.close_year(month)
    np.testing.assert_array_equal(cf.longest_unpaid_run, [2, 0, 0, 0])
    assert cf.counties_unpaid_two_years() == 1
    assert cf.counties_unpaid_two_years(funds=[1, 2, 3]) == 0
    assert cf.counties_unpaid_two_years(funds=np.array([True, False, False, False])) == 1


def _one_paid_year(months: int) -> CompensationFunds:
    """A fund owed 1 m yuan from month 0 that receives a little cash in month 12 only."""
    cf = CompensationFunds(1, 1, months)
    cf.file(0, [0], [0], [1e6])
    for month in range(months):
        if month == 12:
            cf.appropriate(5.0)
        cf.pay(month)
        if month % 12 == 11:
            cf.close_year(month)
    return cf


def test_a_paid_year_breaks_the_run():
    cf = _one_paid_year(48)
    # unpaid, paid, unpaid, unpaid
    assert cf.longest_unpaid_run[0] == 2 and cf.unpaid_run[0] == 2
    cf2 = _one_paid_year(36)
    assert cf2.longest_unpaid_run[0] == 1 and cf2.counties_unpaid_two_years() == 0


def test_lapse_returns_unspent_cash_carry_keeps_it():
    cf = CompensationFunds(2, 1, 24)
    cf.endow([100.0, 100.0])
    cf.file(0, [0, 1], [0, 0], [30.0, 30.0])
    cf.file(10, [0], [0], [50.0])  # not yet due at year end
    for month in range(12):
        cf.pay(month, delay=3)
    lapsed = cf.close_year(11, lapse=[True, False])
    np.testing.assert_allclose(lapsed, [70.0, 0.0])
    np.testing.assert_allclose(cf.balance, [0.0, 70.0])
    np.testing.assert_allclose(cf.lapsed, [70.0, 0.0])
    assert cf.queued_amount()[0] == pytest.approx(50.0)  # the claim rolls over, unpaid
    cf.appropriate([50.0, 0.0])
    assert cf.pay(13, delay=3)[0, 0] == pytest.approx(50.0)
    cf.check()
    with pytest.raises(ValueError, match="already closed"):
        cf.close_year(11)


def test_bad_inputs_are_refused():
    cf = CompensationFunds(2, 2, 12)
    with pytest.raises(IndexError):
        cf.file(0, [2], [0], [1.0])
    with pytest.raises(ValueError):
        cf.file(12, [0], [0], [1.0])
    with pytest.raises(ValueError):
        cf.file(0, [0], [0], [1.0], [0.0])
    with pytest.raises(ValueError):
        cf.appropriate([-1.0, 0.0])
    with pytest.raises(ValueError):
        cf.abandon(0, [1.0, 1.0], patience=1.0, scale=0.0)
    with pytest.raises(ValueError):
        cf.pay(0, delay=-1)
