"""Standard normal CDF in `decimal`, accurate far into the tails.

Black-Scholes needs N(x) for |x| up to ~1e7 (tiny volatility, one-day policies, strike at 50% of spot), where
the put value is the small difference of two tail probabilities. Floats underflow there and `1 - erf` cancels,
so both tails are computed directly:

- |z| < 4 (z = |x|/√2): erf(z) from its all-positive series  erf(z) = 2/√π · e^{-z²} · Σ (2z²)^n z / (2n+1)!!,
  which has no cancellation; erfc = 1 − erf then loses at most log10(1/erfc(4)) ≈ 8 of the working digits.
- |z| ≥ 4: erfc(z) from Laplace's continued fraction  e^{-z²}/√π · 1/(z + ½/(z + 1/(z + 3/2/(z + …)))),
  evaluated with the modified Lentz method; it converges faster the larger z is.

Callers run it inside `working_context()`, whose exponent range is the widest `decimal` allows so that values
like e^{-10^14} stay representable instead of underflowing to zero.
"""

from __future__ import annotations

import decimal
import functools
from decimal import Decimal

WORKING_PRECISION = 60
_SERIES_LIMIT = Decimal(4)
_MAX_TERMS = 100_000


def working_context() -> decimal.Context:
    """A fresh context for premium math: 60 significant digits, unbounded exponents, traps on bad operations."""
    return decimal.Context(
        prec=WORKING_PRECISION,
        rounding=decimal.ROUND_HALF_EVEN,
        Emin=decimal.MIN_EMIN,
        Emax=decimal.MAX_EMAX,
        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
    )


def _sqrt_pi() -> Decimal:
    """√π at the current precision (cached per precision: it is needed on every call)."""
    return _sqrt_pi_at(decimal.getcontext().prec)


@functools.lru_cache(maxsize=8)
def _sqrt_pi_at(prec: int) -> Decimal:
    with decimal.localcontext(working_context()) as ctx:
        ctx.prec = prec
        return _pi().sqrt()


def _pi() -> Decimal:
    """π to the current precision (the series recipe from the `decimal` documentation)."""
    ctx = decimal.getcontext()
    ctx.prec += 2
    three = Decimal(3)
    lasts, t, s, n, na, d, da = Decimal(0), three, three, 1, 0, 0, 24
    while s != lasts:
        lasts = s
        n, na = n + na, na + 8
        d, da = d + da, da + 32
        t = (t * n) / d
        s += t
    ctx.prec -= 2
    return +s


def _erf_series(z: Decimal) -> Decimal:
    """erf(z) for 0 ≤ z < 4 by the positive-term series (no cancellation)."""
    two_z2 = 2 * z * z
    term = z
    total = z
    n = 0
    while True:
        n += 1
        term = term * two_z2 / (2 * n + 1)
        new_total = total + term
        if new_total == total:
            break
        total = new_total
        if n > _MAX_TERMS:
            raise ArithmeticError("erf series did not converge")
    return 2 * (-z * z).exp() * total / _sqrt_pi()


def _erfc_continued_fraction(z: Decimal) -> Decimal:
    """erfc(z) for z ≥ 4 by Laplace's continued fraction (modified Lentz)."""
    tiny = Decimal(10) ** -(WORKING_PRECISION * 4)
    eps = Decimal(10) ** -(decimal.getcontext().prec - 2)
    # f = z + a1/(z + a2/(z + ...)) with a_k = k/2.
    f = z
    c = z
    d = Decimal(0)
    k = 0
    while True:
        k += 1
        a = Decimal(k) / 2
        d = z + a * d
        if d == 0:
            d = tiny
        c = z + a / c
        if c == 0:
            c = tiny
        d = 1 / d
        delta = c * d
        f = f * delta
        if abs(delta - 1) < eps:
            break
        if k > _MAX_TERMS:
            raise ArithmeticError("erfc continued fraction did not converge")
    return (-z * z).exp() / (_sqrt_pi() * f)


def erfc(z: Decimal) -> Decimal:
    """Complementary error function with relative accuracy in both tails."""
    if z < 0:
        return 2 - erfc(-z)
    if z < _SERIES_LIMIT:
        return 1 - _erf_series(z)
    return _erfc_continued_fraction(z)


def normal_cdf(x: Decimal) -> Decimal:
    """N(x) = ½·erfc(−x/√2): relative accuracy for x ≪ 0, absolute accuracy near 1 for x ≫ 0."""
    return erfc(-x / Decimal(2).sqrt()) / 2
