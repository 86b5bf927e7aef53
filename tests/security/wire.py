"""Hostile requests on the wire for tests/security: one HTTP client and raw WebSockets on both protocols, opened
before `run_hostile` starts its clock (so what is timed is the hostile request alone)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.api.gql_ws import GRAPHQL_WS, TRANSPORT_WS

PROTOCOLS = (TRANSPORT_WS, GRAPHQL_WS)
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
ANSWER_WITHIN_S = 10.0  # a server that never answers fails the test instead of hanging it


@asynccontextmanager
async def http_client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await client.get("/healthz")  # the connection is open before a hostile request is timed
        yield client


@dataclass
class Closed:
    code: int
    reason: str


@asynccontextmanager
async def acknowledged(ws_url: str, protocol: str, token: str | None = None) -> AsyncIterator[ClientConnection]:
    """A connection past connection_init / connection_ack."""
    payload = {"authorization": f"Bearer {token}"} if token else {}
    async with connect(ws_url, subprotocols=[protocol], open_timeout=10) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        yield ws


def operation_frame(protocol: str, op_id: str, payload: dict[str, Any]) -> str:
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    return json.dumps({"id": op_id, "type": kind, "payload": payload})


async def answer(ws: ClientConnection, frame: str | bytes) -> dict[str, Any] | Closed:
    """Send one frame; the next message that is not a keep-alive, or how the server closed the connection."""
    await ws.send(frame)
    try:
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_WITHIN_S))
            if message.get("type") not in ("ka", "ping", "pong"):
                return message
    except ConnectionClosed as closed:
        received = closed.rcvd
        return Closed(received.code if received else -1, received.reason if received else "")


def errors_of(message: dict[str, Any] | Closed) -> list[dict[str, Any]]:
    """The errors of an operation's `error` message, on either protocol (graphql-ws sends one, not a list)."""
    assert isinstance(message, dict) and message["type"] == "error", message
    payload = message["payload"]
    return payload if isinstance(payload, list) else [payload]
