"""The firms' month, compiled (`month`): maturities, arrears and defaults, exits and entrants,
applications, the banks' and guarantors' screening and direct loans.

Why compiled: a month touches every firm, and done as a dozen NumPy passes over the whole
population (each with its own temporaries) the firm work cost 30x a bare NumPy draw per firm.
Here a few loops go over the rows (two vectorised passes flagging the loans with something to
do this month and the rows that may close or apply, one listing them, then the listed loans,
the rows without a loan, the entrants and the applicants),
with Numba (`njit`, `cache=True`: compiled on the first run after install, then reused).
The loops that visit scattered rows (the loans with something to do, the applicants, the
entrants) ask for the lines of the row `_AHEAD` places on (`prefetch`): waiting for memory, not
arithmetic, was most of their time (screening 124 -> 49 ns an applicant at 305,244 firms).

Random numbers are keyed: each is the SplitMix64 hash of (replication key, month, purpose,
row), computed inline (`bits64`; `sim.risk.streams` gives the same numbers as arrays through
`keyed_bits` and its siblings, which are here so that every compiled use of the hash is in
one file, and Numba's cache, which follows the file a function is in, stays right), so a firm's
numbers do not depend on which other rows are drawn, and a shocked run and its counterfactual
share every number the shock did not touch (common random numbers). The per-purpose base of a
month comes from `streams.base` in Python.

The default test is exact without a transcendental per firm. A performing loan falls overdue
when its latent value X = s_cell + sigma e is below the firm's threshold t, i.e. when
e < z = (t - s_cell) / sigma. With e = PhiInv(v) for the keyed uniform v, that is v < Phi(z).
`PHI` tabulates Phi on a fine grid: v at or above the table's value at the grid point above z
is "no", v below the value at the grid point below z is "yes" (each bound taken one cell
further out, against rounding in the cell index), and only the few v in between (for a
monthly PD of 0.1%, 2 in 10,000 at-risk loans) compute Phi(z) itself. So every firm keeps
its own PD exactly.

Sums are taken row by row in row order, in one thread: results do not depend on the number
of threads or processes (replications run in parallel, each on one core).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

NO_LOAN, DIRECT, SCHEME = 0, 1, 2
PERFORMING, OVERDUE, DEFAULTED = 0, 1, 2
# Screening outcomes `screen` leaves in app_outcome (the model adds its own after these)
BANK_REFUSED, FOR_SCHEME, GUARANTOR_REFUSED, MODEL_SUSPENDED = 0, 2, 3, 4

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11, _S12, _S32 = (np.uint64(k) for k in (30, 27, 31, 11, 12, 32))
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_M53 = 2.0 ** -53
_TWO_M52 = 2.0 ** -52
_TWO_M32 = 2.0 ** -32

# Phi on [Z_LO, Z_HI] in steps of 1/Z_STEPS; below Z_LO Phi < 1e-23, under any uniform's
# resolution (2^-53), above Z_HI 1 - Phi < 1e-23.
Z_LO, Z_HI, Z_STEPS = -10.0, 10.0, 64

# How many rows ahead the scattered-row loops ask for their lines (`prefetch`)
_AHEAD = 8


@intrinsic
def prefetch(typingctx, arr, row, write):
    """A hint that `arr[row]` will be read (write = 0) or written (1) soon: LLVM's prefetch, so
    the loops that visit scattered rows (applicants, loans at work) have the next rows' lines
    on the way while they work on this one. No effect on any value."""
    if not isinstance(write, types.IntegerLiteral):
        return None
    sig = types.void(arr, row, write)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        i32 = ir.IntType(32)
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32]), "llvm.prefetch.p0")
        builder.call(fn, [i8p, i32(write.literal_value), i32(3), i32(1)])
        return context.get_dummy_value()
    return sig, codegen


@njit(cache=True, inline="always")
def prefetch_record(first, last, row):
    """Prefetch (for writing) a firm's record (sim/firms.py): the lines of its first and last
    fields, which are all the lines it spans."""
    prefetch(first, row, 1)
    prefetch(last, row, 1)


@njit(cache=True, inline="always")
def prefetch_loan(row, loans_taken, channel, amount, term, age, agency, refused):
    """Prefetch (for writing) the row's fields a new loan sets outside its record: a direct
    loan in the screening, and every entrant (no loan yet)."""
    prefetch(loans_taken, row, 1)
    prefetch(channel, row, 1)
    prefetch(amount, row, 1)
    prefetch(term, row, 1)
    prefetch(age, row, 1)
    prefetch(agency, row, 1)
    prefetch(refused, row, 1)


@njit(cache=True, inline="always")
def mix(z):
    """SplitMix64 finaliser (uint64, wrapping)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def bits64(base, row):
    """The keyed 64 bits of `row` for a (key, month, purpose) base: = streams.counter_bits64."""
    return mix(base + (np.uint64(row) + _ONE) * _GAMMA)


