"""Validation cost is linear and bounded (docs/security.md): schema/query_shape.py measures each fragment once.

A fragment spread twice in every level of a chain doubles the expanded document per level: 22 levels are ~1 KB of
text and 8 million fields. Over HTTP (both media types) and over both WebSocket protocols, with fragments on Query
and on object types reached through lists, with and without aliases, such a document is refused BAD_INPUT with
the bound named in `extensions`, within the hostile bounds (tests/security/hostile.py). The subscription fan-out
check (policy_registry/fanout.py) is memoized the same way.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.fanout import PlainFields, _context_free
from policy_registry.graphql_schema import build_schema
from policy_registry.settings import Settings
from schema.query_shape import ShapeLimits, measure
from tests.security.hostile import ServerInThread, run_hostile, server_in_thread
from tests.security.wire import (
    GRAPHQL_RESPONSE_JSON,
    PROTOCOLS,
    acknowledged,
    answer,
    errors_of,
    http_client,
    operation_frame,
)

LEVELS = 22  # the document: F0 … F22, each spreading the next one twice


def chain(on: str, body: str, levels: int = LEVELS, prefix: str = "F") -> str:
    """`fragment F0 on T { body ...F1 ...F1 }` … `fragment F<levels> on T { body }`."""
    fragments = [
        f"fragment {prefix}{i} on {on} {{ {body} ...{prefix}{i + 1} ...{prefix}{i + 1} }}" for i in range(levels)
    ]
    return " ".join([*fragments, f"fragment {prefix}{levels} on {on} {{ {body} }}"])


# (name, document, the bound it exceeds)
HOSTILE = [
    ("on Query", "query { ...F0 } " + chain("Query", "__typename"), "maxFields"),
    ("on Query, aliased", "query { ...F0 } " + chain("Query", "t: __typename"), "maxAliases"),
    ("on Policy through a list", "{ policies { edges { node { ...F0 } } } } " + chain("Policy", "id"), "maxFields"),
    (
        "on Policy through a list, aliased",
        "{ policies { edges { node { ...F0 } } } } " + chain("Policy", "i: id status: statusDetailed"),
        "maxAliases",
    ),
    (
        "nested object under a list",
        "{ policies { edges { node { ...F0 } } } } " + chain("Policy", "oracleSnapshot { btcUsd8 }"),
        "maxFields",
    ),
]
SUBSCRIPTION = "subscription { chainTip { ...F0 } } " + chain("ChainTip", "stacksHeight")


def _limits_of(errors: list[dict[str, Any]]) -> set[str]:
    assert errors and all(e["extensions"]["code"] == "BAD_INPUT" for e in errors), errors
    return {e["extensions"]["limit"] for e in errors}


@pytest.mark.parametrize(("name", "document", "limit"), HOSTILE, ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE_JSON])
async def test_exponential_fragments_over_http_are_refused_fast(
    target: ServerInThread, name: str, document: str, limit: str, accept: str
) -> None:
    async with http_client(target.http_url) as client:
        outcome = await run_hostile(
            target, lambda: client.post("/graphql", json={"query": document}, headers={"accept": accept})
        )
    response = outcome.result
    assert response.status_code == (400 if accept == GRAPHQL_RESPONSE_JSON else 200), response.text
    assert response.headers["content-type"].startswith(accept)
    body = response.json()
    assert "data" not in body  # refused before execution
    assert limit in _limits_of(body["errors"])
    bound = next(e["extensions"]["max"] for e in body["errors"] if e["extensions"]["limit"] == limit)
    assert bound == {"maxFields": 300, "maxAliases": 30}[limit]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_exponential_fragments_over_websockets_are_refused_fast(target: ServerInThread, protocol: str) -> None:
    cases = [("sub", {"query": SUBSCRIPTION})]
    if protocol == PROTOCOLS[0]:  # graphql-transport-ws carries queries too; graphql-ws only subscriptions
        cases += [(f"q{i}", {"query": document}) for i, (_, document, _) in enumerate(HOSTILE)]
    async with acknowledged(target.ws_url, protocol) as ws:
        for op_id, payload in cases:
            frame = operation_frame(protocol, op_id, payload)
            outcome = await run_hostile(target, functools.partial(answer, ws, frame))
            message = outcome.result
            assert isinstance(message, dict) and message.get("id") == op_id, message
            assert _limits_of(errors_of(message)) & {"maxFields", "maxAliases"}, message


@pytest.fixture
async def shallow(mongo_server: EmbeddedMongo, settings: Settings) -> AsyncIterator[ServerInThread]:
    """A server with a depth bound below the schema's own depth (5), so fragments can go past it."""
    live = settings.model_copy(
        update={"instance_id": f"shallow-{uuid.uuid4().hex[:8]}", "run_worker": False, "max_query_depth": 3}
    )
    async with server_in_thread(live, mongo_server.uri) as server:
        yield server


