"""Malformed input never reaches a 500 or a traceback (docs/security.md "Hostile clients").

HTTP: bodies that are JSON but not an object, arrays of non-objects, integers longer than any argument takes
(6,000 digits is past Python's own 4,300-digit limit) in the body or in `variables`, nesting past the decoder's
recursion limit (30,000 levels) in the body or in `variables`, BigInt values past the Clarity uint range or past a
field's own bound. Each is a 4xx with a coded error (policy_registry/graphql_http.py, schema/scalars.py).
WebSocket: malformed frames on both protocols close the connection with 4400 and a reason
(policy_registry/ws_messages.py). Every case runs under `run_hostile`: answered within 50 ms, /healthz never waiting
over 100 ms, no traceback, at most one WARNING.
"""

from __future__ import annotations

import asyncio
import functools
import json

import pytest
from starlette.types import Message, Scope
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from policy_registry.app import create_app
from policy_registry.container import Services
from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from tests.security.hostile import ServerInThread, run_hostile
from tests.security.wire import GRAPHQL_RESPONSE_JSON, PROTOCOLS, Closed, acknowledged, answer, http_client

DEEP = 30_000
QUOTE = (
    'query($v: BigInt!) { quote(input: {protectedAmountSats: $v, protectedValueUsd8: "1", durationDays: 30}) '
    "{ quoteId } }"
)
DEEP_OBJECTS = 20_000  # '{"a":' is 5 bytes: 30,000 of them would be over MAX_REQUEST_BYTES (answered 413)
DEEP_URL = 2_000  # past the decoder's recursion limit (~1,000) and within httpx's longest URL
UINT128 = 2**128

# (name, raw body, the words the error's message must hold, the bound named in extensions or None)
BODIES: list[tuple[str, bytes, str, str | None]] = [
    ("a number", b"42", "JSON object", None),
    ("a string", b'"x"', "JSON object", None),
    ("false", b"false", "JSON object", None),
    ("null", b"null", "JSON object", None),
    ("an empty array", b"[]", "batched", None),
    ("an array of numbers", b"[1, 2, 3]", "batched", None),
    ("an array of strings", b'["{ __typename }"]', "batched", None),
    ("an array of requests", b'[{"query": "{ __typename }"}]', "batched", None),
    ("a 6,000-digit body", b"9" * 6000, "digits", "maxIntegerDigits"),
    (
        "a 6,000-digit variable",
        b'{"query": "{ __typename }", "variables": {"v": ' + b"9" * 6000 + b"}}",
        "digits",
        "maxIntegerDigits",
    ),
    (
        "a 40-digit variable",
        b'{"query": "{ __typename }", "variables": {"v": -' + b"1" * 40 + b"}}",
        "digits",
        "maxIntegerDigits",
    ),
    (
        "a 6,000-digit operationName",
        b'{"query": "{ __typename }", "operationName": ' + b"7" * 6000 + b"}",
        "digits",
        "maxIntegerDigits",
    ),
    ("a body nested 30,000 deep", b"[" * DEEP + b"]" * DEEP, "nested too deeply", "maxJsonNesting"),
    (
        "variables nested 30,000 deep",
        b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * DEEP + b"]" * DEEP + b"}}",
        "nested too deeply",
        "maxJsonNesting",
    ),
    (
        "objects nested 20,000 deep",
        b'{"query": "{ __typename }", "variables": ' + b'{"a":' * DEEP_OBJECTS + b"1" + b"}" * DEEP_OBJECTS + b"}",
        "nested too deeply",
        "maxJsonNesting",
    ),
    ("not JSON", b'{"query": ', "not valid JSON", None),
    ("not UTF-8", b'{"query": "\xff\xfe"}', "UTF-8", None),
    ("operationName a number", b'{"query": "{ __typename }", "operationName": 5}', "operationName", None),
    ("variables a list", b'{"query": "{ __typename }", "variables": [1]}', "variables", None),
]


@pytest.mark.parametrize(("name", "body", "words", "limit"), BODIES, ids=[b[0] for b in BODIES])
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE_JSON])
async def test_malformed_bodies_get_a_coded_4xx(
    target: ServerInThread, name: str, body: bytes, words: str, limit: str | None, accept: str
) -> None:
    headers = {"content-type": "application/json", "accept": accept}
    async with http_client(target.http_url) as client:
        outcome = await run_hostile(target, lambda: client.post("/graphql", content=body, headers=headers))
    response = outcome.result
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(accept)
    payload = response.json()
    assert "data" not in payload
    (error,) = payload["errors"]
    assert error["extensions"]["code"] == "BAD_INPUT" and words in error["message"], error
    assert error["extensions"].get("limit") == limit, error