@njit(cache=True, inline="always")
def uniform53(base, row):
    """A uniform in [0, 1): the top 53 bits x 2^-53 (= `streams.counter_uniform`)."""
    return float(bits64(base, row) >> _S11) * _TWO_M53


@njit(cache=True, inline="always")
def uniform_open(base, row):
    """A uniform in (0, 1): the top 52 bits moved to the middle of their cell, exact in
    float64, so never 0 or 1; as `streams.counter_normal` uses before its inverse CDF."""
    return (float(bits64(base, row) >> _S12) + 0.5) * _TWO_M52


@njit(cache=True)
def keyed_bits(base, rows):
    """`bits64` of each row, as an array (`streams.counter_bits64`)."""
    out = np.empty(rows.shape[0], np.uint64)
    for j in range(rows.shape[0]):
        out[j] = bits64(base, rows[j])
    return out


@njit(cache=True)
def keyed_uniform(base, rows):
    """`uniform53` of each row (`streams.counter_uniform`)."""
    out = np.empty(rows.shape[0])
    for j in range(rows.shape[0]):
        out[j] = uniform53(base, rows[j])
    return out


@njit(cache=True)
def keyed_open_uniform(base, rows):
    """`uniform_open` of each row (what `streams.counter_normal` takes the inverse CDF of)."""
    out = np.empty(rows.shape[0])
    for j in range(rows.shape[0]):
        out[j] = uniform_open(base, rows[j])
    return out


@njit(cache=True)
def phi(x):
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x * 0.7071067811865476)


