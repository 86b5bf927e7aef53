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
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

Encode = Callable[[object], str | bytes]

_DEFINITION = "strawberry-definition"  # GraphQLCoreConverter.DEFINITION_BACKREF


@dataclass
class FanoutStats:
    """What the shared path saved (tests and benches read it): executions run vs. results reused, encodings."""

    executed: int = 0
    shared: int = 0
    encoded: int = 0


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

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
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
        definition = field.extensions.get(_DEFINITION)
        if not root and not (isinstance(definition, StrawberryField) and definition.is_basic_field):
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
    root: bool,
) -> bool:
    return _ContextFree(fragments).selection_set(parent, selection_set, root)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor; subscription events of a context-free operation share one result per event."""

    _operation_key: str | None = None  # computed on the first event, once per subscription
    _operation_key_known = False
    _event_key: str | None = None  # set on per-event copies only

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        if not self._operation_key_known:
            self._operation_key, self._operation_key_known = self._shared_operation_key(), True
        if isinstance(executor, SharedEventExecutor):
            executor._event_key = self._operation_key
        return executor

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
        root = self.schema.subscription_type
        if root is None or not _context_free(root, operation.selection_set, self.fragment_definitions, root=True):
            return None
        name = operation.name.value if operation.name else None
        return repr((operation.loc.source.body, name, sorted(self.variable_values.coerced.items())))


def share_subscription_events(schema: Any) -> None:
    """Install `SharedEventExecutor` on a Strawberry schema (it runs queries and mutations exactly as before)."""
    current = schema.execution_context_class
    if not issubclass(SharedEventExecutor, current):
        raise TypeError(f"the schema already uses its own executor {current!r}; combine it with SharedEventExecutor")
    schema.execution_context_class = SharedEventExecutor
