"""A small GraphQL-over-WebSocket client (both protocols) on the `websockets` package, for tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from typing import Any

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

    async def nothing_for(self, seconds: float) -> None:
        held = {op: list(q) for op, q in self._held.items() if q}
        assert not held, f"unexpected messages {held!r}"
        try:
            message = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message!r}")

    async def close(self) -> None:
        await self.ws.close()
