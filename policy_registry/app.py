"""The ASGI application: GraphQL (HTTP and WebSocket) at /graphql, GraphiQL with local assets, health probes."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from policy_registry.body_limit import BodySizeLimitMiddleware
from policy_registry.collector import CollectorSchedule, freeze_after_start, thaw
from policy_registry.container import Services
from policy_registry.graphql_http import (
    RequestRefused,
    UndecodableJson,
    decode_json,
    error_response,
    failed_before_execution,
    refused_json,
    request_body,
    response_media_type,
    result_status,
)
from policy_registry.graphql_schema import build_schema
from policy_registry.metrics import RequestMetricsMiddleware, instrument_schema, metrics_endpoint
from policy_registry.ratelimit import ClientRateLimiter, RateLimitMiddleware
from policy_registry.settings import Settings
from policy_registry.websocket import WebSocketAuth
from policy_registry.worker import start_in_app, stop_in_app
from resolvers.context import RequestContext

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).parent / "static" / "graphiql"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def web_app_routes(settings: Settings) -> list[Route | Mount]:
    """The built example page (examples/web) at /app, with what it needs to know about the chain at
    /app/config.json; nothing when the page was not built."""
    directory = settings.web_app_dir
    if not (directory / "index.html").is_file():
        return []

    async def config(_: Request) -> Response:
        return JSONResponse(
            {
                "graphqlPath": "/graphql",
                "stacksApiUrl": _without_userinfo(settings.stacks_api_url),
                "network": settings.stacks_network,
            },
            headers={"cache-control": "no-store"},
        )

    async def to_app(_: Request) -> Response:
        return RedirectResponse("/app/")

    return [
        Route("/app", to_app),
        Route("/app/config.json", config),
        Mount("/app", app=StaticFiles(directory=directory, html=True), name="web-app"),
    ]


def _without_userinfo(url: str | None) -> str | None:
    """`url` minus any `user:password@` part: a page shows what it is given."""
    if not url:
        return url
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port is not None else host))


def _request_id(request: Request | WebSocket) -> str:
    supplied = request.headers.get("x-request-id", "")
    return supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex


class _SubResponse(Response):
    """Strawberry's per-request response template, remembering its request (media type and status are the
    request's: see policy_registry/graphql_http.py)."""

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.request = request


