"""The Decimal Black-Scholes put and normal CDF against independent computations (scipy, textbooks)."""

from __future__ import annotations

import decimal
import math
from decimal import Decimal

import pytest
from scipy.special import log_ndtr
from scipy.stats import norm

from services.premium.black_scholes import black_scholes_put
from services.premium.normal import normal_cdf, working_context


def scipy_put(spot: float, strike: float, years: float, vol: float, rate: float) -> float:
    d1 = (math.log(spot / strike) + (rate + vol * vol / 2) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    return float(strike * math.exp(-rate * years) * norm.cdf(-d2) - spot * norm.cdf(-d1))


@pytest.mark.parametrize(
    ("spot", "strike", "years", "vol", "rate"),
    [
        (100_000.0, 100_000.0, 30 / 365, 0.6, 0.02),
        (100_000.0, 90_000.0, 30 / 365, 0.6, 0.02),
        (100_000.0, 95_000.0, 7 / 365, 0.3, 0.02),
        (100_000.0, 150_000.0, 365 / 365, 0.45, 0.02),
        (60_000.0, 30_000.0, 90 / 365, 0.8, 0.02),
        (1.5, 1.2, 1 / 365, 1.2, 0.02),
        (42.0, 40.0, 0.5, 0.2, 0.10),
    ],
)
def test_put_matches_scipy(spot: float, strike: float, years: float, vol: float, rate: float) -> None:
    ours = black_scholes_put(Decimal(spot), Decimal(strike), Decimal(years), Decimal(vol), Decimal(rate))
    reference = scipy_put(spot, strike, years, vol, rate)
    assert float(ours) == pytest.approx(reference, rel=1e-9, abs=1e-9 * strike)


@pytest.mark.parametrize(
    ("spot", "strike", "years", "vol", "rate", "textbook"),
    [
        # Hull, Options Futures and Other Derivatives, example 15.6: p = 0.81.
        ("42", "40", "0.5", "0.2", "0.1", Decimal("0.81")),
        # The classic at-the-money case S = K = 100, σ = 20%, r = 5%, T = 1: p = 5.5735.
        ("100", "100", "1", "0.2", "0.05", Decimal("5.5735")),
    ],
)
def test_put_matches_textbook_values(
    spot: str, strike: str, years: str, vol: str, rate: str, textbook: Decimal
) -> None:
    ours = black_scholes_put(Decimal(spot), Decimal(strike), Decimal(years), Decimal(vol), Decimal(rate))
    places = -textbook.as_tuple().exponent  # type: ignore[operator]
    assert round(ours, places) == textbook


def test_put_call_parity() -> None:
    spot, strike, years, vol, rate = Decimal(100), Decimal(110), Decimal("0.25"), Decimal("0.5"), Decimal("0.02")
    put = black_scholes_put(spot, strike, years, vol, rate)
    with decimal.localcontext(working_context()):
        sigma_sqrt_t = vol * years.sqrt()
        d1 = ((spot / strike).ln() + (rate + vol * vol / 2) * years) / sigma_sqrt_t
        call = spot * normal_cdf(d1) - strike * (-rate * years).exp() * normal_cdf(d1 - sigma_sqrt_t)
        parity = call - put - (spot - strike * (-rate * years).exp())
    assert abs(parity) < Decimal("1e-50")


@pytest.mark.parametrize("x", [-0.3, -1.0, -3.0, -5.0, -5.6, -5.7, -8.0, -20.0, -40.0, -300.0, -1e5, -1e7])
def test_normal_cdf_tail_relative_accuracy(x: float) -> None:
    with decimal.localcontext(working_context()):
        value = normal_cdf(Decimal(x))
        assert value > 0
        log_value = float(value.ln())
    assert log_value == pytest.approx(float(log_ndtr(x)), rel=1e-13)


@pytest.mark.parametrize("x", [0.0, 0.5, 2.0, 5.0, 8.0])
def test_normal_cdf_upper_half(x: float) -> None:
    with decimal.localcontext(working_context()):
        value = normal_cdf(Decimal(x))
        complement = normal_cdf(Decimal(-x))
        assert abs(value + complement - 1) < Decimal("1e-55")
    assert float(value) == pytest.approx(float(norm.cdf(x)), rel=1e-15)


def test_deep_out_of_the_money_put_is_tiny_but_positive() -> None:
    # Strike at 50% of spot, 1 day, 1% volatility: d2 ≈ 1300, far beyond float range, still strictly positive.
    put = black_scholes_put(Decimal(100), Decimal(50), Decimal(1) / 365, Decimal("0.01"), Decimal("0.02"))
    assert 0 < put < Decimal("1e-100000")


@pytest.mark.parametrize(
    "args",
    [(0, 1, 1, 1), (1, 0, 1, 1), (1, 1, 0, 1), (1, 1, 1, 0), (-1, 1, 1, 1)],
)
def test_rejects_non_positive_inputs(args: tuple[int, int, int, int]) -> None:
    spot, strike, years, vol = (Decimal(a) for a in args)
    with pytest.raises(ValueError):
        black_scholes_put(spot, strike, years, vol, Decimal("0.02"))