async def test_malformed_get_parameters_get_a_coded_4xx(target: ServerInThread) -> None:
    cases = {
        "variables nested 2,000 deep": {"query": "{ __typename }", "variables": "[" * DEEP_URL + "]" * DEEP_URL},
        "a 6,000-digit variable": {"query": "{ __typename }", "variables": '{"v": ' + "9" * 6000 + "}"},
        "variables not JSON": {"query": "{ __typename }", "variables": "{nope"},
        "extensions a number": {"query": "{ __typename }", "extensions": "5"},
    }
    async with http_client(target.http_url) as client:
        for name, params in cases.items():
            outcome = await run_hostile(
                target,
                functools.partial(client.get, "/graphql", params=params, headers={"accept": "application/json"}),
            )
            assert outcome.result.status_code == 400, (name, outcome.result.text)
            assert outcome.result.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT", name


BIGINTS = [
    ("2^128 as a string variable", {"v": str(UINT128)}),
    ("2^128 as a JSON number", {"v": UINT128}),
    ("negative", {"v": "-1"}),
    ("100,000 digits as a string", {"v": "9" * 100_000}),
]


@pytest.mark.parametrize(("name", "variables"), BIGINTS, ids=[b[0] for b in BIGINTS])
async def test_bigint_past_the_uint128_range_is_bad_input(
    target: ServerInThread, name: str, variables: dict[str, object]
) -> None:
    headers = {"accept": GRAPHQL_RESPONSE_JSON}
    async with http_client(target.http_url) as client:
        outcome = await run_hostile(
            target, lambda: client.post("/graphql", json={"query": QUOTE, "variables": variables}, headers=headers)
        )
    response = outcome.result
    body = response.json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_INPUT" and "2^128 - 1" in error["message"], error
    assert response.status_code == 400 and "data" not in body  # variable coercion: a request error


FIELD_BOUNDS = [
    ("Int past 32 bits, inline", "{ policyByOnChainId(policyIdOnChain: 99999999999) { id } }", None, "32-bit"),
    (
        "Int past 32 bits, variable",
        "query($n: Int!) { policyByOnChainId(policyIdOnChain: $n) { id } }",
        {"n": 99_999_999_999},
        "32-bit",
    ),
    ("Int of 4,400 digits, inline", "{ policyByOnChainId(policyIdOnChain: %s) { id } }" % ("9" * 4400), None, "Int"),
    ("first past MAX_PAGE_SIZE", "{ policies(first: 101) { totalCount } }", None, "first"),
]


@pytest.mark.parametrize(("name", "query", "variables", "words"), FIELD_BOUNDS, ids=[f[0] for f in FIELD_BOUNDS])
async def test_integers_past_a_fields_bound_are_bad_input(
    target: ServerInThread, name: str, query: str, variables: dict[str, object] | None, words: str
) -> None:
    async with http_client(target.http_url) as client:
        outcome = await run_hostile(
            target, lambda: client.post("/graphql", json={"query": query, "variables": variables})
        )
    response = outcome.result
    assert response.status_code in (200, 400), response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_INPUT" and words in error["message"], error


@pytest.mark.parametrize(
    "literal",
    ['"' + "9" * 5000 + '"', "9" * 5000, str(UINT128), "-5", "1.5"],
    ids=["string", "int", "2^128", "-5", "float"],
)
async def test_bigint_literals_past_the_range_are_bad_input(target: ServerInThread, literal: str) -> None:
    query = '{ quote(input: {protectedAmountSats: %s, protectedValueUsd8: "1", durationDays: 30}) { quoteId } }'
    async with http_client(target.http_url) as client:
        outcome = await run_hostile(target, lambda: client.post("/graphql", json={"query": query % literal}))
    (error,) = outcome.result.json()["errors"]
    assert error["extensions"]["code"] == "BAD_INPUT" and "2^128 - 1" in error["message"], error


