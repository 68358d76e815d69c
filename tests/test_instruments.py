"""Policy instruments as the reports describe them (sim/instruments.py, docs/instruments.md):
each is a lever that is off unless a province runs it, acts through an institution's decision,
and moves a named outcome beyond K paired standard errors under common random numbers (both
arms run the same seeds, so the same firms and draws)."""

import numpy as np
import pytest

import sim
from sim import kernel
from sim.model import GuaranteeModel
from sim.run.runner import replication_seed
from sim.firms import FirmPopulation
from sim.instruments import in_force
from sim.risk.sharing import flagged_shares, performance_scores, performance_shares

from conftest import K, assert_down, assert_up, paired

# Mechanism tests at a small sample: loans of the schema's 50k-500k, not the calibrated Hunan
# loans of up to 2.7 m, which 20,000 firms would make a sixth of a small guarantor's capacity
# (firms.max_grain), so that guarantors fail by their losses and not by the sample's grain.
BASE = {"firms.n": 20000, "horizon": 48, "mc.replications": 16, "mc.seed": 11,
        "firms.loan_min": 5e4, "firms.loan_max": 5e5}


def run(scenario, province=None, **o):
    d = dict(BASE)
    d.update({k.replace("__", "."): v for k, v in o.items()})
    return sim.run(scenario, d, province=province)


# ------------------------------------------------------------------ 1. Anhui's dynamic sharing
def test_health_rule_fires_on_consecutive_falls_with_a_widening_gap():
    # the index is an exponentially weighted mean of the readings
    h, falls, fires = kernel.health_step(0.0, 0, -2.0, 0.5, -1.5, 1)
    assert h == -1.0 and falls == 1 and not fires  # fell, but still above the arrears line
    h, falls, fires = kernel.health_step(h, falls, -3.0, 0.5, -1.5, 1)
    assert h == -2.0 and falls == 2 and fires  # fell again and the cash-flow gap opened
    assert not kernel.health_step(h, falls, -3.0, 0.5, -1.5, 4)[2]  # four falls needed, three so far
    assert kernel.health_step(-2.0, 4, 0.0, 0.5, -1.5, 1)[1:] == (0, False)  # a rise ends the run


def test_flagged_loans_take_the_raised_public_share():
    shares = np.array([0.40, 0.30, 0.30])  # Anhui 4:3:3: pool, bank, guarantor
    out = flagged_shares(shares, [True, False, False], 0.45)
    np.testing.assert_allclose(out, [0.45, 0.275, 0.275])
    np.testing.assert_allclose(flagged_shares(shares, [True, False, False], 0.30), shares)  # never lowered
    np.testing.assert_allclose(flagged_shares(shares, [False] * 3, 0.45), shares)  # no public payer


def test_anhui_platform_moves_losses_to_the_fiscal_side_and_fires_on_distress_not_noise():
    """Mechanism: a flagged loan's loss falls 45% on the funds; the guarantors and banks,
    expecting to keep less of a loss (their experience of flagged losses), guarantee and lend
    more. The index is persistent, so the rule fires on loans in distress: most flagged
    loans' losses are caught before default, and flagged loans default far more often than
    scheme loans in general."""
    # the platform alone: off and on (its file has it on), Anhui's circuit-breaker off in both
    o = dict(bank__circuit_breaker__enabled=False)
    off = run("anhui_433", province="anhui", scheme__dynamic__enabled=False, **o)
    on = run("anhui_433", province="anhui", scheme__dynamic__enabled=True, **o)
    assert off.replications.dynamic_triggers.sum() == 0
    assert_up(off, on, "realised_share_fiscal", "loss_pool", "new_lending_scheme")
    assert_down(off, on, "realised_share_bank", "realised_share_guarantor")
    ts = on.timeseries
    assert ts.dynamic_share_loss.sum() / ts.default_scheme.sum() > 0.5
    # flagged loans that defaulted, per flagged loan, against defaults per scheme loan made
    flagged_default = ts.dynamic_share_loans.sum() / ts.dynamic_triggers.sum()
    loans_made = ts.new_scheme.sum() / (0.5 * (50_000 + 500_000))  # about: the mean loan size
    base_default = (ts.default_scheme.sum() / (0.5 * (50_000 + 500_000))) / loans_made
    assert flagged_default > 3 * base_default  # 4.7x at the calibrated PDs