class RegistryGraphQL(WebSocketAuth, GraphQL[RequestContext, None]):
    """Strawberry's ASGI app with our context, WebSocket sign-in and limits (policy_registry/websocket.py), a
    GraphiQL page whose scripts are served locally, and GraphQL over HTTP as its spec says
    (policy_registry/graphql_http.py): bounded JSON decoding, coded JSON refusals, media types and status codes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except ClientDisconnect:  # gone before its body arrived: nobody to answer, and no server error to log
            return
        except RequestRefused as refused:
            response = error_response(request, refused, self.encode_json)
        except HTTPException as exc:  # Strawberry's own refusals (plain text otherwise)
            response = error_response(request, RequestRefused(exc.status_code, exc.reason), self.encode_json)
        await response(scope, receive, send)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        if not isinstance(request, Request):
            return await super().get_sub_response(request)
        sub_response = _SubResponse(request)
        sub_response.status_code = None  # type: ignore[assignment]  # as Strawberry's: unset unless a resolver sets it
        del sub_response.headers["content-length"]
        return sub_response

    def decode_json(self, data: str | bytes) -> object:
        return decode_json(data)  # an UndecodableJson is a JSONDecodeError: WebSocket handlers treat it as not JSON

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return request_body(decode_json(data))
        except UndecodableJson as exc:
            raise refused_json(exc) from None

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        parsed = dict(params)
        for key in ("variables", "extensions"):
            raw = parsed.get(key)
            if raw:
                try:
                    parsed[key] = decode_json(raw)  # any JSON; Strawberry refuses what is not an object
                except UndecodableJson as exc:
                    raise refused_json(exc) from None
        return parsed

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData) and not isinstance(data.operation_name, (str, type(None))):
            raise RequestRefused(400, "`operationName` must be a string or null")
        return data

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            cause = exc.__cause__
            if isinstance(cause, InvalidOperationTypeError) and kwargs["request_adapter"].method == "GET":
                kind = cause.operation_type.value
                raise RequestRefused(405, f"a {kind} is sent with POST", headers={"Allow": "POST"}) from None
            raise

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        body = process_result(result)
        before_execution = failed_before_execution(result.data, result.errors)
        if before_execution:
            body.pop("data", None)  # GraphQL spec: no data entry when the request failed before execution
        media_type = response_media_type(request)
        request.state.graphql_http = (result_status(media_type, result.errors, before_execution), media_type)
        return body

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        request = getattr(sub_response, "request", None)
        outcome = getattr(request.state, "graphql_http", None) if request is not None else None
        if outcome is not None:
            status, media_type = outcome
            if not sub_response.status_code:
                response.status_code = status
            response.headers["content-type"] = f"{media_type}; charset=utf-8"
        return response

    _ide_html = (ASSETS_DIR / "index.html").read_text(encoding="utf-8")

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        request_id = _request_id(request)
        if isinstance(response, Response):
            response.headers["x-request-id"] = request_id
        services: Services = request.app.state.services
        return RequestContext(request=request, response=response, services=services, request_id=request_id)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html)


class RegistryApp(Starlette):
    """Starlette, except that a GraphQL WebSocket goes straight to the GraphQL app behind the rate limit.

    A WebSocket connection keeps every ASGI layer it passed through suspended for its whole life. The HTTP
    middleware (metrics, CORS, the body limit, Starlette's error and exception layers) and the router pass a
    WebSocket through untouched, yet each kept a frame per idle subscriber (~3 KiB in all). The rate limit, the
    one layer that acts on a handshake, is checked here, with the same token buckets as HTTP requests."""

    websocket_app: ASGIApp | None = None
    websocket_limit: RateLimitMiddleware | None = None
    websocket_path = "/graphql"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry, limit = self.websocket_app, self.websocket_limit
        if entry is None or limit is None or scope["type"] != "websocket" or scope["path"] != self.websocket_path:
            await super().__call__(scope, receive, send)
            return
        wait = limit.wait(scope)
        if wait:
            await limit.refuse(scope, send, wait)
            return
        scope["app"] = self  # what Starlette sets: the GraphQL view reads the services from it
        await entry(scope, receive, send)


def create_app(settings: Settings, mongodb_uri: str, services: Services | None = None) -> Starlette:
    """Build the app; it creates (and closes) its own `Services` unless the caller passes them in."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or await Services.create(settings, mongodb_uri)
        log.info("policy registry API ready (database %s)", settings.mongodb_database)
        app.state.services.pubsub.start()  # this process's change stream: live updates for its subscribers
        # RUN_WORKER: the chain listener and every singleton job, the service's own included
        worker = await start_in_app(app.state.services)
        app.state.worker = worker  # /metrics reads its counters
        collector = None
        if settings.gc_freeze:  # garbage collection kept off the fan-out path (policy_registry/collector.py)
            thresholds = freeze_after_start(settings.gc_threshold0)
            broker = app.state.services.pubsub.broker
            collector = CollectorSchedule(
                broker.subscriber_count, settings.gc_full_collection_interval_s, ended_count=lambda: broker.ended_total
            )
            collector.start()
        try:
            yield
        finally:
            if collector is not None:
                await collector.stop()
                thaw(thresholds)
            await app.state.services.pubsub.stop()
            await stop_in_app(worker)
            if owned:
                await app.state.services.close()

    schema = build_schema(
        max_depth=settings.max_query_depth,
        max_tokens=settings.max_query_tokens,
        max_aliases=settings.max_query_aliases,
        max_fields=settings.max_query_fields,
        introspection=settings.introspection_enabled,
        shared_fanout=True,  # one execution per change and operation, not per subscriber (fanout.py)
    )
    instrument_schema(schema)  # GraphQL request latency by operation type at /metrics
    graphql_app = RegistryGraphQL(
        schema,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        allowed_origins=settings.allowed_ws_origins,
    )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        database = await request.app.state.services.store.ping()
        return JSONResponse(
            {"status": "ready" if database else "unavailable", "database": database},
            status_code=200 if database else 503,
        )

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
    ]
    if settings.graphiql_enabled:
        routes.append(Mount("/graphiql-assets", app=StaticFiles(directory=ASSETS_DIR), name="graphiql-assets"))
    routes += web_app_routes(settings)
    rate, burst = settings.rate_limit_per_s, settings.rate_limit_burst
    limiter = ClientRateLimiter(rate, burst)  # one set of buckets for HTTP requests and WebSocket handshakes
    middleware = [
        Middleware(RequestMetricsMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["content-type", "authorization", "x-request-id", "x-operator-token"],
            expose_headers=["x-request-id", "retry-after"],
        ),
        Middleware(RateLimitMiddleware, rate=rate, burst=burst, limiter=limiter),
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes),
    ]
    app = RegistryApp(routes=routes, middleware=middleware, lifespan=lifespan)
    # Strawberry's own WebSocket entry: RegistryGraphQL.__call__ only adds to HTTP (one frame less per connection)
    app.websocket_app = functools.partial(GraphQL.__call__, graphql_app)
    app.websocket_limit = RateLimitMiddleware(graphql_app, rate=rate, burst=burst, limiter=limiter)
    if services is not None:
        # Callers that own the services (tests, embedding) may drive the app without running its lifespan.
        app.state.services = services
    return app
