"""Every figure of docs/instruments.md, from the model: python docs/instruments_figures.py

Paired runs (the same seeds in both arms: common random numbers); a difference is the mean
over replications of (instrument on - off), with its standard error (sd of the per-replication
differences / sqrt(n)). Takes a few minutes on one core."""

from __future__ import annotations

import math
import sys

import sim
import sim.instruments

PCT = {"any_guarantor_suspended", "realised_share_fiscal", "realised_share_bank", "realised_share_guarantor", "realised_share_other",
       "dynamic_flagged_loss_share", "npl_ratio_year_end", "model_trip_loss_rate", "rationed_share"}


COUNTS = {"first_time_borrowers", "rationed", "model_trips", "dynamic_triggers"}


def show(metric: str, x: float) -> str:
    if metric in PCT:
        return f"{100 * x:.2f}%"
    if abs(x) >= 1e6 and metric not in COUNTS:
        return f"{x / 1e9:.3f} bn"
    return f"{x:,.1f}"


def paired(off, on, metrics):
    a = off.replications.set_index("replication")
    b = on.replications.set_index("replication")
    for m in metrics:
        d = (b[m] - a[m]).dropna()
        se = d.std(ddof=1) / math.sqrt(len(d))
        print(f"  {m:28s} off {show(m, a[m].mean()):>12s}  on {show(m, b[m].mean()):>12s}  "
              f"diff {show(m, d.mean()):>12s}  se {show(m, se):>10s}  n {len(d)}")


def arms(scenario, province, base, on):
    return (sim.run(scenario, base, province=province),
            sim.run(scenario, {**base, **on}, province=province))