# (name, frame) every one of which is malformed on both protocols
FRAMES: list[tuple[str, str | bytes]] = [
    ("a bare number", "5"),
    ("a list", '[{"type": "connection_init"}]'),
    ("a string", '"subscribe"'),
    ("null", "null"),
    ("no type", '{"id": "1"}'),
    ("a numeric type", '{"type": 5}'),
    ("an unknown type", '{"type": "' + "x" * 300 + '"}'),
    ("an operation without id", '{"type": "%(op)s", "payload": {"query": "{ __typename }"}}'),
    ("an operation with a list id", '{"type": "%(op)s", "id": [1], "payload": {"query": "{ __typename }"}}'),
    (
        "an operation with a 10,000-character id",
        '{"type": "%(op)s", "id": "' + "i" * 10_000 + '", "payload": {"query": "{ __typename }"}}',
    ),
    ("an operation without payload", '{"type": "%(op)s", "id": "1"}'),
    ("an operation with a numeric payload", '{"type": "%(op)s", "id": "1", "payload": 7}'),
    ("an operation with a numeric query", '{"type": "%(op)s", "id": "1", "payload": {"query": 7}}'),
    (
        "an operation with list variables",
        '{"type": "%(op)s", "id": "1", "payload": {"query": "{ __typename }", "variables": []}}',
    ),
    (
        "an operation with a numeric operationName",
        '{"type": "%(op)s", "id": "1", "payload": {"query": "{ __typename }", "operationName": 1}}',
    ),
    ("a stop without id", '{"type": "%(stop)s"}'),
    ("not JSON", "{nope"),
    (
        "a 6,000-digit number",
        '{"type": "%(op)s", "id": "1", "payload": {"query": "{ __typename }", "variables": {"v": ' + "9" * 6000 + "}}}",
    ),
    ("nested 30,000 deep", "[" * DEEP + "]" * DEEP),
]


@pytest.mark.parametrize(("name", "frame"), FRAMES, ids=[f[0] for f in FRAMES])
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_malformed_frames_close_with_4400_and_a_reason(
    target: ServerInThread, protocol: str, name: str, frame: str
) -> None:
    names = {"op": "subscribe", "stop": "complete"} if protocol == PROTOCOLS[0] else {"op": "start", "stop": "stop"}
    text = frame % names if "%(" in frame else frame
    async with acknowledged(target.ws_url, protocol) as ws:
        outcome = await run_hostile(target, lambda: answer(ws, text))
    closed = outcome.result
    assert isinstance(closed, Closed), closed
    assert closed.code == 4400 and closed.reason, closed
    assert len(closed.reason.encode()) <= 123


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_malformed_frame_before_connection_init_closes_too(target: ServerInThread, protocol: str) -> None:
    from websockets.asyncio.client import connect

    async with connect(target.ws_url, subprotocols=[protocol], open_timeout=10) as ws:  # type: ignore[list-item]
        outcome = await run_hostile(target, lambda: answer(ws, json.dumps([1, 2])))
    assert isinstance(outcome.result, Closed) and outcome.result.code == 4400, outcome.result


async def test_a_client_that_leaves_mid_body_is_not_an_error(
    services: Services, settings: Settings, mongo_server: EmbeddedMongo
) -> None:
    """A POST whose client disconnects before its body is complete: there is nobody to answer, and it is no server
    error. Starlette's ClientDisconnect escaped the app, so uvicorn logged "Exception in ASGI application" with a
    traceback for each such request (a connection dropped mid-upload is all it takes). Driven at the ASGI level:
    that the app returns without raising is what keeps uvicorn from logging, and it needs no wait for a log line."""
    app = create_app(settings, mongo_server.uri, services=services)
    incoming: list[Message] = [
        {"type": "http.request", "body": b'{"query": "{ __typ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"t"), (b"content-type", b"application/json"), (b"content-length", b"500")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    assert sent == []  # nothing to answer: the client is gone


async def _invalid_utf8(ws: ClientConnection) -> Closed | dict[str, object]:
    await ws.send(b'{"type": "ping", "payload": "\xff\xfe"}', text=True)  # a text frame that is not UTF-8
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))  # type: ignore[no-any-return]
    except ConnectionClosed as closed:
        received = closed.rcvd
        return Closed(received.code if received else -1, received.reason if received else "")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_text_frame_that_is_not_utf8_closes_with_1007_without_a_traceback(
    target: ServerInThread, protocol: str
) -> None:
    """uvicorn's protocol logged such a frame with `logger.exception` (a traceback per hostile connection)."""
    async with acknowledged(target.ws_url, protocol) as ws:
        outcome = await run_hostile(target, lambda: _invalid_utf8(ws))
    assert outcome.result == Closed(1007, "invalid UTF-8"), outcome.result
