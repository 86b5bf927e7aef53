"""What every resolver gets in `info.context`: the request and the application's services."""

from __future__ import annotations

from dataclasses import dataclass
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


Info = _Info[RequestContext, None]
