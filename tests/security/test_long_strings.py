"""Every string argument has a length bound, checked before any parsing (docs/security.md "Hostile clients").

A long value in each string argument of every operation, over HTTP (as a variable and inline in the document) and
over both WebSocket protocols, is answered BAD_INPUT within the hostile bounds (tests/security/hostile.py: answered
in 50 ms, /healthz never waiting over 100 ms, no traceback, at most one WARNING). The bounds live in
services/core/input_bounds.py; a value one character over its bound names the field and the bound in `extensions`.
`test_every_string_argument_is_covered` walks the schema, so a new string argument without a case here fails.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from bson import ObjectId
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLScalarType, GraphQLType

from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.graphql_schema import build_schema
from services.core import input_bounds as bounds
from tests.api.gql_ws import GRAPHQL_WS, TRANSPORT_WS, GraphQLSocket
from tests.fixtures.devnet import DevnetFixture
from tests.security.chain import Key, chain_settings, ready_services, sign_in
from tests.security.hostile import ServerInThread, run_hostile, server_in_thread

pytestmark = pytest.mark.devnet
HUGE = 100_000  # characters: well inside MAX_REQUEST_BYTES, so the argument's own bound is what answers
# Inline in the document, a literal is lexed by graphql-core character by character before any argument is seen
# (~1 ms per 1,000 characters in-process here, whatever they are: a comment costs the same), which is the
# document's cost, bounded by MAX_REQUEST_BYTES, not the argument's. The inline shape checks the argument's bound
# with a literal of 2,000 characters (still over every bound many times).
INLINE = 2_000
STRING_SCALARS = {"String", "ID", "DateTime", "BigInt"}  # what a client sends as a JSON string


@dataclass(frozen=True)
class Case:
    """One string argument: the operation with `$v` in its place, the other variables, the character its long
    values repeat (from the argument's own alphabet: the most work for its parser) and its bound."""

    argument: str  # Type.field.argument(.inputField)
    query: str
    char: str
    max_length: int | None  # None: a scalar without a length bound of its own (its parser is linear)
    error_field: str | None = None
    others: dict[str, Any] = field(default_factory=dict)
    signed_in: bool = False
    websocket: bool = False


WALLET = Key.fresh()
PARAMS = {"protectedAmountSats": "10000000", "protectedValueUsd8": "9500000000000", "durationDays": 30}
CREATE = "mutation($v: String!, $i: PolicyParametersInput!, $q: String) { requestPolicyCreation(input: $i, "
CASES = [
    Case("Query.policy.id", "query($v: ID!) { policy(id: $v) { id } }", "a", bounds.POLICY_ID, "id"),
    Case("Query.policyHistory.id", "query($v: ID!) { policyHistory(id: $v) { cause } }", "a", bounds.POLICY_ID, "id"),
    Case("Query.policies.after", "query($v: String) { policies(after: $v) { totalCount } }", "A", bounds.CURSOR),
    Case("Query.policies.before", "query($v: String) { policies(before: $v) { totalCount } }", "A", bounds.CURSOR),
    Case(
        "Query.policies.filter.owner",
        "query($v: String) { policies(filter: {owner: $v}) { totalCount } }",
        "T",
        bounds.CONTRACT_PRINCIPAL,
        "filter.owner",
    ),
    Case(
        "Query.quote.input.protectedAmountSats",
        'query($v: BigInt!) { quote(input: {protectedAmountSats: $v, protectedValueUsd8: "1", durationDays: 1}) '
        "{ quoteId } }",
        "9",
        None,
    ),
    Case(
        "Query.quote.input.protectedValueUsd8",
        'query($v: BigInt!) { quote(input: {protectedAmountSats: "1", protectedValueUsd8: $v, durationDays: 1}) '
        "{ quoteId } }",
        "9",
        None,
    ),
    Case(
        "Mutation.authChallenge.address",
        "mutation($v: String!) { authChallenge(address: $v) { message } }",
        "T",
        bounds.STANDARD_PRINCIPAL,
        "address",
    ),
    Case(
        "Mutation.authenticate.address",
        "mutation($v: String!, $k: String!) { authenticate(address: $v, publicKey: $k, signature: $k) { token } }",
        "T",
        bounds.STANDARD_PRINCIPAL,
        "address",
        others={"k": "00"},
    ),
    Case(
        "Mutation.authenticate.publicKey",
        'mutation($v: String!, $a: String!) { authenticate(address: $a, publicKey: $v, signature: "00") { token } }',
        "a",
        bounds.PUBLIC_KEY,
        "publicKey",
        others={"a": WALLET.address},
    ),
    Case(
        "Mutation.authenticate.signature",
        "mutation($v: String!, $a: String!, $k: String!) { authenticate(address: $a, publicKey: $k, signature: $v) "
        "{ token } }",
        "a",
        bounds.SIGNATURE,
        "signature",
        others={"a": WALLET.address, "k": WALLET.public_key},
    ),
    Case(
        "Mutation.requestPolicyCreation.idempotencyKey",
        CREATE + "idempotencyKey: $v, quoteId: $q) { repeated } }",
        "a",
        bounds.IDEMPOTENCY_KEY,
        "idempotencyKey",
        others={"i": PARAMS, "q": None},
        signed_in=True,
    ),
    Case(
        "Mutation.requestPolicyCreation.quoteId",
        "mutation($v: String, $i: PolicyParametersInput!) { requestPolicyCreation(input: $i, "
        'idempotencyKey: "long-quote", quoteId: $v) { repeated } }',
        "a",
        bounds.QUOTE_ID,
        "quoteId",
        others={"i": PARAMS},
        signed_in=True,
    ),
    Case(
        "Mutation.requestPolicyCreation.input.protectedAmountSats",
        'mutation($v: BigInt!) { requestPolicyCreation(input: {protectedAmountSats: $v, protectedValueUsd8: "1", '
        'durationDays: 1}, idempotencyKey: "long-amount") { repeated } }',
        "9",
        None,
        signed_in=True,
    ),
    Case(
        "Mutation.requestPolicyCreation.input.protectedValueUsd8",
        'mutation($v: BigInt!) { requestPolicyCreation(input: {protectedAmountSats: "1", protectedValueUsd8: $v, '
        'durationDays: 1}, idempotencyKey: "long-value") { repeated } }',
        "9",
        None,
        signed_in=True,
    ),
    Case(
        "Mutation.submitPolicyCreationTx.policyId",
        'mutation($v: ID!) { submitPolicyCreationTx(policyId: $v, txId: "' + "ab" * 32 + '") { id } }',
        "a",
        bounds.POLICY_ID,
        "id",
        signed_in=True,
    ),
    Case(
        "Mutation.submitPolicyCreationTx.txId",
        "mutation($v: String!, $p: ID!) { submitPolicyCreationTx(policyId: $p, txId: $v) { id } }",
        "a",
        bounds.TXID,
        "txId",
        others={"p": str(ObjectId())},
        signed_in=True,
    ),
    Case(
        "Mutation.setLocalPrice.priceUsd8",
        "mutation($v: BigInt!) { setLocalPrice(asset: BTC_USD, priceUsd8: $v) { priceUsd8 } }",
        "9",
        None,
    ),
    Case(
        "Subscription.policyUpdated.id",
        "subscription($v: ID!) { policyUpdated(id: $v) { id } }",
        "a",
        bounds.POLICY_ID,
        "id",
        websocket=True,
    ),
    Case(
        "Subscription.policiesUpdated.owner",
        "subscription($v: String!) { policiesUpdated(owner: $v) { id } }",
        "T",
        bounds.CONTRACT_PRINCIPAL,
        "owner",
        websocket=True,
    ),
    Case(
        "Subscription.policiesUpdated.since",
        "subscription($v: DateTime, $o: String!) { policiesUpdated(owner: $o, since: $v) { id } }",
        "9",
        None,
        others={"o": WALLET.address},
        websocket=True,
    ),
]
BY_ARGUMENT = {case.argument: case for case in CASES}


@dataclass
class Target:
    server: ServerInThread
    session: dict[str, str]


@pytest.fixture(scope="module")
async def chain_target(devnet: DevnetFixture, mongo_server: EmbeddedMongo) -> AsyncIterator[Target]:
    """One chain-backed server for the module (the operations under test write nothing)."""
    db_name = f"test_long_{uuid.uuid4().hex[:8]}"
    settings = chain_settings(devnet, db_name, instance_id=f"long-{db_name}")
    services = await ready_services(settings, mongo_server.uri, devnet)
    try:
        async with server_in_thread(settings, mongo_server.uri) as server:
            async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
                session = await sign_in(client, WALLET)
            yield Target(server, session)
    finally:
        await services.store.client.drop_database(db_name)
        await services.close()


def long_value(case: Case, shape: str) -> str:
    if shape == "just over":
        assert case.max_length is not None
        return case.char * (case.max_length + 1)
    return case.char * (INLINE if shape == "huge inline" else HUGE)


def assert_bad_input(errors: list[dict[str, Any]], case: Case) -> None:
    assert errors and errors[0]["extensions"]["code"] == "BAD_INPUT", errors
    if case.max_length is not None:
        assert errors[0]["extensions"].get("field") == (case.error_field or case.argument.rsplit(".", 1)[-1])
        assert errors[0]["extensions"].get("max") == case.max_length, errors


def http_shapes() -> list[Any]:
    params: list[Any] = []
    for case in CASES:
        if case.websocket:
            continue
        shapes = ["huge variable", "huge inline"] + (["just over"] if case.max_length is not None else [])
        params.extend(pytest.param(case, shape, id=f"{case.argument}-{shape}") for shape in shapes)
    return params


def inline(case: Case, value: str) -> tuple[str, dict[str, Any]]:
    """The document with the value as a literal in place of `$v` (its declaration dropped)."""
    head, _, body = case.query.partition(")")
    declarations = [d for d in head.split("(", 1)[1].split(",") if not d.strip().startswith("$v")]
    operation = head.split("(", 1)[0]
    header = f"{operation}({', '.join(d.strip() for d in declarations)})" if declarations else operation
    return header + body.replace("$v", json.dumps(value)), case.others


@pytest.mark.parametrize(("case", "shape"), http_shapes())
async def test_a_long_value_in_a_string_argument_is_bad_input_at_once(
    chain_target: Target, case: Case, shape: str
) -> None:
    value = long_value(case, shape)
    if shape == "huge inline":
        query, variables = inline(case, value)
    else:
        query, variables = case.query, {**case.others, "v": value}
    headers = chain_target.session if case.signed_in else {}
    async with httpx.AsyncClient(base_url=chain_target.server.http_url, timeout=10, headers=headers) as client:
        await client.post("/graphql", json={"query": "{ __typename }"})  # connection open before the clock

        async def send() -> httpx.Response:
            return await client.post("/graphql", json={"query": query, "variables": variables})

        outcome = await run_hostile(chain_target.server, send)
    response = outcome.result
    assert response.status_code < 500, response.text
    assert_bad_input(response.json().get("errors", []), case)


def ws_errors(message: dict[str, Any]) -> list[dict[str, Any]]:
    payload: Any = message.get("payload")
    if message["type"] == "error":  # graphql-transport-ws: a list; graphql-ws: one error
        return payload if isinstance(payload, list) else [payload]
    assert message["type"] in ("next", "data") and isinstance(payload, dict), message
    errors: list[dict[str, Any]] = payload.get("errors", [])
    return errors


def ws_shapes() -> list[Any]:
    params: list[Any] = []
    for case in CASES:
        if not case.websocket:
            continue
        for protocol in (TRANSPORT_WS, GRAPHQL_WS):
            shapes = ["huge"] + (["just over"] if case.max_length is not None else [])
            params.extend(
                pytest.param(case, protocol, shape, id=f"{case.argument}-{protocol}-{shape}") for shape in shapes
            )
    return params


@pytest.mark.parametrize(("case", "protocol", "shape"), ws_shapes())
async def test_a_long_value_in_a_subscription_argument_is_bad_input_at_once(
    chain_target: Target, case: Case, protocol: str, shape: str
) -> None:
    socket = await GraphQLSocket.open(chain_target.server.ws_url, protocol)
    try:
        value = long_value(case, shape)

        async def send() -> dict[str, Any]:
            await socket.subscribe("long", case.query, {**case.others, "v": value})
            return await socket.for_op("long")

        outcome = await run_hostile(chain_target.server, send)
    finally:
        await socket.close()
    assert_bad_input(ws_errors(outcome.result), case)


def _named(kind: GraphQLType) -> GraphQLType:
    while isinstance(kind, (GraphQLNonNull, GraphQLList)):
        kind = kind.of_type
    return kind


def string_arguments() -> set[str]:
    """Every argument (and input field) of every root operation a client sends as a string."""
    schema = build_schema()._schema
    found: set[str] = set()

    def walk(path: str, kind: GraphQLType, seen: frozenset[str]) -> None:
        named = _named(kind)
        if isinstance(named, GraphQLScalarType) and named.name in STRING_SCALARS:
            found.add(path)
        elif isinstance(named, GraphQLInputObjectType) and named.name not in seen:
            for name, input_field in named.fields.items():
                walk(f"{path}.{name}", input_field.type, seen | {named.name})

    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        assert root is not None
        for field_name, root_field in root.fields.items():
            for arg_name, arg in root_field.args.items():
                walk(f"{root.name}.{field_name}.{arg_name}", arg.type, frozenset())
    return found


def test_every_string_argument_is_covered() -> None:
    # PolicyParametersInput's amounts are BigInt strings; where the same input type is reached by several operations,
    # the cases above send long values through quote and requestPolicyCreation.
    assert string_arguments() == set(BY_ARGUMENT), string_arguments() ^ set(BY_ARGUMENT)


def test_the_bounds_are_the_formats_own() -> None:
    # The exact longest valid values: a bound cannot refuse a valid value, nor let a much longer one through.
    from services.chain.c32 import encode_address

    longest = max((encode_address(26, bytes([n]) * 20) for n in range(1, 256)), key=len)
    assert len(longest) == bounds.STANDARD_PRINCIPAL
    assert len(str(ObjectId())) == bounds.POLICY_ID
    assert len("0x" + "ab" * 32) == bounds.TXID and len("0x" + "ab" * 65) == bounds.SIGNATURE == bounds.PUBLIC_KEY
