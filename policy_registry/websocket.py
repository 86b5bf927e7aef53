"""GraphQL over WebSockets: sign-in on connection_init and a rate limit per connection.

- connection_init may carry the session token (`{"authorization": "Bearer …"}` or `{"token": "…"}`). A valid
  one is acknowledged with the address; an invalid one is refused (graphql-transport-ws: close 4403;
  graphql-ws: connection_error). No token: an anonymous connection.
- Each connection may start WS_RATE_LIMIT_PER_S operations per second (burst WS_RATE_LIMIT_BURST). An operation
  over the limit is answered with an error whose code is RATE_LIMITED; a connection that keeps going after a
  whole burst of refusals is closed with 4429.
- A subscription event whose data is shared by several subscribers (policy_registry/fanout.py) goes out as its
  pre-encoded payload with this operation's id spliced in: one encoding per change, not one per subscriber.
- Each operation task gets a direct lane (`OperationLane`, through `resolvers.context.direct_delivery`) on the
  connection's `ConnectionWrites`: shared events reach the socket from the publisher's loop, and every ordinary
  send first waits for a direct write still in flight, so an operation's messages keep their order.
- A malformed client message (not JSON, not an object, no id or payload, fields of the wrong type; see
  policy_registry/ws_messages.py) closes the connection with 4400 and the reason, on both protocols, before
  Strawberry's handlers index into it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from graphql import GraphQLFormattedError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ErrorMessage as TransportErrorMessage
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message as TransportMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage as GraphQLWSErrorMessage
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage, StartMessage
from strawberry.types.unset import UNSET, UnsetType

from policy_registry.fanout import (
    ConnectionWrites,
    Encode,
    OperationLane,
    direct_delivery_allowed,
    shared_frame,
)
from policy_registry.ratelimit import TokenBucket
from policy_registry.settings import Settings
from policy_registry.ws_messages import INVALID_MESSAGE_CLOSE, graphql_ws_problem, transport_ws_problem
from resolvers.context import RequestContext, direct_delivery
from resolvers.permissions import session_of
from services.core.errors import ServiceError

log = logging.getLogger(__name__)

RATE_LIMITED_CLOSE = 4429


def _rate_limited_error() -> GraphQLFormattedError:
    return {"message": "too many operations on this connection", "extensions": {"code": "RATE_LIMITED"}}


class _ConnectionLimit:
    __slots__ = ("_bucket", "_burst", "_refused_in_a_row")

    def __init__(self, context: RequestContext) -> None:
        # The composition root's own settings (the resolvers' view of the services does not carry the WebSocket limits)
        settings: Settings = context.request.app.state.services.settings
        rate, burst = settings.ws_rate_limit_per_s, settings.ws_rate_limit_burst
        self._bucket = TokenBucket(rate, burst) if rate > 0 else None
        self._burst = burst
        self._refused_in_a_row = 0

    def allow(self) -> bool:
        if self._bucket is None or self._bucket.take() == 0.0:
            self._refused_in_a_row = 0
            return True
        self._refused_in_a_row += 1
        return False

    @property
    def abusive(self) -> bool:
        return self._refused_in_a_row > self._burst


async def _send_shared(websocket: object, encode: Encode, message: Mapping[str, object]) -> bool:
    """Send a message carrying shared data as its pre-encoded frame; False when it is not one (send it as usual)."""
    if not isinstance(websocket, ASGIWebSocketAdapter):
        return False
    frame = shared_frame(message, encode)
    if frame is None:
        return False
    try:
        await websocket.ws.send_text(frame)
    except WebSocketDisconnect as exc:  # what Strawberry's own send_json raises, so its handlers stop cleanly
        raise WebSocketDisconnected from exc
    return True


def _connection_writes(websocket: object, schema: object) -> ConnectionWrites | None:
    if not isinstance(websocket, ASGIWebSocketAdapter) or not direct_delivery_allowed(schema):
        return None
    return ConnectionWrites(websocket.ws)


class RateLimitedTransportWSHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit = _ConnectionLimit(self.context)
        self._writes = _connection_writes(self.websocket, self.schema)

    async def handle_message(self, message: TransportMessage) -> None:
        problem = transport_ws_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)  # close 4400 with the reason
            return
        await super().handle_message(message)

    async def handle(self) -> None:
        # Strawberry's loop, except that each message is let go once handled: the loop variable would otherwise
        # keep the last one (an idle subscriber's subscribe message) for the connection's life.
        self.on_request_accepted()
        try:
            try:
                async for message in self.websocket.iter_json():
                    await self.handle_message(message)  # type: ignore[arg-type]  # checked there
                    del message
            except NonTextMessageReceived:
                await self.handle_invalid_message("WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.handle_invalid_message("WebSocket message must be valid JSON")
        except WebSocketDisconnected:
            pass
        finally:
            await self.shutdown()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        # Strawberry cancels its init-timeout task here but keeps it, with its CancelledError and traceback, for
        # the connection's life (~1 KiB per idle subscriber): let it go once it has finished.
        task = self.connection_init_timeout_task
        if task is not None:
            task.add_done_callback(self._forget_init_timeout)

    def _forget_init_timeout(self, task: object) -> None:
        if self.connection_init_timeout_task is task:
            self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and not self._limit.allow():
            if self._limit.abusive:
                await self.websocket.close(code=RATE_LIMITED_CLOSE, reason="Too many requests")
                return
            await self.send_message(
                TransportErrorMessage(id=message["id"], type="error", payload=[_rate_limited_error()])
            )
            return
        if self._writes is None:
            await super().handle_subscribe(message)
            return
        lane = OperationLane(self._writes, {"id": message["id"], "type": "next"}, self.view.encode_json)
        token = direct_delivery.set(lane)  # the operation task Strawberry creates now copies this context
        try:
            await super().handle_subscribe(message)
        finally:
            direct_delivery.reset(token)

    async def send_message(self, message: TransportMessage) -> None:
        if self._writes is not None and self._writes.inflight is not None:
            await self._writes.drain()
        if not await _send_shared(self.websocket, self.view.encode_json, message):
            await super().send_message(message)


class RateLimitedGraphQLWSHandler(BaseGraphQLWSHandler[RequestContext, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit = _ConnectionLimit(self.context)
        self._writes = _connection_writes(self.websocket, self.schema)

    async def handle(self) -> None:
        # Strawberry's loop, except that a message that is not JSON closes the connection (Strawberry skips it).
        try:
            try:
                async for message in self.websocket.iter_json():
                    await self.handle_message(message)  # type: ignore[arg-type]  # checked there
                    del message  # not kept while the connection idles
            except NonJsonMessageReceived:
                await self.websocket.close(code=INVALID_MESSAGE_CLOSE, reason="a message must be valid JSON")
            except NonTextMessageReceived:
                await self.websocket.close(code=1002, reason="WebSocket message type must be text")
        except WebSocketDisconnected:
            pass
        finally:
            if self.keep_alive_task:
                self.keep_alive_task.cancel()
                with suppress(BaseException):
                    await self.keep_alive_task
            await self.cleanup()

    async def handle_message(self, message: OperationMessage) -> None:
        problem = graphql_ws_problem(message)
        if problem is not None:
            await self.websocket.close(code=INVALID_MESSAGE_CLOSE, reason=problem)
            return
        await super().handle_message(message)

    async def handle_start(self, message: StartMessage) -> None:
        if self.connection_acknowledged and not self._limit.allow():
            if self._limit.abusive:
                await self.websocket.close(code=RATE_LIMITED_CLOSE, reason="Too many requests")
                return
            await self.send_message(
                GraphQLWSErrorMessage(type="error", id=message["id"], payload=_rate_limited_error())
            )
            return
        if self._writes is None:
            await super().handle_start(message)
            return
        lane = OperationLane(self._writes, {"type": "data", "id": message["id"]}, self.view.encode_json)
        token = direct_delivery.set(lane)  # the operation task Strawberry creates now copies this context
        try:
            await super().handle_start(message)
        finally:
            direct_delivery.reset(token)

    async def send_message(self, message: OperationMessage) -> None:
        if self._writes is not None and self._writes.inflight is not None:
            await self._writes.drain()
        if not await _send_shared(self.websocket, self.view.encode_json, message):
            await super().send_message(message)


class WebSocketAuth:
    """Mixed into the GraphQL view: the handlers above, and the session check on connection_init."""

    graphql_transport_ws_handler_class: type[BaseGraphQLTransportWSHandler[RequestContext, None]] = (
        RateLimitedTransportWSHandler
    )
    graphql_ws_handler_class: type[BaseGraphQLWSHandler[RequestContext, None]] = RateLimitedGraphQLWSHandler

    async def on_ws_connect(self, context: RequestContext) -> UnsetType | dict[str, object] | None:
        try:
            session = await session_of(context)
        except ServiceError as exc:
            raise ConnectionRejectionError({"message": exc.message, "extensions": {"code": exc.code}}) from None
        if session is None:
            anonymous: UnsetType = UNSET  # plain connection_ack
            return anonymous
        ack: dict[str, object] = {"address": session.address, "expiresAt": session.expires_at.isoformat()}
        return ack
