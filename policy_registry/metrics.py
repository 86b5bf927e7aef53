"""Prometheus metrics at ``GET /metrics`` (text exposition format).

Two kinds of figures:

- **Process figures**, kept in this module's registry as they happen: GraphQL HTTP request latency by operation
  type (``graphql_request_duration_seconds``; the operation type is noted by a schema extension, the time is the
  whole HTTP exchange measured by an ASGI middleware), and the API's own counters.
- **Scrape-time figures**, read when Prometheus asks: live subscribers of this process, the listener's lag and
  totals (from ``chain_state``, so any API replica shows them whichever process runs the listener), backend
  transactions by status, oracle freshness per asset, and the counters of the worker running in this process
  (``Worker.metrics()``) and of this process's Stacks API client, which the API and the worker share (requests,
  retries). A figure whose source cannot be read
  (database down) is left out of that scrape and ``policy_registry_scrape_errors`` says so; the scrape never fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from services.core.prices import Asset
from services.store.backend_txs import BackendTxRepository
from services.store.chain_state import ChainStateRepository
from services.store.prices import MongoPriceStore

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPERATION_KEY = "policy_registry.operation_type"  # ASGI scope key the schema extension fills in
BACKEND_TX_STATUSES = ("queued", "signed", "broadcast", "success", "failed")

REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_LATENCY = Histogram(
    "graphql_request_duration_seconds",
    "GraphQL HTTP requests, whole exchange, by operation type (query, mutation, subscription, invalid)",
    ["operation"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class OperationTypeExtension(SchemaExtension):
    """Notes the operation type of an HTTP GraphQL request in its ASGI scope, for the latency middleware."""

    def on_execute(self) -> Iterator[None]:  # a plain generator: Strawberry wraps it more cheaply than an async one
        yield
        context = self.execution_context.context
        request = getattr(context, "request", None)
        scope = getattr(request, "scope", None)
        if isinstance(scope, dict) and scope.get("type") == "http":
            operation = self.execution_context.operation_type
            scope[OPERATION_KEY] = getattr(operation, "value", str(operation)).lower()


def instrument_schema(schema: Any) -> None:
    """Add the operation-type extension to an assembled Strawberry schema (extensions are built per request)."""
    schema.extensions = (*schema.extensions, OperationTypeExtension)


class RequestMetricsMiddleware:
    """Times every HTTP request to ``/graphql`` (GET and POST) from its first byte in to its last byte out."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        done = False

        async def send_and_time(message: Message) -> None:
            nonlocal done
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False) and not done:
                done = True
                operation = str(scope.get(OPERATION_KEY, "invalid"))
                REQUEST_LATENCY.labels(operation).observe(time.perf_counter() - started)

        await self.app(scope, receive, send_and_time)


# --- scrape-time figures ----------------------------------------------------------------------------------