def test_instruments_in_force_are_named():
    assert in_force(sim.load_config("anhui_433", {"firms.n": 2000, "scheme.dynamic.enabled": False,
                                                  "bank.circuit_breaker.enabled": False},
                                    province="anhui")) == []
    # Anhui's files switch on the platform (its scheme) and the circuit-breaker (its banks)
    names = [n for n, _ in in_force(sim.load_config("anhui_433", {"firms.n": 2000}, province="anhui"))]
    assert any("动态" in n for n in names) and any("熔断" in n for n in names)
    # Hunan's dynamic split names its places when it has some
    split = {"scheme.performance_split.enabled": True, "first_loan.enabled": False}
    assert in_force(sim.load_config("hunan_2_8", {**split, "scheme.performance_split.places": []}))[0][0] \
        .startswith("Hunan dynamic split (风险分担比例动态调整): ")
    assert in_force(sim.load_config("hunan_2_8", {**split, "scheme.performance_split.places": ["chang_zhu_tan", "loudi"]})
                    )[0][0].startswith("Hunan dynamic split (风险分担比例动态调整) in chang_zhu_tan, loudi: ")


# ------------------------------------------------------------------ 3. Hunan's dynamic split
def test_performance_scores_and_shares():
    # NPL half the province's, first-time share 20% above, credit share as the province
    s = performance_scores(np.array([0.01, 0.04, np.nan]), np.array([0.36, 0.2, np.nan]),
                           np.array([0.1, 0.1, np.nan]), 0.02, 0.3, 0.1, (1.0, 0.5, 0.5))
    np.testing.assert_allclose(s, [0.5 + 0.1, -1.0, 0.0])  # the second clipped; no loans: 0
    shares = np.array([0.48, 0.32, 0.20])  # Hunan 2:8: guarantor, pool, bank
    out = performance_shares(shares, [False, True, False], [True, False, False], s, 0.25)
    np.testing.assert_allclose(out[0], [0.48 - 0.048, 0.32 + 0.048, 0.20])  # 0.25 x 0.6 x 0.32
    np.testing.assert_allclose(out[1], [0.48 + 0.08, 0.32 - 0.08, 0.20])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(out[2], shares)


def test_hunan_dynamic_split_needs_a_guarantor_and_a_fiscal_payer():
    with pytest.raises(sim.ConfigError, match="scheme.performance_split.enabled"):
        sim.load_config("bank_only", {"scheme.performance_split.enabled": True})
    with pytest.raises(sim.ConfigError, match=r"scheme.performance_split.step = 2"):
        sim.load_config("hunan_2_8", {"scheme.performance_split.step": 2})


def test_hunan_dynamic_split_places_must_be_the_provinces():
    with pytest.raises(sim.ConfigError) as e:
        sim.load_config("hunan_2_8", {"scheme.performance_split.enabled": True,
                                      "scheme.performance_split.places": ["changsha", "atlantis"]})
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith("scheme.performance_split.places = ['changsha', 'atlantis']: unknown place "
                           "'atlantis'; known (hunan): changsha, zhuzhou"), text
    assert text.endswith("areas: central, chang_zhu_tan, dongting_lake, other, southwest"), text
    # an area stands for its prefectures, as in a shock's places; Jiangxi has no Changsha
    assert sim.load_config("hunan_2_8", {"scheme.performance_split.places": ["chang_zhu_tan", "yueyang"]})
    with pytest.raises(sim.ConfigError, match=r"^scheme\.performance_split\.places = \['changsha'\]: "
                                              r"unknown place 'changsha'; known \(jiangxi\)"):
        sim.load_config("4321", {"scheme.performance_split.places": ["changsha"]}, province="jiangxi")


def test_the_bank_screens_a_scheme_applicant_with_the_limit_of_its_guarantors_place():
    """kernel.screen reads the bank's scheme limit in column guarantor_pilot[guarantor]: here
    column 0 refuses everyone and column 1 accepts everyone, and guarantors alternate."""
    cfg = sim.load_config("hunan_2_8", {"firms.n": 2000})
    f = FirmPopulation(2000, cfg.province, cfg.firms, 0.0, np.random.default_rng(0), n_banks=3)
    G = int(f.guarantor.max()) + 1
    pilot = np.arange(G, dtype=np.int64) % 2
    limit = np.tile([-np.inf, np.inf], (3, 1))
    scr = (0.0, 1.0, 3, 10, np.ones(3), np.full((3, 2), -np.inf), limit, np.ones(3, bool), 0.0,
           1e12, False, 1.0, np.zeros((G, 1)), np.ones(3), np.ones(3, bool), np.zeros(3, np.int64), pilot)
    apps = np.arange(f.n, dtype=np.int64)
    n = f.n
    outcome = np.zeros(n, np.int8)
    left = kernel.screen(apps, np.arange(5, dtype=np.uint64), f.pop, scr, (0.05, 0.08, G), kernel.PHI,
                         np.zeros(7), np.zeros(n), np.zeros(n, np.int16), outcome)
    assert left == n  # no direct loan
    in_pilot = pilot[f.guarantor[apps]] == 1
    assert 0 < in_pilot.sum() < n
    assert (outcome[in_pilot] == kernel.FOR_SCHEME).all() and (outcome[~in_pilot] == kernel.BANK_REFUSED).all()


