"""The shape of GraphQL-over-WebSocket client messages, checked before Strawberry's handlers index into them.

Strawberry's handlers read `message["type"]`, `message["id"]`, `message["payload"]["query"]` as they come: a bare
number, a list, a missing id or payload, or a field of the wrong type raised KeyError/TypeError tracebacks. Each
function returns why a message is malformed (a close reason: at most 123 bytes, so fixed texts only), or None.
Both protocols then close the connection with 4400 and that reason (graphql-transport-ws defines 4400 for it;
graphql-ws defines no close codes, and the same one keeps clients' handling simple).
"""

from __future__ import annotations

from collections.abc import Mapping

INVALID_MESSAGE_CLOSE = 4400
MAX_OPERATION_ID_CHARS = 128  # client-chosen; real clients use counters or UUIDs


def _optional_object(message: Mapping[str, object], key: str) -> bool:
    value = message.get(key)
    return value is None or isinstance(value, dict)


def _operation_id(message: Mapping[str, object]) -> str | None:
    op_id = message.get("id")
    if not isinstance(op_id, str) or not op_id:
        return "the message needs a string `id`"
    if len(op_id) > MAX_OPERATION_ID_CHARS:
        return f"the `id` is longer than {MAX_OPERATION_ID_CHARS} characters"
    return None


def _operation_payload(message: Mapping[str, object]) -> str | None:
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "the message needs an object `payload`"
    if not isinstance(payload.get("query"), str):
        return "the payload needs a string `query`"
    if not _optional_object(payload, "variables"):
        return "`variables` must be an object or null"
    if not _optional_object(payload, "extensions"):
        return "`extensions` must be an object or null"
    name = payload.get("operationName")
    if name is not None and not isinstance(name, str):
        return "`operationName` must be a string or null"
    return None


def _typed(message: object, types: frozenset[str]) -> tuple[Mapping[str, object] | None, str | None]:
    if not isinstance(message, dict):
        return None, "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return None, "the message needs a string `type`"
    if kind not in types:
        return None, "unknown message type"
    return message, None


_TRANSPORT_WS_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})
_GRAPHQL_WS_TYPES = frozenset({"connection_init", "connection_terminate", "start", "stop"})


def transport_ws_problem(message: object) -> str | None:
    """graphql-transport-ws (github.com/enisdenjo/graphql-ws, PROTOCOL.md)."""
    checked, problem = _typed(message, _TRANSPORT_WS_TYPES)
    if checked is None:
        return problem
    kind = checked["type"]
    if kind in ("connection_init", "ping", "pong"):
        return None if _optional_object(checked, "payload") else "`payload` must be an object"
    if kind == "subscribe":
        return _operation_id(checked) or _operation_payload(checked)
    return _operation_id(checked)  # complete


def graphql_ws_problem(message: object) -> str | None:
    """graphql-ws, the legacy subscriptions-transport-ws protocol."""
    checked, problem = _typed(message, _GRAPHQL_WS_TYPES)
    if checked is None:
        return problem
    kind = checked["type"]
    if kind == "connection_init":
        return None if _optional_object(checked, "payload") else "`payload` must be an object"
    if kind == "start":
        return _operation_id(checked) or _operation_payload(checked)
    if kind == "stop":
        return _operation_id(checked)
    return None  # connection_terminate
