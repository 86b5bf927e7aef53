"""What every resolver gets in `info.context`: the request and the application's services."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as _Info

if TYPE_CHECKING:
    from policy_registry.container import Services


@dataclass
class RequestContext:
    request: Request | WebSocket
    response: Any
    services: Services
    request_id: str
    # A WebSocket's connection_init payload (Strawberry sets it); carries the session token on WebSockets.
    connection_params: dict[str, Any] | None = None
    # resolvers.permissions keeps the request's session here, so an HTTP request looks it up once.
    auth_memo: dict[str, Any] = field(default_factory=dict)


Info = _Info[RequestContext, None]


# The running subscription operation's direct delivery, where its transport offers one (set per operation task by the
# WebSocket handlers, policy_registry/fanout.py). Called with an event the resolver would yield, it executes, encodes
# and sends it at once and returns True, or returns False, and the resolver yields the event as usual.
DirectDelivery = Callable[[object], bool]
direct_delivery: ContextVar[DirectDelivery | None] = ContextVar("direct_delivery", default=None)
