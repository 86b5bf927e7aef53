"""uvicorn's WebSocket protocol (`websockets-sansio`), leaner per connection.

An idle subscriber's connection is mostly bookkeeping, and uvicorn's protocol object carried some that it never
uses again or that a smaller object does as well (tracemalloc at 2,000 idle subscribers, docs/performance.md):

- the parsed upgrade request and the handshake response, kept after the accept although uvicorn never reads them
  again (the ASGI scope holds the request headers for the app): let go once the accept is sent. websockets'
  handshake parser also keeps the request, as a local of the generator that goes on to parse frames; once the
  accept is sent (nothing of the client's first frame can have been read: the client waits for the 101), the
  connection gets a fresh frame parser, the one that generator delegates to (~3 KiB with the request's headers);
- the receive queue, an `asyncio.Queue` (three deques and an Event, ~3 KiB), of which uvicorn uses `put_nowait`,
  `get` and `empty`: `_Inbox` does the same with a list;
- the `writable` flow-control flag, an `asyncio.Event` with its deque (~1 KiB): `_Gate`.

One behaviour differs: a text message that is not UTF-8 closes the connection with 1007 as uvicorn's does, but
without uvicorn's `logger.exception` (hostile input must not write a traceback to the log).

`policy_registry.server.uvicorn_options` names this class as uvicorn's `ws` protocol; the protocol logic is
uvicorn's own. It relies on those attribute names of uvicorn's `WebSocketsSansIOProtocol` (uvicorn 0.55:
`request`, `response`, `queue`, `writable`, `conn`) and of websockets' sans-I/O protocol (`parser`, `reader`,
`Protocol.parse`, websockets 13–16); the WebSocket tests exercise it, tests/test_library_internals.py checks the shape.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import Protocol


class _Inbox:
    """What uvicorn uses of `asyncio.Queue` (unbounded): `put_nowait`, `get`, `empty`."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif self._items:  # woken and cancelled at once: pass the wake-up on
                    self._wake_one()
                raise
        return self._items.pop(0)


class _Gate:
    """What uvicorn uses of `asyncio.Event` for write flow control: `set`, `clear`, `is_set`, `wait`."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter
        return True


class LeanWebSocketsProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Gate()  # type: ignore[assignment]

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and self.frames and not self.close_sent:
            try:
                b"".join(self.frames).decode()  # a client's messages are small (ws_max_size): checked twice, cheaply
            except UnicodeDecodeError:
                self.frames = []
                self.conn.send_close(1007, "invalid UTF-8")
                self.handle_parser_exception()  # uvicorn's own close after a protocol error
                return
        super().send_receive_event_to_app()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message.get("type") == "websocket.accept" and self.handshake_complete:
            # read only while answering the upgrade (uvicorn's handle_connect and the accept in send)
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
            conn = self.conn
            if not conn.reader.buffer and not conn.reader.eof:
                parser = Protocol.parse(conn)  # frames from here on, as the handshake parser would go on to
                next(parser)  # runs to its first wait for data
                conn.parser = parser
