"""The operator token: configured, presented, compared in constant time; never echoed."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.auth.operator import check_operator_token
from services.auth.tokens import same_secret
from services.core.errors import Forbidden, Unauthenticated

TOKEN = "op-7f3a9c1e5b2d4f60a8e1c3b5d7f9a1c3"


def test_the_right_token_passes() -> None:
    check_operator_token(TOKEN, SecretStr(TOKEN))


def test_no_token_presented_is_unauthenticated() -> None:
    for presented in (None, ""):
        with pytest.raises(Unauthenticated):
            check_operator_token(presented, SecretStr(TOKEN))


def test_a_wrong_token_is_forbidden_and_not_echoed() -> None:
    for presented in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "x"):
        with pytest.raises(Forbidden) as caught:
            check_operator_token(presented, SecretStr(TOKEN))
        assert presented not in str(caught.value) and TOKEN not in str(caught.value)


def test_without_a_configured_token_operator_operations_are_off() -> None:
    for configured in (None, SecretStr("")):
        with pytest.raises(Forbidden, match="disabled"):
            check_operator_token(TOKEN, configured)


def test_comparison_is_by_digest() -> None:
    assert same_secret("abc", "abc")
    assert not same_secret("abc", "abd") and not same_secret("", "abc") and not same_secret("abc", "abcd")
