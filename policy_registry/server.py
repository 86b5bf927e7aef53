"""uvicorn's server, minus the signal re-raise, so that children are stopped in order on Ctrl-C."""

from __future__ import annotations

from types import FrameType

import uvicorn


class GracefulServer(uvicorn.Server):
    """After a graceful shutdown uvicorn re-raises the captured SIGINT/SIGTERM so the default handler kills the
    process; that would skip the caller's clean-up (stopping the embedded database and devnet). The caller
    exits normally instead."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()
