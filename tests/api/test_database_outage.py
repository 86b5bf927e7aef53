"""With the database unreachable the API answers coded errors and /readyz says so; it never 500s."""

from __future__ import annotations

import httpx

from policy_registry.app import create_app
from policy_registry.container import Services
from policy_registry.embedded.process import free_port
from policy_registry.settings import Settings
from tests.api.graphql_client import error_codes, gql


async def test_database_down_gives_unavailable_not_500() -> None:
    settings = Settings(mongodb_timeout_ms=300, _env_file=None)
    uri = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"  # nothing listens there
    services = await Services.create(settings, uri, ensure_indexes=False)
    app = create_app(settings, uri, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        body = await gql(client, "{ policies(first: 5) { totalCount edges { node { id } } } }")
        assert error_codes(body) == ["UNAVAILABLE"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json() == {"status": "unavailable", "database": False}
    await services.close()