def test_hunan_dynamic_split_does_nothing_outside_its_places(monkeypatch):
    """places=[chang_zhu_tan] (the pilot area: Changsha, Zhuzhou, Xiangtan): every scheme loan
    outside it that defaults is split with the
    scheme's own shares (and its payers pay exactly those shares of the loss), its guarantor
    keeps the scheme's share whichever bank asks, and the banks screen its applicants with no
    extra tolerance; inside, loans take their bank's moved shares. An accounting check,
    claim by claim and month by month over one run."""
    import sim.model as model_module
    from sim.model import _logit_limit

    cfg = sim.load_config("hunan_2_8", {**BASE, "mc.replications": 1, "bank.max_expected_loss": 0.012,
                                        "scheme.performance_split.enabled": True,
                                        "scheme.performance_split.places": ["chang_zhu_tan"]})
    claims = []
    real = model_module.split_losses

    def spy(loss, shares, payer, budget, cap_per_loan=None):
        split = real(loss, shares, payer, budget, cap_per_loan)
        claims.append((loss, np.broadcast_to(shares, payer.shape).copy(), payer.copy(), split, m.bank_shares))
        return split

    monkeypatch.setattr(model_module, "split_losses", spy)
    m = GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(cfg.mc.seed, 0)))
    area = [i for i, r in enumerate(cfg.province.regions) if r.area == "chang_zhu_tan"]
    assert len(area) == 3
    inside = np.isin(m.guarantor_region, area)
    assert (m.guarantor_pilot == inside).all() and 0 < inside.sum() < m.n_guarantors
    bc, lgd = cfg.bank, cfg.firms.lgd_mean
    tolerant = 0
    while m.running:
        m.step()
        kept = m.guarantor_kept
        assert (kept[~inside] == kept[~inside][:, :1]).all()  # one value whatever the bank
        limit = m._screening[6]
        bare = _logit_limit(np.minimum(bc.max_pd, m._bank_appetite / (lgd * m.bank_kept)))
        assert np.array_equal(limit[:, 0], bare)  # outside: no extra tolerance
        tolerant += int((limit[:, 1] > bare).sum())
    assert m.month == cfg.horizon and tolerant > 0 and (m.bank_score != 0).any()
    g = m.tranche_payers.index("guarantor")
    outside_n = moved = 0
    for loss, shares, payer, split, bank_shares in claims:
        agency = payer[:, g] - m._guarantor0  # the guarantor fronts its own tranche
        out = ~inside[agency]
        assert (shares[out] == m.shares).all()
        ok = out & (split.shortfall == 0)
        np.testing.assert_allclose(split.paid[ok], loss[ok, None] * m.shares[None, :], rtol=1e-12)
        # inside, each loan takes one bank's row (moved once banks are scored)
        ins = shares[~out]
        assert (ins[:, None, :] == bank_shares[None, :, :]).all(axis=2).any(axis=1).all()
        outside_n += int(ok.sum())
        moved += int((ins != m.shares).any(axis=1).sum())
    assert outside_n > 50 and moved > 10, (outside_n, moved)  # 106 and 25 of 151 claims


def test_hunan_dynamic_split_draws_out_scheme_credit_through_good_performers():
    """Mechanism: once a year each bank is scored on its NPL, first-time-borrower and
    credit-loan shares; on a good performer's loans the funds take more and the guarantor
    less, so the guarantors accept more of its applicants, and the bank itself tolerates more
    expected loss on scheme loans. Scheme credit and first-time borrowers rise. (The fiscal
    cost rises too, +11 m yuan, but at 2.2 se on 16 paired runs: not asserted.)"""
    # At the schema's bank appetite (1.2%): at the calibrated Hunan appetite (4.8%) the banks'
    # PD cap (bank.max_pd), not their expected-loss limit, binds on scheme loans, so the extra
    # tolerance changes nothing: at the calibrated preset, in its pilot, the split lowers scheme
    # credit slightly, -0.155 bn (se 0.013, 40 paired runs at firms.n=auto; docs/instruments.md).
    # Hunan's file runs it in its pilot (chang_zhu_tan): off, everywhere and the pilot typed
    o = dict(bank__max_expected_loss=0.012)
    off = run("hunan_2_8", scheme__performance_split__enabled=False, **o)
    on = run("hunan_2_8", scheme__performance_split__enabled=True, scheme__performance_split__places=[], **o)
    assert_up(off, on, "new_lending_scheme", "first_time_borrowers")  # 8.2 and 8.5 se
    # In the pilot alone (45% of the firms) it draws out credit too, less than everywhere
    # (+0.70 bn against +1.84 bn of scheme lending).
    pilot = run("hunan_2_8", scheme__performance_split__enabled=True,
                scheme__performance_split__places=["chang_zhu_tan"], **o)
    assert_up(off, pilot, "new_lending_scheme", "first_time_borrowers")  # 7.3 and 4.4 se
    assert_up(pilot, on, "new_lending_scheme", "first_time_borrowers")  # 7.8 and 8.7 se


