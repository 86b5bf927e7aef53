"""A small GraphQL-over-WebSocket client (both protocols) on the `websockets` package, for tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TRANSPORT_WS = "graphql-transport-ws"
GRAPHQL_WS = "graphql-ws"


class GraphQLSocket:
    def __init__(self, ws: ClientConnection, protocol: str, ack: dict[str, Any]) -> None:
        self.ws = ws
        self.protocol = protocol
        self.ack = ack
        self._held: defaultdict[str, deque[dict[str, Any]]] = defaultdict(deque)

    @classmethod
    async def open(
        cls,
        url: str,
        protocol: str = TRANSPORT_WS,
        payload: dict[str, Any] | None = None,
        **connect_args: Any,
    ) -> GraphQLSocket:
        ws = await connect(url, subprotocols=[protocol], open_timeout=10, **connect_args)  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        try:
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            raise ConnectionRefusedError(
                f"closed {rcvd.code if rcvd else None} {rcvd.reason if rcvd else ''}"
            ) from None
        if ack.get("type") != "connection_ack":
            await ws.close()
            raise ConnectionRefusedError(json.dumps(ack))
        return cls(ws, protocol, ack)

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send(json.dumps({"id": op_id, "type": kind, "payload": payload}))

    async def stop(self, op_id: str) -> None:
        await self.ws.send(json.dumps({"id": op_id, "type": "complete" if self.protocol == TRANSPORT_WS else "stop"}))

    async def receive(self, within: float = 5) -> dict[str, Any]:
        """The next protocol message other than keep-alives (a server ping is answered)."""
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), within))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] in ("ka", "pong"):
                continue
            return message

    async def for_op(self, op_id: str, within: float = 5) -> dict[str, Any]:
        """The next message of operation `op_id`; other operations' messages are kept for their readers."""
        if self._held[op_id]:
            return self._held[op_id].popleft()
        deadline = time.monotonic() + within
        while True:
            message = await self.receive(max(0.01, deadline - time.monotonic()))
            if message.get("id") == op_id:
                return message
            self._held[str(message.get("id"))].append(message)

    async def next_payload(self, op_id: str, within: float = 5) -> dict[str, Any]:
        """The next result of `op_id` ({"data": ..., "errors": ...}); fails on anything else."""
        message = await self.for_op(op_id, within)
        assert message["type"] in ("next", "data"), message
        payload: dict[str, Any] = message["payload"]
        return payload

    async def completed(self, op_id: str, within: float = 5) -> None:
        message = await self.for_op(op_id, within)
        assert message["type"] == "complete", message

    async def next_data(self, op_id: str, field: str, within: float = 5) -> dict[str, Any]:
        payload = await self.next_payload(op_id, within)
        assert "errors" not in payload, payload
        data: dict[str, Any] = payload["data"][field]
        return data

    async def marker_next(self, op_id: str, field: str, marker_id: str, within: float = 5) -> dict[str, Any]:
        """ "Nothing else arrived": the next message of any operation is `op_id`'s object `marker_id`, a change
        made after the ones that must not arrive (messages of a subscription come in commit order)."""
        self.assert_nothing_held()
        message = await self.receive(within)
        assert message.get("id") == op_id and message["type"] in ("next", "data"), message
        data: dict[str, Any] = message["payload"]["data"][field]
        assert data["id"] == marker_id, data
        return data

    def assert_nothing_held(self) -> None:
        held = {op: list(q) for op, q in self._held.items() if q}
        assert not held, f"unexpected messages {held!r}"

    async def close(self) -> None:
        await self.ws.close()


def http_base(ws_url: str) -> str:
    return ws_url.replace("ws://", "http://", 1).removesuffix("/graphql")


async def subscriber_count(ws_url: str) -> int:
    """`graphql_subscribers` of the server behind `ws_url` (its /metrics)."""
    async with httpx.AsyncClient(base_url=http_base(ws_url), timeout=5) as api:
        text = (await api.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "graphql_subscribers":
                return int(sample.value)
    raise AssertionError("no graphql_subscribers gauge at /metrics")


async def wait_subscribers(ws_url: str, count: int, within: float = 10) -> None:
    """Until the server reports `count` live subscriptions: each is registered with its broker, so every change
    committed from now on reaches it (the signal for a subscription without a catch-up message to wait for)."""
    deadline = time.monotonic() + within
    seen = await subscriber_count(ws_url)
    while seen < count:
        assert time.monotonic() < deadline, f"{seen} of {count} subscriptions live after {within} s"
        await asyncio.sleep(0.02)  # polling interval of a wait with a deadline
        seen = await subscriber_count(ws_url)
    assert seen == count, f"{seen} subscriptions live, expected {count}"
