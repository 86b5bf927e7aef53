"""A variable the client sent wrong (missing, wrong scalar, unknown enum value) is BAD_INPUT with graphql-core's
message, not a masked INTERNAL error."""

from __future__ import annotations

from typing import Any

import pytest

from policy_registry.graphql_schema import build_schema


@pytest.mark.parametrize(
    ("query", "variables", "fragment"),
    [
        ("query($id: ID!) { policy(id: $id) { id } }", {}, "non-null type 'ID!'"),
        ("query($id: ID!) { policy(id: $id) { id } }", {"id": {"a": 1}}, "ID cannot represent"),
        (
            "query($f: PolicyFilterInput) { policies(filter: $f) { totalCount } }",
            {"f": {"riskTier": "X"}},
            "does not exist in 'RiskTier' enum",
        ),
    ],
)
async def test_bad_variables_are_bad_input(query: str, variables: dict[str, Any], fragment: str) -> None:
    result = await build_schema().execute(query, variable_values=variables)
    assert result.errors and len(result.errors) == 1
    error = result.errors[0]
    assert error.extensions == {"code": "BAD_INPUT"} and fragment in error.message
