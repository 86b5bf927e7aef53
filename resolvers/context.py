"""What every resolver gets in `info.context`: the request and the application's services."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import SecretStr
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as _Info

from services.auth.service import AuthService
from services.chain.tip import TipCache
from services.liquidity import LiquidityService
from services.oracle import OracleService
from services.oracle.local_control import LocalPriceControl
from services.policies.creation import CreationService
from services.policies.lifecycle import LifecycleService
from services.policies.queries import PolicyQueries
from services.policies.quotes import QuoteService
from services.pubsub.service import PubSub
from services.store.mongo import MongoStore


class OperatorSettings(Protocol):
    @property
    def operator_token(self) -> SecretStr | None: ...


class ResolverServices(Protocol):
    """What the resolvers use of the application's services (the composition root's `Services` provides it).
    Read-only properties, so that a provider may hold narrower types. None: not configured on this server."""

    @property
    def settings(self) -> OperatorSettings: ...
    @property
    def store(self) -> MongoStore: ...
    @property
    def auth(self) -> AuthService: ...
    @property
    def policy_queries(self) -> PolicyQueries: ...
    @property
    def pubsub(self) -> PubSub: ...
    @property
    def oracle(self) -> OracleService: ...
    @property
    def local_prices(self) -> LocalPriceControl | None: ...
    @property
    def liquidity(self) -> LiquidityService: ...
    @property
    def tip(self) -> TipCache | None: ...
    @property
    def quotes(self) -> QuoteService | None: ...
    @property
    def creation(self) -> CreationService | None: ...
    @property
    def lifecycle(self) -> LifecycleService | None: ...


@dataclass
class RequestContext:
    request: Request | WebSocket
    response: Any
    services: ResolverServices
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
