"""GraphQL fuzzing with Schemathesis against the API as a real server process: over a thousand generated
operations (every query and mutation field, arguments drawn from the introspected schema), then malformed
requests. No 5xx, no hang, and every error carries `extensions.code`; INTERNAL only with the masked message."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
import schemathesis.graphql
from hypothesis import HealthCheck, Phase, given, settings

from policy_registry.embedded.secantus import EmbeddedMongo
from services.core.status import Cause
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.factories import OWNER_B, make_policy
from tests.faults.conftest import ApiProcess

EXAMPLES_PER_FIELD = 70
MIN_OPERATIONS = 1_000
REQUEST_TIMEOUT_S = 10.0
MASKED = "Internal server error"


def check_body(status: int, text: str, what: str) -> Counter[str]:
    """The response contract; returns the error codes seen."""
    assert status < 500, f"{what}: HTTP {status}: {text[:500]}"
    codes: Counter[str] = Counter()
    try:
        body = json.loads(text)
    except ValueError:
        assert status >= 400, f"{what}: HTTP {status} with a body that is not JSON: {text[:200]}"
        return codes
    for error in (body.get("errors") or []) if isinstance(body, dict) else []:
        code = (error.get("extensions") or {}).get("code")
        assert code, f"{what}: an error without extensions.code: {error}"
        if code == "INTERNAL":
            assert error["message"] == MASKED and error["extensions"].get("requestId"), f"{what}: {error}"
        else:
            assert "Traceback" not in error["message"] and 'File "' not in error["message"], error
        codes[code] += 1
    return codes


@pytest.fixture
async def fuzzed_api(
    mongo_server: EmbeddedMongo, db_name: str, start_api_process: Callable[..., ApiProcess]
) -> ApiProcess:
    store = MongoStore(mongo_server.uri, db_name)
    await store.ensure_indexes()
    repo = PolicyRepository(store)
    for i in range(6):
        await repo.insert(make_policy(owner=OWNER_B, policy_id_onchain=9_000 + i), Cause.REQUEST)
    await store.close()
    return start_api_process(mongo_server.uri, db_name, OPERATOR_TOKEN="fuzz-operator-token-0123456789")


def test_generated_and_malformed_operations_never_break_the_error_contract(fuzzed_api: ApiProcess) -> None:
    schema = schemathesis.graphql.from_url(f"{fuzzed_api.url}/graphql")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 10
    session = requests.Session()
    calls: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    slowest = 0.0
    started = time.monotonic()
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_FIELD,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            nonlocal slowest
            t0 = time.monotonic()
            response = case.call(session=session, timeout=REQUEST_TIMEOUT_S)
            slowest = max(slowest, time.monotonic() - t0)
            calls[case.operation.label] += 1
            what = f"{case.operation.label} {case.body!r}"[:400]
            codes.update(check_body(response.status_code, response.text, what))

        fuzz()
    total = sum(calls.values())
    print(
        f"FUZZ {total} operations over {len(calls)} fields in {time.monotonic() - started:.1f}s; "
        f"slowest {slowest:.2f}s; error codes {dict(codes)}"
    )
    assert total >= MIN_OPERATIONS, calls
    malformed_requests_get_client_errors(fuzzed_api)
    assert slowest < REQUEST_TIMEOUT_S


MALFORMED: list[tuple[str, dict[str, str], bytes]] = [
    ("not json", {"content-type": "application/json"}, b"{nope"),
    ("json array", {"content-type": "application/json"}, b"[1, 2]"),
    ("query not a string", {"content-type": "application/json"}, b'{"query": 5}'),
    (
        "variables not an object",
        {"content-type": "application/json"},
        b'{"query": "{ chainStatus { halted } }", "variables": [1]}',
    ),
    ("empty body", {"content-type": "application/json"}, b""),
    ("wrong media type", {"content-type": "text/plain"}, b"{ chainStatus { halted } }"),
    ("deep nesting", {"content-type": "application/json"}, json.dumps({"query": "{" * 300 + "}" * 300}).encode()),
    (
        "huge alias count",
        {"content-type": "application/json"},
        json.dumps({"query": "{" + " ".join(f"a{i}: chainStatus {{ halted }}" for i in range(200)) + "}"}).encode(),
    ),
    (
        "unknown operation name",
        {"content-type": "application/json"},
        b'{"query": "query A { chainStatus { halted } }", "operationName": "B"}',
    ),
    (
        "subscription over HTTP",
        {"content-type": "application/json"},
        b'{"query": "subscription { chainTip { stacksHeight } }"}',
    ),
    (
        "bigint out of range",
        {"content-type": "application/json"},
        b'{"query": "{ policyByOnChainId(policyIdOnChain: 99999999999999999999) { id } }"}',
    ),
    ("nul bytes", {"content-type": "application/json"}, b'{"query": "{ policy(id: \\"\\u0000\\") { id } }"}'),
    ("invalid utf-8", {"content-type": "application/json"}, b'{"query": "\xff\xfe"}'),
]


def malformed_requests_get_client_errors(api: ApiProcess) -> None:
    for what, headers, body in MALFORMED:
        response = httpx.post(f"{api.url}/graphql", content=body, headers=headers, timeout=REQUEST_TIMEOUT_S)
        check_body(response.status_code, response.text, what)
