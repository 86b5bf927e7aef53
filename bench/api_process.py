"""The API as the benches and fault tests run it: `create_app` under uvicorn with `policy-registry serve`'s own
options (`policy_registry.server.uvicorn_options`), but with MONGODB_URI required and no embedded devnet (the
benches that need a chain give STACKS_API_URL themselves).

    MONGODB_URI=... PORT=... python -m bench.api_process
"""

from __future__ import annotations

import uvicorn

from policy_registry.app import create_app
from policy_registry.logging_setup import configure_logging
from policy_registry.server import uvicorn_options
from policy_registry.settings import Settings


def main() -> None:
    settings = Settings()
    if not settings.mongodb_uri:
        raise SystemExit("set MONGODB_URI")
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, settings.mongodb_uri)
    # the fan-out bench opens thousands of connections at once: a longer accept queue, nothing else differs
    uvicorn.run(app, **{**uvicorn_options(settings), "backlog": 8192})


if __name__ == "__main__":
    main()
