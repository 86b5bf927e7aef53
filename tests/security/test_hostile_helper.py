"""The hostile-request helper sees what the server logs, whatever other tests did to logging before.

uvicorn's default log configuration (any `uvicorn.Config` built without `log_config=None`, as the loopback fakes of
other tests do) makes the `uvicorn` logger stop propagating; from then on, uvicorn's "Exception in ASGI application"
tracebacks would never reach a handler on the root logger, and `run_hostile`'s "no traceback" check would pass
blind."""

from __future__ import annotations

import logging

import httpx
import uvicorn

from tests.security.hostile import ServerInThread, run_hostile


async def _noop_app(scope: object, receive: object, send: object) -> None:
    return None


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


async def test_tracebacks_on_loggers_that_do_not_propagate_are_seen(target: ServerInThread) -> None:
    saved = {name: _state(logging.getLogger(name)) for name in UVICORN_LOGGERS}
    try:
        uvicorn.Config(_noop_app, log_level="warning")  # what another test's fake server does to logging
        assert not logging.getLogger("uvicorn").propagate
        await _check_a_traceback_is_seen(target)
    finally:
        for name, (propagate, level, handlers) in saved.items():
            logger = logging.getLogger(name)
            logger.propagate, logger.level, logger.handlers = propagate, level, handlers


def _state(logger: logging.Logger) -> tuple[bool, int, list[logging.Handler]]:
    return logger.propagate, logger.level, list(logger.handlers)


async def _check_a_traceback_is_seen(target: ServerInThread) -> None:

    async def send() -> httpx.Response:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        async with httpx.AsyncClient(base_url=target.http_url) as client:
            return await client.get("/healthz")

    outcome = await run_hostile(target, send, check=False)
    assert [r.getMessage() for r in outcome.tracebacks] == ["Exception in ASGI application"]