# ------------------------------------------------------------------ 2. the model circuit-breaker
# models differ in quality, in both arms; Anhui's platform (on in its scheme) off in both, so
# that the breaker's own effect is measured; a threshold of 1.5x the NPL of all loans, since
# at the calibrated PDs 2x trips less than once a run (0.75 on 16)
BREAKER = dict(bank__scoring_model_dispersion=0.5, scheme__dynamic__enabled=False,
               bank__circuit_breaker__npl_multiple=1.5)


def test_circuit_breaker_suspends_models_and_books_the_advance_every_month():
    # a threshold of 1.5x the NPL of all loans, so that models trip more than once in a run
    # (at the calibrated PDs 2x tripped once in this replication)
    cfg = sim.load_config("anhui_433", {"firms.n": 20000, "horizon": 48, "bank.scoring_model_dispersion": 0.5,
                                        "bank.circuit_breaker.enabled": True,
                                        "bank.circuit_breaker.npl_multiple": 1.5,
                                        "firms.loan_min": 5e4, "firms.loan_max": 5e5}, province="anhui")
    m = GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(cfg.mc.seed, 0)))
    tripped, before = [], 0.0
    while m.running:
        was = m.model_suspended_until.copy()
        m.step()
        tripped += list(np.flatnonzero(m.model_suspended_until > was))
        t = m.tally
        owed = float(m.model_advance_out.sum())
        # the banks' payable: advanced, less what losses used up, less what went back
        assert owed - before == pytest.approx(t.model_advances - t.model_advance_absorbed
                                              - t.model_advance_returned, abs=0.01)
        before = owed
        assert abs(sum(a.compensated_month for a in m.accounts)) < 0.01  # a transfer
        m.pool.ledger.check()
    assert len(tripped) >= 2
    ts = m.timeseries()
    assert ts.rationed_model_suspended.sum() > 0 and ts.model_advances.sum() > 0


def test_circuit_breaker_withholds_credit_and_moves_losses_to_the_pool():
    """Mechanism: a model above twice the NPL of all loans two month-ends running loses its
    lending authority (its banks refuse their applicants for the suspension) and the pool
    advances its expected losses, set against the banks' losses on its loans. Less credit,
    more refusals, a higher fiscal cost and a lower bank loss."""
    off = run("anhui_433", province="anhui", bank__circuit_breaker__enabled=False, **BREAKER)
    on = run("anhui_433", province="anhui", bank__circuit_breaker__enabled=True, **BREAKER)
    assert off.replications.model_trips.sum() == 0 and on.replications.model_trips.mean() >= 1
    assert_up(off, on, "rationed", "fiscal_cost")
    assert_down(off, on, "new_lending_total", "loss_bank")


# ------------------------------------------------------------------ named in the report and the app
def test_the_report_and_the_app_name_the_instruments_in_force(tmp_path):
    from sim.app import explain
    from sim.app.levers import from_query

    lv, _ = from_query("scenario=anhui_433&instruments=dynamic,circuit_breaker")
    line = explain.scheme_lines(lv.configs()[0])[-1]
    assert "动态风险分担" in line and "熔断" in line
    assert "none" in explain.scheme_lines(from_query("scenario=anhui_433&instruments=")[0].configs()[0])[-1]
    # a preset starts with its own instruments checked (Anhui's scheme: its platform; Hunan,
    # the app's province: its dynamic split in its pilot and the first-loan programme)
    assert from_query("scenario=anhui_433")[0].instruments == ("dynamic", "performance_split", "first_loan")
    # checked, the split runs on a scheme it can move shares in, and not beside it on one
    # without a fiscal payer (2:8), as the province's preset does
    split, plain = from_query("scenario=4321&compare=2:8")[0].configs()
    assert split.scheme.performance_split.enabled and not plain.scheme.performance_split.enabled
    assert not from_query("scenario=2:8&instruments=performance_split")[0].configs()[0].scheme.performance_split.enabled
    with pytest.raises(sim.ConfigError, match="unknown instrument 'x'"):
        from_query("instruments=x")
    sim.run("anhui_433", {"firms.n": 4000, "horizon": 24, "mc.replications": 2, "scheme.dynamic.enabled": True},
            province="anhui", out_dir=tmp_path)
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "Instruments in force" in report and "Anhui dynamic risk-sharing platform" in report
    assert "| fiscal |" in report and "38.2" in report