@njit(cache=True)
def ndtri(p):
    """Standard normal quantile (Wichura's AS241, PPND16: relative error about 1e-16)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r
                         + 67265.770927008700853) * r + 45921.953931549871457) * r
                       + 13731.693765509461125) * r + 1971.5909503065514427) * r
                     + 133.14166789178437745) * r + 3.387132872796366608) / (
            ((((((r * 5226.495278852545925 + 28729.085735721942674) * r
                 + 39307.89580009271061) * r + 21213.794301586595867) * r
               + 5394.1960214247511077) * r + 687.1870074920579083) * r
             + 42.313330701600911252) * r + 1.0)
    r = p if q < 0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        val = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734) / (
            ((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                 + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
               + 0.68976733498510000455) * r + 1.6763848301838038494) * r
             + 2.05319162663775882187) * r + 1.0)
    else:
        r -= 5.0
        val = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772) / (
            ((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                 + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
               + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
             + 0.59983220655588793769) * r + 1.0)
    return -val if q < 0 else val


@njit(cache=True)
def _phi_table():
    k = int((Z_HI - Z_LO) * Z_STEPS) + 1
    out = np.empty(k)
    for i in range(k):
        out[i] = phi(Z_LO + i / Z_STEPS)
    return out


PHI = _phi_table()

# A staircase above Phi, for the loans' first pass: Phi(z) < p whenever z <= ndtri(p) (less a
# margin far above Phi's rounding), so a number v >= p with z at or below that step cannot
# fall overdue. Tested without a table look-up, so that the pass runs several rows at a time.
_STAIR_P = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
_STAIR_Z = tuple(float(ndtri(p)) - 1e-9 for p in _STAIR_P)
(_P0, _P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8) = _STAIR_P
(_Z0, _Z1, _Z2, _Z3, _Z4, _Z5, _Z6, _Z7, _Z8) = _STAIR_Z


@njit(cache=True, inline="always")
def below(v, z, table):
    """v < Phi(z), exactly, looking Phi up in `table` and computing it only near the edge."""
    if z <= Z_LO:
        return False
    if z >= Z_HI:
        return True
    # z lies in cell k, or (rounding in the index) a neighbour: bounds one cell wider
    k = int((z - Z_LO) * Z_STEPS)
    if v >= table[min(k + 2, table.shape[0] - 1)]:
        return False
    if v < table[max(k - 1, 0)]:
        return True
    return v < phi(z)


@njit(cache=True, inline="always")
def new_loan_health(i, health, health_falls, state, flagged):
    """A new loan starts with a neutral operating-health record (the index at the latent
    value's mean, no falls, not flagged): the platform scores each loan from its own start."""
    health[i] = 0.0
    health_falls[i] = 0
    state[i] = 0.0
    flagged[i] = False


@njit(cache=True, inline="always")
def above_stair(v, z):
    """v at or above the staircase over Phi at z (so `below(v, z)` is False): some step p
    with v >= p and z at or below ndtri(p), less a margin. The steps rise in both p and z, so
    among the steps with p <= v the highest z is the last one's: the test is z against that
    step's z (picked by selects, not a look-up: a loop calling it runs several rows at a time)."""
    zt = _Z0
    zt = _Z1 if v >= _P1 else zt
    zt = _Z2 if v >= _P2 else zt
    zt = _Z3 if v >= _P3 else zt
    zt = _Z4 if v >= _P4 else zt
    zt = _Z5 if v >= _P5 else zt
    zt = _Z6 if v >= _P6 else zt
    zt = _Z7 if v >= _P7 else zt
    zt = _Z8 if v >= _P8 else zt
    return (v >= _P0) & (z <= zt)


@njit(cache=True)
def respawn_rows(rows, b, pop, ent):
    """Each row in `rows` becomes a new firm (an entrant), from its seven keyed numbers (bases
    `b`): region, sector, PD (lognormal around the region x sector mean), LGD, credit file,
    platform data, business-interruption insurance; its guarantor and bank come from the
    region's number (its position inside the region's interval is itself uniform).

    (Tuples of arrays are unpacked once per call, never per row: unpacking takes a reference
    on each array, about 130 ns for the 28 of a population.)"""
    (region, sector, group, guarantor, bank, pd, logit_pd, threshold, threshold_overdue, lgd,
     has_file, on_platform, refused, health, health_falls, insured, collateral_loss,
     recovery_delay, shock_until, loans_taken, channel, amount, term, age, agency, status,
     overdue_start, will_default, state, flagged) = pop
    (region_cdf, region_lo, sector_cum, region_pd, sector_mult, pd_disp, cure_ratio, max_monthly,
     lgd_mean, lgd_disp, file_share, coverage, insured_p, g_count, g_first, n_banks) = ent
    n_regions = region_cdf.shape[0]
    n_sectors = sector_cum.shape[1]
    n_rows = rows.shape[0]
    for j in range(n_rows):
        if j + _AHEAD < n_rows:  # every array of the row is written
            r = rows[j + _AHEAD]
            prefetch_record(pd, insured, r)
            prefetch(group, r, 1)
            prefetch(threshold, r, 1)
            prefetch(threshold_overdue, r, 1)
            prefetch(has_file, r, 1)
            prefetch_loan(r, loans_taken, channel, amount, term, age, agency, refused)
            prefetch(status, r, 1)
            prefetch(overdue_start, r, 1)
            prefetch(will_default, r, 1)
        i = rows[j]
        # = searchsorted(cdf, u, "right"), capped at the last: the cumulative shares rise, so
        # it is the count of them u is at or above; counted without branches (a search's
        # branches, taken at random, cost more than the compares)
        u_region = uniform53(b[0], i)
        r = 0
        for k in range(n_regions - 1):
            r += u_region >= region_cdf[k]
        u_sector = uniform53(b[1], i)
        s = 0
        for k in range(n_sectors - 1):
            s += u_sector >= sector_cum[r, k]
        z_pd = ndtri(uniform_open(b[2], i))
        p = region_pd[r] * sector_mult[s] * math.exp(pd_disp * z_pd - 0.5 * pd_disp * pd_disp)
        p = min(max(p, 1e-5), 0.95)
        region[i] = r
        sector[i] = s
        group[i] = r * n_sectors + s
        pd[i] = p
        logit_pd[i] = math.log(p / (1.0 - p))
        p_month = -math.expm1(math.log1p(-p) / 12.0)
        threshold[i] = ndtri(p_month)
        threshold_overdue[i] = ndtri(min(p_month * (1.0 + cure_ratio), max_monthly))
        lgd[i] = min(max(lgd_mean + lgd_disp * ndtri(uniform_open(b[3], i)), 0.0), 1.0)
        has_file[i] = uniform53(b[4], i) < file_share
        on_platform[i] = uniform53(b[5], i) < coverage
        insured[i] = uniform53(b[6], i) < insured_p[s]
        lo = region_lo[r]
        v = min(max((u_region - lo) / (region_cdf[r] - lo), 0.0), 1.0)
        k = g_count[r]
        g = min(int(v * k), k - 1)
        guarantor[i] = g_first[r] + g
        rest = min(max(v * k - g, 0.0), 1.0)
        bank[i] = min(int(rest * n_banks), n_banks - 1)
        refused[i] = False
        new_loan_health(i, health, health_falls, state, flagged)  # no loan yet: a neutral record
        collateral_loss[i] = 0.0
        recovery_delay[i] = 0
        shock_until[i] = 0
        status[i] = PERFORMING
        overdue_start[i] = -1
        will_default[i] = False
        loans_taken[i] = 0
        channel[i] = NO_LOAN
        amount[i] = 0.0
        term[i] = 0
        age[i] = 0



@njit(cache=True)
def health_step(h_old, falls_old, reading, persistence, arrears_line, periods):
    """One month of Anhui's operating-health rule (经营健康度指数) for one loan, pure math.

    The index is an exponentially weighted mean of the platform's monthly readings of the
    firm's state: h = persistence x h_old + (1 - persistence) x reading. A fall extends the
    run of consecutive falls, anything else ends it. The forecast cash-flow gap is how far
    the index is below the firm's arrears line (the latent level below which it misses a
    payment): gap = max(arrears_line - h, 0). The rule fires when the index has fallen
    `periods` months running and the gap widened this month. Returns (h, falls, fires)."""
    h = persistence * h_old + (1.0 - persistence) * reading
    falls = falls_old + 1 if h < h_old else 0
    widened = max(arrears_line - h, 0.0) > max(arrears_line - h_old, 0.0)
    return h, falls, falls >= periods and widened


@njit(cache=True, inline="always")
def _signal_within(v, limit, logit_pd, noise, table):
    """expit(logit_pd + noise e) <= expit(limit) for e = PhiInv(v), i.e. e <= (limit - logit_pd)
    / noise: the table test, so no transcendental in the common case."""
    if noise > 0.0:
        return below(v, (limit - logit_pd) / noise, table)
    return logit_pd <= limit


@njit(cache=True)
def screen(apps, b, pop, scr, lend, table, lent, app_amount, app_term, app_outcome):
    """Loan requests and the banks' and guarantors' risk decisions for applicant rows `apps`;
    direct loans are made at once. Returns how many applicants are left (not lent to
    directly): they are moved to the front of `apps` in order, with their request and outcome
    in `app_amount`, `app_term`, `app_outcome`.

    Keyed numbers (bases b: loan amount, term, bank signal, bank's extra noise, guarantor
    signal). The firm asks for a log-uniform amount and a uniform term. Its bank reads logit PD
    + noise e (noise by platform data / credit file / neither: `noise[0..2]`) and lends
    directly when the estimate is within `direct_limit[bank, on_platform]` (a logit: the
    tighter of max_pd and appetite / (LGD x share kept on a direct loan)). Otherwise, if the
    bank uses the scheme (`in_scheme[bank]`) and the amount is within `max_loan`, it screens
    with the extra noise of moral hazard (sd `extra_scale` x noise) against
    `scheme_limit[bank, guarantor_pilot[guarantor]]` (column 1 where the firm's guarantor is in
    Hunan's dynamic split's places, with the bank's extra tolerance; column 0 outside); then
    the firm's guarantor reads its own signal against
    `guarantor_limit[guarantor, guarantor_col[bank]]` (a guarantor's limit may differ by the
    bank asking: Hunan's performance-linked split). Outcomes: 0 refused by the bank, 2 for the scheme (the
    guarantors' capacity decides next), 3 refused by the guarantor on risk, 4 refused because
    the bank's scoring model is suspended (`bank_open`: Anhui's circuit-breaker). The bank's
    noise is times its scoring model's quality factor `bank_noise[bank]`.

    A direct loan sums into `lent`: 0 amount, 1 interest over the term (at the rate of the
    firm's credit file), 2 first loans, 3 amount x years of first loans, 4 loans. A new loan
    starts a fresh operating-health record (`new_loan_health`).

    scr = (log_min, log_max, term_min, term_span, noise, direct_limit, scheme_limit, in_scheme,
    extra_scale, max_loan, uses_guarantor, guarantor_noise, guarantor_limit, bank_noise,
    bank_open, guarantor_col, guarantor_pilot), built by `GuaranteeModel._set_screening`;
    guarantor_pilot is int64 0/1 by guarantor.
    """
    (region, sector, group, guarantor, bank, pd, logit_pd, threshold, threshold_overdue, lgd,
     has_file, on_platform, refused, health, health_falls, insured, collateral_loss,
     recovery_delay, shock_until, loans_taken, channel, amount, term, age, agency, status,
     overdue_start, will_default, state, flagged) = pop
    (log_min, log_max, term_min, term_span, noise, direct_limit, scheme_limit, in_scheme,
     extra_scale, max_loan, uses_guarantor, guarantor_noise, guarantor_limit, bank_noise,
     bank_open, guarantor_col, guarantor_pilot) = scr
    rate_file, rate_no_file, direct_bucket = lend
    left = 0
    n_apps = apps.shape[0]
    for j in range(n_apps):
        if j + _AHEAD < n_apps:  # the rows this loop reads and a direct loan writes
            r = apps[j + _AHEAD]
            prefetch_record(pd, insured, r)
            prefetch(has_file, r, 0)
            prefetch_loan(r, loans_taken, channel, amount, term, age, agency, refused)
        i = apps[j]
        u = uniform53(b[0], i)
        amt = math.exp(log_min + (log_max - log_min) * u)
        u = uniform53(b[1], i)
        trm = term_min + min(int(u * term_span), term_span - 1)
        k = bank[i]
        if not bank_open[k]:  # its scoring model's lending authority is suspended
            apps[left] = i
            app_amount[left], app_term[left], app_outcome[left] = amt, trm, MODEL_SUSPENDED
            left += 1
            continue
        sd = (noise[0] if on_platform[i] else (noise[1] if has_file[i] else noise[2])) * bank_noise[k]
        v = uniform_open(b[2], i)
        lp = logit_pd[i]
        if _signal_within(v, direct_limit[k, np.int64(on_platform[i])], lp, sd, table):
            years = trm / 12.0
            lent[0] += amt
            lent[1] += amt * (rate_file if has_file[i] else rate_no_file) * years
            if loans_taken[i] == 0:
                lent[2] += 1.0
                lent[3] += amt * years
            lent[4] += 1.0
            channel[i] = DIRECT
            amount[i] = amt
            term[i] = trm
            age[i] = 0
            loans_taken[i] += 1
            agency[i] = direct_bucket
            refused[i] = False
            new_loan_health(i, health, health_falls, state, flagged)
            continue
        out = FOR_SCHEME
        if not in_scheme[k] or amt > max_loan:
            out = BANK_REFUSED
        else:
            est = lp + sd * ndtri(v)  # the same signal, now with the extra noise
            if not _signal_within(uniform_open(b[3], i), scheme_limit[k, guarantor_pilot[guarantor[i]]] - est + lp, lp,
                                  sd * extra_scale, table):
                out = BANK_REFUSED
            elif uses_guarantor and not _signal_within(uniform_open(b[4], i),
                                                       guarantor_limit[guarantor[i], guarantor_col[k]], lp,
                                                       guarantor_noise, table):
                out = GUARANTOR_REFUSED
        apps[left] = i
        app_amount[left], app_term[left], app_outcome[left] = amt, trm, out
        left += 1
    return left


@njit(cache=True, inline="always")
def _multiplier(i, apply_mult, listed, outreach):
    """A firm's application multiplier: a shock's demand (`apply_mult`, empty without one) x
    the first-loan programme's outreach if the firm is on its list (the first pass says)."""
    m = apply_mult[i] if apply_mult.shape[0] > 0 else 1.0
    return outreach * m if listed else m


@njit(cache=True, inline="always")
def _applies(bits, cell, p_apply, by_probability, mult, apply_below):
    """The application test on the low 32 bits of a firm's hash: an integer compare, or, with
    per-firm multipliers (`by_probability`), the probability x the firm's multiplier."""
    lo = np.int64(bits & _LOW32)
    if by_probability:
        return lo * _TWO_M32 < p_apply[cell >> 1, cell & 1] * mult
    return lo < apply_below[cell]


@njit(cache=True)
def month(pop, ent, month_index, base_risk, base_free, b_exit, shift, sigma, t_default, t_overdue,
          overdue_months, h_refused, h_other, p_apply, apply_mult, first_loan, dyn, table,
          b_screen, scr, lend, defaulted, exits, applicants, app_amount, app_term, app_outcome,
          released, repaid, lent, counts, work):
    """One month of every firm row, in row order (`work`: two rows of scratch, int64, as long
    as the population). For a row with a loan: it ages; at term a
    performing loan is repaid (`repaid[agency]`, scheme loans also in `released[guarantor]`);
    an overdue spell that has lasted `overdue_months` ends (cure, or default: the row goes to
    `defaulted` and waits for the claims); a performing loan draws its latent value against
    its two thresholds (ordered probit: overdue and will default / overdue and will cure /
    performing). For a row without a loan (repaid this month included): the exit test
    (hazard by whether its last application was refused; an entrant takes the row after the
    pass: `exits`), then the application test (probability by credit file and first loan,
    times the shock's demand multiplier and the first-loan programme's outreach). Then the applicants are screened (`screen`, with
    the limits the institutions set at the start of the month): direct loans are made at once
    (summed in `lent`); the others are left at the front of `applicants` with their request
    and outcome, for the guarantors' capacity and the scheme's loans.

    first_loan = (on, months_needed, outreach, last_loan, tax_good): the first-loan programme
    (首贷培植). When on, a row with a loan records the month in `last_loan`, and a row without
    one is listed (无贷户名单) while `tax_good` and it has had no loan for `months_needed`
    months (the first pass); `counts[9]` counts the listed rows at the start of the month.

    dyn = (on, persistence, noise, periods, base): Anhui's operating-health rule
    (`health_step`), run on scheme loans when on: each month the platform reads the firm's
    state (its latent value; held through an arrears spell) with keyed noise (base) and flags
    the loan once the rule fires; `lent[5]`, `lent[6]` sum the loans flagged and their amount.

    counts (int64, filled): 0 defaulted, 1 applicants not lent to directly, 2 new overdue,
    3 cured, 4 exits, 5 exits of refused firms, 6 loans running at the end (defaulted
    excluded, direct loans made included), 7 overdue at the end, 8 applicants, 9 firms on the
    first-loan list. Returns the
    overdue amount at the end.
    """
    (region, sector, group, guarantor, bank, pd, logit_pd, threshold, threshold_overdue, lgd,
     has_file, on_platform, refused, health, health_falls, insured, collateral_loss,
     recovery_delay, shock_until, loans_taken, channel, amount, term, age, agency, status,
     overdue_start, will_default, state, flagged) = pop
    inv_sigma = 1.0 / sigma
    track, h_persist, h_noise, h_periods, base_health = dyn
    triggers = trigger_amount = 0.0
    nd = na = n_new = n_cured = n_exit = n_exit_ref = n_running = n_overdue = 0
    overdue_amount = 0.0
    # u < h  <=>  k < ceil(h 2^32) for u = k 2^-32: the tests of a firm without a loan compare
    # integers, looked up without branches (a random branch costs more than the test)
    exit_below = np.empty(2, np.int64)
    exit_below[0], exit_below[1] = math.ceil(h_other * 2.0**32), math.ceil(h_refused * 2.0**32)
    apply_below = np.empty(4, np.int64)
    for f in range(2):
        for first in range(2):
            apply_below[2 * f + first] = math.ceil(p_apply[f, first] * 2.0**32)
    # Pass 1, without branches: list the loans with something to do this month, and the rows
    # without a loan whose number could make them close or apply (a superset: the highest
    # application probability, times the highest per-firm multiplier if there are any: a
    # shock's demand, the first-loan programme's outreach). Branching on a random attribute
    # row by row costs more than the work itself.
    loan_rows, free_rows = work[0], work[1]
    n = channel.shape[0]
    fl_on, fl_months, fl_outreach, last_loan, tax_good = first_loan
    by_probability = apply_mult.shape[0] > 0 or fl_on  # per-firm multipliers
    # A firm's probability is at most the highest cell's x the highest shock multiplier
    # (`any_apply`), x the outreach if it is on the first-loan list (`any_apply_listed`).
    top = 1.0
    if apply_mult.shape[0] > 0:
        top = 0.0
        for i in range(apply_mult.shape[0]):
            top = max(top, apply_mult[i])
    if not by_probability:
        any_apply = apply_below.max()
    else:
        any_apply = min(np.int64(math.ceil(p_apply.max() * top * 2.0**32)), np.int64(1) << 33)
    any_apply_listed = min(np.int64(math.ceil(p_apply.max() * top * max(fl_outreach, 1.0) * 2.0**32)),
                           np.int64(1) << 33)
    # Passes 1a and 1b run several rows at a time (vectorised: no table look-up and no store
    # that depends on the data); pass 1c lists the rows from the flag byte they leave per row.
    # Pass 1a: bit 0 a loan, bit 1 a number that could close it or make it apply (if it has
    # no loan), bit 2 on the first-loan list.
    flags = np.empty(n, np.uint8)
    e0, e1 = exit_below[0], exit_below[1]
    for i in range(n):
        has_loan = channel[i] != NO_LOAN
        listed = False
        bound = any_apply
        if fl_on:  # the same every row: the loop is compiled once for each case
            listed = (not has_loan) & tax_good[i] & (month_index - last_loan[i] >= fl_months)
            bound = any_apply_listed if listed else any_apply
        bits = bits64(base_free, i)
        eb = e1 if refused[i] else e0
        maybe = (np.int64(bits >> _S32) < eb) | (np.int64(bits & _LOW32) < bound)
        flags[i] = (np.uint8(has_loan) | (np.uint8(maybe) << np.uint8(1))
                    | (np.uint8(listed) << np.uint8(2)))
    # Pass 1b: each loan ages (and records the month when the first-loan programme runs),
    # and bit 3 marks a loan with something to do this month: it matures, is in arrears, may
    # fall overdue, or the health rule reads it. A performing loan cannot fall overdue when
    # its number is above the staircase over Phi at its z (taken at the lowest cell's shift,
    # so at least its own): most loans, most months, have nothing more to do. Pass 1c lists
    # the loans with something to do and the candidates among the rows without a loan.
    s_min = shift.min()
    if fl_on:
        for i in range(n):
            last_loan[i] = month_index if channel[i] != NO_LOAN else last_loan[i]
    for i in range(n):
        has_loan = channel[i] != NO_LOAN
        a = age[i] + np.int16(has_loan)
        age[i] = a
        performing = status[i] == PERFORMING
        z = (t_overdue[i] - s_min) * inv_sigma
        u = uniform_open(base_risk, i)
        busy = ((performing & (a >= term[i])) | (not performing) | (not above_stair(u, z))
                | (track & (channel[i] == SCHEME)))
        flags[i] |= np.uint8(has_loan & busy) << np.uint8(3)
    k_busy = k_free = n_listed = n_loans = 0
    for i in range(n):
        fl = flags[i]
        loan_rows[k_busy] = i
        k_busy += (fl >> 3) & 1
        free_rows[k_free] = i
        k_free += (fl & 3) == 2
        n_listed += (fl >> 2) & 1
        n_loans += fl & 1
    # Pass 2: the loans with something to do, in row order (the tests every loan took; the
    # others have only aged). Loans repaid this month join the rows without a loan.
    k_repaid = 0
    for j in range(k_busy):
        if j + _AHEAD < k_busy:
            r = loan_rows[j + _AHEAD]
            prefetch(status, r, 1)
            prefetch(age, r, 0)
            prefetch(term, r, 0)
            prefetch(channel, r, 1)
            prefetch(amount, r, 1)
            prefetch(agency, r, 0)
            prefetch(overdue_start, r, 1)
            prefetch(will_default, r, 1)
            prefetch(group, r, 0)
            prefetch(t_overdue, r, 0)
            prefetch(t_default, r, 0)
        i = loan_rows[j]
        st = status[i]
        if st == PERFORMING and age[i] >= term[i]:
            g = agency[i]
            repaid[g] += amount[i]
            if channel[i] == SCHEME:
                released[g] += amount[i]
            channel[i] = NO_LOAN
            amount[i] = 0.0
            loan_rows[k_repaid] = i  # (k_repaid <= j: the list is reused for them)
            k_repaid += 1
            continue
        if st == OVERDUE:
            if month_index - overdue_start[i] >= overdue_months:
                if will_default[i]:
                    status[i] = DEFAULTED
                    defaulted[nd] = i
                    nd += 1
                    continue
                status[i] = PERFORMING
                overdue_start[i] = -1
                n_cured += 1
        else:
            v = uniform_open(base_risk, i)
            s = shift[group[i]]
            if track and channel[i] == SCHEME:
                state[i] = s + sigma * ndtri(v)  # the firm's state this month: its latent value
            if below(v, (t_overdue[i] - s) * inv_sigma, table):
                status[i] = OVERDUE
                overdue_start[i] = month_index
                will_default[i] = below(v, (t_default[i] - s) * inv_sigma, table)
                n_new += 1
        if track and channel[i] == SCHEME and not flagged[i]:
            # The platform reads the state (held through an arrears spell: the firm stays in
            # the distress that put it there) with its own error; see health_step.
            reading = state[i] + h_noise * ndtri(uniform_open(base_health, i))
            h, falls, fires = health_step(health[i], health_falls[i], reading, h_persist,
                                          threshold_overdue[i], h_periods)
            health[i] = h
            health_falls[i] = min(falls, 30000)
            if fires:
                flagged[i] = True
                triggers += 1.0
                trigger_amount += amount[i]
        if status[i] == OVERDUE:
            n_overdue += 1
            overdue_amount += amount[i]
    n_running = n_loans - k_repaid - nd  # loans running at the end (defaulted excluded)
    # Pass 3: rows without a loan (the listed ones and those repaid this month, merged in row
    # order): exit test, else application test.
    p = q = 0
    while p < k_free or q < k_repaid:
        if q >= k_repaid or (p < k_free and free_rows[p] < loan_rows[q]):
            i = free_rows[p]
            p += 1
        else:
            i = loan_rows[q]
            q += 1
        # Without branches (which way a row goes is random): the row is written to both
        # lists and counted in the one it belongs to.
        bits = bits64(base_free, i)
        ref = np.int64(refused[i])
        closes = np.int64(bits >> _S32) < exit_below[ref]
        exits[n_exit] = i  # replaced by an entrant after the pass, which then may apply
        n_exit += closes
        n_exit_ref += ref & closes
        cell = 2 * np.int64(has_file[i]) + np.int64(loans_taken[i] == 0)
        mult = _multiplier(i, apply_mult, (flags[i] >> 2) & 1, fl_outreach) if by_probability else 1.0
        applicants[na] = i
        na += (not closes) & _applies(bits, cell, p_apply, by_probability, mult, apply_below)
    # Entrants in the closed firms' rows (one call: see respawn_rows), and their applications.
    respawn_rows(exits[:n_exit], b_exit, pop, ent)
    for j in range(n_exit):
        i = exits[j]
        cell = 2 * np.int64(has_file[i]) + 1  # an entrant has no loan yet: a first loan
        # a firm that has just entered has no months without a loan yet: not on the first-loan
        # list (the row's flags are still the closed firm's)
        mult = _multiplier(i, apply_mult, False, fl_outreach) if by_probability else 1.0
        if _applies(bits64(base_free, i), cell, p_apply, by_probability, mult, apply_below):
            applicants[na] = i
            na += 1
    n_apps = na
    na = screen(applicants[:n_apps], b_screen, pop, scr, lend, table, lent, app_amount, app_term,
                app_outcome)
    n_running += n_apps - na  # direct loans made
    counts[0], counts[1], counts[2], counts[3] = nd, na, n_new, n_cured
    counts[4], counts[5], counts[6], counts[7] = n_exit, n_exit_ref, n_running, n_overdue
    counts[8], counts[9] = n_apps, n_listed
    lent[5] += triggers
    lent[6] += trigger_amount
    return overdue_amount


@njit(cache=True)
def bank_books(channel, bank, amount, loans_taken, lgd, credit_lgd, n_banks):
    """Each bank's loans running, in one pass over the rows (for Hunan's dynamic split's
    yearly score): (amount outstanding, loans, first loans, credit loans: LGD at least
    `credit_lgd`), float64 by bank, summed in row order (as np.bincount)."""
    out = np.zeros(n_banks)
    loans = np.zeros(n_banks)
    first = np.zeros(n_banks)
    credit = np.zeros(n_banks)
    # Without a branch on having a loan (a coin toss row by row): a row without one adds its
    # amount, 0, and a count of 0.
    for i in range(channel.shape[0]):
        has_loan = channel[i] != NO_LOAN
        k = bank[i]
        out[k] += amount[i]
        loans[k] += has_loan
        first[k] += has_loan & (loans_taken[i] == 1)
        credit[k] += has_loan & (lgd[i] >= credit_lgd)
    return out, loans, first, credit


@njit(cache=True)
def amount_by(key, amount, group_of, n_out):
    """The loan book summed by a grouping of a per-row key (`group_of[key]`: the banks' scoring
    models for Anhui's breaker; the identity on `agency` for the book by guarantor), in row
    order (as np.bincount; rows without a loan have amount 0)."""
    out = np.zeros(n_out)
    for i in range(key.shape[0]):
        out[group_of[key[i]]] += amount[i]
    return out
