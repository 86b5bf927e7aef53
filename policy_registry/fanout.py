"""Subscription fan-out: execute and encode each change once per distinct operation, not once per subscriber.

Every subscriber handed a change receives the very same GraphQL object for it (resolvers/subscriptions.py builds
it once per published record). Executing a subscription's selection on that object gives the same result for
every subscriber whose operation is the same (query text, operation name, variables), provided nothing on the
way can tell who is asking: no resolver, field extension or permission below the subscription field, no schema
extension with a `resolve` hook. Such operations share one result per event (`SharedEventExecutor`), its JSON
is encoded once (`SharedData`), and each subscriber's frame only adds its own message id (`shared_frame`).

Privacy: a subscriber only executes an event its own resolver yielded, after its own audience check (pending
creations go to their owner's live session only). Results are keyed by the identity of that yielded object, so
a shared result only ever reaches subscribers that were each handed the object themselves.

Direct delivery (`OperationLane`): the WebSocket handlers give each subscription operation a lane
(`resolvers.context.direct_delivery`), which its resolver attaches to its queue. While the operation waits for a
change, the publisher's loop hands the event straight to the lane: the shared result, its encoded payload, this
operation's message head and one synchronous write on the connection. No task wakes, and none of the per-result
steps run that cannot change a shared result (graphql-core's event mapping, Strawberry's stream and extension
hooks: a shared result has no errors to mask and no extension output, see `_result_neutral`). Whatever the lane
cannot do at once it declines, and the event takes the ordinary path.

A schema shares its events when it is built with `with_shared_events`: the executor class goes to Strawberry's
public `execution_context_class` parameter, and which fields are plain is asked of the public
`Schema.get_field_for_type`. Strawberry internals relied on (pinned to one minor version, guarded by
tests/test_library_internals.py): `StrawberryGraphQLCoreExecutionContext` (the executor class Strawberry
instantiates, subclassed here to keep its `build_resolve_info`; its `build_per_event_executor` and
`execute_operation` are graphql-core's public Executor API), and the handlers' message shapes (`next` / `data` with
`id`, `type`, `payload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    InlineFragmentNode,
    NamedTypeNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution import Executor
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

from resolvers.context import direct_delivery
from schema.errors import CodedErrors

Encode = Callable[[object], str | bytes]
S = TypeVar("S", bound=Schema)


@dataclass
class FanoutStats:
    """What the shared path saved (tests and benches read it): executions run vs. results reused, encodings."""

    executed: int = 0
    shared: int = 0
    encoded: int = 0
    direct: int = 0  # events a lane delivered from the publisher's loop
    deferred: int = 0  # direct writes that met back-pressure and finished in a task


stats = FanoutStats()


class SharedData(dict[str, Any]):
    """A result's `data`, shared by every subscriber of one operation; encodes its `{"data": …}` payload once."""

    __slots__ = ("_encoded",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self._encoded: tuple[object, str | bytes] | None = None

    def encoded_payload(self, encode: Encode) -> str | bytes:
        # One view (one encoder) per app; compare the function, bound methods are new objects on each access.
        marker = getattr(encode, "__func__", encode)
        if self._encoded is None or self._encoded[0] is not marker:
            self._encoded = (marker, encode({"data": self}))
            stats.encoded += 1
        return self._encoded[1]


def shared_frame(message: Mapping[str, object], encode: Encode) -> str | None:
    """The text of a data message (`next`, or graphql-ws `data`) whose payload is shared data alone: the
    message's own fields (id, type) encoded, with the shared payload spliced in. None for any other message."""
    payload = message.get("payload")
    if not isinstance(payload, dict) or len(payload) != 1 or len(message) < 2:
        return None
    data = payload.get("data")
    if not isinstance(data, SharedData):
        return None
    body = data.encoded_payload(encode)
    head = encode({key: value for key, value in message.items() if key != "payload"})
    if not isinstance(body, str) or not isinstance(head, str) or not head.endswith("}"):
        return None
    return f'{head[:-1]}, "payload": {body}}}'


class _Results:
    """The latest shared results, keyed by (event identity, operation key); each entry keeps its event alive,
    so an identity is never reused while its entry exists."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, str], tuple[object, ExecutionResult]] = OrderedDict()

    def get(self, event: object, key: str) -> ExecutionResult | None:
        entry = self._entries.get((id(event), key))
        if entry is None or entry[0] is not event:
            return None
        return entry[1]

    def put(self, event: object, key: str, result: ExecutionResult) -> None:
        self._entries[(id(event), key)] = (event, result)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


# A change reaches all its subscribers within moments; a few hundred entries cover many changes in flight.
_results = _Results(512)


class _ContextFree:
    """Whether every field selected resolves from its parent object alone (Strawberry "basic" fields). The root
    subscription field counts as such: per event, Strawberry resolves it to the event itself.

    Each fragment is judged once per position (at the root or below it) and remembered, so a fragment spread on
    many paths (`...F1 ...F1` in every level of a chain) costs one walk, not one per path."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], plain: PlainFields) -> None:
        self._fragments = fragments
        self._plain = plain
        self._judged: dict[tuple[str, bool], bool] = {}

    def selection_set(self, parent: GraphQLObjectType, selection_set: SelectionSetNode, root: bool) -> bool:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if not self._field(parent, selection, root):
                    return False
            elif isinstance(selection, FragmentSpreadNode):
                if not self._spread(parent, selection.name.value, root):
                    return False
            elif isinstance(selection, InlineFragmentNode):
                if not self._matches(parent, selection.type_condition):
                    return False
                if not self.selection_set(parent, selection.selection_set, root):
                    return False
            else:
                return False
        return True

    def _field(self, parent: GraphQLObjectType, selection: FieldNode, root: bool) -> bool:
        name = selection.name.value
        if name == "__typename":
            return True
        field = parent.fields.get(name)
        if field is None:
            return False
        if not root and not self._plain(parent.name, name):
            return False
        if selection.selection_set is None:
            return True
        named = get_named_type(field.type)
        # Abstract types resolve their concrete type per object: not worth reasoning about here.
        return isinstance(named, GraphQLObjectType) and self.selection_set(named, selection.selection_set, False)

    def _spread(self, parent: GraphQLObjectType, name: str, root: bool) -> bool:
        fragment = self._fragments.get(name)
        if fragment is None or not self._matches(parent, fragment.type_condition):
            return False
        key = (name, root)
        judged = self._judged.get(key)
        if judged is None:
            self._judged[key] = False  # a cycle (validation refuses them anyway) is not context-free
            judged = self._judged[key] = self.selection_set(parent, fragment.selection_set, root)
        return judged

    @staticmethod
    def _matches(parent: GraphQLObjectType, condition: NamedTypeNode | None) -> bool:
        return condition is None or condition.name.value == parent.name


def _context_free(
    parent: GraphQLObjectType,
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    plain: PlainFields,
    root: bool,
) -> bool:
    return _ContextFree(fragments, plain).selection_set(parent, selection_set, root)


class PlainFields:
    """Which fields of one Strawberry schema are "basic" (no resolver: read from the parent object), by type and
    field name. Asked of the public `Schema.get_field_for_type` once per pair, then remembered: a subscription's
    operation key judges every field it selects."""

    __slots__ = ("_known", "_schema")

    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self._known: dict[tuple[str, str], bool] = {}

    def __call__(self, type_name: str, field_name: str) -> bool:
        key = (type_name, field_name)
        known = self._known.get(key)
        if known is None:
            field = self._schema.get_field_for_type(field_name, type_name)
            known = self._known[key] = isinstance(field, StrawberryField) and field.is_basic_field
        return known


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor; subscription events of a context-free operation share one result per event.
    Built per schema by `with_shared_events`, which tells it the schema's plain fields (unset: nothing is shared)."""

    plain_fields: ClassVar[PlainFields | None] = None
    _operation_key: str | None = None  # computed on the first event, once per subscription
    _operation_key_known = False
    _event_key: str | None = None  # set on per-event copies only

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lane = direct_delivery.get()  # the operation task's own lane, if its transport gave it one
        if isinstance(lane, OperationLane):
            lane.attach(self)

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        if isinstance(executor, SharedEventExecutor):
            executor._event_key = self.operation_key()
        return executor

    def operation_key(self) -> str | None:
        """The key of results this subscription may share (None: it executes every event itself)."""
        if not self._operation_key_known:
            self._operation_key, self._operation_key_known = self._shared_operation_key(), True
        return self._operation_key

    def shared_data(self, event: object) -> SharedData | None:
        """The shared `data` of `event` for this subscription, executing it if no subscriber has yet; None when it
        cannot be shared (an operation that depends on who asks, a result with errors, an asynchronous field)."""
        key = self.operation_key()
        if key is None:
            return None
        result: object = _results.get(event, key)
        if result is not None:
            stats.shared += 1
        else:
            result = self.build_per_event_executor(event).execute_operation(False)
            if not isinstance(result, ExecutionResult):
                if isinstance(result, Coroutine):
                    result.close()  # only plain fields are shared: nothing ran that this could undo
                return None
        assert isinstance(result, ExecutionResult)
        data = result.data
        return data if isinstance(data, SharedData) else None

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._event_key
        if key is None:
            return super().execute_operation(serially)
        event = self.root_value
        cached = _results.get(event, key)
        if cached is not None:
            stats.shared += 1
            return cached
        result = super().execute_operation(serially)
        stats.executed += 1
        # Only a complete, error-free result is shared: extensions post-process errors per subscriber.
        if isinstance(result, ExecutionResult) and not result.errors and result.data is not None:
            result = ExecutionResult(SharedData(result.data), None)
            _results.put(event, key, result)
        return result

    def _shared_operation_key(self) -> str | None:
        operation = self.operation
        if operation.operation is not OperationType.SUBSCRIPTION or operation.loc is None:
            return None
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return None  # a schema extension's resolve hook sees every field, with the context
        root, plain = self.schema.subscription_type, self.plain_fields
        if root is None or plain is None:
            return None
        if not _context_free(root, operation.selection_set, self.fragment_definitions, plain, root=True):
            return None
        name = operation.name.value if operation.name else None
        return repr((operation.loc.source.body, name, sorted(self.variable_values.coerced.items())))


def _result_neutral(extension: SchemaExtension) -> bool:
    """Whether a schema extension leaves an error-free subscription result as it is: it adds no `extensions` output
    and no per-result step, or it only rewrites errors (CodedErrors)."""
    if isinstance(extension, CodedErrors):
        return True
    cls = type(extension)
    return all(
        getattr(cls, hook, None) is getattr(SchemaExtension, hook, None)
        for hook in ("get_results", "on_stream_result", "resolve")
    )


_neutral_schemas: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def direct_delivery_allowed(schema: Any) -> bool:
    """A schema's subscriptions may take the direct lane when none of its extensions acts on a shared result
    (judged once per schema, from the extensions it builds per request)."""
    allowed = _neutral_schemas.get(schema)
    if allowed is None:
        allowed = _neutral_schemas[schema] = all(_result_neutral(e) for e in schema.get_extensions())
    return allowed


class ConnectionWrites:
    """A WebSocket's direct writes. A frame is written synchronously when the server takes it at once (its send
    completes without waiting); one that must wait (back-pressure) finishes in a task, and until it has, the lanes
    decline and the handler's own sends wait for it, so frames keep their order."""

    __slots__ = ("_websocket", "inflight")

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self.inflight: asyncio.Future[None] | None = None

    def write(self, frame: str) -> bool:
        if self.inflight is not None:
            return False
        send = self._websocket.send_text(frame)
        try:
            waiting = send.send(None)
        except StopIteration:
            return True
        except Exception:  # e.g. the client left: the operation's own send meets it and ends as usual
            return False
        self.inflight = asyncio.ensure_future(self._finish(send, waiting))
        stats.deferred += 1
        return True

    async def _finish(self, send: Coroutine[Any, Any, None], waiting: object) -> None:
        """Drive a started send to its end, as a task would: resume it each time what it waits for is done."""
        try:
            while True:
                if isinstance(waiting, asyncio.Future):
                    await asyncio.wait([waiting])
                else:
                    await asyncio.sleep(0)  # a bare yield to the loop
                try:
                    waiting = send.send(None)
                except StopIteration:
                    return
        except Exception:
            return  # the connection failed: the operation's next send meets it and ends as usual
        finally:
            send.close()
            self.inflight = None

    async def drain(self) -> None:
        """Wait for a direct write still in flight (its failure, a closed connection, shows on the next send)."""
        inflight = self.inflight
        if inflight is not None:
            with contextlib.suppress(Exception):
                await inflight


class OperationLane:
    """Direct delivery for one subscription operation (see the module docstring): `lane(event)` sends the event's
    shared result as this operation's data message and returns True, or returns False and does nothing."""

    __slots__ = ("_encode", "_executor", "_head", "_writes")

    def __init__(self, writes: ConnectionWrites, message: Mapping[str, object], encode: Encode) -> None:
        head = encode(dict(message))  # the data message without its payload: id and type, in the handler's order
        self._head = head[:-1] if isinstance(head, str) and head.endswith("}") else None
        self._writes = writes
        self._encode = encode
        self._executor: SharedEventExecutor | None = None

    def attach(self, executor: SharedEventExecutor) -> None:
        if self._executor is None:
            self._executor = executor

    def __call__(self, event: object) -> bool:
        executor, head = self._executor, self._head
        if executor is None or head is None or self._writes.inflight is not None:
            return False
        data = executor.shared_data(event)
        if data is None:
            return False
        body = data.encoded_payload(self._encode)
        if not isinstance(body, str):
            return False
        if not self._writes.write(f'{head}, "payload": {body}}}'):
            return False
        stats.direct += 1
        return True


def with_shared_events(assemble: Callable[[type[SharedEventExecutor]], S]) -> S:
    """A Strawberry schema whose subscription events are shared: `assemble` builds it with the executor class it is
    given as `execution_context_class` (queries and mutations run exactly as before)."""
    executor: type[SharedEventExecutor] = type("SharedEventExecutor", (SharedEventExecutor,), {})  # this schema's own
    schema = assemble(executor)
    executor.plain_fields = PlainFields(schema)
    if schema.execution_context_class is not executor:
        raise TypeError("assemble must pass the executor class it is given as the schema's execution_context_class")
    return schema