DEEP = (
    "query { ...A } fragment A on Query { policies { ...B ...B } } fragment B on PolicyConnection { edges { ...C } } "
    "fragment C on PolicyEdge { node { ...D ...D } } fragment D on Policy { oracleSnapshot { btcUsd8 } }"
)


async def test_depth_through_fragments_is_counted_once_per_fragment(shallow: ServerInThread) -> None:
    async with http_client(shallow.http_url) as client:
        outcome = await run_hostile(shallow, lambda: client.post("/graphql", json={"query": DEEP}))
    body = outcome.result.json()
    assert _limits_of(body["errors"]) == {"maxDepth"} and body["errors"][0]["extensions"]["max"] == 3, body
    assert "exceeds maximum operation depth of 3" in body["errors"][0]["message"]
    async with acknowledged(shallow.ws_url, PROTOCOLS[0]) as ws:
        frame = operation_frame(PROTOCOLS[0], "deep", {"query": DEEP})
        over_ws = await run_hostile(shallow, lambda: answer(ws, frame))
    assert _limits_of(errors_of(over_ws.result)) == {"maxDepth"}


def test_the_expanded_size_is_exact_and_stops_past_the_bound() -> None:
    limits = ShapeLimits(max_depth=10, max_aliases=30, max_fields=300)
    # F<i> expands to 2^(levels - i + 1) - 1 ids; the list path adds policies, edges, node.
    for levels, expected in [(0, 1), (1, 3), (7, 255)]:
        document = parse("{ policies { edges { node { ...F0 } } } } " + chain("Policy", "id", levels))
        (shape,) = measure(document, limits).values()
        assert shape.fields == expected + 3 and shape.depth == 3 and shape.aliases == 0
    (huge,) = measure(parse("{ ...F0 } " + chain("Query", "a: __typename", 200), max_tokens=10_000), limits).values()
    assert (huge.fields, huge.aliases) == (301, 31)  # 2^201 - 1 fields, counted only one past each bound


async def test_a_document_at_the_bound_runs_and_one_past_it_does_not() -> None:
    document = "{ ...F0 } " + chain("Query", "__typename", 7)  # 255 fields once expanded
    at_bound = await build_schema(max_fields=255).execute(document)
    assert at_bound.errors is None and at_bound.data == {"__typename": "Query"}
    past = await build_schema(max_fields=254).execute(document)
    assert past.errors and past.errors[0].extensions == {"code": "BAD_INPUT", "limit": "maxFields", "max": 254}


def test_fan_out_eligibility_visits_each_fragment_once() -> None:
    """The subscription fan-out check walks the operation itself (not the validation rules): 200 levels of
    double spreads would be 2^200 walks without the memo, which would never end; with it, the check returns."""
    schema = build_schema()
    root, plain = schema._schema.subscription_type, PlainFields(schema)
    assert root is not None

    def judged(text: str) -> bool:
        document = parse(text, max_tokens=10**5)
        operation = cast(OperationDefinitionNode, document.definitions[0])
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        return _context_free(root, operation.selection_set, fragments, plain, root=True)

    assert judged("subscription { chainTip { ...F0 } } " + chain("ChainTip", "stacksHeight", 200))
    assert not judged("subscription { chainTip { ...F0 } } fragment F0 on ChainTip { ...F0 ...Nope }")
