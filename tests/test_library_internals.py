"""The library internals the fan-out relies on (docs/performance.md "Internals the fan-out relies on").

policy_registry/ws_protocol.py, fanout.py and websocket.py reach into uvicorn's websockets-sansio protocol,
websockets' sans-I/O parser and Strawberry's WebSocket handlers and executor; schema/errors.py codes errors through
Strawberry's extension hooks. pyproject.toml pins Strawberry to one minor version for these. An upgrade that
renames or reshapes one of them would mostly not break a request: the leaner protocol would set attributes uvicorn
no longer reads (the memory saving silently gone), a new extension hook would escape the direct lane's neutrality
check, a reworked upstream `handle` would be shadowed by our copy. These checks fail instead, naming what to
review. No server, no network: they read the installed libraries (~0.1 s).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

import strawberry
from graphql.execution import Executor
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.field import StrawberryField
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from policy_registry import fanout
from policy_registry.ws_protocol import LeanWebSocketsProtocol, _Gate, _Inbox
from schema.errors import CodedErrors


def _source(function: Callable[..., Any]) -> str:
    return textwrap.dedent(inspect.getsource(function))


def _squeezed(function: Callable[..., Any]) -> str:
    return re.sub(r"\s+", "", _source(function))


def _uses(cls: type, attribute: str) -> set[str]:
    """The methods of `cls`'s own source that read or write `self.<attribute>`."""
    pattern = re.compile(rf"\bself\.{attribute}\b")
    return {name for name, member in vars(cls).items() if callable(member) and pattern.search(_source(member))}


# --- uvicorn: the websockets-sansio protocol that LeanWebSocketsProtocol slims down ------------------------------


async def _protocol(cls: type[WebSocketsSansIOProtocol]) -> WebSocketsSansIOProtocol:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    config = Config(app, ws=cls, log_config=None)
    config.load()
    return cls(config, ServerState(), app_state={}, _loop=asyncio.get_running_loop())


async def test_uvicorn_creates_the_attributes_the_lean_protocol_replaces() -> None:
    plain = await _protocol(WebSocketsSansIOProtocol)
    assert isinstance(plain.queue, asyncio.Queue) and isinstance(plain.writable, asyncio.Event)
    assert isinstance(plain.conn, ServerProtocol)
    lean = await _protocol(LeanWebSocketsProtocol)
    assert isinstance(lean.queue, _Inbox) and isinstance(lean.writable, _Gate)


def test_uvicorn_uses_only_what_the_lean_replacements_provide() -> None:
    source = inspect.getsource(WebSocketsSansIOProtocol)
    assert set(re.findall(r"self\.queue\.(\w+)", source)) == {"put_nowait", "get", "empty"}, "review _Inbox"
    assert set(re.findall(r"self\.writable\.(\w+)", source)) == {"set", "clear", "wait"}, "review _Gate"
    # The lean protocol lets the handshake go once the accept is sent: uvicorn must read it nowhere else.
    assert _uses(WebSocketsSansIOProtocol, "request") == {"handle_connect"}
    assert _uses(WebSocketsSansIOProtocol, "response") == {"handle_connect", "send"}
    # The lean protocol checks a text message's UTF-8 before uvicorn decodes it (and logs a traceback on failure).
    receive = _source(WebSocketsSansIOProtocol.send_receive_event_to_app)
    assert all(name in receive for name in ("self.frames", "self.curr_msg_data_type", "self.close_sent"))
    assert "self.conn.close_sent" in _source(WebSocketsSansIOProtocol.handle_parser_exception)
    # A direct write deferred by back-pressure waits on `writable`; a connection lost meanwhile must release it.
    assert "self.writable.set()" in _source(WebSocketsSansIOProtocol.connection_lost)


async def test_websockets_parser_is_the_one_the_lean_protocol_swaps_in() -> None:
    # ServerProtocol parses the upgrade request, then delegates to Protocol.parse for frames: the lean protocol
    # starts that frame parser afresh once the handshake is done.
    assert inspect.isgeneratorfunction(Protocol.parse) and inspect.isgeneratorfunction(ServerProtocol.parse)
    assert "yieldfromsuper().parse()" in _squeezed(ServerProtocol.parse)
    lean = await _protocol(LeanWebSocketsProtocol)
    conn = lean.conn
    assert inspect.isgenerator(conn.parser) and conn.parser_exc is None
    assert isinstance(conn.reader.buffer, bytearray) and conn.reader.eof is False


# --- Strawberry: the executor, the field back-reference, the extension hooks, the WebSocket handlers ------------


@strawberry.type(name="Item")
class _Item:
    plain_name: str

    @strawberry.field
    def computed(self) -> str:
        return self.plain_name


@strawberry.type
class _Query:
    item: _Item