class _Snapshot(Collector):
    """Metric families computed for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return list(self._families)


def _gauge(name: str, documentation: str, value: float | None) -> list[Metric]:
    if value is None:
        return []
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], float(value))
    return [family]


async def _listener_families(chain_state: ChainStateRepository) -> list[Metric]:
    published = await chain_state.status_documents()
    doc, tip = published.listener, published.tip
    families = _gauge("listener_lag_blocks", "Stacks tip minus the listener's synced height", doc.get("lag_blocks"))
    families += _gauge("listener_pending_events", "Events waiting for confirmations", doc.get("pending_events"))
    families += _gauge(
        "listener_halted", "1 while the listener refuses a restarted chain", int(bool(doc.get("halted")))
    )
    families += _gauge("chain_tip_stacks_height", "Stacks tip height at the last poll", tip.get("stacks_height"))
    families += _gauge("chain_tip_burn_height", "Burn tip height at the last poll", tip.get("burn_height"))
    last_poll = doc.get("last_poll_at")
    if isinstance(last_poll, datetime):
        seconds = (datetime.now(UTC) - _aware(last_poll)).total_seconds()
        families += _gauge("listener_seconds_since_poll", "Seconds since the listener's last poll", seconds)
    totals = CounterMetricFamily(
        "listener_events", "Listener totals across processes (chain_state)", labels=["outcome"]
    )
    for key, label in (("applied_total", "applied"), ("orphaned_total", "orphaned"), ("invalid_total", "invalid")):
        totals.add_metric([label], float(doc.get(key) or 0))
    errors = CounterMetricFamily("listener_poll_errors", "Listener polls that failed (chain_state)")
    errors.add_metric([], float(doc.get("errors_total") or 0))
    last_error = GaugeMetricFamily("listener_last_poll_failed", "1 when the listener's last poll failed")
    last_error.add_metric([], 1.0 if doc.get("last_error") else 0.0)
    return [*families, totals, errors, last_error]


async def _backend_tx_families(txs: BackendTxRepository) -> list[Metric]:
    counts = {status: 0 for status in BACKEND_TX_STATUSES} | await txs.count_by_status()
    family = GaugeMetricFamily("backend_txs", "Backend transactions by status (backend_txs)", labels=["status"])
    for status, n in sorted(counts.items()):
        family.add_metric([status], float(n))
    # the node's refusals (POST /v2/transactions → 400) and what the queue did: services/backend_txs/rejections.py
    rejections = CounterMetricFamily(
        "backend_tx_rejections",
        "Broadcasts the node refused, by reason and the queue's action (fresh_nonce, bump_fee, wait, stop)",
        labels=["reason", "action"],
    )
    for (reason, action), n in sorted((await txs.rejection_counts()).items()):
        rejections.add_metric([reason, action], float(n))
    alerts = GaugeMetricFamily(
        "backend_tx_alerts",
        "Backend transactions waiting on the operator (funding, configuration, a refusal that stopped them), by reason",
        labels=["reason"],
    )
    for reason, n in sorted((await txs.alerts_by_reason()).items()):
        alerts.add_metric([reason], float(n))
    return [family, rejections, alerts]


async def _oracle_families(prices: MongoPriceStore) -> list[Metric]:
    family = GaugeMetricFamily(
        "oracle_price_age_seconds", "Seconds since the newest price sample, per asset", labels=["asset"]
    )
    now = datetime.now(UTC)
    for asset in Asset:
        newest = await prices.newest_observed_at(asset)
        if newest is not None:
            family.add_metric([asset.value], (now - _aware(newest)).total_seconds())
    return [family]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def worker_families(job_metrics: Mapping[str, Mapping[str, int]], client_metrics: Mapping[str, int]) -> list[Metric]:
    """The in-process worker's job counters (``Worker.metrics()``) and the counters of the Stacks API client it
    shares with the API (`Services.chain`)."""
    jobs = CounterMetricFamily("worker_job_events", "Counters of this process's worker jobs", labels=["job", "counter"])
    for job, counters in sorted(job_metrics.items()):
        for counter, value in sorted(counters.items()):
            jobs.add_metric([job, counter], float(value))
    client = CounterMetricFamily("stacks_api_client", "This process's Stacks API client counters", labels=["counter"])
    for counter, value in sorted(client_metrics.items()):
        client.add_metric([counter], float(value))
    return [jobs, client]


async def scrape_families(services: Any, worker: Any) -> list[Metric]:
    families: list[Metric] = []
    broker = services.pubsub.broker
    families += _gauge("graphql_subscribers", "Live GraphQL subscriptions in this process", broker.subscriber_count())
    dropped = CounterMetricFamily("graphql_subscribers_dropped", "Slow subscribers dropped by this process")
    dropped.add_metric([], float(broker.dropped_total))
    families.append(dropped)
    errors = 0
    store = services.store
    reads: tuple[tuple[str, Callable[[], Awaitable[list[Metric]]]], ...] = (
        ("listener", lambda: _listener_families(ChainStateRepository(store))),
        ("backend_tx", lambda: _backend_tx_families(BackendTxRepository(store))),
        ("oracle", lambda: _oracle_families(MongoPriceStore(store))),
    )
    for name, read in reads:
        try:
            families += await read()
        except PyMongoError as exc:
            errors += 1
            log.warning("metrics: %s_families unavailable: %s", name, exc)
    families += _gauge("policy_registry_scrape_errors", "Sources this scrape could not read", errors)
    if worker is not None:
        families += worker_families(worker.metrics(), getattr(worker.client, "metrics", {}))
    return families


async def metrics_endpoint(request: Request) -> Response:
    services = request.app.state.services
    started = getattr(request.app.state, "worker", None)
    worker = started[0] if isinstance(started, tuple) else started
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(await scrape_families(services, worker)))
    body = generate_latest(REGISTRY) + generate_latest(snapshot)
    return Response(body, media_type=CONTENT_TYPE)
