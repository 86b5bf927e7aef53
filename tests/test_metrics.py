"""`GET /metrics`: request latency by operation type, subscribers, listener lag, backend tx states, oracle
freshness and the in-process worker's counters, in Prometheus' text format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from policy_registry.app import create_app
from policy_registry.container import Services, chain_jobs
from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from policy_registry.worker import Worker
from services.chain import StacksApiClient
from tests.api.graphql_client import gql


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def scrape(api: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def count(values: dict[tuple[str, tuple[tuple[str, str], ...]], float], operation: str) -> float:
    return values.get(("graphql_request_duration_seconds_count", (("operation", operation),)), 0.0)


async def test_request_latency_is_counted_by_operation_type(api: httpx.AsyncClient) -> None:
    before = await scrape(api)
    for _ in range(3):
        await gql(api, "{ policies(first: 2) { totalCount } }")
    await gql(api, 'mutation { authChallenge(address: "nope") { message } }')
    await gql(api, "{ policies(first: ")  # a syntax error: never executed
    after = await scrape(api)
    assert count(after, "query") - count(before, "query") == 3
    assert count(after, "mutation") - count(before, "mutation") == 1
    assert count(after, "invalid") - count(before, "invalid") == 1
    bucket = ("graphql_request_duration_seconds_bucket", (("le", "+Inf"), ("operation", "query")))
    assert after[bucket] == count(after, "query")
    await api.get("/healthz")  # other routes are not GraphQL requests
    final = await scrape(api)
    assert all(count(final, op) == count(after, op) for op in ("query", "mutation", "invalid"))


async def test_scrape_time_figures_come_from_the_database_and_the_broker(
    services: Services, settings: Settings, mongo_server: EmbeddedMongo
) -> None:
    db = services.store.db
    now = datetime.now(UTC)
    await db.backend_txs.insert_many(
        [
            {"status": s, "policy_id": f"p{i}", "action": "settle", "attempt": 1}
            for i, s in enumerate(["queued", "broadcast", "broadcast", "success", "failed", "failed", "failed"])
        ]
    )
    await db.prices.insert_many(
        [
            {"asset": "BTC-USD", "source": "local-1", "price_usd8": 1, "observed_at": now - timedelta(seconds=90)},
            {"asset": "BTC-USD", "source": "local-2", "price_usd8": 1, "observed_at": now - timedelta(seconds=30)},
        ]
    )
    await db.chain_state.insert_many(
        [
            {
                "_id": "listener",
                "lag_blocks": 7,
                "pending_events": 3,
                "halted": False,
                "last_error": "boom",
                "applied_total": 41,
                "errors_total": 2,
                "last_poll_at": now,
            },
            {"_id": "tip", "stacks_height": 120, "burn_height": 60},
        ]
    )
    app = create_app(settings, mongo_server.uri, services=services)
    client = StacksApiClient("http://127.0.0.1:9")  # never called: only its counters are read
    app.state.worker = (
        Worker(
            services.store,
            services.holder,
            settings.lease_ttl_s,
            chain_jobs(settings, services.store, client, services.policies, services.liquidity),
            client,
        ),
        None,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
        async with services.pubsub.policy_changes("abc"), services.pubsub.owner_changes("ST1"):
            values = await scrape(api)
    await client.aclose()
    assert values[("graphql_subscribers", ())] == 2
    by_status = {dict(k[1])["status"]: v for k, v in values.items() if k[0] == "backend_txs"}
    assert by_status == {"queued": 1, "signed": 0, "broadcast": 2, "success": 1, "failed": 3}
    age = values[("oracle_price_age_seconds", (("asset", "BTC-USD"),))]
    assert 29 <= age < 60
    assert ("oracle_price_age_seconds", (("asset", "STX-USD"),)) not in values  # no sample: no figure
    assert values[("listener_lag_blocks", ())] == 7 and values[("listener_pending_events", ())] == 3
    assert values[("listener_events_total", (("outcome", "applied"),))] == 41
    assert values[("listener_poll_errors_total", ())] == 2 and values[("listener_last_poll_failed", ())] == 1
    assert values[("chain_tip_stacks_height", ())] == 120
    assert values[("worker_job_events_total", (("counter", "polls"), ("job", "chain-listener")))] == 0
    assert values[("stacks_api_client_total", (("counter", "retries"),))] == 0
    assert values[("policy_registry_scrape_errors", ())] == 0


async def test_a_scrape_with_the_database_down_still_answers() -> None:
    from policy_registry.embedded.process import free_port

    settings = Settings(mongodb_timeout_ms=200, _env_file=None)
    uri = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    services = await Services.create(settings, uri, ensure_indexes=False)
    app = create_app(settings, uri, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
        values = await scrape(api)
    await services.close()
    assert values[("policy_registry_scrape_errors", ())] == 3
    assert values[("graphql_subscribers", ())] == 0