def test_strawberry_executor_and_field_lookup() -> None:
    assert issubclass(StrawberryGraphQLCoreExecutionContext, Executor)
    for name in ("build_per_event_executor", "execute_operation"):
        assert callable(getattr(StrawberryGraphQLCoreExecutionContext, name))
    # SharedEventExecutor subclasses Strawberry's executor (no public base) to keep the resolve info it builds.
    assert "build_resolve_info" in vars(StrawberryGraphQLCoreExecutionContext)
    # The executor class goes to the schema's constructor (fanout.with_shared_events), which must accept it...
    assert "execution_context_class" in inspect.signature(strawberry.Schema.__init__).parameters

    schema = fanout.with_shared_events(lambda executor: strawberry.Schema(_Query, execution_context_class=executor))
    executor: type = schema.execution_context_class  # Strawberry's union of executor types does not narrow
    assert issubclass(executor, fanout.SharedEventExecutor)
    # ...and which fields are plain is asked of get_field_for_type(field_name, type_name) by GraphQL names.
    field = schema.get_field_for_type("plainName", "Item")
    assert isinstance(field, StrawberryField) and field.is_basic_field
    plain = executor.plain_fields
    assert plain is not None and plain("Item", "plainName") and not plain("Item", "computed")


def test_strawberry_extension_hooks_are_the_ones_the_direct_lane_judges() -> None:
    """fanout._result_neutral lets a schema's subscriptions skip Strawberry's per-result steps when no extension
    overrides a hook that acts on a result. A hook added upstream needs a decision there."""
    hooks = {name for name, member in vars(SchemaExtension).items() if callable(member) and not name.startswith("_")}
    assert hooks == {
        "on_operation",
        "on_validate",
        "on_parse",
        "on_execute",
        "on_stream_result",
        "resolve",
        "get_results",
    }


def test_coded_errors_uses_only_public_extension_hooks() -> None:
    """CodedErrors rewrites errors where Strawberry's MaskErrors does, in the public hooks it overrides."""
    overridden = {
        name
        for name, member in vars(CodedErrors).items()
        if callable(member) and name in vars(SchemaExtension) and not name.startswith("_")
    }
    assert overridden == {"on_operation", "on_stream_result"}
    assert CodedErrors.__mro__[1] is SchemaExtension
    for hook in overridden:
        assert list(inspect.signature(getattr(CodedErrors, hook)).parameters) == list(
            inspect.signature(getattr(SchemaExtension, hook)).parameters
        )
    # The result shapes it rewrites: the operation's result, a stream's initial result and its incremental frames.
    mask_errors = inspect.getsource(MaskErrors)
    for shape in ('"initial_result"', '"incremental"', '"completed"'):
        assert shape in mask_errors, f"MaskErrors handles a new result shape: review CodedErrors ({shape})"
    assert fanout._result_neutral(CodedErrors())


def test_strawberry_websocket_handlers_have_the_shape_the_overrides_expect() -> None:
    # The lane is a context variable set around handle_subscribe/handle_start: the operation task must be created
    # inside that call to copy it.
    assert "asyncio.create_task(self.run_operation(operation))" in _source(
        BaseGraphQLTransportWSHandler.handle_subscribe
    )
    assert "asyncio.create_task(" in _source(BaseGraphQLWSHandler.handle_start)
    # A stopped operation is cancelled, not awaited (services/pubsub/subscriber.py relies on the cancelled waiter).
    assert "operation.task.cancel()" in _source(BaseGraphQLTransportWSHandler.cleanup_operation)
    assert "connection_init_timeout_task" in _source(BaseGraphQLTransportWSHandler.__init__)
    assert "self.ws = response" in _source(ASGIWebSocketAdapter.__init__)
    # The data message the lane writes itself, field for field.
    assert '{"id":self.id,"type":"next","payload":next_payload}' in _squeezed(Operation.send_next)
    assert "_result_neutral" in inspect.getsource(fanout)


def test_strawberry_handle_loop_is_the_one_websocket_py_copies() -> None:
    """RateLimitedTransportWSHandler.handle is Strawberry's loop with each message let go once handled; a changed
    upstream loop would be silently shadowed by the copy."""
    expected = """
        async def handle(self) -> None:
            self.on_request_accepted()

            try:
                try:
                    async for message in self.websocket.iter_json():
                        await self.handle_message(cast("Message", message))
                except NonTextMessageReceived:
                    await self.handle_invalid_message("WebSocket message type must be text")
                except NonJsonMessageReceived:
                    await self.handle_invalid_message(
                        "WebSocket message must be valid JSON"
                    )
            except WebSocketDisconnected:
                pass
            finally:
                await self.shutdown()
    """
    assert _squeezed(BaseGraphQLTransportWSHandler.handle) == re.sub(r"\s+", "", expected), (
        "Strawberry's graphql-transport-ws handle() changed: review policy_registry/websocket.py's copy"
    )