def main() -> None:
    which = sys.argv[1:] or ["anhui", "breaker", "models", "hunan", "tests", "table"]
    if "anhui" in which:
        print("1. Anhui platform, province=anhui scenario=anhui_433, firms.n=auto, 60 months, 40 replications")
        # anhui_433 runs the platform: the off arm types it off
        off, on = arms("anhui_433", "anhui", {"mc.replications": 40, "scheme.dynamic.enabled": False},
                       {"scheme.dynamic.enabled": True})
        r, years = on.replications, on.config.horizon / 12
        print(f"  firms.n {on.config.firms.n}; loans flagged a year {r.dynamic_triggers.mean() / years:,.0f} on "
              f"{r.dynamic_trigger_amount.mean() / years / 1e9:.3f} bn")
        paired(off, on, ["realised_share_fiscal", "realised_share_bank", "realised_share_guarantor",
                         "realised_share_other", "dynamic_flagged_loss_share", "new_lending_scheme",
                         "first_time_borrowers", "fiscal_cost", "any_guarantor_suspended"])
    if "breaker" in which:
        print("2. Circuit-breaker, province=anhui scenario=anhui_433, bank.scoring_model_dispersion=0.5 in both "
              "arms, firms.n=auto, 60 months, 20 replications")
        # Anhui's file runs the breaker: the off arm types it off
        off, on = arms("anhui_433", "anhui", {"mc.replications": 20, "bank.scoring_model_dispersion": 0.5,
                                              "bank.circuit_breaker.enabled": False},
                       {"bank.circuit_breaker.enabled": True})
        r, years = on.replications, on.config.horizon / 12
        print(f"  trips a year {r.model_trips.mean() / years:.2f} on {r.model_trip_outstanding.mean() / years / 1e9:.2f} bn; "
              f"advanced {r.model_advances.mean() / years / 1e9:.3f} bn a year; realised loss rate while "
              f"suspended {100 * r.model_trip_loss_rate.mean():.3f}%")
        paired(off, on, ["new_lending_total", "new_lending_scheme", "rationed_share", "npl_ratio_year_end",
                         "fiscal_cost", "loss_bank", "funds_queue_peak"])
    if "models" in which:
        print("2b. NPL ratio by scoring model, bank.scoring_model_dispersion=0.5, firms.n 20000, 48 months, "
              "mean over months 13-48 and 3 replications")
        import numpy as np

        from sim.model import GuaranteeModel
        from sim.run.runner import replication_seed
        for scenario, province in (("hunan_2_8", "hunan"), ("anhui_433", "anhui")):
            cfg = sim.load_config(scenario, {"firms.n": 20000, "horizon": 48,
                                             "bank.scoring_model_dispersion": 0.5}, province=province)
            runs = []
            for r in range(3):
                m = GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(cfg.mc.seed, r)))
                rows = []
                while m.running:
                    m.step()
                    k = m.model_noise.shape[0]
                    out = m.weight * np.bincount(m.model_of_bank[m.firms.bank], weights=m.firms.amount, minlength=k)
                    npl = np.bincount(m.model_of_bank, weights=np.maximum(m._npl_bank, 0.0), minlength=k)
                    if m.month > 12:
                        rows.append(npl / (out + npl))
                runs.append(np.mean(rows, axis=0))
            order = np.argsort(m.model_noise)
            print(f"  {province}: noise multiplier " + " ".join(f"{x:.2f}" for x in m.model_noise[order])
                  + " -> NPL " + " ".join(f"{100 * x:.2f}%" for x in np.mean(runs, axis=0)[order]))
    if "hunan" in which:
        # Hunan's file runs the split in its pilot (chang_zhu_tan): off is typed, the on arms
        # run it where the preset does
        print("3. Hunan dynamic split in the preset's places, province=hunan scenario=hunan_2_8, firms.n=auto, "
              "60 months, 20 replications")
        base = {"mc.replications": 20}
        off = sim.run("hunan_2_8", {**base, "scheme.performance_split.enabled": False})
        print(f"  places: {', '.join(off.config.scheme.performance_split.places) or 'every prefecture'}")
        for step, tol in ((0.1, 0.005), (0.25, 0.005), (0.5, 0.005), (0.25, 0.0), (0.0, 0.005)):
            on = sim.run("hunan_2_8", {**base, "scheme.performance_split.enabled": True,
                                       "scheme.performance_split.step": step,
                                       "scheme.performance_split.tolerance": tol})
            print(f" step {step}, tolerance {tol}")
            paired(off, on, ["new_lending_scheme", "first_time_borrowers", "fiscal_cost",
                             "realised_share_fiscal", "npl_ratio_year_end", "any_guarantor_suspended"])
    if "tests" in which:
        print("Paired tests of tests/test_instruments.py (firms.n 20000, 48 months, 16 replications, seed 11)")
        base = {"firms.n": 20000, "horizon": 48, "mc.replications": 16, "mc.seed": 11,
                "firms.loan_min": 5e4, "firms.loan_max": 5e5}
        # as the tests: the platform alone (Anhui's breaker off in both arms), then the breaker
        # alone (the platform off) with models that differ and a trip at 1.5x
        b = {**base, "bank.circuit_breaker.enabled": False}
        off, on = arms("anhui_433", "anhui", {**b, "scheme.dynamic.enabled": False}, {"scheme.dynamic.enabled": True})
        paired(off, on, ["realised_share_fiscal", "loss_pool", "new_lending_scheme", "realised_share_bank",
                         "realised_share_guarantor"])
        b = {**base, "bank.scoring_model_dispersion": 0.5, "scheme.dynamic.enabled": False,
             "bank.circuit_breaker.npl_multiple": 1.5}
        off, on = arms("anhui_433", "anhui", {**b, "bank.circuit_breaker.enabled": False},
                       {"bank.circuit_breaker.enabled": True})
        paired(off, on, ["rationed", "fiscal_cost", "new_lending_total", "loss_bank"])
        b = {**base, "bank.max_expected_loss": 0.012, "scheme.performance_split.enabled": False}
        off, on = arms("hunan_2_8", None, b, {"scheme.performance_split.enabled": True,
                                              "scheme.performance_split.places": []})
        paired(off, on, ["new_lending_scheme", "first_time_borrowers", "fiscal_cost"])
        print(" in the pilot alone (places chang_zhu_tan)")
        pilot = sim.run("hunan_2_8", {**b, "scheme.performance_split.enabled": True,
                                      "scheme.performance_split.places": ["chang_zhu_tan"]})
        paired(off, pilot, ["new_lending_scheme", "first_time_borrowers", "fiscal_cost"])
    if "table" in which or "breaker-table" in which:
        reps = 40
        print(f"Each instrument on vs off at the Hunan preset (hunan_2_8, calibrated, firms.n=auto, "
              f"60 months, {reps} replications, seed 20260101)")
        names = {"dynamic": "Anhui dynamic platform", "circuit_breaker": "model circuit-breaker",
                 "performance_split": "Hunan dynamic split", "priority": "performance-linked payouts",
                 "first_loan": "first-loan programme", "platform": "platform lenders"}
        outcomes = ["new_lending_scheme", "first_time_borrowers", "any_guarantor_suspended",
                    "guarantors_halted", "funds_queue_peak", "fiscal_cost"]
        base = {"mc.replications": reps}
        if "table" in which:
            preset = sim.run("hunan_2_8", base)
            print(f"  the preset runs: {', '.join(n for n, _ in sim.instruments.in_force(preset.config)) or 'none'}")
            running = sim.instruments.switched_on(preset.config)
            for short, key in sim.instruments.KEYS.items():
                name = names[short]
                if short in running:  # the preset runs it: off is the change
                    print(f" {name} (on in the preset; off: {key}=false)")
                    paired(sim.run("hunan_2_8", {**base, key: False}), preset, outcomes)
                else:
                    print(f" {name} ({key}=true)")
                    paired(preset, sim.run("hunan_2_8", {**base, key: True}), outcomes)
        # the breaker with scoring models that differ (at the default dispersion 0 all six are
        # alike and none trips): dispersion 0.5 in both arms
        b = {**base, "bank.scoring_model_dispersion": 0.5}
        print(" model circuit-breaker, models differing (bank.scoring_model_dispersion=0.5 in both arms)")
        off, on = sim.run("hunan_2_8", b), sim.run("hunan_2_8", {**b, "bank.circuit_breaker.enabled": True})
        print(f"  trips a year {on.replications.model_trips.mean() / (on.config.horizon / 12):.2f}")
        paired(off, on, outcomes)


if __name__ == "__main__":
    main()
