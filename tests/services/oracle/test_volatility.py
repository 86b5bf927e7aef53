"""Annualized volatility of daily log returns, fallback and floor."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from services.oracle import OracleParameters, annualized_volatility_ppm

PARAMS = OracleParameters()


def test_hand_computed_alternating_series() -> None:
    # 100, 110, 100, 110, … (9 closes, 8 returns of ±ln 1.1): mean 0, sample variance = 8/7 · ln(1.1)²,
    # σ = ln(1.1) · √(8/7) · √365 = 0.0953101798043249 × 1.0690449676496976 × 19.1049731745428 = 1.946612…
    closes = [100, 110] * 4 + [100]
    expected = math.log(1.1) * math.sqrt(8 / 7) * math.sqrt(365)
    assert abs(expected - 1.9466) < 1e-4
    ppm, from_history = annualized_volatility_ppm(closes, PARAMS)
    assert from_history
    assert ppm == round(expected * 1_000_000)


def test_against_statistics_stdev() -> None:
    closes = [9_100_000_000_000 + d * 37_000_000_000 * (-1) ** d + d * d * 1_000_000 for d in range(40)]
    window = closes[-31:]
    returns = [math.log(b / a) for a, b in itertools.pairwise(window)]
    expected = statistics.stdev(returns) * math.sqrt(365)
    ppm, from_history = annualized_volatility_ppm(closes, PARAMS)
    assert from_history
    assert ppm == pytest.approx(expected * 1_000_000, abs=1)


def test_uses_only_the_last_thirty_returns() -> None:
    calm = [100 + (d % 2) for d in range(31)]
    wild_then_calm = [100, 300, 50, 400, 20, *calm]
    assert annualized_volatility_ppm(wild_then_calm, PARAMS) == annualized_volatility_ppm(calm, PARAMS)


def test_fallback_below_seven_returns() -> None:
    assert annualized_volatility_ppm([], PARAMS) == (300_000, False)
    assert annualized_volatility_ppm([100] * 7, PARAMS) == (300_000, False)  # 6 returns
    ppm, from_history = annualized_volatility_ppm([100, 101] * 4, PARAMS)  # 7 returns
    assert from_history and ppm != 300_000


def test_flat_history_is_floored() -> None:
    assert annualized_volatility_ppm([100] * 31, PARAMS) == (10_000, True)


def test_bad_closes() -> None:
    with pytest.raises(ValueError):
        annualized_volatility_ppm([100, 0, 100], PARAMS)
