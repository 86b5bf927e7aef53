"""uvicorn's server, minus the signal re-raise, so that children are stopped in order on Ctrl-C; and the uvicorn
options `policy-registry serve` runs with, shared with the benches so they measure what production runs."""

from __future__ import annotations

from types import FrameType
from typing import Any

import uvicorn

from policy_registry.settings import HttpSettings
from policy_registry.ws_protocol import LeanWebSocketsProtocol


def uvicorn_options(settings: HttpSettings) -> dict[str, Any]:
    """httptools is named (uvicorn[standard] installs it everywhere) so a missing one fails at start-up instead of
    silently serving with the slower pure-Python parser; the loop stays "auto": uvloop where uvicorn[standard]
    installs it (not on Windows), asyncio elsewhere."""
    return {
        "host": settings.host,
        "port": settings.port,
        "http": "httptools",
        "loop": "auto",
        "log_config": None,
        "lifespan": "on",
        # uvicorn's websockets-sansio protocol, minus the handshake it keeps per connection (ws_protocol.py)
        "ws": LeanWebSocketsProtocol,
        "ws_max_size": settings.max_request_bytes,
        # Off by default: a deflate context costs each connection ~50 KiB, and every frame is compressed once per
        # subscriber; policy frames are small (docs/subscriptions.md).
        "ws_per_message_deflate": settings.ws_compression,
        "proxy_headers": False,  # the rate limiter keys on the socket peer (policy_registry/ratelimit.py)
        "timeout_graceful_shutdown": 10,  # open subscriptions must not hold a shutdown forever
    }


class GracefulServer(uvicorn.Server):
    """After a graceful shutdown uvicorn re-raises the captured SIGINT/SIGTERM so the default handler kills the
    process; that would skip the caller's clean-up (stopping the embedded database and devnet). The caller
    exits normally instead."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()
